//! FDL's smart-contract engine: WebAssembly contracts run on the `wasmi` interpreter (STD-12.2:
//! isolated, deterministic, limited execution).
//!
//! This crate is the **host side of the contract ABI**, `docs/contracts-abi.md` (version 1), which
//! is normative: the imports of module `fdl`, the result buffer, the identity encoding and the fuel
//! costs are implemented here exactly as that file states them, with the points it leaves open
//! settled in its "Clarifications" section.
//!
//! * [`Engine::check`] runs the static checks of a module (the ones `fdl contract check` and every
//!   node apply at deploy): it must validate without floating point (ADR 0012), import only the
//!   ABI's functions with their exact signatures, have no start function, export its memory and
//!   only `() -> ()` methods, and fit the code-size and memory [`Limits`].
//! * [`Engine::run`] runs one method (or the `init`/`migrate` entry) of a deployed module against a
//!   [`Host`], the executor's view of the contract's storage, events and other contracts. Modules
//!   are compiled once and kept in a bounded cache by code hash, so a call does not re-parse.
//!   Every failure of the contract (its own `fail`, a trap, running out of fuel, a limit) is a
//!   [`Failure`] in the [`CallResult`]; only a [`HostError`] (the store itself failing) is an
//!   `Err`, which aborts the whole block.
//!
//! The engine never panics on any input: a hostile module or hostile arguments end as a typed
//! [`CheckError`] or [`Failure`]. Undoing the storage writes and events of a failed call is the
//! host's job (the executor journals them); the engine reports the outcome and the fuel used
//! precisely, and makes no host call after a limit was exceeded.
//!
//! Determinism: the same [`Run`] against the same host state gives the same outcome, the same
//! return bytes, the same fuel and the same sequence of host calls, on every node. The wasmi
//! configuration that this rests on (no floats, eager compilation, fixed stack bounds) is in
//! `engine.rs`, with the reason for each setting.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

mod check;
mod engine;
mod host;
mod identity;
mod imports;
mod limits;

pub use check::{CheckError, ModuleInfo};
pub use engine::{CacheStats, DEFAULT_CACHE_CAPACITY, Engine, Entry, Run};
pub use host::{CallResult, Failure, FailureCode, Host, HostError};
pub use identity::Identity;
pub use imports::fuel;
pub use limits::{
    Limits, MAX_EVENT_KIND_BYTES, MAX_EXPORT_NAME_BYTES, MAX_FAILURE_CODE_BYTES, MAX_FAILURE_MESSAGE_BYTES,
    MAX_RECURSION_DEPTH, MAX_TABLE_ELEMENTS, MAX_TABLES, MAX_VALUE_STACK_BYTES, SM2_DEFAULT_ID,
};
