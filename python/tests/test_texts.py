"""Texts: tokenize equals `clipcl tokenize`, encode_text equals `clipcl
embed-text` bit for bit (texts and ids), the PyTorch goldens through ids,
and bad input raises clipcl.Error."""
import warnings

import numpy as np
import pytest

import clipcl
from conftest import DEVICES, TINY_VOCAB, VIT, data, dev_args, dev_kw, read_npy, run_cli

TEXTS = ["hello", "a cat", "a photo of a dog.", "", "Hello, HELLO!! 42 cats & dogs",
         "caf\u00e9 \u4e2d\u6587", "hello cat dog"]


def test_tokenize_equals_the_command(tiny_model):
    m = clipcl.load(tiny_model, device="ref")
    _, out, _ = run_cli("tokenize", "--model", tiny_model, "--", *TEXTS)
    want = np.array([[int(x) for x in line.split()] for line in out.splitlines()], np.int32)
    got = m.tokenize(TEXTS)
    assert got.dtype == np.int32 and got.shape == (len(TEXTS), 77)
    assert np.array_equal(got, want)
    assert got.max() == TINY_VOCAB - 1  # <|endoftext|>
    assert np.array_equal(m.tokenize("hello"), want[:1])


def test_long_text_is_cut_with_a_warning(tiny_model):
    m = clipcl.load(tiny_model, device="ref")
    with pytest.warns(UserWarning, match="1 text longer than 77 tokens"):
        ids = m.tokenize(["cat " * 100])
    assert ids[0, -1] == TINY_VOCAB - 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.tokenize(["cat"])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("normalize", [False, True])
def test_encode_text_equals_the_command(tiny_model, tmp_path, device, normalize):
    out = tmp_path / "t.npy"
    norm = ["--normalize"] if normalize else []
    run_cli("embed-text", "--model", tiny_model, "--out", out, "--batch", 3, *dev_args(device),
            *norm, "--", *TEXTS)
    want = read_npy(out)
    m = clipcl.load(tiny_model, device=dev_kw(device), batch=3)
    got = m.encode_text(TEXTS, normalize=normalize)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
    assert np.array_equal(got, want)
    # through the ids, as the command's --ids does
    assert np.array_equal(m.encode_text(m.tokenize(TEXTS), normalize=normalize), want)
    assert len({r.tobytes() for r in got}) == len(TEXTS)


@pytest.mark.parametrize("device", DEVICES)
def test_encode_text_ids_equal_the_pytorch_goldens(device):
    for name in ("clip_small_vit/openai", "clip_small_vit/hf", "clip_small_rn/openai"):
        d = data(name.split("/")[0])
        m = clipcl.load(data(name), device=dev_kw(device), batch=2)
        got = m.encode_text(read_npy(d + "/ids.npy")).astype(np.float64)
        ref = read_npy(d + "/text_features.npy").astype(np.float64)
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() >= 0.99999, name
        assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max(), name


def test_bad_texts_raise(tiny_model):
    m = clipcl.load(tiny_model, device="ref")
    with pytest.raises(clipcl.Error, match="no texts"):
        m.encode_text([])
    with pytest.raises(clipcl.Error, match="item 1 is int"):
        m.encode_text(["a", 3])
    with pytest.raises(clipcl.Error, match=r"expected \(N, 77\)"):
        m.encode_text(np.zeros((2, 10), np.int32))
    ids = m.tokenize(["cat"])
    ids[0, 3] = 100000
    with pytest.raises(clipcl.Error, match="holds id 100000"):
        m.encode_text(ids)
    # a model without tokenizer files: the library says where it looked
    plain = clipcl.load(VIT, device="ref")
    with pytest.raises(clipcl.Error, match="no tokenizer"):
        plain.encode_text(["a cat"])
    with pytest.raises(clipcl.Error, match="no tokenizer"):
        plain.tokenize(["a cat"])
    with pytest.raises(clipcl.Error, match="no such file"):
        clipcl.load(VIT, device="ref", vocab="/nonexistent/vocab.txt.gz")
