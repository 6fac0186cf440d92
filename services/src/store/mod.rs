//! The event store: cqrs-es 0.5.0's plain event store over `sqlite-es` (embedded default) or
//! `postgres-es`, plus the global ordered feed that readers follow with an opaque cursor.
//!
//! Only the plain event store is used: in 0.5.0 the snapshot and aggregate stores apply the
//! events of a command twice (`docs/decisions/0001-cqrs-es-plain-event-store.md`). Every SQL
//! statement of the service lives in this module and its children.

mod access;
pub mod chain;
mod checkpoints;
mod connections;
mod cursor;
mod feed;
mod idempotency;
mod leases;
mod sealing;
#[macro_use]
mod sql;
mod views;
mod webhooks;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use brobyg_domain::personal::KeyHolder;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventEnvelope, EventStore};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use access::AccessEntry;
pub use checkpoints::AuditCheckpoint;
pub use cursor::{CURSOR_PATTERN, Cursor, InvalidCursor};
pub use feed::{DeliveryEvent, DeliveryPage, FeedEvent, FeedPage, FeedProgress, ViewsEvent, ViewsPage};
pub use idempotency::{KeyState, StoredResponse};
pub use sealing::{Kek, KekError, data_key_id, data_key_prefix};
pub use views::{CaseFilter, CaseSummary, ConcernSummary, VIEWS_CONSUMER, VolunteerSummary};
pub use webhooks::{Delivery, Subscription};

/// Which database backs the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A failure of the store itself (not of a domain rule).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored event could not be read back.
    #[error("stored event could not be decoded: {0}")]
    Corrupt(String),
    /// Any other failure reported by the cqrs-es repository.
    #[error("event store error: {0}")]
    Persistence(String),
    /// The database URL is not one we support.
    #[error("unsupported database URL: use sqlite:// or postgres://")]
    UnsupportedUrl,
    /// Personal data must be sealed, and no key-encryption key was given to the store.
    #[error("no key-encryption key: personal data cannot be sealed or opened")]
    NoKek,
    /// Personal data was to be written under a destroyed key (an erased subject).
    #[error("the record's personal data was erased ({0}); nothing personal can be added to it")]
    Erased(String),
    /// The database could not be reached: connection refused or lost, or it refuses connections.
    #[error("the database does not answer: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether the database could not be reached (rather than answering with an error): a
    /// caller may retry shortly; the service answers 503 and is not ready.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Database(e) => database_unreachable(e),
            _ => false,
        }
    }
}

/// Connection-level failures: I/O, TLS, no connection to be had in time, a closed pool, and the
/// server's own "cannot connect now" answers (SQLSTATE classes 08 and 53, 57P0x, and 55000 for
/// a database not accepting connections).
fn database_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("53") || code.starts_with("57P") || code == "55000"
        }),
        _ => false,
    }
}

/// Why a command was not committed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// A domain rule refused it.
    #[error(transparent)]
    Rejected(E),
    /// Another writer committed to the same aggregate first; nothing was written. Retry on a
    /// fresh load, or report a conflict.
    #[error("another change to the same record was committed first")]
    Conflict,
    /// The record exists, and the caller may not know that it does: answered as if it did not.
    #[error("no such record")]
    NotVisible,
    /// The caller expected another version (`If-Match`).
    #[error("expected version {expected}, found {actual}")]
    VersionMismatch {
        /// What the caller expected.
        expected: usize,
        /// What is stored.
        actual: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<E: std::error::Error> From<AggregateError<E>> for CommandError<E> {
    fn from(e: AggregateError<E>) -> Self {
        match e {
            AggregateError::UserError(e) => Self::Rejected(e),
            AggregateError::AggregateConflict => Self::Conflict,
            AggregateError::DeserializationError(e) => Self::Store(StoreError::Corrupt(e.to_string())),
            AggregateError::UnexpectedError(e) => match e.downcast::<StoreError>() {
                Ok(store) => Self::Store(*store),
                Err(e) => match e.downcast::<sqlx::Error>() {
                    Ok(db) => Self::Store(StoreError::Database(*db)),
                    Err(e) => Self::Store(StoreError::Persistence(e.to_string())),
                },
            },
            AggregateError::DatabaseConnectionError(e) => Self::Store(StoreError::Unavailable(e.to_string())),
        }
    }
}

/// The data keys looked up while opening a run of stored events (one read's), so that each is
/// looked up once; held only as long as that run is opened.
#[derive(Default)]
pub(crate) struct DataKeys(HashMap<String, Option<sealing::DataKey>>);

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // How many, never the keys.
        f.debug_struct("DataKeys").field("looked_up", &self.0.len()).finish()
    }
}

