//! EVM contracts (Solidity) on revm, under the same registry, lifecycle, access rules and limits
//! as WebAssembly contracts (`docs/contracts-evm.md`, STD-12.1 to 12.4).
//!
//! The engine (`fdl-vm-evm`) knows only addresses; this module maps them to FDL contracts: an
//! EVM contract's address is its FDL contract address (`cta/{address}` names it), its storage
//! slots are `cs/{name}/{slot}` (32-byte keys, 32-byte values, zero removes), its runtime code
//! is `code/{hash}` as for modules. A run reads the state through [`EvmState`]; its writes come
//! back as one list that is applied only when the run succeeds, so a revert leaves nothing
//! but its receipt. Nested calls between contracts are checked here, before they run: the
//! callee's status and access rule, with the calling contract as the caller (role `contract`),
//! and the depth.
//!
//! Deploy runs the creation code (constructor and its arguments) at the contract's address with
//! the proposer as `msg.sender`; the runtime code it returns passes the static checks
//! (size, denied opcodes) before it is stored. Upgrade runs the new version's creation code over
//! the kept storage: its constructor is the migration. There is no ether and no fee: gas is a
//! limit per transaction (`max_tx_gas`) and per block (`max_block_gas`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, LazyLock, Mutex},
};

use fdl_crypto::{Address, Hash};
use fdl_schema::{ContractRecord, ContractStatus, VersionRecord, evm_method, evm_method_name, keys};
use fdl_types::{ChainParams, DeploySpec, Event, Role, StatusCode, UpgradeSpec, contract::evm_rule_for};
use fdl_vm_evm::{Address20, ContractCode, Engine, Host, HostError, Member, Refusal as EvmRefusal, Word, abi::Abi};

use super::{CallOutcome, Installer, Refusal};
use crate::{ExecError, Overlay, StateView, event};

static ENGINE: LazyLock<Engine> = LazyLock::new(Engine::new);

/// The process's EVM engine (its code cache is shared by every block and query).
pub fn engine() -> &'static Engine {
    &ENGINE
}

/// Most entries of the code and ABI caches (each is cleared when full: both hold what the
/// state holds, so a miss only costs a read).
const CACHE_ENTRIES: usize = 256;

/// Runtime code by its FDL hash, with its keccak hash computed once.
static CODE: LazyLock<Mutex<HashMap<Hash, ContractCode>>> = LazyLock::new(Default::default);
/// Parsed ABIs by their text.
static ABIS: LazyLock<Mutex<HashMap<String, Arc<Abi>>>> = LazyLock::new(Default::default);

fn cached<K: std::hash::Hash + Eq, V: Clone>(
    map: &Mutex<HashMap<K, V>>,
    key: K,
    make: impl FnOnce() -> Result<V, ExecError>,
) -> Result<V, ExecError> {
    if let Some(v) = map.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(v);
    }
    let v = make()?;
    if let Ok(mut m) = map.lock() {
        if m.len() >= CACHE_ENTRIES {
            m.clear();
        }
        m.insert(key, v.clone());
    }
    Ok(v)
}

/// The runtime code stored under `hash`.
fn load_code(view: &dyn StateView, hash: &Hash) -> Result<ContractCode, ExecError> {
    cached(&CODE, *hash, || match keys::code(hash).read(view)? {
        Some(code) => Ok(ContractCode::new(code)),
        None => Err(ExecError::Corrupt { key: "code".into(), reason: format!("no code {}", hash.to_hex()) }),
    })
}

/// The parsed ABI of version `version` of `name`, if it has one.
fn load_abi(view: &dyn StateView, name: &str, version: u32) -> Result<Option<Arc<Abi>>, ExecError> {
    let Some(text) = keys::contract_abi(name, version).read(view)? else { return Ok(None) };
    if text.is_empty() {
        return Ok(None);
    }
    // An ABI is checked when its version is installed, so it parses; one that does not (state
    // written by hand) only loses the decoding.
    match cached(&ABIS, text.clone(), || Abi::parse(&text).map(Arc::new).map_err(|e| ExecError::State(e.to_string()))) {
        Ok(abi) => Ok(Some(abi)),
        Err(_) => Ok(None),
    }
}

