//! The one place that runs SQL on either backend. Statements are written once, in PostgreSQL's
//! spelling (`$1, $2, …`, `now()`), with parameters from a small closed set of types; on SQLite
//! they run as `?1, ?2, …` with `now()` as fixed-width RFC 3339 text. Rows come back as
//! backend-neutral cells. Everything else in `store/` builds statements and reads rows; only
//! this file (and the pool set-up and migrations in `mod.rs`) names a backend's pool.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Postgres, Row as _, Sqlite, Transaction};

use cqrs_es::persist::SerializedEvent;

use super::{Cursor, Pool, Store, StoreError};

/// A statement parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// Text, or NULL.
    Text(Option<String>),
    /// A 64-bit integer, or NULL.
    Int(Option<i64>),
    /// Bytes, or NULL.
    Bytes(Option<Vec<u8>>),
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Self::Text(Some(s.to_owned()))
    }
}
impl From<String> for Param {
    fn from(s: String) -> Self {
        Self::Text(Some(s))
    }
}
impl From<Option<String>> for Param {
    fn from(s: Option<String>) -> Self {
        Self::Text(s)
    }
}
impl From<i64> for Param {
    fn from(n: i64) -> Self {
        Self::Int(Some(n))
    }
}
impl From<Vec<u8>> for Param {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(Some(b))
    }
}

/// A statement and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// SQL with `$n` placeholders.
    pub sql: &'static str,
    /// Parameters in order.
    pub params: Vec<Param>,
}

impl Statement {
    /// A statement of `sql` with `params`.
    #[must_use]
    pub fn new(sql: &'static str, params: Vec<Param>) -> Self {
        Self { sql, params }
    }
}

/// The text SQLite stores for "now": fixed-width RFC 3339 UTC, as [`time_text`] writes.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// The SQLite spelling of a statement written for PostgreSQL: `$n` becomes `?n`, `now()` the
/// current time as text.
#[must_use]
pub fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?").replace("now()", SQLITE_NOW)
}

/// A fixed-width RFC 3339 UTC text for a time, so text order is time order.
#[must_use]
pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                Param::Text(v) => q.bind(v.clone()),
                Param::Int(v) => q.bind(*v),
                Param::Bytes(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

async fn run_sqlite(conn: &mut sqlx::SqliteConnection, stmt: &Statement) -> Result<u64, sqlx::Error> {
    let sql = sqlite_sql(stmt.sql);
    Ok(bind_all!(sqlx::query(&sql), &stmt.params).execute(conn).await?.rows_affected())
}

async fn run_postgres(tx: &mut Transaction<'_, Postgres>, stmt: &Statement) -> Result<u64, sqlx::Error> {
    Ok(bind_all!(sqlx::query(stmt.sql), &stmt.params).execute(&mut **tx).await?.rows_affected())
}

/// `guard`, then `statements` in `tx`, committed only if `guard` changed a row: `None` when it
/// did not (nothing written), else the rows the statements changed.
async fn run_postgres_guarded(
    mut tx: Transaction<'_, Postgres>,
    guard: Option<&Statement>,
    statements: &[Statement],
) -> Result<Option<u64>, sqlx::Error> {
    if let Some(g) = guard
        && run_postgres(&mut tx, g).await? == 0
    {
        return Ok(None);
    }
    let mut changed = 0;
    for s in statements {
        changed += run_postgres(&mut tx, s).await?;
    }
    tx.commit().await?;
    Ok(Some(changed))
}

/// SQLite's writer: one connection of its own, opened on first use with the pool's options and
/// again after it broke; without options (a store over a bare pool) writes take a pooled one.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    options: Option<sqlx::sqlite::SqliteConnectOptions>,
    conn: Option<sqlx::SqliteConnection>,
}

impl Writer {
    pub(crate) fn new(options: sqlx::sqlite::SqliteConnectOptions) -> Self {
        Self { options: Some(options), conn: None }
    }

