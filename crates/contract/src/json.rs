//! A minimal, integer-only JSON: the format of arguments, return data and events.
//!
//! Numbers are integers (`i128`/`u128`): fractions and exponents are refused with an error, so
//! no floating point is ever needed (the chain refuses modules with `f32`/`f64` instructions).
//! The parser is strict: UTF-8 only, no trailing characters, no duplicate object keys, no
//! leading zeros, nesting at most [`MAX_DEPTH`] deep; its errors are values, never panics.
//! Objects keep their keys in order.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// The deepest nesting of arrays and objects the parser accepts.
pub const MAX_DEPTH: usize = 32;

/// A JSON value.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub enum Json {
    /// `null`.
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object: its members in order (keys are distinct in parsed objects).
    Object(Vec<(String, Json)>),
}

/// A JSON number: an integer from `-2^127` to `2^128 - 1` (the range of `i128` and `u128`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Number {
    negative: bool,
    magnitude: u128,
}

impl Number {
    /// A non-negative number.
    pub const fn from_u128(v: u128) -> Number {
        Number { negative: false, magnitude: v }
    }

    /// Any `i128`.
    pub const fn from_i128(v: i128) -> Number {
        Number { negative: v < 0, magnitude: v.unsigned_abs() }
    }

    /// Whether it is below zero.
    pub const fn is_negative(&self) -> bool {
        self.negative
    }

    /// Its absolute value.
    pub const fn magnitude(&self) -> u128 {
        self.magnitude
    }

    /// The value as a `u128`, if it is not negative.
    pub const fn as_u128(&self) -> Option<u128> {
        if self.negative { None } else { Some(self.magnitude) }
    }

    /// The value as an `i128`, if it is in range.
    pub const fn as_i128(&self) -> Option<i128> {
        const MIN_MAGNITUDE: u128 = 1 << 127;
        if !self.negative {
            if self.magnitude < MIN_MAGNITUDE { Some(self.magnitude as i128) } else { None }
        } else if self.magnitude <= MIN_MAGNITUDE {
            // `magnitude as i128` wraps 2^127 to i128::MIN, whose negation wraps back to it.
            Some((self.magnitude as i128).wrapping_neg())
        } else {
            None
        }
    }

    fn write(&self, out: &mut String) {
        if self.negative {
            out.push('-');
        }
        push_decimal(out, self.magnitude);
    }
}