/// The engine's limits from the chain parameters.
pub(crate) fn limits(p: &ChainParams) -> fdl_vm_evm::Limits {
    let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    fdl_vm_evm::Limits {
        max_code_bytes: small(p.max_code_bytes),
        max_call_depth: small(p.max_call_depth),
        denied_opcodes: p.evm_denied_opcodes,
        max_logs: small(p.max_contract_events),
        max_log_bytes: small(p.max_event_bytes),
        max_return_bytes: small(p.max_return_bytes),
    }
}

/// The gas an EVM call transaction runs with: what it asks for (0: `max_tx_gas`), at most
/// `max_tx_gas`.
pub fn tx_gas(asked: u64, params: &ChainParams) -> u64 {
    if asked == 0 { params.max_tx_gas } else { asked.min(params.max_tx_gas) }
}

/// The EVM chain id of an FDL chain: the first 8 bytes of the SM3 hash of its chain id text,
/// top bit cleared (so it fits the JSON-number range of Ethereum tools).
pub fn evm_chain_id(chain_id: &str) -> u64 {
    let h = fdl_crypto::hash(fdl_crypto::Suite::Sm, chain_id.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.0[..8]);
    u64::from_be_bytes(b) & 0x7fff_ffff_ffff_ffff
}

/// Who runs a call tree: the signer's identity (exact, from its certificate), the block.
pub(crate) struct EvmCtx {
    /// The signing account.
    pub signer: Address,
    /// Its institution.
    pub org: String,
    /// Its role.
    pub role: Option<Role>,
    /// The block's height.
    pub height: u64,
    /// The block's time, Unix milliseconds.
    pub time_ms: u64,
    /// The EVM chain id ([`evm_chain_id`] of the chain's id, read once per block).
    pub chain_id: u64,
}

/// The EVM chain id of the chain whose state `view` is.
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn chain_id_of(view: &dyn StateView) -> Result<u64, ExecError> {
    Ok(evm_chain_id(&keys::chain_id().read(view)?.unwrap_or_default()))
}

/// The state as the engine sees it: contracts by address, their code and storage, identities,
/// and the checks of nested calls.
struct EvmState<'v> {
    view: &'v dyn StateView,
    ctx: &'v EvmCtx,
    params: &'v ChainParams,
    /// The contract the run starts in, with the code of the version it runs (a call may pin an
    /// older version; a deploy runs creation code there).
    pinned: Option<(Address20, ContractCode)>,
    /// Contract names by address, as looked up.
    names: HashMap<Address20, Option<ContractRecord>>,
    /// The contracts executing, by depth (the run's own at 0): a nested call at depth `d` is
    /// made by `stack[d - 1]`, so the stack is cut to `d` before it is checked.
    stack: Vec<Address20>,
    /// The contract whose creation code runs (a deploy or an upgrade): it has no code meanwhile,
    /// or the engine's create would collide with the current version's code.
    creating: Option<Address20>,
    /// A store failure met inside the engine: it aborts the block.
    fatal: Option<ExecError>,
}

impl<'v> EvmState<'v> {
    fn new(view: &'v dyn StateView, ctx: &'v EvmCtx, params: &'v ChainParams) -> Self {
        EvmState {
            view,
            ctx,
            params,
            pinned: None,
            names: HashMap::new(),
            stack: Vec::new(),
            creating: None,
            fatal: None,
        }
    }

    fn guard<T>(&mut self, r: Result<T, ExecError>) -> Result<T, HostError> {
        r.map_err(|e| {
            let h = HostError(e.to_string());
            self.fatal = Some(e);
            h
        })
    }

    /// The contract at `address`, if any.
    fn record(&mut self, address: &Address20) -> Result<Option<ContractRecord>, ExecError> {
        if let Some(r) = self.names.get(address) {
            return Ok(r.clone());
        }
        let record = match keys::contract_at(&Address(*address)).read(self.view)? {
            Some(name) => keys::contract(&name).read(self.view)?,
            None => None,
        };
        self.names.insert(*address, record.clone());
        Ok(record)
    }

