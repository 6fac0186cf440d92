//! The global ordered feed: every event of every aggregate, in an order that a reader paging
//! with a cursor can follow without skipping an event under concurrent writers.
//!
//! PostgreSQL: identity values are handed out at insert, not at commit, so a position-only
//! cursor skips the event of a transaction that commits after a later position was read. We
//! page by `(tx_id, global_position)` and show only transactions older than the oldest one still
//! running (`pg_snapshot_xmin`): every transaction below that bound has finished, so nothing can
//! appear behind the cursor later (docs/decisions/0002-feed-cursor.md).
//!
//! SQLite: one writer at a time, so the trigger-fed `event_feed` positions commit in order.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::sql::{Param, Row, Statement};
use super::{Backend, Cursor, InvalidCursor, Store, StoreError};

/// One event in the global order.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEvent {
    /// The cursor that points at this event.
    pub cursor: Cursor,
    /// The aggregate type (`case`, `agreement`, `volunteer`).
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The event's payload version.
    pub event_version: String,
    /// The payload as stored.
    pub payload: Value,
    /// The metadata as stored.
    pub metadata: Value,
    /// When it was written.
    pub recorded_at: DateTime<Utc>,
}

/// One event in the global order as a delivery reads it: its payload as the stored text (its
/// personal values sealed), and of its metadata what a delivery reads.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryEvent {
    /// The cursor that points at this event.
    pub cursor: Cursor,
    /// The aggregate type (`case`, `agreement`, `volunteer`).
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The event's payload version.
    pub event_version: String,
    /// The payload's stored text.
    pub payload: String,
    /// The W3C trace context of the command that wrote it.
    pub traceparent: Option<String>,
    /// Whether its sealed values are bound to their places (its metadata's seal version).
    pub binds_place: bool,
    /// When it was written.
    pub recorded_at: DateTime<Utc>,
}

/// A page of the feed as a delivery reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryPage {
    /// The events after the requested cursor, in order.
    pub events: Vec<DeliveryEvent>,
    /// Where to continue: the last event's cursor, or the requested one if the page is empty.
    pub next: Cursor,
}

/// What a waiting reader learns between reads ([`Store::feed_progress`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedProgress {
    /// Some event after the cursor is visible: read again.
    pub visible: bool,
    /// None is visible yet, but one is committed: it shows once older transactions end.
    pub pending: bool,
}

/// One event in the global order as the list views read it.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewsEvent {
    /// The cursor that points at this event.
    pub cursor: Cursor,
    /// The aggregate type (`case`, `agreement`, `volunteer`).
    pub aggregate_type: String,
    /// The aggregate id.
    pub aggregate_id: String,
    /// The event's sequence within its aggregate.
    pub sequence: i64,
    /// The event type.
    pub event_type: String,
    /// The payload's stored text (its personal values sealed).
    pub payload: String,
}

/// A page of the feed as the list views read it.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewsPage {
    /// The events after the requested cursor, in order.
    pub events: Vec<ViewsEvent>,
    /// Where to continue: the last event's cursor, or the requested one if the page is empty.
    pub next: Cursor,
}

/// A page of the feed.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedPage {
    /// The events after the requested cursor, in order.
    pub events: Vec<FeedEvent>,
    /// Where to continue: the last event's cursor, or the requested one if the page is empty.
    pub next: Cursor,
}

