//! Encrypted PKCS#8 key files (STD-8.2, 8.4, 10.3): round trips, refusals, and both directions
//! against the OpenSSL 3 command line (`openssl pkcs8`). Needs `openssl` 3.x on `PATH`.
//!
//! OpenSSL 3.0 has no HMAC-SM3 PBKDF2 PRF (`-v2prf hmacWithSM3` is "Unknown PRF algorithm", and it
//! knows no OID for it), so it neither writes nor reads FDL's SM4-CBC/HMAC-SM3 files: for that
//! profile the test derives the key with `openssl kdf ... PBKDF2` (digest SM3) and decrypts with
//! `openssl enc -d -sm4-cbc` instead, and FDL reads the SM4-CBC/HMAC-SHA256 files OpenSSL writes.

use std::path::{Path, PathBuf};

use std::time::Instant;

use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode as _, Sequence};
use fdl_crypto::{CryptoError, KeyCipher, KeyPair, KeyPrf, Signer as _, Suite};

#[path = "support/openssl3.rs"]
mod openssl3;
use openssl3::{openssl, openssl_ok};

const PASS: &str = "correct horse battery staple";

fn p(path: &Path) -> &str {
    path.to_str().expect("invariant: tempfile paths are UTF-8 here")
}

fn profiles() -> [(Suite, KeyCipher); 2] {
    [(Suite::Sm, KeyCipher::Sm4Cbc), (Suite::Intl, KeyCipher::Aes256Cbc)]
}

/// The PBES2 structure, to read the salt, count, IV and ciphertext FDL wrote.
#[derive(Sequence)]
struct Epki {
    alg: Pbes2,
    data: OctetString,
}
#[derive(Sequence)]
struct Pbes2 {
    oid: ObjectIdentifier,
    params: Pbes2Params,
}
#[derive(Sequence)]
struct Pbes2Params {
    kdf: Kdf,
    enc: Enc,
}
#[derive(Sequence)]
struct Kdf {
    oid: ObjectIdentifier,
    params: Pbkdf2Params,
}
#[derive(Sequence)]
struct Pbkdf2Params {
    salt: OctetString,
    count: u64,
    prf: Prf,
}
#[derive(Sequence)]
struct Prf {
    oid: ObjectIdentifier,
    params: Null,
}
#[derive(Sequence)]
struct Enc {
    oid: ObjectIdentifier,
    iv: OctetString,
}

fn pem_der(pem: &str) -> (String, Vec<u8>) {
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).expect("PEM");
    (label.to_string(), der)
}

#[test]
fn round_trip_both_profiles() {
    for (suite, cipher) in profiles() {
        assert_eq!(KeyCipher::for_suite(suite), cipher);
        let kp = KeyPair::generate(suite);
        let t = Instant::now();
        let pem = kp.to_encrypted_pkcs8_pem(PASS.as_bytes(), cipher).expect("encrypt");
        let enc_time = t.elapsed();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"), "{pem}");
        let t = Instant::now();
        let back = KeyPair::from_encrypted_pkcs8_pem(&pem, PASS.as_bytes()).expect("decrypt");
        eprintln!("{suite}: encrypt {enc_time:?}, decrypt {:?} (100,000 PBKDF2 iterations)", t.elapsed());
        assert_eq!(back.public_key(), kp.public_key());
        assert_eq!(*back.to_pkcs8_pem().expect("pem"), *kp.to_pkcs8_pem().expect("pem"));
        let sig = back.sign(b"m").expect("sign");
        assert!(kp.public_key().verify(b"m", &sig).is_ok());
        // Fresh salt and IV each time.
        assert_ne!(pem, kp.to_encrypted_pkcs8_pem(PASS.as_bytes(), cipher).expect("encrypt"));
        // The unencrypted reader says a passphrase is needed.
        assert!(matches!(KeyPair::from_pkcs8_pem(&pem), Err(CryptoError::PassphraseRequired(_))));
    }
}

