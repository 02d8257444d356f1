//! Unit tests of the fast verifier's internals against a big-integer oracle and RustCrypto.

use num_bigint::BigUint;

use super::{field::*, point::*, scalar::*, *};

fn big(l: &[u64; 4]) -> BigUint {
    let mut b = [0u8; 32];
    b.copy_from_slice(&limbs_to_be(l));
    BigUint::from_bytes_be(&b)
}

fn p_big() -> BigUint {
    big(&P)
}

fn rand_limbs(seed: &mut u64) -> [u64; 4] {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    [next(), next(), next(), next()]
}

#[test]
fn field_ops_match_big_integer_oracle() {
    let p = p_big();
    let mut seed = 0x1234_5678_9abc_def1u64;
    let edge: Vec<[u64; 4]> = vec![
        [0; 4],
        [1, 0, 0, 0],
        sub4(&P, &[1, 0, 0, 0]).0,
        sub4(&P, &[2, 0, 0, 0]).0,
        [u64::MAX, 0, 0, 0],
        [0, 0, 0, 1 << 63],
        [0xffffffff, 0xffffffff00000000, 0, 0],
    ];
    let mut vals = edge.clone();
    for _ in 0..2000 {
        let v = rand_limbs(&mut seed);
        if lt4(&v, &P) {
            vals.push(v);
        }
    }
    for w in vals.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (fa, fb) = (Fe::from_canonical(a).expect("a < p"), Fe::from_canonical(b).expect("b < p"));
        let (ba, bb) = (big(&a), big(&b));
        assert_eq!(big(&fa.mul(&fb).to_canonical()), (&ba * &bb) % &p, "mul");
        assert_eq!(big(&fa.add(&fb).to_canonical()), (&ba + &bb) % &p, "add");
        assert_eq!(big(&fa.sub(&fb).to_canonical()), (&ba + &p - &bb) % &p, "sub");
        assert_eq!(big(&fa.square().to_canonical()), (&ba * &ba) % &p, "square");
        assert_eq!(big(&fa.neg().to_canonical()), (&p - &ba) % &p, "neg");
        if !fa.is_zero() {
            assert_eq!(fa.mul(&fa.invert()), Fe::ONE, "invert");
        }
        assert_eq!(fa.to_be_bytes(), limbs_to_be(&a));
        for k in [0u64, 1, 2, 3, 4, 8, 0xffff_ffff, 1 << 32] {
            assert_eq!(big(&fa.mul_small(k).to_canonical()), (&ba * k) % &p, "mul_small {k}");
        }
    }
}

#[test]
fn scalar_ops_match_oracle() {
    let n = big(&N);
    let mut seed = 0xfeed_beef_u64;
    for _ in 0..2000 {
        let a = reduce(&rand_limbs(&mut seed));
        let b = reduce(&rand_limbs(&mut seed));
        assert_eq!(big(&add_mod(&a, &b)), (big(&a) + big(&b)) % &n);
        assert_eq!(big(&sub_mod(&a, &b)), (big(&a) + &n - big(&b)) % &n);
        let x = rand_limbs(&mut seed);
        assert_eq!(big(&reduce(&x)), big(&x) % &n);
    }
    assert!(!in_range(&[0; 4]));
    assert!(!in_range(&N));
    assert!(in_range(&sub4(&N, &[1, 0, 0, 0]).0));
}

fn eval_wnaf(d: &[i8]) -> BigUint {
    // sum d_i 2^i, computed as positive minus negative parts.
    let mut pos = BigUint::from(0u8);
    let mut neg = BigUint::from(0u8);
    for (i, &x) in d.iter().enumerate() {
        let v = BigUint::from(x.unsigned_abs()) << i;
        if x > 0 {
            pos += v;
        } else if x < 0 {
            neg += v;
        }
    }
    pos - neg
}

#[test]
fn wnaf_recoding_reconstructs_the_scalar() {
    let mut seed = 0x0bad_cafe_u64;
    let mut cases = vec![[0; 4], [1, 0, 0, 0], [u64::MAX; 4], N, sub4(&N, &[1, 0, 0, 0]).0];
    for _ in 0..500 {
        cases.push(rand_limbs(&mut seed));
    }
    for k in &cases {
        for w in [4, 5, 6, 7, 8] {
            let d = wnaf(k, w);
            assert_eq!(eval_wnaf(&d), big(k), "w={w}");
            let mut last_nonzero: Option<usize> = None;
            for (i, &x) in d.iter().enumerate() {
                if x != 0 {
                    assert!(x % 2 != 0 && i32::from(x.unsigned_abs()) < (1 << (w - 1)));
                    if let Some(j) = last_nonzero {
                        assert!(i - j >= w as usize, "non-zero digits at least w apart");
                    }
                    last_nonzero = Some(i);
                }
            }
        }
        for c in 0..8 {
            let chunk = (k[c / 2] >> ((c % 2) * 32)) as u32;
            assert_eq!(eval_wnaf(&wnaf_u32(chunk, 7)), BigUint::from(chunk));
        }
    }
}

