//! The native test harness: run a contract's methods with `cargo test`, without a node.
//!
//! A [`TestEnv`] is one contract's world: its storage (kept across calls), the events its calls
//! emitted, the caller, signer and block of the next call, and mocks of the contracts it calls.
//! [`TestEnv::call`] runs a method the way the node does: a failed call (`fail`, or a panic, which
//! the chain sees as a trap) returns its code and message and **undoes its storage writes and
//! events**.
//!
//! ```ignore
//! use fdl_contract::testing::{TestEnv, account};
//!
//! let admin = account(1, "org1", "admin");
//! let env = TestEnv::new().with_contract("token", "org1").with_caller(admin.clone());
//! env.call(mint, &format!(r#"{{"to": "{}", "amount": 100}}"#, admin.address)).unwrap();
//! assert_eq!(env.call(balance_of, &format!(r#"{{"owner": "{}"}}"#, admin.address)), Ok("100".into()));
//! assert_eq!(env.call(transfer, "{}").unwrap_err().0, "bad_args");
//! ```
//!
//! Host functions the harness cannot compute without a dependency ask for a stand-in:
//! [`TestEnv::set_sm2_verifier`] and [`TestEnv::set_ed25519_verifier`] (a call that uses them
//! without one traps). SM3 and SHA-256 are computed.

pub(crate) mod hash;
pub(crate) mod host;

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::address::Address;
use crate::identity::Identity;
use crate::json::{self, Json};

/// The outcome of a call: the return data as text (empty for none), or the failure's code and
/// message.
pub type CallResult = Result<String, (String, String)>;

/// A mock of another contract: gets the method name and the JSON arguments.
type Mock = dyn FnMut(&str, &str) -> CallResult;
type Sm2Verifier = dyn Fn(&[u8], &[u8], &[u8], &[u8]) -> bool;
type Ed25519Verifier = dyn Fn(&[u8; 32], &[u8], &[u8; 64]) -> bool;

/// An event a call emitted.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// The kind, e.g. `transferred`.
    pub kind: String,
    /// The data: JSON text.
    pub data: String,
}

impl Event {
    /// The data, parsed.
    pub fn json(&self) -> Json {
        json::parse(self.data.as_bytes()).unwrap_or(Json::Null)
    }
}

/// A cross-contract call the contract made (successful or not, in a call that failed or not).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutgoingCall {
    /// The callee's name.
    pub contract: String,
    /// The method.
    pub method: String,
    /// The JSON arguments.
    pub args: String,
}

pub(crate) struct State {
    pub(crate) storage: BTreeMap<Vec<u8>, Vec<u8>>,
    pub(crate) events: Vec<Event>,
    pub(crate) caller: Identity,
    pub(crate) signer: Identity,
    pub(crate) contract: Identity,
    pub(crate) height: u64,
    pub(crate) time_ms: u64,
    mocks: BTreeMap<String, Rc<RefCell<Box<Mock>>>>,
    calls: Vec<OutgoingCall>,
    sm2: Option<Rc<Sm2Verifier>>,
    ed25519: Option<Rc<Ed25519Verifier>>,
}

