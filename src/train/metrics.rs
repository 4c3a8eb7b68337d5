//! The scores of an evaluation, as `evaluate.load("glue", task)` computes them and by its names:
//! Matthews correlation (CoLA), Pearson and Spearman correlation (STS-B), accuracy and F1 of the
//! positive class (MRPC, QQP), accuracy (the rest). `tests/goldens/glue_metrics.json`, written by
//! `scripts/glue_metrics.py` with the `evaluate` package, checks every formula here.

use serde::{Deserialize, Serialize};

use crate::data::{Labels, Task};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matthews_correlation: Option<f64>,
    /// NaN (written as null) where it is undefined, as scipy's: predictions all alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pearson: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spearmanr: Option<f64>,
    pub examples: usize,
}

impl Metrics {
    /// `task`'s metrics of `predictions` against `references` (the same kind and length).
    pub fn compute(task: Task, predictions: &Labels, references: &Labels) -> Result<Self> {
        let mut m = Metrics {
            accuracy: None,
            f1: None,
            matthews_correlation: None,
            pearson: None,
            spearmanr: None,
            examples: references.len(),
        };
        if predictions.len() != references.len() {
            return Err(Error::Invalid(format!(
                "{} predictions for {} labels",
                predictions.len(),
                references.len()
            )));
        }
        match (predictions, references) {
            (Labels::Scores(p), Labels::Scores(r)) if task.is_regression() => {
                m.pearson = Some(pearson(p.iter().map(|&x| x as f64), r.iter().map(|&x| x as f64)));
                m.spearmanr = Some(pearson(ranks(p).into_iter(), ranks(r).into_iter()));
            }
            (Labels::Classes(p), Labels::Classes(r)) if !task.is_regression() => match task {
                Task::Cola => m.matthews_correlation = Some(matthews(p, r, task.labels().len())),
                Task::Mrpc | Task::Qqp => {
                    m.accuracy = Some(accuracy(p, r));
                    m.f1 = Some(f1(p, r));
                }
                _ => m.accuracy = Some(accuracy(p, r)),
            },
            _ => {
                return Err(Error::Invalid(format!(
                    "task {} is scored on {}, not on these labels",
                    task.name(),
                    if task.is_regression() { "scores" } else { "class ids" }
                )));
            }
        }
        Ok(m)
    }

    /// The metrics present, by `evaluate`'s names, in its order.
    pub fn scores(&self) -> Vec<(&'static str, f64)> {
        [
            ("matthews_correlation", self.matthews_correlation),
            ("pearson", self.pearson),
            ("spearmanr", self.spearmanr),
            ("accuracy", self.accuracy),
            ("f1", self.f1),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v)))
        .collect()
    }
}

fn accuracy(p: &[usize], r: &[usize]) -> f64 {
    if r.is_empty() {
        return 0.0;
    }
    p.iter().zip(r).filter(|(p, r)| p == r).count() as f64 / r.len() as f64
}

/// F1 of class 1, sklearn's `f1_score` (0 where it has no true positive).
fn f1(p: &[usize], r: &[usize]) -> f64 {
    let count = |f: fn(usize, usize) -> bool| p.iter().zip(r).filter(|&(&p, &r)| f(p, r)).count() as f64;
    let tp = count(|p, r| p == 1 && r == 1);
    let fp = count(|p, r| p == 1 && r != 1);
    let fn_ = count(|p, r| p != 1 && r == 1);
    if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) }
}

/// sklearn's `matthews_corrcoef` (its multiclass form, which is the binary one for two classes):
/// 0 where a side has a single class.
fn matthews(p: &[usize], r: &[usize], classes: usize) -> f64 {
    let mut predicted = vec![0f64; classes];
    let mut truth = vec![0f64; classes];
    let mut correct = 0f64;
    for (&p, &r) in p.iter().zip(r) {
        predicted[p.min(classes - 1)] += 1.0;
        truth[r.min(classes - 1)] += 1.0;
        correct += f64::from(p == r);
    }
    let n = r.len() as f64;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let cov_tp = correct * n - dot(&truth, &predicted);
    let cov_pp = n * n - dot(&predicted, &predicted);
    let cov_tt = n * n - dot(&truth, &truth);
    if cov_pp * cov_tt == 0.0 { 0.0 } else { cov_tp / (cov_tt * cov_pp).sqrt() }
}

