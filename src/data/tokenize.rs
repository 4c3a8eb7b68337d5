//! Text → token ids with the model's own tokenizer: `tokenizer.json` when the model has one, else
//! the BERT WordPiece pipeline built from `vocab.txt` (what transformers' BertTokenizerFast does).

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};
use crate::predict::Token;

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
    /// Whether the model reads the segments tokenizer.json assigns; else every token is segment 0.
    token_types: bool,
}

/// transformers' tokenizer classes whose `model_input_names` leave `token_type_ids` out (5.x):
/// their models read every token as segment 0, whatever tokenizer.json's template assigns
/// (ALBERT's gives the second sentence segment 1).
const WITHOUT_TOKEN_TYPES: [&str; 4] = ["AlbertTokenizer", "DistilBertTokenizer", "RobertaTokenizer", "XLMRobertaTokenizer"];

/// Whether transformers hands the model `token_type_ids` from this tokenizer: as
/// tokenizer_config.json's `model_input_names` says, else as its `tokenizer_class` (or, where it
/// names none, `default_class`, the model type's) does.
pub fn gives_token_types(tokenizer_config: Option<&[u8]>, default_class: &str) -> bool {
    if let Some(serde_json::Value::Array(names)) = config_field(tokenizer_config, "model_input_names") {
        return names.iter().any(|n| n.as_str() == Some("token_type_ids"));
    }
    let class = config_field(tokenizer_config, "tokenizer_class");
    let class = class.as_ref().and_then(|c| c.as_str()).unwrap_or(default_class);
    !WITHOUT_TOKEN_TYPES.contains(&class.strip_suffix("Fast").unwrap_or(class))
}

/// transformers writes `model_max_length` = 1e30 for "no limit"; anything above this is that.
const NO_LIMIT: f64 = 1e9;

impl TextTokenizer {
    /// From `tokenizer.json`; `tokenizer_config` (optional) supplies `model_max_length`, and
    /// `max_positions` (the model's positions, less RoBERTa's offset) caps it.
    pub fn from_tokenizer_json(
        bytes: &[u8],
        path: &str,
        tokenizer_config: Option<&[u8]>,
        max_positions: usize,
    ) -> Result<Self> {
        // tokenizers panics (instead of failing) on some malformed parts, such as a decoder that is
        // not valid JSON text; a file that is not JSON at all is refused here first.
        serde_json::from_slice::<serde_json::Value>(bytes).map_err(|e| Error::Tokenizer {
            path: path.into(),
            reason: format!("not valid JSON: {e}"),
        })?;
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
        if let Some(post) = inner.get_post_processor() {
            let json = serde_json::to_value(post).map_err(|e| Error::Tokenizer {
                path: path.into(),
                reason: format!("post_processor: {e}"),
            })?;
            check_post_processor(&json).map_err(|reason| Error::Tokenizer {
                path: path.into(),
                reason: format!("post_processor: {reason}"),
            })?;
        }
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
        // tokenizer_config.json names the padding token (RoBERTa's `<pad>` is id 1); else BERT's.
        let named = config_field(tokenizer_config, "pad_token").and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            other => other.get("content").and_then(|c| c.as_str()).map(String::from),
        });
        let pad_id = named
            .and_then(|t| inner.token_to_id(&t))
            .or_else(|| inner.token_to_id("[PAD]"))
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        Ok(Self {
            inner,
            pad_id,
            max_length,
            source: path.into(),
            token_types: true,
        })
    }

    /// With `false`, every token is segment 0 ([`gives_token_types`]).
    pub fn with_token_types(mut self, token_types: bool) -> Self {
        self.token_types = token_types;
        self
    }

    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    pub fn encode(&self, text_a: &str, text_b: Option<&str>) -> Result<Encoded> {
        let enc = self.encoding(text_a, text_b)?;
        Ok(Encoded {
            input_ids: enc.get_ids().to_vec(),
            token_type_ids: self.segments(&enc),
        })
    }

    fn encoding(&self, text_a: &str, text_b: Option<&str>) -> Result<tokenizers::Encoding> {
        let input: EncodeInput = match text_b {
            Some(b) => (text_a, b).into(),
            None => text_a.into(),
        };
        self.inner.encode(input, true).map_err(|e| Error::Tokenizer {
            path: self.source.clone(),
            reason: format!("cannot encode {text_a:?}: {e}"),
        })
    }

    fn segments(&self, enc: &tokenizers::Encoding) -> Vec<u32> {
        match self.token_types {
            true => enc.get_type_ids().to_vec(),
            false => vec![0; enc.get_type_ids().len()],
        }
    }

    /// The input as the model reads it, for people: each token's text, id, segment, and whether
    /// the tokenizer added it (`[CLS]`, `[SEP]`). The ids are `encode`'s.
    pub fn tokens(&self, text_a: &str, text_b: Option<&str>) -> Result<Vec<Token>> {
        let enc = self.encoding(text_a, text_b)?;
        let special = enc.get_special_tokens_mask();
        Ok(enc
            .get_tokens()
            .iter()
            .zip(enc.get_ids())
            .zip(self.segments(&enc))
            .enumerate()
            .map(|(i, ((text, &id), segment))| Token { text: text.clone(), id, segment, special: special.get(i) == Some(&1) })
            .collect())
    }
}

