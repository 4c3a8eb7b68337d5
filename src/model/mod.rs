//! The model: configuration, BERT modules, and the bridge to safetensors files. The configuration
//! is also known without the `trainer` feature (the page's bundle estimates memory from it).

#[cfg(feature = "trainer")]
pub mod bert;
pub mod config;
#[cfg(feature = "trainer")]
pub mod dropout;
#[cfg(feature = "trainer")]
pub mod gelu;
#[cfg(feature = "trainer")]
pub mod host;
#[cfg(feature = "trainer")]
pub mod softmax;
#[cfg(feature = "trainer")]
pub mod weights;

#[cfg(feature = "trainer")]
pub use bert::{BertForSequenceClassification, BertInput};
pub use config::BertConfig;
