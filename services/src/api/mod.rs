//! The `/v1` API: authentication, problem+json errors, request parsing at the edge, ETags,
//! idempotency, and one module per resource.

pub mod agreements;
pub mod audit;
mod case_access;
pub mod cases;
pub mod concerns;
mod errors;
mod extract;
pub mod feed;
mod idempotency;
pub mod openapi;
pub mod problem;
pub mod proofs;
pub mod statistics;
pub mod subjects;
pub mod subscriptions;
pub mod volunteers;

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use brobyg_domain::{Actor, Role};
use chrono::Utc;
use cqrs_es::Aggregate;
use tracing::Instrument;

use crate::AppState;
use crate::auth::Caller;
use crate::store::{CommandError, Committed, Loaded};

pub use errors::DomainProblem;
pub use extract::{Auth, Body, IfMatch, Params, Purpose, RequestId};
pub use idempotency::idempotency;
pub use problem::Problem;

/// The position header: the feed position that reflects a write; pass it as `min_position` to
/// a list to read your own write.
pub const POSITION_HEADER: &str = "x-brobyg-position";

/// How often a command is retried when another writer committed to the same record first.
const CONFLICT_RETRIES: usize = 5;

/// The role a caller acts in for a command: the organisation's working role if the caller has
/// it (caseworker in a municipality, coordinator in an NGO), else their first role.
#[must_use]
pub fn acting_role(caller: &Caller) -> Role {
    caller.acting_role()
}

/// The domain actor for a caller, now.
#[must_use]
pub fn actor(caller: &Caller) -> Actor {
    Actor { user: caller.user.clone(), org: caller.org.clone(), role: acting_role(caller), at: Utc::now() }
}

/// Parses a path id; a malformed id names nothing that exists, so it is a 404.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &'static str) -> Result<T, Problem> {
    raw.parse().map_err(|_| Problem::not_found(what))
}

/// Runs a command against one aggregate: decides and commits, retrying on a concurrent write
/// unless the caller pinned a version with `If-Match`; wakes the views; returns what was
/// committed and the feed position of its last event.
pub async fn execute<A>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: impl Fn() -> A::Command,
    if_match: Option<usize>,
    request_id: &RequestId,
) -> Result<(Committed<A>, Option<crate::store::Cursor>), Problem>
where
    A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    A::Command: Send + Clone,
    A: brobyg_domain::Parties,
    A::Event: brobyg_domain::personal::KeyHolder,
    A::Error: DomainProblem,
{
    let span = tracing::info_span!(
        "command",
        aggregate.kind = A::TYPE,
        aggregate.id = %id,
        caller.org = %caller.org,
        caller.role = acting_role(caller).as_str(),
        outcome = tracing::field::Empty,
        version = tracing::field::Empty,
    );
    let result =
        execute_in_span::<A>(state, caller, id, command, if_match, request_id, &span).instrument(span.clone()).await;
    let outcome = match &result {
        Ok(_) => "committed".to_owned(),
        Err(p) => format!("{}", p.status().as_u16()),
    };
    span.record("outcome", outcome.as_str());
    metrics::counter!("commands_total", "aggregate" => A::TYPE, "outcome" => outcome).increment(1);
    result
}

