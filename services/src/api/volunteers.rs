//! Volunteers: register, vet, change status, list.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::volunteer::{Profile, Slot, Volunteer, VolunteerAction, VolunteerCommand, VolunteerStatus, Weekday};
use brobyg_domain::{Personal, Role, VolunteerId};
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Auth, Body, RequestId, actor, execute, json_response, load, parse_id, version_headers};
use crate::AppState;
use crate::api::Problem;
use crate::auth::Caller;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_volunteer, list_volunteers))
        .routes(routes!(get_volunteer))
        .routes(routes!(record_vetting))
        .routes(routes!(change_status))
        .routes(routes!(set_sharing))
        .routes(routes!(record_session))
        .routes(routes!(record_reference))
}

/// Runs a command on one of the caller's NGO's volunteers (coordinator) and answers with the
/// volunteer: 404 for another organisation's, 403 for a role that does not manage volunteers.
async fn volunteer_command(
    state: &AppState,
    caller: &Caller,
    request_id: &RequestId,
    id: &str,
    action: VolunteerAction,
) -> Result<Response, Problem> {
    let id: VolunteerId = parse_id(id, "volunteer")?;
    load_own(state, caller, id).await?;
    require_coordinator(caller)?;
    let command = || VolunteerCommand { actor: actor(caller), action: action.clone() };
    let (committed, position) = execute::<Volunteer>(state, caller, &id.to_string(), command, None, request_id).await?;
    let body = response(&committed.aggregate, committed.version).ok_or_else(|| Problem::not_found("volunteer"))?;
    Ok(json_response(StatusCode::OK, version_headers(committed.version, position), &body))
}

/// A training or supervision session.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// `training` or `supervision`.
    #[schema(value_type = brobyg_domain::volunteer::SessionKind)]
    pub kind: brobyg_domain::volunteer::SessionKind,
    /// The day it took place.
    pub on: NaiveDate,
}

/// Record a training or supervision session the volunteer took part in (coordinator).
#[utoipa::path(post, path = "/v1/volunteers/{id}/sessions", tag = "volunteers", request_body = SessionBody,
    params(("id" = String, Path, description = "volunteer id")),
    responses((status = 200, body = VolunteerResponse), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn record_session(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<SessionBody>,
) -> Result<Response, Problem> {
    let action = VolunteerAction::RecordSession { kind: body.kind, on: body.on };
    volunteer_command(&state, &caller, &request_id, &id, action).await
}

/// A reference taken up.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceBody {
    /// The day it was taken up.
    pub on: NaiveDate,
    /// The coordinator's summary (sealed; never the referee's contact details).
    #[serde(default)]
    pub note: String,
}

/// Record a reference taken up for the volunteer (coordinator).
#[utoipa::path(post, path = "/v1/volunteers/{id}/references", tag = "volunteers", request_body = ReferenceBody,
    params(("id" = String, Path, description = "volunteer id")),
    responses((status = 200, body = VolunteerResponse), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn record_reference(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<ReferenceBody>,
) -> Result<Response, Problem> {
    let action = VolunteerAction::RecordReference { on: body.on, note: Personal::new(body.note) };
    volunteer_command(&state, &caller, &request_id, &id, action).await
}

/// The volunteer's own word on what the municipality may know.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    /// `true`: the municipality of a case the volunteer is matched with may know their first
    /// name, vetting status and start date; `false` withdraws it from now on.
    pub with_municipality: bool,
}

