//! Checks a built contract module against the ABI (`docs/contracts-abi.md`): no floating point
//! anywhere, imports only from `fdl` with the ABI's names and signatures, no start function, no
//! imported memory, table or global, and exports that are `memory`, `() -> ()` methods with valid
//! names, or `__`-prefixed toolchain helpers (ignored by the node, listed here).
//!
//! It builds nothing: set `FDL_CONTRACT_WASM` to one or more `.wasm` paths (separated by `:`),
//! e.g. after `scripts/build-contracts.sh`:
//!
//! ```sh
//! FDL_CONTRACT_WASM=target/wasm32-unknown-unknown/release/fdl_token.wasm \
//!     cargo test -p fdl-contract --test wasm_check -- --nocapture
//! ```
//!
//! Without it, only the checker's own test runs.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;

use wasmparser::{CompositeInnerType, ExternalKind, FuncType, Parser, Payload, TypeRef, ValType};

/// The ABI's imports: name, parameters, results.
const ABI_IMPORTS: &[(&str, &[ValType], &[ValType])] = {
    use ValType::{I32, I64};
    &[
        ("input", &[], &[I32]),
        ("read_result", &[I32], &[]),
        ("set_return", &[I32, I32], &[]),
        ("fail", &[I32, I32, I32, I32], &[]),
        ("storage_get", &[I32, I32], &[I32]),
        ("storage_set", &[I32, I32, I32, I32], &[]),
        ("storage_remove", &[I32, I32], &[]),
        ("storage_next", &[I32, I32, I32, I32], &[I32]),
        ("caller", &[], &[I32]),
        ("signer", &[], &[I32]),
        ("contract_info", &[], &[I32]),
        ("block_height", &[], &[I64]),
        ("block_time_ms", &[], &[I64]),
        ("emit", &[I32, I32, I32, I32], &[]),
        ("sm3", &[I32, I32, I32], &[]),
        ("sha256", &[I32, I32, I32], &[]),
        ("sm2_verify", &[I32, I32, I32, I32, I32, I32, I32, I32], &[I32]),
        ("ed25519_verify", &[I32, I32, I32, I32], &[I32]),
        ("call", &[I32, I32, I32, I32, I32, I32], &[I32]),
    ]
};

/// `(i32, i32) -> i32`.
fn signature(f: &FuncType) -> String {
    let list = |types: &[ValType]| types.iter().map(|t| format!("{t}")).collect::<Vec<_>>().join(", ");
    format!("({}) -> ({})", list(f.params()), list(f.results()))
}

/// Instructions beyond WebAssembly 1.0 (the ABI allows what rustc's target emits by default).
const POST_MVP: &[&str] = &[
    "MemoryCopy",
    "MemoryFill",
    "MemoryInit",
    "DataDrop",
    "I32Extend8S",
    "I32Extend16S",
    "I64Extend8S",
    "I64Extend16S",
    "I64Extend32S",
    "RefNull",
    "RefFunc",
    "RefIsNull",
    "TableGet",
    "TableSet",
    "TableGrow",
    "TableSize",
    "TableFill",
    "TableCopy",
    "TableInit",
    "ElemDrop",
    "TypedSelect",
    "ReturnCall",
    "ReturnCallIndirect",
];

fn is_float(t: &ValType) -> bool {
    matches!(t, ValType::F32 | ValType::F64)
}

fn valid_method_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && !name.starts_with("__")
        && b.iter().enumerate().all(|(i, &c)| c == b'_' || c.is_ascii_lowercase() || (i > 0 && c.is_ascii_digit()))
}

/// What the module holds, and what breaks the ABI.
#[derive(Default, Debug)]
struct Report {
    imports: Vec<String>,
    methods: Vec<String>,
    ignored_exports: Vec<String>,
    memory: String,
    functions: usize,
    instructions: usize,
    post_mvp: std::collections::BTreeSet<String>,
    problems: Vec<String>,
}

