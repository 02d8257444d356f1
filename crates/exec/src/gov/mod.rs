//! The native `gov` module (STD-17): committee proposals and votes, the access-control policy,
//! chain parameters and the node set (validators and observers) as chain state.
//!
//! The committee is one seat per member institution that holds one; any `admin` certificate of
//! that institution casts its vote, once per proposal. A proposal passes when more than
//! `gov_threshold_num / gov_threshold_den` of the seats approve (default more than 2/3). It applies
//! in the transaction that passes it when its activation height has come, else at the end of the
//! block at its activation height; a validator-set change applied in block `h` is the set that
//! decides `h + 1`. Votes are counted when cast, and again at the end of any block that changed
//! the seats or the threshold: every open proposal is then tallied against the new rule.
//!
//! Layout: [`proposals`] holds proposing, voting, tallying and applying; each group of actions
//! holds both the check that runs when an action is proposed (and again when it applies) and
//! its application — [`members`], [`nodes`], [`params`], [`acl`] and [`accounts`]. The two
//! matches below only dispatch to them, so a new action touches its group and these matches.
//! Every refusal is a [`GovRefusal`] with a stable code.

pub mod accounts;
pub mod acl;
pub(crate) mod contracts;
pub mod members;
pub mod nodes;
pub mod params;
pub mod proposals;
pub mod refusal;

use fdl_crypto::{Address, Suite};
use fdl_schema::keys;
pub use fdl_schema::{
    AclRule, METHODS, Proposal, ProposalState, ProposalStatus,
    keys::{NEXT_PROPOSAL_KEY, NODES_KEY, OPEN_HEAD_KEY, PARAMS_KEY, RETALLY_KEY},
    read::{acl, next_proposal, nodes, params, proposal},
};
use fdl_types::{ChainParams, Event, GovAction, NodeRole, NodeSpec, Role, StatusCode};

pub use acl::default_acl;
pub use nodes::{MAX_NODE_POWER, active_nodes};
pub(crate) use proposals::{end_block, propose, vote};
pub use refusal::GovRefusal;

use crate::{ExecError, Overlay, StateView, contract::Step};

/// The state key of a proposal.
pub fn proposal_key(id: u64) -> Vec<u8> {
    keys::proposal(id).into_key()
}

/// The state key of a method's access rule.
pub fn acl_key(method: &str) -> Vec<u8> {
    keys::acl(method).into_key()
}

/// The outcome of a `gov.*` call: a status and its events.
pub(crate) type Outcome = (StatusCode, Vec<Event>);

/// What a check or an application answers: `Ok(Err(refusal))` when the action may not apply,
/// `Err` only for store failure or corrupt state.
pub(crate) type Verdict = Result<Result<(), GovRefusal>, ExecError>;

/// Context of one governance call.
pub(crate) struct Call<'a> {
    /// The calling account.
    pub account: &'a Address,
    /// Its institution.
    pub org: &'a str,
    /// Its certificate's role.
    pub role: Role,
    /// The block's height.
    pub height: u64,
    /// The block's time, Unix seconds.
    pub now_s: u64,
    /// The chain's suite.
    pub suite: Suite,
}

/// What every check reads: the state, the chain's suite, the time, and the parameters and
/// node set as they stand.
pub(crate) struct Check<'a> {
    /// The state the action would apply to.
    pub view: &'a dyn StateView,
    /// The chain's suite.
    pub suite: Suite,
    /// The block's time, Unix seconds.
    pub now_s: u64,
    /// The current parameters.
    pub params: ChainParams,
    /// Every listed node.
    pub nodes: Vec<NodeSpec>,
    /// The nodes that take part ([`active_nodes`]).
    pub active: Vec<NodeSpec>,
    /// How many of those are validators.
    pub validators: usize,
}

impl<'a> Check<'a> {
    fn new(view: &'a dyn StateView, suite: Suite, now_s: u64) -> Result<Self, ExecError> {
        let active = active_nodes(view)?;
        let validators = active.iter().filter(|n| n.role == NodeRole::Validator).count();
        Ok(Check { view, suite, now_s, params: params(view)?, nodes: nodes(view)?, active, validators })
    }
}

/// What every application writes to: the overlay, the proposal's number, the height and the
/// events of the call or block.
pub(crate) struct Apply<'o, 'a> {
    /// The state being written.
    pub ov: &'o mut Overlay<'a>,
    /// The proposal being applied.
    pub id: u64,
    /// The height it applies at.
    pub height: u64,
    /// The block's time, Unix seconds.
    pub now_s: u64,
    /// Who proposed it, and their institution (a proposal may pass, and apply, in the
    /// transaction that makes it, before its record is written).
    pub proposer: (Address, String),
    /// Where its events go.
    pub events: &'o mut Vec<Event>,
}

