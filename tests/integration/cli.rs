//! The `webtune` binary end to end on real MRPC and all-MiniLM-L6-v2 (CPU backend, a short run):
//! train → output folder → evaluate and predict from that folder; and the errors users see.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::*;
use serde_json::Value;

fn webtune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webtune"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("webtune runs")
}

#[test]
fn train_then_evaluate_and_predict_from_the_output_folder() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let model = minilm_dir();
    let data = glue("MRPC");
    let summary = ok_json(webtune(&[
        "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", out, "--backend", "cpu", "--max-steps", "6", "--logging-steps", "2",
        "--max-train-samples", "64", "--quiet", "--report-to", "tensorboard",
    ]));
    assert_eq!(summary["steps"], 6);

    for f in ["model.safetensors", "config.json", "tokenizer.json", "vocab.txt", "metrics.jsonl"] {
        assert!(out_dir.path().join(f).exists(), "{f} missing from the output folder");
    }
    let config: Value = serde_json::from_slice(&std::fs::read(out_dir.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["architectures"][0], "BertForSequenceClassification");
    assert_eq!(config["id2label"]["1"], "equivalent");
    assert_eq!(config["num_labels"], 2);

    let lines: Vec<Value> = std::fs::read_to_string(out_dir.path().join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logs: Vec<&Value> = lines.iter().filter(|l| l.get("loss").is_some()).collect();
    assert_eq!(logs.iter().map(|l| l["step"].as_u64().unwrap()).collect::<Vec<_>>(), vec![2, 4, 6]);
    assert!(logs.iter().all(|l| l["loss"].as_f64().unwrap().is_finite() && l.get("learning_rate").is_some()));
    let eval = lines.last().unwrap();
    assert_eq!(eval["step"], 6);
    // What it got wrong: the matrix agrees with the accuracy, and each mistake names its line of
    // dev.tsv, whose text it carries.
    let confusion: Vec<Vec<u64>> = serde_json::from_value(eval["eval_confusion_matrix"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 408);
    let right = (confusion[0][0] + confusion[1][1]) as f64;
    // (through JSON, which serde_json reads back to within an ulp)
    assert!((right / 408.0 - eval["eval_accuracy"].as_f64().unwrap()).abs() < 1e-12);
    let mistakes = eval["eval_mistakes"].as_array().unwrap();
    assert_eq!(mistakes.len(), (408 - right as usize).min(100));
    let dev = std::fs::read_to_string(data.join("dev.tsv")).unwrap();
    for m in mistakes.iter().take(5) {
        let line = dev.lines().nth(m["line"].as_u64().unwrap() as usize - 1).unwrap();
        let a = m["text_a"].as_str().unwrap();
        assert!(!a.is_empty() && line.contains(a), "{m} is not line {line}");
        assert_ne!(m["label"], m["predicted"]);
    }

    // The same scalars in TensorBoard's event file, as TensorBoard itself reads them, under
    // transformers' tags.
    let run_dir = Path::new(summary["tensorboard"].as_str().unwrap()).parent().unwrap().to_path_buf();
    assert_eq!(run_dir.parent().unwrap(), out_dir.path().join("runs"));
    let scalars = read_tensorboard(&run_dir);
    let series = |tag: &str| -> Vec<(u64, f64)> {
        let points = scalars[tag].as_array().unwrap_or_else(|| panic!("no {tag} in {scalars}"));
        points.iter().map(|p| (p[0].as_u64().unwrap(), p[1].as_f64().unwrap())).collect()
    };
    // TensorBoard keeps f32s; metrics.jsonl's loss is an f32 too, its learning rate an f64.
    let near = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-30);
    for (tag, key) in [("train/loss", "loss"), ("train/learning_rate", "learning_rate"), ("train/epoch", "epoch")] {
        let logged: Vec<(u64, f64)> = logs.iter().map(|l| (l["step"].as_u64().unwrap(), l[key].as_f64().unwrap())).collect();
        let read: Vec<(u64, f64)> = series(tag).into_iter().take(logged.len()).collect();
        assert!(read.len() == logged.len() && read.iter().zip(&logged).all(|(a, b)| a.0 == b.0 && near(a.1, b.1)), "{tag}: {read:?} vs {logged:?}");
    }
    assert!(series("train/samples_per_second").iter().all(|p| p.1 > 0.0));
    for metric in ["accuracy", "f1"] {
        let expected = eval[format!("eval_{metric}")].as_f64().unwrap();
        let read = series(&format!("eval/{metric}"));
        assert!(read.len() == 1 && read[0].0 == 6 && near(read[0].1, expected), "eval/{metric}: {read:?} vs {expected}");
    }
    // report.html, written by default: every picture, with the run's numbers (the browser test
    // opens it in Chromium).
    let report = std::fs::read_to_string(out_dir.path().join("report.html")).unwrap();
    for id in ["chart", "scores-chart", "confusion"] {
        assert!(report.contains(&format!("data-testid=\"{id}\"")), "report.html has no {id}");
    }
    assert_eq!(report.matches("data-testid=\"mistake\"").count(), mistakes.len());
    assert!(report.contains(&format!("data-counts=\"{}\"", serde_json::to_string(&confusion).unwrap())));

    // The saved folder scores exactly what the run reported at its end.
    let scored = ok_json(webtune(&[
        "evaluate", "--model", out, "--task", "mrpc", "--data", data.to_str().unwrap(), "--backend", "cpu",
    ]));
    assert_eq!(scored["examples"], 408);
    assert_eq!(scored["accuracy"], eval["eval_accuracy"]);
    assert_eq!(scored["f1"], eval["eval_f1"]);

    let p = ok_json(webtune(&[
        "predict", "--model", out, "--backend", "cpu",
        "The cat sat on the mat .", "A cat was sitting on the mat .",
    ]));
    let probs: Vec<f64> = p["probabilities"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(probs.len(), 2);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    let id = p["label_id"].as_u64().unwrap() as usize;
    assert_eq!(p["label"], ["not_equivalent", "equivalent"][id]);
    // The pair as the model read it (all-MiniLM-L6-v2's uncased WordPiece), segment by segment.
    let tokens: Vec<(String, u64, bool)> = p["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["text"].as_str().unwrap().to_string(), t["segment"].as_u64().unwrap(), t["special"].as_bool().unwrap()))
        .collect();
    let text: Vec<&str> = tokens.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        text,
        ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]", "a", "cat", "was", "sitting", "on", "the", "mat", ".", "[SEP]"]
    );
    assert!(tokens.iter().enumerate().all(|(i, t)| t.1 == (i > 8) as u64 && t.2 == [0, 8, 17].contains(&i)), "{tokens:?}");
    // Where [CLS] looks in the last layer: one distribution over those tokens per head (the
    // values themselves are checked against transformers in parity.rs).
    let attention: Vec<Vec<f64>> = serde_json::from_value(p["attention"].clone()).unwrap();
    assert_eq!(attention.len(), 12, "all-MiniLM-L6-v2 has 12 heads");
    for row in &attention {
        assert_eq!(row.len(), tokens.len());
        assert!(row.iter().all(|&a| (0.0..=1.0).contains(&a)) && (row.iter().sum::<f64>() - 1.0).abs() < 1e-4, "{row:?}");
    }
}

/// A run's TensorBoard scalars as TensorBoard reads them (scripts/read_tensorboard.py, with the
/// reader scripts/setup installs): {tag: [[step, value], ...]}.
fn read_tensorboard(run_dir: &Path) -> Value {
    let cache = std::env::var("WEBTUNE_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/webtune"));
    let reader = cache.join("python-tensorboard");
    assert!(reader.join("tensorboard").exists(), "TensorBoard's reader is not in {}: run scripts/setup", reader.display());
    let out = Command::new("python3")
        .arg(root().join("scripts/read_tensorboard.py"))
        .arg(run_dir)
        .env("PYTHONPATH", &reader)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "read_tensorboard.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn copy_model(to: &Path) {
    for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(minilm_dir().join(f), to.join(f)).unwrap();
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = d.to_str().unwrap();

    let msg = err_text(webtune(&["predict", "--model", model, "--backend", "cpu", "a"]));
    assert!(msg.contains("config.json") && msg.contains("not found"), "{msg}");

    copy_model(d);
    let weights = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
    let msg = err_text(webtune(&["predict", "--model", model, "--backend", "cpu", "a"]));
    assert!(msg.contains("model.safetensors: not a valid safetensors file"), "{msg}");

    // A pretrained encoder has no classifier: predicting with a random head is refused.
    std::fs::write(d.join("model.safetensors"), &weights).unwrap();
    let msg = err_text(webtune(&["predict", "--model", model, "--backend", "cpu", "a"]));
    assert!(msg.contains("classifier.weight"), "{msg}");

    std::fs::write(d.join("config.json"), br#"{"vocab_size": 30522, "hidden_size": 384}"#).unwrap();
    let msg = err_text(webtune(&["predict", "--model", model, "--backend", "cpu", "a"]));
    assert!(msg.contains("config.json") && msg.contains("num_hidden_layers"), "{msg}");

    copy_model(d);
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("train.tsv"), "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t2\t3\tonly a\n").unwrap();
    std::fs::write(data.path().join("dev.tsv"), "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n").unwrap();
    let out = d.join("out");
    let msg = err_text(webtune(&[
        "train", "--model", model, "--data", data.path().to_str().unwrap(), "--output-dir",
        out.to_str().unwrap(), "--backend", "cpu", "--quiet",
    ]));
    assert!(msg.contains("train.tsv:2: expected 5 tab-separated fields, found 4"), "{msg}");

    let msg = err_text(webtune(&["predict", "--model", model, "--backend", "cuda", "a"]));
    assert!(msg.contains("backend `cuda` cannot start"), "{msg}");

    let msg = err_text(webtune(&["train", "--model", model, "--backend", "cpu", "--report-to", "tensorboard,wandb"]));
    assert!(msg.contains("--report-to wandb: expected none, tensorboard or all"), "{msg}");
}

