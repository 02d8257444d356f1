//! The PKCS#11 backend against a real module: a SoftHSM2 token of the test's own (STD-8.2).
//! Needs SoftHSM2 (`scripts/setup.sh` installs it). The module reads `SOFTHSM2_CONF` when it is
//! initialized, once per process: each test runs its body in a child process of this test binary
//! with that variable set (the workspace forbids the `unsafe` of `std::env::set_var`).
#![cfg(feature = "pkcs11")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fdl_crypto::pkcs11::{Pkcs11Signer, Pkcs11Token, Pkcs11Uri};
use fdl_crypto::{CryptoError, KeyPair, Signer as _, Suite};

#[path = "support/softhsm2.rs"]
mod softhsm2;

/// Runs test `name` again in a child process with the token's `SOFTHSM2_CONF`, its URI
/// prefix in `FDL_TEST_PKCS11`; returns true in the child (which then runs the body).
fn in_child(name: &str) -> bool {
    if std::env::var_os("FDL_TEST_PKCS11").is_some() {
        return true;
    }
    let hsm = softhsm2::SoftHsm::new();
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("FDL_TEST_PKCS11", hsm.uri("OBJECT"))
        .output()
        .expect("run the child test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child test {name} failed:\n{text}");
    false
}

fn uri(object: &str) -> Pkcs11Uri {
    let u = std::env::var("FDL_TEST_PKCS11").expect("in the child").replace("OBJECT", object);
    Pkcs11Uri::parse(&u).expect("uri")
}

#[test]
fn a_pkcs11_ed25519_signature_verifies_with_the_public_key() {
    if !in_child("a_pkcs11_ed25519_signature_verifies_with_the_public_key") {
        return;
    }
    // A key imported from a file signs exactly as the file would (Ed25519 is deterministic).
    let kp = KeyPair::generate(Suite::Intl);
    let token = Pkcs11Token::open(&uri("imported")).expect("open");
    let pk = token.import("imported", &kp).expect("import");
    assert_eq!(pk, kp.public_key());
    let signer1 = Pkcs11Signer::open(&uri("imported")).expect("signer");
    assert_eq!(signer1.public_key(), kp.public_key());
    let sig = signer1.sign(b"a transaction").expect("sign");
    assert_eq!(sig, kp.sign(b"a transaction").expect("sign"));
    assert!(kp.public_key().verify(b"a transaction", &sig).is_ok());
    assert_eq!(kp.public_key().verify(b"another", &sig), Err(CryptoError::BadSignature));

    // A key generated on the token.
    let gen_pk = token.generate("generated", Suite::Intl).expect("generate");
    let signer2 = Pkcs11Signer::open(&uri("generated")).expect("signer");
    assert_eq!(signer2.public_key(), gen_pk);
    let sig = signer2.sign(b"m").expect("sign");
    assert!(gen_pk.verify(b"m", &sig).is_ok());

    // Listed with their addresses; labels are not reused; SM2 is refused with the reason.
    let listed = token.list().expect("list");
    let labels: Vec<_> = listed.iter().map(|k| (k.label.as_str(), k.public_key.clone())).collect();
    assert_eq!(labels, vec![("generated", Some(gen_pk)), ("imported", Some(kp.public_key()))]);
    assert!(matches!(token.import("imported", &kp), Err(CryptoError::Pkcs11Unsupported(_))));
    assert!(matches!(token.import("sm", &KeyPair::generate(Suite::Sm)), Err(CryptoError::Pkcs11Unsupported(_))));
    assert!(matches!(token.generate("sm", Suite::Sm), Err(CryptoError::Pkcs11Unsupported(_))));

    assert!(matches!(Pkcs11Signer::open(&uri("nobody")), Err(CryptoError::Pkcs11KeyNotFound(_))));

    // Typed errors: a wrong PIN (once no session of this process is logged in: PKCS#11 logins
    // are per application), an unknown token.
    drop((token, signer1, signer2));
    let mut wrong = uri("imported");
    wrong.pin_source = None;
    wrong.pin_value = Some("9999".to_string().into());
    assert!(matches!(Pkcs11Signer::open(&wrong), Err(CryptoError::Pkcs11Login(_))), "{:?}", Pkcs11Signer::open(&wrong));
    let mut other = uri("imported");
    other.token = Some("nope".into());
    assert!(matches!(Pkcs11Signer::open(&other), Err(CryptoError::Pkcs11TokenNotFound(_))));
}
