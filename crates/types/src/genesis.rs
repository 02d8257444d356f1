//! Genesis: the chain's identity, suite, issuer, validators and parameters, as a JSON document.

use std::{collections::BTreeMap, path::Path};

use fdl_crypto::{Address, Hash, PublicKey, Suite, hash_tagged};

use crate::read_policy::ReadResource;
use serde::{Deserialize, Serialize};

/// Domain tag of the genesis document hash.
pub const GENESIS_TAG: &[u8] = b"FDL/GENESIS/v1";

/// Chain parameters fixed at genesis (governance will change them later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// Longest time between blocks when transactions are waiting, in milliseconds.
    pub block_interval_ms: u64,
    /// Most transactions in one block; a full batch is proposed without waiting for the interval.
    pub max_block_txs: u32,
    /// Largest encoded transaction accepted.
    pub max_tx_bytes: u32,
    /// Furthest a transaction's expiry height may lie beyond the height it is included at (a
    /// transaction included at height h may carry expiry h ..= h + window).
    pub max_expiry_window: u64,
    /// Longest time without a block when no transaction waits (a heartbeat), in milliseconds.
    pub empty_block_interval_ms: u64,
    /// Fewest validators the set may shrink to by governance (STD-11.3, STD-17.1).
    #[serde(default = "one")]
    #[schema(required = true)]
    pub min_validators: u32,
    /// A proposal passes when more than `gov_threshold_num / gov_threshold_den` of the committee's
    /// institutions approve it (default: more than 2/3).
    #[serde(default = "two")]
    #[schema(required = true)]
    pub gov_threshold_num: u32,
    /// See `gov_threshold_num`.
    #[serde(default = "three")]
    #[schema(required = true)]
    pub gov_threshold_den: u32,
    /// Blocks an account stays locked after a key reset before the new key may send (STD-13.3).
    #[serde(default = "hundred")]
    #[schema(required = true)]
    pub key_reset_lock_blocks: u64,
    /// Longest voting period a proposal may ask for, in blocks.
    #[serde(default = "voting_max")]
    #[schema(required = true)]
    pub max_voting_blocks: u64,
    /// Consensus propose timeout (round 0) for every node, in milliseconds; 0 leaves each node's
    /// `[p2p] propose_timeout_ms`.
    #[serde(default)]
    #[schema(required = true)]
    pub propose_timeout_ms: u64,
    /// Consensus prevote and precommit timeouts for every node, in milliseconds; 0 leaves each
    /// node's `[p2p] vote_timeout_ms`.
    #[serde(default)]
    #[schema(required = true)]
    pub vote_timeout_ms: u64,
    /// Largest contract module, in bytes (at most 61,440: a module travels in one transaction; ADR 0013).
    #[serde(default = "default_max_code_bytes")]
    #[schema(required = true)]
    pub max_code_bytes: u64,
    /// Most linear-memory pages (64 KiB each) a contract instance may have.
    #[serde(default = "default_max_memory_pages")]
    #[schema(required = true)]
    pub max_memory_pages: u64,
    /// Deepest chain of contract calls (a transaction's call is depth 1).
    #[serde(default = "default_max_call_depth")]
    #[schema(required = true)]
    pub max_call_depth: u64,
    /// Most fuel one contract call transaction may use (and its default fuel).
    #[serde(default = "default_max_tx_fuel")]
    #[schema(required = true)]
    pub max_tx_fuel: u64,
    /// Most fuel the contract calls of one block may use together.
    #[serde(default = "default_max_block_fuel")]
    #[schema(required = true)]
    pub max_block_fuel: u64,
    /// Largest return data of a contract call, in bytes.
    #[serde(default = "default_max_return_bytes")]
    #[schema(required = true)]
    pub max_return_bytes: u64,
    /// Most events one contract call (with the calls it makes) may emit.
    #[serde(default = "default_max_contract_events")]
    #[schema(required = true)]
    pub max_contract_events: u64,
    /// Largest data of one contract event, in bytes (at most 1,024).
    #[serde(default = "default_max_event_bytes")]
    #[schema(required = true)]
    pub max_event_bytes: u64,
    /// Longest contract storage key, in bytes.
    #[serde(default = "default_max_key_bytes")]
    #[schema(required = true)]
    pub max_key_bytes: u64,
    /// Largest contract storage value, in bytes.
    #[serde(default = "default_max_value_bytes")]
    #[schema(required = true)]
    pub max_value_bytes: u64,
    /// Who deploys contracts: 0, the committee by vote only; 1, also an institution's administrator, directly, into its own namespace (`{org}.{name}`).
    #[serde(default = "default_contract_deploy_policy")]
    #[schema(required = true)]
    pub contract_deploy_policy: u64,
    /// Most gas one EVM call transaction may use (and its default gas).
    #[serde(default = "default_max_tx_gas")]
    #[schema(required = true)]
    pub max_tx_gas: u64,
    /// Most gas the EVM calls of one block may use together.
    #[serde(default = "default_max_block_gas")]
    #[schema(required = true)]
    pub max_block_gas: u64,
    /// EVM opcodes a deployed contract may not contain, as a bit set: 1 SELFDESTRUCT, 2 CREATE, 4 CREATE2, 8 CALLCODE, 16 DELEGATECALL (`docs/contracts-evm.md`).
    #[serde(default = "default_evm_denied_opcodes")]
    #[schema(required = true)]
    pub evm_denied_opcodes: u64,
}

