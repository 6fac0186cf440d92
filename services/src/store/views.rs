//! The list views' tables: written in batches with the view runner's cursor, read by the lists.

use brobyg_domain::volunteer::VolunteerStatus;
use brobyg_domain::{CaseState, Org};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row as _;

use super::sql::{Param, Statement, sqlite_sql, time_text};
use super::{Cursor, Pool, Store, StoreError};

/// One change to the view tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewWrite {
    /// A case was opened.
    CaseOpened { case: String, municipality: Org, young_person: String, at: DateTime<Utc>, version: i64 },
    /// A case was referred.
    CaseReferred { case: String, ngo: Org, programme: String, at: DateTime<Utc>, version: i64 },
    /// A case changed state.
    CaseState { case: String, state: CaseState, at: DateTime<Utc>, version: i64 },
    /// A case moved to a new version without a listed change.
    CaseVersion { case: String, version: i64 },
    /// A concern was reported.
    ConcernReported {
        concern: String,
        case: String,
        reporter_org: Org,
        reported_to: Org,
        reported_at: DateTime<Utc>,
        assessment_due: DateTime<Utc>,
        receipt_due: NaiveDate,
    },
    /// A concern was acknowledged.
    ConcernAcknowledged { concern: String, at: DateTime<Utc> },
    /// A volunteer registered.
    VolunteerRegistered { volunteer: String, ngo: Org, capacity: u32, version: i64 },
    /// A volunteer's status changed.
    VolunteerStatus { volunteer: String, status: VolunteerStatus, version: i64 },
    /// A volunteer's assignments changed by `delta`.
    VolunteerAssignments { volunteer: String, delta: i64, version: i64 },
    /// A volunteer moved to a new version without a listed change.
    VolunteerVersion { volunteer: String, version: i64 },
}

/// The row a view write changes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    Case(String),
    Concern(String),
    Volunteer(String),
}

impl ViewWrite {
    fn target(&self) -> Target {
        use ViewWrite::*;
        match self {
            CaseOpened { case, .. } | CaseReferred { case, .. } | CaseState { case, .. } | CaseVersion { case, .. } => {
                Target::Case(case.clone())
            }
            ConcernReported { concern, .. } | ConcernAcknowledged { concern, .. } => Target::Concern(concern.clone()),
            VolunteerRegistered { volunteer, .. }
            | VolunteerStatus { volunteer, .. }
            | VolunteerAssignments { volunteer, .. }
            | VolunteerVersion { volunteer, .. } => Target::Volunteer(volunteer.clone()),
        }
    }

    fn set_version(&mut self, to: i64) {
        use ViewWrite::*;
        match self {
            CaseOpened { version, .. }
            | CaseReferred { version, .. }
            | CaseState { version, .. }
            | CaseVersion { version, .. }
            | VolunteerRegistered { version, .. }
            | VolunteerStatus { version, .. }
            | VolunteerAssignments { version, .. }
            | VolunteerVersion { version, .. } => *version = to,
            ConcernReported { .. } | ConcernAcknowledged { .. } => {}
        }
    }

    /// Folds `next`, a later write to the same row, into `self` when one statement can do both.
    fn absorb(&mut self, next: &ViewWrite) -> bool {
        use ViewWrite::*;
        match (&mut *self, next) {
            // A version bump rides on the row's previous write.
            (_, CaseVersion { version, .. } | VolunteerVersion { version, .. }) => {
                self.set_version(*version);
                true
            }
            // A later state (with its time and version) overwrites every column of the earlier one.
            (CaseState { .. } | CaseVersion { .. }, CaseState { .. })
            | (VolunteerStatus { .. } | VolunteerVersion { .. }, VolunteerStatus { .. }) => {
                *self = next.clone();
                true
            }
            (VolunteerAssignments { delta, version, .. }, VolunteerAssignments { delta: more, version: to, .. }) => {
                *delta += more;
                *version = *to;
                true
            }
            _ => false,
        }
    }
}

/// Merges a batch's writes so that each row takes as few statements as the batch allows: a
/// case's twenty events become one or two statements. Writes to different rows commute, and
/// each row's writes keep their order, so the tables end as they would after every write in turn.
#[must_use]
pub fn coalesce(writes: Vec<ViewWrite>) -> Vec<ViewWrite> {
    let mut out: Vec<ViewWrite> = Vec::with_capacity(writes.len());
    let mut last: std::collections::HashMap<Target, usize> = std::collections::HashMap::new();
    for w in writes {
        let target = w.target();
        if let Some(&i) = last.get(&target)
            && out[i].absorb(&w)
        {
            continue;
        }
        last.insert(target, out.len());
        out.push(w);
    }
    out
}

