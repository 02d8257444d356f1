//! The remote signer (JR/T 0184 STD-8.2, 8.4; ADR 0015) through real processes: a validator
//! whose key only `fdl signer` holds commits blocks signed by that key; after the signer
//! restarts on the same state file it refuses a conflicting vote, and a second node configured
//! with the same signer gets nothing signed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{FDL, TestNode, fdl, free_port, net::TestNet, wait};
use fdl_crypto::{Hash, PublicKey, Signature, Suite};
use fdl_node::{
    NodeConfig, SignerConfig,
    remote::{self, Refusal, RemoteClient, RemoteError, Step, Token},
};
use fdl_types::{Commit, api::BlockView};

const LONG: Duration = Duration::from_secs(90);
/// The start of the signer's one-line start message.
const STARTED: &str = "fdl signer: validator";

/// An `fdl signer` process.
struct SignerProc {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl SignerProc {
    fn start(key: &Path, socket: &Path, token: &Path, state: &Path, chain_id: &str, log: &Path) -> SignerProc {
        let args = vec![
            "signer".to_string(),
            "--key".into(),
            key.display().to_string(),
            "--socket".into(),
            socket.display().to_string(),
            "--token".into(),
            token.display().to_string(),
            "--state".into(),
            state.display().to_string(),
            "--chain-id".into(),
            chain_id.into(),
        ];
        let mut s = SignerProc { child: None, args, log: log.to_path_buf() };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let started = self.log().matches(STARTED).count();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(FDL)
            .args(&self.args)
            .env("FDL_LOG", "info,fdl_consensus::remote=debug")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait::wait_until_or(
            Duration::from_secs(30),
            "the signer listens",
            || self.log().matches(STARTED).count() > started,
            || format!("signer log:\n{}", self.log()),
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            if wait::poll(Duration::from_secs(10), || c.try_wait().unwrap()).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for SignerProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A private directory for the signer's files, with a fresh token written by `fdl signer init`.
fn signer_dir(base: &Path) -> (PathBuf, PathBuf) {
    let dir = base.join("signer");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let token = dir.join("signer.token");
    let (code, out, err) = fdl(&["signer", "init", "--token", token.to_str().unwrap()]);
    assert_eq!(code, 0, "signer init: {out} {err}");
    assert_eq!(std::fs::metadata(&token).unwrap().permissions().mode() & 0o777, 0o600);
    let (code, _, err) = fdl(&["signer", "init", "--token", token.to_str().unwrap()]);
    assert_ne!(code, 0, "signer init wrote over an existing token");
    assert!(err.contains("exists"), "{err}");
    (dir, token)
}

/// Points the node config at `config` to the signer.
fn use_signer(config: &Path, socket: &Path, token: &Path) {
    let mut cfg = NodeConfig::load(config).unwrap();
    cfg.signer = Some(SignerConfig { socket: socket.to_path_buf(), token: token.to_path_buf() });
    cfg.save(config).unwrap();
}

/// The highest height the state file records.
fn state_highest(state: &Path) -> u64 {
    let text = std::fs::read_to_string(state).unwrap();
    text.lines().find_map(|l| l.strip_prefix("highest ")).unwrap().parse().unwrap()
}

/// The (height, round, step) of every vote the state file records.
fn state_votes(state: &Path) -> Vec<(u64, u32, Step)> {
    let text = std::fs::read_to_string(state).unwrap();
    let vote = |l: &str| -> Option<(u64, u32, Step)> {
        let f: Vec<&str> = l.split(' ').collect();
        let step = Step::parse(f.get(2)?)?;
        if !matches!(step, Step::Prevote | Step::Precommit) {
            return None;
        }
        Some((f[0].parse().ok()?, f[1].parse().ok()?, step))
    };
    text.lines().filter_map(vote).collect()
}

/// The public key (hex) of the key file at `path`.
fn public_hex(path: &Path) -> String {
    use fdl_crypto::Signer as _;
    hex::encode(fdl_crypto::KeyPair::read_pem_file(path).unwrap().public_key().to_bytes())
}

/// True when `key` (hex) signed `block`'s commit, and that signature verifies.
fn signed_by(block: &BlockView, chain_id: &str, key: &str) -> bool {
    let Some(c) = &block.commit else { return false };
    c.signatures.iter().any(|s| {
        if !s.validator.eq_ignore_ascii_case(key) {
            return false;
        }
        let pk = PublicKey::from_bytes(Suite::Sm, &hex::decode(key).unwrap()).unwrap();
        let sig = Signature::from_bytes(Suite::Sm, &hex::decode(&s.signature).unwrap()).unwrap();
        let ok = pk.verify(&Commit::signing_bytes(chain_id, c.height, c.round, &c.block_hash), &sig).is_ok();
        assert!(ok, "the commit signature of {key} at {} does not verify", c.height);
        ok
    })
}

fn conflicting_vote(client: &RemoteClient, chain_id: &str, (height, round, step): (u64, u32, Step)) -> RemoteError {
    let kind = if step == Step::Prevote { remote::VoteKind::Prevote } else { remote::VoteKind::Precommit };
    let req = remote::Request::Vote {
        chain_id: chain_id.into(),
        voter: client.address(),
        kind,
        height,
        round,
        value: Some(Hash([0xEE; 32])),
    };
    client.sign(&req).expect_err("the signer signed a conflicting vote")
}

#[test]
fn a_validator_signs_through_fdl_signer_and_the_signer_refuses_a_conflicting_vote_after_a_restart() {
    let mut node = TestNode::init(Suite::Sm);
    let base = node.dir.path().to_path_buf();
    let chain = node.genesis.chain_id.clone();
    let (dir, token) = signer_dir(&base);
    // The key leaves the node's directory: only the signer holds it.
    let key = dir.join("validator.pem");
    std::fs::rename(base.join("node0").join("validator.pem"), &key).unwrap();
    let validator = public_hex(&key);
    let (socket, state) = (dir.join("signer.sock"), dir.join("signer.state"));
    let mut signer = SignerProc::start(&key, &socket, &token, &state, &chain, &base.join("signer.log"));
    assert!(signer.log().contains("fdl signer: validator"), "{}", signer.log());
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    use_signer(&node.config(), &socket, &token);

    node.spawn();
    node.wait_height(4, LONG);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for h in 1..=4 {
        let block = rt.block_on(node.client().block(Some(h))).unwrap();
        assert!(signed_by(&block, &chain, &validator), "block {h} is not signed by the signer's key");
    }
    // Without the token nobody gets an answer.
    let err = RemoteClient::connect(&socket, Token::from_bytes([7; 32]), &chain).expect_err("a wrong token accepted");
    assert!(matches!(err, RemoteError::Unauthenticated(_)), "{err:?}");

    node.stop();
    signer.stop();
    let highest = state_highest(&state);
    assert!(highest >= 4, "the state records height {highest}");

    // The signer restarts on the same state: it remembers what it signed.
    let mut signer = SignerProc::start(&key, &socket, &token, &state, &chain, &base.join("signer.log"));
    assert!(signer.log().contains(&format!("highest height signed {highest}")), "{}", signer.log());
    let client = RemoteClient::connect(&socket, Token::read(&token).unwrap(), &chain).unwrap();
    let err = conflicting_vote(&client, &chain, (highest, 0, Step::Precommit));
    assert!(
        matches!(err.refusal(), Some(Refusal::Conflicting { height, round: 0, step: Step::Precommit }) if *height == highest),
        "{err:?}"
    );
    assert!(err.to_string().contains("conflicting"), "{err}");
    let err = conflicting_vote(&client, &chain, (highest - 3, 0, Step::Precommit));
    assert!(matches!(err.refusal(), Some(Refusal::TooOld { .. })), "{err:?}");

    // The node restarts through the restarted signer and goes on; the message it signed before
    // is signed again (as for a node replaying its log).
    node.spawn();
    node.wait_height(highest + 2, LONG);
    let block = rt.block_on(node.client().block(Some(highest))).unwrap();
    assert!(signed_by(&block, &chain, &validator));
    let again = remote::precommit(&chain, client.address(), highest, 0, block.header.hash);
    client.sign(&again).expect("the same precommit is signed again");

    // A second node configured with the same signer (a copy of the first, with its own data)
    // gets no conflicting signature: it stops on the refusal.
    let second = base.join("node0").join("second.toml");
    let mut cfg = NodeConfig::load(&node.config()).unwrap();
    cfg.name = "second".into();
    cfg.data_dir = "data-second".into();
    cfg.rpc_listen = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    cfg.save(&second).unwrap();
    let out = Command::new(FDL).args(["node", "--config", second.to_str().unwrap()]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second node ran: {text}");
    assert!(text.contains("the signer refused") && text.contains("too_old"), "{text}");
    node.stop();
    signer.stop();
}

#[test]
fn a_consortium_validator_signs_votes_and_proposals_through_fdl_signer() {
    let mut net = TestNet::init(4, 0, Suite::Sm, |_| {});
    let base = net.dir.path().to_path_buf();
    let chain = net.genesis.chain_id.clone();
    let (dir, token) = signer_dir(&base);
    let key = dir.join("validator.pem");
    let cfg = NodeConfig::load(&net.nodes[0].config).unwrap();
    std::fs::rename(cfg.validator_key_path(), &key).unwrap();
    let validator = public_hex(&key);
    let address = PublicKey::from_bytes(Suite::Sm, &hex::decode(&validator).unwrap()).unwrap().address();
    let (socket, state) = (dir.join("signer.sock"), dir.join("signer.state"));
    let mut signer = SignerProc::start(&key, &socket, &token, &state, &chain, &base.join("signer.log"));
    use_signer(&net.nodes[0].config, &socket, &token);
    for i in 0..4 {
        net.spawn(i);
    }
    // org1 votes (its precommits are in commits) and proposes (blocks with it as proposer).
    let mut h = 1;
    let mut voted = false;
    let mut proposed = false;
    while !(voted && proposed) {
        net.wait_height(0, h, LONG);
        let b = net.block(0, h).unwrap();
        voted |= signed_by(&b, &chain, &validator);
        proposed |= b.header.proposer.eq_ignore_ascii_case(&address.to_hex());
        assert!(h < 40, "org1 has not both voted and proposed by height {h}; log:\n{}", net.log(0));
        h += 1;
    }

    // Restart the signer on its state while org1 runs: it reconnects and goes on signing.
    signer.stop();
    signer.spawn();
    let top = net.height(0).unwrap();
    let mut h = top + 1;
    loop {
        net.wait_height(0, h, LONG);
        if signed_by(&net.block(0, h).unwrap(), &chain, &validator) {
            break;
        }
        assert!(h < top + 20, "org1's precommits are missing after the signer restarted; log:\n{}", net.log(0));
        h += 1;
    }

    // Every vote org1 cast is recorded: a conflicting one is refused, now and after a restart.
    net.kill9(0);
    signer.stop();
    signer.spawn();
    let votes = state_votes(&state);
    assert!(!votes.is_empty(), "no vote recorded");
    // Every kind of message went through the signer (its debug log names each new signature).
    let log = signer.log();
    for step in ["proposal", "proposal_part", "prevote", "precommit"] {
        let signed = |l: &&str| l.contains("signer: signing") && l.trim_end().ends_with(&format!("step={step}"));
        assert!(log.lines().any(|l| signed(&l)), "no {step} signed:\n{log}");
    }
    let client = RemoteClient::connect(&socket, Token::read(&token).unwrap(), &chain).unwrap();
    let last = *votes.iter().max().unwrap();
    let err = conflicting_vote(&client, &chain, last);
    assert!(matches!(err.refusal(), Some(Refusal::Conflicting { .. })), "{err:?}");
    signer.stop();
}
