#!/usr/bin/env python3
"""Writes tests/goldens/glue_metrics.json: `evaluate.load("glue", task)` on fixed predictions for
every GLUE task — random ones, ties, constant predictions, a single class — which
`src/train/metrics.rs` must reproduce.

    pip install evaluate scikit-learn scipy
    python3 scripts/glue_metrics.py [--metric PATH]

evaluate fetches its `glue` metric script from the Hub. Without a network, pass the `metrics/glue`
folder of a checkout of https://github.com/huggingface/evaluate as --metric (evaluate.load reads a
local folder the same way); the file is not copied here.
"""
import argparse
import json
import math
from pathlib import Path

import evaluate
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/goldens/glue_metrics.json"
CLASSES = {"cola": 2, "sst2": 2, "mrpc": 2, "qqp": 2, "mnli": 3, "qnli": 2, "rte": 2, "wnli": 2}


def cases(rng):
    for task, k in CLASSES.items():
        for n in (7, 50, 408):
            refs = rng.integers(0, k, n)
            # Mostly right, as a trained model is, so that the scores are not all near chance.
            preds = np.where(rng.random(n) < 0.7, refs, rng.integers(0, k, n))
            yield f"{task} random {n}", task, preds.tolist(), refs.tolist()
        yield f"{task} one predicted class", task, [0] * 6, [0, 1, 0, 1, 1, 0]
        yield f"{task} one true class", task, [0, 1, 1, 0], [1, 1, 1, 1]
        yield f"{task} all right", task, [0, 1, 1, 0, 1], [0, 1, 1, 0, 1]
    for n in (10, 200, 400):
        refs = np.round(rng.uniform(0, 5, n) * 5) / 5  # STS-B's scores come in fifths: ties
        preds = (refs + rng.normal(0, 1.0, n)).astype(np.float32)
        yield f"stsb random {n}", "stsb", preds.tolist(), refs.astype(np.float32).tolist()
    yield "stsb tied predictions", "stsb", [1.0, 2.0, 2.0, 3.0, 3.0, 3.0], [0.5, 2.5, 1.0, 4.0, 3.2, 5.0]
    yield "stsb constant predictions", "stsb", [2.5] * 5, [0.0, 1.0, 2.0, 3.0, 4.0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--metric", default="glue", help="evaluate's glue metric: a Hub name or a local folder")
    args = parser.parse_args()
    rng = np.random.default_rng(20261202)
    out = []
    for name, task, preds, refs in cases(rng):
        metric = evaluate.load(args.metric, task)
        result = metric.compute(predictions=preds, references=refs)
        # JSON has no NaN (scipy's correlation of a constant): null stands for it.
        expected = {k: (None if math.isnan(v) else float(v)) for k, v in result.items()}
        out.append({"name": name, "task": task, "predictions": preds, "references": refs, "expected": expected})
    OUT.write_text(json.dumps(out, indent=None) + "\n")
    print(f"wrote {len(out)} cases to {OUT}")


if __name__ == "__main__":
    main()