#[test]
fn a_run_past_the_gpus_largest_buffer_is_refused_before_its_first_step() {
    // The tiny model with 32 attention heads (the weights do not change) on MRPC's long pairs:
    // a batch of 512 gives attention scores of 512 × 32 × 64 × 64 floats, 256 MiB in one buffer,
    // more than the GPU binds (wgpu on lavapipe here: 128 MiB). Without the check the run queued
    // its first step and failed a minute later with burn's "can't allocate buffer".
    let dir = tempfile::tempdir().unwrap();
    let tiny = root().join("tests/fixtures/tiny-bert");
    for f in ["model.safetensors", "vocab.txt"] {
        std::fs::copy(tiny.join(f), dir.path().join(f)).unwrap();
    }
    let mut config: Value = serde_json::from_slice(&std::fs::read(tiny.join("config.json")).unwrap()).unwrap();
    config["num_attention_heads"] = 32.into();
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    let out = dir.path().join("out");
    let msg = err_text(webtune(&[
        "train", "--model", dir.path().to_str().unwrap(), "--data", glue("MRPC").to_str().unwrap(),
        "--output-dir", out.to_str().unwrap(), "--backend", "wgpu", "--per-device-train-batch-size", "512",
        "--quiet",
    ]));
    assert!(msg.contains("error: not enough device memory: one tensor of this run needs 256 MiB"), "{msg}");
    assert!(msg.contains("use a smaller batch than 512"), "{msg}");
    assert!(!out.exists(), "nothing is written for a refused run");
    // Training fits, evaluation's batch does not (512 asked, MRPC's 408 validation pairs in one
    // batch: 204 MiB of scores): refused now, not after the last step.
    let msg = err_text(webtune(&[
        "train", "--model", dir.path().to_str().unwrap(), "--data", glue("MRPC").to_str().unwrap(),
        "--output-dir", out.to_str().unwrap(), "--backend", "wgpu", "--per-device-eval-batch-size", "512",
        "--quiet",
    ]));
    assert!(msg.contains("error: not enough device memory: evaluation: one tensor of a batch of 408 needs 204 MiB"), "{msg}");
    assert!(!out.exists(), "nothing is written for a refused run");
}

