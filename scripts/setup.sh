#!/usr/bin/env bash
# CI's machine preparation (.ci/run): installs OpenSSL 3 and curl when missing. The README's two
# commands do not need it: rust-toolchain.toml brings rustfmt and clippy, and the OpenSSL tests say
# what to install. Safe to run again.
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
fi

openssl version | grep -q '^OpenSSL 3' || { echo "OpenSSL 3 is required for the interop tests; found: $(openssl version)" >&2; exit 1; }
echo "setup: ok ($(openssl version | cut -d' ' -f1-2), $(cargo --version))"
