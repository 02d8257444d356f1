//! The logic of FDL's fuzz targets, as plain functions: the `fuzz_targets/` binaries only call
//! them, so the logic builds and its unit tests run on stable Rust without libFuzzer.
//!
//! * [`sm2_verify_diff`]: the fast SM2 verifier (`fdl_crypto::sm2v`: uncached, with a key table,
//!   through the global cache, and `PublicKey::verify`) against RustCrypto `sm2` on arbitrary
//!   input; any disagreement panics.
//! * [`tx_decode`]: `SignedTx::decode` and `Block::decode` on arbitrary bytes must not panic, and
//!   what decodes must re-encode to the same bytes (the codec is canonical); signatures of decoded
//!   transactions get the same verdict from the fast and the reference verifier.

use fdl_crypto::{
    PublicKey, SM2_DEFAULT_DISTID, Suite,
    sm2v::{self, FastKey, KeyTable},
};
use fdl_types::{Block, Decode as _, Encode as _, SignedTx};
use sm2::{
    FieldBytes, ProjectivePoint, Scalar,
    dsa::signature::{Verifier as _, hazmat::PrehashVerifier as _},
    elliptic_curve::{Group as _, PrimeField as _, ops::Reduce, point::AffineCoordinates as _},
};

/// The SM2 group order n, big-endian.
const N_BE: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x72, 0x03, 0xDF,
    0x6B, 0x21, 0xC6, 0x05, 0x2B, 0x53, 0xBB, 0xF4, 0x09, 0x39, 0xD5, 0x41, 0x23,
];

fn reduce(bytes: &[u8; 32]) -> Scalar {
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*bytes))
}

fn to_bytes(x: &Scalar) -> [u8; 32] {
    x.to_repr().into()
}

fn sec1(point: &ProjectivePoint) -> [u8; 65] {
    let pk = sm2::PublicKey::from_affine(point.to_affine()).expect("not the identity");
    pk.to_sec1_bytes().as_ref().try_into().expect("65 bytes")
}

/// `a + b` on 256-bit big-endian numbers, `None` on overflow.
fn add_be(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    (carry == 0).then_some(out)
}

/// Splits `key (65) || r (32) || s (32) || message` and checks, for the key as given and for a
/// valid key derived from its bytes, that every fast path agrees with RustCrypto; then checks a
/// valid signature made from (r, s) over a chosen digest, and variants of it.
pub fn sm2_verify_diff(data: &[u8]) {
    let Some((key, rest)) = data.split_first_chunk::<65>() else { return };
    let Some((r, rest)) = rest.split_first_chunk::<32>() else { return };
    let Some((s, msg)) = rest.split_first_chunk::<32>() else { return };

    // The key bytes as given: almost always invalid, and then both must refuse.
    compare(key, msg, r, s);

    // A valid key derived from the same bytes (d = x mod n), so that the fuzzer reaches the
    // signature checks whatever the first 65 bytes are.
    let mut xb = [0u8; 32];
    xb.copy_from_slice(&key[1..33]);
    let d = reduce(&xb);
    if bool::from(d.is_zero()) {
        return;
    }
    let point = ProjectivePoint::generator() * d;
    let derived = sec1(&point);
    compare(&derived, msg, r, s);
    forged(&derived, &point, msg, r, s);
}

