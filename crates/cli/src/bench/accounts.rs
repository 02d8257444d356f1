//! `fdl bench --accounts-file FILE`: the sending accounts kept between runs.
//!
//! A growth series (docs/benchmarks.md, "Growth") measures what a chain's *history* costs. When
//! every round creates new accounts, the grown chain also holds ten times the accounts of the
//! fresh chain it is compared with, and the state size, not the history, decides the ratio. With
//! this file the rounds reuse the same keys: the first run creates it, later runs read it.
//!
//! The certificates are kept per CA (an `fdl init` makes new CAs), so the same keys can be
//! certified on a fresh chain while a grown chain keeps the certificates it registered in round
//! one instead of registering new ones every round.
//!
//! The file holds private keys in the clear: it is written with mode 0600 and is for test chains
//! only.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context as _, bail};
use fdl_crypto::{KeyPair, Suite};
use serde::{Deserialize, Serialize};

/// Largest accounts file read (2,000 accounts with certificates for a few CAs take about 6 MiB).
const MAX_FILE_BYTES: u64 = 256 << 20;

/// What the file holds.
#[derive(Serialize, Deserialize, Default)]
struct Stored {
    /// The suite of every key.
    suite: String,
    /// PKCS#8 PEM of each account's key, in order.
    keys: Vec<String>,
    /// Per CA (the hex hash of its certificate): each account's client certificate, DER in hex.
    certs: BTreeMap<String, Vec<String>>,
}

/// The bench's sending accounts: read from `path` when it exists (there must be exactly `n`
/// keys of `suite`), created and written otherwise.
pub(super) struct Accounts {
    stored: Stored,
    /// The keys, parsed.
    pub keys: Vec<KeyPair>,
}

impl Accounts {
    /// Reads `path`, or makes `n` new keys of `suite` when it does not exist.
    ///
    /// # Errors
    /// An unreadable or malformed file, or one whose suite or number of keys differ.
    pub fn open(path: &Path, suite: Suite, n: usize) -> anyhow::Result<Accounts> {
        if !path.exists() {
            let keys: Vec<KeyPair> = (0..n).map(|_| KeyPair::generate(suite)).collect();
            let pems = keys.iter().map(|k| k.to_pkcs8_pem().map_err(anyhow::Error::from)).collect::<Result<_, _>>()?;
            return Ok(Accounts {
                stored: Stored { suite: suite.to_string(), keys: pems, certs: BTreeMap::new() },
                keys,
            });
        }
        let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
        if len > MAX_FILE_BYTES {
            bail!("{} is {len} bytes, more than an accounts file holds ({MAX_FILE_BYTES})", path.display());
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let stored: Stored =
            serde_json::from_str(&text).with_context(|| format!("{} is not an accounts file", path.display()))?;
        if stored.suite != suite.to_string() {
            bail!("{} holds {} keys but the chain uses {suite}", path.display(), stored.suite);
        }
        if stored.keys.len() != n {
            bail!("{} holds {} accounts, not --accounts {n}", path.display(), stored.keys.len());
        }
        let keys = stored
            .keys
            .iter()
            .enumerate()
            .map(|(i, pem)| {
                let k = KeyPair::from_pkcs8_pem(pem).with_context(|| format!("key {i} of {}", path.display()))?;
                if k.suite() != suite {
                    bail!("key {i} of {} is not a {suite} key", path.display());
                }
                Ok(k)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (ca, certs) in &stored.certs {
            if certs.len() != n {
                bail!("{} holds {} certificates from CA {ca} for {n} keys", path.display(), certs.len());
            }
        }
        Ok(Accounts { stored, keys })
    }

    /// The accounts' certificates from the CA whose certificate hashes to `ca`, if kept.
    ///
    /// # Errors
    /// A certificate that is not hex.
    pub fn certs(&self, ca: &str) -> anyhow::Result<Option<Vec<Vec<u8>>>> {
        let Some(hexes) = self.stored.certs.get(ca) else {
            return Ok(None);
        };
        let ders = hexes.iter().map(hex::decode).collect::<Result<Vec<_>, _>>();
        Ok(Some(ders.context("a certificate in the accounts file is not hex")?))
    }

    /// Keeps `certs` as the accounts' certificates from the CA `ca`.
    pub fn keep_certs(&mut self, ca: &str, certs: &[Vec<u8>]) {
        self.stored.certs.insert(ca.to_string(), certs.iter().map(hex::encode).collect());
    }

    /// Writes the file (mode 0600, atomically).
    ///
    /// # Errors
    /// A write failure.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string(&self.stored)?;
        crate::keysrc::write_atomic_private(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_file_gives_back_the_same_keys_and_each_cas_certificates() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("accounts.json");
        let mut a = Accounts::open(&path, Suite::Sm, 3).expect("new accounts");
        a.keep_certs("ca1", &[vec![1], vec![2], vec![3]]);
        a.save(&path).expect("saved");
        let b = Accounts::open(&path, Suite::Sm, 3).expect("read back");
        let addrs = |x: &Accounts| x.keys.iter().map(KeyPair::address).collect::<Vec<_>>();
        assert_eq!(addrs(&a), addrs(&b));
        assert_eq!(b.certs("ca1").expect("hex"), Some(vec![vec![1], vec![2], vec![3]]));
        assert_eq!(b.certs("ca2").expect("hex"), None, "another CA's certificates are not kept");
    }

    #[test]
    fn a_file_for_another_suite_or_count_or_garbage_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("accounts.json");
        Accounts::open(&path, Suite::Sm, 2).expect("new").save(&path).expect("saved");
        assert!(Accounts::open(&path, Suite::Sm, 3).is_err(), "a different --accounts");
        assert!(Accounts::open(&path, Suite::Intl, 2).is_err(), "a different suite");
        std::fs::write(&path, b"{not json").expect("written");
        assert!(Accounts::open(&path, Suite::Sm, 2).is_err(), "not an accounts file");
    }
}
