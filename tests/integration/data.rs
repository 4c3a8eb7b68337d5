//! The GLUE readers on the real files in ../shared/data/glue.

use crate::common::glue;
use webtune::data::{Label, Split, Task};

#[test]
fn mrpc_splits_have_the_published_sizes() {
    let train = Task::Mrpc.read_split(&glue("MRPC"), Split::Train).unwrap();
    assert_eq!(train.len(), 3668);
    assert!(train[0].text_a.starts_with("Amrozi accused his brother , whom he called \" the witness \""));
    assert_eq!(train[0].label, Some(Label::Class(1)));
    let positive = train.iter().filter(|e| e.label == Some(Label::Class(1))).count() as f64 / train.len() as f64;
    assert!((positive - 0.674).abs() < 0.001, "{positive}");
    assert_eq!(Task::Mrpc.read_split(&glue("MRPC"), Split::Validation).unwrap().len(), 408);
    let test = Task::Mrpc.read_split(&glue("MRPC"), Split::Test).unwrap();
    assert_eq!(test.len(), 1725);
    assert!(test.iter().all(|e| e.label.is_some() && e.text_b.is_some()));
}

#[test]
fn sst2_splits_have_the_published_sizes() {
    let train = Task::Sst2.read_split(&glue("SST-2"), Split::Train).unwrap();
    assert_eq!(train.len(), 67349);
    assert!(train.iter().all(|e| e.text_b.is_none() && e.label.is_some()));
    assert_eq!(Task::Sst2.read_split(&glue("SST-2"), Split::Validation).unwrap().len(), 872);
    let test = Task::Sst2.read_split(&glue("SST-2"), Split::Test).unwrap();
    assert_eq!(test.len(), 1821);
    assert!(test.iter().all(|e| e.label.is_none()));
}

#[test]
fn a_missing_file_is_named() {
    let err = Task::Mrpc.read_split(&glue("nope"), Split::Train).unwrap_err().to_string();
    assert!(err.contains("nope/train.tsv"), "{err}");
}

#[test]
fn published_sizes_are_the_real_files_sizes() {
    // The page plans a run's steps from these before it downloads anything.
    for (task, dir) in [(Task::Mrpc, "MRPC"), (Task::Sst2, "SST-2")] {
        for split in [Split::Train, Split::Validation, Split::Test] {
            let rows = task.read_split(&glue(dir), split).unwrap().len();
            assert_eq!(rows, task.published_size(split), "{dir} {split:?}");
        }
    }
}
