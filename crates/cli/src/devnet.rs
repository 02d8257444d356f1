//! `fdl init`, `fdl node`, `fdl devnet`.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use clap::Args;
use fdl_crypto::{KeyPair, Signer, Suite};
use fdl_node::NodeConfig;
use fdl_types::{ChainParams, Genesis, GenesisValidator};
use tokio::process::{Child, Command};

use crate::util::{DevnetNode, DevnetRecord, runtime};

/// First API port a devnet tries.
pub const DEVNET_BASE_PORT: u16 = 8700;
/// How long `fdl devnet` waits for the first blocks.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `fdl init`.
#[derive(Args)]
pub struct InitArgs {
    /// Directory to create the chain in.
    #[arg(long)]
    dir: PathBuf,
    /// Crypto suite.
    #[arg(long, default_value = "sm")]
    suite: Suite,
    /// Chain id.
    #[arg(long, default_value = "fdl-devnet")]
    chain_id: String,
    /// API listen address of the node.
    #[arg(long, default_value = "127.0.0.1:8700")]
    rpc_listen: SocketAddr,
}

/// What `init` produced.
pub struct InitOutput {
    /// The genesis file.
    pub genesis: PathBuf,
    /// The issuer key.
    pub issuer_key: PathBuf,
    /// The node configs.
    pub node_configs: Vec<PathBuf>,
}

/// Creates a one-validator chain in `dir`.
pub fn init_chain(dir: &Path, suite: Suite, chain_id: &str, rpc_listen: SocketAddr) -> anyhow::Result<InitOutput> {
    let genesis_path = dir.join("genesis.json");
    if genesis_path.exists() {
        bail!("{} already holds a chain (genesis.json exists)", dir.display());
    }
    let node_dir = dir.join("node0");
    std::fs::create_dir_all(&node_dir).with_context(|| format!("creating {}", node_dir.display()))?;
    let issuer = KeyPair::generate(suite);
    let issuer_key = dir.join("issuer.pem");
    issuer.write_pem_file(&issuer_key)?;
    let validator = KeyPair::generate(suite);
    validator.write_pem_file(&node_dir.join("validator.pem"))?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let genesis = Genesis {
        chain_id: chain_id.into(),
        suite,
        genesis_time_ms: now_ms,
        issuer: issuer.address(),
        validators: vec![GenesisValidator {
            name: "node0".into(),
            public_key: hex::encode(validator.public_key().to_bytes()),
            power: 1,
        }],
        balances: vec![],
        params: ChainParams::default(),
    };
    genesis.validate()?;
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis)?)?;
    let cfg = NodeConfig {
        name: "node0".into(),
        data_dir: "data".into(),
        genesis: "../genesis.json".into(),
        validator_key: "validator.pem".into(),
        rpc_listen,
        mempool_capacity: 50_000,
        sig_cache_mb: 64,
        base_dir: node_dir.clone(),
    };
    let cfg_path = node_dir.join("node.toml");
    cfg.save(&cfg_path)?;
    Ok(InitOutput { genesis: genesis_path, issuer_key, node_configs: vec![cfg_path] })
}

/// Runs `fdl init`.
pub fn init(a: InitArgs) -> anyhow::Result<i32> {
    let out = init_chain(&a.dir, a.suite, &a.chain_id, a.rpc_listen)?;
    println!("genesis      {}", out.genesis.display());
    println!("issuer key   {}", out.issuer_key.display());
    for c in &out.node_configs {
        println!("node config  {}   (run: fdl node --config {})", c.display(), c.display());
    }
    Ok(0)
}

/// `fdl node`.
#[derive(Args)]
pub struct NodeArgs {
    /// The node's config file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FDL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

/// Runs a node until SIGINT or SIGTERM.
pub fn node(a: NodeArgs) -> anyhow::Result<i32> {
    init_logging(a.log_json);
    let cfg = NodeConfig::load(&a.config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            let _ = tx.send(true);
        });
        fdl_node::run(cfg, rx).await
    })?;
    Ok(0)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `fdl devnet`.
#[derive(Args)]
pub struct DevnetArgs {
    /// Directory of the devnet: created if empty, restarted with its data if not. Default: a
    /// fresh temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Crypto suite of a new devnet.
    #[arg(long, default_value = "sm")]
    suite: Suite,
    /// Validators (one until the consortium network lands).
    #[arg(long, default_value_t = 1)]
    validators: usize,
}

