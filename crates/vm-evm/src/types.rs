//! The engine's public data types: what the executor hands in ([`Run`], [`Limits`], [`Block`]) and
//! what it gets back ([`Outcome`]), and the [`Host`] through which the engine reads chain state.

use std::fmt;
use std::sync::Arc;

/// A 20-byte FDL address (of a signer or of a contract).
pub type Address20 = [u8; 20];

/// A 32-byte EVM word (a storage slot, a storage value, a log topic, a hash).
pub type Word = [u8; 32];

/// Keccak-256 of `data` (the EVM's hash).
pub fn keccak256(data: &[u8]) -> Word {
    revm::primitives::keccak256(data).0
}

/// The host (the store) failed: the only error of [`crate::Engine::create`] and
/// [`crate::Engine::call`]; it aborts the whole block, unlike a contract's failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "host error: {}", self.0)
    }
}

impl std::error::Error for HostError {}

/// A member of the consortium, as the identity precompile reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's institution.
    pub org: String,
    /// The member's role.
    pub role: String,
}

/// The host's refusal of a nested call ([`Host::check_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A stable, machine-readable code.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// A contract's runtime code with its Keccak-256 hash, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractCode {
    /// The runtime bytecode.
    pub code: Arc<Vec<u8>>,
    /// `keccak256(code)`: the EVM code hash and the engine's cache key.
    pub keccak: Word,
}

impl ContractCode {
    /// Wraps runtime code, computing its hash.
    pub fn new(code: Vec<u8>) -> Self {
        let keccak = keccak256(&code);
        Self { code: Arc::new(code), keccak }
    }
}

/// The executor's side of a run: contract code, storage, membership and the policy on nested
/// calls. Every method may fail with a [`HostError`], which aborts the run with that error.
pub trait Host {
    /// The runtime code deployed at `address`, `None` when no contract lives there.
    fn code_at(&mut self, address: &Address20) -> Result<Option<ContractCode>, HostError>;
    /// The committed value of storage `slot` of contract `address` (zero when never written).
    fn storage(&mut self, address: &Address20, slot: &Word) -> Result<Word, HostError>;
    /// The consortium member behind `address`, `None` when the address is not a member.
    fn identity(&mut self, address: &Address20) -> Result<Option<Member>, HostError>;
    /// A nested call from contract `caller` to `callee` with `input`, at `depth` (1 = the first nested call).
    ///
    /// `Ok(Err(refusal))` makes that call fail (the caller sees a reverted call) and is recorded
    /// in [`Outcome::refusals`].
    fn check_call(
        &mut self,
        caller: &Address20,
        callee: &Address20,
        input: &[u8],
        depth: u32,
    ) -> Result<Result<(), Refusal>, HostError>;
}

/// The chain's bounds on a run (governed parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest runtime code accepted (never above EIP-170's 24,576 bytes).
    pub max_code_bytes: u32,
    /// Deepest nested call (depth 1 = the first call made by the called contract).
    pub max_call_depth: u32,
    /// Opcodes refused by [`crate::Engine::check_runtime`]: a bitmask over
    /// [`crate::DENIED_OPCODE_LIST`] (see [`crate::DEFAULT_DENIED_OPCODES`]).
    pub denied_opcodes: u64,
    /// Most logs a run may emit.
    pub max_logs: u32,
    /// Largest log: its data plus 32 bytes per topic.
    pub max_log_bytes: u32,
    /// Largest return data of a run.
    pub max_return_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_code_bytes: crate::check::EIP170_MAX_CODE_BYTES as u32,
            max_call_depth: 64,
            denied_opcodes: crate::check::DEFAULT_DENIED_OPCODES,
            max_logs: 256,
            max_log_bytes: 16 * 1024,
            max_return_bytes: 64 * 1024,
        }
    }
}

/// The block a run belongs to, as the EVM sees it (`block.number`, `block.timestamp`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `block.number`.
    pub height: u64,
    /// `block.timestamp`, in seconds.
    pub time_s: u64,
    /// `block.chainid`.
    pub chain_id: u64,
    /// `block.coinbase` (the proposer's address).
    pub coinbase: Address20,
    /// `block.gaslimit`.
    pub gas_limit: u64,
}

/// One run of the engine: a deploy ([`crate::Engine::create`]) or a call ([`crate::Engine::call`]).
#[derive(Debug, Clone)]
pub struct Run<'a> {
    /// The contract run: the called contract, or the address assigned to the created one.
    pub this: Address20,
    /// `msg.sender`.
    pub caller: Address20,
    /// `tx.origin`.
    pub origin: Address20,
    /// Calldata of a call; creation code with its constructor arguments appended for a create.
    pub input: &'a [u8],
    /// Gas limit of the run (gas is only a limit: price and fees are zero).
    pub gas: u64,
    /// The block.
    pub block: &'a Block,
    /// The bounds.
    pub limits: &'a Limits,
    /// Code of `this` for a call (the version the executor pinned); `None` asks
    /// [`Host::code_at`]. Ignored by a create.
    pub code: Option<ContractCode>,
    /// Static-call semantics: any state change fails.
    pub read_only: bool,
}

/// A log (event) emitted by a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// The emitting contract.
    pub address: Address20,
    /// Topics (at most 4; topic 0 is the event's signature hash for non-anonymous events).
    pub topics: Vec<Word>,
    /// Non-indexed data.
    pub data: Vec<u8>,
}

/// A nested call the host refused ([`Host::check_call`]), or the engine refused for depth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCall {
    /// The calling contract.
    pub caller: Address20,
    /// The called address.
    pub callee: Address20,
    /// The first four bytes of the call's input, when it had at least four.
    pub selector: Option<[u8; 4]>,
    /// The refusal's code (`"call_depth"` for the depth bound).
    pub code: String,
    /// The refusal's message.
    pub message: String,
}

/// Why a run failed. Codes are stable: `revert`, `out_of_gas`, `invalid_opcode`, `stack`,
/// `invalid_jump`, `call_depth`, `create_refused`, `limit`, `code_too_large`, `denied_opcode`,
/// `halt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The stable code.
    pub code: String,
    /// A human-readable message (for `revert`, the decoded reason, see [`crate::abi::decode_revert`]).
    pub message: String,
    /// Raw revert data (empty for other failures).
    pub data: Vec<u8>,
}

impl Failure {
    /// Builds a failure without data.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self { code: code.to_owned(), message: message.into(), data: Vec::new() }
    }

    /// Whether the run ran out of gas (the executor gives that its own status).
    pub fn is_out_of_gas(&self) -> bool {
        self.code == "out_of_gas"
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Return data (for a create, the runtime code), or why the run failed.
    pub result: Result<Vec<u8>, Failure>,
    /// Gas used (the whole limit when the run ran out of gas).
    pub gas_used: u64,
    /// Logs emitted, in order; empty on failure.
    pub logs: Vec<Log>,
    /// Storage writes `(contract, slot, new value)`, sorted by (contract, slot); empty on failure.
    pub writes: Vec<(Address20, Word, Word)>,
    /// Nested calls refused, in order; kept even when the run failed.
    pub refusals: Vec<RefusedCall>,
}

impl Outcome {
    /// A failed outcome with nothing else.
    pub(crate) fn failed(failure: Failure, gas_used: u64) -> Self {
        Self { result: Err(failure), gas_used, logs: Vec::new(), writes: Vec::new(), refusals: Vec::new() }
    }
}

/// The cache of analyzed bytecode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups that found the code analyzed.
    pub hits: u64,
    /// Lookups that analyzed it.
    pub misses: u64,
    /// Entries now held.
    pub entries: usize,
}
