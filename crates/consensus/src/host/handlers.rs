//! One method per engine request: [`Host::handle`] only dispatches.

use std::{ops::RangeInclusive, time::Duration};

use bytes::Bytes;
use malachitebft_app_channel::{
    AppMsg, Channels, Reply,
    app::{
        consensus::{Role, VoteExtensionVerdicts},
        engine::host::{HeightParams, Next, SyncedValueOutcome},
        streaming::StreamMessage,
        types::{
            LocallyProposedValue, MisbehaviorEvidence, PeerId, ProposedValue,
            core::{CommitCertificate, Round, Validity},
            sync::RawDecidedValue,
        },
    },
};

use super::{
    ConsensusEvent, Host, Ledger, LedgerError,
    certificate::{certificate_to_commit, commit_to_certificate},
    round_number,
    startup::{SYNC_BATCH_SIZE, SYNC_MAX_RESPONSE_SIZE},
};
use crate::context::{BlockValue, FdlContext, Height, ProposalPart, ValidatorAddress};

/// Most blocks served in one sync response: as many as this node asks for.
const MAX_SYNC_BATCH: u64 = SYNC_BATCH_SIZE as u64;
/// The lowest height this node serves to sync: it keeps every block from the first.
const HISTORY_MIN_HEIGHT: Height = Height(1);

impl<L: Ledger> Host<L> {
    /// Answers one request of the engine; an error stops the loop.
    pub(super) async fn handle(
        &mut self,
        channels: &Channels<FdlContext>,
        msg: AppMsg<FdlContext>,
    ) -> Result<(), LedgerError> {
        match msg {
            AppMsg::ConsensusReady { reply } => self.on_consensus_ready(reply),
            AppMsg::StartedRound { height, round, proposer, role, reply_value } => {
                self.on_started_round(height, round, proposer, role, reply_value)
            }
            AppMsg::GetValue { height, round, timeout, reply } => {
                self.on_get_value(channels, height, round, timeout, reply).await
            }
            AppMsg::ExtendVote { reply, .. } => self.on_extend_vote(reply),
            AppMsg::VerifyVoteExtensions { extensions, reply, .. } => self.on_verify_vote_extensions(extensions, reply),
            AppMsg::RestreamProposal { height, round, valid_round, value_id, .. } => {
                self.on_restream_proposal(channels, height, round, valid_round, value_id).await
            }
            AppMsg::GetHistoryMinHeight { reply } => self.on_get_history_min_height(reply),
            AppMsg::ReceivedProposalPart { from, published_by, part, reply } => {
                self.on_received_proposal_part(from, published_by, part, reply).await
            }
            AppMsg::Decided { certificate, reply, .. } => self.on_decided(certificate, reply).await,
            AppMsg::Finalized { certificate, evidence, reply, .. } => {
                self.on_finalized(channels, certificate, evidence, reply).await
            }
            AppMsg::GetDecidedValues { range, reply } => self.on_get_decided_values(range, reply).await,
            AppMsg::ProcessSyncedValue { height, round, proposer, value_bytes, reply } => {
                self.on_process_synced_value(height, round, proposer, value_bytes, reply).await
            }
        }
    }

    /// The engine starts: consensus resumes at the ledger's height + 1.
    fn on_consensus_ready(&mut self, reply: Reply<(Height, HeightParams<FdlContext>)>) -> Result<(), LedgerError> {
        let h = self.ledger.height() + 1;
        self.proposals.prune_files(h - 1);
        tracing::info!(height = h, "consensus ready");
        let _ = reply.send((Height(h), self.params(h)));
        Ok(())
    }

    /// A round started: the proposals already validated for it go to the engine.
    fn on_started_round(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        role: Role,
        reply_value: Reply<Vec<ProposedValue<FdlContext>>>,
    ) -> Result<(), LedgerError> {
        tracing::debug!(height = height.0, round = %round, %proposer, ?role, "round started");
        self.ledger.observe(ConsensusEvent::Round { height: height.0, round: round_number(round) });
        // Rounds left behind can no longer be proposed in: free what was kept for them.
        self.proposals.enter_round(height.0, round_number(round));
        self.streams.forget_before(height, round);
        let values = self.proposals.received(height.0, round_number(round));
        let _ = reply_value.send(values);
        Ok(())
    }