fn rc_mul(k: &[u64; 4], p: &Affine) -> Option<Affine> {
    // Reference double-and-add using the complete-case formulas, independent of the tables.
    let mut acc = Jacobian::IDENTITY;
    let base = Jacobian::from_affine(p);
    for i in (0..256).rev() {
        acc = acc.double();
        if (k[i / 64] >> (i % 64)) & 1 == 1 {
            acc = acc.add(&base);
        }
    }
    acc.to_affine()
}

#[test]
fn generator_and_exceptional_additions() {
    assert!(Affine::G.is_on_curve());
    let g = Jacobian::from_affine(&Affine::G);
    // G + G via add == double; G + (-G) = identity; identity handling.
    assert_eq!(g.add(&g).to_affine(), g.double().to_affine());
    assert_eq!(g.add_affine(&Affine::G).to_affine(), g.double().to_affine());
    assert!(g.add(&g.neg()).is_identity());
    assert!(g.add_affine(&Affine::G.neg()).is_identity());
    assert_eq!(Jacobian::IDENTITY.add(&g).to_affine(), Some(Affine::G));
    assert_eq!(g.add(&Jacobian::IDENTITY).to_affine(), Some(Affine::G));
    assert!(Jacobian::IDENTITY.double().is_identity());
    // n·G = identity; (n-1)·G = -G.
    assert!(rc_mul(&N, &Affine::G).is_none());
    assert_eq!(rc_mul(&sub4(&N, &[1, 0, 0, 0]).0, &Affine::G), Some(Affine::G.neg()));
    // Small multiples agree between the G table, wNAF and double-and-add, and stay on the curve.
    for k in 1u64..40 {
        let kk = [k, 0, 0, 0];
        let via_table = add_s_g(Jacobian::IDENTITY, &kk).to_affine();
        let via_wnaf = mul_p_wnaf(&Affine::G, &kk).to_affine();
        let reference = rc_mul(&kk, &Affine::G);
        assert_eq!(via_table, reference, "table k={k}");
        assert_eq!(via_wnaf, reference, "wnaf k={k}");
        assert!(reference.expect("non-zero").is_on_curve());
    }
}

#[test]
fn table_and_wnaf_multiplication_agree_with_reference() {
    let mut seed = 0x5eed_u64;
    let q = rc_mul(&[0x1234_5678, 0, 0, 7], &Affine::G).expect("point");
    let key = FastKey { point: q, z: [0; 32] };
    let table = KeyTable::build(&key);
    for _ in 0..20 {
        let k = reduce(&rand_limbs(&mut seed));
        let reference = rc_mul(&k, &q);
        assert_eq!(mul_p_wnaf(&q, &k).to_affine(), reference);
        assert_eq!(table.mul(&k).to_affine(), reference);
        assert_eq!(add_s_g(Jacobian::IDENTITY, &k).to_affine(), rc_mul(&k, &Affine::G));
    }
    // Scalars whose chunks hit the edges of the windows.
    for k in [[u64::MAX, u64::MAX, 0, 0], [1, 1 << 32, 1 << 63, 1], sub4(&N, &[1, 0, 0, 0]).0] {
        let k = reduce(&k);
        assert_eq!(table.mul(&k).to_affine(), rc_mul(&k, &q));
    }
}

#[test]
fn invalid_keys_are_refused() {
    let g_bytes = {
        let mut v = vec![4u8];
        v.extend_from_slice(&Affine::G.x.to_be_bytes());
        v.extend_from_slice(&Affine::G.y.to_be_bytes());
        v
    };
    assert!(FastKey::from_sec1(&g_bytes).is_ok());
    let mut off = g_bytes.clone();
    off[64] ^= 1;
    assert_eq!(FastKey::from_sec1(&off).err(), Some(KeyError::NotOnCurve));
    let mut big_x = g_bytes.clone();
    big_x[1..33].copy_from_slice(&limbs_to_be(&P));
    assert_eq!(FastKey::from_sec1(&big_x).err(), Some(KeyError::CoordinateRange));
    let mut big_y = g_bytes.clone();
    big_y[33..65].copy_from_slice(&[0xff; 32]);
    assert_eq!(FastKey::from_sec1(&big_y).err(), Some(KeyError::CoordinateRange));
    assert_eq!(FastKey::from_sec1(&[0u8]).err(), Some(KeyError::Encoding), "identity encoding");
    assert_eq!(FastKey::from_sec1(&g_bytes[..33]).err(), Some(KeyError::Encoding), "compressed");
    let mut wrong_tag = g_bytes.clone();
    wrong_tag[0] = 6;
    assert_eq!(FastKey::from_sec1(&wrong_tag).err(), Some(KeyError::Encoding));
    assert_eq!(FastKey::from_sec1(&[4u8; 65]).err(), Some(KeyError::NotOnCurve));
    // y = p - y (the negation) is valid; (x, 0) is not on the curve.
    let neg = Affine::G.neg();
    let mut neg_bytes = vec![4u8];
    neg_bytes.extend_from_slice(&neg.x.to_be_bytes());
    neg_bytes.extend_from_slice(&neg.y.to_be_bytes());
    assert!(FastKey::from_sec1(&neg_bytes).is_ok());
}

