//! Compiling Solidity with solc, for `fdl contract deploy --sol` and the EVM tests.
//!
//! The compiler is solcjs (the npm package `solc`, the compiler built to JavaScript), pinned and
//! installed by `scripts/setup.sh` into the repository's git-ignored `.tools/solc`; it runs
//! offline. [`find`] looks for it (or for a native `solc`), [`compile`] runs it in standard-JSON
//! mode (JSON on stdin, JSON on stdout: the only mode of solcjs that takes an EVM version) and
//! [`pick`] chooses the contract to deploy. Compile for the EVM version the engine runs (the
//! crate's `SOLC_EVM_VERSION`); the tests use `cancun`, which every engine version accepts.
//!
//! Imports are resolved relative to the compiled file's directory (`--base-path`), so
//! `import {Fdl} from "./Fdl.sol";` works beside `contracts/solidity/Fdl.sol`. A library whose
//! functions are all `internal` (like `Fdl`) is inlined into the contracts that use it; a contract
//! that would need a deployed library linked in is refused ([`SolcError::Failed`]): FDL deploys one
//! contract at a time and links nothing.
//!
//! ```ignore
//! let solc = solc::find(Path::new("."))?;
//! let file = Path::new("contracts/solidity/Token.sol");
//! let token = solc::pick(solc::compile(&solc, file, "cancun")?, file, None)?;
//! println!("{}: {} bytes of creation code", token.name, token.bytecode.len());
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where `scripts/setup.sh` installs solcjs, relative to the repository's root.
pub const SOLCJS_IN_REPO: &str = ".tools/solc/node_modules/.bin/solcjs";

/// The environment variable naming the solcjs (or solc) to use.
pub const SOLCJS_ENV: &str = "FDL_SOLCJS";

/// The optimiser's `runs` setting: solc's default, a balance of deploy and call cost.
pub const OPTIMIZER_RUNS: u32 = 200;

/// A compiled contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The contract's name, e.g. `Token`.
    pub name: String,
    /// Its creation code (constructor and runtime), without constructor arguments.
    pub bytecode: Vec<u8>,
    /// Its ABI, the JSON text solc gives (an array).
    pub abi: String,
}

