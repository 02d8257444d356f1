//! Smart contracts executed through `execute_block` (STD-12): deploy by committee vote and
//! directly, calls and their receipts, failures that leave nothing behind, calls between
//! contracts (undo, re-entrancy, depth, access rules), access rules, the lifecycle (upgrade with
//! migration, freeze, unfreeze, retire), the block's fuel, iteration of contract storage through
//! the block's overlay, determinism, and the chain's limits.
//!
//! Contracts are small WAT modules written for these tests (see the `wasm` module below): each
//! method is a few instructions, commented.

mod common;

use std::collections::BTreeMap;

use common::{Actor, Chain, Mem, assert_writes_as_baseline, attr, event};
use fdl_crypto::{Address, Hash, Suite};
use fdl_exec::contract::contract_address;
use fdl_exec::gov::ProposalState;
use fdl_exec::{BlockOutcome, execute_block};
use fdl_schema::{ContractRecord, ContractStatus, VersionRecord, keys};
use fdl_types::{
    ChainParam, ChainParams, Decode, DeploySpec, Encode, GovAction, MethodRule, Payload, Receipt, Review, Role,
    SignedTx, StatusCode, UpgradeSpec, VmKind,
};
use fdl_vm_wasm::Identity;

// ---- the contracts ---------------------------------------------------------------------------

/// The test contracts, as WAT compiled with the `wat` crate.
mod wasm {
    /// Every import of module `fdl` (ABI version 1), under `$name`.
    const IMPORTS: &str = r#"
      (import "fdl" "input" (func $input (result i32)))
      (import "fdl" "read_result" (func $read_result (param i32)))
      (import "fdl" "set_return" (func $set_return (param i32 i32)))
      (import "fdl" "fail" (func $fail (param i32 i32 i32 i32)))
      (import "fdl" "storage_get" (func $storage_get (param i32 i32) (result i32)))
      (import "fdl" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
      (import "fdl" "storage_remove" (func $storage_remove (param i32 i32)))
      (import "fdl" "storage_next" (func $storage_next (param i32 i32 i32 i32) (result i32)))
      (import "fdl" "caller" (func $caller (result i32)))
      (import "fdl" "signer" (func $signer (result i32)))
      (import "fdl" "emit" (func $emit (param i32 i32 i32 i32)))
      (import "fdl" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
    "#;

    /// A module with the imports, `pages` pages of exported memory, two helpers and `body`.
    ///
    /// Memory: constants below 1024, the input at 1024, scratch from 20000, results at 40000.
    /// `$arg` copies the call's input to 1024 and gives its length. `$keep(kp, kl, n)` stores the
    /// result buffer under the key at `kp` (length `kl`): `n` is what the host function that filled
    /// it returned (a length, `-1` for nothing, or `-1 - len` for a failed call's error).
    pub fn module_with_pages(pages: u32, body: &str) -> Vec<u8> {
        let text = format!(
            r#"(module {IMPORTS}
              (memory (export "memory") {pages})
              (func $arg (result i32) (local $n i32)
                (local.set $n (call $input))
                (call $read_result (i32.const 1024))
                (local.get $n))
              (func $keep (param $kp i32) (param $kl i32) (param $n i32)
                (if (i32.lt_s (local.get $n) (i32.const 0))
                  (then (local.set $n (i32.sub (i32.const -1) (local.get $n)))))
                (call $read_result (i32.const 40000))
                (call $storage_set (local.get $kp) (local.get $kl) (i32.const 40000) (local.get $n)))
              {body})"#
        );
        wat::parse_str(&text).unwrap_or_else(|e| panic!("bad WAT: {e}\n{text}"))
    }

    /// As [`module_with_pages`], with one page.
    pub fn module(body: &str) -> Vec<u8> {
        module_with_pages(1, body)
    }

    /// `counter`: `init` keeps its arguments under `init`; `inc` adds one to the 8-byte counter
    /// `n` and returns it as a JSON number; `echo` returns its arguments; `boom` writes `n` then
    /// fails (`nope`, `no way`); `spin` writes `n` then loops for ever.
    pub fn counter() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "n") (data (i32.const 8) "init")
               (data (i32.const 16) "nope") (data (i32.const 24) "no way")
               (func (export "init") (call $keep (i32.const 8) (i32.const 4) (call $input)))
               (func (export "inc") (local $v i64) (local $p i32)
                 (if (i32.eq (call $storage_get (i32.const 0) (i32.const 1)) (i32.const 8))
                   (then (call $read_result (i32.const 32)) (local.set $v (i64.load (i32.const 32)))))
                 (local.set $v (i64.add (local.get $v) (i64.const 1)))
                 (i64.store (i32.const 32) (local.get $v))
                 (call $storage_set (i32.const 0) (i32.const 1) (i32.const 32) (i32.const 8))
                 ;; its decimal digits, written backwards to end at 100
                 (local.set $p (i32.const 100))
                 (loop $digit
                   (local.set $p (i32.sub (local.get $p) (i32.const 1)))
                   (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
                   (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
                   (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
                 (call $set_return (local.get $p) (i32.sub (i32.const 100) (local.get $p))))
               (func (export "echo") (call $set_return (i32.const 1024) (call $arg)))
               (func (export "boom")
                 (call $storage_set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 4))
                 (call $fail (i32.const 16) (i32.const 4) (i32.const 24) (i32.const 6)))
               (func (export "spin")
                 (call $storage_set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 4))
                 (loop $forever (br $forever)))"#,
        )
    }

