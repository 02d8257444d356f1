use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use fdl_types::NodeRole;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::NodeError;

/// A node's configuration file (TOML). Relative paths are relative to the file's directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's name (shown in status and logs).
    pub name: String,
    /// Where the ledger database lives.
    pub data_dir: PathBuf,
    /// The genesis file.
    pub genesis: PathBuf,
    /// The validator's PKCS#8 PEM key. Not read when a `[signer]` section is present.
    #[serde(default = "default_validator_key")]
    pub validator_key: PathBuf,
    /// The file holding the passphrase of an encrypted validator key (mode 0600, outside the
    /// data directory); absent: `FDL_KEY_PASSPHRASE`, when the key is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_key_passphrase_file: Option<PathBuf>,
    /// Address the API listens on in plain HTTP: a loopback address under `sm` (a node refuses
    /// any other; remote clients use `rpc_tlcp_listen`).
    pub rpc_listen: SocketAddr,
    /// Address the API listens on over TLCP (STD-9.2); absent: no secure port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_tlcp_listen: Option<SocketAddr>,
    /// The TLCP pair of the secure API; absent: the network's (`[p2p.tlcp]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_tlcp: Option<fdl_channel::TlcpFiles>,
    /// Most transactions in the mempool.
    #[serde(default = "default_capacity")]
    pub mempool_capacity: usize,
    /// The longest a client's transaction should wait in the mempool, in ms: beyond what the
    /// chain commits in this time at its measured rate, clients are refused at once (429
    /// `overloaded` with `Retry-After`) instead of queueing.
    #[serde(default = "default_target_wait_ms")]
    pub mempool_target_wait_ms: u64,
    /// Memory limit of the SM2 verifier's per-key table cache, in MiB (0 disables it).
    #[serde(default = "default_sig_cache_mb")]
    pub sig_cache_mb: usize,
    /// `validator` (votes) or `observer` (verifies and stores every block, never votes).
    #[serde(default)]
    pub role: NodeRole,
    /// `/metrics` counts the member CA and node certificates that expire within this many days
    /// (`fdl_certificates_expiring`), so an alert fires before an expiry stops a node.
    #[serde(default = "default_cert_expiry_warning_days")]
    pub cert_expiry_warning_days: u64,
    /// The API's limits: connections, timeouts, stream subscribers, request rates, audit scans.
    #[serde(default)]
    pub api: fdl_rpc::ApiLimits,
    /// The consensus network; absent on a one-validator chain, which runs the solo producer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p: Option<P2pConfig>,
    /// Pruning of old state versions (`[prune]`); absent: keep [`DEFAULT_KEEP_VERSIONS`].
    #[serde(default)]
    pub prune: PruneConfig,
    /// A remote signer holding the validator's key (`fdl signer`, ADR 0015); absent, the node
    /// reads `validator_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<SignerConfig>,
    /// Directory of the config file, for resolving relative paths (not in the file).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The consensus network section of a node config.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2pConfig {
    /// Where the consensus network listens (TCP).
    pub listen: SocketAddr,
    /// The network key file (32-byte Ed25519 seed in hex, written by `fdl init`).
    pub key: PathBuf,
    /// The peers to keep connected; only nodes listed in genesis are accepted.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Propose timeout (round 0), in milliseconds.
    #[serde(default = "default_propose_ms")]
    pub propose_timeout_ms: u64,
    /// Prevote and precommit timeouts (round 0), in milliseconds.
    #[serde(default = "default_vote_ms")]
    pub vote_timeout_ms: u64,
    /// Set on a node whose admission the committee is voting on (or has voted): it starts even
    /// though the chain it has so far does not list it, syncs as a full node, and votes from the
    /// height its admission takes effect. The members refuse its connections until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub joining: bool,
    /// The node's TLCP pair (signing and encryption certificates and keys): when present, the
    /// network port speaks only mutually authenticated TLCP and transactions are forwarded over
    /// it (`docs/adr/0016-tlcp-channels.md`); when absent, libp2p's Noise on the port itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlcp: Option<fdl_channel::TlcpFiles>,
}

