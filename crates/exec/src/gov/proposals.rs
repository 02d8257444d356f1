//! Proposals and votes: `gov.propose`, `gov.vote`, the tally, and applying passed proposals
//! (at once, or at the end of the block at their activation height).

use std::collections::BTreeMap;

use fdl_crypto::Address;
use fdl_schema::{keys, read, write};
use fdl_types::{Event, GovAction, Role, StatusCode};

use super::{
    Apply, Call, GovRefusal, Outcome, Proposal, ProposalState, ProposalStatus, check_action, do_apply, next_proposal,
    params, proposal,
};
use crate::{ExecError, Overlay, StateView, event as ev, identity};

/// A refused call: `proposal_invalid`, and a `gov.refused` event with the reason's code and
/// text.
fn refuse(proposer: &Address, org: &str, why: &GovRefusal) -> Outcome {
    (
        StatusCode::ProposalInvalid,
        vec![ev(
            "gov.refused",
            vec![
                ("account", proposer.to_hex()),
                ("org", org.into()),
                ("reason", why.to_string()),
                ("code", why.code().into()),
            ],
        )],
    )
}

/// The institutions holding a committee seat.
fn committee(view: &dyn StateView) -> Result<Vec<String>, ExecError> {
    Ok(identity::members(view)?.into_iter().filter(|m| m.committee).map(|m| m.name).collect())
}

/// Who may propose what: administrators anything; the regulator institution only
/// interventions; measures on an account only its registrar institution (or the regulator).
fn may_propose(view: &dyn StateView, c: &Call<'_>, action: &GovAction) -> Result<Result<(), GovRefusal>, ExecError> {
    match c.role {
        Role::Regulator => {
            let regulator = fdl_schema::read::regulator(view)?;
            if regulator.as_deref() != Some(c.org) {
                return Ok(Err(GovRefusal::NotRegulator { org: c.org.to_string() }));
            }
            let intervention = matches!(
                action,
                GovAction::Freeze { .. }
                    | GovAction::Unfreeze { .. }
                    | GovAction::ForcedTransfer { .. }
                    | GovAction::FreezeContract { .. }
                    | GovAction::UnfreezeContract { .. }
            );
            Ok(if intervention { Ok(()) } else { Err(GovRefusal::RegulatorOnlyInterventions) })
        }
        Role::Admin => {
            let Some(account) = action.target_account() else { return Ok(Ok(())) };
            let registrar = crate::read_account(view, &account)?.map(|a| a.org).unwrap_or_default();
            Ok(if registrar.is_empty() {
                Err(GovRefusal::NoRegistrar { account })
            } else if registrar != c.org {
                Err(GovRefusal::WrongRegistrar { account, registrar, org: c.org.to_string() })
            } else {
                Ok(())
            })
        }
        Role::Client | Role::Validator | Role::Observer | Role::Auditor => {
            Ok(Err(GovRefusal::RoleMayNotPropose { role: c.role }))
        }
    }
}

/// `gov.propose`.
pub(crate) fn propose(
    ov: &mut Overlay<'_>,
    c: &Call<'_>,
    action: &GovAction,
    deadline: u64,
    activation_height: u64,
    note: &str,
) -> Result<Outcome, ExecError> {
    let p = params(ov)?;
    let latest = c.height.saturating_add(p.max_voting_blocks);
    if deadline < c.height || deadline > latest {
        return Ok(refuse(c.account, c.org, &GovRefusal::DeadlineOutOfRange { from: c.height, to: latest }));
    }
    if let Err(why) = may_propose(ov, c, action)? {
        return Ok(refuse(c.account, c.org, &why));
    }
    if let Err(why) = check_action(ov, action, c.suite, c.now_s)? {
        return Ok(refuse(c.account, c.org, &why));
    }
    let id = next_proposal(ov)?;
    keys::next_proposal().write(ov, &(id + 1));
    let mut prop = Proposal {
        id,
        action: action.clone(),
        proposer: *c.account,
        org: c.org.into(),
        note: note.into(),
        created: c.height,
        deadline,
        activation_height,
        votes: BTreeMap::new(),
        status: ProposalStatus::Open,
        decided: None,
        applied: None,
        failure: None,
    };
    let mut attrs = vec![
        ("proposal", id.to_string()),
        ("action", action.kind().into()),
        ("account", c.account.to_hex()),
        ("org", c.org.into()),
    ];
    with_target(&mut attrs, action);
    let mut events = vec![ev("gov.proposed", attrs)];
    // The proposer's institution votes yes when it holds a seat.
    if committee(ov)?.iter().any(|m| m == c.org) {
        prop.votes.insert(c.org.into(), true);
    }
    tally(ov, &mut prop, c.height, c.now_s, &mut events)?;
    keys::proposal(id).write(ov, &prop);
    if prop.status == ProposalStatus::Open {
        // Listed so that a change of seats or threshold re-tallies it, until it is decided or
        // the end of its deadline's block sweeps it out: a fixed number of writes, however
        // many proposals are open.
        write::open_insert(ov, id)?;
        write::push_expiry(ov, deadline, id)?;
    }
    Ok((StatusCode::Ok, events))
}