fn config_field(tokenizer_config: Option<&[u8]>, field: &str) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(tokenizer_config?).ok()?;
    value.get(field).cloned()
}

/// tokenizers checks a `TemplateProcessing` when it is built, not when it is read from a file,
/// and then panics on encoding if the template names a special token it does not define, or the
/// second sequence in the single-sentence template. Refuse such a file instead.
fn check_post_processor(post: &serde_json::Value) -> std::result::Result<(), String> {
    match post.get("type").and_then(|t| t.as_str()) {
        Some("Sequence") => {
            for p in post.get("processors").and_then(|p| p.as_array()).into_iter().flatten() {
                check_post_processor(p)?;
            }
            Ok(())
        }
        Some("TemplateProcessing") => {
            let defined = post.get("special_tokens").and_then(|s| s.as_object());
            for (template, second_allowed) in [("single", false), ("pair", true)] {
                for piece in post.get(template).and_then(|t| t.as_array()).into_iter().flatten() {
                    if let Some(id) = piece.pointer("/SpecialToken/id").and_then(|i| i.as_str()) {
                        let entry = defined.and_then(|d| d.get(id));
                        let ids = entry.and_then(|e| e.get("ids")).and_then(|i| i.as_array()).map_or(0, |i| i.len());
                        let tokens = entry.and_then(|e| e.get("tokens")).and_then(|t| t.as_array()).map_or(0, |t| t.len());
                        if entry.is_none() {
                            return Err(format!("the `{template}` template uses special token `{id}`, which `special_tokens` does not define"));
                        }
                        if ids != tokens {
                            return Err(format!("special token `{id}` has {ids} ids but {tokens} tokens"));
                        }
                    }
                    if !second_allowed && piece.pointer("/Sequence/id").and_then(|i| i.as_str()) == Some("B") {
                        return Err("the `single` template uses sequence B".into());
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
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

    /// As transformers decides: `model_input_names` first, then the tokenizer's class (with or
    /// without "Fast"), then the model type's; a tokenizer without them reads segment 0 throughout.
    #[test]
    fn token_types_follow_transformers_model_input_names() {
        assert!(gives_token_types(None, "BertTokenizer"));
        assert!(!gives_token_types(None, "AlbertTokenizer"));
        assert!(!gives_token_types(Some(br#"{"tokenizer_class": "AlbertTokenizerFast"}"#), "BertTokenizer"));
        assert!(gives_token_types(Some(br#"{"tokenizer_class": "BertTokenizerFast"}"#), "AlbertTokenizer"));
        let names = br#"{"tokenizer_class": "AlbertTokenizer", "model_input_names": ["input_ids", "token_type_ids"]}"#;
        assert!(gives_token_types(Some(names), "AlbertTokenizer"));
        assert!(!gives_token_types(Some(br#"{"model_input_names": ["input_ids"]}"#), "BertTokenizer"));
        let tok = TextTokenizer::from_vocab_txt(VOCAB.as_bytes(), "vocab.txt", None, 16).unwrap().with_token_types(false);
        assert_eq!(tok.encode("hello", Some("worlds")).unwrap().token_type_ids, vec![0; 6]);
        assert!(tok.tokens("hello", Some("worlds")).unwrap().iter().all(|t| t.segment == 0));
    }
}
