//! Proposal-part streams: this node's block cut into parts, and peers' parts put back together
//! into whole proposals within fixed memory bounds.
//!
//! A stream is `Init`, the block in [`DATA_PART_SIZE`] chunks, the proposer's signature, and the
//! transport's closing `Fin`, numbered from 0. Parts may arrive in any order; a stream is yielded
//! once every sequence number from 0 to its `Fin` is present and none beyond. Nothing here checks
//! the signature (see [`super::auth`]): it can only be checked once the whole block is there.
//!
//! What a peer can make this node keep is bounded *per publisher* (the peer that published the
//! stream, as the transport authenticates it): at most [`MAX_STREAMS_PER_PEER`] partial streams
//! of at most [`MAX_STREAM_BYTES`] each, and a publisher's new stream only ever evicts that
//! publisher's own older streams, so no other peer can push out the round proposer's stream.
//! An `Init` is checked on arrival against the caller's rule (the host admits only the proposer
//! of a (height, round) within a small window, see [`super::proposals::Window`]); a refused
//! stream is dropped and its later parts are ignored without being kept. At most
//! [`MAX_PUBLISHERS`] publishers have partial streams at once; beyond that new publishers are
//! refused (never evicting another's stream).

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
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
/// Most partly received streams one publisher may have at once: an honest proposer has one
/// stream in flight, two when a round ends before its stream completed, three with a proposal
/// for the next height; a new stream beyond this evicts the publisher's own oldest one.
pub(super) const MAX_STREAMS_PER_PEER: usize = 3;
/// Most publishers with partly received streams at once. Only validators publish proposals and
/// an honest one's stream completes within a round, so this is reached only when many peers
/// hold streams open; a new publisher is then refused rather than evicting another's stream.
/// With [`MAX_STREAMS_PER_PEER`] and [`MAX_STREAM_BYTES`] it bounds the memory of partial streams
/// (16 x 3 x 13 MiB).
pub(super) const MAX_PUBLISHERS: usize = 16;
/// Largest stream: a block of the largest size genesis allows, plus framing.
pub(super) const MAX_STREAM_BYTES: usize = 13 * 1024 * 1024;
/// Most parts in one stream: a part with a sequence number at or above it drops the stream.
pub(super) const MAX_STREAM_PARTS: u64 = 128;
/// How long a stream may stay incomplete, counted from its first part; older ones are dropped.
pub(super) const STREAM_TTL: Duration = Duration::from_secs(30);
/// Bytes a part other than a data chunk counts toward [`MAX_STREAM_BYTES`].
pub(super) const CONTROL_PART_BYTES: usize = 64;
/// Refused streams remembered (the latest ones, of any publisher), so that a refused stream's
/// later parts are ignored instead of opening a stream without `Init`.
const MAX_REFUSED: usize = 64;
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
struct Stream {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    fin_seq: Option<u64>,
    started: Instant,
    bytes: usize,
    /// (height, round) of its admitted `Init`, once that arrived.
    init: Option<(Height, Round)>,
}

/// One publisher's partial streams.
#[derive(Default)]
struct Publisher {
    streams: HashMap<StreamId, Stream>,
}

impl Publisher {
    /// Drops this publisher's stream to make room: one without `Init` first, then the oldest.
    fn evict_one(&mut self) {
        let victim = self.streams.iter().min_by_key(|(_, s)| (s.init.is_some(), s.started)).map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.streams.remove(&k);
        }
    }
}

/// Partly received streams by publisher (the host keys them by the publishing peer) and stream id.
pub(super) struct StreamTable<P> {
    peers: HashMap<P, Publisher>,
    /// The latest refused streams, by publisher and id.
    refused: VecDeque<(P, StreamId)>,
    /// The publishers whose parts are kept at all (`None`: any). Gossip checks a message's
    /// signature against its source but not that the source is a node of the chain: without
    /// this, one peer could mint [`MAX_PUBLISHERS`] throwaway identities, fill the publisher
    /// slots with one part each, and shut out the real proposer's stream (docs/security.md).
    allowed: Option<HashSet<P>>,
}

