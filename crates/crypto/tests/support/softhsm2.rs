//! A SoftHSM2 token of its own for a test (included with `#[path]` by the crypto and cli tests):
//! a temporary token directory named by a temporary `SOFTHSM2_CONF`, a token labelled `fdl`
//! (user PIN 1234, SO PIN 5678). A test that needs it fails saying to run `scripts/setup.sh` when
//! SoftHSM2 is not installed.

use std::path::{Path, PathBuf};

/// Where Debian and Ubuntu install the SoftHSM2 module.
const MODULES: [&str; 2] = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"];

/// The user PIN of the test token.
#[allow(dead_code)]
pub const PIN: &str = "1234";

/// A SoftHSM2 token in a temporary directory.
pub struct SoftHsm {
    /// Holds the configuration, the tokens and the PIN file.
    pub dir: tempfile::TempDir,
    /// The module (`libsofthsm2.so`).
    pub module: PathBuf,
    /// The `SOFTHSM2_CONF` file to give every process that uses the token.
    pub conf: PathBuf,
    /// A file holding [`PIN`] (mode 0600), for `pin-source=file:...`.
    pub pin_file: PathBuf,
}

impl SoftHsm {
    /// Makes the token, panicking with what to install when SoftHSM2 is missing.
    pub fn new() -> Self {
        let Some(module) = MODULES.iter().map(PathBuf::from).find(|p| p.is_file()) else {
            panic!(
                "SoftHSM2 is not installed (no {}): run scripts/setup.sh (it installs the Debian package softhsm2)",
                MODULES.join(" or ")
            );
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir_all(&tokens).expect("token dir");
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .expect("write conf");
        let out = std::process::Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "fdl", "--pin", PIN, "--so-pin", "5678"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap_or_else(|e| panic!("softhsm2-util cannot run ({e}): run scripts/setup.sh"));
        assert!(out.status.success(), "softhsm2-util --init-token: {}", String::from_utf8_lossy(&out.stderr));
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).expect("pin file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        SoftHsm { dir, module, conf, pin_file }
    }

    /// The URI of key `object` on the token, with the module and the PIN file.
    #[allow(dead_code)]
    pub fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=fdl;object={object}?module-path={}&pin-source=file:{}",
            self.module.display(),
            self.pin_file.display()
        )
    }

    /// The token's directory.
    #[allow(dead_code)]
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
