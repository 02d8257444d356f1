//! What the engine needs from the executor ([`Host`]) and what a call gives back ([`CallResult`]).

use std::fmt;

/// A fatal failure of the host (the store could not be read or written): it is not the
/// contract's fault, so it aborts the whole block rather than failing the call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("host failure: {0}")]
pub struct HostError(pub String);

impl HostError {
    /// A host failure with this description.
    pub fn new(message: impl Into<String>) -> Self {
        HostError(message.into())
    }
}

/// Why a call failed: the contract's own `fail`, or one of the engine's stable codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// The contract ended the call with `fail(code, message)`; [`Failure::code`] is its own code.
    Failed,
    /// The call's fuel ran out (`out_of_fuel`).
    OutOfFuel,
    /// A WebAssembly trap (`trap`): `unreachable` (a Rust panic), an out-of-bounds access (also of
    /// a range passed to a host function), division by zero, a stack overflow from deep recursion,
    /// ...
    Trap,
    /// A limit was exceeded (`limit`): memory or tables beyond their bounds, return data, event
    /// count or size, storage key or value size.
    Limit,
    /// The method is not a public export of the module, or is `init`/`migrate`
    /// (`unknown_method`).
    UnknownMethod,
    /// A call nested deeper than `max_call_depth` (`call_depth`).
    CallDepth,
    /// The module failed to compile or instantiate although it reached `run` (`invalid_module`).
    InvalidModule,
    /// `fail` was called with an error code that is not `[a-z0-9_]{1,64}` (`bad_failure_code`).
    BadFailureCode,
    /// `emit` with a kind that is not `[a-z0-9_.]{1,64}` or data that is not UTF-8 JSON
    /// (`bad_event`).
    BadEvent,
    /// `set_return` with data that is neither empty nor UTF-8 JSON (`bad_return`).
    BadReturn,
    /// A call to a contract that does not exist (`unknown_contract`; given by the host, or by the
    /// engine for a name that is not UTF-8).
    UnknownContract,
    /// A call to a frozen contract (`contract_frozen`; given by the host).
    ContractFrozen,
    /// A call to a retired contract (`contract_retired`; given by the host).
    ContractRetired,
    /// A call the callee's access rules refuse (`permission_denied`; given by the host).
    PermissionDenied,
    /// A call back into a contract that is already running (`reentrancy`; given by the host).
    Reentrancy,
}

impl FailureCode {
    /// The stable snake_case code: what [`Failure::code`] holds for an engine failure, and what a
    /// calling contract reads in the result buffer. [`FailureCode::Failed`] gives `failed`, but a
    /// contract's own failure carries the contract's code instead.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Failed => "failed",
            FailureCode::OutOfFuel => "out_of_fuel",
            FailureCode::Trap => "trap",
            FailureCode::Limit => "limit",
            FailureCode::UnknownMethod => "unknown_method",
            FailureCode::CallDepth => "call_depth",
            FailureCode::InvalidModule => "invalid_module",
            FailureCode::BadFailureCode => "bad_failure_code",
            FailureCode::BadEvent => "bad_event",
            FailureCode::BadReturn => "bad_return",
            FailureCode::UnknownContract => "unknown_contract",
            FailureCode::ContractFrozen => "contract_frozen",
            FailureCode::ContractRetired => "contract_retired",
            FailureCode::PermissionDenied => "permission_denied",
            FailureCode::Reentrancy => "reentrancy",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call: the error code and message that go into the receipt (and, for a nested call,
/// into the caller's result buffer as `code` `\n` `message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Whether the contract failed by itself ([`FailureCode::Failed`]) or the engine ended it.
    /// A contract may pick a code that equals an engine code; `kind` tells them apart.
    pub kind: FailureCode,
    /// The contract's own code for `fail`, or the engine's stable code ([`FailureCode::as_str`]).
    pub code: String,
    /// A human-readable explanation (a contract's message is at most 256 bytes).
    pub message: String,
}

impl Failure {
    /// An engine (or host) failure: `code` is `kind`'s stable code.
    pub fn engine(kind: FailureCode, message: impl Into<String>) -> Self {
        Failure { kind, code: kind.as_str().to_owned(), message: message.into() }
    }

    /// The contract's own failure, from `fail(code, message)`.
    pub fn contract(code: impl Into<String>, message: impl Into<String>) -> Self {
        Failure { kind: FailureCode::Failed, code: code.into(), message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The outcome of one call of a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// The return data (empty when the method set none), or why the call failed.
    pub result: Result<Vec<u8>, Failure>,
    /// Fuel used, the calls it made included; equal to the call's fuel when it ran out.
    pub fuel_used: u64,
}

impl CallResult {
    /// A successful call.
    pub fn success(data: Vec<u8>, fuel_used: u64) -> Self {
        CallResult { result: Ok(data), fuel_used }
    }

    /// A failed call.
    pub fn failure(failure: Failure, fuel_used: u64) -> Self {
        CallResult { result: Err(failure), fuel_used }
    }
}

/// The executor's side of a call: the running contract's storage and events, and the other
/// contracts. Every method is called only while the call is still going (never after a limit was
/// exceeded); storage is always this contract's own.
///
/// The host journals writes and events: when the call fails (the engine reports it in the
/// [`CallResult`]), the host undoes them.
pub trait Host {
    /// The module whose code hash is `code_hash`; called only on a module-cache miss.
    ///
    /// # Errors
    /// [`HostError`] when the code cannot be read.
    fn load_code(&mut self, code_hash: &[u8; 32]) -> Result<Vec<u8>, HostError>;

    /// The value under `key`, if any.
    ///
    /// # Errors
    /// [`HostError`] when the store fails.
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, HostError>;

    /// Writes `value` under `key` (sizes already checked against the limits).
    ///
    /// # Errors
    /// [`HostError`] when the store fails.
    fn storage_set(&mut self, key: &[u8], value: &[u8]) -> Result<(), HostError>;

    /// Removes `key` (absent is not an error).
    ///
    /// # Errors
    /// [`HostError`] when the store fails.
    fn storage_remove(&mut self, key: &[u8]) -> Result<(), HostError>;

    /// The smallest key that starts with `prefix` and is greater than `after` (bytewise), or with
    /// `after = None` the smallest key with the prefix.
    ///
    /// # Errors
    /// [`HostError`] when the store fails. A key that does not start with `prefix` or is not greater
    /// than `after` is a host bug, which the engine reports as a [`HostError`] too.
    fn storage_next(&mut self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, HostError>;

    /// Records an event (kind and data already checked).
    ///
    /// # Errors
    /// [`HostError`] when the store fails.
    fn emit(&mut self, kind: &str, data: &str) -> Result<(), HostError>;

    /// A call to another contract; the host checks the callee, its access rules, re-entrancy and
    /// depth, runs it (through [`crate::Engine::run`] again, with this `fuel` and `depth`) and
    /// undoes its writes if it failed. Refusals are failures with the ABI's codes
    /// (`unknown_contract`, `unknown_method`, `contract_frozen`, `contract_retired`,
    /// `permission_denied`, `reentrancy`, `call_depth`).
    ///
    /// # Errors
    /// [`HostError`] when the store fails (fatal, as everywhere).
    fn call(
        &mut self,
        contract: &str,
        method: &str,
        args: &[u8],
        fuel: u64,
        depth: u32,
    ) -> Result<CallResult, HostError>;
}
