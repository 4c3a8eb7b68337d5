//! The training loop on the tiny BERT with a learnable synthetic task: it learns, it is
//! reproducible with a seed, and its events and reports are consistent.

use burn::tensor::Device;
use crate::common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use webtune::data::{Encoded, Labels, Task};
use webtune::model::BertConfig;
use webtune::model::weights::{Vars, WeightFile};
use webtune::pretrained::NamedBytes;
use webtune::model::SequenceClassifier;
use std::future::Future;
use std::pin::Pin;

use webtune::train::{
    Checkpoint, Control, Event, Flow, Precision, Resume, SaveStrategy, TaskData, TrainingArgs, train,
    train_with_control,
};

/// Label 1 when token 7 occurs in the first segment: something a 2-layer BERT learns quickly.
fn synthetic(n: usize, seed: u64) -> (Vec<Encoded>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut examples = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let len_a = rng.random_range(3..10);
        let len_b = rng.random_range(2..8);
        let mut a: Vec<u32> = (0..len_a).map(|_| rng.random_range(10..99)).collect();
        let label = i % 2;
        if label == 1 {
            let at = rng.random_range(0..len_a);
            a[at] = 7;
        }
        let b: Vec<u32> = (0..len_b).map(|_| rng.random_range(10..99)).collect();
        let mut ids = vec![2];
        ids.extend(&a);
        ids.push(3);
        let first = ids.len();
        ids.extend(&b);
        ids.push(3);
        let types = (0..ids.len()).map(|j| u32::from(j >= first)).collect();
        examples.push(Encoded { input_ids: ids, token_type_ids: types });
        labels.push(label);
    }
    (examples, labels)
}

fn tiny_config() -> BertConfig {
    let dir = root().join("tests/fixtures/tiny-bert");
    BertConfig::from_json(&std::fs::read(dir.join("config.json")).unwrap(), "config.json")
        .unwrap()
        .with_labels(Task::Mrpc.labels())
}

fn tiny_model(device: &Device) -> SequenceClassifier {
    tiny_model_for(Task::Mrpc, device)
}

fn tiny_model_for(task: Task, device: &Device) -> SequenceClassifier {
    let dir = root().join("tests/fixtures/tiny-bert");
    let config = tiny_config().with_labels(task.labels());
    let ckpt = WeightFile::from_bytes(&std::fs::read(dir.join("model.safetensors")).unwrap(), "tiny").unwrap();
    let mut vars = Vars::from_file(ckpt, 0, 0.02, device);
    SequenceClassifier::load(&mut vars, &config, "config.json").unwrap()
}

fn data() -> TaskData {
    let (train, train_labels) = synthetic(240, 1);
    let (validation, validation_labels) = synthetic(64, 2);
    TaskData {
        task: Task::Mrpc,
        train,
        train_labels: Labels::Classes(train_labels),
        validation,
        validation_labels: Labels::Classes(validation_labels),
        mismatched: None,
        pad_id: 0,
        validation_examples: Vec::new(),
    }
}

/// The backends' random generators (dropout) are process-wide: runs in parallel test threads
/// would draw from each other's streams. One run at a time, as in a real process.
fn one_run() -> std::sync::MutexGuard<'static, ()> {
    static ONE_RUN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_RUN.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(device: &Device, args: &TrainingArgs) -> Vec<Event> {
    let _guard = one_run();
    let device = device.clone().autodiff();
    let mut events = Vec::new();
    let mut sink = |e: &Event| events.push(e.clone());
    pollster::block_on(train(tiny_model(&device), &data(), args, &device, vec![], &mut sink)).unwrap();
    events
}

fn losses(events: &[Event]) -> Vec<f32> {
    events.iter().filter_map(|e| if let Event::Log { loss, .. } = e { Some(*loss) } else { None }).collect()
}

fn args() -> TrainingArgs {
    TrainingArgs { learning_rate: 2e-3, num_train_epochs: 3, logging_steps: 10, ..TrainingArgs::default() }
}

