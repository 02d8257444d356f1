//! What the host loop reports to the node through [`Ledger::observe`]: finalized blocks,
//! equivocations and the heights peers are at.

use fdl_crypto::Address;
use malachitebft_app_channel::app::{
    engine::util::events::Event,
    types::{MisbehaviorEvidence, SignedConsensusMsg, core::CommitCertificate},
};
use malachitebft_core_types::{NilOrVal, ValidatorSet as _, VoteType};
use tokio::sync::broadcast::error::RecvError;

use super::{ConsensusEvent, Host, Ledger, round_number};
use crate::context::{BlockValue, FdlContext, ValidatorAddress};

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

    /// Reports the height of a consensus message a peer sent (for the sync lag).
    pub(super) fn observe_engine_event(&self, ev: Result<Event<FdlContext>, RecvError>) {
        if let Ok(Event::Received(m)) = ev {
            let h = match &m {
                SignedConsensusMsg::Vote(v) => v.height.0,
                SignedConsensusMsg::Proposal(p) => p.height.0,
            };
            self.ledger.observe(ConsensusEvent::PeerHeight(h));
        }
    }
}

/// A vote's value for the events: the block hash, or "nil".
fn nil_or(v: &NilOrVal<BlockValue>) -> String {
    match v {
        NilOrVal::Nil => "nil".into(),
        NilOrVal::Val(h) => h.0.to_string(),
    }
}