    fn code(&mut self, address: &Address20) -> Result<Option<ContractCode>, ExecError> {
        if let Some((a, code)) = &self.pinned
            && a == address
        {
            return Ok(Some(code.clone()));
        }
        if self.creating.as_ref() == Some(address) {
            return Ok(None);
        }
        let Some(record) = self.record(address)? else { return Ok(None) };
        // Only an active EVM contract has code: a call to a frozen one is refused before it
        // runs (`check_call`), and a WebAssembly contract is not callable from the EVM yet.
        if record.vm != fdl_types::VmKind::Evm || record.status != ContractStatus::Active {
            return Ok(None);
        }
        let Some(version) = keys::contract_version(&record.name, record.current).read(self.view)? else {
            return Ok(None);
        };
        load_code(self.view, &version.code_hash).map(Some)
    }

    fn slot(&mut self, address: &Address20, slot: &Word) -> Result<Word, ExecError> {
        let Some(record) = self.record(address)? else { return Ok([0; 32]) };
        let mut word = [0u8; 32];
        if let Some(v) = self.view.get(&keys::contract_storage_key(&record.name, slot))? {
            // Values are 32 bytes; a shorter one (written by a WebAssembly version of the same
            // contract) is right-aligned.
            let v = &v[v.len().saturating_sub(32)..];
            word[32 - v.len()..].copy_from_slice(v);
        }
        Ok(word)
    }

    fn member(&mut self, address: &Address20) -> Result<Option<Member>, ExecError> {
        let a = Address(*address);
        if a == self.ctx.signer {
            let role = self.ctx.role.map(|r| r.as_str().to_string()).unwrap_or_default();
            return Ok(Some(Member { org: self.ctx.org.clone(), role }));
        }
        if let Some(record) = self.record(address)? {
            return Ok(Some(Member { org: record.owner, role: "contract".into() }));
        }
        Ok(match crate::read_account(self.view, &a)? {
            Some(acct) if !acct.org.is_empty() => {
                let role = if acct.kind == crate::AccountKind::Admin { "admin" } else { "client" };
                Some(Member { org: acct.org, role: role.into() })
            }
            _ => None,
        })
    }

    fn check(&mut self, caller: &Address20, callee: &Address20, input: &[u8], depth: u32) -> CheckResult {
        if depth > u32::try_from(self.params.max_call_depth).unwrap_or(u32::MAX) {
            let msg = format!("call depth {depth} exceeds {}", self.params.max_call_depth);
            return Ok(Err(EvmRefusal { code: "call_depth".into(), message: msg }));
        }
        // A call to an address that is no contract (an account) runs no code: as on Ethereum.
        let Some(target) = self.record(callee)? else { return Ok(Ok(())) };
        let refuse = |code: &str, message: String| Ok(Err(EvmRefusal { code: code.into(), message }));
        if target.vm != fdl_types::VmKind::Evm {
            return refuse(
                "unknown_method",
                format!("{} is a WebAssembly contract: EVM contracts cannot call it yet", target.name),
            );
        }
        match target.status {
            ContractStatus::Active => {}
            ContractStatus::Frozen => return refuse("contract_frozen", format!("{} is frozen", target.name)),
            ContractStatus::Retired => return refuse("contract_retired", format!("{} is retired", target.name)),
        }
        self.stack.truncate(usize::try_from(depth).unwrap_or(usize::MAX).max(1));
        if self.stack.contains(callee) && !target.allow_reentry {
            let msg = format!("{} is already executing and does not allow re-entry", target.name);
            return refuse("reentrancy", msg);
        }
        let Some(from) = self.record(caller)? else { return Ok(Ok(())) };
        let selector = selector_hex(input);
        let version = keys::contract_version(&target.name, target.current).read(self.view)?;
        let name = version.as_ref().and_then(|v| evm_method_name(&v.methods, &selector).map(str::to_string));
        if let Some(rule) = evm_rule_for(&target.access, &selector, name.as_deref())
            && !rule.allows("contract", &from.owner, &Address(*caller))
        {
            let method = name.unwrap_or(selector);
            return refuse("permission_denied", format!("{} may not call {}.{method}", from.name, target.name));
        }
        self.stack.push(*callee);
        Ok(Ok(()))
    }
}

