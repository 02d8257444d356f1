//! The limits of a contract call: the chain parameters ([`Limits`], changed by governance) and the
//! engine's fixed bounds (constants: changing one is a change of the chain's rules).

/// The limits of contract execution that are chain parameters (ABI "The module": limits).
///
/// The fuel of a call is not here: it is [`crate::Run::fuel`], set by the executor per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest module, in bytes (checked at deploy).
    pub max_code_bytes: u32,
    /// Largest linear memory, in 64 KiB pages: the module's declared minimum and maximum (at
    /// deploy) and its size at run time (instantiation and `memory.grow`).
    pub max_memory_pages: u32,
    /// Deepest nesting of contract calls: a transaction's call has depth 0, a call it makes depth 1,
    /// and a call whose depth would exceed this fails with `call_depth`.
    pub max_call_depth: u32,
    /// Largest return data (`set_return`), in bytes.
    pub max_return_bytes: u32,
    /// Most events one call may emit (its own; the calls it makes have their own count).
    pub max_events: u32,
    /// Largest `data` of one event, in bytes.
    pub max_event_bytes: u32,
    /// Largest storage key (and `storage_next` prefix or `after` key), in bytes.
    pub max_key_bytes: u32,
    /// Largest storage value, in bytes.
    pub max_value_bytes: u32,
}

impl Default for Limits {
    /// 512 KiB of code, 32 pages (2 MiB) of memory, call depth 8, 16 KiB of return data, 32 events
    /// of at most 4 KiB each, 256-byte keys and 16 KiB values.
    ///
    /// Memory: Rust's `wasm32-unknown-unknown` layout puts a 1 MiB stack before the data, so even a
    /// small contract declares 17 pages; 32 leaves it 1 MiB of heap.
    fn default() -> Self {
        Limits {
            max_code_bytes: 512 * 1024,
            max_memory_pages: 32,
            max_call_depth: 8,
            max_return_bytes: 16 * 1024,
            max_events: 32,
            max_event_bytes: 4 * 1024,
            max_key_bytes: 256,
            max_value_bytes: 16 * 1024,
        }
    }
}

/// Most elements one table may have, declared (at deploy) or grown (at run time): a "table bomb"
/// is refused like a memory bomb. Rust contracts have one table, as large as their set of
/// indirect-call targets.
pub const MAX_TABLE_ELEMENTS: u32 = 65_536;
/// Most tables a module may define.
pub const MAX_TABLES: u32 = 16;
/// Deepest WebAssembly call stack (frames) within one contract call; deeper recursion traps.
pub const MAX_RECURSION_DEPTH: usize = 1_000;
/// Largest WebAssembly value stack of one contract call, in bytes; a larger one traps.
pub const MAX_VALUE_STACK_BYTES: usize = 1024 * 1024;
/// Longest method (export) name, in bytes.
pub const MAX_EXPORT_NAME_BYTES: usize = 64;
/// Longest error code of `fail`, in bytes.
pub const MAX_FAILURE_CODE_BYTES: usize = 64;
/// Longest message of `fail`, in bytes: longer ones are cut (at a character boundary).
pub const MAX_FAILURE_MESSAGE_BYTES: usize = 256;
/// Longest event kind, in bytes.
pub const MAX_EVENT_KIND_BYTES: usize = 64;
/// The SM2 distinguishing id `sm2_verify` uses when the contract passes none (`id_len = 0`).
pub const SM2_DEFAULT_ID: &str = fdl_crypto::SM2_DEFAULT_DISTID;
