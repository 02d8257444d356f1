//! The fast SM2 verifier's process-wide key cache (`fdl_crypto::sm2v::{verify, set_cache_limit,
//! cache_stats}`, and `PublicKey::verify`, which goes through it): a key is parsed on its first
//! sighting, gets a table on its second and uses it from the third; hits and misses give the same
//! verdicts as the uncached path and RustCrypto; keys are never confused (swapped signatures, the
//! same message signed by many keys, a key and its negation); invalid keys never verify; a zero
//! or small memory limit (generation turnover) changes speed only, never a verdict, also with
//! several threads.
//!
//! The cache and its counters are global to the process, so the tests here run one at a time
//! (a file-wide lock) and restore the default limit when they change it. Other test files run in
//! other processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Mutex, MutexGuard};

use fdl_crypto::{
    CryptoError, KeyPair, PublicKey, Signature, Signer as _,
    sm2v::{self, CacheStats, KeyTable},
};
use sm3::Digest as _;

/// The default limit (`sm2v::cache::DEFAULT_LIMIT_BYTES`, 64 MiB), restored after each test.
const DEFAULT_LIMIT: usize = 64 * 1024 * 1024;

/// Serialises the tests of this file: they read global counters and change the global limit.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sets the cache limit for the rest of a test and restores the default when dropped (also when
/// the test fails).
struct LimitGuard;

impl LimitGuard {
    fn set(bytes: usize) -> LimitGuard {
        sm2v::set_cache_limit(bytes);
        LimitGuard
    }
}

impl Drop for LimitGuard {
    fn drop(&mut self) {
        sm2v::set_cache_limit(DEFAULT_LIMIT);
    }
}

/// Counter changes since `before`: (misses, tables built, table hits).
fn delta(before: CacheStats) -> (u64, u64, u64) {
    let now = sm2v::cache_stats();
    (now.misses - before.misses, now.tables_built - before.tables_built, now.table_hits - before.table_hits)
}

/// An SM2 key derived from a label (distinct labels give distinct keys across the tests).
struct Key {
    kp: KeyPair,
    pk: PublicKey,
    sec1: Vec<u8>,
}

impl Key {
    fn new(label: &str) -> Key {
        let mut counter = 0u32;
        loop {
            let mut h = sm3::Sm3::new();
            h.update(b"sm2_fast_cache key ");
            h.update(label.as_bytes());
            h.update(counter.to_be_bytes());
            let d: [u8; 32] = h.finalize().into();
            if let Ok(kp) = KeyPair::sm2_from_scalar(&d) {
                return Key::from_pair(kp);
            }
            counter += 1;
        }
    }

    fn from_pair(kp: KeyPair) -> Key {
        let pk = kp.public_key();
        let sec1 = pk.to_bytes();
        Key { kp, pk, sec1 }
    }

    /// The key with the same x and the other y: private key n - d.
    fn negated(&self) -> Key {
        let KeyPair::Sm2(sk) = &self.kp else { unreachable!("SM2 keys only") };
        let d = num_bigint::BigUint::from_bytes_be(&sk.to_bytes());
        let n =
            num_bigint::BigUint::parse_bytes(b"FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
                .expect("hex");
        let nd = (n - d).to_bytes_be();
        let mut bytes = [0u8; 32];
        bytes[32 - nd.len()..].copy_from_slice(&nd);
        let neg = Key::from_pair(KeyPair::sm2_from_scalar(&bytes).expect("n - d is a valid scalar"));
        assert_eq!(neg.sec1[1..33], self.sec1[1..33], "same x");
        assert_ne!(neg.sec1[33..], self.sec1[33..], "other y");
        neg
    }

    fn sign(&self, msg: &[u8]) -> Sig {
        let der = self.kp.sign(msg).expect("sign");
        let parsed = sm2::dsa::Signature::from_der(der.as_bytes()).expect("DER");
        Sig { r: parsed.r_bytes().into(), s: parsed.s_bytes().into(), der }
    }
}

struct Sig {
    r: [u8; 32],
    s: [u8; 32],
    der: Signature,
}

/// Verifies through the cache both ways (`sm2v::verify` and `PublicKey::verify`), checks them
/// against the uncached path and RustCrypto and against `expected`. Costs two cache lookups.
#[track_caller]
fn verify_all(key: &Key, msg: &[u8], sig: &Sig, expected: bool, ctx: &str) {
    let cached = sm2v::verify(&key.sec1, msg, &sig.r, &sig.s);
    let via_pk = key.pk.verify(msg, &sig.der);
    let uncached = sm2v::verify_uncached(&key.sec1, msg, &sig.r, &sig.s);
    let reference = key.pk.verify_reference(msg, &sig.der).is_ok();
    assert_eq!(
        (cached, via_pk.is_ok(), uncached, reference),
        (expected, expected, expected, expected),
        "{ctx}: (sm2v::verify, PublicKey::verify, verify_uncached, reference) vs expected {expected}"
    );
    if !expected {
        assert_eq!(via_pk, Err(CryptoError::BadSignature), "{ctx}");
    }
}

/// One cached verification (one cache lookup), checked against `expected`.
#[track_caller]
fn verify_once(key: &Key, msg: &[u8], sig: &Sig, expected: bool, ctx: &str) {
    assert_eq!(sm2v::verify(&key.sec1, msg, &sig.r, &sig.s), expected, "{ctx}");
}

/// A small deterministic generator for orders and choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % bound as u64) as usize
    }
}

