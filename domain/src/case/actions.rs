//! What may be asked of a case.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::Personal;
use crate::agreement::Agreement;
use crate::calendar::WorkCalendar;
use crate::ids::{CaseId, ConcernId, ConsentId, DisclosureId, ItemId, MeetingId, Org, PersonId};
use crate::vocab::{Actor, Category, Checkpoint, Ground, MeasurePoint, Participant, Purpose, WithdrawnBy};
use crate::volunteer::VolunteerFacts;

use super::*;

/// What may be asked of a case.
#[derive(Clone, Debug, PartialEq)]
pub enum CaseAction {
    /// Open the case (caseworker of the municipality); a re-referral names the earlier case
    /// of the same young person, as the application found it.
    Open { case: CaseId, young_person: YoungPerson, custody_holders: Vec<CustodyHolder>, earlier: Option<Box<Case>> },
    /// Register a custody holder, or a guardian where the young person has none (caseworker).
    AddCustodyHolder { holder: CustodyHolder },
    /// A custody holder or guardian no longer holds custody (caseworker); `reason` names the
    /// legal change.
    RemoveCustodyHolder { holder: PersonId, reason: String },
    /// Record an information item owned by the actor's organisation.
    AddItem { item: ItemId, category: Category, content: Personal<String> },
    /// Record the grantors' consent.
    GiveConsent {
        consent: ConsentId,
        grantors: BTreeSet<PersonId>,
        recipients: BTreeSet<Recipient>,
        categories: BTreeSet<Category>,
        purposes: BTreeSet<Purpose>,
        valid_from: NaiveDate,
        valid_until: NaiveDate,
        evidence: Personal<String>,
    },
    /// Revoke a consent from now on.
    RevokeConsent { consent: ConsentId, reason: Personal<String> },
    /// Checkpoint 1: refer under `agreement`, disclosing `items`.
    SubmitReferral { agreement: Box<Agreement>, items: Vec<ItemId>, note: Personal<String>, disclosure: DisclosureId },
    /// Accept the referral.
    AcceptReferral,
    /// Decline the referral.
    DeclineReferral { reason: Personal<String> },
    /// Checkpoint 2: the pre-meeting, with the young person's wishes and disclosures both ways.
    HoldPreMeeting {
        agreement: Box<Agreement>,
        held_on: NaiveDate,
        /// The planned meeting this is, if it was planned.
        meeting: Option<MeetingId>,
        participants: BTreeSet<Participant>,
        absent: Vec<Absence>,
        wishes: Option<(ItemId, Personal<String>)>,
        disclosures: Vec<DisclosureRequest>,
    },
    /// Match a volunteer; the application looked up the facts.
    MatchVolunteer { volunteer: VolunteerFacts, on: NaiveDate },
    /// End the current match.
    EndMatch { reason: Personal<String> },
    /// Log an activity of the course.
    LogActivity { on: NaiveDate, kind: String, note: Personal<String>, on_track: Option<bool> },
    /// Plan a meeting (either party).
    PlanMeeting { meeting: MeetingId, checkpoint: Checkpoint, on: NaiveDate, invited: BTreeSet<Participant> },
    /// Move a planned meeting to another day (either party).
    MoveMeeting { meeting: MeetingId, to: NaiveDate, reason: Personal<String> },
    /// Record that a planned meeting did not take place (either party).
    RecordMissedMeeting { meeting: MeetingId, reason: Personal<String> },
    /// Disclose the actor's own items to the other party at a meeting that was held (each
    /// party discloses its own, under its own user).
    Disclose { checkpoint: Checkpoint, items: Vec<ItemId>, disclosure: DisclosureId, agreement: Box<Agreement> },
    /// Record a measure taken at a point of the course, as an item of the actor's organisation.
    RecordMeasure { item: ItemId, instrument: String, point: MeasurePoint, on: NaiveDate, value: f64 },
    /// Report a concern (NGO side).
    ReportConcern {
        concern: ConcernId,
        grounds: BTreeSet<Ground>,
        text: Personal<String>,
        observed_on: NaiveDate,
        reporter: Reporter,
        /// The reporting volunteer as the application found them, for a report from a volunteer.
        volunteer: Option<VolunteerFacts>,
        agreement: Box<Agreement>,
        calendar: WorkCalendar,
    },
    /// Acknowledge a concern (municipality).
    AcknowledgeConcern { concern: ConcernId, investigation_started: bool },
    /// Checkpoint 3: the closing meeting, with disclosures both ways and outcomes; closes.
    /// Each outcome becomes an NGO `outcome` item with the given id; the outcomes an `outcome`
    /// flow and a consent allow are disclosed to the municipality as `outcome_disclosure`.
    HoldClosingMeeting {
        agreement: Box<Agreement>,
        held_on: NaiveDate,
        /// The planned meeting this is, if it was planned.
        meeting: Option<MeetingId>,
        participants: BTreeSet<Participant>,
        absent: Vec<Absence>,
        disclosures: Vec<DisclosureRequest>,
        outcomes: Vec<(ItemId, Outcome)>,
        outcome_disclosure: DisclosureId,
    },
    /// The young person or family stops.
    Withdraw { by_whom: WithdrawnBy, reason: Personal<String> },
    /// Redirect to municipal support.
    Redirect { reason: Personal<String> },
    /// Erase the subject's personal data (the municipality; GDPR art. 17). `retention_days`:
    /// how long the municipality must keep the record after the case ended.
    EraseSubject { reason: String, retention_days: u32 },
    /// Record what the young person wishes and can do, tagged for matching (the NGO's
    /// coordinator); tags from the programme's list in `agreement`.
    RecordNeeds { needs: Needs, agreement: Box<Agreement> },
    /// The family moved to municipality `to` on `on` (the municipality's caseworker): `items`
    /// are the caseworker's own items that pass as necessary case material; a course with an
    /// NGO goes on under `agreement`, the new municipality's agreement with that NGO for the
    /// programme.
    Move { to: Org, on: NaiveDate, items: Vec<ItemId>, agreement: Option<Box<Agreement>> },
}

