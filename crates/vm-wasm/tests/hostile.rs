//! No panic on any input: random and mutated modules through `check` and `run`, and every host
//! function called with arbitrary arguments.

#![allow(clippy::unwrap_used)]

mod support;

use fdl_vm_wasm::{Engine, Limits};
use proptest::prelude::*;
use support::{FUEL, module, setup};

fn valid_module() -> Vec<u8> {
    module(
        r#"(data (i32.const 16) "k") (data (i32.const 32) "{}")
           (func (export "m") (local $n i32)
             (call $storage_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 2))
             (local.set $n (call $storage_get (i32.const 16) (i32.const 1)))
             (call $read_result (i32.const 1024))
             (call $set_return (i32.const 1024) (local.get $n)))"#,
    )
}

/// `check`, then `run` whatever the result: neither may panic, and `run` never gives a host
/// error for a module (the mock store does not fail).
fn check_and_run(code: &[u8]) {
    let _ = Engine::new().check(code, &Limits::default());
    let mut host = setup(code);
    let r = host.run_entry("main", fdl_vm_wasm::Entry::Method, "m", b"{}", 100_000);
    assert!(r.is_ok(), "{r:?}");
}

/// Calls the host function chosen by the input's first i32 with the eight i32s after it.
fn poke_module() -> Vec<u8> {
    let args = |n: usize| (0..n).map(|i| format!("(i32.load (i32.const {}))", 4 + 4 * i)).collect::<Vec<_>>().join(" ");
    let calls = [
        "(drop (call $input))".to_owned(),
        format!("(call $read_result {})", args(1)),
        format!("(call $set_return {})", args(2)),
        format!("(call $fail {})", args(4)),
        format!("(drop (call $storage_get {}))", args(2)),
        format!("(call $storage_set {})", args(4)),
        format!("(call $storage_remove {})", args(2)),
        format!("(drop (call $storage_next {}))", args(4)),
        format!("(call $emit {})", args(4)),
        format!("(call $sm3 {})", args(3)),
        format!("(call $sha256 {})", args(3)),
        format!("(drop (call $sm2_verify {}))", args(8)),
        format!("(drop (call $ed25519_verify {}))", args(4)),
        format!("(drop (call $call {}))", args(6)),
    ];
    let arms: String = calls
        .iter()
        .enumerate()
        .map(|(i, call)| format!("(if (i32.eq (local.get $sel) (i32.const {i})) (then {call}))"))
        .collect();
    module(&format!(
        r#"(func (export "poke") (local $sel i32)
             (drop (call $input))
             (call $read_result (i32.const 0))
             (local.set $sel (i32.rem_u (i32.load (i32.const 0)) (i32.const {})))
             {arms})"#,
        calls.len()
    ))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_and_run(&bytes);
        let mut with_header = b"\0asm\x01\0\0\0".to_vec();
        with_header.extend_from_slice(&bytes);
        check_and_run(&with_header);
    }

    #[test]
    fn mutated_modules(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut code = valid_module();
        for (at, byte) in flips {
            let i = at.index(code.len());
            code[i] = byte;
        }
        check_and_run(&code);
    }

    #[test]
    fn host_functions_with_arbitrary_arguments(
        selector in 0u32..14,
        args in proptest::collection::vec(prop_oneof![
            any::<i32>(),
            0i32..70_000,
            Just(-1i32),
            Just(0i32),
            Just(65_536i32),
        ], 8),
    ) {
        let mut input = selector.to_le_bytes().to_vec();
        for a in &args {
            input.extend_from_slice(&a.to_le_bytes());
        }
        let code = poke_module();
        let mut host = setup(&code);
        host.deploy("other", &code);
        let r = host.run_entry("main", fdl_vm_wasm::Entry::Method, "poke", &input, FUEL);
        let r = r.unwrap();
        prop_assert!(r.fuel_used <= FUEL);
    }
}
