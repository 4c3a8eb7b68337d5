//! The model: configuration, one file per family (BERT's modules shared by the others, as in
//! transformers), the type a run trains whatever its family, and the bridge to safetensors files.
//! The configuration is also known without the `trainer` feature (the page's bundle estimates
//! memory from it).

#[cfg(feature = "trainer")]
pub mod albert;
#[cfg(feature = "trainer")]
pub mod bert;
#[cfg(feature = "trainer")]
pub mod classifier;
pub mod config;
#[cfg(feature = "trainer")]
pub mod distilbert;
#[cfg(feature = "trainer")]
pub mod dropout;
#[cfg(feature = "trainer")]
pub mod electra;
#[cfg(feature = "trainer")]
pub mod embedding;
#[cfg(feature = "trainer")]
pub mod gelu;
#[cfg(feature = "trainer")]
pub mod head;
#[cfg(feature = "trainer")]
pub mod host;
#[cfg(feature = "trainer")]
pub mod layer_norm;
#[cfg(feature = "trainer")]
pub mod linear;
#[cfg(feature = "trainer")]
pub mod lora;
pub mod lora_config;
#[cfg(feature = "trainer")]
pub mod roberta;
#[cfg(feature = "trainer")]
pub mod softmax;
#[cfg(feature = "trainer")]
pub mod tokens;
#[cfg(feature = "trainer")]
pub mod weights;

#[cfg(feature = "trainer")]
pub use bert::{BertForSequenceClassification, BertInput, SequenceClassifierOutput};
#[cfg(feature = "trainer")]
pub use classifier::SequenceClassifier;
pub use config::{BertConfig, Family};
