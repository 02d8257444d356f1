//! Differential tests against the OpenSSL 3 command line (STD-8.1: "signatures interoperate with
//! OpenSSL 3"; STD-8.2: the key-file backend of the `Signer` seam writes keys OpenSSL reads).
//!
//! Both directions for SM2 signatures (SM3, user id `1234567812345678`, GB/T 32918.2 / GB/T 35276),
//! Ed25519 signatures (RFC 8032), PKCS#8 / SPKI PEM key files, and SM2 public-key encryption
//! (GB/T 32918.4, DER ciphertext as GM/T 0009 and OpenSSL use). Needs `openssl` 3.x on `PATH`.

use std::path::{Path, PathBuf};
use std::process::Output;

use fdl_crypto::{
    CryptoError, KeyPair, PublicKey, SM2_DEFAULT_DISTID, Signature, Signer as _, Suite, sm2_decrypt, sm2_encrypt,
};

#[path = "support/openssl3.rs"]
mod openssl3;
use openssl3::{openssl, openssl_ok, require_openssl3};

fn path_str(p: &Path) -> &str {
    p.to_str().expect("invariant: tempfile paths are UTF-8 here")
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("create temp dir"))
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.file(name);
        std::fs::write(&p, data).expect("write temp file");
        p
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.file(name)).expect("read temp file")
    }
}

const SM2_DISTID_OPT: &str = "distid:1234567812345678";

