//! The node set: which nodes take part ([`active_nodes`]), and `AddNode`, `RemoveNode` and
//! `RotateNodeCert`.

use fdl_crypto::PublicKey;
use fdl_schema::keys;
use fdl_types::{NodeRole, NodeSpec};

use super::{Apply, Check, GovRefusal, Verdict, nodes};
use crate::{ExecError, StateView, identity};

/// Most voting power one node may hold (the total of a set stays far below `u64::MAX`).
pub const MAX_NODE_POWER: u64 = fdl_types::genesis::MAX_VALIDATOR_POWER;

/// The nodes that take part after the state `view`: listed, and (on a chain with member
/// institutions) holding a certificate from a current member that is not revoked and is valid
/// at the latest block's time. Deterministic in the state, so every node computes the same
/// validator set; a node whose certificate lapses or is revoked stops voting and is
/// disconnected (STD-9.1, STD-13.3).
///
/// # Errors
/// Store failure or corrupt state.
pub fn active_nodes(view: &dyn StateView) -> Result<Vec<NodeSpec>, ExecError> {
    let all = nodes(view)?;
    if !identity::permissioned(view)? {
        return Ok(all);
    }
    let now_s = fdl_schema::read::time_ms(view)? / 1000;
    let mut out = Vec::with_capacity(all.len());
    for n in &all {
        if node_active(view, n, now_s)? {
            out.push(n.clone());
        }
    }
    // Never an empty validator set: if every validator's certificate has lapsed (or been
    // revoked), the listed validators keep deciding blocks so that governance can rotate their
    // certificates, instead of the chain halting for good.
    if !out.iter().any(|n| n.role == NodeRole::Validator) {
        out.extend(all.into_iter().filter(|n| n.role == NodeRole::Validator));
    }
    Ok(out)
}

fn node_active(view: &dyn StateView, n: &NodeSpec, now_s: u64) -> Result<bool, ExecError> {
    let Some(m) = identity::member(view, &n.org)? else { return Ok(false) };
    // Checked against the institution's current CA, so a rotated CA retires its old certificates.
    let Ok(info) = fdl_pki::verify(&n.certificate, &m.ca_cert, now_s) else { return Ok(false) };
    if info.org != n.org || info.public_key.to_bytes() != n.public_key {
        return Ok(false);
    }
    Ok(identity::revocation(view, &info.org, &info.serial)?.is_none())
}

/// Whether `node` may join the nodes `others`: its institution is a member, its name, key and
/// peer id are its own, its key is of the chain's suite, its power is in range, and its
/// certificate is from its institution's CA, for its role and key, valid and not revoked.
pub(crate) fn check_node(c: &Check<'_>, node: &NodeSpec, others: &[NodeSpec]) -> Verdict {
    let Some(m) = identity::member(c.view, &node.org)? else {
        return Ok(Err(GovRefusal::NotMember { name: node.org.clone() }));
    };
    if node.name.is_empty() || others.iter().any(|o| o.name == node.name) {
        return Ok(Err(GovRefusal::NodeNameTaken { name: node.name.clone() }));
    }
    if others.iter().any(|o| o.public_key == node.public_key || (!node.peer_id.is_empty() && o.peer_id == node.peer_id))
    {
        return Ok(Err(GovRefusal::NodeKeyTaken));
    }
    if PublicKey::from_bytes(c.suite, &node.public_key).is_err() {
        return Ok(Err(GovRefusal::NodeKeySuite { suite: c.suite }));
    }
    if node.role == NodeRole::Validator && (node.power == 0 || node.power > MAX_NODE_POWER) {
        return Ok(Err(GovRefusal::PowerOutOfRange { max: MAX_NODE_POWER }));
    }
    if others.iter().any(|o| !o.peer_id.is_empty()) && node.peer_id.is_empty() {
        return Ok(Err(GovRefusal::NoPeerId));
    }
    let want = node.role.role();
    Ok(match fdl_pki::verify(&node.certificate, &m.ca_cert, c.now_s) {
        Err(e) => Err(GovRefusal::BadCertificate { reason: e.to_string() }),
        Ok(info) if info.role != Some(want) => Err(GovRefusal::WrongCertificateRole { want }),
        Ok(info) if info.public_key.to_bytes() != node.public_key => Err(GovRefusal::CertificateForAnotherKey),
        Ok(info) if identity::revocation(c.view, &info.org, &info.serial)?.is_some() => {
            Err(GovRefusal::CertificateRevoked)
        }
        Ok(_) => Ok(()),
    })
}

