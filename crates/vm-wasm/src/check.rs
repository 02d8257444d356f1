//! The static checks of a module (ABI "The module"): what [`crate::Engine::check`] refuses, and
//! the [`ModuleInfo`] it gives for a module it accepts.

use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures};

use crate::imports::{ABI_IMPORTS, ImportSig};
use crate::limits::{Limits, MAX_EXPORT_NAME_BYTES, MAX_TABLE_ELEMENTS, MAX_TABLES};

/// What a module that passed the checks offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The public methods, sorted: the `() -> ()` function exports other than `init`, `migrate`
    /// and the ignored `__`-prefixed names.
    pub methods: Vec<String>,
    /// Whether the module exports `init` (run once, in the deploy that creates the contract).
    pub has_init: bool,
    /// Whether the module exports `migrate` (run once, in the upgrade that installs this version).
    pub has_migrate: bool,
    /// The module's size in bytes.
    pub code_size: usize,
    /// The declared minimum of the linear memory, in 64 KiB pages.
    pub memory_min_pages: u32,
    /// The declared maximum of the linear memory, in pages (`None`: none declared; growth is
    /// still bounded by `max_memory_pages` at run time).
    pub memory_max_pages: Option<u32>,
}

/// Why a module is refused. Each has a stable snake_case [`CheckError::code`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Not a valid WebAssembly module (with the ABI's proposals), or one the interpreter cannot
    /// compile.
    #[error("not a valid WebAssembly module: {0}")]
    Malformed(String),
    /// The module uses floating point (an `f32`/`f64` instruction, local, global, parameter or
    /// result), which the ABI refuses (ADR 0012).
    #[error("the module uses floating point (f32/f64), which contracts may not (ADR 0012)")]
    FloatingPoint,
    /// An import that is not one of the ABI's functions of module `fdl`.
    #[error("unknown import {module}.{name}: a contract may import only the functions of module `fdl` in the ABI")]
    UnknownImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// An import of module `fdl` with a signature other than the ABI's.
    #[error("import fdl.{name} has signature {found}, the ABI's is {expected}")]
    ImportSignature {
        /// The function's name.
        name: String,
        /// The ABI's signature.
        expected: String,
        /// The module's.
        found: String,
    },
    /// An imported memory, table, global or tag (a contract has its own memory and imports only
    /// functions).
    #[error("import {module}.{name} is a {kind}: a contract may import only functions")]
    ForbiddenImport {
        /// What is imported: `memory`, `table`, `global` or `tag`.
        kind: String,
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// The module has a start function (code that would run at instantiation, outside any call).
    #[error("the module has a start function, which contracts may not")]
    StartFunction,
    /// The module does not export its linear memory as `memory`.
    #[error("the module does not export its linear memory as `memory`")]
    MissingMemory,
    /// An export that is not allowed.
    #[error("export `{name}`: {reason}")]
    BadExport {
        /// The export's name.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// No public method (`init` and `migrate` do not count).
    #[error("the module exports no method (init and migrate do not count)")]
    NoMethods,
    /// The module is larger than `max_code_bytes`.
    #[error("the module is {size} bytes, more than the limit of {limit}")]
    CodeTooLarge {
        /// The module's size.
        size: usize,
        /// The limit.
        limit: u32,
    },
    /// The memory's declared minimum or maximum is more than `max_memory_pages`.
    #[error("the memory declares {pages} pages, more than the limit of {limit}")]
    MemoryTooLarge {
        /// The declared minimum or maximum, whichever is over.
        pages: u64,
        /// The limit.
        limit: u32,
    },
    /// A table's declared minimum is more than [`MAX_TABLE_ELEMENTS`].
    #[error("a table declares {elements} elements, more than the limit of {limit}")]
    TableTooLarge {
        /// The declared minimum.
        elements: u64,
        /// The limit.
        limit: u32,
    },
    /// More tables than [`MAX_TABLES`].
    #[error("the module defines {count} tables, more than the limit of {limit}")]
    TooManyTables {
        /// How many the module defines.
        count: u32,
        /// The limit.
        limit: u32,
    },
}

impl CheckError {
    /// The stable snake_case code of this refusal (for receipts, the CLI and tests).
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::Malformed(_) => "malformed",
            CheckError::FloatingPoint => "floating_point",
            CheckError::UnknownImport { .. } => "unknown_import",
            CheckError::ImportSignature { .. } => "import_signature",
            CheckError::ForbiddenImport { .. } => "forbidden_import",
            CheckError::StartFunction => "start_function",
            CheckError::MissingMemory => "missing_memory",
            CheckError::BadExport { .. } => "bad_export",
            CheckError::NoMethods => "no_methods",
            CheckError::CodeTooLarge { .. } => "code_too_large",
            CheckError::MemoryTooLarge { .. } => "memory_too_large",
            CheckError::TableTooLarge { .. } => "table_too_large",
            CheckError::TooManyTables { .. } => "too_many_tables",
        }
    }
}

