//! The contract endpoints (STD-12.1 to 12.4): the registry (list, show with every version),
//! read-only calls, the deploy checks, and contract storage with Merkle proofs. Deploys, upgrades,
//! lifecycle steps and calls are transactions (`POST /v1/transactions`); contract events are on
//! `/v1/stream` and in the audit log (`GET /v1/audit?contract=NAME`).

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::{Path, State, rejection::JsonRejection, rejection::PathRejection},
};
use fdl_crypto::Address;
use fdl_schema::{ContractRecord, StateView, keys};
use fdl_state::StateAt;
use fdl_types::{
    StatusCode as TxStatus,
    api::{
        ContractCheckView, ContractQueryRequest, ContractQueryView, ContractVersionView, ContractView, ErrorView,
        HeaderView, StateValueView, output_json,
    },
};
use serde::Deserialize;

use crate::{ApiError, RpcContext, handlers::ApiResult, limits::Guard};

type Ctx = State<Arc<RpcContext>>;
type G = Extension<Arc<Guard>>;

/// Most contracts one listing returns.
pub const MAX_LISTED: usize = 1_000;

fn latest(ctx: &RpcContext) -> ApiResult<(u64, StateAt<'_>)> {
    let version = ctx.parts.store.latest_height().map_err(ApiError::internal)?;
    Ok((version, ctx.parts.state.at(version)))
}

fn name_param(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let name = crate::handlers::path_param(p, "invalid_contract_name")?;
    if !fdl_types::contract::valid_contract_name(&name) {
        return Err(ApiError::bad_request("invalid_contract_name", format!("{name:?} is not a contract name")));
    }
    Ok(name)
}

fn view_of(view: &dyn StateView, record: ContractRecord) -> ApiResult<ContractView> {
    let abi = if record.vm == fdl_types::VmKind::Evm {
        keys::contract_abi(&record.name, record.current)
            .read(view)
            .map_err(ApiError::internal)?
            .and_then(|t| serde_json::from_str(&t).ok())
    } else {
        None
    };
    let mut versions = Vec::with_capacity(record.versions as usize);
    for n in 1..=record.versions {
        if let Some(v) = keys::contract_version(&record.name, n).read(view).map_err(ApiError::internal)? {
            versions.push(ContractVersionView {
                version: v.version,
                code_hash: v.code_hash,
                code_size: v.code_size,
                deployer: v.deployer.to_hex(),
                proposal: v.proposal,
                height: v.height,
                review: v.review,
                methods: v.methods,
            });
        }
    }
    Ok(ContractView {
        name: record.name,
        vm: record.vm,
        owner: record.owner,
        address: record.address.to_hex(),
        status: record.status.as_str().into(),
        current: record.current,
        access: record.access,
        allow_reentry: record.allow_reentry,
        created: record.created,
        abi,
        versions,
    })
}

/// `GET /v1/contracts`: every deployed contract, by name.
#[utoipa::path(
    get,
    path = "/v1/contracts",
    tag = "contracts",
    responses(
        (status = 200, description = "The deployed contracts (at most 1,000), by name", body = Vec<ContractView>),
        (status = 500, description = "`internal`: a store or state read failed", body = ErrorView),
    )
)]
pub(crate) async fn list(State(ctx): Ctx, Extension(g): G) -> ApiResult<Json<Vec<ContractView>>> {
    g.blocking(move || {
        let (_, view) = latest(&ctx)?;
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        while out.len() < MAX_LISTED {
            let Some(key) = view.next_key(b"ctr/", after.as_deref()).map_err(ApiError::internal)? else { break };
            // Version records (`ctr/{name}/{n}`) sit under the same prefix.
            let name = &key[b"ctr/".len()..];
            if !name.contains(&b'/') {
                let name = String::from_utf8_lossy(name).into_owned();
                if let Some(r) = keys::contract(&name).read(&view).map_err(ApiError::internal)? {
                    out.push(view_of(&view, r)?);
                }
            }
            after = Some(key);
        }
        Ok(Json(out))
    })
    .await
}

