#!/usr/bin/env python3
"""`webtune bench` in PyTorch eager: the same MRPC batches (the training split's first
(warmup + steps) x batch pairs, in file order, dynamically padded), the same model shape, AdamW.
Prints one JSON object with the keys `webtune bench` prints.

    python3 scripts/bench_torch.py --model minilm-l6|bert-base|DIR [--steps 20] [--warmup 3] [--device cpu|cuda]
                                   [--data MRPC_DIR]
"""
import argparse
import json
import os
import resource
import time
from pathlib import Path

import torch
from glue_tsv import MRPC, read_mrpc
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, DataCollatorWithPadding

SHAPES = {"minilm-l6": (384, 6, 1536), "bert-base": (768, 12, 3072)}
MINILM = Path(os.environ.get("WEBTUNE_CACHE", Path.home() / ".cache/webtune")) / "models/all-MiniLM-L6-v2"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--per-device-train-batch-size", type=int, default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--data", type=Path, default=MRPC, help="MRPC's TSV folder")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    device = torch.device(args.device)

    if args.model in SHAPES:
        hidden, layers, inter = SHAPES[args.model]
        config = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers,
                            num_attention_heads=12, intermediate_size=inter, num_labels=2)
        model = BertForSequenceClassification(config)
        tok = AutoTokenizer.from_pretrained(MINILM)
    else:
        model = BertForSequenceClassification.from_pretrained(args.model, num_labels=2)
        tok = AutoTokenizer.from_pretrained(args.model)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.0)
    collator = DataCollatorWithPadding(tokenizer=tok)
    bs = args.per_device_train_batch_size
    rows = read_mrpc(args.data / "train.tsv")[: (args.warmup + args.steps) * bs]
    # as webtune does: no longer than the model's positions (the tiny test models have 64)
    max_length = min(tok.model_max_length, model.config.max_position_embeddings)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    fwd = bwd = opt = 0.0
    samples = tokens = 0
    for i in range(0, len(rows), bs):
        chunk = rows[i:i + bs]
        enc = [dict(tok(a, b, truncation=True, max_length=max_length), labels=l) for a, b, l in chunk]
        batch = {k: v.to(device) for k, v in collator(enc).items()}
        sync()
        t0 = time.perf_counter()
        loss = model(**batch).loss
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad()
        sync()
        t3 = time.perf_counter()
        if i // bs >= args.warmup:
            fwd, bwd, opt = fwd + t1 - t0, bwd + t2 - t1, opt + t3 - t2
            samples += len(chunk)
            tokens += int(batch["attention_mask"].sum())
    steps = max(1, len(rows) // bs - args.warmup)
    total = fwd + bwd + opt
    print(json.dumps({
        "samples_per_s": samples / total, "tokens_per_s": tokens / total,
        "ms_per_step": 1000 * total / steps, "ms_forward": 1000 * fwd / steps,
        "ms_backward": 1000 * bwd / steps, "ms_optimizer": 1000 * opt / steps,
        "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000,
        "peak_gpu_mb": torch.cuda.max_memory_reserved() / 1e6 if device.type == "cuda" else None,
        "backend": f"torch-{device.type}", "device": str(device), "model": args.model, "steps": steps,
        "batch_size": bs, "versions": {"torch": torch.__version__},
    }))


if __name__ == "__main__":
    main()
