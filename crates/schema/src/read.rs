//! Typed reads of the native modules' state, shared by execution, admission and the API.

use fdl_crypto::{Address, Hash, Suite};
use fdl_types::{ChainParams, NodeSpec};

use crate::{
    SchemaError, StateView,
    account::Account,
    keys,
    records::{AclRule, CertRecord, MemberRecord, Proposal, RevocationRecord},
};

/// An account, `None` when it was never written.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn account(view: &dyn StateView, addr: &Address) -> Result<Option<Account>, SchemaError> {
    keys::account(addr).read(view)
}

/// The issuer's address.
///
/// # Errors
/// Store failure, or corrupt when missing.
pub fn issuer(view: &dyn StateView) -> Result<Address, SchemaError> {
    keys::issuer().require(view)
}

/// The chain parameters in force.
///
/// # Errors
/// Store failure, or corrupt when missing.
pub fn params(view: &dyn StateView) -> Result<ChainParams, SchemaError> {
    keys::params().require(view)
}

/// The chain's suite.
///
/// # Errors
/// Store failure, or corrupt when missing.
pub fn suite(view: &dyn StateView) -> Result<Suite, SchemaError> {
    keys::suite().require(view)
}

/// The latest block's time in Unix milliseconds (0 before any is recorded).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn time_ms(view: &dyn StateView) -> Result<u64, SchemaError> {
    Ok(keys::time_ms().read(view)?.unwrap_or(0))
}

/// The node set as listed (validators and observers), whatever their certificates.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn nodes(view: &dyn StateView) -> Result<Vec<NodeSpec>, SchemaError> {
    Ok(keys::nodes().read(view)?.unwrap_or_default())
}

/// A proposal.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn proposal(view: &dyn StateView, id: u64) -> Result<Option<Proposal>, SchemaError> {
    keys::proposal(id).read(view)
}

/// The number the next proposal gets (proposals are numbered from 1).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn next_proposal(view: &dyn StateView) -> Result<u64, SchemaError> {
    Ok(keys::next_proposal().read(view)?.unwrap_or(1))
}

/// The access rule of a method (`None`: nobody may call it).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn acl(view: &dyn StateView, method: &str) -> Result<Option<AclRule>, SchemaError> {
    keys::acl(method).read(view)
}

/// The identity epoch (see [`keys::EPOCH_KEY`]).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn epoch(view: &dyn StateView) -> Result<u64, SchemaError> {
    Ok(keys::epoch().read(view)?.unwrap_or(0))
}

/// The regulator institution, if genesis named one.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn regulator(view: &dyn StateView) -> Result<Option<String>, SchemaError> {
    keys::regulator().read(view)
}

/// The member institutions' names, in admission order.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn member_names(view: &dyn StateView) -> Result<Vec<String>, SchemaError> {
    Ok(keys::members().read(view)?.unwrap_or_default())
}

/// The member institutions, in admission order, with their CA certificates.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn members(view: &dyn StateView) -> Result<Vec<MemberRecord>, SchemaError> {
    let names = member_names(view)?;
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        if let Some(m) = member(view, &n)? {
            out.push(m);
        }
    }
    Ok(out)
}

/// One member institution, with its CA certificate.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn member(view: &dyn StateView, name: &str) -> Result<Option<MemberRecord>, SchemaError> {
    let Some(mut m) = member_meta(view, name)? else { return Ok(None) };
    m.ca_cert = keys::ca(name).read(view)?.unwrap_or_default();
    Ok(Some(m))
}

/// One member institution without its CA certificate (the per-transaction path).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn member_meta(view: &dyn StateView, name: &str) -> Result<Option<MemberRecord>, SchemaError> {
    keys::member(name).read(view)
}

/// Whether the chain enforces certificates (its genesis lists member institutions).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn permissioned(view: &dyn StateView) -> Result<bool, SchemaError> {
    Ok(!member_names(view)?.is_empty())
}

/// A registered certificate, with its DER.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn certificate(view: &dyn StateView, hash: &Hash) -> Result<Option<CertRecord>, SchemaError> {
    let Some(mut rec) = cert_meta(view, hash)? else { return Ok(None) };
    rec.der = keys::cert_der(hash).read(view)?.unwrap_or_default();
    Ok(Some(rec))
}

/// A registered certificate without its DER (the per-transaction path).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn cert_meta(view: &dyn StateView, hash: &Hash) -> Result<Option<CertRecord>, SchemaError> {
    keys::cert(hash).read(view)
}

/// The revocation of `(org, serial)`, if any.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn revocation(view: &dyn StateView, org: &str, serial: &str) -> Result<Option<RevocationRecord>, SchemaError> {
    keys::revoked(org, serial).read(view)
}

/// Every revocation, in order: `(org, serial, record)`.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn revocations(view: &dyn StateView) -> Result<Vec<(String, String, RevocationRecord)>, SchemaError> {
    let list = keys::revocations().read(view)?.unwrap_or_default();
    let mut out = Vec::with_capacity(list.len());
    for (org, serial) in list {
        if let Some(r) = revocation(view, &org, &serial)? {
            out.push((org, serial, r));
        }
    }
    Ok(out)
}