#[test]
fn table_is_built_on_the_second_sighting_and_verdicts_hold() {
    let _serial = serial();
    let a = Key::new("sighting A");
    let msg = b"pay 10 to B";
    let good = a.sign(msg);
    let bad = a.sign(b"pay 11 to B");

    let before = sm2v::cache_stats();
    verify_once(&a, msg, &good, true, "A, 1st sighting (new key)");
    assert_eq!(delta(before), (1, 0, 0), "a miss");
    // The table is built on the second sighting, and its verdict is the one used.
    verify_once(&a, msg, &bad, false, "A, 2nd sighting (table built), wrong signature");
    assert_eq!(delta(before), (1, 1, 0), "table built");
    verify_once(&a, msg, &good, true, "A, 3rd sighting (table)");
    verify_once(&a, msg, &bad, false, "A, 4th sighting (table), wrong signature");
    assert_eq!(delta(before), (1, 1, 2), "two table hits");
    // PublicKey::verify shares the cache.
    assert_eq!(a.pk.verify(msg, &good.der), Ok(()));
    assert_eq!(a.pk.verify(msg, &bad.der), Err(CryptoError::BadSignature));
    assert_eq!(delta(before), (1, 1, 4));

    // A key first seen with a wrong signature, then verified right when its table is built.
    let b = Key::new("sighting B");
    let good_b = b.sign(msg);
    let before = sm2v::cache_stats();
    verify_once(&b, msg, &good, false, "B, 1st sighting, A's signature");
    verify_once(&b, msg, &good_b, true, "B, 2nd sighting (table built)");
    verify_once(&b, msg, &good, false, "B, 3rd sighting (table), A's signature");
    verify_once(&b, b"other", &good_b, false, "B, table, other message");
    verify_once(&b, msg, &good_b, true, "B, table");
    assert_eq!(delta(before), (1, 1, 3));
}

#[test]
fn two_keys_with_swapped_signatures_are_never_confused() {
    let _serial = serial();
    let a = Key::new("swap A");
    let b = Key::new("swap B");
    let a_neg = a.negated();
    let msg = b"the same message";
    let (sa, sb, sn) = (a.sign(msg), b.sign(msg), a_neg.sign(msg));
    // Through every cache state (new, seen once, table, table...) and in both orders.
    for round in 0..5 {
        let ctx = |what: &str| format!("round {round}: {what}");
        if round % 2 == 0 {
            verify_all(&a, msg, &sa, true, &ctx("A with A's"));
            verify_all(&b, msg, &sa, false, &ctx("B with A's"));
            verify_all(&a, msg, &sb, false, &ctx("A with B's"));
            verify_all(&b, msg, &sb, true, &ctx("B with B's"));
        } else {
            verify_all(&b, msg, &sa, false, &ctx("B with A's"));
            verify_all(&b, msg, &sb, true, &ctx("B with B's"));
            verify_all(&a, msg, &sb, false, &ctx("A with B's"));
            verify_all(&a, msg, &sa, true, &ctx("A with A's"));
        }
        // The negated key has A's x: a cache keyed on x alone would confuse them.
        verify_all(&a_neg, msg, &sa, false, &ctx("-A with A's"));
        verify_all(&a, msg, &sn, false, &ctx("A with -A's"));
        verify_all(&a_neg, msg, &sn, true, &ctx("-A with -A's"));
    }
}