#[test]
fn single_sentence_task_sst2() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let data = glue("SST-2");
    let summary = ok_json(webtune(&[
        "train", "--model", minilm_dir().to_str().unwrap(), "--task", "sst2", "--data", data.to_str().unwrap(),
        "--output-dir", out, "--backend", "cpu", "--max-steps", "2", "--max-train-samples", "16",
        "--max-eval-samples", "24", "--quiet", "--no-report",
    ]));
    assert_eq!(summary["eval"]["examples"], 24);
    assert!(summary["eval"].get("f1").is_none(), "SST-2 reports accuracy only");
    assert!(summary.get("report").is_none() && !out_dir.path().join("report.html").exists(), "--no-report");
    let p = ok_json(webtune(&["predict", "--model", out, "--backend", "cpu", "a charming and often affecting journey ."]));
    assert!(["negative", "positive"].contains(&p["label"].as_str().unwrap()));
    // SST-2's test split has no labels: evaluating on it is an error naming the file.
    let out = webtune(&["evaluate", "--model", out, "--task", "sst2", "--data", data.to_str().unwrap(), "--split", "test", "--backend", "cpu"]);
    let msg = err_text(out);
    assert!(msg.contains("test.tsv") && msg.contains("no labels"), "{msg}");
}

#[test]
fn bench_prints_the_documented_keys() {
    let r = ok_json(webtune(&["bench", "--model", "minilm-l6", "--backend", "cpu", "--steps", "2", "--warmup", "1"]));
    for key in [
        "samples_per_s", "tokens_per_s", "ms_per_step", "ms_forward", "ms_backward", "ms_optimizer",
        "peak_host_mb", "peak_gpu_mb", "backend", "device", "model", "steps",
    ] {
        assert!(r.get(key).is_some(), "bench output lacks {key}: {r}");
    }
    assert_eq!(r["steps"], 2);
    assert_eq!(r["backend"], "cpu");
    let parts = ["ms_forward", "ms_backward", "ms_optimizer"].iter().map(|k| r[k].as_f64().unwrap()).sum::<f64>();
    assert!((parts - r["ms_per_step"].as_f64().unwrap()).abs() < 1e-6 * parts.max(1.0));
    assert!(r["samples_per_s"].as_f64().unwrap() > 0.0);
}