fn verdict(out: &Output) -> bool {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ok = out.status.success() && stdout.contains("Signature Verified Successfully");
    if !ok {
        // A refusal must be a verification failure, not some other error (bad file, bad option).
        assert!(
            stdout.contains("Signature Verification Failure"),
            "openssl neither verified nor refused the signature ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ok
}

/// `openssl pkeyutl -verify -rawin` of a signature, with the suite's extra options; returns
/// whether OpenSSL said "Signature Verified Successfully" and exited 0.
fn openssl_verify(pub_pem: &Path, msg: &Path, sig: &Path, extra: &[&str]) -> bool {
    let mut args =
        vec!["pkeyutl", "-verify", "-pubin", "-inkey", path_str(pub_pem), "-rawin", "-in", path_str(msg), "-sigfile"];
    args.push(path_str(sig));
    args.extend_from_slice(extra);
    verdict(&openssl(&args))
}

/// An SM2 signature (SM3, default user id).
fn openssl_sm2_verify(pub_pem: &Path, msg: &Path, sig: &Path) -> bool {
    openssl_verify(pub_pem, msg, sig, &["-digest", "sm3", "-pkeyopt", SM2_DISTID_OPT])
}

/// An Ed25519 signature.
fn openssl_ed25519_verify(pub_pem: &Path, msg: &Path, sig: &Path) -> bool {
    openssl_verify(pub_pem, msg, sig, &[])
}

/// `openssl pkeyutl -sign -rawin` of `msg` with `key` into `out`, with the suite's extra options.
fn openssl_sign(key: &Path, msg: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["pkeyutl", "-sign", "-inkey", path_str(key), "-rawin", "-in", path_str(msg), "-out"];
    args.push(path_str(out));
    args.extend_from_slice(extra);
    openssl_ok(&args);
}

/// OpenSSL generates a key of `algorithm` (`openssl genpkey`) and writes its SPKI; FDL reads both
/// and finds the same public key. Returns the key file, FDL's key pair and the SPKI file.
fn openssl_generated_key(dir: &Dir, algorithm: &str, suite: Suite) -> (PathBuf, KeyPair, PathBuf) {
    let key = dir.file("key.pem");
    openssl_ok(&["genpkey", "-algorithm", algorithm, "-out", path_str(&key)]);
    let kp = KeyPair::read_pem_file(&key).expect("FDL reads OpenSSL's PKCS#8 key");
    assert_eq!(kp.suite(), suite);
    let spki = openssl_ok(&["pkey", "-in", path_str(&key), "-pubout"]);
    let pk =
        PublicKey::from_spki_pem(std::str::from_utf8(&spki).expect("PEM is ASCII")).expect("FDL reads OpenSSL's SPKI");
    assert_eq!(pk, kp.public_key(), "same public key from the private and the public file");
    let pub_pem = dir.write("pub.pem", &spki);
    (key, kp, pub_pem)
}

#[test]
fn sm2_default_distid_is_the_openssl_one() {
    // The id OpenSSL is told to use below is the one FDL hashes into Z (GB/T 35276 default).
    assert_eq!(format!("distid:{SM2_DEFAULT_DISTID}"), SM2_DISTID_OPT);
}

// ---------------------------------------------------------------------------------------------
// SM2 signatures (STD-8.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn sm2_fdl_key_and_signature_are_accepted_by_openssl() {
    require_openssl3();
    let dir = Dir::new();
    let kp = KeyPair::generate(Suite::Sm);
    let key = dir.file("key.pem");
    kp.write_pem_file(&key).expect("write key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "private key file is owner-only");
    }
    let spki = kp.public_key().to_spki_pem().expect("spki");
    let pub_pem = dir.write("pub.pem", spki.as_bytes());

    // OpenSSL reads both files as SM2 keys, and derives the same public key from the private one.
    let text = String::from_utf8_lossy(&openssl_ok(&["pkey", "-in", path_str(&key), "-noout", "-text"])).into_owned();
    assert!(text.contains("SM2"), "OpenSSL sees an SM2 key:\n{text}");
    openssl_ok(&["pkey", "-pubin", "-in", path_str(&pub_pem), "-noout"]);
    let derived = openssl_ok(&["pkey", "-in", path_str(&key), "-pubout"]);
    assert_eq!(String::from_utf8_lossy(&derived), spki, "OpenSSL's SPKI equals FDL's");

    // FDL signs; OpenSSL verifies with SM3 and the default id, and refuses a modified message.
    for (i, msg) in [&b"FDL/TX/v1 transfer 100 CNY"[..], b"", &[0xa5; 1000]].iter().enumerate() {
        let sig = kp.sign(msg).expect("sign");
        let msg_p = dir.write(&format!("msg{i}"), msg);
        let sig_p = dir.write(&format!("sig{i}"), sig.as_bytes());
        assert!(openssl_sm2_verify(&pub_pem, &msg_p, &sig_p), "message {i}");

        let mut other = msg.to_vec();
        other.push(b'!');
        let other_p = dir.write(&format!("other{i}"), &other);
        assert!(!openssl_sm2_verify(&pub_pem, &other_p, &sig_p), "modified message {i}");
    }
}

#[test]
fn sm2_openssl_key_and_signature_are_accepted_by_fdl() {
    require_openssl3();
    let dir = Dir::new();
    let (key, kp, pub_pem) = openssl_generated_key(&dir, "SM2", Suite::Sm);
    let pk = kp.public_key();

    // Several signatures, so that short (leading-zero) r or s encodings get a chance to appear.
    let msg = b"approve: raise limit of account 42";
    let msg_p = dir.write("msg", msg);
    for i in 0..6 {
        let sig_p = dir.file(&format!("sig{i}"));
        openssl_sign(&key, &msg_p, &sig_p, &["-digest", "sm3", "-pkeyopt", SM2_DISTID_OPT]);
        let der = dir.read(&format!("sig{i}"));
        let sig = Signature::from_bytes(Suite::Sm, &der).expect("OpenSSL writes canonical DER");
        assert_eq!(pk.verify(msg, &sig), Ok(()), "signature {i}: {der:02x?}");
        assert_eq!(pk.verify(b"approve: raise limit of account 43", &sig), Err(CryptoError::BadSignature));
    }

    // The key FDL read from OpenSSL's file signs, and OpenSSL verifies that too.
    let sig = kp.sign(msg).expect("sign");
    let sig_p = dir.write("fdl.sig", sig.as_bytes());
    assert!(openssl_sm2_verify(&pub_pem, &msg_p, &sig_p));
}

#[test]
fn sm2_wrong_distid_does_not_verify_in_openssl() {
    // The user id is part of the signed data (Z): a signature made by FDL does not verify under
    // another id, so the test above really exercises the default id.
    require_openssl3();
    let dir = Dir::new();
    let kp = KeyPair::generate(Suite::Sm);
    let pub_pem = dir.write("pub.pem", kp.public_key().to_spki_pem().expect("spki").as_bytes());
    let msg_p = dir.write("msg", b"hello");
    let sig_p = dir.write("sig", kp.sign(b"hello").expect("sign").as_bytes());
    let out = openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        path_str(&pub_pem),
        "-rawin",
        "-in",
        path_str(&msg_p),
        "-sigfile",
        path_str(&sig_p),
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:8765432187654321",
    ]);
    assert!(!verdict(&out));
}