#[test]
fn learns_and_reports_every_step_and_epoch() {
    let events = run(&cpu(), &TrainingArgs { num_train_epochs: 5, ..args() });
    let steps: Vec<usize> = events.iter().filter_map(|e| if let Event::Step { step, .. } = e { Some(*step) } else { None }).collect();
    assert_eq!(steps, (1..=150).collect::<Vec<_>>());
    let evals: Vec<_> = events.iter().filter_map(|e| if let Event::Evaluated { step, metrics, .. } = e { Some((*step, metrics.clone())) } else { None }).collect();
    assert_eq!(evals.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![30, 60, 90, 120, 150]);
    let l = losses(&events);
    assert_eq!(l.len(), 15);
    assert!(l.iter().all(|x| x.is_finite()));
    assert!(l[14] < l[0] * 0.5, "the loss should fall: {l:?}");
    let last = &evals[4].1;
    assert!(last.accuracy >= Some(0.9), "accuracy {:?}", last.accuracy);
    assert_eq!(last.examples, 64);
    // What the first evaluation got wrong agrees with its accuracy: the matrix sums to the examples,
    // its diagonal to the right answers, and every mistake is one, most confident first.
    let (metrics, confusion, mistakes) = events
        .iter()
        .find_map(|e| match e {
            Event::Evaluated { metrics, confusion, mistakes, .. } => Some((metrics, confusion.clone().unwrap(), mistakes)),
            _ => None,
        })
        .unwrap();
    assert_eq!(confusion.iter().flatten().sum::<usize>(), 64);
    let right = confusion[0][0] + confusion[1][1];
    assert_eq!(Some(right as f64 / 64.0), metrics.accuracy, "{confusion:?}");
    assert_eq!(mistakes.len(), 64 - right);
    for (i, m) in mistakes.iter().enumerate() {
        let argmax = if m.probabilities[1] > m.probabilities[0] { 1 } else { 0 };
        assert!(m.predicted == argmax && m.predicted != m.label, "{m:?}");
        assert!((m.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{m:?}");
        if i > 0 {
            assert!(mistakes[i - 1].probabilities[mistakes[i - 1].predicted] >= m.probabilities[m.predicted]);
        }
    }
}

/// STS-B's head: one output trained on a score with the mean squared error (the score here: how
/// many times token 7 occurs in the first segment, 0 to 2).
#[test]
fn a_regression_head_learns_a_score() {
    let scored = |n, seed| {
        let (examples, _) = synthetic(n, seed);
        let scores = examples.iter().map(|e| e.input_ids.iter().filter(|&&t| t == 7).count().min(2) as f32).collect();
        (examples, Labels::Scores(scores))
    };
    let ((train_x, train_y), (valid_x, valid_y)) = (scored(240, 1), scored(64, 2));
    let data = TaskData {
        task: Task::Stsb,
        train: train_x,
        train_labels: train_y,
        validation: valid_x,
        validation_labels: valid_y,
        mismatched: None,
        pad_id: 0,
        validation_examples: Vec::new(),
    };
    let _guard = one_run();
    let device = cpu().autodiff();
    let mut events = Vec::new();
    let mut sink = |e: &Event| events.push(e.clone());
    let args = TrainingArgs { num_train_epochs: 4, ..args() };
    pollster::block_on(train(tiny_model_for(Task::Stsb, &device), &data, &args, &device, vec![], &mut sink)).unwrap();
    let l = losses(&events);
    assert!(l.last().unwrap() < &(l[0] * 0.3), "the squared error should fall: {l:?}");
    let last = events.iter().rev().find_map(|e| if let Event::Evaluated { metrics, .. } = e { Some(metrics.clone()) } else { None }).unwrap();
    assert_eq!((last.accuracy, last.examples), (None, 64));
    for e in &events {
        if let Event::Evaluated { confusion, mistakes, .. } = e {
            assert!(confusion.is_none() && mistakes.is_empty(), "a regression has no confusion matrix and no mistakes");
        }
    }
    assert!(last.pearson.unwrap() > 0.8 && last.spearmanr.unwrap() > 0.7, "{last:?}");
}

#[test]
fn the_same_seed_gives_the_same_numbers() {
    let short = TrainingArgs { max_steps: Some(12), logging_steps: 4, ..args() };
    let a = run(&cpu(), &short);
    let b = run(&cpu(), &short);
    assert_eq!(losses(&a), losses(&b));
    let c = run(&cpu(), &TrainingArgs { seed: 7, ..short.clone() });
    assert_ne!(losses(&a), losses(&c));
    // max_steps stops mid-epoch and still evaluates at the end.
    assert!(matches!(a.last(), Some(Event::Evaluated { step: 12, .. })));
}

/// `group_by_length` changes which examples share a batch (the losses differ from the shuffled
/// run's) and the model learns as well.
#[test]
fn length_grouped_batches_learn_too() {
    let short = TrainingArgs { max_steps: Some(12), logging_steps: 4, ..args() };
    let grouped_short = TrainingArgs { group_by_length: true, ..short.clone() };
    assert_ne!(losses(&run(&cpu(), &short)), losses(&run(&cpu(), &grouped_short)));
    let events = run(&cpu(), &TrainingArgs { num_train_epochs: 5, group_by_length: true, ..args() });
    let l = losses(&events);
    assert!(l[14] < l[0] * 0.5, "the loss should fall: {l:?}");
    let accuracy = events.iter().rev().find_map(|e| if let Event::Evaluated { metrics, .. } = e { metrics.accuracy } else { None });
    assert!(accuracy >= Some(0.9), "accuracy {accuracy:?}");
}

/// Mixed precision (`--bf16`, `--fp16` with its loss scale): the passes really run in 16 bits
/// (the losses are not f32's numbers), they stay close to f32's, and the task is learnt as well.
#[test]
fn mixed_precision_learns_as_well_as_f32() {
    let whole = TrainingArgs { num_train_epochs: 5, ..args() };
    let reference = losses(&run(&cpu(), &whole));
    for precision in [Precision::Bf16, Precision::F16] {
        let events = run(&cpu(), &TrainingArgs { precision, ..whole.clone() });
        let l = losses(&events);
        assert_ne!(l, reference, "{precision:?}");
        assert!((l[0] - reference[0]).abs() < 0.05, "{precision:?}: first logged loss {} vs f32's {}", l[0], reference[0]);
        assert!(l[14] < l[0] * 0.5, "{precision:?}: the loss should fall: {l:?}");
        let accuracy = events.iter().rev().find_map(|e| if let Event::Evaluated { metrics, .. } = e { metrics.accuracy } else { None });
        assert!(accuracy >= Some(0.9), "{precision:?}: accuracy {accuracy:?}");
    }
}

#[test]
fn gradient_accumulation_and_clipping_run_on_wgpu() {
    let args = TrainingArgs {
        max_steps: Some(6),
        logging_steps: 3,
        gradient_accumulation_steps: 2,
        max_grad_norm: Some(1.0),
        ..args()
    };
    let events = run(&wgpu(), &args);
    let l = losses(&events);
    assert_eq!(l.len(), 2);
    assert!(l.iter().all(|x| x.is_finite()));
    // each step consumed two batches of 8
    let samples = events.iter().filter_map(|e| if let Event::Step { samples, .. } = e { Some(*samples) } else { None }).last();
    assert_eq!(samples, Some(6 * 16));
}

/// Stops the run once `after` steps are done (never, with `usize::MAX`); keeps its checkpoints.
struct StopAfter {
    after: usize,
    seen: usize,
    saved: Vec<Checkpoint>,
}

impl Control for StopAfter {
    fn after_step(&mut self) -> Pin<Box<dyn Future<Output = Flow> + '_>> {
        self.seen += 1;
        let flow = if self.seen >= self.after { Flow::Stop } else { Flow::Continue };
        Box::pin(std::future::ready(flow))
    }

    fn save(&mut self, checkpoint: Checkpoint) -> Pin<Box<dyn Future<Output = webtune::Result<()>> + '_>> {
        self.saved.push(checkpoint);
        Box::pin(std::future::ready(Ok(())))
    }
}

