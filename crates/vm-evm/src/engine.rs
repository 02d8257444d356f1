//! The engine: runs creation and calls on revm.

use std::collections::BTreeMap;

use revm::context::{BlockEnv, CfgEnv, TxEnv};
use revm::context_interface::ContextTr as _;
use revm::context_interface::result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction, Output};
use revm::handler::MainBuilder as _;
use revm::inspector::InspectEvm as _;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, U256};

use crate::abi::decode_revert;
use crate::check::{self, CheckError, CodeInfo};
use crate::db::{CodeCache, HostDb};
use crate::inspector::FdlInspector;
use crate::precompile::provider::{Ctx, FdlPrecompiles};
use crate::types::{Address20, CacheStats, Failure, Host, HostError, Limits, Log, Outcome, Run, Word};

/// The EVM revision the engine runs ([`crate::SOLC_EVM_VERSION`] is its solc name). Prague's
/// precompiles (BLS12-381, KZG point evaluation) come from revm's pure-Rust arkworks backends.
pub const SPEC: SpecId = SpecId::PRAGUE;

/// The EVM engine. `Send + Sync`: one per process, shared by every run.
pub struct Engine {
    cache: CodeCache,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

/// What a run does.
enum Mode {
    Call,
    Create,
}

impl Engine {
    /// An engine with an empty code cache.
    pub fn new() -> Self {
        Self { cache: CodeCache::default() }
    }

    /// The static check of runtime code: not empty, within `limits.max_code_bytes` and EIP-170,
    /// and no opcode of `limits.denied_opcodes` (PUSH data and the solc metadata trailer are
    /// skipped).
    pub fn check_runtime(&self, code: &[u8], limits: &Limits) -> Result<CodeInfo, CheckError> {
        check::check_runtime(code, limits)
    }

    /// Runs creation code `run.input` (constructor and its arguments) as contract `run.this`;
    /// on success the result is the runtime code, which passed [`Engine::check_runtime`], and the
    /// constructor's storage writes are at `run.this`.
    ///
    /// The run is a real creation (a CREATE transaction), so the constructor sees what it sees on
    /// Ethereum (`address(this).code.length == 0`, code-deposit gas, EIP-170/EIP-3541), but
    /// its address is not derived from sender and nonce: the inspector turns the top-level
    /// creation's scheme into revm's `CreateScheme::Custom { address: run.this }`. An address that
    /// already has code is a collision (failure `halt`). `run.code` is ignored.
    pub fn create(&self, host: &mut dyn Host, run: &Run<'_>) -> Result<Outcome, HostError> {
        let mut outcome = self.execute(host, run, Mode::Create)?;
        if let Ok(code) = &outcome.result
            && let Err(e) = check::check_runtime(code, run.limits)
        {
            outcome.result = Err(Failure::new(e.code, e.message));
            outcome.logs.clear();
            outcome.writes.clear();
        }
        Ok(outcome)
    }

    /// Calls contract `run.this` with calldata `run.input`, `msg.sender = run.caller`,
    /// `tx.origin = run.origin`; the code is `run.code`, else the host's.
    pub fn call(&self, host: &mut dyn Host, run: &Run<'_>) -> Result<Outcome, HostError> {
        self.execute(host, run, Mode::Call)
    }

