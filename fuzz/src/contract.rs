//! Contracts (`fdl_exec`): a module and a call's arguments, as any institution's administrator
//! may send them, reach the static checks, the engine and the executor's host. The input is split
//! into a module, a method selector and arguments ([`split`]); the module is deployed directly
//! (`contract_deploy_policy = 1`) into `org1`'s namespace, its `init` getting the arguments, and
//! when that succeeds one of its methods is called with them, each in a block of its own through
//! `execute_block`.
//!
//! Nothing may panic or fail the block; a deploy that is rejected and a call that fails write
//! nothing under the contract prefixes (registry, code, storage); a call writes only its own
//! contract's storage and uses at most its fuel; the same call over the same state gives the same
//! receipts and writes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::LazyLock;

use fdl_crypto::{Address, KeyPair, Signer as _, Suite};
use fdl_exec::{BlockOutcome, ExecError, StateView, execute_block, genesis_writes};
use fdl_schema::keys;
use fdl_types::{
    ChainParams, Credential, DeploySpec, Genesis, GenesisMember, GenesisValidator, Payload, Role, SignedTx, StatusCode,
    TxBody, VmKind,
};

/// The contract's name: in the deploying administrator's namespace (`org1`).
pub const NAME: &str = "org1.fuzz";

/// The fuel of a call (and of `init`): small, so that a module that loops ends quickly.
const TX_FUEL: u64 = 200_000;

/// A selector that calls `init` (never callable after the deploy).
const CALL_INIT: u8 = 0xff;
/// A selector that calls a method no module has.
const CALL_MISSING: u8 = 0xfe;

/// State in memory, with the ordered iteration of keys (`storage_next`).
#[derive(Clone, Default)]
struct Mem(BTreeMap<Vec<u8>, Vec<u8>>);

impl StateView for Mem {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        Ok(self.0.get(key).cloned())
    }

    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, ExecError> {
        let from = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        Ok(self.0.range((from, Bound::Unbounded)).next().map(|(k, _)| k.clone()).filter(|k| k.starts_with(prefix)))
    }
}

impl Mem {
    fn apply(&mut self, writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        for (k, v) in writes {
            match v {
                Some(v) => self.0.insert(k.clone(), v.clone()),
                None => self.0.remove(k),
            };
        }
    }
}

/// A chain of one institution (`org1`) whose administrators may deploy directly.
struct Chain {
    state: Mem,
    admin: KeyPair,
    cert: Vec<u8>,
    /// A block time at which the certificates are valid.
    time_ms: u64,
}

static CHAIN: LazyLock<Chain> = LazyLock::new(chain);

fn chain() -> Chain {
    let ca_key = KeyPair::ed25519_from_seed(&[0x61; 32]);
    let ca = fdl_pki::create_ca("org1", &ca_key, 3650).expect("create a CA");
    let admin = KeyPair::ed25519_from_seed(&[0x62; 32]);
    let cert = fdl_pki::issue(&ca, &ca_key, &admin.public_key(), "admin", Role::Admin, 3650).expect("issue");
    let not_before = fdl_pki::parse(&cert).expect("parse the certificate").not_before;
    let validator = KeyPair::ed25519_from_seed(&[0x63; 32]);
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: "fuzz".into(),
        suite: Suite::Intl,
        genesis_time_ms: 0,
        issuer: Address([1; 20]),
        members: vec![GenesisMember {
            name: "org1".into(),
            ca_cert: fdl_pki::to_pem(&ca).expect("pem"),
            committee: true,
        }],
        regulator: None,
        validators: vec![GenesisValidator {
            name: "v".into(),
            public_key: to_hex(&validator.public_key().to_bytes()),
            power: 1,
            ..GenesisValidator::default()
        }],
        observers: vec![],
        balances: vec![],
        params: ChainParams {
            contract_deploy_policy: 1,
            max_tx_fuel: TX_FUEL,
            max_block_fuel: 10 * TX_FUEL,
            ..ChainParams::default()
        },
    };
    genesis.validate().expect("a valid genesis");
    let mut state = Mem::default();
    state.apply(&genesis_writes(&genesis).expect("genesis writes"));
    Chain { state, admin, cert, time_ms: (not_before + 60) * 1_000 }
}

/// Lowercase hex.
fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tx(c: &Chain, nonce: u64, payload: Payload) -> SignedTx {
    TxBody {
        chain_id: "fuzz".into(),
        signer: c.admin.public_key(),
        credential: Credential::Certificate(c.cert.clone()),
        nonce,
        expiry_height: 100,
        payload,
    }
    .sign(&c.admin)
    .expect("sign")
}