type CheckResult = Result<Result<(), EvmRefusal>, ExecError>;

impl Host for EvmState<'_> {
    fn code_at(&mut self, address: &Address20) -> Result<Option<ContractCode>, HostError> {
        let r = self.code(address);
        self.guard(r)
    }

    fn storage(&mut self, address: &Address20, slot: &Word) -> Result<Word, HostError> {
        let r = self.slot(address, slot);
        self.guard(r)
    }

    fn identity(&mut self, address: &Address20) -> Result<Option<Member>, HostError> {
        let r = self.member(address);
        self.guard(r)
    }

    fn check_call(
        &mut self,
        caller: &Address20,
        callee: &Address20,
        input: &[u8],
        depth: u32,
    ) -> Result<Result<(), EvmRefusal>, HostError> {
        let r = self.check(caller, callee, input, depth);
        self.guard(r)
    }
}

/// `0x` and the first four bytes of `input` in hex (`0x` alone for shorter input: the fallback).
pub fn selector_hex(input: &[u8]) -> String {
    match input.get(..4) {
        Some(s) => format!("0x{}", hex::encode(s)),
        None => "0x".to_string(),
    }
}

/// The block as the EVM sees it.
fn block(ctx: &EvmCtx, params: &ChainParams) -> fdl_vm_evm::Block {
    fdl_vm_evm::Block {
        height: ctx.height,
        time_s: ctx.time_ms / 1000,
        chain_id: ctx.chain_id,
        coinbase: [0; 20],
        gas_limit: params.max_block_gas,
    }
}

/// The state writes of a successful run: each slot of each contract, zero removing it. Only a
/// contract's own code writes storage (SSTORE the running contract's, DELEGATECALL its caller's,
/// and CREATE is refused), so every written address is a contract; a write to another address
/// would be an engine fault, and it fails the call (`None`) rather than halting the chain.
fn writes_of(
    st: &mut EvmState<'_>,
    writes: &[(Address20, Word, Word)],
) -> Result<Result<crate::Writes, fdl_vm_evm::Failure>, ExecError> {
    let mut out = BTreeMap::new();
    for (address, slot, value) in writes {
        let Some(record) = st.record(address)? else {
            let message = format!("the run wrote storage of {}, which is no contract", hex::encode(address));
            return Ok(Err(fdl_vm_evm::Failure { code: "invalid_write".into(), message, data: vec![] }));
        };
        let key = keys::contract_storage_key(&record.name, slot);
        out.insert(key, if *value == [0; 32] { None } else { Some(value.to_vec()) });
    }
    Ok(Ok(out))
}

/// The events of a run's logs, each decoded with its contract's ABI where the node has it.
fn events_of(
    st: &mut EvmState<'_>,
    logs: &[fdl_vm_evm::Log],
    pinned: Option<(&str, u32)>,
) -> Result<Vec<Event>, ExecError> {
    let mut out = Vec::with_capacity(logs.len());
    for log in logs {
        let record = st.record(&log.address)?;
        let name = record.as_ref().map(|r| r.name.clone()).unwrap_or_else(|| hex::encode(log.address));
        let version = match (pinned, &record) {
            (Some((p, v)), _) if p == name => Some(v),
            (_, Some(r)) => Some(r.current),
            _ => None,
        };
        let abi = match version {
            Some(v) => load_abi(st.view, &name, v)?,
            None => None,
        };
        let decoded = abi.as_ref().and_then(|a| a.decode_log(&log.topics, &log.data));
        let (kind, data) = match decoded {
            Some((kind, fields)) => (kind, fields.to_string()),
            None => {
                let topics: Vec<String> = log.topics.iter().map(|t| format!("0x{}", hex::encode(t))).collect();
                (
                    "log".to_string(),
                    serde_json::json!({"topics": topics, "data": format!("0x{}", hex::encode(&log.data))}).to_string(),
                )
            }
        };
        out.push(event("contract.event", vec![("contract", name), ("name", kind), ("data", data)]));
    }
    Ok(out)
}