    /// Counters of the analyzed-bytecode cache (64 entries, least recently used evicted).
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    fn execute(&self, host: &mut dyn Host, run: &Run<'_>, mode: Mode) -> Result<Outcome, HostError> {
        let this = Address::from(run.this);
        let override_code = match mode {
            Mode::Call => run.code.clone().map(|c| (run.this, c)),
            Mode::Create => None,
        };
        let db = HostDb::new(host, &self.cache, override_code);

        let mut cfg = CfgEnv::new_with_spec(SPEC);
        cfg.chain_id = run.block.chain_id;
        // No fees and no ether: the signer's nonce is not the EVM's business (the executor has
        // its own replay protection).
        cfg.disable_nonce_check = true;
        let block = BlockEnv {
            number: U256::from(run.block.height),
            beneficiary: Address::from(run.block.coinbase),
            timestamp: U256::from(run.block.time_s),
            // A run's gas limit above the block's would be refused by revm as a malformed
            // transaction; the executor never asks for it, and then the block's limit is raised.
            gas_limit: run.block.gas_limit.max(run.gas),
            basefee: 0,
            ..BlockEnv::default()
        };
        let ctx: Ctx<'_> = Ctx::new(db, SPEC).with_cfg(cfg).with_block(block);
        let inspector = FdlInspector {
            caller: Address::from(run.caller),
            create_at: matches!(mode, Mode::Create).then_some(this),
            read_only: run.read_only,
            max_call_depth: run.limits.max_call_depth,
            precompiles: FdlPrecompiles::new(SPEC),
            refusals: Vec::new(),
            create_refused: false,
        };
        let mut evm = ctx.build_mainnet_with_inspector(inspector).with_precompiles(FdlPrecompiles::new(SPEC));
        let tx = TxEnv {
            // The transaction's sender is `tx.origin`; the inspector makes `run.caller` the
            // top-level frame's `msg.sender`.
            caller: Address::from(run.origin),
            gas_limit: run.gas,
            gas_price: 0,
            kind: match mode {
                Mode::Call => TxKind::Call(this),
                Mode::Create => TxKind::Create,
            },
            value: U256::ZERO,
            data: Bytes::copy_from_slice(run.input),
            nonce: 0,
            chain_id: Some(run.block.chain_id),
            ..TxEnv::default()
        };
        let result = evm.inspect_tx(tx);
        if let Some(e) = evm.ctx.db_mut().error.take() {
            return Err(e);
        }
        let refusals = std::mem::take(&mut evm.inspector.refusals);
        let create_refused = evm.inspector.create_refused;
        let done = match result {
            Ok(done) => done,
            Err(EVMError::Database(e)) => return Err(e.0),
            Err(EVMError::Transaction(InvalidTransaction::CallGasCostMoreThanGasLimit { .. })) => {
                let mut out = Outcome::failed(Failure::new("out_of_gas", "gas limit below the intrinsic gas"), run.gas);
                out.refusals = refusals;
                return Ok(out);
            }
            Err(e) => {
                let mut out = Outcome::failed(Failure::new("halt", format!("refused by the EVM: {e}")), 0);
                out.refusals = refusals;
                return Ok(out);
            }
        };
        let gas_used = done.result.tx_gas_used();
        let mut outcome = match done.result {
            ExecutionResult::Success { output, logs, .. } => {
                let output = match output {
                    Output::Call(b) => b.to_vec(),
                    Output::Create(code, _) => code.to_vec(),
                };
                let mut writes: BTreeMap<(Address20, Word), Word> = BTreeMap::new();
                for (address, account) in &done.state {
                    for (slot, value) in &account.storage {
                        if value.is_changed() {
                            writes
                                .insert((address.into_array(), slot.to_be_bytes()), value.present_value.to_be_bytes());
                        }
                    }
                }
                let logs = logs
                    .into_iter()
                    .map(|l| Log {
                        address: l.address.into_array(),
                        topics: l.data.topics().iter().map(|t| t.0).collect(),
                        data: l.data.data.to_vec(),
                    })
                    .collect();
                Outcome {
                    result: Ok(output),
                    gas_used,
                    logs,
                    writes: writes.into_iter().map(|((a, s), v)| (a, s, v)).collect(),
                    refusals: Vec::new(),
                }
            }
            ExecutionResult::Revert { output, .. } => {
                let failure = if create_refused && output.is_empty() {
                    Failure::new(
                        "create_refused",
                        "CREATE/CREATE2 refused: contracts are created only by a governed deploy",
                    )
                } else {
                    Failure { code: "revert".into(), message: decode_revert(&output), data: output.to_vec() }
                };
                Outcome::failed(failure, gas_used)
            }
            ExecutionResult::Halt { reason, .. } => Outcome::failed(halt_failure(&reason), gas_used),
        };
        outcome.refusals = refusals;
        if let Ok(output) = &outcome.result
            && let Some(f) = over_limits(output, &outcome.logs, run.limits, matches!(mode, Mode::Call))
        {
            outcome.result = Err(f);
            outcome.logs.clear();
            outcome.writes.clear();
        }
        Ok(outcome)
    }
}

/// The failure of a successful run that went over a bound of `limits`.
fn over_limits(output: &[u8], logs: &[Log], limits: &Limits, is_call: bool) -> Option<Failure> {
    if logs.len() > limits.max_logs as usize {
        return Some(Failure::new("limit", format!("{} logs, over the limit {}", logs.len(), limits.max_logs)));
    }
    for (i, log) in logs.iter().enumerate() {
        let size = log.data.len().saturating_add(32 * log.topics.len());
        if size > limits.max_log_bytes as usize {
            return Some(Failure::new(
                "limit",
                format!("log {i} is {size} bytes, over the limit {}", limits.max_log_bytes),
            ));
        }
    }
    // A create's output is the runtime code, bounded by the code size check instead.
    if is_call && output.len() > limits.max_return_bytes as usize {
        return Some(Failure::new(
            "limit",
            format!("{} bytes of return data, over the limit {}", output.len(), limits.max_return_bytes),
        ));
    }
    None
}

/// The failure of a halted run.
fn halt_failure(reason: &HaltReason) -> Failure {
    let code = match reason {
        HaltReason::OutOfGas(_) => "out_of_gas",
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode | HaltReason::NotActivated => "invalid_opcode",
        HaltReason::StackUnderflow | HaltReason::StackOverflow => "stack",
        HaltReason::InvalidJump => "invalid_jump",
        HaltReason::CallTooDeep => "call_depth",
        HaltReason::CreateContractSizeLimit => "code_too_large",
        _ => "halt",
    };
    Failure::new(code, reason.to_string())
}
