"""`clipcl train --siglip --model-config` on open_clip's ViT-B-16-SigLIP config
scaled down (the trunk's sizes in vision_cfg), through the built binary on the
ref backend: the checkpoint holds exactly the tensors, under the names and
with the shapes, of open_clip's own model of that config (the golden written
by tests/reference/make_train_siglip_goldens.py with open_clip: the same
sizes, so only the learned vocabulary's table differs), `clipcl info` reads it
back as SigLIP, resume from a checkpoint gives the uninterrupted run's losses,
and the config without --siglip is refused by name.

usage: test_trainer_siglip_cli.py CLIPCL"""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("CLIPCL_TEST_DATA", os.path.join(HERE, "..", "data"))
GOLDEN = os.path.join(DATA, "train_step_siglip")


def run(args, expect=0):
    p = subprocess.run(args, capture_output=True, text=True)
    if p.returncode != expect:
        sys.exit("FAIL: %s -> rc %d (expected %d)\n%s%s" % (" ".join(args), p.returncode, expect,
                                                             p.stdout, p.stderr))
    return p


def tensors(path):
    """{name: shape} from a safetensors header."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    return {k: v["shape"] for k, v in h.items() if k != "__metadata__"}


def losses(path):
    with open(path) as f:
        return {r["step"]: r["loss"] for r in map(json.loads, f)}


def main():
    clipcl = sys.argv[1]
    with open(os.path.join(GOLDEN, "open_clip_config.json")) as f:
        cfg = json.load(f)["model_cfg"]
    cfg["text_cfg"]["vocab_size"] = 600  # room for the vocabulary train learns
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "siglip.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        base = [clipcl, "train", "--data", "synth:32:5", "--model-config", path, "--batch", "8",
                "--lr", "2e-3", "--warmup", "1", "--device", "ref", "--workers", "1"]
        p = run(base + ["--out", os.path.join(d, "x"), "--steps", "4"], expect=1)
        assert "SigLIP" in p.stderr and "--siglip" in p.stderr, p.stderr
        full = os.path.join(d, "full")
        run(base + ["--siglip", "--out", full, "--steps", "4", "--checkpoint-every", "2"])
        got = tensors(os.path.join(full, "latest", "open_clip_model.safetensors"))
        want = tensors(os.path.join(GOLDEN, "open_clip_model.safetensors"))
        want["text.token_embedding.weight"][0] = 600
        assert sorted(got) == sorted(want), (sorted(set(got) ^ set(want)))
        for k in want:
            assert got[k] == want[k], (k, got[k], want[k])
        info = run([clipcl, "info", "--model", os.path.join(full, "latest")]).stdout
        assert "SigLIP" in info and "logit bias" in info, info
        rest = os.path.join(d, "rest")
        run([clipcl, "train", "--resume", os.path.join(full, "ckpt-000002"), "--out", rest,
             "--steps", "4"])
        a, b = losses(os.path.join(full, "log.jsonl")), losses(os.path.join(rest, "log.jsonl"))
        assert [b[s] for s in (3, 4)] == [a[s] for s in (3, 4)], (a, b)
    print("%d tensors named and shaped as open_clip's; resumed losses equal" % len(want))
    return 0


if __name__ == "__main__":
    sys.exit(main())
