//! The native `contract` module (STD-12.1 to 12.4): the registry of contracts and their versions,
//! the lifecycle that governance drives (deploy, upgrade with migration, freeze, unfreeze,
//! retire, access rules), and calls, run by the WebAssembly engine (`fdl-vm-wasm`) over the
//! authenticated state.
//!
//! A call's writes are layers over the block's overlay ([`host`]): a failed call, with every call
//! it made, leaves nothing behind but its receipt. Cheap checks come before the engine runs:
//! the contract exists and takes calls, the version and method exist, the caller passes the
//! access rule, the block has fuel left. Lifecycle steps are events in the receipt, so the audit
//! log has them (STD-12.3). The ABI is in `docs/contracts-abi.md`; the lifecycle in
//! `docs/contracts.md`.

pub mod evm;
pub(crate) mod host;

use std::sync::LazyLock;

use fdl_crypto::{Address, Hash, Suite};
use fdl_schema::{ContractRecord, ContractStatus, VersionRecord, keys};
use fdl_types::{
    ChainParams, DeploySpec, Event, MethodRule, Role, StatusCode, UpgradeSpec, VmKind, contract::rule_for,
};
use fdl_vm_wasm::{CallResult, Engine, Entry, Identity};

use crate::{ExecError, Overlay, StateView, event};
use host::{Ctx, ExecHost};

/// Domain tag of contract addresses.
pub const CONTRACT_ADDRESS_TAG: &[u8] = b"FDL/CONTRACT/v1";

static ENGINE: LazyLock<Engine> = LazyLock::new(Engine::new);

/// The process's contract engine (its module cache is shared by every block and query).
pub fn engine() -> &'static Engine {
    &ENGINE
}

/// A contract's address: the first 20 bytes of `H("FDL/CONTRACT/v1" || name)`.
pub fn contract_address(suite: Suite, name: &str) -> Address {
    let h = fdl_crypto::hash(suite, &[CONTRACT_ADDRESS_TAG, name.as_bytes()].concat());
    let mut a = [0u8; 20];
    a.copy_from_slice(&h.0[..20]);
    Address(a)
}

/// The identity a contract has as a caller and in `contract_info`.
pub(crate) fn identity_of(record: &ContractRecord, version: u32) -> Identity {
    Identity {
        address: record.address.0,
        is_contract: true,
        org: record.owner.clone(),
        role: "contract".into(),
        name: record.name.clone(),
        version,
    }
}

/// An account's identity.
pub(crate) fn account_identity(address: &Address, org: &str, role: Option<Role>) -> Identity {
    Identity {
        address: address.0,
        is_contract: false,
        org: org.to_string(),
        role: role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        name: String::new(),
        version: 0,
    }
}

/// A contract and the version a call runs.
pub(crate) struct Target {
    /// The contract.
    pub record: ContractRecord,
    /// The version.
    pub version: VersionRecord,
}

/// Finds what a call of `method` on version `version` (0: current) of `name` runs, or the status
/// that refuses it.
pub(crate) fn resolve(
    view: &dyn StateView,
    name: &str,
    version: u32,
    method: &str,
) -> Result<Result<Target, (StatusCode, String)>, ExecError> {
    // A name from a contract's `call` (or a query) is any UTF-8 text, and `ctr/{name}` of one
    // that is not a contract name may be another record's key: `b/` and a version's four bytes
    // name the key of b's version record, which does not decode as a contract.
    if !fdl_types::contract::valid_contract_name(name) {
        return Ok(Err((StatusCode::UnknownContract, format!("{name:?} is not a contract name"))));
    }
    let Some(record) = keys::contract(name).read(view)? else {
        return Ok(Err((StatusCode::UnknownContract, format!("no contract {name}"))));
    };
    match record.status {
        ContractStatus::Active => {}
        ContractStatus::Frozen => return Ok(Err((StatusCode::ContractFrozen, format!("{name} is frozen")))),
        ContractStatus::Retired => return Ok(Err((StatusCode::ContractRetired, format!("{name} is retired")))),
    }
    if record.vm != VmKind::Wasm {
        return Ok(Err((
            StatusCode::UnknownMethod,
            format!("{name} is an EVM contract: call it with ABI-encoded call data (fdl contract call encodes it)"),
        )));
    }
    let v = if version == 0 { record.current } else { version };
    let Some(version) = keys::contract_version(name, v).read(view)? else {
        return Ok(Err((StatusCode::UnknownContract, format!("{name} has no version {v}"))));
    };
    if !version.methods.iter().any(|m| m == method) {
        return Ok(Err((StatusCode::UnknownMethod, format!("{name} version {v} has no method {method}"))));
    }
    Ok(Ok(Target { record, version }))
}

