//! One error type for the whole core. Every variant names what the user has to look at — a file,
//! a tensor, a line, a field — because both shells show these messages unchanged.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {reason}")]
    Json { path: String, reason: String },
    #[error("{path}: field `{field}`: {reason}")]
    Config {
        path: String,
        field: String,
        reason: String,
    },
    #[error("{path}: not a valid safetensors file: {reason}")]
    Safetensors { path: String, reason: String },
    #[error("{path}: tensor `{tensor}` is missing")]
    MissingTensor { path: String, tensor: String },
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        path: String,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: tensor `{tensor}` has dtype {dtype}, expected F32, F16 or BF16")]
    TensorDtype {
        path: String,
        tensor: String,
        dtype: String,
    },
    #[error("{path}: {reason}")]
    Tokenizer { path: String, reason: String },
    #[error("{path}:{line}: {reason}")]
    Data {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("backend `{backend}` cannot start: {reason}")]
    Backend { backend: String, reason: String },
    #[error("the loss became {loss} at step {step}; stopping (lower the learning rate or set --max-grad-norm)")]
    NonFiniteLoss { step: usize, loss: f32 },
    #[error("not enough device memory: {0}")]
    OutOfMemory(String),
    #[error("device error: {0}")]
    Device(String),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }

    pub fn json(path: impl fmt::Display, err: impl fmt::Display) -> Self {
        Error::Json {
            path: path.to_string(),
            reason: err.to_string(),
        }
    }

    pub fn data(path: impl fmt::Display, line: usize, reason: impl Into<String>) -> Self {
        Error::Data {
            path: path.to_string(),
            line,
            reason: reason.into(),
        }
    }

    /// A fault the device reported. One that refused memory (a buffer past its limits, or its
    /// memory full) says so, with what to change: burn's words for it end a long chain of causes.
    pub fn device(text: String) -> Self {
        let lower = text.to_lowercase();
        if lower.contains("can't allocate") || lower.contains("out of memory") || lower.contains("outofmemory") {
            Error::OutOfMemory(format!(
                "the device could not allocate the memory this needs; use a smaller batch size or a smaller model; \
                 checkpoints written so far are kept\n{text}"
            ))
        } else {
            Error::Device(text)
        }
    }
}

#[cfg(feature = "trainer")]
/// GPU reads fail with burn's `ExecutionError` (device lost, out of memory); keep its words.
impl From<burn::tensor::ExecutionError> for Error {
    fn from(err: burn::tensor::ExecutionError) -> Self {
        Error::device(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_allocation_reads_as_out_of_memory() {
        // burn's words when lavapipe could not hold a batch's attention scores (a 256 MiB buffer).
        let refused = "An error happened during execution\nCaused by:\n  An IO error happened\nCaused by:\n  \
                       can't allocate buffer of size: 268435456";
        let e = Error::device(refused.into()).to_string();
        assert!(e.starts_with("not enough device memory: ") && e.contains("smaller batch size") && e.contains("268435456"), "{e}");
        assert!(matches!(Error::device("Device lost".into()), Error::Device(_)));
    }
}
