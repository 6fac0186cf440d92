//! The list views' tables: written in batches with the view runner's cursor, read by the lists.

use super::sql::{Param, Statement, time_text};
use super::{Cursor, Store, StoreError};
use crate::limits::{CONCERN_LIST_MAX, VOLUNTEER_LIST_MAX};
use brobyg_domain::Org;
use brobyg_domain::volunteer::VolunteerStatus;
use brobyg_projections::summaries::{ViewWrite, coalesce, rounds};

fn status_text(s: VolunteerStatus) -> &'static str {
    match s {
        VolunteerStatus::Active => "active",
        VolunteerStatus::Paused => "paused",
        VolunteerStatus::Retired => "retired",
    }
}

/// How the writes of one kind become rows of one multi-row statement: `head`, then `row` once
/// per write (its placeholders `$1…$per_row` numbered on for each row), then `tail`. Updates
/// join the rows as `VALUES` (columns `column1, column2, …`, the same in both backends).
struct Shape {
    head: &'static str,
    row: &'static str,
    per_row: usize,
    tail: &'static str,
}

/// The one translation of view writes into SQL, one shape per kind of write (in the order of
/// [`kind`]).
const SHAPES: [Shape; 12] = [
    Shape {
        head: "INSERT INTO case_summaries (case_id, municipality, state, version, opened_at, updated_at, \
                   young_person_id) VALUES ",
        row: "($1, $2, 'opened', $3, $4, $4, $5)",
        per_row: 5,
        tail: " ON CONFLICT (case_id) DO NOTHING",
    },
    Shape {
        head: "UPDATE case_summaries SET ngo = v.column2, programme = v.column3, state = 'referred', \
                   version = v.column4, updated_at = v.column5 FROM (VALUES ",
        row: "($1, $2, $3, $4, $5)",
        per_row: 5,
        tail: ") AS v WHERE case_summaries.case_id = v.column1",
    },
    Shape {
        head: "UPDATE case_summaries SET state = v.column2, version = v.column3, updated_at = v.column4 \
                   FROM (VALUES ",
        row: "($1, $2, $3, $4)",
        per_row: 4,
        tail: ") AS v WHERE case_summaries.case_id = v.column1",
    },
    Shape {
        head: "UPDATE case_summaries SET version = v.column2 FROM (VALUES ",
        row: "($1, $2)",
        per_row: 2,
        tail: ") AS v WHERE case_summaries.case_id = v.column1",
    },
    Shape {
        head: "UPDATE case_summaries SET municipality = v.column2, version = v.column3, updated_at = v.column4 \
                   FROM (VALUES ",
        row: "($1, $2, $3, $4)",
        per_row: 4,
        tail: ") AS v WHERE case_summaries.case_id = v.column1",
    },
    Shape {
        head: "UPDATE concern_summaries SET reported_to = v.column2 FROM (VALUES ",
        row: "($1, $2)",
        per_row: 2,
        tail: ") AS v WHERE concern_summaries.case_id = v.column1",
    },
    Shape {
        head: "INSERT INTO concern_summaries (concern_id, case_id, reporter_org, reported_to, reported_at, \
                   assessment_due, receipt_due) VALUES ",
        row: "($1, $2, $3, $4, $5, $6, $7)",
        per_row: 7,
        tail: " ON CONFLICT (concern_id) DO NOTHING",
    },
    Shape {
        head: "UPDATE concern_summaries SET acknowledged_at = v.column2 FROM (VALUES ",
        row: "($1, $2)",
        per_row: 2,
        tail: ") AS v WHERE concern_summaries.concern_id = v.column1",
    },
    Shape {
        head: "INSERT INTO volunteer_summaries (volunteer_id, ngo, status, capacity, assignments, version) VALUES ",
        row: "($1, $2, 'active', $3, 0, $4)",
        per_row: 4,
        tail: " ON CONFLICT (volunteer_id) DO NOTHING",
    },
    Shape {
        head: "UPDATE volunteer_summaries SET status = v.column2, version = v.column3 FROM (VALUES ",
        row: "($1, $2, $3)",
        per_row: 3,
        tail: ") AS v WHERE volunteer_summaries.volunteer_id = v.column1",
    },
    Shape {
        head: "UPDATE volunteer_summaries SET assignments = assignments + v.column2, version = v.column3 \
                   FROM (VALUES ",
        row: "($1, $2, $3)",
        per_row: 3,
        tail: ") AS v WHERE volunteer_summaries.volunteer_id = v.column1",
    },
    Shape {
        head: "UPDATE volunteer_summaries SET version = v.column2 FROM (VALUES ",
        row: "($1, $2)",
        per_row: 2,
        tail: ") AS v WHERE volunteer_summaries.volunteer_id = v.column1",
    },
];