// ---------------------------------------------------------------------------------------------
// Ed25519 signatures (suite `intl`)
// ---------------------------------------------------------------------------------------------

#[test]
fn ed25519_fdl_key_and_signature_are_accepted_by_openssl() {
    require_openssl3();
    let dir = Dir::new();
    let kp = KeyPair::generate(Suite::Intl);
    let key = dir.file("key.pem");
    kp.write_pem_file(&key).expect("write key");
    let spki = kp.public_key().to_spki_pem().expect("spki");
    let pub_pem = dir.write("pub.pem", spki.as_bytes());

    let text = String::from_utf8_lossy(&openssl_ok(&["pkey", "-in", path_str(&key), "-noout", "-text"])).into_owned();
    assert!(text.contains("ED25519"), "OpenSSL sees an Ed25519 key:\n{text}");
    openssl_ok(&["pkey", "-pubin", "-in", path_str(&pub_pem), "-noout"]);
    let derived = openssl_ok(&["pkey", "-in", path_str(&key), "-pubout"]);
    assert_eq!(String::from_utf8_lossy(&derived), spki, "OpenSSL's SPKI equals FDL's");

    let msg = b"FDL/BLOCK/v1 height 7";
    let msg_p = dir.write("msg", msg);
    let sig = kp.sign(msg).expect("sign");
    let sig_p = dir.write("sig", sig.as_bytes());
    assert!(openssl_ed25519_verify(&pub_pem, &msg_p, &sig_p));
    let other_p = dir.write("other", b"FDL/BLOCK/v1 height 8");
    assert!(!openssl_ed25519_verify(&pub_pem, &other_p, &sig_p));

    // Ed25519 is deterministic: OpenSSL signing with FDL's key file gives FDL's bytes.
    let osig_p = dir.file("osig");
    openssl_sign(&key, &msg_p, &osig_p, &[]);
    assert_eq!(dir.read("osig"), sig.as_bytes());
}

#[test]
fn ed25519_openssl_key_and_signature_are_accepted_by_fdl() {
    require_openssl3();
    let dir = Dir::new();
    let (key, kp, _pub_pem) = openssl_generated_key(&dir, "ED25519", Suite::Intl);
    let pk = kp.public_key();

    let msg = b"configure: add validator 4";
    let msg_p = dir.write("msg", msg);
    let sig_p = dir.file("sig");
    openssl_sign(&key, &msg_p, &sig_p, &[]);
    let raw = dir.read("sig");
    let sig = Signature::from_bytes(Suite::Intl, &raw).expect("64-byte signature");
    assert_eq!(pk.verify(msg, &sig), Ok(()));
    assert_eq!(pk.verify(b"configure: add validator 5", &sig), Err(CryptoError::BadSignature));
    assert_eq!(kp.sign(msg).expect("sign"), sig, "deterministic: FDL gives OpenSSL's bytes");
}

