//! Points of the SM2 curve y^2 = x^3 - 3x + b in Jacobian coordinates (x = X/Z^2, y = Y/Z^3),
//! with exceptional cases handled explicitly (variable time: public data only).

use super::field::Fe;

/// b in Montgomery form.
pub(crate) const B: Fe = Fe([0x90d230632bc0dd42, 0x71cf379ae9b537ab, 0x527981505ea51c3c, 0x240fe188ba20e2c8]);
/// The generator's x, Montgomery form.
pub(crate) const GX: Fe = Fe([0x61328990f418029e, 0x3e7981eddca6c050, 0xd6a1ed99ac24c3c3, 0x91167a5ee1c13b05]);
/// The generator's y, Montgomery form.
pub(crate) const GY: Fe = Fe([0xc1354e593c2d0ddd, 0xc1f5e5788d3295fa, 0x8d4cfb066e2a48f8, 0x63cd65d481d735bd]);

/// An affine point (never the identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
}

impl Affine {
    /// The generator G.
    pub(crate) const G: Affine = Affine { x: GX, y: GY };

    /// Whether the point satisfies the curve equation.
    pub(crate) fn is_on_curve(&self) -> bool {
        let y2 = self.y.square();
        let x3 = self.x.square().mul(&self.x);
        let three_x = self.x.double().add(&self.x);
        y2 == x3.sub(&three_x).add(&B)
    }

    pub(crate) fn neg(&self) -> Affine {
        Affine { x: self.x, y: self.y.neg() }
    }
}

/// A point in Jacobian coordinates; Z = 0 is the identity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian {
    pub(crate) x: Fe,
    pub(crate) y: Fe,
    pub(crate) z: Fe,
}

impl Jacobian {
    pub(crate) const IDENTITY: Jacobian = Jacobian { x: Fe::ONE, y: Fe::ONE, z: Fe::ZERO };

    pub(crate) fn from_affine(p: &Affine) -> Jacobian {
        Jacobian { x: p.x, y: p.y, z: Fe::ONE }
    }

    #[inline]
    pub(crate) fn is_identity(&self) -> bool {
        self.z.is_zero()
    }

    #[cfg(test)]
    pub(crate) fn neg(&self) -> Jacobian {
        Jacobian { x: self.x, y: self.y.neg(), z: self.z }
    }

    /// Doubling for a = -3 (dbl-2001-b): 3M + 5S.
    pub(crate) fn double(&self) -> Jacobian {
        if self.is_identity() || self.y.is_zero() {
            return Jacobian::IDENTITY;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let alpha = self.x.sub(&delta).mul(&self.x.add(&delta)).mul_small(3);
        let beta4 = beta.mul_small(4);
        let x3 = alpha.square().sub(&beta.mul_small(8));
        let z3 = self.y.mul(&self.z).double();
        let gamma2_8 = gamma.square().mul_small(8);
        let y3 = alpha.mul(&beta4.sub(&x3)).sub(&gamma2_8);
        Jacobian { x: x3, y: y3, z: z3 }
    }

    /// `self + q` for an affine `q` (madd): 7M + 4S, with P = Q and P = -Q detected.
    pub(crate) fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_identity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x.mul(&z1z1);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            return if r.is_zero() { self.double() } else { Jacobian::IDENTITY };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&self.y.mul(&hhh));
        let z3 = self.z.mul(&h);
        Jacobian { x: x3, y: y3, z: z3 }
    }

    /// `self + q` for Jacobian points (add-1998-cmo-2): 12M + 4S, exceptional cases detected.
    pub(crate) fn add(&self, q: &Jacobian) -> Jacobian {
        if q.is_identity() {
            return *self;
        }
        self.add_cached(&CachedPoint::new(q))
    }

    /// `self + q` for a table point with its Z² and Z³ cached: 10M + 2S.
    pub(crate) fn add_cached(&self, q: &CachedPoint) -> Jacobian {
        if self.is_identity() {
            return Jacobian { x: q.x, y: q.y, z: q.z };
        }
        let z1z1 = self.z.square();
        let u1 = self.x.mul(&q.zz);
        let u2 = q.x.mul(&z1z1);
        let s1 = self.y.mul(&q.zzz);
        let s2 = q.y.mul(&self.z).mul(&z1z1);
        let h = u2.sub(&u1);
        let r = s2.sub(&s1);
        if h.is_zero() {
            return if r.is_zero() { self.double() } else { Jacobian::IDENTITY };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = u1.mul(&hh);
        let x3 = r.square().sub(&hhh).sub(&v.double());
        let y3 = r.mul(&v.sub(&x3)).sub(&s1.mul(&hhh));
        let z3 = self.z.mul(&q.z).mul(&h);
        Jacobian { x: x3, y: y3, z: z3 }
    }

    /// The affine point, or `None` for the identity (one inversion: tests only).
    #[cfg(test)]
    pub(crate) fn to_affine(self) -> Option<Affine> {
        if self.is_identity() {
            return None;
        }
        let zi = self.z.invert();
        let zi2 = zi.square();
        Some(Affine { x: self.x.mul(&zi2), y: self.y.mul(&zi2).mul(&zi) })
    }
}

/// A Jacobian point (never the identity) with Z² and Z³ precomputed, for window tables.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CachedPoint {
    x: Fe,
    y: Fe,
    z: Fe,
    zz: Fe,
    zzz: Fe,
}

impl CachedPoint {
    pub(crate) fn new(p: &Jacobian) -> CachedPoint {
        let zz = p.z.square();
        CachedPoint { x: p.x, y: p.y, z: p.z, zz, zzz: zz.mul(&p.z) }
    }

    pub(crate) fn neg(&self) -> CachedPoint {
        CachedPoint { y: self.y.neg(), ..*self }
    }
}

/// Converts many points to affine with one inversion (Montgomery's trick). The identity is not
/// allowed in tables; callers guarantee it (multiples of a point of prime order below the order).
pub(crate) fn batch_to_affine(points: &[Jacobian]) -> Vec<Affine> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        debug_assert!(!p.is_identity(), "invariant: table points are never the identity");
        prefix.push(acc);
        acc = acc.mul(&p.z);
    }
    let mut inv = acc.invert();
    let mut out = vec![Affine { x: Fe::ZERO, y: Fe::ZERO }; points.len()];
    for i in (0..points.len()).rev() {
        let zi = inv.mul(&prefix[i]);
        inv = inv.mul(&points[i].z);
        let zi2 = zi.square();
        out[i] = Affine { x: points[i].x.mul(&zi2), y: points[i].y.mul(&zi2).mul(&zi) };
    }
    out
}
