//! Canonical codec properties: every value round-trips, and arbitrary bytes never panic a decoder
//! (the property-test stand-in for the fuzz targets of STYLE.md 9).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite};
use fdl_types::{
    Block, BlockHeader, Commit, CommitSig, Decode, Encode, Event, Payload, Receipt, SignedTx, StatusCode, TxBody,
};
use proptest::prelude::*;

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<[u8; 20]>(), any::<u128>(), "[a-z ]{0,40}").prop_map(|(to, amount, memo)| Payload::Transfer {
            to: Address(to),
            amount,
            memo
        }),
        (any::<[u8; 20]>(), any::<u128>()).prop_map(|(to, amount)| Payload::Issue { to: Address(to), amount }),
        any::<u128>().prop_map(|amount| Payload::Burn { amount }),
    ]
}

fn signed(seed: [u8; 32], nonce: u64, expiry: u64, p: Payload) -> SignedTx {
    let k = KeyPair::ed25519_from_seed(&seed);
    TxBody {
        chain_id: "props".into(),
        signer: k.public_key(),
        credential: fdl_types::Credential::None,
        nonce,
        expiry_height: expiry,
        payload: p,
    }
    .sign(&k)
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tx_round_trips(seed in any::<[u8; 32]>(), nonce in any::<u64>(), expiry in any::<u64>(), p in payload()) {
        let tx = signed(seed, nonce, expiry, p);
        let back = SignedTx::decode(&tx.encode()).unwrap();
        prop_assert_eq!(&back, &tx);
        prop_assert!(back.verify().is_ok());
    }

    #[test]
    fn block_and_commit_round_trip(n in 0usize..4, height in any::<u64>(), ts in any::<u64>(), round in any::<u32>()) {
        let txs: Vec<_> = (0..n).map(|i| signed([i as u8; 32], i as u64, 9, Payload::Burn { amount: 1 })).collect();
        let header = BlockHeader {
            chain_id: "props".into(), height, parent_hash: Hash([1; 32]), timestamp_ms: ts, proposer: Address([2; 20]),
            tx_count: n as u32, tx_root: Block::compute_tx_root(Suite::Intl, &txs), state_root: Hash([3; 32]),
            receipts_root: Hash::ZERO,
        };
        let block = Block { header, txs };
        prop_assert_eq!(Block::decode(&block.encode()).unwrap(), block.clone());
        let k = KeyPair::ed25519_from_seed(&[9; 32]);
        let hash = block.header.hash(Suite::Intl);
        let sig = k.sign(&Commit::signing_bytes("props", height, round, &hash)).unwrap();
        let commit = Commit { height, round, block_hash: hash, signatures: vec![CommitSig { validator: k.public_key(), signature: sig }] };
        prop_assert_eq!(Commit::decode(&commit.encode()).unwrap(), commit);
    }

    #[test]
    fn receipt_round_trips(kind in "[a-z.]{1,20}", k in "[a-z]{0,10}", v in "[0-9]{0,10}", cost in any::<u64>()) {
        let r = Receipt { tx_id: Hash([5; 32]), status: StatusCode::InsufficientBalance, events: vec![Event { kind, attrs: vec![(k, v)] }], cost };
        prop_assert_eq!(Receipt::decode(&r.encode()).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = SignedTx::decode(&bytes);
        let _ = Block::decode(&bytes);
        let _ = BlockHeader::decode(&bytes);
        let _ = Commit::decode(&bytes);
        let _ = Receipt::decode(&bytes);
    }

    #[test]
    fn mutated_tx_never_panics_and_never_verifies_as_the_original(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let tx = signed([7; 32], 1, 2, Payload::Issue { to: Address([1; 20]), amount: 5 });
        let mut bytes = tx.encode();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(t) = SignedTx::decode(&bytes) {
            prop_assert!(t.verify().is_err(), "a mutated transaction verified");
        }
    }
}
