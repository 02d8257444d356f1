//! The SDK's own methods, run through the harness.

#![allow(clippy::unwrap_used)]

use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use super::*;
use crate::prelude::*;
use crate::storage;

const COUNTER: Value<u64> = Value::new(b"counter");
const NAMES: Map<u32, String> = Map::new(b"n/");

crate::json_object! {
    /// An echo of the arguments.
    #[derive(Debug, PartialEq)]
    struct Echo {
        amount: u128,
        to: Address,
        memo: Option<String>,
    }
}

crate::method! {
    /// Adds to the counter, emits an event and returns the new value.
    fn bump(by: u64) -> Result<u64, Error> {
        let n = COUNTER.get_or_default().checked_add(by).ok_or_else(|| Error::new("overflow", "too big"))?;
        COUNTER.set(&n);
        emit("bumped", &Json::object().field("value", &n));
        Ok(n)
    }

    /// Writes, emits, then fails: nothing of it may remain.
    fn bump_then_fail(by: u64) -> Result<(), Error> {
        COUNTER.set(&by);
        emit("bumped", &Json::object().field("value", &by));
        Err(Error::new("nope", "changed my mind"))
    }

    /// Writes, then panics (a trap).
    fn bump_then_panic() {
        COUNTER.set(&999);
        let v: Vec<u8> = Vec::new();
        let _ = v[3];
    }

    /// Returns its typed arguments.
    fn echo(amount: u128, to: Address, memo: Option<String>) -> Result<Echo, Error> {
        Ok(Echo { amount, to, memo })
    }

    /// Returns nothing.
    fn nothing() {}

    /// Who is who.
    fn whoami() -> Result<Json, Error> {
        Ok(Json::object()
            .field("caller", &caller())
            .field("signer", &signer())
            .field("this", &this())
            .field("height", &block_height())
            .field("time", &block_time_ms())
            .build())
    }

    /// Stores names and lists them in key order.
    fn names(set: Vec<u32>) -> Result<Vec<String>, Error> {
        for k in set {
            NAMES.set(&k, &format!("n{k}"));
        }
        Ok(NAMES.iter().map(|(k, v)| format!("{k}={v}")).collect())
    }

    /// Fails with a long multibyte message.
    fn long_fail() {
        fail("long", &"é".repeat(300));
    }

    /// Emits an event with an invalid kind.
    fn bad_event() {
        emit("Bad Kind", &Json::Null);
    }

    /// Calls another contract and returns what it returned, or fails with its error.
    fn forward(contract: String, method: String, args: Json) -> Result<Json, Error> {
        let data = call(&contract, &method, &args)?;
        if data.is_empty() { Ok(Json::Null) } else { Ok(crate::json::parse(&data)?) }
    }

    /// Hashes.
    fn hashes(data: String) -> Result<Json, Error> {
        Ok(Json::object()
            .field("sm3", &Bytes(sm3(data.as_bytes()).to_vec()))
            .field("sha256", &Bytes(sha256(data.as_bytes()).to_vec()))
            .build())
    }

    /// Checks an SM2 signature.
    fn check_sm2(pk: Bytes, msg: Bytes, sig: Bytes) -> Result<bool, Error> {
        Ok(sm2_verify(&pk.0, &msg.0, &sig.0, None))
    }

    /// Uses `ensure!`.
    fn positive(n: i64) -> Result<i64, Error> {
        ensure!(n > 0, "not_positive", "n must be positive");
        Ok(n)
    }
}

fn err(code: &str, message: &str) -> CallResult {
    Err((code.to_string(), message.to_string()))
}