impl Apply<'_, '_> {
    /// The proposal's number as an event attribute.
    fn pid(&self) -> String {
        self.id.to_string()
    }

    /// Records an event.
    fn event(&mut self, kind: &str, attrs: Vec<(&str, String)>) {
        self.events.push(crate::event(kind, attrs));
    }
}

/// Checks that an action could apply now (so that a proposal is refused early instead of
/// failing when it passes); the same check runs again when it is applied.
fn check_action(view: &dyn StateView, action: &GovAction, suite: Suite, now_s: u64) -> Verdict {
    let c = Check::new(view, suite, now_s)?;
    match action {
        GovAction::AddMember { name, ca_cert, .. } => members::check_add(&c, name, ca_cert),
        GovAction::RemoveMember { name } => members::check_remove(&c, name),
        GovAction::RotateCa { org, ca_cert } => members::check_rotate_ca(&c, org, ca_cert),
        GovAction::RevokeCert { org, serial } => members::check_revoke(&c, org, serial),
        GovAction::AddNode { node } => nodes::check_add(&c, node),
        GovAction::RemoveNode { name } => nodes::check_remove(&c, name),
        GovAction::RotateNodeCert { name, certificate } => nodes::check_rotate_cert(&c, name, certificate),
        GovAction::SetParam { name, value } => params::check_set(&c, *name, *value),
        GovAction::SetAcl { method, roles, .. } => acl::check_set(method, roles),
        GovAction::SetReadPolicy { resource, allow } => acl::check_read_policy(*resource, allow),
        GovAction::Freeze { account } | GovAction::Unfreeze { account } => accounts::check_exists(&c, account),
        GovAction::ForcedTransfer { from, to, amount } => accounts::check_forced_transfer(&c, from, to, *amount),
        GovAction::ResetKey { account, certificate } => accounts::check_reset_key(&c, account, certificate),
        GovAction::SetAccountKind { account, .. } => accounts::check_exists(&c, account),
        GovAction::DeployContract { spec } => contracts::check_deploy(&c, spec),
        GovAction::UpgradeContract { spec } => contracts::check_upgrade(&c, spec),
        GovAction::FreezeContract { name } => contracts::check_step(&c, name, Step::Freeze),
        GovAction::UnfreezeContract { name } => contracts::check_step(&c, name, Step::Unfreeze),
        GovAction::RetireContract { name } => contracts::check_step(&c, name, Step::Retire),
        GovAction::SetContractAccess { name, access, .. } => contracts::check_access(&c, name, access),
    }
}

/// Applies an action that has just passed its check. An application may still refuse (when
/// the state contradicts its check), but only before it writes anything.
fn do_apply(a: &mut Apply<'_, '_>, action: &GovAction) -> Verdict {
    match action {
        GovAction::AddMember { name, ca_cert, committee } => members::apply_add(a, name, ca_cert, *committee),
        GovAction::RemoveMember { name } => members::apply_remove(a, name),
        GovAction::RotateCa { org, ca_cert } => members::apply_rotate_ca(a, org, ca_cert),
        GovAction::RevokeCert { org, serial } => members::apply_revoke(a, org, serial),
        GovAction::AddNode { node } => nodes::apply_add(a, node),
        GovAction::RemoveNode { name } => nodes::apply_remove(a, name),
        GovAction::RotateNodeCert { name, certificate } => nodes::apply_rotate_cert(a, name, certificate),
        GovAction::SetParam { name, value } => params::apply_set(a, *name, *value),
        GovAction::SetAcl { method, roles, orgs } => acl::apply_set(a, method, roles, orgs),
        GovAction::SetReadPolicy { resource, allow } => acl::apply_read_policy(a, *resource, allow),
        GovAction::Freeze { account } => accounts::apply_freeze(a, account, true),
        GovAction::Unfreeze { account } => accounts::apply_freeze(a, account, false),
        GovAction::ForcedTransfer { from, to, amount } => accounts::apply_forced_transfer(a, from, to, *amount),
        GovAction::ResetKey { account, certificate } => accounts::apply_reset_key(a, account, certificate),
        GovAction::SetAccountKind { account, kind } => accounts::apply_set_kind(a, account, *kind),
        GovAction::DeployContract { spec } => contracts::apply_deploy(a, spec),
        GovAction::UpgradeContract { spec } => contracts::apply_upgrade(a, spec),
        GovAction::FreezeContract { name } => contracts::apply_step(a, name, Step::Freeze),
        GovAction::UnfreezeContract { name } => contracts::apply_step(a, name, Step::Unfreeze),
        GovAction::RetireContract { name } => contracts::apply_step(a, name, Step::Retire),
        GovAction::SetContractAccess { name, access, allow_reentry } => {
            contracts::apply_access(a, name, access, *allow_reentry)
        }
    }
}
