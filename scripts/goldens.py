#!/usr/bin/env python3
"""Writes the golden values our Rust BERT is checked against (tests/goldens/*.json).

Run after `scripts/setup --reference` (which installs torch + transformers):

    python3 scripts/goldens.py

It also writes the tiny random BERT fixture (tests/fixtures/tiny-bert), whose weights are made here
so that transformers, not our code, defines them. CI only reads the committed outputs.
"""
import json
import string
import os
import sys
from pathlib import Path

import torch
from glue_tsv import read_mrpc
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

ROOT = Path(__file__).resolve().parent.parent
MINILM = Path(os.environ.get("WEBTUNE_MINILM", Path.home() / ".cache/webtune/models/all-MiniLM-L6-v2"))
MRPC = ROOT.parent / "shared/data/glue/MRPC"
GOLDENS = ROOT / "tests/goldens"
TINY = ROOT / "tests/fixtures/tiny-bert"
# Gradients are compared on a prefix of the flattened tensor: enough values to catch a wrong
# formula, few enough to keep the JSON small.
GRAD_PREFIX = 512
GRAD_NAMES = [
    "classifier.weight",
    "classifier.bias",
    "bert.pooler.dense.weight",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.0.output.LayerNorm.weight",
    "bert.embeddings.LayerNorm.weight",
    "bert.embeddings.word_embeddings.weight",
    "bert.embeddings.token_type_embeddings.weight",
]


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def forward_goldens(model, batch, labels):
    """Pooled output and logits in eval mode, then loss and gradients of one backward pass."""
    model.eval()  # dropout off, so both sides compute the same function
    model.zero_grad()
    out = model(**batch, labels=labels, output_hidden_states=True)
    pooled = model.bert.pooler(out.hidden_states[-1])
    out.loss.backward()
    params = dict(model.named_parameters())
    grads = {}
    for name in GRAD_NAMES:
        g = params[name].grad
        grads[name] = {"shape": list(g.shape), "prefix": flat(g)[:GRAD_PREFIX], "sum": float(g.sum())}
    return {
        "input_ids": batch["input_ids"].tolist(),
        "token_type_ids": batch["token_type_ids"].tolist(),
        "attention_mask": batch["attention_mask"].tolist(),
        "labels": labels.tolist(),
        "pooled_output": pooled.tolist(),
        "logits": out.logits.tolist(),
        "loss": float(out.loss),
        "grads": grads,
    }


def tiny():
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
        layer_norm_eps=1e-12, num_labels=2,
    )
    model = BertForSequenceClassification(config)
    # Random init leaves biases and LayerNorm at 0/1; perturb them so a swapped or ignored
    # tensor shows up in the comparison.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    TINY.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(TINY, safe_serialization=True)
    # A 99-token WordPiece vocabulary (ids as BERT's: [PAD] 0) makes the fixture a whole model
    # folder that the CLI and the page can train on: characters, digits, punctuation.
    letters = list(string.ascii_lowercase) + list(string.digits)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + letters + ["##" + c for c in letters]
    vocab += list(".,'\"-()$%&;:?!/#@*+=<>")
    assert len(vocab) == config.vocab_size
    (TINY / "vocab.txt").write_text("\n".join(vocab) + "\n")
    ids = torch.tensor([[2, 17, 45, 3, 88, 9, 3], [2, 60, 5, 3, 0, 0, 0]])
    batch = {
        "input_ids": ids,
        "token_type_ids": torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]]),
        "attention_mask": (ids != 0).long(),
    }
    return forward_goldens(model, batch, torch.tensor([1, 0]))


def minilm(rows):
    tok = AutoTokenizer.from_pretrained(MINILM)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(MINILM, num_labels=2)
    pairs = rows[:3]
    batch = tok([a for a, _, _ in pairs], [b for _, b, _ in pairs], truncation=True, padding=True,
                return_tensors="pt")
    g = forward_goldens(model, dict(batch), torch.tensor([l for _, _, l in pairs]))
    # transformers drew the classifier at random; the Rust side loads these exact values.
    g["classifier"] = {"weight": model.classifier.weight.tolist(), "bias": model.classifier.bias.tolist()}
    return g


def tokenizer_goldens(rows):
    tok = AutoTokenizer.from_pretrained(MINILM)
    enc = tok([a for a, _, _ in rows], [b for _, b, _ in rows], truncation=True)
    long_a, long_b = " ".join(["paraphrase"] * 400), " ".join(["corpus"] * 300)
    trunc = tok(long_a, long_b, truncation=True)
    return {
        "model_max_length": tok.model_max_length,
        "mrpc_validation": [
            {"input_ids": i, "token_type_ids": t} for i, t in zip(enc["input_ids"], enc["token_type_ids"])
        ],
        "long_pair": {"a": long_a, "b": long_b, "input_ids": trunc["input_ids"],
                      "token_type_ids": trunc["token_type_ids"]},
    }


def write(name, obj):
    GOLDENS.mkdir(parents=True, exist_ok=True)
    with open(GOLDENS / name, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print("wrote", GOLDENS / name)


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    rows = read_mrpc(MRPC / "dev.tsv")
    write("tiny_bert.json", tiny())
    write("minilm.json", minilm(rows))
    write("tokenizer_mrpc.json", tokenizer_goldens(rows))


if __name__ == "__main__":
    sys.exit(main())
