//! The call's environment: arguments, return data, failure, identities, block, events, hashes,
//! signatures and cross-contract calls.

use alloc::string::String;
use alloc::vec::Vec;

use crate::identity::Identity;
use crate::json::{self, ToJson};
use crate::sys;

/// The most of a failure message the host keeps (the ABI cuts beyond).
pub const MAX_FAIL_MESSAGE_BYTES: usize = 256;

/// The call's argument bytes (UTF-8 JSON; [`method!`](crate::method) reads them for you).
pub fn input() -> Vec<u8> {
    sys::input_bytes()
}

/// Sets the call's return data (JSON; the last call wins). [`method!`](crate::method) sets it
/// from the method's `Ok` value.
pub fn set_return(data: &[u8]) {
    sys::set_return_bytes(data)
}

/// Ends the call as failed with a code (`[a-z0-9_]{1,64}`) and a message: every storage write
/// and event of the call, and of the calls it made, is undone. Never returns.
///
/// The message is cut to at most 256 bytes, at a character boundary.
pub fn fail(code: &str, message: &str) -> ! {
    let mut end = message.len().min(MAX_FAIL_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    sys::fail_call(code.as_bytes(), message.as_bytes().get(..end).unwrap_or_default())
}

fn identity(bytes: Vec<u8>, what: &str) -> Identity {
    match Identity::decode(&bytes) {
        Some(id) => id,
        None => fail("abi", what),
    }
}

/// The immediate caller: the account that signed the transaction, or the contract that called
/// this one.
pub fn caller() -> Identity {
    identity(sys::caller_identity(), "the host's caller identity is malformed")
}

/// The account that signed the transaction (the same as [`caller`] unless a contract called).
pub fn signer() -> Identity {
    identity(sys::signer_identity(), "the host's signer identity is malformed")
}

/// This contract's own identity: its address, name, version, and (`org`) the institution that
/// owns it, the one of the account that deployed it.
pub fn this() -> Identity {
    identity(sys::contract_identity(), "the host's contract identity is malformed")
}

/// The height of the block being executed (for a query: the latest final height).
pub fn block_height() -> u64 {
    u64::try_from(sys::height()).unwrap_or(0)
}

/// The block's timestamp, in milliseconds since the Unix epoch.
pub fn block_time_ms() -> u64 {
    u64::try_from(sys::time_ms()).unwrap_or(0)
}

/// Emits an event: `kind` is `[a-z0-9_.]{1,64}`, `data` any JSON (an object, usually). Events of
/// a failed call are undone with it.
pub fn emit<T: ToJson + ?Sized>(kind: &str, data: &T) {
    let text = json::to_string(data);
    sys::emit_event(kind.as_bytes(), text.as_bytes())
}

/// The SM3 digest of the bytes.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    sys::sm3_digest(data)
}

/// The SHA-256 digest of the bytes.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sys::sha256_digest(data)
}

/// Whether the DER-encoded SM2 signature over `message` verifies under the 65-byte SEC1
/// uncompressed public key, with the distinguishing id `id` (`None`: the default
/// `1234567812345678`; an empty id is the default too). A malformed key or signature is `false`.
pub fn sm2_verify(public_key: &[u8], message: &[u8], signature_der: &[u8], id: Option<&[u8]>) -> bool {
    sys::sm2_check(public_key, message, signature_der, id.unwrap_or(&[]))
}

/// Whether the 64-byte Ed25519 signature over `message` verifies under the 32-byte key (the
/// chain's strict rule).
pub fn ed25519_verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    sys::ed25519_check(public_key, message, signature)
}

/// A failed cross-contract call: the callee's failure (its `fail` code and message, `trap`,
/// `out_of_fuel`, ...) or the call's own (`unknown_contract`, `unknown_method`,
/// `permission_denied`, `reentrancy`, `call_depth`, ...). The callee's writes are undone; the
/// caller goes on (and fails too, with `?` on [`Error`](crate::Error)).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallError {
    /// The failure code.
    pub code: String,
    /// The message.
    pub message: String,
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.code)?;
        f.write_str(": ")?;
        f.write_str(&self.message)
    }
}

/// Calls `method` of the contract named `contract` (its current version) with JSON arguments
/// (usually an object: a [`JsonObject`](crate::JsonObject), a [`json_object!`](crate::json_object)
/// struct or a [`Json`](crate::Json)). Returns the callee's return data (JSON, empty for none;
/// [`json::from_slice`] reads it).
///
/// In the callee, [`caller`] is this contract and [`signer`] is still the transaction's signer.
pub fn call<T: ToJson + ?Sized>(contract: &str, method: &str, args: &T) -> Result<Vec<u8>, CallError> {
    let args = json::to_string(args);
    sys::call_contract(contract.as_bytes(), method.as_bytes(), args.as_bytes()).map_err(|error| {
        let error = String::from_utf8_lossy(&error);
        match error.split_once('\n') {
            Some((code, message)) => CallError { code: code.into(), message: message.into() },
            None => CallError { code: error.into_owned(), message: String::new() },
        }
    })
}