/// The fast verifier's verdicts on (key, msg, r, s) equal RustCrypto's, and both parsers agree
/// on the key.
fn compare(key: &[u8], msg: &[u8], r: &[u8; 32], s: &[u8; 32]) {
    let fast_key = FastKey::from_sec1(key);
    let rc_key = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, key);
    let fdl_key = PublicKey::from_bytes(Suite::Sm, key);
    assert_eq!(fast_key.is_ok(), rc_key.is_ok(), "key validity: FastKey {:?} vs RustCrypto", fast_key.as_ref().err());
    assert_eq!(fast_key.is_ok(), fdl_key.is_ok(), "key validity: FastKey vs PublicKey::from_bytes");
    let sig = sm2::dsa::Signature::from_scalars(*r, *s).ok();
    let reference = match (&rc_key, &sig) {
        (Ok(vk), Some(sig)) => vk.verify(msg, sig).is_ok(),
        _ => false,
    };
    assert_eq!(sm2v::verify_uncached(key, msg, r, s), reference, "verify_uncached vs RustCrypto");
    assert_eq!(sm2v::verify(key, msg, r, s), reference, "verify (cache) vs RustCrypto");
    let (Ok(fk), Ok(vk), Ok(pk)) = (fast_key, rc_key, fdl_key) else { return };
    let table = KeyTable::build(&fk);
    let e = fk.digest(msg);
    assert_eq!(sm2v::verify_prehash(&fk, &e, r, s), reference, "verify_prehash vs RustCrypto");
    assert_eq!(sm2v::verify_prehash_with_table(&table, &e, r, s), reference, "verify_prehash_with_table vs RustCrypto");
    if let Some(sig) = &sig {
        let der = fdl_crypto::Signature::from_bytes(Suite::Sm, sig.to_der().as_bytes()).expect("canonical DER");
        assert_eq!(pk.verify(msg, &der).is_ok(), reference, "PublicKey::verify vs RustCrypto");
        assert_eq!(pk.verify_reference(msg, &der).is_ok(), reference, "PublicKey::verify_reference");
    }
    // The message's first 32 bytes as a raw digest: any e, e >= n included.
    if let Some(raw) = msg.first_chunk::<32>() {
        let reference = sig.as_ref().is_some_and(|sig| vk.verify_prehash(raw, sig).is_ok());
        assert_eq!(sm2v::verify_prehash(&fk, raw, r, s), reference, "raw digest: verify_prehash");
        assert_eq!(sm2v::verify_prehash_with_table(&table, raw, r, s), reference, "raw digest: with table");
    }
}

/// (r mod n, s mod n) made valid for `key` over e = r - x(sG + tP) mod n: accepted by all, also
/// under e + n when that fits in 32 bytes; refused with a bit of e flipped.
fn forged(key: &[u8; 65], point: &ProjectivePoint, msg: &[u8], r: &[u8; 32], s: &[u8; 32]) {
    let (r, s) = (reduce(r), reduce(s));
    let t = r + s;
    if bool::from(r.is_zero() | s.is_zero() | t.is_zero()) {
        return;
    }
    let big_r = ProjectivePoint::generator() * s + *point * t;
    if bool::from(big_r.is_identity()) {
        return;
    }
    let e = r - reduce(&big_r.to_affine().x().into());
    let (rb, sb, eb) = (to_bytes(&r), to_bytes(&s), to_bytes(&e));
    let fk = FastKey::from_sec1(key).expect("derived keys are valid");
    let table = KeyTable::build(&fk);
    let vk = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, key).expect("derived keys are valid");
    let sig = sm2::dsa::Signature::from_scalars(rb, sb).expect("r, s in range");
    let check = |e: &[u8; 32], expected: bool, what: &str| {
        let reference = vk.verify_prehash(e, &sig).is_ok();
        let fast = sm2v::verify_prehash(&fk, e, &rb, &sb);
        let with_table = sm2v::verify_prehash_with_table(&table, e, &rb, &sb);
        assert_eq!(
            (fast, with_table, reference),
            (expected, expected, expected),
            "forged signature, {what}: (fast, table, RustCrypto)"
        );
    };
    check(&eb, true, "valid");
    if let Some(e_plus_n) = add_be(&eb, &N_BE) {
        check(&e_plus_n, true, "e + n");
    }
    let bit = msg.first().map_or(0, |b| usize::from(*b));
    let mut flipped = eb;
    flipped[bit / 8] ^= 1 << (bit % 8);
    check(&flipped, false, "a bit of e flipped");
}

/// Decodes `data` as a transaction and as a block: no panic, canonical re-encoding, and the
/// same signature verdicts from the fast and the reference verifier.
pub fn tx_decode(data: &[u8]) {
    if let Ok(tx) = SignedTx::decode(data) {
        assert_eq!(tx.encode(), data, "a decoded transaction re-encodes to the same bytes");
        let _ = (tx.id(), tx.sender());
        check_tx_signature(&tx);
    }
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode(), data, "a decoded block re-encodes to the same bytes");
        for suite in [Suite::Sm, Suite::Intl] {
            let _ = (block.header.hash(suite), Block::compute_tx_root(suite, &block.txs));
        }
        for tx in &block.txs {
            check_tx_signature(tx);
        }
    }
}

