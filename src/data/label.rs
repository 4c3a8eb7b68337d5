//! What a task asks of a row: a class (most GLUE tasks) or a score (STS-B, a regression), as
//! transformers tells them apart (`num_labels == 1` is a regression). One row's answer is a
//! [`Label`]; a split's answers, or a model's predictions for it, are [`Labels`].

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Label {
    /// A class id, in the order of the task's label names.
    Class(usize),
    /// A similarity score (STS-B: 0 to 5).
    Score(f32),
}

/// A column of labels, all of one kind: what the loss and the metrics consume.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    Classes(Vec<usize>),
    Scores(Vec<f32>),
}

impl Labels {
    pub fn len(&self) -> usize {
        match self {
            Labels::Classes(v) => v.len(),
            Labels::Scores(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels at `idx`, in that order (a batch of a shuffled epoch).
    pub fn select(&self, idx: &[usize]) -> Labels {
        match self {
            Labels::Classes(v) => Labels::Classes(idx.iter().map(|&i| v[i]).collect()),
            Labels::Scores(v) => Labels::Scores(idx.iter().map(|&i| v[i]).collect()),
        }
    }
}
