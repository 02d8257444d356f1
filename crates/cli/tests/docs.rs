//! The repository's documents hold: every cited `STD-x.y` exists in the standard's list
//! (`docs/standard-requirements.md`), and the README's set-up is the two commands, with the
//! toolchain file naming what they need.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Every `STD-x` / `STD-x.y` in `text` (a dot not followed by a digit ends a sentence).
fn cited(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("STD-") {
        let rest = &text.as_bytes()[i + 4..];
        let mut n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            continue;
        }
        if rest.get(n) == Some(&b'.') && rest.get(n + 1).is_some_and(u8::is_ascii_digit) {
            n += 1 + rest[n + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        }
        out.push(format!("STD-{}", String::from_utf8_lossy(&rest[..n])));
    }
    out
}

/// Text files under `dir` (skipping build output and hidden directories).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files(&p, out);
            }
        } else if [".rs", ".md", ".toml", ".sh"].iter().any(|x| name.ends_with(x)) {
            out.push(p);
        }
    }
}

#[test]
fn every_cited_standard_requirement_exists() {
    let root = repo();
    let list_path = root.join("docs/standard-requirements.md");
    let list: BTreeSet<String> = std::fs::read_to_string(&list_path)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("| STD-"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|id| format!("STD-{id}"))
        .collect();
    assert!(list.contains("STD-8.1") && list.contains("STD-17.2") && list.len() > 40, "{list:?}");
    let mut paths = vec![root.join("README.md")];
    for d in ["docs", "crates", "fuzz", "scripts"] {
        if root.join(d).is_dir() {
            files(&root.join(d), &mut paths);
        }
    }
    let mut unknown = Vec::new();
    let mut total = 0;
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for id in cited(&text) {
            total += 1;
            if !list.contains(&id) {
                unknown.push(format!("{}: {id}", p.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(total > 100, "the scan found only {total} citations");
    assert!(unknown.is_empty(), "cited but not in docs/standard-requirements.md:\n{}", unknown.join("\n"));
}

#[test]
fn citations_are_read_as_written() {
    // (The clause 7 id is spelled in two pieces so that this file does not cite it.)
    assert_eq!(
        cited(concat!("(STD-13.1, STD", "-7). See STD-13. And STD-16.1.")),
        ["STD-13.1", concat!("STD", "-7"), "STD-13", "STD-16.1"]
    );
    assert!(cited("STD-x").is_empty());
}

/// The README's set-up: exactly the two commands, which need no other step: the toolchain file
/// names the components and targets, and `.ci/run` runs the same test command.
#[test]
fn the_readme_sets_up_with_two_commands() {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme.split("## The two commands").nth(1).expect("a section `The two commands`");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    let commands: Vec<&str> =
        block.lines().map(|l| l.split('#').next().unwrap().trim()).filter(|l| !l.is_empty()).collect();
    assert_eq!(commands, ["cargo run --release -- devnet", "cargo test --workspace"], "{block}");
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml")).expect("rust-toolchain.toml");
    for needed in ["channel", "\"rustfmt\"", "\"clippy\"", "\"wasm32-unknown-unknown\""] {
        assert!(toolchain.contains(needed), "rust-toolchain.toml lacks {needed}: {toolchain}");
    }
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.trim() == "cargo test --workspace"), "CI runs the README's test command");
}
