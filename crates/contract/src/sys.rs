//! The host functions of the ABI (module `fdl`), behind a safe, slice-based interface.
//!
//! On `wasm32` they are the module's imports, and this file owns the result-buffer protocol (a
//! length from a host call, then `read_result` into exactly that many bytes). On other targets
//! the same functions are served by the native test harness ([`crate::testing`]).

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::host::*;
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::*;

#[cfg(target_arch = "wasm32")]
// The imports are foreign functions, which only `unsafe` can declare and call. Every call below
// passes pointers and lengths of live Rust slices (so the host reads or writes only memory that
// the slice owns; a range the host finds out of bounds traps the call, it never corrupts), and
// `read_result` is only ever given a buffer exactly as long as the result the host just
// reported, with no host call in between.
#[allow(unsafe_code)]
mod wasm {
    use alloc::vec;
    use alloc::vec::Vec;

    #[link(wasm_import_module = "fdl")]
    unsafe extern "C" {
        fn input() -> i32;
        fn read_result(ptr: *mut u8);
        fn set_return(ptr: *const u8, len: usize);
        fn fail(code_ptr: *const u8, code_len: usize, msg_ptr: *const u8, msg_len: usize) -> !;
        fn storage_get(key_ptr: *const u8, key_len: usize) -> i32;
        fn storage_set(key_ptr: *const u8, key_len: usize, val_ptr: *const u8, val_len: usize);
        fn storage_remove(key_ptr: *const u8, key_len: usize);
        fn storage_next(prefix_ptr: *const u8, prefix_len: usize, after_ptr: *const u8, after_len: usize) -> i32;
        fn caller() -> i32;
        fn signer() -> i32;
        fn contract_info() -> i32;
        fn block_height() -> i64;
        fn block_time_ms() -> i64;
        fn emit(kind_ptr: *const u8, kind_len: usize, data_ptr: *const u8, data_len: usize);
        fn sm3(ptr: *const u8, len: usize, out_ptr: *mut u8);
        fn sha256(ptr: *const u8, len: usize, out_ptr: *mut u8);
        #[allow(clippy::too_many_arguments)]
        fn sm2_verify(
            pk_ptr: *const u8,
            pk_len: usize,
            msg_ptr: *const u8,
            msg_len: usize,
            sig_ptr: *const u8,
            sig_len: usize,
            id_ptr: *const u8,
            id_len: usize,
        ) -> i32;
        fn ed25519_verify(pk_ptr: *const u8, msg_ptr: *const u8, msg_len: usize, sig_ptr: *const u8) -> i32;
        fn call(
            name_ptr: *const u8,
            name_len: usize,
            method_ptr: *const u8,
            method_len: usize,
            args_ptr: *const u8,
            args_len: usize,
        ) -> i32;
    }

    /// The result buffer's bytes, given the length the last host call returned (`< 0`: none).
    fn take_result(len: i32) -> Option<Vec<u8>> {
        let len = usize::try_from(len).ok()?;
        let mut buf = vec![0u8; len];
        if len > 0 {
            // SAFETY: `buf` holds exactly `len` writable bytes, the length of the buffer that
            // the host call just before this one filled; `read_result` writes exactly that many.
            unsafe { read_result(buf.as_mut_ptr()) };
        }
        Some(buf)
    }

    pub(crate) fn input_bytes() -> Vec<u8> {
        // SAFETY: no arguments; the result is taken right away.
        take_result(unsafe { input() }).unwrap_or_default()
    }

    pub(crate) fn set_return_bytes(data: &[u8]) {
        // SAFETY: the host reads `data.len()` bytes of a live slice.
        unsafe { set_return(data.as_ptr(), data.len()) }
    }

    pub(crate) fn fail_call(code: &[u8], msg: &[u8]) -> ! {
        // SAFETY: the host reads two live slices, then ends the call (it never returns).
        unsafe { fail(code.as_ptr(), code.len(), msg.as_ptr(), msg.len()) }
    }

    pub(crate) fn storage_read(key: &[u8]) -> Option<Vec<u8>> {
        // SAFETY: the host reads a live slice; the result is taken right away.
        take_result(unsafe { storage_get(key.as_ptr(), key.len()) })
    }

