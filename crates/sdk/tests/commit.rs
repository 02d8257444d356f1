//! Commit certificates checked against a validator set: quorum by power, members only, no double
//! counting, valid signatures (STD-11.2).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use fdl_crypto::{Address, Hash, KeyPair, Signer, Suite};
use fdl_sdk::{ValidatorSet, verify_commit};
use fdl_types::{BlockHeader, Commit, CommitSig, api::CommitView};

fn header() -> BlockHeader {
    BlockHeader {
        chain_id: "c".into(),
        height: 7,
        parent_hash: Hash([1; 32]),
        timestamp_ms: 9,
        proposer: Address([2; 20]),
        tx_count: 0,
        tx_root: Hash::ZERO,
        state_root: Hash([3; 32]),
        receipts_root: Hash::ZERO,
    }
}

fn commit(h: &BlockHeader, suite: Suite, signers: &[&KeyPair]) -> CommitView {
    let hash = h.hash(suite);
    let msg = Commit::signing_bytes(&h.chain_id, h.height, 0, &hash);
    let signatures =
        signers.iter().map(|k| CommitSig { validator: k.public_key(), signature: k.sign(&msg).unwrap() }).collect();
    CommitView::new(&Commit { height: h.height, round: 0, block_hash: hash, signatures })
}

#[test]
fn quorum_membership_and_signatures() {
    for suite in [Suite::Sm, Suite::Intl] {
        let keys: Vec<KeyPair> = (0..4).map(|_| KeyPair::generate(suite)).collect();
        let set = ValidatorSet::new(keys.iter().map(|k| (k.public_key(), 10)).collect()).unwrap();
        let h = header();
        // 3 of 4 equal powers: 30 > 2/3 of 40.
        assert_eq!(verify_commit(&commit(&h, suite, &[&keys[0], &keys[1], &keys[2]]), &h, suite, &set).unwrap(), 30);
        // 2 of 4: exactly one half, not enough.
        let e = verify_commit(&commit(&h, suite, &[&keys[0], &keys[1]]), &h, suite, &set).unwrap_err();
        assert!(e.to_string().contains("two thirds"), "{e}");
        // The same validator twice does not count twice.
        let e = verify_commit(&commit(&h, suite, &[&keys[0], &keys[1], &keys[1]]), &h, suite, &set).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // A stranger's signature is refused even with a quorum beside it.
        let stranger = KeyPair::generate(suite);
        let e =
            verify_commit(&commit(&h, suite, &[&keys[0], &keys[1], &keys[2], &stranger]), &h, suite, &set).unwrap_err();
        assert!(e.to_string().contains("not a validator"), "{e}");
        // A certificate for another block (different height in the header) is refused.
        let mut other = h.clone();
        other.height = 8;
        assert!(verify_commit(&commit(&h, suite, &[&keys[0], &keys[1], &keys[2]]), &other, suite, &set).is_err());
        // A tampered signature is refused.
        let mut c = commit(&h, suite, &[&keys[0], &keys[1], &keys[2]]);
        let mut sig = hex::decode(&c.signatures[2].signature).unwrap();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        c.signatures[2].signature = hex::encode(sig);
        assert!(verify_commit(&c, &h, suite, &set).is_err());
        // Unequal powers: one validator with 70 of 100 is not enough alone; with another it is.
        let weighted = ValidatorSet::new(vec![(keys[0].public_key(), 66), (keys[1].public_key(), 34)]).unwrap();
        assert!(verify_commit(&commit(&h, suite, &[&keys[0]]), &h, suite, &weighted).is_err());
        assert_eq!(verify_commit(&commit(&h, suite, &[&keys[0], &keys[1]]), &h, suite, &weighted).unwrap(), 100);
    }
}

#[test]
fn malformed_sets_are_refused() {
    let k = KeyPair::generate(Suite::Sm);
    assert!(ValidatorSet::new(vec![]).is_err());
    assert!(ValidatorSet::new(vec![(k.public_key(), 0)]).is_err());
    assert!(ValidatorSet::new(vec![(k.public_key(), 1), (k.public_key(), 1)]).is_err());
    assert!(
        ValidatorSet::new(vec![(k.public_key(), u64::MAX), (KeyPair::generate(Suite::Sm).public_key(), 1)]).is_err()
    );
}

/// A node cannot show fields that differ from the signed bytes: every displayed header and
/// transaction field is checked against its encoding.
#[test]
fn displayed_fields_must_match_the_encodings() {
    use fdl_types::{Block, Payload, TxBody, api::BlockView};
    let suite = Suite::Sm;
    let v = KeyPair::generate(suite);
    let set = ValidatorSet::new(vec![(v.public_key(), 1)]).unwrap();
    let sender = KeyPair::generate(suite);
    let tx = TxBody {
        chain_id: "c".into(),
        signer: sender.public_key(),
        credential: fdl_types::Credential::None,
        nonce: 1,
        expiry_height: 9,
        payload: Payload::Transfer { to: Address([4; 20]), amount: 5, memo: String::new() },
    }
    .sign(&sender)
    .unwrap();
    let mut h = header();
    h.tx_count = 1;
    h.tx_root = Block::compute_tx_root(suite, std::slice::from_ref(&tx));
    let block = Block { header: h.clone(), txs: vec![tx] };
    let hash = h.hash(suite);
    let msg = Commit::signing_bytes(&h.chain_id, h.height, 0, &hash);
    let c = Commit {
        height: h.height,
        round: 0,
        block_hash: hash,
        signatures: vec![CommitSig { validator: v.public_key(), signature: v.sign(&msg).unwrap() }],
    };
    let good = BlockView::new(&block, Some(&c), suite);
    fdl_sdk::verify_block_view(&good, suite, &set).unwrap();

    let mut lying_amount = good.clone();
    lying_amount.txs[0].amount = "5000".into();
    assert!(fdl_sdk::verify_block_view(&lying_amount, suite, &set).is_err());
    let mut lying_header = good.clone();
    lying_header.header.timestamp_ms += 1;
    assert!(fdl_sdk::verify_block_view(&lying_header, suite, &set).is_err());
    let mut lying_root = good;
    lying_root.header.receipts_root = Hash([9; 32]);
    assert!(fdl_sdk::verify_block_view(&lying_root, suite, &set).is_err());
}