/// What a call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The status.
    pub status: StatusCode,
    /// The return data (success only).
    pub output: Vec<u8>,
    /// Its events (the contract's on success; the failure's otherwise).
    pub events: Vec<Event>,
    /// The fuel used.
    pub fuel_used: u64,
}

impl CallOutcome {
    fn refused(status: StatusCode, contract: &str, method: &str, reason: String) -> Self {
        let attrs = vec![
            ("contract", contract.to_string()),
            ("method", method.to_string()),
            ("code", status.as_str().to_string()),
            ("reason", reason),
        ];
        CallOutcome { status, output: vec![], events: vec![event("contract.refused", attrs)], fuel_used: 0 }
    }
}

/// A call by a caller, as a transaction or a query makes it.
pub struct CallRequest<'a> {
    /// The contract.
    pub contract: &'a str,
    /// Its version (0: current).
    pub version: u32,
    /// The method.
    pub method: &'a str,
    /// The arguments (JSON text).
    pub args: &'a str,
    /// The caller (an account).
    pub caller: Identity,
    /// The fuel limit.
    pub fuel: u64,
    /// The block's height and time.
    pub height: u64,
    /// The block's time, Unix milliseconds.
    pub time_ms: u64,
}

/// Runs a call over `view` within the limits of `params` (in a block: the parameters as the block
/// began, read once per block); returns the outcome and, on success, the writes it made.
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn run_call(
    view: &dyn StateView,
    req: &CallRequest<'_>,
    params: &ChainParams,
) -> Result<(CallOutcome, crate::Writes), ExecError> {
    let none = std::collections::BTreeMap::new();
    let target = match resolve(view, req.contract, req.version, req.method)? {
        Ok(t) => t,
        Err((status, reason)) => return Ok((CallOutcome::refused(status, req.contract, req.method, reason), none)),
    };
    if let Some(rule) = rule_for(&target.record.access, req.method)
        && !rule.allows(&req.caller.role, &req.caller.org, &Address(req.caller.address))
    {
        let reason = format!("the access rule of {}.{} does not admit this caller", req.contract, req.method);
        return Ok((CallOutcome::refused(StatusCode::PermissionDenied, req.contract, req.method, reason), none));
    }
    let ctx = Ctx {
        engine: engine(),
        signer: req.caller.clone(),
        height: req.height,
        time_ms: req.time_ms,
        limits: host::limits(params),
    };
    let mut h = ExecHost::new(view, &ctx);
    let this = identity_of(&target.record, target.version.version);
    let result = h.run_frame(
        req.contract,
        this,
        target.version.code_hash.0,
        Entry::Method,
        req.method,
        req.args.as_bytes(),
        &req.caller,
        req.fuel,
        0,
    )?;
    Ok(finish(h, result, req.contract, req.method))
}

/// Most events a transaction's call, with every call it makes, may emit: all of them go into its
/// receipt, which holds [`fdl_types::receipt::MAX_EVENTS`], one of which may be the sender's
/// certificate registration. `max_contract_events` bounds each call's own events only, so nested
/// calls could emit more; the call then fails with `limit` rather than lose events.
pub const MAX_CALL_TREE_EVENTS: usize = fdl_types::receipt::MAX_EVENTS - 1;

