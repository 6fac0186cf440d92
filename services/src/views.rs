//! The view runner: follows the global feed and keeps the list views (caseloads, volunteers,
//! concerns) up to date, writing each batch together with its cursor so that a crash neither
//! loses nor repeats a change. Lists report the position they reflect; a client may wait for a
//! position it wrote (`?min_position=`).

use std::sync::Arc;
use std::time::Duration;

use brobyg_domain::case::CaseEvent;
use brobyg_domain::volunteer::VolunteerEvent;
use brobyg_projections::summaries::{ViewWrite, case_writes, volunteer_write};
use tokio::sync::{Notify, watch};

use crate::limits::{FOLLOWER_IDLE, WORKER_PAGE};
use crate::store::{Cursor, Store, StoreError, VIEWS_CONSUMER, ViewsEvent};
use crate::worker::{self, Outcome, Pacing, StepError, Wake, Worker};

/// Where the views stand, shared with request handlers.
#[derive(Clone, Debug)]
pub struct ViewsHandle {
    position: watch::Receiver<Cursor>,
    wake: Arc<Notify>,
    hurry: Arc<Notify>,
}

impl ViewsHandle {
    /// The position the views reflect now.
    #[must_use]
    pub fn position(&self) -> Cursor {
        *self.position.borrow()
    }

