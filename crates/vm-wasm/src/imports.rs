//! The host functions of module `fdl` (ABI "Imports"), their fuel costs (ABI "Fuel") and the
//! state of one call that they work on.
//!
//! Every host function does its work in the same order, so that a failing call fails the same way
//! on every node:
//! 1. check the lengths it is given against the limits (`limit`, or `bad_event` for an event
//!    kind's length), which costs nothing: a hostile length is reported as what it is;
//! 2. charge its fuel, computed from those lengths (out of fuel: `out_of_fuel`);
//! 3. bounds-check the memory ranges (out of bounds: `trap`) and read them;
//! 4. check the contents (a `fail` code, an event's kind and data, return data);
//! 5. call the host, and write the result (result buffer, memory, return data).
//!
//! A host function that ends the call records why in [`Ctx::abort`] and returns a [`Stop`] error,
//! which unwinds the WebAssembly execution; no host call follows.

use std::{fmt, ops::Range};

use fdl_crypto::{PublicKey, Signature, Suite};
use wasmi::{Caller, Linker, Memory};
use wasmi_core::LimiterError;
use wasmparser::ValType;

use crate::engine::Run;
use crate::host::{Failure, FailureCode, Host, HostError};
use crate::identity::cut_at_char_boundary;
use crate::limits::{
    MAX_EVENT_KIND_BYTES, MAX_FAILURE_CODE_BYTES, MAX_FAILURE_MESSAGE_BYTES, MAX_TABLE_ELEMENTS, MAX_TABLES,
    SM2_DEFAULT_ID,
};

/// The fuel costs of the host functions (ABI "Fuel"), on top of the fuel wasmi meters for every
/// WebAssembly instruction. Each is charged before the host function does its work.
pub mod fuel {
    /// Every host call.
    pub const HOST_CALL: u64 = 100;
    /// Every byte of every memory range a host function is given (read from or written to the
    /// contract's memory): input and results (through `read_result`), return data, `fail`'s code
    /// and message, events, storage keys and values, hashed and verified data, the digests written
    /// back, a call's contract, method and arguments.
    pub const PER_BYTE: u64 = 1;
    /// `storage_get` and `storage_next`, on top.
    pub const STORAGE_READ: u64 = 2_000;
    /// `storage_set` and `storage_remove`, on top.
    pub const STORAGE_WRITE: u64 = 5_000;
    /// `sm3` and `sha256`, on top.
    pub const HASH: u64 = 1_000;
    /// `sm2_verify` and `ed25519_verify`, on top.
    pub const VERIFY: u64 = 100_000;
    /// `call`, on top; the callee's fuel comes out of the caller's remaining fuel.
    pub const CALL: u64 = 10_000;
}

/// The signature of an ABI import: `params` parameters, all `i32`, and at most one result.
pub(crate) struct ImportSig {
    pub params: u8,
    pub result: Option<ValType>,
}

const fn sig(params: u8, result: Option<ValType>) -> ImportSig {
    ImportSig { params, result }
}

const I32: Option<ValType> = Some(ValType::I32);
const I64: Option<ValType> = Some(ValType::I64);

/// The ABI's imports of module `fdl`, with their signatures (ABI "Imports (module `fdl`)").
pub(crate) const ABI_IMPORTS: &[(&str, ImportSig)] = &[
    ("input", sig(0, I32)),
    ("read_result", sig(1, None)),
    ("set_return", sig(2, None)),
    ("fail", sig(4, None)),
    ("storage_get", sig(2, I32)),
    ("storage_set", sig(4, None)),
    ("storage_remove", sig(2, None)),
    ("storage_next", sig(4, I32)),
    ("caller", sig(0, I32)),
    ("signer", sig(0, I32)),
    ("contract_info", sig(0, I32)),
    ("block_height", sig(0, I64)),
    ("block_time_ms", sig(0, I64)),
    ("emit", sig(4, None)),
    ("sm3", sig(3, None)),
    ("sha256", sig(3, None)),
    ("sm2_verify", sig(8, I32)),
    ("ed25519_verify", sig(4, I32)),
    ("call", sig(6, I32)),
];