fn free_port(preferred: u16) -> anyhow::Result<u16> {
    if TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    let l = TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// Runs `fdl devnet`.
pub fn devnet(a: DevnetArgs) -> anyhow::Result<i32> {
    if a.validators != 1 {
        bail!("this build runs one validator; multi-validator devnets come with the consortium network");
    }
    let dir = match a.dir {
        Some(d) => d,
        None => {
            let d = tempfile::Builder::new().prefix("fdl-devnet-").tempdir()?.keep();
            println!("devnet directory (temporary): {}", d.display());
            d
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let fresh = !dir.join("genesis.json").exists();
    if fresh {
        let port = free_port(DEVNET_BASE_PORT)?;
        println!("creating a new devnet in {} ({} suite)", dir.display(), a.suite);
        init_chain(&dir, a.suite, "fdl-devnet", SocketAddr::from(([127, 0, 0, 1], port)))?;
    } else {
        println!("restarting the devnet in {} with its data", dir.display());
    }
    let genesis = Genesis::load(&dir.join("genesis.json"))?;
    let rt = runtime()?;
    rt.block_on(run_devnet(dir, genesis))
}

async fn start_node(cfg_path: &Path) -> anyhow::Result<(Child, NodeConfig)> {
    let cfg = NodeConfig::load(cfg_path)?;
    let log_path = cfg.base_dir.join("node.log");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
    let exe = std::env::current_exe().context("locating the fdl binary")?;
    let child = Command::new(exe)
        .arg("node")
        .arg("--config")
        .arg(cfg_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("starting a node process")?;
    Ok((child, cfg))
}

fn log_tail(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

async fn run_devnet(dir: PathBuf, genesis: Genesis) -> anyhow::Result<i32> {
    let cfg_path = dir.join("node0").join("node.toml");
    let (mut child, cfg) = start_node(&cfg_path).await?;
    let rpc = format!("http://{}", cfg.rpc_listen);
    let pid = child.id().unwrap_or(0);
    println!("node0  starting (pid {pid}), API {rpc}, log {}", cfg.base_dir.join("node.log").display());
    let client = fdl_sdk::Client::new(&rpc)?;
    let started = Instant::now();
    let first_height = loop {
        if let Some(status) = child.try_wait()? {
            bail!("node0 exited ({status}) while starting:\n{}", log_tail(&cfg.base_dir.join("node.log")));
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("node0 produced no block within {:?}", START_TIMEOUT);
        }
        if let Ok(s) = client.status().await {
            break s.height;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    loop {
        match client.status().await {
            Ok(s) if s.height > first_height => break,
            _ if started.elapsed() > START_TIMEOUT => bail!("the chain did not advance within {:?}", START_TIMEOUT),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let record = DevnetRecord {
        chain_id: genesis.chain_id.clone(),
        suite: genesis.suite,
        issuer_key: dir.join("issuer.pem"),
        dir: dir.clone(),
        nodes: vec![DevnetNode {
            name: cfg.name.clone(),
            role: "validator".into(),
            rpc: rpc.clone(),
            data_dir: cfg.data_path(),
            pid,
        }],
    };
    let text = serde_json::to_string_pretty(&record)?;
    std::fs::write(dir.join("devnet.json"), &text)?;
    if let Some(global) = crate::last_devnet_file() {
        if let Some(parent) = global.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(global, &text);
    }
    println!("devnet ready: chain {} ({} suite), blocks are being produced", genesis.chain_id, genesis.suite);
    println!("  node0  validator  {rpc}");
    println!("  issuer key        {}", record.issuer_key.display());
    println!("  record            {}", dir.join("devnet.json").display());
    println!("try: fdl query status --rpc {rpc}");
    println!("Ctrl-C stops the devnet");
    tokio::select! {
        _ = wait_for_signal() => {
            println!("stopping the devnet");
        }
        status = child.wait() => {
            eprintln!("node0 exited unexpectedly ({:?}):\n{}", status, log_tail(&cfg.base_dir.join("node.log")));
            return Ok(1);
        }
    }
    stop_child(&mut child).await;
    println!("devnet stopped; restart it with: fdl devnet --dir {}", dir.display());
    Ok(0)
}

async fn stop_child(child: &mut Child) {
    if let Some(pid) = child.id() {
        // A graceful stop first (SIGTERM), through the kill command to keep this crate free of
        // unsafe code.
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}
