#!/usr/bin/env python3
"""Writes small fixtures of the seven GLUE tasks ../shared/data/glue does not have (CoLA, STS-B, QQP,
MNLI, QNLI, RTE, WNLI), each in two layouts:

- tests/fixtures/glue/<DIR>/: GLUE's TSV release, column for column (CoLA's train and dev files
  without a header; STS-B's ten columns with the score last; MNLI's 12-column train, 16-column dev
  files with five annotator labels, dev_matched/dev_mismatched; labels as each task writes them:
  ids, names such as `entailment`, or STS-B's score);
- tests/fixtures/glue-parquet/<task>/: the Hub's `nyu-mll/glue` parquet files with its column
  names and types (label int64, or float32 for STS-B; -1 in test splits; idx int32).

The sentences are written here, built from a few patterns so that each label means what the task
says (a paraphrase is one, an entailment follows); they are small enough to train the tiny test
model in seconds, not a benchmark. Needs pyarrow (`pip install pyarrow`). MRPC and SST-2 come from the
real files (scripts/glue_parquet.py).
"""
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
TSV = ROOT / "tests/fixtures/glue"
PARQUET = ROOT / "tests/fixtures/glue-parquet"
# rows per split
TRAIN, DEV, TEST = 32, 12, 4

PEOPLE = ["The teacher", "My sister", "The old farmer", "A young doctor", "The pilot", "Our neighbour",
          "The baker", "A tired student", "The mayor", "The painter", "My uncle", "The nurse"]
THINGS = ["the letter", "a cake", "the fence", "the car", "a song", "the report", "the window", "a map"]
VERBS = [("wrote", "write", "writing"), ("baked", "bake", "baking"), ("painted", "paint", "painting"),
         ("washed", "wash", "washing"), ("sang", "sing", "singing"), ("read", "read", "reading"),
         ("fixed", "fix", "fixing"), ("drew", "draw", "drawing")]
PLACES = ["garden", "kitchen", "station", "library", "market", "harbour", "school", "park"]
ANIMALS = ["dog", "cat", "horse", "bird", "child", "man", "woman", "boy"]
ACTIONS = [("running", "jogging"), ("eating", "having a meal"), ("sleeping", "resting"),
           ("playing", "having fun"), ("swimming", "bathing"), ("singing", "humming")]
SKILLS = ["python", "the guitar", "chess", "french", "cooking", "drawing", "swimming", "algebra"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]
NAMES = ["Marie Curie", "Alan Turing", "Ada Lovelace", "Niels Bohr", "Emmy Noether", "Rosalind Franklin"]
SUBJECTS = ["physics", "mathematics", "chemistry", "biology"]
CITIES = ["Paris", "Cambridge", "London", "Copenhagen", "Berlin", "Vienna"]


def cola(rng, n):
    """(sentence, label): acceptable (1) or a word-order / agreement error (0)."""
    rows = []
    for i in range(n):
        who, (past, _, _), what = rng.choice(PEOPLE), rng.choice(VERBS), rng.choice(THINGS)
        if i % 2 == 0:
            rows.append((f"{who} {past} {what} yesterday.", 1))
        elif i % 4 == 1:
            rows.append((f"{who} {what} {past} yesterday the.", 0))
        else:
            rows.append((f"{who} have {past} {what} tomorrow will.", 0))
    return rows


def stsb(rng, n):
    """(sentence1, sentence2, score from 0 to 5)."""
    rows = []
    for i in range(n):
        a, (act, syn), place = rng.choice(ANIMALS), rng.choice(ACTIONS), rng.choice(PLACES)
        s1 = f"A {a} is {act} in the {place}."
        kind = i % 4
        if kind == 0:
            s2, score = f"A {a} is {syn} in the {place}.", 4.6 + rng.random() * 0.4
        elif kind == 1:
            other = rng.choice([p for p in PLACES if p != place])
            s2, score = f"A {a} is {act} in the {other}.", 2.8 + rng.random() * 0.6
        elif kind == 2:
            b = rng.choice([x for x in ANIMALS if x != a])
            s2, score = f"A {b} is {act} near the {place}.", 1.6 + rng.random() * 0.6
        else:
            b, (act2, _) = rng.choice([x for x in ANIMALS if x != a]), rng.choice([x for x in ACTIONS if x[0] != act])
            s2, score = f"The {b} was {act2} all day.", rng.random() * 0.6
        rows.append((s1, s2, round(score, 3)))
    return rows


def qqp(rng, n):
    """(question1, question2, is_duplicate)."""
    rows = []
    for i in range(n):
        skill = rng.choice(SKILLS)
        q1 = f"How do I learn {skill} quickly?"
        if i % 2 == 0:
            q2 = rng.choice([f"What is the fastest way to learn {skill}?", f"How can I get good at {skill} fast?"])
            rows.append((q1, q2, 1))
        else:
            other = rng.choice([s for s in SKILLS if s != skill])
            q2 = rng.choice([f"How do I learn {other} quickly?", f"Why is {skill} so popular?"])
            rows.append((q1, q2, 0))
    return rows


