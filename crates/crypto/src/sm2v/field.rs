//! Arithmetic modulo the SM2 prime p = 2^256 - 2^224 - 2^96 + 2^64 - 1, in Montgomery form with
//! four 64-bit limbs (little-endian). Variable-time: verification only handles public data.
//!
//! The prime's lowest limb is 2^64 - 1, so -p^-1 mod 2^64 = 1 and each Montgomery step's
//! multiplier is simply the lowest limb.

/// The SM2 field prime, little-endian limbs.
pub(crate) const P: [u64; 4] = [0xffffffffffffffff, 0xffffffff00000000, 0xffffffffffffffff, 0xfffffffeffffffff];
/// 2^512 mod p: multiplying by it enters Montgomery form.
const R2: [u64; 4] = [0x0000000200000003, 0x00000002ffffffff, 0x0000000100000001, 0x0000000400000002];
/// 2^256 mod p: one in Montgomery form.
const R: [u64; 4] = [0x0000000000000001, 0x00000000ffffffff, 0x0000000000000000, 0x0000000100000000];

/// A field element in Montgomery form, always fully reduced (< p).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Fe(pub(crate) [u64; 4]);

#[inline(always)]
fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = (a as u128) + (b as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

#[inline(always)]
fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let t = (a as u128).wrapping_sub((b as u128) + ((borrow >> 63) as u128));
    (t as u64, (t >> 64) as u64)
}

#[inline(always)]
fn mac(acc: u64, a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = (acc as u128) + (a as u128) * (b as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// `a - b`, returning the result and whether it borrowed.
#[inline(always)]
pub(crate) fn sub4(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], bool) {
    let (r0, br) = sbb(a[0], b[0], 0);
    let (r1, br) = sbb(a[1], b[1], br);
    let (r2, br) = sbb(a[2], b[2], br);
    let (r3, br) = sbb(a[3], b[3], br);
    ([r0, r1, r2, r3], br != 0)
}

/// `a + b`, returning the result and the carry.
#[inline(always)]
pub(crate) fn add4(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], u64) {
    let (r0, c) = adc(a[0], b[0], 0);
    let (r1, c) = adc(a[1], b[1], c);
    let (r2, c) = adc(a[2], b[2], c);
    let (r3, c) = adc(a[3], b[3], c);
    ([r0, r1, r2, r3], c)
}

/// Whether `a < b` as 256-bit integers.
#[inline(always)]
pub(crate) fn lt4(a: &[u64; 4], b: &[u64; 4]) -> bool {
    sub4(a, b).1
}

/// `if choose_a { a } else { b }` without a branch: these conditions are data-dependent and
/// close to random, so a branch would be mispredicted about half the time.
#[inline(always)]
fn select(choose_a: bool, a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mask = 0u64.wrapping_sub(u64::from(choose_a));
    [
        (a[0] & mask) | (b[0] & !mask),
        (a[1] & mask) | (b[1] & !mask),
        (a[2] & mask) | (b[2] & !mask),
        (a[3] & mask) | (b[3] & !mask),
    ]
}

/// Reduces a 5-limb value known to be below 2p.
#[inline(always)]
fn reduce_once(v: [u64; 4], hi: u64) -> [u64; 4] {
    let (s, borrow) = sub4(&v, &P);
    select(hi != 0 || !borrow, &s, &v)
}

/// Big-endian bytes to little-endian limbs.
pub(crate) fn limbs_from_be(bytes: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, limb) in out.iter_mut().enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[32 - 8 * (i + 1)..32 - 8 * i]);
        *limb = u64::from_be_bytes(w);
    }
    out
}

