//! Training throughput on real MRPC batches, split into forward / backward / optimizer time.
//! The batches are the training split's first `(warmup + steps) × batch` pairs in file order, so
//! `scripts/bench_torch.py` can feed PyTorch exactly the same ones.

use serde::{Deserialize, Serialize};

use crate::model::BertConfig;
// The report is plain data (the page shows it); measuring is the trainer's.
#[cfg(feature = "trainer")]
use {
    crate::data::{Encoded, Example, Labels, Task, TextTokenizer, collate_to},
    crate::device::idle,
    crate::error::Result,
    crate::model::SequenceClassifier,
    crate::model::lora_config::LoraConfig,
    crate::model::weights::Vars,
    crate::train::precision::{LossScale, unscaled},
    crate::train::{AdamWSettings, Precision, labels_of, loss, tokenize},
    burn::optim::GradientsParams,
    burn::tensor::Device,
};

/// A model's shape without weights, for speed work.
pub fn named_config(name: &str) -> Option<BertConfig> {
    let (hidden, layers, intermediate) = match name {
        "minilm-l6" => (384, 6, 1536),
        "bert-base" => (768, 12, 3072),
        _ => return None,
    };
    Some(BertConfig {
        model_type: crate::model::Family::Bert,
        vocab_size: 30522,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: 12,
        intermediate_size: intermediate,
        hidden_act: "gelu".into(),
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        max_position_embeddings: 512,
        type_vocab_size: 2,
        initializer_range: 0.02,
        layer_norm_eps: 1e-12,
        pad_token_id: Some(0),
        classifier_dropout: None,
        position_embedding_type: None,
        id2label: None,
        embedding_size: None,
        num_hidden_groups: None,
        inner_group_num: None,
        sinusoidal_pos_embds: None,
    })
}

#[cfg(feature = "trainer")]
/// A model with `config`'s shape and transformers-style random weights.
pub fn random_model(config: &BertConfig, device: &Device, lora: Option<&LoraConfig>) -> Result<SequenceClassifier> {
    let mut vars = Vars::random(0, config.initializer_range, device);
    if let Some(lora) = lora {
        vars = vars.with_lora(lora.clone(), None);
    }
    SequenceClassifier::load(&mut vars, config, "(named config)")
}

/// A named shape as a model folder in memory: its config, random weights drawn as [`random_model`]
/// draws them, and the tokenizer files of `vocabulary` (a folder with bert-base-uncased's
/// vocabulary, as all-MiniLM-L6-v2 has). `webtune train --model bert-base` times the course's recipe
/// at bert-base's size where no bert-base checkpoint can be fetched (a GPU machine without network);
/// what it learns means nothing. Native only: the weights are drawn on the CPU backend.
#[cfg(all(feature = "trainer", not(target_arch = "wasm32")))]
pub async fn named_files(name: &str, vocabulary: crate::pretrained::ModelFiles) -> Result<Option<crate::pretrained::ModelFiles>> {
    use crate::pretrained::NamedBytes;
    let Some(config) = named_config(name) else { return Ok(None) };
    let model = random_model(&config, &Device::flex(), None)?;
    let weights = crate::model::weights::to_safetensors(&model.export().await?)?;
    let config = config.to_pretrained_json(None).into_bytes();
    Ok(Some(crate::pretrained::ModelFiles {
        config: NamedBytes { name: format!("{name}/config.json"), bytes: config },
        weights: NamedBytes { name: format!("{name}/model.safetensors"), bytes: weights },
        ..vocabulary
    }))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub samples_per_s: f64,
    pub tokens_per_s: f64,
    pub ms_per_step: f64,
    pub ms_forward: f64,
    pub ms_backward: f64,
    pub ms_optimizer: f64,
    pub peak_gpu_mb: Option<f64>,
    pub steps: usize,
    /// The longest batch's padded length: the shape the memory estimate is reckoned for.
    #[serde(default)]
    pub max_seq_len: usize,
}

