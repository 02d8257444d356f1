//! The signer's server and client over a real Unix socket in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::Arc,
};

use fdl_crypto::{Hash, KeyPair, Signer as _, Suite};
use malachitebft_core_types::{NilOrVal, Round, VoteType};
use malachitebft_signing::{Signer as _, Verifier as _};

use super::{
    wire::{Handshake, MAX_FRAME, VERSION, read_frame_sync, write_frame_sync},
    *,
};
use crate::{BlockValue, ConsensusSigner, ConsensusVerifier, FdlPublicKey, ValidatorKey};

const CHAIN: &str = "remote-test";

struct Fixture {
    dir: PathBuf,
    socket: PathBuf,
    token: Token,
    key: KeyPair,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Fixture {
    fn new() -> Fixture {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fdl-remote-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut f = Fixture {
            socket: dir.join("s.sock"),
            dir,
            token: Token::from_bytes([0x5a; 32]),
            key: KeyPair::generate(Suite::Sm),
            rt,
            stop: None,
        };
        f.start();
        f
    }

    fn start(&mut self) {
        let cfg = ServerConfig {
            socket: self.socket.clone(),
            token: self.token.clone(),
            state: self.dir.join("state"),
            chain_id: CHAIN.into(),
        };
        let _guard = self.rt.enter();
        let server = SignerServer::bind(cfg, Arc::new(self.key.clone())).expect("binds");
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.rt.spawn(server.serve(async {
            let _ = rx.await;
        }));
        self.stop = Some(tx);
    }

    fn client(&self) -> RemoteClient {
        RemoteClient::connect(&self.socket, self.token.clone(), CHAIN).expect("connects")
    }

    fn vote(&self, kind: VoteKind, height: u64, round: u32, value: Option<Hash>) -> Request {
        Request::Vote { chain_id: CHAIN.into(), voter: self.key.address(), kind, height, round, value }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the handshake by hand with `token`'s proof (or a wrong one); returns the stream and the
/// server's last answer.
fn raw_handshake(socket: &Path, token: &Token, right_proof: bool) -> (UnixStream, Handshake) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let cn = [1u8; 32];
    write_frame_sync(&mut s, &Handshake::Hello { version: VERSION, nonce: cn }.encode()).unwrap();
    let Handshake::Challenge { nonce: sn, .. } = Handshake::decode(&read_frame_sync(&mut s).unwrap()).unwrap() else {
        panic!("no challenge")
    };
    let mac = if right_proof { token.client_mac(&cn, &sn) } else { [0u8; 32] };
    write_frame_sync(&mut s, &Handshake::Auth { mac }.encode()).unwrap();
    let answer = Handshake::decode(&read_frame_sync(&mut s).unwrap()).unwrap();
    (s, answer)
}

#[test]
fn a_wrong_token_is_refused_both_ways() {
    let f = Fixture::new();
    // A client with another token finds that the server does not prove it.
    let err = RemoteClient::connect(&f.socket, Token::from_bytes([1; 32]), CHAIN).expect_err("connected");
    assert!(matches!(err, RemoteError::Unauthenticated(_)), "{err:?}");
    // A client that cannot prove the token is denied, and gets no answer to a request.
    let (mut s, answer) = raw_handshake(&f.socket, &f.token, false);
    assert!(matches!(answer, Handshake::Denied(_)), "{answer:?}");
    let _ = write_frame_sync(&mut s, &Request::PublicKey.encode());
    assert!(read_frame_sync(&mut s).is_err(), "a request answered after a failed handshake");
    // The right proof is welcome.
    let (_, answer) = raw_handshake(&f.socket, &f.token, true);
    assert_eq!(answer, Handshake::Welcome);
    assert_eq!(f.client().public_key(), f.key.public_key());
}

#[test]
fn an_oversize_frame_closes_the_connection() {
    let f = Fixture::new();
    // Before the handshake.
    let mut s = UnixStream::connect(&f.socket).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut s, &u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes()).unwrap();
    assert!(read_frame_sync(&mut s).is_err(), "an oversize hello was answered");
    // After it.
    let (mut s, answer) = raw_handshake(&f.socket, &f.token, true);
    assert_eq!(answer, Handshake::Welcome);
    std::io::Write::write_all(&mut s, &u32::MAX.to_be_bytes()).unwrap();
    assert!(read_frame_sync(&mut s).is_err(), "an oversize request was answered");
    // The server still serves others.
    assert!(f.client().sign(&f.vote(VoteKind::Prevote, 1, 0, None)).is_ok());
}

#[test]
fn another_chain_or_validator_is_refused() {
    let f = Fixture::new();
    let c = f.client();
    let other_chain = Request::Vote {
        chain_id: "another".into(),
        voter: f.key.address(),
        kind: VoteKind::Prevote,
        height: 1,
        round: 0,
        value: None,
    };
    assert!(matches!(c.request(&other_chain).unwrap(), Response::Refused(Refusal::WrongChain(_))));
    let other_voter = Request::Vote {
        chain_id: CHAIN.into(),
        voter: KeyPair::generate(Suite::Sm).address(),
        kind: VoteKind::Prevote,
        height: 1,
        round: 0,
        value: None,
    };
    assert!(matches!(c.request(&other_voter).unwrap(), Response::Refused(Refusal::WrongValidator(_))));
    let other_key = Request::ValidatorProof {
        public_key: KeyPair::generate(Suite::Sm).public_key().to_bytes(),
        peer_id: b"peer".to_vec(),
    };
    assert!(matches!(c.request(&other_key).unwrap(), Response::Refused(Refusal::WrongValidator(_))));
    // Garbage is a bad request, and closes the connection.
    let (mut s, answer) = raw_handshake(&f.socket, &f.token, true);
    assert_eq!(answer, Handshake::Welcome);
    write_frame_sync(&mut s, &[0xff, 1, 2]).unwrap();
    let answer = Response::decode(&read_frame_sync(&mut s).unwrap()).unwrap();
    assert!(matches!(answer, Response::Refused(Refusal::BadRequest(_))), "{answer:?}");
    assert!(read_frame_sync(&mut s).is_err(), "the connection stayed open");
    assert!(c.sign(&f.vote(VoteKind::Precommit, 1, 0, None)).is_ok());
}

#[test]
fn two_connections_cannot_both_sign_a_slot() {
    let f = Fixture::new();
    let (a, b) = (f.client(), f.client());
    let first = f.vote(VoteKind::Prevote, 5, 0, Some(Hash([1; 32])));
    a.sign(&first).expect("signs");
    let err = b.sign(&f.vote(VoteKind::Prevote, 5, 0, Some(Hash([2; 32])))).expect_err("equivocated");
    assert_eq!(err.refusal(), Some(&Refusal::Conflicting { height: 5, round: 0, step: Step::Prevote }));
    let err = b.sign(&f.vote(VoteKind::Prevote, 5, 0, None)).expect_err("equivocated with nil");
    assert!(matches!(err.refusal(), Some(Refusal::Conflicting { .. })), "{err:?}");
    // The same vote again is signed again, on either connection.
    b.sign(&first).expect("the same vote again");
    // The precommit is another step.
    b.sign(&f.vote(VoteKind::Precommit, 5, 0, Some(Hash([2; 32])))).expect("another step");
}

#[test]
fn a_restarted_signer_keeps_refusing_and_the_client_reconnects() {
    let mut f = Fixture::new();
    let c = f.client();
    c.sign(&f.vote(VoteKind::Precommit, 7, 1, Some(Hash([1; 32])))).expect("signs");
    // Stop the server and start another on the same state and socket.
    if let Some(tx) = f.stop.take() {
        let _ = tx.send(());
    }
    for _ in 0..100 {
        if !f.socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f.start();
    let err = c.sign(&f.vote(VoteKind::Precommit, 7, 1, Some(Hash([2; 32])))).expect_err("equivocated after a restart");
    assert_eq!(err.refusal(), Some(&Refusal::Conflicting { height: 7, round: 1, step: Step::Precommit }));
    let err = c.sign(&f.vote(VoteKind::Prevote, 4, 0, None)).expect_err("too old");
    assert_eq!(err.refusal(), Some(&Refusal::TooOld { height: 4, highest: 7 }));
}

#[test]
fn a_remote_consensus_signer_signs_what_the_verifier_accepts() {
    let f = Fixture::new();
    let signer = ConsensusSigner::with_key(CHAIN, ValidatorKey::Remote(Arc::new(f.client())));
    let verifier = ConsensusVerifier::new(CHAIN);
    let pk = FdlPublicKey(f.key.public_key());
    let me = crate::ValidatorAddress(f.key.address());
    f.rt.block_on(async {
        for (t, v) in
            [(VoteType::Prevote, NilOrVal::Nil), (VoteType::Precommit, NilOrVal::Val(BlockValue(Hash([3; 32]))))]
        {
            let vote = crate::Vote {
                vote_type: t,
                height: crate::Height(2),
                round: Round::new(0),
                value: v,
                voter: me,
                extension: None,
            };
            let signed = signer.sign_vote(vote.clone()).await.expect("signs");
            assert!(verifier.verify_signed_vote(&vote, &signed.signature, &pk).await.expect("checks").is_valid());
        }
        let p = crate::Proposal {
            height: crate::Height(2),
            round: Round::new(0),
            value: BlockValue(Hash([3; 32])),
            pol_round: Round::Nil,
            proposer: me,
        };
        let signed = signer.sign_proposal(p.clone()).await.expect("signs");
        assert!(verifier.verify_signed_proposal(&p, &signed.signature, &pk).await.expect("checks").is_valid());
        let sig =
            signer.sign_part(crate::Height(2), Round::new(0), Round::Nil, &me, &Hash([4; 32])).await.expect("signs");
        let bytes = crate::part_signing_bytes(CHAIN, crate::Height(2), Round::new(0), Round::Nil, &me, &Hash([4; 32]));
        assert!(crate::signing::check(&f.key.public_key(), &bytes, &sig.0));
        let proof = signer.sign_validator_proof(f.key.public_key().to_bytes(), b"peer".to_vec()).await.expect("signs");
        assert!(verifier.verify_validator_proof(&proof).await.expect("checks").is_valid());
        // Another proposal for the same height and round is refused, and the engine gets an error.
        let other = crate::Proposal { value: BlockValue(Hash([9; 32])), ..p };
        assert!(signer.sign_proposal(other).await.is_err());
        // Raw bytes are not signed remotely.
        assert!(signer.sign_bytes(b"anything").is_err());
    });
}
