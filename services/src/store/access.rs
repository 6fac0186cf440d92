//! The access log table: appended in batches, read per case.

use super::sql::{Statement, time_text};
use super::{Backend, Store, StoreError};
use chrono::{DateTime, Utc};

/// One read of personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    /// The case read.
    pub case_id: String,
    /// Who (JWT `sub`).
    pub reader_sub: String,
    /// Their organisation.
    pub reader_org: String,
    /// The role they read in.
    pub reader_role: String,
    /// Why (`X-Purpose` or the endpoint's default).
    pub purpose: String,
    /// The categories shown, comma-separated.
    pub categories: String,
    /// Which endpoint.
    pub endpoint: String,
    /// When.
    pub read_at: DateTime<Utc>,
}

impl Store {
    /// Appends entries in one statement: all are durable when this returns `Ok`. The entries
    /// go to the database as one JSON array that the statement unpacks into rows, in order (a
    /// feed page's fifty entries are one round trip, not fifty, before the page may leave).
    pub async fn append_access_log(&self, entries: &[AccessEntry]) -> Result<(), StoreError> {
        // Each entry as an array of its columns, in the order of the insert's.
        let rows: Vec<_> = entries
            .iter()
            .map(|e| {
                let AccessEntry {
                    case_id,
                    reader_sub,
                    reader_org,
                    reader_role,
                    purpose,
                    categories,
                    endpoint,
                    read_at,
                } = e;
                (case_id, reader_sub, reader_org, reader_role, purpose, categories, endpoint, time_text(*read_at))
            })
            .collect();
        let list = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = match self.backend() {
            Backend::Sqlite => {
                "INSERT INTO access_log (case_id, reader_sub, reader_org, reader_role, purpose, categories, \
                       endpoint, read_at) \
                 SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
                        value ->> 6, value ->> 7 \
                   FROM json_each($1) ORDER BY key"
            }
            Backend::Postgres => {
                "INSERT INTO access_log (case_id, reader_sub, reader_org, reader_role, purpose, categories, \
                       endpoint, read_at) \
                 SELECT e ->> 0, e ->> 1, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6, e ->> 7 \
                   FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY n"
            }
        };
        let written = self.run_alone(Statement::new(sql, vec![list.into()])).await?;
        if written == entries.len() as u64 {
            Ok(())
        } else {
            Err(StoreError::Persistence(format!("the access log took {written} of {} entries", entries.len())))
        }
    }

    /// The access log of one case, oldest first.
    pub async fn access_log(&self, case_id: &str) -> Result<Vec<AccessEntry>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT case_id, reader_sub, reader_org, reader_role, purpose, categories, endpoint, read_at \
                   FROM access_log WHERE case_id = $1 ORDER BY id",
                vec![case_id.into()],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AccessEntry {
                    case_id: r.text(0)?,
                    reader_sub: r.text(1)?,
                    reader_org: r.text(2)?,
                    reader_role: r.text(3)?,
                    purpose: r.text(4)?,
                    categories: r.text(5)?,
                    endpoint: r.text(6)?,
                    read_at: r.text(7)?.parse().map_err(|_| StoreError::Corrupt("access_log.read_at".into()))?,
                })
            })
            .collect()
    }

    /// The ids of the cases in `programme` that `org` is a party to (from the case view).
    pub async fn cases_in_programme(
        &self,
        org: &brobyg_domain::Org,
        programme: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT case_id FROM case_summaries WHERE programme = $1 AND (municipality = $2 OR ngo = $2) \
                  ORDER BY case_id",
                vec![programme.into(), org.as_str().into()],
            )
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// How many events the feed holds (for progress bars).
    pub async fn event_count(&self) -> Result<u64, StoreError> {
        let n = self.fetch_row("SELECT count(*) FROM events", vec![]).await?.map_or(Ok(0), |r| r.int(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
