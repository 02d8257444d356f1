//! The engine's tests, on hand-assembled bytecode and the in-memory [`MockHost`].

use serde_json::json;

use crate::abi::{Abi, decode_revert, selector};
use crate::testing::MockHost;
use crate::*;

const THIS: Address20 = [0xc0; 20];
const OTHER: Address20 = [0xc1; 20];
const ALICE: Address20 = [0xa1; 20];
const BOB: Address20 = [0xb0; 20];

fn block() -> Block {
    Block { height: 7, time_s: 1_700_000_000, chain_id: 99, coinbase: [0x0c; 20], gas_limit: 30_000_000 }
}

fn limits() -> Limits {
    Limits { max_call_depth: 8, ..Limits::default() }
}

fn run<'a>(input: &'a [u8], block: &'a Block, limits: &'a Limits) -> Run<'a> {
    Run { this: THIS, caller: ALICE, origin: BOB, input, gas: 1_000_000, block, limits, code: None, read_only: false }
}

fn call_code(host: &mut MockHost, code: Vec<u8>) -> Outcome {
    host.set_code(THIS, code);
    let (b, l) = (block(), limits());
    Engine::new().call(host, &run(&[], &b, &l)).expect("no host error")
}

fn word(v: u8) -> Word {
    let mut w = [0; 32];
    w[31] = v;
    w
}

/// Code that copies `data` (appended after it) to memory and RETURNs it (or REVERTs with it),
/// after `prefix`.
fn ret_data(prefix: &[u8], data: &[u8], revert: bool) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("short").to_be_bytes();
    let off = u16::try_from(prefix.len() + 15).expect("short").to_be_bytes();
    let mut c = prefix.to_vec();
    c.extend([0x61, len[0], len[1], 0x61, off[0], off[1], 0x60, 0x00, 0x39]);
    c.extend([0x61, len[0], len[1], 0x60, 0x00, if revert { 0xfd } else { 0xf3 }]);
    c.extend(data);
    c
}

/// Code that STATICCALLs `addr` with `input` and returns what it returned.
fn call_precompile(addr: Address20, input: &[u8]) -> Vec<u8> {
    let len = u16::try_from(input.len()).expect("short").to_be_bytes();
    let mut c = vec![0x61, len[0], len[1], 0x61, 0x00, 52, 0x60, 0x00, 0x39];
    c.extend([0x60, 0x00, 0x60, 0x00, 0x61, len[0], len[1], 0x60, 0x00, 0x73]);
    c.extend(addr);
    c.extend([0x5a, 0xfa, 0x50, 0x3d, 0x60, 0x00, 0x60, 0x00, 0x3e, 0x3d, 0x60, 0x00, 0xf3]);
    assert_eq!(c.len(), 52);
    c.extend(input);
    c
}

/// Code that CALLs `callee` (or itself) with a 4-byte selector and returns the success flag.
fn call_other(callee: Option<Address20>) -> Vec<u8> {
    let mut c = vec![0x63, 0xaa, 0xbb, 0xcc, 0xdd, 0x60, 0xe0, 0x1b, 0x60, 0x00, 0x52];
    c.extend([0x60, 0x00, 0x60, 0x00, 0x60, 0x04, 0x60, 0x00, 0x60, 0x00]);
    match callee {
        Some(a) => {
            c.push(0x73);
            c.extend(a);
        }
        None => c.push(0x30),
    }
    c.extend([0x5a, 0xf1, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]);
    c
}

const STORE_42: [u8; 16] =
    [0x60, 0x2a, 0x60, 0x01, 0x55, 0x60, 0x01, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3];

fn error_string(reason: &str) -> Vec<u8> {
    let mut d = selector("Error(string)").to_vec();
    d.extend(
        alloy_dyn_abi::DynSolValue::Tuple(vec![alloy_dyn_abi::DynSolValue::String(reason.into())]).abi_encode_params(),
    );
    d
}

#[test]
fn storage_write_and_read_back() {
    let mut host = MockHost::new();
    let out = call_code(&mut host, STORE_42.to_vec());
    assert_eq!(out.result, Ok(word(42).to_vec()));
    assert_eq!(out.writes, vec![(THIS, word(1), word(42))]);
    assert!(out.gas_used > 21_000 && out.gas_used < 100_000);
    host.apply(&out.writes);
    // Storing the same value again changes nothing.
    let (b, l) = (block(), limits());
    let again = Engine::new().call(&mut host, &run(&[], &b, &l)).expect("ok");
    assert!(again.writes.is_empty());
}

