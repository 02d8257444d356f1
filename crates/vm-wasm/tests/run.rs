//! `Engine::run`: every host function, the result buffer, failures, limits, fuel, the module
//! cache and determinism, against the mock host.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use fdl_vm_wasm::{CallResult, Engine, Entry, FailureCode, Limits, fuel};
use support::{FUEL, HEIGHT, MockHost, TIME_MS, account, contract, failure, module, setup, success, wat};

fn engine_failure(r: &CallResult, kind: FailureCode) -> String {
    let f = failure(r);
    assert_eq!(f.kind, kind, "{f}");
    assert_eq!(f.code, kind.as_str());
    f.message.clone()
}

// ---------------------------------------------------------------------------------------------
// The result buffer, input and return data
// ---------------------------------------------------------------------------------------------

#[test]
fn input_read_result_and_set_return() {
    let code = module(
        r#"(func (export "echo") (local $n i32)
             (local.set $n (call $input))
             (call $read_result (i32.const 1024))
             (call $set_return (i32.const 1024) (local.get $n)))
           (func (export "nothing"))"#,
    );
    let mut host = setup(&code);
    let r = host.run("main", "echo", br#"{"to":"bob","amount":5}"#, FUEL);
    assert_eq!(success(&r), br#"{"to":"bob","amount":5}"#);
    assert!(r.fuel_used > 0);
    // No set_return: empty return data.
    assert_eq!(success(&host.run("main", "nothing", b"{}", FUEL)), b"");
    // Empty input, empty return.
    assert_eq!(success(&host.run("main", "echo", b"", FUEL)), b"");
}

#[test]
fn the_buffer_holds_the_last_result_only() {
    let code = module(
        r#"(data (i32.const 16) "k") (data (i32.const 32) "v1") (data (i32.const 48) "x") (data (i32.const 64) "absent")
           (func (export "last")
             (call $storage_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 2))
             (drop (call $storage_get (i32.const 16) (i32.const 1)))
             ;; caller() replaces the value in the buffer
             (call $save (i32.const 48) (i32.const 1) (call $caller)))
           (func (export "emptied")
             (drop (call $caller))
             ;; -1 (absent key) empties the buffer: read_result at the very end of memory copies nothing
             (if (i32.ne (call $storage_get (i32.const 64) (i32.const 6)) (i32.const -1)) (then unreachable))
             (call $read_result (i32.const 65536)))
           (func (export "full")
             (drop (call $caller))
             ;; the identity does not fit at the end of memory: trap
             (call $read_result (i32.const 65530)))"#,
    );
    let mut host = setup(&code);
    success(&host.run("main", "last", b"", FUEL));
    assert_eq!(host.get("main", b"x").unwrap(), account().encode());
    success(&host.run("main", "emptied", b"", FUEL));
    let message = engine_failure(&host.run("main", "full", b"", FUEL), FailureCode::Trap);
    assert!(message.contains("read_result"), "{message}");
}

#[test]
fn return_data_must_be_json_within_the_limit() {
    let code = module(
        r#"(data (i32.const 16) "not json")
           (func (export "bad") (call $set_return (i32.const 16) (i32.const 8)))
           (func $quoted (param $len i32)
             (memory.fill (i32.const 1024) (i32.const 97) (local.get $len))
             (i32.store8 (i32.const 1024) (i32.const 34))
             (i32.store8 (i32.add (i32.const 1023) (local.get $len)) (i32.const 34))
             (call $set_return (i32.const 1024) (local.get $len)))
           (func (export "max") (call $quoted (i32.const 16384)))
           (func (export "over") (call $quoted (i32.const 16385)))
           (func (export "negative") (call $set_return (i32.const 0) (i32.const -1)))
           (func (export "last_wins")
             (call $quoted (i32.const 10))
             (call $set_return (i32.const 0) (i32.const 0)))"#,
    );
    let mut host = setup(&code);
    engine_failure(&host.run("main", "bad", b"", FUEL), FailureCode::BadReturn);
    let max = host.run("main", "max", b"", FUEL);
    assert_eq!(success(&max).len(), 16 * 1024);
    engine_failure(&host.run("main", "over", b"", FUEL), FailureCode::Limit);
    engine_failure(&host.run("main", "negative", b"", FUEL), FailureCode::Limit);
    assert_eq!(success(&host.run("main", "last_wins", b"", FUEL)), b"");
}