#[test]
fn same_message_signed_by_many_keys_verified_interleaved() {
    let _serial = serial();
    const K: usize = 40;
    let keys: Vec<Key> = (0..K).map(|i| Key::new(&format!("many {i}"))).collect();
    let msg = b"block 7 commit";
    let sigs: Vec<Sig> = keys.iter().map(|k| k.sign(msg)).collect();
    let before = sm2v::cache_stats();
    // Round 0: every key's own signature (all new keys).
    for i in 0..K {
        verify_once(&keys[i], msg, &sigs[i], true, &format!("round 0, key {i}"));
    }
    assert_eq!(delta(before), (K as u64, 0, 0));
    // Round 1, backwards: the next key's signature (tables built, all refused).
    for i in (0..K).rev() {
        verify_once(&keys[i], msg, &sigs[(i + 1) % K], false, &format!("round 1, key {i}"));
    }
    assert_eq!(delta(before), (K as u64, K as u64, 0));
    // Then random pairs: accepted exactly when the signature is the key's own.
    let mut rng = Rng(0xCAC4E);
    let pairs = 600;
    let mut accepted = 0;
    for step in 0..pairs {
        let i = rng.below(K);
        let j = if rng.below(3) == 0 { i } else { rng.below(K) };
        verify_once(&keys[i], msg, &sigs[j], i == j, &format!("step {step}: key {i}, signature {j}"));
        accepted += usize::from(i == j);
    }
    assert!(accepted > 100);
    assert_eq!(delta(before), (K as u64, K as u64, pairs as u64), "all table hits");
    // And the reference agrees on a sample.
    for i in (0..K).step_by(7) {
        verify_all(&keys[i], msg, &sigs[i], true, &format!("sample {i}"));
        verify_all(&keys[i], msg, &sigs[(i + 3) % K], false, &format!("sample {i}, other"));
    }
}

#[test]
fn invalid_keys_never_verify_and_never_get_a_table() {
    let _serial = serial();
    let a = Key::new("invalid base");
    let msg = b"m";
    let sig = a.sign(msg);
    // Warm the real key up to a table.
    for _ in 0..3 {
        verify_once(&a, msg, &sig, true, "real key");
    }
    let mut off_curve = a.sec1.clone();
    off_curve[64] ^= 1;
    let before = sm2v::cache_stats();
    for i in 0..4 {
        assert!(!sm2v::verify(&off_curve, msg, &sig.r, &sig.s), "off-curve key, try {i}");
    }
    assert_eq!(delta(before), (4, 0, 0), "refused keys are not cached");
    // Lengths other than 65 are refused before the cache.
    let before = sm2v::cache_stats();
    let mut compressed = vec![2 + (a.sec1[64] & 1)];
    compressed.extend_from_slice(&a.sec1[1..33]);
    for bytes in [&a.sec1[..64], &compressed[..], &[][..], &[a.sec1.clone(), vec![0]].concat()[..]] {
        assert!(!sm2v::verify(bytes, msg, &sig.r, &sig.s), "{} bytes", bytes.len());
    }
    assert_eq!(delta(before), (0, 0, 0));
    let mut prefix = a.sec1.clone();
    prefix[0] = 0x06;
    assert!(!sm2v::verify(&prefix, msg, &sig.r, &sig.s), "hybrid prefix");
    // The real key is unaffected.
    verify_once(&a, msg, &sig, true, "real key after");
}

#[test]
fn limit_zero_disables_the_cache() {
    let _serial = serial();
    let w = Key::new("zero W");
    let c = Key::new("zero C");
    let msg = b"zero";
    let (sw, sc) = (w.sign(msg), c.sign(msg));
    for _ in 0..3 {
        verify_once(&w, msg, &sw, true, "warm W to a table");
    }
    {
        let _limit = LimitGuard::set(0);
        let before = sm2v::cache_stats();
        // set_cache_limit(0) drops what was cached: W is new again, and stays new.
        for i in 0..3 {
            verify_once(&w, msg, &sw, true, &format!("W, limit 0, {i}"));
            verify_once(&w, msg, &sc, false, &format!("W with C's, limit 0, {i}"));
            verify_once(&c, msg, &sc, true, &format!("C, limit 0, {i}"));
            verify_once(&c, msg, &sw, false, &format!("C with W's, limit 0, {i}"));
        }
        assert_eq!(delta(before), (12, 0, 0), "every verification is a miss");
        for i in 0..2 {
            verify_all(&c, msg, &sc, true, &format!("C via PublicKey, limit 0, {i}"));
        }
        assert_eq!(delta(before), (16, 0, 0));
    }
    // Back to the default: the usual new / table built / table sequence.
    let before = sm2v::cache_stats();
    verify_once(&c, msg, &sc, true, "C, default limit, 1st");
    verify_once(&c, msg, &sw, false, "C, default limit, 2nd");
    verify_once(&c, msg, &sc, true, "C, default limit, 3rd");
    assert_eq!(delta(before), (1, 1, 1));
}