/// Most events an `init` or `migrate` (with the calls it makes) may emit: they share the receipt
/// of the vote (or direct deploy) that runs them with that transaction's own events (a
/// registration, and `gov.voted`, `gov.passed`, `contract.deployed` or `contract.upgraded`,
/// `gov.applied`: five at most), with room to spare.
pub const MAX_ENTRY_EVENTS: usize = fdl_types::receipt::MAX_EVENTS - 8;

/// Turns an engine result into an outcome (keeping the writes only on success).
fn finish(h: ExecHost<'_, '_>, result: CallResult, contract: &str, method: &str) -> (CallOutcome, crate::Writes) {
    let none = std::collections::BTreeMap::new();
    match result.result {
        Ok(output) => {
            let (writes, events) = h.finish();
            if events.len() > MAX_CALL_TREE_EVENTS {
                let why = format!(
                    "the call and the calls it made emitted {} events, more than {MAX_CALL_TREE_EVENTS}",
                    events.len()
                );
                let f = fdl_vm_wasm::Failure::engine(fdl_vm_wasm::FailureCode::Limit, why);
                let mut outcome = failed(f, contract, method, result.fuel_used);
                // The refusals of nested calls stay audit records.
                outcome.events.extend(events.into_iter().filter(|e| e.kind == "contract.refused").take(8));
                return (outcome, none);
            }
            (CallOutcome { status: StatusCode::Ok, output, events, fuel_used: result.fuel_used }, writes)
        }
        Err(f) => {
            let mut outcome = failed(f, contract, method, result.fuel_used);
            outcome.events.append(&mut h.into_refusals());
            (outcome, none)
        }
    }
}

/// The outcome of a failed call: its status and a `contract.failed` event.
fn failed(f: fdl_vm_wasm::Failure, contract: &str, method: &str, fuel_used: u64) -> CallOutcome {
    let status =
        if f.kind == fdl_vm_wasm::FailureCode::OutOfFuel { StatusCode::OutOfFuel } else { StatusCode::ContractFailed };
    let attrs = vec![
        ("contract", contract.to_string()),
        ("method", method.to_string()),
        ("code", f.code),
        ("message", f.message),
    ];
    CallOutcome { status, output: vec![], events: vec![event("contract.failed", attrs)], fuel_used }
}

/// `contract.call` in a block: the block's fuel, then the call; its writes go into `ov` only when
/// it succeeds.
pub(crate) fn call_tx(
    ov: &mut Overlay<'_>,
    req: &CallRequest<'_>,
    params: &ChainParams,
    block_fuel_left: &mut u64,
) -> Result<CallOutcome, ExecError> {
    if req.fuel > *block_fuel_left {
        let reason = format!("the call asks for {} fuel, the block has {} left", req.fuel, block_fuel_left);
        return Ok(CallOutcome::refused(StatusCode::BlockFuelExhausted, req.contract, req.method, reason));
    }
    let (outcome, writes) = run_call(ov, req, params)?;
    *block_fuel_left = block_fuel_left.saturating_sub(outcome.fuel_used);
    ov.extend(writes);
    Ok(outcome)
}

/// The fuel a call transaction runs with: what it asks for (0: the chain's `max_tx_fuel`), at
/// most `max_tx_fuel`.
pub fn tx_fuel(asked: u64, params: &ChainParams) -> u64 {
    if asked == 0 { params.max_tx_fuel } else { asked.min(params.max_tx_fuel) }
}

// ---- lifecycle ------------------------------------------------------------------------------

/// Why a lifecycle step does not apply: a code and a sentence.
pub(crate) type Refusal = crate::gov::GovRefusal;

/// Checks a module: size, then the engine's static checks; answers its methods.
pub(crate) fn check_module(code: &[u8], params: &ChainParams) -> Result<fdl_vm_wasm::ModuleInfo, Refusal> {
    if code.len() as u64 > params.max_code_bytes {
        return Err(Refusal::ContractCheckFailed {
            reason: format!("the module is {} bytes, the limit is {}", code.len(), params.max_code_bytes),
        });
    }
    engine().check(code, &host::limits(params)).map_err(|e| Refusal::ContractCheckFailed { reason: e.to_string() })
}

