//! The logic of FDL's fuzz targets, as plain functions: the `fuzz_targets/` binaries only call
//! them, so the logic builds and its unit tests run on stable Rust without libFuzzer.
//!
//! * [`sm2_verify_diff`]: the fast SM2 verifier (`fdl_crypto::sm2v`: uncached, with a key table,
//!   through the global cache, and `PublicKey::verify`) against RustCrypto `sm2` on arbitrary
//!   input; any disagreement panics.
//! * [`tx_decode`]: `SignedTx::decode` and `Block::decode` on arbitrary bytes must not panic, and
//!   what decodes must re-encode to the same bytes (the codec is canonical); signatures of decoded
//!   transactions get the same verdict from the fast and the reference verifier.
//! * [`consensus_codec`]: the consensus wire codec (`fdl_consensus::FdlCodec`) decodes arbitrary
//!   bytes as every message type it knows without panicking, and what decodes re-encodes to the
//!   same bytes; blocks inside messages go through [`tx_decode`].
//! * [`x509_crl`]: `fdl_pki`'s certificate and CRL parsing and verification on arbitrary bytes as
//!   the certificate, the CA and the CRL never panic; what verifies agrees with what parses.
//! * [`contract`]: arbitrary bytes as a contract module and a call's arguments, deployed directly
//!   and called through `execute_block`, never panic; a failed deploy or call writes nothing of
//!   the contract's; a call is deterministic.

mod consensus;
mod contract;
mod pki;

pub use consensus::consensus_codec;
pub use contract::contract;
pub use pki::x509_crl;

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

/// Every target, by name (the `fuzz_targets/` binaries and `corpus/` directories).
pub const TARGETS: [&str; 5] = ["sm2_verify_diff", "tx_decode", "consensus_codec", "x509_crl", "contract"];