/// A failure raised by `fail`: unwinds to [`TestEnv::call`] (without the panic hook's message).
pub(crate) struct Failure {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// The frame of a running call: the contract's state, the input and the return data.
pub(crate) struct Frame {
    pub(crate) state: Rc<RefCell<State>>,
    pub(crate) input: Vec<u8>,
    pub(crate) ret: Vec<u8>,
}

std::thread_local! {
    /// The calls running on this thread, innermost last (a mock may call another `TestEnv`).
    pub(crate) static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Pops the frame it pushed, however the call ends.
struct FrameGuard;

impl FrameGuard {
    fn push(frame: Frame) -> FrameGuard {
        FRAMES.with(|frames| frames.borrow_mut().push(frame));
        FrameGuard
    }

    fn pop(self) -> Option<Frame> {
        let frame = FRAMES.with(|frames| frames.borrow_mut().pop());
        std::mem::forget(self);
        frame
    }
}

impl Drop for FrameGuard {
    fn drop(&mut self) {
        FRAMES.with(|frames| frames.borrow_mut().pop());
    }
}

/// An account identity for tests: address `[n; 20]`, institution `org`, role `role`.
pub fn account(n: u8, org: &str, role: &str) -> Identity {
    Identity::account(Address([n; 20]), org, role)
}

/// A contract's address: the first 20 bytes of `SM3("FDL/CONTRACT/v1" || name)` (the `sm`
/// suite's rule; the `intl` suite hashes with SHA-256).
pub fn contract_address(name: &str) -> Address {
    let mut preimage = b"FDL/CONTRACT/v1".to_vec();
    preimage.extend_from_slice(name.as_bytes());
    let digest = hash::sm3(&preimage);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[..20]);
    Address(out)
}

/// A contract's identity: its address (see [`contract_address`]), role `contract`, owned by
/// `owner_org`.
pub fn contract_identity(name: &str, version: u32, owner_org: &str) -> Identity {
    Identity {
        address: contract_address(name),
        is_contract: true,
        org: owner_org.into(),
        role: "contract".into(),
        name: name.into(),
        version,
    }
}

/// One contract's world for tests; see the [module](self) documentation.
///
/// Cloning gives another handle on the same world.
#[derive(Clone)]
pub struct TestEnv {
    state: Rc<RefCell<State>>,
}

impl Default for TestEnv {
    fn default() -> Self {
        TestEnv::new()
    }
}

impl TestEnv {
    /// A contract `contract`, version 1, owned by `org1`, with empty storage; the caller and the
    /// signer are [`account`]`(1, "org1", "client")`; block 1 at 1,700,000,000,000 ms.
    pub fn new() -> TestEnv {
        let caller = account(1, "org1", "client");
        TestEnv {
            state: Rc::new(RefCell::new(State {
                storage: BTreeMap::new(),
                events: Vec::new(),
                signer: caller.clone(),
                caller,
                contract: contract_identity("contract", 1, "org1"),
                height: 1,
                time_ms: 1_700_000_000_000,
                mocks: BTreeMap::new(),
                calls: Vec::new(),
                sm2: None,
                ed25519: None,
            })),
        }
    }

    /// With the contract named `name` (version 1) and owned by `owner_org`.
    pub fn with_contract(self, name: &str, owner_org: &str) -> TestEnv {
        self.set_contract(contract_identity(name, 1, owner_org));
        self
    }

    /// With `caller` as the caller and the signer of the next calls.
    pub fn with_caller(self, caller: Identity) -> TestEnv {
        self.set_caller(caller);
        self
    }

    /// With the block height and time of the next calls.
    pub fn with_block(self, height: u64, time_ms: u64) -> TestEnv {
        self.set_block(height, time_ms);
        self
    }

    /// Sets the contract's own identity (what `this()` returns).
    pub fn set_contract(&self, contract: Identity) {
        self.state.borrow_mut().contract = contract;
    }

    /// Sets the caller and the signer of the next calls (as in a call from a transaction).
    pub fn set_caller(&self, caller: Identity) {
        let mut s = self.state.borrow_mut();
        s.signer = caller.clone();
        s.caller = caller;
    }

    /// Sets only the signer of the next calls (after [`TestEnv::set_caller`], to act as a
    /// contract called by another on behalf of `signer`).
    pub fn set_signer(&self, signer: Identity) {
        self.state.borrow_mut().signer = signer;
    }

    /// Sets the block height and time of the next calls.
    pub fn set_block(&self, height: u64, time_ms: u64) {
        let mut s = self.state.borrow_mut();
        s.height = height;
        s.time_ms = time_ms;
    }

    /// The contract's own identity.
    pub fn contract(&self) -> Identity {
        self.state.borrow().contract.clone()
    }

    /// Mocks the contract named `name` for cross-contract calls: `f(method, args_json)` returns
    /// the return data, or a failure's code and message. Without a mock, a call fails with
    /// `unknown_contract`. A mock must not call itself (directly or through other mocks).
    pub fn mock_contract(&self, name: &str, f: impl FnMut(&str, &str) -> CallResult + 'static) {
        self.state.borrow_mut().mocks.insert(name.into(), Rc::new(RefCell::new(Box::new(f))));
    }

    /// Sets the stand-in for `sm2_verify`: `f(public_key, message, signature_der, id)` (an empty
    /// id is the default one).
    pub fn set_sm2_verifier(&self, f: impl Fn(&[u8], &[u8], &[u8], &[u8]) -> bool + 'static) {
        self.state.borrow_mut().sm2 = Some(Rc::new(f));
    }

