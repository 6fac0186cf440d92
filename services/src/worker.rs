//! Background workers: one loop for all of them (decision 0004).
//!
//! A worker is a step that says what happened — it did work, it found nothing to do, or it
//! failed — and this module runs it: again at once after work, after its idle pause (or when
//! woken) when there was nothing to do, and after a growing pause when it failed. A step that
//! panics counts as a failure, so one bad record cannot stop a worker for good. Every worker
//! stops when the service stops, and [`Workers::join`] waits for all of them with a deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// What one step of a worker did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did some work and may have more: step again at once.
    Worked,
    /// Nothing to do now: wait for the idle pause or a wake-up.
    Idle,
}

/// Why a step failed, as the worker says it (no personal data: it is logged).
pub type StepError = Box<dyn std::error::Error + Send + Sync>;

/// A background worker: a name for logs and metrics, and one step at a time.
pub trait Worker: Send + 'static {
    /// The name in logs, metrics and readiness.
    fn name(&self) -> &'static str;

    /// Does one unit of work.
    fn step(&mut self) -> impl Future<Output = Result<Outcome, StepError>> + Send;
}

/// How long a duty's lease lasts without renewal: a replica that stops (or hangs) hands its
/// duties to another within this.
pub const LEASE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// What a duty that runs in one replica at a time is started with: this replica's holder id for
/// leases, and the stop signal.
#[derive(Clone, Debug)]
pub struct Replica {
    /// This process's id in `leases.holder`.
    pub holder: String,
    /// Turns true when the service stops.
    pub stop: watch::Receiver<bool>,
}

/// A worker whose steps run in one replica at a time: each step first takes or renews the lease
/// `worker:<name>` for this replica; without it the step does nothing and another replica works.
pub struct Leased<W> {
    inner: W,
    store: crate::store::Store,
    holder: String,
    held: bool,
}

impl<W> std::fmt::Debug for Leased<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leased").field("holder", &self.holder).field("held", &self.held).finish_non_exhaustive()
    }
}

impl<W: Worker> Leased<W> {
    /// `inner`, run only while `holder` (this replica) holds its lease.
    pub fn new(inner: W, store: crate::store::Store, holder: &str) -> Self {
        Self { inner, store, holder: holder.to_owned(), held: false }
    }
}

impl<W: Worker> Worker for Leased<W> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let lease = format!("worker:{}", self.inner.name());
        let held = self.store.hold_lease(&lease, &self.holder, LEASE_TTL, chrono::Utc::now()).await?;
        if held != self.held {
            tracing::info!(worker = self.inner.name(), held, "lease {}", if held { "taken" } else { "lost" });
            metrics::gauge!("worker_lease_held", "worker" => self.inner.name()).set(if held { 1.0 } else { 0.0 });
            self.held = held;
        }
        if !held {
            return Ok(Outcome::Idle);
        }
        self.inner.step().await
    }
}

/// When a worker runs.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// The pause before the first step.
    pub start_after: Duration,
    /// The pause after a step that found nothing to do.
    pub idle: Duration,
    /// The pause after the first failure; it doubles with each failure in a row.
    pub backoff: Duration,
    /// The longest pause after failures.
    pub max_backoff: Duration,
}

