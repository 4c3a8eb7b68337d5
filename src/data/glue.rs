//! The nine GLUE tasks, by run_glue's names: which columns hold the texts and the label in GLUE's
//! TSV release and in the Hub's `nyu-mll/glue` parquet files, what the labels are called, and which
//! metrics score a split (`train/metrics.rs`). A new task is one more `Task` variant here.

use super::label::Label;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Single sentences: grammatically acceptable (1) or not (0). Matthews correlation.
    Cola,
    /// Single sentences: positive (1) or negative (0) sentiment. Accuracy.
    Sst2,
    /// Sentence pairs: paraphrase (1) or not (0). Accuracy and F1.
    Mrpc,
    /// Sentence pairs: similarity from 0 to 5, a regression. Pearson and Spearman correlation.
    Stsb,
    /// Question pairs: duplicate (1) or not (0). Accuracy and F1.
    Qqp,
    /// Premise and hypothesis: entailment, neutral, contradiction. Accuracy on the matched and
    /// the mismatched validation sets.
    Mnli,
    /// Question and sentence: whether the sentence answers it. Accuracy.
    Qnli,
    /// Sentence pairs: entailment or not. Accuracy.
    Rte,
    /// Sentence pairs: entailment or not (Winograd schemas). Accuracy.
    Wnli,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    /// MNLI's matched validation set; every other task's only one.
    Validation,
    /// MNLI's second validation set (genres not in its training set).
    ValidationMismatched,
    /// MNLI's matched test set; labels unpublished in every task.
    Test,
}

/// One row of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text_a: String,
    pub text_b: Option<String>,
    /// `None` where the split has no labels (every test split).
    pub label: Option<Label>,
    /// Where it came from, for messages: its 1-based line in a TSV file, or row in a parquet file.
    pub line: usize,
}

/// Where a task's columns are.
struct Layout {
    /// TSV header names: the first text, the second (pair tasks), the label.
    tsv: (&'static str, Option<&'static str>, &'static str),
    /// CoLA's train and dev files have no header: (fields per line, text field, label field).
    headerless: Option<(usize, usize, usize)>,
    /// Whether the TSV's labels are names (`entailment`) rather than ids.
    named_labels: bool,
    /// The Hub's text columns (the label is `label` there, -1 in test splits); read by the
    /// trainer's parquet reader only (the page's own bundle has none).
    #[cfg_attr(not(feature = "trainer"), allow(dead_code))]
    hub: (&'static str, Option<&'static str>),
}

impl Task {
    /// All nine, in GLUE's order.
    pub const ALL: [Task; 9] =
        [Task::Cola, Task::Sst2, Task::Mrpc, Task::Stsb, Task::Qqp, Task::Mnli, Task::Qnli, Task::Rte, Task::Wnli];

    /// run_glue's name (`sst2`), case and dashes aside (`SST-2`).
    pub fn parse(name: &str) -> Result<Self> {
        let key = name.to_ascii_lowercase().replace(['-', '_'], "");
        Task::ALL.into_iter().find(|t| t.name() == key).ok_or_else(|| {
            let names: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
            Error::Invalid(format!("unknown task `{name}` (expected one of {})", names.join(", ")))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Task::Cola => "cola",
            Task::Sst2 => "sst2",
            Task::Mrpc => "mrpc",
            Task::Stsb => "stsb",
            Task::Qqp => "qqp",
            Task::Mnli => "mnli",
            Task::Qnli => "qnli",
            Task::Rte => "rte",
            Task::Wnli => "wnli",
        }
    }

    /// The folder name in GLUE's release (`glue/STS-B/`).
    pub fn dir_name(self) -> &'static str {
        match self {
            Task::Cola => "CoLA",
            Task::Sst2 => "SST-2",
            Task::Mrpc => "MRPC",
            Task::Stsb => "STS-B",
            Task::Qqp => "QQP",
            Task::Mnli => "MNLI",
            Task::Qnli => "QNLI",
            Task::Rte => "RTE",
            Task::Wnli => "WNLI",
        }
    }