// ---------------------------------------------------------------------------------------------
// Identities and the block
// ---------------------------------------------------------------------------------------------

#[test]
fn identities_height_and_time() {
    let code = module(
        r#"(data (i32.const 16) "caller") (data (i32.const 32) "signer") (data (i32.const 48) "this")
           (data (i32.const 64) "height") (data (i32.const 80) "time")
           (func (export "who")
             (call $save (i32.const 16) (i32.const 6) (call $caller))
             (call $save (i32.const 32) (i32.const 6) (call $signer))
             (call $save (i32.const 48) (i32.const 4) (call $contract_info))
             (i64.store (i32.const 2048) (call $block_height))
             (call $storage_set (i32.const 64) (i32.const 6) (i32.const 2048) (i32.const 8))
             (i64.store (i32.const 2048) (call $block_time_ms))
             (call $storage_set (i32.const 80) (i32.const 4) (i32.const 2048) (i32.const 8)))"#,
    );
    let mut host = setup(&code);
    success(&host.run("main", "who", b"", FUEL));
    assert_eq!(host.get("main", b"caller").unwrap(), account().encode());
    assert_eq!(host.get("main", b"signer").unwrap(), account().encode());
    assert_eq!(host.get("main", b"this").unwrap(), contract("main").encode());
    assert_eq!(host.get("main", b"height").unwrap(), HEIGHT.to_le_bytes());
    assert_eq!(host.get("main", b"time").unwrap(), TIME_MS.to_le_bytes());
}

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

#[test]
fn storage_get_set_remove() {
    let code = module(
        r#"(data (i32.const 16) "k") (data (i32.const 32) "v1") (data (i32.const 48) "got") (data (i32.const 64) "after")
           (data (i32.const 80) "empty")
           (func (export "rw")
             (call $storage_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 2))
             (call $save (i32.const 48) (i32.const 3) (call $storage_get (i32.const 16) (i32.const 1)))
             (call $storage_remove (i32.const 16) (i32.const 1))
             ;; removing an absent key is not an error
             (call $storage_remove (i32.const 16) (i32.const 1))
             (call $save (i32.const 64) (i32.const 5) (call $storage_get (i32.const 16) (i32.const 1)))
             ;; an empty value is a value
             (call $storage_set (i32.const 80) (i32.const 5) (i32.const 0) (i32.const 0))
             (if (i32.ne (call $storage_get (i32.const 80) (i32.const 5)) (i32.const 0)) (then unreachable)))"#,
    );
    let mut host = setup(&code);
    success(&host.run("main", "rw", b"", FUEL));
    assert_eq!(host.get("main", b"got").unwrap(), b"v1");
    assert_eq!(host.get("main", b"after").unwrap(), b"none");
    assert_eq!(host.get("main", b"k"), None);
    assert_eq!(host.get("main", b"empty").unwrap(), b"");
}

#[test]
fn storage_next_iterates_in_key_order() {
    // The prefix is the input; every key found is appended to "out", each followed by ','.
    let code = module(
        r#"(data (i32.const 16) "out")
           (func (export "iterate") (local $plen i32) (local $n i32) (local $alen i32) (local $olen i32)
             (local.set $plen (call $input))
             (call $read_result (i32.const 128))
             (block $done
               (loop $next
                 (local.set $n (call $storage_next (i32.const 128) (local.get $plen) (i32.const 4096) (local.get $alen)))
                 (br_if $done (i32.eq (local.get $n) (i32.const -1)))
                 (call $read_result (i32.const 4096))
                 (local.set $alen (local.get $n))
                 (memory.copy (i32.add (i32.const 8192) (local.get $olen)) (i32.const 4096) (local.get $n))
                 (local.set $olen (i32.add (local.get $olen) (local.get $n)))
                 (i32.store8 (i32.add (i32.const 8192) (local.get $olen)) (i32.const 44))
                 (local.set $olen (i32.add (local.get $olen) (i32.const 1)))
                 (br $next)))
             (call $storage_set (i32.const 16) (i32.const 3) (i32.const 8192) (local.get $olen)))"#,
    );
    let keys: [&[u8]; 8] = [b"p/b", b"p/a", b"p/c\0", b"p/", b"q/a", b"o/z", b"p/ab", b"p0"];
    let fresh = || {
        let mut host = setup(&code);
        for k in keys {
            host.store_of("main").insert(k.to_vec(), b"1".to_vec());
        }
        host
    };

    let mut host = fresh();
    success(&host.run("main", "iterate", b"p/", FUEL));
    assert_eq!(host.get("main", b"out").unwrap(), b"p/,p/a,p/ab,p/b,p/c\0,");
    // One storage_next per key, and one that finds none.
    assert_eq!(host.log.iter().filter(|l| l.starts_with("next")).count(), 6);

    // The empty prefix: every key, bytewise order.
    let mut host = fresh();
    success(&host.run("main", "iterate", b"", FUEL));
    assert_eq!(host.get("main", b"out").unwrap(), b"o/z,p/,p/a,p/ab,p/b,p/c\0,p0,q/a,");

    // A prefix nothing has.
    let mut host = fresh();
    success(&host.run("main", "iterate", b"zz", FUEL));
    assert_eq!(host.get("main", b"out").unwrap(), b"");
}

