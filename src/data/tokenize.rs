//! Text → token ids with the model's own tokenizer: `tokenizer.json` when the model has one, else
//! the BERT WordPiece pipeline built from `vocab.txt` (what transformers' BertTokenizerFast does).

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// Token ids of one example, before padding.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
}

pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    max_length: usize,
    source: String,
}

/// transformers writes `model_max_length` = 1e30 for "no limit"; anything above this is that.
const NO_LIMIT: f64 = 1e9;

impl TextTokenizer {
    /// From `tokenizer.json`; `tokenizer_config` (optional) supplies `model_max_length`, and
    /// `max_positions` (the model's `max_position_embeddings`) caps it.
    pub fn from_tokenizer_json(
        bytes: &[u8],
        path: &str,
        tokenizer_config: Option<&[u8]>,
        max_positions: usize,
    ) -> Result<Self> {
        let inner = Tokenizer::from_bytes(bytes).map_err(|e| Error::Tokenizer {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Self::finish(inner, path, tokenizer_config, max_positions)
    }

    /// From `vocab.txt` alone: BertNormalizer (lowercasing per `do_lower_case`, default true),
    /// BertPreTokenizer, WordPiece with `##` continuations, `[CLS] a [SEP] b [SEP]`.
    pub fn from_vocab_txt(
        bytes: &[u8],
        path: &str,
        tokenizer_config: Option<&[u8]>,
        max_positions: usize,
    ) -> Result<Self> {
        let vocab = WordPiece::read_bytes(bytes).map_err(|e| Error::Tokenizer {
            path: path.into(),
            reason: format!("cannot read the vocabulary: {e}"),
        })?;
        let id = |tok: &str| {
            vocab.get(tok).copied().ok_or_else(|| Error::Tokenizer {
                path: path.into(),
                reason: format!("the vocabulary has no `{tok}` token"),
            })
        };
        let (cls, sep) = (id("[CLS]")?, id("[SEP]")?);
        id("[UNK]")?;
        let lowercase = config_field(tokenizer_config, "do_lower_case")
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        let wordpiece = WordPiece::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(100)
            .build()
            .map_err(|e| Error::Tokenizer {
                path: path.into(),
                reason: e.to_string(),
            })?;
        let mut inner = Tokenizer::new(wordpiece);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)))
            .map_err(|e| Error::Tokenizer {
                path: path.into(),
                reason: e.to_string(),
            })?;
        inner.with_pre_tokenizer(Some(BertPreTokenizer));
        inner.with_post_processor(Some(BertProcessing::new(("[SEP]".into(), sep), ("[CLS]".into(), cls))));
        Self::finish(inner, path, tokenizer_config, max_positions)
    }

    fn finish(
        mut inner: Tokenizer,
        path: &str,
        tokenizer_config: Option<&[u8]>,
        max_positions: usize,
    ) -> Result<Self> {
        let model_max = config_field(tokenizer_config, "model_max_length")
            .and_then(|v| v.as_f64())
            .filter(|&m| m > 0.0 && m < NO_LIMIT)
            .map(|m| m as usize)
            .unwrap_or(max_positions);
        let max_length = model_max.min(max_positions);
        // The collator pads per batch; a tokenizer.json's own fixed padding or truncation
        // (all-MiniLM-L6-v2 ships Fixed(128)) would silently change the recipe.
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer {
                path: path.into(),
                reason: e.to_string(),
            })?;
        let pad_id = inner.token_to_id("[PAD]").unwrap_or(0);
        Ok(Self {
            inner,
            pad_id,
            max_length,
            source: path.into(),
        })
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    pub fn encode(&self, text_a: &str, text_b: Option<&str>) -> Result<Encoded> {
        let input: EncodeInput = match text_b {
            Some(b) => (text_a, b).into(),
            None => text_a.into(),
        };
        let enc = self.inner.encode(input, true).map_err(|e| Error::Tokenizer {
            path: self.source.clone(),
            reason: format!("cannot encode {text_a:?}: {e}"),
        })?;
        Ok(Encoded {
            input_ids: enc.get_ids().to_vec(),
            token_type_ids: enc.get_type_ids().to_vec(),
        })
    }
}

fn config_field(tokenizer_config: Option<&[u8]>, field: &str) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(tokenizer_config?).ok()?;
    value.get(field).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n##s\n.\n";

    #[test]
    fn vocab_txt_builds_bert_pairs() {
        let tok = TextTokenizer::from_vocab_txt(VOCAB.as_bytes(), "vocab.txt", None, 512).unwrap();
        let enc = tok.encode("Hello worlds", Some("world .")).unwrap();
        assert_eq!(enc.input_ids, vec![2, 4, 5, 6, 3, 5, 7, 3]);
        assert_eq!(enc.token_type_ids, vec![0, 0, 0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn truncates_longest_first_to_the_model_length() {
        let tok = TextTokenizer::from_vocab_txt(VOCAB.as_bytes(), "vocab.txt", None, 8).unwrap();
        let enc = tok.encode("hello hello hello hello hello", Some("world world")).unwrap();
        assert_eq!(enc.input_ids, vec![2, 4, 4, 4, 3, 5, 5, 3]);
    }

    #[test]
    fn bad_files_name_the_file() {
        let msg = TextTokenizer::from_vocab_txt(b"[PAD]\n", "m/vocab.txt", None, 8).err().unwrap().to_string();
        assert!(msg.contains("m/vocab.txt") && msg.contains("[CLS]"), "{msg}");
        let msg = TextTokenizer::from_tokenizer_json(b"{]", "m/tokenizer.json", None, 8).err().unwrap().to_string();
        assert!(msg.starts_with("m/tokenizer.json:"), "{msg}");
    }
}
