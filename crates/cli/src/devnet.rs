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
use fdl_types::{ChainParams, Genesis, GenesisMember, GenesisValidator, NodeRole, ReadResource};
use tokio::process::{Child, Command};

use crate::util::{DevnetNode, DevnetRecord, runtime};

/// First API port a devnet tries.
pub const DEVNET_BASE_PORT: u16 = 8700;
/// First consensus network port a devnet tries.
pub const DEVNET_P2P_BASE_PORT: u16 = 27000;
/// How long `fdl devnet` waits for the first blocks.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `fdl init`.
#[derive(Args)]
pub struct InitArgs {
    /// Directory to create the chain (or, with --org, the node) in: new or empty.
    #[arg(long)]
    dir: PathBuf,
    /// Crypto suite.
    #[arg(long, default_value = "sm")]
    suite: Suite,
    /// Chain id.
    #[arg(long, default_value = "fdl-devnet")]
    chain_id: String,
    /// API listen address of the node. Plain HTTP on a loopback address; under `sm`, an address
    /// beyond loopback is served over TLCP instead (and plain HTTP moves to 127.0.0.1, same port).
    #[arg(long, default_value = "127.0.0.1:8700")]
    rpc_listen: SocketAddr,
    /// Also serve the API over TLCP at this address (with --org, under `sm`).
    #[arg(long)]
    api_tlcp_listen: Option<SocketAddr>,
    /// Create one institution's node (keys, network key, config, public `member.json`) instead
    /// of a whole chain; merge the members with `fdl genesis`.
    #[arg(long)]
    org: Option<String>,
    /// The node's name (default: the institution's name).
    #[arg(long, requires = "org")]
    name: Option<String>,
    /// The node's role.
    #[arg(long, default_value = "validator", value_parser = parse_role)]
    role: NodeRole,
    /// Consensus network listen address (with --org).
    #[arg(long, default_value = "127.0.0.1:27000")]
    p2p_listen: SocketAddr,
    /// Host name or IP other institutions reach this node at (with --org).
    #[arg(long)]
    advertise: Option<String>,
    /// The institution's CA directory (with --org; default DIR/ca, created if missing).
    #[arg(long)]
    ca_dir: Option<PathBuf>,
    /// Create a whole local network of this many validators (without --org).
    #[arg(long, default_value_t = 1)]
    validators: usize,
    /// ... and this many observers.
    #[arg(long, default_value_t = 0)]
    observers: usize,
    /// Encrypt every private key file written (passphrase from --passphrase-file,
    /// FDL_KEY_PASSPHRASE or a terminal); the nodes then need it (validator_key_passphrase_file
    /// or FDL_KEY_PASSPHRASE).
    #[arg(long)]
    encrypt_keys: bool,
    /// API resources anyone may read, anonymous callers included (comma-separated: status,
    /// blocks, accounts, audit, governance, members, contracts, evidence, or `all`); the others
    /// keep the strict default (STD-16.1; `docs/operations.md`). Governance changes it later.
    #[arg(long, value_delimiter = ',', conflicts_with = "org")]
    public_reads: Vec<String>,
}