#[test]
fn the_written_structure_is_the_documented_pbes2() {
    for (suite, cipher, prf, enc) in [
        (Suite::Sm, KeyCipher::Sm4Cbc, "1.2.156.10197.1.401.2", "1.2.156.10197.1.104.2"),
        (Suite::Intl, KeyCipher::Aes256Cbc, "1.2.840.113549.2.9", "2.16.840.1.101.3.4.1.42"),
    ] {
        let pem = KeyPair::generate(suite).to_encrypted_pkcs8_pem(b"pw", cipher).expect("encrypt");
        let (label, der) = pem_der(&pem);
        assert_eq!(label, "ENCRYPTED PRIVATE KEY");
        let e = Epki::from_der(&der).expect("PBES2 structure without keyLength");
        assert_eq!(e.alg.oid.to_string(), "1.2.840.113549.1.5.13");
        assert_eq!(e.alg.params.kdf.oid.to_string(), "1.2.840.113549.1.5.12");
        assert_eq!(e.alg.params.kdf.params.salt.as_bytes().len(), fdl_crypto::PBKDF2_SALT_LEN);
        assert_eq!(e.alg.params.kdf.params.count, u64::from(fdl_crypto::DEFAULT_PBKDF2_ITERATIONS));
        assert_eq!(e.alg.params.kdf.params.prf.oid.to_string(), prf);
        assert_eq!(e.alg.params.enc.oid.to_string(), enc);
        assert_eq!(e.alg.params.enc.iv.as_bytes().len(), 16);
    }
}

#[test]
fn a_wrong_passphrase_is_refused() {
    for (suite, cipher) in profiles() {
        let pem = KeyPair::generate(suite).to_encrypted_pkcs8_pem(b"right", cipher).expect("encrypt");
        for wrong in [&b"wrong"[..], b"", b"righ", b"right "] {
            assert_eq!(
                KeyPair::from_encrypted_pkcs8_pem(&pem, wrong).expect_err("accepted"),
                CryptoError::WrongPassphrase
            );
        }
    }
}

#[test]
fn an_empty_passphrase_is_not_written() {
    let err = KeyPair::generate(Suite::Sm).to_encrypted_pkcs8_pem(b"", KeyCipher::Sm4Cbc).expect_err("empty");
    assert!(matches!(err, CryptoError::Encrypt(_)), "{err:?}");
}

