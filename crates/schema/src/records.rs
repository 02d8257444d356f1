//! The records the native modules keep in state, with their canonical encodings.

use std::collections::BTreeMap;

use fdl_crypto::{Address, Hash};
use fdl_types::{
    Decode, DecodeError, Encode, GovAction, Reader,
    codec::{put_bytes, put_count},
};

use crate::value::{MAX_LIST, MAX_TEXT, get_addr, get_hash, get_opt_u64, put_opt_u64, put_str};

/// A member institution as stored in state (its CA certificate under [`crate::keys::ca`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// Its name (its certificates' `O`).
    pub name: String,
    /// Its root CA certificate, DER (empty when read with [`crate::read::member_meta`]).
    pub ca_cert: Vec<u8>,
    /// The suite hash of `ca_cert`: registered certificates name the CA that issued them.
    pub ca_hash: Hash,
    /// End of the CA certificate's validity, Unix seconds: its certificates stop working then.
    pub ca_not_after: u64,
    /// Whether it holds a committee seat.
    pub committee: bool,
    /// The height it was admitted at (0: genesis).
    pub since: u64,
}

impl Encode for MemberRecord {
    /// The CA certificate is not part of the record (it has its own key).
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.name);
        out.extend_from_slice(&self.ca_hash.0);
        out.extend_from_slice(&self.ca_not_after.to_be_bytes());
        out.push(u8::from(self.committee));
        out.extend_from_slice(&self.since.to_be_bytes());
    }
}

impl Decode for MemberRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MemberRecord {
            name: r.string(MAX_TEXT, "member name")?,
            ca_cert: Vec::new(),
            ca_hash: get_hash(r, "member CA hash")?,
            ca_not_after: r.u64("member CA expiry")?,
            committee: get_bool(r, "committee seat")?,
            since: r.u64("member since")?,
        })
    }
}

/// A registered certificate (its DER under [`crate::keys::cert_der`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRecord {
    /// The account it sends for (the key's address, or the account it was reset onto).
    pub account: Address,
    /// Its institution.
    pub org: String,
    /// Its role.
    pub role: String,
    /// Subject common name.
    pub common_name: String,
    /// Serial number, hex.
    pub serial: String,
    /// Validity start, Unix seconds.
    pub not_before: u64,
    /// Validity end, Unix seconds.
    pub not_after: u64,
    /// The subject key, canonical bytes hex.
    pub public_key: String,
    /// The height it was registered at.
    pub registered: u64,
    /// The hash of the institution's CA certificate that issued it: when governance rotates
    /// the CA, certificates of the old CA stop working.
    pub ca: Hash,
    /// The certificate, DER (empty when read with [`crate::read::cert_meta`]).
    pub der: Vec<u8>,
}

impl Encode for CertRecord {
    /// The DER is not part of the record (it has its own key).
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.account.0);
        for s in [&self.org, &self.role, &self.common_name, &self.serial] {
            put_str(out, s);
        }
        out.extend_from_slice(&self.not_before.to_be_bytes());
        out.extend_from_slice(&self.not_after.to_be_bytes());
        put_str(out, &self.public_key);
        out.extend_from_slice(&self.registered.to_be_bytes());
        out.extend_from_slice(&self.ca.0);
    }
}

impl Decode for CertRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CertRecord {
            account: get_addr(r, "certificate account")?,
            org: r.string(MAX_TEXT, "certificate org")?,
            role: r.string(MAX_TEXT, "certificate role")?,
            common_name: r.string(MAX_TEXT, "certificate common name")?,
            serial: r.string(MAX_TEXT, "certificate serial")?,
            not_before: r.u64("certificate not before")?,
            not_after: r.u64("certificate not after")?,
            public_key: r.string(MAX_TEXT, "certificate key")?,
            registered: r.u64("certificate registered")?,
            ca: get_hash(r, "certificate CA")?,
            der: Vec::new(),
        })
    }
}

/// A revocation as stored in state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// The height it took effect at.
    pub height: u64,
    /// `crl` (published by the institution) or `governance:N` (by proposal number).
    pub by: String,
}

impl Encode for RevocationRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.height.to_be_bytes());
        put_str(out, &self.by);
    }
}

impl Decode for RevocationRecord {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RevocationRecord { height: r.u64("revocation height")?, by: r.string(MAX_TEXT, "revoked by")? })
    }
}

