//! The static checks of `Engine::check` (ABI "The module"): each refusal is its own typed error.

#![allow(clippy::unwrap_used)]

mod support;

use fdl_vm_wasm::{CheckError, Engine, Limits, MAX_TABLE_ELEMENTS};
use support::{module, wat};

fn check(code: &[u8]) -> Result<fdl_vm_wasm::ModuleInfo, CheckError> {
    Engine::new().check(code, &Limits::default())
}

fn refused(code: &[u8]) -> CheckError {
    let e = check(code).expect_err("the module must be refused");
    assert!(!e.to_string().is_empty());
    e
}

/// A minimal module: memory and one method, plus `extra`.
fn minimal(extra: &str) -> Vec<u8> {
    wat(&format!(r#"(module {extra} (memory (export "memory") 1) (func (export "m")))"#))
}

#[test]
fn a_valid_module_is_described() {
    let code = module(
        r#"
        (func (export "transfer"))
        (func (export "balance_of"))
        (func (export "init"))
        (func (export "migrate"))
        (func (export "_private_but_public"))
        (global (export "__heap_base") i32 (i32.const 1024))
        (func (export "__toolchain_helper") (param i32) (result i32) (local.get 0))
        (table (export "__indirect_function_table") 1 funcref)
    "#,
    );
    let info = check(&code).unwrap();
    assert_eq!(info.methods, ["_private_but_public", "balance_of", "transfer"]);
    assert!(info.has_init && info.has_migrate);
    assert_eq!(info.code_size, code.len());
    assert_eq!((info.memory_min_pages, info.memory_max_pages), (1, None));

    let info = check(&wat(r#"(module (memory (export "memory") 2 8) (func (export "m")))"#)).unwrap();
    assert_eq!((info.memory_min_pages, info.memory_max_pages), (2, Some(8)));
    assert!(!info.has_init && !info.has_migrate);
}

#[test]
fn malformed_bytes_are_refused() {
    for bytes in [&b""[..], b"\0asm", b"hello world", b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff\x0f", &[0xff; 64]] {
        let e = refused(bytes);
        assert!(matches!(e, CheckError::Malformed(_)), "{e:?}");
        assert_eq!(e.code(), "malformed");
    }
    // Valid module header, then a truncated function body.
    let mut code = minimal("");
    code.truncate(code.len() - 3);
    assert!(matches!(refused(&code), CheckError::Malformed(_)));
}

#[test]
fn floating_point_is_refused_in_any_form() {
    let cases = [
        // an instruction
        r#"(func (export "f") (drop (f32.add (f32.const 1) (f32.const 2))))"#,
        // a parameter type only
        r#"(func $g (param f64))"#,
        // a result
        r#"(func $g (result f32) (unreachable))"#,
        // a local
        r#"(func $g (local f64))"#,
        // a global
        r#"(global $g f32 (f32.const 0))"#,
        // a conversion from an integer
        r#"(func $g (drop (f64.convert_i32_s (i32.const 1))))"#,
        // reinterpretation
        r#"(func $g (drop (i32.reinterpret_f32 (f32.const 0))))"#,
        // non-trapping float-to-int
        r#"(func $g (drop (i32.trunc_sat_f32_s (f32.const 0))))"#,
        // an imported function type
        r#"(type $t (func (param f32)))"#,
    ];
    for case in cases {
        let e = refused(&minimal(case));
        assert_eq!(e, CheckError::FloatingPoint, "{case}");
        assert_eq!(e.code(), "floating_point");
    }
}

#[test]
fn unknown_imports_are_refused() {
    let e = refused(&minimal(r#"(import "env" "input" (func (result i32)))"#));
    assert_eq!(e, CheckError::UnknownImport { module: "env".into(), name: "input".into() });
    assert_eq!(e.code(), "unknown_import");
    let e = refused(&minimal(r#"(import "fdl" "random" (func (result i32)))"#));
    assert_eq!(e, CheckError::UnknownImport { module: "fdl".into(), name: "random".into() });
    let e = refused(&minimal(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
    ));
    assert_eq!(e.code(), "unknown_import");
}

#[test]
fn wrong_import_signatures_are_refused() {
    for (import, name) in [
        (r#"(import "fdl" "input" (func (result i64)))"#, "input"),
        (r#"(import "fdl" "input" (func))"#, "input"),
        (r#"(import "fdl" "read_result" (func (param i64)))"#, "read_result"),
        (r#"(import "fdl" "storage_get" (func (param i32 i32)))"#, "storage_get"),
        (r#"(import "fdl" "block_height" (func (result i32)))"#, "block_height"),
        (r#"(import "fdl" "call" (func (param i32 i32 i32 i32 i32) (result i32)))"#, "call"),
        (r#"(import "fdl" "fail" (func (param i32 i32 i32 i32) (result i32)))"#, "fail"),
    ] {
        let e = refused(&minimal(import));
        let CheckError::ImportSignature { name: got, expected, found } = &e else { panic!("{import}: {e:?}") };
        assert_eq!(got, name);
        assert_ne!(expected, found);
        assert_eq!(e.code(), "import_signature");
    }
    // Every ABI import with the right signature is accepted.
    check(&module(r#"(func (export "m"))"#)).unwrap();
}

#[test]
fn imported_memory_tables_and_globals_are_refused() {
    for (import, kind) in [
        (r#"(import "fdl" "memory" (memory 1))"#, "memory"),
        (r#"(import "fdl" "table" (table 1 funcref))"#, "table"),
        (r#"(import "fdl" "global" (global i32))"#, "global"),
    ] {
        let code = wat(&format!(r#"(module {import} (func (export "m")))"#));
        let e = refused(&code);
        assert!(matches!(&e, CheckError::ForbiddenImport { kind: k, .. } if k == kind), "{e:?}");
        assert_eq!(e.code(), "forbidden_import");
    }
}

#[test]
fn a_start_function_is_refused() {
    let e = refused(&minimal(r#"(func $s) (start $s)"#));
    assert_eq!(e, CheckError::StartFunction);
    assert_eq!(e.code(), "start_function");
}

#[test]
fn memory_must_be_exported() {
    let e = refused(&wat(r#"(module (memory 1) (func (export "m")))"#));
    assert_eq!(e, CheckError::MissingMemory);
    assert_eq!(e.code(), "missing_memory");
    assert_eq!(refused(&wat(r#"(module (func (export "m")))"#)), CheckError::MissingMemory);
    // Under another name it is a bad export.
    let e = refused(&wat(r#"(module (memory (export "mem") 1) (func (export "m")))"#));
    assert!(matches!(e, CheckError::BadExport { ref name, .. } if name == "mem"), "{e:?}");
}

#[test]
fn bad_exports_are_refused() {
    for (extra, name) in [
        (r#"(func (export "with_param") (param i32))"#, "with_param"),
        (r#"(func (export "with_result") (result i32) (i32.const 0))"#, "with_result"),
        (r#"(func (export "Transfer"))"#, "Transfer"),
        (r#"(func (export "9lives"))"#, "9lives"),
        (r#"(func (export "a-b"))"#, "a-b"),
        (r#"(func (export "")) "#, ""),
        (r#"(global (export "counter") i32 (i32.const 0))"#, "counter"),
        (r#"(table (export "tab") 1 funcref)"#, "tab"),
    ] {
        let e = refused(&minimal(extra));
        assert!(matches!(&e, CheckError::BadExport { name: n, .. } if n == name), "{extra}: {e:?}");
        assert_eq!(e.code(), "bad_export");
    }
    let long = "a".repeat(65);
    let e = refused(&minimal(&format!(r#"(func (export "{long}"))"#)));
    assert!(matches!(e, CheckError::BadExport { .. }));
    check(&minimal(&format!(r#"(func (export "{}"))"#, "a".repeat(64)))).unwrap();
    // `memory` must be the memory.
    let e = refused(&wat(r#"(module (memory 1) (export "memory" (func $f)) (export "mem" (memory 0)) (func $f))"#));
    assert!(matches!(e, CheckError::BadExport { ref name, .. } if name == "memory"), "{e:?}");
}

#[test]
fn a_module_needs_a_method() {
    let e = refused(&wat(r#"(module (memory (export "memory") 1) (func (export "init")) (func (export "migrate")))"#));
    assert_eq!(e, CheckError::NoMethods);
    assert_eq!(e.code(), "no_methods");
    assert_eq!(refused(&wat(r#"(module (memory (export "memory") 1))"#)), CheckError::NoMethods);
}

#[test]
fn code_size_is_limited() {
    let code = minimal("");
    let limits = Limits { max_code_bytes: code.len() as u32 - 1, ..Limits::default() };
    let e = Engine::new().check(&code, &limits).unwrap_err();
    assert_eq!(e, CheckError::CodeTooLarge { size: code.len(), limit: limits.max_code_bytes });
    assert_eq!(e.code(), "code_too_large");
    let limits = Limits { max_code_bytes: code.len() as u32, ..Limits::default() };
    Engine::new().check(&code, &limits).unwrap();
}

#[test]
fn declared_memory_is_limited() {
    let limit = Limits::default().max_memory_pages;
    // A memory bomb by declaration: 60,000 pages (3.75 GiB) as the minimum.
    let e = refused(&wat(r#"(module (memory (export "memory") 60000) (func (export "m")))"#));
    assert_eq!(e, CheckError::MemoryTooLarge { pages: 60000, limit });
    assert_eq!(e.code(), "memory_too_large");
    // The declared maximum counts too.
    let over = limit + 1;
    let e = refused(&wat(&format!(r#"(module (memory (export "memory") 1 {over}) (func (export "m")))"#)));
    assert_eq!(e, CheckError::MemoryTooLarge { pages: u64::from(over), limit });
    check(&wat(&format!(r#"(module (memory (export "memory") {limit} {limit}) (func (export "m")))"#))).unwrap();
}

#[test]
fn declared_tables_are_limited() {
    let e = refused(&minimal(&format!("(table {} funcref)", MAX_TABLE_ELEMENTS + 1)));
    assert_eq!(e, CheckError::TableTooLarge { elements: u64::from(MAX_TABLE_ELEMENTS) + 1, limit: MAX_TABLE_ELEMENTS });
    assert_eq!(e.code(), "table_too_large");
    check(&minimal(&format!("(table {MAX_TABLE_ELEMENTS} funcref)"))).unwrap();
    let many: String = (0..17).map(|_| "(table 1 funcref)").collect();
    let e = refused(&minimal(&many));
    assert_eq!(e.code(), "too_many_tables");
}

#[test]
fn proposals_outside_the_abi_are_refused() {
    for extra in [
        // memory64
        r#"(memory $m64 i64 1)"#,
        // tail calls
        r#"(func $t (return_call $t))"#,
        // multi-memory (a second memory)
        r#"(memory $second 1)"#,
    ] {
        let e = refused(&minimal(extra));
        assert!(matches!(e, CheckError::Malformed(_)), "{extra}: {e:?}");
    }
    // The ones Rust emits by default are accepted: sign extension, bulk memory, multi-value,
    // mutable globals, reference types.
    check(&minimal(
        r#"
        (global $g (mut i32) (i32.const 0))
        (func $se (result i32) (i32.extend8_s (i32.const 255)))
        (func $bulk (memory.copy (i32.const 0) (i32.const 8) (i32.const 8)) (memory.fill (i32.const 0) (i32.const 0) (i32.const 4)))
        (func $mv (result i32 i64) (i32.const 1) (i64.const 2))
        (table $tab 1 funcref)
        (func $rt (drop (ref.null func)))
    "#,
    ))
    .unwrap();
}

#[test]
fn every_error_has_a_distinct_stable_code() {
    let errors = [
        CheckError::Malformed(String::new()),
        CheckError::FloatingPoint,
        CheckError::UnknownImport { module: String::new(), name: String::new() },
        CheckError::ImportSignature { name: String::new(), expected: String::new(), found: String::new() },
        CheckError::ForbiddenImport { kind: String::new(), module: String::new(), name: String::new() },
        CheckError::StartFunction,
        CheckError::MissingMemory,
        CheckError::BadExport { name: String::new(), reason: String::new() },
        CheckError::NoMethods,
        CheckError::CodeTooLarge { size: 0, limit: 0 },
        CheckError::MemoryTooLarge { pages: 0, limit: 0 },
        CheckError::TableTooLarge { elements: 0, limit: 0 },
        CheckError::TooManyTables { count: 0, limit: 0 },
    ];
    let mut codes: Vec<_> = errors.iter().map(CheckError::code).collect();
    assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), errors.len());
}
