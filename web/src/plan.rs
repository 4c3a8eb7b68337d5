//! Before Train: which model to start from, how many bytes the run will download and about how long
//! it will take on this device. The presets a class picks from, the run's steps from GLUE's
//! published sizes, and a time from the speeds measured here (a benchmark, "Prepare for offline", a
//! finished run). Plain Rust, unit-tested natively; the page's `page/plan.rs` asks the browser for the
//! sizes and keeps the speeds.

use serde::{Deserialize, Serialize};
use webtune::data::{Split, Task};

use crate::protocol::RunRequest;

/// A model a class can start from, with what it costs to download.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    /// Its name in a teacher's link: `?preset=tiny`.
    pub key: &'static str,
    /// Its Hub repository.
    pub model: &'static str,
    pub title: &'static str,
    /// About what the page downloads of it (weights, tokenizer, config), in bytes; the plan line
    /// asks the server for the real sizes.
    pub bytes: u64,
    /// The encoder's shape, to scale a speed measured here on another preset.
    pub layers: u64,
    pub hidden: u64,
    pub intermediate: u64,
}

/// The course's model, a real small BERT (the one the tests train), and the smallest BERT Google
/// published.
pub const PRESETS: [Preset; 3] = [
    Preset {
        key: "bert-base",
        model: "bert-base-uncased",
        title: "BERT base, uncased (the course's model)",
        // model.safetensors 440,449,768 + tokenizer.json 466,062 + the two configs
        bytes: 440_916_448,
        layers: 12,
        hidden: 768,
        intermediate: 3072,
    },
    Preset {
        key: "minilm",
        model: "sentence-transformers/all-MiniLM-L6-v2",
        title: "all-MiniLM-L6-v2 (6 layers, fast)",
        // model.safetensors 90,868,376 + tokenizer.json 466,247 + the two configs
        bytes: 91_335_585,
        layers: 6,
        hidden: 384,
        intermediate: 1536,
    },
    Preset {
        key: "tiny",
        model: "google/bert_uncased_L-2_H-128_A-2",
        title: "BERT tiny (2 layers, for slow machines)",
        // 4,385,920 f32 parameters with the safetensors header + vocab.txt 231,508
        bytes: 17_790_000,
        layers: 2,
        hidden: 128,
        intermediate: 512,
    },
];

impl Preset {
    pub fn find(key: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.key == key.trim())
    }

    /// The preset whose model the form names.
    pub fn of_model(model: &str) -> Option<&'static Preset> {
        PRESETS.iter().find(|p| p.model == model.trim())
    }

    /// A training token's multiply-adds through the encoder's matrices, times 6 (2 forward, 4
    /// backward): between two presets, the ratio of their step times where compute dominates.
    fn flops_per_token(&self) -> f64 {
        let (h, i) = (self.hidden as f64, self.intermediate as f64);
        6.0 * self.layers as f64 * (4.0 * h * h + 2.0 * h * i)
    }

    /// The keys, for messages.
    pub fn keys() -> String {
        PRESETS.iter().map(|p| p.key).collect::<Vec<_>>().join(", ")
    }
}

/// The optimizer steps of `request`'s run and the training examples they read, where the dataset
/// is GLUE's task split as published (`max_train_samples` of it, when set).
pub fn steps(request: &RunRequest) -> Option<(usize, usize)> {
    let task = Task::parse(&request.task).ok()?;
    let examples = task
        .published_size(Split::Train)
        .min(request.max_train_samples.unwrap_or(usize::MAX));
    let args = request.training_args();
    let steps = args.total_steps(examples);
    let samples = match args.max_steps {
        Some(_) => steps * args.global_batch_size(),
        None => examples * args.num_train_epochs,
    };
    Some((steps, samples))
}

/// A training speed measured on this device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// The model as the form names it.
    pub model: String,
    pub samples_per_s: f64,
}

/// Keeps the latest speed of `model`.
pub fn record(speeds: &mut Vec<Speed>, model: &str, samples_per_s: f64) {
    if !(samples_per_s.is_finite() && samples_per_s > 0.0) {
        return;
    }
    speeds.retain(|s| s.model != model);
    speeds.push(Speed { model: model.to_string(), samples_per_s });
}

/// About how long a run takes here.
#[derive(Debug, Clone, PartialEq)]
pub enum Estimate {
    /// From this model's own speed on this device.
    Measured { seconds: f64 },
    /// From another preset's speed on this device, scaled by the compute of a token: rough, since
    /// small models spend much of a step on fixed costs.
    Scaled { seconds: f64, from: String },
    /// Nothing measured here that applies.
    Unknown,
}