/// `GET /v1/contracts/{name}`: a contract with every version.
#[utoipa::path(
    get,
    path = "/v1/contracts/{name}",
    tag = "contracts",
    params(("name" = String, Path, description = "The contract's name")),
    responses(
        (status = 200, description = "The contract", body = ContractView),
        (status = 400, description = "`invalid_contract_name`", body = ErrorView),
        (status = 404, description = "`unknown_contract`", body = ErrorView),
    )
)]
pub(crate) async fn show(
    State(ctx): Ctx,
    Extension(g): G,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ContractView>> {
    let name = name_param(name)?;
    g.blocking(move || {
        let (_, view) = latest(&ctx)?;
        let Some(r) = keys::contract(&name).read(&view).map_err(ApiError::internal)? else {
            return Err(ApiError::not_found("unknown_contract", format!("no contract {name}")));
        };
        view_of(&view, r).map(Json)
    })
    .await
}

/// `POST /v1/contracts/{name}/query`: a read-only call against the latest final state; nothing
/// is written. An unknown contract or method is a 404; arguments that are not a JSON object a
/// 400; a call that fails in the contract answers 200 with its status.
#[utoipa::path(
    post,
    path = "/v1/contracts/{name}/query",
    tag = "contracts",
    params(("name" = String, Path, description = "The contract's name")),
    request_body = ContractQueryRequest,
    responses(
        (status = 200, description = "The outcome: status, return value, events, fuel used", body = ContractQueryView),
        (status = 400, description = "`invalid_contract_name`, `invalid_args`, `invalid_method`, `invalid_address` or `invalid_request`", body = ErrorView),
        (status = 404, description = "`unknown_contract` or `unknown_method`", body = ErrorView),
        (status = 409, description = "`contract_frozen` or `contract_retired`", body = ErrorView),
    )
)]
pub(crate) async fn query(
    State(ctx): Ctx,
    Extension(g): G,
    name: Result<Path<String>, PathRejection>,
    body: Result<Json<ContractQueryRequest>, JsonRejection>,
) -> ApiResult<Json<ContractQueryView>> {
    let name = name_param(name)?;
    let Json(req) = body.map_err(|r| ApiError::bad_request("invalid_request", r.body_text()))?;
    let caller = match &req.caller {
        None => Address::default(),
        Some(c) => c.parse().map_err(|e| ApiError::bad_request("invalid_address", format!("{c:?}: {e}")))?,
    };
    g.blocking(move || {
        let (height, view) = latest(&ctx)?;
        let record = keys::contract(&name).read(&view).map_err(ApiError::internal)?;
        if let Some(r) = record
            && r.vm == fdl_types::VmKind::Evm
        {
            return evm_query(&ctx, &view, height, &name, &req, caller);
        }
        if !fdl_types::contract::valid_method_name(&req.method) {
            return Err(ApiError::bad_request("invalid_method", format!("{:?} is not a method name", req.method)));
        }
        let args = match &req.args {
            None => "{}".to_string(),
            Some(v) if v.is_object() => v.to_string(),
            Some(_) => return Err(ApiError::bad_request("invalid_args", "args must be a JSON object")),
        };
        let q = fdl_node_api::ContractQuery {
            contract: &name,
            version: req.version,
            method: &req.method,
            args: &args,
            caller,
            fuel: req.fuel,
            data: None,
        };
        let o = ctx.ledger.contract_query(height, &q).map_err(ApiError::internal)?;
        refused(&o)?;
        Ok(Json(ContractQueryView {
            height,
            status: o.status.as_str().into(),
            code: o.status.code(),
            result: output_json(&o.output),
            events: o.events,
            fuel_used: o.fuel_used,
            output_hex: None,
        }))
    })
    .await
}