impl<P: Hash + Eq + Clone> StreamTable<P> {
    /// An empty table that keeps parts from any publisher.
    pub(super) fn new() -> Self {
        StreamTable { peers: HashMap::new(), refused: VecDeque::new(), allowed: None }
    }

    /// Keeps only parts published by `publishers` (the chain's nodes) from now on; an empty
    /// list (a node that knows no peer yet) leaves the table open.
    pub(super) fn only_from(&mut self, publishers: impl IntoIterator<Item = P>) {
        let set: HashSet<P> = publishers.into_iter().collect();
        self.allowed = (!set.is_empty()).then_some(set);
    }

    /// Also keeps parts published by `publishers` (nodes admitted since).
    pub(super) fn also_from(&mut self, publishers: impl IntoIterator<Item = P>) {
        if let Some(a) = &mut self.allowed {
            a.extend(publishers);
        }
    }

    /// Adds a part published by `peer`, received at `now`; returns the whole proposal when the
    /// stream is complete. `admit` decides on an `Init` part (height, round, claimed proposer):
    /// a refused one drops its stream, and the stream's later parts are ignored.
    ///
    /// A stream is dropped when a part's sequence number reaches [`MAX_STREAM_PARTS`] or lies past
    /// its `Fin`, when its parts exceed [`MAX_STREAM_BYTES`], or when it is older than
    /// [`STREAM_TTL`]; a publisher's new stream beyond [`MAX_STREAMS_PER_PEER`] evicts one of that
    /// publisher's own (one without `Init` first, then the oldest). A part already received
    /// (same sequence number) is ignored. A complete stream that is not `Init`, data, signature,
    /// `Fin` in that order is dropped without a result.
    pub(super) fn add_part(
        &mut self,
        peer: P,
        msg: StreamMessage<ProposalPart>,
        now: Instant,
        admit: impl FnOnce(Height, Round, &ValidatorAddress) -> bool,
    ) -> Option<Assembled> {
        if self.allowed.as_ref().is_some_and(|a| !a.contains(&peer)) {
            return None;
        }
        // Bound memory: streams that never complete are dropped.
        for p in self.peers.values_mut() {
            p.streams.retain(|_, s| now.saturating_duration_since(s.started) < STREAM_TTL);
        }
        self.peers.retain(|_, p| !p.streams.is_empty());
        let id = msg.stream_id.clone();
        if self.refused.iter().any(|(p, i)| *p == peer && *i == id) {
            return None;
        }
        if msg.sequence >= MAX_STREAM_PARTS {
            self.refuse(peer, id);
            return None;
        }
        let init = match &msg.content {
            StreamContent::Data(ProposalPart::Init { height, round, proposer, .. }) => {
                if !admit(*height, *round, proposer) {
                    self.refuse(peer, id);
                    return None;
                }
                Some((*height, *round))
            }
            _ => None,
        };
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_PUBLISHERS {
            return None;
        }
        let publisher = self.peers.entry(peer.clone()).or_default();
        if !publisher.streams.contains_key(&id) && publisher.streams.len() >= MAX_STREAMS_PER_PEER {
            publisher.evict_one();
        }
        let s = publisher.streams.entry(id.clone()).or_insert_with(|| Stream {
            parts: BTreeMap::new(),
            fin_seq: None,
            started: now,
            bytes: 0,
            init: None,
        });
        if s.parts.contains_key(&msg.sequence) {
            // A duplicate: neither counted again nor allowed to replace what arrived first.
            return None;
        }
        let past_fin = s.fin_seq.is_some_and(|f| msg.sequence > f)
            || (matches!(msg.content, StreamContent::Fin)
                && (s.fin_seq.is_some() || s.parts.keys().next_back().is_some_and(|&last| last > msg.sequence)));
        s.bytes = s.bytes.saturating_add(match &msg.content {
            StreamContent::Data(ProposalPart::Data(b)) => b.len(),
            _ => CONTROL_PART_BYTES,
        });
        if past_fin || s.bytes > MAX_STREAM_BYTES {
            self.refuse(peer, id);
            return None;
        }
        if matches!(msg.content, StreamContent::Fin) {
            s.fin_seq = Some(msg.sequence);
        }
        if init.is_some() {
            s.init = init;
        }
        s.parts.insert(msg.sequence, msg.content);
        let fin = s.fin_seq?;
        // Complete when every sequence number 0..=fin is there: the keys are distinct and none
        // lies past `fin`, so a count of fin + 1 leaves no gap.
        if s.parts.len() as u64 != fin + 1 {
            return None;
        }
        let s = publisher.streams.remove(&id)?;
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

    /// Drops `peer`'s stream `id` and ignores its later parts.
    fn refuse(&mut self, peer: P, id: StreamId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.streams.remove(&id);
            if p.streams.is_empty() {
                self.peers.remove(&peer);
            }
        }
        if !self.refused.iter().any(|(p, i)| *p == peer && *i == id) {
            if self.refused.len() >= MAX_REFUSED {
                self.refused.pop_front();
            }
            self.refused.push_back((peer, id));
        }
    }

