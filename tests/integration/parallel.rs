//! Data parallelism end to end: two `webtune serve` processes on loopback (burn remote servers over
//! WebSocket, CPU devices) each take 4 examples of every batch of 8; the run must give the losses
//! and final weights of one device with batch 8, dropout on: each example's masks are drawn from
//! (seed, step, its index), wherever it runs.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// A `webtune serve` child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn serve() -> (Server, String) {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_webtune"))
        .args(["serve", "--device", "cpu", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "webtune serve did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, format!("ws://127.0.0.1:{port}"))
}

fn train(out: &Path, model: &Path, extra: &[&str]) -> Value {
    let data = glue("MRPC");
    let mut args = vec![
        "train", "--model", model.to_str().unwrap(), "--task", "mrpc", "--data", data.to_str().unwrap(),
        "--output-dir", out.to_str().unwrap(), "--backend", "cpu",
        "--max-eval-samples", "32", "--num-train-epochs", "1", "--learning-rate", "1e-3", "--logging-steps", "1",
        "--save-strategy", "no", "--quiet",
    ];
    args.extend_from_slice(extra);
    let out: Output = Command::new(env!("CARGO_BIN_EXE_webtune")).args(&args).current_dir(root()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "webtune train failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn losses(dir: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| Some((v["step"].as_u64()?, v.get("loss")?.as_f64()?)))
        .collect()
}

/// One device with batch 8 against two loopback servers with batch 4 each: the same losses at every
/// step and the same final weights, within 1e-4.
fn one_device_and_two_servers_agree(model: &Path, samples: usize, extra: &[&str]) {
    let samples_arg = samples.to_string();
    let mut args = vec!["--per-device-train-batch-size", "8", "--max-train-samples", samples_arg.as_str()];
    args.extend_from_slice(extra);
    let one = tempfile::tempdir().unwrap();
    let single = train(one.path(), model, &args);

    let (_a, url_a) = serve();
    let (_b, url_b) = serve();
    let two = tempfile::tempdir().unwrap();
    let devices = format!("{url_a},{url_b}");
    args[1] = "4";
    args.extend(["--devices", devices.as_str()]);
    let parallel = train(two.path(), model, &args);

    let steps = samples / 8;
    assert_eq!(single["steps"], steps);
    assert_eq!(parallel["steps"], steps, "{samples} examples in global batches of 8");
    let (a, b) = (losses(one.path()), losses(two.path()));
    assert_eq!(a.len(), steps);
    assert_eq!(a.iter().map(|x| x.0).collect::<Vec<_>>(), b.iter().map(|x| x.0).collect::<Vec<_>>());
    for ((step, x), (_, y)) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-4, "loss at step {step}: one device {x}, two servers {y}");
    }
    for ((name, x), (_, y)) in saved_weights(one.path()).iter().zip(saved_weights(two.path())) {
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "{name} differs by {diff}");
    }
    eprintln!(
        "{}: samples/s one device {:.1}, two loopback servers {:.1}",
        model.display(),
        single["train_samples_per_second"].as_f64().unwrap(),
        parallel["train_samples_per_second"].as_f64().unwrap()
    );
}

/// all-MiniLM-L6-v2 as it is (dropout 0.1 in its config), as the target asks.
#[test]
fn minilm_with_dropout_on_two_servers_follows_one_device() {
    one_device_and_two_servers_agree(&minilm_dir(), 24, &[]);
}

#[test]
fn two_servers_with_batch_4_train_as_one_device_with_batch_8() {
    // The tiny BERT, dropout on (its config: 0.1 on the hidden states and the attention).
    let model = root().join("tests/fixtures/tiny-bert");
    one_device_and_two_servers_agree(&model, 96, &[]);
    // And off: the same, and not the same run as with dropout (so dropout was drawn above).
    let copy = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "vocab.txt"] {
        std::fs::copy(model.join(f), copy.path().join(f)).unwrap();
    }
    let mut config: Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    config["hidden_dropout_prob"] = 0.0.into();
    config["attention_probs_dropout_prob"] = 0.0.into();
    std::fs::write(copy.path().join("config.json"), config.to_string()).unwrap();
    let (on, off) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    train(on.path(), &model, &["--max-train-samples", "16"]);
    train(off.path(), copy.path(), &["--max-train-samples", "16"]);
    assert_ne!(losses(on.path()), losses(off.path()), "dropout changes the losses");

    // A server that is not there is an error naming it.
    let gone = format!("ws://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_webtune"))
        .args(["train", "--model", model.to_str().unwrap(), "--backend", "cpu", "--devices", &gone, "--quiet",
            "--output-dir", off.path().join("x").to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&gone) && !stderr.contains("panicked"), "{stderr}");
}
