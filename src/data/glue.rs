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
    /// Where it came from, for messages: its 1-based line in a TSV file, or row in a parquet file.
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

    /// How many examples GLUE publishes in `split` (the Hub's `nyu-mll/glue` has the same): what
    /// the page plans a run's steps with before it has downloaded the data. `tests/data.rs` checks
    /// them against the real files.
    pub fn published_size(self, split: Split) -> usize {
        match (self, split) {
            (Task::Mrpc, Split::Train) => 3668,
            (Task::Mrpc, Split::Validation) => 408,
            (Task::Mrpc, Split::Test) => 1725,
            (Task::Sst2, Split::Train) => 67349,
            (Task::Sst2, Split::Validation) => 872,
            (Task::Sst2, Split::Test) => 1821,
        }
    }

    /// The task's folder in the Hub's `nyu-mll/glue` dataset.
    pub fn hub_dir(self) -> &'static str {
        match self {
            Task::Mrpc => "mrpc",
            Task::Sst2 => "sst2",
        }
    }

    /// A split's file in the Hub's `nyu-mll/glue` dataset, inside [`Task::hub_dir`].
    pub fn hub_file(self, split: Split) -> &'static str {
        match split {
            Split::Train => "train-00000-of-00001.parquet",
            Split::Validation => "validation-00000-of-00001.parquet",
            Split::Test => "test-00000-of-00001.parquet",
        }
    }

    /// Parses one of the Hub's `nyu-mll/glue` parquet files: columns `sentence1`, `sentence2`
    /// (or `sentence`) and `label`, where -1 means the split has no labels. Rows are numbered from
    /// 1 in errors.
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
        let (a_name, b_name) = match self {
            Task::Mrpc => ("sentence1", Some("sentence2")),
            Task::Sst2 => ("sentence", None),
        };
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
                    let value = match field {
                        Field::Long(v) => *v,
                        Field::Int(v) => *v as i64,
                        Field::Short(v) => *v as i64,
                        Field::Byte(v) => *v as i64,
                        other => return Err(bad(row_no, format!("`label` is {other:?}, expected an integer"))),
                    };
                    label = match value {
                        -1 => None,
                        v if v >= 0 && (v as usize) < self.labels().len() => Some(v as usize),
                        v => return Err(bad(row_no, format!("label `{v}` is not one of 0..{}", self.labels().len()))),
                    };
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

    fn fixture(path: &str) -> (Vec<u8>, String) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/glue-parquet").join(path);
        (std::fs::read(&p).unwrap(), p.display().to_string())
    }

    #[test]
    fn hub_parquet_files_read_as_the_same_rows_as_the_tsv() {
        let glue = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/glue");
        for (task, dir, split) in [
            (Task::Mrpc, "MRPC", Split::Train),
            (Task::Mrpc, "MRPC", Split::Validation),
            (Task::Sst2, "SST-2", Split::Train),
        ] {
            let (bytes, name) = fixture(&format!("{}/{}", task.hub_dir(), task.hub_file(split)));
            let rows = task.parse_parquet(&bytes, &name).unwrap();
            let tsv = task.read_split(&glue.join(dir), split).unwrap();
            assert!(!rows.is_empty());
            for (p, t) in rows.iter().zip(&tsv) {
                assert_eq!((&p.text_a, &p.text_b, p.label), (&t.text_a, &t.text_b, t.label));
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
    }

    #[test]
    fn sst2_test_split_has_no_labels() {
        let rows = Task::Sst2.parse_tsv("index\tsentence\n0\tgood film .\n", "test.tsv").unwrap();
        assert_eq!(rows[0].label, None);
        assert_eq!(rows[0].text_b, None);
    }
}
