//! The engine: runs creation and calls on revm.

use crate::check::{self, CheckError, CodeInfo};
use crate::types::{CacheStats, Failure, Host, HostError, Limits, Outcome, Run};

/// The EVM engine. `Send + Sync`: one per process, shared by every run.
pub struct Engine {
    _private: (),
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine with an empty code cache.
    pub fn new() -> Self {
        Self { _private: () }
    }

    /// The static check of runtime code: not empty, within `limits.max_code_bytes` and EIP-170,
    /// and no opcode of `limits.denied_opcodes` (PUSH data and the solc metadata trailer are
    /// skipped).
    pub fn check_runtime(&self, code: &[u8], limits: &Limits) -> Result<CodeInfo, CheckError> {
        check::check_runtime(code, limits)
    }

    /// Runs creation code `run.input` (constructor and its arguments) as contract `run.this`;
    /// the result is the runtime code, which passed [`Engine::check_runtime`].
    pub fn create(&self, host: &mut dyn Host, run: &Run<'_>) -> Result<Outcome, HostError> {
        let _ = (host, run);
        Ok(Outcome::failed(Failure::new("halt", "not yet implemented"), 0))
    }

    /// Calls contract `run.this` with calldata `run.input`.
    pub fn call(&self, host: &mut dyn Host, run: &Run<'_>) -> Result<Outcome, HostError> {
        let _ = (host, run);
        Ok(Outcome::failed(Failure::new("halt", "not yet implemented"), 0))
    }

    /// Counters of the analyzed-bytecode cache.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats::default()
    }
}