/// Access rules name only roles (or `contract`).
fn check_rules(rules: &[MethodRule]) -> Result<(), Refusal> {
    for rule in rules {
        if let Some(r) = rule.roles.iter().find(|r| r.as_str() != "contract" && r.parse::<Role>().is_err()) {
            return Err(Refusal::BadContractRule { reason: format!("{r} is not a role") });
        }
    }
    Ok(())
}

/// A deploy could apply now: the name is free, the rules are sound, the module passes.
pub(crate) fn check_deploy(view: &dyn StateView, spec: &DeploySpec) -> Result<Result<(), Refusal>, ExecError> {
    if spec.vm == VmKind::Evm {
        if keys::contract(&spec.name).read(view)?.is_some() {
            return Ok(Err(Refusal::ContractExists { name: spec.name.clone() }));
        }
        return Ok(check_rules(&spec.access).and_then(|()| evm::check_spec(&spec.code, &spec.abi)));
    }
    Ok(deploy_info(view, spec)?.map(|_| ()))
}

/// As [`check_deploy`], answering what the static checks found.
fn deploy_info(view: &dyn StateView, spec: &DeploySpec) -> Result<Result<fdl_vm_wasm::ModuleInfo, Refusal>, ExecError> {
    if keys::contract(&spec.name).read(view)?.is_some() {
        return Ok(Err(Refusal::ContractExists { name: spec.name.clone() }));
    }
    if let Err(r) = check_rules(&spec.access) {
        return Ok(Err(r));
    }
    if spec.vm != VmKind::Wasm || !spec.abi.is_empty() {
        return Ok(Err(Refusal::ContractCheckFailed { reason: "an ABI is for EVM contracts only".into() }));
    }
    let params = fdl_schema::read::params(view)?;
    Ok(check_module(&spec.code, &params))
}

/// Who deploys or upgrades, and when.
pub(crate) struct Installer<'a> {
    /// The deploying account.
    pub account: Address,
    /// Its institution (the contract's owner on deploy).
    pub org: &'a str,
    /// Its role.
    pub role: Option<Role>,
    /// The proposal (0: direct).
    pub proposal: u64,
    /// The height.
    pub height: u64,
    /// The time, Unix milliseconds.
    pub time_ms: u64,
    /// The fuel its `init` or `migrate` used (set by the run; a direct deploy charges it to the
    /// block).
    pub fuel_used: std::cell::Cell<u64>,
}

/// Runs a module's `init` or `migrate` entry over `ov`; its writes stay only on success.
fn run_entry(
    ov: &mut Overlay<'_>,
    record: &ContractRecord,
    version: &VersionRecord,
    entry: Entry,
    args: &str,
    by: &Installer<'_>,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    let params = fdl_schema::read::params(ov)?;
    let caller = account_identity(&by.account, by.org, by.role);
    let ctx = Ctx {
        engine: engine(),
        signer: caller.clone(),
        height: by.height,
        time_ms: by.time_ms,
        limits: host::limits(&params),
    };
    let args = if args.is_empty() { "{}" } else { args };
    let name = match entry {
        Entry::Migrate => "migrate",
        _ => "init",
    };
    let (result, writes, events) = {
        let mut h = ExecHost::new(ov, &ctx);
        let this = identity_of(record, version.version);
        let r = h.run_frame(
            &record.name,
            this,
            version.code_hash.0,
            entry,
            name,
            args.as_bytes(),
            &caller,
            params.max_tx_fuel,
            0,
        )?;
        let (w, e) = h.finish();
        (r, w, e)
    };
    by.fuel_used.set(by.fuel_used.get().saturating_add(result.fuel_used));
    match result.result {
        Ok(_) if events.len() > MAX_ENTRY_EVENTS => Ok(Err(Refusal::ContractInitFailed {
            entry: name,
            code: "limit".into(),
            message: format!("{name} emitted {} events, more than {MAX_ENTRY_EVENTS}", events.len()),
        })),
        Ok(_) => {
            ov.extend(writes);
            Ok(Ok(events))
        }
        Err(f) => Ok(Err(Refusal::ContractInitFailed { entry: name, code: f.code, message: f.message })),
    }
}