    /// Label names in id order, as the Hub's `nyu-mll/glue` names them. STS-B's one output is
    /// transformers' `LABEL_0`.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Task::Cola => &["unacceptable", "acceptable"],
            Task::Sst2 => &["negative", "positive"],
            Task::Mrpc => &["not_equivalent", "equivalent"],
            Task::Stsb => &["LABEL_0"],
            Task::Qqp => &["not_duplicate", "duplicate"],
            Task::Mnli => &["entailment", "neutral", "contradiction"],
            Task::Qnli | Task::Rte => &["entailment", "not_entailment"],
            Task::Wnli => &["not_entailment", "entailment"],
        }
    }

    /// A score, not a class: one output and a mean squared error, as transformers trains a model
    /// whose config has `num_labels == 1`.
    pub fn is_regression(self) -> bool {
        self == Task::Stsb
    }

    pub fn is_pair(self) -> bool {
        !matches!(self, Task::Cola | Task::Sst2)
    }

    /// The validation sets a run is scored on: MNLI has two.
    pub fn validation_splits(self) -> &'static [Split] {
        match self {
            Task::Mnli => &[Split::Validation, Split::ValidationMismatched],
            _ => &[Split::Validation],
        }
    }

    fn layout(self) -> Layout {
        let (tsv, headerless, named_labels, hub) = match self {
            Task::Cola => (("sentence", None, "label"), Some((4, 3, 1)), false, ("sentence", None)),
            Task::Sst2 => (("sentence", None, "label"), None, false, ("sentence", None)),
            Task::Mrpc => (("#1 String", Some("#2 String"), "Quality"), None, false, ("sentence1", Some("sentence2"))),
            Task::Stsb => (("sentence1", Some("sentence2"), "score"), None, false, ("sentence1", Some("sentence2"))),
            Task::Qqp => (("question1", Some("question2"), "is_duplicate"), None, false, ("question1", Some("question2"))),
            Task::Mnli => (("sentence1", Some("sentence2"), "gold_label"), None, true, ("premise", Some("hypothesis"))),
            Task::Qnli => (("question", Some("sentence"), "label"), None, true, ("question", Some("sentence"))),
            Task::Rte => (("sentence1", Some("sentence2"), "label"), None, true, ("sentence1", Some("sentence2"))),
            Task::Wnli => (("sentence1", Some("sentence2"), "label"), None, false, ("sentence1", Some("sentence2"))),
        };
        Layout { tsv, headerless, named_labels, hub }
    }

    pub fn file_name(self, split: Split) -> &'static str {
        match (self, split) {
            (_, Split::Train) => "train.tsv",
            (Task::Mnli, Split::Validation) => "dev_matched.tsv",
            (Task::Mnli, Split::ValidationMismatched) => "dev_mismatched.tsv",
            (Task::Mnli, Split::Test) => "test_matched.tsv",
            (_, Split::Validation | Split::ValidationMismatched) => "dev.tsv",
            (_, Split::Test) => "test.tsv",
        }
    }

    /// How many examples GLUE publishes in `split` (the Hub's `nyu-mll/glue` has the same): what
    /// the page plans a run's steps with before it has downloaded the data. `tests/integration/data.rs` checks
    /// MRPC's and SST-2's against the real files.
    pub fn published_size(self, split: Split) -> usize {
        let (train, validation, test) = match self {
            Task::Cola => (8551, 1043, 1063),
            Task::Sst2 => (67349, 872, 1821),
            Task::Mrpc => (3668, 408, 1725),
            Task::Stsb => (5749, 1500, 1379),
            Task::Qqp => (363846, 40430, 390965),
            Task::Mnli => (392702, 9815, 9796),
            Task::Qnli => (104743, 5463, 5463),
            Task::Rte => (2490, 277, 3000),
            Task::Wnli => (635, 71, 146),
        };
        match split {
            Split::Train => train,
            Split::Validation => validation,
            Split::ValidationMismatched => 9832,
            Split::Test => test,
        }
    }

    /// The task's folder in the Hub's `nyu-mll/glue` dataset.
    pub fn hub_dir(self) -> &'static str {
        self.name()
    }

    /// A split's file in the Hub's `nyu-mll/glue` dataset, inside [`Task::hub_dir`].
    pub fn hub_file(self, split: Split) -> &'static str {
        match (self, split) {
            (_, Split::Train) => "train-00000-of-00001.parquet",
            (Task::Mnli, Split::Validation) => "validation_matched-00000-of-00001.parquet",
            (Task::Mnli, Split::ValidationMismatched) => "validation_mismatched-00000-of-00001.parquet",
            (Task::Mnli, Split::Test) => "test_matched-00000-of-00001.parquet",
            (_, Split::Validation | Split::ValidationMismatched) => "validation-00000-of-00001.parquet",
            (_, Split::Test) => "test-00000-of-00001.parquet",
        }
    }

    /// A label as GLUE's TSV files write it: an id, a name (`entailment`), or STS-B's score.
    fn parse_label(self, raw: &str, named: bool) -> std::result::Result<Label, String> {
        if self.is_regression() {
            return match raw.parse::<f32>() {
                Ok(s) if s.is_finite() => Ok(Label::Score(s)),
                _ => Err(format!("score `{raw}` is not a number")),
            };
        }
        let labels = self.labels();
        if let Some(id) = labels.iter().position(|l| *l == raw) {
            return Ok(Label::Class(id));
        }
        match raw.parse::<usize>() {
            Ok(id) if id < labels.len() => Ok(Label::Class(id)),
            _ if named => Err(format!("label `{raw}` is not one of {}", labels.join(", "))),
            _ => Err(format!("label `{raw}` is not one of 0..{}", labels.len())),
        }
    }

    /// Parses one of the Hub's `nyu-mll/glue` parquet files: the task's text columns (`sentence1`,
    /// `premise`, …) and `label`, where -1 means the split has no labels (a float for STS-B).
    /// Rows are numbered from 1 in errors.
    #[cfg(feature = "trainer")]
    pub fn parse_parquet(self, bytes: &[u8], path: &str) -> Result<Vec<Example>> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::Field;

        let bad = |row: usize, reason: String| Error::data(path, row, reason);
        let reader = SerializedFileReader::new(bytes::Bytes::copy_from_slice(bytes))
            .map_err(|e| bad(0, format!("not a readable parquet file: {e}")))?;
        // The parquet crate asserts, rather than checks, that column chunks lie inside the file.
        for (g, group) in reader.metadata().row_groups().iter().enumerate() {
            for (c, column) in group.columns().iter().enumerate() {
                let start = column.dictionary_page_offset().unwrap_or(column.data_page_offset());
                let len = column.compressed_size();
                let inside = start >= 0 && len >= 0 && (start as u64).saturating_add(len as u64) <= bytes.len() as u64;
                if !inside {
                    return Err(bad(
                        0,
                        format!("not a readable parquet file: column {c} of row group {g} lies outside the file"),
                    ));
                }
            }
        }
        let (a_name, b_name) = self.layout().hub;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let names: Vec<String> = schema.columns().iter().map(|c| c.name().to_string()).collect();
        for needed in [Some(a_name), b_name, Some("label")].into_iter().flatten() {
            if !names.iter().any(|n| n == needed) {
                return Err(bad(0, format!("has no `{needed}` column (columns: {names:?})")));
            }
        }
        let rows = reader.get_row_iter(None).map_err(|e| bad(0, format!("cannot read rows: {e}")))?;
        let mut out = Vec::new();
        for (i, row) in rows.enumerate() {
            let row_no = i + 1;
            let row = row.map_err(|e| bad(row_no, format!("cannot read the row: {e}")))?;
            let (mut a, mut b, mut label) = (None, None, None);
            for (name, field) in row.get_column_iter() {
                let text = || match field {
                    // As the TSV reader: trailing blanks (SST-2 has them) carry no meaning.
                    Field::Str(s) => Ok(s.trim_end().to_string()),
                    other => Err(bad(row_no, format!("`{name}` is {other:?}, expected text"))),
                };
                if name == a_name {
                    a = Some(text()?);
                } else if Some(name.as_str()) == b_name {
                    b = Some(text()?);
                } else if name == "label" {
                    label = self.parquet_label(field).map_err(|reason| bad(row_no, reason))?;
                }
            }
            let missing = |c: &str| bad(row_no, format!("`{c}` is null"));
            out.push(Example {
                text_a: a.ok_or_else(|| missing(a_name))?,
                text_b: match b_name {
                    Some(n) => Some(b.ok_or_else(|| missing(n))?),
                    None => None,
                },
                label,
                line: row_no,
            });
        }
        Ok(out)
    }

    /// A parquet `label` value: a class id or STS-B's score; -1 marks an unlabelled (test) row.
    #[cfg(feature = "trainer")]
    fn parquet_label(self, field: &parquet::record::Field) -> std::result::Result<Option<Label>, String> {
        use parquet::record::Field;
        if self.is_regression() {
            let score = match field {
                Field::Float(v) => *v as f64,
                Field::Double(v) => *v,
                other => return Err(format!("`label` is {other:?}, expected a score")),
            };
            return if score == -1.0 {
                Ok(None)
            } else if score.is_finite() {
                Ok(Some(Label::Score(score as f32)))
            } else {
                Err(format!("score `{score}` is not a number"))
            };
        }
        let value = match field {
            Field::Long(v) => *v,
            Field::Int(v) => *v as i64,
            Field::Short(v) => *v as i64,
            Field::Byte(v) => *v as i64,
            other => return Err(format!("`label` is {other:?}, expected an integer")),
        };
        match value {
            -1 => Ok(None),
            v if v >= 0 && (v as usize) < self.labels().len() => Ok(Some(Label::Class(v as usize))),
            v => Err(format!("label `{v}` is not one of 0..{}", self.labels().len())),
        }
    }

    /// Parses a GLUE TSV file. Quotes are literal text (GLUE's files are not CSV-quoted); the
    /// header decides which columns are read, except in CoLA's train and dev files, which have
    /// none. `path` only names the file in errors.
    pub fn parse_tsv(self, text: &str, path: &str) -> Result<Vec<Example>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let layout = self.layout();
        let mut lines = text.lines().enumerate().peekable();
        let (_, first) =
            *lines.peek().ok_or_else(|| Error::data(path, 1, "the file is empty (expected a header row)"))?;
        let first: Vec<&str> = first.split('\t').map(str::trim).collect();
        let (a_col, b_name, label_col) = layout.tsv;
        let named = |name: &str| first.iter().position(|h| *h == name);
        // (fields per line, first text, second text, label)
        let (fields, a, b, label) = match (named(a_col), layout.headerless) {
            (Some(a), _) => {
                lines.next();
                let b = match b_name {
                    Some(name) => Some(named(name).ok_or_else(|| {
                        Error::data(path, 1, format!("header {first:?} has no `{name}` column"))
                    })?),
                    None => None,
                };
                (first.len(), a, b, named(label_col))
            }
            (None, Some((fields, a, label))) => (fields, a, None, Some(label)),
            (None, None) => {
                return Err(Error::data(path, 1, format!("header {first:?} has no `{a_col}` column for {}", self.name())));
            }
        };
        let mut rows = Vec::new();
        for (i, line) in lines {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let row: Vec<&str> = line.split('\t').collect();
            if row.len() != fields {
                return Err(Error::data(
                    path,
                    line_no,
                    format!("expected {fields} tab-separated fields, found {}", row.len()),
                ));
            }
            let label = match label {
                Some(col) => Some(
                    self.parse_label(row[col].trim(), layout.named_labels)
                        .map_err(|reason| Error::data(path, line_no, reason))?,
                ),
                None => None,
            };
            rows.push(Example {
                text_a: row[a].trim_end().to_string(),
                text_b: b.map(|b| row[b].trim_end().to_string()),
                label,
                line: line_no,
            });
        }
        Ok(rows)
    }

    /// Reads a split from a GLUE folder on disk: GLUE's TSV release (`…/glue/MRPC/train.tsv`), or
    /// a folder of the Hub's parquet files (`…/glue/mrpc/train-00000-of-00001.parquet`).
    #[cfg(all(feature = "trainer", not(target_arch = "wasm32")))]
    pub fn read_split(self, dir: &std::path::Path, split: Split) -> Result<Vec<Example>> {
        let path = dir.join(self.file_name(split));
        let parquet = dir.join(self.hub_file(split));
        if !path.exists() && parquet.exists() {
            let bytes = std::fs::read(&parquet).map_err(|e| Error::io(parquet.display(), e))?;
            return self.parse_parquet(&bytes, &parquet.display().to_string());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
        self.parse_tsv(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MRPC: &str = "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n\
        1\t1\t2\tHe said \" hi .\tA \" quote\n0\t3\t4\tOne .\tTwo .\n";

    fn root() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
    }

    #[test]
    fn reads_pairs_with_literal_quotes() {
        let rows = Task::Mrpc.parse_tsv(MRPC, "dev.tsv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text_a, "He said \" hi .");
        assert_eq!(rows[0].text_b.as_deref(), Some("A \" quote"));
        assert_eq!(rows[0].label, Some(Label::Class(1)));
        assert_eq!(rows[1].label, Some(Label::Class(0)));
    }

    #[test]
    fn task_names_are_run_glues() {
        for task in Task::ALL {
            assert_eq!(Task::parse(task.name()).unwrap(), task);
            assert_eq!(Task::parse(task.dir_name()).unwrap(), task, "GLUE's folder names parse too");
        }
        let msg = Task::parse("squad").unwrap_err().to_string();
        assert!(msg.contains("`squad`") && msg.contains("cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli"), "{msg}");
    }

    #[test]
    fn malformed_rows_name_file_line_and_reason() {
        let short = MRPC.replace("0\t3\t4\tOne .\tTwo .", "0\t3\tOne .");
        let msg = Task::Mrpc.parse_tsv(&short, "train.tsv").unwrap_err().to_string();
        assert_eq!(msg, "train.tsv:3: expected 5 tab-separated fields, found 3");
        let bad_label = MRPC.replace("0\t3\t4", "x\t3\t4");
        let msg = Task::Mrpc.parse_tsv(&bad_label, "train.tsv").unwrap_err().to_string();
        assert_eq!(msg, "train.tsv:3: label `x` is not one of 0..2");
        let msg = Task::Sst2.parse_tsv("", "sst.tsv").unwrap_err().to_string();
        assert!(msg.starts_with("sst.tsv:1:"), "{msg}");
        let rte = "index\tsentence1\tsentence2\tlabel\n0\tA b.\tA.\tentails\n";
        let msg = Task::Rte.parse_tsv(rte, "RTE/dev.tsv").unwrap_err().to_string();
        assert_eq!(msg, "RTE/dev.tsv:2: label `entails` is not one of entailment, not_entailment");
        let sts = "index\tsentence1\tsentence2\tscore\n0\tA.\tB.\tfive\n";
        let msg = Task::Stsb.parse_tsv(sts, "STS-B/dev.tsv").unwrap_err().to_string();
        assert_eq!(msg, "STS-B/dev.tsv:2: score `five` is not a number");
        let cola = "gj04\t1\tGood.\n";
        let msg = Task::Cola.parse_tsv(cola, "CoLA/train.tsv").unwrap_err().to_string();
        assert_eq!(msg, "CoLA/train.tsv:1: expected 4 tab-separated fields, found 3");
        let qqp = "id\tqid1\tqid2\tquestion1\tis_duplicate\n";
        let msg = Task::Qqp.parse_tsv(qqp, "QQP/dev.tsv").unwrap_err().to_string();
        assert!(msg.starts_with("QQP/dev.tsv:1: header") && msg.contains("no `question2` column"), "{msg}");
    }

    /// Each task's own TSV layout (tests/fixtures/glue, written by scripts/glue_fixtures.py in
    /// GLUE's columns): texts, labels as the task writes them, unlabelled test files.
    #[test]
    fn every_tasks_tsv_layout_reads() {
        let dir = |task: Task| root().join("tests/fixtures/glue").join(task.dir_name());
        let cola = Task::Cola.read_split(&dir(Task::Cola), Split::Train).unwrap();
        assert_eq!(cola.len(), 32);
        assert_eq!((cola[0].text_a.as_str(), cola[0].label), ("Our neighbour drew a map yesterday.", Some(Label::Class(1))));
        assert_eq!((cola[1].text_b.as_ref(), cola[1].label, cola[1].line), (None, Some(Label::Class(0)), 2));
        let sts = Task::Stsb.read_split(&dir(Task::Stsb), Split::Validation).unwrap();
        assert!(matches!(sts[0].label, Some(Label::Score(s)) if (0.0..=5.0).contains(&s)), "{:?}", sts[0]);
        let mnli = Task::Mnli.read_split(&dir(Task::Mnli), Split::ValidationMismatched).unwrap();
        assert_eq!(mnli[2].label, Some(Label::Class(2)), "contradiction is id 2");
        assert!(mnli[0].text_b.as_deref().unwrap().starts_with("Someone"));
        let qnli = Task::Qnli.read_split(&dir(Task::Qnli), Split::Train).unwrap();
        assert_eq!((qnli[0].label, qnli[1].label), (Some(Label::Class(0)), Some(Label::Class(1))));
        for task in Task::ALL.into_iter().filter(|t| !matches!(t, Task::Mrpc | Task::Sst2)) {
            let train = task.read_split(&dir(task), Split::Train).unwrap();
            assert_eq!(train.len(), 32, "{task:?}");
            assert!(train.iter().all(|e| e.label.is_some() && e.text_b.is_some() == task.is_pair()), "{task:?}");
            for split in task.validation_splits() {
                assert_eq!(task.read_split(&dir(task), *split).unwrap().len(), 12, "{task:?} {split:?}");
            }
            let test = task.read_split(&dir(task), Split::Test).unwrap();
            assert!(test.len() == 4 && test.iter().all(|e| e.label.is_none()), "{task:?}");
        }
    }

    fn fixture(path: &str) -> (Vec<u8>, String) {
        let p = root().join("tests/fixtures/glue-parquet").join(path);
        (std::fs::read(&p).unwrap(), p.display().to_string())
    }

    #[test]
    fn hub_parquet_files_read_as_the_same_rows_as_the_tsv() {
        let glue = root().join("../shared/data/glue");
        let fixtures = root().join("tests/fixtures/glue");
        let mut cases = vec![
            (Task::Mrpc, glue.join("MRPC"), Split::Train),
            (Task::Mrpc, glue.join("MRPC"), Split::Validation),
            (Task::Sst2, glue.join("SST-2"), Split::Train),
        ];
        for task in Task::ALL.into_iter().filter(|t| !matches!(t, Task::Mrpc | Task::Sst2)) {
            for split in [Split::Train].iter().chain(task.validation_splits()).chain([Split::Test].iter()) {
                cases.push((task, fixtures.join(task.dir_name()), *split));
            }
        }
        for (task, dir, split) in cases {
            let (bytes, name) = fixture(&format!("{}/{}", task.hub_dir(), task.hub_file(split)));
            let rows = task.parse_parquet(&bytes, &name).unwrap();
            let tsv = task.read_split(&dir, split).unwrap();
            assert!(!rows.is_empty());
            for (p, t) in rows.iter().zip(&tsv) {
                assert_eq!((&p.text_a, &p.text_b, p.label), (&t.text_a, &t.text_b, t.label), "{task:?} {split:?}");
            }
        }
        let (bytes, name) = fixture("sst2/test-00000-of-00001.parquet");
        assert!(Task::Sst2.parse_parquet(&bytes, &name).unwrap().iter().all(|r| r.label.is_none()));
    }

    #[test]
    fn a_wrong_or_broken_parquet_file_is_named() {
        let (bytes, name) = fixture("sst2/train-00000-of-00001.parquet");
        let msg = Task::Mrpc.parse_parquet(&bytes, &name).unwrap_err().to_string();
        assert!(msg.contains("no `sentence1` column"), "{msg}");
        let msg = Task::Sst2.parse_parquet(&bytes[..bytes.len() / 2], "cut.parquet").unwrap_err().to_string();
        assert!(msg.starts_with("cut.parquet:"), "{msg}");
        // STS-B's scores are floats: a class-id column is not one.
        let (bytes, name) = fixture("rte/train-00000-of-00001.parquet");
        let (stsb, _) = fixture("stsb/train-00000-of-00001.parquet");
        let msg = Task::Rte.parse_parquet(&stsb, &name).unwrap_err().to_string();
        assert!(msg.contains("expected an integer"), "{msg}");
        let msg = Task::Stsb.parse_parquet(&bytes, &name).unwrap_err().to_string();
        assert!(msg.contains("expected a score"), "{msg}");
    }

    #[test]
    fn sst2_test_split_has_no_labels() {
        let rows = Task::Sst2.parse_tsv("index\tsentence\n0\tgood film .\n", "test.tsv").unwrap();
        assert_eq!(rows[0].label, None);
        assert_eq!(rows[0].text_b, None);
    }
}
