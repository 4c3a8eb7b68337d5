#!/usr/bin/env python3
"""The course's recipe on MRPC with several seeds on each side — `webtune train` (CPU) and the PyTorch
loop of scripts/reference_train.py — and the spread of their final accuracy and F1: what
docs/accuracy.md reports. A benchmark (about 10 minutes a run on 2 cores), not a test.

    scripts/setup --reference
    python3 scripts/accuracy.py [--seeds 42,43,44,45,46] [--side both|webtune|torch] [--model DIR]

Each finished run is appended to --results (default docs/accuracy-runs.jsonl, committed: a sweep takes
longer than a working session and goes on where it stopped, on any machine) and skipped when the script
is run again. Prints the table rows.

With --lora-r R (and --lora-alpha, --lora-dropout, --lr), both sides train LoRA instead: `webtune train
--lora-r` and the PyTorch loop with peft's `get_peft_model`; rows carry the settings, and only rows of the
same settings are compared.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("WEBTUNE_CACHE", Path.home() / ".cache/webtune"))


def lora_args(recipe, style):
    """The recipe's LoRA and learning rate as `webtune train` (`--lora-r`) or the script takes them."""
    if not recipe:
        return []
    flags = [("lora_r", "--lora-r"), ("lora_alpha", "--lora-alpha"), ("lora_dropout", "--lora-dropout"),
             ("lr", "--learning-rate" if style == "webtune" else "--lr")]
    return [x for key, flag in flags for x in (flag, str(recipe[key]))]


def run_webtune(model, seed, recipe):
    # WEBTUNE_BIN: a built binary to use instead of building this checkout (a sweep runs for hours,
    # while the tree may change under it).
    webtune = os.environ.get("WEBTUNE_BIN", str(ROOT / "scripts/webtune"))
    with tempfile.TemporaryDirectory() as out:
        cmd = [webtune, "train", "--backend", "cpu", "--model", model, "--seed", str(seed),
               "--output-dir", out, "--save-strategy", "no", "--quiet", *lora_args(recipe, "webtune")]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        return summary["eval"]["accuracy"], summary["eval"]["f1"], summary["train_samples_per_second"]


def run_torch(model, seed, recipe):
    cmd = [sys.executable, str(ROOT / "scripts/reference_train.py"), "--model", model, "--seed", str(seed),
           "--threads", str(os.cpu_count()), *lora_args(recipe, "torch")]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    last = json.loads(done.stdout.strip().splitlines()[-1])
    return last["eval_accuracy"], last["eval_f1"], last["train_samples_per_second"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="42,43,44,45,46")
    p.add_argument("--side", default="both", choices=["both", "webtune", "torch"])
    p.add_argument("--model", default=str(CACHE / "models/all-MiniLM-L6-v2"))
    p.add_argument("--results", default=str(ROOT / "docs/accuracy-runs.jsonl"))
    p.add_argument("--lora-r", type=int)
    # peft's example for sequence classification on MRPC (examples/sequence_classification/LoRA.ipynb).
    p.add_argument("--lora-alpha", type=float, default=16)
    p.add_argument("--lora-dropout", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=3e-4, help="with --lora-r")
    args = p.parse_args()
    # The full fine-tune's rows carry no recipe (the course's); LoRA's carry their settings.
    recipe = {"lora_r": args.lora_r, "lora_alpha": args.lora_alpha, "lora_dropout": args.lora_dropout,
              "lr": args.lr} if args.lora_r else None
    seeds = [int(s) for s in args.seeds.split(",")]
    sides = ["webtune", "torch"] if args.side == "both" else [args.side]
    results = Path(args.results)
    done = [json.loads(l) for l in results.read_text().splitlines()] if results.exists() else []
    # Rows name the model by its folder (all-MiniLM-L6-v2), so runs on other machines count too.
    model = Path(args.model).name
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    # Seed by seed, both sides, so an interrupted sweep already compares like with like.
    for seed in seeds:
        for side in sides:
            if any(r["side"] == side and r["seed"] == seed and r["model"] == model and r.get("recipe") == recipe
                   for r in done):
                continue
            acc, f1, speed = (run_webtune if side == "webtune" else run_torch)(args.model, seed, recipe)
            row = {"side": side, "seed": seed, "model": model, "accuracy": acc, "f1": f1, "samples_per_s": speed,
                   "commit": commit}
            if recipe:
                row["recipe"] = recipe
            print(json.dumps(row), flush=True)
            with results.open("a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
    print("| side | seeds | accuracy (mean ± sd) | F1 (mean ± sd) | each run (accuracy / F1) |")
    print("|---|---|---|---|---|")
    for side in sides:
        rows = [r for r in done if r["side"] == side and r["model"] == model and r["seed"] in seeds
                and r.get("recipe") == recipe]
        if len(rows) < 2:
            continue
        accs, f1s = [r["accuracy"] for r in rows], [r["f1"] for r in rows]
        each = ", ".join(f"{r['accuracy']:.3f} / {r['f1']:.3f}" for r in sorted(rows, key=lambda r: r["seed"]))
        print(f"| {side} | {len(rows)} | {statistics.mean(accs):.4f} ± {statistics.stdev(accs):.4f} "
              f"| {statistics.mean(f1s):.4f} ± {statistics.stdev(f1s):.4f} | {each} |")
    # The sides draw from different generators (a seed is not the same head, order or masks on both),
    # so runs are not paired: the means are compared against their standard error (Welch).
    by_side = {side: [r for r in done if r["side"] == side and r["model"] == model and r["seed"] in seeds
                and r.get("recipe") == recipe]
               for side in ("webtune", "torch")}
    if all(len(rows) >= 2 for rows in by_side.values()):
        for metric in ("accuracy", "f1"):
            w, t = ([r[metric] for r in by_side[side]] for side in ("webtune", "torch"))
            diff = statistics.mean(w) - statistics.mean(t)
            se = (statistics.variance(w) / len(w) + statistics.variance(t) / len(t)) ** 0.5
            print(f"{metric}: webtune − PyTorch = {diff:+.4f} ± {se:.4f} (standard error; Welch t = {diff / se:.2f})")


if __name__ == "__main__":
    main()
