//! The command line as a newcomer meets it: directories that are not FDL's are refused and left
//! untouched, dates are readable, every command that prints data prints text by default and JSON
//! with `--json`, and errors say what to do.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::{FDL, TestNode, fdl, free_port};
use fdl_crypto::{KeyPair, Signer as _, Suite};
use serde_json::Value;

/// Every file and directory under `dir`, with each file's bytes: to show nothing was written.
fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if p.is_dir() {
                out.push((rel, None));
                stack.push(p);
            } else {
                out.push((rel, Some(std::fs::read(&p).unwrap())));
            }
        }
    }
    out.sort();
    out
}

/// A directory as a user's: a file, a hidden file and a sub-directory with a file.
fn someones_directory() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), b"my notes").unwrap();
    std::fs::write(d.path().join(".profile"), b"export X=1").unwrap();
    std::fs::create_dir(d.path().join("photos")).unwrap();
    std::fs::write(d.path().join("photos").join("a.jpg"), b"\xff\xd8").unwrap();
    d
}

/// Runs `fdl` with `args`, killing it after `limit` (a command that should have refused but
/// started a network instead must not hang the test). Returns (exit code, stdout, stderr).
fn fdl_within(args: &[&str], limit: Duration) -> (i32, String, String) {
    let mut child = Command::new(FDL)
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = common::wait::poll(limit, || child.try_wait().unwrap()).is_some();
    if !exited {
        let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        let _ = common::wait::poll(Duration::from_secs(15), || child.try_wait().unwrap());
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let code = if exited { out.status.code().unwrap_or(-1) } else { -999 };
    (code, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[track_caller]
fn assert_refused(what: &str, (code, out, err): (i32, String, String), dir: &Path) {
    assert_eq!(code, 2, "{what} must refuse {} (exit 2); stdout {out} stderr {err}", dir.display());
    assert!(err.contains("is not empty and holds no FDL"), "{what}: say what is wrong: {err}");
    assert!(err.contains("found: .profile, notes.txt, photos/"), "{what}: say what was found: {err}");
    assert!(err.contains("new or empty directory"), "{what}: say what to do: {err}");
}

#[test]
fn devnet_refuses_a_non_empty_directory_that_holds_no_network_and_writes_nothing() {
    let d = someones_directory();
    let before = snapshot(d.path());
    let dir = d.path().to_str().unwrap();
    for extra in [&[][..], &["--validators", "1"][..]] {
        let mut args = vec!["devnet", "--dir", dir];
        args.extend_from_slice(extra);
        assert_refused("fdl devnet", fdl_within(&args, Duration::from_secs(30)), d.path());
        assert_eq!(snapshot(d.path()), before, "fdl devnet {extra:?} wrote into {dir}");
    }
}

#[test]
fn init_refuses_a_non_empty_directory_that_holds_no_network_or_node_and_writes_nothing() {
    let d = someones_directory();
    let before = snapshot(d.path());
    let dir = d.path().to_str().unwrap();
    for args in [
        vec!["init", "--dir", dir],
        vec!["init", "--dir", dir, "--validators", "4", "--observers", "1"],
        vec!["init", "--dir", dir, "--org", "bankA"],
    ] {
        assert_refused(&args.join(" "), fdl(&args), d.path());
        assert_eq!(snapshot(d.path()), before, "{args:?} wrote into {dir}");
    }
}

#[test]
fn init_takes_a_new_or_empty_directory_and_a_node_directory_may_hold_its_ca() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    // A directory that does not exist yet, and an empty one.
    let (code, _, err) = fdl(&["init", "--dir", &p("new/chain")]);
    assert_eq!(code, 0, "{err}");
    std::fs::create_dir(p("empty")).unwrap();
    let (code, _, err) = fdl(&["init", "--dir", &p("empty"), "--validators", "4"]);
    assert_eq!(code, 0, "{err}");
    // Its own network again: refused as one, not as someone's directory.
    let (code, _, err) = fdl(&["init", "--dir", &p("empty")]);
    assert_eq!(code, 2);
    assert!(err.contains("already holds a chain"), "{err}");
    // A node directory holding only the institution's CA (made first with `fdl ca init`).
    let (code, _, err) = fdl(&["ca", "init", "--org", "bankA", "--dir", &p("node/ca")]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = fdl(&["init", "--org", "bankA", "--dir", &p("node")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(d.path().join("node").join("member.json").exists());
}

/// An ISO 8601 UTC date and time (`2036-11-30T11:31:52Z`, optionally with milliseconds) in `s`.
fn has_iso_date(s: &str) -> bool {
    s.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',').any(|w| {
        let b = w.as_bytes();
        b.len() >= 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && w.ends_with('Z')
            && w[..4].bytes().all(|c| c.is_ascii_digit())
    })
}

#[test]
fn human_output_shows_utc_dates_json_keeps_numbers_and_expiring_certificates_are_flagged() {
    let mut node = TestNode::init(Suite::Sm);
    // The node's /metrics window: ten years and a bit, so the devnet's certificates count.
    let cfg = node.config();
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("cert_expiry_warning_days = 30\n"), "the default is written: {text}");
    std::fs::write(&cfg, text.replace("cert_expiry_warning_days = 30\n", "cert_expiry_warning_days = 4000\n")).unwrap();
    node.spawn();
    let rpc = node.rpc.as_str();

    // `fdl member list`: dates and time left, not Unix seconds; numbers in --json.
    let (code, out, err) = fdl(&["member", "list", "--rpc", rpc]);
    assert_eq!(code, 0, "{err}");
    assert!(has_iso_date(&out) && out.contains("expires in 36"), "{out}");
    assert!(!out.contains("WARNING") && !out.contains("warning:"), "nothing expires within 30 days: {out}");
    let (code, json, _) = fdl(&["member", "list", "--rpc", rpc, "--json"]);
    assert_eq!(code, 0);
    let members: Value = serde_json::from_str(&json).unwrap();
    let not_after = members[0]["ca"]["not_after"].as_u64().unwrap();
    assert!(not_after > 1_700_000_000, "{json}");
    assert!(!out.contains(&not_after.to_string()), "no Unix seconds in the text: {out}");
    // A window that reaches the certificates' end flags each of them, and counts them.
    let (code, out, _) = fdl(&["member", "list", "--rpc", rpc, "--expiring-within-days", "4000"]);
    assert_eq!(code, 0);
    let flagged = out.lines().filter(|l| l.contains("WARNING: expires within 4000 days")).count();
    // org1's CA, the regulator's CA and node0's certificate.
    assert_eq!(flagged, 3, "{out}");
    assert!(out.contains("warning: 3 certificate(s) expire within 4000 days"), "{out}");

    // `fdl query block`: the block time as a date; the milliseconds in --json.
    let (code, out, err) = fdl(&["query", "block", "1", "--rpc", rpc]);
    assert_eq!(code, 0, "{err}");
    let time_line = out.lines().find(|l| l.trim_start().starts_with("time ")).unwrap_or_default();
    assert!(has_iso_date(time_line), "{out}");
    let (_, json, _) = fdl(&["query", "block", "1", "--rpc", rpc, "--json"]);
    let b: Value = serde_json::from_str(&json).unwrap();
    let ms = b["header"]["timestamp_ms"].as_u64().unwrap();
    assert!(!out.contains(&ms.to_string()), "{out}");

    // `/metrics`: seconds left per certificate, and the count within the configured window.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let m = rt.block_on(async { reqwest::get(format!("{rpc}/metrics")).await.unwrap().text().await.unwrap() });
    assert!(m.contains("fdl_certificates_expiring{within_days=\"4000\"} 3\n"), "{m}");
    let left: i64 = m
        .lines()
        .find_map(|l| l.strip_prefix("fdl_certificate_expiry_seconds{org=\"org1\",kind=\"node\",name=\"node0\"} "))
        .unwrap_or_else(|| panic!("{m}"))
        .parse()
        .unwrap();
    assert!((3_649 * 86_400..=3_650 * 86_400).contains(&left), "{left}");
}

/// A command's output: JSON with `--json` (one document), and text by default.
#[track_caller]
fn assert_both_forms(what: &str, text: (i32, String, String), json: (i32, String, String)) {
    assert_eq!(text.0, 0, "{what}: {} {}", text.1, text.2);
    assert_eq!(json.0, 0, "{what} --json: {} {}", json.1, json.2);
    assert!(!text.1.trim().is_empty(), "{what} prints nothing");
    assert!(serde_json::from_str::<Value>(text.1.trim()).is_err(), "{what} prints JSON by default: {}", text.1);
    assert!(
        text.1.lines().all(|l| serde_json::from_str::<Value>(l).is_err_and(|_| !l.trim_start().starts_with('{'))),
        "{what}: a JSON line in the text: {}",
        text.1
    );
    serde_json::from_str::<Value>(json.1.trim())
        .unwrap_or_else(|e| panic!("{what} --json is not JSON ({e}): {}", json.1));
}

/// The commands that print data (each walked below with and without `--json`), and those that
/// only act or report on files they wrote. Every command of `fdl --help` is in one of the lists.
const DATA_COMMANDS: &[&str] = &[
    "keygen",
    "ca verify",
    "tx issue",
    "tx transfer",
    "tx burn",
    "query status",
    "query block",
    "query tx",
    "query account",
    "member list",
    "gov propose",
    "gov vote",
    "gov publish-crl",
    "gov show",
    "gov list",
    "account freeze",
    "account unfreeze",
    "audit",
    "bench",
    "contract build",
    "contract check",
    "contract deploy",
    "contract upgrade",
    "contract freeze",
    "contract unfreeze",
    "contract retire",
    "contract access",
    "contract list",
    "contract show",
    "contract call",
    "contract query",
];
const OTHER_COMMANDS: &[&str] = &[
    "key encrypt",
    "key decrypt",
    // Its import|generate|list take --json; they need a PKCS#11 token (tests/keys.rs).
    "key pkcs11",
    "sign",
    "verify",
    "init",
    "ca init",
    "ca issue",
    "ca revoke",
    "genesis",
    "peers",
    "node",
    "devnet",
    "contract new",
    // `fdl signer` serves a validator's key until stopped; `signer init` writes its token
    // (tests/signer.rs).
    "signer init",
];

/// The sub-commands `fdl PATH --help` lists.
fn subcommands(path: &[&str]) -> Vec<String> {
    let mut args = path.to_vec();
    args.push("--help");
    let (code, out, err) = fdl(&args);
    assert_eq!(code, 0, "{err}");
    let Some(section) = out.split("Commands:\n").nth(1) else { return Vec::new() };
    section
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_is_classified_and_every_data_command_takes_json() {
    let mut seen = BTreeSet::new();
    for top in subcommands(&[]) {
        // Two levels: `gov propose`'s actions are one command.
        let subs = subcommands(&[top.as_str()]);
        if subs.is_empty() {
            seen.insert(top.clone());
        }
        for s in subs {
            seen.insert(format!("{top} {s}"));
        }
    }
    let known: BTreeSet<String> = DATA_COMMANDS.iter().chain(OTHER_COMMANDS).map(|s| s.to_string()).collect();
    assert_eq!(seen, known, "classify every command: DATA_COMMANDS (walked with --json) or OTHER_COMMANDS");
    for c in DATA_COMMANDS {
        let mut args: Vec<&str> = c.split(' ').collect();
        if *c == "gov propose" {
            args.push("freeze");
        }
        args.push("--help");
        let (_, out, _) = fdl(&args);
        assert!(out.contains("--json"), "fdl {c} has no --json: {out}");
    }
}

#[test]
fn every_data_command_prints_text_by_default_and_json_with_json() {
    let node = TestNode::start(Suite::Sm);
    let d = node.dir.path();
    let p = |n: &str| d.join(n).to_str().unwrap().to_string();
    let rpc = node.rpc.as_str();
    let both = |what: &str, args: &[&str]| {
        let mut with_json: Vec<&str> = args.to_vec();
        with_json.push("--json");
        let text = fdl(args);
        let json = fdl(&with_json);
        assert_both_forms(what, text, json.clone());
        json.1
    };
    // Two key files: keygen refuses to overwrite, so the two forms write two keys.
    let (code, out, _) = fdl(&["keygen", "--out", &p("alice.pem")]);
    assert_eq!(code, 0);
    let alice_json = fdl(&["keygen", "--out", &p("alice2.pem"), "--json"]);
    assert_both_forms("keygen", (code, out, String::new()), alice_json);
    let alice = KeyPair::read_pem_file(&d.join("alice.pem")).unwrap();
    let cert = node.certify(&alice);
    std::fs::write(p("alice.crt"), fdl_pki::to_pem(&cert).unwrap()).unwrap();
    let addr = alice.public_key().address().to_hex();
    let ca = p("org1/ca/ca.pem");
    both("ca verify", &["ca", "verify", "--ca", &ca, &p("alice.crt")]);

    let issuer = p("issuer.pem");
    let json =
        both("tx issue", &["tx", "issue", "--rpc", rpc, "--key", &issuer, "--to", &addr, "--amount", "50", "--wait"]);
    let tx_hash = serde_json::from_str::<Value>(&json).unwrap()["hash"].as_str().unwrap().to_string();
    let bob = KeyPair::generate(Suite::Sm).address().to_hex();
    both(
        "tx transfer",
        &["tx", "transfer", "--rpc", rpc, "--key", &p("alice.pem"), "--to", &bob, "--amount", "1", "--wait"],
    );
    // (Refused at execution: the issuer holds nothing to burn. Without --wait it is sent.)
    both("tx burn", &["tx", "burn", "--rpc", rpc, "--key", &issuer, "--amount", "1"]);

    both("query status", &["query", "status", "--rpc", rpc]);
    both("query block", &["query", "block", "--rpc", rpc]);
    // Verified reads name their trust anchor: the default (~/.fdl/trust.json) is shared by the
    // tests that run at the same time.
    let genesis = p("genesis.json");
    both("query block --verify", &["query", "block", "1", "--verify", "--rpc", rpc, "--genesis", &genesis]);
    both("query tx", &["query", "tx", &tx_hash, "--rpc", rpc, "--genesis", &genesis]);
    both("query account", &["query", "account", &addr, "--rpc", rpc, "--genesis", &genesis]);
    both("member list", &["member", "list", "--rpc", rpc]);

    // Governance: org1 holds the only committee seat, so its proposals pass at once.
    let admin = p("org1/admin.pem");
    both("account freeze", &["account", "freeze", &addr, "--rpc", rpc, "--key", &admin, "--wait"]);
    both("account unfreeze", &["account", "unfreeze", &addr, "--rpc", rpc, "--key", &admin, "--wait"]);
    both("gov propose", &["gov", "propose", "freeze", "--account", &addr, "--rpc", rpc, "--key", &admin, "--wait"]);
    // A vote on a decided proposal is refused: the refusal too comes in both forms.
    let vote = ["gov", "vote", "1", "--yes", "--rpc", rpc, "--key", &admin, "--wait"];
    let (text, json) = (fdl(&vote), fdl(&[&vote[..], &["--json"]].concat()));
    assert!(serde_json::from_str::<Value>(text.1.trim()).is_err() && !text.1.is_empty(), "{text:?}");
    serde_json::from_str::<Value>(json.1.trim()).unwrap_or_else(|e| panic!("gov vote --json: {e}: {json:?}"));
    both("gov publish-crl", &["gov", "publish-crl", "--crl", &p("org1/ca/crl.pem"), "--rpc", rpc, "--key", &admin]);
    both("gov show", &["gov", "show", "1", "--rpc", rpc]);
    both("gov list", &["gov", "list", "--rpc", rpc]);
    // The audit log is for auditors, regulators and administrators (the devnet's read policy).
    let out = both("audit", &["audit", "--rpc", rpc, "--account", &addr, "--key", &admin]);
    assert!(out.contains("account.frozen"), "{out}");
    let (_, text, _) = fdl(&["audit", "--rpc", rpc, "--account", &addr, "--key", &admin]);
    assert!(has_iso_date(&text) && text.contains("account.frozen"), "{text}");

    // `fdl bench` is a measurement: its stdout is one JSON record (what scripts and CI keep),
    // its report for a person is on stderr.
    let ca_dir = p("org1/ca");
    let bench_args: Vec<&str> = vec![
        "bench",
        "--rpc",
        rpc,
        "--txs",
        "4",
        "--accounts",
        "2",
        "--clients",
        "1",
        "--batch",
        "2",
        "--issuer-key",
        &issuer,
        "--ca-dir",
        &ca_dir,
        "--timeout-s",
        "30",
    ];
    let (code, out, err) = fdl(&bench_args);
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str::<Value>(out.trim())
        .unwrap_or_else(|e| panic!("bench: stdout is not one JSON record ({e}): {out}"));
    assert!(err.lines().any(|l| l.starts_with("tps ")), "bench: no report on stderr: {err}");
    let (code, out, err) = fdl(&[&bench_args[..], &["--json"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    serde_json::from_str::<Value>(out.trim()).unwrap_or_else(|e| panic!("bench --json ({e}): {out}"));
    assert!(!err.lines().any(|l| l.starts_with("tps ")), "bench --json: the report is left out: {err}");
}

#[test]
fn an_unreachable_node_comes_with_what_to_do() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec!["query", "status", "--rpc", url.as_str()],
        vec!["member", "list", "--rpc", url.as_str()],
        vec!["audit", "--rpc", url.as_str()],
    ] {
        let (code, out, err) = fdl(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("cannot reach"), "{args:?}: {err}");
        assert!(err.contains("is the node running?") && err.contains("`cargo run --release -- devnet`"), "{err}");
    }
}

#[test]
fn a_zero_negative_or_fractional_amount_is_refused_in_words() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("k.pem");
    KeyPair::generate(Suite::Sm).write_pem_file(&key).unwrap();
    let key = key.to_str().unwrap();
    let to = KeyPair::generate(Suite::Sm).address().to_hex();
    let url = format!("http://127.0.0.1:{}", free_port());
    for amount in ["-5", "0", "1.5", "ten"] {
        for args in [
            vec!["tx", "transfer", "--key", key, "--to", &to, "--amount", amount, "--rpc", &url],
            vec!["tx", "issue", "--key", key, "--to", &to, "--amount", amount, "--rpc", &url],
            vec!["tx", "burn", "--key", key, "--amount", amount, "--rpc", &url],
            vec!["gov", "propose", "forced-transfer", "--from", &to, "--to", &to, "--amount", amount, "--key", key],
        ] {
            let (code, out, err) = fdl(&args);
            assert_eq!(code, 2, "{args:?}: {out}{err}");
            assert!(err.contains("amount must be a positive integer"), "{args:?}: {err}");
            assert!(!err.contains("Usage:") && !err.contains("unexpected argument"), "{args:?}: {err}");
        }
    }
}
