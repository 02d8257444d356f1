use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::CryptoError;

/// A chain's cryptographic suite, fixed at genesis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Suite {
    /// National algorithms: SM2, SM3, SM4 (the default, STD-8.1).
    #[default]
    Sm,
    /// International algorithms: Ed25519, SHA-256, AES-256-GCM.
    Intl,
}

impl Suite {
    /// The one-byte tag used for this suite in canonical encodings.
    pub const fn tag(self) -> u8 {
        match self {
            Suite::Sm => 1,
            Suite::Intl => 2,
        }
    }

    /// The suite for a canonical tag byte.
    ///
    /// # Errors
    /// [`CryptoError::UnknownSuite`] for any other byte.
    pub fn from_tag(tag: u8) -> Result<Self, CryptoError> {
        match tag {
            1 => Ok(Suite::Sm),
            2 => Ok(Suite::Intl),
            other => Err(CryptoError::UnknownSuite(format!("tag {other}"))),
        }
    }

    /// The suite's name as used in configuration and the API: `sm` or `intl`.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::Sm => "sm",
            Suite::Intl => "intl",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Suite {
    type Err = CryptoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sm" => Ok(Suite::Sm),
            "intl" => Ok(Suite::Intl),
            other => Err(CryptoError::UnknownSuite(other.to_string())),
        }
    }
}
