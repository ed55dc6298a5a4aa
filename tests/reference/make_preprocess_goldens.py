#!/usr/bin/python3
"""Goldens for io/ tests (run with Debian's /usr/bin/python3: numpy, Pillow, torchvision).

Preprocessing goldens follow OpenAI CLIP's _transform exactly, stopped before
ToTensor so they are uint8: Resize(S, BICUBIC) on the PIL image, CenterCrop(S),
convert("RGB"). Each golden is an S x S x 3 uint8 .npy; one case also gets the
normalised float32 3 x S x S tensor (ToTensor + Normalize).

Synthetic inputs are generated here (seeded) and saved as PNG/JPEG next to the
goldens, so the C tests decode the very same files. Photos come from
$CLIPCL_SHARED_DIR/data/images (an optional data directory) when present.

Also writes the tiny numpy-made .npy fixtures used by test_npy.

Usage: tests/reference/make_preprocess_goldens.py [out_dir]   (default tests/data)
"""
import os
import sys

import numpy as np
from PIL import Image
from torchvision import transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def clip_uint8(im, size):
    t = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC),
                   T.CenterCrop(size),
                   lambda x: x.convert("RGB")])
    out = np.asarray(t(im), dtype=np.uint8)
    assert out.shape == (size, size, 3), out.shape
    return out


def clip_float(im, size):
    t = T.Compose([T.Resize(size, interpolation=T.InterpolationMode.BICUBIC),
                   T.CenterCrop(size),
                   lambda x: x.convert("RGB"),
                   T.ToTensor(),
                   T.Normalize(MEAN, STD)])
    return t(im).numpy().astype(np.float32)


def texture(rng, h, w, c):
    """Smooth gradients plus noise and a few hard edges: exercises both the
    filter's ringing (clipping at 0/255) and ordinary interpolation."""
    y, x = np.mgrid[0:h, 0:w]
    chans = []
    for k in range(c):
        base = 127 + 100 * np.sin((x * (k + 1)) / max(w, 2) * 6.28 + k) * np.cos(y / max(h, 2) * 3.14 * (k + 1))
        base = base + rng.normal(0, 25, size=(h, w))
        base[(x // 7 + y // 5) % 4 == 0] = 255 if k % 2 == 0 else 0
        chans.append(base)
    a = np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)
    return a


def synthetic(rng):
    """(name, PIL image, file extension)."""
    cases = []
    cases.append(("rgb_200x150", Image.fromarray(texture(rng, 150, 200, 3), "RGB"), "png"))
    cases.append(("rgb_17x23", Image.fromarray(texture(rng, 23, 17, 3), "RGB"), "png"))
    cases.append(("rgb_3x500", Image.fromarray(texture(rng, 500, 3, 3), "RGB"), "png"))
    cases.append(("rgb_500x3", Image.fromarray(texture(rng, 3, 500, 3), "RGB"), "png"))
    cases.append(("rgb_1x1", Image.fromarray(np.array([[[200, 30, 90]]], np.uint8), "RGB"), "png"))
    cases.append(("rgb_64x97", Image.fromarray(texture(rng, 97, 64, 3), "RGB"), "png"))
    cases.append(("grey_37x53", Image.fromarray(texture(rng, 53, 37, 1)[..., 0], "L"), "png"))
    la = np.concatenate([texture(rng, 40, 50, 1), texture(rng, 40, 50, 1)], -1)
    cases.append(("la_50x40", Image.fromarray(la, "LA"), "png"))
    rgba = texture(rng, 70, 90, 4)
    rgba[:10, :, 3] = 0      # fully transparent band: colour must come out as stored
    rgba[10:20, :, 3] = 255  # opaque band
    cases.append(("rgba_90x70", Image.fromarray(rgba, "RGBA"), "png"))
    pal = Image.fromarray(texture(rng, 120, 80, 3), "RGB").quantize(colors=37)
    cases.append(("palette_80x120", pal, "png"))
    bw = Image.fromarray((texture(rng, 30, 41, 1)[..., 0] > 127).astype(np.uint8) * 255, "L").convert("1")
    cases.append(("bw_41x30", bw, "png"))
    cases.append(("jpeg_96x80", Image.fromarray(texture(rng, 80, 96, 3), "RGB"), "jpg"))
    return cases


def write_npy_fixtures(out):
    a = (np.arange(24, dtype=np.float32) * 0.5 - 3.25).reshape(2, 3, 4)
    np.save(os.path.join(out, "npy_numpy_f32_2x3x4.npy"), a)
    with open(os.path.join(out, "npy_numpy_f32_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, np.array([1.5, -2.0, 1e-8], np.float32), version=(2, 0))
    np.save(os.path.join(out, "npy_numpy_f64.npy"), np.zeros(3, np.float64))
    np.save(os.path.join(out, "npy_numpy_f32_fortran.npy"),
            np.asfortranarray(np.ones((2, 3), np.float32)))
    np.save(os.path.join(out, "npy_numpy_f32_scalar.npy"), np.float32(7.25))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "data")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240611)
    for name, im, ext in synthetic(rng):
        path = os.path.join(out, "preprocess_%s_in.%s" % (name, ext))
        if ext == "jpg":
            im.save(path, quality=90)  # 4:2:0 subsampling, Pillow default
        else:
            im.save(path, optimize=False)
        src = Image.open(path)  # goldens from the decoded file, as the C side sees it
        np.save(os.path.join(out, "preprocess_%s_S64.npy" % name), clip_uint8(src, 64))
    src = Image.open(os.path.join(out, "preprocess_rgb_200x150_in.png"))
    np.save(os.path.join(out, "preprocess_rgb_200x150_S224.npy"), clip_uint8(src, 224))
    np.save(os.path.join(out, "preprocess_rgb_200x150_S64_norm.npy"), clip_float(src, 64))

    shared = os.environ.get("CLIPCL_SHARED_DIR", "")
    img_dir = os.path.join(shared, "data", "images") if shared else ""
    if os.path.isdir(img_dir):
        for fn in sorted(os.listdir(img_dir)):
            stem = os.path.splitext(fn)[0]
            im = Image.open(os.path.join(img_dir, fn))
            np.save(os.path.join(out, "preprocess_photo_%s_S64.npy" % stem), clip_uint8(im, 64))
            if stem == "astronaut":
                np.save(os.path.join(out, "preprocess_photo_%s_S224.npy" % stem), clip_uint8(im, 224))
    else:
        print("no photos at %s: photo goldens not regenerated" % img_dir)
    write_npy_fixtures(out)


if __name__ == "__main__":
    main()
