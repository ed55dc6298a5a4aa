"""Images: preprocess and encode_image equal the command's `preprocess` and
`embed-image` bit for bit whatever form the image comes in (path, PIL image,
uint8 array, float pixels), the PyTorch/Pillow goldens, and bad input raises
clipcl.Error with the library's message."""
import numpy as np
import pytest
from PIL import Image

import clipcl
from conftest import DEVICES, IMAGES, PNGS, VIT, data, dev_args, dev_kw, read_npy, run_cli


@pytest.fixture(scope="module")
def ref_model():
    return clipcl.load(VIT, device="ref", batch=3)


def cli_preprocess(tmp_path, paths, size=32):
    out = tmp_path / "px.npy"
    run_cli("preprocess", "--size", size, "--out", out, *paths)
    return read_npy(out)


def test_preprocess_paths_equal_the_command(ref_model, tmp_path):
    paths = [data(n) for n in IMAGES]
    want = cli_preprocess(tmp_path, paths)
    got = ref_model.preprocess(paths)
    assert got.dtype == np.float32 and got.shape == (len(paths), 3, 32, 32)
    assert np.array_equal(got, want)
    assert np.array_equal(ref_model.preprocess(paths[0]), want[:1])


@pytest.mark.parametrize("name", PNGS)
def test_pil_images_and_arrays_equal_the_file(ref_model, tmp_path, name):
    want = cli_preprocess(tmp_path, [data(name)])
    im = Image.open(data(name))
    im.load()
    assert np.array_equal(ref_model.preprocess(im), want), im.mode
    # the same pixels as a uint8 array, in RGB (what most users hold)
    rgb = Image.open(data(name)).convert("RGB")
    arr = np.asarray(rgb)
    if im.mode == "RGB":
        assert np.array_equal(ref_model.preprocess(arr), want)
    elif im.mode in ("P", "1"):
        # CLIP resizes these nearest-neighbour, an RGB copy bicubic: they differ
        assert not np.array_equal(ref_model.preprocess(arr), want)
    assert np.array_equal(ref_model.preprocess(arr), ref_model.preprocess(rgb))


def test_array_views_and_modes(ref_model, tmp_path):
    big = np.asarray(Image.open(data("preprocess_rgb_200x150_in.png")).convert("RGB"))
    crop = big[10:90, 20:120]  # a view: rows with a gap after each
    assert not crop.flags.c_contiguous
    assert np.array_equal(ref_model.preprocess(crop),
                          ref_model.preprocess(np.ascontiguousarray(crop)))
    for flipped in (big[:, ::-1], big[::-1], big[::2, ::3]):  # copied first
        assert np.array_equal(ref_model.preprocess(flipped),
                              ref_model.preprocess(np.ascontiguousarray(flipped)))
    grey = np.asarray(Image.open(data("preprocess_grey_37x53_in.png")))
    assert grey.ndim == 2
    want = cli_preprocess(tmp_path, [data("preprocess_grey_37x53_in.png")])
    assert np.array_equal(ref_model.preprocess(grey), want)
    rgba = np.asarray(Image.open(data("preprocess_rgba_90x70_in.png")))
    assert rgba.shape[2] == 4
    want = cli_preprocess(tmp_path, [data("preprocess_rgba_90x70_in.png")])
    assert np.array_equal(ref_model.preprocess(rgba), want)


@pytest.mark.parametrize("name,size", [("rgb_200x150", 64), ("palette_80x120", 64),
                                       ("rgba_90x70", 64), ("la_50x40", 64)])
def test_preprocess_equals_the_pillow_goldens(tmp_path, name, size):
    # tests/data/preprocess_*_S64.npy: Pillow + torchvision's uint8 crop,
    # normalised here in torchvision's float32 steps
    golden = read_npy(data("preprocess_%s_S%d.npy" % (name, size)))
    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
    want = ((golden.astype(np.float32) / np.float32(255)) - mean) / std
    want = want.transpose(2, 0, 1)
    m = clipcl.load(data("clip_small_rn/openai"), device="ref")  # resolution 64
    assert m.image_size == size
    got = m.preprocess(Image.open(data("preprocess_%s_in.png" % name)))[0]
    assert np.array_equal(got, want)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("normalize", [False, True])
