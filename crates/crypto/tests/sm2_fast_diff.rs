//! Differential tests of the fast, variable-time SM2 verifier (`fdl_crypto::sm2v`) against the
//! reference, RustCrypto `sm2` 0.14 (`VerifyingKey::verify_prehash`).
//!
//! Every input is checked three ways: `sm2v::verify_prehash` (the new-key wNAF path),
//! `sm2v::verify_prehash_with_table` (the cached-key path) and RustCrypto; all three verdicts must
//! agree, and signatures known to be valid must be accepted.
//!
//! * Random: 100,000 valid signatures (RustCrypto's deterministic RFC 6979 signer over keys and
//!   messages drawn from a seeded generator) and one corrupted variant of each (a bit of r, s, e or
//!   the message flipped, another key, r+1, s+1, r and s swapped, s = n - r, foreign r, ...), split
//!   over four tests that run in parallel. `random_signatures_long` (ignored) runs 2,000,000 cases;
//!   `SM2V_DIFF_CASES` and `SM2V_DIFF_SEED` override its size and seed. A failure names the seed
//!   and case, so it reproduces.
//! * Crafted inputs random testing never reaches: x1 in [n, p) (the verifier must compare against
//!   `v + n`), x1 small (both `v` and `v + n` below p), e >= n, s = n - r (t = 0), r and s at 0, 1,
//!   n-1, n, p, 2^256-1, R at infinity, and additions that hit P = Q / P = -Q inside `s·G + t·P`.
//!   Valid signatures over a chosen digest are made without a private key: for any (r, s) and key P,
//!   R = sG + (r+s)P and e = r - x(R) mod n.
//! * Invalid public keys (off the curve, coordinates >= p, the identity, other encodings, wrong
//!   lengths) are refused by `FastKey::from_sec1`, `PublicKey::from_bytes` and RustCrypto alike.
//! * Signatures made by the OpenSSL 3 command line verify through the fast path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use fdl_crypto::{
    PublicKey, SM2_DEFAULT_DISTID, Signature, Suite,
    sm2v::{self, FastKey, KeyError, KeyTable},
};
use num_bigint::BigUint;
use sm2::{
    FieldBytes, ProjectivePoint, Scalar,
    dsa::signature::{
        Signer as _, Verifier as _,
        hazmat::{PrehashSigner as _, PrehashVerifier as _},
    },
    elliptic_curve::{Group as _, ops::Reduce},
};

// ---------------------------------------------------------------------------------------------
// Numbers, points and keys
// ---------------------------------------------------------------------------------------------

/// The group order n.
const N_HEX: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123";
/// The field prime p.
const P_HEX: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF";
/// The curve's b (a = -3).
const B_HEX: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";

fn hex_big(h: &str) -> BigUint {
    BigUint::parse_bytes(h.as_bytes(), 16).expect("hex constant")
}

fn n() -> &'static BigUint {
    static V: OnceLock<BigUint> = OnceLock::new();
    V.get_or_init(|| hex_big(N_HEX))
}

fn p() -> &'static BigUint {
    static V: OnceLock<BigUint> = OnceLock::new();
    V.get_or_init(|| hex_big(P_HEX))
}

fn two_256_minus_1() -> BigUint {
    (BigUint::from(1u8) << 256u32) - 1u8
}

fn big(b: &[u8]) -> BigUint {
    BigUint::from_bytes_be(b)
}

/// Big-endian, left-padded to 32 bytes (panics above 2^256 - 1).
fn be32(x: &BigUint) -> [u8; 32] {
    let v = x.to_bytes_be();
    assert!(v.len() <= 32, "{x:x} does not fit 32 bytes");
    let mut out = [0u8; 32];
    out[32 - v.len()..].copy_from_slice(&v);
    out
}

/// `(a - b) mod n`.
fn sub_n(a: &BigUint, b: &BigUint) -> BigUint {
    (a % n() + n() - b % n()) % n()
}

/// `-a mod n`.
fn neg_n(a: &BigUint) -> BigUint {
    sub_n(&BigUint::from(0u8), a)
}

/// `a^-1 mod n` (a not a multiple of n).
fn inv_n(a: &BigUint) -> BigUint {
    (a % n()).modpow(&(n() - 2u8), n())
}

fn scalar(x: &BigUint) -> Scalar {
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(be32(&(x % n()))))
}

fn mul_g(k: &BigUint) -> ProjectivePoint {
    ProjectivePoint::generator() * scalar(k)
}

/// SEC1 uncompressed encoding of a non-identity point.
fn sec1_of(pt: &ProjectivePoint) -> [u8; 65] {
    let pk = sm2::PublicKey::from_affine(pt.to_affine()).expect("not the identity");
    pk.to_sec1_bytes().as_ref().try_into().expect("65 bytes")
}

fn x_of(pt: &ProjectivePoint) -> BigUint {
    big(&sec1_of(pt)[1..33])
}

fn encode_xy(x: &BigUint, y: &BigUint) -> [u8; 65] {
    let mut out = [4u8; 65];
    out[1..33].copy_from_slice(&be32(x));
    out[33..65].copy_from_slice(&be32(y));
    out
}

/// The point `(x, y)` with `y` even, if `x < p` is the abscissa of a curve point.
fn lift_x(x: &BigUint) -> Option<(BigUint, BigUint)> {
    let p = p();
    let rhs = (x.modpow(&BigUint::from(3u8), p) + p * 3u8 - (x * 3u8) % p + hex_big(B_HEX)) % p;
    // p ≡ 3 (mod 4): a square root is rhs^((p+1)/4).
    let y = rhs.modpow(&((p + 1u8) >> 2u32), p);
    if (&y * &y) % p != rhs {
        return None;
    }
    let y = if y.bit(0) { p - &y } else { y };
    Some((x.clone(), y))
}

/// The first `count` curve points with x = start, start+1, ... (as long as x < p).
fn points_from_x(start: &BigUint, count: usize) -> Vec<ProjectivePoint> {
    let mut out = Vec::new();
    let mut x = start.clone();
    while out.len() < count && &x < p() {
        if let Some((x, y)) = lift_x(&x) {
            out.push(sm2::PublicKey::from_sec1_bytes(&encode_xy(&x, &y)).expect("on the curve").to_projective());
        }
        x += 1u8;
    }
    out
}

