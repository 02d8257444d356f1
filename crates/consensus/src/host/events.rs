//! What the host loop reports to the node through [`Ledger::observe`]: finalized blocks,
//! equivocations and the height peers are at.
//!
//! The peers' height (for the sync lag) comes only from messages whose signature checks, and
//! no minority can raise it: [`PeerHeights`] keeps, per validator of the current set, the
//! highest height of a vote or proposal it signed (checked here against its key, since the
//! engine reports a message before verifying it), forgotten after [`PEER_HEIGHT_TTL`]; the
//! height reported is the highest one that validators with more than a third of the voting
//! power have reached, so at least one honest validator is there when at most a third is
//! faulty. Only messages above this node's next height are checked, at most once per
//! [`PEER_HEIGHT_CHECK_INTERVAL`] per validator, so forged messages cannot make this node do
//! signature work without bound (they can at worst delay an honest validator's record). The
//! report is repeated periodically, so the lag falls again when the records expire.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use fdl_crypto::Address;
use malachitebft_app_channel::app::{
    engine::util::events::Event,
    types::{MisbehaviorEvidence, SignedConsensusMsg, core::CommitCertificate},
};
use malachitebft_core_types::{NilOrVal, ValidatorSet as _, VoteType};
use tokio::sync::broadcast::error::RecvError;

use super::{ConsensusEvent, Host, Ledger, round_number};
use crate::{
    context::{BlockValue, FdlContext, ValidatorAddress, ValidatorSet},
    signing::{check, proposal_signing_bytes, vote_signing_bytes},
};

/// How long a validator's height counts without a newer signed message.
pub(super) const PEER_HEIGHT_TTL: Duration = Duration::from_secs(60);
/// Least time between two signature checks for one validator's height: bounds the work forged
/// messages can cause to one check per validator per interval.
pub(super) const PEER_HEIGHT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// One validator's latest verified height.
struct Seen {
    /// The highest height of a verified message, and when it was seen (none yet: `None`).
    verified: Option<(u64, Instant)>,
    /// When the last signature check was made.
    checked: Option<Instant>,
}

/// The heights validators have shown in signed messages, by validator (see the module doc).
#[derive(Default)]
pub(super) struct PeerHeights {
    seen: HashMap<ValidatorAddress, Seen>,
}

impl PeerHeights {
    /// Offers a message of `validator` at `height`, received at `now`, when this node's next
    /// height is `next`; `verify` checks its signature and is called only when the message
    /// could raise the validator's record: above `next`, above its live record, and not within
    /// [`PEER_HEIGHT_CHECK_INTERVAL`] of the validator's last check. The caller offers only
    /// messages of validators of the current set. Returns whether the record was raised.
    pub(super) fn offer(
        &mut self,
        validator: ValidatorAddress,
        height: u64,
        next: u64,
        now: Instant,
        verify: impl FnOnce() -> bool,
    ) -> bool {
        if height <= next {
            return false;
        }
        let e = self.seen.entry(validator).or_insert(Seen { verified: None, checked: None });
        if e.verified.is_some_and(|(h, at)| h >= height && now.saturating_duration_since(at) < PEER_HEIGHT_TTL) {
            return false;
        }
        if e.checked.is_some_and(|t| now.saturating_duration_since(t) < PEER_HEIGHT_CHECK_INTERVAL) {
            return false;
        }
        e.checked = Some(now);
        if !verify() {
            return false;
        }
        e.verified = Some((height, now));
        true
    }

