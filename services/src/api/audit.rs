//! Auditors: the access log of a case (more audit endpoints come with the replay issue).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use brobyg_domain::CaseId;
use brobyg_domain::case::Case;
use brobyg_projections::policy::{Access, Reader, access};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Auth, Purpose, json_response, load, log_read, parse_id};
use crate::AppState;
use crate::auth::Caller;
use crate::http::Problem;
use crate::store::AccessEntry;

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(access_log))
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
        })
        .collect()
}

/// Loads a case for an auditor whose scope covers it, or 404.
pub async fn load_for_auditor(state: &AppState, caller: &Caller, id: CaseId) -> Result<(Case, usize), Problem> {
    if !caller.has(brobyg_domain::Role::Auditor) {
        return Err(Problem::forbidden("audit endpoints are for auditors"));
    }
    let loaded = load::<Case>(state, &id.to_string()).await?;
    let reader = Reader::staff(caller.org.clone(), brobyg_domain::Role::Auditor);
    if loaded.version == 0 || access(&loaded.aggregate, &reader) != Access::Auditor {
        return Err(Problem::not_found("case"));
    }
    Ok((loaded.aggregate, loaded.version))
}

/// Every read of a case's personal data (auditors in scope; this read is logged too).
#[utoipa::path(get, path = "/v1/audit/cases/{id}/access-log", tag = "audit",
    params(("id" = String, Path, description = "case id")),
    responses((status = 200, body = AccessLog), (status = 403, body = crate::api::openapi::ProblemBody),
              (status = 404, body = crate::api::openapi::ProblemBody)),
    security(("bearer" = [])))]
pub async fn access_log(
    State(state): State<AppState>,
    Auth(caller): Auth,
    purpose: Purpose,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id: CaseId = parse_id(&id, "case")?;
    load_for_auditor(&state, &caller, id).await?;
    log_read(&state, &caller, &id.to_string(), "auditor", [], purpose.or("audit"), "audit/access-log").await?;
    let entries = state.store.access_log(&id.to_string()).await.map_err(|e| Problem::internal(&e))?;
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
