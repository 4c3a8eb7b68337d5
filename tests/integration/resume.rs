//! Checkpoints end to end with the `webtune` binary: a run killed with SIGKILL mid-epoch and
//! resumed from its last checkpoint ends exactly where an uninterrupted run ends; damaged
//! checkpoints and changed settings are refused with errors that name the file and the field; a
//! diverging run stops at the step whose loss is not finite and keeps the checkpoints before it.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// 800 MRPC pairs, batch 8: 100 steps an epoch, 200 in all, a checkpoint every 30 steps (so they
/// fall mid-epoch) on the tiny BERT, on the CPU backend.
fn train_args(out: &Path) -> Vec<String> {
    train_args_with(out, "1e-3", "30")
}

fn train_args_with(out: &Path, learning_rate: &str, save_steps: &str) -> Vec<String> {
    let data = glue("MRPC");
    [
        "train", "--model", "tests/fixtures/tiny-bert", "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", out.to_str().unwrap(), "--backend", "cpu", "--max-train-samples", "800",
        "--max-eval-samples", "64", "--num-train-epochs", "2", "--learning-rate", learning_rate, "--logging-steps",
        "5", "--save-steps", save_steps, "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn webtune(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_webtune")).args(args).current_dir(root()).output().expect("webtune runs")
}

#[test]
fn a_killed_run_resumes_exactly() {
    let whole = tempfile::tempdir().unwrap();
    let whole_summary = ok_json(webtune(&train_args(whole.path())));
    assert_eq!(whole_summary["steps"], 200);

    // Kill the same run as soon as its second checkpoint is complete: mid-epoch, mid-step.
    let cut = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_webtune"))
        .args(train_args(cut.path()))
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !cut.path().join("checkpoint-60").exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        assert!(Instant::now() < deadline, "no checkpoint-60 after 5 minutes");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!cut.path().join("model.safetensors").exists(), "the killed run had finished");

    let mut resumed = train_args(cut.path());
    resumed.extend(["--resume-from-checkpoint".into(), "last".into()]);
    let summary = ok_json(webtune(&resumed));
    assert_eq!(summary["steps"], 200);
    assert_eq!(summary["eval"], whole_summary["eval"]);

    // The same log, line for line: history replayed from the checkpoint, then the same steps.
    let (a, b) = (metrics_lines(whole.path()), metrics_lines(cut.path()));
    assert_eq!(a.len(), b.len(), "{a:?}\n{b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["step"], y["step"]);
        if let (Some(lx), Some(ly)) = (x["loss"].as_f64(), y["loss"].as_f64()) {
            assert!((lx - ly).abs() <= 1e-4, "loss at step {}: {lx} vs {ly}", x["step"]);
        }
        assert_eq!(x.get("eval_accuracy"), y.get("eval_accuracy"));
    }
    for ((name, x), (_, y)) in saved_weights(whole.path()).iter().zip(saved_weights(cut.path())) {
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "{name} differs by {diff}");
    }
}

