//! The contract SDK of FDL: the guest side of the contract ABI (`docs/contracts-abi.md`).
//!
//! A contract is a `#![no_std]` Rust crate of type `cdylib` compiled for
//! `wasm32-unknown-unknown`. It declares its methods with [`method!`]; each becomes a wasm export
//! of type `() -> ()` that reads its JSON arguments, runs the body and either sets the JSON return
//! data or fails with a typed error (which undoes every write and event of the call).
//!
//! ```
//! // In a contract's lib.rs: `#![no_std]` and `extern crate alloc;` first.
//! use fdl_contract::prelude::*;
//!
//! const COUNTS: Map<Address, u64> = Map::new(b"c/");
//!
//! fdl_contract::method! {
//!     /// Adds `by` to the caller's counter and returns the new value.
//!     pub fn bump(by: u64) -> Result<u64, Error> {
//!         ensure!(by > 0, "zero", "bump by at least 1");
//!         let me = caller().address;
//!         let n = COUNTS.get(&me).unwrap_or(0).checked_add(by)
//!             .ok_or_else(|| Error::new("overflow", "the counter would overflow"))?;
//!         COUNTS.set(&me, &n);
//!         emit("bumped", &Json::object().field("by", &me).field("value", &n));
//!         Ok(n)
//!     }
//! }
//!
//! // Natively, with the harness (`#[cfg(test)]` in the contract):
//! let env = fdl_contract::testing::TestEnv::new();
//! assert_eq!(env.call(bump, r#"{"by": 2}"#), Ok("2".into()));
//! assert_eq!(env.call(bump, r#"{"by": "3"}"#), Ok("5".into()));
//! assert_eq!(env.call(bump, r#"{"by": 0}"#), Err(("zero".into(), "bump by at least 1".into())));
//! assert_eq!(env.call(bump, r#"{"by": -1}"#).unwrap_err().0, "bad_args");
//! assert_eq!(env.events().len(), 2);
//! ```
//!
//! What the SDK provides:
//! - the call's data: [`input`], [`set_return`], [`fail`], [`caller`], [`signer`], [`this`],
//!   [`block_height`], [`block_time_ms`], [`emit`];
//! - storage: raw keys in [`storage`], typed [`Value`] and [`Map`] over the [`Codec`] encoding;
//! - an integer-only [`json`] (no floating point can reach the module): [`Json`], [`FromJson`],
//!   [`ToJson`], [`json_object!`] for structs;
//! - hashes and signature checks: [`sm3`], [`sha256`], [`sm2_verify`], [`ed25519_verify`];
//! - cross-contract calls: [`call()`];
//! - on `wasm32`, a bump allocator and a panic handler (a panic traps: the call fails);
//! - natively, `testing`: a harness that runs the methods with `cargo test`, no node needed.
//!
//! Numbers never cross as floating point: JSON numbers are integers (`i128`/`u128`), and integer
//! arguments also accept a decimal string (JavaScript cannot hold a `u128`).

#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

mod address;
mod codec;
mod env;
mod error;
mod identity;
pub mod json;
mod macros;
pub mod storage;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
#[cfg(target_arch = "wasm32")]
mod wasm_rt;

pub use address::{Address, Bytes};
pub use codec::{Codec, from_bytes, to_bytes};
pub use env::{
    CallError, block_height, block_time_ms, call, caller, ed25519_verify, emit, fail, input, set_return, sha256,
    signer, sm2_verify, sm3, this,
};
pub use error::{ContractError, Error};
pub use identity::Identity;
pub use json::{FromJson, Json, JsonError, JsonObject, ToJson};
pub use storage::{Map, Value};

/// What most contracts need, in one `use fdl_contract::prelude::*;`: the SDK's types and
/// functions, and `alloc`'s `String`, `Vec`, `Box`, `ToString`, `format!` and `vec!` (a
/// `no_std` crate does not have them in scope otherwise).
pub mod prelude {
    pub use crate::json::ObjectReader;
    pub use crate::{
        Address, Bytes, CallError, Codec, ContractError, Error, FromJson, Identity, Json, JsonError, JsonObject, Map,
        ToJson, Value, block_height, block_time_ms, call, caller, ed25519_verify, emit, ensure, fail, input,
        json_object, method, set_return, sha256, signer, sm2_verify, sm3, storage, this,
    };
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

/// Support for the macros' expansions; not part of the API (no stability promise).
#[doc(hidden)]
pub mod __private {
    pub use crate::macros::{Args, MethodReturn, valid_method_name};
    pub use alloc::string::String;
    pub use alloc::vec::Vec;
}
