"""clipcl: CLIP image and text embeddings on OpenCL (or clipcl's plain-C
reference backend), as numpy arrays.

    import clipcl
    m = clipcl.load("ViT-B-32/")                 # device=None: $CLIPCL_DEVICE, GPU, CPU
    img = m.encode_image(["cat.jpg", "dog.png"], normalize=True)   # float32 2 x D
    txt = m.encode_text(["a cat", "a dog"], normalize=True)
    probs = m.zeroshot(["cat.jpg"], ["cat", "dog"])                # float32 1 x 2

Errors are clipcl.Error (a RuntimeError) carrying clipcl's one-line message.
See docs/python.md."""
from . import _build_config
from ._clipcl import Error
from ._clipcl import devices as _devices
from ._clipcl import version as _version
from ._embeddings import load_embeddings
from ._model import Model

__all__ = ["Error", "Model", "devices", "load", "load_embeddings", "__version__"]

# The library's own version (clipcl_version()) where it has one, else the
# version pkg-config reported when the package was built.
__version__ = _version() or _build_config.LIB_VERSION


def devices():
    """The OpenCL devices: a list of dicts with spec ("P:D", a load device),
    name, platform, type ("gpu", "cpu", ...), compute_units,
    global_mem_bytes and default (the one device=None picks). device="ref"
    (the reference backend) needs none and is not listed."""
    return _devices()


def load(model, device=None, dtype="f32", batch=16, vocab=None):
    """Loads a CLIP checkpoint: a .safetensors file or a directory holding
    one (plus open_clip_config.json / config.json and the tokenizer files).

    device: None ($CLIPCL_DEVICE, else the first GPU, else the first CPU),
    "gpu", "cpu", "P:D", part of a device name, or "ref". dtype: how the
    weights are stored on the device, "f32" (default), "f16" (or
    numpy.float16) or "bf16": the matmul and convolution weights in 16 bits,
    arithmetic in float32, features within cosine 0.9999 of f32 (as the
    command's --dtype; "ref" takes "f32" only). batch: rows per device run (as
    the command's --batch).
    vocab: a tokenizer file to use instead of the one beside the weights."""
    return Model(model, device=device, dtype=dtype, batch=batch, vocab=vocab)
