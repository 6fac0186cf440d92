//! What every case endpoint shares: the request shapes, loading a case the caller is a party
//! to, running a case command, and waiting for the list views.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use brobyg_domain::agreement::Agreement;
use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::{Case, CaseAction, CaseCommand};
use brobyg_domain::{CaseId, Parties, Personal};
use brobyg_projections::case_view::is_party;
use brobyg_projections::policy::Reader;
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::version_headers;
use super::{Auth, IfMatch, Problem, RequestId, acting_role, actor, execute, fold, json_response, parse_id};
use crate::AppState;
use crate::auth::Caller;
use crate::limits::{LIST_PAGE_DEFAULT, LIST_PAGE_MAX, MIN_POSITION_WAIT};
use crate::store::{Committed, Cursor};

/// The page size asked for (`limit`), or 400 outside 1–500.
pub fn page_size(limit: Option<u32>) -> Result<u32, Problem> {
    match limit {
        None => Ok(LIST_PAGE_DEFAULT),
        Some(n) if (1..=LIST_PAGE_MAX).contains(&n) => Ok(n),
        Some(n) => Err(Problem::invalid_request(format!("limit must be 1 to {LIST_PAGE_MAX}, got {n}"))),
    }
}

/// Waits for `min_position` (if given) and returns the position the views reflect.
pub async fn wait_for_position(state: &AppState, min_position: Option<&str>) -> Result<Cursor, Problem> {
    match min_position {
        None => Ok(state.views.position()),
        Some(raw) => {
            let target: Cursor = raw
                .parse()
                .map_err(|_| Problem::invalid_request("min_position is not a position this service gave"))?;
            Ok(state.views.wait_for(target, MIN_POSITION_WAIT).await)
        }
    }
}

/// The `{id}` segment of a case path: a malformed id names nothing, so it is a 404.
fn case_id_of(params: &RawPathParams) -> Result<CaseId, Problem> {
    let raw =
        params.iter().find(|(name, _)| *name == "id").map(|(_, v)| v).ok_or_else(|| Problem::not_found("case"))?;
    parse_id(raw, "case")
}

/// A command on one case: who asks, which case, the version they expect, and the request id.
#[derive(Clone, Debug)]
pub struct CaseRequest {
    /// The authenticated caller.
    pub caller: Caller,
    /// The case in the path.
    pub id: CaseId,
    /// `If-Match`, if given.
    pub if_match: Option<usize>,
    /// The request id.
    pub request_id: RequestId,
}

impl<S: Send + Sync> FromRequestParts<S> for CaseRequest {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(caller) = Auth::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| Problem::not_found("case"))?;
        let id = case_id_of(&params)?;
        let IfMatch(if_match) = IfMatch::from_request_parts(parts, state).await?;
        let Ok(request_id) = RequestId::from_request_parts(parts, state).await;
        Ok(Self { caller, id, if_match, request_id })
    }
}

/// A read of one case: who asks, and which case.
#[derive(Clone, Debug)]
pub struct CaseRead {
    /// The authenticated caller.
    pub caller: Caller,
    /// The case in the path.
    pub id: CaseId,
}

impl<S: Send + Sync> FromRequestParts<S> for CaseRead {
    type Rejection = Problem;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(caller) = Auth::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state).await.map_err(|_| Problem::not_found("case"))?;
        Ok(Self { caller, id: case_id_of(&params)? })
    }
}

/// The short answer to a case command.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = CaseCommandAnswer)]
pub struct CaseState {
    /// Case id.
    pub id: uuid::Uuid,
    /// State.
    #[schema(value_type = brobyg_domain::CaseState)]
    pub state: brobyg_domain::CaseState,
    /// Version (also the `ETag`).
    pub version: usize,
}

/// The staff reader a caller is for the policy.
#[must_use]
pub fn reader(caller: &Caller) -> Reader {
    Reader::staff(caller.org.clone(), acting_role(caller))
}

/// Loads a case of the caller's organisation: 404 when the organisation is not a party (the
/// case does not exist for it, whatever the caller's role), 403 when it is but the caller's
/// role reads no case content (an administrator).
pub async fn load_case_for(state: &AppState, caller: &Caller, id: CaseId) -> Result<(Case, usize), Problem> {
    let (case, version) = fold::<Case>(state, &id.to_string()).await?;
    if version == 0 || !case.admits(&caller.org) {
        return Err(Problem::not_found("case"));
    }
    if !is_party(&case, &reader(caller)) {
        return Err(Problem::forbidden(format!(
            "role {} does not work with case content",
            acting_role(caller).as_str()
        )));
    }
    Ok((case, version))
}

/// The agreement a referred case runs under; 409 before the referral.
pub async fn load_agreement_of(state: &AppState, case: &Case) -> Result<Agreement, Problem> {
    let referral = case.referral.as_ref().ok_or_else(|| Problem::wrong_state("the case has not been referred"))?;
    Ok(fold::<Agreement>(state, &referral.agreement.to_string()).await?.0)
}

/// What a case command committed, and the answer to send.
#[derive(Debug)]
pub struct CaseCommitted {
    /// The events and the case after them.
    pub committed: Committed<Case>,
    /// The feed position of the last event.
    pub position: Option<Cursor>,
    /// The short case state with `ETag` and position headers.
    pub response: Response,
}

/// Runs a case command and answers with the short case state.
pub async fn case_command(
    state: &AppState,
    request: &CaseRequest,
    action: CaseAction,
    status: StatusCode,
) -> Result<CaseCommitted, Problem> {
    let caller = &request.caller;
    let command = || CaseCommand { actor: actor(caller), action: action.clone() };
    let (committed, position) =
        execute::<Case>(state, caller, &request.id.to_string(), command, request.if_match, &request.request_id).await?;
    let body = CaseState {
        id: request.id.0,
        state: committed.aggregate.state.unwrap_or(brobyg_domain::CaseState::Opened),
        version: committed.version,
    };
    let response = json_response(status, version_headers(committed.version, position), &body);
    Ok(CaseCommitted { committed, position, response })
}

/// Today in Copenhagen.
#[must_use]
pub fn today() -> NaiveDate {
    copenhagen_date(Utc::now())
}

/// An optional text as a personal value (empty when absent).
#[must_use]
pub fn personal(text: Option<String>) -> Personal<String> {
    Personal::new(text.unwrap_or_default())
}