/// Splits an input: a little-endian `u16` length, the module (that many bytes, or what there is),
/// a method selector byte and the arguments (the rest). The selector picks one of the module's
/// methods (`selector % count`), except [`CALL_INIT`] and [`CALL_MISSING`]; its top bit also
/// sets the deploy's `allow_reentry`.
pub fn split(data: &[u8]) -> (&[u8], u8, &[u8]) {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return (data, 0, &[]) };
    let len = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (module, rest) = rest.split_at(len);
    match rest.split_first() {
        Some((selector, args)) => (module, *selector, args),
        None => (module, 0, &[]),
    }
}

/// An input that [`split`] splits into these parts.
pub fn input(module: &[u8], selector: u8, args: &[u8]) -> Vec<u8> {
    let len = u16::try_from(module.len()).expect("a module of at most 65535 bytes");
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(module);
    out.push(selector);
    out.extend_from_slice(args);
    out
}

/// The keys a block wrote under a prefix of the contract module.
fn contract_keys(out: &BlockOutcome) -> Vec<&Vec<u8>> {
    out.writes.keys().filter(|k| k.starts_with(b"ctr/") || k.starts_with(b"code/") || k.starts_with(b"cs/")).collect()
}

/// Deploys the module of `data` and calls one of its methods (see the module's documentation).
///
/// # Panics
/// When execution fails, or a failed deploy or call wrote contract state, or a call wrote another
/// contract's state, used more than its fuel, or gave a different outcome the second time.
pub fn contract(data: &[u8]) {
    outcome(data);
}

/// As [`contract`]; answers the deploy's status and the call's (none when the deploy failed).
pub fn outcome(data: &[u8]) -> (StatusCode, Option<StatusCode>) {
    let c = &*CHAIN;
    let (module, selector, args) = split(data);
    let args = String::from_utf8_lossy(args).into_owned();
    let spec = DeploySpec {
        name: NAME.into(),
        vm: VmKind::Wasm,
        code: module.to_vec(),
        review: None,
        access: vec![],
        allow_reentry: selector & 0x80 != 0,
        init_args: args.clone(),
        abi: String::new(),
    };
    let deploy = execute_block(&c.state, 1, c.time_ms, &[tx(c, 1, Payload::Deploy { spec })]).expect("deploy block");
    let r = &deploy.receipts[0];
    let written = contract_keys(&deploy);
    match r.status {
        StatusCode::Ok => {
            let record = keys::contract(NAME).into_key();
            assert!(written.iter().any(|k| **k == record), "a deploy writes the contract's record: {written:?}");
        }
        StatusCode::ContractRejected => {
            assert!(written.is_empty(), "a rejected deploy wrote {written:?}: {r:?}");
            return (r.status, None);
        }
        other => panic!("a direct deploy by an administrator ended {other:?}: {r:?}"),
    }

    let mut state = c.state.clone();
    state.apply(&deploy.writes);
    let version = keys::contract_version(NAME, 1).read(&state).expect("read").expect("version 1");
    let method = match selector {
        CALL_INIT => "init".to_string(),
        CALL_MISSING => "no_such_method".to_string(),
        s => match version.methods.get(usize::from(s) % version.methods.len().max(1)) {
            Some(m) => m.clone(),
            None => panic!("a deployed module without methods: {r:?}"),
        },
    };
    let call = Payload::Call { contract: NAME.into(), version: 0, method: method.clone(), args, fuel: 0 };
    let txs = [tx(c, 2, call)];
    let out = execute_block(&state, 2, c.time_ms + 1_000, &txs).expect("call block");
    assert_eq!(out, execute_block(&state, 2, c.time_ms + 1_000, &txs).expect("call block"), "not deterministic");
    let r = &out.receipts[0];
    let written = contract_keys(&out);
    assert!(r.cost <= TX_FUEL, "the call used {} fuel, more than its {TX_FUEL}", r.cost);
    match r.status {
        StatusCode::Ok => {
            let own = keys::contract_storage_key(NAME, b"");
            assert!(written.iter().all(|k| k.starts_with(&own)), "a call wrote beyond its storage: {written:?}");
        }
        StatusCode::ContractFailed | StatusCode::OutOfFuel | StatusCode::UnknownMethod => {
            assert!(written.is_empty(), "a failed call wrote {written:?}: {r:?}");
        }
        other => panic!("a call of {method} ended {other:?}: {r:?}"),
    }
    if matches!(selector, CALL_INIT | CALL_MISSING) {
        assert_eq!((r.status, r.cost), (StatusCode::UnknownMethod, 0), "{method} was run");
    }
    (StatusCode::Ok, Some(r.status))
}

