//! Checkpoints 2 and 3: the pre-meeting and the closing meeting.

use std::collections::BTreeSet;

use brobyg_domain::case::{CaseAction, DisclosureRequest, Outcome};
use brobyg_domain::{DisclosureId, ItemId, Org, Participant, Personal};
use chrono::NaiveDate;

use super::command_releasing_volunteer;
use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(hold_pre_meeting)).routes(routes!(hold_closing_meeting))
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
    /// Who took part.
    #[schema(value_type = Vec<brobyg_domain::Participant>)]
    pub participants: BTreeSet<Participant>,
    /// The young person's dreams and wishes (recorded as an NGO `wishes` item).
    #[serde(default)]
    pub wishes: Option<String>,
    /// Disclosures in either direction.
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
        participants: body.participants,
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
    /// Who took part.
    #[schema(value_type = Vec<brobyg_domain::Participant>)]
    pub participants: BTreeSet<Participant>,
    /// Disclosures in either direction.
    #[serde(default)]
    pub disclosures: Vec<DisclosureBody>,
    /// Outcome measures: each becomes an NGO `outcome` item (sealed, erasable), disclosed to
    /// the municipality in the same commit as far as an `outcome` flow of the agreement at the
    /// closing meeting and a consent allow; what nothing allows stays with the NGO.
    #[serde(default)]
    pub outcomes: Vec<OutcomeBody>,
}

/// Record the closing meeting and close the case (coordinator; checkpoint 3).
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
        participants: body.participants,
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