#[test]
fn arguments_and_return_data() {
    let env = TestEnv::new();
    assert_eq!(env.call(bump, r#"{"by": 2}"#), Ok("2".into()));
    assert_eq!(env.call(bump, r#"{"by": "3"}"#), Ok("5".into()), "integers accept decimal strings");
    assert_eq!(env.call(nothing, ""), Ok(String::new()), "empty input is {{}}; unit returns no data");
    assert_eq!(env.call(nothing, " {} "), Ok(String::new()));
    let to = "0x0202020202020202020202020202020202020202";
    assert_eq!(
        env.call(echo, &format!(r#"{{"amount": "340282366920938463463374607431768211455", "to": "{to}"}}"#)),
        Ok(r#"{"amount":340282366920938463463374607431768211455,"to":"0202020202020202020202020202020202020202","memo":null}"#.into())
    );
    assert_eq!(
        env.call(echo, &format!(r#"{{"memo": "héllo\n", "amount": 1, "to": "{to}"}}"#)),
        Ok(r#"{"amount":1,"to":"0202020202020202020202020202020202020202","memo":"héllo\n"}"#.into())
    );
}

#[test]
fn bad_input_is_a_typed_failure() {
    let env = TestEnv::new();
    for (args, code, message) in [
        ("{", "bad_json", "invalid JSON at byte 1: expected a string key"),
        (
            r#"{"by": 1.5}"#,
            "bad_json",
            "invalid JSON at byte 8: fractions and exponents are not supported: numbers are integers",
        ),
        ("[1]", "bad_args", "the arguments must be a JSON object"),
        ("{}", "bad_args", "missing argument \"by\""),
        (r#"{"by": -1}"#, "bad_args", "argument \"by\": out of range for u64"),
        (r#"{"by": 18446744073709551616}"#, "bad_args", "argument \"by\": out of range for u64"),
        (
            r#"{"by": 1e400}"#,
            "bad_json",
            "invalid JSON at byte 8: fractions and exponents are not supported: numbers are integers",
        ),
        (
            r#"{"by": 99999999999999999999999999999999999999999999}"#,
            "bad_json",
            "invalid JSON at byte 7: number out of range (beyond 128 bits)",
        ),
        (r#"{"by": "x"}"#, "bad_args", "argument \"by\": expected an integer (u64), not a non-decimal string"),
        (r#"{"by": 1, "extra": 2}"#, "bad_args", "unknown argument \"extra\""),
        (r#"{"by": 1, "by": 2}"#, "bad_json", "invalid JSON at byte 0: duplicate key \"by\" in the object"),
    ] {
        assert_eq!(env.call(bump, args), err(code, message), "{args}");
    }
    let r = env.call(echo, r#"{"amount": 1, "to": "0x12"}"#);
    assert_eq!(r, err("bad_args", "argument \"to\": expected an address (40 hex digits, optionally with 0x)"));
    assert!(env.storage().is_empty(), "nothing was written");
    // Invalid UTF-8 and deep nesting are failures too, never panics.
    assert_eq!(
        env.call(bump, "{\"by\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}").unwrap_err().0,
        "bad_json"
    );
}

#[test]
fn a_failed_call_undoes_its_writes_and_events() {
    let env = TestEnv::new();
    env.call(bump, r#"{"by": 7}"#).unwrap();
    let storage = env.storage();
    assert_eq!(env.events().len(), 1);
    assert_eq!(env.call(bump_then_fail, r#"{"by": 100}"#), err("nope", "changed my mind"));
    assert_eq!(env.storage(), storage);
    assert_eq!(env.events().len(), 1);
    let (code, message) = env.call(bump_then_panic, "{}").unwrap_err();
    assert_eq!(code, "trap");
    assert!(message.contains("index out of bounds"), "{message}");
    assert_eq!(env.storage(), storage);
    assert_eq!(env.with(|| COUNTER.get()), Some(7));
    let events = env.take_events();
    assert_eq!(events, vec![Event { kind: "bumped".into(), data: r#"{"value":7}"#.into() }]);
    assert_eq!(events[0].json().get("value"), Some(&Json::from(7u8)));
    assert!(env.events().is_empty());
}

#[test]
fn overflow_is_an_error_not_a_panic() {
    let env = TestEnv::new();
    env.call(bump, &format!(r#"{{"by": {}}}"#, u64::MAX)).unwrap();
    assert_eq!(env.call(bump, r#"{"by": 1}"#), err("overflow", "too big"));
}

#[test]
fn identities_and_block() {
    let admin = account(9, "org2", "admin");
    let env = TestEnv::new().with_contract("vault", "org2").with_caller(admin.clone()).with_block(42, 1_234);
    let out = crate::json::parse(env.call(whoami, "{}").unwrap().as_bytes()).unwrap();
    assert_eq!(Identity::from_json(out.get("caller").unwrap().clone()), Ok(admin.clone()));
    assert_eq!(Identity::from_json(out.get("signer").unwrap().clone()), Ok(admin.clone()));
    let this = Identity::from_json(out.get("this").unwrap().clone()).unwrap();
    assert_eq!(this, contract_identity("vault", 1, "org2"));
    assert!(this.is_contract);
    assert_eq!(this.address, contract_address("vault"));
    assert_eq!(out.get("height"), Some(&Json::from(42u8)));
    assert_eq!(out.get("time"), Some(&Json::from(1_234u16)));
    // call_as changes the caller of one call only; set_signer acts as a contract's callee.
    let other = account(3, "org3", "client");
    let out = crate::json::parse(env.call_as(&other, whoami, "{}").unwrap().as_bytes()).unwrap();
    assert_eq!(out.get("caller").and_then(|c| c.get("org")).and_then(Json::as_str), Some("org3"));
    let out = crate::json::parse(env.call(whoami, "{}").unwrap().as_bytes()).unwrap();
    assert_eq!(out.get("caller").and_then(|c| c.get("org")).and_then(Json::as_str), Some("org2"));
    env.set_caller(contract_identity("escrow", 2, "org1"));
    env.set_signer(other);
    let out = crate::json::parse(env.call(whoami, "{}").unwrap().as_bytes()).unwrap();
    assert_eq!(out.get("caller").and_then(|c| c.get("is_contract")), Some(&Json::Bool(true)));
    assert_eq!(out.get("signer").and_then(|c| c.get("org")).and_then(Json::as_str), Some("org3"));
}

#[test]
fn maps_iterate_in_key_order() {
    let env = TestEnv::new();
    assert_eq!(
        env.call(names, r#"{"set": [300, 2, 70000, 1]}"#),
        Ok(r#"["1=n1","2=n2","300=n300","70000=n70000"]"#.into())
    );
    env.with(|| {
        assert!(NAMES.contains(&2));
        NAMES.remove(&2);
        assert!(!NAMES.contains(&2));
        assert_eq!(NAMES.keys().collect::<Vec<_>>(), vec![1, 300, 70000]);
        assert_eq!(NAMES.get(&300).as_deref(), Some("n300"));
        assert_eq!(COUNTER.get(), None);
        assert!(!COUNTER.contains());
        COUNTER.set(&1);
        assert!(COUNTER.contains());
        COUNTER.remove();
        assert_eq!(COUNTER.get_or_default(), 0);
    });
}

#[test]
fn raw_storage_next_and_prefixes() {
    let env = TestEnv::new();
    env.with(|| {
        for key in [&b"a"[..], b"b/1", b"b/2", b"b/3", b"b0", b"c"] {
            storage::set(key, b"v");
        }
        let keys: Vec<Vec<u8>> = storage::iter_prefix(b"b/").collect();
        assert_eq!(keys, vec![b"b/1".to_vec(), b"b/2".to_vec(), b"b/3".to_vec()]);
        assert_eq!(storage::next(b"b/", b"b/1"), Some(b"b/2".to_vec()));
        assert_eq!(storage::next(b"b/", b"a"), Some(b"b/1".to_vec()), "after sorts before the prefix");
        assert_eq!(storage::next(b"b/", b"b/3"), None);
        assert_eq!(storage::next(b"b/", b"z"), None);
        assert_eq!(storage::next(b"", b""), Some(b"a".to_vec()));
        assert_eq!(storage::next(b"c", b""), Some(b"c".to_vec()), "the prefix itself is a key with the prefix");
        assert_eq!(storage::iter_prefix(b"").count(), 6);
        storage::remove(b"b/2");
        storage::remove(b"nothing");
        assert_eq!(storage::get(b"b/2"), None);
        assert_eq!(storage::get(b"b/1"), Some(b"v".to_vec()));
    });
}

#[test]
fn a_corrupt_value_fails_the_call() {
    let env = TestEnv::new();
    env.with(|| storage::set(b"counter", b"xyz"));
    assert_eq!(env.call(bump, r#"{"by": 1}"#), err("corrupt_storage", "a stored value does not decode as its type"));
}

#[test]
fn failure_messages_are_cut_at_a_character_boundary() {
    let env = TestEnv::new();
    let (code, message) = env.call(long_fail, "{}").unwrap_err();
    assert_eq!(code, "long");
    assert_eq!(message, "é".repeat(128));
}

#[test]
fn host_misuse_traps() {
    let env = TestEnv::new();
    let (code, message) = env.call(bad_event, "{}").unwrap_err();
    assert_eq!(code, "trap");
    assert!(message.contains("invalid kind"), "{message}");
    let (code, message) = env.call(check_sm2, r#"{"pk": "00", "msg": "", "sig": ""}"#).unwrap_err();
    assert_eq!(code, "trap");
    assert!(message.contains("set_sm2_verifier"), "{message}");
    env.set_sm2_verifier(|pk, msg, sig, id| pk == [4] && msg == b"m" && sig == [1, 2] && id.is_empty());
    assert_eq!(env.call(check_sm2, r#"{"pk": "04", "msg": "6d", "sig": "0102"}"#), Ok("true".into()));
    assert_eq!(env.call(check_sm2, r#"{"pk": "04", "msg": "6d", "sig": "0103"}"#), Ok("false".into()));
}

#[test]
fn hashes_are_computed() {
    let env = TestEnv::new();
    assert_eq!(
        env.call(hashes, r#"{"data": "abc"}"#),
        Ok(r#"{"sm3":"66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0","sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#.into())
    );
}

#[test]
fn cross_contract_calls_use_mocks() {
    let env = TestEnv::new();
    env.mock_contract("oracle", |method, args| match method {
        "price" => Ok(format!(r#"{{"asked":{args}}}"#)),
        "none" => Ok(String::new()),
        _ => Err(("unknown_method".into(), format!("no method {method}"))),
    });
    assert_eq!(
        env.call(forward, r#"{"contract": "oracle", "method": "price", "args": {"pair": "x"}}"#),
        Ok(r#"{"asked":{"pair":"x"}}"#.into())
    );
    assert_eq!(env.call(forward, r#"{"contract": "oracle", "method": "none", "args": {}}"#), Ok("null".into()));
    assert_eq!(
        env.call(forward, r#"{"contract": "oracle", "method": "nope", "args": {}}"#),
        err("unknown_method", "no method nope")
    );
    let (code, _) = env.call(forward, r#"{"contract": "ghost", "method": "x", "args": {}}"#).unwrap_err();
    assert_eq!(code, "unknown_contract");
    let calls = env.outgoing_calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(
        calls[0],
        OutgoingCall { contract: "oracle".into(), method: "price".into(), args: r#"{"pair":"x"}"#.into() }
    );
}

#[test]
fn a_mock_may_run_another_env() {
    // The callee is a real contract in its own world; its caller is the calling contract.
    let callee = TestEnv::new().with_contract("counter", "org1");
    let caller_env = TestEnv::new().with_contract("proxy", "org1");
    let proxy = caller_env.contract();
    let callee_handle = callee.clone();
    caller_env.mock_contract("counter", move |method, args| {
        let f: fn() = match method {
            "bump" => bump,
            "whoami" => whoami,
            _ => return Err(("unknown_method".into(), method.to_string())),
        };
        callee_handle.call_as(&proxy, f, args)
    });
    assert_eq!(
        caller_env.call(forward, r#"{"contract": "counter", "method": "bump", "args": {"by": 5}}"#),
        Ok("5".into())
    );
    assert_eq!(callee.with(|| COUNTER.get()), Some(5));
    assert_eq!(caller_env.with(|| COUNTER.get()), None, "separate storage");
    let out = caller_env.call(forward, r#"{"contract": "counter", "method": "whoami", "args": {}}"#).unwrap();
    let out = crate::json::parse(out.as_bytes()).unwrap();
    assert_eq!(out.get("caller").and_then(|c| c.get("name")).and_then(Json::as_str), Some("proxy"));
    assert_eq!(out.get("this").and_then(|c| c.get("name")).and_then(Json::as_str), Some("counter"));
    // The callee's failure comes back as the caller's failure (and undoes the caller's writes).
    assert_eq!(
        caller_env.call(forward, r#"{"contract": "counter", "method": "bump", "args": {}}"#),
        err("bad_args", "missing argument \"by\"")
    );
}

#[test]
fn ensure_returns_the_error() {
    let env = TestEnv::new();
    assert_eq!(env.call(positive, r#"{"n": 3}"#), Ok("3".into()));
    assert_eq!(env.call(positive, r#"{"n": -3}"#), err("not_positive", "n must be positive"));
}

#[test]
#[should_panic(expected = "inside TestEnv::with")]
fn fail_inside_with_panics_readably() {
    TestEnv::new().with(|| fail("x", "y"));
}

#[test]
#[should_panic(expected = "outside TestEnv::call")]
fn host_functions_need_an_env() {
    let _ = crate::caller();
}
