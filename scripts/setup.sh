#!/usr/bin/env bash
# Machine preparation for the README's commands and CI (.ci/run): OpenSSL 3, curl and SoftHSM2 (the
# PKCS#11 tests' token: the Debian package softhsm2, for softhsm2-util and libsofthsm2.so) when missing,
# rustfmt, clippy and the wasm32-unknown-unknown target (contracts), and the Solidity compiler solcjs
# (npm package solc, pinned) in the git-ignored .tools/solc. Safe to run again.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# The Solidity compiler for contracts/solidity (scripts/solc, and crates/vm-evm's solc module).
SOLC_VERSION=0.8.37

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v softhsm2-util >/dev/null 2>&1 || need_apt+=(softhsm2)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
  else
    echo "please install: ${need_apt[*]} (OpenSSL 3 is used by the interop tests, SoftHSM2 by the PKCS#11 tests)" >&2
    exit 1
  fi
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  # Smart contracts are compiled to WebAssembly (fdl contract build, and the contract tests).
  rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown' || rustup target add wasm32-unknown-unknown
fi

# solcjs: the npm package solc, the compiler built to JavaScript; it needs no network once installed.
solc_installed() {
  [ -x "$ROOT/.tools/solc/node_modules/.bin/solcjs" ] &&
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
      "$ROOT/.tools/solc/node_modules/solc/package.json" "$SOLC_VERSION" 2>/dev/null
}
if ! solc_installed; then
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: node and npm are required to install the Solidity compiler (npm package solc@$SOLC_VERSION" >&2
    echo "       into .tools/solc); install Node.js 18 or later with npm (e.g. apt-get install nodejs npm) and run again" >&2
    exit 1
  fi
  echo "setup: installing solc@$SOLC_VERSION (solcjs) into .tools/solc"
  mkdir -p "$ROOT/.tools/solc"
  npm install --prefix "$ROOT/.tools/solc" --no-audit --no-fund --save-exact --loglevel=error "solc@$SOLC_VERSION"
  solc_installed || { echo "setup: solc@$SOLC_VERSION did not install into $ROOT/.tools/solc" >&2; exit 1; }
fi

openssl version | grep -q '^OpenSSL 3' || { echo "OpenSSL 3 is required for the interop tests; found: $(openssl version)" >&2; exit 1; }
echo "setup: ok ($(openssl version | cut -d' ' -f1-2), $(cargo --version), solcjs $SOLC_VERSION)"