impl Store {
    /// The cursor of the last event readers can see now (`START` if none).
    pub async fn feed_head(&self) -> Result<Cursor, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT '0', position FROM event_feed ORDER BY position DESC LIMIT 1",
            Backend::Postgres => {
                // `ORDER BY events.tx_id`: a bare `tx_id` would name the text column of the
                // select list, and order 10000 before 9999.
                "SELECT tx_id::text AS tx_text, global_position FROM events \
                  WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
                  ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1"
            }
        };
        match self.fetch_row(sql, vec![]).await? {
            None => Ok(Cursor::START),
            Some(row) => cursor_of(&row, 0),
        }
    }

    /// The cursor of the last event committed before this call (`START` if none), whether or
    /// not readers can see it yet: on PostgreSQL the feed head stops below any transaction still
    /// open (decision 0002), so a reader that must reflect every write acknowledged before its
    /// request (read-your-writes) waits for this one instead.
    pub async fn last_committed(&self) -> Result<Cursor, StoreError> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT '0', position FROM event_feed ORDER BY position DESC LIMIT 1",
            Backend::Postgres => {
                "SELECT tx_id::text AS tx_text, global_position FROM events \
                  ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1"
            }
        };
        match self.fetch_row(sql, vec![]).await? {
            None => Ok(Cursor::START),
            Some(row) => cursor_of(&row, 0),
        }
    }

    /// Whether any event after `after` is visible to readers now, and whether any is committed
    /// but not yet visible (on PostgreSQL an event shows once every older transaction has
    /// ended, decision 0002; on SQLite every committed event is visible). One query, two index
    /// probes: what a waiting reader asks between reads.
    pub async fn feed_progress(&self, after: Cursor) -> Result<FeedProgress, StoreError> {
        let (sql, params) = match self.backend() {
            Backend::Sqlite => {
                ("SELECT EXISTS (SELECT 1 FROM event_feed WHERE position > $1), 0", vec![after.position.into()])
            }
            Backend::Postgres => (
                "SELECT (EXISTS (SELECT 1 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                                   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())))::int, \
                        (EXISTS (SELECT 1 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2)))::int",
                vec![after.tx.to_string().into(), after.position.into()],
            ),
        };
        let row = self.fetch_row(sql, params).await?.ok_or_else(|| StoreError::Corrupt("feed progress".into()))?;
        let visible = row.int(0)? != 0;
        Ok(FeedProgress { visible, pending: !visible && row.int(1)? != 0 })
    }

    /// How many events each feed consumer (views, publishers) is behind the feed head.
    pub async fn consumer_lags(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self.fetch_rows("SELECT consumer, cursor FROM feed_checkpoints", vec![]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let cursor: Cursor = row.text(1)?.parse().map_err(|_| StoreError::Corrupt("consumer cursor".into()))?;
            out.push((row.text(0)?, self.events_after(cursor).await?));
        }
        Ok(out)
    }

    /// How many visible events follow `cursor`.
    pub async fn events_after(&self, cursor: Cursor) -> Result<i64, StoreError> {
        let (sql, params) = match self.backend() {
            Backend::Sqlite => ("SELECT count(*) FROM event_feed WHERE position > $1", vec![cursor.position.into()]),
            Backend::Postgres => (
                "SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                   AND tx_id < pg_snapshot_xmin(pg_current_snapshot())",
                vec![cursor.tx.to_string().into(), cursor.position.into()],
            ),
        };
        self.fetch_row(sql, params).await?.map_or(Ok(0), |r| r.int(0))
    }

    /// Reads up to `limit` events after `after`, in global order, each with its whole metadata
    /// (the chain hash, the writer, the request: what the audit walks).
    pub async fn read_feed(&self, after: Cursor, limit: u32) -> Result<FeedPage, StoreError> {
        self.read_feed_with(after, limit).await
    }

    /// Reads up to `limit` events after `after`, in global order, for delivery:
    /// of the metadata only what it reads (the trace context and the seal version), picked
    /// from its text without building the whole map.
    pub async fn read_feed_for_delivery(&self, after: Cursor, limit: u32) -> Result<DeliveryPage, StoreError> {
        self.read_feed_delivered(after, None, limit).await
    }

    /// Where a reader that reads up to `events` events after `after` in stretches of `every`
    /// events would stop: the cursor of every `every`-th visible event and of the last one.
    /// Each stretch can then be read on its own, at once (see [`Store::read_feed_between`]).
    pub async fn feed_stops(&self, after: Cursor, events: u32, every: u32) -> Result<Vec<Cursor>, StoreError> {
        let (events, every) = (i64::from(events.clamp(1, MAX_FEED_PAGE)), i64::from(every.max(1)));
        let (sql, params) = match self.backend() {
            Backend::Sqlite => (
                "SELECT '0', position FROM ( \
                    SELECT position, row_number() OVER (ORDER BY position) AS n, count(*) OVER () AS total \
                      FROM (SELECT position FROM event_feed WHERE position > $1 ORDER BY position LIMIT $2)) \
                  WHERE n % $3 = 0 OR n = total ORDER BY n",
                vec![after.position.into(), events.into(), every.into()],
            ),
            Backend::Postgres => (
                "SELECT tx_text, global_position FROM ( \
                    SELECT tx_id::text AS tx_text, global_position, \
                           row_number() OVER (ORDER BY tx_id, global_position) AS n, count(*) OVER () AS total \
                      FROM (SELECT tx_id, global_position FROM events \
                             WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                               AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
                             ORDER BY events.tx_id, events.global_position LIMIT $3) page) numbered \
                  WHERE n % $4 = 0 OR n = total ORDER BY n",
                vec![after.tx.to_string().into(), after.position.into(), events.into(), every.into()],
            ),
        };
        self.fetch_rows(sql, params).await?.iter().map(|row| cursor_of(row, 0)).collect()
    }

    /// Reads, for delivery, the events after `after` up to and including `upto`, in global
    /// order (at most [`MAX_FEED_PAGE`]). With `upto` a stop [`Store::feed_stops`] gave, these
    /// are the events it counted, whenever they are read: on PostgreSQL every transaction below
    /// the visibility bound had ended, so no event can appear behind a stop.
    pub async fn read_feed_between(&self, after: Cursor, upto: Cursor) -> Result<DeliveryPage, StoreError> {
        self.read_feed_delivered(after, Some(upto), MAX_FEED_PAGE).await
    }

    /// Reads up to `limit` events after `after`, in global order, as the list views read them:
    /// each event's place and its payload's stored text, which the views decode straight into
    /// the event (no JSON tree between, no metadata).
    pub async fn read_feed_for_views(&self, after: Cursor, limit: u32) -> Result<ViewsPage, StoreError> {
        let (events, next) = self
            .read_feed_as(after, None, limit, Columns::Views, |cursor, row| {
                Ok(ViewsEvent {
                    cursor,
                    aggregate_type: row.take_text(2)?,
                    aggregate_id: row.take_text(3)?,
                    sequence: row.int(4)?,
                    event_type: row.take_text(5)?,
                    payload: row.take_text(6)?,
                })
            })
            .await?;
        Ok(ViewsPage { events, next })
    }

    async fn read_feed_with(&self, after: Cursor, limit: u32) -> Result<FeedPage, StoreError> {
        let (events, next) = self
            .read_feed_as(after, None, limit, Columns::Whole, |cursor, row| {
                Ok(FeedEvent {
                    cursor,
                    aggregate_type: row.take_text(2)?,
                    aggregate_id: row.take_text(3)?,
                    sequence: row.int(4)?,
                    event_type: row.take_text(5)?,
                    event_version: row.take_text(6)?,
                    payload: row.take_json(7)?,
                    metadata: row.take_json(8)?,
                    recorded_at: row.time(9)?,
                })
            })
            .await?;
        Ok(FeedPage { events, next })
    }

    /// The events after `after` up to `upto`, at most `limit`, as a delivery reads them.
    async fn read_feed_delivered(
        &self,
        after: Cursor,
        upto: Option<Cursor>,
        limit: u32,
    ) -> Result<DeliveryPage, StoreError> {
        let (events, next) = self
            .read_feed_as(after, upto, limit, Columns::Delivery, |cursor, row| {
                let metadata: DeliveryMetadata = serde_json::from_str(&row.take_text(8)?)
                    .map_err(|e| StoreError::Corrupt(format!("stored metadata is not JSON: {e}")))?;
                Ok(DeliveryEvent {
                    cursor,
                    aggregate_type: row.take_text(2)?,
                    aggregate_id: row.take_text(3)?,
                    sequence: row.int(4)?,
                    event_type: row.take_text(5)?,
                    event_version: row.take_text(6)?,
                    payload: row.take_text(7)?,
                    traceparent: metadata.traceparent,
                    binds_place: metadata.seal_version.as_deref() == Some(super::sealing::SEAL_VERSION),
                    recorded_at: row.time(9)?,
                })
            })
            .await?;
        Ok(DeliveryPage { events, next })
    }

    /// The feed's query with `columns`, each row made into an event by `event` (given the row's
    /// cursor), and where to continue: the last event's cursor, or `after` if there is none.
    async fn read_feed_as<T>(
        &self,
        after: Cursor,
        upto: Option<Cursor>,
        limit: u32,
        columns: Columns,
        mut event: impl FnMut(Cursor, &mut Row) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, Cursor), StoreError> {
        let (sql, params) = feed_query(self.backend(), after, upto, limit, columns);
        let mut next = after;
        let events = self
            .fetch_rows(sql, params)
            .await?
            .into_iter()
            .map(|mut row| {
                next = cursor_of(&row, 0)?;
                event(next, &mut row)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((events, next))
    }

    /// The feed position of one stored event (to tell a writer which position reflects it).
    pub async fn position_of(&self, aggregate_type: &str, id: &str, sequence: usize) -> Result<Cursor, StoreError> {
        let seq = i64::try_from(sequence).unwrap_or(i64::MAX);
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT '0', position FROM event_feed WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3"
            }
            Backend::Postgres => {
                "SELECT tx_id::text AS tx_text, global_position FROM events \
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3"
            }
        };
        let row = self
            .fetch_row(sql, vec![aggregate_type.into(), id.into(), seq.into()])
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no feed position for {aggregate_type} {id} #{sequence}")))?;
        cursor_of(&row, 0)
    }

    /// The stored cursor of a feed consumer (the view runner, a publisher), if it has one.
    pub async fn consumer_cursor(&self, consumer: &str) -> Result<Option<Cursor>, StoreError> {
        let row =
            self.fetch_row("SELECT cursor FROM feed_checkpoints WHERE consumer = $1", vec![consumer.into()]).await?;
        row.map(|r| r.text(0)?.parse().map_err(|e: InvalidCursor| StoreError::Corrupt(e.to_string()))).transpose()
    }

    /// Stores the cursor of a feed consumer.
    pub async fn save_consumer_cursor(&self, consumer: &str, cursor: &Cursor) -> Result<(), StoreError> {
        self.run_one(Statement::new(
            "INSERT INTO feed_checkpoints (consumer, cursor) VALUES ($1, $2) \
             ON CONFLICT (consumer) DO UPDATE SET cursor = excluded.cursor, updated_at = now()",
            vec![consumer.into(), cursor.stored_text().into()],
        ))
        .await
        .map(drop)
    }

    /// The claim that moves a consumer's cursor from `from` (`None`: it has none yet) to `to`,
    /// for [`Store::run_statements_if`]: it changes a row only if the cursor still is `from`.
    pub(crate) fn claim_consumer_cursor(consumer: &str, from: Option<Cursor>, to: Cursor) -> Statement {
        match from {
            None => Statement::new(
                "INSERT INTO feed_checkpoints (consumer, cursor) VALUES ($1, $2) ON CONFLICT (consumer) DO NOTHING",
                vec![consumer.into(), to.stored_text().into()],
            ),
            Some(from) => Statement::new(
                "UPDATE feed_checkpoints SET cursor = $2, updated_at = now() WHERE consumer = $1 AND cursor = $3",
                vec![consumer.into(), to.stored_text().into(), from.stored_text().into()],
            ),
        }
    }
}

