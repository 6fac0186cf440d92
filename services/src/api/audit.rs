//! Auditors: the full history of a case, its state as of a moment and as one organisation saw
//! it then, the access log, signed checkpoints and verification of the hash chains.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::CaseId;
use brobyg_domain::case::Case;
use brobyg_projections::case_view::{case_view, limited_to, visible_categories};
use brobyg_projections::policy::{Access, Reader, access};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::audit::CheckpointView;

use super::case_access::CaseRead;
use super::{Auth, Purpose, json_response, load, log_read};
use crate::AppState;
use crate::api::Problem;
use crate::auth::Caller;
use crate::store::AccessEntry;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(access_log))
        .routes(routes!(case_events))
        .routes(routes!(case_state))
        .routes(routes!(checkpoints))
        .routes(routes!(verify))
}

/// One read of the case's personal data.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccessLogEntry {
    /// When.
    pub read_at: String,
    /// Who (user id).
    pub reader: String,
    /// Their organisation.
    pub organisation: String,
    /// The role they read in.
    pub role: String,
    /// Why.
    pub purpose: String,
    /// The categories shown.
    pub categories: Vec<String>,
    /// Which endpoint.
    pub endpoint: String,
}

/// A case's access log.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AccessLog {
    /// Case id.
    pub case: String,
    /// Reads, oldest first.
    pub entries: Vec<AccessLogEntry>,
}

/// One read as the young person may learn of it: when and why, not by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SubjectAccessEntry {
    /// The day of the read.
    pub date: String,
    /// Why.
    pub purpose: String,
    /// The kind of organisation (`municipality` or `ngo`), never the person.
    pub organisation_kind: String,
    /// `read` (a person read it) or `delivery` (sent to the organisation's systems: feed,
    /// stream, webhook or NATS).
    pub kind: String,
}

/// The subject-facing form of an access log: dates and purposes, no staff identity.
#[must_use]
pub fn subject_form(entries: &[AccessEntry]) -> Vec<SubjectAccessEntry> {
    entries
        .iter()
        .map(|e| SubjectAccessEntry {
            date: e.read_at.date_naive().to_string(),
            purpose: e.purpose.clone(),
            organisation_kind: if e.reader_org.starts_with("municipality:") { "municipality" } else { "ngo" }
                .to_owned(),
            kind: if is_delivery(&e.endpoint) { "delivery" } else { "read" }.to_owned(),
        })
        .collect()
}

/// Whether an access-log entry records a delivery to an organisation's systems.
fn is_delivery(endpoint: &str) -> bool {
    endpoint.starts_with("GET /v1/feed") || endpoint.starts_with("webhook ") || endpoint == "nats"
}

/// 403 unless the caller is an auditor.
pub(super) fn require_auditor(caller: &Caller) -> Result<(), Problem> {
    if caller.has(brobyg_domain::Role::Auditor) {
        Ok(())
    } else {
        Err(Problem::forbidden("audit endpoints are for auditors"))
    }
}

/// Loads a case of the caller's organisation for an auditor: 404 when the organisation is not a
/// party (whatever the role), then 403 unless the caller is an auditor.
pub async fn load_for_auditor(state: &AppState, caller: &Caller, id: CaseId) -> Result<(Case, usize), Problem> {
    let loaded = loaded_for_auditor(state, caller, id).await?;
    Ok((loaded.aggregate, loaded.version))
}

/// As [`load_for_auditor`], with the case's events (one read for the check and the answer).
async fn loaded_for_auditor(
    state: &AppState,
    caller: &Caller,
    id: CaseId,
) -> Result<crate::store::Loaded<Case>, Problem> {
    let loaded = load::<Case>(state, &id.to_string()).await?;
    if loaded.version == 0 || loaded.aggregate.side_of(&caller.org).is_none() {
        return Err(Problem::not_found("case"));
    }
    require_auditor(caller)?;
    let reader = Reader::staff(caller.org.clone(), brobyg_domain::Role::Auditor);
    if !matches!(access(&loaded.aggregate, &reader), Access::Auditor(_)) {
        return Err(Problem::not_found("case"));
    }
    Ok(loaded)
}

