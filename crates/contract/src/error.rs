//! A method's failure: [`Error`] and the [`ContractError`] trait.

use alloc::string::String;

use crate::env::CallError;
use crate::json::JsonError;

/// What a method's `Err` must be: a failure code and a message, which the call fails with (see
/// [`fail`](crate::fail)). Contracts may implement it for their own error enums.
///
/// ```
/// use fdl_contract::ContractError;
///
/// enum TokenError { NotAdmin, Insufficient { have: u128 } }
///
/// impl ContractError for TokenError {
///     fn code(&self) -> &str {
///         match self {
///             TokenError::NotAdmin => "not_admin",
///             TokenError::Insufficient { .. } => "insufficient_balance",
///         }
///     }
///     fn message(&self) -> String {
///         match self {
///             TokenError::NotAdmin => "only an admin may mint".into(),
///             TokenError::Insufficient { have } => format!("the balance is {have}"),
///         }
///     }
/// }
/// ```
pub trait ContractError {
    /// The failure code: `[a-z0-9_]{1,64}`.
    fn code(&self) -> &str;
    /// A message for people (UTF-8; the first 256 bytes are kept).
    fn message(&self) -> String;
}

/// A failure code and message: the error type most contracts need.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Error {
    code: String,
    message: String,
}

impl Error {
    /// An error with this code (`[a-z0-9_]{1,64}`) and message.
    pub fn new(code: &str, message: impl Into<String>) -> Error {
        Error { code: code.into(), message: message.into() }
    }

    /// The code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl ContractError for Error {
    fn code(&self) -> &str {
        &self.code
    }
    fn message(&self) -> String {
        self.message.clone()
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.code)?;
        f.write_str(": ")?;
        f.write_str(&self.message)
    }
}

/// A failed cross-contract call fails the caller with the callee's code and message.
impl From<CallError> for Error {
    fn from(e: CallError) -> Error {
        Error { code: e.code, message: e.message }
    }
}

/// Unreadable JSON (e.g. a callee's return data) is `bad_json`.
impl From<JsonError> for Error {
    fn from(e: JsonError) -> Error {
        Error { code: "bad_json".into(), message: e.message().into() }
    }
}
