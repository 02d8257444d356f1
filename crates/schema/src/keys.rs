//! The key space of the authenticated state: every key FDL writes, and the type stored there.
//!
//! | key | value | written by |
//! |---|---|---|
//! | `acct/{address: 20 bytes}` | [`Account`] | bank, identity, governance |
//! | `bank/issuer` | [`Address`] | genesis |
//! | `bank/supply` | `u128` | bank |
//! | `sys/height`, `sys/time_ms` | `u64` | every block |
//! | `sys/suite` | [`Suite`] | genesis |
//! | `sys/chain_id` | the chain id (text) | genesis |
//! | `sys/params` | [`ChainParams`] | genesis, `set_param` |
//! | `sys/nodes` | list of [`NodeSpec`] | genesis, node actions |
//! | `gov/next` | `u64` | `gov.propose` |
//! | `gov/open/{id: u64 BE}` | [`OpenLink`] (id 0: the head) | `gov.propose`, a proposal's close |
//! | `gov/activate/{h: u64 BE}` | `u64`: how many passed proposals activate at `h` | a pass |
//! | `gov/activate/{h: u64 BE}/{n: u64 BE}` | `u64`: the `n`-th of them | as `gov/activate/{h}` |
//! | `gov/expire/{h: u64 BE}` | `u64`: how many open proposals have deadline `h` | `gov.propose` |
//! | `gov/expire/{h: u64 BE}/{n: u64 BE}` | `u64`: the `n`-th of them | as `gov/expire/{h}` |
//! | `gov/retally` | [`Marker`] | governance (seats or threshold changed) |
//! | `gov/proposal/{id: u64 BE}` | [`Proposal`] | governance |
//! | `acl/{method}` | [`AclRule`] | genesis, `set_acl` |
//! | `readpol/{resource}` | list of principals (`Vec<String>`) who may read an API resource | genesis, `set_read_policy` |
//! | `pki/members` | list of names | genesis, member actions |
//! | `pki/member/{name}` | [`MemberRecord`] | genesis, member actions |
//! | `pki/ca/{name}` | CA certificate DER | genesis, member actions |
//! | `pki/cert/{hash}` | [`CertRecord`] | first use of a certificate, key reset |
//! | `pki/certder/{hash}` | certificate DER | as `pki/cert/` |
//! | `pki/revoked/{org}/{serial}` | [`RevocationRecord`] | CRL, `revoke_cert` |
//! | `pki/revocations` | `u64`: how many revocations were recorded | as `pki/revoked/` |
//! | `pki/revocations/{n: u64 BE}` | [`RevocationRef`]: the `n`-th (from 0) | as `pki/revoked/` |
//! | `pki/regulator` | institution name | genesis |
//! | `pki/epoch` | `u64` | any identity change |
//! | `ctr/{name}` | [`ContractRecord`] | contract deploy, upgrade, freeze, retire, access |
//! | `ctr/{name}/{version: u32 BE}` | [`VersionRecord`] | contract deploy and upgrade |
//! | `code/{hash}` | module bytes (`Vec<u8>`) | contract deploy and upgrade |
//! | `cs/{name}/{key}` | a contract's storage value (raw bytes; an EVM contract's slots are 32-byte keys and 32-byte values) | the contract (host API, EVM storage) |
//! | `abi/{name}/{version: u32 BE}` | an EVM contract version's ABI (JSON text) | contract deploy and upgrade |
//! | `cta/{address: 20 bytes}` | the name of the contract at that address | contract deploy |
//!
//! Every prefix is listed in [`NAMESPACES`]; a new module takes a new prefix, and a test checks
//! that no prefix is a prefix of another.
//!
//! No value holds a list that grows with the chain's history (ADR 0009): a list that grows is one
//! key per entry, so that adding or removing an entry writes a fixed number of keys. The tree
//! hashes its keys, so it cannot scan a prefix; each such list is either a log (a count and the
//! entries `0..count`: `pki/revocations`, the per-height queues `gov/activate/{h}` and
//! `gov/expire/{h}`) or a linked list through its entries (`gov/open`), read entry by entry
//! with point lookups. `pki/members` and `sys/nodes` stay one value each: they hold the current
//! institutions and nodes, which governance adds and removes one vote at a time.

