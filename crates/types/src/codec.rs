//! The canonical codec: big-endian integers, `u32`-length-prefixed byte strings with a bound per
//! field, and strict decoding (trailing bytes, bad tags and over-long fields are errors).

use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended early.
    #[error("unexpected end of input reading {what}")]
    Eof {
        /// The field being read.
        what: &'static str,
    },
    /// A length prefix exceeds the field's bound.
    #[error("{what} too long: {got} bytes, limit {limit}")]
    TooLong {
        /// The field being read.
        what: &'static str,
        /// The length found.
        got: usize,
        /// The bound.
        limit: usize,
    },
    /// An enum tag or version byte is not known.
    #[error("unknown {what} tag {tag}")]
    BadTag {
        /// The field being read.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// Bytes were left after the value.
    #[error("{0} trailing bytes")]
    Trailing(usize),
    /// A field's content is invalid (bad UTF-8, bad key, bad signature encoding).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// A value with a canonical encoding.
pub trait Encode {
    /// Appends the canonical encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);
    /// The canonical encoding.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A value decodable from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from `r`.
    ///
    /// # Errors
    /// [`DecodeError`] on malformed or over-long input.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
    /// Decodes exactly `bytes`, refusing trailing data.
    ///
    /// # Errors
    /// [`DecodeError`] on malformed input or trailing bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// A bounded cursor over input bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails if any bytes remain.
    ///
    /// # Errors
    /// [`DecodeError::Trailing`].
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() { Ok(()) } else { Err(DecodeError::Trailing(self.buf.len())) }
    }

    /// Reads `n` raw bytes.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Eof { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads a fixed-size array.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Reads a byte.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// Reads a big-endian `u16`.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u32`.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u64`.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `u128`.
    ///
    /// # Errors
    /// [`DecodeError::Eof`].
    pub fn u128(&mut self, what: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_be_bytes(self.array(what)?))
    }

    /// Reads a `u32`-length-prefixed byte string of at most `limit` bytes.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] or [`DecodeError::Eof`].
    pub fn bytes(&mut self, limit: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u32(what)? as usize;
        if len > limit {
            return Err(DecodeError::TooLong { what, got: len, limit });
        }
        self.take(len, what)
    }

    /// Reads a length-prefixed UTF-8 string of at most `limit` bytes.
    ///
    /// # Errors
    /// As [`Reader::bytes`], or [`DecodeError::Invalid`] for bad UTF-8.
    pub fn string(&mut self, limit: usize, what: &'static str) -> Result<String, DecodeError> {
        let b = self.bytes(limit, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid { what, reason: "not UTF-8".into() })
    }

    /// Reads a `u32` element count bounded by `limit` (callers then decode each element, so the
    /// count is also bounded by the remaining input: each element takes at least one byte).
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] when the count exceeds `limit` or the remaining input.
    pub fn count(&mut self, limit: usize, what: &'static str) -> Result<usize, DecodeError> {
        let n = self.u32(what)? as usize;
        if n > limit || n > self.remaining() {
            return Err(DecodeError::TooLong { what, got: n, limit: limit.min(self.remaining()) });
        }
        Ok(n)
    }
}

/// Appends a `u32`-length-prefixed byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let len = u32::try_from(b.len()).expect("invariant: encoded fields are bounded far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
}

/// Appends a `u32` element count.
pub fn put_count(out: &mut Vec<u8>, n: usize) {
    let n = u32::try_from(n).expect("invariant: collections are bounded far below 4 G elements");
    out.extend_from_slice(&n.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads() {
        let mut out = Vec::new();
        put_bytes(&mut out, b"hello");
        let mut r = Reader::new(&out);
        assert_eq!(r.bytes(4, "greeting"), Err(DecodeError::TooLong { what: "greeting", got: 5, limit: 4 }));
        let mut r = Reader::new(&out);
        assert_eq!(r.bytes(5, "greeting"), Ok(&b"hello"[..]));
        assert!(r.finish().is_ok());
        let mut r = Reader::new(&[0, 0, 0, 9, 1]);
        assert_eq!(r.bytes(100, "x"), Err(DecodeError::Eof { what: "x" }));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(r.count(1_000_000, "n").is_err());
    }
}
