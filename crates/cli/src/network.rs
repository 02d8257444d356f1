//! A consortium network's files: one institution's node (`fdl init --org`), the genesis that
//! merges the institutions' public parts (`fdl genesis`), the peer lists (`fdl peers`), and a
//! whole local network on 127.0.0.1 (`fdl init --validators N`, used by `fdl devnet`).

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, bail};
use clap::Args;
use fdl_crypto::{KeyPair, Signer, Suite};
use fdl_node::{NodeConfig, P2pConfig, PeerConfig, generate_network_key, network_peer_id};
use fdl_types::{ChainParams, Genesis, GenesisMember, GenesisObserver, GenesisValidator, NodeRole};
use serde::{Deserialize, Serialize};

/// The public part of one node, which its institution hands to the others: `member.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberNode {
    /// Node name.
    pub name: String,
    /// Institution.
    pub org: String,
    /// `validator` or `observer`.
    pub role: NodeRole,
    /// Suite of its key.
    pub suite: Suite,
    /// Consensus/identity public key, hex.
    pub public_key: String,
    /// Network peer id.
    pub peer_id: String,
    /// Consensus network address other nodes dial.
    pub p2p: SocketAddr,
    /// API URL other nodes forward transactions to.
    pub rpc: String,
    /// The institution's root CA certificate, PEM.
    pub ca_cert: String,
    /// The node's certificate (role `validator` or `observer`), PEM, issued by that CA.
    pub certificate: String,
}

/// The institution's CA in `ca_dir`, created if it does not exist yet; returns its certificate
/// (DER) and key.
pub fn ensure_ca(ca_dir: &Path, org: &str, suite: Suite) -> anyhow::Result<(Vec<u8>, KeyPair)> {
    let cert_path = ca_dir.join("ca.pem");
    if cert_path.exists() {
        let der = fdl_pki::from_pem(&std::fs::read_to_string(&cert_path)?)?;
        let key = crate::keysrc::load_keypair(&ca_dir.join("ca-key.pem"))?;
        let info = fdl_pki::parse(&der)?;
        if info.org != org {
            bail!("the CA in {} belongs to {}, not {org}", ca_dir.display(), info.org);
        }
        return Ok((der, key));
    }
    std::fs::create_dir_all(ca_dir)?;
    let key = KeyPair::generate(suite);
    let der = fdl_pki::create_ca(org, &key, 3650)?;
    key.write_pem_file(&ca_dir.join("ca-key.pem"))?;
    std::fs::write(&cert_path, fdl_pki::to_pem(&der)?)?;
    let crl = fdl_pki::create_crl(&der, &key, &[], 1)?;
    std::fs::write(ca_dir.join("crl.pem"), fdl_pki::crl_to_pem(&crl)?)?;
    Ok((der, key))
}

/// A key `DIR/NAME.pem` and its certificate `DIR/NAME.crt` with `role`, issued by the CA
/// (`ca`, `ca_key`) unless they exist. `fdl tx` finds the certificate next to the key.
pub fn ensure_identity(
    dir: &Path,
    name: &str,
    cn: &str,
    role: fdl_pki::Role,
    ca: &[u8],
    ca_key: &KeyPair,
    suite: Suite,
) -> anyhow::Result<PathBuf> {
    let key_path = dir.join(format!("{name}.pem"));
    let cert_path = dir.join(format!("{name}.crt"));
    if key_path.exists() && cert_path.exists() {
        return Ok(key_path);
    }
    std::fs::create_dir_all(dir)?;
    let key = if key_path.exists() { crate::keysrc::load_keypair(&key_path)? } else { KeyPair::generate(suite) };
    let cn = if role == fdl_pki::Role::Admin { format!("{cn}-admin") } else { cn.to_string() };
    let cert = fdl_pki::issue(ca, ca_key, &key.public_key(), &cn, role, 3650)?;
    if !key_path.exists() {
        key.write_pem_file(&key_path)?;
    }
    std::fs::write(&cert_path, fdl_pki::to_pem(&cert)?)?;
    Ok(key_path)
}

/// Writes the member institutions' CA certificates of `genesis` as one PEM bundle: what clients
/// check a node's TLCP certificate against (`fdl --ca FILE`).
pub fn write_ca_bundle(genesis: &Genesis, path: &Path) -> anyhow::Result<()> {
    let mut pem = String::new();
    for m in &genesis.members {
        pem.push_str(m.ca_cert.trim_end());
        pem.push('\n');
    }
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}

