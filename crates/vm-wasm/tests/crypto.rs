//! The crypto host functions: `sm3`, `sha256` against known vectors, `sm2_verify` and
//! `ed25519_verify` with real signatures made by fdl-crypto (and the `sm2` crate for a custom
//! distinguishing id), tampered messages and malformed keys and signatures.

#![allow(clippy::unwrap_used)]

mod support;

use fdl_crypto::{KeyPair, Signer as _, Suite};
use support::{FUEL, data, module, setup, success};

/// Runs `body` (which leaves an i32 on the stack) and gives that i32.
fn eval_i32(body: &str, segments: &str) -> i32 {
    let code = module(&format!(
        r#"(data (i32.const 16) "r") {segments}
           (func (export "m")
             (i32.store (i32.const 32) {body})
             (call $storage_set (i32.const 16) (i32.const 1) (i32.const 32) (i32.const 4)))"#
    ));
    let mut host = setup(&code);
    success(&host.run("main", "m", b"", FUEL));
    i32::from_le_bytes(host.get("main", b"r").unwrap().try_into().unwrap())
}

fn digest(function: &str, msg: &[u8]) -> Vec<u8> {
    let code = module(&format!(
        r#"(data (i32.const 16) "d") (data (i32.const 1024) "{}")
           (func (export "m")
             (call ${function} (i32.const 1024) (i32.const {}) (i32.const 4096))
             (call $storage_set (i32.const 16) (i32.const 1) (i32.const 4096) (i32.const 32)))"#,
        data(msg),
        msg.len()
    ));
    let mut host = setup(&code);
    success(&host.run("main", "m", b"", FUEL));
    host.get("main", b"d").unwrap()
}