/// Why a call was ended by a host function (or the resource limiter).
#[derive(Debug)]
pub(crate) enum Abort {
    /// The call failed (the contract's `fail`, a limit, out of fuel, a bad range, ...).
    Failure(Failure),
    /// The host failed: the run returns this error.
    Host(HostError),
}

/// The error a host function returns to stop the execution; the reason is in [`Ctx::abort`].
#[derive(Debug)]
pub(crate) struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the call was ended by a host function")
    }
}

impl wasmi::errors::HostError for Stop {}

/// Bounds memory and tables: the chain's `max_memory_pages`, and [`MAX_TABLE_ELEMENTS`].
///
/// Exceeding a bound (at instantiation or by `memory.grow`/`table.grow`) ends the call with
/// `limit` rather than making `memory.grow` return -1: a memory bomb is a failure, reported as
/// such. Growth beyond the module's own declared maximum keeps the WebAssembly semantics (-1).
pub(crate) struct Limiter {
    pub max_memory_bytes: usize,
    /// What was exceeded, if anything.
    pub exceeded: Option<String>,
}

const PAGE_BYTES: usize = 64 * 1024;

impl wasmi::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        if desired > self.max_memory_bytes {
            self.exceeded = Some(format!(
                "linear memory of {} pages, more than the limit of {} pages",
                desired / PAGE_BYTES,
                self.max_memory_bytes / PAGE_BYTES
            ));
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> Result<bool, LimiterError> {
        if desired > MAX_TABLE_ELEMENTS as usize {
            self.exceeded =
                Some(format!("table of {desired} elements, more than the limit of {MAX_TABLE_ELEMENTS} elements"));
            return Err(LimiterError::ResourceLimiterDeniedAllocation);
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        MAX_TABLES as usize
    }

    fn memories(&self) -> usize {
        1
    }
}

/// The state of one call, held by its wasmi `Store`.
pub(crate) struct Ctx<'r> {
    pub host: &'r mut dyn Host,
    pub run: &'r Run<'r>,
    /// The exported `memory`, set right after instantiation.
    pub memory: Option<Memory>,
    /// The result buffer: the last result of a host function that produces bytes.
    pub buffer: Vec<u8>,
    /// The return data (`set_return`; the last call wins).
    pub return_data: Vec<u8>,
    /// Events emitted by this call.
    pub events: u32,
    /// Why the call was ended by a host function, if it was.
    pub abort: Option<Abort>,
    pub limiter: Limiter,
}

impl Ctx<'_> {
    /// Records why the call ends (the first reason wins) and gives the error that stops it.
    fn stop(&mut self, abort: Abort) -> wasmi::Error {
        if self.abort.is_none() {
            self.abort = Some(abort);
        }
        wasmi::Error::host(Stop)
    }

    fn fail(&mut self, kind: FailureCode, message: impl Into<String>) -> wasmi::Error {
        self.stop(Abort::Failure(Failure::engine(kind, message)))
    }

    fn host_failed(&mut self, e: HostError) -> wasmi::Error {
        self.stop(Abort::Host(e))
    }

    fn out_of_bounds(&mut self, function: &str) -> wasmi::Error {
        self.fail(FailureCode::Trap, format!("{function}: a memory range out of bounds"))
    }

    /// Puts `bytes` in the result buffer and gives their length.
    fn set_buffer(&mut self, bytes: Vec<u8>) -> Result<i32, wasmi::Error> {
        let Ok(len) = i32::try_from(bytes.len()) else {
            return Err(self.fail(FailureCode::Limit, "a result of 2 GiB or more"));
        };
        self.buffer = bytes;
        Ok(len)
    }

    /// Empties the result buffer and gives -1 ("nothing").
    fn no_result(&mut self) -> i32 {
        self.buffer.clear();
        -1
    }

    /// Puts a failed call's error in the result buffer, as `code` `\n` `message` (the message cut
    /// to 256 bytes, so the error is at most 321 bytes), and gives `-1 - len`: negative, and
    /// telling the contract how many bytes `read_result` will copy (ABI clarification).
    fn call_failed(&mut self, failure: &Failure) -> i32 {
        let message = cut_at_char_boundary(&failure.message, MAX_FAILURE_MESSAGE_BYTES);
        let code = cut_at_char_boundary(&failure.code, MAX_FAILURE_CODE_BYTES);
        self.buffer = format!("{code}\n{message}").into_bytes();
        // At most 64 + 1 + 256 bytes: the conversion cannot fail.
        -1 - i32::try_from(self.buffer.len()).unwrap_or(0)
    }

    /// Checks a storage key's length (1..=`max_key_bytes`).
    fn check_key(&mut self, function: &str, len: usize) -> Result<(), wasmi::Error> {
        let max = self.run.limits.max_key_bytes;
        if len == 0 || len > max as usize {
            return Err(self.fail(FailureCode::Limit, format!("{function}: a key of {len} bytes (1..={max} allowed)")));
        }
        Ok(())
    }
}

