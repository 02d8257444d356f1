//! FDL's smart-contract engine: WebAssembly contracts run on the `wasmi` interpreter (STD-12.2:
//! isolated, deterministic, bounded execution).
//!
//! This crate is the **host side of the contract ABI**, `docs/contracts-abi.md` (version 1), which
//! is normative: the imports of module `fdl`, the result buffer, the identity encoding and the fuel
//! costs are implemented here as that file states them, with the points it left open settled in
//! its "Clarifications" section. Floating point is refused (ADR 0012).
//!
//! # Use
//!
//! * [`Engine::check`] runs the static checks of a module, the ones `fdl contract check` and every
//!   node at deploy apply: it must validate without floating point, import only the ABI's
//!   functions with their exact signatures, have no start function, export its memory and only
//!   `() -> ()` methods, and fit the code-size, memory and table bounds. It gives the module's
//!   [`ModuleInfo`] or a typed [`CheckError`] with a stable [`CheckError::code`].
//! * [`Engine::run`] runs one call (a method, or the `init`/`migrate` entry, see [`Entry`]) of a
//!   deployed module, described by a [`Run`], against a [`Host`]: the executor's view of the
//!   running contract's storage and events, and of the other contracts. A nested call goes back
//!   through the host, which runs the callee with [`Engine::run`] again at depth + 1.
//!
//! Every failure of a call (the contract's own `fail`, a trap, running out of fuel, a limit) is a
//! [`Failure`] in the [`CallResult`], with the fuel used; only a [`HostError`] (the store itself
//! failed) is an `Err`, which aborts the whole block. Undoing the storage writes and events of a
//! failed call is the host's job (the executor journals them): the engine reports the outcome and
//! the fuel precisely, and makes no host call after a limit was exceeded.
//!
//! Modules are compiled once and kept in a bounded cache by code hash ([`Engine::cache_stats`]),
//! so a call does not re-parse its module. The engine is `Send + Sync`: one per node, shared.
//!
//! # Guarantees
//!
//! * No panic on any input: a hostile module or hostile arguments end as a [`CheckError`] or a
//!   [`Failure`]. Memory and tables are bounded at instantiation and on growth, recursion by the
//!   interpreter's own stacks (never the node's), execution by fuel.
//! * Determinism: the same [`Run`] against the same host state gives the same outcome, return
//!   bytes, fuel and sequence of host calls on every node, whether its module was cached or not.
//!   The wasmi configuration this rests on is in `engine.rs`, with the reason for each setting.

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
