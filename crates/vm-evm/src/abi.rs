//! Solidity ABI helpers for the CLI and the REST API, on `alloy-dyn-abi`/`alloy-json-abi`:
//! JSON arguments to calldata, return data and logs back to JSON, revert reasons to text.
//!
//! JSON conventions: integers are JSON numbers or decimal/`0x`-hex strings on input, and on
//! output a JSON number when they fit in `u64` (`i64` for negatives), else a decimal string;
//! addresses, `bytes` and `bytesN` are `0x` lowercase hex; arrays and tuples are JSON arrays.

use std::fmt;
use std::str::FromStr as _;

use alloy_dyn_abi::{DynSolType, DynSolValue, EventExt as _, FunctionExt as _, JsonAbiExt as _, Specifier as _};
pub use alloy_json_abi::Function;
use alloy_json_abi::{JsonAbi, Param};
use alloy_primitives::{Address, B256, I256, U256};
use serde_json::{Map, Value};

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

fn err(msg: impl Into<String>) -> AbiError {
    AbiError(msg.into())
}

/// A contract's parsed ABI.
#[derive(Debug, Clone)]
pub struct Abi {
    /// The parsed JSON ABI.
    pub json: JsonAbi,
    /// Functions' names and selectors in the order of the JSON (`JsonAbi` sorts by name).
    order: Vec<(String, [u8; 4])>,
}

impl Abi {
    /// Parses a JSON ABI (at most [`MAX_ABI_JSON_BYTES`]).
    pub fn parse(json: &str) -> Result<Abi, AbiError> {
        if json.len() > MAX_ABI_JSON_BYTES {
            return Err(err(format!("ABI JSON over {MAX_ABI_JSON_BYTES} bytes")));
        }
        let parsed: JsonAbi = serde_json::from_str(json).map_err(|e| err(format!("bad ABI JSON: {e}")))?;
        let raw: Vec<Value> = serde_json::from_str(json).map_err(|e| err(format!("bad ABI JSON: {e}")))?;
        let mut order = Vec::new();
        for item in raw {
            if item.get("type").and_then(Value::as_str) == Some("function") {
                let f: Function = serde_json::from_value(item).map_err(|e| err(format!("bad ABI function: {e}")))?;
                order.push((f.name.clone(), f.selector().0));
            }
        }
        Ok(Abi { json: parsed, order })
    }

    /// The function named by a bare name (refused when overloaded), a full signature
    /// (`transfer(address,uint256)`) or a selector (`0xa9059cbb`).
    pub fn function(&self, name_or_sig_or_selector: &str) -> Result<&Function, AbiError> {
        let key = name_or_sig_or_selector.trim();
        if let Some(hex) = key.strip_prefix("0x").filter(|h| h.len() == 8) {
            let sel = hex::decode(hex).map_err(|_| err(format!("bad selector {key}")))?;
            return self
                .json
                .functions()
                .find(|f| f.selector().0[..] == sel[..])
                .ok_or_else(|| err(format!("no function with selector {key}")));
        }
        if key.contains('(') {
            let sig: String = key.chars().filter(|c| !c.is_whitespace()).collect();
            return self
                .json
                .functions()
                .find(|f| f.signature() == sig)
                .ok_or_else(|| err(format!("no function {sig}")));
        }
        match self.json.function(key).map(Vec::as_slice) {
            Some([f]) => Ok(f),
            Some(fs) if fs.len() > 1 => {
                let sigs: Vec<String> = fs.iter().map(Function::signature).collect();
                Err(err(format!("{key} is overloaded; name one of: {}", sigs.join(", "))))
            }
            _ => Err(err(format!("no function {key}"))),
        }
    }

    /// Calldata of a call: selector and arguments, from a JSON array (positional) or object (by name).
    pub fn encode_call(&self, method: &str, args: &Value) -> Result<Vec<u8>, AbiError> {
        let f = self.function(method)?;
        let values = args_to_values(&f.inputs, args)?;
        f.abi_encode_input(&values).map_err(|e| err(format!("{}: {e}", f.name)))
    }

    /// Constructor arguments to append to creation code (empty when there is no constructor and
    /// no argument).
    pub fn encode_constructor(&self, args: &Value) -> Result<Vec<u8>, AbiError> {
        match &self.json.constructor {
            Some(c) => {
                let values = args_to_values(&c.inputs, args)?;
                c.abi_encode_input(&values).map_err(|e| err(format!("constructor: {e}")))
            }
            None => {
                args_to_values(&[], args)?;
                Ok(Vec::new())
            }
        }
    }