    /// This node proposes: its block for the round, streamed to the peers.
    async fn on_get_value(
        &mut self,
        channels: &Channels<FdlContext>,
        height: Height,
        round: Round,
        timeout: Duration,
        reply: Reply<LocallyProposedValue<FdlContext>>,
    ) -> Result<(), LedgerError> {
        #[cfg(feature = "byzantine")]
        let Some(reply) = self.misbehave_on_get_value(channels, height, round, timeout, reply).await? else {
            return Ok(());
        };
        let value = self.own_value(height.0, round_number(round), timeout).await?;
        let _ = reply.send(LocallyProposedValue::new(height, round, value));
        if let Some(body) = self.proposals.body(&value.0) {
            self.publish(channels, height.0, round, Round::Nil, &body).await?;
        }
        Ok(())
    }

    /// FDL does not use vote extensions.
    fn on_extend_vote(&mut self, reply: Reply<Option<()>>) -> Result<(), LedgerError> {
        let _ = reply.send(None);
        Ok(())
    }

    /// FDL does not use vote extensions: every (empty) one is accepted.
    fn on_verify_vote_extensions(
        &mut self,
        extensions: Vec<(ValidatorAddress, ())>,
        reply: Reply<VoteExtensionVerdicts<FdlContext>>,
    ) -> Result<(), LedgerError> {
        let _ = reply.send(extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect());
        Ok(())
    }

    /// The engine re-proposes a block it locked on: stream it again, from disk after a restart.
    async fn on_restream_proposal(
        &mut self,
        channels: &Channels<FdlContext>,
        height: Height,
        round: Round,
        valid_round: Round,
        value_id: BlockValue,
    ) -> Result<(), LedgerError> {
        if !self.proposals.has_body(&value_id.0) {
            self.load_stored_proposals(height.0).await?;
        }
        match self.proposals.body(&value_id.0) {
            Some(body) => self.publish(channels, height.0, round, valid_round, &body).await?,
            None => {
                tracing::warn!(height = height.0, value = %value_id, "cannot re-stream a block this node does not hold")
            }
        }
        Ok(())
    }

    /// The lowest height served to sync.
    fn on_get_history_min_height(&mut self, reply: Reply<Height>) -> Result<(), LedgerError> {
        let _ = reply.send(HISTORY_MIN_HEIGHT);
        Ok(())
    }

    /// A peer's proposal part, kept under the peer that published it (see `streams`). A stream
    /// opens only when its `Init` is for a (height, round) in the admission window and names
    /// that round's proposer (see `proposals::Window`). When it completes an authentic stream
    /// for the next height, the ledger validates the block; one for a later height (up to
    /// [`FUTURE_HEIGHTS`](super::proposals::FUTURE_HEIGHTS) ahead) waits for its height.
    async fn on_received_proposal_part(
        &mut self,
        from: PeerId,
        published_by: Option<PeerId>,
        part: StreamMessage<ProposalPart>,
        reply: Reply<Option<ProposedValue<FdlContext>>>,
    ) -> Result<(), LedgerError> {
        let peer = published_by.unwrap_or(from);
        let next = self.ledger.height() + 1;
        let window = self.proposals.window(next);
        // Only an `Init` needs a decision: the cheap window check first, then the proposer.
        let init_ok = match part.content.as_data() {
            Some(ProposalPart::Init { height, round, proposer, .. }) => {
                self.expected_init(window, *height, *round, proposer)
            }
            _ => true,
        };
        let mut out = None;
        if let Some(a) = self.streams.add_part(peer, part, std::time::Instant::now(), |_, _, _| init_ok)
            // The round may have moved on since the stream opened.
            && window.admits(a.height, a.round)
            && let Some(digest) = self.authentic(&a)
        {
            if a.height.0 == next {
                out = self.process(a, digest).await?;
            } else {
                self.proposals.buffer_future(a, digest);
            }
        }
        let _ = reply.send(out);
        Ok(())
    }