/// A named shape trains like a folder (random weights, bert-base-uncased's vocabulary) and its
/// output is a folder of that shape: what `scripts/gpu-check` times where no checkpoint can be fetched.
#[test]
fn a_named_shape_trains_as_a_model_folder() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let r = ok_json(webtune(&[
        "train", "--model", "minilm-l6", "--backend", "cpu", "--max-steps", "2", "--max-eval-samples", "8",
        "--save-strategy", "no", "--no-report", "--quiet", "--output-dir", dir,
    ]));
    assert_eq!(r["steps"], 2);
    let config: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!((config["hidden_size"].as_u64(), config["num_hidden_layers"].as_u64()), (Some(384), Some(6)));
    assert!(out.path().join("vocab.txt").exists() || out.path().join("tokenizer.json").exists());
    let p = ok_json(webtune(&["predict", "--model", dir, "--backend", "cpu", "The cat sat .", "A cat sat ."]));
    assert_eq!(p["probabilities"].as_array().map(Vec::len), Some(2), "{p}");
}

#[test]
fn trains_on_the_hubs_parquet_files_with_a_vocab_txt_model() {
    // The tiny fixture has vocab.txt only; the folder holds the Hub's `nyu-mll/glue` parquet files.
    let out_dir = tempfile::tempdir().unwrap();
    let data = root().join("tests/fixtures/glue-parquet/mrpc");
    let summary = ok_json(webtune(&[
        "train", "--model", "tests/fixtures/tiny-bert", "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", out_dir.path().to_str().unwrap(), "--backend", "cpu", "--max-steps", "4", "--quiet",
    ]));
    assert_eq!(summary["steps"], 4);
    assert_eq!(summary["eval"]["examples"], 32, "the fixture's 32 validation rows");
    assert!(out_dir.path().join("vocab.txt").exists());
}