#[test]
fn tiny_limit_keeps_at_most_one_entry() {
    let _serial = serial();
    let _limit = LimitGuard::set(1);
    let a = Key::new("tiny A");
    let b = Key::new("tiny B");
    let msg = b"tiny";
    let (sa, sb) = (a.sign(msg), b.sign(msg));
    // Alternating keys evict each other: always new.
    let before = sm2v::cache_stats();
    for i in 0..4 {
        verify_once(&a, msg, &sa, true, &format!("A {i}"));
        verify_once(&b, msg, &sa, false, &format!("B with A's {i}"));
    }
    assert_eq!(delta(before), (8, 0, 0));
    // One key on its own still gets its table (the last entry survives a turnover).
    let before = sm2v::cache_stats();
    verify_once(&b, msg, &sb, true, "B alone 1");
    verify_once(&b, msg, &sb, true, "B alone 2");
    verify_once(&b, msg, &sa, false, "B alone 3");
    verify_once(&b, msg, &sb, true, "B alone 4");
    // (B was the last key verified above, so its first verification here already finds it.)
    let (misses, built, hits) = delta(before);
    assert_eq!(misses + built + hits, 4);
    assert_eq!(built, 1, "one table built");
    assert!(hits >= 2, "the table is used ({misses}, {built}, {hits})");
}

#[test]
fn small_limits_force_generation_turnover_without_changing_verdicts() {
    let _serial = serial();
    let entry = KeyTable::size_bytes() + 256;
    const K: usize = 24;
    let keys: Vec<Key> = (0..K).map(|i| Key::new(&format!("turnover {i}"))).collect();
    let msgs: Vec<Vec<u8>> = (0..K).map(|i| format!("turnover message {i}").into_bytes()).collect();
    let sigs: Vec<Sig> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let mut rng = Rng(0x7u64);
    for limit in [1, 255, 256, 511, 512, 1024, entry, 2 * entry, 3 * entry, 4 * entry + 1, 7 * entry, 16 * entry] {
        let _limit = LimitGuard::set(limit);
        let before = sm2v::cache_stats();
        let steps = 400;
        let mut hot_hits = 0;
        for step in 0..steps {
            // Key 0 is hot (every other step); the rest are drawn at random.
            let i = if step % 2 == 0 { 0 } else { rng.below(K) };
            let j = if rng.below(2) == 0 { i } else { rng.below(K) };
            let m = if rng.below(8) == 0 { &msgs[(j + 1) % K] } else { &msgs[j] };
            let expected = i == j && *m == msgs[j];
            let ctx = format!("limit {limit}, step {step}: key {i}, signature {j}");
            let pre = sm2v::cache_stats();
            if step % 5 == 0 {
                assert_eq!(keys[i].pk.verify(m, &sigs[j].der).is_ok(), expected, "{ctx} (PublicKey::verify)");
            } else {
                verify_once(&keys[i], m, &sigs[j], expected, &ctx);
            }
            if i == 0 {
                hot_hits += delta(pre).2;
            }
        }
        let (misses, built, hits) = delta(before);
        assert_eq!(misses + built + hits, steps, "limit {limit}: one lookup per verification");
        if limit >= 4 * entry {
            assert!(hot_hits > 50, "limit {limit}: the hot key keeps its table ({misses}, {built}, {hits})");
        }
        // After the turnover, every key still verifies right, twice (new and seen-once paths
        // or table paths, depending on what survived).
        for i in 0..K {
            verify_once(&keys[i], &msgs[i], &sigs[i], true, &format!("limit {limit}, sweep key {i}"));
            verify_once(&keys[i], &msgs[i], &sigs[(i + 5) % K], false, &format!("limit {limit}, sweep key {i}, other"));
        }
        eprintln!("limit {limit}: misses {misses}, tables built {built}, table hits {hits} (hot key {hot_hits})");
    }
}

#[test]
fn threads_verifying_interleaved_keys_get_right_verdicts_under_turnover() {
    let _serial = serial();
    const K: usize = 16;
    let keys: Vec<Key> = (0..K).map(|i| Key::new(&format!("threads {i}"))).collect();
    let msg = b"concurrent";
    let sigs: Vec<Sig> = keys.iter().map(|k| k.sign(msg)).collect();
    let entry = KeyTable::size_bytes() + 256;
    for limit in [0, 3 * entry, DEFAULT_LIMIT] {
        let _limit = LimitGuard::set(limit);
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let (keys, sigs) = (&keys, &sigs);
                scope.spawn(move || {
                    let mut rng = Rng(0x7EAD + t);
                    for step in 0..120 {
                        let i = rng.below(K);
                        let j = if rng.below(2) == 0 { i } else { rng.below(K) };
                        let ctx = format!("limit {limit}, thread {t}, step {step}: key {i}, signature {j}");
                        verify_once(&keys[i], msg, &sigs[j], i == j, &ctx);
                    }
                });
            }
        });
    }
}