/// The WebAssembly features a contract may use: 1.0 plus what Rust's `wasm32-unknown-unknown`
/// emits by default (mutable globals, sign extension, multi-value, bulk memory, reference types),
/// with or without floating point. The wasmi configuration in `engine.rs` sets the same.
pub(crate) fn features(floats: bool) -> WasmFeatures {
    let mut f = WasmFeatures::empty();
    f.set(WasmFeatures::MUTABLE_GLOBAL, true);
    f.set(WasmFeatures::SIGN_EXTENSION, true);
    f.set(WasmFeatures::MULTI_VALUE, true);
    f.set(WasmFeatures::BULK_MEMORY, true);
    f.set(WasmFeatures::REFERENCE_TYPES, true);
    // Required by reference types in wasmparser (it gates `externref`), as wasmi sets it.
    f.set(WasmFeatures::GC_TYPES, true);
    f.set(WasmFeatures::FLOATS, floats);
    // Non-trapping float-to-int conversions are floating point.
    f.set(WasmFeatures::SATURATING_FLOAT_TO_INT, floats);
    f
}

/// Validates `code` with the ABI's features. A module that is valid only with floating point is
/// [`CheckError::FloatingPoint`]; one that is invalid either way is [`CheckError::Malformed`].
pub(crate) fn validate(code: &[u8]) -> Result<(), CheckError> {
    if Validator::new_with_features(features(false)).validate_all(code).is_ok() {
        return Ok(());
    }
    // Only on failure: is floating point the reason? (Validating again costs one more pass over a
    // module that is refused anyway.)
    match Validator::new_with_features(features(true)).validate_all(code) {
        Ok(_) => Err(CheckError::FloatingPoint),
        Err(e) => Err(CheckError::Malformed(e.to_string())),
    }
}

/// Whether `name` is a method name: `[a-z_][a-z0-9_]*`, at most 64 bytes.
pub(crate) fn is_method_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_EXPORT_NAME_BYTES
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn sig_text(params: &[ValType], results: &[ValType]) -> String {
    let list = |v: &[ValType]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ");
    format!("({}) -> ({})", list(params), list(results))
}

fn abi_sig_text(sig: &ImportSig) -> String {
    sig_text(&vec![ValType::I32; usize::from(sig.params)], sig.result.as_slice())
}