#[test]
fn damaged_checkpoints_and_changed_settings_are_named() {
    let out = tempfile::tempdir().unwrap();
    let mut args = train_args(out.path());
    args.extend(["--max-steps".into(), "35".into()]);
    ok_json(webtune(&args));
    let ckpt = out.path().join("checkpoint-30");
    assert!(ckpt.join("trainer_state.json").exists());
    let resume = |extra: &[&str]| {
        let mut a = args.clone();
        a.extend(["--resume-from-checkpoint".into(), ckpt.to_str().unwrap().into()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        webtune(&a)
    };

    let msg = err_text(resume(&["--per-device-train-batch-size", "4"]));
    assert!(msg.contains("trainer_state.json") && msg.contains("per_device_train_batch_size"), "{msg}");
    let msg = err_text(resume(&["--seed", "7"]));
    assert!(msg.contains("settings.seed"), "{msg}");

    let original = std::fs::read(ckpt.join("exp_avg.safetensors")).unwrap();
    std::fs::write(ckpt.join("exp_avg.safetensors"), &original[..original.len() / 3]).unwrap();
    let msg = err_text(resume(&[]));
    assert!(msg.contains("exp_avg.safetensors: not a valid safetensors file"), "{msg}");
    std::fs::write(ckpt.join("exp_avg.safetensors"), &original).unwrap();

    let state = std::fs::read_to_string(ckpt.join("trainer_state.json")).unwrap();
    std::fs::write(ckpt.join("trainer_state.json"), &state[..state.len() / 2]).unwrap();
    let msg = err_text(resume(&[]));
    assert!(msg.contains("trainer_state.json: invalid JSON"), "{msg}");
    std::fs::remove_file(ckpt.join("trainer_state.json")).unwrap();
    let msg = err_text(resume(&[]));
    assert!(msg.contains("trainer_state.json") && msg.contains("No such file"), "{msg}");

    let empty = tempfile::tempdir().unwrap();
    let mut a = train_args(empty.path());
    a.extend(["--resume-from-checkpoint".into(), "last".into()]);
    let msg = err_text(webtune(&a));
    assert!(msg.contains("no checkpoint-STEP folder"), "{msg}");
}

#[test]
fn a_diverging_run_names_the_step_and_keeps_the_checkpoints_before_it() {
    let out = tempfile::tempdir().unwrap();
    // A rate of 1e38 puts weights near f32's limit after one step: the next loss overflows.
    let msg = err_text(webtune(&train_args_with(out.path(), "1e38", "1")));
    assert!(msg.contains("the loss became NaN at step 2"), "{msg}");
    let ckpt = out.path().join("checkpoint-1");
    assert!(msg.contains(&format!("the last checkpoint: {}", ckpt.display())), "{msg}");
    assert!(ckpt.join("trainer_state.json").exists() && !out.path().join("checkpoint-2").exists());
    assert!(!out.path().join("model.safetensors").exists(), "no model is written from a diverged run");
}

/// A disk that refuses a checkpoint (here a file-size limit, which the kernel answers as it does a
/// full disk: the write fails) stops the run at once, naming the file and the system's reason: it
/// would refuse the final model too, and stopping keeps the hours before. The checkpoint before it
/// stays complete, the refused one leaves nothing behind, and resuming on a disk with room ends as
/// the uninterrupted run did.
#[test]
fn a_checkpoint_the_disk_refuses_stops_the_run_and_keeps_the_one_before() {
    let out = tempfile::tempdir().unwrap();
    let whole = ok_json(webtune(&train_args(out.path())));
    // Back to the first checkpoint, as if the run had just written it.
    for entry in std::fs::read_dir(out.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "checkpoint-30" {
            if path.is_dir() { std::fs::remove_dir_all(&path).unwrap() } else { std::fs::remove_file(&path).unwrap() }
        }
    }
    let mut resumed = train_args(out.path());
    resumed.extend(["--resume-from-checkpoint".into(), "last".into()]);
    // Files of at most 40 KiB, so the next checkpoint's weights (84 kB) are refused; SIGXFSZ
    // ignored, as a full disk sends no signal: the write itself fails.
    let limited = Command::new("bash")
        .arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 40; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_webtune"))
        .args(&resumed)
        .current_dir(root())
        .output()
        .unwrap();
    let msg = err_text(limited);
    assert!(msg.contains("checkpoint-60") && msg.contains("File too large"), "{msg}");
    let kept = out.path().join("checkpoint-30");
    assert!(msg.contains(&format!("the last checkpoint: {}", kept.display())), "{msg}");
    assert!(kept.join("trainer_state.json").exists(), "the checkpoint before is intact");
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!left.iter().any(|n| n.to_string_lossy().contains("checkpoint-60")), "the refused checkpoint is gone: {left:?}");
    assert!(!out.path().join("model.safetensors").exists());

    let done = ok_json(webtune(&resumed));
    assert_eq!(done["steps"], 200);
    assert_eq!(done["eval"], whole["eval"], "resumed on a disk with room, the run ends as the uninterrupted one");
}