/// Every read of a case's personal data (auditors in scope; this read is logged too).
#[utoipa::path(get, path = "/v1/audit/cases/{id}/access-log", tag = "audit",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = AccessLog), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn access_log(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
    purpose: Purpose,
) -> Result<Response, Problem> {
    load_for_auditor(&state, &caller, id).await?;
    log_read(&state, &caller, &id.to_string(), "auditor", [], purpose.or("audit"), "audit/access-log").await?;
    let entries = state.store.access_log(&id.to_string()).await?;
    let entries = entries
        .into_iter()
        .map(|e| AccessLogEntry {
            read_at: e.read_at.to_rfc3339(),
            reader: e.reader_sub,
            organisation: e.reader_org,
            role: e.reader_role,
            purpose: e.purpose,
            categories: e.categories.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
            endpoint: e.endpoint,
        })
        .collect();
    Ok(json_response(StatusCode::OK, Default::default(), &AccessLog { case: id.to_string(), entries }))
}

/// One event of a case's history, with its metadata.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Sequence in the case.
    pub sequence: usize,
    /// Event type.
    pub event_type: String,
    /// When it happened.
    pub at: String,
    /// Who caused it.
    pub actor: String,
    /// Their organisation (from the command's metadata).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The role they acted in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The request that caused it (correlation id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The command that caused it (causation id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// For a disclosure: the legal basis of each item.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub bases: Vec<serde_json::Value>,
    /// The chain hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The W3C trace context of the command that caused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The event itself (personal values opened, or erased).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// The history of a case with every event's metadata (auditors of a party; the read is logged).
/// Personal values show where the auditor's organisation wrote or holds them; the other
/// party's are withheld (`{"$withheld": true}`).
#[utoipa::path(get, path = "/v1/audit/cases/{id}/events", tag = "audit",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = Vec<AuditEvent>), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn case_events(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
    purpose: Purpose,
) -> Result<Response, Problem> {
    let loaded = loaded_for_auditor(&state, &caller, id).await?;
    let reader = Reader::staff(caller.org.clone(), brobyg_domain::Role::Auditor);
    let categories = visible_categories(&loaded.aggregate, &reader, chrono::Utc::now());
    log_read(&state, &caller, &id.to_string(), "auditor", categories, purpose.or("audit"), "audit/events").await?;
    let events: Vec<AuditEvent> = loaded
        .events
        .iter()
        .map(|e| {
            let bases = match &e.payload {
                brobyg_domain::case::CaseEvent::InformationDisclosed { disclosure, .. } => disclosure
                    .items
                    .iter()
                    .map(|i| serde_json::json!({ "item": i.item, "category": i.category, "basis": i.basis }))
                    .collect(),
                _ => vec![],
            };
            AuditEvent {
                sequence: e.sequence,
                event_type: e.payload.name().to_owned(),
                at: e.payload.at().to_rfc3339(),
                actor: e.payload.by().to_string(),
                organisation: e.metadata.get("org").cloned(),
                role: e.metadata.get("role").cloned(),
                correlation_id: e.metadata.get("request_id").cloned(),
                causation_id: e.metadata.get("command_id").cloned(),
                bases,
                hash: e.metadata.get("hash").cloned(),
                traceparent: e.metadata.get("traceparent").cloned(),
                payload: {
                    let mut payload = serde_json::to_value(&e.payload).unwrap_or_default();
                    if !holds_personal_values(&e.payload, e.metadata.get("org").map(String::as_str), &caller.org) {
                        withhold_personal_values(&mut payload);
                    }
                    payload
                },
            }
        })
        .collect();
    Ok(json_response(StatusCode::OK, Default::default(), &events))
}

/// Whether the personal values of `event`, written by `writer`, are `org`'s: it wrote them, it
/// holds them (a disclosure's copies, a concern report received), or it reported the concern.
fn holds_personal_values(
    event: &brobyg_domain::case::CaseEvent,
    writer: Option<&str>,
    org: &brobyg_domain::Org,
) -> bool {
    use brobyg_domain::personal::KeyHolder;
    let reported_by = match event {
        brobyg_domain::case::CaseEvent::ConcernReported { concern, .. } => Some(&concern.reporter_org),
        _ => None,
    };
    writer == Some(org.as_str()) || event.key_holder() == Some(org) || reported_by == Some(org)
}

/// Replaces every personal value in a serialised event with `{"$withheld": true}`.
fn withhold_personal_values(value: &mut serde_json::Value) {
    use brobyg_domain::personal::PII_MARK;
    match value {
        serde_json::Value::Object(map) if map.len() == 1 && map.contains_key(PII_MARK) => {
            *value = serde_json::json!({ "$withheld": true });
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(withhold_personal_values),
        serde_json::Value::Array(items) => items.iter_mut().for_each(withhold_personal_values),
        _ => {}
    }
}

/// Parameters of an as-of read.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StateParams {
    /// The moment (RFC 3339).
    pub as_of: chrono::DateTime<chrono::Utc>,
    /// An organisation: the case as its caseworker or coordinator could see it then.
    #[serde(default)]
    pub as_seen_by: Option<String>,
}