    /// Drops the partial streams whose `Init` is for a (height, round) before (`height`, `round`):
    /// the engine has left those rounds, so their proposals can no longer be admitted.
    pub(super) fn forget_before(&mut self, height: Height, round: Round) {
        for p in self.peers.values_mut() {
            p.streams.retain(|_, s| s.init.is_none_or(|(h, r)| (h, r) >= (height, round)));
        }
        self.peers.retain(|_, p| !p.streams.is_empty());
    }

    /// Whether `peer` has a stream being assembled.
    #[cfg(test)]
    pub(super) fn contains(&self, peer: &P) -> bool {
        self.peers.get(peer).is_some_and(|p| !p.streams.is_empty())
    }

    /// The number of streams being assembled.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.peers.values().map(|p| p.streams.len()).sum()
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

#[cfg(test)]
mod tests {
    use fdl_crypto::Address;

    use super::*;

    const KEY: u8 = 1;

    fn proposer() -> ValidatorAddress {
        ValidatorAddress(Address([7; 20]))
    }

    fn body(len: usize) -> Bytes {
        Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
    }

    /// The messages of a stream for `body` at height 5, round 1, as this node publishes them.
    fn messages(body: &Bytes) -> Vec<StreamMessage<ProposalPart>> {
        let parts =
            proposal_parts(Height(5), Round::new(1), Round::Nil, proposer(), body, Bytes::from_static(b"signature"));
        stream_messages(StreamIds::default().next(5, 1), parts)
    }

    fn expected(body: &Bytes) -> Assembled {
        Assembled {
            height: Height(5),
            round: Round::new(1),
            pol_round: Round::Nil,
            proposer: proposer(),
            data: body.to_vec(),
            signature: Bytes::from_static(b"signature"),
        }
    }

    /// Adds a part with an `Init` rule that admits every stream.
    fn add<P: Hash + Eq + Clone>(
        t: &mut StreamTable<P>,
        peer: P,
        m: StreamMessage<ProposalPart>,
        now: Instant,
    ) -> Option<Assembled> {
        t.add_part(peer, m, now, |_, _, _| true)
    }

    /// Feeds `msgs` in order; returns what each part yielded.
    fn feed(t: &mut StreamTable<u8>, msgs: Vec<StreamMessage<ProposalPart>>, now: Instant) -> Vec<Option<Assembled>> {
        msgs.into_iter().map(|m| add(t, KEY, m, now)).collect()
    }

    #[test]
    fn a_stream_in_order_yields_the_block_on_its_last_part() {
        let b = body(DATA_PART_SIZE * 2 + 10);
        let msgs = messages(&b);
        assert_eq!(msgs.len(), 6, "Init, three data parts, signature, Fin");
        let mut t = StreamTable::new();
        let out = feed(&mut t, msgs, Instant::now());
        let (last, rest) = out.split_last().expect("parts");
        assert!(rest.iter().all(Option::is_none), "nothing before the stream is complete");
        assert_eq!(last.as_ref(), Some(&expected(&b)));
        assert_eq!(t.len(), 0, "a complete stream is no longer kept");
    }

    #[test]
    fn an_empty_block_is_one_init_a_signature_and_fin() {
        let b = Bytes::new();
        let msgs = messages(&b);
        assert_eq!(msgs.len(), 3);
        let mut t = StreamTable::new();
        let out = feed(&mut t, msgs, Instant::now());
        assert_eq!(out.last().cloned().flatten(), Some(expected(&b)));
    }