/// `gov.vote`.
pub(crate) fn vote(ov: &mut Overlay<'_>, c: &Call<'_>, id: u64, approve: bool) -> Result<Outcome, ExecError> {
    let Some(mut prop) = proposal(ov, id)? else {
        return Ok(refuse(c.account, c.org, &GovRefusal::NoProposal { id }));
    };
    let state = prop.state_at(c.height);
    if state != ProposalState::Open {
        return Ok(refuse(c.account, c.org, &GovRefusal::NotOpen { id, state }));
    }
    if !committee(ov)?.iter().any(|m| m == c.org) {
        return Ok(refuse(c.account, c.org, &GovRefusal::NoSeat { org: c.org.to_string() }));
    }
    if prop.votes.contains_key(c.org) {
        return Ok(refuse(c.account, c.org, &GovRefusal::AlreadyVoted { org: c.org.to_string(), id }));
    }
    prop.votes.insert(c.org.into(), approve);
    let mut events = vec![ev(
        "gov.voted",
        vec![
            ("proposal", id.to_string()),
            ("approve", approve.to_string()),
            ("account", c.account.to_hex()),
            ("org", c.org.into()),
        ],
    )];
    tally(ov, &mut prop, c.height, c.now_s, &mut events)?;
    keys::proposal(id).write(ov, &prop);
    if prop.status != ProposalStatus::Open {
        write::open_remove(ov, id)?;
    }
    Ok((StatusCode::Ok, events))
}