/// The case as it stood at `as_of`, as the auditor's organisation could see it then, or as
/// another party could see it then limited to what the auditor's organisation may see (the
/// policy evaluated with the consents of that moment).
#[utoipa::path(get, path = "/v1/audit/cases/{id}/state", tag = "audit",
    params(("id" = String, Path, description = "case id"), StateParams),
    responses((status = 200, body = brobyg_projections::case_view::CaseView), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn case_state(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
    purpose: Purpose,
    super::Params(params): super::Params<StateParams>,
) -> Result<Response, Problem> {
    let loaded = loaded_for_auditor(&state, &caller, id).await?;
    let mut then = Case::default();
    let mut version = 0;
    for e in loaded.events.iter().filter(|e| e.payload.at() <= params.as_of) {
        then.apply(&e.payload);
        version = e.sequence;
    }
    if version == 0 {
        return Err(Problem::not_found("case at that moment"));
    }
    let auditor = Reader::staff(caller.org.clone(), brobyg_domain::Role::Auditor);
    let own = case_view(&then, version, &auditor, params.as_of)
        .ok_or_else(|| Problem::not_found("case for that organisation at that moment"))?;
    let view = match &params.as_seen_by {
        None => own,
        Some(org) => {
            let org: brobyg_domain::Org =
                org.parse().map_err(|e: brobyg_domain::InvalidOrg| Problem::invalid_request(e.to_string()))?;
            let role = brobyg_domain::Side::of(&org).working_role();
            let party = case_view(&then, version, &Reader::staff(org, role), params.as_of)
                .ok_or_else(|| Problem::not_found("case for that organisation at that moment"))?;
            limited_to(party, &own)
        }
    };
    let categories = view.items.iter().map(|i| i.category).collect::<std::collections::BTreeSet<_>>();
    log_read(&state, &caller, &id.to_string(), "auditor", categories, purpose.or("audit"), "audit/state").await?;
    Ok(json_response(StatusCode::OK, Default::default(), &view))
}

/// Every signed checkpoint over the feed head (auditors).
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "audit",
    responses((status = 200, body = Vec<CheckpointView>), (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn checkpoints(State(state): State<AppState>, Auth(caller): Auth) -> Result<Response, Problem> {
    require_auditor(&caller)?;
    let list: Vec<CheckpointView> = state.store.checkpoints().await?.iter().map(CheckpointView::from).collect();
    Ok(json_response(StatusCode::OK, Default::default(), &list))
}

/// Which of the auditor's cases a verification reports on.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyParams {
    /// One case of the auditor's organisation (default: every one of them). A case of another
    /// organisation, or none, is 404.
    #[param(format = Uuid)]
    pub case: Option<String>,
}

/// Recompute every hash chain and checkpoint, reporting on the cases the auditor's organisation
/// is a party to, or on one of them (the whole store is the operator's `brobyg audit verify`);
/// the first bad case and event is named.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit", params(VerifyParams),
    responses((status = 200, body = crate::audit::VerifyReport), (status = 403, body = crate::api::problem::ProblemBody),
              (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn verify(
    State(state): State<AppState>,
    Auth(caller): Auth,
    super::Params(params): super::Params<VerifyParams>,
) -> Result<Response, Problem> {
    require_auditor(&caller)?;
    // The views reflect every case up to their position; wait for the latest so a case opened a
    // moment ago is in scope.
    let written = state.store.last_committed().await?;
    state.views.wait_for(written, crate::limits::MIN_POSITION_WAIT).await;
    let cases = state.store.cases_of(&caller.org).await?;
    let scope = match params.case {
        None => crate::audit::Scope::Cases(cases.into_iter().collect()),
        Some(case) => {
            let case = uuid::Uuid::parse_str(&case)
                .map_err(|_| Problem::invalid_field("case: expected a case id (a UUID)"))?
                .to_string();
            if !cases.contains(&case) {
                return Err(Problem::not_found("case"));
            }
            crate::audit::Scope::Cases(std::iter::once(case).collect())
        }
    };
    let mirrored = match &state.checkpoint_mirror {
        Some(m) => m.read().map_err(|e| Problem::internal(&e))?,
        None => Vec::new(),
    };
    let options = crate::audit::VerifyOptions { scope, trusted: state.audit_keys.clone(), mirrored };
    let report = crate::audit::verify(&state.store, &options, |_| {}).await?;
    Ok(json_response(StatusCode::OK, Default::default(), &report))
}