#[test]
fn sender_and_origin() {
    let mut host = MockHost::new();
    let out = call_code(&mut host, vec![0x33, 0x60, 0x00, 0x52, 0x32, 0x60, 0x20, 0x52, 0x60, 0x40, 0x60, 0x00, 0xf3]);
    let data = out.result.expect("ok");
    assert_eq!(&data[12..32], &ALICE);
    assert_eq!(&data[44..64], &BOB);
}

#[test]
fn revert_reason_decoded_nothing_written() {
    let mut host = MockHost::new();
    let data = error_string("not allowed");
    let out = call_code(&mut host, ret_data(&[0x60, 0x01, 0x60, 0x01, 0x55], &data, true));
    let f = out.result.expect_err("reverts");
    assert_eq!((f.code.as_str(), f.message.as_str()), ("revert", "not allowed"));
    assert_eq!(f.data, data);
    assert!(out.writes.is_empty() && out.logs.is_empty());
}

#[test]
fn out_of_gas_uses_all_gas() {
    let mut host = MockHost::new();
    let out = call_code(&mut host, vec![0x5b, 0x60, 0x00, 0x56]);
    let f = out.result.expect_err("runs out");
    assert!(f.is_out_of_gas(), "{f:?}");
    assert_eq!(out.gas_used, 1_000_000);
}

#[test]
fn invalid_opcode_stack_and_jump() {
    let mut host = MockHost::new();
    assert_eq!(call_code(&mut host, vec![0xfe]).result.expect_err("x").code, "invalid_opcode");
    assert_eq!(call_code(&mut host, vec![0x0c]).result.expect_err("x").code, "invalid_opcode");
    assert_eq!(call_code(&mut host, vec![0x01]).result.expect_err("x").code, "stack");
    assert_eq!(call_code(&mut host, vec![0x60, 0x03, 0x56]).result.expect_err("x").code, "invalid_jump");
}

#[test]
fn create_and_create2_fail_inside_a_call() {
    for create in
        [vec![0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0xf0], vec![0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0xf5]]
    {
        let mut host = MockHost::new();
        // The opcode pushes 0 (failure); the contract returns what it got.
        let mut code = create.clone();
        code.extend([0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3]);
        let out = call_code(&mut host, code);
        assert_eq!(out.result, Ok(word(0).to_vec()));
        assert_eq!(out.refusals.len(), 1);
        assert_eq!(out.refusals[0].code, "create_refused");
        // A contract that reverts on the failure (as solc's `new` does) fails as create_refused.
        let mut code = create;
        code.extend([0x60, 0x0e, 0x57, 0x60, 0x00, 0x60, 0x00, 0xfd]);
        let out = call_code(&mut host, code);
        assert_eq!(out.result.expect_err("fails").code, "create_refused");
        assert_eq!(out.refusals.len(), 1);
    }
}

#[test]
fn check_runtime_rules() {
    let e = Engine::new();
    let l = Limits::default();
    assert_eq!(e.check_runtime(&[], &l).expect_err("empty").code, "empty");
    let err = e.check_runtime(&[0x60, 0x00, 0xff], &l).expect_err("selfdestruct");
    assert_eq!(err.code, "denied_opcode");
    assert!(err.message.contains("SELFDESTRUCT") && err.message.contains("offset 2"), "{err}");
    assert!(e.check_runtime(&[0x60, 0xff, 0x00], &l).is_ok());
    // 0xff inside a plausible metadata trailer (CBOR map a1 .., length 0x0003).
    assert!(e.check_runtime(&[0x00, 0xa1, 0xff, 0xff, 0x00, 0x03], &l).is_ok());
    assert!(e.check_runtime(&[0x00, 0xff], &l).is_err());
    assert_eq!(e.check_runtime(&[0x00, 0xf0], &l).expect_err("create").code, "denied_opcode");
    assert_eq!(e.check_runtime(&[0x00, 0xf5], &l).expect_err("create2").code, "denied_opcode");
    assert_eq!(e.check_runtime(&[0x00, 0xf2], &l).expect_err("callcode").code, "denied_opcode");
    assert!(e.check_runtime(&[0x00, 0xf4], &l).is_ok());
    let strict = Limits { denied_opcodes: DEFAULT_DENIED_OPCODES | DENY_DELEGATECALL, ..l.clone() };
    assert!(e.check_runtime(&[0x00, 0xf4], &strict).is_err());
    let small = Limits { max_code_bytes: 50, ..l.clone() };
    assert_eq!(e.check_runtime(&[0u8; 51], &small).expect_err("big").code, "code_too_large");
    let huge = Limits { max_code_bytes: u32::MAX, ..l };
    assert_eq!(e.check_runtime(&[0u8; 24_577], &huge).expect_err("big").code, "code_too_large");
    let info = e.check_runtime(&call_other(Some(OTHER)), &Limits::default()).expect("ok");
    assert_eq!(info.selectors, vec![[0xaa, 0xbb, 0xcc, 0xdd]]);
    assert_eq!(info.keccak, keccak256(&call_other(Some(OTHER))));
}

