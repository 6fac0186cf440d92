//! Partnership agreements: draft, approve, read.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::agreement::{Agreement, AgreementAction, AgreementCommand, Flow, ReportingDuties, Terms};
use brobyg_domain::{AgreementId, Category, Checkpoint, Duty, Org, Purpose, Role, Side};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Auth, Body, RequestId, actor, execute, json_response, load, parse_id, version_headers};
use crate::AppState;
use crate::api::Problem;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(draft_agreement))
        .routes(routes!(get_agreement))
        .routes(routes!(approve_agreement))
        .routes(routes!(amend_agreement))
        .routes(routes!(terminate_agreement))
}

/// One permitted flow.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowBody {
    /// `referral`, `pre_meeting` or `closing_meeting`.
    #[schema(value_type = brobyg_domain::Checkpoint, example = "referral")]
    pub checkpoint: Checkpoint,
    /// `municipality` or `ngo`.
    #[schema(value_type = brobyg_domain::Side, example = "municipality")]
    pub from: Side,
    /// `municipality` or `ngo`.
    #[schema(value_type = brobyg_domain::Side, example = "ngo")]
    pub to: Side,
    /// Categories that may flow.
    #[schema(value_type = Vec<brobyg_domain::Category>, example = json!(["identity", "school"]))]
    pub categories: BTreeSet<Category>,
    /// Purposes the flow serves.
    #[schema(value_type = Vec<brobyg_domain::Purpose>, example = json!(["referral"]))]
    pub purposes: BTreeSet<Purpose>,
}

/// Reporting duties of the NGO's reporters (default: heightened for coordinators, general for
/// volunteers).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DutiesBody {
    /// `heightened` or `general`.
    #[schema(value_type = brobyg_domain::Duty)]
    pub coordinator: Duty,
    /// `heightened` or `general`.
    #[schema(value_type = brobyg_domain::Duty)]
    pub volunteer: Duty,
}

/// A draft agreement.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftAgreement {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// The municipality party, e.g. `municipality:0746`.
    #[schema(value_type = String, pattern = "^(municipality:[0-9]{4}|ngo:[a-z0-9][a-z0-9-]{0,63})$")]
    pub municipality: Org,
    /// The NGO party, e.g. `ngo:kfum-sa`.
    #[schema(value_type = String, pattern = "^(municipality:[0-9]{4}|ngo:[a-z0-9][a-z0-9-]{0,63})$")]
    pub ngo: Org,
    /// Programme slug, e.g. `klub-move`.
    pub programme: String,
    /// Permitted flows.
    pub flows: Vec<FlowBody>,
    /// Days the NGO keeps personal data after closing (at most 3650).
    #[serde(deserialize_with = "super::extract::whole::u32")]
    #[schema(minimum = 0, maximum = 3650)]
    pub retention_days_after_closing: u32,
    /// Reporting duties.
    #[serde(default)]
    pub reporting_duties: Option<DutiesBody>,
    /// Let the municipality follow a running course between checkpoints (active, last contact
    /// day, on track or not; no content).
    #[serde(default)]
    pub interim_status: bool,
    /// The programme's interest tags (a controlled list of slugs, at most 200): the young
    /// person's wishes and the volunteers' interests are matched on them; empty: any tag.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 200)]
    pub interest_tags: std::collections::BTreeSet<String>,
}

/// An agreement as its parties see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AgreementResponse {
    /// Id.
    pub id: uuid::Uuid,
    /// Latest version.
    pub version: u32,
    /// `draft`, `approved` or `terminated`.
    pub status: String,
    /// The version in force, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_force_version: Option<u32>,
    /// Sides that approved the latest version.
    pub approvals: Vec<String>,
    /// The municipality.
    pub municipality: String,
    /// The NGO.
    pub ngo: String,
    /// The programme.
    pub programme: String,
    /// Flows of the latest version.
    pub flows: Vec<FlowBody>,
    /// Retention after closing, days.
    pub retention_days_after_closing: u32,
    /// Reporting duties.
    pub reporting_duties: DutiesBody,
    /// Whether the municipality may follow a running course between checkpoints.
    pub interim_status: bool,
    /// The programme's interest tags.
    pub interest_tags: Vec<String>,
}

fn response(a: &Agreement) -> Option<AgreementResponse> {
    let terms = a.terms.as_ref()?;
    Some(AgreementResponse {
        id: a.id?.0,
        version: a.version,
        status: serde_json::to_value(a.status()).ok()?.as_str()?.to_owned(),
        in_force_version: a.in_force.as_ref().map(|(v, _)| *v),
        approvals: a.approvals.iter().map(|s| s.to_string()).collect(),
        municipality: terms.municipality.to_string(),
        ngo: terms.ngo.to_string(),
        programme: terms.programme.clone(),
        flows: terms
            .flows
            .iter()
            .map(|f| FlowBody {
                checkpoint: f.checkpoint,
                from: f.from,
                to: f.to,
                categories: f.categories.clone(),
                purposes: f.purposes.clone(),
            })
            .collect(),
        retention_days_after_closing: terms.retention_days_after_closing,
        reporting_duties: DutiesBody {
            coordinator: terms.reporting_duties.coordinator,
            volunteer: terms.reporting_duties.volunteer,
        },
        interim_status: terms.interim_status,
        interest_tags: terms.interest_tags.iter().cloned().collect(),
    })
}

