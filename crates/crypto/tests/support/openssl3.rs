//! The OpenSSL 3 check the interop tests share (included with `#[path]` by the crypto, pki and
//! cli tests): a test that runs the `openssl` command says what to install when it is missing.

/// What to install when the `openssl` command (3.x) is missing.
pub const INSTALL_OPENSSL: &str = "install OpenSSL 3: `apt-get install openssl` (Debian, Ubuntu), \
     `dnf install openssl` (Fedora), `brew install openssl@3` (macOS)";

/// Panics, saying what to install, unless `openssl version` reports OpenSSL 3.x (checked once).
pub fn require_openssl3() {
    static CHECKED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let problem = CHECKED.get_or_init(|| match std::process::Command::new("openssl").arg("version").output() {
        Err(e) => Some(format!("this test runs the `openssl` command, which cannot run here ({e}): {INSTALL_OPENSSL}")),
        Ok(out) => {
            let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (!v.starts_with("OpenSSL 3."))
                .then(|| format!("this test needs OpenSSL 3.x, found `{v}`: {INSTALL_OPENSSL}"))
        }
    });
    if let Some(p) = problem {
        panic!("{p}");
    }
}

/// Runs `openssl` with `args`, failing the test with what to install if it is not OpenSSL 3.
#[allow(dead_code)]
pub fn openssl(args: &[&str]) -> std::process::Output {
    require_openssl3();
    match std::process::Command::new("openssl").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run the `openssl` command line ({e}): {INSTALL_OPENSSL}"),
    }
}

/// Runs `openssl` and requires success; returns stdout.
#[allow(dead_code)]
pub fn openssl_ok(args: &[&str]) -> Vec<u8> {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {} failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