impl CaseAction {
    /// A short name of the action, for errors, metrics and spans.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open { .. } => "open",
            Self::AddItem { .. } => "add_item",
            Self::AddCustodyHolder { .. } => "add_custody_holder",
            Self::RemoveCustodyHolder { .. } => "remove_custody_holder",
            Self::GiveConsent { .. } => "give_consent",
            Self::RevokeConsent { .. } => "revoke_consent",
            Self::SubmitReferral { .. } => "refer",
            Self::AcceptReferral => "accept",
            Self::DeclineReferral { .. } => "decline",
            Self::HoldPreMeeting { .. } => "hold_pre_meeting",
            Self::MatchVolunteer { .. } => "match",
            Self::EndMatch { .. } => "end_match",
            Self::LogActivity { .. } => "log_activity",
            Self::PlanMeeting { .. } => "plan_meeting",
            Self::MoveMeeting { .. } => "move_meeting",
            Self::RecordMissedMeeting { .. } => "record_missed_meeting",
            Self::Disclose { .. } => "disclose",
            Self::RecordMeasure { .. } => "record_measure",
            Self::ReportConcern { .. } => "report_concern",
            Self::AcknowledgeConcern { .. } => "acknowledge_concern",
            Self::HoldClosingMeeting { .. } => "hold_closing_meeting",
            Self::Withdraw { .. } => "withdraw",
            Self::Redirect { .. } => "redirect",
            Self::EraseSubject { .. } => "erase",
            Self::Move { .. } => "move",
            Self::RecordNeeds { .. } => "record_needs",
        }
    }
}

/// A command to a case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseCommand {
    /// Who acts, and when.
    pub actor: Actor,
    /// What is asked.
    pub action: CaseAction,
}