/// Every GLUE task trains from GLUE's TSV layout and from the Hub's parquet files (the tiny model,
/// a few steps), reports the task's own metrics by run_glue's names, and its output folder
/// evaluates and predicts: a score for STS-B, MNLI's mismatched set beside the matched one.
#[test]
fn every_glue_task_trains_from_both_layouts() {
    let tiny = root().join("tests/fixtures/tiny-bert");
    for task in ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"] {
        let tsv = match task {
            "mrpc" => glue("MRPC"),
            "sst2" => glue("SST-2"),
            _ => root().join("tests/fixtures/glue").join(match task {
                "cola" => "CoLA",
                "stsb" => "STS-B",
                other => Box::leak(other.to_uppercase().into_boxed_str()),
            }),
        };
        let parquet = root().join("tests/fixtures/glue-parquet").join(task);
        let mut finals = Vec::new();
        for data in [&tsv, &parquet] {
            let out_dir = tempfile::tempdir().unwrap();
            let out = out_dir.path().to_str().unwrap();
            let summary = ok_json(webtune(&[
                "train", "--model", tiny.to_str().unwrap(), "--task", task, "--data", data.to_str().unwrap(),
                "--output-dir", out, "--backend", "cpu", "--max-steps", "3", "--logging-steps", "3",
                "--max-train-samples", "24", "--max-eval-samples", "12", "--learning-rate", "1e-3", "--quiet",
            ]));
            let eval = &summary["eval"];
            let names: Vec<&str> = eval.as_object().unwrap().keys().map(String::as_str).filter(|k| *k != "examples").collect();
            let expected: &[&str] = match task {
                "cola" => &["matthews_correlation"],
                "stsb" => &["pearson", "spearmanr"],
                "mrpc" | "qqp" => &["accuracy", "f1"],
                _ => &["accuracy"],
            };
            assert_eq!(names, expected, "{task} from {}", data.display());
            assert_eq!(eval["examples"], validation_rows(task, data).min(12), "{task}");
            let lines = std::fs::read_to_string(out_dir.path().join("metrics.jsonl")).unwrap();
            let last: Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
            assert_eq!(last[format!("eval_{}", expected[0])], eval[expected[0]], "{task}: metrics.jsonl");
            let config: Value = serde_json::from_slice(&std::fs::read(out_dir.path().join("config.json")).unwrap()).unwrap();
            if task == "mnli" {
                assert_eq!(summary["eval_mm"]["examples"], 12);
                assert!(last.get("eval_accuracy_mm").is_some(), "{last}");
                let mm = ok_json(webtune(&[
                    "evaluate", "--model", out, "--task", task, "--data", data.to_str().unwrap(), "--backend", "cpu",
                    "--split", "validation_mismatched",
                ]));
                assert_eq!(mm["examples"], 12);
                assert_eq!(config["id2label"]["2"], "contradiction");
            } else {
                assert!(summary.get("eval_mm").is_none());
            }
            // The saved folder scores what the run reported (on the first 12 rows there; here all).
            let scored = ok_json(webtune(&[
                "evaluate", "--model", out, "--task", task, "--data", data.to_str().unwrap(), "--backend", "cpu",
            ]));
            assert_eq!(scored["examples"], validation_rows(task, data), "{task}");
            let p = ok_json(webtune(&["predict", "--model", out, "--backend", "cpu", "The cat sat.", "A cat sat."]));
            if task == "stsb" {
                assert_eq!((config["num_labels"].as_u64(), config["problem_type"].as_str()), (Some(1), Some("regression")));
                assert!(p["score"].as_f64().unwrap().is_finite() && p["probabilities"].as_array().unwrap().is_empty(), "{p}");
            } else {
                assert!(p.get("score").is_none(), "{p}");
            }
            finals.push(eval.clone());
        }
        // Both layouts hold the same rows: the same run gives the same scores.
        if !matches!(task, "mrpc" | "sst2") {
            assert_eq!(finals[0], finals[1], "{task}: TSV and parquet runs differ");
        }
    }
}

/// Validation rows: in the real MRPC and SST-2 files, their parquet fixtures (the files' first 32
/// and 8), and the other tasks' fixtures (12).
fn validation_rows(task: &str, data: &Path) -> u64 {
    match (task, data.to_str().unwrap().contains("glue-parquet")) {
        ("mrpc", false) => 408,
        ("sst2", false) => 872,
        ("mrpc", true) => 32,
        ("sst2", true) => 8,
        _ => 12,
    }
}

/// A model fine-tuned for one task starts another with a new head, and says so.
#[test]
fn a_head_for_other_labels_is_replaced_and_named() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = webtune(&[
        "train", "--model", root().join("tests/fixtures/tiny-bert").to_str().unwrap(), "--task", "mnli",
        "--data", root().join("tests/fixtures/glue/MNLI").to_str().unwrap(), "--output-dir",
        out_dir.path().to_str().unwrap(), "--backend", "cpu", "--max-steps", "1", "--quiet",
    ]);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{log}");
    assert!(log.contains("newly initialised: classifier.weight (shape [2, 32] in the checkpoint, [3, 32] for these labels)"), "{log}");
}