/// Issues a TLCP pair (GB/T 38636) for `cn` with `role` into `dir`: `sign.pem`/`sign.key`
/// (`digitalSignature`) and `enc.pem`/`enc.key` (key exchange), two fresh SM2 keys with the same
/// subject, keys mode 0600. `dns` names go into both certificates' subject alternative name
/// (clients of an API check the server's). Returns the files.
pub fn issue_tlcp_pair(
    dir: &Path,
    ca: &[u8],
    ca_key: &KeyPair,
    cn: &str,
    role: fdl_pki::Role,
    dns: &[String],
    days: u32,
) -> anyhow::Result<fdl_channel::TlcpFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let files = fdl_channel::TlcpFiles::in_dir(dir);
    for (purpose, cert, key) in [
        (fdl_pki::KeyPurpose::Signing, dir.join("sign.pem"), dir.join("sign.key")),
        (fdl_pki::KeyPurpose::Encryption, dir.join("enc.pem"), dir.join("enc.key")),
    ] {
        let k = KeyPair::generate(Suite::Sm);
        let der = fdl_pki::issue_for(ca, ca_key, &k.public_key(), cn, role, days, purpose, dns)?;
        k.write_pem_file(&key)?;
        std::fs::write(&cert, fdl_pki::to_pem(&der)?)?;
    }
    Ok(files)
}

/// Issues an `intl` channel identity (TLS 1.3) for `cn` with `role` into `dir`: `sign.pem` and
/// `sign.key`, a fresh Ed25519 key (mode 0600). Returns the files.
pub fn issue_tls_identity(
    dir: &Path,
    ca: &[u8],
    ca_key: &KeyPair,
    cn: &str,
    role: fdl_pki::Role,
    dns: &[String],
    days: u32,
) -> anyhow::Result<fdl_channel::TlcpFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let k = KeyPair::generate(Suite::Intl);
    let der = fdl_pki::issue_for(ca, ca_key, &k.public_key(), cn, role, days, fdl_pki::KeyPurpose::Signing, dns)?;
    k.write_pem_file(&dir.join("sign.key"))?;
    std::fs::write(dir.join("sign.pem"), fdl_pki::to_pem(&der)?)?;
    Ok(fdl_channel::TlcpFiles::tls_in_dir(dir))
}