    /// `kv`: the argument is a JSON string `"k"`. `set` stores the argument under `k`; `del`
    /// removes `k`; `get` returns the value under `k` or `null`; `list` returns the keys that
    /// start with `k`, in order, as a JSON array of strings (iterating with `storage_next`);
    /// `set_list` and `del_list` set or delete `k`, then list every key.
    pub fn kv() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "bad_args") (data (i32.const 16) "null")
               ;; the key between the quotes (at 1025) and its length; fails with fewer than min bytes
               (func $key (param $min i32) (result i32) (local $n i32)
                 (local.set $n (call $arg))
                 (if (i32.lt_u (local.get $n) (i32.add (local.get $min) (i32.const 2)))
                   (then (call $fail (i32.const 0) (i32.const 8) (i32.const 0) (i32.const 0))))
                 (i32.sub (local.get $n) (i32.const 2)))
               (func $set (local $k i32)
                 (local.set $k (call $key (i32.const 1)))
                 (call $storage_set (i32.const 1025) (local.get $k) (i32.const 1024) (i32.add (local.get $k) (i32.const 2))))
               (func $del (call $storage_remove (i32.const 1025) (call $key (i32.const 1))))
               (func (export "set") (call $set))
               (func (export "del") (call $del))
               (func (export "get") (local $n i32)
                 (local.set $n (call $storage_get (i32.const 1025) (call $key (i32.const 1))))
                 (if (i32.lt_s (local.get $n) (i32.const 0))
                   (then (call $set_return (i32.const 16) (i32.const 4)))
                   (else (call $read_result (i32.const 40000)) (call $set_return (i32.const 40000) (local.get $n)))))
               (func (export "list") (call $list (call $key (i32.const 0))))
               ;; set_list "k" / del_list "k": set or delete k, then list every key in the same call
               (func (export "set_list") (call $set) (call $list (i32.const 0)))
               (func (export "del_list") (call $del) (call $list (i32.const 0)))
               ;; returns the keys starting with the p bytes at 1025
               (func $list (param $p i32) (local $out i32) (local $n i32) (local $alen i32)
                 (i32.store8 (i32.const 20000) (i32.const 91))  ;; [
                 (local.set $out (i32.const 20001))
                 (block $done
                   (loop $next
                     (local.set $n (call $storage_next (i32.const 1025) (local.get $p) (i32.const 30000) (local.get $alen)))
                     (br_if $done (i32.lt_s (local.get $n) (i32.const 0)))
                     ;; the key found is the next search's `after`
                     (call $read_result (i32.const 30000))
                     (local.set $alen (local.get $n))
                     (if (i32.gt_u (local.get $out) (i32.const 20001))
                       (then (i32.store8 (local.get $out) (i32.const 44))  ;; ,
                             (local.set $out (i32.add (local.get $out) (i32.const 1)))))
                     (i32.store8 (local.get $out) (i32.const 34))  ;; "
                     (memory.copy (i32.add (local.get $out) (i32.const 1)) (i32.const 30000) (local.get $n))
                     (local.set $out (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 2))))
                     (i32.store8 (i32.sub (local.get $out) (i32.const 1)) (i32.const 34))
                     (br $next)))
                 (i32.store8 (local.get $out) (i32.const 93))  ;; ]
                 (call $set_return (i32.const 20000) (i32.sub (i32.add (local.get $out) (i32.const 1)) (i32.const 20000))))"#,
        )
    }

    /// `caller` (deployed as `a` and `c`): each `call_*` writes `a` = `a`, calls the method of
    /// contract `b` with `{}` and keeps `b`'s return under `ret` or its error under `err`;
    /// `set_then_fail` calls `b.set` and then fails itself; `ping` (what `b.back` calls) writes
    /// `pinged`.
    pub fn caller() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "b") (data (i32.const 8) "set") (data (i32.const 16) "boom")
               (data (i32.const 24) "back") (data (i32.const 32) "who") (data (i32.const 40) "guarded")
               (data (i32.const 48) "err") (data (i32.const 56) "ret") (data (i32.const 64) "a")
               (data (i32.const 72) "pinged") (data (i32.const 80) "after")
               (data (i32.const 88) "a failed after b") (data (i32.const 112) "{}")
               (func $call_b (param $mp i32) (param $ml i32) (local $n i32)
                 (call $storage_set (i32.const 64) (i32.const 1) (i32.const 64) (i32.const 1))
                 (local.set $n (call $call (i32.const 0) (i32.const 1) (local.get $mp) (local.get $ml) (i32.const 112) (i32.const 2)))
                 (if (i32.lt_s (local.get $n) (i32.const 0))
                   (then (call $keep (i32.const 48) (i32.const 3) (local.get $n)))
                   (else (call $keep (i32.const 56) (i32.const 3) (local.get $n)))))
               (func (export "call_set") (call $call_b (i32.const 8) (i32.const 3)))
               (func (export "call_boom") (call $call_b (i32.const 16) (i32.const 4)))
               (func (export "call_back") (call $call_b (i32.const 24) (i32.const 4)))
               (func (export "call_who") (call $call_b (i32.const 32) (i32.const 3)))
               (func (export "call_guarded") (call $call_b (i32.const 40) (i32.const 7)))
               (func (export "set_then_fail")
                 (call $call_b (i32.const 8) (i32.const 3))
                 (call $fail (i32.const 80) (i32.const 5) (i32.const 88) (i32.const 16)))
               (func (export "ping") (call $storage_set (i32.const 72) (i32.const 6) (i32.const 64) (i32.const 1)))"#,
        )
    }

    /// `callee` (deployed as `b`): `set` writes `bk` and returns `"done"`; `boom` writes `bk` then
    /// fails (`nope`, `no way`); `back` calls `a.ping` and keeps the outcome under `back` (empty:
    /// success, else the error); `who` keeps its `caller` and `signer` identities; `guarded` writes
    /// `g`.
    pub fn callee() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "a") (data (i32.const 8) "ping") (data (i32.const 16) "bk")
               (data (i32.const 24) "nope") (data (i32.const 32) "no way") (data (i32.const 40) "back")
               (data (i32.const 48) "caller") (data (i32.const 56) "signer") (data (i32.const 64) "g")
               (data (i32.const 72) "\"done\"")
               (func (export "set")
                 (call $storage_set (i32.const 16) (i32.const 2) (i32.const 16) (i32.const 2))
                 (call $set_return (i32.const 72) (i32.const 6)))
               (func (export "boom")
                 (call $storage_set (i32.const 16) (i32.const 2) (i32.const 16) (i32.const 2))
                 (call $fail (i32.const 24) (i32.const 4) (i32.const 32) (i32.const 6)))
               (func (export "back")
                 (call $keep (i32.const 40) (i32.const 4)
                   (call $call (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 4) (i32.const 0) (i32.const 0))))
               (func (export "who")
                 (call $keep (i32.const 48) (i32.const 6) (call $caller))
                 (call $keep (i32.const 56) (i32.const 6) (call $signer)))
               (func (export "guarded") (call $storage_set (i32.const 64) (i32.const 1) (i32.const 64) (i32.const 1)))"#,
        )
    }

    /// `rec`: `go` adds one to the 8-byte counter `d`, then calls `rec.go` again; the error that
    /// ends the recursion is kept under `err` (by the innermost frame that ran).
    pub fn recursive() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "rec") (data (i32.const 8) "go") (data (i32.const 16) "d") (data (i32.const 24) "err")
               (func (export "go") (local $v i64) (local $n i32)
                 (if (i32.eq (call $storage_get (i32.const 16) (i32.const 1)) (i32.const 8))
                   (then (call $read_result (i32.const 32)) (local.set $v (i64.load (i32.const 32)))))
                 (i64.store (i32.const 32) (i64.add (local.get $v) (i64.const 1)))
                 (call $storage_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 8))
                 (local.set $n (call $call (i32.const 0) (i32.const 3) (i32.const 8) (i32.const 2) (i32.const 0) (i32.const 0)))
                 (if (i32.lt_s (local.get $n) (i32.const 0))
                   (then (call $keep (i32.const 24) (i32.const 3) (local.get $n)))))"#,
        )
    }

    /// Version 1 of `ver`: `version` returns `1`; `set` writes `k` = `"v1"`.
    pub fn ver1() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "k") (data (i32.const 8) "\"v1\"") (data (i32.const 16) "1")
               (func (export "version") (call $set_return (i32.const 16) (i32.const 1)))
               (func (export "set") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 4)))"#,
        )
    }

    /// Version 2 of `ver`: `version` returns `2`; `get` returns `k`; `migrate` copies `k` (written
    /// by version 1) to `migrated` and keeps its arguments under `margs`.
    pub fn ver2() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "k") (data (i32.const 8) "2") (data (i32.const 16) "migrated") (data (i32.const 32) "margs")
               (func (export "version") (call $set_return (i32.const 8) (i32.const 1)))
               (func (export "get") (local $n i32)
                 (local.set $n (call $storage_get (i32.const 0) (i32.const 1)))
                 (call $read_result (i32.const 40000))
                 (call $set_return (i32.const 40000) (local.get $n)))
               (func (export "migrate")
                 (call $keep (i32.const 16) (i32.const 8) (call $storage_get (i32.const 0) (i32.const 1)))
                 (call $keep (i32.const 32) (i32.const 5) (call $input)))"#,
        )
    }

    /// `lim`, two pages of memory: each method first writes `w`, then: `ret` returns its
    /// arguments; `events` emits `{}` once per byte of its arguments; `event` emits its arguments
    /// as one event's data; `key` writes under its arguments as the key; `value` writes its
    /// arguments as the value of `v`; `grow` grows the memory by one page per byte of its
    /// arguments (failing `no_grow` if it returns -1).
    pub fn limits() -> Vec<u8> {
        module_with_pages(
            2,
            r#"(data (i32.const 0) "w") (data (i32.const 8) "{}") (data (i32.const 16) "tick")
               (data (i32.const 24) "v") (data (i32.const 32) "no_grow")
               (func $mark (call $storage_set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 2)))
               (func (export "ret") (call $mark) (call $set_return (i32.const 1024) (call $arg)))
               (func (export "events") (local $n i32)
                 (call $mark)
                 (local.set $n (call $arg))
                 (block $done
                   (loop $more
                     (br_if $done (i32.eqz (local.get $n)))
                     (call $emit (i32.const 16) (i32.const 4) (i32.const 8) (i32.const 2))
                     (local.set $n (i32.sub (local.get $n) (i32.const 1)))
                     (br $more))))
               (func (export "event") (local $n i32)
                 (call $mark)
                 (local.set $n (call $arg))
                 (call $emit (i32.const 16) (i32.const 4) (i32.const 1024) (local.get $n)))
               (func (export "key") (local $n i32)
                 (call $mark)
                 (local.set $n (call $arg))
                 (call $storage_set (i32.const 1024) (local.get $n) (i32.const 8) (i32.const 2)))
               (func (export "value") (local $n i32)
                 (call $mark)
                 (local.set $n (call $arg))
                 (call $storage_set (i32.const 24) (i32.const 1) (i32.const 1024) (local.get $n)))
               (func (export "grow")
                 (call $mark)
                 (if (i32.lt_s (memory.grow (call $arg)) (i32.const 0))
                   (then (call $fail (i32.const 32) (i32.const 7) (i32.const 0) (i32.const 0)))))"#,
        )
    }

    /// `chat`: `go` emits one `tick` event per byte of its arguments, then calls `chat.go` again
    /// with the same arguments (the error that ends the recursion is kept under `err`).
    pub fn chatty() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "chat") (data (i32.const 8) "go") (data (i32.const 16) "tick")
               (data (i32.const 24) "{}") (data (i32.const 32) "err")
               (func (export "go") (local $n i32) (local $i i32) (local $r i32)
                 (local.set $n (call $arg))
                 (local.set $i (local.get $n))
                 (block $done
                   (loop $more
                     (br_if $done (i32.eqz (local.get $i)))
                     (call $emit (i32.const 16) (i32.const 4) (i32.const 24) (i32.const 2))
                     (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                     (br $more)))
                 (local.set $r (call $call (i32.const 0) (i32.const 4) (i32.const 8) (i32.const 2) (i32.const 1024) (local.get $n)))
                 (if (i32.lt_s (local.get $r) (i32.const 0))
                   (then (call $keep (i32.const 32) (i32.const 3) (local.get $r)))))"#,
        )
    }

    /// A module whose `init` and `migrate` write `w`, then fail (`no_init`); method `m` does
    /// nothing.
    pub fn failing_entries() -> Vec<u8> {
        module(
            r#"(data (i32.const 0) "w") (data (i32.const 8) "no_init")
               (func $boom
                 (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
                 (call $fail (i32.const 8) (i32.const 7) (i32.const 0) (i32.const 0)))
               (func (export "init") (call $boom))
               (func (export "migrate") (call $boom))
               (func (export "m"))"#,
        )
    }

    /// `noisy`: `init` emits one `tick` event per byte of its arguments; method `m` does nothing.
    pub fn noisy_init() -> Vec<u8> {
        module(
            r#"(data (i32.const 16) "tick") (data (i32.const 24) "{}")
               (func (export "init") (local $i i32)
                 (local.set $i (call $arg))
                 (block $done
                   (loop $more
                     (br_if $done (i32.eqz (local.get $i)))
                     (call $emit (i32.const 16) (i32.const 4) (i32.const 24) (i32.const 2))
                     (local.set $i (i32.sub (local.get $i) (i32.const 1)))
                     (br $more))))
               (func (export "m"))"#,
        )
    }

    /// A module that is valid WebAssembly but fails one static check, by name.
    pub fn refused(what: &str) -> Vec<u8> {
        let text = match what {
            "float" => r#"(module (memory (export "memory") 1) (func (export "f") (drop (f32.const 1))))"#.to_string(),
            "unknown_import" => {
                r#"(module (import "env" "x" (func)) (memory (export "memory") 1) (func (export "f")))"#.to_string()
            }
            "start" => r#"(module (memory (export "memory") 1) (func $s) (start $s) (func (export "f")))"#.to_string(),
            "too_large" => {
                format!(
                    r#"(module (memory (export "memory") 1) (data (i32.const 0) "{}") (func (export "f")))"#,
                    "x".repeat(2_000)
                )
            }
            "memory" => r#"(module (memory (export "memory") 3) (func (export "f")))"#.to_string(),
            other => panic!("no refused module {other}"),
        };
        wat::parse_str(&text).unwrap_or_else(|e| panic!("bad WAT: {e}\n{text}"))
    }
}

// ---- the chain (the harness is `common`) -------------------------------------------------------