/// One entry of the revocation log (`pki/revocations/{n}`): which certificate the `n`-th
/// revocation revoked. Its record is under [`crate::keys::revoked`]; the log only orders them, so
/// that recording one more revocation writes a fixed number of keys however many came before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRef {
    /// The institution whose CA issued the certificate.
    pub org: String,
    /// Its serial number, lower-case hex.
    pub serial: String,
}

impl Encode for RevocationRef {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_str(out, &self.org);
        put_str(out, &self.serial);
    }
}

impl Decode for RevocationRef {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(RevocationRef { org: r.string(MAX_TEXT, "revoked org")?, serial: r.string(MAX_TEXT, "revoked serial")? })
    }
}

/// A member of the set of open proposals (`gov/open/{id}`), a doubly linked list in id order:
/// the previous and next open proposal, 0 for the list's end. Under id 0 sits the list's head:
/// `next` is the first open proposal and `prev` the last. Adding or removing a proposal rewrites
/// at most three links, however many are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenLink {
    /// The previous open proposal (0: none; for the head, the last one).
    pub prev: u64,
    /// The next open proposal (0: none; for the head, the first one).
    pub next: u64,
}

impl Encode for OpenLink {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prev.to_be_bytes());
        out.extend_from_slice(&self.next.to_be_bytes());
    }
}

impl Decode for OpenLink {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(OpenLink { prev: r.u64("open link prev")?, next: r.u64("open link next")? })
    }
}

/// Who may call a method (STD-16.1): a signer whose role is listed, from a listed institution
/// (any institution when `orgs` is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// Roles allowed.
    pub roles: Vec<String>,
    /// Institutions allowed; empty means any.
    pub orgs: Vec<String>,
}

impl AclRule {
    /// Whether a signer of role `role` (its name) from `org` may call.
    pub fn allows(&self, role: &str, org: &str) -> bool {
        self.roles.iter().any(|r| r == role) && (self.orgs.is_empty() || self.orgs.iter().any(|o| o == org))
    }
}

impl Encode for AclRule {
    fn encode_to(&self, out: &mut Vec<u8>) {
        for list in [&self.roles, &self.orgs] {
            put_count(out, list.len());
            for s in list {
                put_str(out, s);
            }
        }
    }
}

impl Decode for AclRule {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut list = |what| -> Result<Vec<String>, DecodeError> {
            let n = r.count(MAX_LIST, what)?;
            (0..n).map(|_| r.string(MAX_TEXT, what)).collect()
        };
        let roles = list("acl roles")?;
        let orgs = list("acl orgs")?;
        Ok(AclRule { roles, orgs })
    }
}

/// A proposal's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProposalStatus {
    /// Taking votes.
    Open,
    /// Passed; waits for its activation height.
    Passed,
    /// Passed and applied.
    Applied,
    /// Passed, but applying it failed (the reason is recorded); nothing changed.
    Failed,
    /// Enough seats refused that it can no longer pass.
    Rejected,
}

impl ProposalStatus {
    const ALL: [ProposalStatus; 5] = [
        ProposalStatus::Open,
        ProposalStatus::Passed,
        ProposalStatus::Applied,
        ProposalStatus::Failed,
        ProposalStatus::Rejected,
    ];

    fn tag(self) -> u8 {
        match self {
            ProposalStatus::Open => 0,
            ProposalStatus::Passed => 1,
            ProposalStatus::Applied => 2,
            ProposalStatus::Failed => 3,
            ProposalStatus::Rejected => 4,
        }
    }
}

/// What a reader sees of a proposal at a height: its stored status, or `Expired` for an open
/// proposal past its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProposalState {
    /// Taking votes.
    Open,
    /// Open, but its deadline has passed without a decision.
    Expired,
    /// Passed; waits for its activation height.
    Passed,
    /// Passed and applied.
    Applied,
    /// Passed, but applying it failed.
    Failed,
    /// Can no longer pass.
    Rejected,
}

impl ProposalState {
    /// Every state.
    pub const ALL: [ProposalState; 6] = [
        ProposalState::Open,
        ProposalState::Expired,
        ProposalState::Passed,
        ProposalState::Applied,
        ProposalState::Failed,
        ProposalState::Rejected,
    ];

