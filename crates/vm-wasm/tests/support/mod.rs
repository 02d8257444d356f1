//! A mock host (storage in a `BTreeMap` per contract, a journal for failed nested calls, a log of
//! every host call) and helpers to build test modules from WAT.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fdl_vm_wasm::{CallResult, Engine, Entry, Failure, FailureCode, Host, HostError, Identity, Limits, Run};

/// Every ABI import, under `$name`.
pub const IMPORTS: &str = r#"
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
  (import "fdl" "contract_info" (func $contract_info (result i32)))
  (import "fdl" "block_height" (func $block_height (result i64)))
  (import "fdl" "block_time_ms" (func $block_time_ms (result i64)))
  (import "fdl" "emit" (func $emit (param i32 i32 i32 i32)))
  (import "fdl" "sm3" (func $sm3 (param i32 i32 i32)))
  (import "fdl" "sha256" (func $sha256 (param i32 i32 i32)))
  (import "fdl" "sm2_verify" (func $sm2_verify (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fdl" "ed25519_verify" (func $ed25519_verify (param i32 i32 i32 i32) (result i32)))
  (import "fdl" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i32)))
"#;

/// A module with every import, one exported page of memory, and `body`. It also has `$save`
/// (key ptr, key len, length returned by a host function): the result buffer stored under the
/// key, or the value `none` when the length is -1.
pub fn module(body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module {IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 60000) "none")
  (func $save (param $kp i32) (param $kl i32) (param $n i32)
    (if (i32.eq (local.get $n) (i32.const -1))
      (then (call $storage_set (local.get $kp) (local.get $kl) (i32.const 60000) (i32.const 4)))
      (else
        (call $read_result (i32.const 32768))
        (call $storage_set (local.get $kp) (local.get $kl) (i32.const 32768) (local.get $n)))))
  {body})"#
    ))
}

/// WAT text to a binary module (panics on a WAT error: a bug of the test).
pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("bad WAT: {e}\n{text}"))
}

