//! Cases: open, caseload, detail, and every step of the journey.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::agreement::Agreement;
use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::{
    Case, CaseAction, CaseCommand, CustodyHolder, DisclosureRequest, Outcome, Recipient, YoungPerson,
};
use brobyg_domain::volunteer::{Volunteer, VolunteerAction, VolunteerCommand};
use brobyg_domain::{
    CaseId, Category, ConsentId, DisclosureId, ItemId, Org, Participant, PersonId, Personal, Purpose, RecipientRole,
    VolunteerId, WithdrawnBy,
};
use brobyg_projections::case_view::{BriefView, CaseView, case_view, is_party, visible_categories, volunteer_brief};
use brobyg_projections::policy::{Reader, ReaderRole};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::log_read;
use super::{
    Auth, Body, IfMatch, RequestId, acting_role, actor, execute, json_response, load, parse_id, version_headers,
};
use crate::AppState;
use crate::auth::Caller;
use crate::http::Problem;
use crate::store::Cursor;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_case, list_cases))
        .routes(routes!(get_case))
        .routes(routes!(get_brief))
        .routes(routes!(add_item))
        .routes(routes!(give_consent))
        .routes(routes!(revoke_consent))
        .routes(routes!(refer))
        .routes(routes!(decide_referral))
        .routes(routes!(hold_pre_meeting))
        .routes(routes!(match_volunteer))
        .routes(routes!(end_match))
        .routes(routes!(match_suggestions))
        .routes(routes!(log_activity))
        .routes(routes!(hold_closing_meeting))
        .routes(routes!(withdraw))
        .routes(routes!(redirect))
}

// ---- shared ------------------------------------------------------------------------------------

/// List parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Wait (up to 5 s) until the list reflects this feed position (from `X-Brobyg-Position`).
    #[serde(default)]
    pub min_position: Option<String>,
    /// Opaque page cursor from `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Waits for `min_position` (if given) and returns the position the views reflect.
pub async fn wait_for_position(state: &AppState, min_position: Option<&str>) -> Result<Cursor, Problem> {
    match min_position {
        None => Ok(state.views.position()),
        Some(raw) => {
            let target: Cursor = raw
                .parse()
                .map_err(|_| Problem::invalid_request("min_position is not a position this service gave"))?;
            Ok(state.views.wait_for(target, Duration::from_secs(5)).await)
        }
    }
}

/// The short answer to a case command.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseState {
    /// Case id.
    pub id: uuid::Uuid,
    /// State.
    #[schema(value_type = String)]
    pub state: brobyg_domain::CaseState,
    /// Version (also the `ETag`).
    pub version: usize,
}

fn reader(caller: &Caller) -> Reader {
    Reader::staff(caller.org.clone(), acting_role(caller))
}

/// Loads a case the caller is a party to, or 404.
pub async fn load_case_for(state: &AppState, caller: &Caller, id: CaseId) -> Result<(Case, usize), Problem> {
    let loaded = load::<Case>(state, &id.to_string()).await?;
    if loaded.version == 0 || !is_party(&loaded.aggregate, &reader(caller)) {
        return Err(Problem::not_found("case"));
    }
    Ok((loaded.aggregate, loaded.version))
}

async fn load_agreement_of(state: &AppState, case: &Case) -> Result<Agreement, Problem> {
    let referral = case.referral.as_ref().ok_or_else(|| {
        Problem::new(
            StatusCode::CONFLICT,
            "wrong-state",
            "Not allowed in the case's state",
            "the case has not been referred",
        )
    })?;
    Ok(load::<Agreement>(state, &referral.agreement.to_string()).await?.aggregate)
}