/// The last `count` curve points with x = p-1, p-2, ...
fn points_below_p(count: usize) -> Vec<ProjectivePoint> {
    let mut out = Vec::new();
    let mut x = p() - 1u8;
    while out.len() < count {
        if let Some((x, y)) = lift_x(&x) {
            out.push(sm2::PublicKey::from_sec1_bytes(&encode_xy(&x, &y)).expect("on the curve").to_projective());
        }
        x -= 1u8;
    }
    out
}

/// SplitMix64: a small deterministic generator, so every case reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
    }

    fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }

    /// Uniform-ish in [1, n-1].
    fn scalar(&mut self) -> BigUint {
        loop {
            let x = big(&self.bytes32()) % n();
            if x != BigUint::from(0u8) {
                return x;
            }
        }
    }
}

/// A public key in all the forms the tests need, with its private key when known.
struct TestKey {
    sk: Option<sm2::dsa::SigningKey>,
    vk: sm2::dsa::VerifyingKey,
    sec1: [u8; 65],
    fast: FastKey,
    table: KeyTable,
}

impl TestKey {
    fn from_scalar(d: &BigUint) -> TestKey {
        let sk = sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_DISTID, &be32(d)).expect("scalar in [1, n-1]");
        let mut key = TestKey::from_sec1(&sk.verifying_key().to_sec1_bytes());
        key.sk = Some(sk);
        key
    }

    fn from_point(pt: &ProjectivePoint) -> TestKey {
        TestKey::from_sec1(&sec1_of(pt))
    }

    fn from_sec1(bytes: &[u8]) -> TestKey {
        let vk =
            sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, bytes).expect("RustCrypto accepts the key");
        let fast = FastKey::from_sec1(bytes).expect("the fast verifier accepts the key");
        let table = KeyTable::build(&fast);
        TestKey { sk: None, vk, sec1: bytes.try_into().expect("65 bytes"), fast, table }
    }

    fn random(rng: &mut Rng) -> TestKey {
        TestKey::from_scalar(&rng.scalar())
    }

    fn sk(&self) -> &sm2::dsa::SigningKey {
        self.sk.as_ref().expect("a key with a known private key")
    }

    fn point(&self) -> ProjectivePoint {
        sm2::PublicKey::from_sec1_bytes(&self.sec1).expect("valid").to_projective()
    }

    fn public_key(&self) -> PublicKey {
        PublicKey::from_bytes(Suite::Sm, &self.sec1).expect("valid")
    }
}

/// RustCrypto's verdict: the signature must parse (r, s in [1, n-1]) and verify over `e`.
fn reference_verdict(vk: &sm2::dsa::VerifyingKey, e: &[u8; 32], r: &[u8; 32], s: &[u8; 32]) -> bool {
    match sm2::dsa::Signature::from_scalars(*r, *s) {
        Ok(sig) => vk.verify_prehash(e, &sig).is_ok(),
        Err(_) => false,
    }
}

/// Checks that the two fast paths agree with RustCrypto (and with `expected`, when given), and
/// returns the verdict. Panics with the inputs and `ctx()` otherwise.
fn check(
    key: &TestKey,
    e: &[u8; 32],
    r: &[u8; 32],
    s: &[u8; 32],
    expected: Option<bool>,
    ctx: &dyn Fn() -> String,
) -> bool {
    let fast = sm2v::verify_prehash(&key.fast, e, r, s);
    let table = sm2v::verify_prehash_with_table(&key.table, e, r, s);
    let reference = reference_verdict(&key.vk, e, r, s);
    if fast != reference || table != reference || expected.is_some_and(|x| x != reference) {
        panic!(
            "verdicts differ ({}): fast (uncached) = {fast}, fast (table) = {table}, RustCrypto = {reference}, \
             expected = {expected:?}\n  key = {}\n  e   = {}\n  r   = {}\n  s   = {}",
            ctx(),
            hex::encode(key.sec1),
            hex::encode(e),
            hex::encode(r),
            hex::encode(s),
        );
    }
    reference
}

/// Checks the message-level entry points on one input: `sm2v::verify_uncached`, `sm2v::verify`
/// (cached), `PublicKey::verify` / `verify_reference` (DER, when r and s are in range) and
/// RustCrypto's `Verifier::verify`.
fn check_message_apis(key: &TestKey, msg: &[u8], r: &[u8; 32], s: &[u8; 32], expected: bool, ctx: &dyn Fn() -> String) {
    let ctx = || format!("{} (message APIs, msg = {})", ctx(), hex::encode(msg));
    assert_eq!(sm2v::verify_uncached(&key.sec1, msg, r, s), expected, "verify_uncached: {}", ctx());
    assert_eq!(sm2v::verify(&key.sec1, msg, r, s), expected, "sm2v::verify: {}", ctx());
    if let Ok(sig) = sm2::dsa::Signature::from_scalars(*r, *s) {
        assert_eq!(key.vk.verify(msg, &sig).is_ok(), expected, "RustCrypto Verifier::verify: {}", ctx());
        let der = Signature::from_bytes(Suite::Sm, sig.to_der().as_bytes()).expect("canonical DER");
        let pk = key.public_key();
        assert_eq!(pk.verify(msg, &der).is_ok(), expected, "PublicKey::verify: {}", ctx());
        assert_eq!(pk.verify_reference(msg, &der).is_ok(), expected, "PublicKey::verify_reference: {}", ctx());
    }
}

/// For a key P and chosen r, s (t = r + s mod n), the prehash e that makes (r, s) a valid
/// signature: R = sG + tP, e = r - x(R) mod n. `None` when R is the point at infinity.
fn forge(key: &TestKey, r: &BigUint, s: &BigUint) -> Option<[u8; 32]> {
    let t = (r + s) % n();
    let big_r = mul_g(s) + key.point() * scalar(&t);
    if bool::from(big_r.is_identity()) {
        return None;
    }
    Some(be32(&sub_n(r, &x_of(&big_r))))
}

fn add_bytes(x: &[u8; 32], k: u8) -> [u8; 32] {
    be32(&((big(x) + k) % (two_256_minus_1() + 1u8)))
}

