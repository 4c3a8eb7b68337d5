//! How much device memory fine-tuning needs, reckoned before the first step. A browser tab that
//! runs out of GPU memory loses its device (and everything on it) without a useful message, so
//! the page refuses up front and says what to change. The figures are estimates of what burn
//! keeps alive for one step, not a measurement.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::lora_config::LoraConfig;
use crate::model::{BertConfig, Family};

const F32: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    pub parameters: u64,
    /// Those with gradients and AdamW moments: all of them, or LoRA's adapters and the head.
    #[serde(default)]
    pub trainable_parameters: u64,
    pub weights_bytes: u64,
    pub gradients_bytes: u64,
    /// AdamW's two moments.
    pub optimizer_bytes: u64,
    /// What the forward pass saves for the backward pass, for one batch.
    pub activations_bytes: u64,
    /// The biggest single tensor: WebGPU caps each buffer (`maxBufferSize`,
    /// `maxStorageBufferBindingSize`) well below the total it can hold.
    pub largest_buffer_bytes: u64,
}

impl MemoryEstimate {
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes
            .saturating_add(self.gradients_bytes)
            .saturating_add(self.optimizer_bytes)
            .saturating_add(self.activations_bytes)
    }
}

/// What the device can hold; `None` where it does not say (WebGPU reports no memory size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryLimits {
    pub max_buffer_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
}

/// The trainable parameters of `config`'s sequence classifier, as its family builds it.
pub fn parameter_count(config: &BertConfig) -> u64 {
    let h = config.hidden_size as u64;
    let i = config.intermediate_size as u64;
    let e = config.embedding_size.map_or(h, |e| e as u64);
    let linear = |d_in: u64, d_out: u64| d_in * d_out + d_out;
    let types = match config.model_type {
        Family::DistilBert => 0,
        _ => config.type_vocab_size as u64,
    };
    let embeddings = (config.vocab_size as u64 + config.max_position_embeddings as u64 + types) * e + 2 * e;
    let layer = 4 * linear(h, h) + 2 * h + linear(h, i) + linear(i, h) + 2 * h;
    let labels = config.num_labels() as u64;
    let (layers, extra, head) = match config.model_type {
        // One set of weights per group, shared by the layers of the group; the embeddings are
        // mapped up to the hidden size.
        Family::Albert => {
            let groups = config.num_hidden_groups.unwrap_or(1) as u64 * config.inner_group_num.unwrap_or(1) as u64;
            (groups * layer, linear(e, h), linear(h, h) + linear(h, labels))
        }
        Family::Bert => (config.num_hidden_layers as u64 * layer, 0, linear(h, h) + linear(h, labels)),
        Family::Electra if e != h => (config.num_hidden_layers as u64 * layer, linear(e, h), linear(h, h) + linear(h, labels)),
        // A two-layer head on the first token instead of a pooler.
        _ => (config.num_hidden_layers as u64 * layer, 0, linear(h, h) + linear(h, labels)),
    };
    embeddings + layers + extra + head
}

/// The encoder's linear layers as (name's last parts, inputs, outputs, how many): what LoRA can adapt.
fn linear_layers(config: &BertConfig) -> Vec<(&'static str, u64, u64, u64)> {
    let (h, i) = (config.hidden_size as u64, config.intermediate_size as u64);
    let e = config.embedding_size.map_or(h, |e| e as u64);
    let n = match config.model_type == Family::Albert {
        true => config.num_hidden_groups.unwrap_or(1) as u64 * config.inner_group_num.unwrap_or(1) as u64,
        false => config.num_hidden_layers as u64,
    };
    let [q, k, v, attention_out, up, down] = config.model_type.layer_linears();
    let mut layers = vec![(q, h, h, n), (k, h, h, n), (v, h, h, n), (attention_out, h, h, n), (up, h, i, n), (down, i, h, n)];
    match config.model_type {
        Family::Albert => layers.extend([("encoder.embedding_hidden_mapping_in", e, h, 1), ("albert.pooler", h, h, 1)]),
        Family::Bert => layers.push(("pooler.dense", h, h, 1)),
        Family::Electra if e != h => layers.push(("electra.embeddings_project", e, h, 1)),
        _ => {}
    }
    layers
}