    /// The highest height that validators of `set` with more than a third of its voting power
    /// have verified records at (or above), among those younger than [`PEER_HEIGHT_TTL`];
    /// `None` when there is no such height. Records of validators no longer in `set` and
    /// expired ones are dropped.
    pub(super) fn height(&mut self, set: &ValidatorSet, now: Instant) -> Option<u64> {
        self.seen.retain(|a, s| {
            set.get_by_address(a).is_some()
                && (s.verified.is_some_and(|(_, at)| now.saturating_duration_since(at) < PEER_HEIGHT_TTL)
                    || s.checked.is_some_and(|t| now.saturating_duration_since(t) < PEER_HEIGHT_CHECK_INTERVAL))
        });
        let mut live: Vec<(u64, u64)> = set
            .validators()
            .iter()
            .filter_map(|v| {
                let (h, at) = self.seen.get(&v.address)?.verified?;
                (now.saturating_duration_since(at) < PEER_HEIGHT_TTL).then_some((h, v.power))
            })
            .collect();
        live.sort_unstable_by_key(|l| std::cmp::Reverse(l.0));
        let total = u128::from(set.total_voting_power());
        let mut power = 0u128;
        for (h, p) in live {
            power += u128::from(p);
            if power * 3 > total {
                return Some(h);
            }
        }
        None
    }
}

impl<L: Ledger> Host<L> {
    /// Reports a finalized block: who signed its certificate, with how much power.
    pub(super) fn report_finalized(&self, certificate: &CommitCertificate<FdlContext>) {
        let h = certificate.height.0;
        let set = self.validator_set(h);
        let signed: Vec<ValidatorAddress> = certificate.commit_signatures.iter().map(|s| s.address).collect();
        let missing: Vec<Address> =
            set.validators().iter().filter(|v| !signed.contains(&v.address)).map(|v| v.address.0).collect();
        let signed_power = set.validators().iter().filter(|v| signed.contains(&v.address)).map(|v| v.power).sum();
        self.ledger.observe(ConsensusEvent::Finalized {
            height: h,
            round: round_number(certificate.round),
            missing,
            signed_power,
            total_power: set.total_voting_power(),
        });
    }

    /// Reports the equivocations of `height`'s validators the engine recorded.
    pub(super) fn report_evidence(&self, height: u64, evidence: &MisbehaviorEvidence<FdlContext>) {
        let set = self.validator_set(height);
        for v in set.validators() {
            if let Some(pairs) = evidence.votes.get(&v.address) {
                for (a, b) in pairs {
                    let kind = if a.vote_type == VoteType::Prevote { "prevote" } else { "precommit" };
                    self.ledger.observe(ConsensusEvent::Equivocation {
                        height: a.height.0,
                        round: round_number(a.round),
                        validator: v.address.0,
                        kind,
                        values: [nil_or(&a.value), nil_or(&b.value)],
                    });
                }
            }
            if let Some(pairs) = evidence.proposals.get(&v.address) {
                for (a, b) in pairs {
                    self.ledger.observe(ConsensusEvent::Equivocation {
                        height: a.height.0,
                        round: round_number(a.round),
                        validator: v.address.0,
                        kind: "proposal",
                        values: [a.value.0.to_string(), b.value.0.to_string()],
                    });
                }
            }
        }
    }

    /// Takes the height of a consensus message a peer sent into the peers' height (see
    /// [`PeerHeights`]), and reports it when it rose.
    pub(super) fn observe_engine_event(&mut self, ev: Result<Event<FdlContext>, RecvError>) {
        let Ok(Event::Received(m)) = ev else { return };
        let (signer, height) = match &m {
            SignedConsensusMsg::Vote(v) => (v.message.voter, v.message.height.0),
            SignedConsensusMsg::Proposal(p) => (p.message.proposer, p.message.height.0),
        };
        let next = self.ledger.height() + 1;
        if height <= next {
            // The usual case, and one that says nothing about a lag: no further work.
            return;
        }
        let set = self.validator_set(next);
        if set.get_by_address(&signer).is_none() {
            return;
        }
        let verify = || signed_by_its_validator(&self.ctx.chain_id, &set, &m);
        if self.peer_heights.offer(signer, height, next, Instant::now(), verify) {
            self.report_peer_height();
        }
    }