/// Appends the decimal digits of `v` (no `core::fmt`).
pub(crate) fn push_decimal(out: &mut String, mut v: u128) {
    let mut digits = [0u8; 39];
    let mut i = digits.len();
    loop {
        i -= 1;
        // Narrow to u64 arithmetic where possible: 128-bit division is a library call.
        if let Ok(small) = u64::try_from(v) {
            digits[i] = b'0' + (small % 10) as u8;
            v = u128::from(small / 10);
        } else {
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Why JSON could not be parsed, or a value could not be read from it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct JsonError {
    message: String,
}

impl JsonError {
    /// An error with this message.
    pub fn new(message: &str) -> JsonError {
        JsonError { message: message.to_owned() }
    }

    /// The message, e.g. `invalid JSON at byte 7: expected ':'` or
    /// `argument "to": expected an address (a string of 40 hex digits)`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, in the context of a named field (`noun` is `field` or `argument`).
    pub fn in_field(self, noun: &str, key: &str) -> JsonError {
        let mut message = String::with_capacity(noun.len() + key.len() + self.message.len() + 6);
        message.push_str(noun);
        message.push_str(" \"");
        push_clipped(&mut message, key);
        message.push_str("\": ");
        message.push_str(&self.message);
        JsonError { message }
    }

    /// The same error, in the context of an array element.
    pub fn at_index(self, index: usize) -> JsonError {
        let mut message = String::from("[");
        push_decimal(&mut message, index as u128);
        message.push_str("]: ");
        message.push_str(&self.message);
        JsonError { message }
    }

    fn at(pos: usize, what: &str) -> JsonError {
        let mut message = String::from("invalid JSON at byte ");
        push_decimal(&mut message, pos as u128);
        message.push_str(": ");
        message.push_str(what);
        JsonError { message }
    }
}

/// Appends a name from the input to a message, at most 40 bytes of it.
fn push_clipped(out: &mut String, text: &str) {
    let mut end = text.len().min(40);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(text.get(..end).unwrap_or_default());
    if end < text.len() {
        out.push_str("...");
    }
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses a JSON text.
pub fn parse(text: &[u8]) -> Result<Json, JsonError> {
    let text = core::str::from_utf8(text).map_err(|e| JsonError::at(e.valid_up_to(), "not UTF-8"))?;
    let mut p = Parser { text, bytes: text.as_bytes(), pos: 0 };
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.bytes.len() {
        return Err(p.error("unexpected characters after the value"));
    }
    Ok(value)
}

/// Parses a JSON text into a `T`.
pub fn from_slice<T: FromJson>(text: &[u8]) -> Result<T, JsonError> {
    T::from_json(parse(text)?)
}

/// The JSON text of a value.
pub fn to_string<T: ToJson + ?Sized>(value: &T) -> String {
    let mut out = String::new();
    value.to_json().write(&mut out);
    out
}

/// Sorts in O(n log n) with little code (the standard sorts add kilobytes to every contract).
fn heap_sort(v: &mut [&str]) {
    fn sift_down(v: &mut [&str], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift_down(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> JsonError {
        JsonError::at(self.pos, what)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error("unexpected character"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn check_depth(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH { Err(self.error("nested more than 32 deep")) } else { Ok(()) }
    }

    fn array(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.check_depth(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, JsonError> {
        self.check_depth(depth)?;
        let start = self.pos;
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':', "expected ':'")?;
            self.skip_ws();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
        // Duplicate keys would let two readers see two different values: refused.
        let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        heap_sort(&mut keys);
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            let mut what = String::from("duplicate key \"");
            push_clipped(&mut what, pair[0]);
            what.push_str("\" in the object");
            return Err(JsonError::at(start, &what));
        }
        Ok(Json::Object(members))
    }

    fn number(&mut self) -> Result<Number, JsonError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut magnitude: u128 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if self.pos > digits_start && self.bytes[digits_start] == b'0' {
                return Err(JsonError::at(digits_start, "leading zeros are not allowed"));
            }
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u128::from(d - b'0')))
                .ok_or_else(|| JsonError::at(digits_start, "number out of range (beyond 128 bits)"))?;
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.error("expected a digit"));
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return Err(self.error("fractions and exponents are not supported: numbers are integers"));
        }
        if negative && magnitude > 1 << 127 {
            return Err(JsonError::at(digits_start, "number out of range (below -2^127)"));
        }
        Ok(Number { negative: negative && magnitude != 0, magnitude })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.error("expected 4 hex digits after \\u")),
            };
            v = v << 4 | u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run ends before an ASCII byte (or at the end), a character boundary. (`get`,
            // not indexing, keeps `str`'s slicing panic and its formatting out of contracts.)
            out.push_str(self.text.get(run_start..self.pos).unwrap_or_default());
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escape = self.peek();
                    self.pos += 1;
                    let c = match escape {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape()?,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("invalid escape"));
                        }
                    };
                    out.push(c);
                }
                Some(_) => return Err(self.error("control character in a string (escape it)")),
            }
        }
    }

    /// After `\u`: one code point, from a surrogate pair where needed.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let start = self.pos - 2;
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.bytes[self.pos..].starts_with(b"\\u") {
                    return Err(JsonError::at(start, "a high surrogate not followed by a low one"));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(JsonError::at(start, "a high surrogate not followed by a low one"));
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(JsonError::at(start, "a lone low surrogate")),
            _ => first,
        };
        char::from_u32(code).ok_or_else(|| JsonError::at(start, "invalid code point"))
    }
}

impl Json {
    /// An empty object to add members to (see [`JsonObject::field`]).
    pub fn object() -> JsonObject {
        JsonObject::new()
    }