/// Writes one node's keys, network key, config and public part into `dir`. Returns the public part.
#[allow(clippy::too_many_arguments)]
pub fn init_node(
    dir: &Path,
    name: &str,
    org: &str,
    role: NodeRole,
    suite: Suite,
    rpc_listen: SocketAddr,
    p2p_listen: SocketAddr,
    advertise: Option<&str>,
    ca_dir: &Path,
    api_tlcp: Option<SocketAddr>,
) -> anyhow::Result<MemberNode> {
    if dir.join("node.toml").exists() {
        bail!("{} already holds a node (node.toml exists)", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = KeyPair::generate(suite);
    key.write_pem_file(&dir.join("validator.pem"))?;
    let seed = generate_network_key(&dir.join("network.key"))?;
    let peer_id = network_peer_id(&seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (ca, ca_key) = ensure_ca(ca_dir, org, suite)?;
    let role_cert = role.role();
    // The network port and the secure API speak TLCP under `sm` (a pair from the institution's
    // CA) and TLS 1.3 under `intl` (one Ed25519 certificate), STD-9.1, 9.2.
    // The pair also serves the API: clients that check the server name find localhost.
    let mut dns = vec!["localhost".to_string()];
    if let Some(host) = advertise.filter(|h| h.parse::<std::net::IpAddr>().is_err()) {
        dns.push(host.to_string());
    }
    let tlcp = Some(match suite {
        Suite::Sm => {
            issue_tlcp_pair(&dir.join("tlcp"), &ca, &ca_key, name, role_cert, &dns, 3650)?;
            fdl_channel::TlcpFiles::in_dir(Path::new("tlcp"))
        }
        Suite::Intl => {
            issue_tls_identity(&dir.join("tls"), &ca, &ca_key, name, role_cert, &dns, 3650)?;
            fdl_channel::TlcpFiles::tls_in_dir(Path::new("tls"))
        }
    });
    let p2p = P2pConfig {
        listen: p2p_listen,
        key: "network.key".into(),
        peers: vec![],
        propose_timeout_ms: 1_500,
        vote_timeout_ms: 500,
        joining: false,
        tlcp,
    };
    // Plain HTTP stays on loopback; an address beyond it is served over TLCP instead (STD-9.2).
    let (plain, secure) = if rpc_listen.ip().is_loopback() {
        (rpc_listen, api_tlcp)
    } else {
        (SocketAddr::from(([127, 0, 0, 1], rpc_listen.port())), Some(rpc_listen))
    };
    let mut cfg = NodeConfig::new(name, plain, role, Some(p2p), dir);
    cfg.rpc_tlcp_listen = secure;
    cfg.save(&dir.join("node.toml"))?;
    let cert = fdl_pki::issue(&ca, &ca_key, &key.public_key(), name, role_cert, 3650)?;
    std::fs::write(dir.join("node.crt"), fdl_pki::to_pem(&cert)?)?;
    // The institution's administrator: its committee seat (STD-17.1).
    if let Some(org_dir) = ca_dir.parent() {
        ensure_identity(org_dir, "admin", org, fdl_pki::Role::Admin, &ca, &ca_key, suite)?;
    }
    let host = advertise.unwrap_or("127.0.0.1");
    let member = MemberNode {
        name: name.into(),
        org: org.into(),
        role,
        suite,
        public_key: hex::encode(key.public_key().to_bytes()),
        peer_id,
        p2p: format!("{host}:{}", p2p_listen.port()).parse().context("the advertised p2p address")?,
        rpc: format!("http://{host}:{}", rpc_listen.port()),
        ca_cert: fdl_pki::to_pem(&ca)?,
        certificate: fdl_pki::to_pem(&cert)?,
    };
    std::fs::write(dir.join("member.json"), serde_json::to_string_pretty(&member)?)?;
    Ok(member)
}

/// A genesis listing `members` (validators with power 1, observers), with `issuer` as the issuer;
/// `extra` institutions run no node (e.g. the regulator), and `regulator` names the regulator.
/// Every institution with a node holds a committee seat; the minimum validator count is the
/// smaller of four and the validators listed.
pub fn genesis_of(
    chain_id: &str,
    suite: Suite,
    issuer: &KeyPair,
    members: &[MemberNode],
    extra: &[GenesisMember],
    regulator: Option<String>,
) -> anyhow::Result<Genesis> {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let mut validators = Vec::new();
    let mut observers = Vec::new();
    let mut institutions: Vec<GenesisMember> = Vec::new();
    for m in members {
        match institutions.iter().find(|i| i.name == m.org) {
            Some(i) if i.ca_cert != m.ca_cert => bail!("{} appears with two different CA certificates", m.org),
            Some(_) => {}
            None => institutions.push(GenesisMember {
                name: m.org.clone(),
                ca_cert: m.ca_cert.clone(),
                committee: regulator.as_deref() != Some(m.org.as_str()),
            }),
        }
        if m.suite != suite {
            bail!("node {} uses the {} suite, the chain {suite}", m.name, m.suite);
        }
        match m.role {
            NodeRole::Validator => validators.push(GenesisValidator {
                name: m.name.clone(),
                public_key: m.public_key.clone(),
                power: 1,
                org: Some(m.org.clone()),
                peer_id: Some(m.peer_id.clone()),
                certificate: Some(m.certificate.clone()),
            }),
            NodeRole::Observer => observers.push(GenesisObserver {
                name: m.name.clone(),
                org: Some(m.org.clone()),
                public_key: m.public_key.clone(),
                peer_id: Some(m.peer_id.clone()),
                certificate: Some(m.certificate.clone()),
            }),
        }
    }
    for e in extra {
        if !institutions.iter().any(|i| i.name == e.name) {
            institutions.push(e.clone());
        }
    }
    let min_validators = validators.len().min(4) as u32;
    let g = Genesis {
        read_policy: Default::default(),
        chain_id: chain_id.into(),
        suite,
        genesis_time_ms: now_ms,
        issuer: issuer.address(),
        members: institutions,
        regulator,
        validators,
        observers,
        balances: vec![],
        params: ChainParams { min_validators, ..ChainParams::default() },
    };
    g.validate()?;
    Ok(g)
}

/// Sets the peers of the node configured at `cfg_path` to every member but itself.
pub fn set_peers(cfg_path: &Path, members: &[MemberNode]) -> anyhow::Result<usize> {
    let mut cfg = NodeConfig::load(cfg_path)?;
    let own_seed = fdl_node::read_network_key(&cfg.network_key_path().context("the config has no [p2p] section")?)?;
    let own = network_peer_id(&own_seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(p2p) = cfg.p2p.as_mut() else { bail!("the config has no [p2p] section") };
    p2p.peers = members
        .iter()
        .filter(|m| m.peer_id != own)
        .map(|m| PeerConfig { name: m.name.clone(), addr: m.p2p, peer_id: m.peer_id.clone(), rpc: Some(m.rpc.clone()) })
        .collect();
    let n = p2p.peers.len();
    cfg.save(cfg_path)?;
    Ok(n)
}

fn free_port_near(preferred: u16, taken: &[u16]) -> anyhow::Result<u16> {
    if !taken.contains(&preferred) && TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    loop {
        let p = TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?.local_addr()?.port();
        if !taken.contains(&p) {
            return Ok(p);
        }
    }
}

/// What a local network consists of.
pub struct LocalNetwork {
    /// The node config files, validators first.
    pub configs: Vec<PathBuf>,
}

/// Creates a whole network on 127.0.0.1 in `dir`: validators `org1..orgN` (one institution
/// each, with its CA in `DIR/<org>/ca` and its administrator `DIR/<org>/admin.pem` + `.crt`),
/// the regulator institution (`DIR/regulator`, with `regulator.pem` + `.crt`) running observers
/// `observer1..observerK`, the issuer key certified by org1 (`issuer.pem` + `issuer.crt`) and the
/// genesis; every node lists every other as a peer.
pub fn create_local_network(
    dir: &Path,
    suite: Suite,
    chain_id: &str,
    validators: usize,
    observers: usize,
    rpc_base: u16,
    p2p_base: u16,
) -> anyhow::Result<LocalNetwork> {
    if validators == 0 {
        bail!("a network needs at least one validator");
    }
    let genesis_path = dir.join("genesis.json");
    if genesis_path.exists() {
        bail!("{} already holds a chain (genesis.json exists)", dir.display());
    }
    std::fs::create_dir_all(dir)?;
    let issuer = KeyPair::generate(suite);
    issuer.write_pem_file(&dir.join("issuer.pem"))?;
    let mut taken = Vec::new();
    let mut members = Vec::new();
    let mut configs = Vec::new();
    for i in 0..validators + observers {
        let (name, org, role) = if i < validators {
            (format!("org{}", i + 1), format!("org{}", i + 1), NodeRole::Validator)
        } else {
            let j = i - validators + 1;
            (format!("observer{j}"), "regulator".to_string(), NodeRole::Observer)
        };
        let rpc = free_port_near(rpc_base.saturating_add(i as u16), &taken)?;
        taken.push(rpc);
        let p2p = free_port_near(p2p_base.saturating_add(i as u16), &taken)?;
        taken.push(p2p);
        let api_tlcp = free_port_near(rpc_base.saturating_add(100 + i as u16), &taken)?;
        taken.push(api_tlcp);
        let node_dir = dir.join(&name);
        // Each institution's CA lives in the devnet directory, next to its node.
        let ca_dir = dir.join(&org).join("ca");
        let m = init_node(
            &node_dir,
            &name,
            &org,
            role,
            suite,
            SocketAddr::from(([127, 0, 0, 1], rpc)),
            SocketAddr::from(([127, 0, 0, 1], p2p)),
            None,
            &ca_dir,
            Some(SocketAddr::from(([127, 0, 0, 1], api_tlcp))),
        )?;
        members.push(m);
        configs.push(node_dir.join("node.toml"));
    }
    // The regulator institution: its CA and a regulator identity (it proposes interventions).
    let reg_dir = dir.join("regulator");
    let (reg_ca, reg_key) = ensure_ca(&reg_dir.join("ca"), "regulator", suite)?;
    ensure_identity(&reg_dir, "regulator", "regulator", fdl_pki::Role::Regulator, &reg_ca, &reg_key, suite)?;
    let regulator = GenesisMember { name: "regulator".into(), ca_cert: fdl_pki::to_pem(&reg_ca)?, committee: false };
    // The issuer is a client of org1.
    let (ca1, ca1_key) = ensure_ca(&dir.join("org1").join("ca"), "org1", suite)?;
    let issuer_cert = fdl_pki::issue(&ca1, &ca1_key, &issuer.public_key(), "issuer", fdl_pki::Role::Client, 3650)?;
    std::fs::write(dir.join("issuer.crt"), fdl_pki::to_pem(&issuer_cert)?)?;
    let genesis = genesis_of(chain_id, suite, &issuer, &members, &[regulator], Some("regulator".into()))?;
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&genesis)?)?;
    write_ca_bundle(&genesis, &dir.join("ca-bundle.pem"))?;
    for c in &configs {
        set_peers(c, &members)?;
    }
    Ok(LocalNetwork { configs })
}

/// The node configs of an existing network directory (`*/node.toml`), validators first.
pub fn existing_configs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path().join("node.toml");
        if p.exists() {
            out.push(p);
        }
    }
    let mut keyed = Vec::new();
    for p in out {
        let c = NodeConfig::load(&p)?;
        let name = c.name.clone();
        let digits: String = name.chars().filter(|c| c.is_ascii_digit()).collect();
        keyed.push(((c.role == NodeRole::Observer, digits.parse::<u64>().unwrap_or(0), name), p));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, p)| p).collect())
}