fn terms_of(body: DraftAgreement) -> Terms {
    Terms {
        municipality: body.municipality,
        ngo: body.ngo,
        programme: body.programme,
        flows: body
            .flows
            .into_iter()
            .map(|f| Flow {
                checkpoint: f.checkpoint,
                from: f.from,
                to: f.to,
                categories: f.categories,
                purposes: f.purposes,
            })
            .collect(),
        retention_days_after_closing: body.retention_days_after_closing,
        reporting_duties: body
            .reporting_duties
            .map(|d| ReportingDuties { coordinator: d.coordinator, volunteer: d.volunteer })
            .unwrap_or_default(),
        interim_status: body.interim_status,
        interest_tags: body.interest_tags,
    }
}

/// Why an agreement ends.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// Why.
    pub reason: String,
}

/// Amend an agreement: a new version with new terms (same parties and programme) that needs
/// both approvals again; the previous version stays in force until then.
#[utoipa::path(post, path = "/v1/agreements/{id}/amendments", tag = "agreements", request_body = DraftAgreement,
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, body = AgreementResponse), (status = 409, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn amend_agreement(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<DraftAgreement>,
) -> Result<Response, Problem> {
    agreement_command(&state, &caller, &id, AgreementAction::Amend { terms: terms_of(body) }, &request_id).await
}

/// Terminate an agreement: no new referrals; running cases continue under the version in force.
#[utoipa::path(post, path = "/v1/agreements/{id}/termination", tag = "agreements", request_body = Termination,
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, body = AgreementResponse), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn terminate_agreement(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<Termination>,
) -> Result<Response, Problem> {
    agreement_command(&state, &caller, &id, AgreementAction::Terminate { reason: body.reason }, &request_id).await
}

/// Draft a partnership agreement (either party's admin).
#[utoipa::path(post, path = "/v1/agreements", tag = "agreements", request_body = DraftAgreement,
    responses((status = 201, body = AgreementResponse), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn draft_agreement(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Body(body): Body<DraftAgreement>,
) -> Result<Response, Problem> {
    let id = AgreementId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let terms = terms_of(body);
    let caller = caller.acting_as(Role::Admin);
    let command =
        || AgreementCommand { actor: actor(&caller), action: AgreementAction::Draft { id, terms: terms.clone() } };
    let (committed, position) =
        execute::<Agreement>(&state, &caller, &id.to_string(), command, None, &request_id).await?;
    let body = response(&committed.aggregate).ok_or_else(|| Problem::not_found("agreement"))?;
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &body))
}

/// Runs a command on an existing agreement and answers with the agreement.
async fn agreement_command(
    state: &AppState,
    caller: &crate::auth::Caller,
    id: &str,
    action: AgreementAction,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let id: AgreementId = parse_id(id, "agreement")?;
    let caller = &caller.acting_as(Role::Admin);
    let command = || AgreementCommand { actor: actor(caller), action: action.clone() };
    let (committed, position) = execute::<Agreement>(state, caller, &id.to_string(), command, None, request_id).await?;
    let body = response(&committed.aggregate).ok_or_else(|| Problem::not_found("agreement"))?;
    Ok(json_response(StatusCode::OK, version_headers(committed.version, position), &body))
}

/// The version of the terms an approval approves.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The terms version approved: the agreement's current `version`, as last read.
    #[schema(minimum = 1, example = 1)]
    #[serde(deserialize_with = "super::extract::whole::u32")]
    pub version: u32,
}

/// Approve the terms version named on behalf of the caller's side (that side's admin); 409
/// `version-conflict` when the terms were amended since.
#[utoipa::path(post, path = "/v1/agreements/{id}/approvals", tag = "agreements", request_body = Approval,
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, body = AgreementResponse), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 400, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn approve_agreement(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<Approval>,
) -> Result<Response, Problem> {
    agreement_command(&state, &caller, &id, AgreementAction::Approve { version: body.version }, &request_id).await
}

/// Read an agreement (its parties only).
#[utoipa::path(get, path = "/v1/agreements/{id}", tag = "agreements",
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, body = AgreementResponse), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn get_agreement(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: AgreementId = parse_id(&id, "agreement")?;
    let loaded = load::<Agreement>(&state, &id.to_string()).await?;
    let party = loaded.aggregate.terms.as_ref().is_some_and(|t| t.side_of(&caller.org).is_some());
    if !party {
        return Err(Problem::not_found("agreement"));
    }
    let body = response(&loaded.aggregate).ok_or_else(|| Problem::not_found("agreement"))?;
    Ok(json_response(StatusCode::OK, version_headers(loaded.version, None), &body))
}