use fdl_crypto::{Address, Hash, Suite};
use fdl_types::{ChainParams, NodeSpec, ReadResource};

use crate::{
    Slot,
    account::Account,
    contract::{ContractRecord, VersionRecord},
    records::{AclRule, CertRecord, MemberRecord, OpenLink, Proposal, RevocationRecord, RevocationRef},
    value::Marker,
};

/// Every key prefix in use. A module adding keys adds its prefix here.
pub const NAMESPACES: [&[u8]; 11] = [
    b"acct/",
    b"bank/",
    b"sys/",
    b"gov/",
    b"acl/",
    b"ctr/",
    b"code/",
    CONTRACT_STORAGE,
    b"abi/",
    b"cta/",
    READ_POLICY_NAMESPACE,
];
/// The API read policy's prefix: `readpol/{resource}` (STD-16.1).
pub const READ_POLICY_NAMESPACE: &[u8] = b"readpol/";
/// The prefixes whose keys the node also keeps in order beside the tree (ADR 0013): contract
/// storage (a contract iterates its keys) and the contract registry (the API lists contracts).
pub const ORDERED_PREFIXES: [&[u8]; 2] = [CONTRACT_STORAGE, b"ctr/"];
/// The prefix of every contract's storage: `cs/{name}/{key}`. Keys under it are also kept in an
/// ordered index beside the tree (ADR 0013), so a contract can iterate its keys in order.
pub const CONTRACT_STORAGE: &[u8] = b"cs/";
/// The identity module's prefix (listed apart: its keys nest one level deeper).
pub const PKI_NAMESPACE: &[u8] = b"pki/";

/// Key of the issuer's address.
pub const ISSUER_KEY: &[u8] = b"bank/issuer";
/// Key of the total supply.
pub const SUPPLY_KEY: &[u8] = b"bank/supply";
/// Key of the latest block height, written every block so each height has a root.
pub const SYS_HEIGHT_KEY: &[u8] = b"sys/height";
/// Key of the latest block time (Unix milliseconds).
pub const SYS_TIME_KEY: &[u8] = b"sys/time_ms";
/// Key of the chain's suite, so that state alone tells how to hash certificates.
pub const SUITE_KEY: &[u8] = b"sys/suite";
/// Key of the chain parameters.
pub const PARAMS_KEY: &[u8] = b"sys/params";
/// Key of the node set.
pub const NODES_KEY: &[u8] = b"sys/nodes";
/// Key of the next proposal number.
pub const NEXT_PROPOSAL_KEY: &[u8] = b"gov/next";
/// Key of the head of the set of open proposals ([`open_link`] of id 0).
pub const OPEN_HEAD_KEY: &[u8] = b"gov/open/\0\0\0\0\0\0\0\0";
/// Present when the committee or the threshold changed in a block: the block's end re-tallies
/// every open proposal against the new seats.
pub const RETALLY_KEY: &[u8] = b"gov/retally";
/// Key of the list of member names, in admission order.
pub const MEMBERS_KEY: &[u8] = b"pki/members";
/// Key of the number of revocations recorded (the length of the revocation log).
pub const REVOCATIONS_KEY: &[u8] = b"pki/revocations";
/// Key of the regulator institution's name.
pub const REGULATOR_KEY: &[u8] = b"pki/regulator";
/// Key of the identity epoch: a counter bumped whenever governance or a revocation list changes
/// identity or account state, so that caches of admission verdicts know when to forget.
pub const EPOCH_KEY: &[u8] = b"pki/epoch";

/// The state key of an account: `acct/` followed by the 20 address bytes.
pub fn account_key(addr: &Address) -> Vec<u8> {
    [b"acct/".as_slice(), &addr.0].concat()
}

/// An account.
pub fn account(addr: &Address) -> Slot<Account> {
    Slot::new(account_key(addr))
}

/// The issuer's address.
pub fn issuer() -> Slot<Address> {
    Slot::new(ISSUER_KEY.to_vec())
}