/// `fdl genesis`: merges the institutions' `member.json` files into a genesis.
#[derive(Args)]
pub struct GenesisArgs {
    /// The members' public parts (`member.json` from `fdl init --org`).
    #[arg(required = true)]
    members: Vec<PathBuf>,
    /// Where to write the genesis.
    #[arg(long, default_value = "genesis.json")]
    out: PathBuf,
    /// Chain id.
    #[arg(long, default_value = "fdl-consortium")]
    chain_id: String,
    /// The issuer's key (created if the file does not exist). It sends only once certified by
    /// an institution: `fdl ca issue --role client --cn issuer --key issuer.pem --out issuer.crt`.
    #[arg(long, default_value = "issuer.pem")]
    issuer_key: PathBuf,
    /// The regulator institution's CA certificate (PEM): a member without a committee seat whose
    /// `regulator` certificates may propose interventions.
    #[arg(long)]
    regulator_ca: Option<PathBuf>,
    /// API resources anyone may read (comma-separated resource names, or `all`); the others keep
    /// the strict default (STD-16.1).
    #[arg(long, value_delimiter = ',')]
    public_reads: Vec<String>,
}

/// Reads `member.json` files.
pub fn read_members(paths: &[PathBuf]) -> anyhow::Result<Vec<MemberNode>> {
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        out.push(serde_json::from_str(&text).with_context(|| format!("{} is not a member.json", p.display()))?);
    }
    Ok(out)
}

