//! Contract lifecycle actions (STD-12.1, 12.3): deploy, upgrade, freeze, unfreeze, retire and
//! access rules, checked when proposed and again when applied; the work is in
//! [`crate::contract`].

use fdl_types::{DeploySpec, MethodRule, Role, UpgradeSpec};

use super::{Apply, Check, Verdict};
use crate::contract::{self, Installer, Step};

/// `DeployContract` could apply now.
pub(crate) fn check_deploy(c: &Check<'_>, spec: &DeploySpec) -> Verdict {
    contract::check_deploy(c.view, spec)
}

/// `UpgradeContract` could apply now.
pub(crate) fn check_upgrade(c: &Check<'_>, spec: &UpgradeSpec) -> Verdict {
    contract::check_upgrade(c.view, spec)
}

/// A status step could apply now.
pub(crate) fn check_step(c: &Check<'_>, name: &str, step: Step) -> Verdict {
    contract::check_step(c.view, name, step)
}

/// `SetContractAccess` could apply now.
pub(crate) fn check_access(c: &Check<'_>, name: &str, rules: &[MethodRule]) -> Verdict {
    contract::check_access(c.view, name, rules)
}

/// The proposer of the proposal being applied: it deploys (its institution owns the contract).
fn installer<'p>(a: &Apply<'_, '_>, org: &'p str) -> Installer<'p> {
    Installer {
        account: a.proposer.0,
        org,
        role: Some(Role::Admin),
        proposal: a.id,
        height: a.height,
        time_ms: a.now_s.saturating_mul(1_000),
        fuel_used: std::cell::Cell::new(0),
    }
}

/// Applies a lifecycle action, its events into the block's or the transaction's.
fn done(a: &mut Apply<'_, '_>, r: Result<Vec<fdl_types::Event>, super::GovRefusal>) -> Verdict {
    match r {
        Ok(mut events) => {
            a.events.append(&mut events);
            Ok(Ok(()))
        }
        Err(why) => Ok(Err(why)),
    }
}

/// `DeployContract`.
pub(crate) fn apply_deploy(a: &mut Apply<'_, '_>, spec: &DeploySpec) -> Verdict {
    let org = a.proposer.1.clone();
    let by = installer(a, &org);
    let r = contract::apply_deploy(a.ov, spec, &by)?;
    done(a, r)
}

/// `UpgradeContract`.
pub(crate) fn apply_upgrade(a: &mut Apply<'_, '_>, spec: &UpgradeSpec) -> Verdict {
    let org = a.proposer.1.clone();
    let by = installer(a, &org);
    let r = contract::apply_upgrade(a.ov, spec, &by)?;
    done(a, r)
}

/// Freeze, unfreeze, retire.
pub(crate) fn apply_step(a: &mut Apply<'_, '_>, name: &str, step: Step) -> Verdict {
    let r = contract::apply_step(a.ov, name, step, a.id)?;
    done(a, r)
}

/// `SetContractAccess`.
pub(crate) fn apply_access(a: &mut Apply<'_, '_>, name: &str, rules: &[MethodRule], allow_reentry: bool) -> Verdict {
    let r = contract::apply_access(a.ov, name, rules, allow_reentry, a.id)?;
    done(a, r)
}