def test_encode_image_equals_the_command(tmp_path, device, normalize):
    paths = [data(n) for n in IMAGES]
    out = tmp_path / "e.npy"
    run_cli("embed-image", "--model", VIT, "--out", out, "--batch", 3, *dev_args(device),
            *(["--normalize"] if normalize else []), *paths)
    want = read_npy(out)
    m = clipcl.load(VIT, device=dev_kw(device), batch=3)
    got = m.encode_image(paths, normalize=normalize)
    assert got.dtype == np.float32 and got.shape == want.shape == (len(paths), 32)
    assert np.array_equal(got, want)
    # PIL images of the PNGs, the preprocessed pixels: the same bits
    pngs = [Image.open(data(n)) for n in PNGS]
    assert np.array_equal(m.encode_image(pngs, normalize=normalize), want[:len(PNGS)])
    px = cli_preprocess(tmp_path, paths)
    assert np.array_equal(m.encode_image(px, normalize=normalize), want)
    if normalize:
        assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_encode_image_equals_the_pytorch_goldens(device):
    # tests/data/clip_small_*: PyTorch's features of pixels.npy; the rule of
    # the command's own tests: cosine >= 0.99999, max |err| <= 1e-4 max |ref|
    for name in ("clip_small_vit/openai", "clip_small_vit/hf", "clip_small_rn/openai"):
        d = data(name.split("/")[0])
        m = clipcl.load(data(name), device=dev_kw(device))
        got = m.encode_image(read_npy(d + "/pixels.npy")).astype(np.float64)
        ref = read_npy(d + "/image_features.npy").astype(np.float64)
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() >= 0.99999, name
        assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max(), name


def test_bad_images_raise_the_library_message(ref_model, tmp_path):
    with pytest.raises(clipcl.Error, match="/nonexistent/cat.png"):
        ref_model.encode_image(["/nonexistent/cat.png"])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(clipcl.Error, match="bad.png"):
        ref_model.encode_image([data(IMAGES[0]), str(bad)])
    with pytest.raises(clipcl.Error, match=r"expected \(N, 3, 32, 32\)"):
        ref_model.encode_image(np.zeros((2, 3, 64, 64), np.float32))
    with pytest.raises(clipcl.Error, match="H x W x C"):
        ref_model.encode_image(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(clipcl.Error, match="no images"):
        ref_model.encode_image([])
    with pytest.raises(clipcl.Error, match="type int"):
        ref_model.encode_image([3])
    with pytest.raises(clipcl.Error, match="no pixels"):
        ref_model.preprocess(np.zeros((4, 0, 3), np.uint8))


def test_model_preprocess_follows_its_config(tmp_path):
    """A model whose open_clip_config.json asks for bilinear resizing and
    mean/std 0.5 gets open_clip's tensor (the golden of
    tests/reference/make_preprocess_cfg_goldens.py) from a path, a PIL image
    and a uint8 array alike; before, the config was ignored."""
    import json
    import shutil
    shutil.copy(data("clip_small_vit/openai/model.safetensors"), tmp_path / "model.safetensors")
    with open(data("clip_small_vit/openai/open_clip_config.json")) as f:
        cfg = json.load(f)
    cfg["preprocess_cfg"] = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                             "interpolation": "bilinear"}
    (tmp_path / "open_clip_config.json").write_text(json.dumps(cfg))
    want = np.load(data("prepcfg/jpeg_baseline_420_ocn_stats.npy"))
    path = data("decode/jpeg_baseline_420.jpg")
    with clipcl.load(str(tmp_path), device="ref") as m:
        assert np.array_equal(m.preprocess(path)[0], want)
        im = Image.open(path)
        im.load()
        assert np.array_equal(m.preprocess(im)[0], want)
        assert np.array_equal(m.preprocess(np.asarray(im))[0], want)
        feats = m.encode_image(path)
        assert np.array_equal(feats, m.encode_image(want[None]))
