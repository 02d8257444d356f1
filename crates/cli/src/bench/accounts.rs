//! `fdl bench --accounts-file FILE`: the sending accounts kept between runs.
//!
//! A growth series (docs/benchmarks.md, "Growth") measures what a chain's *history* costs. When
//! every round creates new accounts, the grown chain also holds ten times the accounts of the
//! fresh chain it is compared with, and the state size, not the history, decides the ratio. With
//! this file the rounds reuse the same keys: the first run creates it, later runs read it.
//!
//! The certificates are kept per CA (an `fdl init` makes new CAs), so the same keys can be
//! certified on a fresh chain while a grown chain keeps the certificates it registered in round
//! one instead of registering new ones every round. Kept certificates are checked against their
//! accounts' keys when read, and issued again when one expires within a day.
//!
//! The file holds private keys in the clear: it is written with mode 0600 and is for test chains
//! only.

use std::{collections::BTreeMap, path::Path};

use anyhow::{Context as _, bail};
use fdl_crypto::{KeyPair, Signer as _, Suite};
use serde::{Deserialize, Serialize};

/// Largest accounts file read (2,000 keys take about 0.5 MiB, and their certificates about 2.6 MiB
/// more per CA in hex: 9.3 MB with fourteen CAs).
const MAX_FILE_BYTES: u64 = 256 << 20;

/// Kept certificates that expire within this many seconds are issued again instead.
const RENEW_BEFORE_S: u64 = 24 * 3600;

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

    /// The accounts' certificates from the CA whose certificate hashes to `ca`, if kept and
    /// none of them expires within a day of `now_s` (Unix seconds); `None` means issue new ones.
    ///
    /// # Errors
    /// A certificate that is not hex, does not parse, or certifies another key than its account's.
    pub fn certs(&self, ca: &str, now_s: u64) -> anyhow::Result<Option<Vec<Vec<u8>>>> {
        let Some(hexes) = self.stored.certs.get(ca) else {
            return Ok(None);
        };
        let mut ders = Vec::with_capacity(hexes.len());
        for (i, (h, key)) in hexes.iter().zip(&self.keys).enumerate() {
            let der = hex::decode(h).with_context(|| format!("certificate {i} from CA {ca} is not hex"))?;
            let info = fdl_pki::parse(&der).with_context(|| format!("certificate {i} from CA {ca}"))?;
            if info.public_key != key.public_key() {
                bail!("certificate {i} from CA {ca} certifies another key than account {i}'s");
            }
            if info.not_after < now_s.saturating_add(RENEW_BEFORE_S) {
                return Ok(None);
            }
            ders.push(der);
        }
        Ok(Some(ders))
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

    /// A CA and `days`-day client certificates from it for `keys`.
    fn issue(keys: &[KeyPair], days: u32) -> Vec<Vec<u8>> {
        let ca_key = KeyPair::generate(Suite::Sm);
        let ca = fdl_pki::create_ca("org1", &ca_key, 365).expect("a CA");
        keys.iter()
            .enumerate()
            .map(|(i, k)| {
                fdl_pki::issue(&ca, &ca_key, &k.public_key(), &format!("bench{i}"), fdl_pki::Role::Client, days)
                    .expect("a client certificate")
            })
            .collect()
    }

    fn now_s() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs()
    }

    #[test]
    fn a_saved_file_gives_back_the_same_keys_and_each_cas_certificates() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("accounts.json");
        let mut a = Accounts::open(&path, Suite::Sm, 3).expect("new accounts");
        let certs = issue(&a.keys, 30);
        a.keep_certs("ca1", &certs);
        a.save(&path).expect("saved");
        let b = Accounts::open(&path, Suite::Sm, 3).expect("read back");
        let addrs = |x: &Accounts| x.keys.iter().map(KeyPair::address).collect::<Vec<_>>();
        assert_eq!(addrs(&a), addrs(&b));
        assert_eq!(b.certs("ca1", now_s()).expect("valid"), Some(certs));
        assert_eq!(b.certs("ca2", now_s()).expect("valid"), None, "another CA's certificates are not kept");
    }

    #[test]
    fn kept_certificates_near_expiry_are_issued_again_and_ones_for_other_keys_refused() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("accounts.json");
        let mut a = Accounts::open(&path, Suite::Sm, 2).expect("new accounts");
        a.keep_certs("ca1", &issue(&a.keys, 30));
        assert!(a.certs("ca1", now_s()).expect("valid").is_some());
        assert_eq!(a.certs("ca1", now_s() + 30 * 86_400).expect("valid"), None, "expired by then: issue anew");
        let mut swapped = issue(&a.keys, 30);
        swapped.reverse();
        a.keep_certs("ca2", &swapped);
        assert!(a.certs("ca2", now_s()).is_err(), "certificate 0 certifies key 1");
        a.keep_certs("ca3", &[vec![1], vec![2]]);
        assert!(a.certs("ca3", now_s()).is_err(), "not a certificate");
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
