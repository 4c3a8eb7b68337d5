//! The model: configuration, BERT modules, and the bridge to safetensors files.

pub mod bert;
pub mod config;
pub mod dropout;
pub mod gelu;
pub mod host;
pub mod softmax;
pub mod weights;

pub use bert::{BertForSequenceClassification, BertInput};
pub use config::BertConfig;