/// The state versions a pruning node keeps by default: about 2¾ hours of one-second blocks.
pub const DEFAULT_KEEP_VERSIONS: u64 = 10_000;
/// The fewest state versions a pruning node may keep: consensus, admission and the API read
/// recent versions, and a light client follows validator-set changes from them.
pub const MIN_KEEP_VERSIONS: u64 = 100;

/// The `[prune]` section: how much state history the node keeps (`docs/operations.md`,
/// "Pruning and compaction"). Blocks, receipts and audit records are never pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneConfig {
    /// Keep the state of this many latest versions (block heights); older state is deleted in
    /// the background. At least [`MIN_KEEP_VERSIONS`].
    #[serde(default = "default_keep_versions")]
    pub keep_versions: u64,
    /// An archive node: keeps the state of every version, prunes nothing (`keep_versions` is
    /// then not used).
    #[serde(default)]
    pub archive: bool,
}

fn default_keep_versions() -> u64 {
    DEFAULT_KEEP_VERSIONS
}

impl Default for PruneConfig {
    fn default() -> Self {
        PruneConfig { keep_versions: DEFAULT_KEEP_VERSIONS, archive: false }
    }
}

impl PruneConfig {
    /// Reads the `fdl node --prune` value: a number of versions to keep, or `archive`.
    ///
    /// # Errors
    /// [`NodeError::Config`] for anything else or fewer than [`MIN_KEEP_VERSIONS`] versions.
    pub fn parse(s: &str) -> Result<Self, NodeError> {
        let c = if s.trim().eq_ignore_ascii_case("archive") {
            PruneConfig { keep_versions: DEFAULT_KEEP_VERSIONS, archive: true }
        } else {
            let keep = s.trim().replace('_', "").parse::<u64>().map_err(|_| {
                NodeError::Config(format!("--prune {s:?}: give a number of versions to keep, or `archive`"))
            })?;
            PruneConfig { keep_versions: keep, archive: false }
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks the setting.
    ///
    /// # Errors
    /// [`NodeError::Config`] when a pruning node keeps fewer than [`MIN_KEEP_VERSIONS`] versions.
    pub fn validate(&self) -> Result<(), NodeError> {
        if !self.archive && self.keep_versions < MIN_KEEP_VERSIONS {
            return Err(NodeError::Config(format!(
                "[prune] keep_versions = {} is below the minimum of {MIN_KEEP_VERSIONS} (or set archive = true to keep every version)",
                self.keep_versions
            )));
        }
        Ok(())
    }

    /// The versions kept, or `None` for an archive node.
    pub fn keep(&self) -> Option<u64> {
        (!self.archive).then_some(self.keep_versions)
    }
}

/// Where the node's remote signer listens and the token it proves (STD-8.2, 8.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerConfig {
    /// The signer's Unix socket.
    pub socket: PathBuf,
    /// The channel's token file (64 hex digits, mode 0600), the same file the signer uses.
    pub token: PathBuf,
}

/// A peer node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's name (for logs).
    #[serde(default)]
    pub name: String,
    /// Its consensus network address.
    pub addr: SocketAddr,
    /// Its network peer id (as listed in genesis).
    pub peer_id: String,
    /// Its API base URL, where this node forwards client transactions (mempool gossip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc: Option<String>,
}

fn default_propose_ms() -> u64 {
    3_000
}

fn default_vote_ms() -> u64 {
    1_000
}

