use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use fdl_mempool::AdmitError;
use fdl_types::api::{AccountView, ErrorView};

/// An API error: an HTTP status, a stable code and a message, plus optional extra fields.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Extra fields merged into the body (e.g. a proof of absence).
    pub account: Option<Box<AccountView>>,
    /// A `Retry-After` hint in ms (answered in whole seconds, at least 1).
    pub retry_after_ms: Option<u64>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), account: None, retry_after_ms: None }
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with `code`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 410 `version_pruned`: the state of `version` is pruned on this node, which keeps the
    /// versions from `oldest` on (`docs/operations.md`, "Pruning and compaction").
    pub fn pruned(version: u64, oldest: u64) -> Self {
        Self::new(
            StatusCode::GONE,
            "version_pruned",
            format!(
                "the state after block {version} is pruned on this node: it keeps the state after block {oldest} and later (ask an archive node for older state)"
            ),
        )
    }

    /// 410 `version_pruned` for a [`fdl_state::StateError::Pruned`], 500 `internal` otherwise.
    pub fn state(e: fdl_state::StateError) -> Self {
        match e {
            fdl_state::StateError::Pruned { version, oldest } => Self::pruned(version, oldest),
            e => Self::internal(e),
        }
    }

    /// 500 `internal`.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(%message, "internal API error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message.to_string())
    }
}

impl From<AdmitError> for ApiError {
    fn from(e: AdmitError) -> Self {
        let status = match &e {
            AdmitError::Full { .. } | AdmitError::Overloaded { .. } => StatusCode::TOO_MANY_REQUESTS,
            AdmitError::AlreadyPending | AdmitError::Rejected(fdl_mempool::TxRejection::Replayed) => {
                StatusCode::CONFLICT
            }
            AdmitError::Rejected(fdl_mempool::TxRejection::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            AdmitError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut out = ApiError::new(status, e.code(), e.to_string());
        out.retry_after_ms = e.retry_after_ms();
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorView { code: self.code.into(), message: self.message, account: self.account };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(ms) = self.retry_after_ms {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after_secs(ms));
        }
        r
    }
}

/// A `Retry-After` value: whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(ms: u64) -> axum::http::HeaderValue {
    axum::http::HeaderValue::from(ms.div_ceil(1_000).max(1))
}
