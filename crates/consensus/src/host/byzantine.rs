//! Test-only misbehaving validators (feature `byzantine`; never in a release build).
//!
//! A node whose binary carries the feature reads [`ENV`] (`FDL_BYZANTINE=<mode>[,key=value...]`)
//! once, when consensus starts, and then misbehaves on purpose so that the multi-node tests can
//! show what honest validators do about it (STD-11.2, STD-11.4; `docs/testing.md`):
//!
//! | mode | what the node does |
//! |---|---|
//! | `equivocate` | when it proposes, streams two different valid blocks for the same height and round |
//! | `swap-credential` | when it proposes, every transaction carrying its certificate carries its hash instead, with the old signature |
//! | `flood[,total=N][,rate=R][,after=H]` | streams `N` proposals (default 100,000), `R` a second (default 2,000), from height `H` on, for many rounds it is or claims to be the proposer of |
//! | `garbage` | every message it sends on a consensus channel (votes, proposal parts, sync) is corrupted (see `codec::garble`) |
//! | `silent` | runs without its signer, under an address outside the validator set: it follows the chain but sends no proposal and no vote |
//!
//! Without the variable (or without the feature) the node is honest.

use std::{
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use fdl_types::{Credential, SignedTx, TxBody};
use malachitebft_app_channel::{
    Channels, NetworkMsg, Reply,
    app::{
        streaming::StreamId,
        types::{LocallyProposedValue, core::Round},
    },
};
use tokio::sync::mpsc;

use super::{
    Host, Ledger, LedgerError,
    auth::sign_parts,
    closed, round_number,
    streams::{proposal_parts, stream_messages},
};
use crate::{
    context::{BlockValue, FdlContext, Height, ValidatorAddress, ValidatorSet, proposer_index},
    signing::ConsensusSigner,
};

/// The environment variable that selects the misbehaviour.
pub(crate) const ENV: &str = "FDL_BYZANTINE";
/// Default number of proposals a flood sends.
const FLOOD_TOTAL: u64 = 100_000;
/// Default flood rate, in proposals a second.
const FLOOD_RATE: u64 = 2_000;
/// How often the flood sends its share of proposals.
const FLOOD_TICK: Duration = Duration::from_millis(20);
/// Distinct valid blocks a flood builds per height (then reuses for other rounds).
const FLOOD_POOL: usize = 4;
/// Rounds near the start of a height the flood targets (the rest go far ahead).
const FLOOD_NEAR_ROUNDS: u32 = 8;
/// How often the flood reports its progress in the log, in proposals.
const FLOOD_REPORT: u64 = 10_000;

/// A misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Two different valid blocks for one height and round.
    Equivocate,
    /// Transactions' certificate credential swapped for the hash form, signature kept.
    SwapCredential,
    /// Many proposals for many rounds.
    Flood {
        /// Proposals in all.
        total: u64,
        /// Proposals a second.
        rate: u64,
        /// The height from which the flood starts.
        after: u64,
    },
    /// Corrupted messages on every consensus channel.
    Garbage,
    /// No proposal, no vote.
    Silent,
}

impl Mode {
    /// Parses `<mode>[,key=value...]`.
    pub(crate) fn parse(s: &str) -> Result<Mode, String> {
        let mut it = s.split(',').map(str::trim);
        let name = it.next().unwrap_or_default();
        let opts: Vec<(&str, &str)> = it
            .filter(|o| !o.is_empty())
            .map(|o| o.split_once('=').ok_or_else(|| format!("option {o:?} is not key=value")))
            .collect::<Result<_, _>>()?;
        let simple = |m: Mode| {
            if opts.is_empty() { Ok(m) } else { Err(format!("mode {name} takes no options")) }
        };
        match name {
            "equivocate" => simple(Mode::Equivocate),
            "swap-credential" => simple(Mode::SwapCredential),
            "garbage" => simple(Mode::Garbage),
            "silent" => simple(Mode::Silent),
            "flood" => {
                let (mut total, mut rate, mut after) = (FLOOD_TOTAL, FLOOD_RATE, 0);
                for (k, v) in opts {
                    let n: u64 = v.parse().map_err(|_| format!("flood option {k}={v:?} is not a number"))?;
                    match k {
                        "total" => total = n,
                        "rate" => rate = n.max(1),
                        "after" => after = n,
                        _ => return Err(format!("unknown flood option {k}")),
                    }
                }
                Ok(Mode::Flood { total, rate, after })
            }
            _ => Err(format!("unknown mode {name:?} (equivocate, swap-credential, flood, garbage, silent)")),
        }
    }
}