fn check(bytes: &[u8]) -> Report {
    let mut r = Report::default();
    if let Err(e) = wasmparser::Validator::new().validate_all(bytes) {
        r.problems.push(format!("invalid module: {e}"));
        return r;
    }
    let mut types: Vec<Option<FuncType>> = Vec::new();
    // Function index -> type index (imports first, as wasm numbers them).
    let mut func_types: Vec<u32> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                r.problems.push(format!("parse error: {e}"));
                return r;
            }
        };
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    let Ok(group) = group else { continue };
                    for sub in group.into_types() {
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                if f.params().iter().chain(f.results()).any(is_float) {
                                    r.problems.push(format!("floating point in a function type: {}", signature(f)));
                                }
                                types.push(Some(f.clone()));
                            }
                            _ => types.push(None),
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader {
                    let Ok(import) = import else { continue };
                    let what = format!("{}.{}", import.module, import.name);
                    match import.ty {
                        TypeRef::Func(t) => {
                            func_types.push(t);
                            let ty = types.get(t as usize).cloned().flatten();
                            let sig = ty.as_ref().map(signature).unwrap_or_default();
                            r.imports.push(format!("{what} {sig}"));
                            let expected = ABI_IMPORTS.iter().find(|(name, _, _)| *name == import.name);
                            match (import.module, expected, ty) {
                                ("fdl", Some((_, params, results)), Some(f))
                                    if f.params() == *params && f.results() == *results => {}
                                ("fdl", Some(_), _) => {
                                    r.problems.push(format!("import {what} has the wrong signature {sig}"))
                                }
                                _ => r.problems.push(format!("import {what} is not in the ABI")),
                            }
                        }
                        _ => r.problems.push(format!("import {what} is not a function")),
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader.into_iter().flatten() {
                    func_types.push(t);
                    r.functions += 1;
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader.into_iter().flatten() {
                    if is_float(&global.ty.content_type) {
                        r.problems.push("a floating-point global".into());
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.into_iter().flatten() {
                    r.memory = format!(
                        "{} pages initial ({} KiB), maximum {:?}",
                        memory.initial,
                        memory.initial * 64,
                        memory.maximum
                    );
                }
            }
            Payload::StartSection { .. } => r.problems.push("a start function".into()),
            Payload::ExportSection(reader) => {
                for export in reader.into_iter().flatten() {
                    exports.push((export.name.to_string(), export.kind, export.index));
                }
            }
            Payload::CodeSectionEntry(body) => {
                if let Ok(locals) = body.get_locals_reader() {
                    for local in locals.into_iter().flatten() {
                        if is_float(&local.1) {
                            r.problems.push("a floating-point local".into());
                        }
                    }
                }
                if let Ok(mut ops) = body.get_operators_reader() {
                    while !ops.eof() {
                        match ops.read() {
                            Ok(op) => {
                                r.instructions += 1;
                                let text = format!("{op:?}");
                                let name = text.split([' ', '{']).next().unwrap_or_default();
                                if POST_MVP.contains(&name) {
                                    r.post_mvp.insert(name.to_string());
                                }
                                if text.contains("F32") || text.contains("F64") {
                                    r.problems.push(format!("a floating-point instruction: {text}"));
                                }
                            }
                            Err(e) => {
                                r.problems.push(format!("unreadable code: {e}"));
                                break;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut has_memory = false;
    for (name, kind, index) in exports {
        if name.starts_with("__") {
            r.ignored_exports.push(format!("{name} ({kind:?})"));
            continue;
        }
        match kind {
            ExternalKind::Memory if name == "memory" => has_memory = true,
            ExternalKind::Func => {
                let ty = func_types.get(index as usize).and_then(|t| types.get(*t as usize)).cloned().flatten();
                let unit = ty.is_some_and(|f| f.params().is_empty() && f.results().is_empty());
                if !unit {
                    r.problems.push(format!("export {name} is not a () -> () function"));
                } else if !valid_method_name(&name) {
                    r.problems.push(format!("export {name} is not a valid method name"));
                }
                r.methods.push(name);
            }
            _ => r.problems.push(format!("export {name} ({kind:?}) is neither `memory` nor a method")),
        }
    }
    if !has_memory {
        r.problems.push("no exported `memory`".into());
    }
    r
}

#[test]
fn built_contracts_follow_the_abi() {
    let Ok(paths) = std::env::var("FDL_CONTRACT_WASM") else {
        println!("FDL_CONTRACT_WASM is not set: no built contract to check");
        return;
    };
    let mut failed = String::new();
    for path in paths.split(':').filter(|p| !p.is_empty()) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let r = check(&bytes);
        println!("{path}: {} bytes, {} functions, {} instructions", bytes.len(), r.functions, r.instructions);
        println!("  memory: {}", r.memory);
        println!("  imports: {}", r.imports.join(", "));
        println!("  methods: {}", r.methods.join(", "));
        println!("  post-MVP instructions: {:?}", r.post_mvp);
        println!("  ignored exports (`__` prefix): {}", r.ignored_exports.join(", "));
        for problem in &r.problems {
            println!("  PROBLEM: {problem}");
            let _ = writeln!(failed, "{path}: {problem}");
        }
    }
    assert!(failed.is_empty(), "modules break the ABI:\n{failed}");
}

/// The checker finds floating point and bad exports (a hand-assembled module).
#[test]
fn the_checker_finds_floats_and_bad_exports() {
    #[rustfmt::skip]
    let module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
        0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7d, // type 0: () -> f32
        0x03, 0x02, 0x01, 0x00, // function 0: type 0
        0x07, 0x05, 0x01, 0x01, b'f', 0x00, 0x00, // export "f" = function 0
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x43, 0x00, 0x00, 0x80, 0x3f, 0x0b, // f32.const 1.0
    ];
    let r = check(module);
    let problems = r.problems.join("\n");
    assert!(problems.contains("floating point in a function type"), "{problems}");
    assert!(problems.contains("a floating-point instruction: F32Const"), "{problems}");
    assert!(problems.contains("export f is not a () -> () function"), "{problems}");
    assert!(problems.contains("no exported `memory`"), "{problems}");
    assert!(check(b"\0asm").problems[0].contains("invalid module"));
}