    /// Reports the height peers have committed: one below the height that validators with more
    /// than a third of the power are at (see [`PeerHeights`]), 0 when none is known.
    pub(super) fn report_peer_height(&mut self) {
        let set = self.validator_set(self.ledger.height() + 1);
        let at = self.peer_heights.height(&set, Instant::now());
        self.ledger.observe(ConsensusEvent::PeerHeight(at.map_or(0, |h| h.saturating_sub(1))));
    }
}

/// Whether `m` carries a valid signature of the validator of `set` it names (voter or proposer)
/// for chain `chain_id`.
fn signed_by_its_validator(chain_id: &str, set: &ValidatorSet, m: &SignedConsensusMsg<FdlContext>) -> bool {
    let (signer, msg, sig) = match m {
        SignedConsensusMsg::Vote(v) => (v.message.voter, vote_signing_bytes(chain_id, &v.message), &v.signature),
        SignedConsensusMsg::Proposal(p) => {
            (p.message.proposer, proposal_signing_bytes(chain_id, &p.message), &p.signature)
        }
    };
    set.get_by_address(&signer).is_some_and(|v| check(&v.public_key.0, &msg, &sig.0))
}

/// A vote's value for the events: the block hash, or "nil".
fn nil_or(v: &NilOrVal<BlockValue>) -> String {
    match v {
        NilOrVal::Nil => "nil".into(),
        NilOrVal::Val(h) => h.0.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fdl_crypto::{KeyPair, Signer as _};
    use malachitebft_app_channel::app::types::core::{Round, SignedMessage};

    use super::*;
    use crate::{
        context::{Height, Validator, Vote},
        signing::ConsensusSigner,
    };

    const CHAIN: &str = "fdl-test";

    fn keys() -> Vec<KeyPair> {
        (1..=4u8).map(|i| KeyPair::ed25519_from_seed(&[i; 32])).collect()
    }

    /// Four validators of equal power.
    fn set(keys: &[KeyPair]) -> ValidatorSet {
        ValidatorSet::new(keys.iter().map(|k| Validator::new(k.public_key(), 10)).collect())
    }

    fn addr(k: &KeyPair) -> ValidatorAddress {
        ValidatorAddress(k.address())
    }

    /// A prevote for nil at `height` naming `voter`, signed with `key`.
    fn vote(key: &KeyPair, voter: ValidatorAddress, height: u64) -> SignedConsensusMsg<FdlContext> {
        let v = Vote {
            vote_type: VoteType::Prevote,
            height: Height(height),
            round: Round::new(0),
            value: NilOrVal::Nil,
            voter,
            extension: None,
        };
        let signer = ConsensusSigner::new(CHAIN, Arc::new(key.clone()));
        let sig = signer.sign_bytes(&vote_signing_bytes(CHAIN, &v)).expect("signs");
        SignedConsensusMsg::Vote(SignedMessage::new(v, sig))
    }

    /// Offers `m` as the host does: its signer and height, verified against `set`.
    fn offer(p: &mut PeerHeights, set: &ValidatorSet, m: &SignedConsensusMsg<FdlContext>, next: u64, now: Instant) {
        let (signer, height) = match m {
            SignedConsensusMsg::Vote(v) => (v.message.voter, v.message.height.0),
            SignedConsensusMsg::Proposal(p) => (p.message.proposer, p.message.height.0),
        };
        p.offer(signer, height, next, now, || signed_by_its_validator(CHAIN, set, m));
    }

    #[test]
    fn a_forged_vote_does_not_raise_the_peer_height() {
        let keys = keys();
        let set = set(&keys);
        let outsider = KeyPair::ed25519_from_seed(&[99; 32]);
        let now = Instant::now();
        let mut p = PeerHeights::default();
        // Names a validator, signed by another key; names an outsider; a bad signature.
        let forged = [
            vote(&outsider, addr(&keys[0]), u64::MAX),
            vote(&outsider, addr(&outsider), u64::MAX),
            vote(&keys[1], addr(&keys[0]), u64::MAX),
        ];
        for m in &forged {
            assert!(!signed_by_its_validator(CHAIN, &set, m));
            offer(&mut p, &set, m, 5, now);
        }
        assert_eq!(p.height(&set, now), None);
        let honest = vote(&keys[0], addr(&keys[0]), 9);
        assert!(signed_by_its_validator(CHAIN, &set, &honest));
        assert!(!signed_by_its_validator("another-chain", &set, &honest));
    }

    #[test]
    fn a_third_of_the_power_or_less_cannot_raise_the_peer_height() {
        let keys = keys();
        let set = set(&keys);
        let now = Instant::now();
        let mut p = PeerHeights::default();
        // One faulty validator signs a vote far ahead: a quarter of the power.
        offer(&mut p, &set, &vote(&keys[0], addr(&keys[0]), u64::MAX), 5, now);
        assert_eq!(p.height(&set, now), None);
        // Two honest ones are at height 20 and 30: half the power is at 20 or above.
        offer(&mut p, &set, &vote(&keys[1], addr(&keys[1]), 20), 5, now);
        offer(&mut p, &set, &vote(&keys[2], addr(&keys[2]), 30), 5, now);
        assert_eq!(p.height(&set, now), Some(30), "the faulty one and one at 30 are half the power");
        let mut p = PeerHeights::default();
        offer(&mut p, &set, &vote(&keys[1], addr(&keys[1]), 20), 5, now);
        offer(&mut p, &set, &vote(&keys[2], addr(&keys[2]), 30), 5, now);
        assert_eq!(p.height(&set, now), Some(20));
    }

    #[test]
    fn peer_heights_expire_so_the_lag_recovers() {
        let keys = keys();
        let set = set(&keys);
        let start = Instant::now();
        let mut p = PeerHeights::default();
        for k in &keys[..2] {
            offer(&mut p, &set, &vote(k, addr(k), 50), 5, start);
        }
        assert_eq!(p.height(&set, start + PEER_HEIGHT_TTL - Duration::from_millis(1)), Some(50));
        assert_eq!(p.height(&set, start + PEER_HEIGHT_TTL), None, "expired");
        // Validators leaving the set no longer count.
        for k in &keys[..2] {
            offer(&mut p, &set, &vote(k, addr(k), 60), 5, start + PEER_HEIGHT_TTL);
        }
        assert_eq!(p.height(&set, start + PEER_HEIGHT_TTL), Some(60));
        let smaller = self::set(&keys[1..]);
        assert_eq!(p.height(&smaller, start + PEER_HEIGHT_TTL), None, "one of three is not more than a third");
    }

    #[test]
    fn signatures_are_checked_only_above_the_next_height_and_at_a_bounded_rate() {
        let v = ValidatorAddress(fdl_crypto::Address([1; 20]));
        let start = Instant::now();
        let mut p = PeerHeights::default();
        let checks = std::cell::Cell::new(0);
        let count = |ok: bool| {
            let checks = &checks;
            move || {
                checks.set(checks.get() + 1);
                ok
            }
        };
        // At or below the next height: nothing to learn, no check.
        assert!(!p.offer(v, 5, 5, start, count(true)));
        assert!(!p.offer(v, 1, 5, start, count(true)));
        // A forged message (check fails), then a flood within the interval: one check only.
        assert!(!p.offer(v, 100, 5, start, count(false)));
        for h in 101..200 {
            assert!(!p.offer(v, h, 5, start + Duration::from_millis(h), count(true)));
        }
        // After the interval a genuine one is checked and recorded; an equal or lower one is not.
        assert!(p.offer(v, 7, 5, start + PEER_HEIGHT_CHECK_INTERVAL, count(true)));
        assert!(!p.offer(v, 7, 5, start + PEER_HEIGHT_CHECK_INTERVAL * 3, count(true)));
        assert_eq!(checks.get(), 2);
    }
}
