//! The end-to-end tests, one module each, built as one test binary: each binary of its own linked
//! the whole crate and burn again and instantiated burn's generic code anew (tests/train.rs and
//! tests/parity.rs took over a minute each to compile), a cost every build paid, CI's cold one most.
//! `cargo test --release --test integration parity::` runs one module.

mod common;

mod cli;
mod data;
mod fuzz_inputs;
mod gpu_check;
mod hub;
mod parallel;
mod parity;
mod resume;
mod tokenizer;
mod train;