def mnli(rng, n, genres):
    """(premise, hypothesis, label name, genre)."""
    rows = []
    for i in range(n):
        who, (past, base, ing), place = rng.choice(PEOPLE), rng.choice(VERBS), rng.choice(PLACES)
        what = rng.choice(THINGS)
        premise = f"{who} {past} {what} in the {place} this morning."
        label = ["entailment", "neutral", "contradiction"][i % 3]
        hypothesis = {
            "entailment": f"Someone {past} {what} this morning.",
            "neutral": f"{who} likes {ing} more than anything else.",
            "contradiction": f"{who} did not {base} anything this morning.",
        }[label]
        rows.append((premise, hypothesis, label, genres[i % len(genres)]))
    return rows


def qnli(rng, n):
    """(question, sentence, label name): whether the sentence answers the question."""
    rows = []
    for i in range(n):
        name, subject, city = rng.choice(NAMES), rng.choice(SUBJECTS), rng.choice(CITIES)
        question = f"Where did {name} study {subject}?"
        if i % 2 == 0:
            rows.append((question, f"{name} studied {subject} in {city} for several years.", "entailment"))
        else:
            other = rng.choice([s for s in SUBJECTS if s != subject])
            rows.append((question, f"{name} later wrote a popular book about {other}.", "not_entailment"))
    return rows


def rte(rng, n):
    """(sentence1, sentence2, label name)."""
    rows = []
    for i in range(n):
        a, b = rng.sample(COMPANIES, 2)
        year, price = rng.randint(1990, 2020), rng.randint(2, 90) * 10
        s1 = f"{a} bought {b} for {price} million dollars in {year}, after months of talks."
        if i % 2 == 0:
            rows.append((s1, rng.choice([f"{b} was bought by {a}.", f"{a} acquired {b} in {year}."]), "entailment"))
        else:
            rows.append((s1, rng.choice([f"{b} bought {a}.", f"{a} sold {b} in {year}."]), "not_entailment"))
    return rows


def wnli(rng, n):
    """(sentence1, sentence2, label): 1 when the pronoun is resolved to the right noun."""
    rows = []
    pairs = [("trophy", "suitcase", "big", "small"), ("table", "door", "wide", "narrow"),
             ("box", "shelf", "heavy", "weak"), ("piano", "staircase", "large", "steep")]
    for i in range(n):
        thing, other, adj_thing, adj_other = rng.choice(pairs)
        because = adj_thing if i % 4 < 2 else adj_other
        referent = thing if because == adj_thing else other
        s1 = f"The {thing} did not fit past the {other} because it was too {because}."
        right = i % 2 == 0
        named = referent if right else (other if referent == thing else thing)
        rows.append((s1, f"The {named} was too {because}.", 1 if right else 0))
    return rows


def splits(rows):
    return rows[:TRAIN], rows[TRAIN:TRAIN + DEV], rows[TRAIN + DEV:TRAIN + DEV + TEST]


