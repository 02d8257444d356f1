//! Calls between contracts: the mock host re-enters the engine, as the executor does. Return data
//! and errors through the result buffer, fuel accounting of nested calls, depth, and host errors.

#![allow(clippy::unwrap_used)]

mod support;

use fdl_vm_wasm::{CallResult, FailureCode, fuel};
use support::{FUEL, MockHost, account, contract, failure, module, setup, success};

/// Contract `a`: calls `b` with `{"x":1}`.
fn outer() -> Vec<u8> {
    module(
        r#"(data (i32.const 16) "b") (data (i32.const 32) "inner") (data (i32.const 48) "{\"x\":1}")
           (data (i32.const 64) "err") (data (i32.const 80) "failing") (data (i32.const 96) "spin")
           (data (i32.const 112) "who") (data (i32.const 128) "nobody")
           (func $call_b (param $mp i32) (param $ml i32) (result i32)
             (call $call (i32.const 16) (i32.const 1) (local.get $mp) (local.get $ml) (i32.const 48) (i32.const 7)))
           ;; Stores the error of a failed call (-1 - len) under "err"; traps on success.
           (func $save_error (param $n i32)
             (if (i32.ge_s (local.get $n) (i32.const 0)) (then unreachable))
             (call $read_result (i32.const 2048))
             (call $storage_set (i32.const 64) (i32.const 3) (i32.const 2048) (i32.sub (i32.const -1) (local.get $n))))
           (func (export "outer") (local $n i32)
             (local.set $n (call $call_b (i32.const 32) (i32.const 5)))
             (if (i32.lt_s (local.get $n) (i32.const 0)) (then unreachable))
             (call $read_result (i32.const 1024))
             (call $set_return (i32.const 1024) (local.get $n)))
           (func (export "catch") (call $save_error (call $call_b (i32.const 80) (i32.const 7))))
           (func (export "starve")
             (drop (call $call_b (i32.const 96) (i32.const 4)))
             ;; the callee used all the fuel: the next host call cannot be paid
             (drop (call $block_height)))
           (func (export "who") (drop (call $call_b (i32.const 112) (i32.const 3))))
           (func (export "nobody")
             (call $save_error (call $call (i32.const 128) (i32.const 6) (i32.const 32) (i32.const 5) (i32.const 0) (i32.const 0))))"#,
    )
}

/// Contract `b`.
fn inner() -> Vec<u8> {
    module(
        r#"(data (i32.const 16) "bk") (data (i32.const 32) "nope") (data (i32.const 48) "no way")
           (data (i32.const 64) "caller") (data (i32.const 80) "signer")
           (func (export "inner") (local $n i32)
             (call $storage_set (i32.const 16) (i32.const 2) (i32.const 16) (i32.const 2))
             (local.set $n (call $input))
             (call $read_result (i32.const 1024))
             (call $set_return (i32.const 1024) (local.get $n)))
           (func (export "failing")
             (call $storage_set (i32.const 16) (i32.const 2) (i32.const 16) (i32.const 2))
             (call $fail (i32.const 32) (i32.const 4) (i32.const 48) (i32.const 6)))
           (func (export "spin") (loop $l (br $l)))
           (func (export "who")
             (call $save (i32.const 64) (i32.const 6) (call $caller))
             (call $save (i32.const 80) (i32.const 6) (call $signer)))"#,
    )
}

fn two_contracts() -> MockHost {
    let mut host = setup(&outer());
    host.deploy("a", &outer());
    host.deploy("b", &inner());
    host
}

