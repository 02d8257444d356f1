//! Known-answer tests from the published standards (STD-8.1): SM3 (GB/T 32905-2016), SM4
//! (GB/T 32907-2016), SM2 signatures and encryption (GB/T 32918 / GM/T 0003.5 examples on the
//! recommended curve), SM4-GCM (RFC 8998 Appendix A.1), SHA-256 (FIPS 180-4) and Ed25519
//! (RFC 8032 section 7.1).

use fdl_crypto::{
    CryptoError, Hasher, KeyPair, PublicKey, Signature, Signer as _, Suite, hash, open, seal, sm2_decrypt,
};
use sm2::elliptic_curve::{
    Group as _, PrimeField as _, ops::Reduce, point::AffineCoordinates as _, sec1::ToSec1Point as _,
};
use sm2::{FieldBytes, ProjectivePoint, Scalar, U256};
use sm3::Digest as _;
use sm4::cipher::{Array, BlockCipherDecrypt as _, BlockCipherEncrypt as _, KeyInit as _};

/// Decodes hex, ignoring spaces (so vectors can be written in the standards' word groups).
fn h(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).expect("test vector is valid hex")
}

fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().expect("test vector is 32 bytes")
}

fn h16(s: &str) -> [u8; 16] {
    h(s).try_into().expect("test vector is 16 bytes")
}

// ---------------------------------------------------------------------------------------------
// SM3, GB/T 32905-2016 Appendix A (STD-8.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn sm3_gbt32905_example_1_abc() {
    // GB/T 32905-2016 A.1: the 24-bit message "abc".
    let want = h("66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0");
    assert_eq!(hash(Suite::Sm, b"abc").0.to_vec(), want);
}

#[test]
fn sm3_gbt32905_example_2_abcd_x16() {
    // GB/T 32905-2016 A.2: the 512-bit message "abcd" repeated 16 times (two blocks once padded).
    let msg = b"abcd".repeat(16);
    assert_eq!(msg.len(), 64);
    let want = h("debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732");
    assert_eq!(hash(Suite::Sm, &msg).0.to_vec(), want);

    // The incremental hasher gives the same digest however the input is split.
    for split in [0, 1, 3, 31, 32, 33, 63, 64] {
        let mut hasher = Hasher::new(Suite::Sm);
        hasher.update(&msg[..split]);
        hasher.update(&msg[split..]);
        assert_eq!(hasher.finish().0.to_vec(), want, "split at {split}");
    }
}

// ---------------------------------------------------------------------------------------------
// SM4 block cipher, GB/T 32907-2016 Appendix A (STD-8.1)
// ---------------------------------------------------------------------------------------------

const SM4_KEY: &str = "0123456789abcdeffedcba9876543210";

#[test]
fn sm4_gbt32907_example_1_single_block() {
    // GB/T 32907-2016 A.1: key = plaintext = 0123456789abcdeffedcba9876543210.
    let key = h16(SM4_KEY);
    let cipher = sm4::Sm4::new(&Array::from(key));
    let mut block = Array::from(h16(SM4_KEY));
    cipher.encrypt_block(&mut block);
    assert_eq!(block.as_slice(), h("681edf34d206965e86b3e94f536e4246").as_slice());
    cipher.decrypt_block(&mut block);
    assert_eq!(block.as_slice(), key.as_slice());
}

#[test]
fn sm4_gbt32907_example_2_million_rounds() {
    // GB/T 32907-2016 A.2: encrypt the same block 1,000,000 times under the same key.
    let cipher = sm4::Sm4::new(&Array::from(h16(SM4_KEY)));
    let mut block = Array::from(h16(SM4_KEY));
    for _ in 0..1_000_000 {
        cipher.encrypt_block(&mut block);
    }
    assert_eq!(block.as_slice(), h("595298c7c6fd271f0402f804c33d3f66").as_slice());
}

