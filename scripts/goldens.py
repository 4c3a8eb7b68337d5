#!/usr/bin/env python3
"""Writes the golden values our Rust BERT is checked against (tests/goldens/*.json).

Run after `scripts/setup --reference` (which installs torch + transformers, and Python's tokenizers at
the Rust crate's version: releases differ in how longest-first truncation breaks ties):

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


def first_token_attention(model, batch):
    """How the first token ([CLS], what the head reads) attends in the last layer, in eval mode:
    `attentions[-1][:, :, 0]`, [batch][head][key]. Only the eager attention returns attentions (SDPA's
    kernel never forms the matrix)."""
    model.eval()
    was = model.config._attn_implementation
    model.set_attn_implementation("eager")
    with torch.no_grad():
        probs = model(**batch, output_attentions=True).attentions[-1][:, :, 0].tolist()
    model.set_attn_implementation(was)
    return probs


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
        "first_token_attention": first_token_attention(model, batch),
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


# A tiny random model of each family transformers fine-tunes for sequence classification, saved as a
# fixture folder (tests/fixtures/tiny-FAMILY) with its goldens (tests/goldens/tiny_FAMILY.json).
# Sizes as the tiny BERT's; ELECTRA and ALBERT get a narrower embedding (their projection is then
# exercised), ALBERT shares one group of two layers over two steps, RoBERTa numbers positions from
# pad_token_id + 1. "pooled_output" holds what each head reads: BERT's and ALBERT's pooler, the others'
# first token.
def family_models():
    from transformers import (AlbertConfig, AlbertForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification, ElectraConfig, ElectraForSequenceClassification,
                              RobertaConfig, RobertaForSequenceClassification, XLMRobertaConfig,
                              XLMRobertaForSequenceClassification)
    common = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                  layer_norm_eps=1e-12, num_labels=2)
    # RoBERTa's byte-level BPE needs its 256 bytes: those vocabularies hold 300 tokens.
    roberta = dict(common, vocab_size=300, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                   bos_token_id=0, eos_token_id=2)
    return {
        "roberta": (RobertaForSequenceClassification(RobertaConfig(**roberta)), "roberta", 1),
        "xlm_roberta": (XLMRobertaForSequenceClassification(XLMRobertaConfig(**roberta)), "roberta", 1),
        "electra": (ElectraForSequenceClassification(ElectraConfig(**common, embedding_size=16,
                    max_position_embeddings=64, type_vocab_size=2)), "electra", 0),
        "albert": (AlbertForSequenceClassification(AlbertConfig(**dict(common, vocab_size=300), embedding_size=16, max_position_embeddings=64,
                   type_vocab_size=2, num_hidden_groups=1, inner_group_num=2, hidden_act="gelu_new",
                   classifier_dropout_prob=0.1)), "albert", 0),
        "distilbert": (DistilBertForSequenceClassification(DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4,
                       hidden_dim=37, max_position_embeddings=64, num_labels=2, activation="gelu")), "distilbert", 0),
    }


def family_grad_names(model):
    """A few gradients of every kind of tensor: the head, the embeddings (positions catch an offset),
    the first layer's query, the last LayerNorm."""
    names = [n for n, _ in model.named_parameters()]
    wanted = []
    for key in ("classifier", "pre_classifier", "word_embeddings", "position_embeddings", "token_type_embeddings",
                "embeddings.LayerNorm.weight", "embeddings_project.weight", "embedding_hidden_mapping_in.weight",
                "pooler"):
        wanted += [n for n in names if key in n and n not in wanted and not (key == "classifier" and "pre_" in n)]
    layer0 = [n for n in names if (".0." in n) and ("query.weight" in n or "q_lin.weight" in n)]
    last_norm = [n for n in names if n.endswith("LayerNorm.weight") or n.endswith("layer_norm.weight")][-1:]
    return sorted(set(wanted + layer0 + last_norm))


def mrpc_texts():
    rows = read_mrpc(MRPC / "train.tsv")
    return [a for a, _, _ in rows] + [b for _, b, _ in rows]


