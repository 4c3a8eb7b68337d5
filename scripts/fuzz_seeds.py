#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs (fuzz/seeds/<target>/): small, valid examples of each file
webtune reads, from the test fixtures, the shared GLUE data and all-MiniLM-L6-v2 (scripts/setup).
Standard library only. Rerun after changing a reader's format; the fuzzer grows fuzz/corpus/ from these."""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("WEBTUNE_CACHE", os.path.expanduser("~/.cache/webtune"))
MINILM = os.path.join(CACHE, "models/all-MiniLM-L6-v2")
GLUE = os.path.join(ROOT, "../shared/data/glue")
OUT = os.path.join(ROOT, "fuzz/seeds")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def f32(*xs):
    return struct.pack(f"<{len(xs)}f", *xs)


def head(path, lines):
    with open(path, encoding="utf-8") as f:
        return "".join(f.readlines()[:lines])


def main():
    put("safetensors", "f32", safetensors([
        ("bert.pooler.dense.weight", "F32", [2, 2], f32(1, 2, 3, 4)),
        ("bert.pooler.dense.bias", "F32", [2], f32(0.5, -0.5)),
    ], {"format": "pt"}))
    put("safetensors", "half-and-buffers", safetensors([
        ("embeddings.LayerNorm.gamma", "F16", [2], struct.pack("<2e", 1.0, 1.0)),
        ("embeddings.LayerNorm.beta", "BF16", [2], b"\x00\x00\x80\x3f"),
        ("embeddings.position_ids", "I64", [1, 2], struct.pack("<2q", 0, 1)),
    ]))

    tiny = os.path.join(ROOT, "tests/fixtures/tiny-bert")
    put("config", "tiny-bert.json", open(os.path.join(tiny, "config.json"), "rb").read())
    put("config", "minilm.json", open(os.path.join(MINILM, "config.json"), "rb").read())

    vocab = open(os.path.join(tiny, "vocab.txt"), "rb").read()
    put("tokenizer", "vocab-txt", b"\x01" + vocab)
    # MiniLM's tokenizer.json with the tiny vocabulary: the same pipeline, 1/5000 of the size.
    tok = json.load(open(os.path.join(MINILM, "tokenizer.json"), encoding="utf-8"))
    words = vocab.decode().split("\n")
    tok["model"]["vocab"] = {w: i for i, w in enumerate(w for w in words if w)}
    ids = tok["model"]["vocab"]
    tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] in ids]
    for t in tok["added_tokens"]:
        t["id"] = ids[t["content"]]
    post = tok.get("post_processor") or {}
    for special in (post.get("special_tokens") or {}).values():
        special["ids"] = [ids.get(t, 0) for t in special["tokens"]]
    for key in ("sep", "cls"):
        if key in post:
            post[key] = [post[key][0], ids.get(post[key][0], 0)]
    put("tokenizer", "tokenizer-json", b"\x00" + json.dumps(tok).encode())
    put("tokenizer", "tokenizer-config", b"\x02" + open(os.path.join(MINILM, "tokenizer_config.json"), "rb").read())

    put("glue_tsv", "mrpc.tsv", head(os.path.join(GLUE, "MRPC/train.tsv"), 6))
    put("glue_tsv", "sst2.tsv", head(os.path.join(GLUE, "SST-2/train.tsv"), 6))
    # The other layouts (scripts/glue_fixtures.py): CoLA without a header, STS-B's scores, MNLI's names.
    fixtures = os.path.join(ROOT, "tests/fixtures/glue")
    for name in ("CoLA/train.tsv", "STS-B/dev.tsv", "MNLI/dev_mismatched.tsv"):
        put("glue_tsv", name.split("/")[0].lower() + ".tsv", head(os.path.join(fixtures, name), 6))

    parquet = os.path.join(ROOT, "tests/fixtures/glue-parquet")
    put("glue_parquet", "mrpc-validation.parquet",
        open(os.path.join(parquet, "mrpc/validation-00000-of-00001.parquet"), "rb").read())
    put("glue_parquet", "sst2-test.parquet", open(os.path.join(parquet, "sst2/test-00000-of-00001.parquet"), "rb").read())
    for task, split in (("stsb", "train"), ("mnli", "validation_mismatched")):
        put("glue_parquet", f"{task}-{split}.parquet",
            open(os.path.join(parquet, f"{task}/{split}-00000-of-00001.parquet"), "rb").read())
    print(f"seeds written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