    /// A transaction on the writer's connection, or on one from `pool` when it has none.
    async fn begin<'a>(&'a mut self, pool: &sqlx::SqlitePool) -> Result<Transaction<'a, Sqlite>, sqlx::Error> {
        match self.connection().await? {
            Some(conn) => sqlx::Connection::begin(conn).await,
            None => pool.begin().await,
        }
    }

    /// The writer's own connection, opened if it has none; `None` where it has no options
    /// (not SQLite).
    async fn connection(&mut self) -> Result<Option<&mut sqlx::SqliteConnection>, sqlx::Error> {
        use sqlx::ConnectOptions;
        if self.conn.is_none()
            && let Some(options) = &self.options
        {
            self.conn = Some(options.connect().await?);
        }
        Ok(self.conn.as_mut())
    }

    /// After `error`, a connection that may be broken is dropped (the next write opens another).
    fn after(&mut self, error: &sqlx::Error) {
        if matches!(error, sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed) {
            self.conn = None;
        }
    }

    pub(crate) async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

impl Store {
    /// Runs `statements` in one transaction; returns the rows they changed, in all.
    pub(crate) async fn run_statements(&self, statements: &[Statement]) -> Result<u64, StoreError> {
        Ok(self.run_guarded(None, statements).await?.unwrap_or(0))
    }

    /// Runs one statement in its own transaction; returns the rows it changed.
    pub(crate) async fn run_one(&self, statement: Statement) -> Result<u64, StoreError> {
        self.run_statements(std::slice::from_ref(&statement)).await
    }

    /// Runs one statement on its own, atomic and durable as a statement is, without the
    /// `BEGIN` and `COMMIT` around it that [`Store::run_one`] sends: on PostgreSQL in one round
    /// trip; on SQLite on the writer, as every write is, in one hand-off to SQLite's worker
    /// thread rather than three. Returns the rows it changed.
    pub(crate) async fn run_alone(&self, statement: Statement) -> Result<u64, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => {
                let mut writer = self.writes.lock().await;
                let Some(conn) = writer.connection().await? else {
                    drop(writer);
                    return self.run_one(statement).await;
                };
                let result = run_sqlite(conn, &statement).await;
                if let Err(e) = &result {
                    writer.after(e);
                }
                Ok(result?)
            }
            Pool::Postgres(p) => {
                let query = bind_all!(sqlx::query(statement.sql), &statement.params);
                let done = match &self.pinned {
                    Some(conn) => query.execute(&mut **conn.lock().await).await?,
                    None => query.execute(p).await?,
                };
                Ok(done.rows_affected())
            }
        }
    }

    /// Runs `guard` and then `statements` in one transaction, but only if `guard` changed a row;
    /// otherwise writes nothing and returns `false` (a compare-and-set claim).
    pub(crate) async fn run_statements_if(
        &self,
        guard: &Statement,
        statements: &[Statement],
    ) -> Result<bool, StoreError> {
        Ok(self.run_guarded(Some(guard), statements).await?.is_some())
    }

    /// `None` when the guard changed nothing (and nothing was written), else the rows changed.
    async fn run_guarded(
        &self,
        guard: Option<&Statement>,
        statements: &[Statement],
    ) -> Result<Option<u64>, StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut writer = self.writes.lock().await;
                let mut changed = 0;
                let result = async {
                    let mut tx = writer.begin(p).await?;
                    if let Some(g) = guard
                        && run_sqlite(&mut tx, g).await? == 0
                    {
                        return Ok(None);
                    }
                    for s in statements {
                        changed += run_sqlite(&mut tx, s).await?;
                    }
                    tx.commit().await.map(|()| Some(changed))
                }
                .await;
                if let Err(e) = &result {
                    writer.after(e);
                }
                Ok(result?)
            }
            Pool::Postgres(p) => {
                // A command's writes (a new data key) go on its held connection: waiting for a
                // second one while holding the first could exhaust the pool.
                let mut held = match &self.pinned {
                    Some(conn) => Some(conn.lock().await),
                    None => None,
                };
                let tx = match held.as_mut() {
                    Some(conn) => sqlx::Connection::begin(&mut ***conn).await?,
                    None => p.begin().await?,
                };
                Ok(run_postgres_guarded(tx, guard, statements).await?)
            }
        }
    }

    /// Runs a query and returns its rows as backend-neutral cells.
    pub(crate) async fn fetch_rows(&self, sql: &str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let sql = sqlite_sql(sql);
                bind_all!(sqlx::query(&sql), &params)
                    .fetch_all(p)
                    .await?
                    .into_iter()
                    .map(Row::from_sqlite)
                    .collect::<Result<_, _>>()?
            }
            Pool::Postgres(p) => {
                let query = bind_all!(sqlx::query(sql), &params);
                let rows = match &self.pinned {
                    Some(conn) => query.fetch_all(&mut **conn.lock().await).await?,
                    None => query.fetch_all(p).await?,
                };
                rows.into_iter().map(Row::from_postgres).collect::<Result<_, _>>()?
            }
        })
    }

    /// The first row of a query, if any.
    pub(crate) async fn fetch_row(&self, sql: &str, params: Vec<Param>) -> Result<Option<Row>, StoreError> {
        Ok(self.fetch_rows(sql, params).await?.into_iter().next())
    }

    /// Gives the space of deleted rows of `table` back so that no copy of what was deleted stays
    /// on disk: SQLite overwrites freed pages (`secure_delete`) and folds the write-ahead log back;
    /// PostgreSQL lets VACUUM reclaim old row versions (best effort; decision 0003).
    pub(crate) async fn reclaim(&self, table: &'static str) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                let _writer = self.writes.lock().await;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(p).await.map(drop)?;
            }
            Pool::Postgres(p) => {
                if let Err(e) = sqlx::query(&format!("VACUUM {table}")).execute(p).await {
                    tracing::warn!(error = %e, table, "vacuum after erasure failed");
                }
            }
        }
        Ok(())
    }
}

