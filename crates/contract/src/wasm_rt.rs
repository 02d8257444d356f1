//! The `wasm32` runtime: the global allocator and the panic handler.
//!
//! A contract's instance lives for one call, so its memory is freed, all of it, when the call
//! ends. The allocator is therefore a bump allocator over `memory.grow`: deterministic (the same
//! calls make the same allocations, on every node), tiny, and fast. It gives back only the most
//! recent allocation (which covers the common "grow a `Vec`, drop a temporary" patterns);
//! everything else stays allocated until the call ends. A call that needs more memory than the
//! chain's page limit allows fails (`memory.grow` refuses, the allocation fails, the call traps).

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::sync::atomic::{AtomicUsize, Ordering};

const PAGE: usize = 65_536;

/// The bump allocator (single-threaded: a contract runs on one thread).
struct Bump {
    /// The first free byte; 0 before the first allocation.
    next: AtomicUsize,
}

impl Bump {
    /// Reserves `size` bytes aligned to `align`, growing the memory if needed; `None` if the
    /// memory cannot grow.
    fn reserve(&self, size: usize, align: usize) -> Option<usize> {
        let mut next = self.next.load(Ordering::Relaxed);
        if next == 0 {
            // Start after everything the module declared (data, stack and the linker's heap
            // start all lie below the initial memory size).
            next = wasm32::memory_size::<0>().checked_mul(PAGE)?;
        }
        let start = next.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(size)?;
        let have = wasm32::memory_size::<0>().checked_mul(PAGE)?;
        if end > have {
            let pages = (end - have).div_ceil(PAGE);
            if wasm32::memory_grow::<0>(pages) == usize::MAX {
                return None;
            }
        }
        self.next.store(end, Ordering::Relaxed);
        Some(start)
    }
}

// `GlobalAlloc` is an unsafe trait. The implementation is sound: every block handed out lies
// within the linear memory (grown first when needed), is aligned as asked, and never overlaps
// another live block (the cursor only moves past it, or back over the most recent block when that
// one is freed or resized in place).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.reserve(layout.size(), layout.align()) {
            Some(addr) => addr as *mut u8,
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Only the most recent block can be given back.
        let end = (ptr as usize).wrapping_add(layout.size());
        if end == self.next.load(Ordering::Relaxed) {
            self.next.store(ptr as usize, Ordering::Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old_end = (ptr as usize).wrapping_add(layout.size());
        if old_end == self.next.load(Ordering::Relaxed) {
            // The most recent block grows or shrinks in place.
            self.next.store(ptr as usize, Ordering::Relaxed);
            if let Some(addr) = self.reserve(new_size, 1) {
                // `reserve` with alignment 1 starts exactly at `ptr`.
                return addr as *mut u8;
            }
            self.next.store(old_end, Ordering::Relaxed);
            return core::ptr::null_mut();
        }
        if new_size <= layout.size() {
            return ptr;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: `new_layout` is valid (checked above); the copy is between two distinct live
        // blocks (the new one lies past the cursor), of the old block's size.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size());
            }
            new
        }
    }
}

#[global_allocator]
static ALLOCATOR: Bump = Bump { next: AtomicUsize::new(0) };

/// A panic traps: the call ends as failed (`trap`), and every write and event of it is undone.
/// The message is not formatted (that would pull `core::fmt` into every contract).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wasm32::unreachable()
}