#[test]
fn a_call_returns_the_callees_data_and_charges_its_fuel() {
    let mut host = two_contracts();
    let r = host.run("a", "outer", b"", FUEL);
    assert_eq!(success(&r), br#"{"x":1}"#);
    assert_eq!(host.get("b", b"bk").unwrap(), b"bk");
    let (callee, given, used_by_b) = host.nested[0].clone();
    assert_eq!(callee, "b");
    assert!(given < FUEL - fuel::CALL, "the call's cost comes first");
    assert!(used_by_b > fuel::STORAGE_WRITE);
    let logged = format!(r#"call b.inner {{"x":1}} fuel={given} depth=1"#);
    assert!(host.log.contains(&logged), "{:?}", host.log);

    // The same call answered without running b: a's own fuel. The difference is b's.
    let mut stub = two_contracts();
    stub.canned = Some(CallResult::success(br#"{"x":1}"#.to_vec(), 0));
    let alone = stub.run("a", "outer", b"", FUEL);
    assert_eq!(success(&alone), br#"{"x":1}"#);
    assert_eq!(r.fuel_used, alone.fuel_used + used_by_b);
    // And a callee reporting more than it was given costs the caller all it had, no more.
    let mut greedy = two_contracts();
    greedy.canned = Some(CallResult::success(b"1".to_vec(), u64::MAX));
    let r = greedy.run("a", "outer", b"", FUEL);
    assert_eq!(failure(&r).code, "out_of_fuel");
    assert_eq!(r.fuel_used, FUEL);
}

#[test]
fn a_failed_call_gives_the_caller_its_error_and_is_undone() {
    let mut host = two_contracts();
    let r = host.run("a", "catch", b"", FUEL);
    success(&r);
    assert_eq!(host.get("a", b"err").unwrap(), b"nope\nno way");
    assert_eq!(host.get("b", b"bk"), None, "the callee's write is undone");
    let used_by_b = host.nested[0].2;
    assert!(used_by_b > fuel::STORAGE_WRITE);

    let mut stub = two_contracts();
    stub.canned = Some(CallResult::failure(fdl_vm_wasm::Failure::contract("nope", "no way"), 0));
    let alone = stub.run("a", "catch", b"", FUEL);
    assert_eq!(r.fuel_used, alone.fuel_used + used_by_b);
}

#[test]
fn errors_of_engine_and_host_reach_the_caller() {
    let mut host = two_contracts();
    success(&host.run("a", "nobody", b"", FUEL));
    assert_eq!(host.get("a", b"err").unwrap(), b"unknown_contract\nnobody");

    // A long error message is cut to 256 bytes in the caller's buffer.
    let mut host = two_contracts();
    host.canned =
        Some(CallResult::failure(fdl_vm_wasm::Failure::engine(FailureCode::PermissionDenied, "x".repeat(1000)), 0));
    success(&host.run("a", "catch", b"", FUEL));
    let err = host.get("a", b"err").unwrap();
    assert_eq!(err, format!("permission_denied\n{}", "x".repeat(256)).into_bytes());
}

#[test]
fn a_callee_that_runs_out_of_fuel_takes_the_callers_fuel() {
    let mut host = two_contracts();
    let r = host.run("a", "starve", b"", FUEL);
    let f = failure(&r);
    assert_eq!(f.code, "out_of_fuel");
    assert_eq!(r.fuel_used, FUEL);
    let (_, given, used) = host.nested[0].clone();
    assert_eq!(given, used, "the callee used all it was given");
}

#[test]
fn the_callee_sees_its_caller_and_the_signer() {
    let mut host = two_contracts();
    success(&host.run("a", "who", b"", FUEL));
    assert_eq!(host.get("b", b"caller").unwrap(), contract("a").encode());
    assert_eq!(host.get("b", b"signer").unwrap(), account().encode());
}

/// `rec.go` calls itself, storing the error of the call that is refused.
fn recursive() -> Vec<u8> {
    module(
        r#"(data (i32.const 16) "rec") (data (i32.const 32) "go") (data (i32.const 48) "err")
           (func (export "go") (local $n i32)
             (local.set $n (call $call (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 2) (i32.const 0) (i32.const 0)))
             (if (i32.lt_s (local.get $n) (i32.const 0))
               (then
                 (call $read_result (i32.const 1024))
                 (call $storage_set (i32.const 48) (i32.const 3) (i32.const 1024) (i32.sub (i32.const -1) (local.get $n))))))"#,
    )
}

#[test]
fn calls_deeper_than_the_limit_are_refused() {
    let mut host = setup(&recursive());
    host.deploy("rec", &recursive());
    host.limits.max_call_depth = 3;
    success(&host.run("rec", "go", b"", FUEL));
    let err = host.get("rec", b"err").unwrap();
    assert!(err.starts_with(b"call_depth\n"), "{}", String::from_utf8_lossy(&err));
    let depths: Vec<_> =
        host.log.iter().filter(|l| l.starts_with("call ")).map(|l| l.rsplit(' ').next().unwrap().to_owned()).collect();
    assert_eq!(depths, ["depth=1", "depth=2", "depth=3"]);
    // Each level's fuel is less than its caller's.
    let given: Vec<u64> = host.nested.iter().map(|n| n.1).collect();
    assert!(given.windows(2).all(|w| w[0] < w[1]), "innermost first: {given:?}");

    // The default limit (8): eight nested engine runs on the host's stack, then the refusal.
    let mut host = setup(&recursive());
    host.deploy("rec", &recursive());
    success(&host.run("rec", "go", b"", FUEL));
    assert_eq!(host.nested.len(), 8);
    assert!(host.get("rec", b"err").unwrap().starts_with(b"call_depth\n"));

    // A host that refuses re-entrancy: the first call is refused.
    let mut host = setup(&recursive());
    host.deploy("rec", &recursive());
    host.refuse_reentrancy = true;
    success(&host.run("rec", "go", b"", FUEL));
    assert_eq!(host.get("rec", b"err").unwrap(), b"reentrancy\nrec");
}

#[test]
fn a_host_error_in_a_callee_aborts_everything() {
    let mut host = two_contracts();
    host.broken_store = true;
    let e = host.run_entry("a", fdl_vm_wasm::Entry::Method, "outer", b"", FUEL).unwrap_err();
    assert!(e.to_string().contains("disk on fire"));
}

#[test]
fn nested_runs_are_deterministic() {
    let run = || {
        let mut host = two_contracts();
        let r = host.run("a", "outer", b"", FUEL);
        let c = host.run("a", "catch", b"", FUEL);
        (r, c, host.log, host.nested, host.storage)
    };
    assert_eq!(run(), run());
}
