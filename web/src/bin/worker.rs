//! The worker bundle's entry point (loaded by Trunk's `webtune-worker_loader.js`).

#[cfg(target_arch = "wasm32")]
fn main() {
    webtune_web::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the worker is built for wasm32 by Trunk: run scripts/build-web");
}
