#!/usr/bin/env python3
"""Checks that a folder written by `webtune train` loads in transformers and gives the logits
`webtune predict` gives, within 1e-4, on MRPC validation pairs. A LoRA run's adapter folder
(`--lora-r`) is loaded as peft users load one: the base model its adapter_config.json names, with the
folder's labels, then `PeftModel.from_pretrained` (needs `pip install peft`).

    scripts/setup --reference
    python3 scripts/check_export.py OUTPUT_DIR [--pairs 8] [--backend cpu]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from glue_tsv import MRPC, read_mrpc
from transformers import AutoModelForSequenceClassification, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--backend", default="cpu")
    args = p.parse_args()
    tok = AutoTokenizer.from_pretrained(args.model)
    adapter = Path(args.model) / "adapter_config.json"
    if adapter.exists():
        from peft import PeftModel
        from transformers import AutoConfig
        base = json.loads(adapter.read_text())["base_model_name_or_path"]
        config = AutoConfig.from_pretrained(args.model)  # the task's labels
        model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, config=config),
                                          args.model).eval()
    else:
        model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    rows = read_mrpc(MRPC / "dev.tsv")
    worst = 0.0
    for a, b, _ in rows[: args.pairs]:
        with torch.no_grad():
            theirs = model(**tok(a, b, truncation=True, max_length=min(tok.model_max_length, model.config.max_position_embeddings), return_tensors="pt")).logits[0].tolist()
        out = subprocess.run([str(ROOT / "scripts/webtune"), "predict", "--model", args.model,
                              "--backend", args.backend, a, b], capture_output=True, text=True, check=True)
        ours = json.loads(out.stdout.strip().splitlines()[-1])["logits"]
        diff = max(abs(x - y) for x, y in zip(ours, theirs))
        worst = max(worst, diff)
        print(f"transformers {theirs}  webtune {ours}  max|diff| {diff:.2e}")
    print(json.dumps({"pairs": args.pairs, "max_abs_diff": worst, "labels": model.config.id2label}))
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