/// Flips each byte of the ciphertext. CBC has no integrity check: a flip is caught by the padding
/// or by the key's own consistency. An SM2 PKCS#8 key carries its public key, so every flip is
/// refused; an Ed25519 v1 key (as OpenSSL 3.0 reads them) does not, so a flip inside the seed's
/// blocks can give another valid key: it must never give the same key, nor panic.
#[test]
fn a_flipped_ciphertext_byte_is_refused_or_never_the_key() {
    for (suite, cipher) in profiles() {
        let kp = KeyPair::generate(suite);
        let pem = kp.to_encrypted_pkcs8_pem(b"pw", cipher).expect("encrypt");
        let (_, der) = pem_der(&pem);
        let ct_len = Epki::from_der(&der).expect("structure").data.as_bytes().len();
        let mut silently_other = 0;
        for i in der.len() - ct_len..der.len() {
            let mut bad = der.clone();
            bad[i] ^= 0x01;
            let bad_pem =
                der::pem::encode_string("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF, &bad).expect("pem");
            match KeyPair::from_encrypted_pkcs8_pem(&bad_pem, b"pw") {
                Err(CryptoError::WrongPassphrase) => {}
                Err(e) => panic!("{suite} byte {i}: unexpected error {e:?}"),
                Ok(other) => {
                    assert_ne!(other.public_key(), kp.public_key(), "{suite} byte {i}: flip not detected");
                    silently_other += 1;
                }
            }
        }
        if suite == Suite::Sm {
            assert_eq!(silently_other, 0, "an SM2 key whose public key does not match was accepted");
        }
    }
}

#[test]
fn garbage_and_truncated_files_are_refused() {
    let pem = KeyPair::generate(Suite::Sm).to_encrypted_pkcs8_pem(b"pw", KeyCipher::Sm4Cbc).expect("encrypt");
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand_bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut cases: Vec<String> = vec![
        String::new(),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n-----END ENCRYPTED PRIVATE KEY-----\n".into(),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".into(),
        pem.replace("ENCRYPTED PRIVATE KEY", "PRIVATE KEY"),
    ];
    for cut in [10, pem.len() / 2, pem.len() - 40] {
        cases.push(pem[..cut].to_string());
    }
    let (_, der) = pem_der(&pem);
    for cut in [0, 1, 20, der.len() / 2, der.len() - 16, der.len() - 1] {
        cases.push(
            der::pem::encode_string("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF, &der[..cut]).unwrap_or_default(),
        );
    }
    for n in [1, 16, 100, 300] {
        let junk = rand_bytes(n);
        cases.push(der::pem::encode_string("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF, &junk).expect("pem"));
        cases.push(String::from_utf8_lossy(&junk).into_owned());
    }
    for c in &cases {
        assert!(KeyPair::from_encrypted_pkcs8_pem(c, b"pw").is_err(), "accepted: {c:?}");
    }
}

#[test]
fn other_algorithms_are_refused_naming_the_oid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.pem");
    KeyPair::generate(Suite::Intl).write_pem_file(&plain).expect("write");
    for (args, oid) in [
        (&["-v2", "aes-128-cbc"][..], "2.16.840.1.101.3.4.1.2"),
        (&["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512"][..], "1.2.840.113549.2.11"),
        (&["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"][..], "1.2.840.113549.2.7"),
    ] {
        let out = dir.path().join("enc.pem");
        let mut a = vec!["pkcs8", "-topk8", "-in", p(&plain), "-out", p(&out), "-passout", "pass:pw"];
        a.extend_from_slice(args);
        openssl_ok(&a);
        let err = KeyPair::from_encrypted_pkcs8_pem(&std::fs::read_to_string(&out).expect("read"), b"pw")
            .expect_err("accepted");
        assert!(
            matches!(&err, CryptoError::UnsupportedKeyEncryption(m) if m.contains(oid)),
            "{args:?}: {err:?} should name {oid}"
        );
    }
    // Scrypt (not PBKDF2) and the legacy PBES1 scheme.
    for args in [&["-scrypt"][..], &["-v1", "PBE-SHA1-3DES"][..]] {
        let out = dir.path().join("enc.pem");
        let mut a = vec!["pkcs8", "-topk8", "-in", p(&plain), "-out", p(&out), "-passout", "pass:pw"];
        a.extend_from_slice(args);
        openssl_ok(&a);
        let err = KeyPair::from_encrypted_pkcs8_pem(&std::fs::read_to_string(&out).expect("read"), b"pw")
            .expect_err("accepted");
        assert!(
            matches!(err, CryptoError::UnsupportedKeyEncryption(_) | CryptoError::BadKeyFile(_)),
            "{args:?}: {err:?}"
        );
    }
}

#[test]
fn a_low_iteration_count_from_openssl_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("plain.pem");
    KeyPair::generate(Suite::Sm).write_pem_file(&plain).expect("write");
    let out = dir.path().join("enc.pem");
    for (iter, ok) in [("999", false), ("1000", true)] {
        openssl_ok(&[
            "pkcs8",
            "-topk8",
            "-in",
            p(&plain),
            "-out",
            p(&out),
            "-v2",
            "sm4-cbc",
            "-iter",
            iter,
            "-passout",
            "pass:pw",
        ]);
        let got = KeyPair::from_encrypted_pkcs8_pem(&std::fs::read_to_string(&out).expect("read"), b"pw");
        if ok {
            assert!(got.is_ok(), "{iter}: {got:?}");
        } else {
            assert_eq!(
                got.expect_err("accepted"),
                CryptoError::IterationCountOutOfRange { got: 999, min: 1_000, max: 10_000_000 }
            );
        }
    }
}

/// FDL → OpenSSL, AES-256-CBC / HMAC-SHA256: `openssl pkcs8` decrypts FDL's file to FDL's own
/// unencrypted PKCS#8.
#[test]
fn openssl_decrypts_fdl_aes_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = KeyPair::generate(Suite::Intl);
    let enc = dir.path().join("enc.pem");
    kp.write_encrypted_pem_file(&enc, PASS.as_bytes(), KeyCipher::Aes256Cbc).expect("write");
    let plain = dir.path().join("plain.pem");
    openssl_ok(&["pkcs8", "-in", p(&enc), "-passin", &format!("pass:{PASS}"), "-out", p(&plain)]);
    assert_eq!(std::fs::read_to_string(&plain).expect("read"), *kp.to_pkcs8_pem().expect("pem"));
    let out = openssl(&["pkcs8", "-in", p(&enc), "-passin", "pass:wrong", "-out", p(&plain)]);
    assert!(!out.status.success(), "OpenSSL accepted a wrong passphrase");
}

/// FDL → OpenSSL, SM4-CBC / HMAC-SHA256 (`fdl key encrypt --prf sha256`, the openssl-readable
/// form of an `sm` key file), and AES-256-CBC with an SM2 key: `openssl pkcs8 -passin` decrypts
/// them to FDL's own unencrypted PKCS#8.
#[test]
fn openssl_decrypts_fdl_sm4_files_with_the_sha256_prf() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (suite, cipher) in
        [(Suite::Sm, KeyCipher::Sm4Cbc), (Suite::Intl, KeyCipher::Sm4Cbc), (Suite::Sm, KeyCipher::Aes256Cbc)]
    {
        let kp = KeyPair::generate(suite);
        let enc = dir.path().join("enc.pem");
        kp.write_encrypted_pem_file_with(&enc, PASS.as_bytes(), cipher, KeyPrf::HmacSha256).expect("write");
        let (_, der) = pem_der(&std::fs::read_to_string(&enc).expect("read"));
        let e = Epki::from_der(&der).expect("structure");
        assert_eq!(e.alg.params.kdf.params.prf.oid.to_string(), "1.2.840.113549.2.9");
        let plain = dir.path().join("plain.pem");
        let pass_file = dir.path().join("pass");
        std::fs::write(&pass_file, PASS).expect("write");
        openssl_ok(&["pkcs8", "-in", p(&enc), "-passin", &format!("file:{}", p(&pass_file)), "-out", p(&plain)]);
        assert_eq!(std::fs::read_to_string(&plain).expect("read"), *kp.to_pkcs8_pem().expect("pem"));
        assert_eq!(
            KeyPair::read_pem_file_with(&enc, Some(PASS.as_bytes())).expect("FDL reads it").public_key(),
            kp.public_key()
        );
    }
}