/// The outcome of a failed run: its status and a `contract.failed` event with the revert reason.
fn failed(f: &fdl_vm_evm::Failure, contract: &str, method: &str, gas_used: u64) -> CallOutcome {
    let status = if f.is_out_of_gas() { StatusCode::OutOfFuel } else { StatusCode::ContractFailed };
    let mut attrs = vec![
        ("contract", contract.to_string()),
        ("method", method.to_string()),
        ("code", f.code.clone()),
        ("message", f.message.clone()),
    ];
    if !f.data.is_empty() {
        attrs.push(("data", format!("0x{}", hex::encode(&f.data))));
    }
    CallOutcome { status, output: f.data.clone(), events: vec![event("contract.failed", attrs)], fuel_used: gas_used }
}

/// The audit records of nested calls the checks refused (they stay even when the run reverts).
fn refusal_events(st: &mut EvmState<'_>, refusals: &[fdl_vm_evm::RefusedCall]) -> Result<Vec<Event>, ExecError> {
    let mut out = Vec::new();
    for r in refusals.iter().take(8) {
        let name = |st: &mut EvmState<'_>, a: &Address20| -> Result<String, ExecError> {
            Ok(st.record(a)?.map(|r| r.name).unwrap_or_else(|| hex::encode(a)))
        };
        let callee = name(st, &r.callee)?;
        let caller = name(st, &r.caller)?;
        let method = r.selector.map(|s| format!("0x{}", hex::encode(s))).unwrap_or_default();
        let attrs = vec![
            ("contract", callee),
            ("method", method),
            ("code", r.code.clone()),
            ("caller", caller),
            ("reason", r.message.clone()),
        ];
        out.push(event("contract.refused", attrs));
    }
    Ok(out)
}

/// An EVM call by a caller, as a transaction or a query makes it.
pub struct EvmCallRequest<'a> {
    /// The contract.
    pub contract: &'a str,
    /// Its version (0: current).
    pub version: u32,
    /// The call data.
    pub data: &'a [u8],
    /// The gas limit.
    pub gas: u64,
}

/// Runs an EVM call over `view`; answers the outcome and, on success, its writes.
pub(crate) fn run_call(
    view: &dyn StateView,
    req: &EvmCallRequest<'_>,
    ctx: &EvmCtx,
    params: &ChainParams,
) -> Result<(CallOutcome, crate::Writes), ExecError> {
    let none = BTreeMap::new();
    let selector = selector_hex(req.data);
    let (record, version) = match resolve(view, req.contract, req.version)? {
        Ok(t) => t,
        Err((status, reason)) => {
            return Ok((CallOutcome::refused(status, req.contract, &selector, reason), none));
        }
    };
    let name = evm_method_name(&version.methods, &selector).map(str::to_string);
    let role = ctx.role.map(Role::as_str).unwrap_or_default();
    if let Some(rule) = evm_rule_for(&record.access, &selector, name.as_deref())
        && !rule.allows(role, &ctx.org, &ctx.signer)
    {
        let method = name.unwrap_or_else(|| selector.clone());
        let reason = format!("the access rule of {}.{method} does not admit this caller", req.contract);
        return Ok((CallOutcome::refused(StatusCode::PermissionDenied, req.contract, &method, reason), none));
    }
    let method = name.unwrap_or(selector);
    let code = load_code(view, &version.code_hash)?;
    let mut st = EvmState::new(view, ctx, params);
    st.pinned = Some((record.address.0, code.clone()));
    st.stack.push(record.address.0);
    let blk = block(ctx, params);
    let lim = limits(params);
    let run = fdl_vm_evm::Run {
        this: record.address.0,
        caller: ctx.signer.0,
        origin: ctx.signer.0,
        input: req.data,
        gas: req.gas,
        block: &blk,
        limits: &lim,
        code: Some(code),
        read_only: false,
    };
    let out = engine().call(&mut st, &run);
    if let Some(e) = st.fatal.take() {
        return Err(e);
    }
    let out = out.map_err(|e| ExecError::State(format!("EVM host: {}", e.0)))?;
    let mut refused = refusal_events(&mut st, &out.refusals)?;
    match &out.result {
        Ok(output) => {
            let writes = match writes_of(&mut st, &out.writes)? {
                Ok(w) => w,
                Err(f) => {
                    let mut outcome = failed(&f, req.contract, &method, out.gas_used);
                    outcome.events.append(&mut refused);
                    return Ok((outcome, none));
                }
            };
            let mut events = events_of(&mut st, &out.logs, Some((&record.name, version.version)))?;
            events.append(&mut refused);
            let outcome =
                CallOutcome { status: StatusCode::Ok, output: output.clone(), events, fuel_used: out.gas_used };
            Ok((outcome, writes))
        }
        Err(f) => {
            let mut outcome = failed(f, req.contract, &method, out.gas_used);
            outcome.events.append(&mut refused);
            Ok((outcome, none))
        }
    }
}

