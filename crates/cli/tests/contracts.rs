//! Smart contracts end to end (STD-12.1 to 12.4), as a user meets them: the example token is
//! built with `fdl contract build`, checked, deployed by a committee vote on a four-validator
//! network of real node processes, called through every node, frozen, unfrozen, upgraded and
//! retired by votes, and read over the contract API (queries, storage with Merkle proofs, the
//! audit log, the WebSocket stream); bad input is refused with stable codes; and a crate that
//! `fdl contract new` scaffolds tests, builds and passes the deploy checks offline.
//!
//! One network serves the tests that need one (starting it and deploying the token takes a few
//! seconds here): the first such test starts it, they take turns on it, and each uses accounts
//! of its own (the lifecycle test a contract of its own), so their order does not matter. Its
//! processes and directory go when the test binary ends ([`TestNet::reap_at_exit`]).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    collections::BTreeSet,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Mutex, OnceLock},
    time::Duration,
};

use common::{FDL, build_tx, net::TestNet, wait::poll};
use fdl_crypto::{Address, Signer as _, Suite};
use fdl_types::{Payload, api::HeaderView};
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// Most time an `fdl` command that talks to the network may take (`--wait` included).
const CLI_LIMIT: Duration = Duration::from_secs(120);
/// Most time a build (`fdl contract build`, `cargo test`) may take on a busy machine.
const BUILD_LIMIT: Duration = Duration::from_secs(900);
/// Most time the nodes may take to reach a height the network has reached.
const SYNC_LIMIT: Duration = Duration::from_secs(60);
/// The token's four methods.
const TOKEN_METHODS: [&str; 4] = ["balance_of", "mint", "total_supply", "transfer"];

// ---- running commands -----------------------------------------------------------------------

