//! Arbitrary (key, message, signature) to the fast SM2 verifier and to RustCrypto `sm2`: any
//! disagreement is a crash. Input: 65-byte key || r (32) || s (32) || message.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fdl_fuzz::sm2_verify_diff(data));
