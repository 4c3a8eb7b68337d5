"""The GLUE MRPC reader shared by the reference scripts (quotes are literal text, not CSV quoting)."""
from pathlib import Path

MRPC = Path(__file__).resolve().parent.parent.parent / "shared/data/glue/MRPC"


def read_mrpc(path):
    """(sentence1, sentence2, label) for each row of an MRPC TSV file."""
    rows = []
    with open(path, encoding="utf-8-sig") as f:
        next(f)
        for line in f:
            q, _, _, a, b = line.rstrip("\n").split("\t")
            rows.append((a, b, int(q)))
    return rows