/// Record the volunteer's consent (or its withdrawal) to the municipality of a matched case
/// knowing their first name, vetting status and start date (coordinator; nothing else of the
/// volunteer crosses).
#[utoipa::path(post, path = "/v1/volunteers/{id}/sharing", tag = "volunteers", request_body = Sharing,
    params(("id" = String, Path, description = "volunteer id")),
    responses((status = 200, body = VolunteerResponse), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn set_sharing(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<Sharing>,
) -> Result<Response, Problem> {
    let action = VolunteerAction::SetSharing { with_municipality: body.with_municipality };
    volunteer_command(&state, &caller, &request_id, &id, action).await
}

/// A weekly availability slot.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotBody {
    /// `mon` … `sun`.
    #[schema(value_type = brobyg_domain::volunteer::Weekday, example = "tue")]
    pub weekday: Weekday,
    /// `HH:MM`.
    #[schema(example = "17:00")]
    pub from: String,
    /// `HH:MM`.
    #[schema(example = "20:00")]
    pub to: String,
}

/// A new volunteer.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterVolunteer {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// First name only.
    pub first_name: String,
    /// Interests.
    #[serde(default)]
    pub interests: Vec<String>,
    /// Languages (ISO 639-1).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Postal code area.
    pub area: String,
    /// Weekly availability.
    #[serde(default)]
    pub availability: Vec<SlotBody>,
    /// Young people at once (at least 1).
    #[serde(deserialize_with = "super::extract::whole::u32")]
    pub capacity: u32,
}

/// Vetting dates; a date left out keeps the one on record (renew the declaration alone).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vetting {
    /// Date of the child certificate (børneattest).
    #[serde(default)]
    pub child_certificate_date: Option<NaiveDate>,
    /// Date the confidentiality declaration was signed.
    #[serde(default)]
    pub confidentiality_declaration_date: Option<NaiveDate>,
}

/// A status change.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `active` (resume), `paused` or `retired`.
    #[schema(value_type = brobyg_domain::volunteer::VolunteerStatus, example = "paused")]
    pub status: VolunteerStatus,
}

/// A volunteer as their NGO sees them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VolunteerResponse {
    /// Id.
    pub id: uuid::Uuid,
    /// NGO.
    pub ngo: String,
    /// First name.
    pub first_name: String,
    /// Interests.
    pub interests: Vec<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Area.
    pub area: String,
    /// Availability.
    pub availability: Vec<SlotBody>,
    /// Capacity.
    pub capacity: u32,
    /// `active`, `paused` or `retired`.
    #[schema(value_type = brobyg_domain::volunteer::VolunteerStatus)]
    pub status: VolunteerStatus,
    /// Child certificate date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_certificate_date: Option<NaiveDate>,
    /// Confidentiality declaration date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidentiality_declaration_date: Option<NaiveDate>,
    /// Cases matched now.
    pub assignments: Vec<uuid::Uuid>,
    /// The last day the child certificate counts (24 months after it was issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub child_certificate_valid_until: Option<NaiveDate>,
    /// The child certificate runs out within 60 days (or has): renew it before it does.
    pub vetting_renewal_due: bool,
    /// Whether the volunteer agreed that the municipality of a matched case may know their
    /// first name, vetting status and start date.
    pub shares_with_municipality: bool,
    /// The day the volunteer started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<NaiveDate>,
    /// Training and supervision sessions, in order.
    pub sessions: Vec<SessionBody>,
    /// The day of the latest supervision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_supervision_on: Option<NaiveDate>,
    /// How many references were taken up.
    pub references_checked: usize,
    /// Version.
    pub version: usize,
}

/// How long before a child certificate runs out the volunteer is reminded to renew it.
pub const VETTING_RENEWAL_NOTICE_DAYS: u64 = 60;

/// A page of volunteers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct VolunteerList {
    /// The volunteers.
    pub items: Vec<VolunteerResponse>,
    /// The feed position the list reflects.
    pub position: String,
}