fn status_text(s: VolunteerStatus) -> &'static str {
    match s {
        VolunteerStatus::Active => "active",
        VolunteerStatus::Paused => "paused",
        VolunteerStatus::Retired => "retired",
    }
}

impl ViewWrite {
    fn statement(&self) -> Statement {
        use ViewWrite::*;
        match self {
            CaseOpened { case, municipality, young_person, at, version } => Statement {
                sql: "INSERT INTO case_summaries (case_id, municipality, state, version, opened_at, updated_at, \
                      young_person_id) VALUES ($1, $2, 'opened', $3, $4, $4, $5) ON CONFLICT (case_id) DO NOTHING",
                params: vec![
                    case.as_str().into(),
                    municipality.as_str().into(),
                    (*version).into(),
                    time_text(*at).into(),
                    young_person.as_str().into(),
                ],
            },
            CaseReferred { case, ngo, programme, at, version } => Statement {
                sql: "UPDATE case_summaries SET ngo = $2, programme = $3, state = 'referred', version = $4, \
                      updated_at = $5 WHERE case_id = $1",
                params: vec![
                    case.as_str().into(),
                    ngo.as_str().into(),
                    programme.as_str().into(),
                    (*version).into(),
                    time_text(*at).into(),
                ],
            },
            CaseState { case, state, at, version } => Statement {
                sql: "UPDATE case_summaries SET state = $2, version = $3, updated_at = $4 WHERE case_id = $1",
                params: vec![case.as_str().into(), state.as_str().into(), (*version).into(), time_text(*at).into()],
            },
            CaseVersion { case, version } => Statement {
                sql: "UPDATE case_summaries SET version = $2 WHERE case_id = $1",
                params: vec![case.as_str().into(), (*version).into()],
            },
            ConcernReported { concern, case, reporter_org, reported_to, reported_at, assessment_due, receipt_due } => {
                Statement {
                    sql: "INSERT INTO concern_summaries (concern_id, case_id, reporter_org, reported_to, reported_at, \
                          assessment_due, receipt_due) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                          ON CONFLICT (concern_id) DO NOTHING",
                    params: vec![
                        concern.as_str().into(),
                        case.as_str().into(),
                        reporter_org.as_str().into(),
                        reported_to.as_str().into(),
                        time_text(*reported_at).into(),
                        time_text(*assessment_due).into(),
                        receipt_due.to_string().into(),
                    ],
                }
            }
            ConcernAcknowledged { concern, at } => Statement {
                sql: "UPDATE concern_summaries SET acknowledged_at = $2 WHERE concern_id = $1",
                params: vec![concern.as_str().into(), time_text(*at).into()],
            },
            VolunteerRegistered { volunteer, ngo, capacity, version } => Statement {
                sql: "INSERT INTO volunteer_summaries (volunteer_id, ngo, status, capacity, assignments, version) \
                      VALUES ($1, $2, 'active', $3, 0, $4) ON CONFLICT (volunteer_id) DO NOTHING",
                params: vec![
                    volunteer.as_str().into(),
                    ngo.as_str().into(),
                    i64::from(*capacity).into(),
                    (*version).into(),
                ],
            },
            VolunteerStatus { volunteer, status, version } => Statement {
                sql: "UPDATE volunteer_summaries SET status = $2, version = $3 WHERE volunteer_id = $1",
                params: vec![volunteer.as_str().into(), status_text(*status).into(), (*version).into()],
            },
            VolunteerAssignments { volunteer, delta, version } => Statement {
                sql: "UPDATE volunteer_summaries SET assignments = assignments + $2, version = $3 \
                      WHERE volunteer_id = $1",
                params: vec![volunteer.as_str().into(), (*delta).into(), (*version).into()],
            },
            VolunteerVersion { volunteer, version } => Statement {
                sql: "UPDATE volunteer_summaries SET version = $2 WHERE volunteer_id = $1",
                params: vec![volunteer.as_str().into(), (*version).into()],
            },
        }
    }
}

