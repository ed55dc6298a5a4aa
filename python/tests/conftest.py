"""Shared fixtures of the clipcl Python suite: the repository's test data,
the `clipcl` command the package was built against (the reference every
result is compared with, bit for bit), and a copy of the small ViT golden
model whose vocabulary is widened to a tiny BPE tokenizer (the goldens'
256 ids fit no real tokenizer; tests/tools/test_cli_clip.py makes the same
model for the command's own tests)."""
import gzip
import json
import os
import struct
import subprocess

import numpy as np
import pytest

import clipcl
import clipcl.__main__

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("CLIPCL_TEST_DATA") or os.path.join(HERE, "..", "..", "tests", "data")
VIT = os.path.join(DATA, "clip_small_vit", "openai")
MERGES = ["h e", "l l", "l o</w>", "he ll", "hell o</w>", "c a", "ca t</w>", "d o", "do g</w>",
          "p h", "o t", "o f</w>", "ph ot", "phot o</w>"]
TINY_VOCAB = 512 + len(MERGES) + 2
# lossless images in every PIL mode the library resizes its own way, and a JPEG
PNGS = ["preprocess_rgb_200x150_in.png", "preprocess_palette_80x120_in.png",
        "preprocess_rgba_90x70_in.png", "preprocess_grey_37x53_in.png",
        "preprocess_la_50x40_in.png", "preprocess_bw_41x30_in.png", "preprocess_rgb_17x23_in.png"]
IMAGES = PNGS + ["preprocess_jpeg_96x80_in.jpg"]


def data(name):
    return os.path.join(DATA, name)


def cli_exe():
    exe = os.environ.get("CLIPCL_EXE") or clipcl.__main__.command()
    assert exe, "no clipcl command: set CLIPCL_EXE"
    return exe


def run_cli(*args, check=True):
    """-> (returncode, stdout, stderr) of the clipcl command."""
    p = subprocess.run([cli_exe(), *map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, "clipcl %s: %s" % (" ".join(map(str, args)), p.stderr)
    return p.returncode, p.stdout, p.stderr


def opencl_devices():
    try:
        return clipcl.devices()
    except clipcl.Error:
        return []


# ref always; the default OpenCL device (PoCL in CI) when there is one
DEVICES = ["ref"] + (["default"] if opencl_devices() else [])


def dev_args(device):
    return [] if device == "default" else ["--device", device]


def dev_kw(device):
    return None if device == "default" else device


def _read_st(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", None)
    raw = {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in hdr.items()}
    return hdr, raw, meta


def _write_st(path, hdr, raw, meta):
    out, off = {}, 0
    for k in sorted(hdr, key=lambda k: hdr[k]["data_offsets"][0]):
        out[k] = {"dtype": hdr[k]["dtype"], "shape": hdr[k]["shape"],
                  "data_offsets": [off, off + len(raw[k])]}
        off += len(raw[k])
    if meta:
        out["__metadata__"] = meta
    h = json.dumps(out).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for k in sorted(hdr, key=lambda k: hdr[k]["data_offsets"][0]):
            f.write(raw[k])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "openai")


def make_tiny_model(d):
    """The ViT golden model with its token embedding widened to TINY_VOCAB
    rows (new rows repeat old ones in a scrambled order) and a tiny merges
    file, in the new folder d (a pathlib.Path): a model that tokenizes."""
    d.mkdir()
    hdr, raw, meta = _read_st(os.path.join(VIT, "model.safetensors"))
    info = hdr["token_embedding.weight"]
    rows, width = info["shape"]
    rb = len(raw["token_embedding.weight"]) // rows
    old = raw["token_embedding.weight"]
    raw["token_embedding.weight"] = old + b"".join(
        old[((i * 37) % rows) * rb:((i * 37) % rows + 1) * rb] for i in range(rows, TINY_VOCAB))
    info["shape"] = [TINY_VOCAB, width]
    _write_st(str(d / "model.safetensors"), hdr, raw, meta)
    with open(os.path.join(VIT, "open_clip_config.json")) as f:
        cfg = json.load(f)
    cfg["model_cfg"]["text_cfg"]["vocab_size"] = TINY_VOCAB
    (d / "open_clip_config.json").write_text(json.dumps(cfg))
    with gzip.open(str(d / "bpe_simple_vocab_16e6.txt.gz"), "wt") as f:
        f.write("#version: tiny\n" + "\n".join(MERGES) + "\n")
    return str(d)


def read_npy(path):
    return np.load(path, allow_pickle=False)