type Call<'c, 'r> = Caller<'c, Ctx<'r>>;
type HostResult<T> = Result<T, wasmi::Error>;

/// An `i32` length as the unsigned byte count it holds.
fn ulen(len: i32) -> usize {
    len.cast_unsigned() as usize
}

/// The cost of a host function: [`fuel::HOST_CALL`], `extra`, and one per byte of `lens`.
fn cost(extra: u64, lens: &[usize]) -> u64 {
    lens.iter().fold(fuel::HOST_CALL.saturating_add(extra), |acc, len| {
        acc.saturating_add((*len as u64).saturating_mul(fuel::PER_BYTE))
    })
}

/// Charges `cost` before the work; out of fuel ends the call with `out_of_fuel`.
fn charge(c: &mut Call<'_, '_>, cost: u64) -> HostResult<()> {
    let remaining = match c.get_fuel() {
        Ok(f) => f,
        Err(e) => return Err(c.data_mut().fail(FailureCode::Trap, format!("fuel metering: {e}"))),
    };
    if cost > remaining {
        // The call used all its fuel (wasmi cannot fail to set fuel when metering is on).
        c.set_fuel(0).ok();
        return Err(c.data_mut().fail(FailureCode::OutOfFuel, "out of fuel in a host call"));
    }
    c.set_fuel(remaining - cost).map_err(|e| c.data_mut().fail(FailureCode::Trap, format!("fuel metering: {e}")))
}

/// The contract's memory and the call's state, borrowed together.
fn mem_ctx<'a, 'r>(c: &'a mut Call<'_, 'r>) -> HostResult<(&'a mut [u8], &'a mut Ctx<'r>)> {
    match c.data().memory {
        Some(memory) => Ok(memory.data_and_store_mut(c)),
        None => Err(c.data_mut().fail(FailureCode::Trap, "the module has no exported memory")),
    }
}

/// The range `ptr..ptr + len` if it lies within a memory of `mem_len` bytes.
fn range(mem_len: usize, ptr: i32, len: usize) -> Option<Range<usize>> {
    let start = ptr.cast_unsigned() as usize;
    let end = start.checked_add(len)?;
    (end <= mem_len).then_some(start..end)
}

/// Checks each `(ptr, len)` against the memory; `None` if one is out of bounds.
fn ranges<const N: usize>(mem_len: usize, args: [(i32, usize); N]) -> Option<[Range<usize>; N]> {
    let mut out: [Range<usize>; N] = std::array::from_fn(|_| 0..0);
    for (slot, (ptr, len)) in out.iter_mut().zip(args) {
        *slot = range(mem_len, ptr, len)?;
    }
    Some(out)
}

fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// `[a-z0-9_]{1,64}`: a `fail` code.
fn is_failure_code(code: &[u8]) -> bool {
    (1..=MAX_FAILURE_CODE_BYTES).contains(&code.len())
        && code.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// `[a-z0-9_.]{1,64}`: an event kind.
fn is_event_kind(kind: &[u8]) -> bool {
    (1..=MAX_EVENT_KIND_BYTES).contains(&kind.len())
        && kind.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'.')
}

