//! Checkpoint 1: the referral, and the NGO's decision on it.

use brobyg_domain::agreement::Agreement;
use brobyg_domain::case::CaseAction;
use brobyg_domain::{DisclosureId, ItemId, Personal};

use super::prelude::*;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refer)).routes(routes!(decide_referral))
}

/// Checkpoint 1: the referral.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refer {
    /// The agreement.
    pub agreement: uuid::Uuid,
    /// The municipality's items to disclose.
    #[serde(default)]
    pub items: Vec<uuid::Uuid>,
    /// A note to the NGO.
    #[serde(default)]
    pub note: Option<String>,
}

/// Refer the case to an NGO programme (caseworker; checkpoint 1).
#[utoipa::path(post, path = "/v1/cases/{id}/referral", tag = "cases", request_body = Refer,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody),
              (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn refer(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Refer>,
) -> Result<Response, Problem> {
    let (caller, id) = (&request.caller, request.id);
    load_case_for(&state, caller, id).await?;
    let agreement = fold::<Agreement>(&state, &body.agreement.to_string()).await?.0;
    let visible = agreement.terms.as_ref().is_some_and(|t| t.side_of(&caller.org).is_some());
    if !visible {
        return Err(Problem::unknown(
            "unknown-agreement",
            "Unknown agreement",
            format!("no agreement {} of the caller's organisation", body.agreement),
        ));
    }
    let action = CaseAction::SubmitReferral {
        agreement: Box::new(agreement),
        items: body.items.into_iter().map(ItemId).collect(),
        note: personal(body.note),
        disclosure: DisclosureId::new(),
    };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}

/// The NGO's decision on a referral.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Accept.
    Accept,
    /// Decline, with a reason.
    Decline {
        /// Why.
        reason: String,
    },
}

/// Accept or decline the referral (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/referral/decision", tag = "cases", request_body = Decision,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn decide_referral(
    State(state): State<AppState>,
    request: CaseRequest,
    Body(body): Body<Decision>,
) -> Result<Response, Problem> {
    let action = match body {
        Decision::Accept => CaseAction::AcceptReferral,
        Decision::Decline { reason } => CaseAction::DeclineReferral { reason: Personal::new(reason) },
    };
    Ok(case_command(&state, &request, action, StatusCode::OK).await?.response)
}