#[test]
fn storage_sizes_are_limited_before_the_host_is_called() {
    let code = module(
        r#"(func (export "long_key") (call $storage_set (i32.const 0) (i32.const 257) (i32.const 0) (i32.const 1)))
           (func (export "max_key") (call $storage_set (i32.const 0) (i32.const 256) (i32.const 0) (i32.const 1)))
           (func (export "empty_key") (drop (call $storage_get (i32.const 0) (i32.const 0))))
           (func (export "long_get") (drop (call $storage_get (i32.const 0) (i32.const 257))))
           (func (export "long_remove") (call $storage_remove (i32.const 0) (i32.const 257)))
           (func (export "long_prefix") (drop (call $storage_next (i32.const 0) (i32.const 257) (i32.const 0) (i32.const 0))))
           (func (export "big_value") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 16385)))
           (func (export "max_value") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 16384)))
           (func (export "huge_value") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const -1)))"#,
    );
    for method in ["long_key", "empty_key", "long_get", "long_remove", "long_prefix", "big_value", "huge_value"] {
        let mut host = setup(&code);
        engine_failure(&host.run("main", method, b"", FUEL), FailureCode::Limit);
        assert!(host.log.iter().all(|l| l.starts_with("load_code")), "{method}: {:?}", host.log);
    }
    let mut host = setup(&code);
    success(&host.run("main", "max_key", b"", FUEL));
    success(&host.run("main", "max_value", b"", FUEL));
}

#[test]
fn out_of_bounds_ranges_trap() {
    let code = module(
        r#"(func (export "set") (call $storage_set (i32.const 65530) (i32.const 10) (i32.const 0) (i32.const 1)))
           (func (export "negative_ptr") (drop (call $storage_get (i32.const -1) (i32.const 2))))
           (func (export "hash_out") (call $sm3 (i32.const 0) (i32.const 3) (i32.const 65535)))
           (func (export "emit_data") (call $emit (i32.const 0) (i32.const 1) (i32.const 65535) (i32.const 2)))"#,
    );
    let mut host = setup(&code);
    for method in ["set", "negative_ptr", "hash_out", "emit_data"] {
        let message = engine_failure(&host.run("main", method, b"", FUEL), FailureCode::Trap);
        assert!(message.contains("out of bounds"), "{method}: {message}");
    }
    assert!(host.log.iter().all(|l| l.starts_with("load_code")), "{:?}", host.log);
}