    /// Sets the stand-in for `ed25519_verify`: `f(public_key, message, signature)`.
    pub fn set_ed25519_verifier(&self, f: impl Fn(&[u8; 32], &[u8], &[u8; 64]) -> bool + 'static) {
        self.state.borrow_mut().ed25519 = Some(Rc::new(f));
    }

    /// Runs a method (the function [`method!`](crate::method) generated) with JSON arguments.
    ///
    /// Returns the return data as text (empty for none), or the failure's code and message: the
    /// `fail` code (`bad_json`, `bad_args` or the method's own), or `trap` for a panic (the
    /// message is the panic's). A failed call's storage writes and events are undone.
    pub fn call(&self, method: fn(), args: &str) -> CallResult {
        let storage_before = self.state.borrow().storage.clone();
        let events_before = self.state.borrow().events.len();
        let guard =
            FrameGuard::push(Frame { state: self.state.clone(), input: args.as_bytes().to_vec(), ret: Vec::new() });
        let outcome = catch_unwind(AssertUnwindSafe(method));
        let frame = guard.pop();
        match outcome {
            Ok(()) => Ok(String::from_utf8_lossy(&frame.map(|f| f.ret).unwrap_or_default()).into_owned()),
            Err(payload) => {
                let mut s = self.state.borrow_mut();
                s.storage = storage_before;
                s.events.truncate(events_before);
                Err(failure_of(payload))
            }
        }
    }

    /// [`TestEnv::call`] with `caller` as the caller and the signer of this call only.
    pub fn call_as(&self, caller: &Identity, method: fn(), args: &str) -> CallResult {
        let (old_caller, old_signer) = {
            let s = self.state.borrow();
            (s.caller.clone(), s.signer.clone())
        };
        self.set_caller(caller.clone());
        let result = self.call(method, args);
        let mut s = self.state.borrow_mut();
        s.caller = old_caller;
        s.signer = old_signer;
        result
    }

    /// Runs `f` inside the contract's world, outside any method: to read typed storage in
    /// assertions (`env.with(|| BALANCES.get(&alice))`) or to prepare it. Writes persist. A
    /// `fail` inside `f` panics, with its code and message.
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        let guard = FrameGuard::push(Frame { state: self.state.clone(), input: Vec::new(), ret: Vec::new() });
        let outcome = catch_unwind(AssertUnwindSafe(f));
        drop(guard);
        match outcome {
            Ok(r) => r,
            Err(payload) => match payload.downcast::<Failure>() {
                Ok(f) => panic!("fail({:?}, {:?}) inside TestEnv::with", f.code, f.message),
                Err(other) => resume_unwind(other),
            },
        }
    }

    /// The storage: every key and value.
    pub fn storage(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.state.borrow().storage.clone()
    }

    /// The value under a raw key.
    pub fn storage_get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.borrow().storage.get(key).cloned()
    }

    /// The events of the successful calls so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.state.borrow().events.clone()
    }

    /// The events so far, removing them (to look at the next call's alone).
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.state.borrow_mut().events)
    }

    /// The cross-contract calls made so far, including those of calls that failed.
    pub fn outgoing_calls(&self) -> Vec<OutgoingCall> {
        self.state.borrow().calls.clone()
    }

    pub(crate) fn record_call(state: &Rc<RefCell<State>>, call: OutgoingCall) -> Option<Rc<RefCell<Box<Mock>>>> {
        let mut s = state.borrow_mut();
        let mock = s.mocks.get(&call.contract).cloned();
        s.calls.push(call);
        mock
    }
}

impl State {
    pub(crate) fn sm2(&self) -> Option<Rc<Sm2Verifier>> {
        self.sm2.clone()
    }

    pub(crate) fn ed25519(&self) -> Option<Rc<Ed25519Verifier>> {
        self.ed25519.clone()
    }
}

/// The code and message of a call that unwound.
fn failure_of(payload: Box<dyn std::any::Any + Send>) -> (String, String) {
    match payload.downcast::<Failure>() {
        Ok(f) => (f.code, f.message),
        Err(payload) => {
            let message = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panic".to_string()
            };
            ("trap".to_string(), message)
        }
    }
}

#[cfg(test)]
mod tests;