impl Pacing {
    /// Steps at once, pauses `idle` when there is nothing to do, backs off from 100 ms to
    /// 30 s on failures.
    #[must_use]
    pub fn idle(idle: Duration) -> Self {
        Self {
            start_after: Duration::ZERO,
            idle,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }

    /// The first step only after `delay`.
    #[must_use]
    pub fn starting_after(self, delay: Duration) -> Self {
        Self { start_after: delay, ..self }
    }

    /// The pause after `failures` failures in a row (at least one).
    #[must_use]
    pub fn backoff_after(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What wakes an idle worker before its pause ends.
#[derive(Debug, Default)]
pub struct Wake {
    commits: Option<watch::Receiver<u64>>,
    notify: Option<Arc<Notify>>,
}

impl Wake {
    /// Nothing but the pause.
    #[must_use]
    pub fn never() -> Self {
        Self::default()
    }

    /// Every commit to the store.
    #[must_use]
    pub fn on_commit(commits: watch::Receiver<u64>) -> Self {
        Self { commits: Some(commits), notify: None }
    }

    /// A notification.
    #[must_use]
    pub fn on_notify(notify: Arc<Notify>) -> Self {
        Self { commits: None, notify: Some(notify) }
    }

    async fn woken(&mut self) {
        match (&mut self.commits, &self.notify) {
            (Some(c), _) => {
                if c.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            (None, Some(n)) => n.notified().await,
            (None, None) => std::future::pending::<()>().await,
        }
    }
}

/// How each background worker of this process is doing, for `/readyz` (process-wide, like the
/// metrics registry).
pub mod health {
    use std::collections::BTreeMap;
    use std::sync::{LazyLock, Mutex, PoisonError};

    use serde::Serialize;

    /// One worker's state.
    #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
    pub struct WorkerHealth {
        /// `running` or `failing`.
        pub state: String,
        /// Failed steps in a row now (0 while running).
        pub failures: u32,
        /// Steps that panicked and were restarted, since the process started.
        pub restarts: u32,
        /// When the last failure was, RFC 3339.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub last_failure_at: Option<String>,
    }

    static WORKERS: LazyLock<Mutex<BTreeMap<&'static str, WorkerHealth>>> = LazyLock::new(Mutex::default);

    pub(super) fn ok(name: &'static str) {
        let mut all = WORKERS.lock().unwrap_or_else(PoisonError::into_inner);
        let w = all.entry(name).or_default();
        w.state = "running".into();
        w.failures = 0;
    }

    pub(super) fn failed(name: &'static str, panicked: bool) {
        let mut all = WORKERS.lock().unwrap_or_else(PoisonError::into_inner);
        let w = all.entry(name).or_default();
        w.state = "failing".into();
        w.failures = w.failures.saturating_add(1);
        if panicked {
            w.restarts = w.restarts.saturating_add(1);
        }
        w.last_failure_at = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    }

    /// Every worker that has run a step, by name.
    #[must_use]
    pub fn snapshot() -> BTreeMap<&'static str, WorkerHealth> {
        WORKERS.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Runs `worker` until `stop` says so.
pub fn spawn<W: Worker>(
    mut worker: W,
    pacing: Pacing,
    mut wake: Wake,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let name = worker.name();
        if !pacing.start_after.is_zero() && pause(pacing.start_after, &mut wake, &mut stop, false).await {
            return;
        }
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                break;
            }
            let step = std::panic::AssertUnwindSafe(worker.step()).catch_unwind().await;
            let wait = match step {
                Ok(Ok(Outcome::Worked)) => {
                    failures = 0;
                    health::ok(name);
                    continue;
                }
                Ok(Ok(Outcome::Idle)) => {
                    if failures > 0 {
                        tracing::info!(worker = name, "worker recovered");
                        metrics::gauge!("worker_failing", "worker" => name).set(0.0);
                    }
                    failures = 0;
                    health::ok(name);
                    pacing.idle
                }
                Ok(Err(e)) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(worker = name, failures, error = %e, "worker step failed; retrying");
                    failed(name);
                    health::failed(name, false);
                    pacing.backoff_after(failures)
                }
                Err(_) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(worker = name, failures, "worker step panicked; restarting it");
                    failed(name);
                    health::failed(name, true);
                    pacing.backoff_after(failures)
                }
            };
            if pause(wait, &mut wake, &mut stop, failures == 0).await {
                break;
            }
        }
        tracing::debug!(worker = name, "worker stopped");
    })
}

fn failed(name: &'static str) {
    metrics::counter!("worker_failures_total", "worker" => name).increment(1);
    metrics::gauge!("worker_failing", "worker" => name).set(1.0);
}

/// Waits `duration`, or until woken (only when `wakeable`), or until stopped; `true` if stopped.
async fn pause(duration: Duration, wake: &mut Wake, stop: &mut watch::Receiver<bool>, wakeable: bool) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => {},
        () = wake.woken(), if wakeable => {},
        _ = stop.changed() => {},
    }
    *stop.borrow()
}

/// The running workers, to stop and join together.
#[derive(Debug, Default)]
pub struct Workers {
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Workers {
    /// Adds a running worker.
    pub fn add(&mut self, name: &'static str, task: JoinHandle<()>) {
        self.tasks.push((name, task));
    }

    /// Waits for every worker to finish (they were told to stop), for at most `deadline`;
    /// those still running then are aborted and named in the log.
    pub async fn join(self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        for (name, mut task) in self.tasks {
            match tokio::time::timeout_at(until, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(worker = name, error = %e, "worker ended abnormally"),
                Err(_) => {
                    tracing::warn!(worker = name, "worker did not stop in time; aborting it");
                    task.abort();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Flaky {
        calls: Arc<AtomicU32>,
    }

    impl Worker for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }

        async fn step(&mut self) -> Result<Outcome, StepError> {
            match self.calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err("the database is away".into()),
                1 => panic!("a bug in one record"),
                2 => Ok(Outcome::Worked),
                _ => Ok(Outcome::Idle),
            }
        }
    }

    #[tokio::test]
    async fn a_failing_or_panicking_step_is_retried_and_the_worker_stops_when_told() {
        let calls = Arc::new(AtomicU32::new(0));
        let (stop_tx, stop) = watch::channel(false);
        let pacing = Pacing { backoff: Duration::from_millis(5), ..Pacing::idle(Duration::from_secs(60)) };
        let task = spawn(Flaky { calls: calls.clone() }, pacing, Wake::never(), stop);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while calls.load(Ordering::SeqCst) < 4 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Failed, panicked, worked, then idle: four steps, and it waits for its idle pause.
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        stop_tx.send_replace(true);
        let mut workers = Workers::default();
        workers.add("flaky", task);
        tokio::time::timeout(Duration::from_secs(2), workers.join(Duration::from_secs(1))).await.expect("joined");
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let p = Pacing::idle(Duration::from_secs(1));
        assert_eq!(p.backoff_after(1), Duration::from_millis(100));
        assert_eq!(p.backoff_after(3), Duration::from_millis(400));
        assert_eq!(p.backoff_after(40), Duration::from_secs(30));
    }
}