// ---------------------------------------------------------------------------------------------
// SM2 signature, GB/T 32918.2 / GM/T 0003.5-2012 Appendix A example on the recommended curve
// (the vector used by OpenSSL's test/sm2_internal_test.c and GmSSL) (STD-8.1)
// ---------------------------------------------------------------------------------------------

/// Recommended-curve parameters, GB/T 32918.5-2017 section 3.
const SM2_A: &str = "FFFFFFFE FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF 00000000 FFFFFFFF FFFFFFFC";
const SM2_B: &str = "28E9FA9E 9D9F5E34 4D5A9E4B CF6509A7 F39789F5 15AB8F92 DDBCBD41 4D940E93";
const SM2_GX: &str = "32C4AE2C 1F198119 5F990446 6A39C994 8FE30BBF F2660BE1 715A4589 334C74C7";
const SM2_GY: &str = "BC3736A2 F4F6779C 59BDCEE3 6B692153 D0A9877C C62A4740 02DF32E5 2139F0A0";

/// The example key pair, nonce and message.
const VEC_D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
const VEC_XA: &str = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020";
const VEC_YA: &str = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
const VEC_ID: &[u8] = b"1234567812345678";
const VEC_MSG: &[u8] = b"message digest";
const VEC_K: &str = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21";
/// Expected Z_A (as in OpenSSL's sm2_internal_test.c `Z_exp`), e, r and s.
const VEC_Z: &str = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3";
const VEC_E: &str = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640";
const VEC_R: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3";
const VEC_S: &str = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

/// A scalar from 32 big-endian bytes, reduced mod n.
fn scalar_reduced(bytes: &[u8]) -> Scalar {
    <Scalar as Reduce<U256>>::reduce(&U256::from_be_slice(bytes))
}

