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
use sqlx::Row;

use super::{Cursor, Pool, Store, StoreError};

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
        match &self.pool {
            Pool::Sqlite(p) => {
                let position: Option<i64> =
                    sqlx::query_scalar("SELECT max(position) FROM event_feed").fetch_one(p).await?;
                Ok(position.map_or(Cursor::START, |position| Cursor { tx: 0, position }))
            }
            Pool::Postgres(p) => {
                let row = sqlx::query(
                    "SELECT tx_id::text AS tx, global_position FROM events \
                      WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
                      ORDER BY tx_id DESC, global_position DESC LIMIT 1",
                )
                .fetch_optional(p)
                .await?;
                match row {
                    None => Ok(Cursor::START),
                    Some(row) => {
                        let tx: String = row.try_get("tx")?;
                        Ok(Cursor {
                            tx: tx.parse().map_err(|_| StoreError::Corrupt("tx_id".into()))?,
                            position: row.try_get("global_position")?,
                        })
                    }
                }
            }
        }
    }

    /// How many events each feed consumer (views, publishers) is behind the feed head.
    pub async fn consumer_lags(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let consumers: Vec<(String, String)> = match &self.pool {
            Pool::Sqlite(p) => sqlx::query_as("SELECT consumer, cursor FROM feed_checkpoints").fetch_all(p).await?,
            Pool::Postgres(p) => sqlx::query_as("SELECT consumer, cursor FROM feed_checkpoints").fetch_all(p).await?,
        };
        let mut out = Vec::with_capacity(consumers.len());
        for (consumer, raw) in consumers {
            let cursor: Cursor = raw.parse().map_err(|_| StoreError::Corrupt("consumer cursor".into()))?;
            out.push((consumer, self.events_after(cursor).await?));
        }
        Ok(out)
    }

    /// How many visible events follow `cursor`.
    pub async fn events_after(&self, cursor: Cursor) -> Result<i64, StoreError> {
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_scalar("SELECT count(*) FROM event_feed WHERE position > ?")
                    .bind(cursor.position)
                    .fetch_one(p)
                    .await?
            }
            Pool::Postgres(p) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                       AND tx_id < pg_snapshot_xmin(pg_current_snapshot())",
                )
                .bind(cursor.tx.to_string())
                .bind(cursor.position)
                .fetch_one(p)
                .await?
            }
        })
    }

    /// Connections in the pool, and how many are idle.
    #[must_use]
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.pool {
            Pool::Sqlite(p) => (p.size(), p.num_idle()),
            Pool::Postgres(p) => (p.size(), p.num_idle()),
        }
    }

    /// Reads up to `limit` events after `after`, in global order.
    pub async fn read_feed(&self, after: Cursor, limit: u32) -> Result<FeedPage, StoreError> {
        let limit = i64::from(limit.clamp(1, 10_000));
        let events = match &self.pool {
            Pool::Sqlite(p) => {
                let rows = sqlx::query(
                    "SELECT f.position, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, \
                            e.event_version, e.payload, e.metadata, f.recorded_at \
                       FROM event_feed f \
                       JOIN events e ON e.aggregate_type = f.aggregate_type \
                                    AND e.aggregate_id = f.aggregate_id AND e.sequence = f.sequence \
                      WHERE f.position > ? \
                      ORDER BY f.position \
                      LIMIT ?",
                )
                .bind(after.position)
                .bind(limit)
                .fetch_all(p)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        let recorded: String = row.try_get("recorded_at")?;
                        Ok(FeedEvent {
                            cursor: Cursor { tx: 0, position: row.try_get("position")? },
                            aggregate_type: row.try_get("aggregate_type")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                            sequence: row.try_get("sequence")?,
                            event_type: row.try_get("event_type")?,
                            event_version: row.try_get("event_version")?,
                            payload: row.try_get("payload")?,
                            metadata: row.try_get("metadata")?,
                            recorded_at: recorded
                                .parse()
                                .map_err(|e: chrono::ParseError| sqlx::Error::Decode(Box::new(e)))?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
            Pool::Postgres(p) => {
                let rows = sqlx::query(
                    "SELECT tx_id::text AS tx, global_position, aggregate_type, aggregate_id, sequence, \
                            event_type, event_version, payload, metadata, recorded_at \
                       FROM events \
                      WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
                        AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
                      ORDER BY tx_id, global_position \
                      LIMIT $3",
                )
                .bind(after.tx.to_string())
                .bind(after.position)
                .bind(limit)
                .fetch_all(p)
                .await?;
                rows.into_iter()
                    .map(|row| {
                        let tx: String = row.try_get("tx")?;
                        Ok(FeedEvent {
                            cursor: Cursor {
                                tx: tx
                                    .parse()
                                    .map_err(|e: std::num::ParseIntError| sqlx::Error::Decode(Box::new(e)))?,
                                position: row.try_get("global_position")?,
                            },
                            aggregate_type: row.try_get("aggregate_type")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                            sequence: row.try_get("sequence")?,
                            event_type: row.try_get("event_type")?,
                            event_version: row.try_get("event_version")?,
                            payload: row.try_get("payload")?,
                            metadata: row.try_get("metadata")?,
                            recorded_at: row.try_get("recorded_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
        };
        let next = events.last().map_or(after, |e| e.cursor);
        Ok(FeedPage { events, next })
    }
}
