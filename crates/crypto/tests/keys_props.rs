//! Property tests for the canonical encodings that get hashed and signed (STD-8.1, STD-8.3):
//! account addresses round-trip through their text form, and an SM2 signature has exactly one
//! accepted byte form (minimal DER), so a transaction's bytes cannot be varied by re-encoding its
//! signature.

use fdl_crypto::{
    ADDRESS_LEN, Address, CryptoError, KeyPair, MAX_SIGNATURE_LEN, PublicKey, Signature, Signer as _, Suite,
};
use proptest::prelude::*;
use sm3::Digest as _;

/// The SM2 group order n (GB/T 32918.5 recommended curve).
const N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x72, 0x03, 0xDF,
    0x6B, 0x21, 0xC6, 0x05, 0x2B, 0x53, 0xBB, 0xF4, 0x09, 0x39, 0xD5, 0x41, 0x23,
];

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn address_display_parse_round_trip(bytes in any::<[u8; ADDRESS_LEN]>()) {
        let a = Address(bytes);
        let text = a.to_string();
        prop_assert_eq!(text.len(), 2 * ADDRESS_LEN);
        prop_assert!(text.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
        prop_assert_eq!(&text, &a.to_hex());
        prop_assert_eq!(text.parse::<Address>(), Ok(a));
        prop_assert_eq!(format!("0x{text}").parse::<Address>(), Ok(a));
        prop_assert_eq!(text.to_uppercase().parse::<Address>(), Ok(a));
        prop_assert_eq!(format!("{a:?}"), format!("Address({text})"));
    }

    #[test]
    fn address_parse_rejects_wrong_lengths(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        prop_assume!(bytes.len() != ADDRESS_LEN);
        let text = hex::encode(&bytes);
        let is_bad_length = matches!(
            text.parse::<Address>(),
            Err(CryptoError::BadLength { expected: 40, .. })
        );
        prop_assert!(is_bad_length);
        // An odd number of digits is refused as well.
        let is_err = format!("{text}0").parse::<Address>().is_err();
        prop_assert!(is_err);
    }

    #[test]
    fn address_parse_rejects_non_hex(bytes in any::<[u8; ADDRESS_LEN]>(), at in 0..40usize, c in "[g-zG-Z .:_-]") {
        let mut text = Address(bytes).to_string();
        text.replace_range(at..=at, &c);
        prop_assert!(text.parse::<Address>().is_err());
    }
}

#[test]
fn address_rule_fixture() {
    // The documented rule, computed here from scratch: the first 20 bytes of
    // SM3(u64be(len(tag)) || "FDL/ADDR/v1" || suite tag 0x01 || SEC1 uncompressed key).
    let d: [u8; 32] = hex::decode("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let kp = KeyPair::sm2_from_scalar(&d).expect("valid scalar");
    let pk = kp.public_key().to_bytes();
    let mut h = sm3::Sm3::new();
    h.update(11u64.to_be_bytes());
    h.update(b"FDL/ADDR/v1");
    h.update([Suite::Sm.tag()]);
    h.update(&pk);
    let want = &h.finalize()[..ADDRESS_LEN];
    assert_eq!(kp.address().0.as_slice(), want);
    assert_eq!(kp.public_key().address(), kp.address());

    // Ed25519 (RFC 8032 TEST 1 key) under SHA-256 and suite tag 0x02.
    let seed: [u8; 32] = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let ed = KeyPair::ed25519_from_seed(&seed);
    let mut data = vec![Suite::Intl.tag()];
    data.extend(ed.public_key().to_bytes());
    let want = fdl_crypto::hash_tagged(Suite::Intl, b"FDL/ADDR/v1", &data);
    assert_eq!(ed.address().0.as_slice(), &want.0[..ADDRESS_LEN]);
    assert_ne!(ed.address(), kp.address());
}

// ---------------------------------------------------------------------------------------------
// SM2 signature DER: only the minimal encoding is accepted
// ---------------------------------------------------------------------------------------------

/// A minimal DER INTEGER for a non-negative big-endian value.
fn der_int(v: &[u8]) -> Vec<u8> {
    let first = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
    let mut body = v[first..].to_vec();
    if body[0] & 0x80 != 0 {
        body.insert(0, 0);
    }
    tlv(0x02, &body)
}

/// A tag-length-value with a short-form length.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag, u8::try_from(body.len()).expect("short form")];
    out.extend_from_slice(body);
    out
}

fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut inner = der_int(r);
    inner.extend(der_int(s));
    tlv(0x30, &inner)
}

/// Whether `v` (32 bytes, big-endian) is a valid signature scalar: 0 < v < n.
fn in_range(v: &[u8; 32]) -> bool {
    v.iter().any(|&b| b != 0) && v < &N
}

/// A scalar in [1, n-1] with a random number of leading zero bytes, so that short integers and
/// integers with the top bit set (needing a 0x00 pad) both occur often.
fn scalar_bytes() -> impl Strategy<Value = [u8; 32]> {
    (any::<[u8; 32]>(), prop_oneof![Just(0usize), 0..4usize, 0..32usize]).prop_filter_map(
        "scalar in [1, n-1]",
        |(mut v, zeros)| {
            v[..zeros].fill(0);
            in_range(&v).then_some(v)
        },
    )
}

fn assert_refused(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Signature::from_bytes(Suite::Sm, bytes) {
        Err(CryptoError::MalformedSignature(_)) => Ok(()),
        Err(CryptoError::BadLength { got, .. }) => {
            prop_assert!(got > MAX_SIGNATURE_LEN);
            Ok(())
        }
        other => Err(TestCaseError::fail(format!("{bytes:02x?} accepted or wrong error: {other:?}"))),
    }
}

proptest! {
    #[test]
    fn sm2_canonical_der_is_accepted(r in scalar_bytes(), s in scalar_bytes()) {
        let der = der_sig(&r, &s);
        prop_assert!(der.len() <= MAX_SIGNATURE_LEN);
        let sig = Signature::from_bytes(Suite::Sm, &der);
        prop_assert!(sig.is_ok(), "{:02x?}: {:?}", der, sig);
        let sig = sig.expect("checked");
        prop_assert_eq!(sig.as_bytes(), der.as_slice());
        prop_assert_eq!(sig.suite(), Suite::Sm);
        // The same bytes as the sm2 crate's encoder (independent of our hand-built DER).
        let theirs = sm2::dsa::Signature::from_scalars(r, s).expect("in range");
        let theirs = theirs.to_der();
        prop_assert_eq!(theirs.as_bytes(), der.as_slice());
    }

    #[test]
    fn sm2_padded_integer_is_refused(r in scalar_bytes(), s in scalar_bytes(), pad_s in any::<bool>(), extra in 1..3usize) {
        // An INTEGER with more leading 0x00 bytes than its minimal form needs.
        let (mut ri, mut si) = (der_int(&r), der_int(&s));
        let int = if pad_s { &mut si } else { &mut ri };
        let mut body = int[2..].to_vec();
        for _ in 0..extra {
            body.insert(0, 0);
        }
        *int = tlv(0x02, &body);
        let mut inner = ri;
        inner.extend(si);
        assert_refused(&tlv(0x30, &inner))?;
    }

    #[test]
    fn sm2_long_form_lengths_are_refused(r in scalar_bytes(), s in scalar_bytes(), which in 0..3usize) {
        // DER requires the short length form below 128; 0x81 LL is BER only.
        let long = |tag: u8, body: &[u8]| {
            let mut out = vec![tag, 0x81, u8::try_from(body.len()).expect("short")];
            out.extend_from_slice(body);
            out
        };
        let (ri, si) = (der_int(&r), der_int(&s));
        let bytes = match which {
            0 => {
                let mut inner = ri;
                inner.extend(si);
                long(0x30, &inner)
            }
            1 => {
                let mut inner = long(0x02, &ri[2..]);
                inner.extend(si);
                tlv(0x30, &inner)
            }
            _ => {
                let mut inner = ri;
                inner.extend(long(0x02, &si[2..]));
                tlv(0x30, &inner)
            }
        };
        assert_refused(&bytes)?;
    }

    #[test]
    fn sm2_other_encoding_variants_are_refused(r in scalar_bytes(), s in scalar_bytes(), trailing in any::<u8>()) {
        let der = der_sig(&r, &s);

        // Trailing bytes after the SEQUENCE.
        let mut t = der.clone();
        t.push(trailing);
        assert_refused(&t)?;

        // BER indefinite length.
        let mut indef = vec![0x30, 0x80];
        indef.extend_from_slice(&der[2..]);
        indef.extend_from_slice(&[0, 0]);
        assert_refused(&indef)?;

        // A SEQUENCE length that does not match its contents, either way.
        let mut short = der.clone();
        short[1] -= 1;
        assert_refused(&short)?;
        let mut long = der.clone();
        long[1] += 1;
        assert_refused(&long)?;

        // Swapped order of the two fields is still DER, but must not be the same signature.
        let swapped = der_sig(&s, &r);
        if r != s {
            prop_assert_ne!(swapped, der.clone());
        }

        // Truncation anywhere.
        for cut in 0..der.len() {
            assert_refused(&der[..cut])?;
        }
    }

    #[test]
    fn sm2_unpadded_high_integer_is_refused(r in scalar_bytes(), s in scalar_bytes()) {
        // Dropping the 0x00 pad turns a large value into a negative INTEGER.
        let ri = der_int(&r);
        prop_assume!(ri[2] == 0 && ri.len() > 3 && ri[3] & 0x80 != 0);
        let mut inner = tlv(0x02, &ri[3..]);
        inner.extend(der_int(&s));
        assert_refused(&tlv(0x30, &inner))?;
    }

    #[test]
    fn ed25519_signature_needs_exactly_64_bytes(bytes in prop::collection::vec(any::<u8>(), 0..130)) {
        let got = Signature::from_bytes(Suite::Intl, &bytes);
        if bytes.len() == 64 {
            let got = got.expect("64 bytes");
            prop_assert_eq!(got.as_bytes(), bytes.as_slice());
        } else {
            let is_bad_length = matches!(
                got,
                Err(CryptoError::BadLength { expected: 64, got, .. }) if got == bytes.len()
            );
            prop_assert!(is_bad_length);
        }
    }
}

