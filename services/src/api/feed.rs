//! The integrator feed: pull with long polling, and Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use brobyg_domain::Role;
use chrono::Utc;
use futures::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Auth, Params, json_response};
use crate::AppState;
use crate::api::Problem;
use crate::auth::Caller;
use crate::feed::{CloudEvent, Recipient, delivery_entries, page_for};
use crate::limits::{
    FEED_PAGE_DEFAULT, FEED_PAGE_MAX, FEED_RECHECK, FEED_RECHECK_PENDING, FEED_RECHECK_PENDING_MAX, LONG_POLL_MAX,
    STREAM_HEARTBEAT, STREAM_PAGE, STREAMS_RETRY_AFTER, Slot,
};
use crate::store::{Cursor, Store, StoreError};

/// The routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed)).routes(routes!(stream))
}

/// Feed parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Continue after this cursor (`next_cursor` of the last page); from the start without one.
    #[param(pattern = r"^v1\.[0-9]{1,18}\.[0-9]{1,18}$")]
    #[serde(default)]
    pub cursor: Option<String>,
    /// Events per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    #[serde(default)]
    pub limit: Option<usize>,
    /// Seconds to wait for events when there are none yet, 0–30 (long polling).
    #[param(minimum = 0, maximum = 30)]
    #[serde(default)]
    pub wait: Option<u64>,
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// CloudEvents 1.0, in global order.
    pub events: Vec<CloudEvent>,
    /// Where to continue.
    pub next_cursor: String,
}

fn require_integrator(caller: &Caller) -> Result<(), Problem> {
    if caller.has(Role::Integrator) {
        Ok(())
    } else {
        Err(Problem::forbidden("the feed is for integrators (role integrator)"))
    }
}

/// One of the organisation's slots for long polls and streams, or 429 with `Retry-After`.
fn take_slot(state: &AppState, caller: &Caller) -> Result<Slot, Problem> {
    state
        .streams
        .try_take(caller.org.as_str())
        .ok_or_else(|| Problem::too_many_streams(state.streams.max(), STREAMS_RETRY_AFTER))
}

fn parse_cursor(raw: Option<&str>) -> Result<Cursor, Problem> {
    raw.map_or(Ok(Cursor::START), |c| {
        c.parse().map_err(|_| Problem::invalid_request("cursor is not one this service gave"))
    })
}