/// A WAT string literal holding `bytes`.
pub fn data(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

/// The code hash the mock host uses (SHA-256).
pub fn code_hash(code: &[u8]) -> [u8; 32] {
    fdl_crypto::hash(fdl_crypto::Suite::Intl, code).0
}

pub fn account() -> Identity {
    Identity {
        address: [0xaa; 20],
        is_contract: false,
        org: "org1".into(),
        role: "client".into(),
        name: String::new(),
        version: 0,
    }
}

pub fn contract(name: &str) -> Identity {
    let mut address = [0u8; 20];
    address.copy_from_slice(&fdl_crypto::hash(fdl_crypto::Suite::Intl, name.as_bytes()).0[..20]);
    Identity { address, is_contract: true, org: "org1".into(), role: "contract".into(), name: name.into(), version: 1 }
}

pub const HEIGHT: u64 = 42;
pub const TIME_MS: u64 = 1_700_000_000_123;

/// A mock executor: each contract's storage in a `BTreeMap`, events, and a log of every host call
/// in order. Nested calls re-enter the engine and are undone when they fail, as the executor does.
pub struct MockHost {
    pub engine: Arc<Engine>,
    pub limits: Limits,
    /// Code by hash (`load_code`).
    pub codes: HashMap<[u8; 32], Vec<u8>>,
    /// Contracts by name: their code hash.
    pub contracts: HashMap<String, [u8; 32]>,
    /// Storage per contract.
    pub storage: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>,
    /// `(contract, kind, data)`.
    pub events: Vec<(String, String, String)>,
    /// Every host call, in order.
    pub log: Vec<String>,
    /// The running contracts, innermost last.
    pub running: Vec<String>,
    /// Make storage fail (a fatal host error).
    pub broken_store: bool,
    /// Refuse calls back into a running contract.
    pub refuse_reentrancy: bool,
    /// Fuel given to and used by each nested call: `(contract, fuel, fuel_used)`.
    pub nested: Vec<(String, u64, u64)>,
    /// Answer every nested call with this instead of running the callee.
    pub canned: Option<CallResult>,
}

impl MockHost {
    pub fn new(engine: Arc<Engine>) -> Self {
        MockHost {
            engine,
            limits: Limits::default(),
            codes: HashMap::new(),
            contracts: HashMap::new(),
            storage: BTreeMap::new(),
            events: Vec::new(),
            log: Vec::new(),
            running: Vec::new(),
            broken_store: false,
            refuse_reentrancy: false,
            nested: Vec::new(),
            canned: None,
        }
    }

    /// Registers `code` as contract `name`.
    pub fn deploy(&mut self, name: &str, code: &[u8]) -> [u8; 32] {
        let hash = code_hash(code);
        self.codes.insert(hash, code.to_vec());
        self.contracts.insert(name.into(), hash);
        hash
    }

    fn current(&self) -> String {
        self.running.last().cloned().unwrap_or_default()
    }

    pub fn store_of(&mut self, contract: &str) -> &mut BTreeMap<Vec<u8>, Vec<u8>> {
        self.storage.entry(contract.into()).or_default()
    }

    pub fn get(&self, contract: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.storage.get(contract).and_then(|s| s.get(key).cloned())
    }

    /// Runs `method` of contract `name` as a transaction's call (depth 0), with `entry`.
    pub fn run_entry(
        &mut self,
        name: &str,
        entry: Entry,
        method: &str,
        input: &[u8],
        fuel: u64,
    ) -> Result<CallResult, HostError> {
        let hash = self.contracts[name];
        let (caller, this, limits) = (account(), contract(name), self.limits);
        let run = Run {
            code_hash: hash,
            method,
            input,
            caller: &caller,
            signer: &caller,
            this: &this,
            height: HEIGHT,
            time_ms: TIME_MS,
            fuel,
            depth: 0,
            limits: &limits,
            entry,
        };
        let engine = Arc::clone(&self.engine);
        self.running.push(name.into());
        let snapshot = (self.storage.clone(), self.events.len());
        let out = engine.run(&run, self);
        if !matches!(out, Ok(CallResult { result: Ok(_), .. })) {
            self.storage = snapshot.0;
            self.events.truncate(snapshot.1);
        }
        self.running.pop();
        out
    }

    /// Runs `method` of contract `name` as a transaction's call.
    pub fn run(&mut self, name: &str, method: &str, input: &[u8], fuel: u64) -> CallResult {
        self.run_entry(name, Entry::Method, method, input, fuel).unwrap()
    }

    fn check_store(&self) -> Result<(), HostError> {
        if self.broken_store { Err(HostError::new("disk on fire")) } else { Ok(()) }
    }
}

impl Host for MockHost {
    fn load_code(&mut self, code_hash: &[u8; 32]) -> Result<Vec<u8>, HostError> {
        self.log.push(format!("load_code {}", hex::encode(&code_hash[..4])));
        self.codes.get(code_hash).cloned().ok_or_else(|| HostError::new("no such code"))
    }

    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        self.log.push(format!("get {}", hex::encode(key)));
        self.check_store()?;
        let c = self.current();
        Ok(self.store_of(&c).get(key).cloned())
    }

    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        self.log.push(format!("set {} {}", hex::encode(key), hex::encode(value)));
        self.check_store()?;
        let c = self.current();
        self.store_of(&c).insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError> {
        self.log.push(format!("remove {}", hex::encode(key)));
        self.check_store()?;
        let c = self.current();
        self.store_of(&c).remove(key);
        Ok(())
    }

    fn storage_next(&mut self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, HostError> {
        self.log.push(format!("next {} {:?}", hex::encode(prefix), after.map(hex::encode)));
        self.check_store()?;
        let c = self.current();
        let store = self.store_of(&c);
        let next = store
            .range(prefix.to_vec()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .find(|k| after.is_none_or(|a| k.as_slice() > a))
            .cloned();
        Ok(next)
    }

    fn emit(&mut self, kind: &str, data: &str) -> Result<(), HostError> {
        self.log.push(format!("emit {kind} {data}"));
        let c = self.current();
        self.events.push((c, kind.into(), data.into()));
        Ok(())
    }

    fn call(
        &mut self,
        contract_name: &str,
        method: &str,
        args: &[u8],
        fuel: u64,
        depth: u32,
    ) -> Result<CallResult, HostError> {
        self.log
            .push(format!("call {contract_name}.{method} {} fuel={fuel} depth={depth}", String::from_utf8_lossy(args)));
        if let Some(canned) = &self.canned {
            return Ok(canned.clone());
        }
        let Some(hash) = self.contracts.get(contract_name).copied() else {
            return Ok(CallResult::failure(Failure::engine(FailureCode::UnknownContract, contract_name), 0));
        };
        if self.refuse_reentrancy && self.running.iter().any(|r| r == contract_name) {
            return Ok(CallResult::failure(Failure::engine(FailureCode::Reentrancy, contract_name), 0));
        }
        let caller = contract(&self.current());
        let signer = account();
        let this = contract(contract_name);
        let limits = self.limits;
        let run = Run {
            code_hash: hash,
            method,
            input: args,
            caller: &caller,
            signer: &signer,
            this: &this,
            height: HEIGHT,
            time_ms: TIME_MS,
            fuel,
            depth,
            limits: &limits,
            entry: Entry::Method,
        };
        let engine = Arc::clone(&self.engine);
        let snapshot = (self.storage.clone(), self.events.len());
        self.running.push(contract_name.into());
        let out = engine.run(&run, self)?;
        self.running.pop();
        if out.result.is_err() {
            // The executor's journal: a failed call's writes and events are undone.
            self.storage = snapshot.0;
            self.events.truncate(snapshot.1);
        }
        self.nested.push((contract_name.into(), fuel, out.fuel_used));
        Ok(out)
    }
}

/// A fresh engine and mock host with `code` deployed as `main`.
pub fn setup(code: &[u8]) -> MockHost {
    let mut host = MockHost::new(Arc::new(Engine::new()));
    host.deploy("main", code);
    host
}

/// Plenty of fuel for the small test methods.
pub const FUEL: u64 = 10_000_000;

/// The failure of a call, or a panic naming the unexpected success.
pub fn failure(r: &CallResult) -> &Failure {
    match &r.result {
        Err(f) => f,
        Ok(data) => panic!("expected a failure, got success with {:?}", String::from_utf8_lossy(data)),
    }
}

/// The return data of a successful call, or a panic naming the failure.
pub fn success(r: &CallResult) -> &[u8] {
    match &r.result {
        Ok(data) => data,
        Err(f) => panic!("expected success, got {f}"),
    }
}
