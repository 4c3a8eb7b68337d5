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