fn review_attrs(attrs: &mut Vec<(&'static str, String)>, review: &Option<fdl_types::Review>) {
    if let Some(r) = review {
        attrs.push(("review_hash", r.hash.to_hex()));
        attrs.push(("review_author", r.author.clone()));
    }
}

/// Deploys: stores the module, the record and version 1, runs `init`. Refuses (writing nothing)
/// when a check fails or `init` fails.
pub(crate) fn apply_deploy(
    ov: &mut Overlay<'_>,
    spec: &DeploySpec,
    by: &Installer<'_>,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    if spec.vm == VmKind::Evm {
        if let Err(r) = check_deploy(ov, spec)? {
            return Ok(Err(r));
        }
        return evm::apply_deploy(ov, spec, by);
    }
    let info = match deploy_info(ov, spec)? {
        Ok(i) => i,
        Err(r) => return Ok(Err(r)),
    };
    let suite = fdl_schema::read::suite(ov)?;
    let code_hash = fdl_crypto::hash(suite, &spec.code);
    let record = new_record(suite, spec, by);
    let version = version_record(1, code_hash, spec.code.len(), &spec.review, info.methods, by);
    let mut events = match install(ov, &record, &version, &spec.code, Entry::Init, info.has_init, &spec.init_args, by)?
    {
        Ok(e) => e,
        Err(r) => return Ok(Err(r)),
    };
    keys::contract(&spec.name).write(ov, &record);
    keys::contract_at(&record.address).write(ov, &spec.name);
    keys::contract_version(&spec.name, 1).write(ov, &version);
    let mut out = vec![deployed_event(&record, &code_hash, &spec.review, by)];
    out.append(&mut events);
    Ok(Ok(out))
}

/// The record of a contract `spec` deploys (version 1, active, owned by the deployer's
/// institution).
fn new_record(suite: Suite, spec: &DeploySpec, by: &Installer<'_>) -> ContractRecord {
    ContractRecord {
        name: spec.name.clone(),
        vm: spec.vm,
        owner: by.org.to_string(),
        address: contract_address(suite, &spec.name),
        current: 1,
        versions: 1,
        status: ContractStatus::Active,
        access: spec.access.clone(),
        allow_reentry: spec.allow_reentry,
        created: by.height,
    }
}

/// The `contract.deployed` event of version 1 of `record`, with its engine (`vm`).
fn deployed_event(
    record: &ContractRecord,
    code_hash: &Hash,
    review: &Option<fdl_types::Review>,
    by: &Installer<'_>,
) -> Event {
    let mut attrs = vec![
        ("contract", record.name.clone()),
        ("version", "1".to_string()),
        ("vm", record.vm.as_str().to_string()),
        ("code_hash", code_hash.to_hex()),
        ("deployer", by.account.to_hex()),
        ("org", by.org.to_string()),
        ("address", record.address.to_hex()),
        ("proposal", by.proposal.to_string()),
    ];
    review_attrs(&mut attrs, review);
    event("contract.deployed", attrs)
}

/// The `contract.upgraded` event of `record`'s new current version (from `previous`).
fn upgraded_event(
    record: &ContractRecord,
    previous: u32,
    code_hash: &Hash,
    review: &Option<fdl_types::Review>,
    by: &Installer<'_>,
) -> Event {
    let mut attrs = vec![
        ("contract", record.name.clone()),
        ("version", record.current.to_string()),
        ("previous", previous.to_string()),
        ("vm", record.vm.as_str().to_string()),
        ("code_hash", code_hash.to_hex()),
        ("deployer", by.account.to_hex()),
        ("proposal", by.proposal.to_string()),
    ];
    review_attrs(&mut attrs, review);
    event("contract.upgraded", attrs)
}

