//! Arbitrary bytes as a contract module and a call's arguments: deployed directly and called
//! through block execution; nothing may panic, and a failed deploy or call writes nothing of the
//! contract's.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fdl_fuzz::contract(data));
