//! What happens in a case: the events, stable snake_case names (`docs/events.md`).

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Personal;
use crate::ids::{AgreementId, CaseId, ConcernId, ConsentId, MeetingId, Org, PersonId, UserId, VolunteerId};
use crate::vocab::{CaseState, Checkpoint, Participant, WithdrawnBy};

use super::*;

/// What happened in a case. Serialised with stable snake_case names; see `docs/events.md`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseEvent {
    /// The caseworker opened the case.
    CaseOpened {
        case: CaseId,
        municipality: Org,
        young_person: YoungPerson,
        custody_holders: Vec<CustodyHolder>,
        /// The earlier case of the same young person, for a re-referral (same person ids).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        earlier_case: Option<CaseId>,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// A custody holder (or, where there is none, a guardian) was registered.
    CustodyHolderAdded { holder: CustodyHolder, by: UserId, at: DateTime<Utc> },
    /// A custody holder or guardian no longer holds custody; `reason` names the legal change
    /// (never a person's details).
    CustodyHolderRemoved { holder: PersonId, reason: String, by: UserId, at: DateTime<Utc> },
    /// An information item was recorded by its owner.
    ItemAdded { item: Item },
    /// Consent was given.
    ConsentGiven { consent: Consent },
    /// Consent was revoked, from `at` on.
    ConsentRevoked { consent: ConsentId, reason: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// Checkpoint 1: the case was referred to an NGO programme.
    ReferralSubmitted {
        agreement: AgreementId,
        agreement_version: u32,
        ngo: Org,
        programme: String,
        note: Personal<String>,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// Items of one party became visible to the other, at a checkpoint, under a basis.
    InformationDisclosed { disclosure: Disclosure, by: UserId },
    /// The NGO accepted the referral.
    ReferralAccepted { by: UserId, at: DateTime<Utc> },
    /// The NGO declined the referral.
    ReferralDeclined { reason: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// Checkpoint 2: the pre-meeting was held.
    PreMeetingHeld {
        held_on: NaiveDate,
        /// Who was there.
        participants: BTreeSet<Participant>,
        /// Who should have been there and was not, with the reason (absent on older events).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        absent: Vec<Absence>,
        /// The planned meeting it was, if it was planned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meeting: Option<MeetingId>,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// A meeting was planned for a day, with the parties invited.
    MeetingPlanned {
        meeting: MeetingId,
        checkpoint: Checkpoint,
        on: NaiveDate,
        invited: BTreeSet<Participant>,
        /// The organisation that planned it.
        org: Org,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// A planned meeting was moved to another day.
    MeetingMoved {
        meeting: MeetingId,
        to: NaiveDate,
        /// Why (owned by `org`).
        reason: Personal<String>,
        /// The organisation that moved it.
        org: Org,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// A planned meeting did not take place.
    MeetingMissed {
        meeting: MeetingId,
        /// Why (owned by `org`).
        reason: Personal<String>,
        /// The organisation that recorded it.
        org: Org,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// A vetted volunteer was matched.
    VolunteerMatched { volunteer: VolunteerId, on: NaiveDate, by: UserId, at: DateTime<Utc> },
    /// The match ended; the case awaits a new one.
    MatchEnded { volunteer: VolunteerId, reason: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// The NGO logged an activity of the course.
    ActivityLogged {
        on: NaiveDate,
        kind: String,
        note: Personal<String>,
        /// Whether the course is on track, as the coordinator judges it (absent on older events).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_track: Option<bool>,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// The coordinator recorded what the young person wishes and can do, tagged for matching
    /// (the NGO's record).
    NeedsRecorded { needs: Personal<Needs>, by: UserId, at: DateTime<Utc> },
    /// A concern was reported; by the reporting duty it reaches the municipality at once.
    ConcernReported { concern: Concern, reported_to: Org },
    /// The municipality acknowledged a concern.
    ConcernAcknowledged { concern: ConcernId, receipt: Receipt },
    /// Checkpoint 3: the closing meeting was held; the case is closed.
    ClosingMeetingHeld {
        held_on: NaiveDate,
        /// Who was there.
        participants: BTreeSet<Participant>,
        /// Who should have been there and was not, with the reason (absent on older events).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        absent: Vec<Absence>,
        /// The planned meeting it was, if it was planned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meeting: Option<MeetingId>,
        /// Only on events recorded before outcomes became the NGO's `outcome` items (preceding
        /// `item_added` events of the same commit).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        outcomes: Vec<Outcome>,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// The young person or family stopped the course (participation is voluntary).
    CaseWithdrawn { by_whom: WithdrawnBy, reason: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// The caseworker redirected the young person to municipal support.
    CaseRedirected { reason: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// The subject's personal data was erased (crypto-shredding follows this event): the
    /// history stays, every personal value reads as erased. `reason` names the legal ground,
    /// never a person.
    PersonalDataErased { reason: String, by: UserId, at: DateTime<Utc> },
    /// The family moved: the case passes from municipality `from` to `to` (the relocation duty,
    /// servicelovens § 152 as carried into barnets lov: the old municipality informs the new one
    /// and sends the necessary case material). `to` becomes the party; `from` keeps only its own
    /// records, read-only. The event carries `to`'s own copies of what passes (the young
    /// person, the custody holders, the items `from` chose, every concern), sealed under `to`'s
    /// key; a course with an NGO goes on under `to`'s agreement with that NGO.
    CaseMoved {
        /// The municipality the case leaves.
        from: Org,
        /// The municipality the case moves to.
        to: Org,
        /// The day the family moved (folkeregister).
        on: NaiveDate,
        /// The new municipality's copy of the young person.
        young_person: YoungPerson,
        /// The new municipality's copy of the custody holders.
        custody_holders: Vec<CustodyHolder>,
        /// The old municipality's items that pass, as the new municipality's copies.
        items: Vec<DisclosedItem>,
        /// Every concern of the case, as the new municipality's copies (the reporting duty's
        /// record follows the child).
        concerns: Vec<Concern>,
        /// The new municipality's agreement with the case's NGO, for a course with one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agreement: Option<AgreementId>,
        /// Its version in force.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agreement_version: Option<u32>,
        by: UserId,
        at: DateTime<Utc>,
    },
}

impl crate::personal::KeyHolder for CaseEvent {
    /// A disclosure's copies belong to the recipient; a concern report to the municipality it
    /// reached.
    fn key_holder(&self) -> Option<&Org> {
        match self {
            Self::InformationDisclosed { disclosure, .. } => Some(&disclosure.to),
            Self::ConcernReported { reported_to, .. } => Some(reported_to),
            Self::CaseMoved { to, .. } => Some(to),
            _ => None,
        }
    }
}

impl CaseEvent {
    /// The state the case is in after this event, when the event moves it: the one statement
    /// of the journey's state machine (`Case::apply` and the list views both use it).
    #[must_use]
    pub fn state_after(&self) -> Option<CaseState> {
        Some(match self {
            Self::CaseOpened { .. } => CaseState::Opened,
            Self::ReferralSubmitted { .. } => CaseState::Referred,
            Self::ReferralAccepted { .. } => CaseState::Accepted,
            Self::ReferralDeclined { .. } => CaseState::Declined,
            Self::PreMeetingHeld { .. } | Self::MatchEnded { .. } => CaseState::AwaitingMatch,
            Self::VolunteerMatched { .. } => CaseState::InCourse,
            Self::ClosingMeetingHeld { .. } => CaseState::Closed,
            Self::CaseWithdrawn { .. } => CaseState::Withdrawn,
            Self::CaseRedirected { .. } => CaseState::Redirected,
            Self::ItemAdded { .. }
            | Self::ConsentGiven { .. }
            | Self::ConsentRevoked { .. }
            | Self::InformationDisclosed { .. }
            | Self::ActivityLogged { .. }
            | Self::NeedsRecorded { .. }
            | Self::MeetingPlanned { .. }
            | Self::MeetingMoved { .. }
            | Self::MeetingMissed { .. }
            | Self::CustodyHolderAdded { .. }
            | Self::CustodyHolderRemoved { .. }
            | Self::ConcernReported { .. }
            | Self::ConcernAcknowledged { .. }
            | Self::CaseMoved { .. }
            | Self::PersonalDataErased { .. } => return None,
        })
    }

    /// When the event happened (the command's time).
    #[must_use]
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::CaseOpened { at, .. }
            | Self::ConsentRevoked { at, .. }
            | Self::ReferralSubmitted { at, .. }
            | Self::ReferralAccepted { at, .. }
            | Self::ReferralDeclined { at, .. }
            | Self::PreMeetingHeld { at, .. }
            | Self::VolunteerMatched { at, .. }
            | Self::MatchEnded { at, .. }
            | Self::ActivityLogged { at, .. }
            | Self::NeedsRecorded { at, .. }
            | Self::MeetingPlanned { at, .. }
            | Self::CustodyHolderAdded { at, .. }
            | Self::CustodyHolderRemoved { at, .. }
            | Self::MeetingMoved { at, .. }
            | Self::MeetingMissed { at, .. }
            | Self::ClosingMeetingHeld { at, .. }
            | Self::CaseWithdrawn { at, .. }
            | Self::CaseRedirected { at, .. }
            | Self::CaseMoved { at, .. }
            | Self::PersonalDataErased { at, .. } => *at,
            Self::ItemAdded { item } => item.added_at,
            Self::ConsentGiven { consent } => consent.given_at,
            Self::InformationDisclosed { disclosure, .. } => disclosure.at,
            Self::ConcernReported { concern, .. } => concern.reported_at,
            Self::ConcernAcknowledged { receipt, .. } => receipt.at,
        }
    }

    /// Who caused the event.
    #[must_use]
    pub fn by(&self) -> &UserId {
        match self {
            Self::CaseOpened { by, .. }
            | Self::ConsentRevoked { by, .. }
            | Self::ReferralSubmitted { by, .. }
            | Self::InformationDisclosed { by, .. }
            | Self::ReferralAccepted { by, .. }
            | Self::ReferralDeclined { by, .. }
            | Self::PreMeetingHeld { by, .. }
            | Self::VolunteerMatched { by, .. }
            | Self::MatchEnded { by, .. }
            | Self::ActivityLogged { by, .. }
            | Self::NeedsRecorded { by, .. }
            | Self::MeetingPlanned { by, .. }
            | Self::CustodyHolderAdded { by, .. }
            | Self::CustodyHolderRemoved { by, .. }
            | Self::MeetingMoved { by, .. }
            | Self::MeetingMissed { by, .. }
            | Self::ClosingMeetingHeld { by, .. }
            | Self::CaseWithdrawn { by, .. }
            | Self::CaseRedirected { by, .. }
            | Self::CaseMoved { by, .. }
            | Self::PersonalDataErased { by, .. } => by,
            Self::ItemAdded { item } => &item.author,
            Self::ConsentGiven { consent } => &consent.recorded_by,
            Self::ConcernReported { concern, .. } => &concern.reported_by,
            Self::ConcernAcknowledged { receipt, .. } => &receipt.by,
        }
    }

    /// The stable wire name of the event (`event_type` in the store, CloudEvents `type` suffix).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::CaseOpened { .. } => "case_opened",
            Self::ItemAdded { .. } => "item_added",
            Self::ConsentGiven { .. } => "consent_given",
            Self::ConsentRevoked { .. } => "consent_revoked",
            Self::ReferralSubmitted { .. } => "referral_submitted",
            Self::InformationDisclosed { .. } => "information_disclosed",
            Self::ReferralAccepted { .. } => "referral_accepted",
            Self::ReferralDeclined { .. } => "referral_declined",
            Self::PreMeetingHeld { .. } => "pre_meeting_held",
            Self::VolunteerMatched { .. } => "volunteer_matched",
            Self::MatchEnded { .. } => "match_ended",
            Self::ActivityLogged { .. } => "activity_logged",
            Self::NeedsRecorded { .. } => "needs_recorded",
            Self::MeetingPlanned { .. } => "meeting_planned",
            Self::CustodyHolderAdded { .. } => "custody_holder_added",
            Self::CustodyHolderRemoved { .. } => "custody_holder_removed",
            Self::MeetingMoved { .. } => "meeting_moved",
            Self::MeetingMissed { .. } => "meeting_missed",
            Self::ConcernReported { .. } => "concern_reported",
            Self::ConcernAcknowledged { .. } => "concern_acknowledged",
            Self::ClosingMeetingHeld { .. } => "closing_meeting_held",
            Self::CaseWithdrawn { .. } => "case_withdrawn",
            Self::CaseMoved { .. } => "case_moved",
            Self::CaseRedirected { .. } => "case_redirected",
            Self::PersonalDataErased { .. } => "personal_data_erased",
        }
    }
}