/// A tiny model of every family (tests/fixtures/tiny-FAMILY, made by transformers) fine-tunes on
/// MRPC with its own tokenizer and is written back as that family: the output folder evaluates
/// and predicts as the run reported. (`scripts/check_export.py` loads such a folder in
/// transformers; CI has no PyTorch.)
#[test]
fn every_family_trains_and_exports_as_itself() {
    for (family, model_type, architecture) in [
        ("bert", "bert", "BertForSequenceClassification"),
        ("distilbert", "distilbert", "DistilBertForSequenceClassification"),
        ("roberta", "roberta", "RobertaForSequenceClassification"),
        ("xlm-roberta", "xlm-roberta", "XLMRobertaForSequenceClassification"),
        ("electra", "electra", "ElectraForSequenceClassification"),
        ("albert", "albert", "AlbertForSequenceClassification"),
    ] {
        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().to_str().unwrap();
        let model = root().join("tests/fixtures").join(format!("tiny-{family}"));
        let data = glue("MRPC");
        let summary = ok_json(webtune(&[
            "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(),
            "--output-dir", out, "--backend", "cpu", "--max-steps", "4", "--logging-steps", "2",
            "--max-train-samples", "32", "--max-eval-samples", "16", "--learning-rate", "1e-3", "--quiet",
        ]));
        assert_eq!(summary["steps"], 4, "{family}");
        let config: Value = serde_json::from_slice(&std::fs::read(out_dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!((config["model_type"].as_str(), config["architectures"][0].as_str()), (Some(model_type), Some(architecture)));
        assert_eq!(config["id2label"]["1"], "equivalent", "{family}");
        let original: Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
        for (key, value) in original.as_object().unwrap() {
            if !["id2label", "label2id", "architectures", "problem_type", "num_labels", "transformers_version", "dtype"].contains(&key.as_str()) {
                assert_eq!(&config[key], value, "{family}: config field `{key}` is kept as the family writes it");
            }
        }
        let lines = std::fs::read_to_string(out_dir.path().join("metrics.jsonl")).unwrap();
        let losses: Vec<f64> = lines.lines().filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["loss"].as_f64()).collect();
        assert!(losses.len() == 2 && losses.iter().all(|l| l.is_finite()), "{family}: {losses:?}");
        let scored = ok_json(webtune(&[
            "evaluate", "--model", out, "--task", "mrpc", "--data", data.to_str().unwrap(), "--backend", "cpu",
        ]));
        assert_eq!(scored["examples"], 408, "{family}");
        let p = ok_json(webtune(&["predict", "--model", out, "--backend", "cpu", "The cat sat.", "A cat sat."]));
        assert_eq!(p["probabilities"].as_array().unwrap().len(), 2, "{family}: {p}");
    }
}

/// `--lora-r`: only the adapters and the head train and are saved, as peft names them; the adapter
/// folder predicts like the merged model `--merge-lora` writes beside it, and a checkpoint holds the
/// adapter and its moments, from which the run resumes to the same end.
#[test]
fn lora_trains_an_adapter_that_predicts_like_its_merged_model() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let model = root().join("tests/fixtures/tiny-bert");
    let data = glue("MRPC");
    let summary = ok_json(webtune(&[
        "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", out, "--backend", "cpu", "--max-steps", "4", "--save-strategy", "steps", "--save-steps", "2",
        "--max-train-samples", "32", "--max-eval-samples", "16", "--learning-rate", "1e-2", "--quiet",
        "--lora-r", "4", "--lora-alpha", "16", "--lora-target-modules", "query,value,dense", "--merge-lora",
    ]));
    assert_eq!(summary["steps"], 4);
    assert!(!out_dir.path().join("model.safetensors").exists(), "a LoRA run saves the adapter, not the model");
    let config: Value = serde_json::from_slice(&std::fs::read(out_dir.path().join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((config["peft_type"].as_str(), config["task_type"].as_str(), config["r"].as_u64()), (Some("LORA"), Some("SEQ_CLS"), Some(4)));
    assert_eq!(config["base_model_name_or_path"].as_str().unwrap(), std::fs::canonicalize(&model).unwrap().to_str().unwrap());
    let names: Vec<String> = saved_weights_of(&out_dir.path().join("adapter_model.safetensors")).into_iter().map(|(n, _)| n).collect();
    // 2 layers × (query, value, attention.output.dense, intermediate.dense, output.dense) + the
    // pooler, two matrices each, and the head.
    assert_eq!(names.len(), 2 * (2 * 5 + 1) + 2, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("base_model.model.")), "{names:?}");
    assert!(names.contains(&"base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight".to_string()));
    assert!(names.contains(&"base_model.model.classifier.weight".to_string()));
    let ck = out_dir.path().join("checkpoint-2");
    assert!(ck.join("adapter_model.safetensors").exists() && !ck.join("model.safetensors").exists());
    let moments = saved_weights_of(&ck.join("exp_avg.safetensors"));
    assert_eq!(moments.len(), names.len(), "moments for the adapter and the head only");
    let merged = out_dir.path().join("merged");
    let from_adapter = ok_json(webtune(&["predict", "--model", out, "--backend", "cpu", "The cat sat.", "A cat sat."]));
    let from_merged = ok_json(webtune(&["predict", "--model", merged.to_str().unwrap(), "--backend", "cpu", "The cat sat.", "A cat sat."]));
    let (a, m) = (f32s(&from_adapter["probabilities"]), f32s(&from_merged["probabilities"]));
    assert!(max_abs_diff(&a, &m) < 1e-5, "adapter {a:?}, merged {m:?}");
    // Training moved the adapter away from the base model's function.
    let base_weights = saved_weights(&model);
    let merged_weights = saved_weights(&merged);
    let moved = |name: &str| {
        let b = &base_weights.iter().find(|(n, _)| n.ends_with(name)).unwrap().1;
        let m = &merged_weights.iter().find(|(n, _)| n.ends_with(name)).unwrap().1;
        max_abs_diff(b, m)
    };
    assert!(moved("layer.0.attention.self.query.weight") > 0.0, "the adapter was trained and merged");
    assert_eq!(moved("layer.0.attention.self.key.weight"), 0.0, "an untargeted layer stays frozen");
    assert_eq!(moved("embeddings.word_embeddings.weight"), 0.0, "the embeddings stay frozen");
    let scored = ok_json(webtune(&["evaluate", "--model", out, "--task", "mrpc", "--data", data.to_str().unwrap(), "--backend", "cpu"]));
    assert_eq!(scored["examples"], 408);

    // Resumed from the adapter checkpoint of step 2, the run ends with the same adapter.
    let resumed_dir = tempfile::tempdir().unwrap();
    let resumed = resumed_dir.path().to_str().unwrap();
    ok_json(webtune(&[
        "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", resumed, "--backend", "cpu", "--max-steps", "4", "--save-strategy", "no",
        "--max-train-samples", "32", "--max-eval-samples", "16", "--learning-rate", "1e-2", "--quiet",
        "--resume-from-checkpoint", out_dir.path().join("checkpoint-2").to_str().unwrap(),
    ]));
    let (whole, again) = (
        saved_weights_of(&out_dir.path().join("adapter_model.safetensors")),
        saved_weights_of(&resumed_dir.path().join("adapter_model.safetensors")),
    );
    assert_eq!(whole.len(), again.len());
    for ((name, a), (_, b)) in whole.iter().zip(&again) {
        assert!(max_abs_diff(a, b) <= 1e-6, "{name} after resuming differs by {}", max_abs_diff(a, b));
    }

    let err = err_text(webtune(&[
        "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", out, "--backend", "cpu", "--max-steps", "1", "--lora-r", "4", "--lora-target-modules", "q_lin",
    ]));
    assert!(err.contains("q_lin") && err.contains("query, key, value, dense"), "{err}");
    let err = err_text(webtune(&[
        "train", "--model", out, "--task", "mrpc", "--data", data.to_str().unwrap(), "--backend", "cpu", "--max-steps", "1",
    ]));
    assert!(err.contains(out) && err.contains("a LoRA adapter folder"), "training on an adapter is refused by name: {err}");
    let err = err_text(webtune(&[
        "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(), "--backend", "cpu",
        "--max-steps", "1", "--merge-lora",
    ]));
    assert!(err.contains("--merge-lora") && err.contains("--lora-r"), "{err}");
}