/// Why an append wrote nothing.
#[derive(Debug)]
pub(crate) enum AppendError {
    /// A row at one of the sequences exists: another writer committed first.
    Conflict,
    /// The database failed.
    Store(StoreError),
}

impl From<sqlx::Error> for AppendError {
    fn from(e: sqlx::Error) -> Self {
        if is_conflict(&e) { Self::Conflict } else { Self::Store(StoreError::Database(e)) }
    }
}

/// Whether `e` is an append's row existing already: another writer committed that sequence.
fn is_conflict(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// The multi-row insert of `events` on backend `$db`, as a query builder.
macro_rules! insert_events {
    ($db:ty, $events:expr) => {{
        let mut q = sqlx::QueryBuilder::<$db>::new(INSERT_EVENTS);
        q.push_values($events, |mut row, e| {
            row.push_bind(&e.aggregate_type)
                .push_bind(&e.aggregate_id)
                .push_bind(sequence_of(e))
                .push_bind(&e.event_type)
                .push_bind(&e.event_version)
                .push_bind(&e.payload)
                .push_bind(&e.metadata);
        });
        q
    }};
}

fn sequence_of(e: &SerializedEvent) -> i64 {
    i64::try_from(e.sequence).unwrap_or(i64::MAX)
}

const INSERT_EVENTS: &str =
    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) ";

impl Store {
    /// Appends sealed, chained events of one aggregate, all or nothing, and returns the feed
    /// position of the last. On PostgreSQL this is one statement (its own transaction) that
    /// returns the positions; on SQLite the insert and a read of the feed position the insert
    /// trigger wrote, in the one transaction the writer's committer commits for every append
    /// waiting ([`Store::commit_queued_appends`], group commit), answered once it is durable. A
    /// row that exists already is [`AppendError::Conflict`]: the optimistic-concurrency check,
    /// and nothing of this append is written.
    pub(crate) async fn append_events(&self, events: Vec<SerializedEvent>) -> Result<Option<Cursor>, AppendError> {
        if events.is_empty() {
            return Ok(None);
        }
        match &self.pool {
            Pool::Postgres(p) => {
                let mut q = insert_events!(Postgres, &events);
                q.push(" RETURNING tx_id::text, global_position");
                let rows = match &self.pinned {
                    Some(conn) => q.build().fetch_all(&mut **conn.lock().await).await?,
                    None => q.build().fetch_all(p).await?,
                };
                let mut best: Option<Cursor> = None;
                for row in rows {
                    let tx: String = row.try_get(0)?;
                    let position: i64 = row.try_get(1)?;
                    let tx = tx.parse().map_err(|_| AppendError::Store(StoreError::Corrupt("tx_id".into())))?;
                    if best.is_none_or(|b| position > b.position) {
                        best = Some(Cursor { tx, position });
                    }
                }
                Ok(best)
            }
            Pool::Sqlite(_) => {
                // Queued, and committed by a task of its own (so a caller that goes away does
                // not take the appends queued with its own down with it): the one committer
                // waiting for the writer commits every append queued by the time it has it, in
                // one transaction. One committer waits at a time, not one per append: a line of
                // tasks handing the writer on, each waiting to be scheduled, would be slow.
                let (reply, answer) = tokio::sync::oneshot::channel();
                if self.appends.queue(PendingAppend { events, reply }) {
                    let store = self.clone();
                    tokio::spawn(async move { store.commit_queued_appends().await });
                }
                let position = answer.await.map_err(|_| {
                    AppendError::Store(StoreError::Persistence("the append's commit ended without an answer".into()))
                })??;
                Ok(Some(Cursor { tx: 0, position }))
            }
        }
    }

