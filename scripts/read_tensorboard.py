#!/usr/bin/env python3
"""Reads a run's TensorBoard event files back with TensorBoard's own reader (EventAccumulator, what
`tensorboard --logdir` loads them with) and prints their scalars as JSON: {tag: [[step, value], ...]}.
The test of `webtune train --report-to tensorboard` compares them with metrics.jsonl.

    PYTHONPATH=$WEBTUNE_CACHE/python-tensorboard python3 scripts/read_tensorboard.py OUTPUT_DIR/runs/RUN
(scripts/setup installs TensorBoard there.)"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})  # 0: keep every point
run.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in run.Scalars(tag)] for tag in run.Tags()["scalars"]}))
