//! Test harness for a consortium: N validator (and K observer) `fdl node` processes on 127.0.0.1.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Condvar, Mutex},
    time::Duration,
};

use fdl_crypto::{KeyPair, Suite};
use fdl_sdk::Client;
use fdl_types::{Genesis, api::BlockView};

use super::{FDL, fdl};

/// Holds the multi-node lock for a test that starts its own processes.
pub fn serial() -> Turn {
    let mut busy = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    while *busy {
        busy = FREED.wait(busy).unwrap_or_else(|e| e.into_inner());
    }
    *busy = true;
    Turn(())
}

/// A turn at the multi-node lock ([`serial`]), given back when dropped (also when a test panics).
/// Unlike a `MutexGuard` it may move between threads, so a [`TestNet`] can live in a `static`
/// that the tests of one binary share (which then keeps the turn for good: that binary starts
/// no other network).
pub struct Turn(());

impl Drop for Turn {
    fn drop(&mut self) {
        *SERIAL.lock().unwrap_or_else(|e| e.into_inner()) = false;
        FREED.notify_one();
    }
}

/// A child process killed when dropped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A base port in 20000..32000 with `n` free ports above it (and `n` more 50 above).
pub fn low_port_base(n: usize) -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    loop {
        let salt = std::process::id().wrapping_mul(7919).wrapping_add(NEXT.fetch_add(97, Ordering::Relaxed));
        let base = 20_000 + (salt % 11_900) as u16;
        if (0..n as u16)
            .all(|i| [base + i, base + 50 + i].iter().all(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()))
        {
            return base;
        }
    }
}

/// Multi-node tests share two cores: they run one at a time within a test binary. `true` while
/// a [`Turn`] is out.
static SERIAL: Mutex<bool> = Mutex::new(false);
/// Signalled when a [`Turn`] is given back.
static FREED: Condvar = Condvar::new();

/// One node process of a [`TestNet`].
pub struct NetNode {
    pub name: String,
    pub config: PathBuf,
    pub rpc: String,
    pub child: Option<Child>,
    pub observer: bool,
}

/// A local network in a temp dir.
pub struct TestNet {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NetNode>,
    pub genesis: Genesis,
    pub issuer: KeyPair,
    pub rt: tokio::runtime::Runtime,
    _serial: Turn,
}

impl TestNet {
    /// Creates the network's files; `edit` may change the genesis before any node starts.
    pub fn init(validators: usize, observers: usize, suite: Suite, edit: impl FnOnce(&mut Genesis)) -> TestNet {
        let serial = serial();
        let dir = tempfile::tempdir().unwrap();
        // Ports below the kernel's ephemeral range (32768+), so a killed node's port is not
        // taken by some outgoing connection before it restarts.
        let rpc = low_port_base(validators + observers);
        let p2p = rpc + 50;
        let (code, out, err) = fdl(&[
            "init",
            "--dir",
            dir.path().to_str().unwrap(),
            "--suite",
            suite.name(),
            "--validators",
            &validators.to_string(),
            "--observers",
            &observers.to_string(),
            "--rpc-listen",
            &format!("127.0.0.1:{rpc}"),
            "--p2p-listen",
            &format!("127.0.0.1:{p2p}"),
            // Every read open: these tests read the API without keys.
            "--public-reads",
            "all",
        ]);
        assert_eq!(code, 0, "init failed: {out} {err}");
        let gpath = dir.path().join("genesis.json");
        let mut genesis = Genesis::load(&gpath).unwrap();
        edit(&mut genesis);
        std::fs::write(&gpath, serde_json::to_string_pretty(&genesis).unwrap()).unwrap();
        let issuer = super::identity(dir.path(), "issuer");
        let mut nodes = Vec::new();
        for i in 0..validators + observers {
            let (name, observer) = if i < validators {
                (format!("org{}", i + 1), false)
            } else {
                (format!("observer{}", i - validators + 1), true)
            };
            let config = dir.path().join(&name).join("node.toml");
            let mut cfg = fdl_node::NodeConfig::load(&config).unwrap();
            let rpc = format!("http://{}", cfg.rpc_listen);
            // Short timeouts keep fault tests quick.
            if let Some(p) = cfg.p2p.as_mut() {
                p.propose_timeout_ms = 1_000;
                p.vote_timeout_ms = 300;
            }
            cfg.save(&config).unwrap();
            nodes.push(NetNode { name, config, rpc, child: None, observer });
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        TestNet { dir, nodes, genesis, issuer, rt, _serial: serial }
    }

    /// Sets every node's propose and vote timeouts (before the nodes start).
    pub fn set_timeouts(&self, ms: u64, vote_ms: u64) {
        for n in &self.nodes {
            let mut cfg = fdl_node::NodeConfig::load(&n.config).unwrap();
            if let Some(p) = cfg.p2p.as_mut() {
                p.propose_timeout_ms = ms;
                p.vote_timeout_ms = vote_ms;
            }
            cfg.save(&n.config).unwrap();
        }
    }

    /// Creates and starts the network, waiting until every node has a final block.
    pub fn start(validators: usize, observers: usize, suite: Suite) -> TestNet {
        let mut net = Self::init(validators, observers, suite, |_| {});
        for i in 0..net.nodes.len() {
            net.spawn(i);
        }
        for i in 0..net.nodes.len() {
            net.wait_started(i);
        }
        net
    }

    /// Waits until node `i` has a final block (height 2); panics with the logs when its process
    /// ends first (a start-up error) or after a minute.
    fn wait_started(&mut self, i: usize) {
        let outcome = super::wait::poll(Duration::from_secs(60), || {
            if self.height(i).is_some_and(|h| h >= 2) {
                return Some(None);
            }
            let exited = self.nodes[i].child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            exited.map(Some)
        });
        let why = match outcome {
            Some(None) => return,
            Some(Some(status)) => format!("{} exited during start-up ({status})", self.nodes[i].name),
            None => format!("timed out after 60s waiting until {} reaches height 2", self.nodes[i].name),
        };
        panic!("{why} (at {:?}); logs:\n{}", self.height(i), self.logs());
    }

    /// For a network kept in a `static`, which is never dropped: a shell that kills every node
    /// process and removes the directory when the test binary ends (see
    /// [`super::reap_at_exit`]). Call it once every node runs; hold the child for as long.
    pub fn reap_at_exit(&self) -> Child {
        let pids: Vec<u32> = self.nodes.iter().filter_map(|n| n.child.as_ref().map(Child::id)).collect();
        super::reap_all_at_exit(&pids, self.dir.path())
    }

    /// Node `i`'s log file.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.nodes[i].name).join("node.log")
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
    }

