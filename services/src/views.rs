//! The view runner: follows the global feed and keeps the list views (caseloads, volunteers,
//! concerns) up to date, writing each batch together with its cursor so that a crash neither
//! loses nor repeats a change. Lists report the position they reflect; a client may wait for a
//! position it wrote (`?min_position=`).

use std::sync::Arc;
use std::time::Duration;

use brobyg_domain::case::CaseEvent;
use brobyg_domain::volunteer::VolunteerEvent;
use brobyg_projections::summaries::{
    CaseSummaryChange, ConcernChange, VolunteerChange, case_summary_change, concern_change, volunteer_change,
};
use tokio::sync::{Notify, watch};

use crate::store::{Cursor, FeedEvent, Store, StoreError, VIEWS_CONSUMER, ViewWrite};

/// How many feed events one batch takes.
const BATCH: u32 = 1000;

/// Where the views stand, shared with request handlers.
#[derive(Clone, Debug)]
pub struct ViewsHandle {
    position: watch::Receiver<Cursor>,
    wake: Arc<Notify>,
}

impl ViewsHandle {
    /// The position the views reflect now.
    #[must_use]
    pub fn position(&self) -> Cursor {
        *self.position.borrow()
    }

    /// Tells the runner that new events were committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until the views reflect `target`, for at most `timeout`; the position reached.
    pub async fn wait_for(&self, target: Cursor, timeout: Duration) -> Cursor {
        self.wake();
        let mut rx = self.position.clone();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|p| *p >= target)).await;
        match reached {
            Ok(Ok(p)) => *p,
            _ => self.position(),
        }
    }
}

/// Why an event could not be folded into the views.
#[derive(Debug, thiserror::Error)]
#[error("event at {position} ({event_type}) could not be decoded: {message}")]
pub struct DecodeError {
    position: String,
    event_type: String,
    message: String,
}

/// The view changes one feed event makes.
pub fn writes_for(event: &FeedEvent) -> Result<Vec<ViewWrite>, DecodeError> {
    let decode_error = |e: serde_json::Error| DecodeError {
        position: event.cursor.to_string(),
        event_type: event.event_type.clone(),
        // serde's message names the field, not its value.
        message: e.to_string(),
    };
    let id = event.aggregate_id.clone();
    let version = event.sequence;
    match event.aggregate_type.as_str() {
        "case" => {
            let e: CaseEvent = serde_json::from_value(event.payload.clone()).map_err(decode_error)?;
            let mut writes = vec![match case_summary_change(&e) {
                CaseSummaryChange::Opened { municipality, young_person, at } => ViewWrite::CaseOpened {
                    case: id.clone(),
                    municipality,
                    young_person: young_person.to_string(),
                    at,
                    version,
                },
                CaseSummaryChange::Referred { ngo, programme, at } => {
                    ViewWrite::CaseReferred { case: id.clone(), ngo, programme, at, version }
                }
                CaseSummaryChange::State { state, at } => ViewWrite::CaseState { case: id.clone(), state, at, version },
                CaseSummaryChange::Touched => ViewWrite::CaseVersion { case: id.clone(), version },
            }];
            match concern_change(&e) {
                Some(ConcernChange::Reported {
                    concern,
                    reporter_org,
                    reported_to,
                    reported_at,
                    assessment_due,
                    receipt_due,
                }) => {
                    writes.push(ViewWrite::ConcernReported {
                        concern: concern.to_string(),
                        case: id,
                        reporter_org,
                        reported_to,
                        reported_at,
                        assessment_due,
                        receipt_due,
                    });
                }
                Some(ConcernChange::Acknowledged { concern, at }) => {
                    writes.push(ViewWrite::ConcernAcknowledged { concern: concern.to_string(), at });
                }
                None => {}
            }
            Ok(writes)
        }
        "volunteer" => {
            let e: VolunteerEvent = serde_json::from_value(event.payload.clone()).map_err(decode_error)?;
            Ok(vec![match volunteer_change(&e) {
                VolunteerChange::Registered { ngo, capacity } => {
                    ViewWrite::VolunteerRegistered { volunteer: id, ngo, capacity, version }
                }
                VolunteerChange::Status(status) => ViewWrite::VolunteerStatus { volunteer: id, status, version },
                VolunteerChange::Assignments(delta) => {
                    ViewWrite::VolunteerAssignments { volunteer: id, delta: i64::from(delta), version }
                }
                VolunteerChange::Touched => ViewWrite::VolunteerVersion { volunteer: id, version },
            }])
        }
        _ => Ok(vec![]),
    }
}

/// Why a catch-up stopped.
#[derive(Debug, thiserror::Error)]
pub enum ViewsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Processes one batch after the stored cursor; the new cursor and how many events it took.
pub async fn step(store: &Store) -> Result<(Cursor, usize), ViewsError> {
    loop {
        let stored = store.checkpoint(VIEWS_CONSUMER).await?;
        let from = stored.unwrap_or(Cursor::START);
        let page = store.read_feed(from, BATCH).await?;
        if page.events.is_empty() {
            return Ok((from, 0));
        }
        let mut writes = Vec::with_capacity(page.events.len());
        for event in &page.events {
            writes.extend(writes_for(event)?);
        }
        if store.apply_view_batch(writes, stored, page.next).await? {
            return Ok((page.next, page.events.len()));
        }
        // Another runner applied this batch first; continue from where it left the cursor.
    }
}

/// Starts the runner; it stops when `shutdown` turns true.
pub fn spawn(store: Store, mut shutdown: watch::Receiver<bool>) -> (ViewsHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Cursor::START);
    let wake = Arc::new(Notify::new());
    let handle = ViewsHandle { position: rx, wake: wake.clone() };
    let task = tokio::spawn(async move {
        loop {
            if *shutdown.borrow() {
                break;
            }
            match step(&store).await {
                Ok((cursor, n)) => {
                    tx.send_replace(cursor);
                    if n > 0 {
                        continue;
                    }
                }
                Err(e) => tracing::error!(error = %e, "view runner step failed; retrying"),
            }
            tokio::select! {
                () = wake.notified() => {},
                () = tokio::time::sleep(Duration::from_millis(250)) => {},
                _ = shutdown.changed() => {},
            }
        }
    });
    (handle, task)
}
