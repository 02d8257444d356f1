//! Proposal-part streams: this node's block cut into parts, and peers' parts put back together
//! into whole proposals within fixed memory bounds.
//!
//! A stream is `Init`, the block in [`DATA_PART_SIZE`] chunks, the proposer's signature, and the
//! transport's closing `Fin`, numbered from 0. Parts may arrive in any order; a stream is yielded
//! once every sequence number up to its `Fin` is present. Nothing here checks the signature (see
//! [`super::auth`]).

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
    time::{Duration, Instant},
};

use bytes::Bytes;
use malachitebft_app_channel::app::{
    streaming::{StreamContent, StreamId, StreamMessage},
    types::core::Round,
};

use crate::context::{Height, ProposalPart, ValidatorAddress};

/// Size of one proposal data part.
pub(super) const DATA_PART_SIZE: usize = 256 * 1024;
/// Most partly received streams kept at once (the oldest is dropped beyond it).
pub(super) const MAX_STREAMS: usize = 64;
/// Largest stream: a block of the largest size genesis allows, plus framing.
pub(super) const MAX_STREAM_BYTES: usize = 13 * 1024 * 1024;
/// Most parts in one stream: a part with a sequence number at or above it drops the stream.
pub(super) const MAX_STREAM_PARTS: u64 = 128;
/// How long a stream may stay incomplete, counted from its first part; older ones are dropped.
pub(super) const STREAM_TTL: Duration = Duration::from_secs(30);
/// Bytes a part other than a data chunk counts toward [`MAX_STREAM_BYTES`].
pub(super) const CONTROL_PART_BYTES: usize = 64;
/// Length of this node's stream ids: height (8 bytes), round (4) and a counter (8).
const STREAM_ID_LEN: usize = 20;

/// A complete proposal: what a closed stream carried, not yet authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Assembled {
    /// Height announced by `Init`.
    pub height: Height,
    /// Round announced by `Init`.
    pub round: Round,
    /// Proof-of-lock round announced by `Init`.
    pub pol_round: Round,
    /// Proposer announced by `Init`.
    pub proposer: ValidatorAddress,
    /// The data parts, concatenated: the encoded block.
    pub data: Vec<u8>,
    /// The proposer's signature over [`crate::part_signing_bytes`].
    pub signature: Bytes,
}

/// A partly received proposal stream.
#[derive(Default)]
struct Stream {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    fin_seq: Option<u64>,
    started: Option<Instant>,
    bytes: usize,
}

/// Partly received streams by key (the host keys them by publisher and stream id).
pub(super) struct StreamTable<K> {
    streams: HashMap<K, Stream>,
}

impl<K: Hash + Eq + Clone> StreamTable<K> {
    /// An empty table.
    pub(super) fn new() -> Self {
        StreamTable { streams: HashMap::new() }
    }

    /// Adds a part received at `now`; returns the whole proposal when the stream is complete.
    ///
    /// A stream is dropped when a part's sequence number reaches [`MAX_STREAM_PARTS`], when its
    /// parts exceed [`MAX_STREAM_BYTES`], when it is older than [`STREAM_TTL`], or, the oldest
    /// first, when a new stream would exceed [`MAX_STREAMS`]. A complete stream that is not
    /// `Init`, data, signature, `Fin` in that order is dropped without a result.
    pub(super) fn add_part(&mut self, key: K, msg: StreamMessage<ProposalPart>, now: Instant) -> Option<Assembled> {
        if msg.sequence >= MAX_STREAM_PARTS {
            self.streams.remove(&key);
            return None;
        }
        // Bound memory: streams that never complete are dropped, oldest first.
        self.streams.retain(|_, s| s.started.is_some_and(|t| now.saturating_duration_since(t) < STREAM_TTL));
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_STREAMS {
            let oldest = self.streams.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.streams.remove(&k);
            }
        }
        let s = self.streams.entry(key.clone()).or_default();
        s.started.get_or_insert(now);
        s.bytes = s.bytes.saturating_add(match &msg.content {
            StreamContent::Data(ProposalPart::Data(b)) => b.len(),
            _ => CONTROL_PART_BYTES,
        });
        if s.bytes > MAX_STREAM_BYTES {
            self.streams.remove(&key);
            return None;
        }
        if matches!(msg.content, StreamContent::Fin) {
            s.fin_seq = Some(msg.sequence);
        }
        s.parts.insert(msg.sequence, msg.content);
        let fin = s.fin_seq?;
        if s.parts.len() as u64 != fin + 1 {
            return None;
        }
        let s = self.streams.remove(&key)?;
        let mut it = s.parts.into_values();
        let Some(StreamContent::Data(ProposalPart::Init { height, round, pol_round, proposer })) = it.next() else {
            return None;
        };
        let mut data = Vec::with_capacity(s.bytes);
        let mut signature = None;
        for c in it {
            match c {
                StreamContent::Data(ProposalPart::Data(b)) if signature.is_none() => data.extend_from_slice(&b),
                StreamContent::Data(ProposalPart::Fin(sig)) if signature.is_none() => signature = Some(sig),
                StreamContent::Fin if signature.is_some() => {}
                _ => return None,
            }
        }
        Some(Assembled { height, round, pol_round, proposer, data, signature: signature? })
    }
}

/// The parts that carry `body` proposed by `proposer`: `Init`, the block in [`DATA_PART_SIZE`]
/// chunks, then the proposer's `signature` (see [`crate::part_signing_bytes`]).
pub(super) fn proposal_parts(
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: ValidatorAddress,
    body: &Bytes,
    signature: Bytes,
) -> Vec<ProposalPart> {
    let mut parts = vec![ProposalPart::Init { height, round, pol_round, proposer }];
    for chunk in body.chunks(DATA_PART_SIZE) {
        parts.push(ProposalPart::Data(body.slice_ref(chunk)));
    }
    parts.push(ProposalPart::Fin(signature));
    parts
}

/// The stream messages that send `parts` on stream `id`: numbered from 0, then the closing `Fin`.
pub(super) fn stream_messages(id: StreamId, parts: Vec<ProposalPart>) -> Vec<StreamMessage<ProposalPart>> {
    let mut out = Vec::with_capacity(parts.len() + 1);
    let mut seq = 0u64;
    for p in parts {
        out.push(StreamMessage::new(id.clone(), seq, StreamContent::Data(p)));
        seq += 1;
    }
    out.push(StreamMessage::new(id, seq, StreamContent::Fin));
    out
}

/// Ids for this node's streams: unique per process (height, round and a counter).
#[derive(Default)]
pub(super) struct StreamIds {
    counter: u64,
}

impl StreamIds {
    /// A new id for a stream of (`height`, `round`).
    pub(super) fn next(&mut self, height: u64, round: u32) -> StreamId {
        self.counter = self.counter.wrapping_add(1);
        let mut b = Vec::with_capacity(STREAM_ID_LEN);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&round.to_be_bytes());
        b.extend_from_slice(&self.counter.to_be_bytes());
        StreamId::new(Bytes::from(b))
    }
}
