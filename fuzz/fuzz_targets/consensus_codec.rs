//! Arbitrary bytes to `fdl_consensus::FdlCodec`, decoded as every message type it decodes: must
//! never panic, and whatever decodes must re-encode to the same bytes.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fdl_fuzz::consensus_codec(data));
