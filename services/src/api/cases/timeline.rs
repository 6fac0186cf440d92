//! The case timeline: every event of a case as the reader's organisation may see it, under the
//! one rule the feed applies (`brobyg_projections::feed`), paged by sequence, each read logged.

use brobyg_domain::case::Case;
use brobyg_projections::feed::case_event_delivered;
use brobyg_projections::policy::Access;
use chrono::{DateTime, Utc};

use super::prelude::*;
use crate::api::case_access::page_size;
use crate::api::{Params, Purpose, acting_role, load, read_entry};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(timeline))
}

/// Timeline parameters.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Go on after this sequence number (`next_after` of the previous page).
    #[param(minimum = 0)]
    #[serde(default)]
    pub after: Option<i64>,
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One event of the case, as the reader's organisation may see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    /// Sequence in the case.
    pub sequence: usize,
    /// Event type, e.g. `meeting_planned` (`docs/events.md`).
    pub event: String,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Who caused it (the user id; never a name).
    pub by: String,
    /// Their organisation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// The role they acted in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The event's fields the reader's organisation may see (as the feed delivers them).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A page of a case's timeline.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Timeline {
    /// Case id.
    pub case: uuid::Uuid,
    /// Entries in order; events the reader's organisation may not see at all are left out.
    pub entries: Vec<TimelineEntry>,
    /// The case version the page was read at.
    pub version: usize,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<usize>,
}

/// The case's timeline as the caller's organisation may see it: referral, meetings (planned,
/// moved, missed, held, with who took part), disclosures, matches, the course log, concerns,
/// measures, the end (caseworker, coordinator, integrator or auditor of a party; logged).
#[utoipa::path(get, path = "/v1/cases/{id}/timeline", tag = "cases",
    params(("id" = String, Path, description = "case id"), TimelineParams,
           ("X-Purpose" = Option<crate::api::extract::ReadPurpose>, Header, description = "why the case is read (default case_work; audit for auditors)")),
    responses((status = 200, body = Timeline, headers(("ETag" = String, description = "the case version"))),
              (status = 400, body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody), (status = 404, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn timeline(
    State(state): State<AppState>,
    CaseRead { caller, id }: CaseRead,
    purpose: Purpose,
    Params(params): Params<TimelineParams>,
) -> Result<Response, Problem> {
    let limit = page_size(params.limit)? as usize;
    let after = match params.after {
        None => 0,
        Some(a) => usize::try_from(a).map_err(|_| Problem::invalid_request("after: a sequence number, 0 or more"))?,
    };
    // The same door as every case read: 404 for a non-party, 403 for a role without case content.
    load_case_for(&state, &caller, id).await?;
    let loaded = load::<Case>(&state, &id.to_string()).await?;
    let case = &loaded.aggregate;
    let now = Utc::now();
    let mut entries = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    let mut last = after;
    let mut more = false;
    for e in loaded.events.iter().filter(|e| e.sequence > after) {
        if entries.len() == limit {
            more = true;
            break;
        }
        last = e.sequence;
        let Some(delivered) = case_event_delivered(&e.payload, case, &caller.org, now) else { continue };
        kinds.extend(delivered.personal.iter().copied());
        entries.push(TimelineEntry {
            sequence: e.sequence,
            event: e.payload.name().to_owned(),
            at: e.payload.at(),
            by: e.payload.by().to_string(),
            organisation: e.metadata.get("org").cloned(),
            role: e.metadata.get("role").cloned(),
            data: delivered.data,
        });
    }
    let auditor = matches!(brobyg_projections::policy::access(case, &reader(&caller)), Access::Auditor(_));
    let default = if auditor { "audit" } else { "case_work" };
    if !kinds.is_empty() {
        let role = acting_role(&caller).as_str();
        let entry = read_entry(&caller, &id.to_string(), role, kinds, purpose.or(default), "timeline", now);
        state.access_log.record(entry).await?;
    }
    let page = Timeline { case: id.0, entries, version: loaded.version, next_after: more.then_some(last) };
    Ok(json_response(StatusCode::OK, version_headers(loaded.version, None), &page))
}