static MODE: OnceLock<Option<Mode>> = OnceLock::new();

/// The misbehaviour [`ENV`] selects, read once per process; `None` for an honest node.
///
/// # Errors
/// [`LedgerError::Fatal`] for a value that does not parse (a test's typo must not pass for
/// an honest run).
pub(super) fn mode() -> Result<Option<Mode>, LedgerError> {
    if let Some(m) = MODE.get() {
        return Ok(*m);
    }
    let m = match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => {
            Some(Mode::parse(&v).map_err(|e| LedgerError::Fatal(format!("{ENV}={v}: {e}")))?)
        }
        _ => None,
    };
    if let Some(m) = m {
        tracing::warn!(mode = ?m, "{ENV}: this node misbehaves on purpose (a test build)");
    }
    Ok(*MODE.get_or_init(|| m))
}

/// Reads the mode at start-up and applies what it changes there: a silent node runs without its
/// signer, under an address outside the validator set (the engine of a listed validator must
/// sign); a garbage node has the codec corrupt what it sends. Returns the address and signer to
/// run with.
///
/// # Errors
/// [`LedgerError::Fatal`] when [`ENV`] does not parse.
pub(super) fn configure(
    address: ValidatorAddress,
    signer: Option<ConsensusSigner>,
) -> Result<(ValidatorAddress, Option<ConsensusSigner>), LedgerError> {
    Ok(match mode()? {
        Some(Mode::Silent) => (ValidatorAddress(fdl_crypto::Address([0; 20])), None),
        Some(Mode::Garbage) => {
            crate::codec::garble_outgoing(address);
            (address, signer)
        }
        _ => (address, signer),
    })
}

/// The misbehaviour already read by [`mode`] (`None` before, or for an honest node).
fn current() -> Option<Mode> {
    MODE.get().copied().flatten()
}

/// Replaces every carried certificate by its hash, keeping the signature made over the carried
/// form: the transaction id does not change (it normalizes the credential), the signed bytes do.
pub(crate) fn swap_credentials(mut txs: Vec<SignedTx>) -> Vec<SignedTx> {
    let mut swapped = 0usize;
    for tx in txs.iter_mut() {
        if let Credential::Certificate(der) = &tx.body.credential {
            let suite = tx.body.signer.suite();
            let body =
                TxBody { credential: Credential::Registered(fdl_types::cert_hash(suite, der)), ..tx.body.clone() };
            *tx = SignedTx::new(body, tx.signature.clone());
            swapped += 1;
        }
    }
    if swapped > 0 {
        tracing::warn!(swapped, "byzantine: swapped the credential form of transactions, signatures kept");
    }
    txs
}

impl<L: Ledger> Host<L> {
    /// Answers `GetValue` when the node misbehaves as a proposer; gives `reply` back when it
    /// proposes honestly.
    pub(super) async fn misbehave_on_get_value(
        &mut self,
        channels: &Channels<FdlContext>,
        height: Height,
        round: Round,
        timeout: Duration,
        reply: Reply<LocallyProposedValue<FdlContext>>,
    ) -> Result<Option<Reply<LocallyProposedValue<FdlContext>>>, LedgerError> {
        let (h, r) = (height.0, round_number(round));
        match current() {
            Some(Mode::Equivocate) => {
                let value = self.own_value(h, r, timeout).await?;
                let _ = reply.send(LocallyProposedValue::new(height, round, value));
                if let Some(body) = self.proposals.body(&value.0) {
                    self.publish(channels, h, round, Round::Nil, &body).await?;
                }
                // A second block for the same height and round: the next batch of the pool, and
                // a later timestamp.
                tokio::time::sleep(Duration::from_millis(2)).await;
                match self.ledger.propose(h, Instant::now()).await {
                    Ok((other, body)) if other != value.0 => {
                        let body = Bytes::from(body);
                        self.proposals.keep_body(h, r, other, body.clone());
                        self.publish(channels, h, round, Round::Nil, &body).await?;
                        tracing::warn!(height = h, round = r, first = %value, second = %other, "byzantine: equivocated");
                    }
                    Ok(_) => tracing::warn!(height = h, round = r, "byzantine: the second block came out the same"),
                    Err(e) => tracing::warn!(height = h, round = r, error = %e, "byzantine: no second block"),
                }
                Ok(None)
            }
            Some(Mode::SwapCredential) => {
                let value = match self.proposals.own(h, r) {
                    Some(v) => v,
                    None => {
                        let deadline = Instant::now() + timeout / 2;
                        let (hash, body) = self.ledger.propose_tampered(h, deadline, swap_credentials).await?;
                        self.proposals.keep_own(h, r, hash, Bytes::from(body));
                        BlockValue(hash)
                    }
                };
                let _ = reply.send(LocallyProposedValue::new(height, round, value));
                if let Some(body) = self.proposals.body(&value.0) {
                    self.publish(channels, h, round, Round::Nil, &body).await?;
                }
                Ok(None)
            }
            _ => Ok(Some(reply)),
        }
    }
}