/// Runs a case command and answers with the short case state.
async fn case_command(
    state: &AppState,
    caller: &Caller,
    id: CaseId,
    action: CaseAction,
    if_match: Option<usize>,
    request_id: &RequestId,
    status: StatusCode,
) -> Result<(crate::store::Committed<Case>, Option<crate::store::Cursor>, Response), Problem> {
    let command = || CaseCommand { actor: actor(caller), action: action.clone() };
    let (committed, position) = execute::<Case>(state, caller, &id.to_string(), command, if_match, request_id).await?;
    let body = CaseState {
        id: id.0,
        state: committed.aggregate.state.unwrap_or(brobyg_domain::CaseState::Opened),
        version: committed.version,
    };
    let response = json_response(status, version_headers(committed.version, position), &body);
    Ok((committed, position, response))
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
    caller: &Caller,
    id: CaseId,
    case: &Case,
    action: CaseAction,
    if_match: Option<usize>,
    request_id: &RequestId,
) -> Result<Response, Problem> {
    let matched = case.current_match.as_ref().map(|m| m.volunteer);
    let (_, _, response) = case_command(state, caller, id, action, if_match, request_id, StatusCode::OK).await?;
    if let Some(volunteer) = matched {
        release_volunteer(state, caller, volunteer, id, request_id).await;
    }
    Ok(response)
}

fn today() -> NaiveDate {
    copenhagen_date(Utc::now())
}

fn personal(text: Option<String>) -> Personal<String> {
    Personal::new(text.unwrap_or_default())
}

// ---- open, list, detail -----------------------------------------------------------------------

/// The young person of a new case.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewYoungPerson {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Birth date.
    pub birth_date: NaiveDate,
}

/// A custody holder of a new case.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustodyHolder {
    /// Full name.
    pub name: String,
}

/// A new case.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCase {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// The young person.
    pub young_person: NewYoungPerson,
    /// Custody holders.
    #[serde(default)]
    pub custody_holders: Vec<NewCustodyHolder>,
}

/// A person id of a new case.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PersonRef {
    /// Person id, used as grantor id.
    pub id: uuid::Uuid,
}

/// The answer to opening a case.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseOpened {
    /// Case id.
    pub id: uuid::Uuid,
    /// `opened`.
    pub state: String,
    /// Version.
    pub version: usize,
    /// The young person's id.
    pub young_person: PersonRef,
    /// The custody holders' ids, in the order given.
    pub custody_holders: Vec<PersonRef>,
}

/// Open a case for a young person (caseworker).
#[utoipa::path(post, path = "/v1/cases", tag = "cases", request_body = OpenCase,
    responses((status = 201, body = CaseOpened), (status = 400, body = crate::api::openapi::ProblemBody),
              (status = 403, body = crate::api::openapi::ProblemBody), (status = 422, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn open_case(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Body(body): Body<OpenCase>,
) -> Result<Response, Problem> {
    let id = CaseId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let young_person = YoungPerson {
        id: PersonId::new(),
        first_name: Personal::new(body.young_person.first_name),
        last_name: Personal::new(body.young_person.last_name),
        birth_date: Personal::new(body.young_person.birth_date),
    };
    let custody_holders: Vec<CustodyHolder> = body
        .custody_holders
        .into_iter()
        .map(|h| CustodyHolder { id: PersonId::new(), name: Personal::new(h.name) })
        .collect();
    let answer = CaseOpened {
        id: id.0,
        state: "opened".into(),
        version: 1,
        young_person: PersonRef { id: young_person.id.0 },
        custody_holders: custody_holders.iter().map(|h| PersonRef { id: h.id.0 }).collect(),
    };
    let action = CaseAction::Open { case: id, young_person, custody_holders };
    let (committed, position, _) =
        case_command(&state, &caller, id, action, None, &request_id, StatusCode::CREATED).await?;
    let mut headers = version_headers(committed.version, position);
    if let Ok(v) = axum::http::HeaderValue::from_str(&format!("/v1/cases/{id}")) {
        headers.insert(axum::http::header::LOCATION, v);
    }
    Ok(json_response(StatusCode::CREATED, headers, &answer))
}

/// One row of a caseload.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseListItem {
    /// Case id.
    pub id: String,
    /// State.
    pub state: String,
    /// Version.
    pub version: i64,
    /// Municipality.
    pub municipality: String,
    /// NGO, once referred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ngo: Option<String>,
    /// Programme, once referred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    /// Opened at.
    pub opened_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A page of a caseload.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CaseList {
    /// Cases, oldest first.
    pub items: Vec<CaseListItem>,
    /// The cursor of the next page, if there may be one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The feed position the list reflects.
    pub position: String,
}

/// The caller's caseload: a caseworker's municipality's cases, a coordinator's referred cases.
#[utoipa::path(get, path = "/v1/cases", tag = "cases", params(ListParams),
    responses((status = 200, body = CaseList), (status = 400, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn list_cases(
    State(state): State<AppState>,
    Auth(caller): Auth,
    super::Params(params): super::Params<ListParams>,
) -> Result<Response, Problem> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let role = acting_role(&caller);
    if !matches!(role, brobyg_domain::Role::Caseworker | brobyg_domain::Role::Coordinator) {
        return Err(Problem::forbidden("caseloads are for caseworkers and coordinators"));
    }
    let position = wait_for_position(&state, params.min_position.as_deref()).await?;
    let limit = params.limit.unwrap_or(100).clamp(1, 500);
    let after = match params.cursor.as_deref() {
        None => None,
        Some(raw) => {
            let bad = || Problem::invalid_request("cursor is not one this service gave");
            let text = URL_SAFE_NO_PAD.decode(raw).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
            let (at, id) = text.split_once('|').ok_or_else(bad)?;
            Some((at.to_owned(), id.to_owned()))
        }
    };
    let rows = state.store.case_summaries(&caller.org, after, limit).await.map_err(|e| Problem::internal(&e))?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| URL_SAFE_NO_PAD.encode(format!("{}|{}", r.opened_at, r.case_id))))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| CaseListItem {
            id: r.case_id,
            state: r.state,
            version: r.version,
            municipality: r.municipality,
            ngo: r.ngo,
            programme: r.programme,
            opened_at: r.opened_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        Default::default(),
        &CaseList { items, next_cursor, position: position.to_string() },
    ))
}