fn response(v: &Volunteer, version: usize) -> Option<VolunteerResponse> {
    let p = v.profile.as_ref()?;
    let valid_until = v.child_certificate_date.and_then(|d| {
        d.checked_add_months(chrono::Months::new(brobyg_domain::volunteer::CHILD_CERTIFICATE_VALID_MONTHS))
            .and_then(|end| end.pred_opt())
    });
    Some(VolunteerResponse {
        id: v.id?.0,
        ngo: v.ngo.as_ref()?.to_string(),
        first_name: p.first_name.expose().clone(),
        interests: p.interests.clone(),
        languages: p.languages.clone(),
        area: p.area.clone(),
        availability: p
            .availability
            .iter()
            .map(|s| SlotBody {
                weekday: s.weekday,
                from: s.from.format("%H:%M").to_string(),
                to: s.to.format("%H:%M").to_string(),
            })
            .collect(),
        capacity: p.capacity,
        status: v.status,
        child_certificate_date: v.child_certificate_date,
        confidentiality_declaration_date: v.confidentiality_declaration_date,
        assignments: v.assignments.iter().map(|c| c.0).collect(),
        child_certificate_valid_until: valid_until,
        vetting_renewal_due: valid_until.is_some_and(|until| {
            let today = brobyg_domain::calendar::copenhagen_date(chrono::Utc::now());
            today.checked_add_days(chrono::Days::new(VETTING_RENEWAL_NOTICE_DAYS)).is_none_or(|soon| until <= soon)
        }),
        shares_with_municipality: v.shares_with_municipality,
        since: v.since,
        sessions: v.sessions.iter().map(|x| SessionBody { kind: x.kind, on: x.on }).collect(),
        last_supervision_on: v
            .sessions
            .iter()
            .filter(|x| x.kind == brobyg_domain::volunteer::SessionKind::Supervision)
            .map(|x| x.on)
            .max(),
        references_checked: v.references.len(),
        version,
    })
}

fn require_coordinator(caller: &Caller) -> Result<(), Problem> {
    if caller.has(Role::Coordinator) && !caller.org.is_municipality() {
        Ok(())
    } else {
        Err(Problem::forbidden("only an NGO coordinator manages volunteers"))
    }
}

/// Weekly times from their bodies, each `HH:MM`; 422 naming the field otherwise.
pub(crate) fn slots_of(bodies: &[SlotBody]) -> Result<Vec<Slot>, Problem> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(Slot {
                weekday: s.weekday,
                from: parse_time(&s.from, &format!("availability[{i}].from"))?,
                to: parse_time(&s.to, &format!("availability[{i}].to"))?,
            })
        })
        .collect()
}

fn parse_time(s: &str, field: &str) -> Result<NaiveTime, Problem> {
    NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| Problem::invalid_field(format!("{field}: use HH:MM, got {s:?}")))
}