/// Runs `fdl genesis`.
pub fn genesis(a: GenesisArgs) -> anyhow::Result<i32> {
    let members = read_members(&a.members)?;
    let Some(first) = members.first() else { bail!("no members") };
    let suite = first.suite;
    let issuer = if a.issuer_key.exists() {
        crate::keysrc::load_keypair(&a.issuer_key)?
    } else {
        let k = KeyPair::generate(suite);
        k.write_pem_file(&a.issuer_key)?;
        println!("issuer key   {} (new)", a.issuer_key.display());
        k
    };
    let mut extra = Vec::new();
    let mut regulator = None;
    if let Some(p) = &a.regulator_ca {
        let pem = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let info = fdl_pki::parse(&fdl_pki::from_pem(&pem)?)?;
        extra.push(GenesisMember { name: info.org.clone(), ca_cert: pem, committee: false });
        regulator = Some(info.org);
    }
    let mut g = genesis_of(&a.chain_id, suite, &issuer, &members, &extra, regulator)?;
    crate::devnet::open_reads(&mut g, &a.public_reads)?;
    if a.out.exists() {
        bail!("{} exists; refusing to overwrite a genesis", a.out.display());
    }
    std::fs::write(&a.out, serde_json::to_string_pretty(&g)?)?;
    let bundle = a.out.with_file_name("ca-bundle.pem");
    write_ca_bundle(&g, &bundle)?;
    crate::util::record_trust(&a.out, &g);
    println!("genesis      {} ({} validators, {} observers)", a.out.display(), g.validators.len(), g.observers.len());
    Ok(0)
}

/// `fdl peers`: fills a node config's peer list from the members' public parts.
#[derive(Args)]
pub struct PeersArgs {
    /// The node's config.
    #[arg(long)]
    config: PathBuf,
    /// The members' public parts (this node's own is skipped).
    #[arg(required = true)]
    members: Vec<PathBuf>,
}

/// Runs `fdl peers`.
pub fn peers(a: PeersArgs) -> anyhow::Result<i32> {
    let members = read_members(&a.members)?;
    let n = set_peers(&a.config, &members)?;
    println!("{}: {n} peers", a.config.display());
    Ok(0)
}