/// The case as the caller may see it.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "case id"),
           ("X-Purpose" = Option<String>, Header, description = "why the case is read (default case_work; audit for auditors)")),
    responses((status = 200, body = CaseView, headers(("ETag" = String, description = "the case version"))),
              (status = 404, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn get_case(
    State(state): State<AppState>,
    Auth(caller): Auth,
    purpose: super::Purpose,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, version) = load_case_for(&state, &caller, id).await?;
    let now = Utc::now();
    let reader = reader(&caller);
    let view = case_view(&case, version, &reader, now).ok_or_else(|| Problem::not_found("case"))?;
    let default = if view.access == "audit" { "audit" } else { "case_work" };
    let role = acting_role(&caller).as_str();
    let categories = visible_categories(&case, &reader, now);
    log_read(&state, &caller, &id.to_string(), role, categories, purpose.or(default), "case").await?;
    Ok(json_response(StatusCode::OK, version_headers(version, None), &view))
}

/// The volunteer brief: first name, age, wishes and practicalities, as far as consent names the
/// NGO's volunteers (coordinator or integrator of the case's NGO).
#[utoipa::path(get, path = "/v1/cases/{id}/brief", tag = "cases",
    params(("id" = String, Path, description = "case id"), ("X-Purpose" = Option<String>, Header, description = "why (default matching)")),
    responses((status = 200, body = BriefView), (status = 404, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn get_brief(
    State(state): State<AppState>,
    Auth(caller): Auth,
    purpose: super::Purpose,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let role = acting_role(&caller);
    if !matches!(role, brobyg_domain::Role::Coordinator | brobyg_domain::Role::Integrator) {
        return Err(Problem::forbidden("the brief is for the NGO's coordinator or volunteer app"));
    }
    let loaded = load::<Case>(&state, &id.to_string()).await?;
    let brief_reader = Reader { org: caller.org.clone(), role: ReaderRole::VolunteerBrief };
    let now = Utc::now();
    let brief = volunteer_brief(&loaded.aggregate, &brief_reader, now).ok_or_else(|| Problem::not_found("case"))?;
    let categories: Vec<Category> = brief.items.iter().map(|i| i.category).collect();
    log_read(&state, &caller, &id.to_string(), "volunteer_brief", categories, purpose.or("matching"), "brief").await?;
    Ok(json_response(StatusCode::OK, version_headers(loaded.version, None), &brief))
}

// ---- items and consent ------------------------------------------------------------------------

/// A new information item, owned by the caller's organisation.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// Category.
    #[schema(value_type = String, example = "school")]
    pub category: Category,
    /// Content.
    pub content: String,
}

/// The answer to adding an item.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ItemAdded {
    /// Item id.
    pub id: uuid::Uuid,
    /// Category.
    #[schema(value_type = String)]
    pub category: Category,
    /// Owner.
    pub owner: String,
    /// New case version.
    pub version: usize,
}

/// Add an information item (the caller's organisation owns it).
#[utoipa::path(post, path = "/v1/cases/{id}/items", tag = "cases", request_body = AddItem,
    params(("id" = String, Path, description = "case id"), ("If-Match" = Option<String>, Header, description = "expected case version")),
    responses((status = 201, body = ItemAdded), (status = 404, body = crate::api::openapi::ProblemBody),
              (status = 409, body = crate::api::openapi::ProblemBody), (status = 412, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn add_item(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<AddItem>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let item = ItemId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let action = CaseAction::AddItem { item, category: body.category, content: Personal::new(body.content) };
    let (committed, position, _) =
        case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::CREATED).await?;
    let answer =
        ItemAdded { id: item.0, category: body.category, owner: caller.org.to_string(), version: committed.version };
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &answer))
}