fn default_max_code_bytes() -> u64 {
    61440
}

fn default_max_memory_pages() -> u64 {
    32
}

fn default_max_call_depth() -> u64 {
    8
}

fn default_max_tx_fuel() -> u64 {
    10000000
}

fn default_max_block_fuel() -> u64 {
    1000000000
}

fn default_max_return_bytes() -> u64 {
    16384
}

fn default_max_contract_events() -> u64 {
    32
}

fn default_max_event_bytes() -> u64 {
    1024
}

fn default_max_key_bytes() -> u64 {
    256
}

fn default_max_value_bytes() -> u64 {
    16384
}

fn default_contract_deploy_policy() -> u64 {
    0
}

fn default_max_tx_gas() -> u64 {
    30_000_000
}

fn default_max_block_gas() -> u64 {
    1_000_000_000
}

fn default_evm_denied_opcodes() -> u64 {
    0b01111
}

fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn hundred() -> u64 {
    100
}
fn voting_max() -> u64 {
    1_000_000
}
fn yes() -> bool {
    true
}

impl ChainParams {
    /// Checks the contract limits against their hard bounds (the codec's and the engine's).
    ///
    /// # Errors
    /// A sentence naming the first limit out of range.
    pub fn check_contract_limits(&self) -> Result<(), String> {
        let within = |name: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) { Ok(()) } else { Err(format!("{name} must be {lo}..={hi}, not {v}")) }
        };
        within("max_code_bytes", self.max_code_bytes, 1_024, crate::contract::MAX_CODE_LEN as u64)?;
        within("max_memory_pages", self.max_memory_pages, 1, 1_024)?;
        within("max_call_depth", self.max_call_depth, 1, 64)?;
        within("max_block_fuel", self.max_block_fuel, 1, 1 << 50)?;
        within("max_tx_fuel", self.max_tx_fuel, 1, self.max_block_fuel)?;
        within("max_return_bytes", self.max_return_bytes, 0, crate::receipt::MAX_OUTPUT as u64)?;
        within("max_contract_events", self.max_contract_events, 0, crate::receipt::MAX_EVENTS as u64 - 1)?;
        within("max_event_bytes", self.max_event_bytes, 16, crate::receipt::MAX_EVENT_FIELD as u64)?;
        within("max_key_bytes", self.max_key_bytes, 1, 1_024)?;
        within("max_value_bytes", self.max_value_bytes, 0, 1 << 20)?;
        within("contract_deploy_policy", self.contract_deploy_policy, 0, 1)?;
        within("max_block_gas", self.max_block_gas, 21_000, 1 << 50)?;
        within("max_tx_gas", self.max_tx_gas, 21_000, self.max_block_gas)?;
        within("evm_denied_opcodes", self.evm_denied_opcodes, 0, 0b11111)
    }
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            block_interval_ms: 200,
            max_block_txs: 5_000,
            max_tx_bytes: 2_048,
            max_expiry_window: 100_000,
            empty_block_interval_ms: 1_000,
            min_validators: one(),
            gov_threshold_num: two(),
            gov_threshold_den: three(),
            key_reset_lock_blocks: hundred(),
            max_voting_blocks: voting_max(),
            propose_timeout_ms: 0,
            vote_timeout_ms: 0,
            max_code_bytes: default_max_code_bytes(),
            max_memory_pages: default_max_memory_pages(),
            max_call_depth: default_max_call_depth(),
            max_tx_fuel: default_max_tx_fuel(),
            max_block_fuel: default_max_block_fuel(),
            max_return_bytes: default_max_return_bytes(),
            max_contract_events: default_max_contract_events(),
            max_event_bytes: default_max_event_bytes(),
            max_key_bytes: default_max_key_bytes(),
            max_value_bytes: default_max_value_bytes(),
            contract_deploy_policy: default_contract_deploy_policy(),
            max_tx_gas: default_max_tx_gas(),
            max_block_gas: default_max_block_gas(),
            evm_denied_opcodes: default_evm_denied_opcodes(),
        }
    }
}