#[test]
fn sm2_out_of_range_scalars_are_refused() {
    let one = {
        let mut v = [0u8; 32];
        v[31] = 1;
        v
    };
    let zero = [0u8; 32];
    let n_minus_1 = {
        let mut v = N;
        v[31] -= 1;
        v
    };
    assert!(Signature::from_bytes(Suite::Sm, &der_sig(&one, &n_minus_1)).is_ok());
    for (r, s) in [(zero, one), (one, zero), (N, one), (one, N), ([0xff; 32], one)] {
        assert!(
            matches!(Signature::from_bytes(Suite::Sm, &der_sig(&r, &s)), Err(CryptoError::MalformedSignature(_))),
            "r={r:02x?} s={s:02x?}"
        );
    }
    // Empty input and a bare SEQUENCE header.
    assert!(Signature::from_bytes(Suite::Sm, &[]).is_err());
    assert!(Signature::from_bytes(Suite::Sm, &[0x30, 0x00]).is_err());
}

#[test]
fn sm2_real_signatures_are_canonical_and_bounded() {
    // Every signature fdl-crypto makes passes its own canonical check and the length bound.
    let kp = KeyPair::generate(Suite::Sm);
    for i in 0..64u32 {
        let msg = i.to_be_bytes();
        let sig = kp.sign(&msg).expect("sign");
        assert!(sig.as_bytes().len() <= MAX_SIGNATURE_LEN);
        assert_eq!(Signature::from_bytes(Suite::Sm, sig.as_bytes()).expect("canonical"), sig);
        assert_eq!(kp.public_key().verify(&msg, &sig), Ok(()));
    }
}

#[test]
fn sm2_public_key_bytes_only_uncompressed() {
    let kp = KeyPair::generate(Suite::Sm);
    let pk = kp.public_key().to_bytes();
    assert_eq!(pk.len(), 65);
    assert_eq!(PublicKey::from_bytes(Suite::Sm, &pk).expect("valid"), kp.public_key());

    // The compressed form of the same point is refused, as are points off the curve.
    let mut compressed = vec![0x02 | (pk[64] & 1)];
    compressed.extend_from_slice(&pk[1..33]);
    assert!(matches!(PublicKey::from_bytes(Suite::Sm, &compressed), Err(CryptoError::MalformedPublicKey(_))));
    let mut off = pk.clone();
    off[64] ^= 1;
    assert!(matches!(PublicKey::from_bytes(Suite::Sm, &off), Err(CryptoError::MalformedPublicKey(_))));
    let mut identity = vec![0u8; 65];
    identity[0] = 0x04;
    assert!(PublicKey::from_bytes(Suite::Sm, &identity).is_err());
}
