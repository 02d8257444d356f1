//! `fdl_crypto::sm2v::set_reference_mode`, the benchmarking switch, in a test binary of its own:
//! it is process-wide and would skew the cache counters other tests assert.
#![allow(clippy::unwrap_used, missing_docs)]

/// The benchmarking switch routes SM2 verification through the reference verifier, with the
/// same verdicts, and back.
#[test]
fn reference_mode_gives_the_same_verdicts() {
    use fdl_crypto::{KeyPair, Signer, Suite};
    let k = KeyPair::generate(Suite::Sm);
    let sig = k.sign(b"m").unwrap();
    let pk = k.public_key();
    fdl_crypto::sm2v::set_reference_mode(true);
    let good = pk.verify(b"m", &sig).is_ok();
    let bad = pk.verify(b"x", &sig).is_err();
    let reference = pk.verify_reference(b"m", &sig).is_ok();
    fdl_crypto::sm2v::set_reference_mode(false);
    assert!(good && bad && reference);
}
