# Sourced by the scripts: where webtune keeps what it downloads and builds, outside the clone so
# that repeated runs (and CI on the same machine) reuse it.
export WEBTUNE_CACHE="${WEBTUNE_CACHE:-$HOME/.cache/webtune}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WEBTUNE_CACHE/target}"
export WEBTUNE_MINILM="$WEBTUNE_CACHE/models/all-MiniLM-L6-v2"
# wasm32 builds use Debian's rustc (rustup cannot fetch a wasm32 std here); keep them apart.
export WEBTUNE_WASM_TARGET_DIR="${WEBTUNE_WASM_TARGET_DIR:-$WEBTUNE_CACHE/target-wasm}"
# Native builds use rustup's toolchain even where Debian's rustc-web put a cargo in /usr/bin; tools
# that `cargo install` put in CARGO_HOME (trunk, wasm-bindgen) come from there.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"

# The wasm32 build's environment (../shared/PLATFORM.md): Debian's cargo and rustc first on PATH
# (they build std for wasm32 from its sources, -Zbuild-std), rustup's rust-lld links. Used by
# scripts/setup to fetch the crates this build needs (std's own included) and by scripts/build-web.
wasm_toolchain() {
  local lld
  lld=$(ls -d "$HOME"/.rustup/toolchains/*/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld 2>/dev/null | head -1)
  [ -n "$lld" ] || { echo "rustup's rust-lld not found (it comes with rustup's toolchain)" >&2; return 1; }
  [ -x /usr/bin/cargo ] || { echo "Debian's cargo (cargo-web) is not installed; run scripts/setup" >&2; return 1; }
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$lld"
  export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
  export RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_DIR="$WEBTUNE_WASM_TARGET_DIR"
  export PATH="/usr/bin:$PATH"
}
