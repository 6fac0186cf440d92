//! Checkpoints 2 and 3: meetings planned, moved, missed and held; each party's disclosures at
//! them; measures taken along the course.

use std::collections::BTreeSet;

use brobyg_domain::case::{Absence, CaseAction, DisclosureRequest, Outcome};
use brobyg_domain::{Checkpoint, DisclosureId, ItemId, MeasurePoint, MeetingId, Org, Participant, Personal};
use chrono::NaiveDate;

use super::command_releasing_volunteer;
use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(hold_pre_meeting))
        .routes(routes!(hold_closing_meeting))
        .routes(routes!(plan_meeting))
        .routes(routes!(move_meeting))
        .routes(routes!(record_missed_meeting))
        .routes(routes!(disclose))
        .routes(routes!(record_measure))
}

/// Someone who must take part in a meeting and did not.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsenceBody {
    /// Who.
    #[schema(value_type = brobyg_domain::Participant)]
    pub participant: Participant,
    /// Why (kept by the NGO, which records the meeting).
    pub reason: String,
}

fn absences(list: Vec<AbsenceBody>) -> Vec<Absence> {
    list.into_iter().map(|a| Absence { participant: a.participant, reason: Personal::new(a.reason) }).collect()
}

/// Items disclosed at a meeting to one party.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureBody {
    /// Item ids (owned by the other party).
    pub items: Vec<uuid::Uuid>,
    /// The receiving organisation.
    #[schema(value_type = String, pattern = "^(municipality:[0-9]{4}|ngo:[a-z0-9][a-z0-9-]{0,63})$")]
    pub to: Org,
}

fn disclosure_requests(list: Vec<DisclosureBody>) -> Vec<DisclosureRequest> {
    list.into_iter()
        .map(|d| DisclosureRequest {
            id: DisclosureId::new(),
            items: d.items.into_iter().map(ItemId).collect(),
            to: d.to,
        })
        .collect()
}

/// Checkpoint 2: the pre-meeting.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreMeeting {
    /// When it was held.
    pub held_on: NaiveDate,
    /// The planned meeting this was (from `POST /v1/cases/{id}/meetings`), if it was planned.
    #[serde(default)]
    pub meeting: Option<uuid::Uuid>,
    /// Who took part: the coordinator, and everyone who must (the young person, a municipal
    /// employee, the custody holders while the young person is under 18) unless in `absent`.
    #[schema(value_type = Vec<brobyg_domain::Participant>)]
    pub participants: BTreeSet<Participant>,
    /// Who must have taken part and did not, each with a reason.
    #[serde(default)]
    pub absent: Vec<AbsenceBody>,
    /// The young person's dreams and wishes (recorded as an NGO `wishes` item).
    #[serde(default)]
    pub wishes: Option<String>,
    /// The NGO's own items disclosed to the municipality at the meeting (the municipality
    /// discloses its own with `POST /v1/cases/{id}/disclosures`).
    #[serde(default)]
    pub disclosures: Vec<DisclosureBody>,
}

/// Record the pre-meeting (coordinator; checkpoint 2).
#[utoipa::path(post, path = "/v1/cases/{id}/pre-meeting", tag = "cases", request_body = PreMeeting,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn hold_pre_meeting(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<PreMeeting>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    let agreement = load_agreement_of(&state, &case).await?;
    let action = CaseAction::HoldPreMeeting {
        agreement: Box::new(agreement),
        held_on: body.held_on,
        meeting: body.meeting.map(MeetingId),
        participants: body.participants,
        absent: absences(body.absent),
        wishes: body.wishes.map(|w| (ItemId::new(), Personal::new(w))),
        disclosures: disclosure_requests(body.disclosures),
    };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}

/// An outcome measure.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// Instrument, e.g. `sdq_total`.
    pub instrument: String,
    /// Before the course.
    pub before: f64,
    /// After the course.
    pub after: f64,
}