/// The total supply.
pub fn supply() -> Slot<u128> {
    Slot::new(SUPPLY_KEY.to_vec())
}

/// The latest block's height.
pub fn height() -> Slot<u64> {
    Slot::new(SYS_HEIGHT_KEY.to_vec())
}

/// The latest block's time, Unix milliseconds.
pub fn time_ms() -> Slot<u64> {
    Slot::new(SYS_TIME_KEY.to_vec())
}

/// The chain's suite.
pub fn suite() -> Slot<Suite> {
    Slot::new(SUITE_KEY.to_vec())
}

/// The chain id (the EVM's `block.chainid` is derived from it).
pub fn chain_id() -> Slot<String> {
    Slot::new(b"sys/chain_id".to_vec())
}

/// The chain parameters in force.
pub fn params() -> Slot<ChainParams> {
    Slot::new(PARAMS_KEY.to_vec())
}

/// The node set (validators and observers), as listed.
pub fn nodes() -> Slot<Vec<NodeSpec>> {
    Slot::new(NODES_KEY.to_vec())
}

/// The number the next proposal gets.
pub fn next_proposal() -> Slot<u64> {
    Slot::new(NEXT_PROPOSAL_KEY.to_vec())
}

/// The link of open proposal `id` in the set of open proposals; id 0 is the set's head (its
/// first and last members). Absent for a proposal that is not open, and for the head of an
/// empty set.
pub fn open_link(id: u64) -> Slot<OpenLink> {
    Slot::new([b"gov/open/".as_slice(), &id.to_be_bytes()].concat())
}

/// A per-height queue of proposal ids: its length at `gov/{name}/{h}`.
fn queue_len(name: &str, height: u64) -> Slot<u64> {
    Slot::new([b"gov/".as_slice(), name.as_bytes(), b"/", &height.to_be_bytes()].concat())
}

/// A per-height queue of proposal ids: its `n`-th entry at `gov/{name}/{h}/{n}`.
fn queue_entry(name: &str, height: u64, n: u64) -> Slot<u64> {
    Slot::new([b"gov/".as_slice(), name.as_bytes(), b"/", &height.to_be_bytes(), b"/", &n.to_be_bytes()].concat())
}

/// How many passed proposals activate at the end of block `height`.
pub fn activations(height: u64) -> Slot<u64> {
    queue_len("activate", height)
}

/// The `n`-th (from 0, in the order they passed) proposal that activates at `height`.
pub fn activation(height: u64, n: u64) -> Slot<u64> {
    queue_entry("activate", height, n)
}

/// How many proposals were opened with deadline `height` (they expire after that block).
pub fn expiries(height: u64) -> Slot<u64> {
    queue_len("expire", height)
}

/// The `n`-th (from 0) proposal opened with deadline `height`.
pub fn expiry(height: u64, n: u64) -> Slot<u64> {
    queue_entry("expire", height, n)
}

/// Set when a block changed the seats or the threshold.
pub fn retally() -> Slot<Marker> {
    Slot::new(RETALLY_KEY.to_vec())
}

/// A proposal.
pub fn proposal(id: u64) -> Slot<Proposal> {
    Slot::new([b"gov/proposal/".as_slice(), &id.to_be_bytes()].concat())
}

/// A method's access rule.
pub fn acl(method: &str) -> Slot<AclRule> {
    Slot::new([b"acl/".as_slice(), method.as_bytes()].concat())
}

/// Who may read an API resource (STD-16.1): the principals of
/// [`fdl_types::read_policy`]. Genesis writes every resource's rule.
pub fn read_policy(resource: ReadResource) -> Slot<Vec<String>> {
    Slot::new([READ_POLICY_NAMESPACE, resource.as_str().as_bytes()].concat())
}

/// A contract's record.
pub fn contract(name: &str) -> Slot<ContractRecord> {
    Slot::new([b"ctr/".as_slice(), name.as_bytes()].concat())
}

