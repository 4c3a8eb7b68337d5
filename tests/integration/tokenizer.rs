//! Token ids identical to transformers' for every MRPC validation pair, for each kind of tokenizer
//! the families use: BERT's WordPiece (from tokenizer.json and from vocab.txt alone), RoBERTa's
//! byte-level BPE and ALBERT's SentencePiece Unigram (the tiny fixtures' tokenizer.json).

use crate::common::*;
use webtune::data::{Split, Task, TextTokenizer};

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn check(tok: &TextTokenizer, what: &str) {
    check_against(tok, "tokenizer_mrpc.json", what);
}

fn check_against(tok: &TextTokenizer, golden_name: &str, what: &str) {
    let g = golden(golden_name);
    let rows = Task::Mrpc.read_split(&glue("MRPC"), Split::Validation).unwrap();
    let expected = g["mrpc_validation"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    for (i, (row, exp)) in rows.iter().zip(expected).enumerate() {
        let enc = tok.encode(&row.text_a, row.text_b.as_deref()).unwrap();
        assert_eq!(enc.input_ids, ids(&exp["input_ids"]), "{what}: input_ids of validation row {i}");
        assert_eq!(enc.token_type_ids, ids(&exp["token_type_ids"]), "{what}: token_type_ids of row {i}");
    }
    let long = &g["long_pair"];
    let enc = tok.encode(long["a"].as_str().unwrap(), long["b"].as_str()).unwrap();
    assert_eq!(enc.input_ids, ids(&long["input_ids"]), "{what}: longest-first truncation");
    assert_eq!(enc.token_type_ids, ids(&long["token_type_ids"]));
}

#[test]
fn tokenizer_json_matches_transformers_on_all_mrpc_validation_pairs() {
    let dir = minilm_dir();
    let tc = std::fs::read(dir.join("tokenizer_config.json")).unwrap();
    let json = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let tok = TextTokenizer::from_tokenizer_json(&json, "tokenizer.json", Some(&tc), 512).unwrap();
    assert_eq!(tok.max_length(), 512);
    check(&tok, "tokenizer.json");
}

#[test]
fn vocab_txt_matches_transformers_on_all_mrpc_validation_pairs() {
    let dir = minilm_dir();
    let tc = std::fs::read(dir.join("tokenizer_config.json")).unwrap();
    let vocab = std::fs::read(dir.join("vocab.txt")).unwrap();
    let tok = TextTokenizer::from_vocab_txt(&vocab, "vocab.txt", Some(&tc), 512).unwrap();
    check(&tok, "vocab.txt");
}

/// The tiny fixture's own folder, read as the CLI reads any model folder (its config caps the
/// length: RoBERTa's positions less its offset).
fn fixture_tokenizer(family: &str) -> TextTokenizer {
    let files = webtune::pretrained::ModelFiles::from_dir(&root().join("tests/fixtures").join(format!("tiny-{family}"))).unwrap();
    files.tokenizer(&files.config().unwrap()).unwrap()
}

#[test]
fn byte_level_bpe_matches_transformers_on_all_mrpc_validation_pairs() {
    let tok = fixture_tokenizer("roberta");
    assert_eq!((tok.max_length(), tok.pad_id()), (64, 1), "RoBERTa: 66 positions less 2, <pad> is 1");
    check_against(&tok, "tokenizer_roberta.json", "byte-level BPE");
}

#[test]
fn sentencepiece_unigram_matches_transformers_on_all_mrpc_validation_pairs() {
    let tok = fixture_tokenizer("albert");
    assert_eq!((tok.max_length(), tok.pad_id()), (64, 0));
    check_against(&tok, "tokenizer_albert.json", "Unigram");
}
