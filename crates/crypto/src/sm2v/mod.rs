//! A variable-time SM2 signature verifier, several times faster than the generic RustCrypto one.
//!
//! Verification touches only public data (key, message, signature), so it may take data-dependent
//! time; signing stays on the constant-time RustCrypto implementation. What makes it fast:
//! * field arithmetic in four 64-bit limbs specialised to the SM2 prime ([`field`]);
//! * `s·G` from a table of `j·2^(8i)·G` built once (32 mixed additions, no doublings);
//! * `t·P` by a width-5 wNAF over P's odd multiples for a key seen once, or, for a key seen
//!   again, from a cached per-key table of 8 chunks × 32 odd multiples (32 doublings instead of
//!   256), kept in a bounded two-generation cache with a memory limit ([`set_cache_limit`]);
//! * no inversion at the end: `x1` is compared in projective form against both `v` and `v + n`.
//!
//! Exceptional cases are handled: `P = ±Q` in additions, the point at infinity, `t = 0`, `r` or
//! `s` out of range, `e >= n`, invalid public keys. `tests/sm2_fast_diff.rs` checks every verdict
//! against RustCrypto `sm2`, including crafted inputs random testing never reaches.

mod cache;
mod field;
mod point;
mod scalar;

use std::sync::OnceLock;

use field::{Fe, limbs_from_be, lt4};
use point::{Affine, CachedPoint, Jacobian, batch_to_affine};
use sm3::Digest as _;

pub use cache::{CacheStats, cache_stats, set_cache_limit};

/// Errors parsing a public key for the fast verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not 65 bytes starting with 0x04.
    Encoding,
    /// A coordinate is not below p.
    CoordinateRange,
    /// The point is not on the curve.
    NotOnCurve,
}

/// A validated SM2 public key with its user-id hash Z, ready for fast verification.
#[derive(Clone, Debug)]
pub struct FastKey {
    point: Affine,
    z: [u8; 32],
}

/// The SM2 curve's `a` and `b` and the generator, big-endian, as hashed into Z (GB/T 32918.2).
const Z_CURVE_BYTES: [&str; 4] = [
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
];

fn z_prefix() -> &'static [u8] {
    static PREFIX: OnceLock<Vec<u8>> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let id = crate::SM2_DEFAULT_DISTID.as_bytes();
        let entl = u16::try_from(id.len() * 8).expect("invariant: the default id is 16 bytes");
        let mut v = Vec::with_capacity(2 + id.len() + 128);
        v.extend_from_slice(&entl.to_be_bytes());
        v.extend_from_slice(id);
        for h in Z_CURVE_BYTES {
            v.extend_from_slice(&hex::decode(h).expect("invariant: constant hex"));
        }
        v
    })
}

impl FastKey {
    /// Parses and validates a SEC1 uncompressed key (65 bytes, `04 || x || y`): coordinates
    /// below p, on the curve. (The identity has no uncompressed encoding.)
    ///
    /// # Errors
    /// [`KeyError`] naming the problem.
    pub fn from_sec1(bytes: &[u8]) -> Result<FastKey, KeyError> {
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return Err(KeyError::Encoding);
        }
        let mut xb = [0u8; 32];
        let mut yb = [0u8; 32];
        xb.copy_from_slice(&bytes[1..33]);
        yb.copy_from_slice(&bytes[33..65]);
        let x = Fe::from_be_bytes(&xb).ok_or(KeyError::CoordinateRange)?;
        let y = Fe::from_be_bytes(&yb).ok_or(KeyError::CoordinateRange)?;
        let point = Affine { x, y };
        if !point.is_on_curve() {
            return Err(KeyError::NotOnCurve);
        }
        let mut h = sm3::Sm3::new();
        h.update(z_prefix());
        h.update(xb);
        h.update(yb);
        let mut z = [0u8; 32];
        z.copy_from_slice(&h.finalize());
        Ok(FastKey { point, z })
    }

    /// Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) with the default id.
    pub fn z(&self) -> [u8; 32] {
        self.z
    }

    /// e = SM3(Z || msg), big-endian.
    pub fn digest(&self, msg: &[u8]) -> [u8; 32] {
        let mut h = sm3::Sm3::new();
        h.update(self.z);
        h.update(msg);
        let mut e = [0u8; 32];
        e.copy_from_slice(&h.finalize());
        e
    }
}

