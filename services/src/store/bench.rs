//! Support for the `loadgen` benchmark: the raw baseline and bulk filling.

use std::collections::HashMap;

use brobyg_domain::case::{Case, CaseEvent, Item};
use brobyg_domain::{Category, ItemId, Org, Personal, UserId};

use super::sql::{Statement, time_text};
use super::{Pool, Store, StoreError};

impl Store {
    /// Creates the raw baseline table (an event-shaped row, no triggers).
    pub async fn bench_prepare(&self) -> Result<(), StoreError> {
        let sql = match &self.pool {
            Pool::Sqlite(_) => {
                "CREATE TABLE IF NOT EXISTS bench_raw (aggregate_id text NOT NULL, sequence integer NOT NULL, \
                                payload text NOT NULL, metadata text NOT NULL, PRIMARY KEY (aggregate_id, sequence))"
            }
            Pool::Postgres(_) => {
                "CREATE TABLE IF NOT EXISTS bench_raw (aggregate_id text NOT NULL, sequence bigint NOT NULL, \
                                  payload json NOT NULL, metadata json NOT NULL, PRIMARY KEY (aggregate_id, sequence))"
            }
        };
        match &self.pool {
            Pool::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(drop)?,
            Pool::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(drop)?,
        }
        Ok(())
    }

    /// One single-row insert of an event-shaped row, in its own transaction.
    pub async fn bench_insert(&self, id: &str, sequence: i64, payload: &str) -> Result<(), StoreError> {
        let metadata = format!("{{\"at\":\"{}\"}}", time_text(chrono::Utc::now()));
        let sql = match &self.pool {
            Pool::Sqlite(_) => {
                "INSERT INTO bench_raw (aggregate_id, sequence, payload, metadata) VALUES ($1, $2, $3, $4)"
            }
            Pool::Postgres(_) => {
                "INSERT INTO bench_raw (aggregate_id, sequence, payload, metadata) VALUES ($1, $2, $3::json, $4::json)"
            }
        };
        self.run_statements(&[Statement {
            sql,
            params: vec![id.into(), sequence.into(), payload.into(), metadata.into()],
        }])
        .await
    }

    /// The raw read of one aggregate's rows (what a case read does before folding).
    pub async fn bench_read_aggregate(&self, id: &str) -> Result<usize, StoreError> {
        let sql = match &self.pool {
            Pool::Sqlite(_) => {
                "SELECT aggregate_type, event_type, payload, metadata FROM events \
                  WHERE aggregate_type = 'case' AND aggregate_id = $1 ORDER BY sequence"
            }
            Pool::Postgres(_) => {
                "SELECT aggregate_type, event_type, payload::text, metadata::text FROM events \
                  WHERE aggregate_type = 'case' AND aggregate_id = $1 ORDER BY sequence"
            }
        };
        Ok(self.fetch_rows(sql, vec![id.into()]).await?.len())
    }

    /// Appends `count` events (cases of 100 item events) through the sealing store, reporting
    /// progress.
    pub async fn bench_fill(&self, count: usize, mut progress: impl FnMut(usize)) -> Result<(), StoreError> {
        let municipality: Org = "municipality:0746".parse().map_err(|_| StoreError::Corrupt("org".into()))?;
        let mut left = count;
        while left > 0 {
            let id = uuid::Uuid::new_v4().to_string();
            let n = left.min(100);
            let events: Vec<CaseEvent> = (0..n)
                .map(|i| CaseEvent::ItemAdded {
                    item: Item {
                        id: ItemId::new(),
                        category: Category::School,
                        owner: municipality.clone(),
                        author: UserId("loadgen".into()),
                        content: Personal::new(format!("filler {i}")),
                        added_at: chrono::Utc::now(),
                    },
                })
                .collect();
            let mut metadata = HashMap::new();
            metadata.insert("org".to_owned(), municipality.to_string());
            self.append::<Case>(&id, 0, events, metadata).await.map_err(|e| StoreError::Persistence(e.to_string()))?;
            left -= n;
            progress(n);
        }
        Ok(())
    }
}