    pub(crate) fn storage_write(key: &[u8], value: &[u8]) {
        // SAFETY: the host reads two live slices.
        unsafe { storage_set(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
    }

    pub(crate) fn storage_delete(key: &[u8]) {
        // SAFETY: the host reads a live slice.
        unsafe { storage_remove(key.as_ptr(), key.len()) }
    }

    pub(crate) fn storage_next_key(prefix: &[u8], after: &[u8]) -> Option<Vec<u8>> {
        // SAFETY: the host reads two live slices; the result is taken right away.
        take_result(unsafe { storage_next(prefix.as_ptr(), prefix.len(), after.as_ptr(), after.len()) })
    }

    pub(crate) fn caller_identity() -> Vec<u8> {
        // SAFETY: no arguments; the result is taken right away.
        take_result(unsafe { caller() }).unwrap_or_default()
    }

    pub(crate) fn signer_identity() -> Vec<u8> {
        // SAFETY: no arguments; the result is taken right away.
        take_result(unsafe { signer() }).unwrap_or_default()
    }

    pub(crate) fn contract_identity() -> Vec<u8> {
        // SAFETY: no arguments; the result is taken right away.
        take_result(unsafe { contract_info() }).unwrap_or_default()
    }

    pub(crate) fn height() -> i64 {
        // SAFETY: no arguments, no memory access.
        unsafe { block_height() }
    }

    pub(crate) fn time_ms() -> i64 {
        // SAFETY: no arguments, no memory access.
        unsafe { block_time_ms() }
    }

    pub(crate) fn emit_event(kind: &[u8], data: &[u8]) {
        // SAFETY: the host reads two live slices.
        unsafe { emit(kind.as_ptr(), kind.len(), data.as_ptr(), data.len()) }
    }

    pub(crate) fn sm3_digest(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the host reads a live slice and writes 32 bytes into `out`, which has 32.
        unsafe { sm3(data.as_ptr(), data.len(), out.as_mut_ptr()) };
        out
    }

    pub(crate) fn sha256_digest(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the host reads a live slice and writes 32 bytes into `out`, which has 32.
        unsafe { sha256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
        out
    }

    pub(crate) fn sm2_check(pk: &[u8], msg: &[u8], sig: &[u8], id: &[u8]) -> bool {
        // SAFETY: the host reads four live slices.
        unsafe {
            sm2_verify(pk.as_ptr(), pk.len(), msg.as_ptr(), msg.len(), sig.as_ptr(), sig.len(), id.as_ptr(), id.len())
                == 1
        }
    }

    pub(crate) fn ed25519_check(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        // SAFETY: the host reads 32 bytes of `pk`, the message slice and 64 bytes of `sig`.
        unsafe { ed25519_verify(pk.as_ptr(), msg.as_ptr(), msg.len(), sig.as_ptr()) == 1 }
    }

    /// `Ok(return data)` or `Err(code "\n" message)`.
    pub(crate) fn call_contract(name: &[u8], method: &[u8], args: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        // SAFETY: the host reads three live slices; the result is taken right away.
        let len = unsafe { call(name.as_ptr(), name.len(), method.as_ptr(), method.len(), args.as_ptr(), args.len()) };
        if len < 0 { Err(failed_call_error()) } else { Ok(take_result(len).unwrap_or_default()) }
    }

    /// Room for a failed call's error: a code of at most 64 bytes, `\n`, a message of at most
    /// 256 bytes (the ABI's bounds), with margin.
    const CALL_ERROR_ROOM: usize = 512;

    /// The error of a failed `call`. The ABI returns `-1` without the error's length, so the
    /// buffer is read into room for the largest error, filled beforehand with `0xff`, a byte
    /// that UTF-8 never contains: the error ends at the first `0xff`.
    fn failed_call_error() -> Vec<u8> {
        let mut buf = vec![0xffu8; CALL_ERROR_ROOM];
        // SAFETY: `buf` has room for the longest error the ABI allows (321 bytes) and more.
        unsafe { read_result(buf.as_mut_ptr()) };
        let end = buf.iter().position(|&b| b == 0xff).unwrap_or(CALL_ERROR_ROOM);
        buf.truncate(end);
        buf
    }
}