    fn logs(&self) -> String {
        (0..self.nodes.len())
            .map(|i| {
                let l = self.log(i);
                let lines: Vec<&str> = l.lines().collect();
                // The first lines hold a start-up error, the last ones what the node did lately.
                let (head, tail) = (10.min(lines.len()), lines.len().saturating_sub(15));
                let body = if tail <= head {
                    lines.join("\n")
                } else {
                    format!("{}\n[...]\n{}", lines[..head].join("\n"), lines[tail..].join("\n"))
                };
                format!("--- {} ---\n{body}", self.nodes[i].name)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts node `i`'s process.
    pub fn spawn(&mut self, i: usize) {
        self.spawn_with_env(i, &[]);
    }

    /// Starts node `i`'s process with extra environment variables (e.g. `FDL_BYZANTINE`, see
    /// docs/testing.md).
    pub fn spawn_with_env(&mut self, i: usize, env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path(i)).unwrap();
        let child = Command::new(FDL)
            .args(["node", "--config", self.nodes[i].config.to_str().unwrap()])
            .env("FDL_LOG", "info,arc_malachitebft=warn,libp2p=warn,libp2p_gossipsub=error")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.nodes[i].child = Some(child);
    }

    /// Node `i`'s resident memory in KiB (`VmRSS` of /proc/PID/status), while it runs.
    pub fn rss_kib(&self, i: usize) -> Option<u64> {
        let pid = self.nodes[i].child.as_ref()?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU seconds (user and system) node `i` has used so far (/proc/PID/stat, at 100 ticks a
    /// second).
    pub fn cpu_secs(&self, i: usize) -> Option<f64> {
        let pid = self.nodes[i].child.as_ref()?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start at the state, field 3.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
    }

    /// Bytes under node `i`'s data directory (ledger, write-ahead log, proposals).
    pub fn data_bytes(&self, i: usize) -> u64 {
        fn size(p: &std::path::Path) -> u64 {
            let Ok(meta) = std::fs::symlink_metadata(p) else { return 0 };
            if !meta.is_dir() {
                return meta.len();
            }
            std::fs::read_dir(p).map(|d| d.flatten().map(|e| size(&e.path())).sum()).unwrap_or(0)
        }
        size(&fdl_node::NodeConfig::load(&self.nodes[i].config).unwrap().data_path())
    }

    /// SIGKILL node `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to node `i`.
    pub fn signal(&self, i: usize, sig: &str) {
        let pid = self.nodes[i].child.as_ref().unwrap().id();
        let ok = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().unwrap().success();
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Certifies `key` as a client of `org`.
    pub fn certify(&self, key: &KeyPair, org: &str) -> Vec<u8> {
        super::certify_with(&self.dir.path().join(org).join("ca"), key, "client", fdl_pki::Role::Client)
    }

    /// The administrator of `org` (its committee seat).
    pub fn admin(&self, org: &str) -> KeyPair {
        super::identity(&self.dir.path().join(org), "admin")
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(&self.nodes[i].rpc).unwrap()
    }

    /// Node `i`'s height, if it answers.
    pub fn height(&self, i: usize) -> Option<u64> {
        self.rt.block_on(self.client(i).status()).ok().map(|s| s.height)
    }

    /// Waits until node `i` reaches `h`; panics with the logs after `timeout`.
    pub fn wait_height(&self, i: usize, h: u64, timeout: Duration) -> u64 {
        super::wait::wait_for_or(
            timeout,
            &format!("{} reaches height {h}", self.nodes[i].name),
            || self.height(i).filter(|&x| x >= h),
            || format!("(at {:?}); logs:\n{}", self.height(i), self.logs()),
        )
    }

    /// Block `h` as node `i` shows it.
    pub fn block(&self, i: usize, h: u64) -> Option<BlockView> {
        self.rt.block_on(self.client(i).block(Some(h))).ok()
    }

    /// Asserts every listed node holds the same block hash and state root at every height up to `h`.
    pub fn assert_same_chain(&self, nodes: &[usize], h: u64) {
        for height in 1..=h {
            let first = self
                .block(nodes[0], height)
                .unwrap_or_else(|| panic!("{} lacks block {height}", self.nodes[nodes[0]].name));
            for &i in &nodes[1..] {
                let b = self.block(i, height).unwrap_or_else(|| panic!("{} lacks block {height}", self.nodes[i].name));
                assert_eq!(
                    b.header.hash, first.header.hash,
                    "block {height} differs between {} and {}",
                    self.nodes[nodes[0]].name, self.nodes[i].name
                );
                assert_eq!(b.header.state_root, first.header.state_root, "state root at {height} differs");
            }
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                // A paused process must be resumed to die cleanly.
                let _ = Command::new("kill").arg("-CONT").arg(c.id().to_string()).status();
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