#[cfg(feature = "trainer")]
/// The benchmark's examples: the first `count` of `rows` (`task`'s training split in file order,
/// read from `file`), tokenized, and their labels. The CLI and the page both take them from here,
/// so their figures are measured on the same batches.
pub fn examples(
    task: Task,
    mut rows: Vec<Example>,
    file: &str,
    tokenizer: &TextTokenizer,
    count: usize,
) -> Result<(Vec<Encoded>, Labels)> {
    rows.truncate(count);
    Ok((tokenize(tokenizer, &rows)?, labels_of(task, &rows, file)?))
}

#[cfg(feature = "trainer")]
/// Trains `model` (on an autodiff device) for `warmup` unmeasured and `steps` measured steps, in
/// `precision` as a training run would (with `--fp16`'s loss scaling). Batches are padded to their
/// longest pair, or to at least `pad_to` tokens for a fixed shape.
#[allow(clippy::too_many_arguments)]
pub async fn bench(
    mut model: SequenceClassifier,
    examples: &[Encoded],
    labels: &Labels,
    batch_size: usize,
    warmup: usize,
    steps: usize,
    pad_id: u32,
    pad_to: usize,
    precision: Precision,
    device: &Device,
) -> Result<BenchReport> {
    precision.check_supported(device)?;
    let mut optimizer = AdamWSettings::default().init();
    let mut loss_scale = (precision == Precision::F16).then(LossScale::default);
    let (mut fwd, mut bwd, mut opt) = (0.0, 0.0, 0.0);
    let (mut samples, mut tokens, mut measured_steps) = (0, 0, 0);
    let mut peak_gpu: Option<u64> = None;
    let mut max_seq_len = 0;
    let now = web_time::Instant::now;
    for (i, chunk) in examples.chunks(batch_size).take(warmup + steps).enumerate() {
        let measured = i >= warmup;
        let refs: Vec<&Encoded> = chunk.iter().collect();
        let idx: Vec<usize> = (i * batch_size..i * batch_size + chunk.len()).collect();
        let batch = collate_to(&refs, Some(&labels.select(&idx)), pad_id, pad_to, device);
        max_seq_len = max_seq_len.max(batch.input.input_ids.dims()[1]);
        idle(device).await?;
        let t0 = now();
        let mut loss = loss(precision.logits(&model, batch.input), batch.labels.expect("labelled"));
        if let Some(scale) = &loss_scale {
            loss = loss.mul_scalar(scale.scale);
        }
        idle(device).await?;
        let t1 = now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        idle(device).await?;
        let t2 = now();
        if let Some(grads) = unscaled(loss_scale.as_mut(), &model, grads).await? {
            model = optimizer.step(5e-5, model, grads);
        }
        idle(device).await?;
        let t3 = now();
        if let Some(usage) = device.memory_pool_usage() {
            peak_gpu = Some(peak_gpu.unwrap_or(0).max(usage.bytes_reserved));
        }
        if measured {
            fwd += (t1 - t0).as_secs_f64();
            bwd += (t2 - t1).as_secs_f64();
            opt += (t3 - t2).as_secs_f64();
            samples += batch.size;
            tokens += batch.tokens;
            measured_steps += 1;
        }
    }
    let total = fwd + bwd + opt;
    let ms = |s: f64| 1000.0 * s / measured_steps.max(1) as f64;
    Ok(BenchReport {
        samples_per_s: samples as f64 / total.max(1e-9),
        tokens_per_s: tokens as f64 / total.max(1e-9),
        ms_per_step: ms(total),
        ms_forward: ms(fwd),
        ms_backward: ms(bwd),
        ms_optimizer: ms(opt),
        peak_gpu_mb: peak_gpu.map(|b| b as f64 / 1e6),
        steps: measured_steps,
        max_seq_len,
    })
}
