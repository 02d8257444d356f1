#!/usr/bin/env bash
# Builds contracts to WebAssembly the way the chain wants them (small, no floating point, only
# `fdl` imports), then checks each module against the ABI (crates/contract/tests/wasm_check.rs).
#
#   scripts/build-contracts.sh [PACKAGE...]      # default: fdl-token fdl-escrow
#
# The modules land in $CARGO_TARGET_DIR (or target/)/wasm32-unknown-unknown/release/.
# FDL_CONTRACT_STACK sets the stack in bytes (default 65536: 2 pages of memory at start; rustc's
# default of 1 MiB makes every module start with 17 pages). A stack overflow traps: the call fails.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(fdl-token fdl-escrow)
stack="${FDL_CONTRACT_STACK:-65536}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac

args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
cargo build --release --target wasm32-unknown-unknown "${args[@]}" \
  --config 'profile.release.opt-level="z"' \
  --config 'profile.release.lto=true' \
  --config 'profile.release.panic="abort"' \
  --config 'profile.release.codegen-units=1' \
  --config 'profile.release.strip=true' \
  --config "target.wasm32-unknown-unknown.rustflags=[\"-C\", \"link-arg=-zstack-size=$stack\"]"

wasm=()
for p in "${packages[@]}"; do
  f="$target_dir/wasm32-unknown-unknown/release/${p//-/_}.wasm"
  [ -f "$f" ] || { echo "no module for $p at $f (is it a cdylib?)" >&2; exit 1; }
  wasm+=("$f")
done
FDL_CONTRACT_WASM="$(IFS=:; echo "${wasm[*]}")" \
  cargo test -q -p fdl-contract --test wasm_check -- --nocapture built_contracts_follow_the_abi
