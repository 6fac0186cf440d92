//! What each event changes in the list views (caseloads, volunteer lists, concern lists): one
//! [`ViewWrite`] per row change, pure; the store translates each into SQL.
//!
//! The list tables hold no personal data: ids, organisations, states, dates. Lists that show a
//! name load the aggregate and pass it through the policy, like a detail read.

use brobyg_domain::case::CaseEvent;
use brobyg_domain::volunteer::{VolunteerEvent, VolunteerStatus};
use brobyg_domain::{CaseState, Org};
use chrono::{DateTime, NaiveDate, Utc};

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
    /// A case moved to another municipality.
    CaseMoved { case: String, to: Org, at: DateTime<Utc>, version: i64 },
    /// The concerns of a case follow it to the municipality it moved to.
    ConcernsMoved { case: String, to: Org },
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
    CaseConcerns(String),
    Volunteer(String),
}

impl ViewWrite {
    fn target(&self) -> Target {
        use ViewWrite::*;
        match self {
            CaseOpened { case, .. }
            | CaseReferred { case, .. }
            | CaseState { case, .. }
            | CaseVersion { case, .. }
            | CaseMoved { case, .. } => Target::Case(case.clone()),
            ConcernsMoved { case, .. } => Target::CaseConcerns(case.clone()),
            ConcernReported { concern, .. } | ConcernAcknowledged { concern, .. } => Target::Concern(concern.clone()),
            VolunteerRegistered { volunteer, .. }
            | VolunteerStatus { volunteer, .. }
            | VolunteerAssignments { volunteer, .. }
            | VolunteerVersion { volunteer, .. } => Target::Volunteer(volunteer.clone()),
        }
    }

    /// Every row (or set of rows) the write reads or changes: its target, and for a concern's
    /// report also the concerns of its case, which a move of the case changes together.
    fn rows(&self) -> Vec<Target> {
        match self {
            ViewWrite::ConcernReported { concern, case, .. } => {
                vec![Target::Concern(concern.clone()), Target::CaseConcerns(case.clone())]
            }
            other => vec![other.target()],
        }
    }

