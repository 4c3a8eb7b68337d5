//! Our BERT against transformers (`webtune::parity`): pooled output, logits, loss, the last layer's
//! attention from the first token, and gradients after one backward pass, for a tiny random BERT and for all-MiniLM-L6-v2, on the CPU backend and
//! on wgpu. Golden values come from `scripts/goldens.py`.

use std::path::Path;

use burn::tensor::Device;
use crate::common::*;
use webtune::model::BertConfig;
use webtune::model::weights::WeightFile;
use webtune::parity::{Golden, LoraGolden, compare};

const TOLERANCE: f32 = 1e-4;
/// What each golden file holds, in the report's order (gradients by name).
const EVERY_VALUE: [&str; 12] = [
    "pooled_output",
    "logits",
    "loss",
    "first_token_attention",
    "bert.embeddings.LayerNorm.weight",
    "bert.embeddings.token_type_embeddings.weight",
    "bert.embeddings.word_embeddings.weight",
    "bert.encoder.layer.0.attention.self.query.weight",
    "bert.encoder.layer.0.output.LayerNorm.weight",
    "bert.pooler.dense.weight",
    "classifier.bias",
    "classifier.weight",
];

fn check(model_dir: &Path, golden: &str, device: Device, what: &str) {
    let path = root().join("tests/goldens").join(golden);
    let golden = Golden::from_json(&std::fs::read(&path).unwrap(), golden).unwrap();
    let config = BertConfig::from_json(&std::fs::read(model_dir.join("config.json")).unwrap(), "config.json").unwrap();
    let weights = WeightFile::from_bytes(&std::fs::read(model_dir.join("model.safetensors")).unwrap(), "model.safetensors").unwrap();
    let device = device.autodiff();
    let model = golden.model(&config, weights, &device, "config.json").unwrap();
    let report = pollster::block_on(compare(&model, &golden, &device)).unwrap();
    let compared: Vec<&str> = report.differences.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(compared, EVERY_VALUE, "{what}: every golden value compared");
    let failures = report.failures(TOLERANCE);
    assert!(failures.is_empty(), "{what}: {}", failures.join("; "));
}

fn tiny() -> std::path::PathBuf {
    root().join("tests/fixtures/tiny-bert")
}

#[test]
fn tiny_bert_matches_transformers_on_cpu() {
    check(&tiny(), "tiny_bert.json", cpu(), "tiny/cpu");
}

#[test]
fn minilm_matches_transformers_on_cpu() {
    check(&minilm_dir(), "minilm.json", cpu(), "minilm/cpu");
}

/// The check can fail: the tiny model against goldens moved by 1e-3 in one logit, one attention
/// probability and one gradient value.
#[test]
fn a_value_off_by_more_than_the_tolerance_is_caught() {
    let dir = tiny();
    let path = root().join("tests/goldens/tiny_bert.json");
    let mut golden = Golden::from_json(&std::fs::read(path).unwrap(), "tiny_bert.json").unwrap();
    golden.logits[1][0] += 1e-3;
    golden.first_token_attention.as_mut().unwrap()[1][2][3] -= 1e-3;
    let name = "bert.encoder.layer.0.attention.self.query.weight";
    golden.grads.get_mut(name).unwrap().prefix[7] -= 1e-3;
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    let weights = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "tiny").unwrap();
    let device = cpu().autodiff();
    let model = golden.model(&config, weights, &device, "config.json").unwrap();
    let failures = pollster::block_on(compare(&model, &golden, &device)).unwrap().failures(TOLERANCE);
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures[0].starts_with("logits differs by 0.00"), "{failures:?}");
    assert!(failures[1].starts_with("first_token_attention differs by 0.00"), "{failures:?}");
    assert!(failures[2].starts_with(&format!("{name} differs by 0.00")), "{failures:?}");
}

/// The other families (`scripts/goldens.py families`): tiny random models made by transformers,
/// each compared on every value its golden file holds.
fn check_families(device: Device, backend: &str, families: &[&str]) {
    for family in families {
        let dir = root().join("tests/fixtures").join(format!("tiny-{}", family.replace('_', "-")));
        let name = format!("tiny_{family}.json");
        let golden = Golden::from_json(&std::fs::read(root().join("tests/goldens").join(&name)).unwrap(), &name).unwrap();
        let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
        let weights = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "model.safetensors").unwrap();
        let ad = device.clone().autodiff();
        let model = golden.model(&config, weights, &ad, "config.json").unwrap();
        let report = pollster::block_on(compare(&model, &golden, &ad)).unwrap();
        assert_eq!(report.differences.len(), 4 + golden.grads.len(), "{family}: every golden value compared");
        assert_eq!(report.differences[3].name, "first_token_attention", "{family}: the attention compared");
        let failures = report.failures(TOLERANCE);
        assert!(failures.is_empty(), "{family}/{backend}: {}", failures.join("; "));
    }
}