/// A contract and the version a call runs.
type Resolved = (ContractRecord, VersionRecord);

/// The EVM contract `name` and its version `version` (0: current), or the status that refuses a
/// call of it.
fn resolve(
    view: &dyn StateView,
    name: &str,
    version: u32,
) -> Result<Result<Resolved, (StatusCode, String)>, ExecError> {
    let Some(record) = keys::contract(name).read(view)? else {
        return Ok(Err((StatusCode::UnknownContract, format!("no contract {name}"))));
    };
    if record.vm != fdl_types::VmKind::Evm {
        return Ok(Err((
            StatusCode::UnknownMethod,
            format!(
                "{name} is a WebAssembly contract: call its methods by name (contract.call), not with EVM call data"
            ),
        )));
    }
    match record.status {
        ContractStatus::Active => {}
        ContractStatus::Frozen => return Ok(Err((StatusCode::ContractFrozen, format!("{name} is frozen")))),
        ContractStatus::Retired => return Ok(Err((StatusCode::ContractRetired, format!("{name} is retired")))),
    }
    let v = if version == 0 { record.current } else { version };
    match keys::contract_version(name, v).read(view)? {
        Some(version) => Ok(Ok((record, version))),
        None => Ok(Err((StatusCode::UnknownContract, format!("{name} has no version {v}")))),
    }
}

/// An EVM call in a block: the block's gas, then the call; its writes go into `ov` only when it
/// succeeds.
pub(crate) fn call_tx(
    ov: &mut Overlay<'_>,
    req: &EvmCallRequest<'_>,
    ctx: &EvmCtx,
    params: &ChainParams,
    block_gas_left: &mut u64,
) -> Result<CallOutcome, ExecError> {
    if req.gas > *block_gas_left {
        let reason = format!("the call asks for {} gas, the block has {} left", req.gas, block_gas_left);
        return Ok(CallOutcome::refused(StatusCode::BlockFuelExhausted, req.contract, &selector_hex(req.data), reason));
    }
    let (outcome, writes) = run_call(ov, req, ctx, params)?;
    *block_gas_left = block_gas_left.saturating_sub(outcome.fuel_used);
    ov.extend(writes);
    Ok(outcome)
}

/// A read-only EVM call against `view` (the latest final state), as `caller`: the same checks
/// and engine as a transaction's call, its writes discarded.
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn query(
    view: &dyn StateView,
    contract: &str,
    version: u32,
    data: &[u8],
    caller: &Address,
    gas: u64,
) -> Result<CallOutcome, ExecError> {
    let params = fdl_schema::read::params(view)?;
    let height = keys::height().read(view)?.unwrap_or(0);
    let time_ms = fdl_schema::read::time_ms(view)?;
    let (org, role) = super::account_role(view, caller)?;
    let ctx = EvmCtx { signer: *caller, org, role, height, time_ms, chain_id: chain_id_of(view)? };
    let req = EvmCallRequest { contract, version, data, gas: tx_gas(gas, &params) };
    Ok(run_call(view, &req, &ctx, &params)?.0)
}

/// The ABI of version `version` (0: current) of an EVM contract, as stored (JSON text).
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn abi_text(view: &dyn StateView, name: &str, version: u32) -> Result<Option<String>, ExecError> {
    let Some(record) = keys::contract(name).read(view)? else { return Ok(None) };
    let v = if version == 0 { record.current } else { version };
    keys::contract_abi(name, v).read(view)
}

// ---- lifecycle ------------------------------------------------------------------------------