/// Starts the flood of [`Mode::Flood`] when that is the mode: a task that streams proposals
/// through `network` until it has sent them all or the engine stops.
pub(super) fn spawn_flood<L: Ledger>(
    ctx: &FdlContext,
    ledger: &Arc<L>,
    signer: Option<&ConsensusSigner>,
    address: ValidatorAddress,
    network: &mpsc::Sender<NetworkMsg<FdlContext>>,
) {
    let Some(Mode::Flood { total, rate, after }) = current() else { return };
    let Some(signer) = signer else {
        tracing::warn!("byzantine: an observer has no key to flood with");
        return;
    };
    let flood = Flood {
        ctx: ctx.clone(),
        ledger: ledger.clone(),
        signer: signer.clone(),
        address,
        network: network.clone(),
        pool_height: 0,
        pool: Vec::new(),
        sent: 0,
        seed: 0x9E37_79B9_7F4A_7C15,
    };
    tokio::spawn(flood.run(total, rate, after));
}

/// The state of a flood.
struct Flood<L: Ledger> {
    ctx: FdlContext,
    ledger: Arc<L>,
    signer: ConsensusSigner,
    address: ValidatorAddress,
    network: mpsc::Sender<NetworkMsg<FdlContext>>,
    /// The height the pool's blocks are for.
    pool_height: u64,
    /// Distinct valid blocks for `pool_height`.
    pool: Vec<Bytes>,
    /// Proposals sent so far.
    sent: u64,
    /// State of a small pseudo-random generator (xorshift).
    seed: u64,
}

impl<L: Ledger> Flood<L> {
    fn random(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        self.seed
    }