#[test]
fn nested_call_allowed_and_refused() {
    let mut host = MockHost::new();
    host.set_code(OTHER, vec![0x60, 0x07, 0x60, 0x00, 0x55, 0x00]);
    let out = call_code(&mut host, call_other(Some(OTHER)));
    assert_eq!(out.result, Ok(word(1).to_vec()));
    assert_eq!(out.writes, vec![(OTHER, word(0), word(7))]);
    assert_eq!(host.checked, vec![(THIS, OTHER, 1)]);

    host.policy = Some(Box::new(|_, _, _, _| Err(Refusal { code: "acl".into(), message: "no".into() })));
    let out = call_code(&mut host, call_other(Some(OTHER)));
    assert_eq!(out.result, Ok(word(0).to_vec()), "the caller sees a failed call");
    assert!(out.writes.is_empty());
    assert_eq!(
        out.refusals,
        vec![RefusedCall {
            caller: THIS,
            callee: OTHER,
            selector: Some([0xaa, 0xbb, 0xcc, 0xdd]),
            code: "acl".into(),
            message: "no".into()
        }]
    );
}

#[test]
fn refusals_kept_when_the_run_reverts() {
    let mut host = MockHost::new();
    host.set_code(OTHER, vec![0x00]);
    host.policy = Some(Box::new(|_, _, _, _| Err(Refusal { code: "acl".into(), message: "no".into() })));
    // Call, then revert whatever happened.
    let mut code = call_other(Some(OTHER));
    code.truncate(code.len() - 8);
    code.extend([0x50, 0x60, 0x00, 0x60, 0x00, 0xfd]);
    let out = call_code(&mut host, code);
    assert_eq!(out.result.expect_err("reverts").code, "revert");
    assert_eq!(out.refusals.len(), 1);
}

#[test]
fn depth_limit() {
    let mut host = MockHost::new();
    let out = call_code(&mut host, call_other(None));
    assert_eq!(out.result, Ok(word(1).to_vec()));
    let depths: Vec<u32> = host.checked.iter().map(|c| c.2).collect();
    assert_eq!(depths, (1..=8).collect::<Vec<_>>());
    assert_eq!(out.refusals.len(), 1);
    assert_eq!(out.refusals[0].code, "call_depth");
}