/// Precomputed `j·2^(8i)·G` for i in 0..32, j in 1..=255, affine; index `i*255 + j - 1`.
fn g_table() -> &'static [Affine] {
    static TABLE: OnceLock<Vec<Affine>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut points = Vec::with_capacity(32 * 255);
        let mut base = Jacobian::from_affine(&Affine::G);
        for _ in 0..32 {
            let mut acc = base;
            for _ in 0..255 {
                points.push(acc);
                acc = acc.add(&base);
            }
            // acc = 256·base
            base = acc;
        }
        batch_to_affine(&points)
    })
}

/// `acc + s·G` from the fixed table: one mixed addition per non-zero byte of `s`.
fn add_s_g(mut acc: Jacobian, s: &[u64; 4]) -> Jacobian {
    let t = g_table();
    for i in 0..32 {
        let byte = ((s[i / 8] >> ((i % 8) * 8)) & 0xff) as usize;
        if byte != 0 {
            acc = acc.add_affine(&t[i * 255 + byte - 1]);
        }
    }
    acc
}

/// `t·P` by width-5 wNAF over Jacobian odd multiples (for a key without a cached table).
fn mul_p_wnaf(p: &Affine, t: &[u64; 4]) -> Jacobian {
    const W: u32 = 5;
    let base = Jacobian::from_affine(p);
    let twice = base.double();
    let mut acc = base;
    let mut odd = [CachedPoint::new(&base); 1 << (W - 2)];
    for slot in odd.iter_mut().skip(1) {
        acc = acc.add(&twice);
        *slot = CachedPoint::new(&acc);
    }
    let digits = scalar::wnaf(t, W);
    let top = digits.iter().rposition(|d| *d != 0).unwrap_or(0);
    let mut acc = Jacobian::IDENTITY;
    for i in (0..=top).rev() {
        acc = acc.double();
        let d = digits[i];
        if d > 0 {
            acc = acc.add_cached(&odd[(d / 2) as usize]);
        } else if d < 0 {
            acc = acc.add_cached(&odd[(-d / 2) as usize].neg());
        }
    }
    acc
}

/// Chunks of a scalar in a per-key table, and the window width of each chunk's wNAF.
const CHUNKS: usize = 8;
const CHUNK_BITS: u32 = 32;
const TABLE_W: u32 = 7;
const TABLE_ODD: usize = 1 << (TABLE_W - 2);

/// A per-key table: for chunk k, the odd multiples `(2j+1)·2^(32k)·P`, j in 0..32, affine
/// (8 × 32 points, 16 KiB).
pub struct KeyTable {
    points: Vec<Affine>,
}

impl KeyTable {
    /// Builds the table for `key` (about as costly as two or three verifications).
    pub fn build(key: &FastKey) -> KeyTable {
        let mut all = Vec::with_capacity(CHUNKS * TABLE_ODD);
        let mut base = Jacobian::from_affine(&key.point);
        for _ in 0..CHUNKS {
            let twice = base.double();
            let mut acc = base;
            for _ in 0..TABLE_ODD {
                all.push(acc);
                acc = acc.add(&twice);
            }
            for _ in 0..CHUNK_BITS {
                base = base.double();
            }
        }
        KeyTable { points: batch_to_affine(&all) }
    }

    /// Approximate memory held, in bytes.
    pub fn size_bytes() -> usize {
        CHUNKS * TABLE_ODD * std::mem::size_of::<Affine>() + std::mem::size_of::<KeyTable>()
    }

    fn mul(&self, t: &[u64; 4]) -> Jacobian {
        let mut digits = [[0i8; 33]; CHUNKS];
        for (k, d) in digits.iter_mut().enumerate() {
            let chunk = (t[k / 2] >> ((k % 2) * 32)) as u32;
            *d = scalar::wnaf_u32(chunk, TABLE_W);
        }
        let mut acc = Jacobian::IDENTITY;
        for i in (0..33).rev() {
            acc = acc.double();
            for (k, d) in digits.iter().enumerate() {
                let d = d[i];
                if d > 0 {
                    acc = acc.add_affine(&self.points[k * TABLE_ODD + (d / 2) as usize]);
                } else if d < 0 {
                    acc = acc.add_affine(&self.points[k * TABLE_ODD + (-d / 2) as usize].neg());
                }
            }
        }
        acc
    }
}

