//! A contract that uses `f64`: refused at deploy (ADR 0012).

#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[link(wasm_import_module = "fdl")]
unsafe extern "C" {
    fn input() -> i32;
    fn set_return(ptr: *const u8, len: i32);
}

/// Returns a third of the input's length, computed in floating point.
#[unsafe(no_mangle)]
pub extern "C" fn third() {
    let n = unsafe { input() };
    let third = (f64::from(n) / 3.0) as i32;
    unsafe { set_return(b"0123456789".as_ptr(), third.clamp(0, 10)) };
}