/// Every import of module `fdl` that the seed module uses.
const IMPORTS: &str = r#"
  (import "fdl" "input" (func $input (result i32)))
  (import "fdl" "read_result" (func $read_result (param i32)))
  (import "fdl" "set_return" (func $set_return (param i32 i32)))
  (import "fdl" "fail" (func $fail (param i32 i32 i32 i32)))
  (import "fdl" "storage_get" (func $storage_get (param i32 i32) (result i32)))
  (import "fdl" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "fdl" "storage_remove" (func $storage_remove (param i32 i32)))
  (import "fdl" "storage_next" (func $storage_next (param i32 i32 i32 i32) (result i32)))
  (import "fdl" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "fdl" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
"#;

/// A module with a method for each kind of host work, each using the call's arguments (copied to
/// 1024 by `$arg`): `init` writes `k`; `echo` returns the arguments; `set` writes them under
/// themselves; `get` returns the value under them; `del` removes them; `boom` writes `k` then
/// fails with them as the message; `spin` writes `k` then loops; `walk` removes every key that
/// starts with them, iterating; `grow` grows the memory by one page per byte; `again` calls
/// `echo` of this contract (re-entry); `emit` emits them as an event; `named` calls `echo` of the
/// contract they name (any UTF-8).
fn seed_module() -> Vec<u8> {
    let text = format!(
        r#"(module {IMPORTS}
          (memory (export "memory") 1)
          (data (i32.const 0) "k") (data (i32.const 8) "{NAME}") (data (i32.const 24) "echo")
          (data (i32.const 32) "nope") (data (i32.const 40) "tick")
          (func $arg (result i32) (local $n i32)
            (local.set $n (call $input))
            (call $read_result (i32.const 1024))
            (local.get $n))
          (func (export "init") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 1024) (call $arg)))
          (func (export "echo") (call $set_return (i32.const 1024) (call $arg)))
          (func (export "set") (local $n i32)
            (local.set $n (call $arg))
            (call $storage_set (i32.const 1024) (local.get $n) (i32.const 1024) (local.get $n)))
          (func (export "get") (local $n i32)
            (local.set $n (call $storage_get (i32.const 1024) (call $arg)))
            (if (i32.ge_s (local.get $n) (i32.const 0))
              (then (call $read_result (i32.const 40000)) (call $set_return (i32.const 40000) (local.get $n)))))
          (func (export "del") (call $storage_remove (i32.const 1024) (call $arg)))
          (func (export "boom")
            (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
            (call $fail (i32.const 32) (i32.const 4) (i32.const 1024) (call $arg)))
          (func (export "spin")
            (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1))
            (loop $forever (br $forever)))
          (func (export "walk") (local $p i32) (local $n i32) (local $a i32)
            (local.set $p (call $arg))
            (block $done
              (loop $next
                (local.set $n (call $storage_next (i32.const 1024) (local.get $p) (i32.const 30000) (local.get $a)))
                (br_if $done (i32.lt_s (local.get $n) (i32.const 0)))
                (call $read_result (i32.const 30000))
                (local.set $a (local.get $n))
                (call $storage_remove (i32.const 30000) (local.get $n))
                (br $next))))
          (func (export "grow") (drop (memory.grow (call $arg))))
          (func (export "again")
            (drop (call $call (i32.const 8) (i32.const {len}) (i32.const 24) (i32.const 4) (i32.const 1024) (call $arg))))
          (func (export "emit") (call $emit (i32.const 40) (i32.const 4) (i32.const 1024) (call $arg)))
          (func (export "named") (local $n i32)
            (local.set $n (call $arg))
            (drop (call $call (i32.const 1024) (local.get $n) (i32.const 24) (i32.const 4) (i32.const 0) (i32.const 0)))))"#,
        len = NAME.len()
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad WAT: {e}\n{text}"))
}

/// Seeds: the seed module with every method (with and without re-entry, with JSON and other
/// arguments, `init` and a missing method), a module using floating point, a bare header and
/// garbage.
pub fn seeds() -> Vec<Vec<u8>> {
    let module = seed_module();
    // The exports of `seed_module` other than `init`: again, boom, del, echo, emit, get, grow,
    // named, set, spin, walk.
    let methods = 11u8;
    let mut out = Vec::new();
    for selector in 0..methods {
        for args in [&br#""k""#[..], b"{}", b"", b"\xff\xfe not json"] {
            out.push(input(&module, selector, args));
        }
        out.push(input(&module, selector | 0x80, br#"{"again":true}"#));
    }
    // `named` (the 8th method) calling this contract, and the key of its version 1 record.
    out.push(input(&module, 7, NAME.as_bytes()));
    out.push(input(&module, 7, &[NAME.as_bytes(), b"/\0\0\0\x01"].concat()));
    out.push(input(&module, CALL_INIT, b"{}"));
    out.push(input(&module, CALL_MISSING, b"{}"));
    let float = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "f") (drop (f32.const 1))))"#)
        .expect("WAT");
    out.push(input(&float, 0, b"{}"));
    out.push(input(b"\0asm\x01\0\0\0", 0, b"{}"));
    out.push((0..200u8).map(|b| b.wrapping_mul(37)).collect());
    out
}