/// Checkpoint 3: the closing meeting.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosingMeeting {
    /// When it was held.
    pub held_on: NaiveDate,
    /// The planned meeting this was, if it was planned.
    #[serde(default)]
    pub meeting: Option<uuid::Uuid>,
    /// Who took part: as at the pre-meeting, and the volunteer of a current match.
    #[schema(value_type = Vec<brobyg_domain::Participant>)]
    pub participants: BTreeSet<Participant>,
    /// Who must have taken part and did not, each with a reason.
    #[serde(default)]
    pub absent: Vec<AbsenceBody>,
    /// The NGO's own items disclosed to the municipality at the meeting.
    #[serde(default)]
    pub disclosures: Vec<DisclosureBody>,
    /// Outcome measures: each becomes an NGO `outcome` item (sealed, erasable), disclosed to
    /// the municipality in the same commit as far as an `outcome` flow of the agreement at the
    /// closing meeting and a consent allow; what nothing allows stays with the NGO.
    #[serde(default)]
    pub outcomes: Vec<OutcomeBody>,
}

/// Record the closing meeting and close the case (coordinator; checkpoint 3; from `in_course`,
/// or from `awaiting_match` after a match ended).
#[utoipa::path(post, path = "/v1/cases/{id}/closing-meeting", tag = "cases", request_body = ClosingMeeting,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn hold_closing_meeting(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<ClosingMeeting>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    let agreement = load_agreement_of(&state, &case).await?;
    let action = CaseAction::HoldClosingMeeting {
        agreement: Box::new(agreement),
        held_on: body.held_on,
        meeting: body.meeting.map(MeetingId),
        participants: body.participants,
        absent: absences(body.absent),
        disclosures: disclosure_requests(body.disclosures),
        outcomes: body
            .outcomes
            .into_iter()
            .map(|o| (ItemId::new(), Outcome { instrument: o.instrument, before: o.before, after: o.after }))
            .collect(),
        outcome_disclosure: DisclosureId::new(),
    };
    command_releasing_volunteer(&state, &request, &case, action).await
}

/// A meeting to plan.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanMeetingBody {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// `pre_meeting` or `closing_meeting`.
    #[schema(value_type = brobyg_domain::Checkpoint, example = "pre_meeting")]
    pub checkpoint: Checkpoint,
    /// The day (today or later).
    pub on: NaiveDate,
    /// Who is invited.
    #[schema(value_type = Vec<brobyg_domain::Participant>)]
    pub invited: BTreeSet<Participant>,
}

/// The answer to planning a meeting.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MeetingPlanned {
    /// Meeting id.
    pub id: uuid::Uuid,
    /// Which meeting.
    #[schema(value_type = brobyg_domain::Checkpoint)]
    pub checkpoint: Checkpoint,
    /// The day.
    pub on: NaiveDate,
    /// New case version.
    pub version: usize,
}

/// Plan the pre-meeting or the closing meeting (caseworker or coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/meetings", tag = "cases", request_body = PlanMeetingBody,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = MeetingPlanned), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn plan_meeting(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<PlanMeetingBody>,
) -> Result<Response, Problem> {
    let meeting = MeetingId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let action = CaseAction::PlanMeeting { meeting, checkpoint: body.checkpoint, on: body.on, invited: body.invited };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let answer = MeetingPlanned { id: meeting.0, checkpoint: body.checkpoint, on: body.on, version: committed.version };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}

/// A planned meeting moves.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveMeetingBody {
    /// The new day (today or later).
    pub to: NaiveDate,
    /// Why (kept by the caller's organisation).
    pub reason: String,
}

/// Move a planned meeting to another day (caseworker or coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/meetings/{mid}/move", tag = "cases", request_body = MoveMeetingBody,
    params(("id" = String, Path, description = "case id"), ("mid" = String, Path, description = "meeting id")),
    responses((status = 200, body = CaseState), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn move_meeting(
    State(state): State<AppState>,
    request: CaseRequest,
    Path((_case, mid)): Path<(String, String)>,
    Body(body): Body<MoveMeetingBody>,
) -> Result<Response, Problem> {
    let meeting: MeetingId = parse_id(&mid, "meeting")?;
    let action = CaseAction::MoveMeeting { meeting, to: body.to, reason: Personal::new(body.reason) };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}

/// Record that a planned meeting did not take place (caseworker or coordinator); plan a new one.
#[utoipa::path(post, path = "/v1/cases/{id}/meetings/{mid}/missed", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id"), ("mid" = String, Path, description = "meeting id")),
    responses((status = 200, body = CaseState), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn record_missed_meeting(
    State(state): State<AppState>,
    request: CaseRequest,
    Path((_case, mid)): Path<(String, String)>,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let meeting: MeetingId = parse_id(&mid, "meeting")?;
    let action = CaseAction::RecordMissedMeeting { meeting, reason: Personal::new(body.reason) };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}

/// The caller's own items disclosed to the other party at a meeting that was held.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscloseBody {
    /// `pre_meeting` or `closing_meeting` (held, at most a week ago).
    #[schema(value_type = brobyg_domain::Checkpoint, example = "pre_meeting")]
    pub checkpoint: Checkpoint,
    /// Item ids owned by the caller's organisation.
    pub items: Vec<uuid::Uuid>,
}

/// The answer to a disclosure.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Disclosed {
    /// Disclosure id.
    pub id: uuid::Uuid,
    /// The checkpoint.
    #[schema(value_type = brobyg_domain::Checkpoint)]
    pub checkpoint: Checkpoint,
    /// The receiving organisation.
    pub to: String,
    /// New case version.
    pub version: usize,
}