    /// Appends the JSON text (compact, keys in order, non-ASCII as UTF-8).
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Number(n) => n.write(out),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }

    /// The member `key` of an object (`None` for a missing key or not an object).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as a `u128`, if it is a non-negative number.
    pub fn as_u128(&self) -> Option<u128> {
        match self {
            Json::Number(n) => n.as_u128(),
            _ => None,
        }
    }

    /// The number as an `i128`, if it is a number in range.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Json::Number(n) => n.as_i128(),
            _ => None,
        }
    }

    /// The items, if it is an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The members, if it is an object.
    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    /// Whether it is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
}

impl core::fmt::Display for Json {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut out = String::new();
        self.write(&mut out);
        f.write_str(&out)
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut run_start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        // `i` is at an ASCII byte: a character boundary.
        out.push_str(s.get(run_start..i).unwrap_or_default());
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        run_start = i + 1;
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
    out.push('"');
}

/// A type read from JSON.
///
/// Implemented for the integers (`u8`..`u128`, `i8`..`i128`: a JSON number, or a string of
/// decimal digits, since JavaScript clients cannot hold large integers), `bool`, `String`,
/// [`Address`](crate::Address), [`Bytes`](crate::Bytes), `Vec<T>`, `Option<T>` (`null` or absent
/// is `None`), `()` (`null`) and [`Json`] itself. A struct implements it with [`ObjectReader`],
/// or [`json_object!`](crate::json_object) writes the implementation.
pub trait FromJson: Sized {
    /// Reads the value; an error says what was expected.
    fn from_json(value: Json) -> Result<Self, JsonError>;

    /// The value of an absent object member or argument, where absence is allowed (`None` for
    /// `Option<T>`); `None` (the default) makes absence an error.
    fn from_missing() -> Option<Self> {
        None
    }
}

/// A type written as JSON.
///
/// Implemented for the same types as [`FromJson`], and `str`, slices, references and
/// [`JsonObject`]. Integers are written as JSON numbers.
pub trait ToJson {
    /// The value as JSON.
    fn to_json(&self) -> Json;

    /// Whether a method returning this value returns no data (only `()` does).
    #[doc(hidden)]
    fn __no_return_data(&self) -> bool {
        false
    }
}

impl FromJson for Json {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        Ok(value)
    }
}

impl ToJson for Json {
    fn to_json(&self) -> Json {
        self.clone()
    }
}

impl FromJson for bool {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        value.as_bool().ok_or_else(|| JsonError::new("expected true or false"))
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Json {
        Json::Bool(*self)
    }
}

impl FromJson for String {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::String(s) => Ok(s),
            _ => Err(JsonError::new("expected a string")),
        }
    }
}

impl ToJson for String {
    fn to_json(&self) -> Json {
        Json::String(self.clone())
    }
}

impl ToJson for str {
    fn to_json(&self) -> Json {
        Json::String(self.to_owned())
    }
}

impl FromJson for () {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        if value.is_null() { Ok(()) } else { Err(JsonError::new("expected null")) }
    }
}

