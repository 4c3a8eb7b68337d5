//! The fuzz targets' inputs as ordinary tests (scripts/fuzz runs the fuzzer itself): every seed in
//! fuzz/seeds/ is a valid file and must be read; every input in fuzz/corpus/ and every past finding
//! in fuzz/regressions/ must be read or refused with an error, never a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use burn::tensor::Device;
use crate::common::root;
use webtune::data::{Task, TextTokenizer};
use webtune::model::BertConfig;
use webtune::model::weights::{Init, Vars, WeightFile};

/// What each target does with an input, as in fuzz/fuzz_targets/; `Err` is a refusal.
fn read(target: &str, data: &[u8]) -> Result<(), String> {
    let e = |e: webtune::Error| e.to_string();
    match target {
        "safetensors" => {
            let file = WeightFile::from_bytes(data, "model.safetensors").map_err(e)?;
            let shapes: Vec<(String, Vec<usize>)> = file.shapes().map(|(n, s)| (n.to_string(), s.to_vec())).collect();
            let mut vars = Vars::strict(file, &Device::flex());
            for (name, shape) in &shapes {
                vars.host(name, shape, Init::Zeros).map_err(e)?;
            }
            Ok(())
        }
        "config" => {
            let config = BertConfig::from_json(data, "config.json").map_err(e)?;
            config.activation("config.json").map_err(e)?;
            let _ = config.with_labels(&["no", "yes"]).to_pretrained_json(Some(data));
            Ok(())
        }
        "tokenizer" => {
            let (&which, file) = data.split_first().ok_or("empty")?;
            let t = match which % 3 {
                0 => TextTokenizer::from_tokenizer_json(file, "tokenizer.json", None, 64),
                1 => TextTokenizer::from_vocab_txt(file, "vocab.txt", None, 64),
                _ => TextTokenizer::from_vocab_txt(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n", "vocab.txt", Some(file), 64),
            }
            .map_err(e)?;
            t.encode("The cat sat on the mat .", Some("A cat was sitting .")).map_err(e)?;
            Ok(())
        }
        "glue_tsv" => {
            let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
            any_task(|task| task.parse_tsv(text, "train.tsv").map(drop)).map_err(e)
        }
        "glue_parquet" => any_task(|task| task.parse_parquet(data, "x.parquet").map(drop)).map_err(e),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// Read as every task's layout (as the fuzz targets do): `Ok` when one of them reads it, else the
/// first task's refusal.
fn any_task(read: impl Fn(Task) -> webtune::Result<()>) -> webtune::Result<()> {
    let mut refusal = None;
    for task in Task::ALL {
        match read(task) {
            Ok(()) => return Ok(()),
            Err(err) => refusal = refusal.or(Some(err)),
        }
    }
    Err(refusal.expect("nine tasks"))
}

const TARGETS: [&str; 5] = ["safetensors", "config", "tokenizer", "glue_tsv", "glue_parquet"];

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = root().join("fuzz").join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_seed_is_read() {
    for target in TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target} is empty: run scripts/fuzz_seeds.py");
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            if let Err(err) = read(target, &data) {
                panic!("{}: a valid seed was refused: {err}", seed.display());
            }
        }
    }
}

#[test]
fn corpus_and_past_findings_never_panic() {
    let mut count = 0;
    for target in TARGETS {
        for input in inputs("corpus", target).into_iter().chain(inputs("regressions", target)) {
            let data = std::fs::read(&input).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| read(target, &data)));
            assert!(outcome.is_ok(), "{}: the {target} reader panicked", input.display());
            if let Ok(Err(message)) = outcome {
                assert!(!message.is_empty(), "{}: an error without words", input.display());
            }
            count += 1;
        }
    }
    eprintln!("{count} fuzz inputs read without a panic");
}

/// The fuzzer's findings, each now a refusal that says what is wrong.
#[test]
fn past_findings_are_named_errors() {
    let cases = [
        // vocab_size 99888888888888222: the memory estimate overflowed. The file also names
        // `model_type` twice, which is refused first now that the family is read from it; the
        // size itself is `config::tests::a_size_too_large_to_allocate_is_named`.
        ("config", "huge-vocab-size", "duplicate field `model_type`"),
        // A TemplateProcessing naming `[CLS]`, which its special_tokens do not define: tokenizers
        // accepted the file and panicked on the first encode.
        ("tokenizer", "template-undefined-special-token", "special token `[CLS]`"),
        // Invalid UTF-8 inside the decoder: tokenizers' decoder helper panicked (`expect("Helper")`).
        ("tokenizer", "decoder-invalid-utf8", "not valid JSON"),
        // A column chunk with a negative offset: the parquet crate asserted on it.
        ("glue_parquet", "negative-column-offset", "lies outside the file"),
    ];
    for (target, name, expected) in cases {
        let path = root().join("fuzz/regressions").join(target).join(name);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let err = read(target, &data).expect_err(name);
        assert!(err.contains(expected), "{name}: {err}");
    }
}
