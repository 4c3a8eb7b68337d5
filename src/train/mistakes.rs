//! What an evaluation got wrong, for people to look at: the confusion matrix, and the validation
//! examples the model was most sure of and still wrong about. Plain data (the page's bundle shows
//! them without the trainer).

use serde::{Deserialize, Serialize};

use crate::data::Example;

/// How many mistakes an evaluation keeps, most confident first: five pages of the page's twenty.
/// All of them would be thousands on MNLI or QQP, carried in every evaluation's event and checkpoint.
pub const MISTAKES_KEPT: usize = 100;

/// One validation example the model got wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mistake {
    /// Its place in the validation split.
    pub index: usize,
    /// Its line in the TSV file (or row in the parquet file), as errors name it.
    pub line: usize,
    pub text_a: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_b: Option<String>,
    /// The true class id, and the predicted one.
    pub label: usize,
    pub predicted: usize,
    /// Every class's probability (softmax of the logits). A NaN (a model gone wrong) is written
    /// as JSON's null and read back as NaN: a checkpoint's history holds these.
    #[serde(deserialize_with = "null_as_nan")]
    pub probabilities: Vec<f32>,
}

fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    let values: Vec<Option<f32>> = Deserialize::deserialize(d)?;
    Ok(values.into_iter().map(|v| v.unwrap_or(f32::NAN)).collect())
}

/// `counts[true][predicted]`, scikit-learn's `confusion_matrix` layout, over `classes` classes.
/// (A run checks before its first step that the model has as many outputs as the task has labels,
/// so every id is in range.)
pub fn confusion(predicted: &[usize], labels: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut counts = vec![vec![0; classes]; classes];
    for (&p, &t) in predicted.iter().zip(labels) {
        if let Some(cell) = counts.get_mut(t).and_then(|row| row.get_mut(p)) {
            *cell += 1;
        }
    }
    counts
}

/// The wrong predictions, the most confident first (the predicted class's probability; ties in
/// split order), at most `keep` of them. `examples` are the split's rows, in order, or none where
/// the run has no texts (then each mistake's text is empty and its line 0).
pub fn most_confident_mistakes(
    predicted: &[usize],
    probabilities: &[Vec<f32>],
    labels: &[usize],
    examples: &[Example],
    keep: usize,
) -> Vec<Mistake> {
    let confidence = |i: usize| probabilities.get(i).and_then(|p| p.get(predicted[i]).copied()).unwrap_or(0.0);
    let mut wrong: Vec<usize> = (0..predicted.len().min(labels.len())).filter(|&i| predicted[i] != labels[i]).collect();
    // Stable, so equal confidences keep the split's order.
    wrong.sort_by(|&a, &b| confidence(b).total_cmp(&confidence(a)));
    wrong
        .into_iter()
        .take(keep)
        .map(|i| {
            let example = examples.get(i);
            Mistake {
                index: i,
                line: example.map_or(0, |e| e.line),
                text_a: example.map_or_else(String::new, |e| e.text_a.clone()),
                text_b: example.and_then(|e| e.text_b.clone()),
                label: labels[i],
                predicted: predicted[i],
                probabilities: probabilities.get(i).cloned().unwrap_or_default(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_sums_to_the_examples_and_its_diagonal_to_the_right_ones() {
        let labels = [0, 1, 1, 0, 1, 2, 2];
        let predicted = [0, 1, 0, 0, 2, 2, 1];
        let m = confusion(&predicted, &labels, 3);
        assert_eq!(m, vec![vec![2, 0, 0], vec![1, 1, 1], vec![0, 1, 1]]);
        assert_eq!(m.iter().flatten().sum::<usize>(), labels.len());
        let right = (0..3).map(|i| m[i][i]).sum::<usize>();
        assert_eq!(right, labels.iter().zip(&predicted).filter(|(a, b)| a == b).count());
    }

    #[test]
    fn mistakes_come_most_confident_first_with_their_text() {
        let labels = [0, 1, 1, 0, 1];
        let predicted = [0, 0, 0, 1, 0];
        let probabilities = vec![vec![0.9, 0.1], vec![0.6, 0.4], vec![0.95, 0.05], vec![0.3, 0.7], vec![0.6, 0.4]];
        let texts: Vec<Example> = (0..5)
            .map(|i| Example { line: i + 2, text_a: ["a", "b", "c", "d", "e"][i].into(), text_b: Some("z".into()), label: None })
            .collect();
        let m = most_confident_mistakes(&predicted, &probabilities, &labels, &texts, 10);
        // 2 (0.95), 3 (0.7), then 1 and 4 (0.6 each) in the split's order; 0 was right.
        assert_eq!(m.iter().map(|m| m.index).collect::<Vec<_>>(), vec![2, 3, 1, 4]);
        assert_eq!((m[0].line, m[0].text_a.as_str(), m[0].text_b.as_deref()), (4, "c", Some("z")));
        assert_eq!((m[0].label, m[0].predicted, m[0].probabilities.clone()), (1, 0, vec![0.95, 0.05]));
        assert_eq!(most_confident_mistakes(&predicted, &probabilities, &labels, &texts, 2).len(), 2);
        let untexted = most_confident_mistakes(&predicted, &probabilities, &labels, &[], 1);
        assert_eq!((untexted[0].index, untexted[0].line, untexted[0].text_a.as_str()), (2, 0, ""));
    }

    #[test]
    fn a_nan_probability_survives_a_checkpoints_json() {
        let m = Mistake { index: 0, line: 2, text_a: "a".into(), text_b: None, label: 1, predicted: 0, probabilities: vec![f32::NAN, 0.5] };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("[null,0.5]"), "{json}");
        let back: Mistake = serde_json::from_str(&json).unwrap();
        assert!(back.probabilities[0].is_nan() && back.probabilities[1] == 0.5);
    }
}