#[test]
fn sm3_precompile() {
    let mut host = MockHost::new();
    let out = call_code(&mut host, call_precompile(precompile::SM3, b"abc"));
    assert_eq!(
        hex::encode(out.result.expect("ok")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert!(host.checked.is_empty(), "precompile calls are not checked");
}

fn sm2_input(id: Option<&str>, msg: &[u8], flip: bool) -> Vec<u8> {
    use sm2::dsa::signature::Signer as _;
    let key = sm2::dsa::SigningKey::from_slice(id.unwrap_or(precompile::SM2_DEFAULT_ID), &[7u8; 32]).expect("key");
    let sig: sm2::dsa::Signature = key.sign(msg);
    let pk = key.verifying_key().to_sec1_bytes();
    assert_eq!(pk.len(), 65);
    let mut input = pk[1..].to_vec();
    input.extend(sig.to_bytes().as_slice());
    if let Some(id) = id {
        let mut w = [0u8; 32];
        w[24..].copy_from_slice(&(id.len() as u64).to_be_bytes());
        input.extend(w);
        input.extend(id.as_bytes());
    }
    input.extend(msg);
    if flip {
        let last = input.len() - 1;
        input[last] ^= 1;
    }
    input
}

#[test]
fn sm2_precompiles() {
    let mut host = MockHost::new();
    let msg = b"pay 10 to bob";
    for flip in [false, true] {
        let out = call_code(&mut host, call_precompile(precompile::SM2_VERIFY, &sm2_input(None, msg, flip)));
        assert_eq!(out.result, Ok(word(u8::from(!flip)).to_vec()));
        let out =
            call_code(&mut host, call_precompile(precompile::SM2_VERIFY_ID, &sm2_input(Some("alice@bank"), msg, flip)));
        assert_eq!(out.result, Ok(word(u8::from(!flip)).to_vec()));
    }
    let out = call_code(&mut host, call_precompile(precompile::SM2_VERIFY, &[1, 2, 3]));
    assert_eq!(out.result, Ok(word(0).to_vec()));
}

#[test]
fn identity_precompile() {
    let mut host = MockHost::new();
    host.members.insert(ALICE, Member { org: "Bank A".into(), role: "admin".into() });
    let mut input = [0u8; 32];
    input[12..].copy_from_slice(&ALICE);
    let out = call_code(&mut host, call_precompile(precompile::IDENTITY, &input));
    use alloy_dyn_abi::DynSolValue as V;
    let expected = V::Tuple(vec![V::String("Bank A".into()), V::String("admin".into())]).abi_encode_params();
    assert_eq!(out.result, Ok(expected));
    input[12..].copy_from_slice(&BOB);
    let out = call_code(&mut host, call_precompile(precompile::IDENTITY, &input));
    let empty = V::Tuple(vec![V::String(String::new()), V::String(String::new())]).abi_encode_params();
    assert_eq!(out.result, Ok(empty));
}

#[test]
fn host_error_is_an_err() {
    let mut host = MockHost::new();
    host.set_code(THIS, STORE_42.to_vec());
    host.fail = Some("disk".into());
    let (b, l) = (block(), limits());
    assert_eq!(Engine::new().call(&mut host, &run(&[], &b, &l)), Err(HostError("disk".into())));
}

fn log2_code(n: usize) -> Vec<u8> {
    let mut c = vec![0x60, 0x2a, 0x60, 0x00, 0x52];
    for _ in 0..n {
        c.push(0x7f);
        c.extend(word(2));
        c.push(0x7f);
        c.extend(word(1));
        c.extend([0x60, 0x20, 0x60, 0x00, 0xa2]);
    }
    c.push(0x00);
    c
}

#[test]
fn logs_and_log_limits() {
    let mut host = MockHost::new();
    let out = call_code(&mut host, log2_code(2));
    assert!(out.result.is_ok());
    assert_eq!(out.logs.len(), 2);
    assert_eq!(out.logs[0], Log { address: THIS, topics: vec![word(1), word(2)], data: word(42).to_vec() });

    host.set_code(THIS, log2_code(3));
    let (b, l) = (block(), Limits { max_logs: 2, ..limits() });
    let out = Engine::new().call(&mut host, &run(&[], &b, &l)).expect("ok");
    assert_eq!(out.result.expect_err("too many").code, "limit");
    assert!(out.logs.is_empty());
    let l = Limits { max_log_bytes: 95, ..limits() };
    let out = Engine::new().call(&mut host, &run(&[], &b, &l)).expect("ok");
    assert_eq!(out.result.expect_err("too big").code, "limit");
    let l = Limits { max_return_bytes: 31, ..limits() };
    host.set_code(THIS, STORE_42.to_vec());
    let out = Engine::new().call(&mut host, &run(&[], &b, &l)).expect("ok");
    assert_eq!(out.result.expect_err("too long").code, "limit");
    assert!(out.writes.is_empty());
}

#[test]
fn read_only_refuses_writes() {
    let mut host = MockHost::new();
    host.set_code(THIS, STORE_42.to_vec());
    let (b, l) = (block(), limits());
    let out = Engine::new().call(&mut host, &Run { read_only: true, ..run(&[], &b, &l) }).expect("ok");
    assert!(out.result.is_err());
    assert!(out.writes.is_empty());
}

#[test]
fn pinned_code_overrides_the_host() {
    let mut host = MockHost::new();
    host.set_code(THIS, vec![0x00]);
    let (b, l) = (block(), limits());
    let r = Run { code: Some(ContractCode::new(STORE_42.to_vec())), ..run(&[], &b, &l) };
    assert_eq!(Engine::new().call(&mut host, &r).expect("ok").result, Ok(word(42).to_vec()));
}

#[test]
fn create_at_the_given_address() {
    let mut host = MockHost::new();
    // Constructor: slot 5 = 9, slot 6 = extcodesize(this) (0 during construction), then
    // return the runtime code.
    let prefix = [0x60, 0x09, 0x60, 0x05, 0x55, 0x30, 0x3b, 0x60, 0x06, 0x55];
    let init = ret_data(&prefix, &STORE_42, false);
    let (b, l) = (block(), limits());
    let engine = Engine::new();
    let out = engine.create(&mut host, &run(&init, &b, &l)).expect("ok");
    assert_eq!(out.result, Ok(STORE_42.to_vec()));
    assert_eq!(out.writes, vec![(THIS, word(5), word(9))]);
    // The runtime code must pass the check.
    let bad = ret_data(&[], &[0x60, 0x00, 0xff], false);
    let out = engine.create(&mut host, &run(&bad, &b, &l)).expect("ok");
    assert_eq!(out.result.expect_err("denied").code, "denied_opcode");
    // A constructor that reverts.
    let out = engine.create(&mut host, &run(&ret_data(&[], &error_string("no"), true), &b, &l)).expect("ok");
    assert_eq!(out.result.expect_err("reverts").message, "no");
    // An address that has code already.
    host.set_code(THIS, vec![0x00]);
    let out = engine.create(&mut host, &run(&init, &b, &l)).expect("ok");
    assert!(out.result.is_err());
}

#[test]
fn determinism_and_cache() {
    let engine = Engine::new();
    let mut code = log2_code(1);
    code.pop();
    code.extend(STORE_42);
    let (b, l) = (block(), limits());
    let mut outs = Vec::new();
    for _ in 0..2 {
        let mut host = MockHost::new();
        host.set_code(THIS, code.clone());
        outs.push(engine.call(&mut host, &run(b"in", &b, &l)).expect("ok"));
    }
    assert_eq!(outs[0], outs[1]);
    let stats = engine.cache_stats();
    assert_eq!((stats.misses, stats.entries), (1, 1));
    assert!(stats.hits >= 1);
}

#[test]
fn cache_is_bounded() {
    let engine = Engine::new();
    let (b, l) = (block(), limits());
    let mut host = MockHost::new();
    for i in 0..70u8 {
        host.set_code(THIS, vec![0x60, i, 0x00]);
        engine.call(&mut host, &run(&[], &b, &l)).expect("ok");
    }
    assert_eq!(engine.cache_stats().entries, 64);
}

#[test]
fn random_code_never_panics() {
    let engine = Engine::new();
    let (b, l) = (block(), limits());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let len = (next() % 200) as usize;
        let code: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = engine.check_runtime(&code, &l);
        let mut host = MockHost::new();
        host.set_code(THIS, code.clone());
        host.set_code(OTHER, code.clone());
        let r = Run { gas: 200_000, ..run(&code, &b, &l) };
        let _ = engine.call(&mut host, &r).expect("no host error");
        let _ = engine.create(&mut MockHost::new(), &r).expect("no host error");
    }
}

const ERC20_ABI: &str = r#"[
  {"type":"function","name":"transfer","stateMutability":"nonpayable",
   "inputs":[{"name":"to","type":"address"},{"name":"amount","type":"uint256"}],
   "outputs":[{"name":"","type":"bool"}]},
  {"type":"function","name":"balanceOf","stateMutability":"view",
   "inputs":[{"name":"owner","type":"address"}],"outputs":[{"name":"","type":"uint256"}]},
  {"type":"function","name":"f","stateMutability":"view","inputs":[{"name":"a","type":"uint8"}],"outputs":[]},
  {"type":"function","name":"f","stateMutability":"view","inputs":[{"name":"a","type":"string"}],"outputs":[]},
  {"type":"event","name":"Transfer","anonymous":false,"inputs":[
    {"name":"from","type":"address","indexed":true},{"name":"to","type":"address","indexed":true},
    {"name":"value","type":"uint256","indexed":false}]}
]"#;

