//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::tensor::Device;
use webtune::device::Backend;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// all-MiniLM-L6-v2 as `scripts/setup` installs it.
pub fn minilm_dir() -> PathBuf {
    let cache = std::env::var_os("WEBTUNE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/webtune"));
    let dir = cache.join("models/all-MiniLM-L6-v2");
    assert!(dir.join("model.safetensors").exists(), "{} is missing: run scripts/setup", dir.display());
    dir
}

pub fn glue(task: &str) -> PathBuf {
    root().join("../shared/data/glue").join(task)
}

pub fn golden(name: &str) -> serde_json::Value {
    let path = root().join("tests/goldens").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// wgpu's runtime starts once per process; tests share it.
pub fn wgpu() -> Device {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    DEVICE
        .get_or_init(|| pollster::block_on(Backend::Wgpu.init()).expect("wgpu (lavapipe) starts"))
        .clone()
}

pub fn cpu() -> Device {
    Device::flex()
}

pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}

fn flatten(v: &serde_json::Value, out: &mut Vec<f32>) {
    match v {
        serde_json::Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        x => out.push(x.as_f64().unwrap() as f32),
    }
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Every tensor of `DIR/model.safetensors` as f32, sorted by name (for comparing two runs).
pub fn saved_weights(dir: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    saved_weights_of(&dir.join("model.safetensors"))
}

/// Every tensor of a safetensors file as f32, sorted by name.
pub fn saved_weights_of(file: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(file).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(name, v)| (name, v.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The lines of `DIR/metrics.jsonl`.
pub fn metrics_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A finished `webtune` command's last stdout line as JSON; fails the test with its output if it failed.
pub fn ok_json(out: std::process::Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "webtune failed:\n{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// A failed `webtune` command's stderr; fails the test if it succeeded or panicked.
pub fn err_text(out: std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "a panic instead of an error: {stderr}");
    stderr
}