/// FDL → OpenSSL, SM4-CBC / HMAC-SM3: OpenSSL 3.0 cannot read the file (no HMAC-SM3 PRF), so the
/// file's PBKDF2-HMAC-SM3 and SM4-CBC are checked with `openssl kdf` and `openssl enc` instead.
#[test]
fn openssl_primitives_decrypt_fdl_sm4_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = KeyPair::generate(Suite::Sm);
    let enc = dir.path().join("enc.pem");
    kp.write_encrypted_pem_file(&enc, PASS.as_bytes(), KeyCipher::Sm4Cbc).expect("write");
    let pem = std::fs::read_to_string(&enc).expect("read");

    // What `openssl pkcs8` says about it (recorded: if a later OpenSSL reads it, check the output).
    let plain = dir.path().join("plain.pem");
    let out = openssl(&["pkcs8", "-in", p(&enc), "-passin", &format!("pass:{PASS}"), "-out", p(&plain)]);
    if out.status.success() {
        assert_eq!(std::fs::read_to_string(&plain).expect("read"), *kp.to_pkcs8_pem().expect("pem"));
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.to_lowercase().contains("unsupported"), "{err}");
    }

    let (_, der) = pem_der(&pem);
    let e = Epki::from_der(&der).expect("structure");
    let kdf = &e.alg.params.kdf.params;
    let key = openssl_ok(&[
        "kdf",
        "-keylen",
        "16",
        "-kdfopt",
        "digest:SM3",
        "-kdfopt",
        &format!("pass:{PASS}"),
        "-kdfopt",
        &format!("hexsalt:{}", hex::encode(kdf.salt.as_bytes())),
        "-kdfopt",
        &format!("iter:{}", kdf.count),
        "PBKDF2",
    ]);
    let key = String::from_utf8(key).expect("utf8").trim().replace(':', "");
    let ct = dir.path().join("ct.bin");
    std::fs::write(&ct, e.data.as_bytes()).expect("write");
    let iv = hex::encode(e.alg.params.enc.iv.as_bytes());
    let got = openssl_ok(&["enc", "-d", "-sm4-cbc", "-K", &key, "-iv", &iv, "-in", p(&ct)]);
    let (_, want) = pem_der(&kp.to_pkcs8_pem().expect("pem"));
    assert_eq!(got, want, "OpenSSL's PBKDF2-HMAC-SM3 + SM4-CBC decryption differs from FDL's PKCS#8");
}

