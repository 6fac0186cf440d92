//! Cases: one file per part of the journey, each with its own routes.
//!
//! - `open`: open a case, the caseload, the case and the volunteer brief
//! - `items`: information items and consent
//! - `family`: custody holders and guardians as they change
//! - `referral`: checkpoint 1 and the NGO's decision
//! - `meetings`: checkpoints 2 and 3
//! - `matching`: match, end a match, suggestions
//! - `ending`: the course log, withdrawal and redirection
//! - `timeline`: the case's events as the reader may see them
//! - `waiting`: the NGO's waiting list and its board of demand against capacity

mod ending;
mod family;
mod items;
mod matching;
mod meetings;
mod open;
mod referral;
mod timeline;
mod waiting;

use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::case::{Case, CaseAction};
use brobyg_domain::volunteer::{Volunteer, VolunteerAction, VolunteerCommand};
use brobyg_domain::{CaseId, VolunteerId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use super::case_access::{CaseRequest, case_command};
use super::{Problem, RequestId, actor, execute};
use crate::AppState;
use crate::auth::Caller;

/// The routes of every part of the journey.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(open::router())
        .merge(items::router())
        .merge(family::router())
        .merge(referral::router())
        .merge(meetings::router())
        .merge(matching::router())
        .merge(ending::router())
        .merge(timeline::router())
        .merge(waiting::router())
}

/// What the case endpoints' files share.
mod prelude {
    pub use axum::extract::{Path, State};
    pub use axum::http::StatusCode;
    pub use axum::response::Response;
    pub use serde::{Deserialize, Serialize};
    pub use utoipa::ToSchema;
    pub use utoipa_axum::router::OpenApiRouter;
    pub use utoipa_axum::routes;

    pub use super::Reason;
    pub use crate::AppState;
    pub use crate::api::case_access::{
        CaseCommitted, CaseRead, CaseRequest, CaseState, case_command, load_agreement_of, load_case_for, personal,
        reader, today,
    };
    pub use crate::api::{Body, Problem, fold, json_response, parse_id, version_headers};
}

/// Why something ends.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// The reason.
    pub reason: String,
}

/// Lets the volunteer go after a case's match ended; logged, not failed, if it cannot.
async fn release_volunteer(
    state: &AppState,
    caller: &Caller,
    volunteer: VolunteerId,
    case: CaseId,
    request_id: &RequestId,
) {
    let command = || VolunteerCommand { actor: actor(caller), action: VolunteerAction::Release { case } };
    if let Err(e) = execute::<Volunteer>(state, caller, &volunteer.to_string(), command, None, request_id).await {
        tracing::error!(volunteer.id = %volunteer, case.id = %case, error = %e, "could not release the volunteer");
    }
}

/// Runs a command that ends the current match (if any), then lets the volunteer go.
async fn command_releasing_volunteer(
    state: &AppState,
    request: &CaseRequest,
    case: &Case,
    action: CaseAction,
) -> Result<Response, Problem> {
    let matched = case.current_match.as_ref().map(|m| m.volunteer);
    let response = case_command(state, request, action, StatusCode::OK).await?.response;
    if let Some(volunteer) = matched {
        release_volunteer(state, &request.caller, volunteer, request.id, &request.request_id).await;
    }
    Ok(response)
}