    #[test]
    fn parts_out_of_order_yield_the_block_once_all_arrived() {
        let b = body(DATA_PART_SIZE * 3 + 1);
        let mut msgs = messages(&b);
        // Fin first, Init last, data reversed.
        msgs.reverse();
        let mut t = StreamTable::new();
        let out = feed(&mut t, msgs, Instant::now());
        let (last, rest) = out.split_last().expect("parts");
        assert!(rest.iter().all(Option::is_none));
        assert_eq!(last.as_ref(), Some(&expected(&b)));

        // Interleaved: odd sequence numbers, then even ones.
        let msgs = messages(&b);
        let (odd, even): (Vec<_>, Vec<_>) = msgs.into_iter().partition(|m| m.sequence % 2 == 1);
        let mut out = feed(&mut t, odd, Instant::now());
        out.extend(feed(&mut t, even, Instant::now()));
        assert_eq!(out.iter().flatten().count(), 1);
        assert_eq!(out.last().cloned().flatten(), Some(expected(&b)));
    }

    #[test]
    fn duplicate_parts_do_not_complete_a_stream_or_change_the_block() {
        let b = body(DATA_PART_SIZE + 5);
        let msgs = messages(&b);
        let mut t = StreamTable::new();
        let now = Instant::now();
        // Every part but the last (Fin), twice.
        for m in &msgs[..msgs.len() - 1] {
            assert_eq!(add(&mut t, KEY, m.clone(), now), None);
            assert_eq!(add(&mut t, KEY, m.clone(), now), None);
        }
        let fin = msgs.last().cloned().expect("fin");
        assert_eq!(add(&mut t, KEY, fin.clone(), now), Some(expected(&b)));
        // A part of a finished stream starts a new, incomplete one.
        assert_eq!(add(&mut t, KEY, fin, now), None);
        assert!(t.contains(&KEY));
    }

    #[test]
    fn a_stream_whose_fin_never_arrives_is_not_yielded_and_expires() {
        let b = body(100);
        let mut msgs = messages(&b);
        msgs.pop();
        let mut t = StreamTable::new();
        let start = Instant::now();
        assert!(feed(&mut t, msgs, start).iter().all(Option::is_none));
        assert!(t.contains(&KEY));
        // Any later part, from any stream, drops streams older than the time limit.
        let other = messages(&b).remove(0);
        assert_eq!(add(&mut t, 2, other.clone(), start + STREAM_TTL - Duration::from_millis(1)), None);
        assert!(t.contains(&KEY), "still within the time limit");
        assert_eq!(add(&mut t, 3, other, start + STREAM_TTL), None);
        assert!(!t.contains(&KEY), "expired");
        assert!(t.contains(&2) && t.contains(&3), "younger streams are kept");
    }

    #[test]
    fn a_stream_with_a_missing_part_is_not_yielded() {
        let b = body(DATA_PART_SIZE * 2);
        let mut msgs = messages(&b);
        msgs.remove(2);
        let mut t = StreamTable::new();
        assert!(feed(&mut t, msgs, Instant::now()).iter().all(Option::is_none));
        assert!(t.contains(&KEY));
    }

    #[test]
    fn a_sequence_number_at_the_part_cap_drops_the_stream() {
        let b = body(10);
        let msgs = messages(&b);
        let mut t = StreamTable::new();
        let now = Instant::now();
        assert_eq!(add(&mut t, KEY, msgs[0].clone(), now), None);
        let mut far = msgs[1].clone();
        far.sequence = MAX_STREAM_PARTS;
        assert_eq!(add(&mut t, KEY, far, now), None);
        assert!(!t.contains(&KEY), "the partial stream is dropped");
        // The remaining parts cannot complete it without Init.
        assert!(feed(&mut t, msgs[1..].to_vec(), now).iter().all(Option::is_none));

        // The last sequence number below the cap is still accepted.
        let mut last = msgs[1].clone();
        last.sequence = MAX_STREAM_PARTS - 1;
        assert_eq!(add(&mut t, 9, last, now), None);
        assert!(t.contains(&9));
    }