#[test]
fn a_store_failure_is_a_host_error() {
    let code = module(r#"(func (export "get") (drop (call $storage_get (i32.const 0) (i32.const 1))))"#);
    let mut host = setup(&code);
    host.broken_store = true;
    let e = host.run_entry("main", Entry::Method, "get", b"", FUEL).unwrap_err();
    assert!(e.to_string().contains("disk on fire"));
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

#[test]
fn events_are_checked_and_counted() {
    let code = module(
        r#"(data (i32.const 16) "token.transfer") (data (i32.const 48) "{\"amount\":5}")
           (data (i32.const 80) "Bad-Kind") (data (i32.const 96) "not json") (data (i32.const 112) "\ff\fe")
           (func (export "one") (call $emit (i32.const 16) (i32.const 14) (i32.const 48) (i32.const 12)))
           (func (export "bad_kind") (call $emit (i32.const 80) (i32.const 8) (i32.const 48) (i32.const 12)))
           (func (export "empty_kind") (call $emit (i32.const 16) (i32.const 0) (i32.const 48) (i32.const 12)))
           (func (export "long_kind") (call $emit (i32.const 16) (i32.const 65) (i32.const 48) (i32.const 12)))
           (func (export "bad_data") (call $emit (i32.const 16) (i32.const 14) (i32.const 96) (i32.const 8)))
           (func (export "not_utf8") (call $emit (i32.const 16) (i32.const 14) (i32.const 112) (i32.const 2)))
           (func (export "big") (call $emit (i32.const 16) (i32.const 14) (i32.const 1024) (i32.const 4097)))
           (func (export "many") (local $i i32)
             (loop $l
               (call $emit (i32.const 16) (i32.const 14) (i32.const 48) (i32.const 12))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 100)))))"#,
    );
    let mut host = setup(&code);
    success(&host.run("main", "one", b"", FUEL));
    assert_eq!(host.events, [("main".to_owned(), "token.transfer".to_owned(), r#"{"amount":5}"#.to_owned())]);

    for (method, kind) in [
        ("bad_kind", FailureCode::BadEvent),
        ("empty_kind", FailureCode::BadEvent),
        ("long_kind", FailureCode::BadEvent),
        ("bad_data", FailureCode::BadEvent),
        ("not_utf8", FailureCode::BadEvent),
        ("big", FailureCode::Limit),
    ] {
        let mut host = setup(&code);
        engine_failure(&host.run("main", method, b"", FUEL), kind);
        assert!(!host.log.iter().any(|l| l.starts_with("emit")), "{method}");
    }

    // 32 events, then `limit`: the 33rd never reaches the host.
    let mut host = setup(&code);
    let message = engine_failure(&host.run("main", "many", b"", FUEL), FailureCode::Limit);
    assert!(message.contains("32"), "{message}");
    assert_eq!(host.log.iter().filter(|l| l.starts_with("emit")).count(), 32);
    assert!(host.events.is_empty(), "the mock host undoes a failed call's events");
}

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

#[test]
fn fail_ends_the_call_with_the_contracts_code() {
    let code = module(
        r#"(data (i32.const 16) "insufficient_funds") (data (i32.const 48) "balance 3 < 5") (data (i32.const 80) "Bad Code")
           (data (i32.const 96) "k")
           (func (export "f")
             (call $storage_set (i32.const 96) (i32.const 1) (i32.const 96) (i32.const 1))
             (call $fail (i32.const 16) (i32.const 18) (i32.const 48) (i32.const 13))
             ;; never reached
             (call $storage_set (i32.const 96) (i32.const 1) (i32.const 16) (i32.const 2)))
           (func (export "bad") (call $fail (i32.const 80) (i32.const 8) (i32.const 48) (i32.const 13)))
           (func (export "empty") (call $fail (i32.const 80) (i32.const 0) (i32.const 48) (i32.const 13)))
           (func (export "long_code") (call $fail (i32.const 16) (i32.const 65) (i32.const 48) (i32.const 13)))
           (func (export "huge_code") (call $fail (i32.const 16) (i32.const -1) (i32.const 48) (i32.const 13)))
           (func (export "long")
             (memory.fill (i32.const 1024) (i32.const 120) (i32.const 1000))
             (call $fail (i32.const 16) (i32.const 18) (i32.const 1024) (i32.const 1000)))
           (func (export "engine_code") (call $fail (i32.const 16) (i32.const 0) (i32.const 0) (i32.const 0)))"#,
    );
    let mut host = setup(&code);
    let r = host.run("main", "f", b"", FUEL);
    let f = failure(&r);
    assert_eq!(
        (f.kind, f.code.as_str(), f.message.as_str()),
        (FailureCode::Failed, "insufficient_funds", "balance 3 < 5")
    );
    assert!(r.fuel_used > 0 && r.fuel_used < FUEL);
    // The write before `fail` reached the host (which undid it); nothing after it ran.
    assert_eq!(host.log.iter().filter(|l| l.starts_with("set")).count(), 1);
    assert_eq!(host.get("main", b"k"), None);

    let message = engine_failure(&host.run("main", "bad", b"", FUEL), FailureCode::BadFailureCode);
    assert!(message.contains("Bad Code") && message.contains("balance 3 < 5"), "{message}");
    for method in ["empty", "long_code", "huge_code"] {
        engine_failure(&host.run("main", method, b"", FUEL), FailureCode::BadFailureCode);
    }

    let r = host.run("main", "long", b"", FUEL);
    assert_eq!(failure(&r).message, "x".repeat(256));
}

#[test]
fn traps_are_failures() {
    let code = module(
        r#"(func (export "boom") unreachable)
           (func (export "divide") (drop (i32.div_u (i32.const 1) (i32.const 0))))
           (func (export "load") (drop (i32.load (i32.const 65535))))
           (table 1 funcref)
           (type $v (func))
           (func (export "null_call") (call_indirect (type $v) (i32.const 0)))"#,
    );
    let mut host = setup(&code);
    for method in ["boom", "divide", "load", "null_call"] {
        let r = host.run("main", method, b"", FUEL);
        engine_failure(&r, FailureCode::Trap);
        assert!(r.fuel_used > 0 && r.fuel_used < FUEL, "{method}");
    }
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let code = module(r#"(func (export "spin") (loop $l (br $l)))"#);
    let mut host = setup(&code);
    for fuel in [0, 1, 1_000, 1_000_000] {
        let r = host.run("main", "spin", b"", fuel);
        engine_failure(&r, FailureCode::OutOfFuel);
        assert_eq!(r.fuel_used, fuel);
    }
}

#[test]
fn deep_recursion_is_a_failure_not_a_crash() {
    let code = module(
        r#"(func $r (export "recurse") (call $r))
           (func $wide (param i64 i64 i64 i64 i64 i64 i64 i64) (local i64 i64 i64 i64 i64 i64 i64 i64)
             (call $wide (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5) (local.get 6) (local.get 7)))
           (func (export "wide") (call $wide (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6) (i64.const 7) (i64.const 8)))"#,
    );
    let mut host = setup(&code);
    for method in ["recurse", "wide"] {
        let r = host.run("main", method, b"", u64::MAX / 2);
        let message = engine_failure(&r, FailureCode::Trap);
        assert!(message.contains("stack overflow"), "{method}: {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Memory and tables
// ---------------------------------------------------------------------------------------------

#[test]
fn memory_growth_beyond_the_limit_fails() {
    let code = module(
        r#"(func (export "bomb") (loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))))
           (func (export "huge") (drop (memory.grow (i32.const 65535))))
           (func (export "to_the_limit") (if (i32.eq (memory.grow (i32.const 31)) (i32.const -1)) (then unreachable)))"#,
    );
    let mut host = setup(&code);
    for method in ["bomb", "huge"] {
        let message = engine_failure(&host.run("main", method, b"", FUEL), FailureCode::Limit);
        assert!(message.contains("pages"), "{message}");
    }
    // Up to max_memory_pages (32) is fine.
    assert_eq!(Limits::default().max_memory_pages, 32);
    success(&host.run("main", "to_the_limit", b"", FUEL));
}

#[test]
fn a_modules_own_maximum_keeps_the_webassembly_semantics() {
    let code = wat(&format!(
        r#"(module {}
             (memory (export "memory") 1 2)
             (data (i32.const 16) "r")
             (func (export "grow")
               (i32.store (i32.const 32) (memory.grow (i32.const 1)))
               (i32.store (i32.const 36) (memory.grow (i32.const 1)))
               (call $storage_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 8))))"#,
        support::IMPORTS
    ));
    let mut host = setup(&code);
    success(&host.run("main", "grow", b"", FUEL));
    assert_eq!(host.get("main", b"r").unwrap(), [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn a_module_declaring_too_much_memory_or_table_fails_at_run_time() {
    // Such modules are refused by `check`; a node must still not allocate for one that reaches it.
    for code in [
        wat(r#"(module (memory (export "memory") 60000) (func (export "m")))"#),
        wat(r#"(module (memory (export "memory") 33) (func (export "m")))"#),
        wat(r#"(module (memory (export "memory") 1) (table 100000 funcref) (func (export "m")))"#),
    ] {
        let mut host = setup(&code);
        let r = host.run("main", "m", b"", FUEL);
        engine_failure(&r, FailureCode::Limit);
    }
    let code = wat(r#"(module (memory (export "memory") 1) (table 1 funcref)
        (func (export "m") (drop (table.grow (ref.null func) (i32.const 100000)))))"#);
    engine_failure(&setup(&code).run("main", "m", b"", FUEL), FailureCode::Limit);
}

// ---------------------------------------------------------------------------------------------
// Entries and invalid modules
// ---------------------------------------------------------------------------------------------

#[test]
fn methods_init_and_migrate() {
    let code = module(
        r#"(data (i32.const 16) "inited")
           (func (export "init") (call $storage_set (i32.const 16) (i32.const 6) (i32.const 16) (i32.const 1)))
           (func (export "m"))
           (func (export "__helper"))"#,
    );
    let mut host = setup(&code);
    for method in ["nope", "init", "migrate", "__helper", "memory", ""] {
        let r = host.run("main", method, b"", FUEL);
        engine_failure(&r, FailureCode::UnknownMethod);
        assert_eq!(r.fuel_used, 0);
    }
    let r = host.run_entry("main", Entry::Init, "ignored", b"", FUEL).unwrap();
    success(&r);
    assert!(r.fuel_used > 0);
    assert_eq!(host.get("main", b"inited").unwrap(), b"i");
    // No migrate export: success at once, no fuel.
    let r = host.run_entry("main", Entry::Migrate, "", b"", FUEL).unwrap();
    assert_eq!(r, CallResult::success(Vec::new(), 0));
}

#[test]
fn a_module_that_does_not_compile_fails_at_run_time() {
    for code in [
        b"garbage".to_vec(),
        Vec::new(),
        // floating point: refused by the floats-off interpreter too
        wat(r#"(module (memory (export "memory") 1) (func (export "m") (drop (f64.const 1))))"#),
        // a start function
        wat(r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "m")))"#),
        // an import the host does not provide
        wat(r#"(module (import "env" "x" (func)) (memory (export "memory") 1) (func (export "m")))"#),
        // no memory
        wat(r#"(module (func (export "m")))"#),
    ] {
        let mut host = setup(&code);
        let r = host.run("main", "m", b"", FUEL);
        engine_failure(&r, FailureCode::InvalidModule);
        assert_eq!(r.fuel_used, 0);
    }
}

#[test]
fn call_depth_beyond_the_limit_is_refused() {
    let code = module(r#"(func (export "m"))"#);
    let mut host = setup(&code);
    let hash = host.contracts["main"];
    let (who, limits) = (account(), Limits::default());
    let run = fdl_vm_wasm::Run {
        code_hash: hash,
        method: "m",
        input: b"",
        caller: &who,
        signer: &who,
        this: &who,
        height: 1,
        time_ms: 1,
        fuel: FUEL,
        depth: limits.max_call_depth + 1,
        limits: &limits,
        entry: Entry::Method,
    };
    let engine = Arc::clone(&host.engine);
    let r = engine.run(&run, &mut host).unwrap();
    engine_failure(&r, FailureCode::CallDepth);
    success(&engine.run(&fdl_vm_wasm::Run { depth: limits.max_call_depth, ..run }, &mut host).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Fuel
// ---------------------------------------------------------------------------------------------

#[test]
fn host_calls_cost_one_per_byte_on_top() {
    let code = module(
        r#"(func (export "get10") (drop (call $storage_get (i32.const 16) (i32.const 10))))
           (func (export "get20") (drop (call $storage_get (i32.const 16) (i32.const 20))))
           (func (export "hash0") (call $sha256 (i32.const 16) (i32.const 0) (i32.const 1024)))
           (func (export "hash100") (call $sha256 (i32.const 16) (i32.const 100) (i32.const 1024)))"#,
    );
    let mut host = setup(&code);
    let get10 = host.run("main", "get10", b"", FUEL).fuel_used;
    let get20 = host.run("main", "get20", b"", FUEL).fuel_used;
    assert_eq!(get20 - get10, 10);
    let hash0 = host.run("main", "hash0", b"", FUEL).fuel_used;
    let hash100 = host.run("main", "hash100", b"", FUEL).fuel_used;
    assert_eq!(hash100 - hash0, 100);
    assert!(get10 > fuel::HOST_CALL + fuel::STORAGE_READ + 10);
    assert!(hash0 > fuel::HOST_CALL + fuel::HASH + 32);
}

#[test]
fn fuel_is_charged_before_the_work() {
    let code = module(
        r#"(func (export "set") (call $storage_set (i32.const 16) (i32.const 1) (i32.const 16) (i32.const 1)))"#,
    );
    let mut host = setup(&code);
    let needed = host.run("main", "set", b"", FUEL).fuel_used;
    assert!(needed > fuel::HOST_CALL + fuel::STORAGE_WRITE + 2);

    let mut host = setup(&code);
    let r = host.run("main", "set", b"", needed - 1);
    engine_failure(&r, FailureCode::OutOfFuel);
    assert_eq!(r.fuel_used, needed - 1);
    assert!(!host.log.iter().any(|l| l.starts_with("set")), "no write without the fuel for it: {:?}", host.log);
    // Exactly enough is enough.
    success(&setup(&code).run("main", "set", b"", needed));
}

// ---------------------------------------------------------------------------------------------
// The module cache
// ---------------------------------------------------------------------------------------------

#[test]
fn modules_are_compiled_once() {
    let code = module(r#"(func (export "m"))"#);
    let mut host = setup(&code);
    assert_eq!(host.engine.cache_stats(), fdl_vm_wasm::CacheStats::default());
    let first = host.run("main", "m", b"", FUEL);
    let second = host.run("main", "m", b"", FUEL);
    assert_eq!(first, second);
    let stats = host.engine.cache_stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (1, 1, 1));
    assert_eq!(host.log.iter().filter(|l| l.starts_with("load_code")).count(), 1);
}

#[test]
fn the_cache_is_bounded_least_recently_used_first() {
    let mut host = MockHost::new(Arc::new(Engine::with_cache_capacity(2)));
    for name in ["a", "b", "c"] {
        host.deploy(name, &module(&format!(r#"(func (export "m")) (data (i32.const 0) "{name}")"#)));
    }
    for name in ["a", "b", "a", "c"] {
        success(&host.run(name, "m", b"", FUEL));
    }
    // a miss, b miss, a hit, c miss (evicts b, the least recently used)
    let stats = host.engine.cache_stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (3, 1, 2));
    success(&host.run("a", "m", b"", FUEL));
    success(&host.run("b", "m", b"", FUEL));
    let stats = host.engine.cache_stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (4, 2, 2));

    let mut host = MockHost::new(Arc::new(Engine::with_cache_capacity(0)));
    host.deploy("a", &module(r#"(func (export "m"))"#));
    success(&host.run("a", "m", b"", FUEL));
    success(&host.run("a", "m", b"", FUEL));
    let stats = host.engine.cache_stats();
    assert_eq!((stats.misses, stats.hits, stats.entries), (2, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn the_same_run_gives_the_same_everything() {
    let code = module(
        r#"(data (i32.const 16) "counter") (data (i32.const 48) "ev") (data (i32.const 64) "{\"n\":1}")
           (func (export "work") (local $i i32) (local $n i32)
             (loop $l
               (call $sha256 (i32.const 0) (i32.const 64) (i32.const 1024))
               (call $storage_set (i32.const 1024) (i32.const 8) (i32.const 1024) (i32.const 32))
               (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
             (local.set $n (call $storage_next (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
             (call $save (i32.const 16) (i32.const 7) (local.get $n))
             (call $emit (i32.const 48) (i32.const 2) (i32.const 64) (i32.const 7))
             (local.set $n (call $input))
             (call $read_result (i32.const 2048))
             (call $set_return (i32.const 2048) (local.get $n)))"#,
    );
    let shared = Arc::new(Engine::new());
    type Outcome = (CallResult, Vec<String>, Vec<(String, String, String)>);
    let runs: Vec<Outcome> = [
        Arc::new(Engine::new()),
        Arc::clone(&shared),
        Arc::clone(&shared), // a cache hit
    ]
    .into_iter()
    .map(|engine| {
        let mut host = MockHost::new(engine);
        host.deploy("main", &code);
        let r = host.run("main", "work", br#"{"x":[1,2,3]}"#, FUEL);
        let log = host.log.into_iter().filter(|l| !l.starts_with("load_code")).collect();
        (r, log, host.events)
    })
    .collect();
    assert_eq!(success(&runs[0].0), br#"{"x":[1,2,3]}"#);
    assert!(runs[0].1.len() >= 8, "{:?}", runs[0].1);
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[1], runs[2]);
    assert_eq!(shared.cache_stats().hits, 1);
}