impl ToJson for () {
    fn to_json(&self) -> Json {
        Json::Null
    }
    fn __no_return_data(&self) -> bool {
        true
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        if value.is_null() { Ok(None) } else { T::from_json(value).map(Some) }
    }
    fn from_missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Json {
        match self {
            None => Json::Null,
            Some(v) => v.to_json(),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        match value {
            Json::Array(items) => {
                items.into_iter().enumerate().map(|(i, item)| T::from_json(item).map_err(|e| e.at_index(i))).collect()
            }
            _ => Err(JsonError::new("expected an array")),
        }
    }
}

impl<T: FromJson> FromJson for Box<T> {
    fn from_json(value: Json) -> Result<Self, JsonError> {
        T::from_json(value).map(Box::new)
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Json {
        Json::Array(self.iter().map(ToJson::to_json).collect())
    }
}

impl<T: ToJson, const N: usize> ToJson for [T; N] {
    fn to_json(&self) -> Json {
        self.as_slice().to_json()
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Json {
        self.as_slice().to_json()
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
    fn __no_return_data(&self) -> bool {
        (**self).__no_return_data()
    }
}

impl<T: ToJson + ?Sized> ToJson for Box<T> {
    fn to_json(&self) -> Json {
        (**self).to_json()
    }
    fn __no_return_data(&self) -> bool {
        (**self).__no_return_data()
    }
}

/// Reads a canonical decimal integer from a string (`-?(0|[1-9][0-9]*)`).
fn number_from_decimal(text: &str) -> Option<Number> {
    let mut p = Parser { text, bytes: text.as_bytes(), pos: 0 };
    match p.number() {
        Ok(n) if p.pos == text.len() => Some(n),
        _ => None,
    }
}

macro_rules! integer_json {
    ($($t:ty => $wide:ident),*) => {$(
        impl FromJson for $t {
            fn from_json(value: Json) -> Result<Self, JsonError> {
                let number = match value {
                    Json::Number(n) => n,
                    Json::String(s) => number_from_decimal(&s).ok_or_else(|| {
                        JsonError::new(concat!("expected an integer (", stringify!($t), "), not a non-decimal string"))
                    })?,
                    _ => return Err(JsonError::new(concat!("expected an integer (", stringify!($t), ")"))),
                };
                number
                    .$wide()
                    .and_then(|v| <$t>::try_from(v).ok())
                    .ok_or_else(|| JsonError::new(concat!("out of range for ", stringify!($t))))
            }
        }

        impl ToJson for $t {
            fn to_json(&self) -> Json {
                Json::from(*self)
            }
        }
    )*};
}
integer_json!(
    u8 => as_u128, u16 => as_u128, u32 => as_u128, u64 => as_u128, u128 => as_u128,
    i8 => as_i128, i16 => as_i128, i32 => as_i128, i64 => as_i128, i128 => as_i128
);

macro_rules! from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Json {
            fn from(v: $t) -> Json {
                Json::Number(Number::from_u128(u128::from(v)))
            }
        }
    )*};
}
from_unsigned!(u8, u16, u32, u64, u128);

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Json {
            fn from(v: $t) -> Json {
                Json::Number(Number::from_i128(i128::from(v)))
            }
        }
    )*};
}
from_signed!(i8, i16, i32, i64, i128);

impl From<bool> for Json {
    fn from(v: bool) -> Json {
        Json::Bool(v)
    }
}

impl From<&str> for Json {
    fn from(v: &str) -> Json {
        Json::String(v.to_owned())
    }
}

impl From<String> for Json {
    fn from(v: String) -> Json {
        Json::String(v)
    }
}

/// Reads the members of a JSON object one by one, for [`FromJson`] implementations of structs
/// (and the arguments of a method): absent, mistyped and unknown members are errors naming the
/// member.
///
/// ```
/// use fdl_contract::json::{self, ObjectReader};
/// use fdl_contract::{FromJson, Json, JsonError};
///
/// struct Point { x: i64, y: i64, label: Option<String> }
///
/// impl FromJson for Point {
///     fn from_json(value: Json) -> Result<Self, JsonError> {
///         let mut r = ObjectReader::new(value)?;
///         let p = Point { x: r.take("x")?, y: r.take("y")?, label: r.take("label")? };
///         r.finish()?;
///         Ok(p)
///     }
/// }
///
/// let p: Point = json::from_slice(br#"{"x": 1, "y": -2}"#).unwrap();
/// assert_eq!((p.x, p.y, p.label), (1, -2, None));
/// let e = json::from_slice::<Point>(br#"{"x": 1, "y": "b"}"#).err().unwrap();
/// assert_eq!(e.message(), r#"field "y": expected an integer (i64), not a non-decimal string"#);
/// ```
#[derive(Debug)]
pub struct ObjectReader {
    members: Vec<(String, Json)>,
    noun: &'static str,
}

impl ObjectReader {
    /// A reader of the object's members ("fields" in messages); an error if it is not an object.
    pub fn new(value: Json) -> Result<ObjectReader, JsonError> {
        ObjectReader::named(value, "field")
    }

