//! One SQL text for both backends: statements are written with `$1, $2, …` and run on SQLite
//! as `?1, ?2, …`, with parameters from a small closed set of types.

use sqlx::{Postgres, Sqlite, Transaction};

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

/// A statement and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// SQL with `$n` placeholders.
    pub sql: &'static str,
    /// Parameters in order.
    pub params: Vec<Param>,
}

/// The SQLite spelling of a `$n` statement.
pub fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

pub async fn run_sqlite(tx: &mut Transaction<'_, Sqlite>, stmt: &Statement) -> Result<u64, sqlx::Error> {
    let sql = sqlite_sql(stmt.sql);
    let mut q = sqlx::query(&sql);
    for p in &stmt.params {
        q = match p {
            Param::Text(v) => q.bind(v.clone()),
            Param::Int(v) => q.bind(*v),
            Param::Bytes(v) => q.bind(v.clone()),
        };
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

pub async fn run_postgres(tx: &mut Transaction<'_, Postgres>, stmt: &Statement) -> Result<u64, sqlx::Error> {
    let mut q = sqlx::query(stmt.sql);
    for p in &stmt.params {
        q = match p {
            Param::Text(v) => q.bind(v.clone()),
            Param::Int(v) => q.bind(*v),
            Param::Bytes(v) => q.bind(v.clone()),
        };
    }
    Ok(q.execute(&mut **tx).await?.rows_affected())
}

/// A fixed-width RFC 3339 UTC text for a time, so text order is time order.
pub fn time_text(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