/// Why Solidity could not be compiled or a contract chosen.
#[derive(Debug, thiserror::Error)]
pub enum SolcError {
    /// No compiler: where it was looked for, and the fix.
    #[error("Solidity compiler not found: {0}")]
    NotFound(String),
    /// The compiler refused the source (its error messages), or the contract needs linking.
    #[error("Solidity compilation failed:\n{0}")]
    Failed(String),
    /// No contract with bytecode, or none of the given name.
    #[error("{0}")]
    NoContract(String),
    /// Several contracts and nothing to choose one: their names.
    #[error("several contracts ({}): name the one to deploy", .0.join(", "))]
    Ambiguous(Vec<String>),
    /// Reading the source or running the compiler.
    #[error("running the Solidity compiler: {0}")]
    Io(#[from] std::io::Error),
    /// The compiler's output was not what standard JSON promises.
    #[error("unexpected output from the Solidity compiler: {0}")]
    Output(String),
}

/// Finds solcjs: `$FDL_SOLCJS`, then `.tools/solc/node_modules/.bin/solcjs` under `root` and its
/// ancestors (the repository), then `solcjs` and `solc` on `PATH` (a native `solc` takes the same
/// standard-JSON input via `--standard-json`).
pub fn find(root: &Path) -> Result<PathBuf, SolcError> {
    let mut looked = Vec::new();
    if let Some(v) = std::env::var_os(SOLCJS_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(v);
        if p.is_file() {
            return Ok(p);
        }
        // An explicit choice that does not exist is an error, not a reason to take another compiler.
        return Err(SolcError::NotFound(format!(
            "${SOLCJS_ENV} is {} but no such file exists: fix it, or unset it and run scripts/setup.sh",
            p.display()
        )));
    }
    let start = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    for dir in start.ancestors() {
        let p = dir.join(SOLCJS_IN_REPO);
        if p.is_file() {
            return Ok(p);
        }
    }
    looked.push(format!("{} under {} and its parents", SOLCJS_IN_REPO, start.display()));
    for name in ["solcjs", "solc"] {
        if let Some(p) = on_path(name) {
            return Ok(p);
        }
    }
    looked.push("solcjs and solc on PATH".to_string());
    Err(SolcError::NotFound(format!(
        "looked for ${SOLCJS_ENV}, {}; run scripts/setup.sh in the repository (it installs solcjs into .tools/solc, \
         needs node and npm), or set ${SOLCJS_ENV}",
        looked.join(", ")
    )))
}

/// `name` in a directory of `PATH`, if there is such a file.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Compiles `file` (imports resolved relative to its directory) with optimisation on and
/// `evm_version` (e.g. `"cancun"`); answers every contract in it that has bytecode (interfaces and
/// abstract contracts have none), sorted by name. Contracts of imported files are not answered.
pub fn compile(solc: &Path, file: &Path, evm_version: &str) -> Result<Vec<Compiled>, SolcError> {
    let source = std::fs::read_to_string(file)
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", file.display())))?;
    let unit = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| SolcError::NoContract(format!("{} is not a Solidity file name", file.display())))?
        .to_string();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let input = serde_json::json!({
        "language": "Solidity",
        "sources": { &unit: { "content": source } },
        "settings": {
            "optimizer": { "enabled": true, "runs": OPTIMIZER_RUNS },
            "evmVersion": evm_version,
            "outputSelection": {
                "*": { "*": ["abi", "evm.bytecode.object", "evm.bytecode.linkReferences"] }
            }
        }
    });
    let stdout = run(solc, &dir, input.to_string().into_bytes())?;
    parse_output(&stdout, &unit)
}

/// Runs the compiler in standard-JSON mode on `input`, with `dir` as the base path of imports;
/// answers its standard output.
fn run(solc: &Path, dir: &Path, input: Vec<u8>) -> Result<String, SolcError> {
    let mut child = Command::new(solc)
        .arg("--standard-json")
        .arg("--base-path")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("starting {}: {e}", solc.display())))?;
    // Written from a thread so that a compiler answering before it read everything cannot block us.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    // A compiler that exits without reading its input breaks the pipe: its output tells why.
    let written = writer.join().unwrap_or(Ok(()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(SolcError::Failed(format!(
            "{} exited with {}: {}{}",
            solc.display(),
            out.status,
            stderr.trim(),
            if stdout.trim().is_empty() { String::new() } else { format!("\n{}", stdout.trim()) }
        )));
    }
    written?;
    Ok(stdout)
}

