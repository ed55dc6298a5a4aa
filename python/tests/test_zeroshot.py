"""zeroshot equals `clipcl zeroshot --json` (its probabilities printed with
%.9g are the same text, its top labels the same order) and a recomputation
from encode_image / encode_text; bad labels and templates raise."""
import json

import numpy as np
import pytest

import clipcl
from conftest import DEVICES, IMAGES, PNGS, data, dev_args, dev_kw, run_cli

LABELS = ["cat", "dog", "hello", "photo"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("templates", [None, ["a photo of a {}.", "{}", "a {} a {}"]])
def test_zeroshot_equals_the_command(tiny_model, device, templates):
    paths = [data(n) for n in IMAGES]
    args = ["zeroshot", "--model", tiny_model, "--labels", ",".join(LABELS), "--json",
            "--top", "2", "--batch", "3", *dev_args(device)]
    for t in templates or []:
        args += ["--template", t]
    _, out, _ = run_cli(*args, "--", *paths)
    doc = json.loads(out, parse_float=str)  # the printed text of every number
    m = clipcl.load(tiny_model, device=dev_kw(device), batch=3)
    p64 = m.zeroshot(paths, LABELS, templates, dtype=np.float64)
    assert p64.shape == (len(paths), len(LABELS))
    for i, res in enumerate(doc["results"]):
        assert ["%.9g" % p for p in p64[i]] == res["probs"]
        top = list(np.argsort(-p64[i], kind="stable")[:2])
        assert [t["label"] for t in res["top"]] == [LABELS[j] for j in top]
    p32 = m.zeroshot(paths, LABELS, templates)
    assert p32.dtype == np.float32 and np.array_equal(p32, p64.astype(np.float32))


def test_zeroshot_recomputed_from_the_encoders(tiny_model):
    m = clipcl.load(tiny_model, device="ref")
    templates = ["a photo of a {}.", "{} {}"]
    ims = [data(n) for n in PNGS[:3]]
    prompts = [t.replace("{}", l) for l in LABELS for t in templates]
    txt = m.encode_text(prompts, normalize=True).astype(np.float64).reshape(len(LABELS), 2, -1)
    cls = txt.mean(1)
    cls /= np.linalg.norm(cls, axis=1, keepdims=True)
    assert np.allclose(m.zeroshot_classifier(LABELS, templates), cls, atol=1e-6)
    img = m.encode_image(ims, normalize=True).astype(np.float64)
    logits = np.exp(m.logit_scale) * img @ cls.T
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    got = m.zeroshot(ims, LABELS, templates, dtype=np.float64)
    assert np.allclose(got, want, atol=1e-6, rtol=0)
    assert np.allclose(got.sum(1), 1, atol=1e-12)


def test_zeroshot_errors(tiny_model):
    m = clipcl.load(tiny_model, device="ref")
    img = [data(PNGS[0])]
    with pytest.raises(clipcl.Error, match="expected {} where the label goes"):
        m.zeroshot(img, LABELS, ["a photo"])
    with pytest.raises(clipcl.Error, match="label 1 is empty"):
        m.zeroshot(img, ["cat", ""])
    with pytest.raises(clipcl.Error, match="no labels"):
        m.zeroshot(img, [])
    with pytest.raises(clipcl.Error, match="/nonexistent.png"):
        m.zeroshot(["/nonexistent.png"], LABELS)