    /// Takes SQLite's writer and commits every queued append in one transaction, answering
    /// each with its feed position once the commit is durable. An append that conflicts is answered so and leaves the others be: a
    /// statement that fails on a unique key is backed out alone (its trigger's row with it) and
    /// the transaction goes on. Any other failure fails them all; nothing of them is written.
    async fn commit_queued_appends(&self) {
        let Pool::Sqlite(p) = &self.pool else { return };
        let mut writer = self.writes.lock().await;
        let group = self.appends.take();
        if group.is_empty() {
            return;
        }
        let result = async {
            // An append alone is a transaction of its own: its one insert (with its trigger's
            // feed rows) commits atomically and durably without a BEGIN and a COMMIT around it,
            // two hand-offs to SQLite's worker thread fewer; its position is read after, while
            // this committer still holds the writer.
            if let [pending] = group.as_slice()
                && let Some(conn) = writer.connection().await?
            {
                return match append_sqlite(conn, &pending.events).await {
                    Ok(position) => Ok(vec![Ok(position)]),
                    Err(e) if is_conflict(&e) => Ok(vec![Err(AppendError::Conflict)]),
                    Err(e) => Err(e),
                };
            }
            let mut tx = writer.begin(p).await?;
            let mut positions = Vec::with_capacity(group.len());
            for pending in &group {
                match append_sqlite(&mut tx, &pending.events).await {
                    Ok(position) => positions.push(Ok(position)),
                    Err(e) if is_conflict(&e) => positions.push(Err(AppendError::Conflict)),
                    Err(e) => return Err(e),
                }
            }
            tx.commit().await.map(|()| positions)
        }
        .await;
        match result {
            Ok(positions) => {
                self.appends.groups.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for (pending, position) in group.into_iter().zip(positions) {
                    let _ = pending.reply.send(position);
                }
            }
            Err(e) => {
                writer.after(&e);
                tracing::error!(error = %e, appends = group.len(), "a group commit of appends failed; none was written");
                let unavailable = StoreError::Database(e).is_unavailable();
                let message = "the group commit it was part of failed";
                for pending in group {
                    let error = if unavailable {
                        StoreError::Unavailable(message.into())
                    } else {
                        StoreError::Persistence(message.into())
                    };
                    let _ = pending.reply.send(Err(AppendError::Store(error)));
                }
            }
        }
    }

