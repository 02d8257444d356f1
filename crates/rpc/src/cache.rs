//! Caches of the API's repeated expensive reads. The active node set checks every node's
//! certificate (X.509 parsing and an SM2 or Ed25519 signature check) and never changes for a
//! committed state version; a certificate's view never changes for its bytes.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use fdl_crypto::{Hash, Suite};
use fdl_types::{NodeSpec, api::CertView};
use parking_lot::Mutex;

/// State versions whose node sets are kept.
const NODE_SETS: usize = 16;
/// Certificate views kept (the node's members, CAs and nodes fit many times over).
const CERTS: usize = 4_096;

/// The API's caches.
#[derive(Default)]
pub(crate) struct ReadCache {
    nodes: Mutex<VecDeque<(u64, Arc<Vec<NodeSpec>>)>>,
    certs: Mutex<HashMap<Hash, Option<CertView>>>,
    /// Node sets computed (misses), for tests.
    pub(crate) node_set_reads: AtomicU64,
    /// Certificates parsed (misses), for tests.
    pub(crate) cert_parses: AtomicU64,
}

impl ReadCache {
    /// The node set after committed `version`, computed by `read` on a miss. Only committed
    /// versions may be asked: they never change.
    pub(crate) fn nodes<E>(
        &self,
        version: u64,
        read: impl FnOnce() -> Result<Vec<NodeSpec>, E>,
    ) -> Result<Arc<Vec<NodeSpec>>, E> {
        if let Some((_, n)) = self.nodes.lock().iter().find(|(v, _)| *v == version) {
            return Ok(n.clone());
        }
        self.node_set_reads.fetch_add(1, Ordering::Relaxed);
        let n = Arc::new(read()?);
        let mut c = self.nodes.lock();
        if !c.iter().any(|(v, _)| *v == version) {
            if c.len() >= NODE_SETS {
                c.pop_front();
            }
            c.push_back((version, n.clone()));
        }
        Ok(n)
    }

    /// What the DER certificate `der` says (`None` if it does not parse), parsed once per
    /// certificate.
    pub(crate) fn cert_view(&self, suite: Suite, der: &[u8]) -> Option<CertView> {
        let h = fdl_crypto::hash(suite, der);
        if let Some(v) = self.certs.lock().get(&h) {
            return v.clone();
        }
        self.cert_parses.fetch_add(1, Ordering::Relaxed);
        let v = cert_view_der(der);
        let mut c = self.certs.lock();
        if c.len() >= CERTS {
            c.clear();
        }
        c.insert(h, v.clone());
        v
    }
}

pub(crate) fn cert_view_der(der: &[u8]) -> Option<CertView> {
    let i = fdl_pki::parse(der).ok()?;
    Some(CertView {
        common_name: i.common_name,
        org: i.org,
        role: i.role.map(|r| r.as_str().to_string()),
        serial: i.serial,
        not_before: i.not_before,
        not_after: i.not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_parsed_once() {
        let key = fdl_crypto::KeyPair::generate(Suite::Sm);
        let ca = fdl_pki::create_ca("Bank A", &key, 30).expect("a CA");
        let c = ReadCache::default();
        let first = c.cert_view(Suite::Sm, &ca).expect("parses");
        for _ in 0..10 {
            assert_eq!(c.cert_view(Suite::Sm, &ca).as_ref(), Some(&first));
        }
        assert_eq!(c.cert_parses.load(Ordering::Relaxed), 1);
        assert_eq!(c.cert_view(Suite::Sm, b"not a certificate"), None);
        assert_eq!(c.cert_view(Suite::Sm, b"not a certificate"), None);
        assert_eq!(c.cert_parses.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_node_set_is_read_once_per_version_and_old_versions_go_first() {
        let c = ReadCache::default();
        for _ in 0..5 {
            for v in 0..3 {
                c.nodes(v, || Ok::<_, ()>(vec![])).expect("read");
            }
        }
        assert_eq!(c.node_set_reads.load(Ordering::Relaxed), 3);
        for v in 3..3 + NODE_SETS as u64 {
            c.nodes(v, || Ok::<_, ()>(vec![])).expect("read");
        }
        assert_eq!(c.nodes.lock().len(), NODE_SETS);
        c.nodes(0, || Ok::<_, ()>(vec![])).expect("read");
        assert_eq!(c.node_set_reads.load(Ordering::Relaxed), 3 + NODE_SETS as u64 + 1, "version 0 was evicted");
        assert!(c.nodes(7, || Err(())).is_ok(), "a cached version does not read");
        assert!(c.nodes(99, || Err(())).is_err(), "a failed read is not cached");
        assert!(c.nodes(99, || Err(())).is_err());
    }
}