/// Adds the account a measure acts on (`target`), so that the audit log lists the proposal, its
/// outcome and its application under that account too (STD-13.4).
fn with_target(attrs: &mut Vec<(&'static str, String)>, action: &GovAction) {
    if let Some(a) = action.target_account() {
        attrs.push(("target", a.to_hex()));
    }
    if let Some(c) = action.contract_name() {
        attrs.push(("contract", c.to_string()));
    }
}

/// Counts the votes of current seats; passes or rejects; applies at once when due.
fn tally(
    ov: &mut Overlay<'_>,
    prop: &mut Proposal,
    height: u64,
    now_s: u64,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    let seats = committee(ov)?;
    let p = params(ov)?;
    let yes = seats.iter().filter(|s| prop.votes.get(*s) == Some(&true)).count() as u64;
    let no = seats.iter().filter(|s| prop.votes.get(*s) == Some(&false)).count() as u64;
    let n = seats.len() as u64;
    let (num, den) = (u64::from(p.gov_threshold_num), u64::from(p.gov_threshold_den));
    let attrs = |prop: &Proposal| {
        let mut a = vec![
            ("proposal", prop.id.to_string()),
            ("action", prop.action.kind().to_string()),
            ("yes", yes.to_string()),
            ("seats", n.to_string()),
        ];
        with_target(&mut a, &prop.action);
        a
    };
    if yes * den > n * num {
        prop.status = ProposalStatus::Passed;
        prop.decided = Some(height);
        events.push(ev("gov.passed", attrs(prop)));
        if prop.activation_height <= height {
            apply(ov, prop, height, now_s, events)?;
        } else {
            write::push_activation(ov, prop.activation_height, prop.id)?;
        }
    } else if (n - no.min(n)) * den <= n * num {
        prop.status = ProposalStatus::Rejected;
        prop.decided = Some(height);
        events.push(ev("gov.rejected", attrs(prop)));
    }
    Ok(())
}

/// Applies passed proposals whose activation height has come; called at the end of every block.
/// Returns the events (they go to the audit log with the block).
///
/// The work is bounded by what is due at this height, never by how many proposals exist: the
/// proposals that activate now and those whose deadline is this block come from per-height
/// queues, each handled once; only a block that changed the seats or the threshold walks the
/// open set (the proposals still open, which the deadline sweep keeps to those whose deadline
/// has not passed).
///
/// # Errors
/// Store failure or corrupt state.
pub(crate) fn end_block(ov: &mut Overlay<'_>, height: u64, now_s: u64) -> Result<Vec<Event>, ExecError> {
    let mut events = Vec::new();
    apply_pending(ov, height, now_s, &mut events)?;
    // Seats or the threshold changed: proposals that now pass (or can no longer pass) are decided
    // without waiting for another vote. Once per block; a change made by this pass itself is
    // taken up at the next block's end.
    if keys::retally().read(ov)?.is_some() {
        keys::retally().delete(ov);
        for id in read::open_proposals(ov)? {
            let Some(mut prop) = proposal(ov, id)? else {
                write::open_remove(ov, id)?;
                continue;
            };
            if prop.state_at(height) != ProposalState::Open {
                write::open_remove(ov, id)?;
                continue;
            }
            tally(ov, &mut prop, height, now_s, &mut events)?;
            keys::proposal(id).write(ov, &prop);
            if prop.status != ProposalStatus::Open {
                write::open_remove(ov, id)?;
            }
        }
    }
    // Proposals whose deadline is this block expire with it: they leave the open set (those
    // decided before have left it already).
    for id in write::take_expiries(ov, height)? {
        write::open_remove(ov, id)?;
    }
    if !events.is_empty() {
        identity::bump_epoch(ov)?;
    }
    Ok(events)
}

/// Applies the passed proposals queued for this height's end, in the order they passed.
fn apply_pending(ov: &mut Overlay<'_>, height: u64, now_s: u64, events: &mut Vec<Event>) -> Result<(), ExecError> {
    for id in write::take_activations(ov, height)? {
        let Some(mut prop) = proposal(ov, id)? else { continue };
        apply(ov, &mut prop, height, now_s, events)?;
        keys::proposal(id).write(ov, &prop);
    }
    Ok(())
}

/// Applies a passed proposal: checks its action again against the state as it now is, then
/// applies it (`applied`), or records why it cannot (`failed`, nothing changed).
fn apply(
    ov: &mut Overlay<'_>,
    prop: &mut Proposal,
    height: u64,
    now_s: u64,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    let suite = fdl_schema::read::suite(ov)?;
    let result = match check_action(ov, &prop.action, suite, now_s)? {
        Err(why) => Err(why),
        Ok(()) => do_apply(
            &mut Apply { ov, id: prop.id, height, now_s, proposer: (prop.proposer, prop.org.clone()), events },
            &prop.action,
        )?,
    };
    prop.applied = Some(height);
    match result {
        Ok(()) => {
            prop.status = ProposalStatus::Applied;
            let mut attrs = vec![("proposal", prop.id.to_string()), ("action", prop.action.kind().into())];
            with_target(&mut attrs, &prop.action);
            events.push(ev("gov.applied", attrs));
        }
        Err(why) => {
            prop.status = ProposalStatus::Failed;
            let reason = why.to_string();
            prop.failure = Some(reason.clone());
            let mut attrs = vec![
                ("proposal", prop.id.to_string()),
                ("action", prop.action.kind().into()),
                ("reason", reason),
                ("code", why.code().into()),
            ];
            with_target(&mut attrs, &prop.action);
            events.push(ev("gov.failed", attrs));
        }
    }
    Ok(())
}
