//! A contract written in Rust against the raw ABI (no SDK): a counter. Built by
//! `tests/rust_contracts.rs` with `rustc --target wasm32-unknown-unknown`.

#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[link(wasm_import_module = "fdl")]
unsafe extern "C" {
    fn input() -> i32;
    fn read_result(ptr: *mut u8);
    fn set_return(ptr: *const u8, len: i32);
    fn storage_get(key_ptr: *const u8, key_len: i32) -> i32;
    fn storage_set(key_ptr: *const u8, key_len: i32, val_ptr: *const u8, val_len: i32);
    fn fail(code_ptr: *const u8, code_len: i32, msg_ptr: *const u8, msg_len: i32) -> !;
}

fn fail_with(code: &str, message: &str) -> ! {
    unsafe { fail(code.as_ptr(), code.len() as i32, message.as_ptr(), message.len() as i32) }
}

/// Adds the input (a JSON number: decimal digits) to the counter and returns the new value.
#[unsafe(no_mangle)]
pub extern "C" fn add() {
    let mut buf = [0u8; 20];
    let n = unsafe { input() };
    if !(1..=20).contains(&n) {
        fail_with("bad_input", "expected 1 to 20 digits");
    }
    unsafe { read_result(buf.as_mut_ptr()) };
    let mut add: u64 = 0;
    for &d in &buf[..n as usize] {
        if !d.is_ascii_digit() {
            fail_with("bad_input", "expected digits");
        }
        add = add.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))).unwrap_or_else(|| fail_with("overflow", "too large"));
    }
    let mut current = [0u8; 8];
    if unsafe { storage_get(b"c".as_ptr(), 1) } == 8 {
        unsafe { read_result(current.as_mut_ptr()) };
    }
    let total = u64::from_le_bytes(current).checked_add(add).unwrap_or_else(|| fail_with("overflow", "counter overflow"));
    unsafe { storage_set(b"c".as_ptr(), 1, total.to_le_bytes().as_ptr(), 8) };
    let (mut out, mut i, mut x) = ([0u8; 20], 20, total);
    loop {
        i -= 1;
        out[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    unsafe { set_return(out[i..].as_ptr(), (20 - i) as i32) };
}

/// Panics (a trap, under `panic = "abort"`).
#[unsafe(no_mangle)]
pub extern "C" fn boom() {
    let n = unsafe { input() };
    let v = [1u8, 2, 3];
    // An index the compiler cannot prove in bounds: a Rust panic.
    unsafe { set_return(v.as_ptr(), i32::from(v[n as usize + 10])) };
}

/// Runs when the contract is deployed: the counter starts at 0.
#[unsafe(no_mangle)]
pub extern "C" fn init() {
    unsafe { storage_set(b"c".as_ptr(), 1, [0u8; 8].as_ptr(), 8) };
}