/// Version `version` (from 1) of a contract. Contract names never contain `/`, so these keys
/// never collide with another contract's record.
pub fn contract_version(name: &str, version: u32) -> Slot<VersionRecord> {
    Slot::new([b"ctr/".as_slice(), name.as_bytes(), b"/", &version.to_be_bytes()].concat())
}

/// A module's bytes, by its hash.
pub fn code(hash: &Hash) -> Slot<Vec<u8>> {
    Slot::new([b"code/".as_slice(), &hash.0].concat())
}

/// The ABI (JSON text) of version `version` of an EVM contract.
pub fn contract_abi(name: &str, version: u32) -> Slot<String> {
    Slot::new([b"abi/".as_slice(), name.as_bytes(), b"/", &version.to_be_bytes()].concat())
}

/// The name of the contract at `address` (EVM calls name contracts by address).
pub fn contract_at(address: &Address) -> Slot<String> {
    Slot::new([b"cta/".as_slice(), &address.0].concat())
}

/// The prefix of a contract's storage: `cs/{name}/`.
pub fn contract_storage_prefix(name: &str) -> Vec<u8> {
    [CONTRACT_STORAGE, name.as_bytes(), b"/"].concat()
}

/// The state key of `key` in a contract's storage.
pub fn contract_storage_key(name: &str, key: &[u8]) -> Vec<u8> {
    [CONTRACT_STORAGE, name.as_bytes(), b"/", key].concat()
}

/// The member institutions' names, in admission order.
pub fn members() -> Slot<Vec<String>> {
    Slot::new(MEMBERS_KEY.to_vec())
}

/// A member institution's record.
pub fn member(name: &str) -> Slot<MemberRecord> {
    Slot::new([b"pki/member/".as_slice(), name.as_bytes()].concat())
}

/// A member's CA certificate (raw DER, apart from the record so that the per-transaction
/// checks read only the small record).
pub fn ca(name: &str) -> Slot<Vec<u8>> {
    Slot::new([b"pki/ca/".as_slice(), name.as_bytes()].concat())
}

/// A registered certificate's record.
pub fn cert(hash: &Hash) -> Slot<CertRecord> {
    Slot::new([b"pki/cert/".as_slice(), &hash.0].concat())
}

/// A registered certificate's DER.
pub fn cert_der(hash: &Hash) -> Slot<Vec<u8>> {
    Slot::new([b"pki/certder/".as_slice(), &hash.0].concat())
}

/// A revocation.
pub fn revoked(org: &str, serial: &str) -> Slot<RevocationRecord> {
    Slot::new([b"pki/revoked/".as_slice(), org.as_bytes(), b"/", serial.as_bytes()].concat())
}

/// How many revocations were recorded.
pub fn revocation_count() -> Slot<u64> {
    Slot::new(REVOCATIONS_KEY.to_vec())
}

/// The `n`-th revocation recorded (from 0).
pub fn revocation_at(n: u64) -> Slot<RevocationRef> {
    Slot::new([REVOCATIONS_KEY, b"/", &n.to_be_bytes()].concat())
}

/// The regulator institution's name.
pub fn regulator() -> Slot<String> {
    Slot::new(REGULATOR_KEY.to_vec())
}

/// The identity epoch.
pub fn epoch() -> Slot<u64> {
    Slot::new(EPOCH_KEY.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_do_not_overlap() {
        let all: Vec<&[u8]> = NAMESPACES.iter().copied().chain([PKI_NAMESPACE]).collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a:?} and {b:?}");
            }
        }
        // The record and DER of a certificate, and the pki sub-prefixes, stay apart.
        let h = Hash([1; 32]);
        assert!(!cert_der(&h).key().starts_with(b"pki/cert/"));
        assert!(!member("x").key().starts_with(b"pki/members"));
        assert_eq!(open_link(0).key(), OPEN_HEAD_KEY);
        // Lengths and entries of the logs and queues are keys of different lengths.
        assert_ne!(revocation_count().key().len(), revocation_at(0).key().len());
        assert_ne!(activations(1).key(), activation(1, 0).key());
        assert_ne!(activations(1).key(), expiries(1).key());
        assert_ne!(activation(u64::MAX, 0).key().len(), activations(u64::MAX).key().len());
    }
}
