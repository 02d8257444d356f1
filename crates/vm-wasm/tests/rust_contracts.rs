//! Contracts written in Rust (`tests/contracts/*.rs`), built with `rustc --target
//! wasm32-unknown-unknown` (the toolchain file installs the target): what Rust really emits passes
//! the checks and runs, and a contract using `f64` is refused (ADR 0012).

#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use fdl_vm_wasm::{CheckError, Engine, Entry, Limits};
use support::{FUEL, failure, setup, success};

/// Builds `tests/contracts/{name}.rs` as a release contract would be (size-optimized, panics
/// abort, LTO).
fn build(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/contracts");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "--edition", "2024"])
        .args(["-C", "opt-level=z", "-C", "panic=abort", "-C", "lto", "-o"])
        .arg(&out)
        .arg(dir.join(format!("{name}.rs")))
        .status()
        .expect("rustc runs");
    assert!(status.success(), "rustc failed to build {name}.rs for wasm32-unknown-unknown");
    std::fs::read(out).unwrap()
}

#[test]
fn a_rust_contract_passes_the_checks_and_runs() {
    let code = build("counter");
    let info = Engine::new().check(&code, &Limits::default()).unwrap();
    assert_eq!(info.methods, ["add", "boom"]);
    assert!(info.has_init && !info.has_migrate);
    // Rust's default layout: a 1 MiB stack plus the data, 17 pages; the default limit allows it.
    assert!(info.memory_min_pages > 16 && info.memory_min_pages <= Limits::default().max_memory_pages);

    let mut host = setup(&code);
    success(&host.run_entry("main", Entry::Init, "", b"", FUEL).unwrap());
    assert_eq!(host.get("main", b"c").unwrap(), [0; 8]);
    assert_eq!(success(&host.run("main", "add", b"5", FUEL)), b"5");
    assert_eq!(success(&host.run("main", "add", b"37", FUEL)), b"42");
    assert_eq!(host.get("main", b"c").unwrap(), 42u64.to_le_bytes());

    let r = host.run("main", "add", b"4x", FUEL);
    let f = failure(&r);
    assert_eq!((f.code.as_str(), f.message.as_str()), ("bad_input", "expected digits"));
    let r = host.run("main", "add", b"99999999999999999999", FUEL);
    assert_eq!(failure(&r).code, "overflow");
    // A Rust panic is a trap.
    assert_eq!(failure(&host.run("main", "boom", b"", FUEL)).code, "trap");
    assert_eq!(host.get("main", b"c").unwrap(), 42u64.to_le_bytes(), "failed calls are undone");
}

#[test]
fn a_rust_contract_using_floating_point_is_refused() {
    let code = build("float");
    assert_eq!(Engine::new().check(&code, &Limits::default()), Err(CheckError::FloatingPoint));
    // And should one reach a node anyway, it does not compile there.
    let r = setup(&code).run("main", "third", b"abc", FUEL);
    assert_eq!(failure(&r).code, "invalid_module");
}
