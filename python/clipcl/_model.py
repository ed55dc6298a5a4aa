"""clipcl.Model: a loaded checkpoint, encoding numpy arrays in batches the
way the `clipcl` command does (same batch sizes, so the same bits)."""
import threading
import warnings

import numpy as np

from . import _clipcl
from ._clipcl import Error
from ._images import as_batch, preprocess_one

DEFAULT_BATCH = 16
# the library's other names for the weight storage types -> the short ones
_DTYPES = {"float32": "f32", "fp32": "f32", "float16": "f16", "fp16": "f16", "half": "f16",
           "bfloat16": "bf16"}


def _dtype_name(dtype):
    if isinstance(dtype, str):
        return dtype.lower()
    try:
        return np.dtype(dtype).name
    except TypeError:
        return repr(dtype)


def _texts(texts, what="texts"):
    if isinstance(texts, str):
        return [texts]
    try:
        texts = list(texts)
    except TypeError:
        raise Error("%s of type %s: expected a str or a list of str"
                    % (what, type(texts).__name__)) from None
    if not texts:
        raise Error("no %s given" % what)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise Error("%s: item %d is %s: expected str" % (what, i, type(t).__name__))
    return texts


class Model:
    """A CLIP checkpoint loaded by clipcl (clipcl.load makes one).

    Every encoder returns a float32 numpy array of one row per input; the
    device computes with the GIL released, and one model may be used from
    several threads (the library serialises calls on one model)."""

    def __init__(self, model, device=None, dtype="f32", batch=DEFAULT_BATCH, vocab=None):
        # "f32", "f16" (also np.float16) or "bf16": how the weights are
        # stored on the device; the library checks the name
        name = _dtype_name(dtype)
        if not isinstance(batch, int) or batch < 1:
            raise Error("batch %r: expected a positive int" % (batch,))
        if device is not None and not isinstance(device, str):
            raise Error("device %r: expected None or a str such as 'gpu', 'cpu', '0:1', 'ref'"
                        % (device,))
        self._m = _clipcl.Model(str(model), device, name)
        self.dtype = _DTYPES.get(name, name)
        self._m.set_max_batch(batch)
        if vocab is not None:
            self._m.set_vocab(str(vocab))
        self.batch = batch
        (self.embed_dim, self.image_size, self.context_length,
         self.logit_scale) = self._m.dims()
        self.path = str(model)
        self._info = None
        self._info_lock = threading.Lock()

    # ---- properties ----

    @property
    def info(self):
        """What the checkpoint holds (clipcl_info, as `clipcl info` prints it)."""
        with self._info_lock:
            if self._info is None:
                self._info = self._m.info()
            return dict(self._info)

    def __repr__(self):
        return "clipcl.Model(%r, embed_dim=%d, image_size=%d)" % (
            self.path, self.embed_dim, self.image_size)

    def close(self):
        """Frees the model and its device memory now (else when collected)."""
        self._m.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- images ----

    def _pixel_chunks(self, images):
        """Yields (start, float32 rows x 3 x R x R) chunks of at most batch images."""
        kind, data = as_batch(images, self.image_size)
        R = self.image_size
        if kind == "pixels":
            for i in range(0, data.shape[0], self.batch):
                yield i, data[i:i + self.batch]
            return
        for i in range(0, len(data), self.batch):
            part = data[i:i + self.batch]
            px = np.empty((len(part), 3, R, R), dtype=np.float32)
            for r, x in enumerate(part):
                preprocess_one(x, R, px[r], self._m)
            yield i, px

    def _count(self, images):
        kind, data = as_batch(images, self.image_size)
        return data.shape[0] if kind == "pixels" else len(data)

    def preprocess(self, images):
        """float32 N x 3 x R x R: what the image tower sees for each image
        (file path, PIL image, uint8 H x W x 3 array, or a list of them)."""
        kind, data = as_batch(images, self.image_size)
        if kind == "pixels":
            return data.copy()
        R = self.image_size
        out = np.empty((len(data), 3, R, R), dtype=np.float32)
        for r, x in enumerate(data):
            preprocess_one(x, R, out[r], self._m)
        return out

    def encode_image(self, images, normalize=False):
        """float32 N x embed_dim image features (unit rows with normalize=True).

        images: a file path, a PIL image, a uint8 H x W x 3 array, a list of
        those, or float32 N x 3 x R x R pixels already preprocessed."""
        n = self._count(images)
        out = np.empty((n, self.embed_dim), dtype=np.float32)
        for i, px in self._pixel_chunks(images):
            self._m.encode_image_pixels(px, px.shape[0], bool(normalize), out[i:i + px.shape[0]])
        return out

    # ---- texts ----

    def tokenize(self, texts):
        """int32 N x context_length: the token ids encode_text feeds the tower."""
        texts = _texts(texts)
        out = np.zeros((len(texts), self.context_length), dtype=np.int32)
        cut = self._m.tokenize(texts, out)
        self._warn_cut(cut, "text")
        return out

    def encode_text(self, texts, normalize=False):
        """float32 N x embed_dim text features: texts a str or a list of str,
        or int32 N x context_length token ids (as tokenize returns)."""
        if isinstance(texts, np.ndarray) and texts.dtype.kind in "iu":
            ids = np.ascontiguousarray(texts, dtype=np.int32)
            if ids.ndim != 2 or ids.shape[1] != self.context_length or ids.shape[0] < 1:
                raise Error("token ids of shape %s: expected (N, %d)"
                            % (tuple(texts.shape), self.context_length))
            out = np.empty((ids.shape[0], self.embed_dim), dtype=np.float32)
            for i in range(0, ids.shape[0], self.batch):
                part = ids[i:i + self.batch]
                self._m.encode_token_ids(part, part.shape[0], bool(normalize),
                                         out[i:i + part.shape[0]])
            return out
        texts = _texts(texts)
        out = np.empty((len(texts), self.embed_dim), dtype=np.float32)
        cut = 0
        for i in range(0, len(texts), self.batch):
            part = texts[i:i + self.batch]
            cut += self._m.encode_texts(part, bool(normalize), out[i:i + len(part)])
        self._warn_cut(cut, "text")
        return out

    def _warn_cut(self, cut, what):
        if cut:
            warnings.warn("clipcl: %d %s%s longer than %d tokens; cut to fit, with "
                          "the end-of-text token kept last" % (cut, what, "" if cut == 1 else "s",
                                                       self.context_length), stacklevel=3)

    # ---- zero-shot ----

    def zeroshot_classifier(self, labels, templates=None):
        """float32 L x embed_dim: each label's prompt ensemble (one prompt per
        template, {} replaced by the label), normalised, averaged and
        renormalised. templates None: ["a photo of a {}."]."""
        labels = _texts(labels, "labels")
        templates = [] if templates is None else _texts(templates, "templates")
        out = np.empty((len(labels), self.embed_dim), dtype=np.float32)
        cut = self._m.zeroshot_classifier(labels, templates, out)
        self._warn_cut(cut, "prompt")
        return out

    def zeroshot(self, images, labels, templates=None, dtype=np.float32):
        """N x L probabilities of each label for each image: a softmax over
        exp(logit_scale) * cos(image, label), as `clipcl zeroshot` computes
        it (in double; dtype=np.float64 returns those doubles). A SigLIP
        model (info["logit_bias"] not None) gives each label its own
        sigmoid(exp(logit_scale) * cos + logit_bias), as `clipcl zeroshot`
        does for it."""
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise Error("dtype %r: expected float32 or float64" % (dtype,))
        cls = self.zeroshot_classifier(labels, templates)
        img = self.encode_image(images, normalize=True)
        probs = np.empty((img.shape[0], cls.shape[0]), dtype=np.float64)
        bias = self.info["logit_bias"]
        if bias is not None:  # clipcl_zeroshot_probs_sigmoid's arithmetic
            z = np.exp(np.float64(self.logit_scale)) * (img.astype(np.float64) @
                                                        cls.astype(np.float64).T) + bias
            return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(dtype, copy=False)
        _clipcl.zeroshot_probs(img, img.shape[0], cls, cls.shape[0], self.embed_dim,
                               self.logit_scale, probs)
        return probs.astype(dtype, copy=False)
