//! X.509 certificates and CRLs (`fdl_pki`): what a transaction carries (a member certificate, a
//! CA certificate in a governance action, a CRL) reaches these parsers from any sender. The input
//! is tried as a certificate, as a CA and as a CRL against fixed, valid counterparts of both
//! suites; nothing may panic, and what verifies must agree with what parses.

use std::sync::LazyLock;

use fdl_crypto::{KeyPair, Signer as _};
use fdl_pki::{Revoked, Role};

/// Valid certificates and CRLs of both suites, made once.
pub struct Fixture {
    /// Root CA certificates (DER): SM2, then Ed25519.
    pub cas: Vec<Vec<u8>>,
    /// A member certificate from each CA.
    pub certs: Vec<Vec<u8>>,
    /// From each CA: a CRL revoking its member certificate, and an empty one.
    pub crls: Vec<Vec<u8>>,
    /// A time (Unix seconds) at which every certificate here is valid.
    pub now: u64,
}

/// The fixture the target checks inputs against.
pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(fixture);

fn fixture() -> Fixture {
    let sm = |b| KeyPair::sm2_from_scalar(&[b; 32]).expect("valid scalar");
    let ed = |b| KeyPair::ed25519_from_seed(&[b; 32]);
    let (mut cas, mut certs, mut crls, mut now) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for (ca_key, member) in [(sm(0x51), sm(0x52)), (ed(0x53), ed(0x54))] {
        let ca = fdl_pki::create_ca("org1", &ca_key, 3650).expect("create a CA");
        let cert = fdl_pki::issue(&ca, &ca_key, &member.public_key(), "alice", Role::Client, 365)
            .expect("issue a certificate");
        let info = fdl_pki::parse(&cert).expect("parse the certificate");
        now = now.max(info.not_before + 60);
        let revoked = [Revoked { serial: info.serial, at: info.not_before }];
        crls.push(fdl_pki::create_crl(&ca, &ca_key, &revoked, 1).expect("create a CRL"));
        crls.push(fdl_pki::create_crl(&ca, &ca_key, &[], 2).expect("create an empty CRL"));
        cas.push(ca);
        certs.push(cert);
    }
    Fixture { cas, certs, crls, now }
}

/// Tries `data` as a certificate (parsed, and verified against each CA at a valid time and at
/// the epoch), as a CRL of each CA, as the CA of each certificate and CRL, as certificate and CA
/// at once, and through PEM both ways.
pub fn x509_crl(data: &[u8]) {
    let f = &*FIXTURE;
    let parsed = fdl_pki::parse(data).ok();

    for ca in &f.cas {
        for now in [f.now, 0] {
            if let Ok(info) = fdl_pki::verify(data, ca, now) {
                assert_eq!(Some(&info), parsed.as_ref(), "verify returns what parse reads");
                assert!(info.not_before <= now && now <= info.not_after, "verified outside its validity");
            }
        }
        for now in [f.now, 0] {
            let _ = fdl_pki::verify_crl(data, ca, now);
        }
    }

    for cert in &f.certs {
        if let Ok(info) = fdl_pki::verify(cert, data, f.now) {
            let ca = parsed.as_ref().expect("a CA that verifies a certificate parses");
            assert!(ca.is_ca, "a certificate verified under a non-CA");
            assert_eq!(Some(info), fdl_pki::parse(cert).ok(), "verify returns what parse reads");
        }
    }
    for crl in &f.crls {
        if fdl_pki::verify_crl(crl, data, f.now).is_ok() {
            assert!(parsed.is_some(), "a CA that verifies a CRL parses");
        }
    }

    // A self-signed CA verifies itself.
    let _ = fdl_pki::verify(data, data, f.now);
    let _ = fdl_pki::verify_crl(data, data, f.now);

    // PEM both ways. An empty body is no DER at all, and PEM reading refuses it.
    if !data.is_empty() {
        let pem = fdl_pki::to_pem(data).expect("any bytes have a PEM form");
        assert_eq!(fdl_pki::from_pem(&pem).ok().as_deref(), Some(data), "certificate PEM round trip");
        assert!(fdl_pki::crl_from_pem(&pem).is_err(), "a certificate PEM read as a CRL");
        let pem = fdl_pki::crl_to_pem(data).expect("any bytes have a PEM form");
        assert_eq!(fdl_pki::crl_from_pem(&pem).ok().as_deref(), Some(data), "CRL PEM round trip");
        assert!(fdl_pki::from_pem(&pem).is_err(), "a CRL PEM read as a certificate");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = (fdl_pki::from_pem(text), fdl_pki::crl_from_pem(text));
    }
}

/// Seed inputs: every certificate and CRL of the fixture, and PEM forms of some.
pub fn seeds() -> Vec<Vec<u8>> {
    let f = &*FIXTURE;
    let mut out: Vec<Vec<u8>> = f.cas.iter().chain(&f.certs).chain(&f.crls).cloned().collect();
    out.push(fdl_pki::to_pem(&f.certs[0]).expect("PEM").into_bytes());
    out.push(fdl_pki::crl_to_pem(&f.crls[0]).expect("PEM").into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture is what the target assumes: each certificate verifies under its own CA only,
    /// each CRL under its own CA only, and the first CRL of each CA revokes its certificate.
    #[test]
    fn fixture_verifies() {
        let f = &*FIXTURE;
        for (i, ca) in f.cas.iter().enumerate() {
            assert!(fdl_pki::verify(ca, ca, f.now).is_ok(), "a CA verifies itself");
            for (j, cert) in f.certs.iter().enumerate() {
                assert_eq!(fdl_pki::verify(cert, ca, f.now).is_ok(), i == j, "certificate {j} under CA {i}");
            }
            for (j, crl) in f.crls.iter().enumerate() {
                let r = fdl_pki::verify_crl(crl, ca, f.now);
                assert_eq!(r.is_ok(), i == j / 2, "CRL {j} under CA {i}");
                if i == j / 2 {
                    let serial = fdl_pki::parse(&f.certs[i]).expect("parses").serial;
                    let listed: Vec<_> = r.expect("verifies").into_iter().map(|r| r.serial).collect();
                    assert_eq!(listed, if j % 2 == 0 { vec![serial] } else { vec![] });
                }
            }
        }
    }
}
