//! The directories `fdl init` and `fdl devnet` write into: new or empty ones only, so that a
//! mistyped `--dir` (a home directory, `/etc`) is refused before anything is written in it.

use std::path::Path;

use anyhow::{Context as _, bail};

/// How many entries of a refused directory the error names.
const SHOWN: usize = 5;

/// The names of the entries in `dir` (sorted), or none when it does not exist.
fn entries(dir: &Path) -> anyhow::Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.with_context(|| format!("reading {}", dir.display()))?;
        let mut name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

fn listing(names: &[&String]) -> String {
    let shown: Vec<&str> = names.iter().take(SHOWN).map(|s| s.as_str()).collect();
    let more = names.len().saturating_sub(SHOWN);
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

/// Refuses `dir` unless it does not exist, is empty, or holds only the entries `allowed` accepts.
/// `what` names what the command would create there; `hint` says what to do instead.
pub fn require_fresh(dir: &Path, what: &str, hint: &str, allowed: impl Fn(&Path, &str) -> bool) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{} is a file, not a directory: choose a new directory for {what}", dir.display());
    }
    let names = entries(dir)?;
    let foreign: Vec<&String> = names.iter().filter(|n| !allowed(dir, n.trim_end_matches('/'))).collect();
    if foreign.is_empty() {
        return Ok(());
    }
    bail!(
        "{} is not empty and holds no FDL {what} (found: {}); nothing was written. {hint}",
        dir.display(),
        listing(&foreign)
    )
}

/// `fdl devnet --dir DIR` and `fdl init --dir DIR` (a chain or a local network): DIR is new or
/// empty. (A directory that already holds a network is told apart by the caller: its
/// `genesis.json`.)
pub fn require_fresh_network_dir(dir: &Path, command: &str) -> anyhow::Result<()> {
    let hint = format!(
        "Use a new or empty directory (e.g. `{command} --dir {}`), or one that an earlier `{command}` created.",
        dir.join("fdl").display()
    );
    require_fresh(dir, "network", &hint, |_, _| false)
}

/// `fdl init --org --dir DIR`: DIR is new or empty, except for the institution's CA directory
/// `ca/` (from `fdl ca init`), which the node's certificate is then issued from.
pub fn require_fresh_node_dir(dir: &Path) -> anyhow::Result<()> {
    let hint = format!(
        "Use a new or empty directory for the node (e.g. `fdl init --org ... --dir {}`).",
        dir.join("node").display()
    );
    require_fresh(dir, "node", &hint, |d, n| n == "ca" && d.join("ca").join("ca.pem").is_file())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn new_and_empty_directories_pass_others_are_refused_with_what_was_found() {
        let d = tempfile::tempdir().unwrap();
        assert!(require_fresh_network_dir(&d.path().join("new"), "fdl devnet").is_ok());
        assert!(require_fresh_network_dir(d.path(), "fdl devnet").is_ok());
        std::fs::write(d.path().join("notes.txt"), b"mine").unwrap();
        std::fs::create_dir(d.path().join("photos")).unwrap();
        let e = require_fresh_network_dir(d.path(), "fdl devnet").unwrap_err().to_string();
        assert!(e.contains("found: notes.txt, photos/"), "{e}");
        assert!(e.contains("nothing was written"), "{e}");
        let f = d.path().join("notes.txt");
        assert!(require_fresh_network_dir(&f, "fdl init").unwrap_err().to_string().contains("is a file"));
    }

    #[test]
    fn a_node_directory_may_hold_its_institutions_ca() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("ca")).unwrap();
        // An empty `ca/` is not a CA.
        assert!(require_fresh_node_dir(d.path()).is_err());
        std::fs::write(d.path().join("ca").join("ca.pem"), b"-").unwrap();
        assert!(require_fresh_node_dir(d.path()).is_ok());
        std::fs::write(d.path().join(".bashrc"), b"-").unwrap();
        assert!(require_fresh_node_dir(d.path()).unwrap_err().to_string().contains("found: .bashrc"));
    }
}