    /// Tells the runner that new events were committed; it reads them once the commits of the
    /// next few milliseconds have gathered (`views_gather_ms`).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until the views reflect `target`, for at most `timeout`; the position reached.
    /// The runner reads at once, without waiting for more commits to gather.
    pub async fn wait_for(&self, target: Cursor, timeout: Duration) -> Cursor {
        if self.position() >= target {
            return self.position();
        }
        self.hurry.notify_one();
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
pub fn writes_for(event: &ViewsEvent) -> Result<Vec<ViewWrite>, DecodeError> {
    let decode_error = |e: serde_json::Error| DecodeError {
        position: event.cursor.to_string(),
        event_type: event.event_type.clone(),
        // serde's message names the field, not its value.
        message: e.to_string(),
    };
    let id = event.aggregate_id.as_str();
    let version = event.sequence;
    match event.aggregate_type.as_str() {
        "case" => {
            // Decoded from the stored text straight into the event, no JSON tree between.
            let e: CaseEvent = serde_json::from_str(&event.payload).map_err(decode_error)?;
            Ok(case_writes(id, version, &e))
        }
        "volunteer" => {
            let e: VolunteerEvent = serde_json::from_str(&event.payload).map_err(decode_error)?;
            Ok(vec![volunteer_write(id, version, &e)])
        }
        _ => Ok(vec![]),
    }
}

/// The view changes of a batch of feed events, in order.
fn writes_of(events: &[ViewsEvent]) -> Result<Vec<ViewWrite>, DecodeError> {
    let mut writes = Vec::with_capacity(events.len());
    for event in events {
        writes.extend(writes_for(event)?);
    }
    Ok(writes)
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
    let stored = store.consumer_cursor(VIEWS_CONSUMER).await?;
    let (cursor, n) = step_from(store, stored).await?;
    Ok((cursor.unwrap_or(Cursor::START), n))
}

/// One batch after `stored`, the cursor as this runner last left it: the batch is applied only
/// if the stored cursor still is `stored` (a compare-and-set), so when another runner moved it,
/// or a rebuild removed it, the stored one is read and the batch taken from there. Returns the
/// cursor now stored (`None`: none yet) and how many events the batch held.
async fn step_from(store: &Store, mut stored: Option<Cursor>) -> Result<(Option<Cursor>, usize), ViewsError> {
    loop {
        let from = stored.unwrap_or(Cursor::START);
        let page = store.read_feed_for_views(from, WORKER_PAGE).await?;
        if page.events.is_empty() {
            return Ok((stored, 0));
        }
        let writes = writes_of(&page.events)?;
        if store.apply_view_batch(writes, stored, page.next).await? {
            return Ok((Some(page.next), page.events.len()));
        }
        // Another runner applied this batch first, or the views were reset: go on from the
        // cursor as stored now.
        stored = store.consumer_cursor(VIEWS_CONSUMER).await?;
    }
}

/// Brings the views up to the head of the feed in batches of `page` events, as `brobyg replay`
/// does after a reset: each batch is read while the one before it is written, so reading and
/// writing overlap (on SQLite they run on two connections' threads). Each batch is applied
/// only if the stored cursor still is where this left it, as in [`step`]; when another runner
/// moved it, this goes on from there. Calls `progress` with each batch's size; returns how many
/// events it applied.
pub async fn catch_up(store: &Store, page: u32, mut progress: impl FnMut(usize)) -> Result<usize, ViewsError> {
    let mut stored = store.consumer_cursor(VIEWS_CONSUMER).await?;
    let mut batch = store.read_feed_for_views(stored.unwrap_or(Cursor::START), page).await?;
    let mut applied = 0;
    while !batch.events.is_empty() {
        let writes = writes_of(&batch.events)?;
        let (n, to) = (batch.events.len(), batch.next);
        drop(batch);
        let (claimed, following) =
            tokio::join!(store.apply_view_batch(writes, stored, to), store.read_feed_for_views(to, page));
        if claimed? {
            (stored, applied) = (Some(to), applied + n);
            progress(n);
            batch = following?;
        } else {
            stored = store.consumer_cursor(VIEWS_CONSUMER).await?;
            batch = store.read_feed_for_views(stored.unwrap_or(Cursor::START), page).await?;
        }
    }
    Ok(applied)
}

/// The view runner as a [`Worker`]: one batch per step.
struct Runner {
    store: Store,
    position: watch::Sender<Cursor>,
    /// The stored cursor as this runner left it, once read: one query less per step.
    stored: Option<Option<Cursor>>,
    /// Whether the last step found the feed read to its end (so this one follows a wake).
    caught_up: bool,
    /// A reader waits for a position: read without letting commits gather.
    hurry: Arc<Notify>,
    /// How long commits gather after a wake: one view transaction (with its durable commit,
    /// on SQLite taking the one writer the commands need) for the commands of that moment,
    /// rather than one per command.
    gather: Duration,
}

impl Worker for Runner {
    fn name(&self) -> &'static str {
        "views"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        if self.caught_up && !self.gather.is_zero() {
            // Woken by a commit (or the idle pause): let the commits of the next moment gather,
            // unless a reader is waiting.
            tokio::select! {
                () = tokio::time::sleep(self.gather) => {}
                () = self.hurry.notified() => {}
            }
        }
        let stored = match self.stored {
            Some(known) => known,
            None => self.store.consumer_cursor(VIEWS_CONSUMER).await?,
        };
        let result = step_from(&self.store, stored).await;
        // After a failure the stored cursor is read again.
        self.stored = None;
        let (cursor, n) = result?;
        self.stored = Some(cursor);
        self.position.send_replace(cursor.unwrap_or(Cursor::START));
        self.caught_up = n < WORKER_PAGE as usize;
        if n > 0 {
            metrics::counter!("views_batches_total").increment(1);
            metrics::counter!("views_events_total").increment(n as u64);
        }
        // A batch short of a page took everything there was: wait for the next commit's wake
        // (a permit is kept if it came meanwhile) rather than read an empty page first.
        Ok(if n >= WORKER_PAGE as usize { Outcome::Worked } else { Outcome::Idle })
    }
}

/// Starts the runner, letting commits gather for `gather` after a wake; it stops when
/// `shutdown` turns true.
pub fn spawn(
    store: Store,
    gather: Duration,
    shutdown: watch::Receiver<bool>,
) -> (ViewsHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Cursor::START);
    let (wake, hurry) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let handle = ViewsHandle { position: rx, wake: wake.clone(), hurry: hurry.clone() };
    let task = worker::spawn(
        Runner { store, position: tx, stored: None, caught_up: false, hurry, gather },
        Pacing::idle(FOLLOWER_IDLE),
        Wake::on_notify(wake),
        shutdown,
    );
    (handle, task)
}