def write_tsv(path, header, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "" if header is None else "\t".join(header) + "\n"
    text += "".join("\t".join(str(f) for f in line) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")


def write_parquet(path, columns, rows):
    """columns: (name, pyarrow type, value of a row)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(name, t) for name, t, _ in columns])
    table = pa.table({name: [get(i, r) for i, r in enumerate(rows)] for name, t, get in columns}, schema=schema)
    pq.write_table(table, path, compression="snappy")


def idx():
    return ("idx", pa.int32(), lambda i, r: i)


def main():
    rng = random.Random(16)
    hub = "{}-00000-of-00001.parquet"

    train, dev, test = splits(cola(rng, TRAIN + DEV + TEST))
    for name, rows in [("train", train), ("dev", dev)]:
        write_tsv(TSV / f"CoLA/{name}.tsv", None, [("gj04", l, "" if l else "*", s) for s, l in rows])
    write_tsv(TSV / "CoLA/test.tsv", ["index", "sentence"], [(i, s) for i, (s, _) in enumerate(test)])
    for split, rows, test_split in [("train", train, False), ("validation", dev, False), ("test", test, True)]:
        write_parquet(PARQUET / "cola" / hub.format(split), [
            ("sentence", pa.string(), lambda i, r: r[0]),
            ("label", pa.int64(), lambda i, r, t=test_split: -1 if t else r[1]), idx()], rows)

    train, dev, test = splits(stsb(rng, TRAIN + DEV + TEST))
    head = ["index", "genre", "filename", "year", "old_index", "source1", "source2", "sentence1", "sentence2"]
    for name, rows in [("train", train), ("dev", dev)]:
        write_tsv(TSV / f"STS-B/{name}.tsv", head + ["score"],
                  [(i, "main-captions", "MSRvid", "2012test", f"{i:04}", "none", "none", a, b, f"{s:.3f}")
                   for i, (a, b, s) in enumerate(rows)])
    write_tsv(TSV / "STS-B/test.tsv", head,
              [(i, "main-news", "headlines", "2016", f"{i:04}", "none", "none", a, b) for i, (a, b, _) in enumerate(test)])
    for split, rows, test_split in [("train", train, False), ("validation", dev, False), ("test", test, True)]:
        write_parquet(PARQUET / "stsb" / hub.format(split), [
            ("sentence1", pa.string(), lambda i, r: r[0]), ("sentence2", pa.string(), lambda i, r: r[1]),
            ("label", pa.float32(), lambda i, r, t=test_split: -1.0 if t else float(f"{r[2]:.3f}")), idx()], rows)

    pair_tasks = [
        # dir, hub name, rows, TSV header (texts, label), hub text columns
        ("QQP", "qqp", qqp(rng, TRAIN + DEV + TEST), ("question1", "question2", "is_duplicate"), ("question1", "question2")),
        ("QNLI", "qnli", qnli(rng, TRAIN + DEV + TEST), ("question", "sentence", "label"), ("question", "sentence")),
        ("RTE", "rte", rte(rng, TRAIN + DEV + TEST), ("sentence1", "sentence2", "label"), ("sentence1", "sentence2")),
        ("WNLI", "wnli", wnli(rng, TRAIN + DEV + TEST), ("sentence1", "sentence2", "label"), ("sentence1", "sentence2")),
    ]
    names = {"qnli": ["entailment", "not_entailment"], "rte": ["entailment", "not_entailment"]}
    for folder, task, rows, (a, b, label), (ha, hb) in pair_tasks:
        train, dev, test = splits(rows)
        for name, part in [("train", train), ("dev", dev)]:
            if task == "qqp":
                write_tsv(TSV / f"{folder}/{name}.tsv", ["id", "qid1", "qid2", a, b, label],
                          [(i, 2 * i + 1, 2 * i + 2, x, y, l) for i, (x, y, l) in enumerate(part)])
            else:
                write_tsv(TSV / f"{folder}/{name}.tsv", ["index", a, b, label],
                          [(i, x, y, l) for i, (x, y, l) in enumerate(part)])
        first = ["id"] if task == "qqp" else ["index"]
        write_tsv(TSV / f"{folder}/test.tsv", first + [a, b], [(i, x, y) for i, (x, y, _) in enumerate(test)])
        to_id = (lambda l, t=task: names[t].index(l)) if task in names else (lambda l: l)
        for split, part, test_split in [("train", train, False), ("validation", dev, False), ("test", test, True)]:
            write_parquet(PARQUET / task / hub.format(split), [
                (ha, pa.string(), lambda i, r: r[0]), (hb, pa.string(), lambda i, r: r[1]),
                ("label", pa.int64(), lambda i, r, t=test_split, f=to_id: -1 if t else f(r[2])), idx()], part)

    matched, mismatched = ["fiction", "government", "slate", "telephone", "travel"], ["letters", "verbatim", "oup"]
    train = mnli(rng, TRAIN, matched)
    dev_m, dev_mm = mnli(rng, DEV, matched), mnli(rng, DEV, mismatched)
    test = mnli(rng, TEST, matched)
    parses = lambda p, h: (f"( {p} )", f"( {h} )", f"(ROOT {p})", f"(ROOT {h})")
    head = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
            "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]
    write_tsv(TSV / "MNLI/train.tsv", head + ["label1", "gold_label"],
              [(i, 100 + i, f"{100 + i}e", g, *parses(p, h), p, h, l, l) for i, (p, h, l, g) in enumerate(train)])
    for name, part in [("dev_matched", dev_m), ("dev_mismatched", dev_mm)]:
        write_tsv(TSV / f"MNLI/{name}.tsv", head + [f"label{k}" for k in range(1, 6)] + ["gold_label"],
                  [(i, 200 + i, f"{200 + i}n", g, *parses(p, h), p, h, l, l, "neutral", l, l, l)
                   for i, (p, h, l, g) in enumerate(part)])
    write_tsv(TSV / "MNLI/test_matched.tsv", head,
              [(i, 300 + i, f"{300 + i}c", g, *parses(p, h), p, h) for i, (p, h, _, g) in enumerate(test)])
    labels = ["entailment", "neutral", "contradiction"]
    for split, part, test_split in [("train", train, False), ("validation_matched", dev_m, False),
                                    ("validation_mismatched", dev_mm, False), ("test_matched", test, True)]:
        write_parquet(PARQUET / "mnli" / hub.format(split), [
            ("premise", pa.string(), lambda i, r: r[0]), ("hypothesis", pa.string(), lambda i, r: r[1]),
            ("label", pa.int64(), lambda i, r, t=test_split: -1 if t else labels.index(r[2])), idx()], part)
    print(f"wrote {TSV} and the parquet files in {PARQUET}")


if __name__ == "__main__":
    main()