/// A recipient of a consent.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientBody {
    /// Organisation.
    #[schema(value_type = String, example = "ngo:kfum-sa")]
    pub org: Org,
    /// `coordinator`, `volunteer` or `caseworker`.
    #[schema(value_type = String, example = "coordinator")]
    pub role: RecipientRole,
}

/// A consent, as the grantors gave it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiveConsent {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// Person ids of the grantors.
    pub grantors: Vec<uuid::Uuid>,
    /// Recipients.
    pub recipients: Vec<RecipientBody>,
    /// Categories.
    #[schema(value_type = Vec<String>)]
    pub categories: BTreeSet<Category>,
    /// Purposes.
    #[schema(value_type = Vec<String>)]
    pub purposes: BTreeSet<Purpose>,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day.
    pub valid_until: NaiveDate,
    /// Where the signed consent is kept.
    pub evidence: String,
}

/// The id of something created.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Created {
    /// Id.
    pub id: uuid::Uuid,
    /// New case version.
    pub version: usize,
}

/// Record consent given by the grantors.
#[utoipa::path(post, path = "/v1/cases/{id}/consents", tag = "cases", request_body = GiveConsent,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = Created), (status = 422, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn give_consent(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<GiveConsent>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let consent = ConsentId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let action = CaseAction::GiveConsent {
        consent,
        grantors: body.grantors.into_iter().map(PersonId).collect(),
        recipients: body.recipients.into_iter().map(|r| Recipient { org: r.org, role: r.role }).collect(),
        categories: body.categories,
        purposes: body.purposes,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
        evidence: Personal::new(body.evidence),
    };
    let (committed, position, _) =
        case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::CREATED).await?;
    Ok(json_response(
        StatusCode::CREATED,
        version_headers(committed.version, position),
        &Created { id: consent.0, version: committed.version },
    ))
}

/// Why something ends.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// The reason.
    pub reason: String,
}

