#!/usr/bin/env bash
# Machine preparation for the README's commands and CI (.ci/run): OpenSSL 3 and curl when missing,
# rustfmt, clippy and the wasm32-unknown-unknown target (contracts). Safe to run again.
set -euo pipefail

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
  else
    echo "please install: ${need_apt[*]} (OpenSSL 3 is used by the interop tests)" >&2
    exit 1
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  # Smart contracts are compiled to WebAssembly (fdl contract build, and the contract tests).
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown' || rustup target add wasm32-unknown-unknown
fi

openssl version | grep -q '^OpenSSL 3' || { echo "OpenSSL 3 is required for the interop tests; found: $(openssl version)" >&2; exit 1; }
echo "setup: ok ($(openssl version | cut -d' ' -f1-2), $(cargo --version))"