    /// The same, with `noun` in the messages (e.g. `argument`).
    pub fn named(value: Json, noun: &'static str) -> Result<ObjectReader, JsonError> {
        match value {
            Json::Object(members) => Ok(ObjectReader { members, noun }),
            _ => Err(JsonError::new("expected an object")),
        }
    }

    /// Takes the member `key` and reads it as a `T`; absent, it is `T`'s default for absence
    /// (`None` for an `Option`) or an error.
    pub fn take<T: FromJson>(&mut self, key: &str) -> Result<T, JsonError> {
        match self.members.iter().position(|(k, _)| k == key) {
            Some(i) => {
                let (_, value) = self.members.remove(i);
                T::from_json(value).map_err(|e| e.in_field(self.noun, key))
            }
            None => T::from_missing().ok_or_else(|| {
                let mut message = String::from("missing ");
                message.push_str(self.noun);
                message.push_str(" \"");
                push_clipped(&mut message, key);
                message.push('"');
                JsonError { message }
            }),
        }
    }

    /// Ends the reading: an error if a member was not taken (an unknown field).
    pub fn finish(self) -> Result<(), JsonError> {
        match self.members.first() {
            None => Ok(()),
            Some((key, _)) => {
                let mut message = String::from("unknown ");
                message.push_str(self.noun);
                message.push_str(" \"");
                push_clipped(&mut message, key);
                message.push('"');
                Err(JsonError { message })
            }
        }
    }
}

/// A JSON object under construction, for [`ToJson`] implementations and event data.
///
/// ```
/// use fdl_contract::{json, Json};
/// let data = Json::object().field("to", "bob").field("amount", &5u128);
/// assert_eq!(json::to_string(&data), r#"{"to":"bob","amount":5}"#);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct JsonObject {
    members: Vec<(String, Json)>,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    /// With the member `key` set to `value` (replacing an earlier member of that key, in place).
    pub fn field<T: ToJson + ?Sized>(mut self, key: &str, value: &T) -> JsonObject {
        self.insert(key, value.to_json());
        self
    }

    /// Sets the member `key` (replacing an earlier member of that key, in place).
    pub fn insert(&mut self, key: &str, value: Json) {
        match self.members.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.members.push((key.to_owned(), value)),
        }
    }

    /// The object as a [`Json`] value.
    pub fn build(self) -> Json {
        Json::Object(self.members)
    }
}

