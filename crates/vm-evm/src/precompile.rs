//! FDL's precompiles, next to Ethereum's standard set.

use crate::types::Address20;

const fn fd(low: u8) -> Address20 {
    let mut a = [0u8; 20];
    a[18] = 0xfd;
    a[19] = low;
    a
}

/// `0x…fd01`: SM3 of the input (32 bytes). Gas 60 + 12 per 32-byte word.
pub const SM3: Address20 = fd(0x01);
/// `0x…fd02`: SM2 verification with the default id `1234567812345678`. Input
/// `x(32) ‖ y(32) ‖ r(32) ‖ s(32) ‖ message`, output one word: 1 if valid, else 0.
/// Gas 5,000 + 12 per message word.
pub const SM2_VERIFY: Address20 = fd(0x02);
/// `0x…fd03`: SM2 verification with a given id. Input
/// `x ‖ y ‖ r ‖ s ‖ idlen(word, ≤ 1024) ‖ id ‖ message`; output and gas as [`SM2_VERIFY`].
pub const SM2_VERIFY_ID: Address20 = fd(0x03);
/// `0x…fd04`: the member behind an address (one ABI `address` word): output
/// `abi.encode(string institution, string role)`, empty strings for a non-member. Gas 2,600.
pub const IDENTITY: Address20 = fd(0x04);