// ---------------------------------------------------------------------------------------------
// SM2 public-key encryption (GB/T 32918.4; DER SM2Cipher as in GM/T 0009) (STD-8.1)
// ---------------------------------------------------------------------------------------------

/// Messages of one byte, under one KDF block, exactly one block and several blocks.
fn pke_messages() -> Vec<Vec<u8>> {
    vec![b"k".to_vec(), b"session key 0123".to_vec(), vec![0x5a; 32], (0..=255u8).collect()]
}

#[test]
fn sm2_openssl_encrypts_fdl_decrypts() {
    require_openssl3();
    let dir = Dir::new();
    let key = dir.file("key.pem");
    openssl_ok(&["genpkey", "-algorithm", "SM2", "-out", path_str(&key)]);
    let pub_pem = dir.file("pub.pem");
    openssl_ok(&["pkey", "-in", path_str(&key), "-pubout", "-out", path_str(&pub_pem)]);
    let kp = KeyPair::read_pem_file(&key).expect("read key");
    let stranger = KeyPair::generate(Suite::Sm);

    for (i, msg) in pke_messages().iter().enumerate() {
        let msg_p = dir.write(&format!("msg{i}"), msg);
        let ct_p = dir.file(&format!("ct{i}"));
        openssl_ok(&[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            path_str(&pub_pem),
            "-in",
            path_str(&msg_p),
            "-out",
            path_str(&ct_p),
        ]);
        let ct = dir.read(&format!("ct{i}"));
        assert_eq!(ct[0], 0x30, "OpenSSL emits a DER SEQUENCE");
        assert_eq!(sm2_decrypt(&kp, &ct).expect("FDL decrypts OpenSSL's ciphertext"), *msg, "message {i}");
        assert_eq!(sm2_decrypt(&stranger, &ct), Err(CryptoError::Decrypt), "other key {i}");
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert_eq!(sm2_decrypt(&kp, &bad), Err(CryptoError::Decrypt), "tampered {i}");
    }
}

#[test]
fn sm2_fdl_encrypts_openssl_decrypts() {
    require_openssl3();
    let dir = Dir::new();
    let kp = KeyPair::generate(Suite::Sm);
    let key = dir.file("key.pem");
    kp.write_pem_file(&key).expect("write key");

    for (i, msg) in pke_messages().iter().enumerate() {
        let ct = sm2_encrypt(&kp.public_key(), msg).expect("encrypt");
        let ct_p = dir.write(&format!("ct{i}"), &ct);
        let pt = openssl_ok(&["pkeyutl", "-decrypt", "-inkey", path_str(&key), "-in", path_str(&ct_p)]);
        assert_eq!(pt, *msg, "message {i}");

        // OpenSSL also refuses an altered FDL ciphertext (C3 check).
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let bad_p = dir.write(&format!("bad{i}"), &bad);
        let out = openssl(&["pkeyutl", "-decrypt", "-inkey", path_str(&key), "-in", path_str(&bad_p)]);
        assert!(!out.status.success(), "OpenSSL decrypted a tampered ciphertext {i}");
    }
}

#[test]
fn sm2_encrypt_refuses_other_suites_and_empty_messages() {
    let ed = KeyPair::generate(Suite::Intl);
    assert_eq!(
        sm2_encrypt(&ed.public_key(), b"x"),
        Err(CryptoError::SuiteMismatch { expected: Suite::Sm, got: Suite::Intl })
    );
    assert_eq!(
        sm2_decrypt(&ed, &[0x30, 0x00]),
        Err(CryptoError::SuiteMismatch { expected: Suite::Sm, got: Suite::Intl })
    );
    let sm = KeyPair::generate(Suite::Sm);
    assert!(matches!(sm2_encrypt(&sm.public_key(), b""), Err(CryptoError::Encrypt(_))));
    assert_eq!(sm2_decrypt(&sm, b""), Err(CryptoError::Decrypt));
}
