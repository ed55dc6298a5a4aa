#!/usr/bin/env python3
"""Regenerates the seed corpora of tests/fuzz/corpus/ (docs/fuzzing.md).

Seeds are small valid inputs from tests/data plus hand-made ones for paths the
test data does not reach (other image formats, pax/GNU tar headers, quoted CSV).
Usage: make_corpus.py [CHECKPOINT_DIR]; CHECKPOINT_DIR (a checkpoint written by
the checkpoint tests, e.g. build/tests/test-cache/.../good/ckpt-000002) adds
the checkpoint harness's seed. Standard library only.
"""
import io, json, os, struct, sys, tarfile, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
SEP = b"\n--clipcl-fuzz-part--\n"


def put(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(DATA, *p), "rb") as f:
        return f.read()


def safetensors(tensors, meta=None):
    hdr, blob = {}, b""
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if meta:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def png(w, h, color, rows):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    # safetensors
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    put("fuzz_safetensors", "f32_f16_bf16_i64.st", safetensors([
        ("a", "F32", [2, 3], f32), ("b", "F16", [2], b"\x00\x3c\x00\x40"),
        ("c", "BF16", [1], b"\x80\x3f"), ("d", "I64", [], struct.pack("<q", 7)),
        ("e", "U8", [0], b"")], {"format": "pt"}))
    put("fuzz_safetensors", "empty.st", safetensors([]))
    put("fuzz_safetensors", "bn_after.st", read("train_step_rn", "bn_after.safetensors"))
    # configs
    for p in (("clip_small_vit", "openai", "open_clip_config.json"), ("clip_small_vit", "hf", "config.json"),
              ("clip_small_rn", "openai", "open_clip_config.json"), ("train_step_rn", "open_clip_config.json"),
              ("train_step_vit", "open_clip_config.json")):
        put("fuzz_config_json", "_".join(p), read(*p))
    # npy
    for n in sorted(os.listdir(DATA)):
        if n.startswith("npy_") and n.endswith(".npy"):
            put("fuzz_npy", n, read(n))
    put("fuzz_npy", "u8.npy", b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }".ljust(117) + b"\n" + b"\x01\x02\x03\x04")
    put("fuzz_npy", "i4.npy", b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }".ljust(117) + b"\n" + struct.pack("<2i", -1, 5))
    # images: the small test images, then one of each other format stb reads
    for n in sorted(os.listdir(DATA)):
        if "_in." in n and os.path.getsize(os.path.join(DATA, n)) <= 8192:
            put("fuzz_image", n, read(n))
    # ... and a few of the decoder tests' JPEG, WebP, TIFF and 16-bit PNG files
    for n in ("jpeg_cmyk.jpg", "jpeg_odd_420_q40.jpg", "jpeg_progressive_444.jpg",
              "webp_alpha.webp", "webp_lossy.webp", "tiff_rgb_lzw.tif", "png16_grey.png"):
        put("fuzz_image", n, read("decode", n))
    put("fuzz_image", "rgb_2x2.png", png(2, 2, 2, b"\x00" + bytes(range(6)) + b"\x00" + bytes(range(6, 12))))
    put("fuzz_image", "grey_3x1.pgm", b"P5\n3 1\n255\n\x00\x80\xff")
    put("fuzz_image", "rgb_1x2.ppm", b"P6\n1 2\n255\n" + bytes(range(6)))
    bmp_px = b"\x00\x00\xff\x00" + b"\x00\xff\x00\x00"
    put("fuzz_image", "rgb_1x2.bmp", b"BM" + struct.pack("<IHHI", 54 + len(bmp_px), 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 1, 2, 1, 24, 0, len(bmp_px), 2835, 2835, 0, 0) + bmp_px)
    put("fuzz_image", "rgb_2x1.tga", struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, 2, 1, 24, 0)
        + b"\x00\x00\xff\x00\xff\x00")
    put("fuzz_image", "one_1x1.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\x00\x00\x00\x00\x00"
        b"!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
    # tokenizer
    for i, t in enumerate(["Low hello, lol ll helo elo", "A photo of a cat &amp; a dog's toy.",
                           "caf\u00e9 \u00c3\u00a9 \u2019quoted\u2019 \U0001F600 1234 <|endoftext|>",
                           "  MIXED   case\tand\nnewlines  "]):
        put("fuzz_tokenizer_text", "text%d.txt" % i, t.encode())
    tiny = b"#version: 0.2\nl o\nlo w</w>\nh e\nhe l\nl l\ne l\nh el\n"
    put("fuzz_tokenizer_files", "openai_merges.txt", tiny)
    put("fuzz_tokenizer_files", "openai_merges.txt.gz", gzip_bytes(tiny))
    vocab = {}
    for b in range(256):
        s = byte_symbol(b)
        vocab[s] = 1000 + b
        vocab[s + "</w>"] = 2000 + b
    for i, s in enumerate(["lo", "low</w>", "he", "hel", "ll", "el", "<|startoftext|>", "<|endoftext|>"]):
        vocab[s] = [5, 6, 7, 8, 9, 3, 1, 2][i]
    put("fuzz_tokenizer_files", "hf_vocab_merges", json.dumps(vocab).encode() + SEP + tiny)
    # tar shards: ustar, GNU long names, pax, a corrupt header to resync past
    img = read("preprocess_rgb_1x1_in.png")
    for fmt, name in ((tarfile.USTAR_FORMAT, "ustar"), (tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax")):
        b = io.BytesIO()
        with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
            for key in ("s0000", "d" * (120 if fmt != tarfile.USTAR_FORMAT else 10) + "/s0001"):
                for ext, payload in ((".png", img), (".txt", b"a red pixel")):
                    ti = tarfile.TarInfo(key + ext)
                    ti.size = len(payload)
                    t.addfile(ti, io.BytesIO(payload))
        put("fuzz_tar", name + ".tar", b.getvalue())
    raw = bytearray(open(os.path.join(HERE, "corpus", "fuzz_tar", "ustar.tar"), "rb").read())
    raw[148] ^= 1  # first header's checksum
    put("fuzz_tar", "bad_checksum.tar", bytes(raw))
    # CSV/TSV: first byte = mode (bit 0 tsv name, bit 1 explicit separator, bit 2 custom keys)
    put("fuzz_csv", "plain.csv", b"\x00filepath,title\nimgs/a.jpg,a cat\nb.png,\"a \"\"quoted\"\", caption\"\n")
    put("fuzz_csv", "bom_crlf.csv", b"\x00\xef\xbb\xbftitle,filepath\r\na dog,/abs/b.jpg\r\n\"multi\nline\",c.png\r\n")
    put("fuzz_csv", "keys.tsv", b"\x05image\tcaption\textra\nx.jpg\ta photo\t1\n")
    # embedding folder: manifest SEP shard .npy SEP metadata SEP failed.csv
    manifest = {"kind": "image", "model": "m", "embed_dim": 2, "normalized": True, "shard_size": 2,
                "rows": 2, "shards": [{"file": "img_emb_0000.npy", "metadata": "metadata_0000.csv",
                                       "rows": 2, "inputs": [0, 3]}],
                "failed": 1, "data": "set", "inputs": 3, "batch": 2, "complete": True}
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
    d = d.ljust(128 - 10 - 1) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + struct.pack("<4f", 1, 0, 0, 1)
    meta = b'key,path,member,caption\na,dir/a.png,,a cat\n"b,c","s.tar",b.jpg,"say ""hi""\nthere"\r\n'
    failed = b"path,member,error\nbad.png,,\"bad.png: not a decodable image\"\n"
    put("fuzz_emb_folder", "folder", SEP.join([json.dumps(manifest).encode(), npy, meta, failed]))
    put("fuzz_emb_folder", "manifest_only", json.dumps(dict(manifest, shards=[], rows=0)).encode())
    # program cache: a header and a payload (the harness also fixes the checksum)
    payload = b"\x7fELF binary of a program"
    put("fuzz_program_cache", "entry.bin", b"CLIPCLPB" + struct.pack("<IIQQ", 1, 32, len(payload), 0) + payload)
    put("fuzz_program_cache", "short.bin", b"CLIPCLPB" + struct.pack("<II", 1, 32))
    # checkpoint: the ViT training-step model as weights, zero F16 moments
    model = read("train_step_vit", "model.safetensors")
    (hl,) = struct.unpack("<Q", model[:8])
    hdr = json.loads(model[8:8 + hl])
    blob = model[8 + hl:]
    # checkpoints keep logit_scale 0-d (train/checkpoint.h)
    model = safetensors([(k, v["dtype"], [] if k == "logit_scale" else v["shape"],
                          blob[v["data_offsets"][0]:v["data_offsets"][1]])
                         for k, v in hdr.items() if k != "__metadata__"], {"format": "pt"})
    opt = []
    for k, v in hdr.items():
        if k == "__metadata__" or "running_" in k or "num_batches" in k:
            continue
        n = 1
        for d in v["shape"]:
            n *= d
        for m in ("exp_avg.", "exp_avg_sq."):
            opt.append((m + k, "F16", [] if k == "logit_scale" else v["shape"], bytes(2 * n)))
    opt.append(("step", "I64", [1], struct.pack("<q", 2)))
    opt.append(("data_state", "I64", [4], struct.pack("<4q", 0, 2, 16, 7)))
    state = {"format": 1, "step": 2, "epoch": 0, "epoch_batches": 2, "samples": 16, "skipped": 0,
             "seed": 7, "data": "synth", "csv_img_key": "filepath", "csv_caption_key": "title",
             "device": "ref", "batch": 8, "accum": 1, "siglip": 0, "augment": 0, "image_size": 16,
             "steps": 4, "warmup": 1, "lr": 0.001, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.98,
             "eps": 1e-6, "clip_grad_norm": 0.0}
    parts = [json.dumps(state).encode(), read("train_step_vit", "open_clip_config.json"), model,
             safetensors(opt, {"format": "pt", "optimizer": "AdamW"}), tiny]
    put("fuzz_checkpoint", "vit_ckpt", SEP.join(parts))
    put("fuzz_checkpoint", "state_and_config", SEP.join(parts[:2]))
    if len(sys.argv) > 1:
        d = sys.argv[1]
        parts = []
        for n in ("trainer_state.json", "open_clip_config.json", "open_clip_model.safetensors",
                  "optimizer.safetensors", "merges.txt", "vocab.json"):
            p = os.path.join(d, n)
            parts.append(open(p, "rb").read() if os.path.exists(p) else b"")
        put("fuzz_checkpoint", "ckpt", SEP.join(parts))
        put("fuzz_checkpoint", "state_and_config", SEP.join(parts[:2]))


def byte_symbol(b):
    # GPT-2's bytes_to_unicode
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    if b in bs:
        return chr(b)
    n = sum(1 for x in range(b) if x not in bs)
    return chr(256 + n)


def gzip_bytes(data):
    import gzip
    return gzip.compress(data, mtime=0)


if __name__ == "__main__":
    main()