fn parse_role(s: &str) -> Result<NodeRole, String> {
    match s {
        "validator" => Ok(NodeRole::Validator),
        "observer" => Ok(NodeRole::Observer),
        _ => Err(format!("{s}: expected validator or observer")),
    }
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
    // One institution, org1: its CA, the node's certificate, its administrator and the issuer
    // (a client of org1); and the regulator institution.
    let (ca, ca_key) = crate::network::ensure_ca(&dir.join("org1").join("ca"), "org1", suite)?;
    let node_cert = fdl_pki::issue(&ca, &ca_key, &validator.public_key(), "node0", fdl_pki::Role::Validator, 3650)?;
    std::fs::write(node_dir.join("node.crt"), fdl_pki::to_pem(&node_cert)?)?;
    crate::network::ensure_identity(&dir.join("org1"), "admin", "org1", fdl_pki::Role::Admin, &ca, &ca_key, suite)?;
    let issuer_cert = fdl_pki::issue(&ca, &ca_key, &issuer.public_key(), "issuer", fdl_pki::Role::Client, 3650)?;
    std::fs::write(dir.join("issuer.crt"), fdl_pki::to_pem(&issuer_cert)?)?;
    let reg_dir = dir.join("regulator");
    let (reg_ca, reg_key) = crate::network::ensure_ca(&reg_dir.join("ca"), "regulator", suite)?;
    crate::network::ensure_identity(
        &reg_dir,
        "regulator",
        "regulator",
        fdl_pki::Role::Regulator,
        &reg_ca,
        &reg_key,
        suite,
    )?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let genesis = Genesis {
        read_policy: Default::default(),
        chain_id: chain_id.into(),
        suite,
        genesis_time_ms: now_ms,
        issuer: issuer.address(),
        validators: vec![GenesisValidator {
            name: "node0".into(),
            public_key: hex::encode(validator.public_key().to_bytes()),
            power: 1,
            org: Some("org1".into()),
            peer_id: None,
            certificate: Some(fdl_pki::to_pem(&node_cert)?),
        }],
        members: vec![
            GenesisMember { name: "org1".into(), ca_cert: fdl_pki::to_pem(&ca)?, committee: true },
            GenesisMember { name: "regulator".into(), ca_cert: fdl_pki::to_pem(&reg_ca)?, committee: false },
        ],
        regulator: Some("regulator".into()),
        observers: vec![],
        balances: vec![],
        params: ChainParams::default(),
    };
    genesis.validate()?;
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis)?)?;
    let cfg = NodeConfig::new("node0", rpc_listen, NodeRole::Validator, None, &node_dir);
    let cfg_path = node_dir.join("node.toml");
    cfg.save(&cfg_path)?;
    Ok(InitOutput { genesis: genesis_path, issuer_key, node_configs: vec![cfg_path] })
}

/// The read policy of a devnet's genesis (STD-16.1): every read open to anyone, so that scripts
/// read blocks, accounts and contracts without keys, except the audit log, which stays with
/// auditors, regulators and administrators. A chain made by `fdl init` keeps the strict default.
pub fn devnet_read_policy() -> std::collections::BTreeMap<ReadResource, Vec<String>> {
    ReadResource::ALL
        .into_iter()
        .map(|r| {
            let allow = if r == ReadResource::Audit {
                r.strict_default().iter().map(|s| s.to_string()).collect()
            } else {
                vec![fdl_types::read_policy::PUBLIC.to_string()]
            };
            (r, allow)
        })
        .collect()
}

/// Opens the resources `names` (or `all`) to `public` in a new chain's genesis file.
fn set_public_reads(path: &Path, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let mut g = Genesis::load(path)?;
    open_reads(&mut g, names)?;
    std::fs::write(path, serde_json::to_string_pretty(&g)?)?;
    Ok(())
}

/// Opens the resources `names` (or `all`) to `public` in `g` (`--public-reads`).
pub fn open_reads(g: &mut Genesis, names: &[String]) -> anyhow::Result<()> {
    for n in names {
        let resources = if n == "all" {
            ReadResource::ALL.to_vec()
        } else {
            vec![ReadResource::parse(n).map_err(|e| anyhow::anyhow!("--public-reads: {e}"))?]
        };
        for r in resources {
            g.read_policy.insert(r, vec![fdl_types::read_policy::PUBLIC.to_string()]);
        }
    }
    g.validate()?;
    Ok(())
}

/// Writes [`devnet_read_policy`] into a new devnet's genesis file.
fn open_devnet_reads(path: &Path) -> anyhow::Result<()> {
    let mut g = Genesis::load(path)?;
    g.read_policy = devnet_read_policy();
    g.validate()?;
    std::fs::write(path, serde_json::to_string_pretty(&g)?)?;
    Ok(())
}