/// A query's refusals as HTTP errors: an unknown contract or method is 404, a frozen or retired
/// contract 409.
fn refused(o: &fdl_node_api::QueryOutcome) -> ApiResult<()> {
    let why = || o.events.iter().flat_map(|e| e.attrs.iter()).find(|(k, _)| k == "reason").map(|(_, v)| v.clone());
    match o.status {
        TxStatus::UnknownContract | TxStatus::UnknownMethod => {
            Err(ApiError::not_found(o.status.as_str(), why().unwrap_or_default()))
        }
        TxStatus::ContractFrozen | TxStatus::ContractRetired => {
            Err(ApiError::new(axum::http::StatusCode::CONFLICT, o.status.as_str(), why().unwrap_or_default()))
        }
        _ => Ok(()),
    }
}

/// The ABI of version `version` (0: current) of contract `name`, if the node has one that parses.
fn stored_abi(view: &dyn StateView, name: &str, version: u32) -> ApiResult<Option<fdl_vm_evm::abi::Abi>> {
    let text = match keys::contract(name).read(view).map_err(ApiError::internal)? {
        Some(r) => {
            let v = if version == 0 { r.current } else { version };
            keys::contract_abi(name, v).read(view).map_err(ApiError::internal)?
        }
        None => None,
    };
    Ok(text.filter(|t| !t.is_empty()).and_then(|t| fdl_vm_evm::abi::Abi::parse(&t).ok()))
}

/// The return value of a committed EVM call, decoded with its contract's ABI as the latest
/// state has it (`None` when it failed, returned nothing, or cannot be decoded).
pub(crate) fn evm_output(
    ctx: &RpcContext,
    contract: &str,
    version: u32,
    data: &[u8],
    output: &[u8],
    status: TxStatus,
) -> ApiResult<Option<serde_json::Value>> {
    if status != TxStatus::Ok || output.is_empty() || data.len() < 4 {
        return Ok(None);
    }
    let (_, view) = latest(ctx)?;
    let Some(abi) = stored_abi(&view, contract, version)? else { return Ok(None) };
    let selector = format!("0x{}", hex::encode(&data[..4]));
    Ok(abi.decode_output(&selector, output).ok())
}

/// A query of an EVM contract: the arguments encoded and the result decoded with its ABI (or
/// raw call data for a contract without one).
fn evm_query(
    ctx: &RpcContext,
    view: &dyn StateView,
    height: u64,
    name: &str,
    req: &ContractQueryRequest,
    caller: Address,
) -> ApiResult<Json<ContractQueryView>> {
    let abi = stored_abi(view, name, req.version)?;
    let data = match (&req.data, &abi) {
        (Some(hex_data), _) => hex::decode(hex_data.trim_start_matches("0x"))
            .map_err(|e| ApiError::bad_request("invalid_args", format!("data is not hex: {e}")))?,
        (None, Some(abi)) => {
            if abi.function(&req.method).is_err() {
                return Err(ApiError::not_found(
                    "unknown_method",
                    format!("{name}'s ABI has no function {:?}", req.method),
                ));
            }
            let args = req.args.clone().unwrap_or(serde_json::Value::Array(vec![]));
            abi.encode_call(&req.method, &args).map_err(|e| ApiError::bad_request("invalid_args", e.to_string()))?
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "invalid_args",
                format!("the node has no ABI for {name}: give the call data as `data` (hex)"),
            ));
        }
    };
    let q = fdl_node_api::ContractQuery {
        contract: name,
        version: req.version,
        method: &req.method,
        args: "",
        caller,
        fuel: req.fuel,
        data: Some(&data),
    };
    let o = ctx.ledger.contract_query(height, &q).map_err(ApiError::internal)?;
    refused(&o)?;
    let result = match (&abi, req.data.is_none() && o.status == TxStatus::Ok) {
        (Some(abi), true) => abi.decode_output(&req.method, &o.output).ok(),
        _ => None,
    };
    Ok(Json(ContractQueryView {
        height,
        status: o.status.as_str().into(),
        code: o.status.code(),
        result,
        events: o.events,
        fuel_used: o.fuel_used,
        output_hex: Some(format!("0x{}", hex::encode(&o.output))),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckRequest {
    /// The module, hex.
    pub wasm: String,
}

/// `POST /v1/contracts/check`: the static checks every node runs at deploy, with the chain's
/// parameters in force.
#[utoipa::path(
    post,
    path = "/v1/contracts/check",
    tag = "contracts",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "What the checks found (`ok` false with the reason when the module fails)", body = ContractCheckView),
        (status = 400, description = "`invalid_request`: the body is not `{\"wasm\": HEX}`", body = ErrorView),
    )
)]
pub(crate) async fn check(
    State(ctx): Ctx,
    Extension(g): G,
    body: Result<Json<CheckRequest>, JsonRejection>,
) -> ApiResult<Json<ContractCheckView>> {
    let Json(req) = body.map_err(|r| ApiError::bad_request("invalid_request", r.body_text()))?;
    let code = hex::decode(req.wasm.trim_start_matches("0x"))
        .map_err(|e| ApiError::bad_request("invalid_request", format!("wasm is not hex: {e}")))?;
    g.blocking(move || {
        let (height, _) = latest(&ctx)?;
        let code_hash = fdl_crypto::hash(ctx.parts.genesis.suite, &code);
        let r = ctx.ledger.contract_check(height, &code).map_err(ApiError::internal)?;
        let (ok, found, error_code, error) = match r {
            Ok(m) => (true, m, None, None),
            Err((c, e)) => (false, fdl_node_api::ModuleCheck::default(), Some(c), Some(e)),
        };
        Ok(Json(ContractCheckView {
            ok,
            code_hash,
            code_size: code.len(),
            has_init: found.has_init,
            has_migrate: found.has_migrate,
            methods: found.methods,
            error_code,
            error,
        }))
    })
    .await
}

