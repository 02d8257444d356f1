//! Solidity ABI helpers for the CLI and the REST API, on `alloy-dyn-abi`/`alloy-json-abi`:
//! JSON arguments to calldata, return data and logs back to JSON, revert reasons to text.

use std::fmt;

pub use alloy_json_abi::Function;
use alloy_json_abi::JsonAbi;
use serde_json::Value;

use crate::types::Word;

/// Largest ABI JSON accepted by [`Abi::parse`].
pub const MAX_ABI_JSON_BYTES: usize = 64 * 1024;

/// An ABI error: bad JSON, unknown or ambiguous method, wrong arguments, undecodable data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiError(pub String);

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AbiError {}

/// A contract's parsed ABI.
#[derive(Debug, Clone)]
pub struct Abi {
    /// The parsed JSON ABI.
    pub json: JsonAbi,
}

impl Abi {
    /// Parses a JSON ABI (at most [`MAX_ABI_JSON_BYTES`]).
    pub fn parse(json: &str) -> Result<Abi, AbiError> {
        if json.len() > MAX_ABI_JSON_BYTES {
            return Err(AbiError(format!("ABI JSON over {MAX_ABI_JSON_BYTES} bytes")));
        }
        let json: JsonAbi = serde_json::from_str(json).map_err(|e| AbiError(format!("bad ABI JSON: {e}")))?;
        Ok(Abi { json })
    }

    /// The function named by a bare name (refused when overloaded), a full signature
    /// (`transfer(address,uint256)`) or a selector (`0xa9059cbb`).
    pub fn function(&self, name_or_sig_or_selector: &str) -> Result<&Function, AbiError> {
        Err(AbiError(format!("no function {name_or_sig_or_selector}")))
    }

    /// Calldata of a call: selector and arguments, from a JSON array (positional) or object (by name).
    pub fn encode_call(&self, method: &str, args: &Value) -> Result<Vec<u8>, AbiError> {
        let _ = (method, args);
        Err(AbiError("not yet implemented".into()))
    }

    /// Constructor arguments to append to creation code (empty when there is no constructor and
    /// no argument).
    pub fn encode_constructor(&self, args: &Value) -> Result<Vec<u8>, AbiError> {
        let _ = args;
        Err(AbiError("not yet implemented".into()))
    }

    /// Return data of `method` as JSON: one output → the value, several → an array, none → null.
    pub fn decode_output(&self, method: &str, data: &[u8]) -> Result<Value, AbiError> {
        let _ = (method, data);
        Err(AbiError("not yet implemented".into()))
    }

    /// The event a log is, and its fields by name; `None` when no event matches topic 0 or the
    /// log does not decode.
    pub fn decode_log(&self, topics: &[Word], data: &[u8]) -> Option<(String, Value)> {
        let _ = (topics, data);
        None
    }

    /// Every function's name and selector, in ABI order.
    pub fn methods(&self) -> Vec<(String, [u8; 4])> {
        Vec::new()
    }
}

/// The selector of a signature such as `transfer(address,uint256)`.
pub fn selector(signature: &str) -> [u8; 4] {
    let h = crate::types::keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// Revert data as text: the reason of `Error(string)`, `panic 0x11 (arithmetic overflow)` for
/// `Panic(uint256)`, else the data in `0x` hex.
pub fn decode_revert(data: &[u8]) -> String {
    format!("0x{}", hex::encode(data))
}