/// The row counts of the statements a kind's writes are cut into (largest first): a few
/// statement texts per kind, so that each backend prepares them once per connection and keeps
/// them, and at most 256 rows of 7 parameters, 1 792, per statement (both backends take 32 766).
const ROWS_PER_STATEMENT: [usize; 5] = [256, 64, 16, 4, 1];

/// The SQL of every shape for every row count of [`ROWS_PER_STATEMENT`], made once.
static SQL: std::sync::LazyLock<Vec<Vec<String>>> = std::sync::LazyLock::new(|| {
    SHAPES.iter().map(|shape| ROWS_PER_STATEMENT.iter().map(|&rows| multi_row(shape, rows)).collect()).collect()
});

/// `shape`'s statement for `rows` writes.
fn multi_row(shape: &Shape, rows: usize) -> String {
    let mut sql = String::from(shape.head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        let mut chars = shape.row.chars().peekable();
        while let Some(c) = chars.next() {
            sql.push(c);
            if c == '$' {
                let mut n = 0;
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                sql.push_str(&(n + r * shape.per_row).to_string());
            }
        }
    }
    sql.push_str(shape.tail);
    sql
}

/// The kind of a write (its index in [`SHAPES`]) and its row's parameters.
fn kind_and_row(write: ViewWrite) -> (usize, Vec<Param>) {
    use ViewWrite::*;
    match write {
        CaseOpened { case, municipality, young_person, at, version } => (
            0,
            vec![
                case.into(),
                String::from(municipality).into(),
                version.into(),
                time_text(at).into(),
                young_person.into(),
            ],
        ),
        CaseReferred { case, ngo, programme, at, version } => {
            (1, vec![case.into(), String::from(ngo).into(), programme.into(), version.into(), time_text(at).into()])
        }
        CaseState { case, state, at, version } => {
            (2, vec![case.into(), state.as_str().into(), version.into(), time_text(at).into()])
        }
        CaseVersion { case, version } => (3, vec![case.into(), version.into()]),
        CaseMoved { case, to, at, version } => {
            (4, vec![case.into(), String::from(to).into(), version.into(), time_text(at).into()])
        }
        ConcernsMoved { case, to } => (5, vec![case.into(), String::from(to).into()]),
        ConcernReported { concern, case, reporter_org, reported_to, reported_at, assessment_due, receipt_due } => (
            6,
            vec![
                concern.into(),
                case.into(),
                String::from(reporter_org).into(),
                String::from(reported_to).into(),
                time_text(reported_at).into(),
                time_text(assessment_due).into(),
                receipt_due.to_string().into(),
            ],
        ),
        ConcernAcknowledged { concern, at } => (7, vec![concern.into(), time_text(at).into()]),
        VolunteerRegistered { volunteer, ngo, capacity, version } => {
            (8, vec![volunteer.into(), String::from(ngo).into(), i64::from(capacity).into(), version.into()])
        }
        VolunteerStatus { volunteer, status, version } => {
            (9, vec![volunteer.into(), status_text(status).into(), version.into()])
        }
        VolunteerAssignments { volunteer, delta, version } => {
            (10, vec![volunteer.into(), delta.into(), version.into()])
        }
        VolunteerVersion { volunteer, version } => (11, vec![volunteer.into(), version.into()]),
    }
}

