//! Typed reads of the native modules' state, shared by execution, admission and the API.

use fdl_crypto::{Address, Hash, Suite};
use fdl_types::{ChainParams, NodeSpec, ReadResource};

use crate::{
    SchemaError, StateView,
    account::Account,
    keys,
    records::{AclRule, CertRecord, MemberRecord, OpenLink, Proposal, RevocationRecord},
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

/// Who may read an API resource. Absent (a state written before the read policy existed, or
/// a hand-made test state): the strict default of [`ReadResource::strict_default`], so that a
/// missing rule never opens a resource.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn read_policy(view: &dyn StateView, resource: ReadResource) -> Result<Vec<String>, SchemaError> {
    Ok(keys::read_policy(resource)
        .read(view)?
        .unwrap_or_else(|| resource.strict_default().iter().map(|s| s.to_string()).collect()))
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

/// How many revocations were recorded.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn revocation_count(view: &dyn StateView) -> Result<u64, SchemaError> {
    Ok(keys::revocation_count().read(view)?.unwrap_or(0))
}

/// At most `limit` revocations in the order they were recorded, from the `from`-th (from 0):
/// `(org, serial, record)`. Reads two keys per revocation returned.
///
/// # Errors
/// Store failure, or a corrupt value (a log entry without its record).
pub fn revocations(
    view: &dyn StateView,
    from: u64,
    limit: usize,
) -> Result<Vec<(String, String, RevocationRecord)>, SchemaError> {
    let end = revocation_count(view)?.min(from.saturating_add(limit as u64));
    let mut out = Vec::with_capacity(end.saturating_sub(from).min(1024) as usize);
    for n in from..end {
        let slot = keys::revocation_at(n);
        let r = slot.require(view)?;
        let rec = revocation(view, &r.org, &r.serial)?
            .ok_or_else(|| SchemaError::corrupt(slot.key(), "logged revocation without its record"))?;
        out.push((r.org, r.serial, rec));
    }
    Ok(out)
}

/// The link of `id` in the set of open proposals; for id 0, the head (all zero when the set is
/// empty).
///
/// # Errors
/// Store failure, a corrupt value, or a missing link for an id other than 0.
pub fn open_link(view: &dyn StateView, id: u64) -> Result<OpenLink, SchemaError> {
    let slot = keys::open_link(id);
    match slot.read(view)? {
        Some(l) => Ok(l),
        None if id == 0 => Ok(OpenLink::default()),
        None => Err(SchemaError::corrupt(slot.key(), "a link of the open set is missing")),
    }
}

/// Whether proposal `id` is in the set of open proposals.
///
/// # Errors
/// Store failure.
pub fn is_listed_open(view: &dyn StateView, id: u64) -> Result<bool, SchemaError> {
    Ok(id != 0 && view.get(keys::open_link(id).key())?.is_some())
}

/// The open proposals, in id order: one read per proposal. Every id in the set is below
/// [`next_proposal`], which bounds the walk even over a corrupt (cyclic) list.
///
/// # Errors
/// Store failure, a corrupt value, or a list longer than the proposals made.
pub fn open_proposals(view: &dyn StateView) -> Result<Vec<u64>, SchemaError> {
    let bound = next_proposal(view)?;
    let mut out = Vec::new();
    let mut at = open_link(view, 0)?.next;
    while at != 0 {
        if out.len() as u64 >= bound {
            return Err(SchemaError::corrupt(keys::OPEN_HEAD_KEY, "the open set is longer than the proposals made"));
        }
        out.push(at);
        at = open_link(view, at)?.next;
    }
    Ok(out)
}

/// The entries `0..len` of a per-height queue.
pub(crate) fn queue(
    view: &dyn StateView,
    len: &crate::Slot<u64>,
    entry: &dyn Fn(u64) -> crate::Slot<u64>,
) -> Result<Vec<u64>, SchemaError> {
    let n = len.read(view)?.unwrap_or(0);
    let mut out = Vec::with_capacity(n.min(1024) as usize);
    for i in 0..n {
        out.push(entry(i).require(view)?);
    }
    Ok(out)
}

/// The passed proposals that activate at the end of block `height`, in the order they passed.
///
/// # Errors
/// Store failure or a corrupt value.
pub fn activations(view: &dyn StateView, height: u64) -> Result<Vec<u64>, SchemaError> {
    queue(view, &keys::activations(height), &|n| keys::activation(height, n))
}

/// The proposals opened with deadline `height` that have not been swept yet (the sweep runs at
/// the end of that block).
///
/// # Errors
/// Store failure or a corrupt value.
pub fn expiries(view: &dyn StateView, height: u64) -> Result<Vec<u64>, SchemaError> {
    queue(view, &keys::expiries(height), &|n| keys::expiry(height, n))
}
