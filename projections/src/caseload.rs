//! A caseload row as its reader may see it: who the case is about (the owning municipality sees
//! the young person's name; the NGO the first name and age once an identity item reached it
//! under a basis that holds), the next deadline, and what the case waits for. The same rule as
//! every read ([`crate::policy`]).

use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::{Case, MeetingStatus, age_on};
use brobyg_domain::{CaseState, Checkpoint, Side};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::case_view::shown;
use crate::policy::{Access, Reader, access, first_name_visible};

/// What the next deadline is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The municipality's receipt of a concern (end of that working day; the 24-hour
    /// assessment ends the day after the report at the latest).
    ConcernReceipt,
    /// A planned meeting.
    Meeting,
}

/// The next deadline of a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deadline {
    /// The day.
    pub on: NaiveDate,
    /// What falls due.
    pub kind: DeadlineKind,
}

/// A caseload row's view of one case.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CaseloadRow {
    /// The name the reader may see: the municipality the full name, the NGO the first name
    /// once disclosed; `None` otherwise.
    pub name: Option<String>,
    /// The young person's age today, where the reader may see the name.
    pub age: Option<u32>,
    /// The next deadline the reader works to.
    pub deadline: Option<Deadline>,
    /// What the case waits for next, from the reader's side.
    pub waits_for: Option<&'static str>,
}

/// The caseload row of `case` for `reader` at `now`; `None` if the reader is not a party.
#[must_use]
pub fn caseload_row(case: &Case, reader: &Reader, now: DateTime<Utc>) -> Option<CaseloadRow> {
    let side = match access(case, reader) {
        Access::Party(side) | Access::Auditor(side) => side,
        // A case that moved away is no longer on the caseload.
        Access::Former { .. } | Access::Brief | Access::None => return None,
    };
    let person = case.young_person.as_ref()?;
    let state = case.state?;
    let today = copenhagen_date(now);
    let name = match side {
        Side::Municipality => {
            let (first, last) = (shown(&person.first_name), shown(&person.last_name));
            Some(if person.first_name.is_known() { format!("{first} {last}") } else { first })
        }
        Side::Ngo => first_name_visible(case, reader, now).then(|| shown(&person.first_name)),
    };
    let age = name.as_ref().and(person.birth_date.known()).map(|b| age_on(*b, today));
    // A concern without a receipt binds the municipality; the reporter follows it too.
    let concern = case
        .concerns
        .values()
        .filter(|c| c.receipt.is_none() && (side == Side::Municipality || c.reporter_org == reader.org))
        .map(|c| c.receipt_due.min(copenhagen_date(c.assessment_due)))
        .min()
        .map(|on| Deadline { on, kind: DeadlineKind::ConcernReceipt });
    let meeting = (!state.is_final())
        .then(|| case.meetings.iter().filter(|m| m.status == MeetingStatus::Planned).map(|m| m.on).min())
        .flatten()
        .map(|on| Deadline { on, kind: DeadlineKind::Meeting });
    let deadline = [concern, meeting].into_iter().flatten().min_by_key(|d| (d.on, d.kind));
    let open_concern = side == Side::Municipality && case.concerns.values().any(|c| c.receipt.is_none());
    let waits_for = if open_concern {
        Some("concern_receipt")
    } else {
        match state {
            CaseState::Opened => Some("referral"),
            CaseState::Referred => Some("ngo_decision"),
            CaseState::Accepted => Some("pre_meeting"),
            CaseState::AwaitingMatch => Some("match"),
            CaseState::InCourse if case.held_on(Checkpoint::ClosingMeeting).is_none() => Some("closing_meeting"),
            _ => None,
        }
    };
    Some(CaseloadRow { name, age, deadline, waits_for })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brobyg_domain::case::{CaseEvent, Concern, CustodyHolder, YoungPerson};
    use brobyg_domain::{CaseId, ConcernId, Duty, Org, PersonId, Personal, Role, UserId};

    fn muni() -> Org {
        "municipality:0746".parse().expect("org")
    }

    fn opened() -> Case {
        let mut case = Case::default();
        case.apply(&CaseEvent::CaseOpened {
            earlier_case: None,
            case: CaseId::new(),
            municipality: muni(),
            young_person: YoungPerson {
                id: PersonId::new(),
                first_name: Personal::new("Mikkel".into()),
                last_name: Personal::new("Jensen".into()),
                birth_date: Personal::new("2012-03-14".parse().expect("date")),
            },
            custody_holders: vec![CustodyHolder {
                id: PersonId::new(),
                name: Personal::new("Anne".into()),
                guardian: false,
            }],
            by: UserId("cw".into()),
            at: "2026-11-10T09:00:00Z".parse().expect("time"),
        });
        case
    }

    #[test]
    fn the_municipality_sees_the_name_what_the_case_waits_for_and_the_concern_deadline() {
        let now: DateTime<Utc> = "2026-11-12T09:00:00Z".parse().expect("time");
        let mut case = opened();
        let reader = Reader::staff(muni(), Role::Caseworker);
        let row = caseload_row(&case, &reader, now).expect("row");
        assert_eq!(row.name.as_deref(), Some("Mikkel Jensen"));
        assert_eq!(row.age, Some(14));
        assert_eq!(row.waits_for, Some("referral"));
        assert_eq!(row.deadline, None);
        case.concerns.insert(
            ConcernId::new(),
            Concern {
                id: ConcernId::new(),
                grounds: Default::default(),
                text: Personal::new("x".into()),
                observed_on: "2026-11-11".parse().expect("date"),
                reported_by: UserId("co".into()),
                reporter_org: "ngo:kfum-sa".parse().expect("org"),
                reporter: brobyg_domain::case::Reporter::Coordinator,
                duty: Duty::General,
                reported_at: now,
                assessment_due: now + chrono::TimeDelta::hours(24),
                receipt_due: "2026-11-20".parse().expect("date"),
                receipt: None,
            },
        );
        let row = caseload_row(&case, &reader, now).expect("row");
        assert_eq!(row.waits_for, Some("concern_receipt"));
        assert_eq!(
            row.deadline,
            Some(Deadline { on: "2026-11-13".parse().expect("date"), kind: DeadlineKind::ConcernReceipt })
        );
        // An organisation that is no party has no row.
        assert!(
            caseload_row(&case, &Reader::staff("ngo:kfum-sa".parse().expect("org"), Role::Coordinator), now).is_none()
        );
    }

    #[test]
    fn an_erased_name_reads_as_erased() {
        let mut case = opened();
        if let Some(p) = case.young_person.as_mut() {
            p.first_name = Personal::erased();
            p.last_name = Personal::erased();
            p.birth_date = Personal::erased();
        }
        let now: DateTime<Utc> = "2026-11-12T09:00:00Z".parse().expect("time");
        let row = caseload_row(&case, &Reader::staff(muni(), Role::Caseworker), now).expect("row");
        assert_eq!(row.name.as_deref(), Some("[erased]"));
        assert_eq!(row.age, None);
    }
}