    /// Return data of `method` as JSON: one output → the value, several → an array, none → null.
    pub fn decode_output(&self, method: &str, data: &[u8]) -> Result<Value, AbiError> {
        let f = self.function(method)?;
        let values = f.abi_decode_output(data).map_err(|e| err(format!("{}: bad return data: {e}", f.name)))?;
        Ok(match values.len() {
            0 => Value::Null,
            1 => to_json(&values[0]),
            _ => Value::Array(values.iter().map(to_json).collect()),
        })
    }

    /// The event a log is, and its fields by name (unnamed fields by position); `None` when no
    /// event matches topic 0 or the log does not decode.
    pub fn decode_log(&self, topics: &[Word], data: &[u8]) -> Option<(String, Value)> {
        let topic0 = B256::from(*topics.first()?);
        let event = self.json.events().find(|e| !e.anonymous && e.selector() == topic0)?;
        let decoded = event.decode_log_parts(topics.iter().map(|t| B256::from(*t)), data).ok()?;
        let (mut indexed, mut body) = (decoded.indexed.iter(), decoded.body.iter());
        let mut fields = Map::new();
        for (i, input) in event.inputs.iter().enumerate() {
            let value = if input.indexed { indexed.next() } else { body.next() }?;
            let name = if input.name.is_empty() { i.to_string() } else { input.name.clone() };
            fields.insert(name, to_json(value));
        }
        Some((event.name.clone(), Value::Object(fields)))
    }

    /// Every function's name and selector, in ABI order.
    pub fn methods(&self) -> Vec<(String, [u8; 4])> {
        self.order.clone()
    }
}

/// The selector of a signature such as `transfer(address,uint256)`.
pub fn selector(signature: &str) -> [u8; 4] {
    let h = crate::types::keccak256(signature.as_bytes());
    [h[0], h[1], h[2], h[3]]
}

/// What a Solidity `Panic(uint256)` code means.
fn panic_meaning(code: u64) -> &'static str {
    match code {
        0x00 => "generic panic",
        0x01 => "assertion failed",
        0x11 => "arithmetic overflow",
        0x12 => "division by zero",
        0x21 => "invalid enum value",
        0x22 => "bad storage byte array encoding",
        0x31 => "pop on empty array",
        0x32 => "array index out of bounds",
        0x41 => "out of memory",
        0x51 => "call to a zero function",
        _ => "unknown panic code",
    }
}

/// Revert data as text: the reason of `Error(string)`, `panic 0x11 (arithmetic overflow)` for
/// `Panic(uint256)`, else the data in `0x` hex (`0x` for none).
pub fn decode_revert(data: &[u8]) -> String {
    const ERROR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    const PANIC: [u8; 4] = [0x4e, 0x48, 0x7b, 0x71];
    if data.len() >= 4 {
        let body = &data[4..];
        if data[..4] == ERROR {
            if let Ok(DynSolValue::String(s)) = DynSolType::String.abi_decode_params(body) {
                return s;
            }
        } else if data[..4] == PANIC && body.len() == 32 {
            let code = U256::from_be_slice(body);
            return match u64::try_from(code) {
                Ok(c) => format!("panic 0x{c:02x} ({})", panic_meaning(c)),
                Err(_) => format!("panic 0x{code:x} (unknown panic code)"),
            };
        }
    }
    format!("0x{}", hex::encode(data))
}

/// JSON arguments (array, object by name, or null/empty for none) as values of `params`.
fn args_to_values(params: &[Param], args: &Value) -> Result<Vec<DynSolValue>, AbiError> {
    let named_args = |p: &Param, i: usize| if p.name.is_empty() { format!("#{i}") } else { p.name.clone() };
    let list: Vec<&Value> = match args {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => {
            for key in map.keys() {
                if !params.iter().any(|p| &p.name == key) {
                    return Err(err(format!("no parameter named {key}")));
                }
            }
            let mut list = Vec::new();
            for (i, p) in params.iter().enumerate() {
                list.push(map.get(&p.name).ok_or_else(|| err(format!("missing argument {}", named_args(p, i))))?);
            }
            list
        }
        _ => return Err(err("arguments must be a JSON array or object")),
    };
    if list.len() != params.len() {
        return Err(err(format!("expected {} arguments, got {}", params.len(), list.len())));
    }
    params
        .iter()
        .zip(list)
        .enumerate()
        .map(|(i, (p, v))| {
            let ty = p.resolve().map_err(|e| err(format!("parameter {}: bad type: {e}", named_args(p, i))))?;
            from_json(&ty, v).map_err(|e| err(format!("parameter {} ({}): {e}", named_args(p, i), p.ty)))
        })
        .collect()
}

fn hex_bytes(v: &Value) -> Result<Vec<u8>, String> {
    let s = v.as_str().ok_or("expected a 0x-hex string")?;
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    hex::decode(h).map_err(|e| format!("bad hex: {e}"))
}