/// Checks an ABI, when there is one: it parses.
fn check_abi(abi: &str) -> Result<Option<Abi>, Refusal> {
    if abi.is_empty() {
        return Ok(None);
    }
    Abi::parse(abi)
        .map(Some)
        .map_err(|e| Refusal::ContractCheckFailed { reason: format!("the ABI does not parse: {e}") })
}

/// What a deploy or upgrade proposal can check before it is voted on: the creation code is not
/// empty and the ABI parses. The constructor runs, and the runtime code it returns is checked,
/// when the proposal applies.
pub(crate) fn check_spec(code: &[u8], abi: &str) -> Result<(), Refusal> {
    if code.is_empty() {
        return Err(Refusal::ContractCheckFailed { reason: "the creation code is empty".into() });
    }
    check_abi(abi).map(|_| ())
}

/// The methods entry of a version: each ABI function as `0x{selector}:{name}`.
fn methods_of(abi: Option<&Abi>) -> Vec<String> {
    abi.map(|a| a.methods().into_iter().map(|(name, sel)| evm_method(sel, &name)).collect()).unwrap_or_default()
}

/// What a constructor produced: the runtime code and its events.
type Constructed = (Vec<u8>, Vec<Event>);

/// Runs creation code at `record`'s address over `ov`; answers the runtime code and the
/// constructor's events, its writes in `ov` (nothing stays when it fails).
fn construct(
    ov: &mut Overlay<'_>,
    record: &ContractRecord,
    code: &[u8],
    abi: &str,
    by: &Installer<'_>,
) -> Result<Result<Constructed, Refusal>, ExecError> {
    let params = fdl_schema::read::params(ov)?;
    let ctx = EvmCtx {
        signer: by.account,
        org: by.org.to_string(),
        role: by.role,
        height: by.height,
        time_ms: by.time_ms,
        chain_id: chain_id_of(ov)?,
    };
    let blk = block(&ctx, &params);
    let lim = limits(&params);
    let (out, writes, events) = {
        let mut st = EvmState::new(ov, &ctx, &params);
        // The contract being created is not in the registry yet: its address is known to the
        // state by the record given.
        st.names.insert(record.address.0, Some(record.clone()));
        st.stack.push(record.address.0);
        st.creating = Some(record.address.0);
        let run = fdl_vm_evm::Run {
            this: record.address.0,
            caller: by.account.0,
            origin: by.account.0,
            input: code,
            gas: params.max_tx_gas,
            block: &blk,
            limits: &lim,
            code: None,
            read_only: false,
        };
        let out = engine().create(&mut st, &run);
        if let Some(e) = st.fatal.take() {
            return Err(e);
        }
        let out = out.map_err(|e| ExecError::State(format!("EVM host: {}", e.0)))?;
        by.fuel_used.set(by.fuel_used.get().saturating_add(out.gas_used));
        match &out.result {
            Ok(_) => {
                let w = match writes_of(&mut st, &out.writes)? {
                    Ok(w) => w,
                    Err(f) => {
                        return Ok(Err(Refusal::ContractInitFailed {
                            entry: "constructor",
                            code: f.code,
                            message: f.message,
                        }));
                    }
                };
                let e = events_of_abi(&record.name, abi, &out.logs);
                (out, w, e)
            }
            Err(f) => {
                return Ok(Err(Refusal::ContractInitFailed {
                    entry: "constructor",
                    code: f.code.clone(),
                    message: f.message.clone(),
                }));
            }
        }
    };
    ov.extend(writes);
    match out.result {
        Ok(runtime) => Ok(Ok((runtime, events))),
        Err(f) => Ok(Err(Refusal::ContractInitFailed { entry: "constructor", code: f.code, message: f.message })),
    }
}

