//! The host side of contract execution: contract storage as layers of writes over the block's
//! overlay, so that a failed call (and every call it made) is undone exactly; events per layer;
//! and cross-contract calls, checked against the callee's status, access rules, re-entrancy and
//! the depth limit before the engine runs it.

use std::collections::BTreeMap;

use fdl_schema::keys;
use fdl_types::{ChainParams, Event, contract::rule_for};
use fdl_vm_wasm::{CallResult, Engine, Entry, Failure, Host, HostError, Identity, Limits, Run};

use crate::{ExecError, StateView};

/// One layer of writes (a call frame's) and its events.
#[derive(Default)]
struct Layer {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    events: Vec<Event>,
}

/// A contract on the call stack.
struct Frame {
    name: String,
    identity: Identity,
}

/// What a run needs besides the state: the block, the signer and the limits.
pub(crate) struct Ctx<'a> {
    /// The engine.
    pub engine: &'a Engine,
    /// The transaction's signer (the account).
    pub signer: Identity,
    /// The block's height.
    pub height: u64,
    /// The block's time.
    pub time_ms: u64,
    /// The chain's limits.
    pub limits: Limits,
}

/// The engine's limits from the chain parameters.
pub(crate) fn limits(p: &ChainParams) -> Limits {
    let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Limits {
        max_code_bytes: small(p.max_code_bytes),
        max_memory_pages: small(p.max_memory_pages),
        max_call_depth: small(p.max_call_depth),
        max_return_bytes: small(p.max_return_bytes),
        max_events: small(p.max_contract_events),
        max_event_bytes: small(p.max_event_bytes),
        max_key_bytes: small(p.max_key_bytes),
        max_value_bytes: small(p.max_value_bytes),
    }
}

/// The host of one transaction's contract call tree, over a read view of the state before it.
pub(crate) struct ExecHost<'v, 'c> {
    base: &'v dyn StateView,
    ctx: &'c Ctx<'c>,
    layers: Vec<Layer>,
    frames: Vec<Frame>,
    /// A store failure met inside the engine: it aborts the block.
    fatal: Option<ExecError>,
    /// Refusals of nested calls (access, re-entrancy, depth, status): audit records that stay in
    /// the receipt even when the calls around them are undone (STD-12.2).
    refusals: Vec<Event>,
}

fn fatal(e: &ExecError) -> HostError {
    HostError(e.to_string())
}

/// A refusal of a nested call by the host (unknown contract, access, re-entrancy, depth): to
/// the calling contract it reads like the callee's failure, with the host's code.
pub(crate) fn failure(code: &str, message: impl Into<String>) -> Failure {
    if code == "call_depth" {
        return Failure::engine(fdl_vm_wasm::FailureCode::CallDepth, message);
    }
    Failure::contract(code, message)
}

impl<'v, 'c> ExecHost<'v, 'c> {
    /// A host over `base`.
    pub(crate) fn new(base: &'v dyn StateView, ctx: &'c Ctx<'c>) -> Self {
        ExecHost { base, ctx, layers: vec![Layer::default()], frames: Vec::new(), fatal: None, refusals: Vec::new() }
    }

