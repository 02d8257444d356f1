//! [`Codec`]: the deterministic byte encoding of stored values and map keys.

use alloc::string::String;
use alloc::vec::Vec;

use crate::json::Json;

/// A deterministic, self-delimiting byte encoding, used for storage values and [`Map`] keys.
///
/// The encodings sort like the values: the bytewise order of two encodings (the order
/// `storage_next`, and so [`Map::iter`], visits keys in) is the order of the values.
///
/// | type | encoding |
/// |---|---|
/// | `u8`..`u128` | big-endian, fixed width |
/// | `i8`..`i128` | big-endian, fixed width, sign bit flipped (negatives sort first) |
/// | `bool` | one byte, `0` or `1` |
/// | `String`, [`Bytes`] | the bytes with `00` written `00 01`, then `00 00` |
/// | [`Address`] | its 20 bytes |
/// | `Option<T>` | `00`, or `01` then `T` |
/// | `Vec<T>` | each element as `01` then the element, then `00` |
/// | `()` | nothing |
/// | tuples (up to 5) | the fields in order |
/// | [`Json`] | its text, as a `String` |
///
/// A struct can implement it by encoding its fields in order (and [`json_object!`] does). The
/// encoding is part of what a contract stores: changing it needs a `migrate`.
///
/// [`Map`]: crate::Map
/// [`Map::iter`]: crate::Map::iter
/// [`Bytes`]: crate::Bytes
/// [`Address`]: crate::Address
/// [`json_object!`]: crate::json_object
pub trait Codec: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from the front of `input` and advances it past the value; `None` if the
    /// bytes are not a valid encoding.
    fn decode(input: &mut &[u8]) -> Option<Self>;
}

/// The encoding of a value.
pub fn to_bytes<T: Codec>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Decodes a value that must fill the bytes exactly; `None` if they are not its encoding.
pub fn from_bytes<T: Codec>(mut bytes: &[u8]) -> Option<T> {
    let value = T::decode(&mut bytes)?;
    bytes.is_empty().then_some(value)
}

fn take<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = input.split_first_chunk::<N>()?;
    *input = rest;
    Some(*head)
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Codec for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode(input: &mut &[u8]) -> Option<Self> {
                take(input).map(<$t>::from_be_bytes)
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64, u128);

macro_rules! signed {
    ($($t:ty => $u:ty),*) => {$(
        impl Codec for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                out.extend_from_slice(&flipped.to_be_bytes());
            }
            fn decode(input: &mut &[u8]) -> Option<Self> {
                let flipped = take(input).map(<$u>::from_be_bytes)?;
                Some((flipped ^ (1 << (<$u>::BITS - 1))) as $t)
            }
        }
    )*};
}
signed!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

impl Codec for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        match take::<1>(input)? {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

/// Writes a byte string so that it ends unambiguously and sorts bytewise: `00` as `00 01`,
/// then the terminator `00 00`.
pub(crate) fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(1);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// Reads what [`encode_bytes`] wrote.
pub(crate) fn decode_bytes(input: &mut &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let b = *input.get(i)?;
        if b != 0 {
            out.push(b);
            i += 1;
            continue;
        }
        match *input.get(i + 1)? {
            0 => {
                *input = &input[i + 2..];
                return Some(out);
            }
            1 => {
                out.push(0);
                i += 2;
            }
            _ => return None,
        }
    }
}

impl Codec for String {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_bytes(self.as_bytes(), out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        String::from_utf8(decode_bytes(input)?).ok()
    }
}

impl<T: Codec> Codec for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        match take::<1>(input)? {
            [0] => Some(None),
            [1] => T::decode(input).map(Some),
            _ => None,
        }
    }
}

impl<T: Codec> Codec for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        for v in self {
            out.push(1);
            v.encode(out);
        }
        out.push(0);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        let mut out = Vec::new();
        loop {
            match take::<1>(input)? {
                [0] => return Some(out),
                [1] => out.push(T::decode(input)?),
                _ => return None,
            }
        }
    }
}

impl Codec for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(_: &mut &[u8]) -> Option<Self> {
        Some(())
    }
}

macro_rules! tuple {
    ($($name:ident),+) => {
        impl<$($name: Codec),+> Codec for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
            fn decode(input: &mut &[u8]) -> Option<Self> {
                Some(($($name::decode(input)?,)+))
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);

impl Codec for Json {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        self.write(&mut text);
        encode_bytes(text.as_bytes(), out);
    }
    fn decode(input: &mut &[u8]) -> Option<Self> {
        crate::json::parse(&decode_bytes(input)?).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;

    fn round_trip<T: Codec + PartialEq + core::fmt::Debug>(v: T) {
        let bytes = to_bytes(&v);
        assert_eq!(from_bytes::<T>(&bytes), Some(v), "{bytes:?}");
    }

    #[test]
    fn round_trips() {
        round_trip(0u8);
        round_trip(u128::MAX);
        round_trip(-5i64);
        round_trip(i128::MIN);
        round_trip(true);
        round_trip(String::from("a\0b\0\0"));
        round_trip(Some(7u32));
        round_trip(None::<u32>);
        round_trip(vec![String::from("x"), String::new()]);
        round_trip((1u8, String::from("k"), -1i32));
        round_trip(crate::Address([9; 20]));
        round_trip(crate::Bytes(vec![0, 0, 1]));
        round_trip(Json::Array(vec![Json::Null, Json::from(5u8)]));
    }

    #[test]
    fn order_preserving() {
        let sorted_i: Vec<i64> = vec![i64::MIN, -2, -1, 0, 1, 255, 256, i64::MAX];
        let enc: Vec<Vec<u8>> = sorted_i.iter().map(to_bytes).collect();
        assert!(enc.windows(2).all(|w| w[0] < w[1]));
        let strings = ["", "\0", "\0\0", "\x01", "a", "a\0", "a\x01", "ab", "b"];
        let enc: Vec<Vec<u8>> = strings.iter().map(|s| to_bytes(&String::from(*s))).collect();
        assert!(enc.windows(2).all(|w| w[0] < w[1]), "{enc:?}");
        // Tuples sort by their first field, then the next.
        let a = to_bytes(&(String::from("a"), 9u8));
        let b = to_bytes(&(String::from("a\0"), 0u8));
        assert!(a < b);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(from_bytes::<bool>(&[2]), None);
        assert_eq!(from_bytes::<u32>(&[1, 2, 3]), None);
        assert_eq!(from_bytes::<u8>(&[1, 2]), None, "trailing bytes");
        assert_eq!(from_bytes::<String>(&[b'a', 0, 7]), None);
        assert_eq!(from_bytes::<String>(b"a"), None, "no terminator");
        assert_eq!(from_bytes::<String>(&[0xff, 0, 0]), None, "not UTF-8");
        assert_eq!(from_bytes::<Option<u8>>(&[2, 0]), None);
        assert_eq!(from_bytes::<Vec<u8>>(&[1, 5]), None);
    }
}
