//! Member certificates against OpenSSL 3 (STD-13.1): FDL-issued SM2 and Ed25519 certificates pass
//! `openssl verify`, OpenSSL-issued SM2 certificates verify in FDL, and every way a certificate
//! can be wrong is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{path::Path, process::Command};

use fdl_crypto::{KeyPair, Signer, Suite};
use fdl_pki::{PkiError, Role, create_ca, from_pem, issue, parse, to_pem, verify};

const DISTID: &str = "distid:1234567812345678";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// What to install when the `openssl` command (3.x) is missing.
const INSTALL_OPENSSL: &str = "install OpenSSL 3: `apt-get install openssl` (Debian, Ubuntu), \
     `dnf install openssl` (Fedora), `brew install openssl@3` (macOS)";

/// Panics, saying what to install, unless `openssl version` reports OpenSSL 3.x (checked once).
fn require_openssl3() {
    static CHECKED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let problem = CHECKED.get_or_init(|| match std::process::Command::new("openssl").arg("version").output() {
        Err(e) => Some(format!("this test runs the `openssl` command, which cannot run here ({e}): {INSTALL_OPENSSL}")),
        Ok(out) => {
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!v.starts_with("OpenSSL 3."))
                .then(|| format!("this test needs OpenSSL 3.x, found `{v}`: {INSTALL_OPENSSL}"))
        }
    });
    if let Some(p) = problem {
        panic!("{p}");
    }
}

