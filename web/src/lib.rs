//! The webtune page. Two wasm bundles built by Trunk from this crate: the page
//! (`src/bin/page.rs`: Leptos, small, loads at once) and the worker (`src/bin/worker.rs`: the whole
//! trainer, on WebGPU, off the main thread). They talk through [`protocol`] messages carried by
//! [`bridge`].

pub mod plan;
pub mod protocol;

#[cfg(target_arch = "wasm32")]
pub mod bridge;
#[cfg(target_arch = "wasm32")]
pub mod page;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
pub mod worker;