    #[test]
    fn a_stream_over_the_byte_cap_is_dropped() {
        let chunk = Bytes::from(vec![0u8; DATA_PART_SIZE]);
        let id = StreamIds::default().next(5, 1);
        let mut t = StreamTable::new();
        let now = Instant::now();
        let init =
            ProposalPart::Init { height: Height(5), round: Round::new(1), pol_round: Round::Nil, proposer: proposer() };
        assert_eq!(add(&mut t, KEY, StreamMessage::new(id.clone(), 0, StreamContent::Data(init)), now), None);
        let mut total = CONTROL_PART_BYTES;
        let mut seq = 1;
        while total + DATA_PART_SIZE <= MAX_STREAM_BYTES {
            let m = StreamMessage::new(id.clone(), seq, StreamContent::Data(ProposalPart::Data(chunk.clone())));
            assert_eq!(add(&mut t, KEY, m, now), None);
            total += DATA_PART_SIZE;
            seq += 1;
        }
        assert!(t.contains(&KEY), "at most the cap is kept");
        let m = StreamMessage::new(id, seq, StreamContent::Data(ProposalPart::Data(chunk)));
        assert_eq!(add(&mut t, KEY, m, now), None);
        assert!(!t.contains(&KEY), "one more chunk passes the cap and drops the stream");
    }

    /// The messages of a stream for `body` at (`height`, `round`) on stream `id`.
    fn messages_at(height: u64, round: u32, id: StreamId, body: &Bytes) -> Vec<StreamMessage<ProposalPart>> {
        let parts = proposal_parts(
            Height(height),
            Round::new(round),
            Round::Nil,
            proposer(),
            body,
            Bytes::from_static(b"signature"),
        );
        stream_messages(id, parts)
    }

    #[test]
    fn a_publisher_beyond_its_quota_evicts_only_its_own_streams() {
        let b = body(10);
        let mut ids = StreamIds::default();
        let mut t: StreamTable<u8> = StreamTable::new();
        let start = Instant::now();
        // The round proposer's publisher opens its stream first.
        let honest = messages_at(5, 1, ids.next(5, 1), &b);
        assert_eq!(add(&mut t, 1, honest[0].clone(), start), None);
        // Another peer opens streams without end: each a new stream id, all claiming the round.
        for i in 0..(MAX_STREAMS_PER_PEER * MAX_PUBLISHERS * 2) as u64 {
            let m = messages_at(5, 1, ids.next(5, 1), &b).remove(0);
            assert_eq!(add(&mut t, 2, m, start + Duration::from_millis(i)), None);
        }
        assert_eq!(t.len(), 1 + MAX_STREAMS_PER_PEER, "the flooding peer keeps at most its quota");
        // The honest stream was never evicted and completes.
        let out: Vec<_> = honest[1..].iter().map(|m| add(&mut t, 1, m.clone(), start)).collect();
        assert_eq!(out.last().cloned().flatten().map(|a| a.data), Some(b.to_vec()));
    }

    #[test]
    fn a_publishers_streams_without_init_are_evicted_before_its_claimed_ones() {
        let b = body(10);
        let mut ids = StreamIds::default();
        let mut t: StreamTable<u8> = StreamTable::new();
        let start = Instant::now();
        let claimed = messages_at(5, 1, ids.next(5, 1), &b);
        assert_eq!(add(&mut t, 1, claimed[0].clone(), start), None);
        for i in 1..=(MAX_STREAMS_PER_PEER * 2) as u64 {
            // Data parts of streams whose Init never comes.
            let m = messages_at(5, 1, ids.next(5, 1), &b).remove(1);
            assert_eq!(add(&mut t, 1, m, start + Duration::from_millis(i)), None);
        }
        assert_eq!(t.len(), MAX_STREAMS_PER_PEER);
        let out: Vec<_> = claimed[1..].iter().map(|m| add(&mut t, 1, m.clone(), start)).collect();
        assert!(out.last().cloned().flatten().is_some(), "the oldest, but claimed, stream was kept");
    }