def family_tokenizer(name, folder):
    """Each fixture a whole model folder: BERT's WordPiece vocabulary (the tiny BERT's) for ELECTRA and
    DistilBERT; for RoBERTa a byte-level BPE, for ALBERT and XLM-RoBERTa a SentencePiece Unigram, both
    trained here on MRPC's training sentences (300 tokens) with their families' special tokens and
    templates, saved by transformers' own tokenizer classes as tokenizer.json."""
    from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import AlbertTokenizerFast, RobertaTokenizerFast, XLMRobertaTokenizerFast
    if name in ("electra", "distilbert"):
        (folder / "vocab.txt").write_text((TINY / "vocab.txt").read_text())
        return
    limit = {"model_max_length": 64}
    if name == "roberta":
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(mrpc_texts(), vocab_size=300, min_frequency=2,
                                special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
        tok = RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", **limit)
    else:
        specials = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"] if name == "albert" else \
            ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        uni = SentencePieceUnigramTokenizer()
        uni.train_from_iterator(mrpc_texts(), vocab_size=300, special_tokens=specials, unk_token="<unk>")
        if name == "albert":
            # What transformers' AlbertTokenizer applies for do_lower_case (and albert-base-v2's
            # tokenizer.json holds): written into the file, which is all our side reads.
            from tokenizers import normalizers
            uni._tokenizer.normalizer = normalizers.Sequence([
                normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKD(),
                normalizers.StripAccents(), normalizers.Lowercase()])
            uni._tokenizer.post_processor = TemplateProcessing(
                single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
            tok = AlbertTokenizerFast(tokenizer_object=uni._tokenizer, cls_token="[CLS]", sep_token="[SEP]",
                                      pad_token="<pad>", unk_token="<unk>", mask_token="[MASK]", **limit)
        else:
            uni._tokenizer.post_processor = TemplateProcessing(
                single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
            tok = XLMRobertaTokenizerFast(tokenizer_object=uni._tokenizer, bos_token="<s>", eos_token="</s>",
                                          sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
                                          mask_token="<mask>", **limit)
    tok.save_pretrained(folder)


def family_tokenizer_goldens():
    """transformers' ids for every MRPC validation pair with the BPE and Unigram fixtures' tokenizers,
    and a pair longer than the model (longest-first truncation). The segments are what the model
    reads: the tokenizer's `token_type_ids` where its `model_input_names` has them, else zeros (the
    model's default; ALBERT's and RoBERTa's tokenizers give none)."""
    rows = read_mrpc(MRPC / "dev.tsv")
    out = {}

    def types(enc):
        return enc["token_type_ids"] if "token_type_ids" in enc else [[0] * len(i) for i in enc["input_ids"]]

    for name in ("roberta", "albert"):
        tok = AutoTokenizer.from_pretrained(ROOT / f"tests/fixtures/tiny-{name}")
        enc = tok([a for a, _, _ in rows], [b for _, b, _ in rows], truncation=True)
        long_a, long_b = " ".join(["paraphrase"] * 40), " ".join(["corpus"] * 30)
        trunc = tok([long_a], [long_b], truncation=True)
        out[name] = {
            "model_max_length": tok.model_max_length,
            "mrpc_validation": [{"input_ids": i, "token_type_ids": t} for i, t in zip(enc["input_ids"], types(enc))],
            "long_pair": {"a": long_a, "b": long_b, "input_ids": trunc["input_ids"][0],
                          "token_type_ids": types(trunc)[0]},
        }
    return out


def families():
    out = {}
    for name, (model, base, pad) in family_models().items():
        torch.manual_seed(0)
        model = type(model)(model.config)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("bias") or "LayerNorm" in n or "layer_norm" in n:
                    p.add_(torch.randn_like(p) * 0.1)
        folder = ROOT / f"tests/fixtures/tiny-{name.replace('_', '-')}"
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        family_tokenizer(name, folder)
        # [CLS]/<s> and [SEP]/</s> ids as each vocabulary has them; the padding id only pads (torch
        # never gives its embedding row a gradient, and neither does a real batch, where padding is masked).
        cls, sep = (0, 2) if base == "roberta" else (2, 3)
        ids = torch.tensor([[cls, 17, 45, sep, 88, 9, sep], [cls, 60, 5, sep, pad, pad, pad]])
        types = torch.zeros_like(ids) if model.config.model_type != "electra" and model.config.model_type != "albert" \
            else torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]])
        mask = torch.tensor([[1] * 7, [1, 1, 1, 1, 0, 0, 0]])
        batch = {"input_ids": ids, "attention_mask": mask}
        if model.config.model_type != "distilbert":
            batch["token_type_ids"] = types
        model.eval()
        model.zero_grad()
        labels = torch.tensor([1, 0])
        res = model(**batch, labels=labels, output_hidden_states=True)
        last = res.hidden_states[-1]
        if base == "albert":
            features = torch.tanh(model.albert.pooler(last[:, 0]))
        else:
            features = last[:, 0]
        res.loss.backward()
        params = dict(model.named_parameters())
        grads = {}
        for g_name in family_grad_names(model):
            g = params[g_name].grad
            grads[g_name] = {"shape": list(g.shape), "prefix": flat(g)[:GRAD_PREFIX], "sum": float(g.sum())}
        out[name] = {
            "input_ids": ids.tolist(), "token_type_ids": types.tolist(), "attention_mask": mask.tolist(),
            "labels": labels.tolist(), "pooled_output": features.tolist(), "logits": res.logits.tolist(),
            "loss": float(res.loss), "grads": grads, "first_token_attention": first_token_attention(model, batch),
        }
    return out