/// Register a volunteer of the caller's NGO.
#[utoipa::path(post, path = "/v1/volunteers", tag = "volunteers", request_body = RegisterVolunteer,
    responses((status = 201, body = VolunteerResponse), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody), (status = 422, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn register_volunteer(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Body(body): Body<RegisterVolunteer>,
) -> Result<Response, Problem> {
    require_coordinator(&caller)?;
    let id = VolunteerId(body.id.unwrap_or_else(uuid::Uuid::new_v4));
    let availability = slots_of(&body.availability)?;
    let profile = Profile {
        first_name: Personal::new(body.first_name),
        interests: body.interests,
        languages: body.languages,
        area: body.area,
        availability,
        capacity: body.capacity,
    };
    let command = || VolunteerCommand {
        actor: actor(&caller),
        action: VolunteerAction::Register { id, profile: profile.clone() },
    };
    let (committed, position) =
        execute::<Volunteer>(&state, &caller, &id.to_string(), command, None, &request_id).await?;
    let body = response(&committed.aggregate, committed.version).ok_or_else(|| Problem::not_found("volunteer"))?;
    Ok(json_response(StatusCode::CREATED, version_headers(committed.version, position), &body))
}

/// Loads a volunteer of the caller's NGO, or 404 (asked before the caller's role, so another
/// organisation learns nothing of the volunteer).
async fn load_own(state: &AppState, caller: &Caller, id: VolunteerId) -> Result<(Volunteer, usize), Problem> {
    let loaded = load::<Volunteer>(state, &id.to_string()).await?;
    if loaded.aggregate.ngo.as_ref() != Some(&caller.org) {
        return Err(Problem::not_found("volunteer"));
    }
    Ok((loaded.aggregate, loaded.version))
}

/// Record the child certificate and confidentiality declaration.
#[utoipa::path(post, path = "/v1/volunteers/{id}/vetting", tag = "volunteers", request_body = Vetting,
    params(("id" = String, Path, description = "volunteer id")),
    responses((status = 200, body = VolunteerResponse), (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn record_vetting(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<Vetting>,
) -> Result<Response, Problem> {
    let action = VolunteerAction::RecordVetting {
        child_certificate_date: body.child_certificate_date,
        confidentiality_declaration_date: body.confidentiality_declaration_date,
    };
    volunteer_command(&state, &caller, &request_id, &id, action).await
}

/// Pause, resume (`active`) or retire a volunteer.
#[utoipa::path(post, path = "/v1/volunteers/{id}/status", tag = "volunteers", request_body = StatusChange,
    params(("id" = String, Path, description = "volunteer id")),
    responses((status = 200, body = VolunteerResponse), (status = 409, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn change_status(
    State(state): State<AppState>,
    Auth(caller): Auth,
    request_id: RequestId,
    Path(id): Path<String>,
    Body(body): Body<StatusChange>,
) -> Result<Response, Problem> {
    let action = match body.status {
        VolunteerStatus::Active => VolunteerAction::Resume,
        VolunteerStatus::Paused => VolunteerAction::Pause,
        VolunteerStatus::Retired => VolunteerAction::Retire,
    };
    volunteer_command(&state, &caller, &request_id, &id, action).await
}

/// One volunteer of the caller's NGO.
#[utoipa::path(get, path = "/v1/volunteers/{id}", tag = "volunteers",
    params(("id" = String, Path, description = "volunteer id")),
    responses((status = 200, body = VolunteerResponse), (status = 404, body = crate::api::problem::ProblemBody), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn get_volunteer(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: VolunteerId = parse_id(&id, "volunteer")?;
    let (volunteer, version) = load_own(&state, &caller, id).await?;
    require_coordinator(&caller)?;
    let body = response(&volunteer, version).ok_or_else(|| Problem::not_found("volunteer"))?;
    Ok(json_response(StatusCode::OK, version_headers(version, None), &body))
}

/// Volunteer list parameters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VolunteerListParams {
    /// Wait (up to 5 s) until the list reflects this feed position (from `X-Brobyg-Position`).
    #[param(pattern = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$")]
    #[serde(default)]
    pub min_position: Option<String>,
    /// `true`: only volunteers whose child certificate runs out within 60 days (or has).
    #[serde(default)]
    pub vetting_renewal_due: Option<bool>,
}

/// The caller's NGO's volunteers, all of them (an NGO has hundreds, not more; at most
/// 10 000).
#[utoipa::path(get, path = "/v1/volunteers", tag = "volunteers",
    params(VolunteerListParams),
    responses((status = 200, body = VolunteerList), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn list_volunteers(
    State(state): State<AppState>,
    Auth(caller): Auth,
    super::Params(params): super::Params<VolunteerListParams>,
) -> Result<Response, Problem> {
    require_coordinator(&caller)?;
    let position = super::case_access::wait_for_position(&state, params.min_position.as_deref()).await?;
    let ids: Vec<String> =
        state.store.volunteer_summaries(&caller.org).await?.into_iter().map(|r| r.volunteer_id).collect();
    let items: Vec<VolunteerResponse> = state
        .store
        .load_many::<Volunteer>(&ids)
        .await?
        .iter()
        .filter_map(|(_, loaded)| response(&loaded.aggregate, loaded.version))
        .filter(|v| params.vetting_renewal_due.is_none_or(|due| v.vetting_renewal_due == due))
        .collect();
    Ok(json_response(StatusCode::OK, Default::default(), &VolunteerList { items, position: position.to_string() }))
}