/// The structural checks (imports, start, memory, tables, exports) of a module that already
/// validated, and its [`ModuleInfo`]. With `limits`, the declared memory and tables are checked
/// against the bounds too (at deploy); without (at run time, for a module already deployed), the
/// bounds are enforced at instantiation instead.
pub(crate) fn inspect(code: &[u8], limits: Option<&Limits>) -> Result<ModuleInfo, CheckError> {
    let malformed = |e: wasmparser::BinaryReaderError| CheckError::Malformed(e.to_string());
    // Function types by type index (None: a GC type, which validation already refused).
    let mut types: Vec<Option<wasmparser::FuncType>> = Vec::new();
    // Type index of every function, imported ones first (the function index space).
    let mut funcs: Vec<u32> = Vec::new();
    let mut memory: Option<(u64, Option<u64>)> = None;
    let mut tables: u32 = 0;
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();

    for payload in Parser::new(0).parse_all(code) {
        match payload.map_err(malformed)? {
            Payload::TypeSection(reader) => {
                for rec_group in reader {
                    for sub in rec_group.map_err(malformed)?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(malformed)?;
                    let forbidden = |kind: &str| CheckError::ForbiddenImport {
                        kind: kind.into(),
                        module: import.module.into(),
                        name: import.name.into(),
                    };
                    let type_index = match import.ty {
                        TypeRef::Func(t) => t,
                        TypeRef::Memory(_) => return Err(forbidden("memory")),
                        TypeRef::Table(_) => return Err(forbidden("table")),
                        TypeRef::Global(_) => return Err(forbidden("global")),
                        TypeRef::Tag(_) => return Err(forbidden("tag")),
                    };
                    let abi =
                        (import.module == "fdl").then(|| ABI_IMPORTS.iter().find(|(n, _)| *n == import.name)).flatten();
                    let Some((name, sig)) = abi else {
                        return Err(CheckError::UnknownImport {
                            module: import.module.into(),
                            name: import.name.into(),
                        });
                    };
                    let found = types.get(type_index as usize).and_then(Option::as_ref).ok_or_else(|| {
                        CheckError::Malformed(format!("import {name}: no function type {type_index}"))
                    })?;
                    let params_ok = found.params().len() == usize::from(sig.params)
                        && found.params().iter().all(|t| *t == ValType::I32);
                    if !params_ok || found.results() != sig.result.as_slice() {
                        return Err(CheckError::ImportSignature {
                            name: (*name).into(),
                            expected: abi_sig_text(sig),
                            found: sig_text(found.params(), found.results()),
                        });
                    }
                    funcs.push(type_index);
                }
            }
            Payload::FunctionSection(reader) => {
                for type_index in reader {
                    funcs.push(type_index.map_err(malformed)?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(malformed)?;
                    tables += 1;
                    // Like the memory's, these bounds are enforced at instantiation too.
                    if limits.is_none() {
                        continue;
                    }
                    if tables > MAX_TABLES {
                        return Err(CheckError::TooManyTables { count: tables, limit: MAX_TABLES });
                    }
                    if table.ty.initial > u64::from(MAX_TABLE_ELEMENTS) {
                        return Err(CheckError::TableTooLarge {
                            elements: table.ty.initial,
                            limit: MAX_TABLE_ELEMENTS,
                        });
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader {
                    let mem = mem.map_err(malformed)?;
                    // Multi-memory is not among the ABI's features, so validation allows one.
                    memory = Some((mem.initial, mem.maximum));
                }
            }
            Payload::StartSection { .. } => return Err(CheckError::StartFunction),
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(malformed)?;
                    exports.push((export.name.into(), export.kind, export.index));
                }
            }
            _ => {}
        }
    }

    let mut info = ModuleInfo {
        methods: Vec::new(),
        has_init: false,
        has_migrate: false,
        code_size: code.len(),
        memory_min_pages: 0,
        memory_max_pages: None,
    };
    let mut memory_exported = false;
    for (name, kind, index) in exports {
        if name.starts_with("__") {
            continue; // toolchain helpers (`__data_end`, `__heap_base`, ...): ignored
        }
        let bad = |reason: &str| CheckError::BadExport { name: name.clone(), reason: reason.into() };
        if name == "memory" {
            if kind != ExternalKind::Memory {
                return Err(bad("`memory` must be the linear memory"));
            }
            memory_exported = true;
            continue;
        }
        if kind != ExternalKind::Func {
            return Err(bad("only functions `() -> ()` (methods) and `memory` may be exported"));
        }
        if !is_method_name(&name) {
            return Err(bad("a method name is [a-z_][a-z0-9_]*, at most 64 bytes"));
        }
        let ty = funcs
            .get(index as usize)
            .and_then(|t| types.get(*t as usize))
            .and_then(Option::as_ref)
            .ok_or_else(|| CheckError::Malformed(format!("export {name}: no function {index}")))?;
        if !ty.params().is_empty() || !ty.results().is_empty() {
            return Err(bad(&format!("a method must be `() -> ()`, this is {}", sig_text(ty.params(), ty.results()))));
        }
        match name.as_str() {
            "init" => info.has_init = true,
            "migrate" => info.has_migrate = true,
            _ => info.methods.push(name),
        }
    }
    let (Some((min, max)), true) = (memory, memory_exported) else {
        return Err(CheckError::MissingMemory);
    };
    if let Some(limits) = limits {
        let limit = limits.max_memory_pages;
        for pages in std::iter::once(min).chain(max) {
            if pages > u64::from(limit) {
                return Err(CheckError::MemoryTooLarge { pages, limit });
            }
        }
    }
    // 32-bit memories (memory64 is not among the ABI's features) have at most 65,536 pages.
    info.memory_min_pages = u32::try_from(min).unwrap_or(u32::MAX);
    info.memory_max_pages = max.map(|m| u32::try_from(m).unwrap_or(u32::MAX));
    if info.methods.is_empty() {
        return Err(CheckError::NoMethods);
    }
    info.methods.sort();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names() {
        for ok in ["a", "transfer", "_x", "balance_of2", &"a".repeat(64)] {
            assert!(is_method_name(ok), "{ok}");
        }
        for bad in ["", "A", "9a", "a-b", "a.b", "é", &"a".repeat(65)] {
            assert!(!is_method_name(bad), "{bad}");
        }
    }
}