/// Reads standard-JSON output: solc's errors, or the contracts of the source unit `unit`.
fn parse_output(stdout: &str, unit: &str) -> Result<Vec<Compiled>, SolcError> {
    // solcjs may print notes before the JSON (">>> Cannot retry compilation with SMT ..."): the
    // JSON starts on the first line that starts with '{'.
    let start = stdout
        .lines()
        .scan(0usize, |off, line| {
            let here = *off;
            *off += line.len() + 1;
            Some((here, line))
        })
        .find(|(_, line)| line.starts_with('{'))
        .map(|(off, _)| off)
        .ok_or_else(|| SolcError::Output(format!("no JSON in: {}", clip(stdout))))?;
    let out: serde_json::Value = serde_json::from_str(&stdout[start..])
        .map_err(|e| SolcError::Output(format!("{e}: {}", clip(&stdout[start..]))))?;

    let errors: Vec<String> = out
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|e| e.get("severity").and_then(|s| s.as_str()) == Some("error"))
        .map(|e| {
            e.get("formattedMessage")
                .or_else(|| e.get("message"))
                .and_then(|m| m.as_str())
                .unwrap_or("(an error without a message)")
                .trim_end()
                .to_string()
        })
        .collect();
    if !errors.is_empty() {
        return Err(SolcError::Failed(errors.join("\n")));
    }

    let Some(contracts) = out.get("contracts").and_then(|c| c.get(unit)).and_then(|c| c.as_object()) else {
        // No contract at all in the file (only imports, free functions, or nothing).
        return Ok(Vec::new());
    };
    let mut compiled = Vec::new();
    for (name, c) in contracts {
        let bytecode = c.pointer("/evm/bytecode");
        let object = bytecode
            .and_then(|b| b.get("object"))
            .and_then(|o| o.as_str())
            .ok_or_else(|| SolcError::Output(format!("contract {name} has no evm.bytecode.object")))?;
        if object.is_empty() {
            continue; // an interface or an abstract contract
        }
        let links: Vec<String> = bytecode
            .and_then(|b| b.get("linkReferences"))
            .and_then(|l| l.as_object())
            .map(|files| {
                files
                    .iter()
                    .flat_map(|(f, libs)| libs.as_object().into_iter().flatten().map(move |(l, _)| format!("{f}:{l}")))
                    .collect()
            })
            .unwrap_or_default();
        if !links.is_empty() || object.contains("__$") {
            return Err(SolcError::Failed(format!(
                "contract {name} needs the deployed library {} linked in; FDL links no libraries: make the \
                 library's functions internal so that it is inlined",
                if links.is_empty() { "(unnamed)".to_string() } else { links.join(", ") }
            )));
        }
        let bytecode = from_hex(object)
            .ok_or_else(|| SolcError::Output(format!("contract {name}: bytecode is not hex: {}", clip(object))))?;
        let abi = c.get("abi").cloned().unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
        compiled.push(Compiled { name: name.clone(), bytecode, abi: abi.to_string() });
    }
    compiled.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(compiled)
}

/// Decodes hex digits (an optional `0x` first), `None` when they are not.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.strip_prefix("0x").unwrap_or(s).as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2).map(|p| Some((digit(p[0])? << 4) | digit(p[1])?)).collect()
}

