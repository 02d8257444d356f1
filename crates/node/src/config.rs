use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

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
    /// The validator's PKCS#8 PEM key.
    pub validator_key: PathBuf,
    /// Address the API listens on.
    pub rpc_listen: SocketAddr,
    /// Most transactions in the mempool.
    #[serde(default = "default_capacity")]
    pub mempool_capacity: usize,
    /// Memory limit of the SM2 verifier's per-key table cache, in MiB (0 disables it).
    #[serde(default = "default_sig_cache_mb")]
    pub sig_cache_mb: usize,
    /// Directory of the config file, for resolving relative paths (not in the file).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_capacity() -> usize {
    50_000
}

fn default_sig_cache_mb() -> usize {
    64
}

impl NodeConfig {
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

    /// The validator key, resolved.
    pub fn validator_key_path(&self) -> PathBuf {
        self.resolve(&self.validator_key)
    }
}