/// Reads a network key file: 64 hex digits, accessible by its owner only (on Unix).
///
/// # Errors
/// [`NodeError::KeyFile`] for a file that group or others may access; [`NodeError::Key`] naming
/// the file otherwise.
/// The seed and the file's text are zeroized when dropped.
pub fn read_network_key(path: &Path) -> Result<Zeroizing<[u8; 32]>, NodeError> {
    fdl_crypto::check_private_key_file(path).map_err(|e| match e {
        e @ fdl_crypto::CryptoError::KeyFileExposed { .. } => NodeError::KeyFile(e),
        e => NodeError::Key(e.to_string()),
    })?;
    let text =
        Zeroizing::new(std::fs::read_to_string(path).map_err(|e| NodeError::Key(format!("{}: {e}", path.display())))?);
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), &mut *seed)
        .map_err(|e| NodeError::Key(format!("{}: not 64 hex digits: {e}", path.display())))?;
    Ok(seed)
}

/// Writes a new random network key file (mode 0600) and returns its seed.
///
/// # Errors
/// [`NodeError::Key`] when it cannot be written.
pub fn generate_network_key(path: &Path) -> Result<[u8; 32], NodeError> {
    let mut seed = [0u8; 32];
    fdl_crypto::random_bytes(&mut seed).map_err(|e| NodeError::Key(e.to_string()))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| NodeError::Key(format!("{}: {e}", path.display())))?;
    std::io::Write::write_all(&mut f, hex::encode(seed).as_bytes())
        .map_err(|e| NodeError::Key(format!("{}: {e}", path.display())))?;
    Ok(seed)
}

fn default_validator_key() -> PathBuf {
    "validator.pem".into()
}

fn default_capacity() -> usize {
    50_000
}

fn default_target_wait_ms() -> u64 {
    1_000
}

fn default_sig_cache_mb() -> usize {
    64
}

fn default_cert_expiry_warning_days() -> u64 {
    30
}

impl NodeConfig {
    /// A config with the defaults (data in `data/`, genesis at `../genesis.json`, key in
    /// `validator.pem`, all relative to `base_dir`).
    pub fn new(name: &str, rpc_listen: SocketAddr, role: NodeRole, p2p: Option<P2pConfig>, base_dir: &Path) -> Self {
        NodeConfig {
            name: name.into(),
            data_dir: "data".into(),
            genesis: "../genesis.json".into(),
            validator_key: "validator.pem".into(),
            validator_key_passphrase_file: None,
            rpc_listen,
            rpc_tlcp_listen: None,
            rpc_tlcp: None,
            mempool_capacity: default_capacity(),
            mempool_target_wait_ms: default_target_wait_ms(),
            sig_cache_mb: default_sig_cache_mb(),
            role,
            cert_expiry_warning_days: default_cert_expiry_warning_days(),
            api: fdl_rpc::ApiLimits::default(),
            p2p,
            prune: PruneConfig::default(),
            signer: None,
            base_dir: base_dir.to_path_buf(),
        }
    }

