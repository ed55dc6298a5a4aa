"""`clipcl train` and `clipcl plot` end to end through the built binary:
a tiny ViT on synth data with the ref backend; the log, the checkpoint
layout, resume equality through the CLI (losses of the resumed steps equal
the uninterrupted run's, compared as logged f32 values), a run killed while
writing a checkpoint (CLIPCL_CKPT_KILL_AFTER) leaving `latest` loadable by
`clipcl zeroshot`, usage errors, `--augment` over a dataset holding an image
with a zero dimension (skipped, not read out of bounds), and `clipcl plot`
writing a PNG.

usage: test_trainer_cli.py CLIPCL"""
import json
import os
import signal
import subprocess
import sys
import tempfile

CFG = {
    "embed_dim": 16, "quick_gelu": True,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 12, "vocab_size": 600, "width": 32, "heads": 2, "layers": 1},
}


def run(args, env=None, expect=0):
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    if expect is not None and p.returncode != expect:
        sys.exit("FAIL: %s -> rc %d (expected %d)\n%s%s" % (" ".join(args), p.returncode, expect,
                                                             p.stdout, p.stderr))
    return p


def losses(path):
    with open(path) as f:
        return {r["step"]: r["loss"] for r in map(json.loads, f)}


def main():
    clipcl = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "cfg.json")
        with open(cfg, "w") as f:
            json.dump(CFG, f)
        base = [clipcl, "train", "--data", "synth:32:5", "--model-config", cfg, "--batch", "8",
                "--lr", "2e-3", "--warmup", "1", "--device", "ref", "--workers", "1"]
        full = os.path.join(d, "full")
        run(base + ["--out", full, "--steps", "6", "--checkpoint-every", "3"])
        names = sorted(os.listdir(full))
        assert names == ["ckpt-000003", "ckpt-000006", "latest", "log.jsonl", "tokenizer"], names
        assert os.readlink(os.path.join(full, "latest")) == "ckpt-000006"
        ck = sorted(os.listdir(os.path.join(full, "ckpt-000006")))
        assert ck == ["merges.txt", "open_clip_config.json", "open_clip_model.safetensors",
                      "optimizer.safetensors", "tokenizer_config.json", "trainer_state.json",
                      "vocab.json"], ck
        with open(os.path.join(full, "log.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
        for key in ("loss", "lr", "temperature", "grad_norm", "samples_per_s", "skipped"):
            assert key in rows[0], key
        full_l = losses(os.path.join(full, "log.jsonl"))

        # resume from the step-3 checkpoint into another directory
        rest = os.path.join(d, "rest")
        run([clipcl, "train", "--resume", os.path.join(full, "ckpt-000003"), "--out", rest])
        rest_l = losses(os.path.join(rest, "log.jsonl"))
        assert sorted(rest_l) == [4, 5, 6], rest_l
        for s in (4, 5, 6):
            assert rest_l[s] == full_l[s], (s, rest_l[s], full_l[s])
        print("resume: losses of steps 4-6 equal:", [rest_l[s] for s in (4, 5, 6)])

        # killed after the second file of the step-6 checkpoint
        kill = os.path.join(d, "kill")
        run(base + ["--out", kill, "--steps", "3"])
        env = dict(os.environ, CLIPCL_CKPT_KILL_AFTER="2")
        p = run([clipcl, "train", "--resume", kill, "--out", kill, "--steps", "6"], env=env,
                expect=None)
        assert p.returncode == -signal.SIGKILL, p.returncode
        assert os.readlink(os.path.join(kill, "latest")) == "ckpt-000003"
        assert os.path.isdir(os.path.join(kill, "ckpt-000006.tmp"))
        img = os.path.join(d, "img")
        run([clipcl, "synth", "--out", img, "--n", "2", "--size", "16"])
        p = run([clipcl, "zeroshot", "--model", os.path.join(kill, "latest"), "--device", "ref",
                 "--labels", "red circle,blue square", "--top", "2",
                 os.path.join(img, "train", "0000000.png")])
        assert "red circle" in p.stdout and "blue square" in p.stdout, p.stdout
        run([clipcl, "train", "--resume", kill, "--out", kill, "--steps", "6"])
        assert os.readlink(os.path.join(kill, "latest")) == "ckpt-000006"
        assert not os.path.exists(os.path.join(kill, "ckpt-000006.tmp"))
        assert sorted(losses(os.path.join(kill, "log.jsonl"))) == [1, 2, 3, 4, 5, 6]

        # refusals and usage errors
        p = run([clipcl, "train", "--resume", cfg, "--out", os.path.join(d, "x")], expect=1)
        assert "no checkpoint" in p.stderr, p.stderr
        p = run([clipcl, "train", "--data", "synth:8", "--out", os.path.join(d, "y")], expect=2)
        assert "--model-config" in p.stderr, p.stderr
        p = run(base + ["--out", os.path.join(d, "z"), "--steps", "3", "--lr", "fast"], expect=2)
        assert "--lr" in p.stderr, p.stderr

        # --augment over a CSV dataset holding a crafted BMP that decodes with
        # zero height: the decoder refuses it, the loader counts it as skipped
        # and the random-resized crop never sees it
        zd = os.path.join(d, "zero")
        run([clipcl, "synth", "--out", zd, "--n", "16", "--size", "16"])
        bmp = bytearray(64)
        bmp[0:2] = b"BM"
        for off, v in ((2, 64), (10, 54), (14, 40), (18, 5), (22, 0), (26, 1), (28, 24)):
            bmp[off:off + 4] = v.to_bytes(4, "little")
        with open(os.path.join(zd, "train", "zero.bmp"), "wb") as f:
            f.write(bytes(bmp))
        with open(os.path.join(zd, "train.csv"), "a") as f:
            f.write("train/zero.bmp,a crafted image,x,x,x,x,0,0\n")
        zo = os.path.join(d, "zero-run")
        p = run([clipcl, "train", "--data", os.path.join(zd, "train.csv"), "--augment",
                 "--model-config", cfg, "--batch", "8", "--steps", "3", "--device", "ref",
                 "--workers", "1", "--out", zo])
        assert "zero.bmp: image is 5x0 pixels, expected at least 1x1" in p.stderr, p.stderr
        zrows = [json.loads(line) for line in open(os.path.join(zo, "log.jsonl"))]
        assert [r["step"] for r in zrows] == [1, 2, 3], zrows
        assert zrows[-1]["skipped"] >= 1, zrows[-1]
        print("augment: zero-height image skipped:", zrows[-1]["skipped"])

        # the curves
        png = os.path.join(d, "curves.png")
        run([clipcl, "plot", os.path.join(full, "log.jsonl"), "--out", png])
        with open(png, "rb") as f:
            head = f.read(8)
        assert head == b"\x89PNG\r\n\x1a\n", head
        assert os.path.getsize(png) > 5000
        p = run([clipcl, "plot", cfg, "--out", png], expect=1)
        assert "line 1" in p.stderr, p.stderr
    print("ok")


if __name__ == "__main__":
    main()
