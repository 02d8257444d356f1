//! Arbitrary bytes to `fdl_pki`'s certificate and CRL parsing and verification, as the
//! certificate, the CA and the CRL: must never panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fdl_fuzz::x509_crl(data));
