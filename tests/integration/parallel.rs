//! Data parallelism end to end: two `webtune serve` processes on loopback (burn remote servers over
//! WebSocket, CPU devices) each take 4 examples of every batch of 8; the run must give the losses
//! and final weights of one device with batch 8. Dropout is off in this test's model copy, since
//! each device draws its own masks.

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
        "--output-dir", out.to_str().unwrap(), "--backend", "cpu", "--max-train-samples", "96",
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

#[test]
fn two_servers_with_batch_4_train_as_one_device_with_batch_8() {
    // The tiny BERT without dropout.
    let model = tempfile::tempdir().unwrap();
    let fixture = root().join("tests/fixtures/tiny-bert");
    for f in ["model.safetensors", "vocab.txt"] {
        std::fs::copy(fixture.join(f), model.path().join(f)).unwrap();
    }
    let mut config: Value = serde_json::from_slice(&std::fs::read(fixture.join("config.json")).unwrap()).unwrap();
    config["hidden_dropout_prob"] = 0.0.into();
    config["attention_probs_dropout_prob"] = 0.0.into();
    std::fs::write(model.path().join("config.json"), config.to_string()).unwrap();

    let one = tempfile::tempdir().unwrap();
    let single = train(one.path(), model.path(), &["--per-device-train-batch-size", "8"]);

    let (_a, url_a) = serve();
    let (_b, url_b) = serve();
    let two = tempfile::tempdir().unwrap();
    let devices = format!("{url_a},{url_b}");
    let parallel = train(two.path(), model.path(), &["--per-device-train-batch-size", "4", "--devices", &devices]);

    assert_eq!(single["steps"], 12);
    assert_eq!(parallel["steps"], 12, "96 examples in global batches of 8");
    let (a, b) = (losses(one.path()), losses(two.path()));
    assert_eq!(a.len(), 12);
    assert_eq!(a.iter().map(|x| x.0).collect::<Vec<_>>(), b.iter().map(|x| x.0).collect::<Vec<_>>());
    for ((step, x), (_, y)) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-4, "loss at step {step}: one device {x}, two servers {y}");
    }
    for ((name, x), (_, y)) in saved_weights(one.path()).iter().zip(saved_weights(two.path())) {
        let diff = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(diff <= 1e-4, "{name} differs by {diff}");
    }
    eprintln!(
        "samples/s: one device {:.1}, two loopback servers {:.1}",
        single["train_samples_per_second"].as_f64().unwrap(),
        parallel["train_samples_per_second"].as_f64().unwrap()
    );

    // A server that is not there is an error naming it.
    let gone = format!("ws://127.0.0.1:{}", free_port());
    let out = Command::new(env!("CARGO_BIN_EXE_webtune"))
        .args(["train", "--model", model.path().to_str().unwrap(), "--backend", "cpu", "--devices", &gone, "--quiet",
            "--output-dir", two.path().join("x").to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(&gone) && !stderr.contains("panicked"), "{stderr}");
}