/// Runs `fdl init`.
pub fn init(a: InitArgs) -> anyhow::Result<i32> {
    let pass = if a.encrypt_keys { Some(crate::keysrc::passphrase("the new keys", true)?) } else { None };
    let dir = a.dir.clone();
    let code = init_plain(a)?;
    if let Some(pass) = pass {
        let n = crate::keysrc::encrypt_tree(&dir, &pass)?;
        println!(
            "encrypted {n} key files; start the nodes with validator_key_passphrase_file in node.toml or {}",
            crate::keysrc::ENV_KEY_PASSPHRASE
        );
    }
    Ok(code)
}

/// `fdl init` without `--encrypt-keys`.
fn init_plain(a: InitArgs) -> anyhow::Result<i32> {
    if let Some(org) = &a.org {
        if !a.dir.join("node.toml").exists() {
            crate::workdir::require_fresh_node_dir(&a.dir)?;
        }
        let name = a.name.clone().unwrap_or_else(|| org.clone());
        let m = crate::network::init_node(
            &a.dir,
            &name,
            org,
            a.role,
            a.suite,
            a.rpc_listen,
            a.p2p_listen,
            a.advertise.as_deref(),
            &a.ca_dir.clone().unwrap_or_else(|| a.dir.join("ca")),
            a.api_tlcp_listen,
        )?;
        println!("node {} ({}) of {} in {}", m.name, a.role.as_str(), m.org, a.dir.display());
        println!("  key          {}", a.dir.join("validator.pem").display());
        println!("  network key  {} (peer id {})", a.dir.join("network.key").display(), m.peer_id);
        println!("  config       {}", a.dir.join("node.toml").display());
        println!("  public part  {}   (send it to the other members)", a.dir.join("member.json").display());
        println!("next: fdl genesis member.json... --out genesis.json; copy genesis.json to {}/..;", a.dir.display());
        println!("      fdl peers --config {} member.json...", a.dir.join("node.toml").display());
        return Ok(0);
    }
    if !a.dir.join("genesis.json").exists() {
        crate::workdir::require_fresh_network_dir(&a.dir, "fdl init")?;
    }
    if a.validators > 1 || a.observers > 0 {
        let net = crate::network::create_local_network(
            &a.dir,
            a.suite,
            &a.chain_id,
            a.validators,
            a.observers,
            a.rpc_listen.port(),
            a.p2p_listen.port(),
        )?;
        let path = a.dir.join("genesis.json");
        set_public_reads(&path, &a.public_reads)?;
        crate::util::record_trust(&path, &Genesis::load(&path)?);
        println!("genesis      {}", path.display());
        println!("issuer key   {}", a.dir.join("issuer.pem").display());
        for c in &net.configs {
            println!("node config  {}   (run: fdl node --config {})", c.display(), c.display());
        }
        return Ok(0);
    }
    let out = init_chain(&a.dir, a.suite, &a.chain_id, a.rpc_listen)?;
    set_public_reads(&out.genesis, &a.public_reads)?;
    crate::util::record_trust(&out.genesis, &Genesis::load(&out.genesis)?);
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
    /// State versions to keep (at least 100), or `archive` to keep them all; overrides the
    /// config's `[prune]` section (default: keep 10000).
    #[arg(long, value_name = "N|archive")]
    prune: Option<String>,
    /// Compact the database of this stopped node (gives the space pruning freed back to the
    /// file system), print its size before and after, and exit.
    #[arg(long)]
    compact: bool,
}

