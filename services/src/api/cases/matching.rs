//! Matching a volunteer, ending a match, and ranked suggestions.

use brobyg_domain::case::CaseAction;
use brobyg_domain::volunteer::{Volunteer, VolunteerAction, VolunteerCommand};
use brobyg_domain::{Personal, VolunteerId};

use super::prelude::*;
use super::{command_releasing_volunteer, release_volunteer};
use crate::api::{DomainProblem, actor, execute, fold, log_read};
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
    OpenApiRouter::new()
        .routes(routes!(match_volunteer))
        .routes(routes!(end_match))
        .routes(routes!(match_suggestions))
        .routes(routes!(record_needs))
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
    let volunteer = fold::<Volunteer>(&state, &volunteer_id.to_string()).await?.0;
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

/// A ranked suggestion: an eligible volunteer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Suggestion {
    /// Volunteer id.
    pub volunteer: uuid::Uuid,
    /// First name.
    pub first_name: String,
    /// Higher is better.
    pub score: i64,
    /// What speaks for the match, in words.
    pub reasons: Vec<String>,
    /// What the match lacks, in words.
    pub lacks: Vec<String>,
}

/// Suggestions, best first: only volunteers the case's rules allow today.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Suggestions {
    /// The eligible volunteers, best first (ties by id).
    pub items: Vec<Suggestion>,
    /// How many of the NGO's active volunteers each bar keeps out (`no_free_place`,
    /// `not_vetted_for_age`); they are not named.
    #[schema(value_type = std::collections::BTreeMap<String, u64>)]
    pub barred: std::collections::BTreeMap<&'static str, usize>,
    /// What blocks a good match: what the best suggestion lacks, or the bars when nobody is
    /// eligible.
    pub blockers: Vec<String>,
}

/// The NGO's active volunteers, loaded. The volunteer list is a view fed from the feed: it is
/// read once it reflects every event committed before this request (a volunteer registered or
/// paused just now included), waiting at most a few seconds.
pub(crate) async fn active_volunteers(state: &AppState, org: &brobyg_domain::Org) -> Result<Vec<Volunteer>, Problem> {
    let written = state.store.last_committed().await?;
    state.views.wait_for(written, crate::limits::MIN_POSITION_WAIT).await;
    let active: Vec<String> = state
        .store
        .volunteer_summaries(org)
        .await?
        .into_iter()
        .filter(|r| r.status == "active")
        .map(|r| r.volunteer_id)
        .collect();
    Ok(state.store.load_many::<Volunteer>(&active).await?.into_iter().map(|(_, v)| v.aggregate).collect())
}

/// Ranked volunteer suggestions for a case on the young person's recorded needs (tags,
/// languages, area, weekly times), each with its reasons and what it lacks; volunteers the rules
/// bar (capacity, vetting for the young person's age) are counted, not named (coordinator).
#[utoipa::path(get, path = "/v1/cases/{id}/match-suggestions", tag = "cases",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = Suggestions), (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn match_suggestions(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
) -> Result<Response, Problem> {
    let (case, _) = load_case_for(&state, &caller, id).await?;
    require_case_coordinator(&case, &caller)?;
    let needs = case.needs.as_ref().and_then(|n| n.known());
    if needs.is_some() {
        let kinds = [brobyg_domain::Category::Wishes, brobyg_domain::Category::Practical];
        log_read(&state, &caller, &id.to_string(), "coordinator", kinds, "matching".into(), "match-suggestions")
            .await?;
    }
    let volunteers = active_volunteers(&state, &caller.org).await?;
    let ranking = matching::rank(&case, needs, volunteers.iter(), today());
    let blockers = ranking.blockers();
    let items = ranking
        .suggestions
        .into_iter()
        .map(|s| Suggestion {
            volunteer: s.volunteer.0,
            first_name: s.first_name,
            score: s.score,
            reasons: s.reasons,
            lacks: s.lacks,
        })
        .collect();
    let barred = ranking.barred.into_iter().map(|(bar, n)| (bar.as_str(), n)).collect();
    Ok(json_response(StatusCode::OK, Default::default(), &Suggestions { items, barred, blockers }))
}

/// What the young person wishes and can do, tagged for matching.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NeedsBody {
    /// Interest tags from the programme's list (`interest_tags` of the agreement); a tag given
    /// twice counts once.
    #[schema(value_type = Vec<String>, max_items = 21, example = json!(["climbing", "drawing"]))]
    pub tags: std::collections::BTreeSet<String>,
    /// Languages as ISO 639-1 codes; a language given twice counts once.
    #[schema(value_type = Vec<String>, max_items = 21, example = json!(["da"]))]
    pub languages: std::collections::BTreeSet<String>,
    /// Postcode area.
    #[schema(pattern = "^[0-9]{4}$", example = "8660")]
    pub area: String,
    /// Weekly times the young person can meet.
    #[schema(max_items = 21)]
    pub availability: Vec<crate::api::volunteers::SlotBody>,
}

/// Record what the young person wishes and can do, tagged for matching (the NGO's coordinator,
/// at the pre-meeting or after; the NGO's record, never shown to the municipality). The
/// suggestions and the waiting list work on the latest record.
#[utoipa::path(post, path = "/v1/cases/{id}/matching-needs", tag = "cases", request_body = NeedsBody,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody), (status = 409, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn record_needs(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<NeedsBody>,
) -> Result<Response, Problem> {
    let (case, _) = load_case_for(&state, &request.caller, request.id).await?;
    let agreement = load_agreement_of(&state, &case).await?;
    let needs = brobyg_domain::case::Needs {
        tags: body.tags,
        languages: body.languages,
        area: body.area,
        availability: crate::api::volunteers::slots_of(&body.availability)?,
    };
    let action = CaseAction::RecordNeeds { needs, agreement: Box::new(agreement) };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}