    fn set_version(&mut self, to: i64) {
        use ViewWrite::*;
        match self {
            CaseOpened { version, .. }
            | CaseReferred { version, .. }
            | CaseState { version, .. }
            | CaseVersion { version, .. }
            | CaseMoved { version, .. }
            | VolunteerRegistered { version, .. }
            | VolunteerStatus { version, .. }
            | VolunteerAssignments { version, .. }
            | VolunteerVersion { version, .. } => *version = to,
            ConcernReported { .. } | ConcernAcknowledged { .. } | ConcernsMoved { .. } => {}
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

/// Orders a batch's writes (as [`coalesce`] leaves them) into rounds that can each run as a few
/// multi-row statements: within a round no two writes touch the same row — but for a move of a
/// case's concerns beside the receipt of one of them, which set different columns — so they
/// commute, and two writes that touch the same row are in rounds in their order. A concern's
/// report counts as touching its case's concerns, so it stays before a move of them.
#[must_use]
pub fn rounds(writes: Vec<ViewWrite>) -> Vec<Vec<ViewWrite>> {
    let mut out: Vec<Vec<ViewWrite>> = Vec::new();
    // For each row, the first round after its latest write.
    let mut free_from: std::collections::HashMap<Target, usize> = std::collections::HashMap::new();
    for w in writes {
        let rows = w.rows();
        let round = rows.iter().map(|r| free_from.get(r).copied().unwrap_or(0)).max().unwrap_or(0);
        for r in rows {
            free_from.insert(r, round + 1);
        }
        if out.len() <= round {
            out.resize_with(round + 1, Vec::new);
        }
        out[round].push(w);
    }
    out
}

/// The view writes of one case event at `version` of case `case`.
#[must_use]
pub fn case_writes(case: &str, version: i64, event: &CaseEvent) -> Vec<ViewWrite> {
    let case = case.to_owned();
    let mut writes = vec![match event {
        CaseEvent::CaseOpened { municipality, young_person, at, .. } => ViewWrite::CaseOpened {
            case: case.clone(),
            municipality: municipality.clone(),
            young_person: young_person.id.to_string(),
            at: *at,
            version,
        },
        CaseEvent::ReferralSubmitted { ngo, programme, at, .. } => ViewWrite::CaseReferred {
            case: case.clone(),
            ngo: ngo.clone(),
            programme: programme.clone(),
            at: *at,
            version,
        },
        other => match other.state_after() {
            Some(state) => ViewWrite::CaseState { case: case.clone(), state, at: other.at(), version },
            None => ViewWrite::CaseVersion { case: case.clone(), version },
        },
    }];
    match event {
        CaseEvent::ConcernReported { concern, reported_to } => writes.push(ViewWrite::ConcernReported {
            concern: concern.id.to_string(),
            case,
            reporter_org: concern.reporter_org.clone(),
            reported_to: reported_to.clone(),
            reported_at: concern.reported_at,
            assessment_due: concern.assessment_due,
            receipt_due: concern.receipt_due,
        }),
        CaseEvent::ConcernAcknowledged { concern, receipt } => {
            writes.push(ViewWrite::ConcernAcknowledged { concern: concern.to_string(), at: receipt.at });
        }
        CaseEvent::CaseMoved { to, at, .. } => {
            writes[0] = ViewWrite::CaseMoved { case: case.clone(), to: to.clone(), at: *at, version };
            writes.push(ViewWrite::ConcernsMoved { case, to: to.clone() });
        }
        _ => {}
    }
    writes
}

/// The view write of one volunteer event at `version` of volunteer `volunteer`.
#[must_use]
pub fn volunteer_write(volunteer: &str, version: i64, event: &VolunteerEvent) -> ViewWrite {
    let volunteer = volunteer.to_owned();
    let status = |status| ViewWrite::VolunteerStatus { volunteer: volunteer.clone(), status, version };
    match event {
        VolunteerEvent::VolunteerRegistered { ngo, profile, .. } => {
            ViewWrite::VolunteerRegistered { volunteer, ngo: ngo.clone(), capacity: profile.capacity, version }
        }
        VolunteerEvent::VolunteerPaused { .. } => status(VolunteerStatus::Paused),
        VolunteerEvent::VolunteerResumed { .. } => status(VolunteerStatus::Active),
        VolunteerEvent::VolunteerRetired { .. } => status(VolunteerStatus::Retired),
        VolunteerEvent::VolunteerAssigned { .. } => ViewWrite::VolunteerAssignments { volunteer, delta: 1, version },
        VolunteerEvent::VolunteerReleased { .. } => ViewWrite::VolunteerAssignments { volunteer, delta: -1, version },
        VolunteerEvent::VolunteerVetted { .. }
        | VolunteerEvent::VolunteerSharingChanged { .. }
        | VolunteerEvent::VolunteerSessionRecorded { .. }
        | VolunteerEvent::VolunteerReferenceChecked { .. } => ViewWrite::VolunteerVersion { volunteer, version },
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
    fn rounds_keep_each_rows_writes_in_order_and_never_touch_a_row_twice() {
        let state =
            |c: &str, v| ViewWrite::CaseState { case: c.into(), state: CaseState::InCourse, at: at(2), version: v };
        let referred = |c: &str, v| ViewWrite::CaseReferred {
            case: c.into(),
            ngo: org("ngo:kfum"),
            programme: "p".into(),
            at: at(1),
            version: v,
        };
        let reported = |concern: &str, case: &str| ViewWrite::ConcernReported {
            concern: concern.into(),
            case: case.into(),
            reporter_org: org("ngo:kfum"),
            reported_to: org("municipality:0746"),
            reported_at: at(3),
            assessment_due: at(4),
            receipt_due: at(5).date_naive(),
        };
        let moved = |case: &str| ViewWrite::ConcernsMoved { case: case.into(), to: org("municipality:0101") };
        let acknowledged = |concern: &str| ViewWrite::ConcernAcknowledged { concern: concern.into(), at: at(6) };
        let writes = vec![
            referred("a", 2),
            referred("b", 2),
            state("a", 3),
            reported("c1", "a"),
            moved("a"),
            acknowledged("c1"),
            reported("c2", "b"),
            state("b", 4),
            acknowledged("c2"),
        ];
        assert_eq!(
            rounds(writes),
            vec![
                vec![referred("a", 2), referred("b", 2), reported("c1", "a"), reported("c2", "b")],
                // The move of a's concerns waits for the report of c1, a concern of a.
                vec![state("a", 3), moved("a"), acknowledged("c1"), state("b", 4), acknowledged("c2")],
            ]
        );
        // A move before a report of the same case stays before it.
        assert_eq!(rounds(vec![moved("a"), reported("c3", "a")]), vec![vec![moved("a")], vec![reported("c3", "a")]]);
        assert!(rounds(vec![]).is_empty());
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
