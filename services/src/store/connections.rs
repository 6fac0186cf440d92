//! PostgreSQL connections for commands, kept apart from sqlx's pool.
//!
//! sqlx 0.8.6 pings every connection that comes back to its pool (`return_to_pool` does it
//! unconditionally), and a command on a fold held in memory is one statement: the ping was a
//! second round trip per command, with its share of TLS and of the database's time
//! (docs/benchmarks.md, sixth round). A command's connection comes back here without one when the
//! command ended as decided — committed, refused, in conflict, not visible: its statements ran to
//! their end and no transaction is open — and is closed otherwise: a failure of the store, or a
//! command dropped half-way because its caller went away, may leave a connection in a state
//! nobody knows, and it is never used again. As the pool does, a connection idle for more than
//! a second is pinged before it is lent, so one broken by a database restart is replaced.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::StoreError;

/// How long a command (or, from the pool, any other work) waits for a connection before it
/// fails as unavailable.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection idle for longer than this is pinged before it is used (here and in the pool).
pub(crate) const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Up to `max` open connections for commands; the idle ones, most recently used last.
#[derive(Debug)]
pub(crate) struct Connections {
    options: PgConnectOptions,
    idle: Mutex<Vec<(PgConnection, Instant)>>,
    /// Permits to lend, one per connection that may be lent at once.
    open: Arc<Semaphore>,
    /// Connections open now, lent or idle.
    count: AtomicUsize,
}

impl Connections {
    pub(crate) fn new(options: PgConnectOptions, max: u32) -> Self {
        let max = usize::try_from(max.max(1)).unwrap_or(1);
        Self { options, idle: Mutex::new(Vec::new()), open: Arc::new(Semaphore::new(max)), count: AtomicUsize::new(0) }
    }

    /// A connection for one command: an idle one (the most recently used), or a new one while
    /// fewer than the maximum are open; otherwise waits for one to come back.
    pub(crate) async fn lend(self: &Arc<Self>) -> Result<Lent, StoreError> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.open.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Unavailable("no database connection for a command came free in time".into()))?
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        loop {
            let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some((mut conn, since)) = idle else { break };
            if since.elapsed() <= CHECK_AFTER_IDLE || conn.ping().await.is_ok() {
                return Ok(Lent { conn: Some(conn), home: self.clone(), ended_cleanly: false, _permit: permit });
            }
            // Broken while idle (a restarted database): dropped, and the next one tried.
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
        let conn = PgConnection::connect_with(&self.options).await?;
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(Lent { conn: Some(conn), home: self.clone(), ended_cleanly: false, _permit: permit })
    }

    /// Lends no more connections and closes the idle ones; lent ones close as they come back.
    pub(crate) async fn close(&self) {
        self.open.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for (conn, _) in idle {
            self.count.fetch_sub(1, Ordering::Relaxed);
            let _ = conn.close().await;
        }
    }

    /// Connections open (lent or idle), and how many of them are idle.
    pub(crate) fn stats(&self) -> (usize, usize) {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).len();
        (self.count.load(Ordering::Relaxed), idle)
    }

    /// How many connections are idle here (for tests).
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.stats().1
    }
}

/// A connection lent to one command. It goes back to the idle ones when dropped only if
/// [`Lent::ended_cleanly`] was called; otherwise it is closed.
#[derive(Debug)]
pub(crate) struct Lent {
    conn: Option<PgConnection>,
    home: Arc<Connections>,
    ended_cleanly: bool,
    _permit: OwnedSemaphorePermit,
}

impl Lent {
    /// The command ended as decided: every statement ran to its end and no transaction is
    /// open, so the connection may serve the next command without a check.
    pub(crate) fn ended_cleanly(&mut self) {
        self.ended_cleanly = true;
    }
}

impl std::ops::Deref for Lent {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        self.conn.as_ref().expect("a lent connection is present until it is dropped")
    }
}

impl std::ops::DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a lent connection is present until it is dropped")
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.ended_cleanly && !self.home.open.is_closed() {
            // Back before the permit is released (fields drop after this body).
            self.home.idle.lock().unwrap_or_else(PoisonError::into_inner).push((conn, Instant::now()));
            return;
        }
        self.home.count.fetch_sub(1, Ordering::Relaxed);
        // Otherwise dropped: its socket closes, and the database ends the session (rolling back
        // whatever was open).
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres() -> PgConnectOptions {
        std::env::var("BROBYG_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
            .parse()
            .expect("a PostgreSQL URL")
    }

    async fn backend_pid(conn: &mut PgConnection) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(conn).await.expect("pid")
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL (BROBYG_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres); .ci/run runs it"]
    async fn a_connection_comes_back_only_from_a_command_that_ended_cleanly() {
        let connections = Arc::new(Connections::new(postgres(), 2));

        // Ended cleanly: the same session serves the next command.
        let mut first = connections.lend().await.expect("lend");
        let pid = backend_pid(&mut first).await;
        first.ended_cleanly();
        drop(first);
        assert_eq!(connections.idle_count(), 1);
        let mut again = connections.lend().await.expect("lend");
        assert_eq!(backend_pid(&mut again).await, pid, "the connection that ended cleanly is lent again");

        // Not ended cleanly (a failure, or a command dropped half-way inside a transaction):
        // closed, and the next command gets a new session with nothing open.
        sqlx::query("BEGIN").execute(&mut *again).await.expect("begin");
        drop(again);
        assert_eq!(connections.idle_count(), 0, "a connection in an unknown state is not kept");
        let mut fresh = connections.lend().await.expect("lend");
        assert_ne!(backend_pid(&mut fresh).await, pid, "a new session");
        // A savepoint is refused outside a transaction block.
        let savepoint = sqlx::query("SAVEPOINT probe").execute(&mut *fresh).await;
        assert!(savepoint.is_err(), "no transaction left open");

        // At most `max` open; a third command waits for one to come back.
        let second = connections.lend().await.expect("lend");
        let waiting = tokio::spawn({
            let connections = connections.clone();
            async move { connections.lend().await.map(|mut lent| lent.ended_cleanly()) }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "a third command waits while two connections are lent");
        fresh.ended_cleanly();
        drop(fresh);
        waiting.await.expect("task").expect("lent once one came back");
        drop(second);
        assert_eq!(connections.stats(), (1, 1), "the one that came back cleanly is idle, the other closed");

        // Closed: no more lending, and the idle connections are closed.
        connections.close().await;
        assert_eq!(connections.idle_count(), 0);
        assert!(matches!(connections.lend().await, Err(StoreError::Unavailable(_))));
    }
}
