//! The [`Engine`]: the wasmi configuration every node shares, the module cache, and one call
//! ([`Engine::run`]).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use wasmi::errors::ErrorKind;
use wasmi::{CompilationMode, TrapCode};

use crate::check::{CheckError, ModuleInfo, inspect, validate};
use crate::host::{CallResult, Failure, FailureCode, Host, HostError};
use crate::identity::Identity;
use crate::imports::{Abort, Ctx, Limiter, linker};
use crate::limits::{Limits, MAX_RECURSION_DEPTH, MAX_VALUE_STACK_BYTES};

/// How many compiled modules the engine keeps by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 64;

/// Which export of the module a [`Run`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The public method [`Run::method`]: an export of the module other than `init`, `migrate`
    /// and the `__`-prefixed names; anything else fails with `unknown_method`.
    Method,
    /// The `init` export, in the deploy that creates the contract ([`Run::method`] is ignored). A
    /// module without one succeeds at once, using no fuel.
    Init,
    /// The `migrate` export, in the upgrade that installs this version ([`Run::method`] is
    /// ignored). A module without one succeeds at once, using no fuel.
    Migrate,
}

/// One call of a contract: what runs, with what, for whom, and within what bounds.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    /// The hash of the module's code (the key of the module cache and of [`Host::load_code`]).
    pub code_hash: [u8; 32],
    /// The method, for [`Entry::Method`].
    pub method: &'a str,
    /// The call's argument bytes (UTF-8 JSON), which `input` gives the contract.
    pub input: &'a [u8],
    /// The immediate caller (`caller`).
    pub caller: &'a Identity,
    /// The transaction's signer (`signer`).
    pub signer: &'a Identity,
    /// The contract itself (`contract_info`).
    pub this: &'a Identity,
    /// The height of the block being executed (a query: the latest final height).
    pub height: u64,
    /// The block's timestamp, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The fuel the call may use, the calls it makes included.
    pub fuel: u64,
    /// The call's depth: 0 for a transaction's call, one more for each nested call.
    pub depth: u32,
    /// The chain's limits.
    pub limits: &'a Limits,
    /// Which export runs.
    pub entry: Entry,
}

/// Counters of the module cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Runs that found their module compiled.
    pub hits: u64,
    /// Runs that had to load and compile it.
    pub misses: u64,
    /// Modules in the cache now.
    pub entries: usize,
}

/// A module compiled for running, with what the checks found in it.
struct Compiled {
    module: wasmi::Module,
    info: ModuleInfo,
}

struct Cached {
    compiled: Arc<Compiled>,
    /// The cache's clock at the last use (least recently used goes first).
    last_used: u64,
}

#[derive(Default)]
struct Cache {
    modules: HashMap<[u8; 32], Cached>,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// The contract engine: checks modules and runs calls. One per node, shared (`Arc<Engine>`) by
/// every thread that executes.
///
/// Compiled modules are kept by code hash in a bounded cache (least recently used out). Each
/// module is compiled into a wasmi engine of its own: wasmi's engines keep compiled code for their
/// whole life, so one shared engine would grow with every module ever compiled, while this way a
/// module evicted from the cache frees its code.
pub struct Engine {
    cache: Mutex<Cache>,
    capacity: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("capacity", &self.capacity).field("cache", &self.cache_stats()).finish()
    }
}

/// The wasmi configuration of every node. Each setting is part of the chain's rules: a different
/// one could make a call succeed on one node and fail on another.
fn wasmi_config() -> wasmi::Config {
    let mut config = wasmi::Config::default();
    config
        // Fuel is how a call is bounded; the ABI's host costs are charged on top.
        .consume_fuel(true)
        // ADR 0012: no floating point (NaN bit patterns are not deterministic across platforms).
        .floats(false)
        .wasm_saturating_float_to_int(false)
        // The proposals the ABI allows (what Rust's wasm32-unknown-unknown emits by default), the
        // same set as `check::features`; the rest are off.
        .wasm_mutable_global(true)
        .wasm_sign_extension(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true)
        .wasm_reference_types(true)
        .wasm_multi_memory(false)
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .allow_start_fn(false)
        // Eager, not lazy: lazy translation charges fuel when a function is first translated, so
        // the fuel of a call would depend on whether the module was already in this node's cache.
        .compilation_mode(CompilationMode::Eager)
        .ignore_custom_sections(true)
        // Bounded stacks (wasmi's own, not the host's): deep recursion traps deterministically.
        .set_max_recursion_depth(MAX_RECURSION_DEPTH)
        .set_max_stack_height(MAX_VALUE_STACK_BYTES)
        .set_max_cached_stacks(1);
    config
}

