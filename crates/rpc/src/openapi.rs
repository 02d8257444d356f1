//! The OpenAPI document of the API, generated from the view types of `fdl_types::api` and the
//! `#[utoipa::path]` attribute of every handler, served at `GET /v1/openapi.json`. Clients are
//! generated from it: the tests in this module check that it lists every route of
//! [`crate::ROUTES`] and that example answers of every view validate against it.

use std::{borrow::Cow, sync::OnceLock};

use utoipa::{
    OpenApi, PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ObjectBuilder, Schema, Type},
    },
};

use crate::{contracts, governance, handlers};

/// The API's description, the document's `info.description`.
const DESCRIPTION: &str = "REST/JSON API of an FDL node. Errors are JSON `ErrorView` bodies \
({code, message}) with stable codes. Amounts are decimal strings in the smallest unit; hashes and \
addresses are lower-case hex without prefix (path parameters also take a `0x` prefix and upper \
case). Any route answers 405 `method_not_allowed` to a wrong method and an unknown path 404 \
`not_found`; `/v1/stream` answers 400 `websocket_required` to a plain HTTP request. Any route may \
also answer 429 `rate_limited` (with a `Retry-After` header, in seconds) to a client over its \
request rate, 408 `request_timeout` to a request that took too long, and 503 \
`too_many_connections` (then closes the connection) when the node serves as many connections as \
it allows. Reads are governed by the chain's read policy (STD-16.1; `GET /v1/acl` does not list it, \
the `readpol/` state keys hold it): a read the caller may not make answers 403 `read_forbidden`, \
naming the resource; a caller identifies itself by its member certificate on the channel, or on \
this host by a signed request (headers `x-fdl-key`, `x-fdl-time`, `x-fdl-signature`), which \
answers 401 `bad_signature`, `stale_request`, `not_loopback` or `bad_certificate` when it does \
not hold. Every answer of a read route carries the chain id in `x-fdl-chain-id`.";

/// The OpenAPI document: every route of [`crate::ROUTES`] with its parameters, bodies and answers.
#[derive(OpenApi)]
#[openapi(
    info(title = "FDL node API", description = DESCRIPTION),
    servers((url = "/", description = "The node serving this document")),
    paths(
        handlers::submit_tx,
        handlers::submit_batch,
        handlers::get_tx,
        handlers::latest_block,
        handlers::get_block,
        handlers::get_account,
        handlers::status,
        handlers::evidence,
        governance::members,
        governance::validators,
        governance::validator_set_proof,
        governance::genesis,
        governance::certificate,
        governance::revocations,
        governance::proposals,
        governance::proposal,
        governance::acl,
        governance::params,
        governance::audit,
        contracts::list,
        contracts::check,
        contracts::show,
        contracts::query,
        contracts::state,
        handlers::openapi,
        handlers::stream,
        handlers::metrics,
    ),
    components(schemas(fdl_types::api::AclRuleView, fdl_types::api::StreamMessageView, RawTx)),
    tags(
        (name = "transactions", description = "Submitting transactions and reading their status"),
        (name = "blocks", description = "Blocks and their commit certificates"),
        (name = "accounts", description = "Accounts with the Merkle proof of their state"),
        (name = "node", description = "This node: status, evidence, metrics, the stream and this document"),
        (name = "governance", description = "Members, nodes, certificates, proposals, access rules, parameters and the audit log"),
        (name = "contracts", description = "Smart contracts: the registry, read-only calls, deploy checks and contract storage with proofs"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, generated once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| document().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")))
}

/// The document: [`ApiDoc`] with the read policy's answers (401, 403) added to every read route
/// ([`crate::route_access`]), so that no handler can leave them out.
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let mut doc = ApiDoc::openapi();
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorView"))).build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in [("get", item.get.as_mut()), ("post", item.post.as_mut())] {
            let Some(op) = op else { continue };
            let Some(crate::Access::Read(resource)) = crate::route_access(path, method) else { continue };
            op.responses.responses.entry("401".into()).or_insert_with(|| {
                error(
                    "`bad_signature`, `stale_request` (a signed request over 60 s from the node's clock), \
                     `not_loopback` (a signed request from another host) or `bad_certificate` (not a current \
                     member's certificate): the caller's credential does not hold",
                )
            });
            op.responses.responses.entry("403".into()).or_insert_with(|| {
                error(&format!(
                    "`read_forbidden`: the read policy does not let this caller read `{resource}` (the refusal \
                     is audited as `api.refused`)"
                ))
            });
        }
    }
    doc
}

/// The body of `POST /v1/transactions` sent as `application/octet-stream`: the canonical
/// transaction encoding, raw bytes.
pub struct RawTx;

impl PartialSchema for RawTx {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("A signed transaction's canonical encoding, raw bytes."))
            .into()
    }
}

impl ToSchema for RawTx {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RawTx")
    }
}
