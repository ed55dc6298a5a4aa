"""Reading an embedding folder as `clipcl embed-image --data SET --out DIR`
(and embed-text --data) write it: DIR/manifest.json, shards
img_emb_NNNN.npy / text_emb_NNNN.npy (float32 rows x D) and one RFC 4180
metadata CSV per shard (key,path,member,caption), in the manifest's order."""
import csv
import json
import os

import numpy as np

from ._clipcl import Error


def load_embeddings(folder, mmap=False):
    """-> (embeddings, rows, manifest).

    embeddings: float32 N x D, every shard's rows in order (with mmap=True
    and a single shard, a read-only memory map; otherwise one array).
    rows: N dicts {key, path, member, caption}, row i describing row i.
    manifest: the folder's manifest.json as a dict (kind, model, embed_dim,
    normalized, rows, shards, failed, ...)."""
    folder = os.fspath(folder)
    mpath = os.path.join(folder, "manifest.json")
    try:
        with open(mpath, encoding="utf-8") as f:
            manifest = json.load(f)
    except OSError as e:
        raise Error("embedding folder %s: %s: %s" % (folder, mpath, e.strerror)) from None
    except ValueError as e:
        raise Error("embedding folder %s: manifest.json is not JSON: %s" % (folder, e)) from None
    shards = manifest.get("shards")
    dim = manifest.get("embed_dim")
    if not isinstance(shards, list) or not isinstance(dim, int):
        raise Error("embedding folder %s: manifest.json: expected \"shards\" (a list) and "
                    "\"embed_dim\" (an int)" % folder)
    arrays, rows = [], []
    for i, s in enumerate(shards):
        npy = os.path.join(folder, s.get("file", ""))
        meta = os.path.join(folder, s.get("metadata", ""))
        try:
            a = np.load(npy, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise Error("embedding folder %s: shard %d %s: %s" % (folder, i, npy, e)) from None
        want = s.get("rows")
        if a.dtype != np.float32 or a.ndim != 2 or a.shape[1] != dim or \
                (want is not None and a.shape[0] != want):
            raise Error("embedding folder %s: shard %s: %s %s, expected float32 (%s, %d)"
                        % (folder, npy, a.dtype, tuple(a.shape), want, dim))
        try:
            with open(meta, newline="", encoding="utf-8") as f:
                r = list(csv.DictReader(f))
        except OSError as e:
            raise Error("embedding folder %s: metadata %s: %s" % (folder, meta, e.strerror)) \
                from None
        if len(r) != a.shape[0]:
            raise Error("embedding folder %s: %s has %d rows but %s has %d"
                        % (folder, meta, len(r), npy, a.shape[0]))
        arrays.append(a)
        rows.extend({k: row.get(k, "") for k in ("key", "path", "member", "caption")}
                    for row in r)
    if "rows" in manifest and manifest["rows"] != len(rows):
        raise Error("embedding folder %s: manifest.json says %s rows, the shards hold %d"
                    % (folder, manifest["rows"], len(rows)))
    if not arrays:
        emb = np.zeros((0, dim), np.float32)
    elif len(arrays) == 1:
        emb = arrays[0]
    else:
        emb = np.concatenate(arrays)
    return emb, rows, manifest