fn check_tx_signature(tx: &SignedTx) {
    let bytes = tx.body.signing_bytes();
    let fast = tx.body.signer.verify(&bytes, &tx.signature).is_ok();
    let reference = tx.body.signer.verify_reference(&bytes, &tx.signature).is_ok();
    assert_eq!(fast, reference, "transaction signature: fast vs reference");
    assert_eq!(tx.verify().is_ok(), fast, "SignedTx::verify");
}

/// Seed inputs for both targets (valid keys, signatures, transactions and blocks), written to
/// `corpus/<target>/` by the ignored test `write_seed_corpus`.
pub fn seed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    use fdl_crypto::{Address, Hash, KeyPair, Signer as _};
    use fdl_types::{BlockHeader, Payload, TxBody};

    let mut out = Vec::new();
    let kp = KeyPair::sm2_from_scalar(&[0x42; 32]).expect("valid scalar");
    let pk = kp.public_key();
    for msg in [&b""[..], b"abc", &[0x5a; 40]] {
        let der = kp.sign(msg).expect("sign");
        let sig = sm2::dsa::Signature::from_der(der.as_bytes()).expect("DER");
        let mut input = pk.to_bytes();
        input.extend_from_slice(&sig.r_bytes());
        input.extend_from_slice(&sig.s_bytes());
        input.extend_from_slice(msg);
        out.push(("sm2_verify_diff", input));
    }
    let mut txs = Vec::new();
    for (i, kp) in [kp, KeyPair::ed25519_from_seed(&[7; 32])].iter().enumerate() {
        let tx = TxBody {
            chain_id: "fuzz".into(),
            signer: kp.public_key(),
            credential: fdl_types::Credential::None,
            nonce: i as u64,
            expiry_height: 100,
            payload: Payload::Transfer { to: Address([9; 20]), amount: 1000, memo: "seed".into() },
        }
        .sign(kp)
        .expect("sign");
        out.push(("tx_decode", tx.encode()));
        txs.push(tx);
    }
    let header = BlockHeader {
        chain_id: "fuzz".into(),
        height: 3,
        parent_hash: Hash([1; 32]),
        timestamp_ms: 1_700_000_000_000,
        proposer: Address([2; 20]),
        tx_count: txs.len() as u32,
        tx_root: Block::compute_tx_root(Suite::Sm, &txs),
        state_root: Hash([3; 32]),
        receipts_root: Hash::ZERO,
    };
    out.push(("tx_decode", Block { header, txs }.encode()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    #[test]
    fn seeds_and_their_mutations_pass_both_targets() {
        let seeds = seed_inputs();
        assert!(seeds.iter().any(|(t, _)| *t == "sm2_verify_diff"));
        let mut rng = 0x1234_5678_u64;
        for (target, seed) in &seeds {
            let run = |d: &[u8]| if *target == "sm2_verify_diff" { sm2_verify_diff(d) } else { tx_decode(d) };
            run(seed);
            for cut in [0, 1, seed.len() / 2, seed.len().saturating_sub(1)] {
                run(&seed[..cut]);
            }
            for _ in 0..40 {
                let mut m = seed.clone();
                let i = (xorshift(&mut rng) as usize) % m.len();
                m[i] ^= 1 << (xorshift(&mut rng) % 8);
                run(&m);
            }
        }
    }

    #[test]
    fn decoded_seed_transactions_verify() {
        for (target, seed) in seed_inputs() {
            if target == "tx_decode"
                && let Ok(tx) = SignedTx::decode(&seed)
            {
                assert!(tx.verify().is_ok());
            }
        }
    }

    #[test]
    fn random_inputs() {
        let mut rng = 0xfeed_u64;
        for len in [0usize, 64, 128, 129, 130, 161, 200] {
            for _ in 0..5 {
                let data: Vec<u8> = (0..len).map(|_| xorshift(&mut rng) as u8).collect();
                sm2_verify_diff(&data);
                tx_decode(&data);
            }
        }
    }

    #[test]
    #[ignore = "writes corpus/<target>/seed-* for cargo fuzz"]
    fn write_seed_corpus() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        for (i, (target, data)) in seed_inputs().into_iter().enumerate() {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).expect("create corpus dir");
            std::fs::write(dir.join(format!("seed-{i}")), data).expect("write seed");
        }
    }
}
