//! Token ids identical to transformers' for every MRPC validation pair, from tokenizer.json and
//! from vocab.txt alone.

mod common;

use common::*;
use webtune::data::{Split, Task, TextTokenizer};

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn check(tok: &TextTokenizer, what: &str) {
    let g = golden("tokenizer_mrpc.json");
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
