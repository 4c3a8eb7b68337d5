#!/usr/bin/env python3
"""The course's "A full training" loop in PyTorch + transformers, as the reference for
`webtune train` (same recipe: batch 8, AdamW lr 5e-5 with weight decay 0, linear decay to 0,
no warmup, 3 epochs, dynamic padding). Prints per-epoch accuracy/F1 and training samples/s.
With --lora-r, the same loop trains peft's LoRA (`get_peft_model`, task type SEQ_CLS: adapters on
the query and value projections, the classifier trained whole), as `webtune train --lora-r` does.

    scripts/setup --reference
    python3 scripts/reference_train.py [--model DIR] [--epochs 3] [--threads 2]
        [--lora-r 8 --lora-alpha 16 --lora-dropout 0.1 --lr 3e-4]
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch
from glue_tsv import read_mrpc
from torch.utils.data import DataLoader
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                          get_scheduler)

ROOT = Path(__file__).resolve().parent.parent


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=str(Path.home() / ".cache/webtune/models/all-MiniLM-L6-v2"))
    p.add_argument("--data", default=str(ROOT.parent / "shared/data/glue/MRPC"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--lora-r", type=int)
    p.add_argument("--lora-alpha", type=float, default=8)
    p.add_argument("--lora-dropout", type=float, default=0.0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    tok = AutoTokenizer.from_pretrained(args.model)
    collator = DataCollatorWithPadding(tokenizer=tok)

    def encode(rows):
        return [dict(tok(a, b, truncation=True), labels=l) for a, b, l in rows]

    train = encode(read_mrpc(Path(args.data) / "train.tsv"))
    dev = encode(read_mrpc(Path(args.data) / "dev.tsv"))
    train_dl = DataLoader(train, shuffle=True, batch_size=8, collate_fn=collator)
    eval_dl = DataLoader(dev, batch_size=8, collate_fn=collator)

    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=2)
    if args.lora_r:
        from peft import LoraConfig, get_peft_model
        lora = LoraConfig(task_type="SEQ_CLS", r=args.lora_r, lora_alpha=args.lora_alpha,
                          lora_dropout=args.lora_dropout)
        model = get_peft_model(model, lora)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    steps = args.epochs * len(train_dl)
    scheduler = get_scheduler("linear", optimizer=optimizer, num_warmup_steps=0, num_training_steps=steps)

    train_time, samples = 0.0, 0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        for batch in train_dl:
            out = model(**batch)
            out.loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            samples += batch["input_ids"].shape[0]
        train_time += time.perf_counter() - t0
        model.eval()
        preds, labels = [], []
        with torch.no_grad():
            for batch in eval_dl:
                preds += model(**batch).logits.argmax(-1).tolist()
                labels += batch["labels"].tolist()
        tp = sum(p == 1 and l == 1 for p, l in zip(preds, labels))
        fp = sum(p == 1 and l == 0 for p, l in zip(preds, labels))
        fn = sum(p == 0 and l == 1 for p, l in zip(preds, labels))
        acc = sum(p == l for p, l in zip(preds, labels)) / len(labels)
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        print(json.dumps({"epoch": epoch + 1, "eval_accuracy": acc, "eval_f1": f1,
                          "train_samples_per_second": samples / train_time}), flush=True)


if __name__ == "__main__":
    main()
