#!/usr/bin/env python3
"""Goldens for the image decoders (tests/io/test_decoders.c).

Writes small JPEG, WebP, TIFF and 16-bit PNG files made with Pillow into
tests/data/decode/, and for each one the output of open_clip's own eval
transform (open_clip.transform.image_transform) at 64 px with mean 0 and
std 1, so the tensor times 255 is the uint8 image after Resize, CenterCrop
and convert("RGB"): <name>_S64.npy, 64 x 64 x 3 uint8. The C test decodes
the very same files and must land within 1/255 of these.

Run with a Python that has open_clip and Pillow (the compat virtualenv):
  HF_HUB_OFFLINE=1 nice ~/compat-venv/bin/python tests/reference/make_decoder_goldens.py
"""
import io
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "data", "decode")
S = 64


def photo(rng, h, w):
    """Smooth shading, fine texture and hard coloured edges: what makes
    IDCT and chroma upsampling differences show."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(x / w * 7.0) * np.cos(y / h * 4.0)
    g = 128 + 90 * np.cos((x + y) / (w + h) * 9.0)
    b = 128 + 60 * np.sin(x * y / (w * h) * 20.0)
    a = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
    a[(x.astype(int) // 9 + y.astype(int) // 6) % 5 == 0] = (230, 20, 40)
    a[(x.astype(int) - 2 * y.astype(int)) % 23 < 2] = (10, 200, 250)
    return np.clip(a, 0, 255).astype(np.uint8)


def golden(path):
    from open_clip.transform import image_transform
    t = image_transform(S, is_train=False, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    with Image.open(path) as im:
        x = t(im).numpy()  # 3 x S x S in [0, 1], exactly k / 255
    u8 = np.rint(x * 255.0).astype(np.uint8).transpose(1, 2, 0)
    assert np.abs(u8.astype(np.float64) / 255.0 - x.transpose(1, 2, 0)).max() < 1e-6
    return np.ascontiguousarray(u8)


def save(name, im, fmt, **kw):
    path = os.path.join(OUT, name)
    im.save(path, fmt, **kw)
    np.save(os.path.join(OUT, os.path.splitext(name)[0] + "_S%d.npy" % S), golden(path))
    with Image.open(path) as chk:
        print("%-28s %-5s %-5s %dx%d %d bytes" % (name, chk.format, chk.mode, chk.size[0],
                                                   chk.size[1], os.path.getsize(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(9)
    rgb = Image.fromarray(photo(rng, 75, 97))
    odd = Image.fromarray(photo(rng, 45, 131))
    big = Image.fromarray(photo(rng, 190, 250))
    tiny = Image.fromarray(photo(rng, 9, 13))
    # JPEG: Pillow's encoder; no EXIF is written.
    save("jpeg_baseline_420.jpg", rgb, "JPEG", quality=85)
    save("jpeg_baseline_444.jpg", rgb, "JPEG", quality=95, subsampling=0)
    save("jpeg_baseline_422.jpg", odd, "JPEG", quality=70, subsampling=1)
    save("jpeg_progressive_420.jpg", big, "JPEG", quality=80, progressive=True)
    save("jpeg_progressive_444.jpg", odd, "JPEG", quality=90, progressive=True, subsampling=0)
    save("jpeg_odd_420_q40.jpg", tiny, "JPEG", quality=40)
    save("jpeg_optimized_q60.jpg", big.transpose(Image.Transpose.TRANSPOSE), "JPEG", quality=60,
         optimize=True)
    save("jpeg_grey.jpg", rgb.convert("L"), "JPEG", quality=85)
    save("jpeg_grey_progressive.jpg", odd.convert("L"), "JPEG", quality=75, progressive=True)
    save("jpeg_cmyk.jpg", rgb.convert("CMYK"), "JPEG", quality=90)
    # WebP: lossy (YUV 4:2:0), lossless, lossy with alpha.
    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 97).astype(np.uint8), (75, 1))))
    save("webp_lossy.webp", odd, "WEBP", quality=80)
    save("webp_lossless.webp", rgb, "WEBP", lossless=True)
    save("webp_alpha.webp", rgba, "WEBP", quality=85)
    # TIFF: raw, LZW, deflate grey, RGBA, and a two-page file (first page used).
    save("tiff_rgb_raw.tif", rgb, "TIFF")
    save("tiff_rgb_lzw.tif", odd, "TIFF", compression="tiff_lzw")
    save("tiff_grey_deflate.tif", rgb.convert("L"), "TIFF", compression="tiff_adobe_deflate")
    save("tiff_rgba_lzw.tif", rgba, "TIFF", compression="tiff_lzw")
    save("tiff_two_pages.tif", odd.resize((65, 22)), "TIFF", save_all=True, append_images=[tiny],
         compression="packbits")
    # 16-bit PNG: RGB, RGBA and grey (Pillow opens 16-bit grey as mode I).
    a16 = (photo(rng, 40, 52).astype(np.uint16) * 257 + rng.integers(0, 257, (40, 52, 3))).astype(">u2")
    save_png16("png16_rgb.png", a16, 2)
    a16a = np.concatenate([a16, (np.arange(52 * 40).reshape(40, 52, 1) * 31 % 65536).astype(">u2")], -1)
    save_png16("png16_rgba.png", a16a, 6)
    grey = (np.linspace(0, 1400, 40 * 52).reshape(40, 52) + rng.integers(0, 200, (40, 52))).astype(">u2")
    save_png16("png16_grey.png", grey[..., None], 0)
    # More modes and codecs (own generator, so the files above stay as they are).
    rng2 = np.random.default_rng(3)
    more = Image.fromarray(photo(rng2, 75, 97))
    save("jpeg_cmyk_progressive.jpg", more.convert("CMYK"), "JPEG", quality=70, progressive=True)
    save("tiff_palette_lzw.tif", more.convert("P", palette=Image.Palette.ADAPTIVE, colors=40),
         "TIFF", compression="tiff_lzw")
    save("tiff_bilevel_g4.tif", more.convert("1"), "TIFF", compression="group4")
    save("tiff_jpeg.tif", more, "TIFF", compression="jpeg", quality=85)
    save("tiff_cmyk_lzw.tif", more.convert("CMYK"), "TIFF", compression="tiff_lzw")
    save("tiff_grey_alpha.tif", more.convert("LA"), "TIFF")
    save("webp_animated.webp", more, "WEBP", save_all=True, quality=70,
         append_images=[more.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])


def save_png16(name, a, colour_type):
    """Pillow cannot write 16-bit RGB PNGs: written by hand (zlib, filter 0)."""
    import struct
    import zlib
    h, w, c = a.shape
    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(data)
    np.save(os.path.join(OUT, os.path.splitext(name)[0] + "_S%d.npy" % S), golden(path))
    with Image.open(path) as chk:
        print("%-28s %-5s %-5s %dx%d %d bytes" % (name, chk.format, chk.mode, chk.size[0],
                                                   chk.size[1], os.path.getsize(path)))


if __name__ == "__main__":
    sys.exit(main())