/// A scalar from 32 big-endian bytes that must already be below n.
fn scalar_exact(bytes: &[u8]) -> Scalar {
    Scalar::from_repr(FieldBytes::try_from(bytes).expect("32 bytes"))
        .into_option()
        .expect("value below the group order")
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from 32-byte big-endian values, built by hand (minimal
/// integers, a 0x00 pad when the top bit is set).
fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn int(v: &[u8]) -> Vec<u8> {
        let first = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
        let mut body = v[first..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, u8::try_from(body.len()).expect("short integer")];
        out.extend(body);
        out
    }
    let mut inner = int(r);
    inner.extend(int(s));
    let mut out = vec![0x30, u8::try_from(inner.len()).expect("short sequence")];
    out.extend(inner);
    out
}

fn vector_public_sec1() -> Vec<u8> {
    let mut p = vec![0x04];
    p.extend(h(VEC_XA));
    p.extend(h(VEC_YA));
    p
}

#[test]
fn sm2_curve_constants_match_the_crate() {
    // The generator used by the arithmetic below is the GB/T 32918.5 recommended G.
    let g = ProjectivePoint::generator().to_affine().to_sec1_point(false);
    let mut want = vec![0x04];
    want.extend(h(SM2_GX));
    want.extend(h(SM2_GY));
    assert_eq!(g.as_bytes(), want.as_slice());
}

#[test]
fn sm2_sign_known_answer() {
    // Public key from d: through fdl-crypto and through raw curve arithmetic.
    let kp = KeyPair::sm2_from_scalar(&h32(VEC_D)).expect("vector scalar is valid");
    let pk = kp.public_key();
    assert_eq!(pk.suite(), Suite::Sm);
    assert_eq!(pk.to_bytes(), vector_public_sec1());
    let d = scalar_exact(&h(VEC_D));
    let pa = (ProjectivePoint::generator() * d).to_affine().to_sec1_point(false);
    assert_eq!(pa.as_bytes(), vector_public_sec1().as_slice());

    // Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A), ENTL_A = bit length of ID.
    let entl = u16::try_from(VEC_ID.len() * 8).expect("short id").to_be_bytes();
    let mut zh = sm3::Sm3::new();
    for part in [&entl[..], VEC_ID, &h(SM2_A), &h(SM2_B), &h(SM2_GX), &h(SM2_GY), &h(VEC_XA), &h(VEC_YA)] {
        zh.update(part);
    }
    let z = zh.finalize();
    assert_eq!(z.as_slice(), h(VEC_Z).as_slice());

    // e = SM3(Z_A || M), also through fdl-crypto's suite hash.
    let mut m = z.to_vec();
    m.extend_from_slice(VEC_MSG);
    let e_bytes = hash(Suite::Sm, &m).0;
    assert_eq!(e_bytes.to_vec(), h(VEC_E));

    // Signing equations with the fixed k:
    //   (x1, y1) = [k]G;  r = (e + x1) mod n;  s = ((1 + d)^-1 * (k - r*d)) mod n.
    let k = scalar_exact(&h(VEC_K));
    let x1 = x_of_k_times_g(k);
    let r = scalar_reduced(&e_bytes) + scalar_reduced(&x1);
    let s = (Scalar::ONE + d).invert().into_option().expect("1 + d is invertible") * (k - r * d);
    assert_eq!(r.to_repr().as_slice(), h(VEC_R).as_slice());
    assert_eq!(s.to_repr().as_slice(), h(VEC_S).as_slice());

    // fdl-crypto accepts the DER encoding of the published (r, s) over the message...
    let der = der_sig(&h(VEC_R), &h(VEC_S));
    assert_eq!(der.len(), 72, "both integers need a 0x00 pad");
    let sm2_der = sm2::dsa::Signature::from_scalars(h32(VEC_R), h32(VEC_S)).expect("valid r, s");
    assert_eq!(sm2_der.to_der().as_bytes(), der.as_slice(), "hand DER equals the sm2 crate's");
    let sig = Signature::from_bytes(Suite::Sm, &der).expect("canonical DER");
    assert_eq!(pk.verify(VEC_MSG, &sig), Ok(()));
    let reread = PublicKey::from_bytes(Suite::Sm, &vector_public_sec1()).expect("valid point");
    assert_eq!(reread.verify(VEC_MSG, &sig), Ok(()));

    // ...and rejects it over another message, or with any single bit of r or s flipped.
    assert_eq!(pk.verify(b"message digesT", &sig), Err(CryptoError::BadSignature));
    for (byte, bit) in [(5, 0), (20, 7), (37, 3), (40, 0), (71, 1)] {
        let mut bad = der.clone();
        bad[byte] ^= 1 << bit;
        match Signature::from_bytes(Suite::Sm, &bad) {
            Ok(bad_sig) => assert_eq!(
                pk.verify(VEC_MSG, &bad_sig),
                Err(CryptoError::BadSignature),
                "bit {bit} of byte {byte} flipped"
            ),
            // A flip that leaves r or s out of range is already refused when parsing.
            Err(e) => assert!(matches!(e, CryptoError::MalformedSignature(_)), "{e:?}"),
        }
    }

    // fdl-crypto's own (randomised) signatures with the vector key verify too.
    let own = kp.sign(VEC_MSG).expect("sign");
    assert_eq!(pk.verify(VEC_MSG, &own), Ok(()));
    assert_ne!(own, sig, "signing draws a fresh k");
}

/// The affine x coordinate of [k]G (32 big-endian bytes), checked two ways: the crate's
/// precomputed generator table and a plain scalar multiplication.
fn x_of_k_times_g(k: Scalar) -> Vec<u8> {
    let by_table = ProjectivePoint::mul_by_generator(&k).to_affine();
    let by_mul = (ProjectivePoint::generator() * k).to_affine();
    assert_eq!(by_table, by_mul);
    by_table.x().to_vec()
}

// ---------------------------------------------------------------------------------------------
// SM2 encryption, GM/T 0003.5-2012 Appendix C example on the recommended curve, in the DER form
// that OpenSSL uses (OpenSSL test/sm2_internal_test.c) (STD-8.1)
// ---------------------------------------------------------------------------------------------

const VEC_ENC_MSG: &[u8] = b"encryption standard";
const VEC_ENC_DER: &str = "307C022004EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73\
                           022100E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0\
                           042059983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766\
                           041321886CA989CA9C7D58087307CA93092D651EFA";

/// An "RNG" that hands out one fixed 32-byte value, to feed the published k to the encryptor.
struct FixedK([u8; 32]);

impl rand_core::TryRng for FixedK {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("the encryptor only asks for whole scalars")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("the encryptor only asks for whole scalars")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(dst.len(), 32);
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for FixedK {}

#[test]
fn sm2_decrypt_known_answer() {
    let kp = KeyPair::sm2_from_scalar(&h32(VEC_D)).expect("vector scalar is valid");
    let ct = h(VEC_ENC_DER);
    assert_eq!(sm2_decrypt(&kp, &ct).expect("published ciphertext decrypts"), VEC_ENC_MSG);

    // Altering C3 (the hash) or C2 (the ciphertext) is detected.
    for at in [80, ct.len() - 1] {
        let mut bad = ct.clone();
        bad[at] ^= 0x01;
        assert_eq!(sm2_decrypt(&kp, &bad), Err(CryptoError::Decrypt), "byte {at}");
    }
    // The same ciphertext in the raw C1 || C3 || C2 byte layout is not accepted: only DER is.
    let mut raw = vec![0x04];
    raw.extend(&ct[4..36]); // x of C1
    raw.extend(&ct[39..71]); // y of C1 (after its 0x00 pad)
    raw.extend(&ct[73..105]); // C3
    raw.extend(&ct[107..]); // C2
    assert_eq!(raw.len(), 65 + 32 + VEC_ENC_MSG.len());
    assert_eq!(sm2_decrypt(&kp, &raw), Err(CryptoError::Decrypt));
}

#[test]
fn sm2_encrypt_wire_format_known_answer() {
    // With the published k, the encryptor fdl_crypto::sm2_encrypt calls (`encrypt_der`) gives the
    // published DER ciphertext byte for byte, so FDL's output layout is the one OpenSSL expects.
    let pk = PublicKey::from_bytes(Suite::Sm, &vector_public_sec1()).expect("valid point");
    let PublicKey::Sm2(vk) = &pk else { unreachable!("SM2 key") };
    let ek = sm2::pke::EncryptingKey::from_affine(*vk.as_affine()).expect("valid point");
    let ct = ek.encrypt_der(&mut FixedK(h32(VEC_K)), VEC_ENC_MSG).expect("encrypt");
    assert_eq!(hex::encode_upper(&ct), VEC_ENC_DER);

    // And fdl_crypto::sm2_encrypt itself emits a DER SEQUENCE of that shape that round-trips.
    let ct = fdl_crypto::sm2_encrypt(&pk, VEC_ENC_MSG).expect("encrypt");
    assert_eq!(ct[0], 0x30, "DER SEQUENCE");
    let kp = KeyPair::sm2_from_scalar(&h32(VEC_D)).expect("vector scalar is valid");
    assert_eq!(sm2_decrypt(&kp, &ct).expect("round trip"), VEC_ENC_MSG);
}

// ---------------------------------------------------------------------------------------------
// SM4-GCM, RFC 8998 Appendix A.1 (STD-8.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn sm4_gcm_rfc8998_a1() {
    let key = h("0123456789ABCDEFFEDCBA9876543210");
    let iv = h("00001234567800000000ABCD");
    let aad = h("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let pt = h("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
                EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA");
    let ct = h("17F399F08C67D5EE19D0DC9969C4BB7D 5FD46FD3756489069157B282BB200735
                D82710CA5C22F0CCFA7CBF93D496AC15 A56834CBCF98C397B4024A2691233B8D");
    let tag = h("83DE3541E4C2B58177E065A9BF7B62EC");
    let mut sealed_want = ct.clone();
    sealed_want.extend(&tag);

    let sealed = seal(Suite::Sm, &key, &iv, &aad, &pt).expect("seal");
    assert_eq!(sealed, sealed_want);
    assert_eq!(open(Suite::Sm, &key, &iv, &aad, &sealed).expect("open"), pt);

    // Tampering with the ciphertext, the tag, the AAD, the nonce or the key makes open fail.
    for at in [0, 31, 63, 64, 79] {
        let mut bad = sealed.clone();
        bad[at] ^= 0x80;
        assert_eq!(open(Suite::Sm, &key, &iv, &aad, &bad), Err(CryptoError::Decrypt), "byte {at}");
    }
    let mut bad_aad = aad.clone();
    bad_aad[0] ^= 1;
    assert_eq!(open(Suite::Sm, &key, &iv, &bad_aad, &sealed), Err(CryptoError::Decrypt));
    let mut bad_iv = iv.clone();
    bad_iv[11] ^= 1;
    assert_eq!(open(Suite::Sm, &key, &bad_iv, &aad, &sealed), Err(CryptoError::Decrypt));
    let mut bad_key = key.clone();
    bad_key[0] ^= 1;
    assert_eq!(open(Suite::Sm, &bad_key, &iv, &aad, &sealed), Err(CryptoError::Decrypt));
    assert_eq!(open(Suite::Sm, &key, &iv, &aad, &sealed[..sealed.len() - 1]), Err(CryptoError::Decrypt));

    // Wrong lengths are refused before any cryptography.
    assert!(matches!(
        seal(Suite::Sm, &h("00"), &iv, &aad, &pt),
        Err(CryptoError::BadLength { what: "AEAD key", expected: 16, got: 1 })
    ));
    assert!(matches!(
        seal(Suite::Sm, &key, &iv[..8], &aad, &pt),
        Err(CryptoError::BadLength { what: "AEAD nonce", expected: 12, got: 8 })
    ));
    // The same 16-byte key is not an AES-256 key: the suites do not mix.
    assert!(matches!(
        seal(Suite::Intl, &key, &iv, &aad, &pt),
        Err(CryptoError::BadLength { what: "AEAD key", expected: 32, got: 16 })
    ));
}

// ---------------------------------------------------------------------------------------------
// International suite: SHA-256 (FIPS 180-4) and Ed25519 (RFC 8032 section 7.1)
// ---------------------------------------------------------------------------------------------

#[test]
fn sha256_fips180_abc() {
    let want = h("ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad");
    assert_eq!(hash(Suite::Intl, b"abc").0.to_vec(), want);
}

#[test]
fn ed25519_rfc8032_tests_1_and_2() {
    // RFC 8032 section 7.1, TEST 1 (empty message) and TEST 2 (one byte 0x72).
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac\
             c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e\
             458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, msg, sig) in cases {
        let kp = KeyPair::ed25519_from_seed(&h32(seed));
        let pk = kp.public_key();
        assert_eq!(pk.suite(), Suite::Intl);
        assert_eq!(pk.to_bytes(), h(public));
        let msg = h(msg);
        let got = kp.sign(&msg).expect("sign");
        assert_eq!(got.as_bytes(), h(sig).as_slice());
        assert_eq!(Signature::from_bytes(Suite::Intl, &h(sig)).expect("64 bytes"), got);
        assert_eq!(pk.verify(&msg, &got), Ok(()));

        let mut other = msg.clone();
        other.push(0);
        assert_eq!(pk.verify(&other, &got), Err(CryptoError::BadSignature));
        let mut bad = h(sig);
        bad[0] ^= 1;
        let bad = Signature::from_bytes(Suite::Intl, &bad).expect("64 bytes");
        assert_eq!(pk.verify(&msg, &bad), Err(CryptoError::BadSignature));
    }
}