/// An aggregate as loaded: its folded state, its version (the sequence of its last event, 0 if
/// none) and its events.
#[derive(Debug)]
pub struct Loaded<A: Aggregate> {
    /// The folded state.
    pub aggregate: A,
    /// The sequence number of the last event; 0 for an aggregate with no events.
    pub version: usize,
    /// Every event, in sequence order.
    pub events: Vec<EventEnvelope<A>>,
}

/// An event opened to bring a held fold up to date: its sequence, its chain hash and the event.
#[derive(Debug)]
pub(crate) struct Opened<E> {
    sequence: usize,
    hash: Option<String>,
    event: E,
}

/// An aggregate as a command or a policy check needs it: folded state, version and the chain
/// hash of its last event (kept in memory with the keys that opened it, without its events).
#[derive(Clone, Debug)]
pub struct Held<A> {
    /// The folded state.
    pub aggregate: A,
    /// The sequence number of the last event; 0 for an aggregate with no events.
    pub version: usize,
    /// The chain hash stored with the last event.
    pub last_hash: Option<String>,
}

/// What a committed command wrote.
#[derive(Debug)]
pub struct Committed<A: Aggregate> {
    /// The aggregate after the command.
    pub aggregate: A,
    /// Its new version.
    pub version: usize,
    /// The events written, with their sequence numbers.
    pub events: Vec<EventEnvelope<A>>,
    /// The feed position of the last event written (none if the command wrote nothing).
    pub position: Option<Cursor>,
}