/// Revoke a consent, effective now.
#[utoipa::path(post, path = "/v1/cases/{id}/consents/{cid}/revocation", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id"), ("cid" = String, Path, description = "consent id")),
    responses((status = 200, body = CaseState), (status = 404, body = crate::api::openapi::ProblemBody),
              (status = 409, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn revoke_consent(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path((id, cid)): Path<(String, String)>,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let consent: ConsentId = parse_id(&cid, "consent")?;
    let action = CaseAction::RevokeConsent { consent, reason: Personal::new(body.reason) };
    Ok(case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::OK).await?.2)
}

// ---- referral ----------------------------------------------------------------------------------

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
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody),
              (status = 422, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn refer(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<Refer>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    load_case_for(&state, &caller, id).await?;
    let agreement = load::<Agreement>(&state, &body.agreement.to_string()).await?.aggregate;
    let visible = agreement.terms.as_ref().is_some_and(|t| t.side_of(&caller.org).is_some());
    if !visible {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
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
    Ok(case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::OK).await?.2)
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
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn decide_referral(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<Decision>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let action = match body {
        Decision::Accept => CaseAction::AcceptReferral,
        Decision::Decline { reason } => CaseAction::DeclineReferral { reason: Personal::new(reason) },
    };
    Ok(case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::OK).await?.2)
}

// ---- meetings ----------------------------------------------------------------------------------

/// Items disclosed at a meeting to one party.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclosureBody {
    /// Item ids (owned by the other party).
    pub items: Vec<uuid::Uuid>,
    /// The receiving organisation.
    #[schema(value_type = String)]
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
    #[schema(value_type = Vec<String>)]
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
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody),
              (status = 422, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn hold_pre_meeting(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<PreMeeting>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, _) = load_case_for(&state, &caller, id).await?;
    let agreement = load_agreement_of(&state, &case).await?;
    let action = CaseAction::HoldPreMeeting {
        agreement: Box::new(agreement),
        held_on: body.held_on,
        participants: body.participants,
        wishes: body.wishes.map(|w| (ItemId::new(), Personal::new(w))),
        disclosures: disclosure_requests(body.disclosures),
    };
    Ok(case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::OK).await?.2)
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
    #[schema(value_type = Vec<String>)]
    pub participants: BTreeSet<Participant>,
    /// Disclosures in either direction.
    #[serde(default)]
    pub disclosures: Vec<DisclosureBody>,
    /// Outcome measures.
    #[serde(default)]
    pub outcomes: Vec<OutcomeBody>,
}

/// Record the closing meeting and close the case (coordinator; checkpoint 3).
#[utoipa::path(post, path = "/v1/cases/{id}/closing-meeting", tag = "cases", request_body = ClosingMeeting,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody),
              (status = 422, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn hold_closing_meeting(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<ClosingMeeting>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, _) = load_case_for(&state, &caller, id).await?;
    let agreement = load_agreement_of(&state, &case).await?;
    let action = CaseAction::HoldClosingMeeting {
        agreement: Box::new(agreement),
        held_on: body.held_on,
        participants: body.participants,
        disclosures: disclosure_requests(body.disclosures),
        outcomes: body
            .outcomes
            .into_iter()
            .map(|o| Outcome { instrument: o.instrument, before: o.before, after: o.after })
            .collect(),
    };
    command_releasing_volunteer(&state, &caller, id, &case, action, if_match, &request_id).await
}

// ---- match ---------------------------------------------------------------------------------------

/// The volunteer to match.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchBody {
    /// Volunteer id.
    pub volunteer: uuid::Uuid,
}

fn unknown_volunteer(id: uuid::Uuid) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown-volunteer",
        "Unknown volunteer",
        format!("no volunteer {id} of the caller's organisation"),
    )
}

/// Match a vetted volunteer (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/match", tag = "cases", request_body = MatchBody,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody),
              (status = 422, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn match_volunteer(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<MatchBody>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, _) = load_case_for(&state, &caller, id).await?;
    let volunteer_id = VolunteerId(body.volunteer);
    let volunteer = load::<Volunteer>(&state, &volunteer_id.to_string()).await?.aggregate;
    if volunteer.ngo.as_ref() != Some(&caller.org) {
        return Err(unknown_volunteer(body.volunteer));
    }
    let facts = volunteer.facts_for(id).ok_or_else(|| unknown_volunteer(body.volunteer))?;
    // Refuse on the case's rules before taking the volunteer's capacity.
    case.check_volunteer(&facts, today()).map_err(|e| super::DomainProblem::problem(&e, &caller.org))?;
    let assign = || VolunteerCommand { actor: actor(&caller), action: VolunteerAction::Assign { case: id } };
    execute::<Volunteer>(&state, &caller, &volunteer_id.to_string(), assign, None, &request_id).await?;
    let action = CaseAction::MatchVolunteer { volunteer: facts, on: today() };
    match case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::OK).await {
        Ok((_, _, response)) => Ok(response),
        Err(problem) => {
            release_volunteer(&state, &caller, volunteer_id, id, &request_id).await;
            Err(problem)
        }
    }
}