    /// Its name in the API: `open`, `expired`, `passed`, `applied`, `failed` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalState::Open => "open",
            ProposalState::Expired => "expired",
            ProposalState::Passed => "passed",
            ProposalState::Applied => "applied",
            ProposalState::Failed => "failed",
            ProposalState::Rejected => "rejected",
        }
    }

    /// Parses a name given by [`ProposalState::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A proposal as stored in state (every proposal stays queryable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Its number.
    pub id: u64,
    /// What it does.
    pub action: GovAction,
    /// The account that proposed it.
    pub proposer: Address,
    /// The proposer's institution.
    pub org: String,
    /// Free text.
    pub note: String,
    /// The height it was made at.
    pub created: u64,
    /// Last height at which votes count.
    pub deadline: u64,
    /// Height from which it applies.
    pub activation_height: u64,
    /// Votes by institution.
    pub votes: BTreeMap<String, bool>,
    /// Its state.
    pub status: ProposalStatus,
    /// When it passed or was rejected.
    pub decided: Option<u64>,
    /// When it was applied (or failed).
    pub applied: Option<u64>,
    /// Why applying it failed.
    pub failure: Option<String>,
}

impl Proposal {
    /// What a reader should see at `height`: an open proposal past its deadline is expired.
    pub fn state_at(&self, height: u64) -> ProposalState {
        match self.status {
            ProposalStatus::Open if height > self.deadline => ProposalState::Expired,
            ProposalStatus::Open => ProposalState::Open,
            ProposalStatus::Passed => ProposalState::Passed,
            ProposalStatus::Applied => ProposalState::Applied,
            ProposalStatus::Failed => ProposalState::Failed,
            ProposalStatus::Rejected => ProposalState::Rejected,
        }
    }
}

impl Encode for Proposal {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        let action = self.action.encode();
        put_bytes(out, &action);
        out.extend_from_slice(&self.proposer.0);
        put_str(out, &self.org);
        put_str(out, &self.note);
        for h in [self.created, self.deadline, self.activation_height] {
            out.extend_from_slice(&h.to_be_bytes());
        }
        put_count(out, self.votes.len());
        for (org, yes) in &self.votes {
            put_str(out, org);
            out.push(u8::from(*yes));
        }
        out.push(self.status.tag());
        put_opt_u64(out, self.decided);
        put_opt_u64(out, self.applied);
        match &self.failure {
            None => out.push(0),
            Some(f) => {
                out.push(1);
                put_str(out, f);
            }
        }
    }
}

impl Decode for Proposal {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id = r.u64("proposal id")?;
        let action = GovAction::decode(r.bytes(usize::MAX, "proposal action")?)?;
        let proposer = get_addr(r, "proposer")?;
        let org = r.string(MAX_TEXT, "proposal org")?;
        let note = r.string(MAX_TEXT, "proposal note")?;
        let created = r.u64("proposal created")?;
        let deadline = r.u64("proposal deadline")?;
        let activation_height = r.u64("proposal activation")?;
        let n = r.count(MAX_LIST, "votes")?;
        let mut votes = BTreeMap::new();
        for _ in 0..n {
            let org = r.string(MAX_TEXT, "vote org")?;
            let yes = get_bool(r, "vote")?;
            if votes.insert(org, yes).is_some() {
                return Err(DecodeError::Invalid { what: "votes", reason: "an institution voted twice".into() });
            }
        }
        let tag = r.u8("proposal status")?;
        let status = ProposalStatus::ALL
            .into_iter()
            .find(|s| s.tag() == tag)
            .ok_or(DecodeError::BadTag { what: "proposal status", tag })?;
        let decided = get_opt_u64(r, "decided")?;
        let applied = get_opt_u64(r, "applied")?;
        let failure = match r.u8("failure")? {
            0 => None,
            1 => Some(r.string(MAX_TEXT, "failure")?),
            tag => return Err(DecodeError::BadTag { what: "failure", tag }),
        };
        Ok(Proposal {
            id,
            action,
            proposer,
            org,
            note,
            created,
            deadline,
            activation_height,
            votes,
            status,
            decided,
            applied,
            failure,
        })
    }
}

pub(crate) fn get_bool(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DecodeError> {
    match r.u8(what)? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(DecodeError::BadTag { what, tag }),
    }
}