fn version_record(
    version: u32,
    code_hash: Hash,
    size: usize,
    review: &Option<fdl_types::Review>,
    methods: Vec<String>,
    by: &Installer<'_>,
) -> VersionRecord {
    VersionRecord {
        version,
        code_hash,
        code_size: u32::try_from(size).unwrap_or(u32::MAX),
        deployer: by.account,
        proposal: by.proposal,
        height: by.height,
        review: review.clone(),
        methods,
    }
}

/// An upgrade could apply now: the contract exists and is not retired, the module passes.
pub(crate) fn check_upgrade(view: &dyn StateView, spec: &UpgradeSpec) -> Result<Result<(), Refusal>, ExecError> {
    if let Some(record) = keys::contract(&spec.name).read(view)?
        && record.vm == VmKind::Evm
    {
        if record.status == ContractStatus::Retired {
            return Ok(Err(Refusal::ContractStatusForbids {
                name: spec.name.clone(),
                status: "retired",
                what: "upgrade",
            }));
        }
        return Ok(evm::check_spec(&spec.code, &spec.abi));
    }
    Ok(upgrade_info(view, spec)?.map(|_| ()))
}

/// As [`check_upgrade`], answering the contract and what the static checks found.
fn upgrade_info(
    view: &dyn StateView,
    spec: &UpgradeSpec,
) -> Result<Result<(ContractRecord, fdl_vm_wasm::ModuleInfo), Refusal>, ExecError> {
    let Some(record) = keys::contract(&spec.name).read(view)? else {
        return Ok(Err(Refusal::NoContract { name: spec.name.clone() }));
    };
    if record.status == ContractStatus::Retired {
        return Ok(Err(Refusal::ContractStatusForbids { name: spec.name.clone(), status: "retired", what: "upgrade" }));
    }
    let params = fdl_schema::read::params(view)?;
    Ok(check_module(&spec.code, &params).map(|info| (record, info)))
}

/// Stores a module and runs its `init` or `migrate` (when it has one) over `ov`; nothing stays
/// when the entry fails. Answers the entry's events.
#[allow(clippy::too_many_arguments)]
fn install(
    ov: &mut Overlay<'_>,
    record: &ContractRecord,
    version: &VersionRecord,
    code: &[u8],
    entry: Entry,
    has_entry: bool,
    args: &str,
    by: &Installer<'_>,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    // The module must be readable by the engine before the entry runs.
    let mut staged = Overlay::new(ov);
    keys::code(&version.code_hash).write(&mut staged, &code.to_vec());
    let events = if has_entry {
        match run_entry(&mut staged, record, version, entry, args, by)? {
            Ok(e) => e,
            Err(r) => return Ok(Err(r)),
        }
    } else {
        vec![]
    };
    let writes = staged.into_writes();
    ov.extend(writes);
    Ok(Ok(events))
}

/// Upgrades: a new version over the same storage; `migrate` runs; old versions stay stored.
pub(crate) fn apply_upgrade(
    ov: &mut Overlay<'_>,
    spec: &UpgradeSpec,
    by: &Installer<'_>,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    if let Some(record) = keys::contract(&spec.name).read(ov)?
        && record.vm == VmKind::Evm
    {
        if let Err(r) = check_upgrade(ov, spec)? {
            return Ok(Err(r));
        }
        return evm::apply_upgrade(ov, record, spec, by);
    }
    if !spec.abi.is_empty() {
        return Ok(Err(Refusal::ContractCheckFailed { reason: "an ABI is for EVM contracts only".into() }));
    }
    let (mut record, info) = match upgrade_info(ov, spec)? {
        Ok(found) => found,
        Err(r) => return Ok(Err(r)),
    };
    let suite = fdl_schema::read::suite(ov)?;
    let code_hash = fdl_crypto::hash(suite, &spec.code);
    let n = record.versions.saturating_add(1);
    let version = version_record(n, code_hash, spec.code.len(), &spec.review, info.methods, by);
    let mut events =
        match install(ov, &record, &version, &spec.code, Entry::Migrate, info.has_migrate, &spec.migrate_args, by)? {
            Ok(e) => e,
            Err(r) => return Ok(Err(r)),
        };
    let previous = record.current;
    record.current = n;
    record.versions = n;
    keys::contract(&spec.name).write(ov, &record);
    keys::contract_version(&spec.name, n).write(ov, &version);
    let mut out = vec![upgraded_event(&record, previous, &code_hash, &spec.review, by)];
    out.append(&mut events);
    Ok(Ok(out))
}