/// What a command did.
struct Out {
    what: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` exited {}\n--- stdout\n{}\n--- stderr\n{}", self.what, self.code, self.stdout, self.stderr)
    }
}

impl Out {
    /// Asserts exit status 0.
    #[track_caller]
    fn ok(self) -> Out {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }

    /// Asserts exit status 1 (a refusal, not a crash or a usage error).
    #[track_caller]
    fn refused(self) -> Out {
        assert_eq!(self.code, 1, "expected exit status 1: {self:?}");
        self
    }

    /// Standard output as one JSON document.
    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `program` with `args` in `cwd`, killed after `limit`. `HOME` is a temporary directory
/// (no devnet of the user's is found) unless `keep_home` (cargo and rustup live there).
fn run(program: &str, args: &[&str], cwd: Option<&Path>, keep_home: bool, limit: Duration) -> Out {
    let what = format!("{} {}", Path::new(program).file_name().unwrap().to_string_lossy(), args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    if !keep_home {
        cmd.env("HOME", std::env::temp_dir());
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    // Read both pipes while the command runs: a build's output can fill a pipe's buffer.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = poll(limit, || child.try_wait().unwrap());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else { panic!("`{what}` did not end within {limit:?}\n{stdout}\n{stderr}") };
    Out { what, code: status.code().unwrap_or(-1), stdout, stderr }
}

/// `fdl ARGS`.
fn fdl(args: &[&str]) -> Out {
    run(FDL, args, None, false, CLI_LIMIT)
}

/// `fdl ARGS` that builds (runs cargo), from the repository's root.
fn fdl_build(args: &[&str]) -> Out {
    run(FDL, args, Some(&repo_root()), true, BUILD_LIMIT)
}

/// The repository's root (the tests run in `crates/cli`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---- receipts and events --------------------------------------------------------------------

/// The first event of `kind` in a list of events (`[{"kind", "attrs": [[k, v], ...]}]`).
fn event<'a>(events: &'a Value, kind: &str) -> Option<&'a Value> {
    events.as_array()?.iter().find(|e| e["kind"] == kind)
}

/// An attribute of an event (or an audit record).
fn attr(e: &Value, key: &str) -> Option<String> {
    e["attrs"].as_array()?.iter().find(|kv| kv[0] == key).and_then(|kv| kv[1].as_str()).map(str::to_string)
}

/// The kinds of a list of events.
fn kinds(events: &Value) -> Vec<String> {
    events
        .as_array()
        .map(|a| a.iter().map(|e| e["kind"].as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// Asserts `fdl ... --wait --json` output is a committed receipt with `status`; returns it.
#[track_caller]
fn receipt<'a>(v: &'a Value, status: &str) -> &'a Value {
    assert_eq!(v["status"], "committed", "not committed: {v}");
    let r = &v["receipt"];
    assert_eq!(r["status"], status, "receipt: {v}");
    r
}

/// The code of a proposal refused when made (`proposal_invalid`, with a `gov.refused` event).
#[track_caller]
fn gov_refusal(v: &Value) -> String {
    let r = receipt(v, "proposal_invalid");
    attr(event(&r["events"], "gov.refused").unwrap_or_else(|| panic!("no gov.refused: {v}")), "code").unwrap()
}

/// The height a `--wait --json` answer committed at.
fn height_of(v: &Value) -> u64 {
    v["height"].as_u64().unwrap_or_else(|| panic!("no height in {v}"))
}

// ---- the module built once ------------------------------------------------------------------

/// What `fdl contract build contracts/token --json` printed.
struct Built {
    wasm: PathBuf,
    code_hash: String,
    json: Value,
}

/// The token, built once for every test of this binary.
fn token() -> &'static Built {
    static TOKEN: OnceLock<Built> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let out = fdl_build(&["contract", "build", "contracts/token", "--json"]).ok();
        let json = out.json();
        let wasm = PathBuf::from(json["wasm"].as_str().unwrap_or_else(|| panic!("no wasm path: {out:?}")));
        assert!(wasm.is_file(), "{} is not a file: {out:?}", wasm.display());
        let code_hash = json["code_hash"].as_str().unwrap_or_else(|| panic!("no code_hash: {out:?}")).to_string();
        Built { wasm, code_hash, json }
    })
}

fn sorted(v: &Value) -> Vec<String> {
    let mut m: Vec<String> = v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    m.sort();
    m
}

/// A module with floating point (an `f64` instruction): every node refuses it.
fn float_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "half") (result) f64.const 0.5 drop))"#,
    )
    .unwrap()
}

/// A module with `init` and `migrate` entries and one method, `ping`.
fn entries_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "init"))
             (func (export "migrate"))
             (func (export "ping")))"#,
    )
    .unwrap()
}

// ---- the shared network ---------------------------------------------------------------------

/// Four validators (org1..org4, each a committee seat) with the token deployed by a vote.
struct World {
    net: TestNet,
    dir: PathBuf,
    http: reqwest::Client,
    /// The deploy proposal.
    proposal: u64,
    /// `fdl gov vote --json` of the vote that passed the deploy.
    passing_vote: Value,
    _reaper: Child,
}

static WORLD: OnceLock<World> = OnceLock::new();
/// The tests on the shared network take turns (each checks that the chain keeps finalizing).
static TURN: Mutex<()> = Mutex::new(());

/// Runs `case` on the shared network, in its turn; then the network must still finalize, with no
/// node panicked. On failure, the end of every node's log is printed.
fn on_world(case: impl FnOnce(&World)) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let w = WORLD.get_or_init(World::start);
    let _logs = LogsOnFailure(w);
    case(w);
    w.assert_finalizing();
    for i in 0..4 {
        assert!(!w.net.log(i).contains("panicked"), "{} panicked:\n{}", w.net.nodes[i].name, w.net.log(i));
    }
}

struct LogsOnFailure<'a>(&'a World);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..self.0.net.nodes.len() {
                let log = self.0.net.log(i);
                let lines: Vec<&str> = log.lines().collect();
                eprintln!(
                    "--- {} (last 30 lines)\n{}",
                    self.0.net.nodes[i].name,
                    lines[lines.len().saturating_sub(30)..].join("\n")
                );
            }
        }
    }
}

impl World {
    fn start() -> World {
        let built = token();
        let net = TestNet::start(4, 0, Suite::Sm);
        let reaper = net.reap_at_exit();
        let dir = net.dir.path().to_path_buf();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut w = World { net, dir, http, proposal: 0, passing_vote: Value::Null, _reaper: reaper };

        // Not there before the vote.
        let out = fdl(&["contract", "show", "token", "--rpc", w.rpc(0)]).refused();
        assert!(out.stderr.contains("unknown_contract"), "{out:?}");
        let (p, vote) = w.pass(&["contract", "deploy", "token", "--wasm", s(&built.wasm)], "org1", &["org2", "org3"]);
        w.proposal = p;
        w.passing_vote = vote;
        w
    }

    fn rpc(&self, i: usize) -> &str {
        &self.net.nodes[i].rpc
    }

    /// The node of `org` (org1 runs node 0, ...).
    fn node_of(org: &str) -> usize {
        org.trim_start_matches("org").parse::<usize>().unwrap() - 1
    }

    fn admin_key(&self, org: &str) -> PathBuf {
        self.dir.join(org).join("admin.pem")
    }

    /// Waits until every node has reached `h`.
    fn sync(&self, h: u64) {
        for i in 0..self.net.nodes.len() {
            self.net.wait_height(i, h, SYNC_LIMIT);
        }
    }

    /// Every node finalizes at least two more blocks.
    fn assert_finalizing(&self) {
        let top = (0..4).filter_map(|i| self.net.height(i)).max().expect("no node answers");
        self.sync(top + 2);
    }

    /// `proposer`'s admin proposes (`fdl contract STEP ... --key --wait --json` through its node),
    /// then each of `voters` votes yes through its own node. Returns the proposal number and the
    /// last vote's answer (the one that passed and applied it), once every node has that block.
    fn pass(&self, propose: &[&str], proposer: &str, voters: &[&str]) -> (u64, Value) {
        let key = self.admin_key(proposer);
        let mut args = propose.to_vec();
        args.extend(["--key", s(&key), "--wait", "--json", "--rpc", self.rpc(Self::node_of(proposer))]);
        let out = fdl(&args).ok();
        let v = out.json();
        let r = receipt(&v, "ok");
        assert!(event(&r["events"], "gov.proposed").is_some(), "{out:?}");
        let p = v["proposal"].as_u64().unwrap_or_else(|| panic!("no top-level `proposal` key: {out:?}"));
        let mut last = Value::Null;
        for org in voters {
            let key = self.admin_key(org);
            let id = p.to_string();
            let out = fdl(&[
                "gov",
                "vote",
                &id,
                "--yes",
                "--key",
                s(&key),
                "--wait",
                "--json",
                "--rpc",
                self.rpc(Self::node_of(org)),
            ])
            .ok();
            last = out.json();
            receipt(&last, "ok");
        }
        let events = &last["receipt"]["events"];
        for k in ["gov.passed", "gov.applied"] {
            assert!(event(events, k).is_some(), "the last vote on {p} has no {k}: {last}");
        }
        self.sync(height_of(&last));
        (p, last)
    }

    /// A new key under the network's directory, certified as a client of `org` with `fdl ca
    /// issue`; returns the key's path and its address (hex).
    fn client(&self, name: &str, org: &str) -> (PathBuf, String) {
        let dir = self.dir.join("clients");
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join(format!("{name}.pem"));
        let address = fdl(&["keygen", "--out", s(&key), "--json"]).ok().json()["address"].as_str().unwrap().to_string();
        let ca = self.dir.join(org).join("ca");
        let crt = key.with_extension("crt");
        fdl(&["ca", "issue", "--ca-dir", s(&ca), "--role", "client", "--cn", name, "--key", s(&key), "--out", s(&crt)])
            .ok();
        (key, address)
    }

    /// `fdl contract call CONTRACT METHOD --args ARGS --key KEY --wait --json --rpc NODE [extra]`.
    fn call(
        &self,
        node: usize,
        contract: &str,
        key: &Path,
        method: &str,
        args: &Value,
        extra: &[&str],
    ) -> (Out, Value) {
        let a = args.to_string();
        let mut argv = vec![
            "contract",
            "call",
            contract,
            method,
            "--args",
            &a,
            "--key",
            s(key),
            "--wait",
            "--json",
            "--rpc",
            self.rpc(node),
        ];
        argv.extend_from_slice(extra);
        let out = fdl(&argv);
        let v = out.json();
        (out, v)
    }

    /// [`World::call`] that must succeed; returns the answer.
    #[track_caller]
    fn call_ok(&self, node: usize, contract: &str, key: &Path, method: &str, args: &Value) -> Value {
        let (out, v) = self.call(node, contract, key, method, args, &[]);
        out.ok();
        receipt(&v, "ok");
        v
    }

    /// [`World::call`] that must commit and fail with `status`; returns the receipt's events.
    #[track_caller]
    fn call_fails(&self, node: usize, contract: &str, key: &Path, method: &str, args: &Value, status: &str) -> Value {
        let (out, v) = self.call(node, contract, key, method, args, &[]);
        assert_eq!(out.code, 1, "a failed call exits 1: {out:?}");
        receipt(&v, status)["events"].clone()
    }