    /// Consensus decided: the ledger commits the block with its certificate. A block this node
    /// never received is not an error: the next height restarts and sync fetches it.
    async fn on_decided(
        &mut self,
        certificate: CommitCertificate<FdlContext>,
        reply: Reply<()>,
    ) -> Result<(), LedgerError> {
        let h = certificate.height.0;
        let commit = certificate_to_commit(&self.validator_set(h), self.ctx.suite, &certificate)?;
        match self.ledger.commit(h, certificate.value_id.0, commit).await {
            Ok(()) => self.failed_decision = false,
            Err(LedgerError::Unknown(hash)) => {
                // The block never reached us (a crash between vote and decision): sync fetches it.
                tracing::warn!(height = h, %hash, "decided a block this node does not hold; it will sync");
                self.failed_decision = true;
            }
            Err(e) => return Err(e),
        }
        let _ = reply.send(());
        Ok(())
    }

    /// A height is final: report it, forget its proposals, validate the buffered proposals of
    /// the next height, update the peers, and start (or restart) the next height.
    async fn on_finalized(
        &mut self,
        channels: &Channels<FdlContext>,
        certificate: CommitCertificate<FdlContext>,
        evidence: MisbehaviorEvidence<FdlContext>,
        reply: Reply<Next<FdlContext>>,
    ) -> Result<(), LedgerError> {
        let h = certificate.height.0;
        self.report_finalized(&certificate);
        self.report_evidence(h, &evidence);
        self.proposals.forget_through(h);
        let next = self.ledger.height() + 1;
        // Proposals that arrived before their height are validated now, before the engine
        // starts it (the engine awaits this reply without blocking).
        for a in self.proposals.take_future(next) {
            // Checked on arrival against the set then known; the set may have changed since.
            if let Some(digest) = self.authentic(&a) {
                self.process(a, digest).await?;
            }
        }
        self.update_peers(channels).await;
        let params = self.params(next);
        let _ = if self.failed_decision {
            reply.send(Next::Restart(Height(next), params))
        } else {
            reply.send(Next::Start(Height(next), params))
        };
        Ok(())
    }

    /// A peer syncs: up to [`MAX_SYNC_BATCH`] stored blocks with their certificates, from the
    /// start of `range`, stopping at the first height not stored and before the blocks pass
    /// [`SYNC_MAX_RESPONSE_SIZE`] (the first block is always served; the engine would drop the
    /// rest, so reading it would be wasted).
    async fn on_get_decided_values(
        &mut self,
        range: RangeInclusive<Height>,
        reply: Reply<Vec<RawDecidedValue<FdlContext>>>,
    ) -> Result<(), LedgerError> {
        let tip = self.ledger.height();
        let start = range.start().0.max(1);
        let end = range.end().0.min(tip).min(start.saturating_add(MAX_SYNC_BATCH - 1));
        let budget = usize::try_from(SYNC_MAX_RESPONSE_SIZE.as_u64()).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut size = 0usize;
        let mut h = start;
        while h <= end {
            let Some((bytes, commit)) = self.ledger.decided(h).await? else { break };
            size = size.saturating_add(bytes.len());
            if !out.is_empty() && size > budget {
                break;
            }
            out.push(RawDecidedValue::new(Bytes::from(bytes), commit_to_certificate(&commit)));
            h += 1;
        }
        let _ = reply.send(out);
        Ok(())
    }

    /// A block fetched by sync: the ledger validates it for the next height.
    async fn on_process_synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: ValidatorAddress,
        value_bytes: Bytes,
        reply: Reply<SyncedValueOutcome<FdlContext>>,
    ) -> Result<(), LedgerError> {
        let outcome = if height.0 != self.ledger.height() + 1 {
            // Between a decision and its finalization the engine may still be at the height
            // just committed: not the peer's fault.
            SyncedValueOutcome::LocalTransientError
        } else {
            let verdict = |value, validity| {
                SyncedValueOutcome::Verdict(ProposedValue {
                    height,
                    round,
                    valid_round: Round::Nil,
                    proposer,
                    value: BlockValue(value),
                    validity,
                })
            };
            match self.ledger.validate(height.0, proposer.0, &value_bytes).await {
                Ok(h) => {
                    self.ledger.observe(ConsensusEvent::Synced(height.0));
                    verdict(h, Validity::Valid)
                }
                Err(LedgerError::Invalid { hash: Some(h), .. }) => verdict(h, Validity::Invalid),
                Err(LedgerError::Invalid { .. }) | Err(LedgerError::Unknown(_)) => SyncedValueOutcome::PeerFault,
                Err(e) => return Err(e),
            }
        };
        let _ = reply.send(outcome);
        Ok(())
    }
}