/// `GET /v1/contracts/{name}/state/{key}`: a value of a contract's storage with its Merkle proof
/// against the latest header (the key in hex, as the contract wrote it).
#[utoipa::path(
    get,
    path = "/v1/contracts/{name}/state/{key}",
    tag = "contracts",
    params(
        ("name" = String, Path, description = "The contract's name"),
        ("key" = String, Path, description = "The storage key, hex"),
    ),
    responses(
        (status = 200, description = "The value (absent when not set) with its proof", body = StateValueView),
        (status = 400, description = "`invalid_contract_name` or `invalid_key`", body = ErrorView),
        (status = 503, description = "`not_ready`: no block produced yet", body = ErrorView),
    )
)]
pub(crate) async fn state(
    State(ctx): Ctx,
    Extension(g): G,
    params: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<Json<StateValueView>> {
    let Path((name, key)) = params.map_err(|r| ApiError::bad_request("invalid_key", r.body_text()))?;
    if !fdl_types::contract::valid_contract_name(&name) {
        return Err(ApiError::bad_request("invalid_contract_name", format!("{name:?} is not a contract name")));
    }
    let raw = hex::decode(key.trim_start_matches("0x"))
        .map_err(|e| ApiError::bad_request("invalid_key", format!("the key is not hex: {e}")))?;
    if raw.is_empty() || raw.len() > 1_024 {
        return Err(ApiError::bad_request("invalid_key", "a storage key is 1 to 1,024 bytes"));
    }
    g.blocking(move || {
        let (height, header) = crate::handlers::latest_header(&ctx)?;
        let state_key = keys::contract_storage_key(&name, &raw);
        let (value, proof) = ctx.parts.state.get_with_proof(&state_key, height).map_err(ApiError::internal)?;
        Ok(Json(StateValueView {
            contract: name,
            key: hex::encode(&raw),
            height,
            header: HeaderView::new(&header, ctx.parts.genesis.suite),
            state_key: hex::encode(&state_key),
            value: value.as_ref().map(hex::encode),
            proof: hex::encode(proof),
        }))
    })
    .await
}