/// A `fail` message: UTF-8 (invalid sequences replaced by U+FFFD), cut to at most 256 bytes at a
/// character boundary.
fn failure_message(bytes: &[u8]) -> String {
    // Decoding never shrinks text (a replacement is 3 bytes for 1 to 3 bytes), so the first 256
    // bytes of the result depend only on the first 256 (+ at most 3) bytes given: a long message is
    // not decoded in full.
    let head = &bytes[..bytes.len().min(MAX_FAILURE_MESSAGE_BYTES + 4)];
    cut_at_char_boundary(&String::from_utf8_lossy(head), MAX_FAILURE_MESSAGE_BYTES).to_owned()
}

/// `1` if `sig` (DER, the one canonical encoding) verifies over `msg` under the SM2 key `pk`
/// (65-byte SEC1 uncompressed) with the distinguishing id `id` (UTF-8; empty: the default).
fn sm2_verify(pk: &[u8], msg: &[u8], sig: &[u8], id: &[u8]) -> i32 {
    use sm2::dsa::signature::Verifier as _;
    let id = if id.is_empty() {
        SM2_DEFAULT_ID
    } else {
        match std::str::from_utf8(id) {
            Ok(id) => id,
            Err(_) => return 0,
        }
    };
    if pk.len() != 65 || pk[0] != 0x04 {
        return 0;
    }
    let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(id, pk) else { return 0 };
    let Ok(signature) = sm2::dsa::Signature::from_der(sig) else { return 0 };
    // Only the canonical DER form, as for transactions' signatures (fdl-crypto).
    if signature.to_der().as_bytes() != sig {
        return 0;
    }
    i32::from(key.verify(msg, &signature).is_ok())
}

/// `1` if the 64-byte `sig` verifies over `msg` under the 32-byte Ed25519 key `pk`, by FDL's
/// strict rule (ADR 0010).
fn ed25519_verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> i32 {
    let Ok(key) = PublicKey::from_bytes(Suite::Intl, pk) else { return 0 };
    let Ok(sig) = Signature::from_bytes(Suite::Intl, sig) else { return 0 };
    i32::from(key.verify(msg, &sig).is_ok())
}