/// Freeze, unfreeze and retire: which status a step moves to, and from which it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Active → frozen.
    Freeze,
    /// Frozen → active.
    Unfreeze,
    /// Active or frozen → retired.
    Retire,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Freeze => "freeze",
            Step::Unfreeze => "unfreeze",
            Step::Retire => "retire",
        }
    }
}

/// A status step could apply now.
pub(crate) fn check_step(view: &dyn StateView, name: &str, step: Step) -> Result<Result<(), Refusal>, ExecError> {
    let Some(record) = keys::contract(name).read(view)? else {
        return Ok(Err(Refusal::NoContract { name: name.to_string() }));
    };
    let ok = matches!(
        (step, record.status),
        (Step::Freeze, ContractStatus::Active)
            | (Step::Unfreeze, ContractStatus::Frozen)
            | (Step::Retire, ContractStatus::Active | ContractStatus::Frozen)
    );
    Ok(if ok {
        Ok(())
    } else {
        Err(Refusal::ContractStatusForbids {
            name: name.to_string(),
            status: record.status.as_str(),
            what: step.name(),
        })
    })
}

/// Applies a status step.
pub(crate) fn apply_step(
    ov: &mut Overlay<'_>,
    name: &str,
    step: Step,
    proposal: u64,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    if let Err(r) = check_step(ov, name, step)? {
        return Ok(Err(r));
    }
    let Some(mut record) = keys::contract(name).read(ov)? else {
        return Ok(Err(Refusal::NoContract { name: name.to_string() }));
    };
    record.status = match step {
        Step::Freeze => ContractStatus::Frozen,
        Step::Unfreeze => ContractStatus::Active,
        Step::Retire => ContractStatus::Retired,
    };
    keys::contract(name).write(ov, &record);
    let kind = match step {
        Step::Freeze => "contract.frozen",
        Step::Unfreeze => "contract.unfrozen",
        Step::Retire => "contract.retired",
    };
    Ok(Ok(vec![event(kind, vec![("contract", name.to_string()), ("proposal", proposal.to_string())])]))
}

/// New access rules could apply now.
pub(crate) fn check_access(
    view: &dyn StateView,
    name: &str,
    rules: &[MethodRule],
) -> Result<Result<(), Refusal>, ExecError> {
    if keys::contract(name).read(view)?.is_none() {
        return Ok(Err(Refusal::NoContract { name: name.to_string() }));
    }
    Ok(check_rules(rules))
}

/// Replaces a contract's access rules.
pub(crate) fn apply_access(
    ov: &mut Overlay<'_>,
    name: &str,
    rules: &[MethodRule],
    allow_reentry: bool,
    proposal: u64,
) -> Result<Result<Vec<Event>, Refusal>, ExecError> {
    if let Err(r) = check_access(ov, name, rules)? {
        return Ok(Err(r));
    }
    let Some(mut record) = keys::contract(name).read(ov)? else {
        return Ok(Err(Refusal::NoContract { name: name.to_string() }));
    };
    record.access = rules.to_vec();
    record.allow_reentry = allow_reentry;
    keys::contract(name).write(ov, &record);
    let methods = rules.iter().map(|r| r.method.as_str()).collect::<Vec<_>>().join(",");
    let attrs = vec![
        ("contract", name.to_string()),
        ("rules", methods),
        ("allow_reentry", allow_reentry.to_string()),
        ("proposal", proposal.to_string()),
    ];
    Ok(Ok(vec![event("contract.access_set", attrs)]))
}

