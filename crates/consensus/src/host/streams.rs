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

    /// Whether a stream is being assembled under `key`.
    #[cfg(test)]
    pub(super) fn contains(&self, key: &K) -> bool {
        self.streams.contains_key(key)
    }

    /// The number of streams being assembled.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.streams.len()
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

    /// Feeds `msgs` in order; returns what each part yielded.
    fn feed(t: &mut StreamTable<u8>, msgs: Vec<StreamMessage<ProposalPart>>, now: Instant) -> Vec<Option<Assembled>> {
        msgs.into_iter().map(|m| t.add_part(KEY, m, now)).collect()
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
            assert_eq!(t.add_part(KEY, m.clone(), now), None);
            assert_eq!(t.add_part(KEY, m.clone(), now), None);
        }
        let fin = msgs.last().cloned().expect("fin");
        assert_eq!(t.add_part(KEY, fin.clone(), now), Some(expected(&b)));
        // A part of a finished stream starts a new, incomplete one.
        assert_eq!(t.add_part(KEY, fin, now), None);
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
        assert_eq!(t.add_part(2, other.clone(), start + STREAM_TTL - Duration::from_millis(1)), None);
        assert!(t.contains(&KEY), "still within the time limit");
        assert_eq!(t.add_part(3, other, start + STREAM_TTL), None);
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
        assert_eq!(t.add_part(KEY, msgs[0].clone(), now), None);
        let mut far = msgs[1].clone();
        far.sequence = MAX_STREAM_PARTS;
        assert_eq!(t.add_part(KEY, far, now), None);
        assert!(!t.contains(&KEY), "the partial stream is dropped");
        // The remaining parts cannot complete it without Init.
        assert!(feed(&mut t, msgs[1..].to_vec(), now).iter().all(Option::is_none));

        // The last sequence number below the cap is still accepted.
        let mut last = msgs[1].clone();
        last.sequence = MAX_STREAM_PARTS - 1;
        assert_eq!(t.add_part(9, last, now), None);
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
        assert_eq!(t.add_part(KEY, StreamMessage::new(id.clone(), 0, StreamContent::Data(init)), now), None);
        let mut total = CONTROL_PART_BYTES;
        let mut seq = 1;
        while total + DATA_PART_SIZE <= MAX_STREAM_BYTES {
            let m = StreamMessage::new(id.clone(), seq, StreamContent::Data(ProposalPart::Data(chunk.clone())));
            assert_eq!(t.add_part(KEY, m, now), None);
            total += DATA_PART_SIZE;
            seq += 1;
        }
        assert!(t.contains(&KEY), "at most the cap is kept");
        let m = StreamMessage::new(id, seq, StreamContent::Data(ProposalPart::Data(chunk)));
        assert_eq!(t.add_part(KEY, m, now), None);
        assert!(!t.contains(&KEY), "one more chunk passes the cap and drops the stream");
    }

    #[test]
    fn beyond_the_stream_cap_the_oldest_stream_is_evicted() {
        let b = body(10);
        let msgs = messages(&b);
        let mut t: StreamTable<usize> = StreamTable::new();
        let start = Instant::now();
        for k in 0..MAX_STREAMS {
            let at = start + Duration::from_millis(k as u64);
            assert_eq!(t.add_part(k, msgs[0].clone(), at), None);
        }
        assert_eq!(t.len(), MAX_STREAMS);
        // A part of a kept stream evicts nothing.
        let at = start + Duration::from_millis(MAX_STREAMS as u64);
        assert_eq!(t.add_part(0, msgs[1].clone(), at), None);
        assert_eq!(t.len(), MAX_STREAMS);
        // A new stream evicts the one that started first.
        assert_eq!(t.add_part(MAX_STREAMS, msgs[0].clone(), at), None);
        assert_eq!(t.len(), MAX_STREAMS);
        assert!(!t.contains(&0));
        assert!(t.contains(&1) && t.contains(&MAX_STREAMS));
        // The evicted stream's other parts start afresh and never complete it.
        let out: Vec<_> = msgs[2..].iter().map(|m| t.add_part(0, m.clone(), at)).collect();
        assert!(out.iter().all(Option::is_none));
        assert!(!t.contains(&1), "re-admitting the evicted stream evicted the next oldest");
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
                out.push(t.add_part(1, m.clone(), now));
            }
            if let Some(m) = mb.get(i) {
                out.push(t.add_part(2, m.clone(), now));
            }
        }
        let done: Vec<_> = out.into_iter().flatten().collect();
        assert_eq!(done, vec![expected(&b), expected(&a)]);
    }

    #[test]
    fn stream_ids_are_unique() {
        let mut ids = StreamIds::default();
        let (a, b) = (ids.next(3, 0), ids.next(3, 0));
        assert_ne!(a, b);
        assert_eq!(a.to_bytes().len(), STREAM_ID_LEN);
    }
}
