//! FDL's data types and their one canonical binary encoding.
//!
//! Everything that is hashed or signed — transactions, block headers, receipts — is encoded by
//! [`codec`], a small length-prefixed big-endian format with explicit bounds on every length, so a
//! decoder never allocates more than the input justifies. Byte fixtures in the tests fail when the
//! format changes.

// Every normal dependency is used (dev-dependencies are checked by their test targets' use).
#![cfg_attr(not(test), deny(unused_crate_dependencies))]

pub mod api;
pub mod block;
pub mod chain_param;
pub mod codec;
pub mod contract;
pub mod genesis;
pub mod gov;
pub mod merkle;
pub mod read_policy;
pub mod receipt;
pub mod role;
pub mod schema;
pub mod tx;

pub use block::{Block, BlockHeader, Commit, CommitSig};
pub use chain_param::ChainParam;
pub use codec::{Decode, DecodeError, Encode, Reader};
pub use contract::{DeploySpec, MethodRule, Review, UpgradeSpec, VmKind};
pub use genesis::{ChainParams, Genesis, GenesisMember, GenesisObserver, GenesisValidator};
pub use gov::{AccountKind, GovAction, NodeRole, NodeSpec};
pub use read_policy::ReadResource;
pub use receipt::{Event, Receipt, StatusCode};
pub use role::Role;
pub use tx::{Credential, Payload, SignedTx, TxBody, TxError, cert_hash};
