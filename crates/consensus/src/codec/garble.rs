//! Test-only (feature `byzantine`): what a validator running `FDL_BYZANTINE=garbage` sends
//! instead of its messages. Once [`enable`]d, every encoding for a wire channel (votes and
//! proposals, liveness messages, proposal parts, sync status, requests and responses) is
//! replaced, in turn, by:
//!
//! 1. random bytes of a random length;
//! 2. the real encoding, truncated;
//! 3. a well-formed message of that channel for height `u64::MAX` (a forged vote, an `Init` part,
//!    a status claiming that tip, a request and a response for it), with a random signature;
//! 4. the real encoding with one byte changed;
//! 5. the real encoding with random bytes after it.
//!
//! The handshake's validator proof and what only the write-ahead log keeps are left alone, so the
//! node stays connected as a validator and its garbage reaches the peers.

use std::sync::{
    OnceLock,
    atomic::{AtomicU64, Ordering},
};

use fdl_crypto::Hash;
use fdl_types::{Reader, codec::put_count};
use malachitebft_app_channel::app::types::core::{NilOrVal, Round, SignedMessage, VoteType};

use super::{
    BlockValue, FdlSignature, Height, ProposalPart, ValidatorAddress, Vote, get_peer, put_addr, put_blob, put_bytes,
    put_height, put_part, put_peer, put_round, put_signed_vote,
};

/// The channel an encoding travels on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    /// Not a wire channel (write-ahead log, handshake): never corrupted.
    Local,
    /// Votes and proposals.
    Consensus,
    /// Liveness messages (rebroadcast votes, round certificates).
    Liveness,
    /// Proposal parts.
    ProposalParts,
    /// Sync status (a peer's tip).
    SyncStatus,
    /// Sync requests.
    SyncRequest,
    /// Sync responses.
    SyncResponse,
}

/// How many kinds of garbage [`outgoing`] cycles through.
const KINDS: u64 = 5;
/// How often the garbling is reported in the log, in messages.
const REPORT: u64 = 1_000;

struct Garbler {
    /// The node's own address, which forged votes and parts name.
    address: ValidatorAddress,
    /// Messages garbled so far.
    count: AtomicU64,
}

static GARBLER: OnceLock<Garbler> = OnceLock::new();

/// From now on, this process's wire encodings are garbage (see the module).
pub(crate) fn enable(address: ValidatorAddress) {
    let _ = GARBLER.set(Garbler { address, count: AtomicU64::new(0) });
}

/// A pseudo-random number from `n` (splitmix64): varied enough for garbage, no dependency.
fn random(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| random(seed ^ i.wrapping_mul(0x100_0000_01B3)) as u8).collect()
}

/// What goes out instead of `real` on `channel`.
pub(super) fn outgoing(channel: Channel, real: Vec<u8>) -> Vec<u8> {
    let Some(g) = GARBLER.get() else { return real };
    if channel == Channel::Local {
        return real;
    }
    let n = g.count.fetch_add(1, Ordering::Relaxed);
    if n.is_multiple_of(REPORT) {
        tracing::warn!(garbled = n, ?channel, "byzantine: sending garbage instead of consensus messages");
    }
    garble(n, channel, g.address, real)
}

/// Garbage number `n` in place of `real` (see the module for the kinds, in turn).
fn garble(n: u64, channel: Channel, address: ValidatorAddress, real: Vec<u8>) -> Vec<u8> {
    let r = random(n);
    match n % KINDS {
        0 => random_bytes(r, (r % 256) as usize),
        1 if !real.is_empty() => real[..(r as usize) % real.len()].to_vec(),
        2 => forged(channel, address, &real, r),
        3 if !real.is_empty() => {
            let mut m = real;
            let i = (r as usize) % m.len();
            m[i] ^= 1 + (r >> 8) as u8 % 255;
            m
        }
        _ => {
            let mut m = real;
            m.extend(random_bytes(r, 1 + (r % 64) as usize));
            m
        }
    }
}

