//! Test harness: a real `fdl node` process on 127.0.0.1 in a temporary directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

pub mod net;
pub mod wait;

use fdl_crypto::{KeyPair, Suite};
use fdl_sdk::Client;
use fdl_types::Genesis;

pub const FDL: &str = env!("CARGO_BIN_EXE_fdl");

/// Certificates the tests have issued, by the signer's address: [`build_tx`] attaches them.
static CERTS: std::sync::Mutex<Vec<(fdl_crypto::Address, Vec<u8>)>> = std::sync::Mutex::new(Vec::new());

/// Remembers `cert` (DER) as the certificate of `key`.
pub fn remember_cert(key: &KeyPair, cert: Vec<u8>) {
    use fdl_crypto::Signer as _;
    CERTS.lock().unwrap().push((key.public_key().address(), cert));
}

/// The certificate remembered for `key`, if any.
pub fn cert_of(key: &KeyPair) -> Option<Vec<u8>> {
    use fdl_crypto::Signer as _;
    let a = key.public_key().address();
    CERTS.lock().unwrap().iter().rev().find(|(x, _)| *x == a).map(|(_, c)| c.clone())
}

/// Issues `key` a certificate with `role` from the CA in `ca_dir`, and remembers it.
pub fn certify_with(ca_dir: &Path, key: &KeyPair, cn: &str, role: fdl_pki::Role) -> Vec<u8> {
    use fdl_crypto::Signer as _;
    let ca = fdl_pki::from_pem(&std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap()).unwrap();
    let ca_key = KeyPair::read_pem_file(&ca_dir.join("ca-key.pem")).unwrap();
    let cert = fdl_pki::issue(&ca, &ca_key, &key.public_key(), cn, role, 30).unwrap();
    remember_cert(key, cert.clone());
    cert
}

/// Loads `DIR/NAME.pem` and its certificate `DIR/NAME.crt`, and remembers the certificate.
pub fn identity(dir: &Path, name: &str) -> KeyPair {
    let key = KeyPair::read_pem_file(&dir.join(format!("{name}.pem"))).unwrap();
    let pem = std::fs::read_to_string(dir.join(format!("{name}.crt"))).unwrap();
    remember_cert(&key, fdl_pki::from_pem(&pem).unwrap());
    key
}

/// Builds and signs a transaction carrying the signer's remembered certificate (none if the
/// tests issued it none: such a transaction is refused with `certificate_required`).
pub fn build_tx(
    signer: &KeyPair,
    chain_id: &str,
    expiry: u64,
    payload: fdl_types::Payload,
) -> Result<fdl_types::SignedTx, fdl_sdk::SdkError> {
    let cred = match cert_of(signer) {
        Some(c) => fdl_types::Credential::Certificate(c),
        None => fdl_types::Credential::None,
    };
    fdl_sdk::build_certified_tx(signer, cred, chain_id, expiry, payload)
}

/// A free loopback port (bound then released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `fdl` with `args`, returning (exit code, stdout, stderr).
pub fn fdl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(FDL).args(args).env("HOME", std::env::temp_dir()).output().expect("run fdl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A one-validator chain in a temp dir, with its node process.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub rpc: String,
    pub child: Option<Child>,
    pub genesis: Genesis,
    pub issuer: KeyPair,
}

impl TestNode {
    /// `fdl init` then `fdl node`, waiting until the first block.
    pub fn start(suite: Suite) -> TestNode {
        let mut n = Self::init(suite);
        n.spawn();
        n
    }

    /// `fdl init` only: the caller may edit the config before [`TestNode::spawn`].
    pub fn init(suite: Suite) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        // Every read open: these tests read the API without keys (crates/cli/tests/read_policy.rs
        // tests the read policy itself).
        let (code, out, err) = fdl(&[
            "init",
            "--dir",
            dir.path().to_str().unwrap(),
            "--suite",
            suite.name(),
            "--rpc-listen",
            &listen,
            "--public-reads",
            "all",
        ]);
        assert_eq!(code, 0, "init failed: {out} {err}");
        let genesis = Genesis::load(&dir.path().join("genesis.json")).unwrap();
        let issuer = identity(dir.path(), "issuer");
        TestNode { dir, rpc: format!("http://{listen}"), child: None, genesis, issuer }
    }

    /// Certifies `key` as a client of the chain's institution (org1).
    pub fn certify(&self, key: &KeyPair) -> Vec<u8> {
        certify_with(&self.dir.path().join("org1").join("ca"), key, "client", fdl_pki::Role::Client)
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("node0").join("node.toml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("node0").join("data").join("ledger.redb")
    }

    /// Starts the node process and waits for a block.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("node.log")).unwrap();
        let child = Command::new(FDL)
            .args(["node", "--config", self.config().to_str().unwrap()])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_height(1, Duration::from_secs(30));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.rpc).unwrap()
    }

    /// Blocks until the node reports at least `h`, panicking with the log after `timeout`.
    pub fn wait_height(&self, h: u64, timeout: Duration) -> u64 {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = self.client();
        wait::wait_for_or(
            timeout,
            &format!("the node reaches height {h}"),
            || rt.block_on(client.status()).ok().map(|s| s.height).filter(|&x| x >= h),
            || format!("log:\n{}", self.log()),
        )
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            if wait::poll(Duration::from_secs(10), || c.try_wait().unwrap()).is_some() {
                return;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn key_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// For a node kept in a `static`, which is never dropped: a shell that waits for the test binary
/// to end (its standard input, a pipe from the test binary, then closes), kills process `pid`
/// and removes `dir`. Hold the returned child as long as the node should run.
pub fn reap_at_exit(pid: u32, dir: &Path) -> Child {
    reap_all_at_exit(&[pid], dir)
}

/// [`reap_at_exit`] for several processes (a network's nodes) sharing `dir`.
pub fn reap_all_at_exit(pids: &[u32], dir: &Path) -> Child {
    Command::new("sh")
        .args(["-c", r#"read _line; dir=$1; shift; kill -9 "$@" 2>/dev/null; rm -rf -- "$dir""#, "reaper"])
        .arg(dir)
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the reaper shell")
}

/// Writes a fresh key of `suite` to `path` and returns it.
pub fn new_key(path: &Path, suite: Suite) -> KeyPair {
    let k = KeyPair::generate(suite);
    k.write_pem_file(path).unwrap();
    k
}

#[path = "../../../crypto/tests/support/openssl3.rs"]
mod openssl3;
// Not every test binary that includes this module runs OpenSSL.
#[allow(unused_imports)]
pub use openssl3::{INSTALL_OPENSSL, openssl_ok, require_openssl3};
