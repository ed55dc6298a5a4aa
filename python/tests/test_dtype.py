"""Half-precision weight storage through the package (dtype="f16" / "bf16",
docs/python.md): on the default OpenCL device the features equal the
command's `--dtype` output bit for bit and stay within cosine 0.9999 of
f32. The small ViT's checkpoint holds F16 weights, so f16 storage gives
f32's bits there while bf16 rounds them."""
import numpy as np
import pytest

import clipcl
from conftest import VIT, data, opencl_devices, run_cli

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL platform")


def _min_cos(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))).min())


@pytest.mark.parametrize("dtype", ["f16", "bf16", np.float16])
def test_half_storage_matches_the_command(dtype, tmp_path):
    px = np.load(data("clip_small_vit/pixels.npy"))
    ids = np.load(data("clip_small_vit/ids.npy"))
    f32 = clipcl.load(VIT)
    want_img, want_txt = f32.encode_image(px), f32.encode_text(ids)
    m = clipcl.load(VIT, dtype=dtype)
    name = "f16" if dtype is np.float16 else dtype
    assert m.dtype == name
    img, txt = m.encode_image(px), m.encode_text(ids)
    assert _min_cos(img, want_img) >= 0.9999 and _min_cos(txt, want_txt) >= 0.9999
    if name == "f16":  # F16 weights stored as f16: nothing rounded
        assert np.array_equal(img, want_img) and np.array_equal(txt, want_txt)
    else:
        assert not np.array_equal(img, want_img)
    np.save(tmp_path / "px.npy", px)
    run_cli("embed-image", "--model", VIT, "--pixels", tmp_path / "px.npy", "--dtype", name,
            "--out", tmp_path / "img.npy")
    assert np.array_equal(np.load(tmp_path / "img.npy"), img)


def test_unknown_dtype_names_the_choices():
    with pytest.raises(clipcl.Error, match='dtype "int8": expected f32, f16 or bf16'):
        clipcl.load(VIT, dtype="int8")