    #[test]
    fn new_publishers_beyond_the_cap_are_refused_not_evicting() {
        let b = body(10);
        let mut ids = StreamIds::default();
        let mut t: StreamTable<usize> = StreamTable::new();
        let now = Instant::now();
        let first = messages_at(5, 1, ids.next(5, 1), &b);
        assert_eq!(add(&mut t, 0, first[0].clone(), now), None);
        for peer in 1..MAX_PUBLISHERS * 2 {
            let m = messages_at(5, 1, ids.next(5, 1), &b).remove(0);
            assert_eq!(add(&mut t, peer, m, now), None);
        }
        assert_eq!(t.len(), MAX_PUBLISHERS);
        assert!(t.contains(&0) && !t.contains(&MAX_PUBLISHERS));
        let out: Vec<_> = first[1..].iter().map(|m| add(&mut t, 0, m.clone(), now)).collect();
        assert!(out.last().cloned().flatten().is_some());
    }

    /// Throwaway identities (gossip accepts any self-signed source) cannot take the publisher
    /// slots: parts from peers that are not nodes of the chain are not kept, so the real
    /// proposer's stream, arriving after them, still completes.
    #[test]
    fn parts_from_peers_that_are_not_nodes_cannot_shut_out_the_proposer() {
        let b = body(10);
        let mut ids = StreamIds::default();
        let mut t: StreamTable<usize> = StreamTable::new();
        let proposer = 10_000;
        t.only_from([1, 2, 3]);
        t.also_from([proposer]);
        let now = Instant::now();
        for sybil in 100..100 + MAX_PUBLISHERS * 2 {
            let m = messages_at(5, 1, ids.next(5, 1), &b).remove(1);
            assert_eq!(add(&mut t, sybil, m, now), None);
        }
        assert_eq!(t.len(), 0, "nothing kept for a peer that is not a node");
        let out: Vec<_> =
            messages_at(5, 1, ids.next(5, 1), &b).into_iter().map(|m| add(&mut t, proposer, m, now)).collect();
        assert!(out.last().cloned().flatten().is_some(), "the proposer's stream completes");
    }

