//! Concern reports (underretninger): report, acknowledge, list.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::case::{CaseAction, Reporter};
use brobyg_domain::{ConcernId, Ground, Personal, VolunteerId};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::case_access::{CaseCommitted, CaseRequest, CaseState, case_command, load_case_for, wait_for_position};
use super::{Auth, Body, fold, json_response, load, parse_id, version_headers};
use crate::AppState;
use crate::api::Problem;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report_concern))
        .routes(routes!(acknowledge_concern))
        .routes(routes!(list_concerns))
}

/// A concern report.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportConcern {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// `needs_support`, `school_absence`, `abuse`, `neglect`.
    #[schema(value_type = Vec<brobyg_domain::Ground>)]
    pub grounds: BTreeSet<Ground>,
    /// What was observed.
    pub text: String,
    /// When it was observed.
    pub observed_on: NaiveDate,
    /// The volunteer the report comes from, when a volunteer reports through the coordinator.
    #[serde(default)]
    pub volunteer: Option<uuid::Uuid>,
}

/// The answer to a concern report.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConcernReported {
    /// Concern id.
    pub id: uuid::Uuid,
    /// The municipality assesses it by then (24 hours).
    pub assessment_due: DateTime<Utc>,
    /// The municipality acknowledges it by the end of this day (6 working days).
    pub receipt_due: NaiveDate,
    /// New case version.
    pub version: usize,
}

/// Report a concern about the young person (NGO coordinator; any state, no consent needed).
#[utoipa::path(post, path = "/v1/cases/{id}/concerns", tag = "concerns", request_body = ReportConcern,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = ConcernReported), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn report_concern(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<ReportConcern>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    let agreement = match &case.referral {
        Some(r) => fold::<brobyg_domain::agreement::Agreement>(&state, &r.agreement.to_string()).await?.0,
        None => return Err(Problem::not_found("case")),
    };
    let concern = ConcernId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let (reporter, volunteer) = match body.volunteer {
        Some(v) => {
            let found = load::<brobyg_domain::volunteer::Volunteer>(&state, &v.to_string()).await?;
            (Reporter::Volunteer { volunteer: VolunteerId(v) }, found.aggregate.facts_for(id))
        }
        None => (Reporter::Coordinator, None),
    };
    let action = CaseAction::ReportConcern {
        concern,
        grounds: body.grounds,
        text: Personal::new(body.text),
        observed_on: body.observed_on,
        reporter,
        volunteer,
        agreement: Box::new(agreement),
        calendar: state.calendar,
    };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let c = committed.aggregate.concerns.get(&concern).ok_or_else(|| Problem::not_found("concern"))?;
    let answer = ConcernReported {
        id: concern.0,
        assessment_due: c.assessment_due,
        receipt_due: c.receipt_due,
        version: committed.version,
    };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}

/// The municipality's receipt.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// Whether an investigation or measures followed (the reporter learns this, nothing more).
    pub investigation_started: bool,
}

/// Acknowledge a concern (caseworker of the municipality).
#[utoipa::path(post, path = "/v1/cases/{id}/concerns/{cid}/receipt", tag = "concerns", request_body = ReceiptBody,
    params(("id" = String, Path, description = "case id"), ("cid" = String, Path, description = "concern id")),
    responses((status = 200, body = CaseState), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn acknowledge_concern(
    State(state): State<AppState>,
    request: CaseRequest,
    Path((_case, cid)): Path<(String, String)>,
    Body(body): Body<ReceiptBody>,
) -> Result<Response, Problem> {
    let concern: ConcernId = parse_id(&cid, "concern")?;
    let action = CaseAction::AcknowledgeConcern { concern, investigation_started: body.investigation_started };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}

/// Concern list parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConcernParams {
    /// Only concerns past a deadline without a receipt.
    #[serde(default)]
    pub overdue: Option<bool>,
    /// Wait (up to 5 s) until the list reflects this feed position.
    #[param(pattern = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$")]
    #[serde(default)]
    pub min_position: Option<String>,
}

/// One concern in a list (no free text: open the case for that).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConcernItem {
    /// Concern id.
    pub id: String,
    /// Case id.
    pub case: String,
    /// Reporting organisation.
    pub reporter_org: String,
    /// Municipality.
    pub reported_to: String,
    /// Reported at.
    pub reported_at: String,
    /// Assessment due.
    pub assessment_due: String,
    /// Receipt due.
    pub receipt_due: String,
    /// Acknowledged at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<String>,
    /// Past a deadline without a receipt.
    pub overdue: bool,
}

/// Concerns, newest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ConcernList {
    /// The concerns.
    pub items: Vec<ConcernItem>,
    /// The feed position the list reflects.
    pub position: String,
}

/// The caller's concerns: reported to a municipality, or by an NGO.
#[utoipa::path(get, path = "/v1/concerns", tag = "concerns", params(ConcernParams),
    responses((status = 200, body = ConcernList), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn list_concerns(
    State(state): State<AppState>,
    Auth(caller): Auth,
    super::Params(params): super::Params<ConcernParams>,
) -> Result<Response, Problem> {
    if !matches!(caller.acting_role(), brobyg_domain::Role::Caseworker | brobyg_domain::Role::Coordinator) {
        return Err(Problem::forbidden("concern lists are for caseworkers and coordinators"));
    }
    let position = wait_for_position(&state, params.min_position.as_deref()).await?;
    let overdue_only = params.overdue.unwrap_or(false);
    let rows = state.store.concern_summaries(&caller.org, overdue_only).await?;
    let now = Utc::now();
    let today = brobyg_domain::calendar::copenhagen_date(now);
    let items = rows
        .into_iter()
        .map(|r| {
            let assessment_due = r.assessment_due.parse::<DateTime<Utc>>().ok();
            let receipt_due = r.receipt_due.parse::<NaiveDate>().ok();
            let overdue = r.acknowledged_at.is_none()
                && (assessment_due.is_some_and(|d| now > d) || receipt_due.is_some_and(|d| today > d));
            ConcernItem {
                id: r.concern_id,
                case: r.case_id,
                reporter_org: r.reporter_org,
                reported_to: r.reported_to,
                reported_at: r.reported_at,
                assessment_due: r.assessment_due,
                receipt_due: r.receipt_due,
                acknowledged_at: r.acknowledged_at,
                overdue,
            }
        })
        .filter(|c| !overdue_only || c.overdue)
        .collect();
    Ok(json_response(StatusCode::OK, Default::default(), &ConcernList { items, position: position.to_string() }))
}