    /// `fdl contract query ... --json` through node `i`: the result (must be ok).
    #[track_caller]
    fn query(&self, i: usize, contract: &str, method: &str, args: &Value, extra: &[&str]) -> Value {
        let a = args.to_string();
        let mut argv = vec!["contract", "query", contract, method, "--args", &a, "--json", "--rpc", self.rpc(i)];
        argv.extend_from_slice(extra);
        let out = fdl(&argv).ok();
        let v = out.json();
        assert_eq!(v["status"], "ok", "{out:?}");
        v["result"].clone()
    }

    fn balance(&self, i: usize, contract: &str, owner: &str) -> Value {
        self.query(i, contract, "balance_of", &json!({ "owner": owner }), &[])
    }

    /// `GET` or `POST` (with a JSON body) to node `i`: (HTTP status, JSON body).
    fn http(&self, i: usize, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.rpc(i));
        self.net.rt.block_on(async {
            let req = match body {
                Some(b) => self.http.post(&url).json(b),
                None => self.http.get(&url),
            };
            let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {status} not JSON ({e}): {text}")))
        })
    }

    /// An API error: status and stable code, with a message.
    #[track_caller]
    fn expect_error(&self, i: usize, path: &str, body: Option<&Value>, status: u16, code: &str) {
        let (st, v) = self.http(i, path, body);
        assert_eq!((st, v["code"].as_str()), (status, Some(code)), "{path} {body:?}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: no message: {v}");
    }

    /// The audit records of `contract` (node `i`).
    fn audit(&self, i: usize, contract: &str) -> Vec<Value> {
        let (st, v) = self.http(i, &format!("/v1/audit?contract={contract}"), None);
        assert_eq!(st, 200, "{v}");
        v["records"].as_array().unwrap().clone()
    }

    /// Reads `key` of `contract`'s storage through node `i` and checks the answer: the value
    /// is `want`, the header is the chain's (its hash is its fields', and node 0 has the same
    /// block), and the Merkle proof verifies against its state root (and not for another value).
    #[track_caller]
    fn check_state_proof(&self, i: usize, contract: &str, key: &[u8], want: Option<&[u8]>) {
        let (st, v) = self.http(i, &format!("/v1/contracts/{contract}/state/{}", hex::encode(key)), None);
        assert_eq!(st, 200, "{v}");
        assert_eq!(v["contract"], contract);
        assert_eq!(v["key"], hex::encode(key));
        let state_key = [b"cs/".as_slice(), contract.as_bytes(), b"/", key].concat();
        assert_eq!(v["state_key"], hex::encode(&state_key), "the state key is cs/{{contract}}/{{key}}: {v}");
        let value = v["value"].as_str().map(|h| hex::decode(h).unwrap());
        assert_eq!(value.as_deref(), want, "{v}");
        let view: HeaderView = serde_json::from_value(v["header"].clone()).unwrap();
        assert_eq!(v["height"].as_u64(), Some(view.height), "{v}");
        let header = fdl_sdk::verify_header(&view, Suite::Sm).unwrap_or_else(|e| panic!("header: {e}: {v}"));
        self.net.wait_height(0, view.height, SYNC_LIMIT);
        let chain = self.net.block(0, view.height).unwrap();
        assert_eq!(chain.header.hash, view.hash, "node 0 has another block at {}", view.height);
        let proof = hex::decode(v["proof"].as_str().unwrap()).unwrap();
        fdl_state::verify_proof(Suite::Sm, &header.state_root, &state_key, value.as_deref(), &proof)
            .unwrap_or_else(|e| panic!("the proof does not verify: {e}: {v}"));
        let forged = Some(b"forged".as_slice());
        assert!(
            fdl_state::verify_proof(Suite::Sm, &header.state_root, &state_key, forged, &proof).is_err(),
            "a proof must not verify another value"
        );
    }
}

/// The token's storage key of `owner`'s balance: the `Map` prefix `bal/`, then the address's
/// 20 bytes (the SDK's `Codec` of an `Address`).
fn balance_key(owner: &str) -> Vec<u8> {
    let a: Address = owner.parse().unwrap();
    [b"bal/".as_slice(), &a.0].concat()
}

/// A `u128` as the SDK stores it (`Codec`: 16 bytes, big-endian).
fn stored_u128(n: u128) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

// ---- 1. build and check ---------------------------------------------------------------------