fn flip_bit(x: &[u8; 32], bit: usize) -> [u8; 32] {
    let mut y = *x;
    y[bit / 8] ^= 1 << (bit % 8);
    y
}

// ---------------------------------------------------------------------------------------------
// Random valid and corrupted signatures
// ---------------------------------------------------------------------------------------------

/// How many ways a valid signature is corrupted (one per case, in turn).
const VARIANTS: usize = 13;

#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    corrupted: usize,
    message_api_checks: usize,
    sign_retries: usize,
}

/// `cases` valid signatures by 16 keys derived from `seed`, each followed by one corrupted
/// variant; every verdict compared three ways.
fn random_differential(seed: u64, cases: usize) -> Tally {
    let mut rng = Rng::new(seed);
    let keys: Vec<TestKey> = (0..16).map(|_| TestKey::random(&mut rng)).collect();
    let mut tally = Tally::default();
    let mut prev: Option<([u8; 32], [u8; 32])> = None;
    for case in 0..cases {
        let ki = rng.below(keys.len());
        let key = &keys[ki];
        let mut msg = vec![0u8; rng.below(100)];
        rng.fill(&mut msg);
        let sig = loop {
            // RFC 6979 in `sm2` 0.14 gives up (rarely) instead of retrying: vary the message.
            match key.sk().try_sign(&msg) {
                Ok(sig) => break sig,
                Err(_) => {
                    tally.sign_retries += 1;
                    msg.push(0);
                }
            }
        };
        let (r, s): ([u8; 32], [u8; 32]) = (sig.r_bytes().into(), sig.s_bytes().into());
        let e = key.fast.digest(&msg);
        let ctx = |what: &str| format!("seed {seed:#x}, case {case}, key {ki}: {what}");
        check(key, &e, &r, &s, Some(true), &|| ctx("valid"));
        tally.valid += 1;
        let api_check = case % 64 == 0;
        if api_check {
            check_message_apis(key, &msg, &r, &s, true, &|| ctx("valid"));
            tally.message_api_checks += 1;
        }

        let variant = case % VARIANTS;
        let mut ck = key;
        let (mut ce, mut cr, mut cs) = (e, r, s);
        let mut cmsg = Some(msg.clone());
        let what = match variant {
            0 => {
                cr = flip_bit(&r, rng.below(256));
                "bit of r flipped"
            }
            1 => {
                cs = flip_bit(&s, rng.below(256));
                "bit of s flipped"
            }
            2 => {
                ce = flip_bit(&e, rng.below(256));
                cmsg = None;
                "bit of e flipped"
            }
            3 => {
                ck = &keys[(ki + 1 + rng.below(keys.len() - 1)) % keys.len()];
                ce = ck.fast.digest(&msg);
                "verified under another key"
            }
            4 => {
                let mut m = msg.clone();
                if m.is_empty() || rng.below(4) == 0 {
                    m.push(rng.below(256) as u8);
                } else {
                    let i = rng.below(m.len());
                    m[i] ^= 1 << rng.below(8);
                }
                ce = key.fast.digest(&m);
                cmsg = Some(m);
                "message changed"
            }
            5 => {
                cr = add_bytes(&r, 1);
                "r + 1"
            }
            6 => {
                cs = add_bytes(&s, 1);
                "s + 1"
            }
            7 => {
                (cr, cs) = (s, r);
                "r and s swapped"
            }
            8 => {
                cs = be32(&(n() - big(&r)));
                "s = n - r (t = 0)"
            }
            9 => {
                (cr, cs) = (rng.bytes32(), rng.bytes32());
                "random r and s"
            }
            10 => {
                // (The previous case may have signed the same message with the same key, e.g. two
                // empty messages: RFC 6979 then gives the same signature, which is not corrupted.)
                cr = match prev {
                    Some((pr, _)) if pr != r => pr,
                    _ => rng.bytes32(),
                };
                "r of another signature"
            }
            11 => {
                cs = be32(&neg_n(&big(&s)));
                "s negated"
            }
            _ => {
                ce = add_bytes(&e, 1);
                cmsg = None;
                "e + 1"
            }
        };
        check(ck, &ce, &cr, &cs, Some(false), &|| ctx(what));
        tally.corrupted += 1;
        if api_check && let Some(m) = &cmsg {
            check_message_apis(ck, m, &cr, &cs, false, &|| ctx(what));
            tally.message_api_checks += 1;
        }
        prev = Some((r, s));
    }
    tally
}

fn run_random(seed: u64, cases: usize) {
    let start = Instant::now();
    let tally = random_differential(seed, cases);
    assert_eq!(tally.valid, cases);
    assert_eq!(tally.corrupted, cases);
    eprintln!("seed {seed:#x}: {tally:?} in {:.1?}", start.elapsed());
}

// 4 × 25,000 = 100,000 valid and 100,000 corrupted signatures.
const CASES_PER_TEST: usize = 25_000;

#[test]
fn random_signatures_1() {
    run_random(0x5EED_0001, CASES_PER_TEST);
}

#[test]
fn random_signatures_2() {
    run_random(0x5EED_0002, CASES_PER_TEST);
}

#[test]
fn random_signatures_3() {
    run_random(0x5EED_0003, CASES_PER_TEST);
}

#[test]
fn random_signatures_4() {
    run_random(0x5EED_0004, CASES_PER_TEST);
}