/// A case row of a caseload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseSummary {
    /// Case id.
    pub case_id: String,
    /// Municipality.
    pub municipality: String,
    /// NGO.
    pub ngo: Option<String>,
    /// Programme.
    pub programme: Option<String>,
    /// State.
    pub state: String,
    /// Version.
    pub version: i64,
    /// Opened at (RFC 3339).
    pub opened_at: String,
    /// Updated at (RFC 3339).
    pub updated_at: String,
}

/// A concern row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcernSummary {
    /// Concern id.
    pub concern_id: String,
    /// Case id.
    pub case_id: String,
    /// Reporting organisation.
    pub reporter_org: String,
    /// Municipality.
    pub reported_to: String,
    /// Reported at.
    pub reported_at: String,
    /// Assessment due.
    pub assessment_due: String,
    /// Receipt due (date).
    pub receipt_due: String,
    /// Acknowledged at.
    pub acknowledged_at: Option<String>,
}

/// A volunteer row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolunteerSummary {
    /// Volunteer id.
    pub volunteer_id: String,
    /// NGO.
    pub ngo: String,
    /// Status.
    pub status: String,
    /// Capacity.
    pub capacity: i64,
    /// Current assignments.
    pub assignments: i64,
}

/// The consumer name of the view runner in `feed_checkpoints`.
pub const VIEWS_CONSUMER: &str = "views";

impl Store {
    /// Applies a batch of view changes and moves the views' cursor from `from` (as read before
    /// the batch; `None`: no cursor stored yet) to `to`, atomically — if the cursor still is
    /// `from`. The cursor is claimed first, so when two runners (two replicas, or `brobyg replay`
    /// beside `serve`) read the same batch, one applies it and the other gets `false` and
    /// writes nothing: no change is applied twice (an assignment count would double).
    pub async fn apply_view_batch(
        &self,
        writes: Vec<ViewWrite>,
        from: Option<Cursor>,
        to: Cursor,
    ) -> Result<bool, StoreError> {
        let claim = match (from, &self.pool) {
            (None, _) => Statement {
                sql: "INSERT INTO feed_checkpoints (consumer, cursor) VALUES ($1, $2) ON CONFLICT (consumer) DO NOTHING",
                params: vec![VIEWS_CONSUMER.into(), to.to_string().into()],
            },
            (Some(from), Pool::Sqlite(_)) => Statement {
                sql: "UPDATE feed_checkpoints SET cursor = $2, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') \
                      WHERE consumer = $1 AND cursor = $3",
                params: vec![VIEWS_CONSUMER.into(), to.to_string().into(), from.to_string().into()],
            },
            (Some(from), Pool::Postgres(_)) => Statement {
                sql: "UPDATE feed_checkpoints SET cursor = $2, updated_at = now() WHERE consumer = $1 AND cursor = $3",
                params: vec![VIEWS_CONSUMER.into(), to.to_string().into(), from.to_string().into()],
            },
        };
        let statements: Vec<Statement> = coalesce(writes).iter().map(ViewWrite::statement).collect();
        self.run_statements_if(&claim, &statements).await
    }