impl ToJson for JsonObject {
    fn to_json(&self) -> Json {
        Json::Object(self.members.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    fn p(text: &str) -> Result<Json, String> {
        parse(text.as_bytes()).map_err(|e| e.message().to_string())
    }

    fn round(text: &str) -> String {
        p(text).expect("valid").to_string()
    }

    #[test]
    fn parses_and_writes() {
        assert_eq!(
            round(r#" { "a" : [1, -2, true, false, null, "x"], "b": {} } "#),
            r#"{"a":[1,-2,true,false,null,"x"],"b":{}}"#
        );
        assert_eq!(round("340282366920938463463374607431768211455"), u128::MAX.to_string());
        assert_eq!(round("-170141183460469231731687303715884105728"), i128::MIN.to_string());
        assert_eq!(round("-0"), "0");
        assert_eq!(round("[]"), "[]");
        assert_eq!(round(r#"{"z":1,"a":2}"#), r#"{"z":1,"a":2}"#, "key order kept");
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(p(r#""a\"\\\/\b\f\n\r\t""#), Ok(Json::String("a\"\\/\u{8}\u{c}\n\r\t".into())));
        assert_eq!(p(r#""\u00e9\u4e2d""#), Ok(Json::String("é中".into())));
        assert_eq!(p(r#""\ud83d\ude00""#), Ok(Json::String("😀".into())));
        assert_eq!(p(r#""\uD83D\uDE00""#), Ok(Json::String("😀".into())));
        assert_eq!(p("\"中文 ok\""), Ok(Json::String("中文 ok".into())));
        assert!(p(r#""\ud83d""#).unwrap_err().contains("high surrogate"));
        assert!(p(r#""\ud83dx""#).unwrap_err().contains("high surrogate"));
        assert!(p(r#""\ud83d\u0041""#).unwrap_err().contains("high surrogate"));
        assert!(p(r#""\ude00""#).unwrap_err().contains("lone low surrogate"));
        assert!(p(r#""\u12""#).unwrap_err().contains("4 hex digits"));
        assert!(p(r#""\x""#).unwrap_err().contains("invalid escape"));
        assert!(p("\"a\nb\"").unwrap_err().contains("control character"));
        assert!(p("\"abc").unwrap_err().contains("unterminated"));
        // Writing escapes what must be and round-trips.
        let s = "q\"b\\n\n\u{1}\u{7f}é😀";
        let text = Json::String(s.into()).to_string();
        assert_eq!(text, "\"q\\\"b\\\\n\\n\\u0001\u{7f}é😀\"");
        assert_eq!(p(&text), Ok(Json::String(s.into())));
    }

    #[test]
    fn refuses_what_is_not_integer_json() {
        for (text, why) in [
            ("1.5", "fractions and exponents"),
            ("1e3", "fractions and exponents"),
            ("-1E3", "fractions and exponents"),
            ("01", "leading zeros"),
            ("-", "expected a digit"),
            ("+1", "unexpected character"),
            ("340282366920938463463374607431768211456", "out of range"),
            ("-170141183460469231731687303715884105729", "out of range"),
            ("99999999999999999999999999999999999999999999999", "out of range"),
            ("", "unexpected end"),
            ("   ", "unexpected end"),
            ("[1,]", "unexpected character"),
            ("[1 2]", "expected ',' or ']'"),
            ("{\"a\":1,}", "expected a string key"),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\":1 \"b\":2}", "expected ',' or '}'"),
            ("{a:1}", "expected a string key"),
            (r#"{"a":1,"a":2}"#, "duplicate key \"a\""),
            ("tru", "unexpected character"),
            ("nul", "unexpected character"),
            ("1 2", "after the value"),
            ("NaN", "unexpected character"),
            ("'a'", "unexpected character"),
        ] {
            let e = p(text).expect_err(text);
            assert!(e.contains(why), "{text:?}: {e}");
        }
        assert!(parse(&[b'"', 0xff, b'"']).unwrap_err().message().contains("not UTF-8"));
    }

    #[test]
    fn heap_sort_sorts() {
        let mut v = vec!["d", "a", "c", "b", "a", "", "zz", "z"];
        heap_sort(&mut v);
        assert_eq!(v, ["", "a", "a", "b", "c", "d", "z", "zz"]);
        let many: Vec<String> = (0..200u32).map(|i| ((i * 7919) % 200).to_string()).collect();
        let mut refs: Vec<&str> = many.iter().map(String::as_str).collect();
        heap_sort(&mut refs);
        assert!(refs.windows(2).all(|w| w[0] <= w[1]));
        let mut empty: [&str; 0] = [];
        heap_sort(&mut empty);
        let text = (0..500).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
        assert!(p(&format!("{{{text}}}")).is_ok());
        assert!(p(&format!("{{{text},\"k250\":0}}")).unwrap_err().contains("duplicate key \"k250\""));
    }

    /// Mutations of valid texts and random bytes: never a panic, and whatever parses writes back
    /// to a text that parses to the same value.
    #[test]
    fn random_inputs_never_panic_and_round_trip() {
        let seeds: [&[u8]; 5] = [
            br#"{"a":[1,-2,{"b":"\u00e9\ud83d\ude00"}],"c":true,"d":null}"#,
            br#"[340282366920938463463374607431768211455,-170141183460469231731687303715884105728]"#,
            br#""esc\"\\\/\b\f\n\r\t""#,
            br#"{"to":"0x0101010101010101010101010101010101010101","amount":"12"}"#,
            b"[[[[[[[[]]]]]]]]",
        ];
        let alphabet = b"{}[]\",:-0123456789.eE+tfnul\\u \x00\xff\xc3\xa9ad";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut parsed = 0;
        for round in 0..20_000u32 {
            let mut text: Vec<u8> = if round % 4 == 0 {
                (0..next() % 40).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            } else {
                seeds[(next() % seeds.len() as u64) as usize].to_vec()
            };
            for _ in 0..(next() % 4) {
                if text.is_empty() {
                    break;
                }
                let at = (next() % text.len() as u64) as usize;
                let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => text[at] = byte,
                    1 => text.insert(at, byte),
                    _ => {
                        text.remove(at);
                    }
                }
            }
            if let Ok(value) = parse(&text) {
                parsed += 1;
                let written = value.to_string();
                assert_eq!(parse(written.as_bytes()).as_ref(), Ok(&value), "{written}");
            }
        }
        assert!(parsed > 1_000, "the mutations still parse often enough to test the writer ({parsed})");
    }

    #[test]
    fn depth_is_bounded() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(p(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(p(&deep).unwrap_err().contains("nested more than 32"));
        // Far deeper input fails the same way, without exhausting the stack.
        let huge = "[{\"a\":".repeat(100_000);
        assert!(p(&huge).unwrap_err().contains("nested"));
    }

    #[test]
    fn integers_from_numbers_and_decimal_strings() {
        assert_eq!(u128::from_json(Json::String(u128::MAX.to_string())), Ok(u128::MAX));
        assert_eq!(i64::from_json(Json::String("-5".into())), Ok(-5));
        assert_eq!(u8::from_json(Json::from(255u8)), Ok(255));
        assert!(u8::from_json(Json::from(256u16)).unwrap_err().message().contains("out of range for u8"));
        assert!(u64::from_json(Json::from(-1i8)).unwrap_err().message().contains("out of range for u64"));
        assert!(i128::from_json(Json::String("1.0".into())).is_err());
        assert!(u32::from_json(Json::String(" 1".into())).is_err());
        assert!(u32::from_json(Json::String("".into())).is_err());
        assert!(u32::from_json(Json::String("007".into())).is_err());
        assert!(u32::from_json(Json::Bool(true)).unwrap_err().message().contains("expected an integer (u32)"));
        assert_eq!(i128::MIN.to_json().to_string(), i128::MIN.to_string());
    }

    #[test]
    fn containers_and_options() {
        assert_eq!(Vec::<u8>::from_json(p("[1,2]").unwrap()), Ok(vec![1, 2]));
        let e = Vec::<u8>::from_json(p("[1,\"x\"]").unwrap()).unwrap_err();
        assert_eq!(e.message(), "[1]: expected an integer (u8), not a non-decimal string");
        assert_eq!(Option::<u8>::from_json(Json::Null), Ok(None));
        assert_eq!(Option::<u8>::from_missing(), Some(None));
        assert_eq!(<u8 as FromJson>::from_missing(), None);
        assert_eq!(vec![Some(1u8), None].to_json().to_string(), "[1,null]");
        assert_eq!(<()>::from_json(Json::Null), Ok(()));
    }

    #[test]
    fn object_reader_names_members() {
        let mut r = ObjectReader::named(p(r#"{"a":1,"b":"x","c":true}"#).unwrap(), "argument").unwrap();
        assert_eq!(r.take::<u8>("a"), Ok(1));
        assert_eq!(
            r.take::<u8>("b").unwrap_err().message(),
            "argument \"b\": expected an integer (u8), not a non-decimal string"
        );
        assert_eq!(r.take::<u8>("zz").unwrap_err().message(), "missing argument \"zz\"");
        assert_eq!(r.take::<Option<u8>>("zz"), Ok(None));
        assert_eq!(r.finish().unwrap_err().message(), "unknown argument \"c\"");
        assert!(ObjectReader::new(Json::Null).is_err());
    }

    #[test]
    fn object_builder_replaces_in_place() {
        let o = Json::object().field("a", &1u8).field("b", "x").field("a", &2u8).build();
        assert_eq!(o.to_string(), r#"{"a":2,"b":"x"}"#);
        assert_eq!(o.get("b").and_then(Json::as_str), Some("x"));
    }
}