#[test]
#[ignore = "long-running: 2,000,000 valid + 2,000,000 corrupted signatures (minutes); SM2V_DIFF_CASES / SM2V_DIFF_SEED"]
fn random_signatures_long() {
    let cases: usize = std::env::var("SM2V_DIFF_CASES").map_or(2_000_000, |v| v.parse().expect("SM2V_DIFF_CASES"));
    let seed: u64 = std::env::var("SM2V_DIFF_SEED").map_or(0x5EED_1000, |v| {
        let v = v.trim_start_matches("0x");
        u64::from_str_radix(v, 16).expect("SM2V_DIFF_SEED (hex)")
    });
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = cases.div_ceil(threads);
    eprintln!("{cases} cases over {threads} threads, seeds {seed:#x} + thread index");
    std::thread::scope(|scope| {
        for t in 0..threads {
            let seed = seed + t as u64;
            scope.spawn(move || run_random(seed, per_thread));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Crafted cases
// ---------------------------------------------------------------------------------------------

/// A key P = aG + bQ through which the signature (r, s = 1/b - r) lands exactly on Q:
/// t = r + s = 1/b, and sG + tP = (s + a/b)G + Q = Q when a = r·b - 1.
fn key_through(q: &ProjectivePoint, r: &BigUint, rng: &mut Rng) -> (TestKey, BigUint) {
    loop {
        let b = rng.scalar();
        let a = sub_n(&(r * &b), &BigUint::from(1u8));
        let t = inv_n(&b);
        let s = sub_n(&t, r);
        if s == BigUint::from(0u8) {
            continue;
        }
        let pt = mul_g(&a) + *q * scalar(&b);
        if bool::from(pt.is_identity()) {
            continue;
        }
        let key = TestKey::from_point(&pt);
        // The construction itself, checked with RustCrypto's arithmetic.
        assert_eq!(sec1_of(&(mul_g(&s) + key.point() * scalar(&t))), sec1_of(q), "sG + tP = Q");
        return (key, s);
    }
}

/// Signatures whose R has x1 = x(Q) for the given points: accepted over e = r - x1 (and any
/// 32-byte e' ≡ e mod n); refused over e ± 1, or with r + 1 or s + 1.
fn crafted_through_points(qs: &[ProjectivePoint], label: &str, rng: &mut Rng) -> usize {
    let mut checked = 0;
    let prehashes =
        [n().clone(), n() + 1u8, n() + 12345u32, p().clone(), p() + 1u8, two_256_minus_1(), two_256_minus_1() - 1u8];
    for (qi, q) in qs.iter().enumerate() {
        let xq = x_of(q);
        // Q itself is a valid public key for both implementations, whatever the size of x.
        assert!(FastKey::from_sec1(&sec1_of(q)).is_ok(), "{label} point {qi} as a key");
        for j in 0..12 {
            let ctx = |what: &str| format!("{label}: x(Q) = {xq:x}, round {j}: {what}");
            // Either a random r (e random) or r chosen so that a given e >= n is the prehash.
            let (r, e_bytes) = if j < 6 {
                let r = rng.scalar();
                let e = sub_n(&r, &xq);
                (r, be32(&e))
            } else {
                let e_big = &prehashes[j - 6];
                let r = (&xq + e_big) % n();
                if r == BigUint::from(0u8) {
                    continue;
                }
                (r, be32(e_big))
            };
            let (key, s) = key_through(q, &r, rng);
            let (rb, sb) = (be32(&r), be32(&s));
            check(&key, &e_bytes, &rb, &sb, Some(true), &|| ctx("valid"));
            // The same digest reduced mod n (when it was >= n) is the same signature.
            let e_red = be32(&(big(&e_bytes) % n()));
            check(&key, &e_red, &rb, &sb, Some(true), &|| ctx("e reduced mod n"));
            // The right point but the wrong v: refused.
            let e_plus = be32(&((big(&e_red) + 1u8) % n()));
            let e_minus = be32(&sub_n(&big(&e_red), &BigUint::from(1u8)));
            check(&key, &e_plus, &rb, &sb, Some(false), &|| ctx("e + 1"));
            check(&key, &e_minus, &rb, &sb, Some(false), &|| ctx("e - 1"));
            check(&key, &e_bytes, &add_bytes(&rb, 1), &sb, Some(false), &|| ctx("r + 1"));
            check(&key, &e_bytes, &rb, &add_bytes(&sb, 1), Some(false), &|| ctx("s + 1"));
            // -Q has the same x: a signature through it is just as valid.
            let (key_neg, s_neg) = key_through(&-*q, &r, rng);
            check(&key_neg, &e_bytes, &rb, &be32(&s_neg), Some(true), &|| ctx("through -Q"));
            checked += 8;
        }
    }
    checked
}

#[test]
fn x1_between_n_and_p_is_compared_against_v_plus_n() {
    let mut rng = Rng::new(0xC0FF_EE01);
    // x(Q) = n, n+1, ... and x(Q) = p-1, p-2, ...: x1 mod n = x1 - n, so the fast verifier must
    // find x1 as v + n (and v + n must not be refused for being near p).
    let mut qs = points_from_x(n(), 4);
    qs.extend(points_below_p(4));
    for q in &qs {
        let x = x_of(q);
        assert!(&x >= n() && &x < p(), "x(Q) in [n, p)");
    }
    let checked = crafted_through_points(&qs, "x1 in [n, p)", &mut rng);
    eprintln!("x1 in [n, p): {checked} crafted checks");
}

#[test]
fn x1_small_is_compared_against_v() {
    // x(Q) = 0, 1, 2, ... (below p - n): x1 = v, and v + n is also below p, so only one of the
    // two comparisons is right.
    let mut rng = Rng::new(0xC0FF_EE02);
    let qs = points_from_x(&BigUint::from(0u8), 4);
    for q in &qs {
        assert!(x_of(q) < p() - n());
    }
    let checked = crafted_through_points(&qs, "small x1", &mut rng);
    // x1 just below n (v = n - small, v + n >= p): only v can match.
    let below_n = points_from_x(&(n() - 64u8), 2);
    let checked2 = crafted_through_points(&below_n, "x1 just below n", &mut rng);
    // x1 around p - n (the edge of the v + n < p test).
    let edge = points_from_x(&(p() - n() - 8u8), 3);
    let checked3 = crafted_through_points(&edge, "x1 around p - n", &mut rng);
    eprintln!("small / below-n / p-n-edge x1: {checked} + {checked2} + {checked3} crafted checks");
}

#[test]
fn digest_at_or_above_n_is_reduced() {
    // RustCrypto's prehash signer reduces e mod n too: signatures over e >= n verify under that
    // same 32-byte e (and under e mod n) in all three verifiers.
    let mut rng = Rng::new(0xC0FF_EE03);
    let key = TestKey::random(&mut rng);
    let mut prehashes = vec![
        n().clone(),
        n() + 1u8,
        n() + 2u8,
        n() + 0xFFFF_FFFFu32,
        p() - 1u8,
        p().clone(),
        p() + 1u8,
        two_256_minus_1(),
        two_256_minus_1() - 1u8,
        n() - 1u8,
        BigUint::from(0u8),
        BigUint::from(1u8),
    ];
    for _ in 0..20 {
        // Random e in [n, 2^256).
        let extra = big(&rng.bytes32()) % (two_256_minus_1() - n());
        prehashes.push(n() + extra);
    }
    let mut checked = 0;
    for (i, e_big) in prehashes.iter().enumerate() {
        let e = be32(e_big);
        let ctx = |what: &str| format!("prehash {i} = {e_big:x}: {what}");
        let Ok(sig) = key.sk().sign_prehash(&e) else { continue };
        let (r, s): ([u8; 32], [u8; 32]) = (sig.r_bytes().into(), sig.s_bytes().into());
        check(&key, &e, &r, &s, Some(true), &|| ctx("as signed"));
        let e_red = be32(&(e_big % n()));
        check(&key, &e_red, &r, &s, Some(true), &|| ctx("reduced mod n"));
        if e_big + n() <= two_256_minus_1() {
            check(&key, &be32(&(e_big + n())), &r, &s, Some(true), &|| ctx("plus n"));
        }
        let e_next = be32(&((e_big + 1u8) % (two_256_minus_1() + 1u8)));
        check(&key, &e_next, &r, &s, Some(false), &|| ctx("e + 1"));
        checked += 1;
    }
    assert!(checked >= prehashes.len() - 1, "RustCrypto signed (almost) every prehash");
}

#[test]
fn t_zero_and_extreme_r_s_values() {
    let mut rng = Rng::new(0xC0FF_EE04);
    let zero = BigUint::from(0u8);
    let extremes: Vec<BigUint> = vec![
        zero.clone(),
        BigUint::from(1u8),
        BigUint::from(2u8),
        n() - 2u8,
        n() - 1u8,
        n().clone(),
        n() + 1u8,
        p() - 1u8,
        p().clone(),
        two_256_minus_1(),
    ];
    let in_range = |x: &BigUint| x != &zero && x < n();
    // A random key and the key P = G.
    for key in [TestKey::random(&mut rng), TestKey::from_scalar(&BigUint::from(1u8))] {
        for round in 0..4 {
            let msg = rng.bytes32();
            let sig = key.sk().try_sign(&msg).expect("sign");
            let (r0, s0): ([u8; 32], [u8; 32]) = (sig.r_bytes().into(), sig.s_bytes().into());
            let e = key.fast.digest(&msg);
            let ctx = |what: String| format!("key {}, round {round}: {what}", hex::encode(&key.sec1[..9]));
            check(&key, &e, &r0, &s0, Some(true), &|| ctx("valid".into()));

            // s = n - r and r = n - s: t = 0, refused.
            let r0b = big(&r0);
            let s0b = big(&s0);
            check(&key, &e, &r0, &be32(&(n() - &r0b)), Some(false), &|| ctx("s = n - r".into()));
            check(&key, &e, &be32(&(n() - &s0b)), &s0, Some(false), &|| ctx("r = n - s".into()));

            // The grid of extreme values, with each other and with the valid r and s.
            let mut rs = extremes.clone();
            rs.push(r0b.clone());
            let mut ss = extremes.clone();
            ss.push(s0b.clone());
            for rv in &rs {
                for sv in &ss {
                    let valid = rv == &r0b && sv == &s0b;
                    let expected = if !in_range(rv) || !in_range(sv) || (rv + sv) % n() == zero {
                        Some(false)
                    } else if valid {
                        Some(true)
                    } else {
                        None
                    };
                    check(&key, &e, &be32(rv), &be32(sv), expected, &|| ctx(format!("r = {rv:x}, s = {sv:x}")));
                    if rv < n() && sv < n() && round == 0 {
                        check_message_apis(&key, &msg, &be32(rv), &be32(sv), valid, &|| {
                            ctx(format!("r = {rv:x}, s = {sv:x}"))
                        });
                    }
                }
            }

            // Valid signatures with r or s at the edges of the range, made over a chosen digest.
            let mut edge = extremes.iter().filter(|x| in_range(x)).cloned().collect::<Vec<_>>();
            edge.push(rng.scalar());
            for rv in &edge {
                for sv in &edge {
                    let ctx2 = |what: &str| ctx(format!("forged r = {rv:x}, s = {sv:x}: {what}"));
                    if (rv + sv) % n() == zero {
                        // t = 0: refused whatever the digest.
                        check(&key, &rng.bytes32(), &be32(rv), &be32(sv), Some(false), &|| ctx2("t = 0"));
                        continue;
                    }
                    let Some(e) = forge(&key, rv, sv) else { continue };
                    check(&key, &e, &be32(rv), &be32(sv), Some(true), &|| ctx2("valid"));
                    check(&key, &add_bytes(&e, 1), &be32(rv), &be32(sv), Some(false), &|| ctx2("e + 1"));
                }
            }
        }
    }
}

#[test]
fn out_of_range_signatures_that_would_verify_mod_n_are_refused() {
    // A verifier that skipped a range check or the t = 0 check would accept these: each one's
    // digest is chosen so that the point equation holds with r and s taken mod n (`forge`
    // reduces its inputs). Random digests never reach that.
    let mut rng = Rng::new(0xC0FF_EE0B);
    let zero = BigUint::from(0u8);
    let max = two_256_minus_1();
    for key in [TestKey::random(&mut rng), TestKey::from_scalar(&BigUint::from(1u8))] {
        let (r, s) = (rng.scalar(), rng.scalar());
        let mut cases: Vec<(String, BigUint, BigUint)> = vec![
            ("r = 0".into(), zero.clone(), s.clone()),
            ("s = 0".into(), r.clone(), zero.clone()),
            ("r = n".into(), n().clone(), s.clone()),
            ("s = n".into(), r.clone(), n().clone()),
            ("r = 2^256-1".into(), max.clone(), s.clone()),
            ("s = 2^256-1".into(), r.clone(), max.clone()),
            ("t = 0 (s = n - r)".into(), r.clone(), n() - &r),
        ];
        // r + n and s + n for values small enough that the sum fits in 32 bytes.
        for small in [BigUint::from(1u8), BigUint::from(2u8), BigUint::from(12345u32), BigUint::from(1u8) << 200u32] {
            cases.push((format!("r = {small:x} + n"), &small + n(), s.clone()));
            cases.push((format!("s = {small:x} + n"), r.clone(), &small + n()));
            cases.push((format!("r = {small:x} + n, s = {small:x} + n"), &small + n(), &small + n()));
        }
        for (what, rv, sv) in &cases {
            let ctx = || format!("key {}: {what}", hex::encode(&key.sec1[..9]));
            match forge(&key, rv, sv) {
                Some(e) => {
                    check(&key, &e, &be32(rv), &be32(sv), Some(false), &ctx);
                    // The in-range equivalent (when there is one) is accepted over the same e.
                    let (rr, sr) = (rv % n(), sv % n());
                    if rr != zero && sr != zero && (&rr + &sr) % n() != zero {
                        check(&key, &e, &be32(&rr), &be32(&sr), Some(true), &ctx);
                    }
                }
                None => {
                    check(&key, &rng.bytes32(), &be32(rv), &be32(sv), Some(false), &ctx);
                }
            }
        }
    }
}

#[test]
fn point_at_infinity_is_refused() {
    // With a known private key d, r = -s(d+1)/d makes sG + (r+s)dG = sG - sG = O.
    let mut rng = Rng::new(0xC0FF_EE05);
    let one = BigUint::from(1u8);
    let ds = [one.clone(), BigUint::from(2u8), n() - 1u8, n() - 2u8, rng.scalar(), rng.scalar()];
    for d in &ds {
        let key = TestKey::from_scalar(d);
        for round in 0..6 {
            let s = if round == 0 { one.clone() } else { rng.scalar() };
            let r = neg_n(&(&s * (d + 1u8) % n() * inv_n(d)));
            if r == BigUint::from(0u8) {
                continue;
            }
            let t = (&r + &s) % n();
            assert!(bool::from((mul_g(&s) + key.point() * scalar(&t)).is_identity()));
            assert!(forge(&key, &r, &s).is_none());
            let (rb, sb) = (be32(&r), be32(&s));
            // Whatever the digest, including e = r (v = 0) and e = r - n mod n stand-ins.
            for e in [rng.bytes32(), rb, [0u8; 32], be32(&(n() - 1u8))] {
                check(&key, &e, &rb, &sb, Some(false), &|| format!("d = {d:x}, s = {s:x}: R at infinity"));
            }
        }
    }
}

#[test]
fn exceptional_additions_inside_the_multiplication() {
    // s·G is added byte by byte from a table of j·2^(8i)·G onto t·P. With P = dG and a known d,
    // choose t so that the running sum equals +(or -) the next table point exactly: the addition
    // must double (or give the identity and continue from it).
    let mut rng = Rng::new(0xC0FF_EE06);
    let zero = BigUint::from(0u8);
    let ds = [BigUint::from(1u8), BigUint::from(2u8), BigUint::from(3u8), n() - 1u8, rng.scalar()];
    let mut checked = 0;
    for d in &ds {
        let key = TestKey::from_scalar(d);
        for round in 0..3 {
            let s = match round {
                0 => rng.scalar(),
                // Every byte non-zero and small, every byte 0xff.
                1 => big(&[0x01; 32]) % n(),
                _ => n() - 1u8,
            };
            let sb = be32(&s);
            for i in 0..32 {
                // Byte i of s counting from the least significant.
                let c = BigUint::from(sb[31 - i]);
                if c == zero {
                    continue;
                }
                let s_low = &s % (BigUint::from(1u8) << (8 * i as u32));
                let chunk = c << (8 * i as u32);
                for negate in [false, true] {
                    // Before byte i, the sum is t·d·G + s_low·G; make it ±chunk·G.
                    let target = if negate { sub_n(&neg_n(&chunk), &s_low) } else { sub_n(&chunk, &s_low) };
                    let t = target * inv_n(d) % n();
                    let r = sub_n(&t, &s);
                    if t == zero || r == zero {
                        continue;
                    }
                    let ctx = |what: &str| format!("d = {d:x}, s = {s:x}, byte {i}, negate {negate}: {what}");
                    match forge(&key, &r, &s) {
                        Some(e) => {
                            check(&key, &e, &be32(&r), &sb, Some(true), &|| ctx("valid"));
                            check(&key, &add_bytes(&e, 1), &be32(&r), &sb, Some(false), &|| ctx("e + 1"));
                        }
                        None => {
                            check(&key, &rng.bytes32(), &be32(&r), &sb, Some(false), &|| ctx("at infinity"));
                        }
                    }
                    checked += 1;
                }
            }
        }
        // Small t and s, and t near n (chunks wrapping), on the small-d keys.
        for (tv, sv) in [(1u64, 1u64), (1, 2), (2, 1), (3, 5), (255, 1), (256, 256), (0x1_0000_0000, 7)] {
            for (t, s) in [
                (BigUint::from(tv), BigUint::from(sv)),
                (n() - tv, BigUint::from(sv)),
                (BigUint::from(tv), n() - sv),
                (n() - tv, n() - sv),
            ] {
                let r = sub_n(&t, &s);
                if r == zero {
                    continue;
                }
                let ctx = |what: &str| format!("d = {d:x}, t = {t:x}, s = {s:x}: {what}");
                match forge(&key, &r, &s) {
                    Some(e) => check(&key, &e, &be32(&r), &be32(&s), Some(true), &|| ctx("valid")),
                    None => check(&key, &[7; 32], &be32(&r), &be32(&s), Some(false), &|| ctx("at infinity")),
                };
                checked += 1;
            }
        }
    }
    eprintln!("exceptional additions: {checked} crafted signatures");
}

#[test]
fn random_forged_signatures_for_keys_without_private_keys() {
    // Keys from arbitrary points (x >= n among them), signatures made over chosen digests.
    let mut rng = Rng::new(0xC0FF_EE07);
    let mut points = points_from_x(n(), 2);
    points.extend(points_from_x(&big(&rng.bytes32()), 2));
    points.push(mul_g(&rng.scalar()));
    for (pi, pt) in points.iter().enumerate() {
        let key = TestKey::from_point(pt);
        for round in 0..40 {
            let (r, s) = (rng.scalar(), rng.scalar());
            let ctx = |what: &str| format!("point {pi}, round {round}, r = {r:x}, s = {s:x}: {what}");
            let Some(e) = forge(&key, &r, &s) else { continue };
            let (rb, sb) = (be32(&r), be32(&s));
            check(&key, &e, &rb, &sb, Some(true), &|| ctx("valid"));
            check(&key, &flip_bit(&e, rng.below(256)), &rb, &sb, Some(false), &|| ctx("bit of e"));
            check(&key, &e, &flip_bit(&rb, rng.below(256)), &sb, Some(false), &|| ctx("bit of r"));
            check(&key, &e, &rb, &flip_bit(&sb, rng.below(256)), Some(false), &|| ctx("bit of s"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Invalid public keys
// ---------------------------------------------------------------------------------------------

/// Both parsers (and the message-level verifiers) refuse `bytes`; for 65-byte inputs RustCrypto's
/// own SEC1 parser agrees.
fn assert_key_refused(bytes: &[u8], what: &str, expected: Option<KeyError>) {
    let fast = FastKey::from_sec1(bytes);
    assert!(fast.is_err(), "FastKey accepted {what}: {}", hex::encode(bytes));
    if let Some(want) = expected {
        assert_eq!(fast.err(), Some(want), "{what}");
    }
    assert!(PublicKey::from_bytes(Suite::Sm, bytes).is_err(), "PublicKey accepted {what}");
    if bytes.len() == 65 {
        assert!(
            sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, bytes).is_err(),
            "RustCrypto accepted {what}: {}",
            hex::encode(bytes)
        );
    }
    let (r, s) = ([0x11; 32], [0x22; 32]);
    assert!(!sm2v::verify_uncached(bytes, b"m", &r, &s), "{what}");
    assert!(!sm2v::verify(bytes, b"m", &r, &s), "{what}");
    assert!(!sm2v::verify(bytes, b"m", &r, &s), "{what} (second sighting)");
}

#[test]
fn invalid_public_keys_are_refused_by_both() {
    let mut rng = Rng::new(0xC0FF_EE08);
    let key = TestKey::random(&mut rng);
    let good = key.sec1;
    assert!(FastKey::from_sec1(&good).is_ok());
    assert!(PublicKey::from_bytes(Suite::Sm, &good).is_ok());

    // Off the curve.
    let mut off = good;
    off[64] ^= 1;
    assert_key_refused(&off, "y + 1", Some(KeyError::NotOnCurve));
    let mut off = good;
    off[1] ^= 0x80;
    assert_key_refused(&off, "x with a bit flipped", None);
    let mut swapped = [4u8; 65];
    swapped[1..33].copy_from_slice(&good[33..65]);
    swapped[33..65].copy_from_slice(&good[1..33]);
    assert_key_refused(&swapped, "x and y swapped", None);
    assert_key_refused(&encode_xy(&BigUint::from(0u8), &BigUint::from(0u8)), "(0, 0)", Some(KeyError::NotOnCurve));

    // Coordinates >= p: x = p, p + x0 for a valid small x0 (the same point mod p), 2^256 - 1; same
    // for y.
    let (x0, y0) = (0u32..).find_map(|x| lift_x(&BigUint::from(x))).expect("a small x");
    assert!(FastKey::from_sec1(&encode_xy(&x0, &y0)).is_ok(), "control: (x0, y0) is valid");
    let gy = big(&good[33..65]);
    let gx = big(&good[1..33]);
    for (x, y, what) in [
        (p().clone(), &gy, "x = p"),
        (p() + &x0, &y0, "x = p + x0 (x0 valid)"),
        (two_256_minus_1(), &gy, "x = 2^256-1"),
    ] {
        assert_key_refused(&encode_xy(&x, y), what, Some(KeyError::CoordinateRange));
    }
    for (y, what) in [(p().clone(), "y = p"), (p() + 1u8, "y = p + 1"), (two_256_minus_1(), "y = 2^256-1")] {
        assert_key_refused(&encode_xy(&gx, &y), what, Some(KeyError::CoordinateRange));
    }
    let neg_y = encode_xy(&gx, &(p() - &gy));
    assert!(FastKey::from_sec1(&neg_y).is_ok(), "control: (x, -y) is valid");

    // The identity and other encodings.
    assert_key_refused(&[0x00], "identity (SEC1 0x00)", Some(KeyError::Encoding));
    assert_key_refused(&[0u8; 65], "all zero", Some(KeyError::Encoding));
    assert_key_refused(&[], "empty", Some(KeyError::Encoding));
    let mut compressed = [0u8; 33];
    compressed[0] = 2 + (good[64] & 1);
    compressed[1..].copy_from_slice(&good[1..33]);
    assert!(sm2::PublicKey::from_sec1_bytes(&compressed).is_ok(), "control: RustCrypto decompresses it");
    assert_key_refused(&compressed, "compressed", Some(KeyError::Encoding));
    compressed[0] ^= 1;
    assert_key_refused(&compressed, "compressed, other parity", Some(KeyError::Encoding));
    let mut compact = compressed;
    compact[0] = 5;
    assert_key_refused(&compact, "compact (0x05)", Some(KeyError::Encoding));
    for prefix in [0x00u8, 0x02, 0x03, 0x05, 0x06, 0x07, 0x14, 0x84, 0xff] {
        let mut k = good;
        k[0] = prefix;
        assert_key_refused(&k, &format!("prefix {prefix:#04x}"), Some(KeyError::Encoding));
    }
    assert_key_refused(&good[1..], "64 bytes, no prefix", Some(KeyError::Encoding));
    assert_key_refused(&good[..64], "truncated", Some(KeyError::Encoding));
    let mut long = good.to_vec();
    long.push(0);
    assert_key_refused(&long, "66 bytes", Some(KeyError::Encoding));
    let mut pem_like = b"-----BEGIN PUBLIC KEY-----".to_vec();
    pem_like.resize(65, b'A');
    assert_key_refused(&pem_like, "text", Some(KeyError::Encoding));

    // Random 65-byte strings and valid keys with one bit flipped: the two parsers agree.
    let mut agree = 0;
    for i in 0..2000 {
        let mut k = if i % 2 == 0 {
            let mut k = [4u8; 65];
            rng.fill(&mut k[1..]);
            k
        } else {
            let mut k = good;
            let bit = 8 + rng.below(512);
            k[bit / 8] ^= 1 << (bit % 8);
            k
        };
        if i % 10 == 9 {
            k[0] = rng.below(256) as u8;
        }
        let fast = FastKey::from_sec1(&k).is_ok();
        let reference = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_DISTID, &k).is_ok();
        let fdl = PublicKey::from_bytes(Suite::Sm, &k).is_ok();
        assert_eq!(fast, reference, "key {}", hex::encode(k));
        assert_eq!(fast, fdl, "key {}", hex::encode(k));
        agree += usize::from(!fast);
    }
    assert!(agree > 1900, "almost all of those are invalid ({agree})");
}

#[test]
fn valid_signature_under_a_refused_key_is_refused() {
    // A valid signature presented with its key's bytes made invalid is refused, not verified
    // against some other point.
    let mut rng = Rng::new(0xC0FF_EE09);
    let key = TestKey::random(&mut rng);
    let msg = b"transfer 5 to 42";
    let sig = key.sk().try_sign(msg).expect("sign");
    let (r, s): ([u8; 32], [u8; 32]) = (sig.r_bytes().into(), sig.s_bytes().into());
    assert!(sm2v::verify_uncached(&key.sec1, msg, &r, &s));
    let mut bad = key.sec1;
    bad[64] ^= 1;
    assert!(!sm2v::verify_uncached(&bad, msg, &r, &s));
    assert!(!sm2v::verify(&bad, msg, &r, &s));
    // The compressed form of the same key is refused (only SEC1 uncompressed is a key here).
    let mut compressed = vec![2 + (key.sec1[64] & 1)];
    compressed.extend_from_slice(&key.sec1[1..33]);
    assert!(!sm2v::verify_uncached(&compressed, msg, &r, &s));
    assert!(!sm2v::verify(&compressed, msg, &r, &s));
    // (x, -y) is a valid key, but another one.
    let neg = encode_xy(&big(&key.sec1[1..33]), &(p() - big(&key.sec1[33..65])));
    for _ in 0..3 {
        assert!(!sm2v::verify(&neg, msg, &r, &s));
    }
    assert!(sm2v::verify(&key.sec1, msg, &r, &s), "the real key still verifies");
}

// ---------------------------------------------------------------------------------------------
// OpenSSL-made signatures through the fast path
// ---------------------------------------------------------------------------------------------

#[path = "support/openssl3.rs"]
mod openssl3;
use openssl3::{INSTALL_OPENSSL, require_openssl3};

fn openssl_ok(args: &[&str]) -> Vec<u8> {
    require_openssl3();
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `openssl` ({e}): {INSTALL_OPENSSL}"));
    assert!(out.status.success(), "openssl {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn openssl_signatures_verify_through_the_fast_path() {
    let v = String::from_utf8_lossy(&openssl_ok(&["version"])).into_owned();
    assert!(v.starts_with("OpenSSL 3."), "needs OpenSSL 3.x, found {v}");
    let dir = tempfile::tempdir().expect("temp dir");
    let key_path = dir.path().join("key.pem");
    openssl_ok(&["genpkey", "-algorithm", "SM2", "-out", path_str(&key_path)]);
    let spki = openssl_ok(&["pkey", "-in", path_str(&key_path), "-pubout"]);
    let pk = PublicKey::from_spki_pem(std::str::from_utf8(&spki).expect("ASCII")).expect("SPKI");
    let key = TestKey::from_sec1(&pk.to_bytes());

    let messages: [&[u8]; 5] = [b"", b"a", b"FDL/TX/v1 transfer 100 CNY", &[0x5a; 200], &[0u8; 64]];
    for (i, msg) in messages.iter().enumerate() {
        let msg_path = dir.path().join(format!("msg{i}"));
        std::fs::write(&msg_path, msg).expect("write");
        let sig_path = dir.path().join(format!("sig{i}"));
        openssl_ok(&[
            "pkeyutl",
            "-sign",
            "-inkey",
            path_str(&key_path),
            "-rawin",
            "-in",
            path_str(&msg_path),
            "-out",
            path_str(&sig_path),
            "-digest",
            "sm3",
            "-pkeyopt",
            &format!("distid:{SM2_DEFAULT_DISTID}"),
        ]);
        let der = std::fs::read(&sig_path).expect("read signature");
        let sig = Signature::from_bytes(Suite::Sm, &der).expect("canonical DER");
        let parsed = sm2::dsa::Signature::from_der(&der).expect("DER");
        let (r, s): ([u8; 32], [u8; 32]) = (parsed.r_bytes().into(), parsed.s_bytes().into());
        let ctx = || format!("OpenSSL signature {i}: {}", hex::encode(&der));
        let e = key.fast.digest(msg);
        check(&key, &e, &r, &s, Some(true), &ctx);
        check_message_apis(&key, msg, &r, &s, true, &ctx);
        // Twice more through the cache (the table is built on the second sighting).
        assert!(sm2v::verify(&key.sec1, msg, &r, &s), "{}", ctx());
        assert!(sm2v::verify(&key.sec1, msg, &r, &s), "{}", ctx());
        assert_eq!(pk.verify(msg, &sig), Ok(()), "{}", ctx());
        let mut other = msg.to_vec();
        other.push(b'!');
        check_message_apis(&key, &other, &r, &s, false, &ctx);
        check(&key, &key.fast.digest(&other), &r, &s, Some(false), &ctx);
    }
}

// ---------------------------------------------------------------------------------------------
// Z and e
// ---------------------------------------------------------------------------------------------

#[test]
fn digest_matches_reference_z() {
    // The fast verifier's Z and e equal RustCrypto's: a message-level signature by RustCrypto
    // verifies over FastKey::digest, for many keys (Z depends on the key).
    let mut rng = Rng::new(0xC0FF_EE0A);
    let start = Instant::now();
    for i in 0..64 {
        let key = TestKey::random(&mut rng);
        let mut msg = vec![0u8; i * 3];
        rng.fill(&mut msg);
        let sig = key.sk().try_sign(&msg).expect("sign");
        let (r, s): ([u8; 32], [u8; 32]) = (sig.r_bytes().into(), sig.s_bytes().into());
        check(&key, &key.fast.digest(&msg), &r, &s, Some(true), &|| format!("key {i}"));
        assert_eq!(key.fast.z().len(), 32);
    }
    assert!(start.elapsed() < Duration::from_secs(60));
}