/// Most voting power one validator may hold.
pub const MAX_VALIDATOR_POWER: u64 = 1_000_000;

/// Longest institution name.
pub const MAX_MEMBER_NAME: usize = 64;

/// Largest block body a genesis may allow (`max_block_txs` x `max_tx_bytes`): it must travel in
/// one consensus proposal and one sync response.
pub const MAX_BLOCK_BYTES: u64 = 12 * 1024 * 1024;

/// A validator listed in genesis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Human name (the institution's node name).
    pub name: String,
    /// Public key, canonical bytes in hex.
    pub public_key: String,
    /// Voting power.
    pub power: u64,
    /// The member institution running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The node's network (libp2p) peer id: only listed peers may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    /// The node's certificate (PEM), issued by its institution's CA with the role `validator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// A member institution: its name and root CA certificate (STD-13.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisMember {
    /// The institution's name (its certificates' `O`).
    pub name: String,
    /// Its root CA certificate, PEM.
    pub ca_cert: String,
    /// Whether it holds a seat on the governance committee (STD-17.1); default yes.
    #[serde(default = "yes")]
    pub committee: bool,
}

/// An observer listed in genesis: a full node that verifies and stores every block but does not vote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisObserver {
    /// Human name.
    pub name: String,
    /// The member institution running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Its identity key, canonical bytes in hex.
    pub public_key: String,
    /// The node's network (libp2p) peer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    /// The node's certificate (PEM), issued by its institution's CA with the role `observer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id every transaction must carry.
    pub chain_id: String,
    /// The crypto suite.
    pub suite: Suite,
    /// Genesis time in milliseconds since the Unix epoch.
    pub genesis_time_ms: u64,
    /// The account allowed to issue and burn digital cash.
    pub issuer: Address,
    /// The member institutions and their CAs. When present, every validator and observer must
    /// hold a certificate from its institution's CA (checked by the node at start).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<GenesisMember>,
    /// The member institution acting as regulator (STD-15): its `regulator` certificates may
    /// propose interventions. It need not hold a committee seat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulator: Option<String>,
    /// The validators.
    pub validators: Vec<GenesisValidator>,
    /// The observers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observers: Vec<GenesisObserver>,
    /// Initial balances.
    #[serde(default)]
    pub balances: Vec<(Address, u128)>,
    /// Parameters.
    pub params: ChainParams,
    /// The API read policy (STD-16.1): per resource, the principals that may read it. A
    /// resource not listed takes [`Genesis::read_rule`]'s default: the strict policy
    /// ([`ReadResource::strict_default`]) on a chain with members, `public` on an open test
    /// chain without members. So a genesis file written before this field existed starts a
    /// chain with the strict policy (it fails closed), and its hash is unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub read_policy: BTreeMap<ReadResource, Vec<String>>,
}