/// Pearson's r, as scipy's `pearsonr`: NaN where one side is constant.
fn pearson(x: impl Iterator<Item = f64> + Clone, y: impl Iterator<Item = f64> + Clone) -> f64 {
    let n = x.clone().count() as f64;
    let (mx, my) = (x.clone().sum::<f64>() / n, y.clone().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
}

/// Ranks from 1, ties given their mean rank (scipy's `rankdata`, method "average"): Spearman's
/// correlation is Pearson's of these.
fn ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold one value: ranks start+1 ..= end, averaged.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_f1_of_the_positive_class() {
        let m = Metrics::compute(Task::Mrpc, &Labels::Classes(vec![1, 1, 0, 0, 1]), &Labels::Classes(vec![1, 0, 0, 1, 1]))
            .unwrap();
        assert_eq!(m.accuracy, Some(0.6));
        // tp 2, fp 1, fn 1 → 2·2 / (4 + 1 + 1)
        assert!((m.f1.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        let sst2 = Metrics::compute(Task::Sst2, &Labels::Classes(vec![1]), &Labels::Classes(vec![1])).unwrap();
        assert_eq!(sst2.scores(), vec![("accuracy", 1.0)]);
        let none = Metrics::compute(Task::Mrpc, &Labels::Classes(vec![0, 0]), &Labels::Classes(vec![1, 0])).unwrap();
        assert_eq!(none.f1, Some(0.0));
    }

    #[test]
    fn ties_share_their_mean_rank() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn wrong_kinds_of_labels_are_refused() {
        let msg = Metrics::compute(Task::Stsb, &Labels::Classes(vec![1]), &Labels::Classes(vec![1])).unwrap_err();
        assert!(msg.to_string().contains("scores"), "{msg}");
        let msg = Metrics::compute(Task::Cola, &Labels::Classes(vec![1]), &Labels::Classes(vec![1, 0])).unwrap_err();
        assert!(msg.to_string().contains("1 predictions for 2 labels"), "{msg}");
    }

    /// Every task's metrics against `evaluate.load("glue", task)` on the same predictions
    /// (`scripts/glue_metrics.py`): ordinary cases, ties, constant predictions, a single class.
    #[test]
    fn equal_evaluates_glue_metric() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/goldens/glue_metrics.json");
        let text = std::fs::read_to_string(path).unwrap();
        let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert!(cases.len() >= 20, "{} cases", cases.len());
        let mut seen = std::collections::BTreeSet::new();
        for case in cases {
            let task = Task::parse(case["task"].as_str().unwrap()).unwrap();
            seen.insert(task.name());
            let column = |key: &str| -> Labels {
                let v = case[key].as_array().unwrap();
                if task.is_regression() {
                    Labels::Scores(v.iter().map(|x| x.as_f64().unwrap() as f32).collect())
                } else {
                    Labels::Classes(v.iter().map(|x| x.as_u64().unwrap() as usize).collect())
                }
            };
            let m = Metrics::compute(task, &column("predictions"), &column("references")).unwrap();
            let expected = case["expected"].as_object().unwrap();
            let ours: std::collections::BTreeMap<&str, f64> = m.scores().into_iter().collect();
            assert_eq!(ours.len(), expected.len(), "{}: {ours:?} vs {expected:?}", case["name"]);
            for (name, want) in expected {
                let got = ours[name.as_str()];
                match want.as_f64() {
                    Some(want) => assert!((got - want).abs() < 1e-6, "{} {name}: {got} vs {want}", case["name"]),
                    None => assert!(got.is_nan(), "{} {name}: {got}, evaluate gives NaN", case["name"]),
                }
            }
        }
        assert_eq!(seen.len(), 9, "{seen:?}");
    }
}
