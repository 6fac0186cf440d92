//! Matching a volunteer, ending a match, and ranked suggestions.

use brobyg_domain::case::CaseAction;
use brobyg_domain::volunteer::{Volunteer, VolunteerAction, VolunteerCommand};
use brobyg_domain::{Personal, VolunteerId};
use chrono::Utc;

use super::prelude::*;
use super::{command_releasing_volunteer, release_volunteer};
use crate::api::{DomainProblem, actor, execute, load, log_read};
use brobyg_projections::case_view::{case_view, visible_categories};
use brobyg_projections::matching;

/// 403 unless the caller is a coordinator of the NGO the case is referred to.
fn require_case_coordinator(case: &brobyg_domain::case::Case, caller: &crate::auth::Caller) -> Result<(), Problem> {
    if caller.acting_role() == brobyg_domain::Role::Coordinator && case.ngo() == Some(&caller.org) {
        Ok(())
    } else {
        Err(Problem::forbidden("matching is for the coordinator of the NGO the case is referred to"))
    }
}

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(match_volunteer)).routes(routes!(end_match)).routes(routes!(match_suggestions))
}

/// The volunteer to match.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    /// Volunteer id.
    pub volunteer: uuid::Uuid,
}

fn unknown_volunteer(id: uuid::Uuid) -> Problem {
    Problem::unknown(
        "unknown-volunteer",
        "Unknown volunteer",
        format!("no volunteer {id} of the caller's organisation"),
    )
}

/// Match a vetted volunteer (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/match", tag = "cases", request_body = MatchBody,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn match_volunteer(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<MatchBody>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    require_case_coordinator(&case, caller)?;
    let volunteer_id = VolunteerId(body.volunteer);
    let volunteer = load::<Volunteer>(&state, &volunteer_id.to_string()).await?.aggregate;
    if volunteer.ngo.as_ref() != Some(&caller.org) {
        return Err(unknown_volunteer(body.volunteer));
    }
    let facts = volunteer.facts_for(id).ok_or_else(|| unknown_volunteer(body.volunteer))?;
    // Refuse on the case's rules before taking the volunteer's capacity.
    case.check_volunteer(&facts, today()).map_err(|e| DomainProblem::problem(&e, &caller.org))?;
    let assign = || VolunteerCommand { actor: actor(caller), action: VolunteerAction::Assign { case: id } };
    execute::<Volunteer>(&state, caller, &volunteer_id.to_string(), assign, None, &request.request_id).await?;
    let action = CaseAction::MatchVolunteer { volunteer: facts, on: today() };
    match case_command(&state, &request, action, StatusCode::OK).await {
        Ok(done) => Ok(done.response),
        Err(problem) => {
            release_volunteer(&state, caller, volunteer_id, id, &request.request_id).await;
            Err(problem)
        }
    }
}

/// End the current match; the case awaits a new one (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/match/end", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn end_match(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    let action = CaseAction::EndMatch { reason: Personal::new(body.reason) };
    command_releasing_volunteer(&state, &request, &case, action).await
}

/// A ranked suggestion.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Suggestion {
    /// Volunteer id.
    pub volunteer: uuid::Uuid,
    /// First name.
    pub first_name: String,
    /// Whether the volunteer may be matched now.
    pub eligible: bool,
    /// Higher is better.
    pub score: i64,
    /// Why, in words.
    pub reasons: Vec<String>,
}

/// Suggestions, best first.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// The suggestions.
    pub items: Vec<Suggestion>,
}

/// Ranked volunteer suggestions for a case, with reasons (coordinator).
#[utoipa::path(get, path = "/v1/cases/{id}/match-suggestions", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = Suggestions), (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn match_suggestions(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
) -> Result<Response, Problem> {
    let (case, version) = load_case_for(&state, &caller, id).await?;
    require_case_coordinator(&case, &caller)?;
    let now = Utc::now();
    let view = case_view(&case, version, &reader(&caller), now).ok_or_else(|| Problem::not_found("case"))?;
    log_read(
        &state,
        &caller,
        &id.to_string(),
        "coordinator",
        visible_categories(&case, &reader(&caller), now),
        "matching".into(),
        "match-suggestions",
    )
    .await?;
    let known: String = view.items.iter().map(|i| i.content.to_lowercase()).collect::<Vec<_>>().join(" ");
    let active: Vec<String> = state
        .store
        .volunteer_summaries(&caller.org)
        .await?
        .into_iter()
        .filter(|r| r.status == "active")
        .map(|r| r.volunteer_id)
        .collect();
    let volunteers = state.store.load_many::<Volunteer>(&active).await?;
    let items = matching::rank(&case, &known, volunteers.iter().map(|(_, v)| &v.aggregate), today())
        .into_iter()
        .map(|s| Suggestion {
            volunteer: s.volunteer.0,
            first_name: s.first_name,
            eligible: s.eligible,
            score: s.score,
            reasons: s.reasons,
        })
        .collect();
    Ok(json_response(StatusCode::OK, Default::default(), &Suggestions { items }))
}
