"""load_embeddings reads the agreed embedding-folder layout (manifest.json,
img_emb_NNNN.npy shards, metadata_NNNN.csv) in order, and a folder whose
parts disagree raises clipcl.Error naming the part."""
import csv
import json

import numpy as np
import pytest

import clipcl


def write_folder(d, shard_rows, dim=4, kind="image"):
    prefix, meta = ("img_emb", "metadata") if kind == "image" else ("text_emb", "text_metadata")
    rng = np.random.default_rng(1)
    shards, all_rows, arrays = [], [], []
    for i, n in enumerate(shard_rows):
        a = rng.standard_normal((n, dim)).astype(np.float32)
        np.save(d / ("%s_%04d.npy" % (prefix, i)), a)
        rows = [{"key": "k%d_%d" % (i, j), "path": "shard-%d.tar" % i, "member": "m%d.png" % j,
                 "caption": 'a "quoted", caption\nwith a line break %d' % j} for j in range(n)]
        with open(d / ("%s_%04d.csv" % (meta, i)), "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, ["key", "path", "member", "caption"])
            w.writeheader()
            w.writerows(rows)
        shards.append({"file": "%s_%04d.npy" % (prefix, i), "metadata": "%s_%04d.csv" % (meta, i),
                       "rows": n})
        arrays.append(a)
        all_rows += rows
    manifest = {"kind": kind, "model": "m", "embed_dim": dim, "normalized": True,
                "shard_size": max(shard_rows), "rows": sum(shard_rows), "shards": shards,
                "failed": 0}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return np.concatenate(arrays), all_rows


def test_shards_in_order(tmp_path):
    want, rows = write_folder(tmp_path, [5, 5, 2])
    emb, got_rows, manifest = clipcl.load_embeddings(tmp_path)
    assert emb.dtype == np.float32 and np.array_equal(emb, want)
    assert got_rows == rows and manifest["rows"] == 12
    emb, _, _ = clipcl.load_embeddings(str(tmp_path), mmap=True)
    assert np.array_equal(emb, want)


def test_one_shard_memory_mapped(tmp_path):
    want, _ = write_folder(tmp_path, [3], kind="text")
    emb, rows, manifest = clipcl.load_embeddings(tmp_path, mmap=True)
    assert isinstance(emb, np.memmap) and np.array_equal(emb, want)
    assert manifest["kind"] == "text" and len(rows) == 3


def test_disagreeing_parts_raise(tmp_path):
    with pytest.raises(clipcl.Error, match="manifest.json"):
        clipcl.load_embeddings(tmp_path)
    write_folder(tmp_path, [4, 2])
    m = json.loads((tmp_path / "manifest.json").read_text())
    m["rows"] = 7
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(clipcl.Error, match="says 7 rows, the shards hold 6"):
        clipcl.load_embeddings(tmp_path)
    with open(tmp_path / "metadata_0001.csv", "a", encoding="utf-8") as f:
        f.write("extra,p,,\n")
    with pytest.raises(clipcl.Error, match="metadata_0001.csv has 3 rows"):
        clipcl.load_embeddings(tmp_path)
    (tmp_path / "img_emb_0000.npy").unlink()
    with pytest.raises(clipcl.Error, match="img_emb_0000.npy"):
        clipcl.load_embeddings(tmp_path)