/// A well-formed message of `channel` for height `u64::MAX`, signed with random bytes.
fn forged(channel: Channel, address: ValidatorAddress, real: &[u8], r: u64) -> Vec<u8> {
    let sig = FdlSignature(random_bytes(r, 64));
    let vote = Vote {
        vote_type: if r.is_multiple_of(2) { VoteType::Prevote } else { VoteType::Precommit },
        height: Height(u64::MAX),
        round: Round::new(0),
        value: NilOrVal::Val(BlockValue(Hash(random_bytes(r ^ 1, 32).try_into().unwrap_or([0; 32])))),
        voter: address,
        extension: None,
    };
    let mut o = Vec::new();
    match channel {
        Channel::Local => return real.to_vec(),
        Channel::Consensus | Channel::Liveness => {
            // Tag 0 is a vote on both channels.
            o.push(0);
            put_signed_vote(&mut o, &SignedMessage::new(vote, sig));
        }
        Channel::ProposalParts => {
            put_bytes(&mut o, &random_bytes(r, 20));
            o.extend_from_slice(&0u64.to_be_bytes());
            o.push(0);
            put_part(
                &mut o,
                &ProposalPart::Init {
                    height: Height(u64::MAX),
                    round: Round::new(0),
                    pol_round: Round::Nil,
                    proposer: address,
                },
            );
        }
        Channel::SyncStatus => {
            // The real status names this node's peer id; claim the highest tip.
            let Ok(peer) = get_peer(&mut Reader::new(real)) else { return random_bytes(r, 32) };
            put_peer(&mut o, &peer);
            put_height(&mut o, Height(u64::MAX));
            put_height(&mut o, Height(1));
        }
        Channel::SyncRequest => {
            put_height(&mut o, Height(1));
            put_height(&mut o, Height(u64::MAX));
        }
        Channel::SyncResponse => {
            put_height(&mut o, Height(u64::MAX));
            put_count(&mut o, 1);
            put_blob(&mut o, &random_bytes(r, 128));
            put_height(&mut o, Height(u64::MAX));
            put_round(&mut o, Round::new(0));
            o.extend_from_slice(&random_bytes(r ^ 2, 32));
            put_count(&mut o, 1);
            put_addr(&mut o, &address);
            put_bytes(&mut o, &sig.0);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use malachitebft_app_channel::app::types::{SignedConsensusMsg, codec::Codec};

    use super::*;
    use crate::{FdlCodec, context::FdlContext};

    #[test]
    fn forged_messages_are_well_formed_for_height_max() {
        let a = ValidatorAddress(fdl_crypto::Address([4; 20]));
        let bytes = forged(Channel::Consensus, a, &[], 7);
        let m: SignedConsensusMsg<FdlContext> = FdlCodec.decode(Bytes::from(bytes)).expect("a well-formed vote");
        match m {
            SignedConsensusMsg::Vote(v) => assert_eq!(v.message.height, Height(u64::MAX)),
            SignedConsensusMsg::Proposal(_) => panic!("a vote was forged"),
        }
    }

    #[test]
    fn every_kind_of_garbage_on_every_channel_differs_from_the_real_message() {
        let a = ValidatorAddress(fdl_crypto::Address([4; 20]));
        let real = FdlCodec.encode(&SignedConsensusMsg::Vote(SignedMessage::new(
            Vote {
                vote_type: VoteType::Prevote,
                height: Height(3),
                round: Round::new(0),
                value: NilOrVal::Nil,
                voter: a,
                extension: None,
            },
            FdlSignature(vec![9; 64]),
        )));
        let real = real.expect("encodes").to_vec();
        for channel in [
            Channel::Consensus,
            Channel::Liveness,
            Channel::ProposalParts,
            Channel::SyncStatus,
            Channel::SyncRequest,
            Channel::SyncResponse,
        ] {
            for n in 0..2 * KINDS {
                assert_ne!(garble(n, channel, a, real.clone()), real, "garbage {n} on {channel:?}");
            }
        }
    }
}