/// Compiles `code` in a wasmi engine of its own.
fn compile(code: &[u8]) -> Result<wasmi::Module, CheckError> {
    let engine = wasmi::Engine::new(&wasmi_config());
    // Defence in depth: a hostile module must not bring the node down, even through a bug of the
    // compiler. (The module is validated first, so this is not expected to catch anything.)
    match std::panic::catch_unwind(AssertUnwindSafe(|| wasmi::Module::new(&engine, code))) {
        Ok(Ok(module)) => Ok(module),
        Ok(Err(e)) => Err(CheckError::Malformed(e.to_string())),
        Err(_) => Err(CheckError::Malformed("the interpreter could not compile the module".into())),
    }
}

impl Engine {
    /// An engine with a cache of [`DEFAULT_CACHE_CAPACITY`] modules.
    pub fn new() -> Self {
        Engine::with_cache_capacity(DEFAULT_CACHE_CAPACITY)
    }

    /// An engine that keeps at most `capacity` compiled modules (0: none, every run compiles).
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Engine { cache: Mutex::new(Cache::default()), capacity }
    }

    /// The static checks of the ABI: what `fdl contract check` and every node at deploy apply.
    ///
    /// # Errors
    /// The first [`CheckError`] found (size, validity, floating point, imports, start function,
    /// memory, exports, declared memory and tables).
    pub fn check(&self, code: &[u8], limits: &Limits) -> Result<ModuleInfo, CheckError> {
        if code.len() > limits.max_code_bytes as usize {
            return Err(CheckError::CodeTooLarge { size: code.len(), limit: limits.max_code_bytes });
        }
        validate(code)?;
        let info = inspect(code, Some(limits))?;
        // The interpreter must accept it too (its own implementation limits). The module is not
        // cached: the chain's code hash is the executor's to compute.
        compile(code)?;
        Ok(info)
    }

    /// Runs one call.
    ///
    /// Every failure of the call is a [`Failure`] in the result, with the fuel it used (all of it
    /// when it ran out). Nothing of the call is undone here: when it failed, the host undoes the
    /// writes and events it received.
    ///
    /// # Errors
    /// A [`HostError`] from the host (the store failed): the block cannot be executed.
    pub fn run(&self, run: &Run<'_>, host: &mut dyn Host) -> Result<CallResult, HostError> {
        if run.depth > run.limits.max_call_depth {
            let message = format!("a call at depth {}, deeper than {}", run.depth, run.limits.max_call_depth);
            return Ok(CallResult::failure(Failure::engine(FailureCode::CallDepth, message), 0));
        }
        let compiled = match self.module(&run.code_hash, host)? {
            Ok(compiled) => compiled,
            Err(e) => {
                let message = format!("the module does not compile: {e}");
                return Ok(CallResult::failure(Failure::engine(FailureCode::InvalidModule, message), 0));
            }
        };
        let export = match run.entry {
            Entry::Method => {
                if compiled.info.methods.binary_search_by(|m| m.as_str().cmp(run.method)).is_err() {
                    let message = format!("the contract has no method `{}`", run.method);
                    return Ok(CallResult::failure(Failure::engine(FailureCode::UnknownMethod, message), 0));
                }
                run.method
            }
            Entry::Init if compiled.info.has_init => "init",
            Entry::Migrate if compiled.info.has_migrate => "migrate",
            Entry::Init | Entry::Migrate => return Ok(CallResult::success(Vec::new(), 0)),
        };
        execute(&compiled.module, export, run, host)
    }

    /// The cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        let cache = self.lock();
        CacheStats { hits: cache.hits, misses: cache.misses, entries: cache.modules.len() }
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // A panic while the lock was held cannot leave the map inconsistent (each update is one
        // insert or remove), so a poisoned lock is used as it is.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The compiled module of `code_hash`, from the cache or loaded from the host and compiled.
    /// `Ok(Err(_))`: the module does not compile (or fails the structural checks).
    fn module(
        &self,
        code_hash: &[u8; 32],
        host: &mut dyn Host,
    ) -> Result<Result<Arc<Compiled>, CheckError>, HostError> {
        {
            let mut guard = self.lock();
            let cache = &mut *guard;
            cache.clock += 1;
            if let Some(cached) = cache.modules.get_mut(code_hash) {
                cached.last_used = cache.clock;
                cache.hits += 1;
                return Ok(Ok(Arc::clone(&cached.compiled)));
            }
            cache.misses += 1;
        }
        // Loaded and compiled without the lock: other calls go on meanwhile (two threads missing
        // the same module at once both compile it; the second insert replaces the first).
        let code = host.load_code(code_hash)?;
        let compiled = match compile(&code).and_then(|module| Ok(Compiled { module, info: inspect(&code, None)? })) {
            Ok(compiled) => Arc::new(compiled),
            Err(e) => return Ok(Err(e)),
        };
        if self.capacity > 0 {
            let mut guard = self.lock();
            let cache = &mut *guard;
            if cache.modules.len() >= self.capacity && !cache.modules.contains_key(code_hash) {
                let oldest = cache.modules.iter().min_by_key(|(_, c)| c.last_used).map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    cache.modules.remove(&oldest);
                }
            }
            cache.clock += 1;
            let last_used = cache.clock;
            cache.modules.insert(*code_hash, Cached { compiled: Arc::clone(&compiled), last_used });
        }
        Ok(Ok(compiled))
    }
}