/// `AddNode`.
pub(crate) fn check_add(c: &Check<'_>, node: &NodeSpec) -> Verdict {
    check_node(c, node, &c.nodes)
}

/// `RemoveNode`: the node exists, and removing an active validator keeps the minimum.
pub(crate) fn check_remove(c: &Check<'_>, name: &str) -> Verdict {
    let min = c.params.min_validators;
    Ok(match c.nodes.iter().find(|n| n.name == name) {
        None => Err(GovRefusal::NoNode { name: name.to_string() }),
        Some(n)
            if n.role == NodeRole::Validator
                && c.active.iter().any(|a| a.name == name)
                && c.validators <= min as usize =>
        {
            Err(GovRefusal::RemovalBelowMinValidators { name: name.to_string(), min })
        }
        Some(_) => Ok(()),
    })
}

/// `RotateNodeCert`: the node with its new certificate (and the key it certifies) passes
/// [`check_node`] against the other nodes.
pub(crate) fn check_rotate_cert(c: &Check<'_>, name: &str, certificate: &[u8]) -> Verdict {
    let Some(n) = c.nodes.iter().find(|n| n.name == name) else {
        return Ok(Err(GovRefusal::NoNode { name: name.to_string() }));
    };
    let mut next = n.clone();
    next.certificate = certificate.to_vec();
    match fdl_pki::parse(certificate) {
        Ok(info) => next.public_key = info.public_key.to_bytes(),
        Err(e) => return Ok(Err(GovRefusal::BadCertificate { reason: e.to_string() })),
    }
    let others: Vec<NodeSpec> = c.nodes.iter().filter(|o| o.name != name).cloned().collect();
    check_node(c, &next, &others)
}

/// `AddNode`: lists the node.
pub(crate) fn apply_add(a: &mut Apply<'_, '_>, node: &NodeSpec) -> Verdict {
    let mut all = nodes(a.ov)?;
    all.push(node.clone());
    keys::nodes().write(a.ov, &all);
    let pid = a.pid();
    a.event(
        "node.added",
        vec![
            ("node", node.name.clone()),
            ("org", node.org.clone()),
            ("role", node.role.as_str().into()),
            ("proposal", pid),
        ],
    );
    Ok(Ok(()))
}

/// `RemoveNode`: unlists the node.
pub(crate) fn apply_remove(a: &mut Apply<'_, '_>, name: &str) -> Verdict {
    let mut all = nodes(a.ov)?;
    let org = all.iter().find(|n| n.name == name).map(|n| n.org.clone()).unwrap_or_default();
    all.retain(|n| n.name != name);
    keys::nodes().write(a.ov, &all);
    let pid = a.pid();
    a.event("node.removed", vec![("node", name.to_string()), ("org", org), ("proposal", pid)]);
    Ok(Ok(()))
}

/// `RotateNodeCert`: replaces the node's certificate and the key it certifies.
pub(crate) fn apply_rotate_cert(a: &mut Apply<'_, '_>, name: &str, certificate: &[u8]) -> Verdict {
    let info = match fdl_pki::parse(certificate) {
        Ok(i) => i,
        Err(e) => return Ok(Err(GovRefusal::BadCertificate { reason: e.to_string() })),
    };
    let mut all = nodes(a.ov)?;
    let mut org = String::new();
    for n in all.iter_mut().filter(|n| n.name == name) {
        n.certificate = certificate.to_vec();
        n.public_key = info.public_key.to_bytes();
        org.clone_from(&n.org);
    }
    keys::nodes().write(a.ov, &all);
    let pid = a.pid();
    a.event("node.certificate_rotated", vec![("node", name.to_string()), ("org", org), ("proposal", pid)]);
    Ok(Ok(()))
}