#[test]
fn z_matches_the_reference_implementation() {
    use sm2::dsa::signature::Verifier as _;
    let kp = crate::KeyPair::generate(crate::Suite::Sm);
    let pk = crate::Signer::public_key(&kp);
    let bytes = pk.to_bytes();
    let fk = FastKey::from_sec1(&bytes).expect("valid");
    let sig = crate::Signer::sign(&kp, b"abc").expect("sign");
    let rc = sm2::dsa::VerifyingKey::from_sec1_bytes(crate::SM2_DEFAULT_DISTID, &bytes).expect("key");
    let der = sm2::dsa::Signature::from_der(sig.as_bytes()).expect("der");
    assert!(rc.verify(b"abc", &der).is_ok());
    let (r, s) = (der.r_bytes(), der.s_bytes());
    let (r, s): ([u8; 32], [u8; 32]) = (r.into(), s.into());
    assert!(verify_prehash(&fk, &fk.digest(b"abc"), &r, &s));
    assert!(!verify_prehash(&fk, &fk.digest(b"abd"), &r, &s));
}

#[test]
#[ignore = "timing breakdown, run by hand"]
fn timing_breakdown() {
    use std::time::Instant;
    let k = [0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321, 0x1111_2222_3333_4444, 0x5555_6666_7777_8888];
    let q = rc_mul(&[0x1234_5678, 0, 0, 7], &Affine::G).expect("point");
    let _ = g_table();
    let n = 2000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(mul_p_wnaf(&q, std::hint::black_box(&k)));
    }
    println!("mul_p_wnaf {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(add_s_g(Jacobian::IDENTITY, std::hint::black_box(&k)));
    }
    println!("add_s_g {:?}", t.elapsed() / n);
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(wnaf(std::hint::black_box(&k), 5));
    }
    println!("wnaf {:?}", t.elapsed() / n);
    let a = Fe::from_canonical(k).expect("x");
    let t = Instant::now();
    let mut x = a;
    for _ in 0..n * 100 {
        x = x.mul(&a);
    }
    println!("mul {:?} {:?}", t.elapsed() / (n * 100), x.is_zero());
    let t = Instant::now();
    for _ in 0..n * 100 {
        x = x.square();
    }
    println!("square {:?} {:?}", t.elapsed() / (n * 100), x.is_zero());
    let j = Jacobian::from_affine(&q);
    let t = Instant::now();
    let mut y = j;
    for _ in 0..n * 10 {
        y = y.double();
    }
    println!("double {:?} {:?}", t.elapsed() / (n * 10), y.is_identity());
    let bytes = {
        let mut v = vec![4u8];
        v.extend_from_slice(&q.x.to_be_bytes());
        v.extend_from_slice(&q.y.to_be_bytes());
        v
    };
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(FastKey::from_sec1(std::hint::black_box(&bytes)).expect("k"));
    }
    println!("from_sec1 {:?}", t.elapsed() / n);
}

/// Out-of-range signatures are refused before the key cache is consulted: no entry, no table,
/// however often the same key is sent garbage.
#[test]
fn out_of_range_signatures_touch_no_cache() {
    use sm2::dsa::signature::Signer as _;
    let sk = sm2::dsa::SigningKey::from_slice(crate::SM2_DEFAULT_DISTID, &[3u8; 32]).expect("key");
    let key = sk.verifying_key().to_sec1_bytes();
    let good: sm2::dsa::Signature = sk.sign(b"m");
    let (gr, gs): ([u8; 32], [u8; 32]) = (good.r_bytes().into(), good.s_bytes().into());
    let be = |l: &[u64; 4]| -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, limb) in l.iter().enumerate() {
            b[24 - 8 * i..32 - 8 * i].copy_from_slice(&limb.to_be_bytes());
        }
        b
    };
    let n = be(&N);
    let n_minus_r = be(&sub_mod(&[0; 4], &limbs_from_be(&gr)));
    let cases: [([u8; 32], [u8; 32]); 6] =
        [([0; 32], gs), (gr, [0; 32]), (n, gs), (gr, n), ([0xff; 32], [0xff; 32]), (gr, n_minus_r)];
    let cache = cache::KeyCache::new(1 << 20);
    for _ in 0..3 {
        for (r, s) in &cases {
            assert!(!cache.verify(&key, b"m", r, s));
        }
    }
    let st = cache.stats();
    assert_eq!((st.misses, st.tables_built, st.table_hits), (0, 0, 0), "garbage reached the cache");
    // A valid signature still goes through the cache as before.
    assert!(cache.verify(&key, b"m", &gr, &gs));
    assert!(cache.verify(&key, b"m", &gr, &gs));
    let st = cache.stats();
    assert_eq!((st.misses, st.tables_built), (1, 1));
}
