//! Proofs for auditors: that an event was in the log at a signed checkpoint, and that a later
//! checkpoint extends an earlier one (RFC 6962; decision 0006).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::CaseId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::audit::{CheckpointView, load_for_auditor, require_auditor};
use super::{Auth, json_response, parse_id};
use crate::AppState;
use crate::api::Problem;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inclusion_proof)).routes(routes!(consistency_proof))
}

/// Which event, and which checkpoint.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The event: `case:<case id>:<sequence>` (the CloudEvents id).
    #[param(pattern = r"^case:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[1-9][0-9]{0,8}$")]
    pub event: String,
    /// The signed checkpoint, by its tree size (`event_count`).
    #[param(minimum = 1)]
    pub checkpoint: i64,
}

/// A proof that one event was in the log at a signed checkpoint; check it offline with
/// `brobyg audit verify-proof`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InclusionProofView {
    /// The event.
    pub event: String,
    /// Its chain hash (the leaf, hex).
    pub event_hash: String,
    /// Its index in the feed (from 0).
    pub leaf_index: u64,
    /// The audit path, leaf to root (hex).
    pub audit_path: Vec<String>,
    /// The signed checkpoint whose tree root the path leads to.
    pub checkpoint: CheckpointView,
}

/// Two signed checkpoints.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The earlier checkpoint's tree size.
    #[param(minimum = 1)]
    pub from: i64,
    /// The later checkpoint's tree size.
    #[param(minimum = 1)]
    pub to: i64,
}

/// A proof that a later signed checkpoint extends an earlier one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsistencyProofView {
    /// The earlier checkpoint.
    pub from: CheckpointView,
    /// The later checkpoint.
    pub to: CheckpointView,
    /// The RFC 6962 consistency proof (hex).
    pub proof: Vec<String>,
}

async fn signed_tree(state: &AppState, size: i64) -> Result<crate::store::AuditCheckpoint, Problem> {
    state
        .store
        .checkpoints()
        .await?
        .into_iter()
        .find(|c| c.event_count == size && c.tree_root.is_some())
        .ok_or_else(|| Problem::not_found("signed checkpoint with a tree of that size"))
}

/// Prove that an event of a case of the auditor's organisation was in the log at a signed
/// checkpoint.
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", params(InclusionParams),
    responses((status = 200, body = InclusionProofView), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    Auth(caller): Auth,
    super::Params(params): super::Params<InclusionParams>,
) -> Result<Response, Problem> {
    let (kind, rest) =
        params.event.split_once(':').ok_or_else(|| Problem::invalid_request("event: use case:<id>:<sequence>"))?;
    let (case, _) = rest.rsplit_once(':').ok_or_else(|| Problem::invalid_request("event: use case:<id>:<sequence>"))?;
    if kind != "case" {
        return Err(Problem::invalid_request("event: proofs are for case events (case:<id>:<sequence>)"));
    }
    let case: CaseId = parse_id(case, "case")?;
    load_for_auditor(&state, &caller, case).await?;
    let checkpoint = signed_tree(&state, params.checkpoint).await?;
    let leaves = crate::audit::leaves(&state.store, checkpoint.event_count).await?;
    let index = leaves.iter().position(|(_, id, _)| *id == params.event).ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "not-in-checkpoint",
            "Not in that checkpoint",
            "the event is not among the events that checkpoint signed",
        )
    })?;
    let data: Vec<Vec<u8>> = leaves.into_iter().map(|(_, _, leaf)| leaf).collect();
    let (path, _) = crate::merkle::inclusion_proof(&data, index);
    let body = InclusionProofView {
        event: params.event,
        event_hash: hex::encode(&data[index]),
        leaf_index: index as u64,
        audit_path: path.iter().map(hex::encode).collect(),
        checkpoint: CheckpointView::from(&checkpoint),
    };
    Ok(json_response(StatusCode::OK, Default::default(), &body))
}

/// Prove that a later signed checkpoint extends an earlier one (auditors).
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", params(ConsistencyParams),
    responses((status = 200, body = ConsistencyProofView), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 422, description = "from is larger than to", body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn consistency_proof(
    State(state): State<AppState>,
    Auth(caller): Auth,
    super::Params(params): super::Params<ConsistencyParams>,
) -> Result<Response, Problem> {
    require_auditor(&caller)?;
    if params.from < 1 || params.to < 1 {
        return Err(Problem::invalid_request("from and to are tree sizes of signed checkpoints, at least 1"));
    }
    if params.from > params.to {
        return Err(Problem::invalid_field("from: the earlier checkpoint's size, at most to"));
    }
    let (from, to) = (signed_tree(&state, params.from).await?, signed_tree(&state, params.to).await?);
    let leaves = crate::audit::leaves(&state.store, to.event_count).await?;
    let data: Vec<Vec<u8>> = leaves.into_iter().map(|(_, _, leaf)| leaf).collect();
    let proof = if from.event_count == to.event_count {
        Vec::new()
    } else {
        crate::merkle::consistency_proof(&data, usize::try_from(from.event_count).unwrap_or(0))
    };
    let body = ConsistencyProofView {
        from: CheckpointView::from(&from),
        to: CheckpointView::from(&to),
        proof: proof.iter().map(hex::encode).collect(),
    };
    Ok(json_response(StatusCode::OK, Default::default(), &body))
}