/// OpenSSL → FDL: `openssl pkcs8 -topk8 -v2 ...` files open in FDL with the passphrase.
#[test]
fn fdl_decrypts_openssl_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (suite, args) in [
        (Suite::Sm, &["-v2", "sm4-cbc"][..]),
        (Suite::Sm, &["-v2", "sm4-cbc", "-v2prf", "hmacWithSHA256"][..]),
        (Suite::Sm, &["-v2", "aes-256-cbc"][..]),
        (Suite::Intl, &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256"][..]),
        (Suite::Intl, &["-v2", "sm4-cbc"][..]),
    ] {
        let kp = KeyPair::generate(suite);
        let plain = dir.path().join("plain.pem");
        kp.write_pem_file(&plain).expect("write");
        let enc = dir.path().join("enc.pem");
        let pass = format!("pass:{PASS}");
        let mut a = vec!["pkcs8", "-topk8", "-in", p(&plain), "-out", p(&enc), "-passout", &pass];
        a.extend_from_slice(args);
        openssl_ok(&a);
        let back = KeyPair::read_pem_file_with(&enc, Some(PASS.as_bytes())).expect("FDL reads OpenSSL's file");
        assert_eq!(back.public_key(), kp.public_key(), "{suite} {args:?}");
        assert_eq!(
            KeyPair::read_pem_file_with(&enc, Some(b"wrong")).expect_err("wrong passphrase"),
            CryptoError::WrongPassphrase
        );
    }
    // `hmacWithSM3` is unknown to OpenSSL 3.0: recorded here so a change shows up.
    let plain = dir.path().join("plain.pem");
    let out = openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        p(&plain),
        "-v2",
        "sm4-cbc",
        "-v2prf",
        "hmacWithSM3",
        "-passout",
        "pass:x",
    ]);
    assert!(!out.status.success(), "OpenSSL now writes hmacWithSM3: add it to this test");
}

#[test]
fn files_of_either_form_are_read_and_written_owner_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = KeyPair::generate(Suite::Sm);
    let plain: PathBuf = dir.path().join("plain.pem");
    let enc: PathBuf = dir.path().join("enc.pem");
    std::fs::write(&enc, "old").expect("write");
    kp.write_pem_file(&plain).expect("write");
    kp.write_encrypted_pem_file(&enc, b"pw", KeyCipher::Sm4Cbc).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&enc).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        fdl_crypto::check_private_key_file(&enc).expect("owner only");
    }
    for path in [&plain, &enc] {
        assert_eq!(KeyPair::read_pem_file_with(path, Some(b"pw")).expect("read").public_key(), kp.public_key());
    }
    assert_eq!(KeyPair::read_pem_file_with(&plain, None).expect("read").public_key(), kp.public_key());
    let err = KeyPair::read_pem_file_with(&enc, None).expect_err("no passphrase");
    assert!(matches!(&err, CryptoError::PassphraseRequired(m) if m.contains(p(&enc))), "{err:?}");
    let err = KeyPair::read_pem_file(&enc).expect_err("unencrypted reader");
    assert!(err.to_string().contains("passphrase"), "{err}");
    let missing = dir.path().join("missing.pem");
    assert!(matches!(KeyPair::read_pem_file_with(&missing, Some(b"pw")), Err(CryptoError::BadKeyFile(_))));
}