/// Instantiates `module` and runs its export `export`.
fn execute(module: &wasmi::Module, export: &str, run: &Run<'_>, host: &mut dyn Host) -> Result<CallResult, HostError> {
    let invalid = |what: String| Ok(CallResult::failure(Failure::engine(FailureCode::InvalidModule, what), 0));
    let max_memory_bytes = (run.limits.max_memory_pages as usize).saturating_mul(64 * 1024);
    let ctx = Ctx {
        host,
        run,
        memory: None,
        buffer: Vec::new(),
        return_data: Vec::new(),
        events: 0,
        abort: None,
        limiter: Limiter { max_memory_bytes, exceeded: None },
    };
    let engine = module.engine();
    let mut store = wasmi::Store::new(engine, ctx);
    store.limiter(|ctx| &mut ctx.limiter);
    if let Err(e) = store.set_fuel(run.fuel) {
        return invalid(format!("fuel metering: {e}"));
    }
    let linker = match linker(engine) {
        Ok(linker) => linker,
        Err(e) => return invalid(format!("the host functions: {e}")),
    };
    let result = match linker.instantiate_and_start(&mut store, module) {
        Ok(instance) => {
            match (instance.get_memory(&store, "memory"), instance.get_typed_func::<(), ()>(&store, export)) {
                (Some(memory), Ok(func)) => {
                    store.data_mut().memory = Some(memory);
                    func.call(&mut store, ())
                }
                (None, _) => return invalid("the module exports no memory".into()),
                (_, Err(e)) => return invalid(format!("export `{export}`: {e}")),
            }
        }
        Err(e) => Err(e),
    };
    finish(run, store, result)
}

/// The outcome of a call from its store and the execution's result.
fn finish(
    run: &Run<'_>,
    store: wasmi::Store<Ctx<'_>>,
    result: Result<(), wasmi::Error>,
) -> Result<CallResult, HostError> {
    let remaining = store.get_fuel().unwrap_or(0);
    let used = run.fuel.saturating_sub(remaining);
    let ctx = store.into_data();
    // A host function's reason comes first: the error it returned only unwinds the execution.
    let failure = match (ctx.abort, result) {
        (Some(Abort::Host(e)), _) => return Err(e),
        (Some(Abort::Failure(failure)), _) => failure,
        (None, Ok(())) => return Ok(CallResult::success(ctx.return_data, used)),
        (None, Err(e)) => classify(&e, ctx.limiter.exceeded),
    };
    // Out of fuel means all of it: wasmi may stop before a block it cannot pay in full.
    let used = if failure.kind == FailureCode::OutOfFuel { run.fuel } else { used };
    Ok(CallResult::failure(failure, used))
}

/// The failure of an execution that stopped with `e` (and no host function's reason).
fn classify(e: &wasmi::Error, limit_exceeded: Option<String>) -> Failure {
    if let Some(what) = limit_exceeded {
        return Failure::engine(FailureCode::Limit, what);
    }
    match (e.as_trap_code(), e.kind()) {
        (Some(TrapCode::OutOfFuel), _) => Failure::engine(FailureCode::OutOfFuel, "out of fuel"),
        (Some(TrapCode::StackOverflow), _) => Failure::engine(
            FailureCode::Trap,
            format!(
                "stack overflow (recursion deeper than {MAX_RECURSION_DEPTH} calls or a value stack over {MAX_VALUE_STACK_BYTES} bytes)"
            ),
        ),
        (Some(code), _) => Failure::engine(FailureCode::Trap, code.to_string()),
        (None, ErrorKind::Linker(_) | ErrorKind::Instantiation(_)) => {
            Failure::engine(FailureCode::InvalidModule, format!("the module does not instantiate: {e}"))
        }
        (None, _) => Failure::engine(FailureCode::Trap, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_shareable() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Engine>();
    }
}