#[test]
fn every_family_matches_transformers_on_cpu() {
    check_families(cpu(), "cpu", &["roberta", "xlm_roberta", "electra", "albert", "distilbert"]);
}

/// LoRA against peft (`scripts/goldens.py lora`): from the adapter peft drew, the logits, loss and
/// the gradients of every adapter matrix and of the head at the first step, the adapter after one
/// AdamW step, and the same values at the second step. BERT's query/value, BERT with all-linear
/// (the pooler too) and rsLoRA's scaling, DistilBERT with its own names and two-layer head.
fn check_lora(device: Device, backend: &str, cases: &[&str]) {
    for case in cases {
        let name = format!("lora_{case}.json");
        let golden = LoraGolden::from_json(&std::fs::read(root().join("tests/goldens").join(&name)).unwrap(), &name).unwrap();
        let dir = root().join("tests/fixtures").join(&golden.fixture);
        let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
        let weights = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "model.safetensors").unwrap();
        let report = pollster::block_on(golden.compare(&config, weights, &device.clone().autodiff())).unwrap();
        let trained = golden.initial.len();
        let expected = 2 * (3 + trained) + trained;
        assert_eq!(report.differences.len(), expected, "{case}: every golden value compared");
        assert!(golden.first.grads.keys().any(|n| n.ends_with("lora_A.weight")), "{case}: adapters are compared");
        let failures = report.failures(TOLERANCE);
        assert!(failures.is_empty(), "{case}/{backend}: {}", failures.join("; "));
    }
}

#[test]
fn lora_matches_peft_on_cpu() {
    check_lora(cpu(), "cpu", &["bert", "bert_all_linear", "distilbert"]);
}

/// Every check above on wgpu, in one process: lavapipe compiles each kernel once for all of them
/// (cubecl keeps compiled kernels and autotune results per process; Mesa's disk cache only spares
/// the last compilation step). On a new machine's empty caches, the four as tests of their own took
/// 350 s one after another, 278 s in one process (2026-12-07). The families are those whose code
/// differs from BERT's beyond tensor names: RoBERTa's position offset, ALBERT's shared layers and
/// narrow embeddings, DistilBERT's missing token types and ReLU head (XLM-RoBERTa is RoBERTa's code;
/// ELECTRA's projection is one more Linear: both passed there too).
#[test]
fn transformers_and_peft_match_on_wgpu() {
    check(&tiny(), "tiny_bert.json", wgpu(), "tiny/wgpu");
    check(&minilm_dir(), "minilm.json", wgpu(), "minilm/wgpu");
    check_families(wgpu(), "wgpu", &["roberta", "albert", "distilbert"]);
    check_lora(wgpu(), "wgpu", &["bert"]);
}

/// The LoRA check can fail: peft's adapter with another alpha (scaling 4 instead of 2) is caught.
#[test]
fn a_lora_with_another_scaling_is_caught() {
    let name = "lora_bert.json";
    let mut golden = LoraGolden::from_json(&std::fs::read(root().join("tests/goldens").join(name)).unwrap(), name).unwrap();
    golden.adapter_config["lora_alpha"] = serde_json::json!(16);
    let dir = root().join("tests/fixtures").join(&golden.fixture);
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    let weights = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "model.safetensors").unwrap();
    let report = pollster::block_on(golden.compare(&config, weights, &cpu().autodiff())).unwrap();
    let failures = report.failures(TOLERANCE);
    // With B = 0 the adapter changes nothing at the first step, only B's (scaled) gradient; after
    // the step, B and the logits show the scaling.
    assert!(failures.iter().any(|f| f.starts_with("after the step base_model.model.bert.encoder.layer.0.attention.self.query.lora_B")), "{failures:?}");
    assert!(failures.iter().any(|f| f.starts_with("step 2 logits")), "{failures:?}");
}