/// A constructor's events: decoded with the ABI being installed (it is not in state yet).
fn events_of_abi(contract: &str, abi: &str, logs: &[fdl_vm_evm::Log]) -> Vec<Event> {
    let parsed = if abi.is_empty() { None } else { Abi::parse(abi).ok() };
    logs.iter()
        .map(|log| {
            let (kind, data) = match parsed.as_ref().and_then(|a| a.decode_log(&log.topics, &log.data)) {
                Some((kind, fields)) => (kind, fields.to_string()),
                None => {
                    let topics: Vec<String> = log.topics.iter().map(|t| format!("0x{}", hex::encode(t))).collect();
                    (
                        "log".to_string(),
                        serde_json::json!({"topics": topics, "data": format!("0x{}", hex::encode(&log.data))})
                            .to_string(),
                    )
                }
            };
            event("contract.event", vec![("contract", contract.to_string()), ("name", kind), ("data", data)])
        })
        .collect()
}

/// Stores a version: its runtime code, record and ABI.
fn store_version(ov: &mut Overlay<'_>, name: &str, version: &VersionRecord, runtime: Vec<u8>, abi: &str) {
    keys::code(&version.code_hash).write(ov, &runtime);
    keys::contract_version(name, version.version).write(ov, version);
    if !abi.is_empty() {
        keys::contract_abi(name, version.version).write(ov, &abi.to_string());
    }
}

/// Deploys an EVM contract: runs its constructor, checks and stores its runtime code, the record
/// and version 1.
pub(crate) fn apply_deploy(
    ov: &mut Overlay<'_>,
    spec: &DeploySpec,
    by: &Installer<'_>,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    if !spec.init_args.is_empty() {
        return Ok(Err(Refusal::ContractCheckFailed {
            reason: "an EVM contract takes its constructor arguments ABI-encoded after its creation code".into(),
        }));
    }
    let abi = match check_spec(&spec.code, &spec.abi).and_then(|()| check_abi(&spec.abi)) {
        Ok(a) => a,
        Err(r) => return Ok(Err(r)),
    };
    let suite = fdl_schema::read::suite(ov)?;
    let record = super::new_record(suite, spec, by);
    let mut staged = Overlay::new(ov);
    let (runtime, mut events) = match construct(&mut staged, &record, &spec.code, &spec.abi, by)? {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    let code_hash = fdl_crypto::hash(suite, &runtime);
    let version = super::version_record(1, code_hash, runtime.len(), &spec.review, methods_of(abi.as_ref()), by);
    store_version(&mut staged, &spec.name, &version, runtime, &spec.abi);
    keys::contract(&spec.name).write(&mut staged, &record);
    keys::contract_at(&record.address).write(&mut staged, &spec.name);
    let writes = staged.into_writes();
    ov.extend(writes);
    let mut out = vec![super::deployed_event(&record, &code_hash, &spec.review, by)];
    out.append(&mut events);
    Ok(Ok(out))
}

/// Upgrades an EVM contract: the new creation code runs over the kept storage (its constructor
/// is the migration), and its runtime code becomes the new current version.
pub(crate) fn apply_upgrade(
    ov: &mut Overlay<'_>,
    mut record: ContractRecord,
    spec: &UpgradeSpec,
    by: &Installer<'_>,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    if !spec.migrate_args.is_empty() {
        return Ok(Err(Refusal::ContractCheckFailed {
            reason: "an EVM contract's upgrade takes its constructor arguments after its creation code".into(),
        }));
    }
    let abi = match check_spec(&spec.code, &spec.abi).and_then(|()| check_abi(&spec.abi)) {
        Ok(a) => a,
        Err(r) => return Ok(Err(r)),
    };
    let suite = fdl_schema::read::suite(ov)?;
    let mut staged = Overlay::new(ov);
    let (runtime, mut events) = match construct(&mut staged, &record, &spec.code, &spec.abi, by)? {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    let code_hash = fdl_crypto::hash(suite, &runtime);
    let n = record.versions.saturating_add(1);
    let version = super::version_record(n, code_hash, runtime.len(), &spec.review, methods_of(abi.as_ref()), by);
    store_version(&mut staged, &spec.name, &version, runtime, &spec.abi);
    let previous = record.current;
    record.current = n;
    record.versions = n;
    keys::contract(&spec.name).write(&mut staged, &record);
    let writes = staged.into_writes();
    ov.extend(writes);
    let mut out = vec![super::upgraded_event(&record, previous, &code_hash, &spec.review, by)];
    out.append(&mut events);
    Ok(Ok(out))
}