    #[test]
    fn a_refused_init_keeps_nothing_and_its_later_parts_are_ignored() {
        let b = body(DATA_PART_SIZE);
        let mut ids = StreamIds::default();
        let mut t: StreamTable<u8> = StreamTable::new();
        let now = Instant::now();
        let mut asked = Vec::new();
        // Streams for far-future rounds: the rule refuses each Init.
        for round in 1_000..1_000 + (MAX_STREAMS_PER_PEER * 4) as u32 {
            let msgs = messages_at(5, round, ids.next(5, round), &b);
            for m in msgs {
                let out = t.add_part(KEY, m, now, |h, r, _| {
                    asked.push((h, r));
                    false
                });
                assert_eq!(out, None);
            }
        }
        assert_eq!(t.len(), 0, "nothing of a refused stream is kept");
        assert_eq!(asked.len(), MAX_STREAMS_PER_PEER * 4, "one decision per stream, on its Init");
        // The rule is asked with the Init's height and round.
        assert_eq!(asked[0], (Height(5), Round::new(1_000)));
        // Parts that came before their Init are dropped with it.
        let msgs = messages_at(5, 2_000, ids.next(5, 2_000), &b);
        assert_eq!(add(&mut t, KEY, msgs[1].clone(), now), None);
        assert!(t.contains(&KEY));
        assert_eq!(t.add_part(KEY, msgs[0].clone(), now, |_, _, _| false), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn streams_of_rounds_left_behind_are_dropped() {
        let b = body(10);
        let mut ids = StreamIds::default();
        let mut t: StreamTable<u8> = StreamTable::new();
        let now = Instant::now();
        let old = messages_at(5, 1, ids.next(5, 1), &b);
        let current = messages_at(5, 2, ids.next(5, 2), &b);
        let lower = messages_at(4, 3, ids.next(4, 3), &b);
        assert_eq!(add(&mut t, 1, old[0].clone(), now), None);
        assert_eq!(add(&mut t, 2, current[0].clone(), now), None);
        assert_eq!(add(&mut t, 3, lower[0].clone(), now), None);
        assert_eq!(add(&mut t, 4, old[1].clone(), now), None, "no Init yet");
        t.forget_before(Height(5), Round::new(2));
        assert!(!t.contains(&1) && !t.contains(&3), "round 1 and height 4 are left");
        assert!(t.contains(&2) && t.contains(&4));
    }

    #[test]
    fn malformed_complete_streams_yield_nothing() {
        let b = body(10);
        let now = Instant::now();
        let id = StreamIds::default().next(5, 1);
        let init =
            ProposalPart::Init { height: Height(5), round: Round::new(1), pol_round: Round::Nil, proposer: proposer() };
        let data = ProposalPart::Data(b.clone());
        let sig = ProposalPart::Fin(Bytes::from_static(b"signature"));
        let cases: Vec<(&str, Vec<ProposalPart>)> = vec![
            ("no Init", vec![data.clone(), sig.clone()]),
            ("no signature", vec![init.clone(), data.clone()]),
            ("data after the signature", vec![init.clone(), sig.clone(), data.clone()]),
            ("two signatures", vec![init.clone(), data.clone(), sig.clone(), sig.clone()]),
            ("two Inits", vec![init.clone(), init.clone(), data.clone(), sig.clone()]),
        ];
        for (what, parts) in cases {
            let mut t = StreamTable::new();
            let out = feed(&mut t, stream_messages(id.clone(), parts), now);
            assert!(out.iter().all(Option::is_none), "{what}");
            assert_eq!(t.len(), 0, "{what}: a complete stream is dropped even when malformed");
        }
    }

    #[test]
    fn streams_with_different_keys_do_not_mix() {
        let a = body(DATA_PART_SIZE + 3);
        let b = Bytes::from(vec![9u8; 40]);
        let (ma, mb) = (messages(&a), messages(&b));
        let mut t = StreamTable::new();
        let now = Instant::now();
        let mut out = Vec::new();
        for i in 0..ma.len().max(mb.len()) {
            if let Some(m) = ma.get(i) {
                out.push(add(&mut t, 1, m.clone(), now));
            }
            if let Some(m) = mb.get(i) {
                out.push(add(&mut t, 2, m.clone(), now));
            }
        }
        let done: Vec<_> = out.into_iter().flatten().collect();
        assert_eq!(done, vec![expected(&b), expected(&a)]);
    }

    #[test]
    fn duplicate_parts_do_not_count_twice_toward_the_byte_cap() {
        let b = body(DATA_PART_SIZE);
        let msgs = messages(&b);
        assert_eq!(msgs.len(), 4, "Init, one data part, signature, Fin");
        let mut t = StreamTable::new();
        let now = Instant::now();
        assert_eq!(add(&mut t, KEY, msgs[0].clone(), now), None);
        // The same data part, resent far more often than the byte cap would allow if counted.
        for _ in 0..(MAX_STREAM_BYTES / DATA_PART_SIZE) * 2 {
            assert_eq!(add(&mut t, KEY, msgs[1].clone(), now), None);
        }
        assert!(t.contains(&KEY), "duplicates neither grow nor drop the stream");
        let out = feed(&mut t, msgs[2..].to_vec(), now);
        assert_eq!(out.last().cloned().flatten(), Some(expected(&b)));
    }

    #[test]
    fn a_stream_with_a_gap_is_not_yielded_whatever_its_part_count() {
        let b = body(10);
        let msgs = messages(&b);
        assert_eq!(msgs.len(), 4, "Init, one data part, signature, Fin");
        let mut t = StreamTable::new();
        let now = Instant::now();
        // A second closing Fin past the real one, then the real one: as many parts as the
        // stream should have, but the data part (sequence 1) never arrived.
        let mut late_fin = msgs[3].clone();
        late_fin.sequence = 4;
        let out = feed(&mut t, vec![msgs[0].clone(), msgs[2].clone(), late_fin, msgs[3].clone()], now);
        assert!(out.iter().all(Option::is_none));
    }

    #[test]
    fn stream_ids_are_unique() {
        let mut ids = StreamIds::default();
        let (a, b) = (ids.next(3, 0), ids.next(3, 0));
        assert_ne!(a, b);
        assert_eq!(a.to_bytes().len(), STREAM_ID_LEN);
    }
}