/// Little-endian limbs to big-endian bytes.
#[cfg(test)]
pub(crate) fn limbs_to_be(limbs: &[u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, limb) in limbs.iter().enumerate() {
        out[32 - 8 * (i + 1)..32 - 8 * i].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// Montgomery reduction of a 512-bit value below p·2^256 (separated operand scanning): four
/// rounds of adding `m·p·2^(64i)` with `m` the lowest remaining limb (-p^-1 = 1 mod 2^64).
#[inline(always)]
fn mont_reduce(t: [u64; 8]) -> Fe {
    let [t0, mut t1, mut t2, mut t3, mut t4, mut t5, mut t6, mut t7] = t;
    let mut top;
    // Round 0.
    let m = t0;
    let (_, c) = mac(t0, m, P[0], 0);
    let (v, c) = mac(t1, m, P[1], c);
    t1 = v;
    let (v, c) = mac(t2, m, P[2], c);
    t2 = v;
    let (v, c) = mac(t3, m, P[3], c);
    t3 = v;
    let (v, c) = adc(t4, c, 0);
    t4 = v;
    let (v, c) = adc(t5, 0, c);
    t5 = v;
    let (v, c) = adc(t6, 0, c);
    t6 = v;
    let (v, c) = adc(t7, 0, c);
    t7 = v;
    top = c;
    // Round 1.
    let m = t1;
    let (_, c) = mac(t1, m, P[0], 0);
    let (v, c) = mac(t2, m, P[1], c);
    t2 = v;
    let (v, c) = mac(t3, m, P[2], c);
    t3 = v;
    let (v, c) = mac(t4, m, P[3], c);
    t4 = v;
    let (v, c) = adc(t5, c, 0);
    t5 = v;
    let (v, c) = adc(t6, 0, c);
    t6 = v;
    let (v, c) = adc(t7, 0, c);
    t7 = v;
    top += c;
    // Round 2.
    let m = t2;
    let (_, c) = mac(t2, m, P[0], 0);
    let (v, c) = mac(t3, m, P[1], c);
    t3 = v;
    let (v, c) = mac(t4, m, P[2], c);
    t4 = v;
    let (v, c) = mac(t5, m, P[3], c);
    t5 = v;
    let (v, c) = adc(t6, c, 0);
    t6 = v;
    let (v, c) = adc(t7, 0, c);
    t7 = v;
    top += c;
    // Round 3.
    let m = t3;
    let (_, c) = mac(t3, m, P[0], 0);
    let (v, c) = mac(t4, m, P[1], c);
    t4 = v;
    let (v, c) = mac(t5, m, P[2], c);
    t5 = v;
    let (v, c) = mac(t6, m, P[3], c);
    t6 = v;
    let (v, c) = adc(t7, c, 0);
    t7 = v;
    top += c;
    let _ = t0;
    Fe(reduce_once([t4, t5, t6, t7], top))
}

impl Fe {
    pub(crate) const ZERO: Fe = Fe([0; 4]);
    pub(crate) const ONE: Fe = Fe(R);

    /// From a canonical integer below p (enters Montgomery form). `None` when `x >= p`.
    pub(crate) fn from_canonical(x: [u64; 4]) -> Option<Fe> {
        if !lt4(&x, &P) {
            return None;
        }
        Some(Fe(x).mul(&Fe(R2)))
    }

    /// From 32 big-endian bytes; `None` when the value is not below p.
    pub(crate) fn from_be_bytes(b: &[u8; 32]) -> Option<Fe> {
        Self::from_canonical(limbs_from_be(b))
    }

    /// The canonical integer (leaves Montgomery form).
    #[cfg(test)]
    pub(crate) fn to_canonical(self) -> [u64; 4] {
        self.mul(&Fe([1, 0, 0, 0])).0
    }

    /// Big-endian bytes of the canonical integer.
    #[cfg(test)]
    pub(crate) fn to_be_bytes(self) -> [u8; 32] {
        limbs_to_be(&self.to_canonical())
    }

    #[inline]
    pub(crate) fn is_zero(&self) -> bool {
        self.0 == [0; 4]
    }

    #[inline]
    pub(crate) fn add(&self, o: &Fe) -> Fe {
        let (v, c) = add4(&self.0, &o.0);
        Fe(reduce_once(v, c))
    }

    #[inline]
    pub(crate) fn sub(&self, o: &Fe) -> Fe {
        let (v, borrow) = sub4(&self.0, &o.0);
        let fixed = add4(&v, &P).0;
        Fe(select(borrow, &fixed, &v))
    }

    #[inline]
    pub(crate) fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    #[inline]
    pub(crate) fn double(&self) -> Fe {
        self.add(self)
    }

    /// `k·self` for a small `k` (at most 2^32): one product with a 5th limb `hi`, folded back
    /// with `2^256 ≡ 2^224 + 2^96 - 2^64 + 1 (mod p)` — one reduction instead of a chain of
    /// additions.
    #[inline]
    pub(crate) fn mul_small(&self, k: u64) -> Fe {
        debug_assert!(k <= 1 << 32);
        let a = &self.0;
        let (l0, c) = mac(0, a[0], k, 0);
        let (l1, c) = mac(0, a[1], k, c);
        let (l2, c) = mac(0, a[2], k, c);
        let (l3, hi) = mac(0, a[3], k, c);
        // + hi·(2^256 mod p) = hi·[1, 2^32 - 1, 0, 2^32]; hi < 2^32, so no term overflows.
        let (r0, c) = adc(l0, hi, 0);
        let (r1, c) = adc(l1, hi * 0xffff_ffff, c);
        let (r2, c) = adc(l2, 0, c);
        let (r3, c) = adc(l3, hi << 32, c);
        // A carry out is 2^256 again: add 2^256 mod p once more (the sum is now small enough).
        let (v, _) = add4(&[r0, r1, r2, r3], &[c, c * 0xffff_ffff, 0, c << 32]);
        Fe(reduce_once(v, 0))
    }

    /// Montgomery multiplication: `self * o / 2^256 mod p`: the 512-bit product (operand
    /// scanning, unrolled), then [`mont_reduce`].
    #[inline]
    pub(crate) fn mul(&self, o: &Fe) -> Fe {
        let a = &self.0;
        let b = &o.0;
        let (t0, c) = mac(0, a[0], b[0], 0);
        let (t1, c) = mac(0, a[0], b[1], c);
        let (t2, c) = mac(0, a[0], b[2], c);
        let (t3, t4) = mac(0, a[0], b[3], c);
        let (t1, c) = mac(t1, a[1], b[0], 0);
        let (t2, c) = mac(t2, a[1], b[1], c);
        let (t3, c) = mac(t3, a[1], b[2], c);
        let (t4, t5) = mac(t4, a[1], b[3], c);
        let (t2, c) = mac(t2, a[2], b[0], 0);
        let (t3, c) = mac(t3, a[2], b[1], c);
        let (t4, c) = mac(t4, a[2], b[2], c);
        let (t5, t6) = mac(t5, a[2], b[3], c);
        let (t3, c) = mac(t3, a[3], b[0], 0);
        let (t4, c) = mac(t4, a[3], b[1], c);
        let (t5, c) = mac(t5, a[3], b[2], c);
        let (t6, t7) = mac(t6, a[3], b[3], c);
        mont_reduce([t0, t1, t2, t3, t4, t5, t6, t7])
    }

    /// Montgomery squaring: the 512-bit square with each cross product computed once (10
    /// multiplications instead of 16), then a Montgomery reduction.
    #[inline]
    pub(crate) fn square(&self) -> Fe {
        let a = &self.0;
        let mut t = [0u64; 8];
        // Cross products a[i]*a[j], i < j.
        let (t1, c) = mac(0, a[0], a[1], 0);
        let (t2, c) = mac(0, a[0], a[2], c);
        let (t3, t4) = mac(0, a[0], a[3], c);
        let (t3, c) = mac(t3, a[1], a[2], 0);
        let (t4, t5) = mac(t4, a[1], a[3], c);
        let (t5, t6) = mac(t5, a[2], a[3], 0);
        // Doubled.
        let t7 = t6 >> 63;
        let t6 = (t6 << 1) | (t5 >> 63);
        let t5 = (t5 << 1) | (t4 >> 63);
        let t4 = (t4 << 1) | (t3 >> 63);
        let t3 = (t3 << 1) | (t2 >> 63);
        let t2 = (t2 << 1) | (t1 >> 63);
        let t1 = t1 << 1;
        // Plus the squares.
        let (t0, c) = mac(0, a[0], a[0], 0);
        let (t1, c2) = adc(t1, c, 0);
        let (sq_lo, sq_hi) = mac(0, a[1], a[1], 0);
        let (t2, c) = adc(t2, sq_lo, c2);
        let (t3, c) = adc(t3, sq_hi, c);
        let (sq_lo, sq_hi) = mac(0, a[2], a[2], 0);
        let (t4, c) = adc(t4, sq_lo, c);
        let (t5, c) = adc(t5, sq_hi, c);
        let (sq_lo, sq_hi) = mac(0, a[3], a[3], 0);
        let (t6, c) = adc(t6, sq_lo, c);
        let (t7, _) = adc(t7, sq_hi, c);
        t[0] = t0;
        t[1] = t1;
        t[2] = t2;
        t[3] = t3;
        t[4] = t4;
        t[5] = t5;
        t[6] = t6;
        t[7] = t7;
        mont_reduce(t)
    }

    /// `self^(p-2)`: the inverse for non-zero elements (zero maps to zero). Only used to build
    /// tables and in tests, never per verification.
    pub(crate) fn invert(&self) -> Fe {
        // p - 2, big-endian bits, square-and-multiply.
        let (e, _) = sub4(&P, &[2, 0, 0, 0]);
        let mut acc = Fe::ONE;
        for i in (0..256).rev() {
            acc = acc.square();
            if (e[i / 64] >> (i % 64)) & 1 == 1 {
                acc = acc.mul(self);
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_round_trips_and_constants_agree() {
        assert_eq!(Fe::ONE.to_canonical(), [1, 0, 0, 0]);
        let x = Fe::from_canonical([5, 0, 0, 0]).expect("small");
        assert_eq!(x.to_canonical(), [5, 0, 0, 0]);
        assert!(Fe::from_canonical(P).is_none());
        let pm1 = sub4(&P, &[1, 0, 0, 0]).0;
        let y = Fe::from_canonical(pm1).expect("p-1");
        assert_eq!(y.add(&Fe::ONE), Fe::ZERO);
        assert_eq!(y.mul(&y), Fe::ONE, "(-1)^2 = 1");
        assert_eq!(x.mul(&x.invert()), Fe::ONE);
    }
}