    /// Reads a config file.
    ///
    /// # Errors
    /// [`NodeError::Config`] naming the file and the problem.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?;
        let mut c: NodeConfig =
            toml::from_str(&text).map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?;
        c.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if c.mempool_capacity == 0 {
            return Err(NodeError::Config("mempool_capacity must be positive".into()));
        }
        if !(100..=60_000).contains(&c.mempool_target_wait_ms) {
            return Err(NodeError::Config(format!(
                "{}: mempool_target_wait_ms must be between 100 and 60000, not {}",
                path.display(),
                c.mempool_target_wait_ms
            )));
        }
        c.api.validate().map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?;
        c.prune.validate().map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Writes the config as TOML.
    ///
    /// # Errors
    /// [`NodeError::Config`] when it cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        let text = toml::to_string_pretty(self).map_err(|e| NodeError::Config(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))
    }

    fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.base_dir.join(p) }
    }

    /// The data directory, resolved.
    pub fn data_path(&self) -> PathBuf {
        self.resolve(&self.data_dir)
    }

    /// The genesis file, resolved.
    pub fn genesis_path(&self) -> PathBuf {
        self.resolve(&self.genesis)
    }

    /// The network key, resolved (when the node has a network section).
    pub fn network_key_path(&self) -> Option<PathBuf> {
        self.p2p.as_ref().map(|p| self.resolve(&p.key))
    }

    /// The TLCP pair of the secure API, resolved: `rpc_tlcp`, else the network's.
    pub fn rpc_tlcp_files(&self) -> Option<fdl_channel::TlcpFiles> {
        self.rpc_tlcp
            .as_ref()
            .or_else(|| self.p2p.as_ref().and_then(|p| p.tlcp.as_ref()))
            .map(|f| f.resolved(&self.base_dir))
    }

    /// The remote signer's socket and token files, resolved (when the node has a signer).
    pub fn signer_paths(&self) -> Option<(PathBuf, PathBuf)> {
        self.signer.as_ref().map(|s| (self.resolve(&s.socket), self.resolve(&s.token)))
    }

    /// The validator key, resolved.
    pub fn validator_key_path(&self) -> PathBuf {
        self.resolve(&self.validator_key)
    }

    /// The validator key's passphrase file, resolved (when configured).
    pub fn validator_key_passphrase_path(&self) -> Option<PathBuf> {
        self.validator_key_passphrase_file.as_ref().map(|p| self.resolve(p))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use fdl_crypto::{KeyPair, Suite};

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_signer_section_replaces_the_key_file_and_old_configs_still_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        let base = "name = \"n\"\ndata_dir = \"data\"\ngenesis = \"g.json\"\nrpc_listen = \"127.0.0.1:1\"\n";
        std::fs::write(&path, format!("{base}validator_key = \"v.pem\"\n")).expect("write");
        let old = NodeConfig::load(&path).expect("a config without [signer] loads");
        assert!(old.signer.is_none());
        assert_eq!(old.validator_key_path(), dir.path().join("v.pem"));
        std::fs::write(&path, format!("{base}[signer]\nsocket = \"s/signer.sock\"\ntoken = \"/abs/signer.token\"\n"))
            .expect("write");
        let c = NodeConfig::load(&path).expect("a config with [signer] and no key file loads");
        assert_eq!(c.signer_paths(), Some((dir.path().join("s/signer.sock"), PathBuf::from("/abs/signer.token"))));
        c.save(&path).expect("save");
        assert_eq!(NodeConfig::load(&path).expect("reload").signer, c.signer);
        std::fs::write(&path, format!("{base}[signer]\nsocket = \"s\"\ntoken = \"t\"\nkey = \"k\"\n")).expect("write");
        assert!(NodeConfig::load(&path).is_err(), "an unknown key in [signer] accepted");
    }

    #[test]
    fn the_prune_section_defaults_validates_and_the_flag_overrides_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("node.toml");
        let base = "name = \"n\"\ndata_dir = \"data\"\ngenesis = \"g.json\"\nrpc_listen = \"127.0.0.1:1\"\n";
        std::fs::write(&path, base).expect("write");
        let c = NodeConfig::load(&path).expect("load");
        assert_eq!(c.prune.keep(), Some(DEFAULT_KEEP_VERSIONS));
        std::fs::write(&path, format!("{base}[prune]\nkeep_versions = 500\n")).expect("write");
        assert_eq!(NodeConfig::load(&path).expect("load").prune.keep(), Some(500));
        std::fs::write(&path, format!("{base}[prune]\narchive = true\n")).expect("write");
        assert_eq!(NodeConfig::load(&path).expect("load").prune.keep(), None);
        std::fs::write(&path, format!("{base}[prune]\nkeep_versions = 99\n")).expect("write");
        let e = NodeConfig::load(&path).expect_err("below the minimum");
        assert!(e.to_string().contains("minimum of 100"), "{e}");
        assert_eq!(PruneConfig::parse("archive").expect("archive").keep(), None);
        assert_eq!(PruneConfig::parse("20_000").expect("n").keep(), Some(20_000));
        assert!(PruneConfig::parse("5").is_err());
        assert!(PruneConfig::parse("lots").is_err());
    }

    #[test]
    fn a_node_refuses_key_files_others_may_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let validator = dir.path().join("validator.pem");
        KeyPair::generate(Suite::Sm).write_pem_file(&validator).expect("write key");
        let network = dir.path().join("network.key");
        generate_network_key(&network).expect("network key");
        assert!(crate::load_validator_key(&validator).is_ok());
        assert!(read_network_key(&network).is_ok());
        for mode in [0o644, 0o640, 0o604] {
            for path in [&validator, &network] {
                chmod(path, mode);
            }
            let err = crate::load_validator_key(&validator).expect_err("exposed validator key used");
            assert!(matches!(err, NodeError::KeyFile(_)), "{err:?}");
            let text = err.to_string();
            assert!(text.contains("validator.pem") && text.contains("chmod 600"), "{text}");
            let err = read_network_key(&network).expect_err("exposed network key used");
            assert!(matches!(err, NodeError::KeyFile(_)), "{err:?}");
            assert!(err.to_string().contains("network.key"), "{err}");
        }
    }

    #[test]
    fn a_node_refuses_keys_inside_its_data_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rpc = "127.0.0.1:0".parse().expect("addr");
        let mut cfg = NodeConfig::new("n", rpc, NodeRole::Validator, None, dir.path());
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        KeyPair::generate(Suite::Sm).write_pem_file(&dir.path().join("validator.pem")).expect("write key");
        assert!(crate::check_keys_outside_data(&cfg).is_ok());
        // The key inside the data directory, named directly or through `..`.
        KeyPair::generate(Suite::Sm).write_pem_file(&dir.path().join("data/validator.pem")).expect("write key");
        for path in ["data/validator.pem", "data/../data/validator.pem"] {
            cfg.validator_key = path.into();
            let err = crate::check_keys_outside_data(&cfg).expect_err("key in the data dir accepted");
            assert!(matches!(err, NodeError::KeyInDataDir { .. }), "{err:?}");
            assert!(err.to_string().contains("apart from the ledger"), "{err}");
        }
        // A symbolic link outside pointing inside is refused too.
        cfg.validator_key = "link.pem".into();
        std::os::unix::fs::symlink(dir.path().join("data/validator.pem"), dir.path().join("link.pem"))
            .expect("symlink");
        assert!(matches!(crate::check_keys_outside_data(&cfg), Err(NodeError::KeyInDataDir { .. })));
        // The network key as well.
        cfg.validator_key = "validator.pem".into();
        generate_network_key(&dir.path().join("data/network.key")).expect("network key");
        cfg.p2p = Some(P2pConfig {
            listen: rpc,
            key: "data/network.key".into(),
            peers: vec![],
            propose_timeout_ms: default_propose_ms(),
            vote_timeout_ms: default_vote_ms(),
            joining: false,
            tlcp: None,
        });
        assert!(matches!(crate::check_keys_outside_data(&cfg), Err(NodeError::KeyInDataDir { .. })));
    }

    #[test]
    fn an_encrypted_validator_key_opens_with_its_passphrase_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("validator.pem");
        let kp = KeyPair::generate(Suite::Intl);
        kp.write_encrypted_pem_file(&key, b"s3cret", fdl_crypto::KeyCipher::Aes256Cbc).expect("write");
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "s3cret\n").expect("write");
        chmod(&pass, 0o600);
        let got = crate::load_validator_key_with(&key, Some(&pass)).expect("decrypt");
        assert_eq!(fdl_crypto::Signer::public_key(&got), fdl_crypto::Signer::public_key(&kp));
        std::fs::write(&pass, "wrong").expect("write");
        let err = crate::load_validator_key_with(&key, Some(&pass)).expect_err("wrong passphrase");
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
        chmod(&pass, 0o644);
        assert!(matches!(crate::load_validator_key_with(&key, Some(&pass)), Err(NodeError::KeyFile(_))));
        chmod(&key, 0o640);
        assert!(matches!(crate::load_validator_key_with(&key, None), Err(NodeError::KeyFile(_))));
    }
}