pub(crate) fn init_logging(json: bool) {
    // The engine's own per-height lines are left at warn; FDL logs what an operator needs.
    // Gossipsub warns once per dropped forward, with the message's bytes: a validator flooding
    // proposals would fill honest nodes' disks with those lines (210 MiB in 100 s, see
    // docs/testing.md), so only its errors are logged.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FDL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,arc_malachitebft=warn,libp2p=warn,libp2p_gossipsub=error")
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

/// Runs a node until SIGINT or SIGTERM.
pub fn node(a: NodeArgs) -> anyhow::Result<i32> {
    init_logging(a.log_json);
    let mut cfg = NodeConfig::load(&a.config)?;
    if let Some(p) = &a.prune {
        cfg.prune = fdl_node::PruneConfig::parse(p)?;
    }
    if a.compact {
        let db = fdl_node::ledger_path(&cfg);
        if !db.exists() {
            bail!("{} does not exist: is the config's data_dir right?", db.display());
        }
        println!("compacting {} (the node must be stopped)", db.display());
        let started = std::time::Instant::now();
        let (before, after) = fdl_node::compact_ledger(&cfg)
            .with_context(|| format!("compacting {} (is the node still running?)", db.display()))?;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!(
            "size before  {:.1} MiB\nsize after   {:.1} MiB\ntook         {:.1} s",
            mib(before),
            mib(after),
            started.elapsed().as_secs_f64()
        );
        return Ok(0);
    }
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

pub(crate) async fn wait_for_signal() {
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
    /// Directory of the devnet: created if new or empty, restarted with its data if it holds a
    /// devnet; any other non-empty directory is refused. Default: a fresh temporary directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Crypto suite of a new devnet.
    #[arg(long, default_value = "sm")]
    suite: Suite,
    /// Validators of a new devnet, one institution each (org1..orgN).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Observers of a new devnet (full nodes that do not vote).
    #[arg(long, default_value_t = 0)]
    observers: usize,
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
    if a.validators == 0 {
        bail!("a devnet needs at least one validator");
    }
    let dir = match a.dir {
        Some(d) => d,
        None => {
            let d = tempfile::Builder::new().prefix("fdl-devnet-").tempdir()?.keep();
            println!("devnet directory (temporary): {}", d.display());
            d
        }
    };
    if !dir.join("genesis.json").exists() {
        crate::workdir::require_fresh_network_dir(&dir, "fdl devnet")?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let fresh = !dir.join("genesis.json").exists();
    if fresh {
        println!(
            "creating a new devnet in {}: {} validators, {} observers, {} suite",
            dir.display(),
            a.validators,
            a.observers,
            a.suite
        );
        if a.validators == 1 && a.observers == 0 {
            let port = free_port(DEVNET_BASE_PORT)?;
            init_chain(&dir, a.suite, "fdl-devnet", SocketAddr::from(([127, 0, 0, 1], port)))?;
        } else {
            crate::network::create_local_network(
                &dir,
                a.suite,
                "fdl-devnet",
                a.validators,
                a.observers,
                DEVNET_BASE_PORT,
                DEVNET_P2P_BASE_PORT,
            )?;
        }
        open_devnet_reads(&dir.join("genesis.json"))?;
    } else {
        println!("restarting the devnet in {} with its data", dir.display());
    }
    let genesis = Genesis::load(&dir.join("genesis.json"))?;
    let configs = crate::network::existing_configs(&dir)?;
    if configs.is_empty() {
        bail!("{} holds a genesis but no node configs", dir.display());
    }
    let rt = runtime()?;
    rt.block_on(run_devnet(dir, genesis, configs))
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

struct Running {
    child: Child,
    cfg: NodeConfig,
    rpc: String,
    alive: bool,
}

async fn run_devnet(dir: PathBuf, genesis: Genesis, configs: Vec<PathBuf>) -> anyhow::Result<i32> {
    let mut nodes = Vec::with_capacity(configs.len());
    for p in &configs {
        let (child, cfg) = start_node(p).await?;
        let rpc = format!("http://{}", cfg.rpc_listen);
        let secure = cfg.rpc_tlcp_listen.map(|a| format!(", TLCP https://{a}")).unwrap_or_default();
        println!(
            "{:<10} {:<9} starting (pid {}), API {rpc}{secure}, log {}",
            cfg.name,
            cfg.role.as_str(),
            child.id().unwrap_or(0),
            cfg.base_dir.join("node.log").display()
        );
        nodes.push(Running { child, cfg, rpc, alive: true });
    }
    let clients: Vec<fdl_sdk::Client> = nodes.iter().map(|n| fdl_sdk::Client::new(&n.rpc)).collect::<Result<_, _>>()?;
    // Ready when every node has a block finalized after it started.
    let started = Instant::now();
    let mut first: Vec<Option<u64>> = vec![None; nodes.len()];
    let mut last_line = Instant::now();
    loop {
        let mut heights = Vec::with_capacity(nodes.len());
        for (i, n) in nodes.iter_mut().enumerate() {
            if let Some(status) = n.child.try_wait()? {
                bail!(
                    "{} exited ({status}) while starting:\n{}",
                    n.cfg.name,
                    log_tail(&n.cfg.base_dir.join("node.log"))
                );
            }
            let h = clients[i].status().await.ok().map(|s| s.height);
            if first[i].is_none() {
                first[i] = h;
            }
            heights.push(h);
        }
        let ready = heights.iter().zip(&first).all(|(h, f)| matches!((h, f), (Some(h), Some(f)) if h > f && *h >= 1));
        if ready {
            break;
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("blocks were not final on every node within {:?}", START_TIMEOUT);
        }
        if last_line.elapsed() >= Duration::from_secs(1) {
            let line: Vec<String> = nodes
                .iter()
                .zip(&heights)
                .map(|(n, h)| format!("{} {}", n.cfg.name, h.map_or("starting".into(), |h| format!("h={h}"))))
                .collect();
            println!("waiting for final blocks on every node: {}", line.join(", "));
            last_line = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let record = DevnetRecord {
        chain_id: genesis.chain_id.clone(),
        suite: genesis.suite,
        issuer_key: dir.join("issuer.pem"),
        dir: dir.clone(),
        nodes: nodes
            .iter()
            .map(|n| DevnetNode {
                name: n.cfg.name.clone(),
                role: n.cfg.role.as_str().into(),
                rpc: n.rpc.clone(),
                data_dir: n.cfg.data_path(),
                pid: n.child.id().unwrap_or(0),
            })
            .collect(),
        genesis: Some(dir.join("genesis.json")),
        genesis_hash: Some(genesis.hash()),
    };
    crate::util::record_trust(&dir.join("genesis.json"), &genesis);
    let text = serde_json::to_string_pretty(&record)?;
    std::fs::write(dir.join("devnet.json"), &text)?;
    if let Some(global) = crate::last_devnet_file() {
        if let Some(parent) = global.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(global, &text);
    }
    let validators = nodes.iter().filter(|n| n.cfg.role == NodeRole::Validator).count();
    println!(
        "devnet ready: chain {} ({} suite), {validators} validators and {} observers finalize blocks",
        genesis.chain_id,
        genesis.suite,
        nodes.len() - validators
    );
    for n in &nodes {
        println!("  {:<10} {:<9} {}", n.cfg.name, n.cfg.role.as_str(), n.rpc);
    }
    println!("  issuer key           {}", record.issuer_key.display());
    println!("  record               {}", dir.join("devnet.json").display());
    println!(
        "  trust anchor         {} (genesis {}; fdl query verifies reads from it)",
        dir.join("genesis.json").display(),
        genesis.hash()
    );
    println!("try: fdl query status --rpc {}", nodes[0].rpc);
    println!("Ctrl-C stops the devnet");
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let stop = wait_for_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => {
                println!("stopping the devnet");
                break;
            }
            _ = tick.tick() => {
                for n in nodes.iter_mut().filter(|n| n.alive) {
                    if let Ok(Some(status)) = n.child.try_wait() {
                        n.alive = false;
                        eprintln!("{} exited ({status}):\n{}", n.cfg.name, log_tail(&n.cfg.base_dir.join("node.log")));
                    }
                }
                if nodes.iter().all(|n| !n.alive) {
                    eprintln!("every node has exited");
                    return Ok(1);
                }
            }
        }
    }
    for n in nodes.iter_mut() {
        stop_child(&mut n.child).await;
    }
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