/// The event store. Cheap to clone (a connection pool and the key-encryption key inside).
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    kek: Option<std::sync::Arc<Kek>>,
    keys: std::sync::Arc<sealing::KeyCache>,
    /// SQLite has one writer at a time; a second one waits in SQLite's busy handler, which
    /// sleeps and polls (1, 2, 5, … 100 ms). This process's writers queue here instead, in
    /// order and woken at once, and write on one connection of their own rather than one taken
    /// from the pool and pinged on its way back (docs/benchmarks.md). Unused on PostgreSQL.
    writes: std::sync::Arc<tokio::sync::Mutex<sql::Writer>>,
    /// SQLite's appends waiting for the writer: whoever takes it next commits all of them in
    /// one transaction (group commit). Unused on PostgreSQL.
    appends: std::sync::Arc<sql::Appends>,
    /// On PostgreSQL, the connections commands run on, apart from the pool: one comes back
    /// without sqlx's ping when its command ended as decided ([`connections`]).
    commands: Option<std::sync::Arc<connections::Connections>>,
    /// On PostgreSQL, the one connection a command's statements run on (its load, a new data
    /// key, its append), held by the store handle [`Store::execute`] makes for the command.
    pinned: Option<std::sync::Arc<tokio::sync::Mutex<connections::Lent>>>,
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). An SQLite file is created if
    /// missing, in WAL mode with a busy timeout so concurrent writers queue instead of failing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // Freed pages are overwritten, so a destroyed data key leaves no copy behind.
                .pragma("secure_delete", "ON")
                // Rows cross from SQLite's worker thread in a bounded channel; a deep one lets a
                // page of the feed arrive without a thread hand-off per row (docs/benchmarks.md).
                .row_buffer_size(1024);
            let writer = sql::Writer::new(options.clone());
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                // A file does not hang up: no ping round trip to the worker thread per query.
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            let store = Self::over(Pool::Sqlite(pool));
            *store.writes.lock().await = writer;
            Ok(store)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            // Commands run on connections of their own (half of the maximum), reads and
            // background work on the pool (the rest): together `max_connections`, but at least
            // one each (two when the maximum is one).
            let for_commands = (max_connections / 2).max(1);
            let commands = connections::Connections::new(options.clone(), for_commands);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.saturating_sub(for_commands).max(1))
                // sqlx pings every connection as it returns to the pool; pinging again as it
                // leaves costs a round trip per query. Only a connection idle for a while is
                // checked, so one broken by a database restart is replaced, not used.
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > connections::CHECK_AFTER_IDLE {
                            sqlx::Connection::ping(conn).await?;
                        }
                        Ok(true)
                    })
                })
                .acquire_timeout(connections::ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Ok(Self { commands: Some(std::sync::Arc::new(commands)), ..Self::over(Pool::Postgres(pool)) })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// A store over `pool`, without a key-encryption key or a key cache.
    fn over(pool: Pool) -> Self {
        Self {
            pool,
            kek: None,
            keys: std::sync::Arc::new(sealing::KeyCache::new(Duration::ZERO)),
            writes: std::sync::Arc::default(),
            appends: std::sync::Arc::default(),
            commands: None,
            pinned: None,
        }
    }

    /// This store for one command: on PostgreSQL with one command connection held for the
    /// command's statements; on SQLite (whose writes have a connection of their own) the same.
    async fn for_one_command(&self) -> Result<Self, StoreError> {
        match &self.commands {
            Some(commands) if self.pinned.is_none() => {
                let conn = commands.lend().await?;
                Ok(Self { pinned: Some(std::sync::Arc::new(tokio::sync::Mutex::new(conn))), ..self.clone() })
            }
            _ => Ok(self.clone()),
        }
    }

    /// The command this store handle was made for ended as decided: its connection may serve
    /// the next command without a check (it is closed when the handle goes otherwise).
    async fn command_ended_cleanly(&self) {
        if let Some(conn) = &self.pinned {
            conn.lock().await.ended_cleanly();
        }
    }

    /// The store with a key-encryption key: personal values are sealed on write and opened on
    /// read. Without one, commands and loads that touch personal data fail with `NoKek`.
    #[must_use]
    pub fn with_kek(mut self, kek: Kek) -> Self {
        self.kek = Some(std::sync::Arc::new(kek));
        self
    }

    /// Keeps unwrapped data keys in memory for `ttl` (zero: not at all); see
    /// [`sealing::KeyCache`].
    #[must_use]
    pub fn with_key_cache(mut self, ttl: Duration) -> Self {
        self.keys = std::sync::Arc::new(sealing::KeyCache::new(ttl));
        self
    }

    /// The SQLite URL of the store file in `data_dir`.
    #[must_use]
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("brobyg.db").display())
    }

    /// Which backend this is.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => sqlx::migrate!("../migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("../migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Whether every migration this binary knows is applied (for readiness).
    pub async fn migrations_current(&self) -> Result<bool, StoreError> {
        let (migrator, applied): (sqlx::migrate::Migrator, Vec<i64>) = match &self.pool {
            Pool::Sqlite(p) => (
                sqlx::migrate!("../migrations/sqlite"),
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(p).await?,
            ),
            Pool::Postgres(p) => (
                sqlx::migrate!("../migrations/postgres"),
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success").fetch_all(p).await?,
            ),
        };
        Ok(migrator.iter().all(|m| applied.contains(&m.version)))
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.fetch_rows("SELECT 1", vec![]).await.map(drop)
    }

    /// Connections open to the database (the pool's and, on PostgreSQL, the commands'), and
    /// how many are idle.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, usize) {
        let (commands, commands_idle) = self.commands.as_ref().map_or((0, 0), |c| c.stats());
        let (size, idle) = match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
            Pool::Postgres(p) => (p.size(), p.num_idle()),
        };
        (size.saturating_add(u32::try_from(commands).unwrap_or(u32::MAX)), idle + commands_idle)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => {
                self.writes.lock().await.close().await;
                p.close().await;
            }
            Pool::Postgres(p) => {
                if let Some(commands) = &self.commands {
                    commands.close().await;
                }
                p.close().await;
            }
        }
    }

    /// Loads an aggregate by reading, opening and folding every one of its events: what a
    /// reader is shown is what is stored now, so a stored event changed behind the service's
    /// back fails here (a value that does not open) or shows (a rewritten organisation).
    pub async fn load<A>(&self, id: &str) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        let mut loaded = Loaded { aggregate: A::default(), version: 0, events: Vec::new() };
        for e in self.events_since::<A>(id, 0).await? {
            loaded.version = e.sequence;
            loaded.aggregate.apply(e.payload.clone());
            loaded.events.push(e);
        }
        Ok(loaded)
    }

    /// An aggregate's folded state and version, as [`Store::load`] reads, opens and folds every
    /// one of its events now, without keeping them: each event is folded as opened (not a copy),
    /// and of its metadata only the chain hash and the seal version are read.
    pub async fn fold<A>(&self, id: &str) -> Result<(A, usize), StoreError>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        let (mut aggregate, mut version) = (A::default(), 0);
        for e in self.opened_since::<A>(id, 0).await? {
            version = e.sequence;
            aggregate.apply(e.event);
        }
        Ok((aggregate, version))
    }

    /// Loads an aggregate for a command or a policy check: its folded state, version and the
    /// chain hash of its last event, not its events. A fold held in memory (for the key cache's
    /// lifetime, [`sealing::KeyCache`]) is brought up to date with the events after it, one
    /// query that usually returns nothing; otherwise every event is read, opened and folded.
    /// Events are immutable and an aggregate's are committed in sequence order, so both decide
    /// alike; a command decided on a fold that another writer has overtaken conflicts on append.
    /// The fold is shared with the cache: a reader reads it in place, a command takes a copy
    /// to decide on (`Arc::unwrap_or_clone`).
    pub(crate) async fn load_held<A>(&self, id: &str) -> Result<Arc<Held<A>>, StoreError>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        Ok(self.load_held_since::<A>(id).await?.0)
    }

    /// [`Store::load_held`], with when the fold was first loaded (a fold's lifetime counts from
    /// then) and the key cache's generation read before it.
    async fn load_held_since<A>(&self, id: &str) -> Result<(Arc<Held<A>>, std::time::Instant, u64), StoreError>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        let generation = self.keys.generation();
        let (held, at) = self.keys.fold::<A>(id).unwrap_or_else(|| {
            (Arc::new(Held { aggregate: A::default(), version: 0, last_hash: None }), std::time::Instant::now())
        });
        let newer = self.opened_since::<A>(id, held.version).await?;
        Ok((self.bring_up_to_date(id, held, at, generation, newer), at, generation))
    }

    /// Several aggregates of one type as a command or a policy check needs them, each brought
    /// up to date from the fold held of it (see [`Held`]) with one query for all of them (the
    /// events of each after its fold); ids without events are left out.
    /// The result keeps the order of `ids` (each id once).
    pub async fn load_held_many<A>(&self, ids: &[String]) -> Result<Vec<(String, Arc<Held<A>>)>, StoreError>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<&String> = ids.iter().filter(|id| seen.insert(id.as_str())).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let generation = self.keys.generation();
        let mut held: Vec<(Arc<Held<A>>, std::time::Instant)> = ids
            .iter()
            .map(|id| {
                self.keys.fold::<A>(id).unwrap_or_else(|| {
                    let empty = Held { aggregate: A::default(), version: 0, last_hash: None };
                    (Arc::new(empty), std::time::Instant::now())
                })
            })
            .collect();
        let wanted: Vec<(&str, usize)> =
            ids.iter().map(|id| id.as_str()).zip(held.iter().map(|(h, _)| h.version)).collect();
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT e.aggregate_id, e.sequence, e.payload, e.metadata \
                   FROM json_each($2) w \
                   JOIN events e ON e.aggregate_type = $1 AND e.aggregate_id = w.value ->> 0 \
                                AND e.sequence > w.value ->> 1 \
                  ORDER BY w.key, e.sequence"
            }
            Backend::Postgres => {
                // Lateral (not pulled up, `OFFSET 0`): each id's events by the primary key, whatever the
                // planner estimates.
                "SELECT e.aggregate_id, e.sequence, e.payload, e.metadata \
                   FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS w(value, n) \
                  CROSS JOIN LATERAL ( \
                        SELECT aggregate_id, sequence, payload::text, metadata::text FROM events \
                         WHERE aggregate_type = $1 AND aggregate_id = w.value ->> 0 \
                           AND sequence > (w.value ->> 1)::bigint OFFSET 0) e \
                  ORDER BY w.n, e.sequence"
            }
        };
        let list = serde_json::to_string(&wanted).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = self.fetch_rows(sql, vec![A::TYPE.into(), list.into()]).await?;
        // Rows come grouped by id, in the order of `ids`: each group brings its id's fold up to date.
        let mut keys = HashMap::new();
        let mut newer: Vec<Vec<Opened<A::Event>>> = std::iter::repeat_with(Vec::new).take(ids.len()).collect();
        let mut at = 0;
        for mut row in rows {
            let aggregate_id = row.take_text(0)?;
            let event = self.opened_event::<A>(row, &mut keys).await?;
            while at < ids.len() && *ids[at] != aggregate_id {
                at += 1;
            }
            let Some(group) = newer.get_mut(at) else {
                return Err(StoreError::Corrupt(format!("an event of {} {aggregate_id} out of order", A::TYPE)));
            };
            group.push(event);
        }
        let mut out = Vec::with_capacity(ids.len());
        for ((id, (fold, first)), events) in ids.iter().zip(held.drain(..)).zip(newer) {
            let fold = self.bring_up_to_date(id, fold, first, generation, events);
            if fold.version > 0 {
                out.push(((*id).clone(), fold));
            }
        }
        Ok(out)
    }

    /// `held` (first loaded at `at`, under key-cache `generation`) with `newer` applied, kept
    /// in the cache.
    fn bring_up_to_date<A>(
        &self,
        id: &str,
        held: Arc<Held<A>>,
        at: std::time::Instant,
        generation: u64,
        newer: Vec<Opened<A::Event>>,
    ) -> Arc<Held<A>>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        if newer.is_empty() {
            return held;
        }
        // The cache lets go of the fold it is about to replace, so that, unless a reader holds it
        // right now, it is brought up to date in place rather than copied.
        self.keys.let_go_of_fold(id, &held);
        let mut held = Arc::unwrap_or_clone(held);
        for e in newer {
            held.version = e.sequence;
            held.last_hash = e.hash;
            held.aggregate.apply(e.event);
        }
        let held = Arc::new(held);
        self.keys.keep_fold(id, Arc::clone(&held), at, generation);
        held
    }

    /// The events of one aggregate after sequence `after`, opened, in order.
    async fn events_since<A>(&self, id: &str, after: usize) -> Result<Vec<EventEnvelope<A>>, StoreError>
    where
        A: Aggregate,
    {
        let rows = self.event_rows_since(A::TYPE, id, after).await?;
        let mut keys = HashMap::new();
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            events.push(self.stored_event::<A>(row, &mut keys).await?);
        }
        Ok(events)
    }

    /// The events of one aggregate after sequence `after`, opened for a held fold, in order.
    async fn opened_since<A>(&self, id: &str, after: usize) -> Result<Vec<Opened<A::Event>>, StoreError>
    where
        A: Aggregate,
    {
        let rows = self.event_rows_since(A::TYPE, id, after).await?;
        let mut keys = HashMap::new();
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            events.push(self.opened_event::<A>(row, &mut keys).await?);
        }
        Ok(events)
    }

    /// The stored rows of one aggregate's events after sequence `after`, in order, as
    /// [`Store::stored_event`] and [`Store::opened_event`] read them: `aggregate_id, sequence,
    /// payload, metadata, event_type, event_version` (the payload and the metadata as their
    /// texts, parsed only as far as the reader needs).
    async fn event_rows_since(&self, kind: &str, id: &str, after: usize) -> Result<Vec<sql::Row>, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT aggregate_id, sequence, payload, metadata, event_type, event_version FROM events \
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence"
            }
            Backend::Postgres => {
                "SELECT aggregate_id, sequence, payload::text, metadata::text, event_type, event_version FROM events \
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 ORDER BY sequence"
            }
        };
        let params = vec![kind.into(), id.into(), i64::try_from(after).unwrap_or(i64::MAX).into()];
        self.fetch_rows(sql, params).await
    }

    /// One stored event of `A` from a row of `aggregate_id, sequence, payload, metadata, …`,
    /// opened for a held fold: of its metadata only the chain hash and the seal version are
    /// read.
    async fn opened_event<A: Aggregate>(
        &self,
        mut row: sql::Row,
        keys: &mut HashMap<String, Option<sealing::DataKey>>,
    ) -> Result<Opened<A::Event>, StoreError> {
        #[derive(serde::Deserialize)]
        struct HeldMetadata {
            hash: Option<String>,
            seal_version: Option<serde_json::Value>,
        }
        let sequence = u64::try_from(row.int(1)?).map_err(|_| StoreError::Corrupt("sequence".into()))?;
        let metadata: HeldMetadata = serde_json::from_str(&row.take_text(3)?)
            .map_err(|e| StoreError::Corrupt(format!("stored metadata: {e}")))?;
        let binds_place =
            metadata.seal_version.as_ref().and_then(serde_json::Value::as_str) == Some(sealing::SEAL_VERSION);
        let payload = row.take_text(2)?;
        let payload = self.open_payload_text(&payload, sequence, binds_place, keys).await?;
        let event = serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))?;
        let sequence = usize::try_from(sequence).map_err(|_| StoreError::Corrupt("sequence".into()))?;
        Ok(Opened { sequence, hash: metadata.hash, event })
    }

    /// The event a feed row holds, opened: what is stored, so a value changed or moved in the
    /// row fails here as it does in [`Store::load`]; read from the stored text with its sealed
    /// values opened, without a JSON tree between. `keys`: the data keys already looked up for
    /// the events read with it (one read's events look each key up once).
    pub(crate) async fn open_feed_event<A: Aggregate>(
        &self,
        e: &DeliveryEvent,
        keys: &mut DataKeys,
    ) -> Result<A::Event, StoreError> {
        let sequence = u64::try_from(e.sequence).map_err(|_| StoreError::Corrupt("sequence".into()))?;
        let payload = self.open_payload_text(&e.payload, sequence, e.binds_place, &mut keys.0).await?;
        serde_json::from_str(&payload).map_err(|err| StoreError::Corrupt(format!("stored event: {err}")))
    }

    /// One stored event of `A` from a row of `aggregate_id, sequence, payload, metadata,
    /// event_type, event_version`, opened.
    async fn stored_event<A: Aggregate>(
        &self,
        mut row: sql::Row,
        keys: &mut HashMap<String, Option<sealing::DataKey>>,
    ) -> Result<EventEnvelope<A>, StoreError> {
        let mut event = cqrs_es::persist::SerializedEvent {
            aggregate_id: row.take_text(0)?,
            sequence: usize::try_from(row.int(1)?).map_err(|_| StoreError::Corrupt("sequence".into()))?,
            aggregate_type: A::TYPE.to_owned(),
            event_type: row.take_text(4)?,
            event_version: row.take_text(5)?,
            payload: row.take_json(2)?,
            metadata: row.take_json(3)?,
        };
        self.unseal_stored(&mut event, keys).await?;
        EventEnvelope::<A>::try_from(event).map_err(|e| StoreError::Corrupt(format!("stored event: {e}")))
    }

    /// Loads several aggregates of one type with one query; ids without events are left out.
    /// The result keeps the order of `ids`.
    pub async fn load_many<A>(&self, ids: &[String]) -> Result<Vec<(String, Loaded<A>)>, StoreError>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT aggregate_id, sequence, payload, metadata, event_type, event_version FROM events \
                  WHERE aggregate_type = $1 AND aggregate_id IN (SELECT value FROM json_each($2)) \
                  ORDER BY aggregate_id, sequence"
            }
            Backend::Postgres => {
                "SELECT aggregate_id, sequence, payload, metadata::text, event_type, event_version FROM events \
                  WHERE aggregate_type = $1 AND aggregate_id IN (SELECT jsonb_array_elements_text($2::jsonb)) \
                  ORDER BY aggregate_id, sequence"
            }
        };
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = self.fetch_rows(sql, vec![A::TYPE.into(), list.into()]).await?;
        let mut keys = HashMap::new();
        let mut by_id: HashMap<String, Loaded<A>> = HashMap::new();
        for row in rows {
            let envelope = self.stored_event::<A>(row, &mut keys).await?;
            let id = envelope.aggregate_id.clone();
            let loaded =
                by_id.entry(id).or_insert_with(|| Loaded { aggregate: A::default(), version: 0, events: Vec::new() });
            loaded.version = envelope.sequence;
            loaded.aggregate.apply(envelope.payload.clone());
            loaded.events.push(envelope);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id).map(|l| (id.clone(), l))).collect())
    }

    /// Loads the aggregate, asks `admit` whether the caller may know it exists (no: `NotVisible`,
    /// before anything else is compared), decides `command` and commits the resulting events
    /// with `metadata`, all or nothing. With `expected_version`, refuses unless the stored
    /// version matches.
    pub async fn execute<A>(
        &self,
        id: &str,
        command: A::Command,
        expected_version: Option<usize>,
        metadata: HashMap<String, String>,
        admit: impl Fn(&A) -> bool,
    ) -> Result<Committed<A>, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
        A::Command: Send + Clone,
        A::Event: KeyHolder,
    {
        let this = self.for_one_command().await?;
        let result = async {
            // A fold held in memory is decided on without asking the database for newer events:
            // an append on an outdated fold conflicts (its sequence is taken) and writes nothing.
            // Only an append proves the fold current, so any other outcome — a conflict, a refusal,
            // nothing to write — is decided again on the fold brought up to date. A failure of the
            // store is not: the append may have been written.
            let generation = this.keys.generation();
            if let Some((held, at)) = this.keys.fold::<A>(id) {
                let outcome = this
                    .decide_and_commit(
                        id,
                        Arc::unwrap_or_clone(held),
                        command.clone(),
                        expected_version,
                        metadata.clone(),
                        &admit,
                    )
                    .await;
                match outcome {
                    Ok((committed, last_hash)) if !committed.events.is_empty() => {
                        this.keep_committed(id, &committed, last_hash, at, generation);
                        return Ok(committed);
                    }
                    Err(CommandError::Store(e)) => return Err(CommandError::Store(e)),
                    _ => {}
                }
            }
            let (held, at, generation) = this.load_held_since::<A>(id).await?;
            let (committed, last_hash) = this
                .decide_and_commit(id, Arc::unwrap_or_clone(held), command, expected_version, metadata, &admit)
                .await?;
            if !committed.events.is_empty() {
                this.keep_committed(id, &committed, last_hash, at, generation);
            }
            Ok::<_, CommandError<A::Error>>(committed)
        }
        .await;
        // Its connection serves the next command only if its statements ran to their end.
        if !matches!(result, Err(CommandError::Store(_))) {
            this.command_ended_cleanly().await;
        }
        result
    }

    /// Keeps the fold a command committed (its aggregate, version and last chain hash) for the
    /// next command, with the first-load time of the fold it was decided on.
    fn keep_committed<A>(
        &self,
        id: &str,
        committed: &Committed<A>,
        last_hash: Option<String>,
        at: std::time::Instant,
        generation: u64,
    ) where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
    {
        if last_hash.is_none() {
            return;
        }
        let held = Held { aggregate: committed.aggregate.clone(), version: committed.version, last_hash };
        self.keys.keep_fold(id, Arc::new(held), at, generation);
    }

    /// Decides `command` on `held` and commits its events; the committed result and the chain
    /// hash of the last event written (none if nothing was).
    async fn decide_and_commit<A>(
        &self,
        id: &str,
        held: Held<A>,
        command: A::Command,
        expected_version: Option<usize>,
        metadata: HashMap<String, String>,
        admit: &impl Fn(&A) -> bool,
    ) -> Result<(Committed<A>, Option<String>), CommandError<A::Error>>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
        A::Command: Send,
        A::Event: KeyHolder,
    {
        let current = held.version;
        // The commit chains to the last event loaded without asking the database for its hash.
        let last = held.last_hash.map(|h| (current, h));
        let tail = std::sync::Arc::new(std::sync::Mutex::new(sealing::Tail { last, position: None }));
        let mut context = EventStoreAggregateContext {
            aggregate_id: id.to_owned(),
            aggregate: held.aggregate,
            current_sequence: current,
            current_snapshot: None,
        };
        // A record of another organisation, and one that does not exist when the caller names
        // a version of it, answer alike: before any version is compared.
        if (current > 0 && !admit(&context.aggregate)) || (current == 0 && expected_version.is_some()) {
            return Err(CommandError::NotVisible);
        }
        if let Some(expected) = expected_version
            && expected != current
        {
            return Err(CommandError::VersionMismatch { expected, actual: current });
        }
        let sink = cqrs_es::event_sink::EventSink::default();
        context.aggregate().handle(command, &(), &sink).await.map_err(CommandError::Rejected)?;
        let events = sink.collect().await;
        // `handle` applied the events to the context's aggregate through the sink already. The
        // plain event store's commit reads only the context's id and sequence (it keeps no
        // snapshot), so the aggregate is taken out of it rather than copied.
        let aggregate = std::mem::take(&mut context.aggregate);
        let holders = key_holders(&events);
        let committed = sql::with_repo!(self, holders, tail.clone(), repo =>
            event_store::<A, _>(repo).commit(events, context, metadata).await)?;
        let version = committed.last().map_or(current, |e| e.sequence);
        let (position, last_hash) = tail.lock().map_or((None, None), |t| {
            (t.position, t.last.as_ref().filter(|(sequence, _)| *sequence == version).map(|(_, h)| h.clone()))
        });
        let last_hash = last_hash.filter(|_| !committed.is_empty());
        Ok((Committed { aggregate, version, events: committed, position }, last_hash))
    }

    /// Appends `events` to an aggregate whose stored version the caller asserts is
    /// `expected_version`, without deciding anything. For imports, tools and the conformance
    /// suite; commands go through [`Store::execute`]. A concurrent append at the same version
    /// loses with [`CommandError::Conflict`] and writes nothing.
    pub async fn append<A>(
        &self,
        id: &str,
        expected_version: usize,
        events: Vec<A::Event>,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, CommandError<A::Error>>
    where
        A: Aggregate<Services = ()> + Send + Sync + Clone + 'static,
        A::Event: KeyHolder,
    {
        let holders = key_holders(&events);
        let context = EventStoreAggregateContext {
            aggregate_id: id.to_owned(),
            aggregate: A::default(),
            current_sequence: expected_version,
            current_snapshot: None,
        };
        Ok(sql::with_repo!(self, holders, Default::default(), repo =>
            event_store::<A, _>(repo).commit(events, context, metadata).await?))
    }

    /// The sealing repository over `inner`, for a batch whose events' key holders are
    /// `key_holders` (empty for reads).
    fn sealed<R>(
        &self,
        inner: R,
        key_holders: Vec<Option<String>>,
        tail: std::sync::Arc<std::sync::Mutex<sealing::Tail>>,
    ) -> sealing::Sealed<R> {
        sealing::Sealed { inner, store: self.clone(), key_holders, tail }
    }
}

/// For each event, the organisation whose key seals it when it is not the writer.
fn key_holders<E: KeyHolder>(events: &[E]) -> Vec<Option<String>> {
    events.iter().map(|e| e.key_holder().map(ToString::to_string)).collect()
}

/// The plain cqrs-es event store over `repo`: every load folds all events of the aggregate.
fn event_store<A, R>(repo: R) -> PersistedEventStore<R, A>
where
    A: Aggregate + Send + Sync,
    R: cqrs_es::persist::PersistedEventRepository,
{
    PersistedEventStore::new_event_store(repo)
}
