//! The access log table: appended in batches, read per case.

use super::sql::{Param, ROWS_PER_STATEMENT, Shape, multi_row, multi_row_statements, time_text};
use super::{Store, StoreError};
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

/// One access-log row of a multi-row insert.
const ENTRY: Shape = Shape {
    head: "INSERT INTO access_log (case_id, reader_sub, reader_org, reader_role, purpose, categories, endpoint, \
           read_at) VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8)",
    per_row: 8,
    tail: "",
};

/// The inserts of [`ENTRY`] rows for every row count of [`ROWS_PER_STATEMENT`], made once.
static INSERT_ENTRIES: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| ROWS_PER_STATEMENT.iter().map(|&rows| multi_row(&ENTRY, rows)).collect());

impl Store {
    /// Appends entries in one transaction: all are durable when this returns `Ok`. The rows go
    /// in as multi-row inserts (a feed page's hundred entries are three statements, not a
    /// hundred round trips before the page may leave).
    pub async fn append_access_log(&self, entries: &[AccessEntry]) -> Result<(), StoreError> {
        let params: Vec<Param> = entries
            .iter()
            .flat_map(|e| {
                [
                    e.case_id.as_str().into(),
                    e.reader_sub.as_str().into(),
                    e.reader_org.as_str().into(),
                    e.reader_role.as_str().into(),
                    e.purpose.as_str().into(),
                    e.categories.as_str().into(),
                    e.endpoint.as_str().into(),
                    time_text(e.read_at).into(),
                ]
            })
            .collect();
        let mut statements = Vec::new();
        multi_row_statements(&INSERT_ENTRIES, ENTRY.per_row, params, &mut statements);
        self.run_statements(&statements).await.map(drop)
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
