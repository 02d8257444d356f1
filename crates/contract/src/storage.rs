//! The contract's storage: raw keys and values, and the typed [`Value`] and [`Map`].
//!
//! Each contract has its own key space (keys of 1 to `max_key_bytes` bytes, values of 0 to
//! `max_value_bytes`). Writes of a failed call are undone.
//!
//! Typed storage uses the [`Codec`] encoding. A [`Value`] is one key; a [`Map`] is a prefix,
//! with each entry under the prefix followed by the encoded map key. Give each `Value` and `Map`
//! its own key or prefix, and no prefix that another key or prefix starts with (end prefixes
//! with a separator such as `/`): a `Map` reads every key under its prefix as one of its
//! entries, and fails the call (`corrupt_storage`) on one it cannot decode.

use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::codec::{Codec, from_bytes, to_bytes};
use crate::env::fail;
use crate::sys;

/// The value under `key`, if any.
pub fn get(key: &[u8]) -> Option<Vec<u8>> {
    sys::storage_read(key)
}

/// Writes `value` under `key` (1 to `max_key_bytes` bytes).
pub fn set(key: &[u8], value: &[u8]) {
    sys::storage_write(key, value)
}

/// Removes `key` (an absent key is fine).
pub fn remove(key: &[u8]) {
    sys::storage_delete(key)
}

/// The smallest key that starts with `prefix` and is greater than `after` (bytewise); with an
/// empty `after`, the smallest key with the prefix.
pub fn next(prefix: &[u8], after: &[u8]) -> Option<Vec<u8>> {
    sys::storage_next_key(prefix, after)
}

/// The keys that start with `prefix`, in bytewise order (each step is one `storage_next`).
pub fn iter_prefix(prefix: &[u8]) -> Keys<'_> {
    Keys { prefix, last: None, done: false }
}

/// The keys under a prefix, in order: see [`iter_prefix`].
#[derive(Debug)]
pub struct Keys<'a> {
    prefix: &'a [u8],
    last: Option<Vec<u8>>,
    done: bool,
}

impl Iterator for Keys<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let after = self.last.as_deref().unwrap_or(&[]);
        match next(self.prefix, after) {
            Some(key) => {
                self.last = Some(key.clone());
                Some(key)
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

fn decode_or_fail<T: Codec>(bytes: &[u8]) -> T {
    match from_bytes(bytes) {
        Some(v) => v,
        None => fail("corrupt_storage", "a stored value does not decode as its type"),
    }
}

/// A typed value under one key.
///
/// ```ignore
/// const TOTAL: Value<u128> = Value::new(b"total");
/// TOTAL.set(&(TOTAL.get_or_default() + 1));
/// ```
#[derive(Debug)]
pub struct Value<T> {
    key: &'static [u8],
    _type: PhantomData<fn() -> T>,
}

impl<T: Codec> Value<T> {
    /// The value under `key` (not empty).
    pub const fn new(key: &'static [u8]) -> Value<T> {
        Value { key, _type: PhantomData }
    }

    /// The value, if set. A stored value that does not decode fails the call (`corrupt_storage`).
    pub fn get(&self) -> Option<T> {
        get(self.key).map(|bytes| decode_or_fail(&bytes))
    }

    /// The value, or `T::default()` if unset.
    pub fn get_or_default(&self) -> T
    where
        T: Default,
    {
        self.get().unwrap_or_default()
    }

    /// Sets the value.
    pub fn set(&self, value: &T) {
        set(self.key, &to_bytes(value))
    }

    /// Removes the value.
    pub fn remove(&self) {
        remove(self.key)
    }

    /// Whether the value is set.
    pub fn contains(&self) -> bool {
        get(self.key).is_some()
    }
}

/// A typed map: entry `k` is stored under `prefix` followed by the encoding of `k`, so entries
/// iterate in the order of their keys ([`Codec`] encodings sort like the values).
///
/// ```ignore
/// const BALANCES: Map<Address, u128> = Map::new(b"bal/");
/// let b = BALANCES.get(&owner).unwrap_or(0);
/// ```
#[derive(Debug)]
pub struct Map<K, V> {
    prefix: &'static [u8],
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Codec, V: Codec> Map<K, V> {
    /// The map under `prefix`.
    pub const fn new(prefix: &'static [u8]) -> Map<K, V> {
        Map { prefix, _types: PhantomData }
    }

    /// The storage key of entry `key`.
    pub fn storage_key(&self, key: &K) -> Vec<u8> {
        let mut out = self.prefix.to_vec();
        key.encode(&mut out);
        out
    }

    /// The value of `key`, if set. A stored value that does not decode fails the call
    /// (`corrupt_storage`).
    pub fn get(&self, key: &K) -> Option<V> {
        get(&self.storage_key(key)).map(|bytes| decode_or_fail(&bytes))
    }

    /// Sets the value of `key`.
    pub fn set(&self, key: &K, value: &V) {
        set(&self.storage_key(key), &to_bytes(value))
    }

    /// Removes `key`.
    pub fn remove(&self, key: &K) {
        remove(&self.storage_key(key))
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: &K) -> bool {
        get(&self.storage_key(key)).is_some()
    }

    /// The keys, in order (one `storage_next` each).
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        let prefix_len = self.prefix.len();
        iter_prefix(self.prefix).map(move |key| decode_or_fail::<K>(key.get(prefix_len..).unwrap_or_default()))
    }

    /// The entries, in the order of their keys (one `storage_next` and one `storage_get` each).
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        let prefix_len = self.prefix.len();
        iter_prefix(self.prefix).map(move |key| {
            let k = decode_or_fail::<K>(key.get(prefix_len..).unwrap_or_default());
            let v = match get(&key) {
                Some(bytes) => decode_or_fail(&bytes),
                None => fail("corrupt_storage", "a listed key has no value"),
            };
            (k, v)
        })
    }
}
