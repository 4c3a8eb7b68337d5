"""Writes tests/fixtures/glue-parquet/: the first rows of ../shared/data/glue's MRPC and SST-2 in the
layout and schema of the Hugging Face Hub's `nyu-mll/glue` parquet files (`mrpc/train-00000-of-00001.parquet`:
sentence1, sentence2, label int64, idx int32; SST-2: sentence, label, idx; label -1 where a split has
none), snappy-compressed as pyarrow writes them. The page's and the core's parquet reader is tested on
these. Needs pyarrow (`pip install pyarrow`)."""
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
GLUE = ROOT.parent / "shared/data/glue"
OUT = ROOT / "tests/fixtures/glue-parquet"


def tsv(path):
    with open(path, encoding="utf-8-sig") as f:
        header = next(f).rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def write(rows, columns, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(name, t) for name, t, _ in columns])
    table = pa.table({name: [get(r) for r in rows] for name, _, get in columns}, schema=schema)
    pq.write_table(table, path, compression="snappy")


def main():
    mrpc = [
        ("sentence1", pa.string(), lambda r: r["#1 String"]),
        ("sentence2", pa.string(), lambda r: r["#2 String"]),
        ("label", pa.int64(), lambda r: int(r["Quality"])),
        ("idx", pa.int32(), lambda r: r["_idx"]),
    ]
    sst2 = [
        ("sentence", pa.string(), lambda r: r["sentence"]),
        ("label", pa.int64(), lambda r: int(r["label"]) if "label" in r else -1),
        ("idx", pa.int32(), lambda r: r["_idx"]),
    ]
    for task, columns, splits in [
        ("mrpc", mrpc, [("train", "train.tsv", 160), ("validation", "dev.tsv", 32)]),
        ("sst2", sst2, [("train", "train.tsv", 24), ("validation", "dev.tsv", 8), ("test", "test.tsv", 4)]),
    ]:
        folder = GLUE / ("MRPC" if task == "mrpc" else "SST-2")
        for split, file, n in splits:
            rows = tsv(folder / file)[:n]
            for i, r in enumerate(rows):
                r["_idx"] = i
            write(rows, columns, OUT / task / f"{split}-00000-of-00001.parquet")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