/// Checks `x(R) ≡ v (mod n)` for `R = (X : Y : Z)` without inverting Z: `x = v` or `x = v + n`
/// (when below p), compared as `X == x·Z²`.
fn x_matches(r: &Jacobian, v: &[u64; 4]) -> bool {
    if r.is_identity() {
        return false;
    }
    let z2 = r.z.square();
    let matches = |cand: &[u64; 4]| Fe::from_canonical(*cand).is_some_and(|c| c.mul(&z2) == r.x);
    if matches(v) {
        return true;
    }
    let (vn, carry) = field::add4(v, &scalar::N);
    carry == 0 && lt4(&vn, &field::P) && matches(&vn)
}

/// Parsed signature scalars, range-checked, with `t = (r + s) mod n` non-zero.
struct Scalars {
    r: [u64; 4],
    s: [u64; 4],
    t: [u64; 4],
}

fn scalars(r: &[u8; 32], s: &[u8; 32]) -> Option<Scalars> {
    let r = limbs_from_be(r);
    let s = limbs_from_be(s);
    if !scalar::in_range(&r) || !scalar::in_range(&s) {
        return None;
    }
    let t = scalar::add_mod(&r, &s);
    if t == [0; 4] {
        return None;
    }
    Some(Scalars { r, s, t })
}

fn finish(sc: &Scalars, e: &[u8; 32], t_p: Jacobian) -> bool {
    let point = add_s_g(t_p, &sc.s);
    let e = scalar::reduce(&limbs_from_be(e));
    let v = scalar::sub_mod(&sc.r, &e);
    x_matches(&point, &v)
}

/// Verifies `(r, s)` over the digest `e = SM3(Z || M)` for `key`, without any cache.
pub fn verify_prehash(key: &FastKey, e: &[u8; 32], r: &[u8; 32], s: &[u8; 32]) -> bool {
    let Some(sc) = scalars(r, s) else { return false };
    finish(&sc, e, mul_p_wnaf(&key.point, &sc.t))
}

/// Verifies with a per-key table.
pub fn verify_prehash_with_table(table: &KeyTable, e: &[u8; 32], r: &[u8; 32], s: &[u8; 32]) -> bool {
    let Some(sc) = scalars(r, s) else { return false };
    finish(&sc, e, table.mul(&sc.t))
}

/// Verifies an SM2 signature `(r, s)` over `msg` by the key with SEC1 encoding `key_bytes`,
/// using (and filling) the process-wide key cache. Invalid keys verify nothing.
pub fn verify(key_bytes: &[u8], msg: &[u8], r: &[u8; 32], s: &[u8; 32]) -> bool {
    cache::global().verify(key_bytes, msg, r, s)
}

/// Verifies without touching the cache (the new-key path, for benchmarks and tests).
pub fn verify_uncached(key_bytes: &[u8], msg: &[u8], r: &[u8; 32], s: &[u8; 32]) -> bool {
    match FastKey::from_sec1(key_bytes) {
        Ok(k) => verify_prehash(&k, &k.digest(msg), r, s),
        Err(_) => false,
    }
}

/// Builds the generator table now rather than on the first verification.
pub fn warm_up() {
    let _ = g_table();
}

#[cfg(test)]
mod tests;

static REFERENCE_MODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Routes [`crate::PublicKey::verify`] for SM2 through the reference implementation (RustCrypto)
/// instead of this verifier, process-wide. A benchmarking aid: `fdl node` sets it when
/// `FDL_SM2_VERIFIER=reference`, so the same build measures the chain before and after the fast
/// verifier.
pub fn set_reference_mode(on: bool) {
    REFERENCE_MODE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether [`set_reference_mode`] is on.
pub fn reference_mode() -> bool {
    REFERENCE_MODE.load(std::sync::atomic::Ordering::Relaxed)
}
