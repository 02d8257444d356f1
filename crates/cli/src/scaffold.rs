//! `fdl contract new NAME`: a contract crate that builds offline. The contract SDK
//! (`crates/contract`) has no dependencies; its sources are compiled into `fdl` and copied
//! beside the new crate (`NAME/fdl-contract/`), so the crate needs neither this repository nor a
//! registry.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The SDK's sources, as `(path under src/, contents)`.
const SDK_FILES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../contract/src/lib.rs")),
    ("address.rs", include_str!("../../contract/src/address.rs")),
    ("codec.rs", include_str!("../../contract/src/codec.rs")),
    ("env.rs", include_str!("../../contract/src/env.rs")),
    ("error.rs", include_str!("../../contract/src/error.rs")),
    ("identity.rs", include_str!("../../contract/src/identity.rs")),
    ("json.rs", include_str!("../../contract/src/json.rs")),
    ("macros.rs", include_str!("../../contract/src/macros.rs")),
    ("storage.rs", include_str!("../../contract/src/storage.rs")),
    ("sys.rs", include_str!("../../contract/src/sys.rs")),
    ("wasm_rt.rs", include_str!("../../contract/src/wasm_rt.rs")),
    ("testing/mod.rs", include_str!("../../contract/src/testing/mod.rs")),
    ("testing/hash.rs", include_str!("../../contract/src/testing/hash.rs")),
    ("testing/host.rs", include_str!("../../contract/src/testing/host.rs")),
    ("testing/tests.rs", include_str!("../../contract/src/testing/tests.rs")),
];

const SDK_MANIFEST: &str = r#"[package]
name = "fdl-contract"
description = "FDL contract SDK (copied by `fdl contract new`)"
version = "0.1.0"
edition = "2024"
license = "Apache-2.0"

[lints.rust]
missing_docs = "warn"
unsafe_code = "deny"
"#;

fn manifest(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

# A contract builds alone, offline: `fdl contract build` (wasm32-unknown-unknown, size-optimised,
# panic = abort).
[workspace]

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
fdl-contract = {{ path = "fdl-contract" }}
"#
    )
}

const LIB: &str = r##"//! A counter: every caller may increment; anyone may read.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use fdl_contract::{Error, method, storage::Value};

const COUNT: Value<u64> = Value::new(b"count");

method! {
    /// Adds `by` to the counter and returns the new value.
    pub fn increment(by: u64) -> Result<u64, Error> {
        let next = COUNT.get().unwrap_or(0).checked_add(by).ok_or_else(|| Error::new("overflow", "the counter would overflow"))?;
        COUNT.set(&next);
        Ok(next)
    }
}

method! {
    /// The counter's value.
    pub fn get() -> Result<u64, Error> {
        Ok(COUNT.get().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use fdl_contract::testing::TestEnv;

    #[test]
    fn increments_and_reads() {
        let env = TestEnv::new();
        assert_eq!(env.call(super::increment, r#"{"by": 2}"#).expect("increment"), "2");
        assert_eq!(env.call(super::get, "{}").expect("get"), "2");
    }
}
"##;

/// Creates the crate `name` under `dir` (default: the current directory); returns its path.
///
/// # Errors
/// A bad name, an existing directory, or a write failure.
pub fn create(name: &str, dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
        "crate name {name:?}: lower-case letters, digits, '_' and '-'"
    );
    let root = dir.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".")).join(name);
    anyhow::ensure!(!root.exists(), "{} exists already", root.display());
    let write = |rel: &str, text: &str| -> anyhow::Result<()> {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
    };
    write("Cargo.toml", &manifest(name))?;
    write("src/lib.rs", LIB)?;
    write(".gitignore", "/target\n")?;
    write("fdl-contract/Cargo.toml", SDK_MANIFEST)?;
    for (rel, text) in SDK_FILES {
        write(&format!("fdl-contract/src/{rel}"), text)?;
    }
    Ok(root)
}