#[test]
fn abi_encode_decode() {
    let abi = Abi::parse(ERC20_ABI).expect("parses");
    let to = format!("0x{}", hex::encode(BOB));
    let data = abi.encode_call("transfer", &json!([to, "1000"])).expect("encodes");
    assert_eq!(data[..4], [0xa9, 0x05, 0x9c, 0xbb]);
    assert_eq!(data.len(), 4 + 64);
    assert_eq!(&data[16..36], &BOB);
    // Object form, hex number, address without 0x, by signature and by selector.
    let obj = abi.encode_call("transfer(address,uint256)", &json!({"amount": "0x3e8", "to": hex::encode(BOB)}));
    assert_eq!(obj.expect("encodes"), data);
    assert_eq!(abi.encode_call("0xa9059cbb", &json!([to, 1000])).expect("encodes"), data);
    assert_eq!(selector("balanceOf(address)"), [0x70, 0xa0, 0x82, 0x31]);

    let e = abi.encode_call("transfer", &json!([to, true])).expect_err("bad type");
    assert!(e.0.contains("amount"), "{e}");
    assert!(abi.encode_call("transfer", &json!([to])).is_err());
    let e = abi.encode_call("f", &json!([1])).expect_err("overloaded");
    assert!(e.0.contains("f(uint8)") && e.0.contains("f(string)"), "{e}");
    assert!(abi.encode_call("f(uint8)", &json!([300])).is_err());
    assert!(abi.encode_call("f(uint8)", &json!([255])).is_ok());

    assert_eq!(abi.decode_output("balanceOf", &word(5)).expect("decodes"), json!(5));
    let mut big = [0xffu8; 32];
    big[0] = 0x7f;
    assert!(abi.decode_output("balanceOf", &big).expect("decodes").is_string());
    assert_eq!(abi.decode_output("transfer", &word(1)).expect("decodes"), json!(true));
    assert_eq!(abi.decode_output("f(uint8)", &[]).expect("decodes"), serde_json::Value::Null);
    assert!(abi.decode_output("balanceOf", &[1, 2]).is_err());

    let mut from_topic = [0u8; 32];
    from_topic[12..].copy_from_slice(&ALICE);
    let mut to_topic = [0u8; 32];
    to_topic[12..].copy_from_slice(&BOB);
    let topic0 = keccak256(b"Transfer(address,address,uint256)");
    let (name, fields) = abi.decode_log(&[topic0, from_topic, to_topic], &word(9)).expect("decodes");
    assert_eq!(name, "Transfer");
    assert_eq!(fields, json!({"from": format!("0x{}", hex::encode(ALICE)), "to": to, "value": 9}));
    assert!(abi.decode_log(&[word(1)], &[]).is_none());

    let names: Vec<String> = abi.methods().into_iter().map(|m| m.0).collect();
    assert_eq!(names, ["transfer", "balanceOf", "f", "f"]);
    assert!(abi.encode_constructor(&json!([])).expect("none").is_empty());
    assert!(abi.encode_constructor(&json!([1])).is_err());
    assert!(Abi::parse(&" ".repeat(70_000)).is_err());
}

#[test]
fn revert_decoding() {
    assert_eq!(decode_revert(&error_string("boom")), "boom");
    let mut panic = selector("Panic(uint256)").to_vec();
    panic.extend(word(0x11));
    assert_eq!(decode_revert(&panic), "panic 0x11 (arithmetic overflow)");
    assert_eq!(decode_revert(&[0xde, 0xad]), "0xdead");
    assert_eq!(decode_revert(&[]), "0x");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_code_and_input_never_panic(
        code in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
    ) {
        let engine = Engine::new();
        let (b, l) = (block(), limits());
        let _ = engine.check_runtime(&code, &l);
        let mut host = MockHost::new();
        host.set_code(THIS, code.clone());
        let r = Run { gas: 100_000, ..run(&input, &b, &l) };
        let out = engine.call(&mut host, &r).expect("no host error");
        proptest::prop_assert!(out.gas_used <= 100_000);
    }
}
