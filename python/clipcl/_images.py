"""Images in every form encode_image and preprocess take, to the float32
3 x R x R tensors CLIP's image tower sees, through the library's own
preprocessing (clipcl_preprocess_*_model: the model's preprocessing config;
clipcl_preprocess_file / clipcl_preprocess_pixels8 without a model), so a
file given by path, the same file opened with PIL, and its pixels as a uint8
array all give the same bits (JPEG included: both decode with
libjpeg-turbo)."""
import os

import numpy as np

from . import _clipcl
from ._clipcl import Error

# PIL modes the library resizes the way PIL would (RGBA/LA premultiplied,
# palette and 1-bit nearest-neighbour, as CLIP's pipeline does on a PIL
# image). Any other mode is converted to RGB first.
_PIL_MODES = {"L": _clipcl.PIXELS_L, "LA": _clipcl.PIXELS_LA, "RGB": _clipcl.PIXELS_RGB,
              "RGBA": _clipcl.PIXELS_RGBA}
# numpy H x W (x C) uint8 arrays, read as PIL's Image.fromarray would
_ARRAY_MODES = {1: _clipcl.PIXELS_L, 2: _clipcl.PIXELS_LA, 3: _clipcl.PIXELS_RGB,
                4: _clipcl.PIXELS_RGBA}


def _is_pil(x):
    # PIL is optional: only an object that is a PIL image can come from it
    mod = type(x).__module__
    return mod.startswith("PIL.") and hasattr(x, "mode") and hasattr(x, "tobytes")


def _is_single(x):
    """One image (not a batch)."""
    if isinstance(x, (str, bytes, os.PathLike)) or _is_pil(x):
        return True
    if isinstance(x, np.ndarray):
        return x.dtype == np.uint8 or x.ndim == 3
    return False


def _u8_row(a, size, out, model=None):
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _ARRAY_MODES:
        raise Error("uint8 image of shape %s: expected H x W or H x W x C with C 1 to 4 (3 for RGB)"
                    % (tuple(a.shape),))
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise Error("uint8 image of shape %s: no pixels" % (tuple(a.shape),))
    mode = _ARRAY_MODES[a.shape[2]]
    h, w = a.shape[:2]
    packed_rows = (a.strides[2] == 1 and a.strides[1] == a.shape[2] and
                   a.strides[0] >= w * a.shape[2])
    if not (a.flags.c_contiguous or packed_rows):
        a = np.ascontiguousarray(a)
    if a.flags.c_contiguous:
        _pixels(model, a, w, h, w * a.shape[2], mode, size, out)
    else:
        # rows of packed pixels with a gap after each (a crop): pass the stride,
        # and a flat view of the memory from the first pixel on
        base = np.lib.stride_tricks.as_strided(a, shape=(a.strides[0] * (h - 1) + w * a.shape[2],),
                                               strides=(1,))
        _pixels(model, np.ascontiguousarray(base), w, h, a.strides[0], mode, size, out)


def _pixels(model, px, w, h, stride, mode, size, out):
    if model is not None:
        model.preprocess_pixels(px, w, h, stride, mode, out)
    else:
        _clipcl.preprocess_pixels(px, w, h, stride, mode, size, out)


def _pil_row(im, size, out, model=None):
    mode = im.mode
    if mode in ("P", "PA", "1"):
        # PIL resizes these nearest-neighbour whatever the filter; nearest
        # commutes with the palette lookup, so the RGB expansion goes first
        px = np.asarray(im.convert("RGB"), dtype=np.uint8)
        code = _clipcl.PIXELS_P
    elif mode in _PIL_MODES:
        px = np.asarray(im, dtype=np.uint8)
        code = _PIL_MODES[mode]
    else:
        px = np.asarray(im.convert("RGB"), dtype=np.uint8)
        code = _clipcl.PIXELS_RGB
    px = np.ascontiguousarray(px)
    h, w = px.shape[:2]
    _pixels(model, px, w, h, px.strides[0], code, size, out)


def _file(model, path, size, out):
    if model is not None:
        model.preprocess_file(path, out)
    else:
        _clipcl.preprocess_file(path, size, out)


def preprocess_one(x, size, out, model=None):
    """Writes one image's 3 x size x size tensor into out (float32, C order).
    model (the C model object): its preprocessing config decides the
    transform; None: CLIP's default transform at size."""
    if isinstance(x, (str, os.PathLike)):
        _file(model, os.fsdecode(x), size, out)
    elif isinstance(x, bytes):
        _file(model, os.fsdecode(x), size, out)
    elif _is_pil(x):
        _pil_row(x, size, out, model)
    elif isinstance(x, np.ndarray) and x.dtype == np.uint8:
        _u8_row(x, size, out, model)
    elif isinstance(x, np.ndarray) and x.ndim == 3:
        if x.shape != (3, size, size):
            raise Error("float image of shape %s: expected (3, %d, %d), already preprocessed"
                        % (tuple(x.shape), size, size))
        out[...] = x
    else:
        raise Error("image of type %s: expected a file path, a PIL image, a uint8 H x W x 3 "
                    "array or float32 N x 3 x %d x %d pixels" % (type(x).__name__, size, size))


def as_batch(images, size):
    """-> ("pixels", float32 N x 3 x R x R array) or ("items", list of single images)."""
    if isinstance(images, np.ndarray) and images.dtype != np.uint8 and images.ndim == 4:
        if images.shape[1:] != (3, size, size):
            raise Error("pixels of shape %s: expected (N, 3, %d, %d) for this model"
                        % (tuple(images.shape), size, size))
        if images.shape[0] < 1:
            raise Error("pixels of shape %s: no images" % (tuple(images.shape),))
        if not np.issubdtype(images.dtype, np.floating):
            raise Error("pixels of dtype %s: expected float32" % images.dtype)
        return "pixels", np.ascontiguousarray(images, dtype=np.float32)
    if _is_single(images):
        return "items", [images]
    try:
        items = list(images)
    except TypeError:
        raise Error("images of type %s: expected a file path, a PIL image, a uint8 array, "
                    "float32 pixels or a list of them" % type(images).__name__) from None
    if not items:
        raise Error("no images given")
    return "items", items