#[test]
fn sm3_and_sha256_known_answers() {
    // GB/T 32905-2016 A.1 and FIPS 180-4.
    assert_eq!(hex::encode(digest("sm3", b"abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    assert_eq!(
        hex::encode(digest("sha256", b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(hex::encode(digest("sha256", b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // GB/T 32905-2016 A.2: "abcd" x 16.
    assert_eq!(
        hex::encode(digest("sm3", &b"abcd".repeat(16))),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
}

/// `sm2_verify` over (key, message, signature, id) placed in memory.
fn sm2_verify(pk: &[u8], msg: &[u8], sig: &[u8], id: &[u8]) -> i32 {
    let segments = format!(
        r#"(data (i32.const 1024) "{}") (data (i32.const 2048) "{}") (data (i32.const 4096) "{}") (data (i32.const 8192) "{}")"#,
        data(pk),
        data(msg),
        data(sig),
        data(id)
    );
    let body = format!(
        "(call $sm2_verify (i32.const 1024) (i32.const {}) (i32.const 2048) (i32.const {}) (i32.const 4096) (i32.const {}) (i32.const 8192) (i32.const {}))",
        pk.len(),
        msg.len(),
        sig.len(),
        id.len()
    );
    eval_i32(&body, &segments)
}

fn ed25519_verify(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> i32 {
    let segments = format!(
        r#"(data (i32.const 1024) "{}") (data (i32.const 2048) "{}") (data (i32.const 4096) "{}")"#,
        data(pk),
        data(msg),
        data(sig)
    );
    let body =
        format!("(call $ed25519_verify (i32.const 1024) (i32.const 2048) (i32.const {}) (i32.const 4096))", msg.len());
    eval_i32(&body, &segments)
}

#[test]
fn sm2_verify_with_the_default_id() {
    let kp = KeyPair::generate(Suite::Sm);
    let msg = b"transfer 5 to bob";
    let sig = kp.sign(msg).unwrap();
    let pk = kp.public_key().to_bytes();
    assert_eq!(pk.len(), 65);

    assert_eq!(sm2_verify(&pk, msg, sig.as_bytes(), b""), 1);
    // The default id spelled out is the same id.
    assert_eq!(sm2_verify(&pk, msg, sig.as_bytes(), b"1234567812345678"), 1);
    // A tampered message, another id, another key.
    assert_eq!(sm2_verify(&pk, b"transfer 6 to bob", sig.as_bytes(), b""), 0);
    assert_eq!(sm2_verify(&pk, msg, sig.as_bytes(), b"alice@example"), 0);
    let other = KeyPair::generate(Suite::Sm).public_key().to_bytes();
    assert_eq!(sm2_verify(&other, msg, sig.as_bytes(), b""), 0);
}

#[test]
fn sm2_verify_with_a_given_id() {
    use sm2::dsa::signature::Signer as _;
    let id = "alice@example";
    let sk = sm2::dsa::SigningKey::from_slice(id, &[7u8; 32]).unwrap();
    let msg = b"hello";
    let sig: sm2::dsa::Signature = sk.sign(msg);
    let der = sig.to_der();
    let pk = sk.verifying_key().to_sec1_bytes();
    assert_eq!(sm2_verify(&pk, msg, der.as_bytes(), id.as_bytes()), 1);
    assert_eq!(sm2_verify(&pk, msg, der.as_bytes(), b""), 0);
    assert_eq!(sm2_verify(&pk, b"hellO", der.as_bytes(), id.as_bytes()), 0);
}

#[test]
fn sm2_verify_malformed_inputs_are_zero() {
    let kp = KeyPair::generate(Suite::Sm);
    let msg = b"m";
    let sig = kp.sign(msg).unwrap();
    let sig = sig.as_bytes();
    let pk = kp.public_key().to_bytes();
    let mut off_curve = pk.clone();
    off_curve[64] ^= 1;
    let mut compressed = vec![0x02 | (pk[64] & 1)];
    compressed.extend_from_slice(&pk[1..33]);
    for bad_key in [&b""[..], &pk[..64], &off_curve, &[0u8; 65], &[0x04; 65], &compressed, &[0xff; 200]] {
        assert_eq!(sm2_verify(bad_key, msg, sig, b""), 0, "{}", hex::encode(bad_key));
    }
    let mut trailing = sig.to_vec();
    trailing.push(0);
    for bad_sig in [&b""[..], &sig[..sig.len() - 1], &trailing, &[0x30, 0x00], &[0xff; 72]] {
        assert_eq!(sm2_verify(&pk, msg, bad_sig, b""), 0, "{}", hex::encode(bad_sig));
    }
    // An id that is not UTF-8, and one too long for SM2's 16-bit length: 0, no panic.
    assert_eq!(sm2_verify(&pk, msg, sig, &[0xff, 0xfe]), 0);
    assert_eq!(sm2_verify(&pk, msg, sig, &[b'a'; 9000]), 0);
}

#[test]
fn ed25519_verify_real_and_tampered() {
    let kp = KeyPair::ed25519_from_seed(&[9; 32]);
    let msg = b"transfer 5 to bob";
    let fdl_crypto::Signature::Ed25519(sig) = kp.sign(msg).unwrap() else { panic!("an Ed25519 signature") };
    let pk: [u8; 32] = kp.public_key().to_bytes().try_into().unwrap();
    assert_eq!(ed25519_verify(&pk, msg, &sig), 1);
    assert_eq!(ed25519_verify(&pk, b"transfer 6 to bob", &sig), 0);
    let mut flipped = sig;
    flipped[0] ^= 1;
    assert_eq!(ed25519_verify(&pk, msg, &flipped), 0);
    let other: [u8; 32] = KeyPair::ed25519_from_seed(&[8; 32]).public_key().to_bytes().try_into().unwrap();
    assert_eq!(ed25519_verify(&other, msg, &sig), 0);
}

#[test]
fn ed25519_verify_malformed_keys_and_signatures_are_zero() {
    let kp = KeyPair::ed25519_from_seed(&[9; 32]);
    let msg = b"m";
    let fdl_crypto::Signature::Ed25519(sig) = kp.sign(msg).unwrap() else { panic!("an Ed25519 signature") };
    // The identity (small order), a non-canonical y, garbage.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut non_canonical = [0xff; 32];
    non_canonical[31] = 0x7f;
    for bad_key in [[0u8; 32], identity, non_canonical, [0xff; 32]] {
        assert_eq!(ed25519_verify(&bad_key, msg, &sig), 0, "{}", hex::encode(bad_key));
    }
    // s not below the group order (strict rule, ADR 0010).
    let pk: [u8; 32] = kp.public_key().to_bytes().try_into().unwrap();
    let mut big_s = sig;
    big_s[32..].copy_from_slice(&[0xff; 32]);
    assert_eq!(ed25519_verify(&pk, msg, &big_s), 0);
    assert_eq!(ed25519_verify(&pk, msg, &[0; 64]), 0);
}

#[test]
fn verification_costs_its_fuel() {
    use fdl_vm_wasm::fuel;
    let code = module(
        r#"(func (export "sm2") (drop (call $sm2_verify (i32.const 0) (i32.const 65) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 72) (i32.const 0) (i32.const 0))))
           (func (export "ed") (drop (call $ed25519_verify (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))"#,
    );
    let mut host = setup(&code);
    let sm2 = host.run("main", "sm2", b"", FUEL);
    success(&sm2);
    assert!(sm2.fuel_used >= fuel::HOST_CALL + fuel::VERIFY + 65 + 72);
    let ed = host.run("main", "ed", b"", FUEL);
    success(&ed);
    assert!(ed.fuel_used >= fuel::HOST_CALL + fuel::VERIFY + 32 + 64);
    // Not enough fuel for a verification: out of fuel, before the work.
    let r = host.run("main", "ed", b"", fuel::VERIFY);
    assert_eq!(r.result.unwrap_err().code, "out_of_fuel");
    assert_eq!(r.fuel_used, fuel::VERIFY);
}