/// Runs the target called `target` on `data`.
///
/// # Panics
/// When the target finds a fault, or for an unknown target name.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "sm2_verify_diff" => sm2_verify_diff(data),
        "tx_decode" => tx_decode(data),
        "consensus_codec" => consensus_codec(data),
        "x509_crl" => x509_crl(data),
        "contract" => contract(data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Seed inputs for every target (valid keys, signatures, transactions, blocks, consensus
/// messages, certificates and CRLs, contract modules and arguments), written to
/// `corpus/<target>/` by the ignored test `write_seed_corpus`.
pub fn seed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    use fdl_crypto::{KeyPair, Signer as _};

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
    let (txs, block) = seed_txs_and_block();
    out.extend(txs.into_iter().map(|tx| ("tx_decode", tx)));
    out.push(("tx_decode", block));
    out.extend(consensus::seeds().into_iter().map(|s| ("consensus_codec", s)));
    out.extend(pki::seeds().into_iter().map(|s| ("x509_crl", s)));
    out.extend(contract::seeds().into_iter().map(|s| ("contract", s)));
    out
}

/// An encoded block of two transactions (SM2 and Ed25519), as the consensus seeds carry.
fn seed_block() -> Vec<u8> {
    seed_txs_and_block().1
}

/// Two encoded transactions (SM2 and Ed25519) and an encoded block of both.
fn seed_txs_and_block() -> (Vec<Vec<u8>>, Vec<u8>) {
    use fdl_crypto::{Address, Hash, KeyPair, Signer as _};
    use fdl_types::{BlockHeader, Payload, TxBody};

    let kp = KeyPair::sm2_from_scalar(&[0x42; 32]).expect("valid scalar");
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
    (txs.iter().map(|tx| tx.encode()).collect(), Block { header, txs }.encode())
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

    fn hex(d: &[u8]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A deterministic mutation of `seed`: one (half the time) to three of a bit flip, an
    /// interesting byte, an interesting big-endian `u32` (the codecs' length prefix), a
    /// truncation, a deletion, an insertion of random bytes, a duplicated range, and a splice
    /// with `other`.
    fn mutate(seed: &[u8], other: &[u8], rng: &mut u64) -> Vec<u8> {
        fn pick(rng: &mut u64, n: usize) -> usize {
            (xorshift(rng) as usize) % n.max(1)
        }
        let mut m = seed.to_vec();
        for _ in 0..[1, 1, 2, 3][pick(rng, 4)] {
            match xorshift(rng) % 8 {
                0 if !m.is_empty() => {
                    let i = pick(rng, m.len());
                    m[i] ^= 1 << (xorshift(rng) % 8);
                }
                1 if !m.is_empty() => {
                    let i = pick(rng, m.len());
                    m[i] = [0, 1, 2, 0x7f, 0x80, 0xfe, 0xff][pick(rng, 7)];
                }
                2 if m.len() >= 4 => {
                    let i = pick(rng, m.len() - 3);
                    let rest = (m.len() - i - 4) as u32;
                    let v = [0, 1, rest, rest.wrapping_add(1), rest.wrapping_sub(1), u32::MAX][pick(rng, 6)];
                    m[i..i + 4].copy_from_slice(&v.to_be_bytes());
                }
                3 => {
                    let n = pick(rng, m.len() + 1);
                    m.truncate(n);
                }
                4 if !m.is_empty() => {
                    let i = pick(rng, m.len());
                    let n = 1 + pick(rng, 16.min(m.len() - i));
                    m.drain(i..i + n);
                }
                5 => {
                    let i = pick(rng, m.len() + 1);
                    let bytes: Vec<u8> = (0..1 + pick(rng, 8)).map(|_| xorshift(rng) as u8).collect();
                    m.splice(i..i, bytes);
                }
                6 if !m.is_empty() => {
                    let i = pick(rng, m.len());
                    let chunk = m[i..i + 1 + pick(rng, 32.min(m.len() - i))].to_vec();
                    let j = pick(rng, m.len() + 1);
                    m.splice(j..j, chunk);
                }
                _ => {
                    let (i, j) = (pick(rng, m.len() + 1), pick(rng, other.len() + 1));
                    m.truncate(i);
                    m.extend_from_slice(&other[j..]);
                }
            }
        }
        m
    }

    /// Runs `target` on its seeds, some truncations of each, and `mutations` deterministic
    /// mutations spread over the seeds. A failing input is printed in hex before the panic goes
    /// on (the seeds of `x509_crl` differ from run to run: certificates get fresh serials and
    /// validity periods).
    fn exercise(target: &str, mutations: usize) {
        let seeds: Vec<Vec<u8>> = seed_inputs().into_iter().filter(|(t, _)| *t == target).map(|(_, s)| s).collect();
        assert!(!seeds.is_empty(), "{target} has seeds");
        let check = |d: &[u8]| {
            if let Err(e) = std::panic::catch_unwind(|| run(target, d)) {
                eprintln!("{target} failed on input {}", hex(d));
                std::panic::resume_unwind(e);
            }
        };
        for seed in &seeds {
            check(seed);
            for cut in [0, 1, seed.len() / 2, seed.len().saturating_sub(1)] {
                check(&seed[..cut]);
            }
        }
        let mut rng = 0x1234_5678_u64;
        for k in 0..mutations {
            let other = &seeds[(xorshift(&mut rng) as usize) % seeds.len()];
            check(&mutate(&seeds[k % seeds.len()], other, &mut rng));
        }
    }

    #[test]
    fn sm2_verify_diff_passes_its_seeds_and_mutations() {
        exercise("sm2_verify_diff", 300);
    }

    #[test]
    fn tx_decode_passes_its_seeds_and_mutations() {
        exercise("tx_decode", 5_000);
    }

    #[test]
    fn consensus_codec_passes_its_seeds_and_mutations() {
        exercise("consensus_codec", 20_000);
    }

    #[test]
    fn x509_crl_passes_its_seeds_and_mutations() {
        exercise("x509_crl", 10_000);
    }

    #[test]
    fn contract_passes_its_seeds_and_mutations() {
        exercise("contract", 10_000);
    }

    /// The seeds reach what the target is for: deploys that succeed and are rejected, and calls
    /// that succeed, fail, run out of fuel and are refused.
    #[test]
    fn contract_seeds_deploy_and_call() {
        use fdl_types::StatusCode as S;
        let outcomes: Vec<_> = contract::seeds().iter().map(|s| contract::outcome(s)).collect();
        for expected in [
            (S::ContractRejected, None),
            (S::Ok, Some(S::Ok)),
            (S::Ok, Some(S::ContractFailed)),
            (S::Ok, Some(S::OutOfFuel)),
            (S::Ok, Some(S::UnknownMethod)),
        ] {
            assert!(outcomes.contains(&expected), "no seed gives {expected:?}: {outcomes:?}");
        }
        assert_eq!(contract::split(&contract::input(b"mod", 7, b"args")), (&b"mod"[..], 7, &b"args"[..]));
        assert_eq!(contract::split(b"\x05\0ab"), (&b"ab"[..], 0, &b""[..]));
    }

    /// Every target has seeds, a `fuzz_targets/` binary, a `[[bin]]` entry and a row in the
    /// README's table; and every seed is for a known target.
    #[test]
    fn every_target_is_wired_up() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |f: &str| std::fs::read_to_string(root.join(f)).expect("read");
        let (manifest, readme) = (read("Cargo.toml"), read("README.md"));
        let seeds = seed_inputs();
        for target in TARGETS {
            assert!(seeds.iter().any(|(t, _)| *t == target), "{target} has seeds");
            let bin = read(&format!("fuzz_targets/{target}.rs"));
            assert!(bin.contains(&format!("fdl_fuzz::{target}(data)")), "fuzz_targets/{target}.rs calls it");
            assert!(manifest.contains(&format!("name = \"{target}\"")), "Cargo.toml has a [[bin]] {target}");
            assert!(readme.contains(&format!("| `{target}` |")), "README.md's table lists {target}");
        }
        assert!(seeds.iter().all(|(t, _)| TARGETS.contains(t)));
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
                for target in TARGETS {
                    run(target, &data);
                }
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