/// `fdl contract build contracts/token --json` gives the module's path and code hash; `fdl
/// contract check` passes it and lists the four methods; garbage and a module with floating
/// point are refused with their codes and exit status 1.
#[test]
fn build_then_check_the_token_and_refuse_garbage_and_floating_point() {
    let t = token();
    assert_eq!(t.json["check"]["ok"], true, "the build checks the module: {}", t.json);
    assert_eq!(t.code_hash.len(), 64, "{}", t.json);
    assert_eq!(t.json["code_size"].as_u64(), Some(std::fs::metadata(&t.wasm).unwrap().len()));

    let out = fdl(&["contract", "check", s(&t.wasm), "--json"]).ok();
    let v = out.json();
    assert_eq!(v["ok"], true, "{out:?}");
    assert_eq!(v["code_hash"], t.code_hash.as_str(), "check and build agree on the code hash");
    assert_eq!(sorted(&v["methods"]), TOKEN_METHODS, "{out:?}");
    // In text too.
    let out = fdl(&["contract", "check", s(&t.wasm)]).ok();
    assert!(out.stdout.contains("passes the deploy checks"), "{out:?}");
    for m in TOKEN_METHODS {
        assert!(out.stdout.contains(m), "{m} not listed: {out:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"this is not a WebAssembly module").unwrap();
    let floats = dir.path().join("floats.wasm");
    std::fs::write(&floats, float_module()).unwrap();
    for (file, code) in [(&garbage, "malformed"), (&floats, "floating_point")] {
        let out = fdl(&["contract", "check", s(file), "--json"]).refused();
        let v = out.json();
        assert_eq!((v["ok"].as_bool(), v["error_code"].as_str()), (Some(false), Some(code)), "{out:?}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "a reason: {out:?}");
        assert_eq!(v["methods"], json!([]));
        let out = fdl(&["contract", "check", s(file)]).refused();
        assert!(out.stdout.contains(&format!("refused: {code}: ")), "{out:?}");
    }
    let out = fdl(&["contract", "check", s(&dir.path().join("absent.wasm"))]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("absent.wasm"), "names the file: {out:?}");
}

// ---- 2. the token on four validators --------------------------------------------------------

/// The token deployed by a committee vote (org1 proposes with `fdl contract deploy`, org2 and
/// org3 vote) is called through all four nodes: org1's admin mints, a certified client
/// transfers through node 2; a client's mint (`not_admin`), another institution's admin's mint
/// and an overdraft are refused. Every node answers the same balances, the nodes agree on every
/// block and state root, `show`, the listing, a balance's storage with its Merkle proof and the
/// audit log all say what happened.
#[test]
fn the_token_deployed_by_vote_is_called_through_every_node_and_every_node_agrees() {
    on_world(|w| {
        let t = token();
        let p = w.proposal.to_string();
        // The vote that passed applied the deploy, in its own receipt.
        let events = &w.passing_vote["receipt"]["events"];
        let d = event(events, "contract.deployed").unwrap_or_else(|| panic!("no contract.deployed: {events}"));
        for (k, want) in [("contract", "token"), ("version", "1"), ("org", "org1"), ("proposal", p.as_str())] {
            assert_eq!(attr(d, k).as_deref(), Some(want), "{k} of {d}");
        }
        assert_eq!(attr(d, "code_hash"), Some(t.code_hash.clone()));

        let org1 = w.admin_key("org1");
        let (alice_key, alice) = w.client("t2-alice", "org1");
        let (bob_key, bob) = w.client("t2-bob", "org2");
        let v = w.call_ok(0, "token", &org1, "mint", &json!({ "to": alice, "amount": 1000 }));
        let minted = event(&v["receipt"]["events"], "contract.event").unwrap_or_else(|| panic!("no event: {v}"));
        assert_eq!(attr(minted, "name").as_deref(), Some("minted"), "{v}");
        let v = w.call_ok(2, "token", &alice_key, "transfer", &json!({ "to": bob, "amount": 250 }));
        assert!(v["receipt"]["cost"].as_u64().is_some_and(|c| c > 0), "fuel used: {v}");
        let mut top = height_of(&v);

        // Refused in the contract: the receipts say why, nothing moves.
        let mint = json!({ "to": alice, "amount": 5 });
        for (node, key, who) in [(1, &alice_key, "org1's client"), (3, &w.admin_key("org2"), "org2's admin")] {
            let events = w.call_fails(node, "token", key, "mint", &mint, "contract_failed");
            let f = event(&events, "contract.failed").unwrap_or_else(|| panic!("{who}: {events}"));
            assert_eq!(attr(f, "code").as_deref(), Some("not_admin"), "{who}: {events}");
            assert_eq!(attr(f, "message").as_deref(), Some("only an admin of org1 may mint"), "{who}");
        }
        let (out, v) = w.call(3, "token", &alice_key, "transfer", &json!({ "to": bob, "amount": 999_999 }), &[]);
        assert_eq!(out.code, 1, "an overdraft: {out:?}");
        let f = event(&receipt(&v, "contract_failed")["events"], "contract.failed").cloned().unwrap();
        assert_eq!(attr(&f, "code").as_deref(), Some("insufficient_balance"), "{v}");
        assert_eq!(kinds(&v["receipt"]["events"]), ["contract.failed"], "a failed call emits nothing else: {v}");
        top = top.max(height_of(&v));
        // Bob (org2's client) pays back through node 1.
        let v = w.call_ok(1, "token", &bob_key, "transfer", &json!({ "to": alice, "amount": 50 }));
        top = top.max(height_of(&v));

        w.sync(top);
        for i in 0..4 {
            assert_eq!(w.balance(i, "token", &alice), json!(800), "alice's balance on node {i}");
            assert_eq!(w.balance(i, "token", &bob), json!(200), "bob's balance on node {i}");
            let supply = w.query(i, "token", "total_supply", &json!({}), &[]);
            assert_eq!(supply, w.query(0, "token", "total_supply", &json!({}), &[]), "supply on node {i}");
        }
        // Text output: the value alone.
        let out = fdl(&[
            "contract",
            "query",
            "token",
            "balance_of",
            "--args",
            &json!({ "owner": bob }).to_string(),
            "--rpc",
            w.rpc(3),
        ])
        .ok();
        assert_eq!(out.stdout.trim(), "200", "{out:?}");

        let common = (0..4).map(|i| w.net.height(i).unwrap()).min().unwrap();
        assert!(common >= top);
        w.net.assert_same_chain(&[0, 1, 2, 3], common);

        // The registry.
        for i in [0, 3] {
            let out = fdl(&["contract", "show", "token", "--json", "--rpc", w.rpc(i)]).ok();
            let c = out.json();
            assert_eq!(c["owner"], "org1", "{out:?}");
            assert_eq!(c["current"], 1);
            assert_eq!(c["status"], "active");
            assert_eq!(c["versions"].as_array().unwrap().len(), 1);
            assert_eq!(c["versions"][0]["code_hash"], t.code_hash.as_str());
            assert_eq!(c["versions"][0]["proposal"], w.proposal);
            assert_eq!(sorted(&c["versions"][0]["methods"]), TOKEN_METHODS);
        }
        let out = fdl(&["contract", "show", "token", "--rpc", w.rpc(2)]).ok();
        assert!(out.stdout.contains("owner org1") && out.stdout.contains("active"), "{out:?}");
        let (st, list) = w.http(1, "/v1/contracts", None);
        assert_eq!(st, 200, "{list}");
        let token_entry =
            list.as_array().unwrap().iter().find(|c| c["name"] == "token").unwrap_or_else(|| panic!("{list}"));
        assert_eq!(token_entry["owner"], "org1");
        let out = fdl(&["contract", "list", "--json", "--rpc", w.rpc(2)]).ok();
        assert!(out.json().as_array().unwrap().iter().any(|c| c["name"] == "token"), "{out:?}");

        // Storage, proven: alice's balance; an address that never held any (absent).
        w.check_state_proof(2, "token", &balance_key(&alice), Some(&stored_u128(800)));
        w.check_state_proof(3, "token", &balance_key(&"ab".repeat(20)), None);

        // A query runs as the account given (`--caller`), with its institution and role, and
        // writes nothing.
        let admin = w.net.admin("org1").public_key().address().to_hex();
        let mint = json!({ "to": bob, "amount": 7 }).to_string();
        let q = |caller: &str| {
            fdl(&[
                "contract",
                "query",
                "token",
                "mint",
                "--args",
                &mint,
                "--caller",
                caller,
                "--json",
                "--rpc",
                w.rpc(1),
            ])
        };
        let out = q(&admin).ok();
        assert_eq!(out.json()["status"], "ok", "{out:?}");
        let out = q(&alice).refused();
        let v = out.json();
        assert_eq!(v["status"], "contract_failed", "{out:?}");
        assert_eq!(attr(event(&v["events"], "contract.failed").unwrap(), "code").as_deref(), Some("not_admin"));
        assert_eq!(w.balance(1, "token", &bob), json!(200), "a query writes nothing");

        // The audit log has the deploy, and the refused mints.
        let records = w.audit(0, "token");
        let deployed =
            records.iter().find(|r| r["kind"] == "contract.deployed").unwrap_or_else(|| panic!("{records:?}"));
        assert_eq!(attr(deployed, "proposal").as_deref(), Some(p.as_str()));
        assert_eq!(attr(deployed, "org").as_deref(), Some("org1"));
        let not_admin = records
            .iter()
            .filter(|r| r["kind"] == "contract.failed" && attr(r, "code").as_deref() == Some("not_admin"));
        assert!(not_admin.count() >= 2, "the refused mints: {records:?}");
    });
}

// ---- 3. the lifecycle -----------------------------------------------------------------------

/// A second contract (`coupon`, the token's module, deployed by org2) goes through its lifecycle
/// by votes: frozen (calls and queries fail `contract_frozen`), unfrozen, given an access rule
/// (a caller it does not admit: `permission_denied`), upgraded to a new
/// version (storage kept, `current` 2, version 1 still callable), retired (`contract_retired`,
/// queries 409, `show` and its storage still readable, no further upgrade); the audit log has
/// every step.
#[test]
fn freeze_unfreeze_upgrade_and_retire_by_votes() {
    on_world(|w| {
        let t = token();
        let wasm = s(&t.wasm);
        w.pass(&["contract", "deploy", "coupon", "--wasm", wasm], "org2", &["org3", "org4"]);
        let org2 = w.admin_key("org2");
        let (carol_key, carol) = w.client("t3-carol", "org3");
        let (dave_key, dave) = w.client("t3-dave", "org4");
        w.call_ok(1, "coupon", &org2, "mint", &json!({ "to": carol, "amount": 100 }));
        let pay = |n: u64| json!({ "to": dave, "amount": n });
        let show = |i: usize| fdl(&["contract", "show", "coupon", "--json", "--rpc", w.rpc(i)]).ok().json();
        assert_eq!(show(0)["owner"], "org2", "the proposer's institution owns it");

        // Frozen: calls fail before the engine runs, queries answer 409.
        let (_, v) = w.pass(&["contract", "freeze", "coupon"], "org3", &["org1", "org4"]);
        assert!(event(&v["receipt"]["events"], "contract.frozen").is_some(), "{v}");
        assert_eq!(show(2)["status"], "frozen");
        let events = w.call_fails(2, "coupon", &carol_key, "transfer", &pay(10), "contract_frozen");
        assert_eq!(attr(event(&events, "contract.refused").unwrap(), "code").as_deref(), Some("contract_frozen"));
        let owner = json!({ "owner": carol });
        let out = fdl(&["contract", "query", "coupon", "balance_of", "--args", &owner.to_string(), "--rpc", w.rpc(3)])
            .refused();
        assert!(out.stderr.contains("contract_frozen"), "{out:?}");
        let q = json!({ "method": "balance_of", "args": owner });
        w.expect_error(0, "/v1/contracts/coupon/query", Some(&q), 409, "contract_frozen");

        // Unfrozen: calls work again.
        let (_, v) = w.pass(&["contract", "unfreeze", "coupon"], "org1", &["org2", "org3"]);
        assert!(event(&v["receipt"]["events"], "contract.unfrozen").is_some(), "{v}");
        w.call_ok(3, "coupon", &carol_key, "transfer", &pay(10));

        // Access rules by vote: `transfer` only for members of org3 (carol, not dave).
        let rules = w.dir.join("clients").join("coupon-access.json");
        std::fs::write(&rules, json!([{ "method": "transfer", "orgs": ["org3"] }]).to_string()).unwrap();
        let (_, v) = w.pass(&["contract", "access", "coupon", "--rules", s(&rules)], "org1", &["org3", "org4"]);
        assert!(event(&v["receipt"]["events"], "contract.access_set").is_some(), "{v}");
        assert_eq!(show(2)["access"], json!([{ "method": "transfer", "roles": [], "orgs": ["org3"], "accounts": [] }]));
        let back = json!({ "to": carol, "amount": 1 });
        let events = w.call_fails(1, "coupon", &dave_key, "transfer", &back, "permission_denied");
        assert!(
            attr(event(&events, "contract.refused").unwrap(), "reason").unwrap().contains("access rule"),
            "{events}"
        );

        // Upgraded to the same module: version 2 over the same storage.
        let (p, v) = w.pass(&["contract", "upgrade", "coupon", "--wasm", wasm], "org2", &["org1", "org4"]);
        let up = event(&v["receipt"]["events"], "contract.upgraded").unwrap_or_else(|| panic!("{v}"));
        assert_eq!((attr(up, "version").as_deref(), attr(up, "previous").as_deref()), (Some("2"), Some("1")));
        let c = show(1);
        assert_eq!((c["current"].as_u64(), c["status"].as_str()), (Some(2), Some("active")), "{c}");
        let versions = c["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2, "{c}");
        assert_eq!(versions[1]["version"], 2);
        assert_eq!(versions[1]["proposal"], p);
        assert_eq!(versions[1]["code_hash"], t.code_hash.as_str());
        assert_eq!(versions[0]["code_hash"], t.code_hash.as_str(), "version 1 is kept");
        assert_eq!(w.balance(2, "coupon", &carol), json!(90), "storage is kept");
        assert_eq!(w.query(2, "coupon", "balance_of", &owner, &["--version", "1"]), json!(90));
        // Version 1 stays callable, over the same storage.
        let (out, v) = w.call(0, "coupon", &carol_key, "transfer", &pay(5), &["--version", "1"]);
        out.ok();
        let h = height_of(&v);
        receipt(&v, "ok");
        w.sync(h);
        assert_eq!(w.balance(3, "coupon", &dave), json!(15));
        let (out, v) = w.call(0, "coupon", &carol_key, "transfer", &pay(1), &["--version", "3"]);
        assert_eq!(out.code, 1, "{out:?}");
        let r = receipt(&v, "unknown_contract");
        assert!(
            attr(event(&r["events"], "contract.refused").unwrap(), "reason").unwrap().contains("no version 3"),
            "{v}"
        );

        // Retired: no calls, queries 409, the record and the storage stay readable.
        let (_, v) = w.pass(&["contract", "retire", "coupon"], "org4", &["org1", "org2"]);
        assert!(event(&v["receipt"]["events"], "contract.retired").is_some(), "{v}");
        w.call_fails(1, "coupon", &carol_key, "transfer", &pay(1), "contract_retired");
        w.call_fails(0, "coupon", &org2, "mint", &json!({ "to": carol, "amount": 1 }), "contract_retired");
        w.expect_error(2, "/v1/contracts/coupon/query", Some(&q), 409, "contract_retired");
        let out = fdl(&["contract", "query", "coupon", "balance_of", "--args", &owner.to_string(), "--rpc", w.rpc(1)])
            .refused();
        assert!(out.stderr.contains("contract_retired"), "{out:?}");
        let c = show(3);
        assert_eq!((c["status"].as_str(), c["current"].as_u64()), (Some("retired"), Some(2)), "{c}");
        w.check_state_proof(1, "coupon", &balance_key(&carol), Some(&stored_u128(85)));
        // Retired for good: an upgrade is refused when proposed.
        let key = w.admin_key("org1");
        let out = fdl(&[
            "contract",
            "upgrade",
            "coupon",
            "--wasm",
            wasm,
            "--key",
            s(&key),
            "--wait",
            "--json",
            "--rpc",
            w.rpc(0),
        ]);
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(gov_refusal(&out.json()), "contract_status", "{out:?}");

        // Every step is in the audit log (`fdl audit --contract`), in order.
        let out = fdl(&["audit", "--contract", "coupon", "--json", "--rpc", w.rpc(3)]).ok();
        let steps: Vec<String> = out.json()["records"]
            .as_array()
            .unwrap_or_else(|| panic!("{out:?}"))
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .filter(|k| {
                [
                    "contract.deployed",
                    "contract.frozen",
                    "contract.unfrozen",
                    "contract.access_set",
                    "contract.upgraded",
                    "contract.retired",
                ]
                .contains(&k.as_str())
            })
            .collect();
        assert_eq!(
            steps,
            [
                "contract.deployed",
                "contract.frozen",
                "contract.unfrozen",
                "contract.access_set",
                "contract.upgraded",
                "contract.retired"
            ]
        );
        // The token was not touched.
        let c = fdl(&["contract", "show", "token", "--json", "--rpc", w.rpc(0)]).ok().json();
        assert_eq!((c["status"].as_str(), c["current"].as_u64()), (Some("active"), Some(1)));
    });
}

// ---- 4. bad input ---------------------------------------------------------------------------

/// Bad input over the API and the CLI gets stable codes, nothing is committed, and the chain
/// keeps finalizing: query arguments that are not an object (400 `invalid_args`), an unknown
/// method or contract (404), a `contract.call` transaction whose arguments are not a JSON
/// object (400 `invalid_args` at the door), a bad state key, a direct deploy the chain's policy
/// does not allow; `POST /v1/contracts/check` agrees with `fdl contract check`.
#[test]
fn bad_contract_input_is_refused_with_stable_codes_and_the_chain_keeps_finalizing() {
    on_world(|w| {
        let start = w.net.height(0).unwrap();
        let owner = json!({ "owner": "ab".repeat(20) });
        for (i, args) in [json!([1]), json!("x"), json!(5)].iter().enumerate() {
            let body = json!({ "method": "balance_of", "args": args });
            w.expect_error(i % 4, "/v1/contracts/token/query", Some(&body), 400, "invalid_args");
        }
        let body = json!({ "method": "no_such_method", "args": {} });
        w.expect_error(1, "/v1/contracts/token/query", Some(&body), 404, "unknown_method");
        let body = json!({ "method": "balance_of", "args": owner });
        w.expect_error(2, "/v1/contracts/nosuch/query", Some(&body), 404, "unknown_contract");
        w.expect_error(3, "/v1/contracts/token/query", Some(&json!({ "method": "Bad-Name" })), 400, "invalid_method");
        w.expect_error(0, "/v1/contracts/nosuch", None, 404, "unknown_contract");
        w.expect_error(0, "/v1/contracts/Not%20A%20Name", None, 400, "invalid_contract_name");
        w.expect_error(1, "/v1/contracts/token/state/zz", None, 400, "invalid_key");
        // Still fine after all that.
        let (st, v) = w.http(3, "/v1/contracts/token/query", Some(&body));
        assert_eq!((st, v["status"].as_str(), v["result"].as_u64()), (200, Some("ok"), Some(0)), "{v}");

        // A contract.call whose arguments are not a JSON object is refused at the door.
        let admin = w.net.admin("org1");
        let sdk = w.net.client(2);
        for args in ["not json", "[1, 2]", "{\"to\": "] {
            let payload = Payload::Call {
                contract: "token".into(),
                version: 0,
                method: "mint".into(),
                args: args.into(),
                fuel: 0,
            };
            let tx = build_tx(&admin, &w.net.genesis.chain_id, start + 1_000, payload).unwrap();
            match w.net.rt.block_on(sdk.submit(&tx, false)) {
                Err(fdl_sdk::SdkError::Api { status, code, .. }) => {
                    assert_eq!((status, code.as_str()), (400, "invalid_args"), "args {args:?}");
                }
                other => panic!("args {args:?}: {other:?}"),
            }
            let (st, v) = w.http(2, &format!("/v1/transactions/{}", tx.id().to_hex()), None);
            assert_eq!(st, 404, "a refused transaction is not known: {v}");
        }
        // The CLI checks the arguments before sending.
        let key = w.admin_key("org1");
        for args in ["not json", "[1]"] {
            let out = fdl(&["contract", "call", "token", "mint", "--args", args, "--key", s(&key), "--rpc", w.rpc(0)]);
            assert_ne!(out.code, 0, "{out:?}");
            assert!(out.stderr.contains("--args"), "says which argument: {out:?}");
            let out = fdl(&["contract", "query", "token", "balance_of", "--args", args, "--rpc", w.rpc(0)]);
            assert_ne!(out.code, 0, "{out:?}");
            assert!(out.stderr.contains("--args"), "says which argument: {out:?}");
        }

        // A direct deploy, which this chain's policy (votes only) does not allow.
        let t = token();
        let out = fdl(&[
            "contract",
            "deploy",
            "org1.direct",
            "--direct",
            "--wasm",
            s(&t.wasm),
            "--key",
            s(&key),
            "--wait",
            "--json",
            "--rpc",
            w.rpc(0),
        ]);
        assert_eq!(out.code, 1, "{out:?}");
        let v = out.json();
        let r = receipt(&v, "contract_rejected");
        assert_eq!(attr(event(&r["events"], "contract.rejected").unwrap(), "code").as_deref(), Some("policy"), "{v}");
        fdl(&["contract", "show", "org1.direct", "--rpc", w.rpc(0)]).refused();
        // A deploy of a module with floating point is refused before anything is sent.
        let dir = tempfile::tempdir().unwrap();
        let floats = dir.path().join("floats.wasm");
        std::fs::write(&floats, float_module()).unwrap();
        let out =
            fdl(&["contract", "deploy", "floaty", "--wasm", s(&floats), "--key", s(&key), "--wait", "--rpc", w.rpc(0)]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(out.stdout.contains("floating_point"), "{out:?}");

        // The name is taken: a second deploy is refused when proposed.
        let out = fdl(&[
            "contract",
            "deploy",
            "token",
            "--wasm",
            s(&t.wasm),
            "--key",
            s(&key),
            "--wait",
            "--json",
            "--rpc",
            w.rpc(0),
        ]);
        assert_eq!(out.code, 1, "{out:?}");
        assert_eq!(gov_refusal(&out.json()), "contract_exists", "{out:?}");

        // The node's checks agree with the CLI's.
        let entries = dir.path().join("entries.wasm");
        std::fs::write(&entries, entries_module()).unwrap();
        let cli = fdl(&["contract", "check", s(&entries), "--json"]).ok().json();
        let body = json!({ "wasm": hex::encode(entries_module()) });
        let (st, api) = w.http(2, "/v1/contracts/check", Some(&body));
        assert_eq!(st, 200, "{api}");
        assert_eq!(cli["methods"], json!(["ping"]), "{cli}");
        assert_eq!((cli["has_init"].as_bool(), cli["has_migrate"].as_bool()), (Some(true), Some(true)), "{cli}");
        assert_eq!(api, cli, "the node's check and the CLI's differ");
        let body = json!({ "wasm": hex::encode(std::fs::read(&t.wasm).unwrap()) });
        let (st, v) = w.http(1, "/v1/contracts/check", Some(&body));
        assert_eq!((st, v["ok"].as_bool()), (200, Some(true)), "{v}");
        assert_eq!(v["code_hash"], t.code_hash.as_str());
        assert_eq!(sorted(&v["methods"]), TOKEN_METHODS);
        let body = json!({ "wasm": hex::encode(float_module()) });
        let (st, v) = w.http(1, "/v1/contracts/check", Some(&body));
        assert_eq!(
            (st, v["ok"].as_bool(), v["error_code"].as_str()),
            (200, Some(false), Some("floating_point")),
            "{v}"
        );
        w.expect_error(1, "/v1/contracts/check", Some(&json!({ "wasm": "zz" })), 400, "invalid_request");

        // Nothing of the above was committed.
        w.assert_finalizing();
        let end = w.net.height(0).unwrap();
        let (st, list) = w.http(0, "/v1/contracts", None);
        assert_eq!(st, 200);
        let names: BTreeSet<&str> = list.as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
        assert!(!names.contains("org1.direct") && !names.contains("floaty"), "{list}");
        assert!(end > start);
    });
}

// ---- 5. events ------------------------------------------------------------------------------

/// A transfer's `contract.event` is in its receipt, on the WebSocket stream `/v1/stream` of
/// another node, with the transaction's hash, and in the audit log.
#[test]
fn a_transfer_event_is_in_the_receipt_on_the_stream_and_in_the_audit_log() {
    on_world(|w| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let ws_url = format!("{}/v1/stream", w.rpc(1).replacen("http", "ws", 1));
        let connect =
            async { tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(&ws_url)).await };
        let (mut ws, _) = rt.block_on(connect).expect("the stream answers").unwrap();
        rt.spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Ok(text) = msg.into_text()
                    && tx.send(text.to_string()).is_err()
                {
                    return;
                }
            }
        });

        let (erin_key, erin) = w.client("t5-erin", "org1");
        let (_, frank) = w.client("t5-frank", "org4");
        w.call_ok(0, "token", &w.admin_key("org1"), "mint", &json!({ "to": erin, "amount": 70 }));
        let v = w.call_ok(3, "token", &erin_key, "transfer", &json!({ "to": frank, "amount": 40 }));
        let hash = v["hash"].as_str().unwrap().to_string();
        let data = json!({ "from": erin, "to": frank, "amount": 40 });
        let check = |e: &Value, whence: &str| {
            assert_eq!(attr(e, "contract").as_deref(), Some("token"), "{whence}: {e}");
            assert_eq!(attr(e, "name").as_deref(), Some("transferred"), "{whence}: {e}");
            let d: Value = serde_json::from_str(&attr(e, "data").unwrap()).unwrap();
            assert_eq!(d, data, "{whence}: {e}");
        };
        check(event(&v["receipt"]["events"], "contract.event").unwrap_or_else(|| panic!("{v}")), "receipt");

        let seen = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(text) = rx.recv().await {
                    let m: Value = serde_json::from_str(&text).unwrap();
                    if m["type"] != "block" || !m["tx_hashes"].as_array().unwrap().iter().any(|h| h == hash.as_str()) {
                        continue;
                    }
                    let ours: Vec<Value> = m["events"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|e| e["tx_hash"] == hash.as_str() && e["kind"] == "contract.event")
                        .cloned()
                        .collect();
                    return Some((m["height"].as_u64().unwrap(), ours));
                }
                None
            })
            .await
        });
        let (height, ours) =
            seen.unwrap_or_else(|_| panic!("the stream did not deliver the block with {hash}")).unwrap();
        assert_eq!(height, height_of(&v));
        assert_eq!(ours.len(), 1, "{ours:?}");
        check(&ours[0], "stream");
        rt.shutdown_timeout(Duration::from_secs(1));

        w.sync(height);
        let records = w.audit(2, "token");
        let rec = records
            .iter()
            .find(|r| r["tx"] == hash.as_str() && r["kind"] == "contract.event")
            .unwrap_or_else(|| panic!("no audit record of {hash}: {records:?}"));
        check(rec, "audit");
    });
}

