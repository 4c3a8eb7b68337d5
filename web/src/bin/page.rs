//! The page bundle's entry point.

#[cfg(target_arch = "wasm32")]
fn main() {
    webtune_web::page::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the page is built for wasm32 by Trunk: run scripts/build-web");
}