/// Disclose the caller's own items to the other party at a meeting that was held, under the
/// agreement's flows and the family's consent (caseworker or coordinator, under their own user).
#[utoipa::path(post, path = "/v1/cases/{id}/disclosures", tag = "cases", request_body = DiscloseBody,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Disclosed), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn disclose(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<DiscloseBody>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    let (case, _) = load_case_for(&state, caller, id).await?;
    // A party's role that may not disclose is told so before anything about the case's state.
    let role = crate::api::acting_role(caller);
    if !matches!(role, brobyg_domain::Role::Caseworker | brobyg_domain::Role::Coordinator) {
        return Err(Problem::forbidden(format!("role {} may not disclose", role.as_str())));
    }
    let agreement = load_agreement_of(&state, &case).await?;
    let disclosure = DisclosureId::new();
    let action = CaseAction::Disclose {
        checkpoint: body.checkpoint,
        items: body.items.into_iter().map(ItemId).collect(),
        disclosure,
        agreement: Box::new(agreement),
    };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let to = committed.aggregate.disclosures.iter().rev().find(|d| d.id == disclosure).map(|d| d.to.to_string());
    let answer = Disclosed {
        id: disclosure.0,
        checkpoint: body.checkpoint,
        to: to.unwrap_or_default(),
        version: committed.version,
    };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}

/// A measure taken at one point of the course.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureBody {
    /// Optional client-chosen item id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// The instrument: a short word of a-z, 0-9 and `_`, e.g. `sdq_total`.
    #[schema(example = "sdq_total", pattern = "^[a-z0-9_]{1,40}$")]
    pub instrument: String,
    /// `baseline` (from the acceptance), `closing`, or `follow_up` (after the closing meeting).
    #[schema(value_type = brobyg_domain::MeasurePoint, example = "baseline")]
    pub point: MeasurePoint,
    /// The day it was taken.
    pub on: NaiveDate,
    /// The value.
    pub value: f64,
}

/// The answer to recording a measure.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MeasureRecorded {
    /// Item id.
    pub id: uuid::Uuid,
    /// `development` for a baseline, `outcome` otherwise.
    #[schema(value_type = brobyg_domain::Category)]
    pub category: brobyg_domain::Category,
    /// Owner (the caller's organisation).
    pub owner: String,
    /// New case version.
    pub version: usize,
}

/// Record a measure (caseworker or coordinator): an item of the caller's organisation, sealed and
/// erasable, disclosed like any other item; a follow-up after the case closed.
#[utoipa::path(post, path = "/v1/cases/{id}/measures", tag = "cases", request_body = MeasureBody,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = MeasureRecorded), (status = 404, body = crate::api::problem::ProblemBody),
              (status = 409, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn record_measure(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<MeasureBody>,
) -> Result<Response, Problem> {
    let item = ItemId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let action = CaseAction::RecordMeasure {
        item,
        instrument: body.instrument,
        point: body.point,
        on: body.on,
        value: body.value,
    };
    let CaseCommitted { committed, position, .. } = case_command(&state, &request, action, StatusCode::CREATED).await?;
    let category = committed.aggregate.items.get(&item).map_or(brobyg_domain::Category::Outcome, |i| i.category);
    let answer =
        MeasureRecorded { id: item.0, category, owner: request.caller.org.to_string(), version: committed.version };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}