/// The ABI's host functions, for a store of this engine.
pub(crate) fn linker<'r>(engine: &wasmi::Engine) -> Result<Linker<Ctx<'r>>, wasmi::errors::LinkerError> {
    let mut l = Linker::<Ctx<'r>>::new(engine);

    l.func_wrap("fdl", "input", |mut c: Call<'_, 'r>| -> HostResult<i32> {
        charge(&mut c, cost(0, &[]))?;
        let ctx = c.data_mut();
        let input = ctx.run.input.to_vec();
        ctx.set_buffer(input)
    })?;

    l.func_wrap("fdl", "read_result", |mut c: Call<'_, 'r>, ptr: i32| -> HostResult<()> {
        let len = c.data().buffer.len();
        charge(&mut c, cost(0, &[len]))?;
        let (mem, ctx) = mem_ctx(&mut c)?;
        let Some(r) = range(mem.len(), ptr, len) else { return Err(ctx.out_of_bounds("read_result")) };
        mem[r].copy_from_slice(&ctx.buffer);
        Ok(())
    })?;

    l.func_wrap("fdl", "set_return", |mut c: Call<'_, 'r>, ptr: i32, len: i32| -> HostResult<()> {
        let len = ulen(len);
        let max = c.data().run.limits.max_return_bytes;
        if len > max as usize {
            return Err(c.data_mut().fail(FailureCode::Limit, format!("return data of {len} bytes, more than {max}")));
        }
        charge(&mut c, cost(0, &[len]))?;
        let (mem, ctx) = mem_ctx(&mut c)?;
        let Some(r) = range(mem.len(), ptr, len) else { return Err(ctx.out_of_bounds("set_return")) };
        let data = &mem[r];
        if !data.is_empty() && !is_json(data) {
            return Err(ctx.fail(FailureCode::BadReturn, "return data must be UTF-8 JSON (or empty)"));
        }
        ctx.return_data = data.to_vec();
        Ok(())
    })?;

    l.func_wrap(
        "fdl",
        "fail",
        |mut c: Call<'_, 'r>, code_ptr: i32, code_len: i32, msg_ptr: i32, msg_len: i32| -> HostResult<()> {
            let (code_len, msg_len) = (ulen(code_len), ulen(msg_len));
            if !(1..=MAX_FAILURE_CODE_BYTES).contains(&code_len) {
                let message = format!("fail() with a code of {code_len} bytes (must be [a-z0-9_]{{1,64}})");
                return Err(c.data_mut().fail(FailureCode::BadFailureCode, message));
            }
            charge(&mut c, cost(0, &[code_len, msg_len]))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let Some([code, msg]) = ranges(mem.len(), [(code_ptr, code_len), (msg_ptr, msg_len)]) else {
                return Err(ctx.out_of_bounds("fail"));
            };
            let (code, message) = (&mem[code], failure_message(&mem[msg]));
            if !is_failure_code(code) {
                let shown = String::from_utf8_lossy(code).into_owned();
                return Err(ctx.fail(
                    FailureCode::BadFailureCode,
                    format!("fail() with the malformed code {shown:?} (must be [a-z0-9_]{{1,64}}): {message}"),
                ));
            }
            // The code is ASCII, checked above.
            let code = String::from_utf8_lossy(code).into_owned();
            Err(ctx.stop(Abort::Failure(Failure::contract(code, message))))
        },
    )?;

    l.func_wrap("fdl", "storage_get", |mut c: Call<'_, 'r>, key_ptr: i32, key_len: i32| -> HostResult<i32> {
        let key_len = ulen(key_len);
        c.data_mut().check_key("storage_get", key_len)?;
        charge(&mut c, cost(fuel::STORAGE_READ, &[key_len]))?;
        let (mem, ctx) = mem_ctx(&mut c)?;
        let Some(r) = range(mem.len(), key_ptr, key_len) else { return Err(ctx.out_of_bounds("storage_get")) };
        match ctx.host.storage_get(&mem[r]) {
            Ok(Some(value)) => ctx.set_buffer(value),
            Ok(None) => Ok(ctx.no_result()),
            Err(e) => Err(ctx.host_failed(e)),
        }
    })?;

    l.func_wrap(
        "fdl",
        "storage_set",
        |mut c: Call<'_, 'r>, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32| -> HostResult<()> {
            let (key_len, val_len) = (ulen(key_len), ulen(val_len));
            let ctx = c.data_mut();
            ctx.check_key("storage_set", key_len)?;
            let max = ctx.run.limits.max_value_bytes;
            if val_len > max as usize {
                return Err(
                    ctx.fail(FailureCode::Limit, format!("storage_set: a value of {val_len} bytes, more than {max}"))
                );
            }
            charge(&mut c, cost(fuel::STORAGE_WRITE, &[key_len, val_len]))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let Some([key, value]) = ranges(mem.len(), [(key_ptr, key_len), (val_ptr, val_len)]) else {
                return Err(ctx.out_of_bounds("storage_set"));
            };
            ctx.host.storage_set(&mem[key], &mem[value]).map_err(|e| ctx.host_failed(e))
        },
    )?;

    l.func_wrap("fdl", "storage_remove", |mut c: Call<'_, 'r>, key_ptr: i32, key_len: i32| -> HostResult<()> {
        let key_len = ulen(key_len);
        c.data_mut().check_key("storage_remove", key_len)?;
        charge(&mut c, cost(fuel::STORAGE_WRITE, &[key_len]))?;
        let (mem, ctx) = mem_ctx(&mut c)?;
        let Some(r) = range(mem.len(), key_ptr, key_len) else { return Err(ctx.out_of_bounds("storage_remove")) };
        ctx.host.storage_remove(&mem[r]).map_err(|e| ctx.host_failed(e))
    })?;

    l.func_wrap(
        "fdl",
        "storage_next",
        |mut c: Call<'_, 'r>, prefix_ptr: i32, prefix_len: i32, after_ptr: i32, after_len: i32| -> HostResult<i32> {
            let (prefix_len, after_len) = (ulen(prefix_len), ulen(after_len));
            let ctx = c.data_mut();
            let max = ctx.run.limits.max_key_bytes;
            // The prefix may be empty (all keys); `after_len = 0` means "from the start".
            if prefix_len > max as usize || after_len > max as usize {
                return Err(ctx.fail(
                    FailureCode::Limit,
                    format!("storage_next: a prefix of {prefix_len} or key of {after_len} bytes, more than {max}"),
                ));
            }
            charge(&mut c, cost(fuel::STORAGE_READ, &[prefix_len, after_len]))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let Some([prefix, after]) = ranges(mem.len(), [(prefix_ptr, prefix_len), (after_ptr, after_len)]) else {
                return Err(ctx.out_of_bounds("storage_next"));
            };
            let (prefix, after) = (&mem[prefix], (after_len > 0).then(|| &mem[after]));
            match ctx.host.storage_next(prefix, after) {
                Ok(Some(key)) => {
                    // A key outside the asked range would make the contract loop or skip keys:
                    // that is a bug of the host, not the contract's fault.
                    if !key.starts_with(prefix) || after.is_some_and(|a| key.as_slice() <= a) {
                        return Err(ctx.host_failed(HostError::new(
                            "storage_next returned a key without the prefix or not after the given key",
                        )));
                    }
                    ctx.set_buffer(key)
                }
                Ok(None) => Ok(ctx.no_result()),
                Err(e) => Err(ctx.host_failed(e)),
            }
        },
    )?;

    l.func_wrap("fdl", "caller", |mut c: Call<'_, 'r>| -> HostResult<i32> {
        charge(&mut c, cost(0, &[]))?;
        let ctx = c.data_mut();
        let id = ctx.run.caller.encode();
        ctx.set_buffer(id)
    })?;

    l.func_wrap("fdl", "signer", |mut c: Call<'_, 'r>| -> HostResult<i32> {
        charge(&mut c, cost(0, &[]))?;
        let ctx = c.data_mut();
        let id = ctx.run.signer.encode();
        ctx.set_buffer(id)
    })?;

    l.func_wrap("fdl", "contract_info", |mut c: Call<'_, 'r>| -> HostResult<i32> {
        charge(&mut c, cost(0, &[]))?;
        let ctx = c.data_mut();
        let id = ctx.run.this.encode();
        ctx.set_buffer(id)
    })?;

    // Heights and times are u64; the i64 holds the same bits (the guest reads them as u64).
    l.func_wrap("fdl", "block_height", |mut c: Call<'_, 'r>| -> HostResult<i64> {
        charge(&mut c, cost(0, &[]))?;
        Ok(c.data().run.height.cast_signed())
    })?;

    l.func_wrap("fdl", "block_time_ms", |mut c: Call<'_, 'r>| -> HostResult<i64> {
        charge(&mut c, cost(0, &[]))?;
        Ok(c.data().run.time_ms.cast_signed())
    })?;

    l.func_wrap(
        "fdl",
        "emit",
        |mut c: Call<'_, 'r>, kind_ptr: i32, kind_len: i32, data_ptr: i32, data_len: i32| -> HostResult<()> {
            let (kind_len, data_len) = (ulen(kind_len), ulen(data_len));
            let ctx = c.data_mut();
            let limits = ctx.run.limits;
            if ctx.events >= limits.max_events {
                return Err(ctx.fail(FailureCode::Limit, format!("emit: more than {} events", limits.max_events)));
            }
            if data_len > limits.max_event_bytes as usize {
                return Err(ctx.fail(
                    FailureCode::Limit,
                    format!("emit: event data of {data_len} bytes, more than {}", limits.max_event_bytes),
                ));
            }
            if !(1..=MAX_EVENT_KIND_BYTES).contains(&kind_len) {
                return Err(
                    ctx.fail(FailureCode::BadEvent, format!("emit: an event kind of {kind_len} bytes (1..=64)"))
                );
            }
            charge(&mut c, cost(0, &[kind_len, data_len]))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let Some([kind, data]) = ranges(mem.len(), [(kind_ptr, kind_len), (data_ptr, data_len)]) else {
                return Err(ctx.out_of_bounds("emit"));
            };
            let (kind, data) = (&mem[kind], &mem[data]);
            if !is_event_kind(kind) {
                return Err(ctx.fail(FailureCode::BadEvent, "emit: an event kind must be [a-z0-9_.]{1,64}"));
            }
            let (Ok(kind), Ok(data)) = (std::str::from_utf8(kind), std::str::from_utf8(data)) else {
                return Err(ctx.fail(FailureCode::BadEvent, "emit: event data must be UTF-8 JSON"));
            };
            if !is_json(data.as_bytes()) {
                return Err(ctx.fail(FailureCode::BadEvent, "emit: event data must be UTF-8 JSON"));
            }
            ctx.events += 1;
            ctx.host.emit(kind, data).map_err(|e| ctx.host_failed(e))
        },
    )?;

    for (name, suite) in [("sm3", Suite::Sm), ("sha256", Suite::Intl)] {
        l.func_wrap("fdl", name, move |mut c: Call<'_, 'r>, ptr: i32, len: i32, out_ptr: i32| -> HostResult<()> {
            let len = ulen(len);
            charge(&mut c, cost(fuel::HASH, &[len, 32]))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let Some([data, out]) = ranges(mem.len(), [(ptr, len), (out_ptr, 32)]) else {
                return Err(ctx.out_of_bounds(name));
            };
            let digest = fdl_crypto::hash(suite, &mem[data]);
            mem[out].copy_from_slice(&digest.0);
            Ok(())
        })?;
    }

    l.func_wrap(
        "fdl",
        "sm2_verify",
        |mut c: Call<'_, 'r>,
         pk_ptr: i32,
         pk_len: i32,
         msg_ptr: i32,
         msg_len: i32,
         sig_ptr: i32,
         sig_len: i32,
         id_ptr: i32,
         id_len: i32|
         -> HostResult<i32> {
            let lens = [ulen(pk_len), ulen(msg_len), ulen(sig_len), ulen(id_len)];
            charge(&mut c, cost(fuel::VERIFY, &lens))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let args = [(pk_ptr, lens[0]), (msg_ptr, lens[1]), (sig_ptr, lens[2]), (id_ptr, lens[3])];
            let Some([pk, msg, sig, id]) = ranges(mem.len(), args) else {
                return Err(ctx.out_of_bounds("sm2_verify"));
            };
            Ok(sm2_verify(&mem[pk], &mem[msg], &mem[sig], &mem[id]))
        },
    )?;

    l.func_wrap(
        "fdl",
        "ed25519_verify",
        |mut c: Call<'_, 'r>, pk_ptr: i32, msg_ptr: i32, msg_len: i32, sig_ptr: i32| -> HostResult<i32> {
            let msg_len = ulen(msg_len);
            charge(&mut c, cost(fuel::VERIFY, &[32, msg_len, 64]))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let Some([pk, msg, sig]) = ranges(mem.len(), [(pk_ptr, 32), (msg_ptr, msg_len), (sig_ptr, 64)]) else {
                return Err(ctx.out_of_bounds("ed25519_verify"));
            };
            Ok(ed25519_verify(&mem[pk], &mem[msg], &mem[sig]))
        },
    )?;

    l.func_wrap(
        "fdl",
        "call",
        |mut c: Call<'_, 'r>,
         name_ptr: i32,
         name_len: i32,
         method_ptr: i32,
         method_len: i32,
         args_ptr: i32,
         args_len: i32|
         -> HostResult<i32> {
            let lens = [ulen(name_len), ulen(method_len), ulen(args_len)];
            charge(&mut c, cost(fuel::CALL, &lens))?;
            let (mem, ctx) = mem_ctx(&mut c)?;
            let args = [(name_ptr, lens[0]), (method_ptr, lens[1]), (args_ptr, lens[2])];
            let Some([name, method, args]) = ranges(mem.len(), args) else {
                return Err(ctx.out_of_bounds("call"));
            };
            // Copied out of the memory: the callee runs while this call's store is borrowed.
            let (name, method, args) = (mem[name].to_vec(), mem[method].to_vec(), mem[args].to_vec());
            let depth = ctx.run.depth.saturating_add(1);
            let max_depth = ctx.run.limits.max_call_depth;
            // Refusals the engine can tell without the host: the same codes the host would give.
            let refusal = if depth > max_depth {
                Some(Failure::engine(
                    FailureCode::CallDepth,
                    format!("a call at depth {depth}, deeper than {max_depth}"),
                ))
            } else if std::str::from_utf8(&name).is_err() {
                Some(Failure::engine(FailureCode::UnknownContract, "the contract name is not UTF-8"))
            } else if std::str::from_utf8(&method).is_err() {
                Some(Failure::engine(FailureCode::UnknownMethod, "the method name is not UTF-8"))
            } else {
                None
            };
            if let Some(f) = refusal {
                return Ok(ctx.call_failed(&f));
            }
            let (name, method) = (String::from_utf8_lossy(&name), String::from_utf8_lossy(&method));
            let remaining = match c.get_fuel() {
                Ok(f) => f,
                Err(e) => return Err(c.data_mut().fail(FailureCode::Trap, format!("fuel metering: {e}"))),
            };
            let outcome = c.data_mut().host.call(&name, &method, &args, remaining, depth);
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return Err(c.data_mut().host_failed(e)),
            };
            // The callee's fuel comes out of the caller's (a host reporting more than it was given
            // is clamped: the caller cannot go below zero).
            let used = outcome.fuel_used.min(remaining);
            c.set_fuel(remaining - used)
                .map_err(|e| c.data_mut().fail(FailureCode::Trap, format!("fuel metering: {e}")))?;
            let ctx = c.data_mut();
            match outcome.result {
                Ok(data) => ctx.set_buffer(data),
                Err(f) => Ok(ctx.call_failed(&f)),
            }
        },
    )?;

    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_bounded() {
        assert_eq!(range(10, 0, 10), Some(0..10));
        assert_eq!(range(10, 10, 0), Some(10..10));
        assert_eq!(range(10, 5, 6), None);
        assert_eq!(range(10, -1, 1), None); // 0xffff_ffff
        assert_eq!(range(10, 1, usize::MAX), None);
    }

    #[test]
    fn codes_and_kinds() {
        assert!(is_failure_code(b"insufficient_funds"));
        assert!(!is_failure_code(b""));
        assert!(!is_failure_code(b"Bad"));
        assert!(!is_failure_code(b"a.b"));
        assert!(!is_failure_code(&[b'a'; 65]));
        assert!(is_event_kind(b"token.transfer"));
        assert!(!is_event_kind(b"token-transfer"));
    }

    #[test]
    fn messages_are_cut_on_a_character_boundary() {
        let m = failure_message("é".repeat(200).as_bytes());
        assert_eq!(m.len(), 256);
        let m = failure_message(&[b'a', 0xff, b'b']);
        assert_eq!(m, "a\u{fffd}b");
        // A 4-byte character across the 256-byte boundary is left out whole, as if the whole
        // message had been decoded.
        let long = format!("{}\u{1f600}{}", "a".repeat(254), "b".repeat(1000));
        assert_eq!(failure_message(long.as_bytes()), "a".repeat(254));
        let long = format!("{}\u{1f600}{}", "a".repeat(252), "b".repeat(1000));
        assert_eq!(failure_message(long.as_bytes()), format!("{}\u{1f600}", "a".repeat(252)));
    }

    #[test]
    fn abi_table_has_every_import_once() {
        let mut names: Vec<_> = ABI_IMPORTS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 19);
    }
}