fn file<'a>(checkpoint: &'a Checkpoint, name: &str) -> NamedBytes {
    let (_, bytes) = checkpoint.files.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} missing"));
    NamedBytes { name: name.into(), bytes: bytes.clone() }
}

#[test]
fn a_stopped_run_returns_its_model_evaluated_and_resumes_from_its_checkpoint() {
    let _guard = one_run();
    let device = Device::flex().autodiff();
    let args = TrainingArgs { save_strategy: SaveStrategy::Steps(4), ..args() };
    let run = |control: &mut StopAfter, model, resume| {
        let mut events = Vec::new();
        let mut sink = |e: &Event| events.push(e.clone());
        let (_, report) =
            pollster::block_on(train_with_control(model, &data(), &args, &device, vec![], &mut sink, control, resume))
                .unwrap();
        (events, report)
    };

    let mut stopper = StopAfter { after: 6, seen: 0, saved: Vec::new() };
    let (events, report) = run(&mut stopper, tiny_model(&device), None);
    assert!(report.stopped);
    assert_eq!(report.steps, 6);
    assert_eq!(report.evaluations.len(), 1, "the stopped model is scored");
    let steps = events.iter().filter(|e| matches!(e, Event::Step { .. })).count();
    assert_eq!(steps, 6);
    assert!(matches!(events.last(), Some(Event::Evaluated { step: 6, .. })));
    let saved: Vec<usize> = stopper.saved.iter().map(|c| c.step).collect();
    assert_eq!(saved, vec![4, 6], "every 4 steps, and on stop");

    // Resume from the stop's checkpoint: the rest of the run is the uninterrupted run's.
    let mut whole = StopAfter { after: usize::MAX, seen: 0, saved: Vec::new() };
    let (whole_events, whole_report) = run(&mut whole, tiny_model(&device), None);
    let from = &stopper.saved[0];
    let config = tiny_config();
    let weights = WeightFile::from_bytes(&file(from, "model.safetensors").bytes, "model.safetensors").unwrap();
    let model = SequenceClassifier::load(&mut Vars::strict(weights, &device), &config, "config.json").unwrap();
    let resume = Resume::load(
        &config,
        &file(from, "trainer_state.json"),
        &file(from, "exp_avg.safetensors"),
        &file(from, "exp_avg_sq.safetensors"),
        &device,
    )
    .unwrap();
    let mut rest = StopAfter { after: usize::MAX, seen: 0, saved: Vec::new() };
    let (resumed_events, resumed_report) = run(&mut rest, model, Some(resume));
    assert_eq!(losses(&resumed_events), losses(&whole_events));
    assert_eq!(resumed_report.steps, whole_report.steps);
    assert_eq!(resumed_report.evaluations, whole_report.evaluations);
    assert!(matches!(resumed_events[0], Event::Started { resumed_from_step: Some(4), .. }));
}