    /// How many transactions have committed SQLite appends (each one or more commands'
    /// events); 0 on PostgreSQL.
    #[must_use]
    pub fn append_transactions(&self) -> u64 {
        self.appends.groups.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Inserts one append's events on `conn` (in a transaction, or alone as one) and reads the
/// feed position of the last, which the insert trigger wrote: the insert and the read are sent
/// to SQLite's worker thread as one query of two statements, one hand-off to it rather than
/// two. The read names the last event by the first one's parameters (`?1`–`?3`: type, id and
/// sequence; an append's events are one aggregate's, at consecutive sequences) and the count:
/// a statement's parameters are bound up to the highest number it names, and sqlx stops at an
/// unnamed one past its values, so the read names none but the first three.
async fn append_sqlite(conn: &mut sqlx::SqliteConnection, events: &[SerializedEvent]) -> Result<i64, sqlx::Error> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else { return Ok(0) };
    let mut q = insert_events!(Sqlite, events);
    let one_run = events.iter().zip(first.sequence..).all(|(e, s)| {
        e.sequence == s && e.aggregate_type == first.aggregate_type && e.aggregate_id == first.aggregate_id
    });
    if !one_run {
        q.build().execute(&mut *conn).await?;
        return sqlx::query_scalar(
            "SELECT position FROM event_feed WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence = ?3",
        )
        .bind(&last.aggregate_type)
        .bind(&last.aggregate_id)
        .bind(sequence_of(last))
        .fetch_one(conn)
        .await;
    }
    q.push("; SELECT position FROM event_feed WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence = ?3 + ");
    q.push(itoa::Buffer::new().format(events.len() - 1));
    q.build_query_scalar().fetch_one(conn).await
}

/// An append waiting for SQLite's writer.
struct PendingAppend {
    events: Vec<SerializedEvent>,
    reply: tokio::sync::oneshot::Sender<Result<i64, AppendError>>,
}

/// SQLite's queue of appends waiting for the writer, and how many groups it committed.
#[derive(Default)]
pub(crate) struct Appends {
    waiting: std::sync::Mutex<Waiting>,
    groups: std::sync::atomic::AtomicU64,
}

/// The appends queued, and whether a committer is on its way to take them.
#[derive(Default)]
struct Waiting {
    appends: Vec<PendingAppend>,
    committer: bool,
}

impl std::fmt::Debug for Appends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Appends({} groups)", self.groups.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Appends {
    /// Queues `pending`; `true` if no committer is on its way, and the caller must start one.
    fn queue(&self, pending: PendingAppend) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.appends.push(pending);
        !std::mem::replace(&mut waiting.committer, true)
    }

    /// What is queued, taken by the committer that holds the writer: an append queued after
    /// this starts a committer of its own.
    fn take(&self) -> Vec<PendingAppend> {
        let mut waiting = self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.committer = false;
        std::mem::take(&mut waiting.appends)
    }
}

/// The event store over this store's pool, sealed, for a commit: `with_repo!(store,
/// key_holders, tail, repo => expr)` evaluates `expr` with `repo` bound to the sealing
/// repository over the backend's cqrs-es repository, for a batch whose events are sealed for
/// `key_holders` and chained to the hash in the [`sealing::Tail`](super::sealing::Tail) of the
/// command's load.
macro_rules! with_repo {
    ($store:expr, $key_holders:expr, $tail:expr, $repo:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(p) => {
                let $repo = $store.sealed(sqlite_es::SqliteEventRepository::new(p.clone()), $key_holders, $tail);
                $body
            }
            $crate::store::Pool::Postgres(p) => {
                let $repo = $store.sealed(postgres_es::PostgresEventRepository::new(p.clone()), $key_holders, $tail);
                $body
            }
        }
    };
}
pub(crate) use with_repo;

/// A backend-neutral row of text, integer, bytes, JSON and NULL cells.
#[derive(Debug)]
pub(crate) struct Row(Vec<Cell>);

#[derive(Debug)]
enum Cell {
    Text(Option<String>),
    /// A PostgreSQL `timestamptz`, kept as read (SQLite stores times as text).
    Time(Option<DateTime<Utc>>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
    Json(Option<Value>),
}

impl Row {
    fn from_sqlite(row: sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::{Column, TypeInfo, ValueRef};
        let mut cells = Vec::with_capacity(row.columns().len());
        for (i, col) in row.columns().iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            let cell = if raw.is_null() {
                match col.type_info().name() {
                    "INTEGER" => Cell::Int(None),
                    "BLOB" => Cell::Bytes(None),
                    _ => Cell::Text(None),
                }
            } else {
                // The value's own storage class picks the decoding, so the declared type's check
                // (which `try_get` repeats per value) is not needed.
                match raw.type_info().name() {
                    "INTEGER" => Cell::Int(Some(row.try_get_unchecked(i)?)),
                    "BLOB" => Cell::Bytes(Some(row.try_get_unchecked(i)?)),
                    _ => Cell::Text(Some(row.try_get_unchecked(i)?)),
                }
            };
            cells.push(cell);
        }
        Ok(Self(cells))
    }

