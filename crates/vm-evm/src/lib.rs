//! FDL's engine for Solidity contracts: the EVM on `revm`, without ether, fees or free creation.
//!
//! The executor (another crate) governs contracts by name and version and maps names to 20-byte
//! addresses; this crate knows only addresses, and reaches chain state through a [`Host`].
//!
//! * [`Engine::check_runtime`]: the static check of runtime code at deploy (size, denied opcodes).
//! * [`Engine::create`]: runs creation code as the contract at the executor-assigned address
//!   `run.this`, answering the runtime code.
//! * [`Engine::call`]: runs a call; nested calls are checked by [`Host::check_call`] before they
//!   run; CREATE/CREATE2 inside a run always fail.
//!
//! Balances are zero, gas price and base fee are zero: gas is only a limit. Precompiles: Ethereum's
//! standard set for [`SOLC_EVM_VERSION`] plus FDL's ([`precompile`]). Every contract failure is an
//! [`Outcome`] with a [`Failure`]; only a [`HostError`] is an `Err`.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

pub mod abi;
mod check;
mod db;
mod engine;
mod inspector;
pub mod precompile;
pub mod solc;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod types;

pub use check::{
    CheckError, CodeInfo, DEFAULT_DENIED_OPCODES, DENIED_OPCODE_LIST, DENY_CALLCODE, DENY_CREATE, DENY_CREATE2,
    DENY_DELEGATECALL, DENY_SELFDESTRUCT, EIP170_MAX_CODE_BYTES,
};
pub use engine::{Engine, SPEC};
pub use types::{
    Address20, Block, CacheStats, ContractCode, Failure, Host, HostError, Limits, Log, Member, Outcome, Refusal,
    RefusedCall, Run, Word, keccak256,
};

/// The EVM version the engine runs, as solc names it: compile with `--evm-version prague`.
pub const SOLC_EVM_VERSION: &str = "prague";