async fn execute_in_span<A>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: impl Fn() -> A::Command,
    if_match: Option<usize>,
    request_id: &RequestId,
    span: &tracing::Span,
) -> Result<(Committed<A>, Option<crate::store::Cursor>), Problem>
where
    A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    A::Command: Send + Clone,
    A: brobyg_domain::Parties,
    A::Event: brobyg_domain::personal::KeyHolder,
    A::Error: DomainProblem,
{
    let mut metadata = HashMap::new();
    if let Some(traceparent) = crate::telemetry::current_traceparent() {
        metadata.insert("traceparent".to_owned(), traceparent);
    }
    metadata.insert("request_id".to_owned(), request_id.0.clone());
    metadata.insert("org".to_owned(), caller.org.to_string());
    metadata.insert("user".to_owned(), caller.user.to_string());
    metadata.insert("role".to_owned(), acting_role(caller).as_str().to_owned());
    metadata.insert("command_id".to_owned(), uuid::Uuid::new_v4().to_string());
    let mut attempt = 0;
    let committed = loop {
        attempt += 1;
        let admit = |record: &A| record.admits(&caller.org);
        match state.store.execute::<A>(id, command(), if_match, metadata.clone(), admit).await {
            Ok(c) => break c,
            Err(CommandError::Conflict) if if_match.is_none() && attempt < CONFLICT_RETRIES => {
                metrics::counter!("command_conflicts_total", "aggregate" => A::TYPE, "retried" => "yes").increment(1);
                tokio::time::sleep(Duration::from_millis(2 * attempt as u64)).await;
            }
            Err(CommandError::Conflict) => {
                metrics::counter!("command_conflicts_total", "aggregate" => A::TYPE, "retried" => "no").increment(1);
                return Err(Problem::conflict("another change to this record was committed first; reload and retry"));
            }
            Err(CommandError::NotVisible) => return Err(Problem::not_found(A::TYPE)),
            Err(CommandError::VersionMismatch { expected, actual }) => {
                return Err(Problem::precondition_failed(expected, actual));
            }
            Err(CommandError::Rejected(e)) => return Err(e.problem(&caller.org)),
            Err(CommandError::Store(e)) => return Err(e.into()),
        }
    };
    span.record("version", committed.version);
    metrics::counter!("events_appended_total", "aggregate" => A::TYPE).increment(committed.events.len() as u64);
    state.views.wake();
    state.commits.send_modify(|n| *n = n.wrapping_add(1));
    let position = committed.position;
    Ok((committed, position))
}

/// Loads an aggregate, mapping store failures to a 500 problem.
pub async fn load<A>(state: &AppState, id: &str) -> Result<Loaded<A>, Problem>
where
    A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
{
    Ok(state.store.load::<A>(id).await?)
}

/// An aggregate's folded state and version: every event read, opened and folded now, as
/// [`load`] does, without keeping the events.
pub async fn fold<A>(state: &AppState, id: &str) -> Result<(A, usize), Problem>
where
    A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
{
    Ok(state.store.fold::<A>(id).await?)
}

/// Headers of a response about a versioned resource: `ETag` and the feed position.
#[must_use]
pub fn version_headers(version: usize, position: Option<crate::store::Cursor>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        headers.insert(header::ETAG, v);
    }
    if let Some(p) = position.and_then(|p| HeaderValue::from_str(&p.to_string()).ok()) {
        headers.insert(POSITION_HEADER, p);
    }
    headers
}

/// A JSON response with a status and headers.
pub fn json_response<T: serde::Serialize>(status: axum::http::StatusCode, headers: HeaderMap, body: &T) -> Response {
    (status, headers, axum::Json(body)).into_response()
}

/// Records a read of a case's personal data in the access log, durably, before the response.
pub async fn log_read(
    state: &AppState,
    caller: &Caller,
    case: &str,
    role: &str,
    categories: impl IntoIterator<Item = brobyg_domain::Category>,
    purpose: String,
    endpoint: &str,
) -> Result<(), Problem> {
    let kinds = categories.into_iter().map(|c| c.as_str());
    let entry = read_entry(caller, case, role, kinds, purpose, endpoint, Utc::now());
    Ok(state.access_log.record(entry).await?)
}

/// The access-log entry of `caller` reading `kinds` of personal data (categories, or `consent`,
/// `concern`, `note`) of one case at `at`.
#[must_use]
pub fn read_entry<'a>(
    caller: &Caller,
    case: &str,
    role: &str,
    kinds: impl IntoIterator<Item = &'a str>,
    purpose: String,
    endpoint: &str,
    at: chrono::DateTime<Utc>,
) -> crate::store::AccessEntry {
    crate::store::AccessEntry {
        case_id: case.to_owned(),
        reader_sub: caller.user.to_string(),
        reader_org: caller.org.to_string(),
        reader_role: role.to_owned(),
        purpose,
        categories: kinds.into_iter().collect::<Vec<_>>().join(","),
        endpoint: endpoint.to_owned(),
        read_at: at,
    }
}
