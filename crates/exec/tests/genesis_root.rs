//! Pins the state root of a fixed genesis, so that any change to the state schema's keys or
//! value encodings (crates/schema) is a deliberate one: state bytes feed the state root, and
//! every node must compute the same root from the same genesis.

use std::{collections::BTreeMap, sync::Arc};

use fdl_crypto::{Address, KeyPair, Signer, Suite};
use fdl_exec::genesis_writes;
use fdl_schema::{StateView, keys};
use fdl_state::StateDb;
use fdl_storage::RedbStore;
use fdl_types::{ChainParams, Genesis, GenesisMember, GenesisObserver, GenesisValidator};

/// An Ed25519 CA certificate made once with OpenSSL (`O=Bank A`), kept as bytes so the root
/// does not depend on a clock or on randomness.
const CA_PEM: &str = include_str!("fixtures/bank-a-ca.pem");

/// The root below. Changing the schema changes it: update it only together with the database
/// layout version (`LAYOUT_VERSION` in crates/storage) and a note in the changelog of the commit.
const GENESIS_ROOT: &str = "72ef6167188e3fe29e4818a391c58f94a028c7c365dc79364d2bbda9db05bd31";

fn genesis() -> Genesis {
    let key = |seed: u8| hex::encode(KeyPair::ed25519_from_seed(&[seed; 32]).public_key().to_bytes());
    Genesis {
        read_policy: Default::default(),
        chain_id: "fixture".into(),
        suite: Suite::Intl,
        genesis_time_ms: 1_796_000_000_000,
        issuer: KeyPair::ed25519_from_seed(&[1; 32]).address(),
        members: vec![GenesisMember { name: "Bank A".into(), ca_cert: CA_PEM.into(), committee: true }],
        regulator: Some("Bank A".into()),
        validators: vec![GenesisValidator {
            name: "v1".into(),
            public_key: key(2),
            power: 10,
            org: Some("Bank A".into()),
            peer_id: Some("peer-v1".into()),
            certificate: None,
        }],
        observers: vec![GenesisObserver {
            name: "o1".into(),
            org: Some("Bank A".into()),
            public_key: key(3),
            peer_id: None,
            certificate: None,
        }],
        balances: vec![(Address([7; 20]), 1_000_000), (Address([8; 20]), u128::from(u64::MAX) + 1)],
        params: ChainParams::default(),
    }
}

struct Writes(BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl StateView for Writes {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, fdl_schema::SchemaError> {
        Ok(self.0.get(key).cloned().flatten())
    }
}

#[test]
fn the_genesis_state_root_is_pinned() {
    let writes = genesis_writes(&genesis()).expect("genesis writes");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(RedbStore::open(&dir.path().join("db")).expect("store"));
    let state = StateDb::new(store, Suite::Intl);
    let root = state.prepare(&writes, 0).expect("root").root;
    assert_eq!(root.to_hex(), GENESIS_ROOT, "the genesis state root changed: was the schema changed on purpose?");
}

#[test]
fn every_genesis_value_decodes_through_its_slot() {
    let g = genesis();
    let w = Writes(genesis_writes(&g).expect("genesis writes"));
    assert_eq!(keys::issuer().require(&w), Ok(g.issuer));
    assert_eq!(keys::suite().require(&w), Ok(Suite::Intl));
    assert_eq!(keys::params().require(&w), Ok(ChainParams::default()));
    assert_eq!(keys::supply().require(&w), Ok(1_000_000 + u128::from(u64::MAX) + 1));
    assert_eq!(keys::members().require(&w), Ok(vec!["Bank A".to_string()]));
    assert_eq!(keys::regulator().require(&w), Ok("Bank A".to_string()));
    let nodes = keys::nodes().require(&w).expect("nodes");
    assert_eq!(nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["v1", "o1"]);
    let m = fdl_schema::read::member(&w, "Bank A").expect("read").expect("member");
    assert!(m.committee && !m.ca_cert.is_empty());
    for method in fdl_schema::METHODS {
        assert!(keys::acl(method).require(&w).is_ok(), "{method}");
    }
    for r in fdl_types::ReadResource::ALL {
        let want: Vec<String> = r.strict_default().iter().map(|s| s.to_string()).collect();
        assert_eq!(keys::read_policy(r).require(&w), Ok(want), "{r}");
    }
    assert_eq!(keys::account(&Address([7; 20])).require(&w).map(|a| a.balance), Ok(1_000_000));
}