/// The feed's query: the events after `after` up to and including `upto` (none: to the end),
/// at most `limit` of them, in global order, with `columns`. On SQLite in the order the
/// trigger-fed positions committed; on PostgreSQL by `(tx_id, global_position)`, the
/// transaction id as a number (see `feed_head`), only below the oldest transaction still
/// running (decision 0002).
fn feed_query(
    backend: Backend,
    after: Cursor,
    upto: Option<Cursor>,
    limit: u32,
    columns: Columns,
) -> (&'static str, Vec<Param>) {
    /// The statement for a backend and a column list: one place for the order and the bounds.
    macro_rules! feed_sql {
        (sqlite, $columns:literal) => {
            concat!(
                "SELECT '0', f.position, ",
                $columns,
                " FROM event_feed f \
                   JOIN events e ON e.aggregate_type = f.aggregate_type \
                                AND e.aggregate_id = f.aggregate_id AND e.sequence = f.sequence \
                  WHERE f.position > $1 AND f.position <= $3 \
                  ORDER BY f.position \
                  LIMIT $2"
            )
        };
        (postgres, $columns:literal) => {
            concat!(
                "SELECT tx_id::text AS tx_text, global_position, ",
                $columns,
                " FROM events \
                  WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                    AND (tx_id, global_position) <= ($4::text::xid8, $5) \
                    AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
                  ORDER BY events.tx_id, events.global_position \
                  LIMIT $3"
            )
        };
    }
    let limit = i64::from(limit.clamp(1, MAX_FEED_PAGE));
    // Without an upper bound, the one no event reaches.
    let upto = upto.unwrap_or(Cursor { tx: u64::MAX >> 1, position: i64::MAX });
    match backend {
        Backend::Sqlite => (
            match columns {
                Columns::Whole | Columns::Delivery => feed_sql!(
                    sqlite,
                    "e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, \
                     e.metadata, f.recorded_at"
                ),
                Columns::Views => {
                    feed_sql!(sqlite, "e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.payload")
                }
            },
            vec![after.position.into(), limit.into(), upto.position.into()],
        ),
        Backend::Postgres => (
            // The metadata as text, so that only what is read of it is parsed; for a delivery
            // and the views the payload as text too.
            match columns {
                Columns::Whole => feed_sql!(
                    postgres,
                    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata::text, \
                     recorded_at"
                ),
                Columns::Delivery => feed_sql!(
                    postgres,
                    "aggregate_type, aggregate_id, sequence, event_type, event_version, payload::text, \
                     metadata::text, recorded_at"
                ),
                Columns::Views => {
                    feed_sql!(postgres, "aggregate_type, aggregate_id, sequence, event_type, payload::text")
                }
            },
            vec![
                after.tx.to_string().into(),
                after.position.into(),
                limit.into(),
                upto.tx.to_string().into(),
                upto.position.into(),
            ],
        ),
    }
}

/// What a feed read selects of each event.
#[derive(Clone, Copy, Debug)]
enum Columns {
    /// Everything ([`FeedEvent`]).
    Whole,
    /// Everything, the payload as its stored text ([`DeliveryEvent`]).
    Delivery,
    /// What the list views read ([`ViewsEvent`]).
    Views,
}

/// The metadata entries a delivery reads: the W3C trace context for the CloudEvent and the seal
/// version that says how the payload's sealed values are bound; the rest is skipped unparsed.
#[derive(serde::Deserialize)]
struct DeliveryMetadata {
    traceparent: Option<String>,
    seal_version: Option<String>,
}

/// The largest page the feed reads at once.
pub const MAX_FEED_PAGE: u32 = 10_000;

/// The cursor in columns `i` (transaction id as text; `'0'` on SQLite) and `i + 1` (position).
fn cursor_of(row: &Row, i: usize) -> Result<Cursor, StoreError> {
    Ok(Cursor { tx: row.text(i)?.parse().map_err(|_| StoreError::Corrupt("tx_id".into()))?, position: row.int(i + 1)? })
}