// ---- 6. a new contract ----------------------------------------------------------------------

/// `fdl contract new demo --dir TMP` writes a crate whose native test passes with `cargo test
/// --offline` (no warnings), which `fdl contract build` turns into a module that passes `fdl
/// contract check`; a second `new` of the same name refuses.
#[test]
fn a_scaffolded_contract_tests_and_builds_offline_and_passes_the_checks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = fdl(&["contract", "new", "demo", "--dir", s(tmp.path())]).ok();
    let root = tmp.path().join("demo");
    assert!(out.stdout.contains(s(&root)), "{out:?}");
    for f in ["Cargo.toml", "src/lib.rs", "fdl-contract/Cargo.toml", "fdl-contract/src/lib.rs"] {
        assert!(root.join(f).is_file(), "{f} missing: {out:?}");
    }
    let again = fdl(&["contract", "new", "demo", "--dir", s(tmp.path())]);
    assert_ne!(again.code, 0, "{again:?}");
    assert!(again.stderr.contains("exists"), "{again:?}");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = run(&cargo, &["test", "--offline"], Some(&root), true, BUILD_LIMIT).ok();
    assert!(out.stdout.contains("test result: ok. 1 passed"), "{out:?}");
    assert!(!out.stderr.contains("warning"), "the scaffold compiles without warnings: {out:?}");

    let out = fdl_build(&["contract", "build", s(&root), "--json"]).ok();
    let v = out.json();
    let wasm = v["wasm"].as_str().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(v["check"]["ok"], true, "{out:?}");
    let out = fdl(&["contract", "check", wasm, "--json"]).ok();
    let c = out.json();
    assert_eq!(c["ok"], true, "{out:?}");
    assert_eq!(c["code_hash"], v["code_hash"]);
    assert_eq!(sorted(&c["methods"]), ["get", "increment"], "{out:?}");
}