/// The parameters a run trains: every one, or with LoRA the adapters (r × (in + out) per adapted
/// layer) and the head.
pub fn trainable_count(config: &BertConfig, lora: Option<&LoraConfig>) -> u64 {
    let Some(lora) = lora else { return parameter_count(config) };
    let (h, labels) = (config.hidden_size as u64, config.num_labels() as u64);
    let head = match config.model_type {
        Family::Bert | Family::Albert => h * labels + labels,
        // The two-layer heads (DistilBERT's pre_classifier too) are saved whole.
        _ => h * h + h + h * labels + labels,
    };
    adapter_count(config, Some(lora)).saturating_add(head)
}

/// LoRA's adapters: r × (in + out) for each adapted layer (0 without LoRA).
pub fn adapter_count(config: &BertConfig, lora: Option<&LoraConfig>) -> u64 {
    let Some(lora) = lora else { return 0 };
    let r = lora.r as u64;
    linear_layers(config)
        .into_iter()
        .filter(|(name, ..)| lora.target_modules.matches(name))
        .map(|(_, d_in, d_out, n)| n.saturating_mul(r).saturating_mul(d_in + d_out))
        .fold(0, u64::saturating_add)
}

/// Memory for one training step of `batch` sequences padded to `seq_len` tokens, fine-tuning every
/// weight or (`lora`) LoRA's adapters and the head.
pub fn estimate(config: &BertConfig, batch: usize, seq_len: usize, lora: Option<&LoraConfig>) -> MemoryEstimate {
    let parameters = parameter_count(config).saturating_add(adapter_count(config, lora));
    let trainable = trainable_count(config, lora);
    // In u128, saturating into u64 at the end: a batch or a length from a form can be anything,
    // and an absurd one must give an absurd (refused) estimate, not an overflow.
    let (b, s) = (batch as u128, seq_len as u128);
    let tokens = b * s;
    let h = config.hidden_size as u128;
    let i = config.intermediate_size as u128;
    let heads = config.num_attention_heads as u128;
    // What the forward pass keeps for the backward pass, per layer, as burn's autodiff keeps it: a
    // product keeps each factor only for the other factor's gradient, so a frozen linear layer
    // (LoRA) keeps no input, and a LayerNorm with frozen weights not its normalised output.
    // (`webtune bench --pad-to-length 128` prints this beside the memory measured.)
    let trains = |name: &str| lora.is_none_or(|l| l.target_modules.matches(name)) as u128;
    let [q, k, v, attention_out, up, down] = config.model_type.layer_linears();
    let full = lora.is_none() as u128;
    let per_token = h * (3 // Q, K and V, for the attention's two products
        + 2 // the masks of the dropouts after the attention's output and after the feed-forward
        + 2 // each LayerNorm's centred input
        + 2 * full // each LayerNorm's normalised output, for its weight's gradient
        + trains(q).max(trains(k)).max(trains(v)) // the layer's input, for Q's, K's and V's
        + trains(attention_out) // the context, for the attention output's
        + trains(up)) // the feed-forward's input
        + i * (1 // GELU's derivative
            + trains(down)); // GELU's output, for the feed-forward output's
    // The attention probabilities and the dropped probabilities (`softmax.rs` keeps no mask).
    let per_layer = tokens * per_token + 2 * b * heads * s * s;
    // With LoRA the embeddings are frozen and nothing before the first adapter is tracked.
    let embeddings = 4 * tokens * h * full;
    let activations = F32 as u128 * (config.num_hidden_layers as u128 * per_layer + embeddings);
    let largest = [config.vocab_size as u128 * h, b * heads * s * s, tokens * i, h * i]
        .into_iter()
        .max()
        .unwrap_or(0);
    let sat = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
    MemoryEstimate {
        parameters,
        trainable_parameters: trainable,
        weights_bytes: F32.saturating_mul(parameters),
        gradients_bytes: F32.saturating_mul(trainable),
        optimizer_bytes: (2 * F32).saturating_mul(trainable),
        activations_bytes: sat(activations),
        largest_buffer_bytes: sat(F32 as u128 * largest),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Refuses a run that cannot fit, with what to change.
pub fn check_fits(estimate: &MemoryEstimate, limits: &MemoryLimits, batch: usize) -> Result<()> {
    let advice = if batch > 1 {
        format!("use a smaller batch than {batch} or a smaller model")
    } else {
        "use a smaller model".to_string()
    };
    if let Some(max) = limits.max_buffer_bytes {
        if estimate.largest_buffer_bytes > max {
            return Err(Error::OutOfMemory(format!(
                "one tensor of this run needs {}, more than the device's largest buffer ({}); {advice}",
                mib(estimate.largest_buffer_bytes),
                mib(max)
            )));
        }
    }
    if let Some(total) = limits.total_bytes {
        if estimate.total_bytes() > total {
            return Err(Error::OutOfMemory(format!(
                "training needs about {} (weights {}, gradients {}, AdamW {}, activations {}), more than the {} available; {advice}",
                mib(estimate.total_bytes()),
                mib(estimate.weights_bytes),
                mib(estimate.gradients_bytes),
                mib(estimate.optimizer_bytes),
                mib(estimate.activations_bytes),
                mib(total)
            )));
        }
    }
    Ok(())
}

/// Refuses an evaluation batch that cannot fit. It keeps no gradients, so only its largest buffer
/// counts; its size is a setting of its own, and the validation split's longest pair may be longer
/// than any in training, so a run that trains can still fail here, after every epoch's steps.
pub fn check_eval_fits(config: &BertConfig, batch: usize, seq_len: usize, limits: &MemoryLimits) -> Result<()> {
    let e = estimate(config, batch, seq_len, None);
    match limits.max_buffer_bytes {
        Some(max) if e.largest_buffer_bytes > max => Err(Error::OutOfMemory(format!(
            "evaluation: one tensor of a batch of {batch} needs {}, more than the device's largest buffer ({}); \
             use a smaller evaluation batch than {batch}",
            mib(e.largest_buffer_bytes),
            mib(max)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bert_base() -> BertConfig {
        crate::bench::named_config("bert-base").unwrap()
    }

    #[test]
    fn bert_base_has_its_published_parameter_count() {
        // BertForSequenceClassification(bert-base-uncased, 2 labels): 109,483,778 parameters.
        assert_eq!(parameter_count(&bert_base().with_labels(&["0", "1"])), 109_483_778);
    }

    /// Every family's count equals the tensors transformers saved for its tiny model.
    #[cfg(feature = "trainer")]
    #[test]
    fn every_familys_count_is_its_checkpoints() {
        for family in ["bert", "distilbert", "roberta", "xlm-roberta", "electra", "albert"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("tiny-{family}"));
            let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
            let file = crate::model::weights::WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "m").unwrap();
            let saved: u64 = file.shapes().map(|(_, shape)| shape.iter().product::<usize>() as u64).sum();
            assert_eq!(parameter_count(&config), saved, "{family}");
        }
    }

    #[test]
    fn a_run_too_big_for_the_device_is_refused_with_advice() {
        let config = bert_base().with_labels(&["0", "1"]);
        let e = estimate(&config, 8, 128, None);
        assert_eq!(e.optimizer_bytes, 2 * e.weights_bytes);
        let gib = 1024 * 1024 * 1024;
        assert!(check_fits(&e, &MemoryLimits { max_buffer_bytes: Some(gib), total_bytes: Some(8 * gib) }, 8).is_ok());
        let msg = check_fits(&e, &MemoryLimits { max_buffer_bytes: None, total_bytes: Some(gib) }, 8)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("smaller batch than 8"), "{msg}");
        // The word embeddings alone (30522 × 768 × 4 bytes ≈ 90 MiB) exceed a 64 MiB buffer cap.
        let msg = check_fits(&e, &MemoryLimits { max_buffer_bytes: Some(64 << 20), total_bytes: None }, 8)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("largest buffer"), "{msg}");
    }

    /// LoRA's count equals the tensors an adapter file of the tiny models holds (each family's
    /// names, ALBERT's shared layers, all-linear's pooler and projections), and for bert-base with
    /// r = 8 on query and value it is the 296,450 peft's `print_trainable_parameters` prints.
    #[cfg(feature = "trainer")]
    #[test]
    fn loras_count_is_its_adapter_files() {
        use crate::model::lora_config::TargetModules;
        let mut c = LoraConfig::new(8, Family::Bert);
        assert_eq!(trainable_count(&bert_base().with_labels(&["0", "1"]), Some(&c)), 296_450);
        let device = burn::tensor::Device::flex();
        for family in ["bert", "distilbert", "roberta", "electra", "albert"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("tiny-{family}"));
            let config = BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json").unwrap();
            for targets in [TargetModules::default_for(config.model_type), TargetModules::AllLinear] {
                c = LoraConfig::new(2, config.model_type);
                c.target_modules = targets;
                let weights = crate::model::weights::WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "m").unwrap();
                let mut vars = crate::model::weights::Vars::from_file(weights, 0, 0.02, &device).with_lora(c.clone(), None);
                let model = crate::model::SequenceClassifier::load(&mut vars, &config, "config.json").unwrap();
                let adapter = pollster::block_on(model.export_with(crate::model::weights::Exporter::adapter(&c))).unwrap();
                let saved: u64 = adapter.iter().map(|(_, shape, _)| shape.iter().product::<usize>() as u64).sum();
                assert_eq!(trainable_count(&config, Some(&c)), saved, "{family} {:?}", c.target_modules);
            }
        }
        let e = estimate(&bert_base().with_labels(&["0", "1"]), 8, 128, Some(&LoraConfig::new(8, Family::Bert)));
        assert_eq!((e.trainable_parameters, e.gradients_bytes, e.optimizer_bytes), (296_450, 4 * 296_450, 8 * 296_450));
    }

    /// With LoRA a frozen linear layer keeps no input and a frozen LayerNorm no normalised output:
    /// on query and value, the context, the feed-forward's input and GELU's output (4h + i per token
    /// and layer) and the embeddings' activations are not kept; on every linear layer only the
    /// LayerNorms' outputs (2h) and the embeddings'. bert-base, batch 8, 128 tokens.
    #[test]
    fn lora_keeps_no_input_of_a_frozen_layer() {
        use crate::model::lora_config::TargetModules;
        let config = bert_base().with_labels(&["0", "1"]);
        let (tokens, h, i, layers) = (8 * 128u64, 768u64, 3072u64, 12u64);
        let full = estimate(&config, 8, 128, None).activations_bytes;
        let mut lora = LoraConfig::new(8, Family::Bert);
        let qv = estimate(&config, 8, 128, Some(&lora)).activations_bytes;
        assert_eq!(full - qv, 4 * (layers * tokens * (4 * h + i) + 4 * tokens * h));
        lora.target_modules = TargetModules::AllLinear;
        let all = estimate(&config, 8, 128, Some(&lora)).activations_bytes;
        assert_eq!(full - all, 4 * (layers * tokens * 2 * h + 4 * tokens * h));
        // What `webtune bench --model bert-base --lora-r 8 --pad-to-length 128` measured on the CPU:
        // 605 MB for the step beside 607 MB estimated (docs/benchmarks.md).
        assert_eq!(qv / 1_000_000, 603);
        // Issue 17's target: LoRA r = 8 on query and value needs at most 40% of the full fine-tune.
        let ratio = |e: MemoryEstimate| e.total_bytes() as f64;
        let share = ratio(estimate(&config, 8, 128, Some(&LoraConfig::new(8, Family::Bert)))) / ratio(estimate(&config, 8, 128, None));
        assert!(share <= 0.40, "{share}");
    }

    #[test]
    fn an_evaluation_batch_too_big_is_refused_on_its_own() {
        let config = bert_base().with_labels(&["0", "1"]);
        let limits = MemoryLimits { max_buffer_bytes: Some(128 << 20), total_bytes: Some(1 << 30) };
        // The total is training's concern: an evaluation keeps no gradients or moments.
        assert!(check_eval_fits(&config, 8, 128, &limits).is_ok());
        // 64 × 12 heads × 256² scores × 4 bytes = 192 MiB.
        let msg = check_eval_fits(&config, 64, 256, &limits).unwrap_err().to_string();
        assert!(msg.contains("evaluation: one tensor of a batch of 64 needs 192 MiB") && msg.contains("smaller evaluation batch"), "{msg}");
    }
}
