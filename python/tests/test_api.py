"""The package's surface: version, devices, load and its errors, info,
`python -m clipcl` as the command."""
import os
import subprocess
import sys

import numpy as np
import pytest

import clipcl
from conftest import VIT, cli_exe, data, opencl_devices, run_cli


def test_version_is_the_library_and_the_commands():
    _, out, _ = run_cli("--version")
    assert out.split() == ["clipcl", clipcl.__version__]
    assert clipcl.__version__.count(".") == 2


def test_devices_match_the_command():
    devs = opencl_devices()
    if not devs:
        pytest.skip("no OpenCL platform")
    _, out, _ = run_cli("devices", "--json")
    import json
    doc = json.loads(out)
    listed = doc["devices"] if isinstance(doc, dict) else doc
    assert len(listed) == len(devs)
    assert sum(d["default"] for d in devs) == 1
    for d in devs:
        assert d["spec"].count(":") == 1 and d["compute_units"] >= 1
        assert any(d["name"] == e.get("name") for e in listed)
    # the default device is the one load(device=None) opens; its spec opens it too
    default = next(d for d in devs if d["default"])
    assert default["name"] in clipcl.load(VIT).info["device"]
    assert default["name"] in clipcl.load(VIT, device=default["spec"]).info["device"]


def test_properties_and_info():
    m = clipcl.load(VIT, device="ref")
    _, out, _ = run_cli("info", "--model", VIT)
    assert (m.embed_dim, m.image_size, m.context_length) == (32, 32, 77)
    lines = dict(l.split(":", 1) for l in out.splitlines())
    info = m.info
    assert lines["embed dim"].strip() == str(m.embed_dim)
    assert info["device"] == "reference backend (plain C)"
    assert info["embed_dim"] == m.embed_dim and info["image_size"] == m.image_size
    assert "resolution %d, patch %d, width %d, layers %d, heads %d" % (
        info["image_size"], info["patch_size"], info["vision_width"], info["vision_layers"],
        info["vision_heads"]) in lines["image tower"]
    assert "context %d, vocab %d" % (info["context_length"], info["vocab_size"]) \
        in lines["text tower"]
    assert info["naming"] == "openai" and info["is_vit"] and info["rn_layers"] == ()
    assert lines["weights"].strip() == info["weights_path"]
    assert lines["parameters"].split()[0] == str(info["n_params"])
    assert lines["dtype"].strip() == info["dtype"] and info["tokenizer_path"] == ""
    # logit_scale is the checkpoint's parameter (a log), as in the file
    import json, struct
    with open(os.path.join(VIT, "model.safetensors"), "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])["logit_scale"]
    raw = b[8 + n + h["data_offsets"][0]:8 + n + h["data_offsets"][1]]
    want = np.frombuffer(raw, dtype={"F32": "<f4", "F16": "<f2"}[h["dtype"]])[0]
    assert m.logit_scale == float(np.float32(want))


def test_load_errors_carry_the_message():
    with pytest.raises(clipcl.Error, match="/nonexistent/model"):
        clipcl.load("/nonexistent/model", device="ref")
    with pytest.raises(clipcl.Error, match="no-such-device"):
        clipcl.load(VIT, device="no-such-device")
    with pytest.raises(clipcl.Error, match="reference backend stores weights in f32 only"):
        clipcl.load(VIT, device="ref", dtype="f16")
    with pytest.raises(clipcl.Error, match="reference backend stores weights in f32 only"):
        clipcl.load(VIT, device="ref", dtype=np.float16)
    with pytest.raises(clipcl.Error, match='dtype "f8": expected f32, f16 or bf16'):
        clipcl.load(VIT, device="ref", dtype="f8")
    with pytest.raises(clipcl.Error, match='dtype "float64": expected f32, f16 or bf16'):
        clipcl.load(VIT, device="ref", dtype=np.float64)
    with pytest.raises(clipcl.Error, match="batch"):
        clipcl.load(VIT, device="ref", batch=0)
    e = pytest.raises(clipcl.Error, clipcl.load, data("npy_numpy_f64.npy"), device="ref").value
    assert isinstance(e, RuntimeError) and e.status != 0 and "npy_numpy_f64.npy" in str(e)
    assert clipcl.load(VIT, device="ref", dtype="float32").embed_dim == 32


def test_closed_model_raises():
    m = clipcl.load(VIT, device="ref")
    m.close()
    with pytest.raises(clipcl.Error, match="closed"):
        m.encode_image(np.zeros((1, 3, 32, 32), np.float32))


def test_python_m_clipcl_is_the_command(tmp_path):
    p = subprocess.run([sys.executable, "-m", "clipcl", "info", "--model", VIT],
                       capture_output=True, text=True)
    _, want, _ = run_cli("info", "--model", VIT)
    assert p.returncode == 0 and p.stdout == want
    p = subprocess.run([sys.executable, "-m", "clipcl", "embed-image", "--model", VIT],
                       capture_output=True, text=True)
    q = subprocess.run([cli_exe(), "embed-image", "--model", VIT], capture_output=True, text=True)
    assert p.returncode == q.returncode != 0
    assert p.stderr == q.stderr and "--out" in p.stderr


def test_import_loads_the_library_it_was_built_against():
    # no LD_LIBRARY_PATH: the extension's RUNPATH names the library's folder
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    code = ("import clipcl\n"
            "print([l.split()[-1] for l in open('/proc/self/maps') if 'libclipcl.so' in l][0])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    from clipcl import _build_config
    lib = os.path.realpath(p.stdout.strip())
    assert os.path.dirname(lib) == os.path.realpath(_build_config.LIB_DIR), lib
    assert clipcl.__version__ == _build_config.LIB_VERSION