/// End the current match; the case awaits a new one (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/match/end", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn end_match(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, _) = load_case_for(&state, &caller, id).await?;
    let action = CaseAction::EndMatch { reason: Personal::new(body.reason) };
    command_releasing_volunteer(&state, &caller, id, &case, action, if_match, &request_id).await
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
    responses((status = 200, body = Suggestions), (status = 404, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn match_suggestions(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, version) = load_case_for(&state, &caller, id).await?;
    if case.ngo() != Some(&caller.org) {
        return Err(Problem::forbidden("suggestions are for the NGO the case is referred to"));
    }
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
    let rows = state.store.volunteer_summaries(&caller.org).await.map_err(|e| Problem::internal(&e))?;
    let mut items = Vec::new();
    for row in rows.iter().filter(|r| r.status == "active") {
        let vid: VolunteerId = parse_id(&row.volunteer_id, "volunteer")?;
        let v = load::<Volunteer>(&state, &vid.to_string()).await?.aggregate;
        let (Some(facts), Some(profile)) = (v.facts_for(id), v.profile.as_ref()) else { continue };
        let mut reasons = Vec::new();
        let refusal = case.check_volunteer(&facts, today()).err();
        if let Some(e) = &refusal {
            reasons.push(e.to_string());
        }
        let shared: Vec<&String> = profile.interests.iter().filter(|i| known.contains(&i.to_lowercase())).collect();
        if !shared.is_empty() {
            reasons.push(format!(
                "shares interests: {}",
                shared.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        let free = i64::from(facts.capacity) - i64::from(facts.assigned_elsewhere);
        reasons.push(format!("{free} of {} places free", facts.capacity));
        let score = if refusal.is_none() { 1000 } else { 0 } + 10 * shared.len() as i64 + free;
        items.push(Suggestion {
            volunteer: vid.0,
            first_name: profile.first_name.expose().clone(),
            eligible: refusal.is_none(),
            score,
            reasons,
        });
    }
    items.sort_by(|a, b| b.score.cmp(&a.score).then(a.volunteer.cmp(&b.volunteer)));
    Ok(json_response(StatusCode::OK, Default::default(), &Suggestions { items }))
}

// ---- course, ending ----------------------------------------------------------------------------

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
}

/// Log an activity (coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/activities", tag = "cases", request_body = Activity,
    params(("id" = String, Path, description = "case id")),
    responses((status = 201, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn log_activity(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<Activity>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let action = CaseAction::LogActivity { on: body.on, kind: body.kind, note: personal(body.note) };
    Ok(case_command(&state, &caller, id, action, if_match, &request_id, StatusCode::CREATED).await?.2)
}

/// The young person or family stops.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    /// `young_person`, `custody_holder` or `family`.
    #[schema(value_type = String, example = "young_person")]
    pub by: WithdrawnBy,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// End the journey: the young person or family withdraws (caseworker or coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/withdrawal", tag = "cases", request_body = Withdrawal,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<Withdrawal>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, _) = load_case_for(&state, &caller, id).await?;
    let action = CaseAction::Withdraw { by_whom: body.by, reason: personal(body.reason) };
    command_releasing_volunteer(&state, &caller, id, &case, action, if_match, &request_id).await
}

/// End the journey: redirect to municipal support (caseworker or coordinator).
#[utoipa::path(post, path = "/v1/cases/{id}/redirection", tag = "cases", request_body = Reason,
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = CaseState), (status = 409, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn redirect(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    IfMatch(if_match): IfMatch,
    Path(id): Path<String>,
    Body(body): Body<Reason>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    let (case, _) = load_case_for(&state, &caller, id).await?;
    let action = CaseAction::Redirect { reason: Personal::new(body.reason) };
    command_releasing_volunteer(&state, &caller, id, &case, action, if_match, &request_id).await
}
