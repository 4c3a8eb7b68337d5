//! GLUE tasks: which columns hold the text and the label, what the labels are called, and how a
//! split is scored. A new task is one more `Task` variant here.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Sentence pairs: paraphrase (1) or not (0). Scored by accuracy and F1.
    Mrpc,
    /// Single sentences: positive (1) or negative (0) sentiment. Scored by accuracy.
    Sst2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

/// One row of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub text_a: String,
    pub text_b: Option<String>,
    /// `None` where the split has no labels (SST-2's test split).
    pub label: Option<usize>,
    /// Where it came from, for messages: its 1-based line in the TSV file.
    pub line: usize,
}

impl Task {
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "mrpc" => Ok(Task::Mrpc),
            "sst2" => Ok(Task::Sst2),
            _ => Err(Error::Invalid(format!("unknown task `{name}` (expected mrpc or sst2)"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Task::Mrpc => "mrpc",
            Task::Sst2 => "sst2",
        }
    }

    /// The folder name under `glue/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Task::Mrpc => "MRPC",
            Task::Sst2 => "SST-2",
        }
    }

    /// Label names in id order, as the Hugging Face `glue` dataset names them.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Task::Mrpc => &["not_equivalent", "equivalent"],
            Task::Sst2 => &["negative", "positive"],
        }
    }

    pub fn is_pair(self) -> bool {
        matches!(self, Task::Mrpc)
    }

    /// Whether the task reports F1 (of the positive class) besides accuracy.
    pub fn has_f1(self) -> bool {
        matches!(self, Task::Mrpc)
    }

    pub fn file_name(self, split: Split) -> &'static str {
        match split {
            Split::Train => "train.tsv",
            Split::Validation => "dev.tsv",
            Split::Test => "test.tsv",
        }
    }

    /// Parses a GLUE TSV file. Quotes are literal text (GLUE's files are not CSV-quoted); the
    /// header decides which columns are read. `path` only names the file in errors.
    pub fn parse_tsv(self, text: &str, path: &str) -> Result<Vec<Example>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text.lines().enumerate();
        let (_, header) = lines
            .next()
            .ok_or_else(|| Error::data(path, 1, "the file is empty (expected a header row)"))?;
        let header: Vec<&str> = header.split('\t').map(str::trim).collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (a, b, label) = match self {
            Task::Mrpc => (column("#1 String"), column("#2 String"), column("Quality")),
            Task::Sst2 => (column("sentence"), None, column("label")),
        };
        let a = a.ok_or_else(|| {
            Error::data(path, 1, format!("header {header:?} has no text column for {}", self.name()))
        })?;
        if self.is_pair() && b.is_none() {
            return Err(Error::data(path, 1, format!("header {header:?} has no `#2 String` column")));
        }
        let mut rows = Vec::new();
        for (i, line) in lines {
            let line_no = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() != header.len() {
                return Err(Error::data(
                    path,
                    line_no,
                    format!("expected {} tab-separated fields, found {}", header.len(), fields.len()),
                ));
            }
            let label = match label {
                Some(col) => {
                    let raw = fields[col].trim();
                    match raw.parse::<usize>() {
                        Ok(l) if l < self.labels().len() => Some(l),
                        _ => {
                            return Err(Error::data(
                                path,
                                line_no,
                                format!("label `{raw}` is not one of 0..{}", self.labels().len()),
                            ));
                        }
                    }
                }
                None => None,
            };
            rows.push(Example {
                text_a: fields[a].trim_end().to_string(),
                text_b: b.map(|b| fields[b].trim_end().to_string()),
                label,
                line: line_no,
            });
        }
        Ok(rows)
    }

    /// Reads a split from a GLUE folder on disk (`…/glue/MRPC`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_split(self, dir: &std::path::Path, split: Split) -> Result<Vec<Example>> {
        let path = dir.join(self.file_name(split));
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
        self.parse_tsv(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MRPC: &str = "\u{feff}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n\
        1\t1\t2\tHe said \" hi .\tA \" quote\n0\t3\t4\tOne .\tTwo .\n";

    #[test]
    fn reads_pairs_with_literal_quotes() {
        let rows = Task::Mrpc.parse_tsv(MRPC, "dev.tsv").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text_a, "He said \" hi .");
        assert_eq!(rows[0].text_b.as_deref(), Some("A \" quote"));
        assert_eq!(rows[0].label, Some(1));
        assert_eq!(rows[1].label, Some(0));
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
    }

    #[test]
    fn sst2_test_split_has_no_labels() {
        let rows = Task::Sst2.parse_tsv("index\tsentence\n0\tgood film .\n", "test.tsv").unwrap();
        assert_eq!(rows[0].label, None);
        assert_eq!(rows[0].text_b, None);
    }
}