    fn from_postgres(row: sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::{Column, TypeInfo};
        let mut cells = Vec::with_capacity(row.columns().len());
        for (i, col) in row.columns().iter().enumerate() {
            let cell = match col.type_info().name() {
                "INT8" => Cell::Int(row.try_get(i)?),
                "INT4" => Cell::Int(row.try_get::<Option<i32>, _>(i)?.map(i64::from)),
                "INT2" => Cell::Int(row.try_get::<Option<i16>, _>(i)?.map(i64::from)),
                "BYTEA" => Cell::Bytes(row.try_get(i)?),
                "JSON" | "JSONB" => Cell::Json(row.try_get(i)?),
                "TIMESTAMPTZ" => Cell::Time(row.try_get(i)?),
                _ => Cell::Text(row.try_get(i)?),
            };
            cells.push(cell);
        }
        Ok(Self(cells))
    }

    pub(crate) fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?.ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Text(v)) => Ok(v.clone()),
            Some(Cell::Time(t)) => Ok(t.map(time_text)),
            other => Err(StoreError::Corrupt(format!("column {i} is not text: {other:?}"))),
        }
    }

    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?.ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
    }

    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Int(v)) => Ok(*v),
            other => Err(StoreError::Corrupt(format!("column {i} is not an integer: {other:?}"))),
        }
    }

    pub(crate) fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Bytes(v)) => Ok(v.clone()),
            other => Err(StoreError::Corrupt(format!("column {i} is not bytes: {other:?}"))),
        }
    }

    /// A JSON column (text on SQLite, `json`/`jsonb` on PostgreSQL).
    pub(crate) fn json(&self, i: usize) -> Result<Value, StoreError> {
        match self.0.get(i) {
            Some(Cell::Json(Some(v))) => Ok(v.clone()),
            Some(Cell::Text(Some(t))) => {
                serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("column {i} is not JSON: {e}")))
            }
            other => Err(StoreError::Corrupt(format!("column {i} is not JSON: {other:?}"))),
        }
    }

    /// A text column, taken out of the row (no copy; the cell reads as NULL afterwards).
    pub(crate) fn take_text(&mut self, i: usize) -> Result<String, StoreError> {
        match self.0.get_mut(i) {
            Some(Cell::Text(v)) => v.take().ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL"))),
            Some(Cell::Time(t)) => t.map(time_text).ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL"))),
            other => Err(StoreError::Corrupt(format!("column {i} is not text: {other:?}"))),
        }
    }

    /// A JSON column, taken out of the row: parsed from SQLite's text, or the value PostgreSQL's
    /// `jsonb` decoded to, without the deep copy [`Row::json`] makes.
    pub(crate) fn take_json(&mut self, i: usize) -> Result<Value, StoreError> {
        match self.0.get_mut(i) {
            Some(Cell::Json(v @ Some(_))) => Ok(v.take().unwrap_or_default()),
            Some(Cell::Text(Some(t))) => {
                serde_json::from_str(t).map_err(|e| StoreError::Corrupt(format!("column {i} is not JSON: {e}")))
            }
            other => Err(StoreError::Corrupt(format!("column {i} is not JSON: {other:?}"))),
        }
    }

    /// A time column (RFC 3339 text on SQLite, `timestamptz` on PostgreSQL).
    pub(crate) fn time(&self, i: usize) -> Result<DateTime<Utc>, StoreError> {
        match self.0.get(i) {
            Some(Cell::Time(Some(t))) => Ok(*t),
            _ => self.text(i)?.parse().map_err(|_| StoreError::Corrupt(format!("column {i} is not a time"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_spelling_numbers_placeholders_and_writes_now_as_text() {
        assert_eq!(
            sqlite_sql("UPDATE t SET a = $2, updated_at = now() WHERE id = $1"),
            "UPDATE t SET a = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1"
        );
    }
}