fn parse_uint(v: &Value) -> Result<U256, String> {
    match v {
        Value::Number(n) => n.as_u64().map(U256::from).ok_or_else(|| format!("{n} is not an unsigned integer")),
        Value::String(s) => U256::from_str(s.trim()).map_err(|e| format!("bad unsigned integer {s:?}: {e}")),
        _ => Err("expected an unsigned integer (number or string)".into()),
    }
}

fn parse_int(v: &Value) -> Result<I256, String> {
    match v {
        Value::Number(n) => {
            n.as_i64().map(I256::try_from).and_then(Result::ok).ok_or_else(|| format!("{n} is not an integer"))
        }
        Value::String(s) => {
            let s = s.trim();
            let (neg, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let magnitude = U256::from_str(digits).map_err(|e| format!("bad integer {s:?}: {e}"))?;
            let value = I256::try_from(magnitude).map_err(|_| format!("integer {s} out of range"))?;
            Ok(if neg { -value } else { value })
        }
        _ => Err("expected an integer (number or string)".into()),
    }
}

/// A JSON value as a value of type `ty`.
fn from_json(ty: &DynSolType, v: &Value) -> Result<DynSolValue, String> {
    Ok(match ty {
        DynSolType::Bool => DynSolValue::Bool(v.as_bool().ok_or("expected true or false")?),
        DynSolType::Uint(bits) => {
            let u = parse_uint(v)?;
            if u.bit_len() > *bits {
                return Err(format!("{u} does not fit in uint{bits}"));
            }
            DynSolValue::Uint(u, *bits)
        }
        DynSolType::Int(bits) => {
            let i = parse_int(v)?;
            if *bits < 256 {
                let bound = I256::ONE << (*bits - 1);
                if i >= bound || i < -bound {
                    return Err(format!("{i} does not fit in int{bits}"));
                }
            }
            DynSolValue::Int(i, *bits)
        }
        DynSolType::Address => {
            let b = hex_bytes(v)?;
            if b.len() != 20 {
                return Err("an address is 20 bytes".into());
            }
            DynSolValue::Address(Address::from_slice(&b))
        }
        DynSolType::Bytes => DynSolValue::Bytes(hex_bytes(v)?),
        DynSolType::FixedBytes(n) => {
            let b = hex_bytes(v)?;
            if b.len() != *n {
                return Err(format!("expected {n} bytes, got {}", b.len()));
            }
            let mut w = [0u8; 32];
            w[..*n].copy_from_slice(&b);
            DynSolValue::FixedBytes(B256::from(w), *n)
        }
        DynSolType::String => DynSolValue::String(v.as_str().ok_or("expected a string")?.to_owned()),
        DynSolType::Array(inner) => {
            let items = v.as_array().ok_or("expected an array")?;
            DynSolValue::Array(items.iter().map(|i| from_json(inner, i)).collect::<Result<_, _>>()?)
        }
        DynSolType::FixedArray(inner, n) => {
            let items = v.as_array().ok_or("expected an array")?;
            if items.len() != *n {
                return Err(format!("expected {n} elements, got {}", items.len()));
            }
            DynSolValue::FixedArray(items.iter().map(|i| from_json(inner, i)).collect::<Result<_, _>>()?)
        }
        DynSolType::Tuple(types) => {
            let items = v.as_array().ok_or("expected an array for a tuple")?;
            if items.len() != types.len() {
                return Err(format!("expected {} tuple fields, got {}", types.len(), items.len()));
            }
            DynSolValue::Tuple(types.iter().zip(items).map(|(t, i)| from_json(t, i)).collect::<Result<_, _>>()?)
        }
        other => return Err(format!("type {other} is not supported")),
    })
}

/// A value as JSON (see the module's conventions).
fn to_json(v: &DynSolValue) -> Value {
    match v {
        DynSolValue::Bool(b) => Value::Bool(*b),
        DynSolValue::Uint(u, _) => u64::try_from(*u).map_or_else(|_| Value::String(u.to_string()), Value::from),
        DynSolValue::Int(i, _) => i64::try_from(*i).map_or_else(|_| Value::String(i.to_string()), Value::from),
        DynSolValue::Address(a) => Value::String(format!("0x{}", hex::encode(a.as_slice()))),
        DynSolValue::FixedBytes(w, n) => Value::String(format!("0x{}", hex::encode(&w[..(*n).min(32)]))),
        DynSolValue::Bytes(b) => Value::String(format!("0x{}", hex::encode(b))),
        DynSolValue::String(s) => Value::String(s.clone()),
        DynSolValue::Function(f) => Value::String(format!("0x{}", hex::encode(f.as_slice()))),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
    }
}
