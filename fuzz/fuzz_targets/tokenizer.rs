//! tokenizer.json and vocab.txt: the first byte picks which (and the tokenizer_config.json
//! fallback), the rest is the file; a loaded tokenizer encodes a pair.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webtune::data::TextTokenizer;

fuzz_target!(|data: &[u8]| {
    let Some((&which, file)) = data.split_first() else { return };
    let loaded = match which % 3 {
        0 => TextTokenizer::from_tokenizer_json(file, "tokenizer.json", None, 64),
        1 => TextTokenizer::from_vocab_txt(file, "vocab.txt", None, 64),
        _ => TextTokenizer::from_vocab_txt(b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n", "vocab.txt", Some(file), 64),
    };
    if let Ok(t) = loaded {
        let _ = t.encode("The cat sat on the mat .", Some("A cat was sitting ."));
        let _ = t.encode(&String::from_utf8_lossy(file), None);
    }
});