/// Why a genesis document is unusable.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// The file could not be read.
    #[error("cannot read genesis {path}: {source}")]
    Io {
        /// File path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The JSON is malformed.
    #[error("malformed genesis: {0}")]
    Json(#[from] serde_json::Error),
    /// The content is inconsistent.
    #[error("invalid genesis: {0}")]
    Invalid(String),
}

impl Genesis {
    /// The genesis hash: `H("FDL/GENESIS/v1", JSON)` under the chain's suite, the JSON being the
    /// document as this type serializes it (so a file's layout and whitespace do not matter). A
    /// node's data directory is bound to it, and a light client anchors its trust in it.
    pub fn hash(&self) -> Hash {
        // A struct of strings, integers and vectors always serializes.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hash_tagged(self.suite, GENESIS_TAG, &bytes)
    }

    /// Reads and validates a genesis file.
    ///
    /// # Errors
    /// [`GenesisError`] when the file cannot be read, parsed or is inconsistent.
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| GenesisError::Io { path: path.display().to_string(), source })?;
        let g: Genesis = serde_json::from_str(&text)?;
        g.validate()?;
        Ok(g)
    }

    /// Checks the document is usable: a chain id within bounds, at least one validator with a key
    /// of the chain's suite, sane parameters.
    ///
    /// # Errors
    /// [`GenesisError::Invalid`] naming the problem.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let bad = |m: String| Err(GenesisError::Invalid(m));
        if self.chain_id.is_empty() || self.chain_id.len() > crate::tx::MAX_CHAIN_ID_LEN {
            return bad(format!("chain_id must be 1..={} bytes", crate::tx::MAX_CHAIN_ID_LEN));
        }
        if self.validators.is_empty() {
            return bad("no validators".into());
        }
        let mut keys = Vec::new();
        let mut peers = Vec::new();
        for v in &self.validators {
            keys.push(self.validator_key(v)?.to_bytes());
            if v.power == 0 || v.power > MAX_VALIDATOR_POWER {
                return bad(format!("validator {} has power {}, not 1..={MAX_VALIDATOR_POWER}", v.name, v.power));
            }
            peers.extend(v.peer_id.clone());
        }
        for o in &self.observers {
            let k = hex::decode(&o.public_key)
                .map_err(|e| GenesisError::Invalid(format!("observer {} key hex: {e}", o.name)))?;
            PublicKey::from_bytes(self.suite, &k)
                .map_err(|e| GenesisError::Invalid(format!("observer {} key: {e}", o.name)))?;
            keys.push(k);
            peers.extend(o.peer_id.clone());
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].contains(k) {
                return bad("a node key appears twice among validators and observers".into());
            }
        }
        for (i, p) in peers.iter().enumerate() {
            if peers[..i].contains(p) {
                return bad(format!("peer id {p} appears twice"));
            }
        }
        for (i, (a, _)) in self.balances.iter().enumerate() {
            if self.balances[..i].iter().any(|(b, _)| b == a) {
                return bad(format!("address {a} appears twice in balances"));
            }
        }
        let p = &self.params;
        if p.gov_threshold_den == 0 || p.gov_threshold_num == 0 || p.gov_threshold_num >= p.gov_threshold_den {
            return bad("gov_threshold_num / gov_threshold_den must be a fraction below 1".into());
        }
        if p.min_validators == 0 || p.min_validators as usize > self.validators.len() {
            return bad(format!("min_validators must be 1..={}", self.validators.len()));
        }
        for (i, m) in self.members.iter().enumerate() {
            if m.name.is_empty() || m.name.len() > MAX_MEMBER_NAME {
                return bad(format!("member name {:?} must be 1..={MAX_MEMBER_NAME} bytes", m.name));
            }
            if self.members[..i].iter().any(|o| o.name == m.name) {
                return bad(format!("member {} appears twice", m.name));
            }
        }
        if let Some(r) = &self.regulator
            && !self.members.iter().any(|m| &m.name == r)
        {
            return bad(format!("the regulator {r} is not a member"));
        }
        let timeout_ok = |t: u64| t == 0 || (100..=60_000).contains(&t);
        if !timeout_ok(p.propose_timeout_ms) || !timeout_ok(p.vote_timeout_ms) {
            return bad("consensus timeouts must be 0 (each node's own) or 100..=60000 ms".into());
        }
        if p.max_voting_blocks == 0 || p.max_voting_blocks > 100_000_000 || p.max_expiry_window == 0 {
            return bad("max_expiry_window must be positive and max_voting_blocks 1..=100000000".into());
        }
        if p.block_interval_ms == 0 || p.max_block_txs == 0 || p.max_block_txs as usize > crate::block::MAX_BLOCK_TXS {
            return bad("block_interval_ms and max_block_txs must be positive and bounded".into());
        }
        if p.max_tx_bytes < 128 || p.max_tx_bytes as usize > crate::block::MAX_TX_BYTES_HARD {
            return bad("max_tx_bytes out of range".into());
        }
        // A whole block must fit one consensus message and one sync response.
        if u64::from(p.max_block_txs).saturating_mul(u64::from(p.max_tx_bytes)) > MAX_BLOCK_BYTES {
            return bad(format!("max_block_txs x max_tx_bytes exceeds {MAX_BLOCK_BYTES} bytes"));
        }
        p.check_contract_limits().map_err(GenesisError::Invalid)?;
        for (resource, allow) in &self.read_policy {
            crate::read_policy::check_allow(*resource, allow)
                .map_err(|e| GenesisError::Invalid(format!("read_policy: {e}")))?;
        }
        Ok(())
    }

    /// The read rule genesis writes for `resource`: its entry in [`Genesis::read_policy`], else
    /// `public` on a chain without members (nobody could prove membership), else the strict
    /// default.
    pub fn read_rule(&self, resource: ReadResource) -> Vec<String> {
        if let Some(allow) = self.read_policy.get(&resource) {
            return allow.clone();
        }
        if self.members.is_empty() {
            return vec![crate::read_policy::PUBLIC.to_string()];
        }
        resource.strict_default().iter().map(|s| s.to_string()).collect()
    }

    /// The validator's parsed public key.
    ///
    /// # Errors
    /// [`GenesisError::Invalid`] if the hex or the key is bad.
    pub fn validator_key(&self, v: &GenesisValidator) -> Result<PublicKey, GenesisError> {
        let bytes = hex::decode(&v.public_key)
            .map_err(|e| GenesisError::Invalid(format!("validator {} key hex: {e}", v.name)))?;
        PublicKey::from_bytes(self.suite, &bytes)
            .map_err(|e| GenesisError::Invalid(format!("validator {} key: {e}", v.name)))
    }
}

#[cfg(test)]
mod tests {
    use fdl_crypto::{KeyPair, Signer, Suite};

    use super::*;

    #[test]
    fn duplicate_initial_balances_are_refused() {
        let v = KeyPair::generate(Suite::Sm);
        let a = Address([1; 20]);
        let mut g = Genesis {
            read_policy: Default::default(),
            chain_id: "c".into(),
            suite: Suite::Sm,
            genesis_time_ms: 0,
            issuer: a,
            validators: vec![GenesisValidator {
                name: "v".into(),
                public_key: hex::encode(v.public_key().to_bytes()),
                power: 1,
                ..Default::default()
            }],
            members: vec![],
            regulator: None,
            observers: vec![],
            balances: vec![(a, 10), (Address([2; 20]), 5)],
            params: ChainParams::default(),
        };
        assert!(g.validate().is_ok());
        g.balances.push((a, 20));
        assert!(matches!(g.validate(), Err(GenesisError::Invalid(m)) if m.contains("twice")));
    }
}
