//! Our BERT against transformers: pooled output, logits, loss and gradients after one backward
//! pass, for a tiny random BERT and for all-MiniLM-L6-v2, on the CPU backend and on wgpu.
//! Golden values come from `scripts/goldens.py`.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::*;
use serde_json::Value;
use webtune::model::weights::{WeightFile, Vars};
use webtune::model::{BertConfig, BertForSequenceClassification, BertInput};
use webtune::train::cross_entropy;

const TOLERANCE: f32 = 1e-4;

fn ints(v: &Value) -> (Vec<i64>, [usize; 2]) {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    let flat = rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_i64().unwrap())).collect();
    (flat, [rows.len(), cols])
}

fn input(g: &Value, device: &Device) -> BertInput {
    let (ids, shape) = ints(&g["input_ids"]);
    let (types, _) = ints(&g["token_type_ids"]);
    let (mask, _) = ints(&g["attention_mask"]);
    BertInput {
        input_ids: Tensor::from_data(TensorData::new(ids, shape), device),
        token_type_ids: Tensor::from_data(TensorData::new(types, shape), device),
        attention_mask: Tensor::from_data(
            TensorData::new(mask.into_iter().map(|m| m as f32).collect::<Vec<_>>(), shape),
            device,
        ),
    }
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// A gradient in transformers' layout (Linear weights are [out, in] there, [in, out] here).
fn grad_hf<const D: usize>(param: &Param<Tensor<D>>, grads: &burn::tensor::Gradients, linear: bool) -> Vec<f32> {
    let g = param.val().grad(grads).expect("parameter has a gradient");
    if linear { host(g.transpose()) } else { host(g) }
}

fn check_against(model: BertForSequenceClassification, g: &Value, device: &Device, what: &str) {
    let input = input(g, device);
    let (logits, pooled) = model.forward_with_pooled(input);
    let d = max_abs_diff(&host(pooled.clone()), &f32s(&g["pooled_output"]));
    assert!(d <= TOLERANCE, "{what}: pooled output differs by {d}");
    let d = max_abs_diff(&host(logits.clone()), &f32s(&g["logits"]));
    assert!(d <= TOLERANCE, "{what}: logits differ by {d}");

    let labels: Vec<i64> = g["labels"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
    let n = labels.len();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    let loss = cross_entropy(logits, labels);
    let d = (host(loss.clone())[0] - g["loss"].as_f64().unwrap() as f32).abs();
    assert!(d <= TOLERANCE, "{what}: loss differs by {d}");

    let grads = loss.backward();
    let layer0 = &model.bert.layer[0];
    let ours: Vec<(&str, Vec<f32>)> = vec![
        ("classifier.weight", grad_hf(&model.classifier.weight, &grads, true)),
        ("classifier.bias", grad_hf(model.classifier.bias.as_ref().unwrap(), &grads, false)),
        ("bert.pooler.dense.weight", grad_hf(&model.bert.pooler.weight, &grads, true)),
        ("bert.encoder.layer.0.attention.self.query.weight", grad_hf(&layer0.attention.query.weight, &grads, true)),
        ("bert.encoder.layer.0.output.LayerNorm.weight", grad_hf(&layer0.output.layer_norm.gamma, &grads, false)),
        ("bert.embeddings.LayerNorm.weight", grad_hf(&model.bert.embeddings.layer_norm.gamma, &grads, false)),
        ("bert.embeddings.word_embeddings.weight", grad_hf(&model.bert.embeddings.word_embeddings.weight, &grads, false)),
        ("bert.embeddings.token_type_embeddings.weight", grad_hf(&model.bert.embeddings.token_type_embeddings.weight, &grads, false)),
    ];
    for (name, values) in ours {
        let golden = &g["grads"][name];
        let prefix = f32s(&golden["prefix"]);
        let d = max_abs_diff(&values[..prefix.len()], &prefix);
        assert!(d <= TOLERANCE, "{what}: gradient of {name} differs by {d}");
        let sum: f32 = values.iter().sum();
        let expected = golden["sum"].as_f64().unwrap() as f32;
        assert!((sum - expected).abs() <= 1e-3_f32.max(expected.abs() * 1e-3), "{what}: sum of gradient of {name}: {sum} vs {expected}");
    }
}

/// Dropout off, as transformers' `model.eval()` in the golden script.
fn no_dropout(mut c: BertConfig) -> BertConfig {
    c.hidden_dropout_prob = 0.0;
    c.attention_probs_dropout_prob = 0.0;
    c
}

fn tiny(device: &Device) -> BertForSequenceClassification {
    let dir = root().join("tests/fixtures/tiny-bert");
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    let ckpt = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "tiny").unwrap();
    let mut vars = Vars::from_file(ckpt, 0, 0.02, &device.clone().autodiff());
    let model = BertForSequenceClassification::load(&mut vars, &no_dropout(config), "config.json").unwrap();
    assert!(vars.initialized().is_empty(), "the tiny fixture has every tensor");
    model
}

fn minilm(device: &Device, g: &Value) -> BertForSequenceClassification {
    let dir = minilm_dir();
    let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
    let mut ckpt = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "minilm").unwrap();
    // transformers drew the new head at random; use its exact values.
    ckpt.insert("classifier.weight", vec![2, 384], f32s(&g["classifier"]["weight"]));
    ckpt.insert("classifier.bias", vec![2], f32s(&g["classifier"]["bias"]));
    let mut vars = Vars::from_file(ckpt, 0, 0.02, &device.clone().autodiff());
    BertForSequenceClassification::load(&mut vars, &no_dropout(config), "config.json").unwrap()
}

#[test]
fn tiny_bert_matches_transformers_on_cpu() {
    let g = golden("tiny_bert.json");
    let device = cpu().autodiff();
    check_against(tiny(&device), &g, &device, "tiny/cpu");
}

#[test]
fn tiny_bert_matches_transformers_on_wgpu() {
    let g = golden("tiny_bert.json");
    let device = wgpu().autodiff();
    check_against(tiny(&device), &g, &device, "tiny/wgpu");
}

#[test]
fn minilm_matches_transformers_on_cpu() {
    let g = golden("minilm.json");
    let device = cpu().autodiff();
    check_against(minilm(&device, &g), &g, &device, "minilm/cpu");
}

#[test]
fn minilm_matches_transformers_on_wgpu() {
    let g = golden("minilm.json");
    let device = wgpu().autodiff();
    check_against(minilm(&device, &g), &g, &device, "minilm/wgpu");
}