impl Chain {
    fn call(&mut self, who: &Actor, contract: &str, method: &str, args: &str) -> Receipt {
        self.send(who, call(contract, method, args))
    }

    fn admin_call(&mut self, admin: usize, contract: &str, method: &str, args: &str) -> Receipt {
        let tx = self.tx(&self.admins[admin], call(contract, method, args));
        self.block(&[tx]).remove(0)
    }

    /// Deploys by committee vote (org1 proposes).
    fn deploy(&mut self, spec: DeploySpec) -> Receipt {
        let r = self.pass(GovAction::DeployContract { spec });
        assert!(event(&r, "contract.deployed").is_some(), "{r:?}");
        r
    }

    fn storage(&self, contract: &str, key: &str) -> Option<Vec<u8>> {
        self.state.map.get(&keys::contract_storage_key(contract, key.as_bytes())).cloned()
    }

    fn record(&self, name: &str) -> ContractRecord {
        keys::contract(name).read(&self.state).expect("read").expect("contract")
    }
}

fn spec(name: &str, code: Vec<u8>) -> DeploySpec {
    DeploySpec {
        name: name.into(),
        vm: VmKind::Wasm,
        code,
        review: None,
        access: vec![],
        allow_reentry: false,
        init_args: String::new(),
        abi: String::new(),
    }
}

fn call(contract: &str, method: &str, args: &str) -> Payload {
    Payload::Call { contract: contract.into(), version: 0, method: method.into(), args: args.into(), fuel: 0 }
}

