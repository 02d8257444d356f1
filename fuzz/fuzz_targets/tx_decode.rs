//! Arbitrary bytes to `SignedTx::decode` and `Block::decode`: must never panic, and whatever
//! decodes must re-encode to the same bytes.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fdl_fuzz::tx_decode(data));
