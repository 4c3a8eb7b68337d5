# Sourced by the scripts: where webtune keeps what it downloads and builds, outside the clone so
# that repeated runs (and CI on the same machine) reuse it.
export WEBTUNE_CACHE="${WEBTUNE_CACHE:-$HOME/.cache/webtune}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WEBTUNE_CACHE/target}"
export WEBTUNE_MINILM="$WEBTUNE_CACHE/models/all-MiniLM-L6-v2"
# wasm32 builds use Debian's rustc (rustup cannot fetch a wasm32 std here); keep them apart.
export WEBTUNE_WASM_TARGET_DIR="${WEBTUNE_WASM_TARGET_DIR:-$WEBTUNE_CACHE/target-wasm}"
# Native builds use rustup's toolchain even where Debian's rustc-web put a cargo in /usr/bin.
export PATH="$HOME/.cargo/bin:$PATH"