/// The start of a long text, for an error message.
fn clip(s: &str) -> String {
    const MAX: usize = 400;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// Picks `want`, or the only contract, or the contract named like the file (`Token.sol` →
/// `Token`); else [`SolcError::Ambiguous`] (several) or [`SolcError::NoContract`] (none, or none
/// named `want`).
pub fn pick(compiled: Vec<Compiled>, file: &Path, want: Option<&str>) -> Result<Compiled, SolcError> {
    let names = || compiled.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    if let Some(want) = want {
        let have = names();
        return compiled.into_iter().find(|c| c.name == want).ok_or_else(|| {
            SolcError::NoContract(if have.is_empty() {
                format!("no contract {want} in {}: it has no contract with bytecode", file.display())
            } else {
                format!("no contract {want} in {}; it has {}", file.display(), have.join(", "))
            })
        });
    }
    if compiled.is_empty() {
        return Err(SolcError::NoContract(format!(
            "no contract with bytecode in {} (interfaces and abstract contracts have none)",
            file.display()
        )));
    }
    if compiled.len() == 1 {
        return Ok(compiled.into_iter().next().expect("one contract"));
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let have = names();
    compiled.into_iter().find(|c| c.name == stem).ok_or(SolcError::Ambiguous(have))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The repository's root: the first ancestor of this crate (or of this file) with
    /// `contracts/solidity`.
    fn repo_root() -> PathBuf {
        let here = Path::new(file!());
        let starts = [PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::absolute(here).unwrap_or_default()];
        starts
            .iter()
            .flat_map(|s| s.ancestors().map(Path::to_path_buf).collect::<Vec<_>>())
            .find(|d| d.join("contracts/solidity/Fdl.sol").is_file())
            .expect("the repository's contracts/solidity")
    }

    /// The compiler, or `None` (with a note) when it is not installed.
    fn solc() -> Option<PathBuf> {
        match find(&repo_root()) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("note: skipped, no Solidity compiler: {e}");
                None
            }
        }
    }

    /// A new directory for a test's sources.
    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fdl-solc-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn compiled(name: &str) -> Compiled {
        Compiled { name: name.to_string(), bytecode: vec![0x60, 0x00], abi: "[]".to_string() }
    }

    #[test]
    fn token_compiles_with_its_abi() {
        let Some(solc) = solc() else { return };
        let file = repo_root().join("contracts/solidity/Token.sol");
        let all = compile(&solc, &file, "cancun").unwrap();
        // Only Token.sol's own contracts: Fdl (imported, inlined) is not among them.
        assert_eq!(all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Token"]);
        let token = pick(all, &file, None).unwrap();
        assert_eq!(token.name, "Token");
        assert!(token.bytecode.len() > 100, "creation code: {} bytes", token.bytecode.len());
        let abi: serde_json::Value = serde_json::from_str(&token.abi).unwrap();
        let functions: Vec<&str> = abi.as_array().unwrap().iter().filter_map(|f| f["name"].as_str()).collect();
        for f in ["mint", "transfer", "balanceOf", "approve", "transferFrom", "totalSupply", "Transfer"] {
            assert!(functions.contains(&f), "{f} missing from {functions:?}");
        }
        // The constructor takes nothing: deployable without arguments.
        let ctor = abi.as_array().unwrap().iter().find(|f| f["type"] == "constructor").unwrap();
        assert_eq!(ctor["inputs"].as_array().unwrap().len(), 0);
    }

    #[test]
    fn invoice_registry_compiles_and_is_picked_by_name() {
        let Some(solc) = solc() else { return };
        let file = repo_root().join("contracts/solidity/InvoiceRegistry.sol");
        let reg = pick(compile(&solc, &file, "cancun").unwrap(), &file, Some("InvoiceRegistry")).unwrap();
        assert_eq!(reg.name, "InvoiceRegistry");
        assert!(!reg.bytecode.is_empty());
        for f in ["\"register\"", "\"reimburse\"", "\"status\"", "\"Reimbursed\""] {
            assert!(reg.abi.contains(f), "{f} missing from {}", reg.abi);
        }
    }

    #[test]
    fn a_syntax_error_fails_with_its_line() {
        let Some(solc) = solc() else { return };
        let dir = temp_dir("syntax");
        let file = dir.join("Broken.sol");
        std::fs::write(
            &file,
            "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.20;\ncontract Broken {\n    uint x = ;\n}\n",
        )
        .unwrap();
        let err = compile(&solc, &file, "cancun").unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        let SolcError::Failed(msg) = err else { panic!("expected Failed, got {err:?}") };
        assert!(msg.contains("Broken.sol:4:"), "no line 4 in: {msg}");
        assert!(msg.contains("ParserError"), "{msg}");
    }

    #[test]
    fn several_contracts_need_a_name_and_interfaces_are_skipped() {
        let Some(solc) = solc() else { return };
        let dir = temp_dir("several");
        let file = dir.join("Several.sol");
        std::fs::write(
            &file,
            "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.20;\n\
             interface I { function f() external; }\n\
             abstract contract Base { function g() external virtual; }\n\
             contract A is I { function f() external {} }\n\
             contract B { function h() external pure returns (uint) { return 1; } }\n",
        )
        .unwrap();
        let all = compile(&solc, &file, "cancun");
        let _ = std::fs::remove_dir_all(&dir);
        let all = all.unwrap();
        assert_eq!(all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["A", "B"]);
        match pick(all.clone(), &file, None) {
            Err(SolcError::Ambiguous(names)) => assert_eq!(names, ["A", "B"]),
            other => panic!("expected Ambiguous, got {other:?}"),
        }
        assert_eq!(pick(all.clone(), &file, Some("B")).unwrap().name, "B");
        assert!(matches!(pick(all, &file, Some("I")), Err(SolcError::NoContract(_))));
    }

    #[test]
    fn a_contract_needing_a_linked_library_is_refused() {
        let Some(solc) = solc() else { return };
        let dir = temp_dir("link");
        let file = dir.join("Linked.sol");
        std::fs::write(
            &file,
            "// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.20;\n\
             library L { function twice(uint x) external pure returns (uint) { return 2 * x; } }\n\
             contract Linked { function f(uint x) external pure returns (uint) { return L.twice(x); } }\n",
        )
        .unwrap();
        let err = compile(&solc, &file, "cancun").unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        let SolcError::Failed(msg) = err else { panic!("expected Failed, got {err:?}") };
        assert!(msg.contains("Linked") && msg.contains("Linked.sol:L"), "{msg}");
    }

    #[test]
    fn an_unknown_evm_version_fails() {
        let Some(solc) = solc() else { return };
        let file = repo_root().join("contracts/solidity/Fdl.sol");
        assert!(matches!(compile(&solc, &file, "no-such-fork"), Err(SolcError::Failed(_))));
    }

    #[test]
    fn pick_prefers_the_wanted_the_only_then_the_file_named_contract() {
        let file = Path::new("dir/Token.sol");
        assert_eq!(pick(vec![compiled("X")], file, None).unwrap().name, "X");
        assert_eq!(pick(vec![compiled("Fdl"), compiled("Token")], file, None).unwrap().name, "Token");
        assert_eq!(pick(vec![compiled("Fdl"), compiled("Token")], file, Some("Fdl")).unwrap().name, "Fdl");
        match pick(vec![compiled("A"), compiled("B")], file, None) {
            Err(SolcError::Ambiguous(names)) => assert_eq!(names, ["A", "B"]),
            other => panic!("expected Ambiguous, got {other:?}"),
        }
        assert!(matches!(pick(vec![], file, None), Err(SolcError::NoContract(_))));
        let err = pick(vec![compiled("A")], file, Some("Token")).unwrap_err();
        assert!(matches!(err, SolcError::NoContract(ref m) if m.contains("it has A")), "{err}");
    }

    #[test]
    fn output_notes_before_the_json_are_skipped() {
        let out = ">>> Cannot retry compilation with SMT because there are no SMT solvers available.\n\
                   {\"contracts\":{\"T.sol\":{\"T\":{\"abi\":[],\"evm\":{\"bytecode\":{\"object\":\"6001\",\"linkReferences\":{}}}},\
                   \"I\":{\"abi\":[],\"evm\":{\"bytecode\":{\"object\":\"\",\"linkReferences\":{}}}}}}}\n";
        let c = parse_output(out, "T.sol").unwrap();
        assert_eq!(c, vec![Compiled { name: "T".into(), bytecode: vec![0x60, 0x01], abi: "[]".into() }]);
        assert!(matches!(parse_output("nothing", "T.sol"), Err(SolcError::Output(_))));
        let failed = "{\"errors\":[{\"severity\":\"warning\",\"formattedMessage\":\"w\"},{\"severity\":\"error\",\"formattedMessage\":\"E at T.sol:3:1\"}]}";
        assert!(matches!(parse_output(failed, "T.sol"), Err(SolcError::Failed(m)) if m == "E at T.sol:3:1"));
        assert_eq!(from_hex("0x0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(from_hex("abc"), None);
    }

    #[test]
    fn find_answers_the_repository_install_or_explains() {
        match find(&repo_root().join("crates")) {
            Ok(p) => assert!(p.is_file()),
            Err(SolcError::NotFound(m)) => assert!(m.contains("scripts/setup.sh"), "{m}"),
            Err(e) => panic!("{e}"),
        }
    }
}