/// `contract.deploy`: an administrator deploys directly into its institution's namespace, when
/// the chain's policy allows it.
pub(crate) fn deploy_direct(
    ov: &mut Overlay<'_>,
    spec: &DeploySpec,
    by: &Installer<'_>,
) -> Result<(StatusCode, Vec<Event>), ExecError> {
    let params = fdl_schema::read::params(ov)?;
    let rejected = |reason: String, code: &str| {
        let attrs = vec![("contract", spec.name.clone()), ("code", code.to_string()), ("reason", reason)];
        (StatusCode::ContractRejected, vec![event("contract.rejected", attrs)])
    };
    if params.contract_deploy_policy != 1 {
        return Ok(rejected(
            "this chain deploys contracts only by committee vote (fdl contract deploy proposes one)".into(),
            "policy",
        ));
    }
    if by.role != Some(Role::Admin) {
        return Ok(rejected("only an institution's administrator deploys directly".into(), "not_admin"));
    }
    let ns = format!("{}.", by.org);
    // The part after the institution has no dot: `a.b.x` is institution `a.b`'s, never `a`'s.
    let rest = spec.name.strip_prefix(&ns).unwrap_or_default();
    if rest.is_empty() || rest.contains('.') {
        return Ok(rejected(format!("a direct deploy names the contract {ns}NAME (NAME without dots)"), "namespace"));
    }
    match apply_deploy(ov, spec, by)? {
        Ok(events) => Ok((StatusCode::Ok, events)),
        Err(r) => Ok(rejected(r.to_string(), r.code())),
    }
}

/// The static checks of a deploy, for tools (`fdl contract check`): the module's methods, or the
/// failed check's code and reason.
///
/// # Errors
/// `(code, reason)` of the first check the module fails.
pub fn check_static(code: &[u8], params: &ChainParams) -> Result<fdl_vm_wasm::ModuleInfo, (String, String)> {
    if code.len() as u64 > params.max_code_bytes {
        return Err((
            "code_too_large".into(),
            format!("the module is {} bytes, the limit is {}", code.len(), params.max_code_bytes),
        ));
    }
    engine().check(code, &host::limits(params)).map_err(|e| (e.code().to_string(), e.to_string()))
}

/// The institution and role a query's caller has: from its account record (an administrator's
/// account, else a client of its registrar; none for an unknown account).
pub(crate) fn account_role(view: &dyn StateView, caller: &Address) -> Result<(String, Option<Role>), ExecError> {
    Ok(match crate::read_account(view, caller)? {
        Some(a) => {
            let role = if a.kind == crate::AccountKind::Admin {
                Some(Role::Admin)
            } else if a.org.is_empty() {
                None
            } else {
                Some(Role::Client)
            };
            (a.org, role)
        }
        None => (String::new(), None),
    })
}

/// A read-only call against `view` (the latest final state): the same checks and engine as a
/// transaction's call, its writes discarded (STD-12.2). The caller is the account `caller` with
/// the institution and role its account record and certificate give it (none for an unknown
/// account).
///
/// # Errors
/// [`ExecError`] only for store failures or corrupt state.
pub fn query(
    view: &dyn StateView,
    contract: &str,
    version: u32,
    method: &str,
    args: &str,
    caller: &Address,
    fuel: u64,
) -> Result<CallOutcome, ExecError> {
    let params = fdl_schema::read::params(view)?;
    let height = keys::height().read(view)?.unwrap_or(0);
    let time_ms = fdl_schema::read::time_ms(view)?;
    let (org, role) = account_role(view, caller)?;
    let req = CallRequest {
        contract,
        version,
        method,
        args: if args.is_empty() { "{}" } else { args },
        caller: account_identity(caller, &org, role),
        fuel: tx_fuel(fuel, &params),
        height,
        time_ms,
    };
    Ok(run_call(view, &req, &params)?.0)
}
