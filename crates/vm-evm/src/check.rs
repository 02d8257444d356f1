//! The static check of runtime code ([`crate::Engine::check_runtime`]).

use std::fmt;

use crate::types::{Limits, Word, keccak256};

/// EIP-170's bound on runtime code, which no limit may raise.
pub const EIP170_MAX_CODE_BYTES: usize = 24_576;

/// The opcodes [`Limits::denied_opcodes`] may refuse: bit `i` of the mask refuses entry `i`.
pub const DENIED_OPCODE_LIST: [(u8, &str); 5] =
    [(0xff, "SELFDESTRUCT"), (0xf0, "CREATE"), (0xf5, "CREATE2"), (0xf2, "CALLCODE"), (0xf4, "DELEGATECALL")];

/// Bit of SELFDESTRUCT (0xff) in [`Limits::denied_opcodes`].
pub const DENY_SELFDESTRUCT: u64 = 1 << 0;
/// Bit of CREATE (0xf0).
pub const DENY_CREATE: u64 = 1 << 1;
/// Bit of CREATE2 (0xf5).
pub const DENY_CREATE2: u64 = 1 << 2;
/// Bit of CALLCODE (0xf2).
pub const DENY_CALLCODE: u64 = 1 << 3;
/// Bit of DELEGATECALL (0xf4).
pub const DENY_DELEGATECALL: u64 = 1 << 4;

/// The default deny set: everything but DELEGATECALL (libraries and proxies use it).
pub const DEFAULT_DENIED_OPCODES: u64 = 0b01111;

/// What the check found in accepted code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeInfo {
    /// Code size in bytes.
    pub size: usize,
    /// `keccak256(code)`.
    pub keccak: Word,
    /// The PUSH4 immediates of the code (candidate function selectors; best effort, for display).
    pub selectors: Vec<[u8; 4]>,
}

/// Why code was refused, with a stable [`CheckError::code`]: `empty`, `code_too_large`,
/// `denied_opcode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    /// The stable code.
    pub code: &'static str,
    /// A human-readable message.
    pub message: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CheckError {}

/// The code without its solc metadata trailer, when one is plausible: the last two bytes are the
/// big-endian length of a CBOR map that starts right before them (a map head, 0xa1..=0xb7).
pub(crate) fn strip_metadata(code: &[u8]) -> &[u8] {
    let n = code.len();
    if n < 2 {
        return code;
    }
    let len = usize::from(u16::from_be_bytes([code[n - 2], code[n - 1]]));
    let Some(start) = n.checked_sub(2 + len) else { return code };
    if len == 0 || !(0xa1..=0xb7).contains(&code[start]) {
        return code;
    }
    &code[..start]
}

/// Checks runtime code against `limits` (see [`crate::Engine::check_runtime`]).
pub(crate) fn check_runtime(code: &[u8], limits: &Limits) -> Result<CodeInfo, CheckError> {
    if code.is_empty() {
        return Err(CheckError { code: "empty", message: "the runtime code is empty".into() });
    }
    let max = (limits.max_code_bytes as usize).min(EIP170_MAX_CODE_BYTES);
    if code.len() > max {
        return Err(CheckError {
            code: "code_too_large",
            message: format!("the runtime code is {} bytes, over the limit of {max}", code.len()),
        });
    }
    let denied: Vec<(u8, &str)> = DENIED_OPCODE_LIST
        .iter()
        .enumerate()
        .filter(|(i, _)| limits.denied_opcodes & (1u64 << i) != 0)
        .map(|(_, op)| *op)
        .collect();
    let body = strip_metadata(code);
    let mut selectors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut pc = 0usize;
    while pc < body.len() {
        let op = body[pc];
        if let Some((_, name)) = denied.iter().find(|(d, _)| *d == op) {
            return Err(CheckError {
                code: "denied_opcode",
                message: format!("opcode {name} (0x{op:02x}) at offset {pc} is not allowed"),
            });
        }
        if (0x60..=0x7f).contains(&op) {
            let n = usize::from(op - 0x5f);
            if op == 0x63
                && let Some(imm) = body.get(pc + 1..pc + 5)
            {
                let sel = [imm[0], imm[1], imm[2], imm[3]];
                if seen.insert(sel) {
                    selectors.push(sel);
                }
            }
            pc = pc.saturating_add(1 + n);
        } else {
            pc += 1;
        }
    }
    Ok(CodeInfo { size: code.len(), keccak: keccak256(code), selectors })
}