    /// Empties the view tables and their cursor, for a rebuild from the start of the feed.
    pub async fn reset_views(&self) -> Result<(), StoreError> {
        let statements = [
            "DELETE FROM case_summaries",
            "DELETE FROM concern_summaries",
            "DELETE FROM volunteer_summaries",
            "DELETE FROM feed_checkpoints WHERE consumer = 'views'",
        ];
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin().await?;
                for s in statements {
                    sqlx::query(s).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                for s in statements {
                    sqlx::query(s).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// The caseload of `org`: cases it owns (municipality) or was referred (NGO), oldest first,
    /// after the keyset `after` (`opened_at`, `case_id`).
    pub async fn case_summaries(
        &self,
        org: &Org,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let column = if org.is_municipality() { "municipality" } else { "ngo" };
        let sql = format!(
            "SELECT case_id, municipality, ngo, programme, state, version, opened_at, updated_at \
               FROM case_summaries WHERE {column} = $1 AND (opened_at, case_id) > ($2, $3) \
              ORDER BY opened_at, case_id LIMIT $4"
        );
        let (after_at, after_id) = after.unwrap_or_default();
        let rows = self
            .fetch_rows(&sql, vec![org.as_str().into(), after_at.into(), after_id.into(), i64::from(limit).into()])
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(CaseSummary {
                    case_id: r.text(0)?,
                    municipality: r.text(1)?,
                    ngo: r.opt_text(2)?,
                    programme: r.opt_text(3)?,
                    state: r.text(4)?,
                    version: r.int(5)?,
                    opened_at: r.text(6)?,
                    updated_at: r.text(7)?,
                })
            })
            .collect()
    }

    /// Concerns reported to (municipality) or by (NGO) `org`, newest first; only those without
    /// a receipt when `unacknowledged_only`.
    pub async fn concern_summaries(
        &self,
        org: &Org,
        unacknowledged_only: bool,
    ) -> Result<Vec<ConcernSummary>, StoreError> {
        let column = if org.is_municipality() { "reported_to" } else { "reporter_org" };
        let filter = if unacknowledged_only { " AND acknowledged_at IS NULL" } else { "" };
        let sql = format!(
            "SELECT concern_id, case_id, reporter_org, reported_to, reported_at, assessment_due, receipt_due, \
                    acknowledged_at FROM concern_summaries WHERE {column} = $1{filter} \
              ORDER BY reported_at DESC, concern_id LIMIT 1000"
        );
        let rows = self.fetch_rows(&sql, vec![org.as_str().into()]).await?;
        rows.into_iter()
            .map(|r| {
                Ok(ConcernSummary {
                    concern_id: r.text(0)?,
                    case_id: r.text(1)?,
                    reporter_org: r.text(2)?,
                    reported_to: r.text(3)?,
                    reported_at: r.text(4)?,
                    assessment_due: r.text(5)?,
                    receipt_due: r.text(6)?,
                    acknowledged_at: r.opt_text(7)?,
                })
            })
            .collect()
    }

    /// The volunteers of `ngo`.
    pub async fn volunteer_summaries(&self, ngo: &Org) -> Result<Vec<VolunteerSummary>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT volunteer_id, ngo, status, capacity, assignments FROM volunteer_summaries \
                  WHERE ngo = $1 ORDER BY volunteer_id LIMIT 10000",
                vec![ngo.as_str().into()],
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(VolunteerSummary {
                    volunteer_id: r.text(0)?,
                    ngo: r.text(1)?,
                    status: r.text(2)?,
                    capacity: r.int(3)?,
                    assignments: r.int(4)?,
                })
            })
            .collect()
    }

    /// The case of a young person (subject), from the case view.
    pub async fn case_of_subject(&self, subject: &str) -> Result<Option<String>, StoreError> {
        let rows = self
            .fetch_rows("SELECT case_id FROM case_summaries WHERE young_person_id = $1", vec![subject.into()])
            .await?;
        rows.first().map(|r| r.text(0)).transpose()
    }

    /// Ended cases (for retention): id and state.
    pub async fn ended_cases(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT case_id FROM case_summaries WHERE state IN ('closed', 'declined', 'withdrawn', 'redirected') \
                  ORDER BY case_id",
                vec![],
            )
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// The feed position of one stored event (to tell a writer which position reflects it).
    pub async fn position_of(&self, aggregate_type: &str, id: &str, sequence: usize) -> Result<Cursor, StoreError> {
        let seq = i64::try_from(sequence).unwrap_or(i64::MAX);
        match &self.pool {
            Pool::Sqlite(p) => {
                let position: i64 = sqlx::query_scalar(
                    "SELECT position FROM event_feed WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ?",
                )
                .bind(aggregate_type)
                .bind(id)
                .bind(seq)
                .fetch_one(p)
                .await?;
                Ok(Cursor { tx: 0, position })
            }
            Pool::Postgres(p) => {
                let row = sqlx::query(
                    "SELECT tx_id::text, global_position FROM events \
                      WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
                )
                .bind(aggregate_type)
                .bind(id)
                .bind(seq)
                .fetch_one(p)
                .await?;
                let tx: String = row.try_get(0)?;
                Ok(Cursor {
                    tx: tx.parse().map_err(|_| StoreError::Corrupt("tx_id".into()))?,
                    position: row.try_get(1)?,
                })
            }
        }
    }

    pub(super) async fn fetch_rows(&self, sql: &str, params: Vec<Param>) -> Result<Vec<Row>, StoreError> {
        macro_rules! bind_all {
            ($q:expr) => {{
                let mut q = $q;
                for p in &params {
                    q = match p {
                        Param::Text(v) => q.bind(v.clone()),
                        Param::Int(v) => q.bind(*v),
                        Param::Bytes(v) => q.bind(v.clone()),
                    };
                }
                q
            }};
        }
        Ok(match &self.pool {
            Pool::Sqlite(p) => {
                let sql = sqlite_sql(sql);
                bind_all!(sqlx::query(&sql))
                    .fetch_all(p)
                    .await?
                    .into_iter()
                    .map(Row::from_sqlite)
                    .collect::<Result<_, _>>()?
            }
            Pool::Postgres(p) => bind_all!(sqlx::query(sql))
                .fetch_all(p)
                .await?
                .into_iter()
                .map(Row::from_postgres)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A backend-neutral row of text, integer and NULL cells.
#[derive(Debug)]
pub(crate) struct Row(Vec<Cell>);

#[derive(Debug)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bytes(Option<Vec<u8>>),
}

impl Row {
    fn from_sqlite(row: sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::{Column, TypeInfo, ValueRef};
        let mut cells = Vec::new();
        for (i, col) in row.columns().iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            let cell = if raw.is_null() {
                match col.type_info().name() {
                    "INTEGER" => Cell::Int(None),
                    "BLOB" => Cell::Bytes(None),
                    _ => Cell::Text(None),
                }
            } else {
                match raw.type_info().name() {
                    "INTEGER" => Cell::Int(Some(row.try_get(i)?)),
                    "BLOB" => Cell::Bytes(Some(row.try_get(i)?)),
                    _ => Cell::Text(Some(row.try_get(i)?)),
                }
            };
            cells.push(cell);
        }
        Ok(Self(cells))
    }

    fn from_postgres(row: sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::{Column, TypeInfo};
        let mut cells = Vec::new();
        for (i, col) in row.columns().iter().enumerate() {
            let cell = match col.type_info().name() {
                "INT8" | "INT4" => Cell::Int(row.try_get(i)?),
                "BYTEA" => Cell::Bytes(row.try_get(i)?),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, h, 0, 0).single().expect("time")
    }

    fn org(s: &str) -> Org {
        s.parse().expect("org")
    }

    #[test]
    fn a_case_s_version_bumps_ride_on_its_previous_write() {
        let case = |c: &str| c.to_owned();
        let writes = vec![
            ViewWrite::CaseOpened {
                case: case("a"),
                municipality: org("municipality:0746"),
                young_person: "p".into(),
                at: at(1),
                version: 1,
            },
            ViewWrite::CaseVersion { case: case("a"), version: 2 },
            ViewWrite::CaseVersion { case: case("b"), version: 7 },
            ViewWrite::CaseVersion { case: case("a"), version: 3 },
            ViewWrite::CaseState { case: case("a"), state: CaseState::Referred, at: at(2), version: 4 },
            ViewWrite::CaseVersion { case: case("a"), version: 5 },
            ViewWrite::CaseState { case: case("a"), state: CaseState::InCourse, at: at(3), version: 6 },
            ViewWrite::CaseVersion { case: case("b"), version: 8 },
        ];
        assert_eq!(
            coalesce(writes),
            vec![
                ViewWrite::CaseOpened {
                    case: case("a"),
                    municipality: org("municipality:0746"),
                    young_person: "p".into(),
                    at: at(1),
                    version: 3,
                },
                ViewWrite::CaseVersion { case: case("b"), version: 8 },
                ViewWrite::CaseState { case: case("a"), state: CaseState::InCourse, at: at(3), version: 6 },
            ]
        );
    }

    #[test]
    fn writes_that_set_different_columns_stay_apart_and_in_order() {
        let referred = ViewWrite::CaseReferred {
            case: "a".into(),
            ngo: org("ngo:kfum"),
            programme: "p".into(),
            at: at(1),
            version: 2,
        };
        let state = ViewWrite::CaseState { case: "a".into(), state: CaseState::InCourse, at: at(2), version: 3 };
        let acknowledged = ViewWrite::ConcernAcknowledged { concern: "c".into(), at: at(4) };
        let again = ViewWrite::ConcernAcknowledged { concern: "c".into(), at: at(5) };
        let writes = vec![referred.clone(), state.clone(), acknowledged.clone(), again.clone()];
        assert_eq!(coalesce(writes.clone()), writes);
        let assign = |delta, version| ViewWrite::VolunteerAssignments { volunteer: "v".into(), delta, version };
        let registered =
            ViewWrite::VolunteerRegistered { volunteer: "v".into(), ngo: org("ngo:kfum"), capacity: 2, version: 1 };
        assert_eq!(
            coalesce(vec![registered.clone(), assign(1, 2), assign(1, 3), assign(-1, 4)]),
            vec![registered, assign(1, 4)]
        );
    }
}
