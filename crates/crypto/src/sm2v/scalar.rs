//! What verification needs modulo the group order n: range checks, `(a + b) mod n`,
//! `(a - b) mod n`, and signed-window (wNAF) recoding of scalars.

use super::field::{add4, lt4, sub4};

/// The order of the SM2 base point, little-endian limbs.
pub(crate) const N: [u64; 4] = [0x53bbf40939d54123, 0x7203df6b21c6052b, 0xffffffffffffffff, 0xfffffffeffffffff];

/// Whether `x` is in [1, n-1].
pub(crate) fn in_range(x: &[u64; 4]) -> bool {
    *x != [0; 4] && lt4(x, &N)
}

/// `x mod n` for any 256-bit `x` (n > 2^255, so one subtraction suffices).
pub(crate) fn reduce(x: &[u64; 4]) -> [u64; 4] {
    if lt4(x, &N) { *x } else { sub4(x, &N).0 }
}

/// `(a + b) mod n` for `a, b < n`.
pub(crate) fn add_mod(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (s, carry) = add4(a, b);
    if carry != 0 || !lt4(&s, &N) { sub4(&s, &N).0 } else { s }
}

/// `(a - b) mod n` for `a, b < n`.
pub(crate) fn sub_mod(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (d, borrow) = sub4(a, b);
    if borrow { add4(&d, &N).0 } else { d }
}

/// Width-`w` NAF of a 256-bit scalar: digits are zero or odd in (-2^(w-1), 2^(w-1)), least
/// significant first, and `sum digits[i] * 2^i == k`. At most 257 digits.
pub(crate) fn wnaf(k: &[u64; 4], w: u32) -> [i8; 257] {
    debug_assert!((2..=8).contains(&w));
    let mut digits = [0i8; 257];
    // Five limbs: adding back a negative digit can carry past bit 255.
    let mut v = [k[0], k[1], k[2], k[3], 0u64];
    let window = 1u64 << w;
    let half = 1u64 << (w - 1);
    let mut i = 0;
    while v != [0; 5] {
        if v[0] & 1 == 1 {
            let m = v[0] & (window - 1);
            if m >= half {
                // digit m - 2^w (negative): v += 2^w - m
                let add = window - m;
                let mut carry = add;
                for limb in v.iter_mut() {
                    let (s, c) = limb.overflowing_add(carry);
                    *limb = s;
                    carry = u64::from(c);
                    if carry == 0 {
                        break;
                    }
                }
                digits[i] = -((add) as i8);
            } else {
                v[0] -= m;
                digits[i] = m as i8;
            }
        }
        // v >>= 1
        for j in 0..4 {
            v[j] = (v[j] >> 1) | (v[j + 1] << 63);
        }
        v[4] >>= 1;
        i += 1;
    }
    digits
}

/// Width-`w` NAF of a value below 2^32 (a chunk of a scalar): at most 33 digits.
pub(crate) fn wnaf_u32(k: u32, w: u32) -> [i8; 33] {
    let mut digits = [0i8; 33];
    let mut v = u64::from(k);
    let window = 1u64 << w;
    let half = 1u64 << (w - 1);
    let mut i = 0;
    while v != 0 {
        if v & 1 == 1 {
            let m = v & (window - 1);
            if m >= half {
                v += window - m;
                digits[i] = -((window - m) as i8);
            } else {
                v -= m;
                digits[i] = m as i8;
            }
        }
        v >>= 1;
        i += 1;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(digits: &[i8]) -> i128 {
        // Only for small values in tests.
        digits.iter().rev().fold(0i128, |acc, &d| acc * 2 + i128::from(d))
    }

    #[test]
    fn small_wnaf_reconstructs() {
        for k in [0u32, 1, 2, 3, 15, 16, 31, 127, 128, 255, 1 << 20, u32::MAX, 0xdead_beef] {
            for w in 2..=8 {
                let d = wnaf_u32(k, w);
                assert_eq!(eval(&d), i128::from(k), "k={k} w={w}");
                let wide = wnaf(&[u64::from(k), 0, 0, 0], w);
                assert_eq!(eval(&wide[..40]), i128::from(k));
                for x in d.iter().filter(|x| **x != 0) {
                    assert!(x % 2 != 0 && i32::from(x.abs()) < (1 << (w - 1)));
                }
            }
        }
    }
}
