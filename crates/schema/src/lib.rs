//! FDL's state schema: every key of the authenticated state, the type of the value stored under
//! it, and that value's canonical binary encoding, in one place.
//!
//! State bytes feed the state root, so their encoding is part of the chain's consensus: it is
//! written here by hand with the project's codec ([`fdl_types::codec`]), never by a
//! general-purpose serializer whose output could drift with a dependency's version. A key is a
//! [`Slot`], which knows the type of its value: `keys::params().read(view)` returns
//! [`ChainParams`](fdl_types::ChainParams), and writing anything else does not compile.
//!
//! The crate is small on purpose: the API server and the client SDK read state through it
//! without linking the execution engine. The key space is listed in [`keys`]; how to add a key
//! is in `docs/architecture.md`.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

pub mod account;
pub mod contract;
pub mod keys;
pub mod read;
pub mod records;
mod value;
pub mod write;

use std::marker::PhantomData;

use thiserror::Error;

pub use account::{Account, decode_account, encode_account};
pub use contract::{ContractRecord, ContractStatus, VersionRecord, evm_method, evm_method_name};
pub use fdl_types::AccountKind;
pub use records::{
    AclRule, CertRecord, MemberRecord, OpenLink, Proposal, ProposalState, ProposalStatus, RevocationRecord,
    RevocationRef,
};
pub use value::{Marker, Value};

/// The native methods, each with an access rule under [`keys::acl`].
pub const METHODS: [&str; 8] = [
    "bank.transfer",
    "bank.issue",
    "bank.burn",
    "gov.propose",
    "gov.vote",
    "pki.publish_crl",
    "contract.call",
    "contract.deploy",
];

/// Failures reading state. Either means the node cannot go on safely: the store failed, or a
/// stored value does not decode (a corrupt database or a schema mismatch).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SchemaError {
    /// Reading state failed.
    #[error("state read failed: {0}")]
    State(String),
    /// A stored value did not decode.
    #[error("corrupt state value at {key}: {reason}")]
    Corrupt {
        /// The key, printable (hex where it is not text).
        key: String,
        /// Why.
        reason: String,
    },
}

impl SchemaError {
    /// A corrupt value at `key`.
    pub fn corrupt(key: &[u8], reason: impl ToString) -> Self {
        SchemaError::Corrupt { key: printable_key(key), reason: reason.to_string() }
    }
}

/// A key as text when it is printable ASCII, else hex.
pub fn printable_key(key: &[u8]) -> String {
    if key.iter().all(|b| b.is_ascii_graphic()) {
        String::from_utf8_lossy(key).into_owned()
    } else {
        key.iter().map(|x| format!("{x:02x}")).collect()
    }
}

/// Read access to one version of the state (the parent of the block being executed, the tip
/// for the API, or a block's writes layered over its parent).
pub trait StateView {
    /// The value of `key`, or `None` if absent.
    ///
    /// # Errors
    /// [`SchemaError::State`] when the underlying store fails.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SchemaError>;

    /// The smallest key that starts with `prefix` and is greater than `after` (bytewise; with
    /// `None`, the smallest key with the prefix). Only keys under
    /// [`keys::CONTRACT_STORAGE`] can be iterated (ADR 0013); a view without an index answers
    /// an error.
    ///
    /// # Errors
    /// [`SchemaError::State`] when the store fails or the view cannot iterate.
    fn next_key(&self, prefix: &[u8], after: Option<&[u8]>) -> Result<Option<Vec<u8>>, SchemaError> {
        let _ = (prefix, after);
        Err(SchemaError::State("this state view cannot iterate keys".into()))
    }
}

/// A state view that also records writes (execution's overlay, genesis).
pub trait StateWrite: StateView {
    /// Records `value` under `key`.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// Records the deletion of `key`.
    fn delete(&mut self, key: Vec<u8>);
}

/// A state key together with the type of the value stored under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<T> {
    key: Vec<u8>,
    value: PhantomData<fn() -> T>,
}

impl<T: Value> Slot<T> {
    /// A slot at `key`; only [`keys`] makes them, so the key space stays in one file.
    pub(crate) fn new(key: Vec<u8>) -> Self {
        Slot { key, value: PhantomData }
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The key bytes, owned.
    pub fn into_key(self) -> Vec<u8> {
        self.key
    }

    /// The value, or `None` when absent.
    ///
    /// # Errors
    /// Store failure, or [`SchemaError::Corrupt`] when the stored bytes do not decode.
    pub fn read(&self, view: &dyn StateView) -> Result<Option<T>, SchemaError> {
        match view.get(&self.key)? {
            None => Ok(None),
            Some(b) => self.decode(&b).map(Some),
        }
    }

    /// The value; absence is corruption (for keys genesis always writes).
    ///
    /// # Errors
    /// Store failure, or [`SchemaError::Corrupt`] when absent or malformed.
    pub fn require(&self, view: &dyn StateView) -> Result<T, SchemaError> {
        self.read(view)?.ok_or_else(|| SchemaError::corrupt(&self.key, "missing"))
    }

    /// Decodes bytes read from this slot.
    ///
    /// # Errors
    /// [`SchemaError::Corrupt`] when they are malformed.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, SchemaError> {
        T::decode_value(bytes).map_err(|e| SchemaError::corrupt(&self.key, e))
    }

    /// Records `value` in this slot.
    pub fn write(&self, w: &mut dyn StateWrite, value: &T) {
        w.put(self.key.clone(), value.encode_value());
    }

    /// The key and encoded value, for a batch of writes.
    pub fn entry(self, value: &T) -> (Vec<u8>, Vec<u8>) {
        let v = value.encode_value();
        (self.key, v)
    }

    /// Records the deletion of this slot.
    pub fn delete(&self, w: &mut dyn StateWrite) {
        w.delete(self.key.clone());
    }
}