fn openssl(args: &[&str]) -> (bool, String) {
    require_openssl3();
    let out = Command::new("openssl").args(args).output().unwrap_or_else(|e| panic!("openssl: {e}: {INSTALL_OPENSSL}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn write(dir: &Path, name: &str, der: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, to_pem(der).unwrap()).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn fdl_issued_certificates_pass_openssl_verify() {
    for suite in [Suite::Sm, Suite::Intl] {
        let d = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate(suite);
        let ca = create_ca("bankA", &ca_key, 3650).unwrap();
        let member = KeyPair::generate(suite);
        let leaf = issue(&ca, &ca_key, &member.public_key(), "alice", Role::Client, 365).unwrap();
        let ca_pem = write(d.path(), "ca.pem", &ca);
        let leaf_pem = write(d.path(), "leaf.pem", &leaf);
        let mut args = vec!["verify"];
        if suite == Suite::Sm {
            args.extend(["-vfyopt", DISTID]);
        }
        args.extend(["-CAfile", &ca_pem, &leaf_pem]);
        let (ok, out) = openssl(&args);
        assert!(ok && out.contains(": OK"), "{suite}: {out}");
        // The CA verifies itself too (self-signed root).
        let mut args = vec!["verify"];
        if suite == Suite::Sm {
            args.extend(["-vfyopt", DISTID]);
        }
        args.extend(["-CAfile", &ca_pem, &ca_pem]);
        let (ok, out) = openssl(&args);
        assert!(ok, "{suite} CA: {out}");
        // The role is where the docs say: the subject's OU.
        let (ok, out) = openssl(&["x509", "-in", &leaf_pem, "-noout", "-subject"]);
        assert!(ok && out.contains("OU = client") && out.contains("O = bankA") && out.contains("CN = alice"), "{out}");
        let info = verify(&leaf, &ca, now()).unwrap();
        assert_eq!((info.common_name.as_str(), info.org.as_str(), info.role), ("alice", "bankA", Some(Role::Client)));
        assert_eq!(info.public_key, member.public_key());
        assert!(!info.is_ca && parse(&ca).unwrap().is_ca);
    }
}

#[test]
fn openssl_issued_sm2_certificates_verify_in_fdl() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    run(&["genpkey", "-algorithm", "SM2", "-out", &p("ca.key")]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &p("ca.key"),
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        "/O=bankB/CN=bankB CA",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        &p("ca.pem"),
    ]);
    run(&["genpkey", "-algorithm", "SM2", "-out", &p("leaf.key")]);
    run(&[
        "req",
        "-new",
        "-key",
        &p("leaf.key"),
        "-sm3",
        "-sigopt",
        DISTID,
        "-subj",
        "/O=bankB/OU=validator/CN=node1",
        "-out",
        &p("leaf.csr"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-sm3",
        "-sigopt",
        DISTID,
        "-vfyopt",
        DISTID,
        "-days",
        "5",
        "-out",
        &p("leaf.pem"),
    ]);
    let ca = from_pem(&std::fs::read_to_string(p("ca.pem")).unwrap()).unwrap();
    let leaf = from_pem(&std::fs::read_to_string(p("leaf.pem")).unwrap()).unwrap();
    let info = verify(&leaf, &ca, now()).unwrap();
    assert_eq!((info.common_name.as_str(), info.org.as_str(), info.role), ("node1", "bankB", Some(Role::Validator)));
    // Its key is the one OpenSSL generated.
    let key = KeyPair::read_pem_file(Path::new(&p("leaf.key"))).unwrap();
    assert_eq!(info.public_key, key.public_key());
    // And FDL can issue under an OpenSSL-made CA key.
    let ca_key = KeyPair::read_pem_file(Path::new(&p("ca.key"))).unwrap();
    let member = KeyPair::generate(Suite::Sm);
    let mine = issue(&ca, &ca_key, &member.public_key(), "alice", Role::Client, 1).unwrap();
    let (ok, out) =
        openssl(&["verify", "-vfyopt", DISTID, "-CAfile", &p("ca.pem"), &write(d.path(), "mine.pem", &mine)]);
    assert!(ok, "{out}");
}

#[test]
fn wrong_certificates_are_refused() {
    let ca_key = KeyPair::generate(Suite::Sm);
    let ca = create_ca("bankA", &ca_key, 10).unwrap();
    let other_key = KeyPair::generate(Suite::Sm);
    let other_ca = create_ca("bankA", &other_key, 10).unwrap();
    let member = KeyPair::generate(Suite::Sm);
    let leaf = issue(&ca, &ca_key, &member.public_key(), "alice", Role::Admin, 10).unwrap();
    // A foreign CA with the same name: the signature does not verify.
    assert!(matches!(verify(&leaf, &other_ca, now()), Err(PkiError::BadSignature)));
    // Expired, and not yet valid.
    assert!(matches!(verify(&leaf, &ca, now() + 11 * 86_400), Err(PkiError::Expired { .. })));
    assert!(matches!(verify(&leaf, &ca, now() - 86_400), Err(PkiError::Expired { .. })));
    // A member certificate is not a CA.
    assert!(matches!(verify(&leaf, &leaf, now()), Err(PkiError::NotCa(_))));
    assert!(matches!(issue(&leaf, &member, &member.public_key(), "mallory", Role::Admin, 1), Err(PkiError::NotCa(_))));
    // The CA key must be the CA certificate's.
    assert!(issue(&ca, &other_key, &member.public_key(), "mallory", Role::Admin, 1).is_err());
    // Any flipped byte breaks the certificate.
    for i in (0..leaf.len()).step_by(7) {
        let mut bad = leaf.clone();
        bad[i] ^= 0x01;
        assert!(verify(&bad, &ca, now()).is_err(), "flipped byte {i} accepted");
    }
    // Names are restricted (no injected RDNs).
    assert!(matches!(
        issue(&ca, &ca_key, &member.public_key(), "eve,OU=admin", Role::Client, 1),
        Err(PkiError::BadName(_))
    ));
    assert!(create_ca("", &ca_key, 1).is_err());
    // Garbage is an error, not a panic.
    assert!(parse(b"not a certificate").is_err());
    assert!(from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
    // A suite mismatch is refused.
    let ed = KeyPair::generate(Suite::Intl);
    let ed_ca = create_ca("bankC", &ed, 10).unwrap();
    assert!(verify(&leaf, &ed_ca, now()).is_err());
    let _ = member.sign(b"x").unwrap();
}

#[test]
fn a_revocation_list_lists_revoked_serials_and_openssl_reads_it() {
    for suite in [Suite::Sm, Suite::Intl] {
        let d = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate(suite);
        let ca = create_ca("bankA", &ca_key, 10).unwrap();
        let member = KeyPair::generate(suite);
        let leaf = issue(&ca, &ca_key, &member.public_key(), "bob", Role::Client, 10).unwrap();
        let serial = parse(&leaf).unwrap().serial;
        let revoked = vec![fdl_pki::Revoked { serial: serial.clone(), at: now() - 5 }];
        let crl = fdl_pki::create_crl(&ca, &ca_key, &revoked, 1).unwrap();
        let listed = fdl_pki::verify_crl(&crl, &ca).unwrap();
        assert_eq!(listed, revoked);
        let crl_path = d.path().join("crl.pem");
        std::fs::write(&crl_path, fdl_pki::crl_to_pem(&crl).unwrap()).unwrap();
        let ca_pem = write(d.path(), "ca.pem", &ca);
        let leaf_pem = write(d.path(), "leaf.pem", &leaf);
        // `openssl crl` reads it (and, having no -vfyopt, can check the signature only for
        // Ed25519; `openssl verify -crl_check` below checks the SM2 one with the distinguishing id).
        let args = vec!["crl", "-in", crl_path.to_str().unwrap(), "-CAfile", &ca_pem, "-noout", "-text"];
        let (ok, out) = openssl(&args);
        assert!(suite == Suite::Sm || out.contains("verify OK"), "{suite}: {out}");
        let ok = ok || suite == Suite::Sm;
        assert!(ok && out.to_uppercase().contains(&serial.to_uppercase()), "{suite}: {out}");
        // OpenSSL, given the CRL, refuses the revoked certificate. OpenSSL 3.0 checks a CRL's SM2
        // signature without the distinguishing id (-vfyopt applies to certificates only) and so
        // reports "CRL signature failure" for any SM2 CRL made with the standard id; the Ed25519
        // CRL shows the full check. FDL's own check of the SM2 CRL is `verify_crl` above.
        let args = vec!["verify", "-crl_check", "-CRLfile", crl_path.to_str().unwrap(), "-CAfile", &ca_pem, &leaf_pem];
        let (ok, out) = openssl(&args);
        if suite == Suite::Intl {
            assert!(!ok && out.contains("revoked"), "{suite}: {out}");
        } else {
            assert!(!ok, "{suite}: {out}");
        }
        // A CRL signed by another key is refused.
        let other = KeyPair::generate(suite);
        let other_ca = create_ca("bankA", &other, 10).unwrap();
        assert!(fdl_pki::verify_crl(&crl, &other_ca).is_err());
    }
}