/// The statements of a batch of view writes: merged ([`coalesce`]), ordered into rounds of
/// writes to distinct rows ([`rounds`]), and each round's writes of one kind written as
/// multi-row statements — a page of a thousand events about a hundred cases is a handful of
/// statements, not a hundred round trips to the database.
fn statements(writes: Vec<ViewWrite>) -> Vec<Statement> {
    let mut out = Vec::new();
    for round in rounds(coalesce(writes)) {
        let mut by_kind: [Vec<Param>; SHAPES.len()] = Default::default();
        for write in round {
            let (kind, row) = kind_and_row(write);
            by_kind[kind].extend(row);
        }
        for (kind, params) in by_kind.into_iter().enumerate() {
            let per_row = SHAPES[kind].per_row;
            let mut params = params.into_iter();
            let mut left = params.len() / per_row;
            for (size, &rows) in ROWS_PER_STATEMENT.iter().enumerate() {
                while left >= rows {
                    out.push(Statement {
                        sql: &SQL[kind][size],
                        params: params.by_ref().take(rows * per_row).collect(),
                    });
                    left -= rows;
                }
            }
        }
    }
    out
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

/// What a caseload is narrowed to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only cases in this state.
    pub state: Option<brobyg_domain::CaseState>,
    /// Only cases of this programme.
    pub programme: Option<String>,
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
        let claim = Store::claim_consumer_cursor(VIEWS_CONSUMER, from, to);
        self.run_statements_if(&claim, &statements(writes)).await
    }

    /// Empties the view tables and their cursor, for a rebuild from the start of the feed.
    pub async fn reset_views(&self) -> Result<(), StoreError> {
        let statements = [
            "DELETE FROM case_summaries",
            "DELETE FROM concern_summaries",
            "DELETE FROM volunteer_summaries",
            "DELETE FROM feed_checkpoints WHERE consumer = 'views'",
        ];
        let statements: Vec<Statement> = statements.iter().map(|sql| Statement::new(sql, vec![])).collect();
        self.run_statements(&statements).await.map(drop)
    }

    /// The caseload of `org`: cases it owns (municipality) or was referred (NGO) that pass
    /// `filter`, oldest first, after the keyset `after` (`opened_at`, `case_id`).
    pub async fn case_summaries(
        &self,
        org: &Org,
        filter: &CaseFilter,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let column = if org.is_municipality() { "municipality" } else { "ngo" };
        let sql = format!(
            "SELECT case_id, municipality, ngo, programme, state, version, opened_at, updated_at \
               FROM case_summaries WHERE {column} = $1 AND (opened_at, case_id) > ($2, $3) \
                AND ($5 = '' OR state = $5) AND ($6 = '' OR programme = $6) \
              ORDER BY opened_at, case_id LIMIT $4"
        );
        let (after_at, after_id) = after.unwrap_or_default();
        let state = filter.state.map(|s| s.as_str()).unwrap_or_default();
        let programme = filter.programme.clone().unwrap_or_default();
        let rows = self
            .fetch_rows(
                &sql,
                vec![
                    org.as_str().into(),
                    after_at.into(),
                    after_id.into(),
                    i64::from(limit).into(),
                    state.into(),
                    programme.into(),
                ],
            )
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
              ORDER BY reported_at DESC, concern_id LIMIT $2"
        );
        let rows = self.fetch_rows(&sql, vec![org.as_str().into(), CONCERN_LIST_MAX.into()]).await?;
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
                  WHERE ngo = $1 ORDER BY volunteer_id LIMIT $2",
                vec![ngo.as_str().into(), VOLUNTEER_LIST_MAX.into()],
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

    /// Every case of a young person (subject), oldest first: a re-referral carries the same
    /// person id (from the case view).
    pub async fn cases_of_subject(&self, subject: &str) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT case_id FROM case_summaries WHERE young_person_id = $1 ORDER BY opened_at, case_id",
                vec![subject.into()],
            )
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// The ids of every case `org` is a party to (from the case view).
    pub async fn cases_of(&self, org: &Org) -> Result<Vec<String>, StoreError> {
        let rows = self
            .fetch_rows(
                "SELECT case_id FROM case_summaries WHERE municipality = $1 OR ngo = $1",
                vec![org.as_str().into()],
            )
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
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
}