/// The storage slot of `owner`'s balance in `contracts/solidity/Token.sol`: Solidity puts
/// `mapping balanceOf` (the token's state variable number `slot`) at `keccak256(owner ‖ slot)`.
fn sol_balance_slot(owner: &str, slot: u8) -> Vec<u8> {
    let a: Address = owner.parse().unwrap();
    let mut pre = [0u8; 64];
    pre[12..32].copy_from_slice(&a.0);
    pre[63] = slot;
    fdl_vm_evm::keccak256(&pre).to_vec()
}

#[test]
fn the_solidity_token_deployed_by_vote_is_called_through_every_node_and_every_node_agrees() {
    on_world(|w| {
        let sol = repo_root().join("contracts/solidity/Token.sol");
        let (p, vote) = w.pass(&["contract", "deploy", "soltoken", "--sol", s(&sol)], "org1", &["org2", "org3"]);
        let events = &vote["receipt"]["events"];
        let d = event(events, "contract.deployed").unwrap_or_else(|| panic!("no contract.deployed: {events}"));
        for (k, want) in [("contract", "soltoken"), ("vm", "evm"), ("org", "org1"), ("proposal", &p.to_string())] {
            assert_eq!(attr(d, k).as_deref(), Some(want), "{k} of {d}");
        }
        let org1 = w.admin_key("org1");
        let (alice_key, alice) = w.client("sol-alice", "org1");
        let (_, bob) = w.client("sol-bob", "org2");
        let v = w.call_ok(0, "soltoken", &org1, "mint", &json!([format!("0x{alice}"), 1000]));
        let minted = event(&v["receipt"]["events"], "contract.event").unwrap_or_else(|| panic!("no event: {v}"));
        assert_eq!(attr(minted, "name").as_deref(), Some("Transfer"), "{v}");
        let v = w.call_ok(2, "soltoken", &alice_key, "transfer", &json!([format!("0x{bob}"), 250]));
        assert_eq!(v["result"], json!(true), "transfer returns true, decoded: {v}");
        let hash = v["hash"].as_str().unwrap().to_string();
        let (st, t) = w.http(2, &format!("/v1/transactions/{hash}"), None);
        assert_eq!(st, 200, "{t}");
        assert_eq!(t["receipt"]["output"], json!(true), "the receipt's output decoded with the ABI: {t}");
        assert_eq!(t["tx"]["details"]["selector"], "0xa9059cbb", "{t}");
        let gas = v["receipt"]["cost"].as_u64().unwrap();
        assert!(gas > 21_000, "gas used: {v}");
        let mut top = height_of(&v);

        // Reverts: the reason is in the receipt, nothing moves.
        let events =
            w.call_fails(1, "soltoken", &alice_key, "mint", &json!([format!("0x{alice}"), 5]), "contract_failed");
        let f = event(&events, "contract.failed").unwrap_or_else(|| panic!("{events}"));
        assert_eq!(attr(f, "code").as_deref(), Some("revert"), "{events}");
        assert_eq!(attr(f, "message").as_deref(), Some("mint: only an administrator of org1"), "{events}");
        let (out, v) = w.call(3, "soltoken", &alice_key, "transfer", &json!([format!("0x{bob}"), 999_999]), &[]);
        assert_eq!(out.code, 1, "an overdraft: {out:?}");
        let f = event(&receipt(&v, "contract_failed")["events"], "contract.failed").cloned().unwrap();
        assert_eq!(attr(&f, "message").as_deref(), Some("transfer: insufficient balance"), "{v}");
        top = top.max(height_of(&v));
        // Arguments that do not match the ABI are refused before anything is sent.
        let bad = ["contract", "call", "soltoken", "transfer", "--args", "[\"not an address\", 1]"];
        let out = fdl(&[&bad[..], &["--key", s(&alice_key), "--rpc", w.rpc(0)]].concat());
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stderr.contains("transfer") && out.stderr.contains("address"), "names what is wrong: {out:?}");

        w.sync(top);
        for i in 0..4 {
            assert_eq!(
                w.query(i, "soltoken", "balanceOf", &json!([format!("0x{alice}")]), &[]),
                json!(750),
                "node {i}"
            );
            assert_eq!(w.query(i, "soltoken", "balanceOf", &json!([format!("0x{bob}")]), &[]), json!(250), "node {i}");
        }
        let common = (0..4).map(|i| w.net.height(i).unwrap()).min().unwrap();
        w.net.assert_same_chain(&[0, 1, 2, 3], common);
        // The balance is contract storage, with a Merkle proof.
        let slot = sol_balance_slot(&alice, 4);
        let mut word = [0u8; 32];
        word[30..].copy_from_slice(&750u16.to_be_bytes());
        w.check_state_proof(1, "soltoken", &slot, Some(&word));

        // The registry shows the engine, the ABI and the methods by selector.
        let c = fdl(&["contract", "show", "soltoken", "--json", "--rpc", w.rpc(3)]).ok().json();
        assert_eq!(c["vm"], "evm", "{c}");
        assert!(c["abi"].as_array().is_some_and(|a| !a.is_empty()), "{c}");
        let methods = c["versions"][0]["methods"].as_array().unwrap();
        assert!(methods.iter().any(|m| m == "0xa9059cbb:transfer"), "{c}");
        // The REST query: ABI-encoded arguments, decoded result; a wrong method is 404.
        let (st, q) = w.http(2, "/v1/contracts/soltoken/query", Some(&json!({"method": "totalSupply"})));
        assert_eq!((st, &q["result"]), (200, &json!(1000)), "{q}");
        w.expect_error(2, "/v1/contracts/soltoken/query", Some(&json!({"method": "nope"})), 404, "unknown_method");
        w.expect_error(
            2,
            "/v1/contracts/soltoken/query",
            Some(&json!({"method": "balanceOf", "args": [1, 2]})),
            400,
            "invalid_args",
        );
        // The audit log has the deploy, the token's decoded events and the reverts.
        let kinds: BTreeSet<String> =
            w.audit(0, "soltoken").iter().filter_map(|r| r["kind"].as_str().map(String::from)).collect();
        for k in ["contract.deployed", "contract.event", "contract.failed"] {
            assert!(kinds.contains(k), "no {k} in the audit log: {kinds:?}");
        }
    });
}