impl Estimate {
    pub fn seconds(&self) -> Option<f64> {
        match self {
            Estimate::Measured { seconds } | Estimate::Scaled { seconds, .. } => Some(*seconds),
            Estimate::Unknown => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Estimate::Measured { .. } => "measured",
            Estimate::Scaled { .. } => "scaled",
            Estimate::Unknown => "unknown",
        }
    }
}

/// The time of `samples` training samples of `model` from the speeds measured here: its own, else
/// the nearest preset's (in compute per token) scaled to it.
pub fn estimate(model: &str, samples: usize, speeds: &[Speed]) -> Estimate {
    let model = model.trim();
    if let Some(s) = speeds.iter().find(|s| s.model == model) {
        return Estimate::Measured { seconds: samples as f64 / s.samples_per_s };
    }
    let Some(target) = Preset::of_model(model) else { return Estimate::Unknown };
    let nearest = speeds
        .iter()
        .filter_map(|s| Preset::of_model(&s.model).map(|p| (p, s)))
        .min_by(|(a, _), (b, _)| {
            let distance = |p: &Preset| (p.flops_per_token() / target.flops_per_token()).ln().abs();
            distance(a).total_cmp(&distance(b))
        });
    match nearest {
        Some((from, speed)) => Estimate::Scaled {
            seconds: samples as f64 / speed.samples_per_s * target.flops_per_token() / from.flops_per_token(),
            from: from.model.to_string(),
        },
        None => Estimate::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Query;

    const PAGE: &str = "http://127.0.0.1:8080/index.html";

    #[test]
    fn a_course_run_has_the_course_steps() {
        // 3 epochs of 3668 MRPC pairs in batches of 8: the 1377 steps of the course.
        let course = Query::parse([], PAGE).unwrap().request;
        assert_eq!(steps(&course), Some((1377, 3 * 3668)));
        let short = Query::parse([("max_train_samples", "100"), ("epochs", "2")], PAGE).unwrap().request;
        assert_eq!(steps(&short), Some((26, 200)));
        let capped = Query::parse([("max_steps", "4")], PAGE).unwrap().request;
        assert_eq!(steps(&capped), Some((4, 32)));
        let sst2 = Query::parse([("task", "sst2"), ("epochs", "1")], PAGE).unwrap().request;
        assert_eq!(steps(&sst2), Some((8419, 67349)));
    }

    #[test]
    fn a_time_comes_from_what_was_measured_here() {
        let minilm = PRESETS[1].model;
        assert_eq!(estimate(minilm, 800, &[]), Estimate::Unknown);
        let mut speeds = Vec::new();
        record(&mut speeds, minilm, 4.0);
        record(&mut speeds, minilm, 8.0);
        record(&mut speeds, "x", f64::NAN);
        assert_eq!(speeds.len(), 1, "the latest speed of a model, and no nonsense");
        assert_eq!(estimate(minilm, 800, &speeds), Estimate::Measured { seconds: 100.0 });
        // bert-base computes about 8× MiniLM's per token.
        let Estimate::Scaled { seconds, from } = estimate("bert-base-uncased", 800, &speeds) else { panic!() };
        assert_eq!(from, minilm);
        assert!((seconds / 100.0 - 8.0).abs() < 0.5, "{seconds}");
        assert_eq!(estimate("someone/else", 800, &speeds), Estimate::Unknown, "no shape to scale by");
        // The nearest measured preset is the one scaled from.
        record(&mut speeds, "google/bert_uncased_L-2_H-128_A-2", 100.0);
        let Estimate::Scaled { from, .. } = estimate("bert-base-uncased", 800, &speeds) else { panic!() };
        assert_eq!(from, minilm);
    }

    #[test]
    fn a_preset_link_names_its_model() {
        let q = Query::parse([("preset", "tiny")], PAGE).unwrap();
        assert_eq!(q.request.model, crate::protocol::Source::Hub(PRESETS[2].model.into()));
        assert_eq!(Preset::of_model(PRESETS[2].model).map(|p| p.key), Some("tiny"));
        let e = Query::parse([("preset", "huge")], PAGE).unwrap_err();
        assert!(e.contains("`preset`") && e.contains("huge") && e.contains("bert-base, minilm, tiny"), "{e}");
        // An explicit model wins over a preset, in either order.
        let both = Query::parse([("model", "/m"), ("preset", "tiny")], PAGE).unwrap();
        assert_eq!(both.request.model, crate::protocol::Source::Url("http://127.0.0.1:8080/m".into()));
    }
}