impl Proposal {
    /// The API's view of it at `height`.
    pub fn view(&self, height: u64) -> fdl_types::api::ProposalView {
        fdl_types::api::ProposalView {
            id: self.id,
            action: self.action.clone(),
            proposer: self.proposer,
            org: self.org.clone(),
            note: self.note.clone(),
            created: self.created,
            deadline: self.deadline,
            activation_height: self.activation_height,
            votes: self.votes.clone(),
            status: self.state_at(height).as_str().into(),
            decided: self.decided,
            applied: self.applied,
            failure: self.failure.clone(),
        }
    }
}

impl AclRule {
    /// The API's view of it.
    pub fn view(&self) -> fdl_types::api::AclRuleView {
        fdl_types::api::AclRuleView { roles: self.roles.clone(), orgs: self.orgs.clone() }
    }
}

impl RevocationRecord {
    /// The API's view of it.
    pub fn view(&self) -> fdl_types::api::RevokedView {
        fdl_types::api::RevokedView { height: self.height, by: self.by.clone() }
    }
}

#[cfg(test)]
mod tests {
    use fdl_types::{ChainParam, NodeRole, NodeSpec};

    use super::*;
    use crate::Value;

    /// Round trip, then every strict prefix and one trailing byte are refused without a panic.
    fn strict<T: Value + PartialEq + std::fmt::Debug>(v: &T) {
        let b = v.encode_value();
        assert_eq!(&T::decode_value(&b).expect("decodes"), v);
        for n in 0..b.len() {
            assert!(T::decode_value(&b[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        let mut long = b.clone();
        long.push(0);
        assert!(T::decode_value(&long).is_err(), "trailing byte accepted");
    }

    #[test]
    fn records_round_trip_and_refuse_truncated_or_extended_bytes() {
        strict(&MemberRecord {
            name: "Bank A".into(),
            ca_cert: vec![],
            ca_hash: Hash([4; 32]),
            ca_not_after: 9,
            committee: true,
            since: 3,
        });
        strict(&CertRecord {
            account: Address([1; 20]),
            org: "Bank A".into(),
            role: "client".into(),
            common_name: "alice".into(),
            serial: "0a".into(),
            not_before: 1,
            not_after: 2,
            public_key: "04ab".into(),
            registered: 5,
            ca: Hash([2; 32]),
            der: vec![],
        });
        strict(&RevocationRecord { height: 7, by: "governance:3".into() });
        strict(&RevocationRef { org: "Bank A".into(), serial: "2a".into() });
        strict(&OpenLink { prev: 3, next: u64::MAX });
        strict(&AclRule { roles: vec!["admin".into()], orgs: vec![] });
        let node = NodeSpec {
            name: "n".into(),
            org: "Bank A".into(),
            role: NodeRole::Observer,
            public_key: vec![1, 2],
            power: 0,
            peer_id: String::new(),
            p2p: String::new(),
            rpc: String::new(),
            certificate: vec![3],
        };
        strict(&vec![node]);
        strict(&Proposal {
            id: 4,
            action: GovAction::SetParam { name: ChainParam::MaxBlockTxs, value: 10 },
            proposer: Address([9; 20]),
            org: "Bank A".into(),
            note: "why".into(),
            created: 1,
            deadline: 20,
            activation_height: 0,
            votes: BTreeMap::from([("Bank A".to_string(), true), ("Bank B".to_string(), false)]),
            status: ProposalStatus::Failed,
            decided: Some(2),
            applied: None,
            failure: Some("no".into()),
        });
        strict(&fdl_types::ChainParams::default());
    }

    #[test]
    fn a_proposal_with_an_unknown_status_tag_is_refused() {
        let p = Proposal {
            id: 1,
            action: GovAction::RemoveMember { name: "x".into() },
            proposer: Address([0; 20]),
            org: String::new(),
            note: String::new(),
            created: 0,
            deadline: 0,
            activation_height: 0,
            votes: BTreeMap::new(),
            status: ProposalStatus::Open,
            decided: None,
            applied: None,
            failure: None,
        };
        let mut b = p.encode_value();
        // Status tag sits before the three option tags (all `None`: one byte each).
        let at = b.len() - 4;
        assert_eq!(b[at], 0);
        b[at] = 9;
        assert!(matches!(Proposal::decode_value(&b), Err(DecodeError::BadTag { what: "proposal status", tag: 9 })));
    }
}