def lora_cases():
    """LoRA as peft trains it, on the tiny fixtures: the adapter peft drew (A Kaiming-uniform from a
    fixed seed, B zero) and the head, the loss and gradients of the adapters and the head, the adapter
    after one AdamW step, and the loss and gradients at the second step (where B is no longer zero,
    so A's gradient is too). peft's saved names (`base_model.model.…`) throughout."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification
    cases = {
        "bert": ("tiny-bert", dict(r=4, lora_alpha=8, target_modules=["query", "value"])),
        "bert_all_linear": ("tiny-bert", dict(r=2, lora_alpha=6, target_modules="all-linear", use_rslora=True)),
        "distilbert": ("tiny-distilbert", dict(r=4, lora_alpha=16, target_modules=["q_lin", "v_lin"],
                                               modules_to_save=["pre_classifier", "classifier"])),
    }
    lr = 1e-2
    out = {}
    for name, (fixture, settings) in cases.items():
        folder = ROOT / "tests/fixtures" / fixture
        base = AutoModelForSequenceClassification.from_pretrained(folder)
        torch.manual_seed(7)
        model = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, **settings))
        model.eval()  # dropout off, as in the other goldens
        trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}

        def saved(n):  # a parameter's name in adapter_model.safetensors
            return n.replace(".modules_to_save.default", "").replace(".default", "")

        def tensors(values):
            return {saved(n): {"shape": list(v.shape), "values": flat(v)} for n, v in values.items()}

        family = model.config.model_type
        ids = torch.tensor([[2, 17, 45, 3, 88, 9, 3], [2, 60, 5, 3, 0, 0, 0]])
        types = torch.tensor([[0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0]])
        mask = (ids != 0).long()
        labels = torch.tensor([1, 0])
        batch = {"input_ids": ids, "attention_mask": mask}
        if family != "distilbert":
            batch["token_type_ids"] = types

        def step_goldens():
            model.zero_grad()
            res = model(**batch, labels=labels, output_hidden_states=True)
            last = res.hidden_states[-1]
            inner = model.base_model.model
            features = torch.tanh(inner.bert.pooler.dense(last[:, 0])) if family == "bert" else last[:, 0]
            res.loss.backward()
            return {
                "input_ids": ids.tolist(), "token_type_ids": (types if family != "distilbert" else torch.zeros_like(ids)).tolist(),
                "attention_mask": mask.tolist(), "labels": labels.tolist(), "pooled_output": features.tolist(),
                "logits": res.logits.tolist(), "loss": float(res.loss),
                "grads": {saved(n): {"shape": list(p.grad.shape), "prefix": flat(p.grad)[:GRAD_PREFIX],
                                     "sum": float(p.grad.sum())} for n, p in trainable.items()},
            }

        initial = tensors({n: p.detach().clone() for n, p in trainable.items()})
        first = step_goldens()
        torch.optim.AdamW(trainable.values(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0).step()
        after = tensors({n: p.detach().clone() for n, p in trainable.items()})
        second = step_goldens()
        config = {k: v for k, v in model.peft_config["default"].to_dict().items()
                  if k in ("peft_type", "task_type", "r", "lora_alpha", "lora_dropout", "target_modules",
                           "modules_to_save", "use_rslora", "bias")}
        config["target_modules"] = sorted(config["target_modules"]) if isinstance(config["target_modules"], (set, list)) \
            else config["target_modules"]
        config["peft_type"] = "LORA"
        config["task_type"] = "SEQ_CLS"
        out[name] = {"fixture": fixture, "adapter_config": config, "lr": lr, "initial": initial, "first": first,
                     "after_step": after, "second": second}
    return out


def write(name, obj):
    GOLDENS.mkdir(parents=True, exist_ok=True)
    with open(GOLDENS / name, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print("wrote", GOLDENS / name)


def main():
    """`python3 scripts/goldens.py [bert] [families] [tokenizers] [lora]`: all when none is named (lora
    needs peft); `tokenizers` is the families' tokenizer files alone."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    parts = sys.argv[1:] or ["bert", "families", "lora"]
    if "bert" in parts:
        rows = read_mrpc(MRPC / "dev.tsv")
        write("tiny_bert.json", tiny())
        write("minilm.json", minilm(rows))
        write("tokenizer_mrpc.json", tokenizer_goldens(rows))
    if "families" in parts:
        for name, golden in families().items():
            write(f"tiny_{name}.json", golden)
    if "families" in parts or "tokenizers" in parts:
        for name, golden in family_tokenizer_goldens().items():
            write(f"tokenizer_{name}.json", golden)
    if "lora" in parts:
        for name, golden in lora_cases().items():
            write(f"lora_{name}.json", golden)


if __name__ == "__main__":
    sys.exit(main())
