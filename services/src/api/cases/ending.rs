//! The course log, and the two early ends of a journey: withdrawal and redirection.

use brobyg_domain::case::CaseAction;
use brobyg_domain::{Personal, WithdrawnBy};
use chrono::NaiveDate;

use super::command_releasing_volunteer;
use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(log_activity)).routes(routes!(withdraw)).routes(routes!(redirect))
}

/// An activity of the course.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// When.
    pub on: NaiveDate,
    /// A short word, e.g. `meeting`.
    pub kind: String,
    /// A note (NGO-owned).
    #[serde(default)]
    pub note: Option<String>,
    /// Whether the course is on track, as the coordinator judges it.
    #[serde(default)]
    pub on_track: Option<bool>,
}

/// Log an activity (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/activities", tag = "cases", request_body = Activity,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn log_activity(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Activity>,
) -> Result<Response, Problem> {
    let action =
        CaseAction::LogActivity { on: body.on, kind: body.kind, note: personal(body.note), on_track: body.on_track };
    Ok(case_command(&state, &request, action, StatusCode::CREATED).await?.response)
}

/// The young person or family stops.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    /// `young_person`, `custody_holder` or `family`.
    #[schema(value_type = brobyg_domain::WithdrawnBy, example = "young_person")]
    pub by: WithdrawnBy,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// End the journey: the young person or family withdraws (caseworker or coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/withdrawal", tag = "cases", request_body = Withdrawal,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Withdrawal>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    let action = CaseAction::Withdraw { by_whom: body.by, reason: personal(body.reason) };
    command_releasing_volunteer(&state, &request, &case, action).await
}

/// End the journey: redirect to municipal support (the municipality's caseworker).
#[utoipa::path(post, path = "/v1/cases/{id}/redirection", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn redirect(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    let action = CaseAction::Redirect { reason: Personal::new(body.reason) };
    command_releasing_volunteer(&state, &request, &case, action).await
}