    async fn run(mut self, total: u64, rate: u64, after: u64) {
        let mut tick = tokio::time::interval(FLOOD_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_tick = (rate * FLOOD_TICK.as_millis() as u64 / 1_000).max(1);
        while self.ledger.height() < after {
            tick.tick().await;
        }
        tracing::warn!(total, rate, "byzantine: flooding proposals");
        let started = Instant::now();
        while self.sent < total {
            tick.tick().await;
            self.refill_pool().await;
            for _ in 0..per_tick.min(total - self.sent) {
                if self.send_one().await.is_err() {
                    tracing::warn!(sent = self.sent, "byzantine: the engine stopped; flood over");
                    return;
                }
                self.sent += 1;
                if self.sent.is_multiple_of(FLOOD_REPORT) {
                    tracing::warn!(sent = self.sent, "byzantine: flood progress");
                }
            }
        }
        tracing::warn!(sent = self.sent, secs = started.elapsed().as_secs_f64(), "byzantine: flood done");
    }

    /// Builds one more distinct valid block for the next height, up to [`FLOOD_POOL`].
    async fn refill_pool(&mut self) {
        let next = self.ledger.height() + 1;
        if next != self.pool_height {
            self.pool_height = next;
            self.pool.clear();
        }
        if self.pool.len() < FLOOD_POOL {
            // A valid block of the moment (its timestamp differs from the previous one's).
            if let Ok((_, body)) = self.ledger.propose(next, Instant::now()).await {
                let body = Bytes::from(body);
                if !self.pool.contains(&body) {
                    self.pool.push(body);
                }
            }
        }
    }

    /// Streams proposal number `self.sent`: for the next height (one in eight for the one
    /// after), a round near the start or far ahead; signed as the round's proposer when this
    /// node is it, else claiming to be the proposer, or naming the real one with this node's
    /// signature.
    async fn send_one(&mut self) -> Result<(), LedgerError> {
        let k = self.sent;
        let height = self.ledger.height() + 1 + u64::from(k % 8 == 7);
        let set = ValidatorSet::new(
            self.ledger.validators(height).into_iter().map(|(key, p)| crate::context::Validator::new(key, p)).collect(),
        );
        let round = if k.is_multiple_of(2) {
            (k / 2 % u64::from(FLOOD_NEAR_ROUNDS)) as u32
        } else {
            u32::try_from(k).unwrap_or(u32::MAX)
        };
        let round = Round::new(round);
        let n = set.validators().len();
        let real = set.validators().get(proposer_index(n, Height(height), round)).map(|v| v.address);
        let proposer = match real {
            Some(a) if a == self.address => a,
            Some(a) if k.is_multiple_of(3) => a,
            _ => self.address,
        };
        let body = if height == self.pool_height && !self.pool.is_empty() {
            self.pool[(k as usize) % self.pool.len()].clone()
        } else {
            let len = 64 + (self.random() % 256) as usize;
            Bytes::from((0..len).map(|_| self.random() as u8).collect::<Vec<u8>>())
        };
        let sig = sign_parts(&self.ctx, &self.signer, Height(height), round, Round::Nil, &proposer, &body)
            .await
            .map_err(|e| LedgerError::Fatal(format!("signing: {e}")))?;
        let parts = proposal_parts(Height(height), round, Round::Nil, proposer, &body, Bytes::from(sig.0));
        let mut id = Vec::with_capacity(24);
        id.extend_from_slice(b"byz-");
        id.extend_from_slice(&height.to_be_bytes());
        id.extend_from_slice(&k.to_be_bytes());
        for msg in stream_messages(StreamId::new(Bytes::from(id)), parts) {
            self.network.send(NetworkMsg::PublishProposalPart(msg)).await.map_err(|_| closed())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use fdl_crypto::{KeyPair, Signer as _, Suite};

    use super::*;

    #[test]
    fn modes_parse_and_typos_are_refused() {
        assert_eq!(Mode::parse("equivocate"), Ok(Mode::Equivocate));
        assert_eq!(Mode::parse("swap-credential"), Ok(Mode::SwapCredential));
        assert_eq!(Mode::parse("garbage"), Ok(Mode::Garbage));
        assert_eq!(Mode::parse("silent"), Ok(Mode::Silent));
        assert_eq!(Mode::parse("flood"), Ok(Mode::Flood { total: FLOOD_TOTAL, rate: FLOOD_RATE, after: 0 }));
        assert_eq!(
            Mode::parse("flood,total=5000, rate=500,after=3"),
            Ok(Mode::Flood { total: 5000, rate: 500, after: 3 })
        );
        for bad in ["", "equivocat", "silent,x=1", "flood,total", "flood,total=x", "flood,speed=3"] {
            assert!(Mode::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_swapped_credential_keeps_the_id_and_breaks_the_signature() {
        let key = KeyPair::generate(Suite::Sm);
        let body = TxBody {
            chain_id: "fdl-test".into(),
            signer: key.public_key(),
            credential: Credential::Certificate(vec![0x30, 0x03, 1, 2, 3]),
            nonce: 1,
            expiry_height: 10,
            payload: fdl_types::Payload::Transfer { to: fdl_crypto::Address([2; 20]), amount: 1, memo: String::new() },
        };
        let tx = body.sign(&key).expect("signs");
        tx.verify().expect("the original verifies");
        let txs = swap_credentials(vec![tx.clone()]);
        assert_eq!(txs[0].id(), tx.id(), "the id normalizes the credential");
        assert_eq!(txs[0].signature, tx.signature);
        assert!(matches!(txs[0].body.credential, Credential::Registered(_)));
        assert!(txs[0].verify().is_err(), "the kept signature does not cover the new bytes");
    }
}