/// The caller's organisation's events, redacted to what it may see, as CloudEvents.
#[utoipa::path(get, path = "/v1/feed", tag = "feed", params(FeedParams),
    responses((status = 200, body = FeedPage), (status = 400, body = crate::api::problem::ProblemBody),
              (status = 429, description = "the organisation holds as many long polls and streams open as it may; see Retry-After", body = crate::api::problem::ProblemBody),
              (status = 403, body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn feed(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Params(params): Params<FeedParams>,
) -> Result<Response, Problem> {
    require_integrator(&caller)?;
    let cursor = parse_cursor(params.cursor.as_deref())?;
    let limit = match params.limit {
        None => FEED_PAGE_DEFAULT,
        Some(n) if (1..=FEED_PAGE_MAX).contains(&n) => n,
        Some(n) => return Err(Problem::invalid_request(format!("limit must be 1 to {FEED_PAGE_MAX}, got {n}"))),
    };
    let wait = match params.wait {
        None => Duration::ZERO,
        Some(s) if Duration::from_secs(s) <= LONG_POLL_MAX => Duration::from_secs(s),
        Some(s) => {
            return Err(Problem::invalid_request(format!(
                "wait must be 0 to {} seconds, got {s}",
                LONG_POLL_MAX.as_secs()
            )));
        }
    };
    let deadline = tokio::time::Instant::now() + wait;
    // A long poll holds one of the organisation's slots while it waits.
    let _slot = if wait.is_zero() { None } else { Some(take_slot(&state, &caller)?) };
    let mut commits = state.commits.subscribe();
    // Each pass reads on from where the last one got to: the events it passed are not the
    // organisation's (now), so a quiet wait costs one read of what is new, not of the tail.
    let mut cursor = cursor;
    loop {
        let (shaped, next) = page_for(&state.store, &caller.org, cursor, limit, Utc::now()).await?;
        if !shaped.is_empty() || tokio::time::Instant::now() >= deadline {
            let to = Recipient { org: &caller.org, reader: caller.user.to_string(), endpoint: "GET /v1/feed" };
            let entries = delivery_entries(&shaped, &to, Utc::now());
            // The page is written out on a thread of its own while the access log commits its
            // entries (a page of a thousand events is milliseconds of work); it leaves only once
            // they are committed.
            let written = tokio::task::spawn_blocking(move || {
                let events = shaped.into_iter().map(|s| s.event).collect();
                let body = FeedPage { events, next_cursor: next.to_string() };
                json_response(StatusCode::OK, HeaderMap::new(), &body)
            });
            let (logged, written) = tokio::join!(state.access_log.record_all(entries), written);
            logged?;
            return match written {
                Ok(response) => Ok(response),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(Problem::internal(&e)),
            };
        }
        cursor = next;
        wait_for_news(&state.store, &mut commits, cursor, Some(deadline)).await?;
    }
}

/// Waits after a read found nothing new after `cursor` until something may be: a commit wakes
/// the reader, but on PostgreSQL its event shows only once every older transaction has ended
/// (decision 0002), and such an end wakes nobody. So while an event is committed but not yet
/// visible after `cursor` the reader looks again soon (10 ms, then twice as long each time, up
/// to 20 ms), otherwise at the quiet interval; each look is one query. Returns once events are
/// visible after `cursor` (for the organisation or not: the next read tells), or at `deadline`.
async fn wait_for_news(
    store: &Store,
    commits: &mut watch::Receiver<u64>,
    cursor: Cursor,
    deadline: Option<Instant>,
) -> Result<(), StoreError> {
    let mut soon: Option<Duration> = None;
    loop {
        let progress = store.feed_progress(cursor).await?;
        if progress.visible {
            return Ok(());
        }
        let wait = if progress.pending {
            let wait = soon.map_or(FEED_RECHECK_PENDING, |w| (w * 2).min(FEED_RECHECK_PENDING_MAX));
            soon = Some(wait);
            wait
        } else {
            soon = None;
            FEED_RECHECK
        };
        let until = Instant::now() + wait;
        let until = deadline.map_or(until, |d| d.min(until));
        if let Ok(Err(_)) = tokio::time::timeout_at(until, commits.changed()).await {
            // No commit will be announced any more (the service is stopping): look at the pace.
            tokio::time::sleep_until(until).await;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
    }
}

/// Server-Sent Events: each event's `id` is its cursor; reconnect with `Last-Event-ID` (or
/// `?cursor=`) to resume exactly after the last event received. Heartbeats every 15 s.
#[utoipa::path(get, path = "/v1/feed/stream", tag = "feed", params(FeedParams),
    responses((status = 200, description = "text/event-stream of CloudEvents", content_type = "text/event-stream"),
              (status = 429, description = "the organisation holds as many long polls and streams open as it may; see Retry-After", body = crate::api::problem::ProblemBody)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    Auth(caller): Auth,
    headers: HeaderMap,
    Params(params): Params<FeedParams>,
) -> Result<Response, Problem> {
    require_integrator(&caller)?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(params.cursor);
    let cursor = parse_cursor(resume.as_deref())?;
    let slot = take_slot(&state, &caller)?;
    Ok(Sse::new(events(state, caller.org, caller.user.to_string(), cursor, slot))
        .keep_alive(KeepAlive::new().interval(STREAM_HEARTBEAT))
        .into_response())
}

fn events(
    state: AppState,
    org: brobyg_domain::Org,
    reader: String,
    start: Cursor,
    slot: Slot,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let commits = state.commits.subscribe();
    // The slot lives in the stream's state: it is given back when the client goes away.
    futures::stream::unfold(
        (state, org, reader, start, std::collections::VecDeque::<CloudEvent>::new(), commits, slot),
        |(state, org, reader, mut cursor, mut buffer, mut commits, slot)| async move {
            loop {
                if let Some(ce) = buffer.pop_front() {
                    let event = Event::default()
                        .id(ce.brobygcursor.clone())
                        .event(ce.kind.clone())
                        .json_data(&ce)
                        .unwrap_or_else(|_| Event::default().comment("unserialisable event"));
                    return Some((Ok(event), (state, org, reader, cursor, buffer, commits, slot)));
                }
                match page_for(&state.store, &org, cursor, STREAM_PAGE, Utc::now()).await {
                    Ok((shaped, next)) => {
                        // The page's deliveries are in the access log before any of it is sent.
                        let to = Recipient { org: &org, reader: reader.clone(), endpoint: "GET /v1/feed/stream" };
                        if let Err(e) = state.access_log.record_all(delivery_entries(&shaped, &to, Utc::now())).await {
                            tracing::error!(error = %e, "the access log could not record a stream page; ending the stream");
                            return None;
                        }
                        cursor = next;
                        if shaped.is_empty()
                            && let Err(e) = wait_for_news(&state.store, &mut commits, cursor, None).await
                        {
                            tracing::error!(error = %e, "feed stream read failed; ending the stream");
                            return None;
                        }
                        buffer.extend(shaped.into_iter().map(|s| s.event));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "feed stream read failed; ending the stream");
                        return None;
                    }
                }
            }
        },
    )
}
