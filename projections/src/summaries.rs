//! What each event changes in the list views (caseloads, volunteer lists, concern lists).
//!
//! The list tables hold no personal data: ids, organisations, states, dates. Lists that show a
//! name load the aggregate and pass it through the policy, like a detail read.

use brobyg_domain::case::CaseEvent;
use brobyg_domain::volunteer::{VolunteerEvent, VolunteerStatus};
use brobyg_domain::{CaseState, ConcernId, Org};
use chrono::{DateTime, NaiveDate, Utc};

/// A change to one row of the case summaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseSummaryChange {
    /// A new case row.
    Opened { municipality: Org, young_person: brobyg_domain::PersonId, at: DateTime<Utc> },
    /// The case was referred to `ngo`'s `programme`.
    Referred { ngo: Org, programme: String, at: DateTime<Utc> },
    /// The state changed.
    State { state: CaseState, at: DateTime<Utc> },
    /// Nothing listed changed (only the version moves).
    Touched,
}

/// The summary change an event makes.
#[must_use]
pub fn case_summary_change(event: &CaseEvent) -> CaseSummaryChange {
    use CaseSummaryChange::{Opened, Referred, State, Touched};
    match event {
        CaseEvent::CaseOpened { municipality, young_person, at, .. } => {
            Opened { municipality: municipality.clone(), young_person: young_person.id, at: *at }
        }
        CaseEvent::ReferralSubmitted { ngo, programme, at, .. } => {
            Referred { ngo: ngo.clone(), programme: programme.clone(), at: *at }
        }
        CaseEvent::ReferralAccepted { at, .. } => State { state: CaseState::Accepted, at: *at },
        CaseEvent::ReferralDeclined { at, .. } => State { state: CaseState::Declined, at: *at },
        CaseEvent::PreMeetingHeld { at, .. } => State { state: CaseState::AwaitingMatch, at: *at },
        CaseEvent::VolunteerMatched { at, .. } => State { state: CaseState::InCourse, at: *at },
        CaseEvent::MatchEnded { at, .. } => State { state: CaseState::AwaitingMatch, at: *at },
        CaseEvent::ClosingMeetingHeld { at, .. } => State { state: CaseState::Closed, at: *at },
        CaseEvent::CaseWithdrawn { at, .. } => State { state: CaseState::Withdrawn, at: *at },
        CaseEvent::CaseRedirected { at, .. } => State { state: CaseState::Redirected, at: *at },
        CaseEvent::ItemAdded { .. }
        | CaseEvent::ConsentGiven { .. }
        | CaseEvent::ConsentRevoked { .. }
        | CaseEvent::InformationDisclosed { .. }
        | CaseEvent::ActivityLogged { .. }
        | CaseEvent::ConcernReported { .. }
        | CaseEvent::ConcernAcknowledged { .. }
        | CaseEvent::PersonalDataErased { .. } => Touched,
    }
}

/// A change to the concern list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConcernChange {
    /// A concern was reported.
    Reported {
        concern: ConcernId,
        reporter_org: Org,
        reported_to: Org,
        reported_at: DateTime<Utc>,
        assessment_due: DateTime<Utc>,
        receipt_due: NaiveDate,
    },
    /// It was acknowledged.
    Acknowledged { concern: ConcernId, at: DateTime<Utc> },
}

/// The concern-list change an event makes, if any.
#[must_use]
pub fn concern_change(event: &CaseEvent) -> Option<ConcernChange> {
    match event {
        CaseEvent::ConcernReported { concern, reported_to } => Some(ConcernChange::Reported {
            concern: concern.id,
            reporter_org: concern.reporter_org.clone(),
            reported_to: reported_to.clone(),
            reported_at: concern.reported_at,
            assessment_due: concern.assessment_due,
            receipt_due: concern.receipt_due,
        }),
        CaseEvent::ConcernAcknowledged { concern, receipt } => {
            Some(ConcernChange::Acknowledged { concern: *concern, at: receipt.at })
        }
        _ => None,
    }
}

/// A change to the volunteer list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolunteerChange {
    /// Registered with `ngo`.
    Registered { ngo: Org, capacity: u32 },
    /// Status changed.
    Status(VolunteerStatus),
    /// Assignments changed by `delta` (+1 or -1).
    Assignments(i32),
    /// Nothing listed changed.
    Touched,
}

/// The volunteer-list change an event makes.
#[must_use]
pub fn volunteer_change(event: &VolunteerEvent) -> VolunteerChange {
    match event {
        VolunteerEvent::VolunteerRegistered { ngo, profile, .. } => {
            VolunteerChange::Registered { ngo: ngo.clone(), capacity: profile.capacity }
        }
        VolunteerEvent::VolunteerPaused { .. } => VolunteerChange::Status(VolunteerStatus::Paused),
        VolunteerEvent::VolunteerResumed { .. } => VolunteerChange::Status(VolunteerStatus::Active),
        VolunteerEvent::VolunteerRetired { .. } => VolunteerChange::Status(VolunteerStatus::Retired),
        VolunteerEvent::VolunteerAssigned { .. } => VolunteerChange::Assignments(1),
        VolunteerEvent::VolunteerReleased { .. } => VolunteerChange::Assignments(-1),
        VolunteerEvent::VolunteerVetted { .. } => VolunteerChange::Touched,
    }
}