    /// Reads a state key through the layers.
    pub(crate) fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        for layer in self.layers.iter().rev() {
            if let Some(v) = layer.writes.get(key) {
                return Ok(v.clone());
            }
        }
        self.base.get(key)
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(top) = self.layers.last_mut() {
            top.writes.insert(key, value);
        }
    }

    /// The next key with `prefix` after `after`, through the layers and the base.
    fn next(&self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, ExecError> {
        let maps: Vec<&BTreeMap<Vec<u8>, Option<Vec<u8>>>> = self.layers.iter().map(|l| &l.writes).collect();
        crate::merged_next(self.base, &maps, prefix, after)
    }

    fn storage_key(&self, key: &[u8]) -> Vec<u8> {
        let name = self.frames.last().map(|f| f.name.as_str()).unwrap_or_default();
        keys::contract_storage_key(name, key)
    }

    /// Runs `entry` of contract `name` (its version record `version`) as a new frame: its writes
    /// are kept only if it succeeds.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_frame(
        &mut self,
        name: &str,
        this: Identity,
        code_hash: [u8; 32],
        entry: Entry,
        method: &str,
        input: &[u8],
        caller: &Identity,
        fuel: u64,
        depth: u32,
    ) -> Result<CallResult, ExecError> {
        self.layers.push(Layer::default());
        self.frames.push(Frame { name: name.to_string(), identity: this.clone() });
        let ctx = self.ctx;
        let run = Run {
            code_hash,
            method,
            input,
            caller,
            signer: &ctx.signer,
            this: &this,
            height: ctx.height,
            time_ms: ctx.time_ms,
            fuel,
            depth,
            limits: &ctx.limits,
            entry,
        };
        let outcome = ctx.engine.run(&run, self);
        self.frames.pop();
        let layer = self.layers.pop().unwrap_or_default();
        if let Some(e) = self.fatal.take() {
            return Err(e);
        }
        let result = outcome.map_err(|e| ExecError::State(format!("contract host: {}", e.0)))?;
        if result.result.is_ok()
            && let Some(below) = self.layers.last_mut()
        {
            below.writes.extend(layer.writes);
            below.events.extend(layer.events);
        }
        Ok(result)
    }

    /// The writes and events of the whole tree (when the top call succeeded), then the refusals
    /// of nested calls.
    pub(crate) fn finish(mut self) -> (crate::Writes, Vec<Event>) {
        let mut layer = self.layers.pop().unwrap_or_default();
        layer.events.append(&mut self.refusals);
        (layer.writes, layer.events)
    }

    /// The refusals of nested calls, for a tree whose top call failed (its writes are dropped).
    pub(crate) fn into_refusals(self) -> Vec<Event> {
        self.refusals
    }

    /// Records a refused nested call and answers the calling contract with its failure.
    fn refuse(&mut self, code: &str, contract: &str, method: &str, message: String) -> CallResult {
        let by = self.frames.last().map(|f| f.name.clone()).unwrap_or_default();
        let attrs = vec![
            ("contract", contract.to_string()),
            ("method", method.to_string()),
            ("code", code.to_string()),
            ("caller", by),
            ("reason", message.clone()),
        ];
        self.refusals.push(crate::event("contract.refused", attrs));
        CallResult { result: Err(failure(code, message)), fuel_used: 0 }
    }

    /// Whether `name` is on the call stack.
    fn on_stack(&self, name: &str) -> bool {
        self.frames.iter().any(|f| f.name == name)
    }

    fn guard<T>(&mut self, r: Result<T, ExecError>) -> Result<T, HostError> {
        r.map_err(|e| {
            let h = fatal(&e);
            self.fatal = Some(e);
            h
        })
    }

    /// A call from the current frame to another contract.
    fn call_contract(
        &mut self,
        contract: &str,
        method: &str,
        args: &[u8],
        fuel: u64,
        depth: u32,
    ) -> Result<CallResult, ExecError> {
        if depth > self.ctx.limits.max_call_depth {
            let msg = format!("call depth {depth} exceeds {}", self.ctx.limits.max_call_depth);
            return Ok(self.refuse("call_depth", contract, method, msg));
        }
        let Some(caller) = self.frames.last().map(|f| f.identity.clone()) else {
            return Ok(self.refuse("trap", contract, method, "a call outside any contract".into()));
        };
        let target = match super::resolve(self, contract, 0, method)? {
            Ok(t) => t,
            Err((status, msg)) => return Ok(self.refuse(status.as_str(), contract, method, msg)),
        };
        if let Some(rule) = rule_for(&target.record.access, method)
            && !rule.allows(&caller.role, &caller.org, &fdl_crypto::Address(caller.address))
        {
            let msg = format!("{} may not call {contract}.{method}", caller.name);
            return Ok(self.refuse("permission_denied", contract, method, msg));
        }
        if self.on_stack(contract) && !target.record.allow_reentry {
            let msg = format!("{contract} is already executing and does not allow re-entry");
            return Ok(self.refuse("reentrancy", contract, method, msg));
        }
        let this = super::identity_of(&target.record, target.version.version);
        self.run_frame(contract, this, target.version.code_hash.0, Entry::Method, method, args, &caller, fuel, depth)
    }
}

/// Reads through the layers (the engine's resolution of a callee uses it).
impl StateView for ExecHost<'_, '_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ExecError> {
        self.read(key)
    }
}

impl Host for ExecHost<'_, '_> {
    fn load_code(&mut self, code_hash: &[u8; 32]) -> Result<Vec<u8>, HostError> {
        let r = keys::code(&fdl_crypto::Hash(*code_hash)).read(self);
        match self.guard(r)? {
            Some(code) => Ok(code),
            None => {
                let e =
                    ExecError::Corrupt { key: "code".into(), reason: format!("no module {}", hex::encode(code_hash)) };
                self.guard(Err(e))
            }
        }
    }

    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError> {
        let k = self.storage_key(key);
        let r = self.read(&k);
        self.guard(r)
    }

    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError> {
        let k = self.storage_key(key);
        self.write(k, Some(value.to_vec()));
        Ok(())
    }

    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError> {
        let k = self.storage_key(key);
        self.write(k, None);
        Ok(())
    }

    fn storage_next(&mut self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, HostError> {
        let base = self.storage_key(&[]);
        let full_prefix = [base.as_slice(), prefix].concat();
        let full_after = after.map(|a| [base.as_slice(), a].concat());
        let r = self.next(&full_prefix, full_after.as_deref());
        let next = self.guard(r)?;
        Ok(next.map(|k| k[base.len()..].to_vec()))
    }

    fn emit(&mut self, kind: &str, data: &str) -> Result<(), HostError> {
        let name = self.frames.last().map(|f| f.name.clone()).unwrap_or_default();
        let event =
            crate::event("contract.event", vec![("contract", name), ("name", kind.into()), ("data", data.into())]);
        if let Some(top) = self.layers.last_mut() {
            top.events.push(event);
        }
        Ok(())
    }

    fn call(
        &mut self,
        contract: &str,
        method: &str,
        args: &[u8],
        fuel: u64,
        depth: u32,
    ) -> Result<CallResult, HostError> {
        let r = self.call_contract(contract, method, args, fuel, depth);
        self.guard(r)
    }
}