/// The keys a block wrote under the contract prefixes (registry, code, storage).
fn contract_writes(out: &BlockOutcome) -> Vec<String> {
    out.writes
        .keys()
        .filter(|k| k.starts_with(b"ctr/") || k.starts_with(b"code/") || k.starts_with(b"cs/"))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

/// Asserts that the call `payload` by `who` fails with `status` and writes exactly what a call
/// of a contract that does not exist writes (the sender's account, its certificate on first
/// use): nothing of the contract's.
fn assert_fails_writing_nothing(c: &Chain, who: &Actor, payload: Payload, status: StatusCode) -> Receipt {
    let baseline = call("nobody", "m", "{}");
    let r = assert_writes_as_baseline(c, who, payload, status, baseline, StatusCode::UnknownContract);
    assert!(r.output.is_empty());
    r
}

fn identity_account(a: &Actor, org: &str, role: &str) -> Identity {
    Identity {
        address: a.address().0,
        is_contract: false,
        org: org.into(),
        role: role.into(),
        name: String::new(),
        version: 0,
    }
}

// ---- 1. deploy by committee vote ----------------------------------------------------------------

#[test]
fn a_deploy_voted_by_the_committee_records_the_contract_stores_its_code_and_runs_init() {
    let mut c = Chain::new();
    let code = wasm::counter();
    let hash = fdl_crypto::hash(Suite::Intl, &code);
    let review = Review { hash: Hash([7; 32]), author: "audit co".into() };
    let reviewed =
        DeploySpec { review: Some(review), init_args: r#"{"seed":1}"#.into(), ..spec("counter", code.clone()) };
    let (id, r) = c.propose(0, GovAction::DeployContract { spec: reviewed });
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(attr(&r, "gov.proposed", "contract"), Some("counter"));
    assert!(keys::contract("counter").read(&c.state).expect("read").is_none(), "nothing before the vote passes");
    let r = c.carry(id, 0);
    assert_eq!(c.status(id), ProposalState::Applied);
    let deployed = event(&r, "contract.deployed").expect("contract.deployed");
    let get = |k: &str| deployed.attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    assert_eq!(get("contract").as_deref(), Some("counter"));
    assert_eq!(get("version").as_deref(), Some("1"));
    assert_eq!(get("code_hash"), Some(hash.to_hex()));
    assert_eq!(get("deployer"), Some(c.admins[0].address().to_hex()));
    assert_eq!(get("org").as_deref(), Some("org1"));
    assert_eq!(get("proposal"), Some(id.to_string()));
    assert_eq!(get("address"), Some(contract_address(Suite::Intl, "counter").to_hex()));
    assert_eq!(get("review_hash"), Some(Hash([7; 32]).to_hex()));
    assert_eq!(get("review_author").as_deref(), Some("audit co"));

    let rec = c.record("counter");
    assert_eq!((rec.owner.as_str(), rec.current, rec.versions), ("org1", 1, 1));
    assert_eq!(rec.status, ContractStatus::Active);
    assert_eq!(rec.address, contract_address(Suite::Intl, "counter"));
    let v: VersionRecord = keys::contract_version("counter", 1).read(&c.state).expect("read").expect("version 1");
    assert_eq!((v.version, v.code_hash, v.code_size as usize), (1, hash, code.len()));
    assert_eq!((v.deployer, v.proposal), (c.admins[0].address(), id));
    assert_eq!(v.methods, ["boom", "echo", "inc", "spin"], "init is not a method");
    assert_eq!(v.review.as_ref().map(|r| r.author.as_str()), Some("audit co"));
    assert_eq!(keys::code(&hash).read(&c.state).expect("read"), Some(code.clone()), "the code under its hash");
    assert_eq!(
        c.storage("counter", "init").as_deref(),
        Some(br#"{"seed":1}"#.as_slice()),
        "init ran with its arguments"
    );

    // Without a review, no review attributes; `init` gets `{}` for empty arguments.
    let r = c.deploy(spec("counter2", code));
    assert!(attr(&r, "contract.deployed", "review_hash").is_none());
    assert_eq!(c.storage("counter2", "init").as_deref(), Some(b"{}".as_slice()));
    // The name is taken now.
    let (_, r) = c.propose(0, GovAction::DeployContract { spec: spec("counter", wasm::kv()) });
    assert_eq!(attr(&r, "gov.refused", "code"), Some("contract_exists"));
}

/// With one committee seat the proposal passes, and deploys, in the transaction that makes it,
/// before its record is written: the deploy takes its installer from the application.
#[test]
fn a_deploy_that_passes_in_the_transaction_proposing_it_deploys() {
    let mut c = Chain::build(ChainParams::default(), 1);
    let (id, r) = c.propose(0, GovAction::DeployContract { spec: spec("solo", wasm::counter()) });
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(c.status(id), ProposalState::Applied, "{r:?}");
    assert_eq!(attr(&r, "contract.deployed", "org"), Some("org1"), "{r:?}");
    assert_eq!(attr(&r, "contract.deployed", "deployer"), Some(c.admins[0].address().to_hex().as_str()));
    let rec = c.record("solo");
    assert_eq!((rec.owner.as_str(), rec.current), ("org1", 1));
}

#[test]
fn a_module_failing_the_static_checks_is_refused_when_proposed_and_nothing_is_written() {
    let c = Chain::with_params(ChainParams { max_code_bytes: 1_024, max_memory_pages: 2, ..ChainParams::default() });
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("float", wasm::refused("float"), "floating point"),
        ("unknown import", wasm::refused("unknown_import"), "unknown import env.x"),
        ("start function", wasm::refused("start"), "start function"),
        ("too large", wasm::refused("too_large"), "the limit is 1024"),
        ("memory", wasm::refused("memory"), "declares 3 pages"),
        ("malformed", b"\0asm\x01\0\0\0garbage".to_vec(), "not a valid WebAssembly module"),
        ("empty", vec![], "not a valid WebAssembly module"),
    ];
    for (what, code, reason) in cases {
        let tx = c.tx(
            &c.admins[0],
            Payload::Propose {
                action: GovAction::DeployContract { spec: spec("bad", code) },
                deadline: 5,
                activation_height: 0,
                note: String::new(),
            },
        );
        let out = c.exec(&[tx]);
        let r = &out.receipts[0];
        assert_eq!(r.status, StatusCode::ProposalInvalid, "{what}: {r:?}");
        assert_eq!(attr(r, "gov.refused", "code"), Some("contract_check_failed"), "{what}");
        let why = attr(r, "gov.refused", "reason").expect("reason");
        assert!(why.contains(reason), "{what}: {why}");
        assert!(contract_writes(&out).is_empty(), "{what}");
        let opened = out.writes.keys().any(|k| k.starts_with(b"gov/proposal/") || k.as_slice() == b"gov/next");
        assert!(!opened, "{what}: no proposal was opened");
    }
}

// ---- 2. calls ---------------------------------------------------------------------------------

#[test]
fn a_call_returns_its_output_in_the_receipt_and_its_fuel_as_cost() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(0, Role::Client);
    for expected in ["1", "2"] {
        let r = c.call(&client, "counter", "inc", "{}");
        assert_eq!(r.status, StatusCode::Ok, "{r:?}");
        assert_eq!(r.output, expected.as_bytes());
        assert!(r.cost > fdl_vm_wasm::fuel::STORAGE_WRITE && r.cost < ChainParams::default().max_tx_fuel, "{}", r.cost);
        assert_eq!(Receipt::decode(&r.encode()).expect("decodes"), r);
    }
    assert_eq!(c.storage("counter", "n"), Some(2u64.to_le_bytes().to_vec()));
    let r = c.call(&client, "counter", "echo", r#"{"hello":[1,2]}"#);
    assert_eq!(r.output, br#"{"hello":[1,2]}"#);
    // The fuel asked for bounds the call: a call given too little runs out.
    let r = c.send(
        &client,
        Payload::Call { contract: "counter".into(), version: 0, method: "inc".into(), args: "{}".into(), fuel: 500 },
    );
    assert_eq!((r.status, r.cost), (StatusCode::OutOfFuel, 500));
}

#[test]
fn a_failed_call_reports_the_contracts_code_and_message_and_writes_nothing() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(0, Role::Client);
    let r = assert_fails_writing_nothing(&c, &client, call("counter", "boom", "{}"), StatusCode::ContractFailed);
    assert_eq!(attr(&r, "contract.failed", "contract"), Some("counter"));
    assert_eq!(attr(&r, "contract.failed", "method"), Some("boom"));
    assert_eq!(attr(&r, "contract.failed", "code"), Some("nope"));
    assert_eq!(attr(&r, "contract.failed", "message"), Some("no way"));
    assert!(r.cost > 0, "a failed call still used fuel");
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_and_writes_nothing() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(0, Role::Client);
    let payload = Payload::Call {
        contract: "counter".into(),
        version: 0,
        method: "spin".into(),
        args: "{}".into(),
        fuel: 200_000,
    };
    let r = assert_fails_writing_nothing(&c, &client, payload, StatusCode::OutOfFuel);
    assert_eq!(r.cost, 200_000, "out of fuel uses all of it");
    assert_eq!(attr(&r, "contract.failed", "code"), Some("out_of_fuel"));
    // Asking for 0 (or more than the limit) runs with max_tx_fuel.
    let r = assert_fails_writing_nothing(&c, &client, call("counter", "spin", ""), StatusCode::OutOfFuel);
    assert_eq!(r.cost, ChainParams::default().max_tx_fuel);
}

#[test]
fn unknown_contracts_methods_and_versions_are_refused_without_running_the_engine() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(0, Role::Client);
    let cases = [
        (call("nobody", "inc", "{}"), StatusCode::UnknownContract),
        (call("counter", "nothing", "{}"), StatusCode::UnknownMethod),
        // `init` ran once, in the deploy; it is not callable.
        (call("counter", "init", "{}"), StatusCode::UnknownMethod),
        (
            Payload::Call { contract: "counter".into(), version: 2, method: "inc".into(), args: "{}".into(), fuel: 0 },
            StatusCode::UnknownContract,
        ),
    ];
    for (payload, status) in cases {
        let r = assert_fails_writing_nothing(&c, &client, payload, status);
        // No fuel used: the engine never ran.
        assert_eq!(r.cost, 0, "{r:?}");
        assert_eq!(attr(&r, "contract.refused", "code"), Some(status.as_str()));
        assert!(event(&r, "contract.failed").is_none());
    }
}

// ---- 3. calls between contracts ------------------------------------------------------------------

/// A chain with `a` (the caller module, org1's) and `b` (the callee module).
fn two_contracts() -> Chain {
    let mut c = Chain::new();
    c.deploy(spec("a", wasm::caller()));
    c.deploy(spec("b", wasm::callee()));
    c
}

#[test]
fn a_nested_call_returns_its_data_and_its_writes_stay() {
    let mut c = two_contracts();
    let r = c.admin_call(0, "a", "call_set", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(c.storage("a", "ret").as_deref(), Some(br#""done""#.as_slice()));
    assert_eq!(c.storage("b", "bk").as_deref(), Some(b"bk".as_slice()));
    assert_eq!(c.storage("a", "a").as_deref(), Some(b"a".as_slice()));
}

#[test]
fn a_failed_nested_call_is_undone_while_the_caller_goes_on() {
    let mut c = two_contracts();
    let r = c.admin_call(0, "a", "call_boom", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(c.storage("a", "err").as_deref(), Some(b"nope\nno way".as_slice()));
    assert_eq!(c.storage("a", "a").as_deref(), Some(b"a".as_slice()), "the caller's writes stay");
    assert_eq!(c.storage("b", "bk"), None, "the callee's write is undone");
}

#[test]
fn a_callers_failure_undoes_the_writes_of_the_calls_it_made() {
    let c = two_contracts();
    let admin = c.actor(0, Role::Admin);
    let r = assert_fails_writing_nothing(&c, &admin, call("a", "set_then_fail", "{}"), StatusCode::ContractFailed);
    assert_eq!(attr(&r, "contract.failed", "code"), Some("after"));
    assert_eq!(attr(&r, "contract.failed", "message"), Some("a failed after b"));
}

#[test]
fn reentry_is_refused_unless_the_contract_allows_it() {
    let mut c = two_contracts();
    // a → b → a: a is running and does not allow re-entry.
    let r = c.admin_call(0, "a", "call_back", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    let back = c.storage("b", "back").expect("b kept the outcome");
    assert!(back.starts_with(b"reentrancy\n"), "{}", String::from_utf8_lossy(&back));
    assert_eq!(c.storage("a", "pinged"), None);
    // The committee allows re-entry into a: the same call goes through.
    let r = c.pass(GovAction::SetContractAccess { name: "a".into(), access: vec![], allow_reentry: true });
    assert_eq!(attr(&r, "contract.access_set", "allow_reentry"), Some("true"));
    assert!(c.record("a").allow_reentry);
    let r = c.admin_call(0, "a", "call_back", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(c.storage("b", "back").as_deref(), Some(b"".as_slice()), "the call back succeeded");
    assert_eq!(c.storage("a", "pinged").as_deref(), Some(b"a".as_slice()));

    // A contract calling itself is re-entry too.
    c.deploy(spec("rec", wasm::recursive()));
    c.admin_call(0, "rec", "go", "{}");
    assert_eq!(c.storage("rec", "d"), Some(1u64.to_le_bytes().to_vec()));
    assert!(c.storage("rec", "err").expect("err").starts_with(b"reentrancy\n"));
}

#[test]
fn calls_deeper_than_max_call_depth_are_refused() {
    for max in [1u64, 3] {
        let mut c = Chain::with_params(ChainParams { max_call_depth: max, ..ChainParams::default() });
        c.deploy(DeploySpec { allow_reentry: true, ..spec("rec", wasm::recursive()) });
        let r = c.admin_call(0, "rec", "go", "{}");
        assert_eq!(r.status, StatusCode::Ok, "{r:?}");
        // Depths 0..=max ran, each adding one; the call at depth max + 1 was refused.
        assert_eq!(c.storage("rec", "d"), Some((max + 1).to_le_bytes().to_vec()), "max_call_depth {max}");
        let err = c.storage("rec", "err").expect("err");
        assert!(err.starts_with(b"call_depth\n"), "{}", String::from_utf8_lossy(&err));
    }
}

#[test]
fn the_callees_access_rule_sees_the_calling_contract() {
    let mut c = Chain::new();
    c.deploy(spec("a", wasm::caller()));
    // c: the same module, owned by org2 (its administrator proposes it).
    c.pass_by(1, GovAction::DeployContract { spec: spec("c", wasm::caller()) });
    assert_eq!(c.record("c").owner, "org2");
    let a_address = contract_address(Suite::Intl, "a");
    let rule = MethodRule {
        method: "guarded".into(),
        roles: vec!["contract".into()],
        orgs: vec!["org1".into()],
        accounts: vec![a_address],
    };
    c.deploy(DeploySpec { access: vec![rule], ..spec("b", wasm::callee()) });

    // a: role contract, org1 (its owner), address a's contract address: admitted.
    let r = c.admin_call(0, "a", "call_guarded", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(c.storage("a", "err"), None);
    assert_eq!(c.storage("b", "g").as_deref(), Some(b"g".as_slice()));
    // c: owned by org2, another address: refused, and c goes on with the error.
    let r = c.admin_call(1, "c", "call_guarded", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    let err = c.storage("c", "err").expect("c kept the error");
    assert!(err.starts_with(b"permission_denied\n"), "{}", String::from_utf8_lossy(&err));
    // An account is not a contract.
    let admin = c.actor(0, Role::Admin);
    let r = assert_fails_writing_nothing(&c, &admin, call("b", "guarded", "{}"), StatusCode::PermissionDenied);
    assert_eq!(attr(&r, "contract.refused", "code"), Some("permission_denied"));

    // The identities b sees: a (as a contract) calls; the account signed.
    let client = c.actor(0, Role::Client);
    assert_eq!(c.call(&client, "a", "call_who", "{}").status, StatusCode::Ok);
    let a_identity = Identity {
        address: a_address.0,
        is_contract: true,
        org: "org1".into(),
        role: "contract".into(),
        name: "a".into(),
        version: 1,
    };
    assert_eq!(c.storage("b", "caller"), Some(a_identity.encode()));
    assert_eq!(c.storage("b", "signer"), Some(identity_account(&client, "org1", "client").encode()));
}

// ---- 4. access rules ----------------------------------------------------------------------------

#[test]
fn method_rules_admit_only_the_named_roles_institutions_and_accounts() {
    let mut c = Chain::new();
    let client1 = c.actor(0, Role::Client);
    let client2 = c.actor(1, Role::Client);
    let auditor = c.actor(2, Role::Auditor);
    let rules = vec![
        MethodRule { method: "set".into(), roles: vec!["admin".into()], ..MethodRule::default() },
        MethodRule { method: "del".into(), orgs: vec!["org2".into()], ..MethodRule::default() },
        MethodRule { method: "get".into(), accounts: vec![client1.address()], ..MethodRule::default() },
        MethodRule { method: "*".into(), roles: vec!["auditor".into(), "admin".into()], ..MethodRule::default() },
    ];
    c.deploy(DeploySpec { access: rules, ..spec("kv", wasm::kv()) });
    let admin = c.actor(0, Role::Admin);
    let denied = |c: &Chain, who: &Actor, method: &str| {
        let r = assert_fails_writing_nothing(c, who, call("kv", method, r#""x""#), StatusCode::PermissionDenied);
        assert_eq!(attr(&r, "contract.refused", "method"), Some(method));
        assert_eq!(attr(&r, "contract.refused", "code"), Some("permission_denied"));
    };
    // set: administrators only.
    denied(&c, &client1, "set");
    assert_eq!(c.call(&admin, "kv", "set", r#""x""#).status, StatusCode::Ok);
    // del: org2 only, whatever the role.
    denied(&c, &client1, "del");
    denied(&c, &admin, "del");
    // get: client1's account only.
    denied(&c, &client2, "get");
    denied(&c, &admin, "get");
    let r = c.call(&client1, "kv", "get", r#""x""#);
    assert_eq!((r.status, r.output.as_slice()), (StatusCode::Ok, br#""x""#.as_slice()));
    // list has no rule of its own: the wildcard (auditors and admins) applies.
    denied(&c, &client1, "list");
    assert_eq!(c.call(&auditor, "kv", "list", r#""""#).output, br#"["x"]"#);
    assert_eq!(c.call(&admin, "kv", "list", r#""""#).status, StatusCode::Ok);
    assert_eq!(c.call(&client2, "kv", "del", r#""x""#).status, StatusCode::Ok);
    assert_eq!(c.storage("kv", "x"), None);
}

#[test]
fn set_contract_access_by_vote_replaces_the_rules() {
    let mut c = Chain::new();
    let rules = vec![MethodRule { method: "*".into(), roles: vec!["admin".into()], ..MethodRule::default() }];
    c.deploy(DeploySpec { access: rules, ..spec("kv", wasm::kv()) });
    let client = c.actor(0, Role::Client);
    assert_eq!(c.call(&client, "kv", "set", r#""x""#).status, StatusCode::PermissionDenied);
    let only_set = vec![MethodRule { method: "set".into(), orgs: vec!["org3".into()], ..MethodRule::default() }];
    let r = c.pass(GovAction::SetContractAccess { name: "kv".into(), access: only_set.clone(), allow_reentry: false });
    assert_eq!(attr(&r, "contract.access_set", "rules"), Some("set"));
    assert_eq!(c.record("kv").access, only_set);
    // The wildcard is gone: get is open; set is org3's now.
    assert_eq!(c.call(&client, "kv", "get", r#""x""#).status, StatusCode::Ok);
    assert_eq!(c.call(&client, "kv", "set", r#""x""#).status, StatusCode::PermissionDenied);
    let org3 = c.actor(2, Role::Client);
    assert_eq!(c.call(&org3, "kv", "set", r#""x""#).status, StatusCode::Ok);
    // A rule naming something that is not a role is refused when proposed.
    let bad = vec![MethodRule { method: "set".into(), roles: vec!["king".into()], ..MethodRule::default() }];
    let (_, r) = c.propose(0, GovAction::SetContractAccess { name: "kv".into(), access: bad, allow_reentry: false });
    assert_eq!(attr(&r, "gov.refused", "code"), Some("bad_contract_rule"));
    let (_, r) =
        c.propose(0, GovAction::SetContractAccess { name: "nobody".into(), access: vec![], allow_reentry: false });
    assert_eq!(attr(&r, "gov.refused", "code"), Some("no_contract"));
}

// ---- 5. lifecycle -------------------------------------------------------------------------------

#[test]
fn an_upgrade_keeps_storage_runs_migrate_and_old_versions_stay_callable() {
    let mut c = Chain::new();
    c.deploy(spec("ver", wasm::ver1()));
    let client = c.actor(0, Role::Client);
    assert_eq!(c.call(&client, "ver", "set", "{}").status, StatusCode::Ok);
    let code2 = wasm::ver2();
    let upgrade = UpgradeSpec {
        name: "ver".into(),
        code: code2.clone(),
        review: Some(Review { hash: Hash([9; 32]), author: "second look".into() }),
        migrate_args: r#"{"to":2}"#.into(),
        abi: String::new(),
    };
    let r = c.pass(GovAction::UpgradeContract { spec: upgrade });
    assert_eq!(attr(&r, "contract.upgraded", "version"), Some("2"));
    assert_eq!(attr(&r, "contract.upgraded", "previous"), Some("1"));
    assert_eq!(
        attr(&r, "contract.upgraded", "code_hash"),
        Some(fdl_crypto::hash(Suite::Intl, &code2).to_hex().as_str())
    );
    assert_eq!(attr(&r, "contract.upgraded", "review_author"), Some("second look"));
    let rec = c.record("ver");
    assert_eq!((rec.current, rec.versions), (2, 2));
    let v2 = keys::contract_version("ver", 2).read(&c.state).expect("read").expect("version 2");
    assert_eq!(v2.methods, ["get", "version"], "migrate is not a method");
    // migrate ran over the old storage, with its arguments.
    assert_eq!(c.storage("ver", "migrated").as_deref(), Some(br#""v1""#.as_slice()));
    assert_eq!(c.storage("ver", "margs").as_deref(), Some(br#"{"to":2}"#.as_slice()));
    // The current version is 2; version 1 stays callable by number, over the same storage.
    assert_eq!(c.call(&client, "ver", "version", "{}").output, b"2");
    assert_eq!(c.call(&client, "ver", "get", "{}").output, br#""v1""#);
    let v1 = |method: &str| Payload::Call {
        contract: "ver".into(),
        version: 1,
        method: method.into(),
        args: "{}".into(),
        fuel: 0,
    };
    assert_eq!(c.send(&client, v1("version")).output, b"1");
    assert_eq!(c.send(&client, v1("set")).status, StatusCode::Ok);
    assert_eq!(c.send(&client, v1("get")).status, StatusCode::UnknownMethod, "version 1 has no get");
    assert_eq!(c.call(&client, "ver", "migrate", "{}").status, StatusCode::UnknownMethod);
    // Upgrading a contract that does not exist is refused.
    let none = UpgradeSpec {
        name: "nobody".into(),
        code: wasm::ver2(),
        review: None,
        migrate_args: String::new(),
        abi: String::new(),
    };
    let (_, r) = c.propose(0, GovAction::UpgradeContract { spec: none });
    assert_eq!(attr(&r, "gov.refused", "code"), Some("no_contract"));
}

#[test]
fn freeze_unfreeze_and_retire_gate_calls_and_retired_state_stays() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(1, Role::Client);
    assert_eq!(c.call(&client, "counter", "inc", "{}").output, b"1");
    let r = c.pass(GovAction::FreezeContract { name: "counter".into() });
    assert!(event(&r, "contract.frozen").is_some());
    assert_eq!(c.record("counter").status, ContractStatus::Frozen);
    let r = assert_fails_writing_nothing(&c, &client, call("counter", "inc", "{}"), StatusCode::ContractFrozen);
    assert_eq!(attr(&r, "contract.refused", "code"), Some("contract_frozen"));
    // Freezing twice is refused when proposed.
    let (_, r) = c.propose(0, GovAction::FreezeContract { name: "counter".into() });
    assert_eq!(attr(&r, "gov.refused", "code"), Some("contract_status"));
    c.pass(GovAction::UnfreezeContract { name: "counter".into() });
    assert_eq!(c.call(&client, "counter", "inc", "{}").output, b"2");

    let r = c.pass(GovAction::RetireContract { name: "counter".into() });
    assert!(event(&r, "contract.retired").is_some());
    assert_eq!(c.record("counter").status, ContractStatus::Retired);
    assert_fails_writing_nothing(&c, &client, call("counter", "inc", "{}"), StatusCode::ContractRetired);
    // Its state stays readable.
    assert_eq!(c.storage("counter", "n"), Some(2u64.to_le_bytes().to_vec()));
    assert!(keys::contract_version("counter", 1).read(&c.state).expect("read").is_some());
    // A retired contract cannot be frozen, unfrozen or upgraded.
    for action in [
        GovAction::FreezeContract { name: "counter".into() },
        GovAction::UnfreezeContract { name: "counter".into() },
        GovAction::RetireContract { name: "counter".into() },
        GovAction::UpgradeContract {
            spec: UpgradeSpec {
                name: "counter".into(),
                code: wasm::counter(),
                review: None,
                migrate_args: String::new(),
                abi: String::new(),
            },
        },
    ] {
        let (_, r) = c.propose(0, action);
        assert_eq!(r.status, StatusCode::ProposalInvalid);
        assert_eq!(attr(&r, "gov.refused", "code"), Some("contract_status"), "{r:?}");
    }
}

#[test]
fn the_regulator_may_propose_a_contract_freeze_and_unfreeze_but_not_a_retirement() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let regulator = c.actor(3, Role::Regulator);
    let (id, r) = c.propose_by(&regulator, GovAction::FreezeContract { name: "counter".into() });
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    c.carry(id, 3);
    assert_eq!(c.status(id), ProposalState::Applied);
    assert_eq!(c.record("counter").status, ContractStatus::Frozen);
    let (id, r) = c.propose_by(&regulator, GovAction::UnfreezeContract { name: "counter".into() });
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    c.carry(id, 3);
    assert_eq!(c.record("counter").status, ContractStatus::Active);
    for action in [
        GovAction::RetireContract { name: "counter".into() },
        GovAction::SetContractAccess { name: "counter".into(), access: vec![], allow_reentry: true },
        GovAction::DeployContract { spec: spec("reg", wasm::counter()) },
    ] {
        let (_, r) = c.propose_by(&regulator, action);
        assert_eq!(attr(&r, "gov.refused", "code"), Some("regulator_only_interventions"), "{r:?}");
    }
    // A regulator certificate of another institution is not the regulator.
    let impostor = c.actor(0, Role::Regulator);
    let (_, r) = c.propose_by(&impostor, GovAction::FreezeContract { name: "counter".into() });
    assert_eq!(attr(&r, "gov.refused", "code"), Some("not_regulator"));
}

// ---- 6. direct deploy ---------------------------------------------------------------------------

fn deploy_tx(c: &Chain, who: &Actor, name: &str) -> SignedTx {
    c.tx(who, Payload::Deploy { spec: DeploySpec { init_args: r#"{"d":1}"#.into(), ..spec(name, wasm::counter()) } })
}

#[test]
fn a_direct_deploy_is_refused_under_the_default_policy() {
    let c = Chain::new();
    let out = c.exec(&[deploy_tx(&c, &c.admins[0], "org1.counter")]);
    let r = &out.receipts[0];
    assert_eq!(r.status, StatusCode::ContractRejected, "{r:?}");
    assert_eq!(attr(r, "contract.rejected", "code"), Some("policy"));
    assert!(contract_writes(&out).is_empty());
}

#[test]
fn under_policy_1_an_administrator_deploys_directly_into_its_own_namespace_only() {
    // The policy set by a vote.
    let mut c = Chain::new();
    c.pass(GovAction::SetParam { name: ChainParam::ContractDeployPolicy, value: 1 });
    check_direct_deploys(&mut c);
    // The policy set in genesis.
    let mut c = Chain::with_params(ChainParams { contract_deploy_policy: 1, ..ChainParams::default() });
    check_direct_deploys(&mut c);
}

fn check_direct_deploys(c: &mut Chain) {
    let admin = c.actor(0, Role::Admin);
    for name in ["org2.counter", "counter", "org1.", "org1counter", "org1.a.b"] {
        let out = c.exec(&[deploy_tx(c, &admin, name)]);
        let r = &out.receipts[0];
        assert_eq!(r.status, StatusCode::ContractRejected, "{name}: {r:?}");
        assert_eq!(attr(r, "contract.rejected", "code"), Some("namespace"), "{name}");
        assert!(contract_writes(&out).is_empty(), "{name}");
    }
    // A client may not deploy at all: the chain's access policy refuses contract.deploy.
    let client = c.actor(0, Role::Client);
    let out = c.exec(&[deploy_tx(c, &client, "org1.counter")]);
    assert_eq!(out.receipts[0].status, StatusCode::PermissionDenied, "{:?}", out.receipts[0]);
    assert!(contract_writes(&out).is_empty());
    // A module failing the checks is rejected with the check's code.
    let bad = c.tx(&admin, Payload::Deploy { spec: spec("org1.bad", wasm::refused("float")) });
    let out = c.exec(&[bad]);
    assert_eq!(out.receipts[0].status, StatusCode::ContractRejected);
    assert_eq!(attr(&out.receipts[0], "contract.rejected", "code"), Some("contract_check_failed"));
    assert!(contract_writes(&out).is_empty());

    let tx = deploy_tx(c, &admin, "org1.counter");
    let r = c.block(&[tx]).remove(0);
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(attr(&r, "contract.deployed", "proposal"), Some("0"));
    assert_eq!(attr(&r, "contract.deployed", "org"), Some("org1"));
    let rec = c.record("org1.counter");
    assert_eq!((rec.owner.as_str(), rec.current), ("org1", 1));
    let v = keys::contract_version("org1.counter", 1).read(&c.state).expect("read").expect("v1");
    assert_eq!((v.deployer, v.proposal), (admin.address(), 0));
    assert_eq!(c.storage("org1.counter", "init").as_deref(), Some(br#"{"d":1}"#.as_slice()), "init ran");
    // The name is taken now.
    let out = c.exec(&[deploy_tx(c, &admin, "org1.counter")]);
    assert_eq!(attr(&out.receipts[0], "contract.rejected", "code"), Some("contract_exists"));
}

// ---- 7. block fuel ------------------------------------------------------------------------------

/// A direct deploy's `init` runs on the block's fuel: it needs `max_tx_fuel` left, and what it
/// used is its receipt's cost and leaves the block.
#[test]
fn a_direct_deploy_runs_init_on_the_blocks_fuel() {
    let params = ChainParams {
        max_block_fuel: 50_000,
        max_tx_fuel: 40_000,
        contract_deploy_policy: 1,
        ..ChainParams::default()
    };
    let mut c = Chain::with_params(params);
    c.deploy(spec("counter", wasm::counter()));
    let admin = c.actor(0, Role::Admin);
    // Alone in its block, the deploy runs `init` and pays for it.
    let native = c.exec(&[c.tx(&admin, call("nothing", "inc", "{}"))]).receipts[0].cost;
    let r = c.block(&[deploy_tx(&c, &admin, "org1.first")]).remove(0);
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert!(c.storage("org1.first", "init").is_some(), "init ran");
    assert!(
        r.cost > native + 1_000,
        "the receipt's cost {} has init's fuel (a call refused before running costs {native})",
        r.cost
    );
    // After a call that used all its 40,000 fuel, 10,000 are left: too little for an init.
    let client = c.actor(0, Role::Client);
    let txs = [c.tx(&client, call("counter", "spin", "{}")), deploy_tx(&c, &admin, "org1.second")];
    let receipts = c.block(&txs);
    assert_eq!(receipts[0].status, StatusCode::OutOfFuel);
    assert_eq!(receipts[1].status, StatusCode::BlockFuelExhausted, "{:?}", receipts[1]);
    assert!(keys::contract("org1.second").read(&c.state).expect("read").is_none());
    let total: u64 = receipts.iter().map(|r| r.cost).sum();
    assert!(total <= 50_000 + 2 * native, "the block used {total}");
}

#[test]
fn calls_beyond_the_blocks_fuel_are_refused_and_a_block_never_exceeds_it() {
    let params = ChainParams { max_block_fuel: 100_000, max_tx_fuel: 40_000, ..ChainParams::default() };
    let mut c = Chain::with_params(params);
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(0, Role::Client);
    let with_fuel = |method: &str, fuel: u64| Payload::Call {
        contract: "counter".into(),
        version: 0,
        method: method.into(),
        args: "{}".into(),
        fuel,
    };
    let txs: Vec<SignedTx> = [
        with_fuel("spin", 0),
        with_fuel("spin", 0),
        with_fuel("spin", 0),
        with_fuel("inc", 15_000),
        with_fuel("spin", 0),
        with_fuel("inc", 0),
    ]
    .into_iter()
    .map(|p| c.tx(&client, p))
    .collect();
    let receipts = c.block(&txs);
    let statuses: Vec<StatusCode> = receipts.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            StatusCode::OutOfFuel,
            StatusCode::OutOfFuel,
            StatusCode::BlockFuelExhausted,
            StatusCode::Ok,
            StatusCode::BlockFuelExhausted,
            StatusCode::BlockFuelExhausted,
        ]
    );
    assert_eq!(attr(&receipts[2], "contract.refused", "code"), Some("block_fuel_exhausted"));
    let total: u64 = receipts.iter().map(|r| r.cost).sum();
    assert!(total <= 100_000, "the block used {total} fuel");
    assert_eq!(receipts[2].cost, 0);
    // The next block has its fuel again.
    let r = c.call(&client, "counter", "inc", "{}");
    assert_eq!((r.status, r.output.as_slice()), (StatusCode::Ok, b"2".as_slice()));

    // However many calls a block holds, their fuel stays within the limit.
    // (Each call asks for about 9,000 and uses at least 7,000: fifteen cannot all fit.)
    let txs: Vec<SignedTx> =
        (0..15).map(|i| c.tx(&client, with_fuel(if i % 3 == 0 { "spin" } else { "inc" }, 9_000 + i))).collect();
    let receipts = c.block(&txs);
    let total: u64 = receipts.iter().map(|r| r.cost).sum();
    assert!(total <= 100_000, "the block used {total} fuel");
    assert!(receipts.iter().any(|r| r.status == StatusCode::BlockFuelExhausted));
}

// ---- 8. iteration -------------------------------------------------------------------------------

#[test]
fn storage_next_sees_earlier_writes_and_deletions_of_the_same_block() {
    let mut c = Chain::new();
    c.deploy(spec("kv", wasm::kv()));
    // A neighbour whose keys share the prefix text but not the contract.
    c.deploy(spec("kv2", wasm::kv()));
    let client = c.actor(0, Role::Client);
    // Committed in earlier blocks: a2, a4, b1 (and kv2's a0).
    for k in ["a2", "a4", "b1"] {
        assert_eq!(c.call(&client, "kv", "set", &format!("\"{k}\"")).status, StatusCode::Ok);
    }
    assert_eq!(c.call(&client, "kv2", "set", r#""a0""#).status, StatusCode::Ok);
    assert_eq!(c.call(&client, "kv", "list", r#""a""#).output, br#"["a2","a4"]"#);

    // One block: write a1 and a3, delete a2, then list; then delete a4, add a5, list everything.
    let txs: Vec<SignedTx> = [
        ("set", "a3"),
        ("set", "a1"),
        ("del", "a2"),
        ("list", "a"),
        ("del", "a4"),
        ("set", "a5"),
        ("del", "a1"),
        ("set", "a2"),
        ("list", ""),
        ("list", "a4"),
        ("list", "c"),
    ]
    .iter()
    .map(|(m, k)| c.tx(&client, call("kv", m, &format!("\"{k}\""))))
    .collect();
    c.state.nexts.set(0);
    let receipts = c.block(&txs);
    assert!(receipts.iter().all(|r| r.status == StatusCode::Ok), "{receipts:?}");
    assert!(c.state.nexts.get() > 0, "the base state was asked for its keys");
    assert_eq!(receipts[3].output, br#"["a1","a3","a4"]"#);
    assert_eq!(receipts[8].output, br#"["a2","a3","a5","b1"]"#);
    assert_eq!(receipts[9].output, br#"[]"#);
    assert_eq!(receipts[10].output, br#"[]"#);
    // Committed, the same.
    assert_eq!(c.call(&client, "kv", "list", r#""""#).output, br#"["a2","a3","a5","b1"]"#);
    assert_eq!(c.call(&client, "kv2", "list", r#""""#).output, br#"["a0"]"#);
}

// ---- 9. determinism -----------------------------------------------------------------------------

/// Everything a block's execution gives, as bytes: receipts (encoded), block events and writes.
fn outcome_bytes(out: &BlockOutcome) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut put = |b: &[u8]| {
        bytes.extend_from_slice(&(b.len() as u64).to_be_bytes());
        bytes.extend_from_slice(b);
    };
    for r in &out.receipts {
        put(&r.encode());
    }
    for e in &out.block_events {
        put(format!("{e:?}").as_bytes());
    }
    for (k, v) in &out.writes {
        put(k);
        match v {
            Some(v) => put(v),
            None => put(b"deleted"),
        }
    }
    bytes
}

/// A chain with several contracts, and a block that exercises them: calls that succeed, fail,
/// run out of fuel, call each other and iterate.
fn busy_chain() -> (Chain, Vec<SignedTx>) {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    c.deploy(spec("kv", wasm::kv()));
    c.deploy(spec("a", wasm::caller()));
    c.deploy(spec("b", wasm::callee()));
    let client = c.actor(0, Role::Client);
    c.call(&client, "kv", "set", r#""k1""#);
    let payloads = [
        call("counter", "inc", "{}"),
        call("kv", "set", r#""k2""#),
        call("kv", "list", r#""k""#),
        call("counter", "boom", "{}"),
        Payload::Call {
            contract: "counter".into(),
            version: 0,
            method: "spin".into(),
            args: "{}".into(),
            fuel: 50_000,
        },
        call("a", "call_set", "{}"),
        call("a", "call_boom", "{}"),
        call("a", "call_who", "{}"),
        call("kv", "del", r#""k1""#),
        call("kv", "list", r#""""#),
        call("counter", "inc", "{}"),
    ];
    let txs = payloads.into_iter().map(|p| c.tx(&client, p)).collect();
    (c, txs)
}

#[test]
fn the_same_block_over_the_same_parent_gives_byte_identical_receipts_and_writes() {
    let (c, txs) = busy_chain();
    let first = outcome_bytes(&c.exec(&txs));
    // Other activity in between: other modules compiled and run, this block's modules used in
    // another order.
    let mut other = Chain::new();
    other.deploy(spec("lim", wasm::limits()));
    other.deploy(spec("ver", wasm::ver1()));
    other.admin_call(0, "lim", "events", r#""xx""#);
    let reversed: Vec<SignedTx> = txs.iter().rev().cloned().collect();
    let _ = c.exec(&reversed);
    let second = outcome_bytes(&c.exec(&txs));
    assert_eq!(first, second);
    assert!(c.exec(&txs).receipts.iter().any(|r| r.status == StatusCode::OutOfFuel));

    // In a new process, with an empty module cache: the same bytes.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input");
    let mut text = String::new();
    text.push_str(&format!("{} {}\n", c.height + 1, c.start_ms + (c.height + 1) * 1_000));
    for (k, v) in &c.state.map {
        text.push_str(&format!("s {} {}\n", hex::encode(k), hex::encode(v)));
    }
    for tx in &txs {
        text.push_str(&format!("t {}\n", hex::encode(tx.encode())));
    }
    std::fs::write(&input, text).expect("write");
    let exe = std::env::current_exe().expect("test binary");
    let status = std::process::Command::new(exe)
        .args(["determinism_child_process", "--exact", "--ignored", "--test-threads=1"])
        .env("FDL_DETERMINISM_INPUT", &input)
        .output()
        .expect("run the child");
    assert!(status.status.success(), "child: {}", String::from_utf8_lossy(&status.stderr));
    let child = std::fs::read(dir.path().join("output")).expect("the child's output");
    assert_eq!(child, first, "a fresh process gave different receipts or writes");
}

/// Run by `the_same_block_over_the_same_parent_gives_byte_identical_receipts_and_writes` in a
/// child process (a fresh contract engine, its module cache empty): executes the block described
/// in `$FDL_DETERMINISM_INPUT` and writes the outcome's bytes beside it.
#[test]
#[ignore = "run in a child process by the determinism test"]
fn determinism_child_process() {
    let Some(path) = std::env::var_os("FDL_DETERMINISM_INPUT") else { return };
    let path = std::path::PathBuf::from(path);
    let text = std::fs::read_to_string(&path).expect("read");
    let mut lines = text.lines();
    let head: Vec<u64> = lines.next().expect("head").split(' ').map(|n| n.parse().expect("number")).collect();
    let mut state = Mem::default();
    let mut txs = Vec::new();
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts[0] {
            "s" => {
                state.map.insert(hex::decode(parts[1]).expect("hex"), hex::decode(parts[2]).expect("hex"));
            }
            _ => txs.push(SignedTx::decode(&hex::decode(parts[1]).expect("hex")).expect("tx")),
        }
    }
    assert_eq!(fdl_exec::contract::engine().cache_stats().entries, 0, "a fresh engine");
    let out = execute_block(&state, head[0], head[1], &txs).expect("execute");
    std::fs::write(path.with_file_name("output"), outcome_bytes(&out)).expect("write");
}

// ---- 10. limits ---------------------------------------------------------------------------------

#[test]
fn every_contract_limit_fails_the_call_with_limit() {
    let params = ChainParams {
        max_return_bytes: 8,
        max_contract_events: 2,
        max_event_bytes: 16,
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_memory_pages: 4,
        ..ChainParams::default()
    };
    let mut c = Chain::with_params(params);
    c.deploy(spec("lim", wasm::limits()));
    let client = c.actor(0, Role::Client);
    // Within the limits, each method succeeds.
    for (method, args) in [
        ("ret", r#""123456""#),
        ("events", r#""""#),
        ("event", r#""0123456789abcd""#),
        ("key", r#""123456""#),
        ("value", r#""0123456789abcd""#),
        ("grow", r#""""#),
    ] {
        let r = c.exec(&[c.tx(&client, call("lim", method, args))]).receipts.remove(0);
        assert_eq!(r.status, StatusCode::Ok, "{method} within its limit: {r:?}");
    }
    let r = c.call(&client, "lim", "events", r#""""#);
    assert_eq!(r.events.iter().filter(|e| e.kind == "contract.event").count(), 2);
    // One byte (or one event, or one page) over each.
    for (method, args, what) in [
        ("ret", r#""1234567""#, "return data of 9 bytes"),
        ("events", r#""x""#, "more than 2 events"),
        ("event", r#""0123456789abcde""#, "event data of 17 bytes"),
        ("key", r#""1234567""#, "a key of 9 bytes"),
        ("value", r#""0123456789abcde""#, "a value of 17 bytes"),
        ("grow", r#""x""#, "linear memory of 5 pages"),
    ] {
        let r = assert_fails_writing_nothing(&c, &client, call("lim", method, args), StatusCode::ContractFailed);
        assert_eq!(attr(&r, "contract.failed", "code"), Some("limit"), "{method}: {r:?}");
        let message = attr(&r, "contract.failed", "message").expect("message");
        assert!(message.contains(what), "{method}: {message}");
    }
    // A limit lowered after the deploy applies to the module already deployed: two declared
    // pages no longer instantiate under a limit of one.
    c.pass(GovAction::SetParam { name: ChainParam::MaxMemoryPages, value: 1 });
    let r = assert_fails_writing_nothing(&c, &client, call("lim", "ret", "{}"), StatusCode::ContractFailed);
    assert_eq!(attr(&r, "contract.failed", "code"), Some("limit"), "{r:?}");
}

// ---- edge cases -------------------------------------------------------------------------------

#[test]
fn a_calls_own_writes_and_deletions_show_in_its_iteration() {
    let mut c = Chain::new();
    c.deploy(spec("kv", wasm::kv()));
    let client = c.actor(0, Role::Client);
    for k in ["b", "d"] {
        c.call(&client, "kv", "set", &format!("\"{k}\""));
    }
    assert_eq!(c.call(&client, "kv", "set_list", r#""c""#).output, br#"["b","c","d"]"#);
    assert_eq!(c.call(&client, "kv", "del_list", r#""b""#).output, br#"["c","d"]"#);
    assert_eq!(c.call(&client, "kv", "set_list", r#""a""#).output, br#"["a","c","d"]"#);
}

#[test]
fn a_failing_init_or_migrate_fails_the_proposal_and_writes_nothing() {
    let mut c = Chain::new();
    let (id, r) = c.propose(0, GovAction::DeployContract { spec: spec("f", wasm::failing_entries()) });
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    let tx = c.tx(&c.admins[1], Payload::Vote { proposal: id, approve: true });
    c.block(&[tx]);
    let tx = c.tx(&c.admins[2], Payload::Vote { proposal: id, approve: true });
    let out = c.exec(std::slice::from_ref(&tx));
    let r = &out.receipts[0];
    assert_eq!(attr(r, "gov.failed", "code"), Some("contract_init_failed"), "{r:?}");
    assert!(attr(r, "gov.failed", "reason").expect("reason").contains("no_init"));
    assert!(contract_writes(&out).is_empty(), "{:?}", contract_writes(&out));
    c.block(&[tx]);
    assert_eq!(c.status(id), ProposalState::Failed);

    // An upgrade whose migrate fails: the contract stays at version 1, its storage untouched.
    c.deploy(spec("ver", wasm::ver1()));
    let client = c.actor(0, Role::Client);
    c.call(&client, "ver", "set", "{}");
    let upgrade = UpgradeSpec {
        name: "ver".into(),
        code: wasm::failing_entries(),
        review: None,
        migrate_args: String::new(),
        abi: String::new(),
    };
    let (id, _) = c.propose(0, GovAction::UpgradeContract { spec: upgrade });
    let r = c.carry(id, 0);
    assert_eq!(attr(&r, "gov.failed", "code"), Some("contract_init_failed"), "{r:?}");
    assert_eq!(c.status(id), ProposalState::Failed);
    let rec = c.record("ver");
    assert_eq!((rec.current, rec.versions), (1, 1));
    assert!(keys::contract_version("ver", 2).read(&c.state).expect("read").is_none());
    assert_eq!(c.storage("ver", "w"), None);
    let hash = fdl_crypto::hash(Suite::Intl, &wasm::failing_entries());
    assert!(keys::code(&hash).read(&c.state).expect("read").is_none(), "the module is not stored");
    assert_eq!(c.call(&client, "ver", "version", "{}").output, b"1");
}

#[test]
fn nested_calls_to_frozen_or_missing_contracts_fail_with_their_codes() {
    let mut c = two_contracts();
    c.pass(GovAction::FreezeContract { name: "b".into() });
    let r = c.admin_call(0, "a", "call_set", "{}");
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert!(c.storage("a", "err").expect("err").starts_with(b"contract_frozen\n"));
    c.pass(GovAction::RetireContract { name: "b".into() });
    c.admin_call(0, "a", "call_set", "{}");
    assert!(c.storage("a", "err").expect("err").starts_with(b"contract_retired\n"));
    // a calls b, which does not exist on another chain.
    let mut c = Chain::new();
    c.deploy(spec("a", wasm::caller()));
    c.admin_call(0, "a", "call_set", "{}");
    assert!(c.storage("a", "err").expect("err").starts_with(b"unknown_contract\n"));
    // b without the method a calls.
    c.deploy(spec("b", wasm::kv()));
    c.admin_call(0, "a", "call_boom", "{}");
    assert!(c.storage("a", "err").expect("err").starts_with(b"unknown_method\n"));
}

#[test]
fn a_call_tree_never_emits_more_events_than_its_receipt_keeps() {
    // Each call may emit max_contract_events (32) of its own; three nested calls of 30 each
    // emit 90, more than a receipt holds (64).
    let mut c = Chain::with_params(ChainParams { max_call_depth: 2, ..ChainParams::default() });
    c.deploy(DeploySpec { allow_reentry: true, ..spec("chat", wasm::chatty()) });
    let client = c.actor(0, Role::Client);
    let args = format!("\"{}\"", "x".repeat(28));
    let out = c.exec(&[c.tx(&client, call("chat", "go", &args))]);
    let r = &out.receipts[0];
    let ticks = r.events.iter().filter(|e| e.kind == "contract.event").count();
    if r.status == StatusCode::Ok {
        assert_eq!(ticks, 90, "a successful call lost {} of its events", 90 - ticks);
    }
    assert_eq!(r.status, StatusCode::ContractFailed, "{ticks} events");
    assert_eq!(attr(r, "contract.failed", "code"), Some("limit"));
    assert!(contract_writes(&out).is_empty());
    // Two nested calls of 30 fit: all 60 events are in the receipt.
    let mut c = Chain::with_params(ChainParams { max_call_depth: 1, ..ChainParams::default() });
    c.deploy(DeploySpec { allow_reentry: true, ..spec("chat", wasm::chatty()) });
    let client = c.actor(0, Role::Client);
    let r = c.call(&client, "chat", "go", &args);
    assert_eq!(r.status, StatusCode::Ok, "{r:?}");
    assert_eq!(r.events.iter().filter(|e| e.kind == "contract.event").count(), 60);
}

#[test]
fn a_query_runs_like_a_call_and_keeps_nothing() {
    let mut c = Chain::new();
    c.deploy(spec("counter", wasm::counter()));
    let client = c.actor(0, Role::Client);
    c.call(&client, "counter", "inc", "{}");
    let q = |method: &str| {
        fdl_exec::contract::query(&c.state, "counter", 0, method, "", &client.address(), 0).expect("query")
    };
    let out = q("inc");
    assert_eq!((out.status, out.output.as_slice()), (StatusCode::Ok, b"2".as_slice()));
    assert_eq!(q("inc").output, b"2", "the query's write was not kept");
    assert_eq!(q("boom").status, StatusCode::ContractFailed);
    assert_eq!(q("nothing").status, StatusCode::UnknownMethod);
    assert_eq!(c.storage("counter", "n"), Some(1u64.to_le_bytes().to_vec()));
}

#[test]
fn an_init_never_pushes_the_votes_own_events_out_of_its_receipt() {
    // One call may emit up to 63 events under this chain's parameters; an `init` that does, in
    // the vote that passes its deploy, shares the receipt with the vote's governance events.
    let mut c = Chain::with_params(ChainParams { max_contract_events: 63, ..ChainParams::default() });
    let noisy = DeploySpec { init_args: format!("\"{}\"", "x".repeat(58)), ..spec("noisy", wasm::noisy_init()) };
    let (id, _) = c.propose(0, GovAction::DeployContract { spec: noisy });
    let r = c.carry(id, 0);
    let ticks = r.events.iter().filter(|e| e.kind == "contract.event").count();
    if c.status(id) == ProposalState::Applied {
        assert!(event(&r, "gov.applied").is_some(), "the vote's gov.applied was cut: {ticks} init events");
        assert_eq!(ticks, 60, "the init's events were cut");
    }
    assert_eq!(c.status(id), ProposalState::Failed, "{ticks} events");
    assert_eq!(attr(&r, "gov.failed", "code"), Some("contract_init_failed"));
    assert!(attr(&r, "gov.failed", "reason").expect("reason").contains("limit"));
    // Fewer events fit, with the governance events around them.
    let quiet = DeploySpec { init_args: format!("\"{}\"", "x".repeat(40)), ..spec("quiet", wasm::noisy_init()) };
    let r = c.deploy(quiet);
    assert!(event(&r, "gov.applied").is_some());
    assert_eq!(r.events.iter().filter(|e| e.kind == "contract.event").count(), 42);
}

/// Writes `writes` as block `version` of `store`: the state tree's new nodes and values, and the
/// ordered index of the contract prefixes, as the node commits a block.
fn commit_to_store(
    store: &fdl_storage::RedbStore,
    db: &fdl_state::StateDb,
    version: u64,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) {
    use fdl_storage::Store as _;
    let prepared = db.prepare(writes, version).expect("prepare");
    let ordered_keys: Vec<(Vec<u8>, bool)> = writes
        .iter()
        .filter(|(k, _)| keys::ORDERED_PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.is_some()))
        .collect();
    let header = fdl_types::BlockHeader {
        chain_id: "t".into(),
        height: version,
        parent_hash: Hash::ZERO,
        timestamp_ms: version * 1_000,
        proposer: Address([0; 20]),
        tx_count: 0,
        tx_root: Hash::ZERO,
        state_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
    };
    let commit =
        fdl_types::Commit { height: version, round: 0, block_hash: Hash([version as u8; 32]), signatures: vec![] };
    store
        .write_block(fdl_storage::BlockWrite {
            block: &fdl_types::Block { header, txs: vec![] },
            block_hash: commit.block_hash,
            commit: &commit,
            receipts: &[],
            state_nodes: &prepared.nodes,
            state_values: &prepared.values,
            stale_nodes: &prepared.stale,
            audit: &[],
            ordered_keys: &ordered_keys,
        })
        .expect("write the block");
}

#[test]
fn storage_next_over_the_stored_ordered_index_agrees_with_the_overlay() {
    let mut c = Chain::new();
    c.deploy(spec("kv", wasm::kv()));
    c.deploy(spec("kv2", wasm::kv()));
    let client = c.actor(0, Role::Client);
    for k in ["a2", "a4", "b1"] {
        c.call(&client, "kv", "set", &format!("\"{k}\""));
    }
    c.call(&client, "kv2", "set", r#""a0""#);
    c.call(&client, "kv", "del", r#""b1""#);
    c.call(&client, "kv", "set", r#""b1""#);

    // The same state in a store: the contract keys arrive in a block, with their ordered index.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = std::sync::Arc::new(fdl_storage::RedbStore::open(&dir.path().join("db")).expect("open"));
    let db = fdl_state::StateDb::new(store.clone(), Suite::Intl);
    let (contract_part, rest): (BTreeMap<_, _>, BTreeMap<_, _>) = c
        .state
        .map
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .partition(|(k, _)| keys::ORDERED_PREFIXES.iter().any(|p| k.starts_with(p)));
    let prepared = db.prepare(&rest, 0).expect("prepare");
    fdl_storage::Store::write_genesis(store.as_ref(), Hash::ZERO, prepared.nodes, prepared.values).expect("genesis");
    commit_to_store(&store, &db, 1, &contract_part);

    let txs: Vec<SignedTx> = [("set", "a3"), ("del", "a2"), ("list", "a"), ("del", "a4"), ("set", "a5"), ("list", "")]
        .iter()
        .map(|(m, k)| c.tx(&client, call("kv", m, &format!("\"{k}\""))))
        .collect();
    let (h, t) = (c.height + 1, c.start_ms + (c.height + 1) * 1_000);
    let stored = execute_block(&db.at(1), h, t, &txs).expect("execute over the store");
    assert_eq!(stored, c.exec(&txs), "the store and the in-memory state disagree");
    assert_eq!(stored.receipts[2].output, br#"["a3","a4"]"#);
    assert_eq!(stored.receipts[5].output, br#"["a3","a5","b1"]"#);
    commit_to_store(&store, &db, 2, &stored.writes);
    c.block(&txs);

    // Committed: the index answers from the store alone.
    let list = [c.tx(&client, call("kv", "list", r#""""#)), c.tx(&client, call("kv2", "list", r#""""#))];
    let (h, t) = (c.height + 1, c.start_ms + (c.height + 1) * 1_000);
    let stored = execute_block(&db.at(2), h, t, &list).expect("execute over the store");
    assert_eq!(stored.receipts[0].output, br#"["a3","a5","b1"]"#);
    assert_eq!(stored.receipts[1].output, br#"["a0"]"#);
    assert_eq!(stored, c.exec(&list));
}

#[test]
fn a_nested_call_to_a_name_that_is_not_a_contract_name_is_unknown_contract() {
    // `ctr/{name}` of the name "b/\0\0\0\x01" is the key of b's version 1 record: a call by that
    // name must not read it as a contract record (which failed the whole block).
    let mut c = Chain::new();
    c.deploy(spec("b", wasm::callee()));
    let evil = wasm::module(
        r#"(data (i32.const 0) "b/\00\00\00\01") (data (i32.const 8) "set") (data (i32.const 16) "err")
           (data (i32.const 24) "B") (data (i32.const 32) "")
           (func $try (param $np i32) (param $nl i32)
             (call $keep (i32.const 16) (i32.const 3)
               (call $call (local.get $np) (local.get $nl) (i32.const 8) (i32.const 3) (i32.const 0) (i32.const 0))))
           (func (export "version_key") (call $try (i32.const 0) (i32.const 6)))
           (func (export "upper") (call $try (i32.const 24) (i32.const 1)))
           (func (export "empty") (call $try (i32.const 32) (i32.const 0)))"#,
    );
    c.deploy(spec("evil", evil));
    for method in ["version_key", "upper", "empty"] {
        let out = execute_block(
            &c.state,
            c.height + 1,
            c.start_ms + (c.height + 1) * 1_000,
            &[c.tx(&c.admins[0], call("evil", method, "{}"))],
        );
        let out = out.unwrap_or_else(|e| panic!("{method}: a contract failed the block: {e}"));
        assert_eq!(out.receipts[0].status, StatusCode::Ok, "{method}: {:?}", out.receipts[0]);
        c.state.apply(&out.writes);
        c.height += 1;
        let err = c.storage("evil", "err").expect("err");
        assert!(err.starts_with(b"unknown_contract\n"), "{method}: {}", String::from_utf8_lossy(&err));
    }
    assert_eq!(c.storage("b", "bk"), None);
}
