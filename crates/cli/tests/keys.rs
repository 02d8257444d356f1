//! Keys apart from the ledger (STD-8.2, STD-8.4, STD-10.3), through the `fdl` command: encrypted
//! key files (keygen, key encrypt/decrypt, the passphrase sources, OpenSSL reading them, a node
//! starting from an encrypted validator key) and a SoftHSM2 token signing transactions.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{FDL, TestNode, build_tx};
use fdl_crypto::{KeyPair, Suite};
use fdl_types::Payload;

#[path = "../../crypto/tests/support/softhsm2.rs"]
mod softhsm2;

/// Runs `fdl` with `args` and extra environment variables; (exit code, stdout, stderr).
fn fdl_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(FDL);
    c.args(args).env("HOME", std::env::temp_dir()).env_remove("FDL_KEY_PASSPHRASE");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run fdl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn is_encrypted(p: &Path) -> bool {
    std::fs::read_to_string(p).unwrap().starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

#[test]
fn keygen_without_a_passphrase_source_writes_a_plain_key_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.pem");
    let (code, stdout, stderr) = fdl_env(&["keygen", "--suite", "sm", "--out", s(&out), "--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    // The JSON scripts read is unchanged.
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["address", "key_file", "public_key", "suite"]);
    assert!(!is_encrypted(&out) && mode(&out) == 0o600);
    let warning: Vec<_> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warning.len(), 1, "{stderr}");
    assert!(warning[0].contains("not encrypted") && warning[0].contains("fdl key encrypt"), "{stderr}");
    // --plain says so explicitly: no warning.
    let out2 = dir.path().join("b.pem");
    let (code, _, stderr) = fdl_env(&["keygen", "--plain", "--out", s(&out2)], &[("FDL_KEY_PASSPHRASE", "pw-pw-pw")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!is_encrypted(&out2) && !stderr.contains("warning"), "{stderr}");
}

#[test]
fn encrypted_key_files_through_the_command() {
    common::require_openssl3();
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    // keygen with --passphrase-file (intl: AES-256-CBC, HMAC-SHA256) and with the environment (sm).
    let intl = dir.path().join("intl.pem");
    let (code, stdout, stderr) =
        fdl_env(&["keygen", "--suite", "intl", "--out", s(&intl), "--json", "--passphrase-file", s(&pass)], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(is_encrypted(&intl) && mode(&intl) == 0o600 && !stderr.contains("warning"), "{stderr}");
    let address =
        serde_json::from_str::<serde_json::Value>(stdout.trim()).unwrap()["address"].as_str().unwrap().to_string();
    let sm = dir.path().join("sm.pem");
    let (code, _, stderr) =
        fdl_env(&["keygen", "--suite", "sm", "--out", s(&sm)], &[("FDL_KEY_PASSPHRASE", "correct horse")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(is_encrypted(&sm));

    // OpenSSL reads the intl file FDL wrote with the passphrase.
    let plain = dir.path().join("plain.pem");
    common::openssl_ok(&["pkcs8", "-in", s(&intl), "-passin", &format!("file:{}", s(&pass)), "-out", s(&plain)]);
    let kp = KeyPair::read_pem_file(&plain).unwrap();
    assert_eq!(kp.address().to_hex(), address);

    // A command taking a key: without a passphrase it fails naming the sources; with one it signs.
    let msg = dir.path().join("msg");
    std::fs::write(&msg, b"hello").unwrap();
    let sig = dir.path().join("sig");
    let (code, _, stderr) = fdl_env(&["sign", "--key", s(&intl), "--in", s(&msg), "--out", s(&sig)], &[]);
    assert_ne!(code, 0);
    for want in ["passphrase", "--passphrase-file", "FDL_KEY_PASSPHRASE", "terminal"] {
        assert!(stderr.contains(want), "{want} missing: {stderr}");
    }
    let (code, _, stderr) =
        fdl_env(&["sign", "--key", s(&intl), "--in", s(&msg), "--out", s(&sig), "--passphrase-file", s(&pass)], &[]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) =
        fdl_env(&["sign", "--key", s(&intl), "--in", s(&msg), "--out", s(&sig)], &[("FDL_KEY_PASSPHRASE", "nope")]);
    assert_ne!(code, 0);
    assert!(stderr.contains("wrong passphrase"), "{stderr}");

    // key decrypt in place, then key encrypt to another file with SM4 and the SHA-256 PRF, which
    // OpenSSL reads; the sm file decrypts to --out.
    let (code, _, stderr) = fdl_env(&["key", "decrypt", s(&intl), "--passphrase-file", s(&pass)], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!is_encrypted(&intl) && mode(&intl) == 0o600);
    assert_eq!(KeyPair::read_pem_file(&intl).unwrap().address().to_hex(), address);
    let sm4 = dir.path().join("sm4.pem");
    let (code, _, stderr) = fdl_env(
        &["key", "encrypt", s(&intl), "--out", s(&sm4), "--cipher", "sm4", "--prf", "sha256"],
        &[("FDL_KEY_PASSPHRASE", "correct horse")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(is_encrypted(&sm4) && mode(&sm4) == 0o600 && !is_encrypted(&intl));
    common::openssl_ok(&["pkcs8", "-in", s(&sm4), "-passin", "pass:correct horse", "-out", s(&plain)]);
    assert_eq!(KeyPair::read_pem_file(&plain).unwrap().address().to_hex(), address);
    let (code, _, _) = fdl_env(&["key", "encrypt", s(&sm4)], &[("FDL_KEY_PASSPHRASE", "x")]);
    assert_ne!(code, 0, "an encrypted file encrypted again");
    let sm_plain = dir.path().join("sm-plain.pem");
    let (code, _, stderr) =
        fdl_env(&["key", "decrypt", s(&sm), "--out", s(&sm_plain)], &[("FDL_KEY_PASSPHRASE", "correct horse")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(is_encrypted(&sm) && !is_encrypted(&sm_plain) && mode(&sm_plain) == 0o600);
    assert_eq!(KeyPair::read_pem_file(&sm_plain).unwrap().suite(), Suite::Sm);

    // An OpenSSL-written encrypted key (SM4-CBC, as `openssl pkcs8 -topk8 -v2 sm4-cbc`) signs in FDL.
    let ossl = dir.path().join("ossl.pem");
    common::openssl_ok(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "sm4-cbc",
        "-in",
        s(&sm_plain),
        "-out",
        s(&ossl),
        "-passout",
        "pass:correct horse",
    ]);
    let (code, _, stderr) = fdl_env(
        &["sign", "--key", s(&ossl), "--in", s(&msg), "--out", s(&sig)],
        &[("FDL_KEY_PASSPHRASE", "correct horse")],
    );
    assert_eq!(code, 0, "{stderr}");
}

/// The node starts from an encrypted validator key, its passphrase in the file the config
/// names; without a passphrase it refuses to start, saying how to give one.
#[test]
fn a_node_starts_from_an_encrypted_validator_key() {
    let mut node = TestNode::init(Suite::Sm);
    let node_dir = node.dir.path().join("node0");
    let key = node_dir.join("validator.pem");
    let pass = node.dir.path().join("validator.pass");
    std::fs::write(&pass, "node passphrase\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (code, _, stderr) = fdl_env(&["key", "encrypt", s(&key), "--passphrase-file", s(&pass)], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(is_encrypted(&key));
    // No passphrase: the node refuses, naming the config field and the variable.
    let (code, _, stderr) = fdl_env(&["node", "--config", s(&node.config())], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("validator_key_passphrase_file") && stderr.contains("FDL_KEY_PASSPHRASE"), "{stderr}");
    let mut cfg = fdl_node::NodeConfig::load(&node.config()).unwrap();
    cfg.validator_key_passphrase_file = Some(pass.clone());
    cfg.save(&node.config()).unwrap();
    node.spawn();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let to = KeyPair::generate(Suite::Sm).address();
    let tx = build_tx(&node.issuer, &node.genesis.chain_id, 1_000, Payload::Issue { to, amount: 5 }).unwrap();
    let v = rt.block_on(node.client().submit(&tx, true)).unwrap();
    assert_eq!(v.receipt.unwrap().status, "ok");
    node.stop();
}

/// A node whose validator key sits in its data directory refuses to start.
#[test]
fn a_node_refuses_a_key_in_its_data_directory() {
    let node = TestNode::init(Suite::Intl);
    let node_dir = node.dir.path().join("node0");
    std::fs::create_dir_all(node_dir.join("data")).unwrap();
    std::fs::rename(node_dir.join("validator.pem"), node_dir.join("data").join("validator.pem")).unwrap();
    let mut cfg = fdl_node::NodeConfig::load(&node.config()).unwrap();
    cfg.validator_key = "data/validator.pem".into();
    cfg.save(&node.config()).unwrap();
    let (code, _, stderr) = fdl_env(&["node", "--config", s(&node.config())], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("inside the data directory") && stderr.contains("apart from the ledger"), "{stderr}");
}

/// A SoftHSM2 token signs transactions under `intl`: a key imported from a file and one
/// generated on the token; a transfer signed through `--key pkcs11:...` commits and moves money.
#[test]
fn a_softhsm2_token_signs_transactions_under_intl() {
    let hsm = softhsm2::SoftHsm::new();
    let conf = s(&hsm.conf).to_string();
    let env = [("SOFTHSM2_CONF", conf.as_str())];
    let node = TestNode::start(Suite::Intl);
    let dir = node.dir.path();

    // A key file, moved into the token.
    let alice_file = dir.join("alice.pem");
    let (code, _, stderr) = fdl_env(&["keygen", "--suite", "intl", "--out", s(&alice_file), "--plain"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let alice = KeyPair::read_pem_file(&alice_file).unwrap();
    let alice_uri = hsm.uri("alice");
    let (code, out, stderr) =
        fdl_env(&["key", "pkcs11", "import", s(&alice_file), "--uri", &alice_uri, "--json"], &env);
    assert_eq!(code, 0, "{out} {stderr}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["address"], alice.address().to_hex());
    std::fs::remove_file(&alice_file).unwrap();

    // A key generated on the token; the listing shows both, with their addresses.
    let (code, out, stderr) =
        fdl_env(&["key", "pkcs11", "generate", "--uri", &hsm.uri("bob"), "--suite", "intl", "--json"], &env);
    assert_eq!(code, 0, "{out} {stderr}");
    let bob_addr: fdl_crypto::Address =
        serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["address"].as_str().unwrap().parse().unwrap();
    let list_uri =
        format!("pkcs11:token=fdl?module-path={}&pin-source=file:{}", hsm.module.display(), hsm.pin_file.display());
    let (code, out, stderr) = fdl_env(&["key", "pkcs11", "list", "--uri", &list_uri], &env);
    assert_eq!(code, 0, "{out} {stderr}");
    assert!(out.contains("alice") && out.contains(&alice.address().to_string()), "{out}");
    assert!(out.contains("bob") && out.contains(&bob_addr.to_string()), "{out}");

    // Alice is certified by the institution's CA and funded by the issuer.
    let cert = node.certify(&alice);
    let cert_file = dir.join("alice.crt");
    std::fs::write(&cert_file, fdl_pki::to_pem(&cert).unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = node.client();
    let fund =
        build_tx(&node.issuer, &node.genesis.chain_id, 1_000, Payload::Issue { to: alice.address(), amount: 1_000 })
            .unwrap();
    assert_eq!(rt.block_on(client.submit(&fund, true)).unwrap().receipt.unwrap().status, "ok");

    // The transfer, signed by the token.
    let (code, out, stderr) = fdl_env(
        &[
            "tx",
            "transfer",
            "--key",
            &alice_uri,
            "--cert",
            s(&cert_file),
            "--to",
            &bob_addr.to_string(),
            "--amount",
            "250",
            "--wait",
            "--json",
            "--rpc",
            &node.rpc,
        ],
        &env,
    );
    assert_eq!(code, 0, "{out} {stderr}");
    let alice_after = rt.block_on(client.account_view(&alice.address())).unwrap();
    let bob_after = rt.block_on(client.account_view(&bob_addr)).unwrap();
    assert_eq!((alice_after.balance.as_str(), bob_after.balance.as_str()), ("750", "250"));

    // A wrong PIN is a clear error, not a panic.
    let bad = format!("pkcs11:token=fdl;object=alice?module-path={}&pin-value=0000", hsm.module.display());
    let (code, _, stderr) = fdl_env(
        &[
            "tx",
            "transfer",
            "--key",
            &bad,
            "--cert",
            s(&cert_file),
            "--to",
            &bob_addr.to_string(),
            "--amount",
            "1",
            "--rpc",
            &node.rpc,
        ],
        &env,
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("PIN") && !stderr.contains("panicked"), "{stderr}");
}

/// `fdl init --encrypt-keys` encrypts every key it writes, and needs a passphrase source.
#[test]
fn init_encrypt_keys_encrypts_every_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = fdl_env(&["init", "--dir", s(dir.path()), "--encrypt-keys"], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("FDL_KEY_PASSPHRASE"), "{stderr}");
    let (code, out, stderr) =
        fdl_env(&["init", "--dir", s(dir.path()), "--encrypt-keys"], &[("FDL_KEY_PASSPHRASE", "chain pass")]);
    assert_eq!(code, 0, "{out} {stderr}");
    for key in ["issuer.pem", "node0/validator.pem", "org1/ca/ca-key.pem", "org1/admin.pem"] {
        let p = dir.path().join(key);
        assert!(is_encrypted(&p) && mode(&p) == 0o600, "{key}");
    }
}
