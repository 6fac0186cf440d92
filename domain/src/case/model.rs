//! The case as folded from its events, and the records it holds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::Personal;
use crate::calendar::copenhagen_date;
use crate::ids::{
    AgreementId, CaseId, ConcernId, ConsentId, DisclosureId, ItemId, MeetingId, Org, PersonId, UserId, VolunteerId,
};
use crate::vocab::{CaseState, Category, Checkpoint, Duty, Ground, MeasurePoint, Participant, Purpose, RecipientRole};

use super::*;

/// The young person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct YoungPerson {
    /// Person id, used as grantor id.
    pub id: PersonId,
    /// First name.
    pub first_name: Personal<String>,
    /// Last name.
    pub last_name: Personal<String>,
    /// Birth date.
    pub birth_date: Personal<NaiveDate>,
}

/// A custody holder (forældremyndighedsindehaver), or a guardian (værge) appointed where the
/// young person has none: either grants consent for a minor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyHolder {
    /// Person id, used as grantor id.
    pub id: PersonId,
    /// Full name.
    pub name: Personal<String>,
    /// A guardian rather than a custody holder.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guardian: bool,
}

/// One piece of case knowledge, owned by the organisation that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Id.
    pub id: ItemId,
    /// Category.
    pub category: Category,
    /// The owning organisation.
    pub owner: Org,
    /// Who recorded it.
    pub author: UserId,
    /// The content.
    pub content: Personal<String>,
    /// When it was recorded.
    pub added_at: DateTime<Utc>,
    /// The measurement the item records, for an `outcome` item: sealed and erasable like the
    /// content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<Personal<Measure>>,
    /// The score the item records, for a measure taken at a point of the course (a baseline, at
    /// closing, a follow-up): sealed and erasable like the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Personal<Score>>,
}

impl Item {
    /// An item `actor` records now for its own organisation, with no measurement.
    #[must_use]
    pub fn recorded(id: ItemId, category: Category, actor: &crate::vocab::Actor, content: Personal<String>) -> Self {
        Self {
            id,
            category,
            owner: actor.org.clone(),
            author: actor.user.clone(),
            content,
            added_at: actor.at,
            measure: None,
            score: None,
        }
    }
}

/// What the young person wishes and can do, as the coordinator tagged it for matching (at the
/// pre-meeting or after): the programme's interest tags, languages, the postcode area, and the
/// weekly times the young person can meet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Needs {
    /// Interest tags from the programme's list.
    pub tags: BTreeSet<String>,
    /// Languages as ISO 639-1 codes.
    pub languages: BTreeSet<String>,
    /// Postcode area (four digits).
    pub area: String,
    /// Weekly times the young person can meet.
    pub availability: Vec<crate::volunteer::Slot>,
}

/// One measure taken at one point: an instrument, when, and its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The instrument, e.g. `sdq_total` or `wellbeing_1_10`.
    pub instrument: String,
    /// Baseline, closing or follow-up.
    pub point: MeasurePoint,
    /// The day it was taken.
    pub on: NaiveDate,
    /// The value.
    pub value: f64,
}

// Values are checked finite when recorded, so equality is an equivalence.
impl Eq for Score {}

impl Score {
    /// The score as a line of text, e.g. `sdq_total (baseline, 2026-11-10): 19`.
    #[must_use]
    pub fn text(&self) -> String {
        format!("{} ({}, {}): {}", self.instrument, self.point, self.on, self.value)
    }
}

/// What an erased score reads as (`Personal` needs a value to stand in).
impl Default for Score {
    fn default() -> Self {
        Self { instrument: String::new(), point: MeasurePoint::Baseline, on: NaiveDate::default(), value: 0.0 }
    }
}

/// A measurement: an instrument and its scores before and after the course.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    /// The instrument, e.g. `sdq_total`.
    pub instrument: String,
    /// Score before the course.
    pub before: f64,
    /// Score after the course.
    pub after: f64,
}

// Scores are checked finite when recorded, so equality is an equivalence.
impl Eq for Measure {}

impl Measure {
    /// The measurement as a line of text, e.g. `sdq_total: 19 → 14`.
    #[must_use]
    pub fn text(&self) -> String {
        format!("{}: {} → {}", self.instrument, self.before, self.after)
    }
}

/// A recipient named by a consent.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Recipient {
    /// The receiving organisation.
    pub org: Org,
    /// The role there.
    pub role: RecipientRole,
}

/// A consent (samtykke), as given by its grantors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Id.
    pub id: ConsentId,
    /// Who gave it.
    pub grantors: BTreeSet<PersonId>,
    /// Who may receive.
    pub recipients: BTreeSet<Recipient>,
    /// What may be shared.
    pub categories: BTreeSet<Category>,
    /// For what.
    pub purposes: BTreeSet<Purpose>,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity.
    pub valid_until: NaiveDate,
    /// Where the signed consent is kept.
    pub evidence: Personal<String>,
    /// Who recorded it.
    pub recorded_by: UserId,
    /// When it was recorded.
    pub given_at: DateTime<Utc>,
    /// When it was revoked, if it was; effective from that moment, never before.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Consent {
    /// Whether the consent is in effect at `at`: within its validity (Danish dates) and not
    /// revoked at or before `at`.
    #[must_use]
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        let day = copenhagen_date(at);
        self.given_at <= at
            && self.valid_from <= day
            && day <= self.valid_until
            && self.revoked_at.is_none_or(|revoked| at < revoked)
    }

    /// Whether the consent names `recipient` for `category` and one of `purposes`; the purpose
    /// that matches first, if any.
    #[must_use]
    pub fn covers(&self, recipient: &Recipient, category: Category, purposes: &BTreeSet<Purpose>) -> Option<Purpose> {
        if !self.recipients.contains(recipient) || !self.categories.contains(&category) {
            return None;
        }
        self.purposes.intersection(purposes).next().copied()
    }
}

/// The legal basis of a disclosure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Basis {
    /// Consent `consent` for `purpose`; lapses when the consent is revoked or expires.
    Consent { consent: ConsentId, purpose: Purpose },
    /// The reporting duty (underretningspligt); never lapses.
    ReportingDuty { duty: Duty },
    /// The relocation duty: the municipality a family moves away from sends the new one the
    /// necessary case material (servicelovens § 152, carried into barnets lov); never lapses.
    Relocation,
}

/// One item of a disclosure, with its basis and the recipient's copy of its content.
///
/// The copy is the recipient's own record: the store seals it under the recipient's key, so
/// erasing the owner's data (say, the NGO's after its retention period) leaves what the other
/// party lawfully received, and erasing the recipient's leaves the owner's original.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosedItem {
    /// The item.
    pub item: ItemId,
    /// Its category, recorded for audit.
    pub category: Category,
    /// Why it may be shared.
    pub basis: Basis,
    /// The content as disclosed.
    #[serde(default)]
    pub content: Personal<String>,
    /// The agreement flow (its index in the terms of `agreement_version`) that allowed it, for
    /// a disclosure under consent; absent on disclosures recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<u32>,
    /// The recipient's copy of the item's measurement, if it records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<Personal<Measure>>,
    /// The recipient's copy of the item's score, if it records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Personal<Score>>,
}

/// A disclosure (videregivelse) at a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosure {
    /// Id.
    pub id: DisclosureId,
    /// Where.
    pub checkpoint: Checkpoint,
    /// The disclosing organisation (owner of the items).
    pub from: Org,
    /// The receiving organisation.
    pub to: Org,
    /// The items and their bases.
    pub items: Vec<DisclosedItem>,
    /// The agreement it was made under.
    pub agreement: AgreementId,
    /// The agreement version it was made under.
    pub agreement_version: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// Who reports a concern through the coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reporter {
    /// The coordinator themself.
    Coordinator,
    /// A volunteer, through the coordinator.
    Volunteer { volunteer: VolunteerId },
}

/// The municipality's receipt of a concern.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// When.
    pub at: DateTime<Utc>,
    /// Which caseworker.
    pub by: UserId,
    /// Whether an investigation or measures followed; the reporter is told this, never more.
    pub investigation_started: bool,
    /// Whether the receipt came within the deadline.
    pub on_time: bool,
}

/// A concern report (underretning).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concern {
    /// Id.
    pub id: ConcernId,
    /// Grounds (at least one).
    pub grounds: BTreeSet<Ground>,
    /// What was observed.
    pub text: Personal<String>,
    /// When it was observed.
    pub observed_on: NaiveDate,
    /// The coordinator who filed it.
    pub reported_by: UserId,
    /// The reporting organisation.
    pub reporter_org: Org,
    /// Who the report comes from.
    pub reporter: Reporter,
    /// The reporter's duty.
    pub duty: Duty,
    /// When it was filed.
    pub reported_at: DateTime<Utc>,
    /// The municipality is to assess it by then (24 hours).
    pub assessment_due: DateTime<Utc>,
    /// The municipality is to acknowledge it by the end of this day (6 working days).
    pub receipt_due: NaiveDate,
    /// The receipt, once given.
    pub receipt: Option<Receipt>,
}

impl Concern {
    /// Whether a receipt at `at` comes after a deadline: the 24-hour assessment or the
    /// receipt's working days. The one rule behind `on_time` and the overdue list.
    #[must_use]
    pub fn late_at(&self, at: DateTime<Utc>) -> bool {
        at > self.assessment_due || copenhagen_date(at) > self.receipt_due
    }

    /// Whether the concern is past a deadline without a receipt at `now`.
    #[must_use]
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.receipt.is_none() && self.late_at(now)
    }
}

/// The referral, once made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The agreement.
    pub agreement: AgreementId,
    /// The version in force at the referral.
    pub agreement_version: u32,
    /// The NGO referred to.
    pub ngo: Org,
    /// The programme.
    pub programme: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The municipality's note to the NGO.
    #[serde(default)]
    pub note: Personal<String>,
}

/// A current match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The volunteer.
    pub volunteer: VolunteerId,
    /// Since.
    pub since: NaiveDate,
}

/// A match, current or ended: the course's volunteers in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The volunteer.
    pub volunteer: VolunteerId,
    /// Since.
    pub since: NaiveDate,
    /// When it ended, if it did.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended (the NGO's).
    pub end_reason: Option<Personal<String>>,
}

/// An activity of the course, as the NGO logged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// The day.
    pub on: NaiveDate,
    /// A short word, e.g. `climbing`.
    pub kind: String,
    /// The note (the NGO's).
    pub note: Personal<String>,
    /// Whether the course is on track, as the coordinator judged it then.
    pub on_track: Option<bool>,
    /// Who logged it.
    pub by: UserId,
    /// When.
    pub at: DateTime<Utc>,
}

/// Someone who should have been at a meeting and was not, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Absence {
    /// Who.
    pub participant: Participant,
    /// Why (recorded by the organisation that recorded the meeting).
    pub reason: Personal<String>,
}

/// Where a meeting stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    /// Planned for a day.
    Planned,
    /// Held.
    Held,
    /// It did not take place.
    Missed,
}

/// A reason for a change to a meeting, owned by the organisation that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingNote {
    /// What happened: `moved` or `missed`.
    pub kind: String,
    /// The day it was moved away from, for a move.
    pub from: Option<NaiveDate>,
    /// The day it was moved to, for a move.
    pub to: Option<NaiveDate>,
    /// Why.
    pub reason: Personal<String>,
    /// The organisation that recorded it (it owns the reason).
    pub org: Org,
    /// When.
    pub at: DateTime<Utc>,
}

/// A meeting of the journey: the pre-meeting (checkpoint 2) or the closing meeting (3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Id.
    pub id: MeetingId,
    /// Which meeting.
    pub checkpoint: Checkpoint,
    /// The day it is (or was) to be held.
    pub on: NaiveDate,
    /// Who is invited.
    pub invited: BTreeSet<Participant>,
    /// Where it stands.
    pub status: MeetingStatus,
    /// Who was there, once held.
    pub present: BTreeSet<Participant>,
    /// Who should have been and was not, once held.
    pub absent: Vec<Absence>,
    /// Moves and a miss, in order.
    pub notes: Vec<MeetingNote>,
}

/// An outcome measure as recorded at the closing meeting. Events written before outcomes became
/// the NGO's sealed `outcome` items carry them in the clear on `closing_meeting_held`; they are
/// read as the NGO's (never shown to the municipality).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The instrument, e.g. `sdq_total`.
    pub instrument: String,
    /// Score before the course.
    pub before: f64,
    /// Score after the course.
    pub after: f64,
}

/// A disclosure asked for at a meeting: these items, to that party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisclosureRequest {
    /// Id of the disclosure to record.
    pub id: DisclosureId,
    /// The items (owned by the other party).
    pub items: Vec<ItemId>,
    /// The receiving party.
    pub to: Org,
}

/// The case as folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Id; `None` before it was opened.
    pub id: Option<CaseId>,
    /// State; meaningful once opened.
    pub state: Option<CaseState>,
    /// The municipality that owns the case.
    pub municipality: Option<Org>,
    /// The young person.
    pub young_person: Option<YoungPerson>,
    /// Custody holders.
    pub custody_holders: Vec<CustodyHolder>,
    /// Information items by id.
    pub items: BTreeMap<ItemId, Item>,
    /// Consents by id.
    pub consents: BTreeMap<ConsentId, Consent>,
    /// The referral.
    pub referral: Option<Referral>,
    /// Every disclosure, in order.
    pub disclosures: Vec<Disclosure>,
    /// Concerns by id.
    pub concerns: BTreeMap<ConcernId, Concern>,
    /// The current match.
    pub current_match: Option<Match>,
    /// Outcomes carried in the clear by a closing meeting recorded before outcomes became
    /// `outcome` items (the NGO's; see [`Outcome`]).
    pub outcomes: Vec<Outcome>,
    /// When the case reached a final state.
    pub ended_at: Option<DateTime<Utc>>,
    /// The day of the first match (for waiting-time statistics).
    #[serde(default)]
    pub first_matched_on: Option<NaiveDate>,
    /// When the subject's personal data was erased.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    /// The meetings, planned and held, in the order they were first planned or held.
    #[serde(default)]
    pub meetings: Vec<Meeting>,
    /// Every match of the course, in order.
    #[serde(default)]
    pub matches: Vec<MatchRecord>,
    /// The course log.
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// Why the NGO declined the referral, if it did.
    #[serde(default)]
    pub decline_reason: Option<Personal<String>>,
    /// The earlier case of the same young person, for a re-referral.
    #[serde(default)]
    pub earlier_case: Option<CaseId>,
    /// Every move to another municipality, in order.
    #[serde(default)]
    pub moves: Vec<CaseMove>,
    /// When the NGO accepted the referral (the waiting list counts from then).
    #[serde(default)]
    pub accepted_at: Option<DateTime<Utc>>,
    /// What matching works on, as the coordinator recorded it last.
    #[serde(default)]
    pub needs: Option<Personal<Needs>>,
}

/// A move of the case from one municipality to another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMove {
    /// The municipality the case left.
    pub from: Org,
    /// The municipality it moved to.
    pub to: Org,
    /// The day the family moved.
    pub on: NaiveDate,
    /// When the move was recorded.
    pub at: DateTime<Utc>,
    /// The state of the case at the move.
    pub state: CaseState,
    /// The items that passed, as the new municipality's copies.
    pub items: Vec<DisclosedItem>,
    /// The custody holders at the move (what the old municipality's records show of them).
    pub custody_holders: Vec<CustodyHolder>,
}

/// Full years between `birth` and `on`.
#[must_use]
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years.max(0) as u32
}

impl Case {
    /// Folds one event into the state. Holds no rules.
    pub fn apply(&mut self, event: &CaseEvent) {
        if let Some(state) = event.state_after() {
            self.state = Some(state);
        }
        match event {
            CaseEvent::CaseOpened { case, municipality, young_person, custody_holders, earlier_case, .. } => {
                self.id = Some(*case);
                self.earlier_case = *earlier_case;
                self.municipality = Some(municipality.clone());
                self.young_person = Some(young_person.clone());
                self.custody_holders = custody_holders.clone();
            }
            CaseEvent::ItemAdded { item } => {
                self.items.insert(item.id, item.clone());
            }
            CaseEvent::CustodyHolderAdded { holder, .. } => self.custody_holders.push(holder.clone()),
            CaseEvent::CustodyHolderRemoved { holder, .. } => self.custody_holders.retain(|h| h.id != *holder),
            CaseEvent::ConsentGiven { consent } => {
                self.consents.insert(consent.id, consent.clone());
            }
            CaseEvent::ConsentRevoked { consent, at, .. } => {
                if let Some(c) = self.consents.get_mut(consent) {
                    c.revoked_at = Some(*at);
                }
            }
            CaseEvent::ReferralSubmitted { agreement, agreement_version, ngo, programme, note, at, .. } => {
                self.referral = Some(Referral {
                    agreement: *agreement,
                    agreement_version: *agreement_version,
                    ngo: ngo.clone(),
                    programme: programme.clone(),
                    at: *at,
                    note: note.clone(),
                });
            }
            CaseEvent::InformationDisclosed { disclosure, .. } => self.disclosures.push(disclosure.clone()),
            CaseEvent::ReferralAccepted { at, .. } => self.accepted_at = Some(*at),
            CaseEvent::NeedsRecorded { needs, .. } => self.needs = Some(needs.clone()),
            CaseEvent::PreMeetingHeld { held_on, participants, absent, meeting, .. } => {
                self.meeting_held(*meeting, Checkpoint::PreMeeting, *held_on, participants, absent);
            }
            CaseEvent::ActivityLogged { on, kind, note, on_track, by, at } => self.activities.push(Activity {
                on: *on,
                kind: kind.clone(),
                note: note.clone(),
                on_track: *on_track,
                by: by.clone(),
                at: *at,
            }),
            CaseEvent::MeetingPlanned { meeting, checkpoint, on, invited, .. } => self.meetings.push(Meeting {
                id: *meeting,
                checkpoint: *checkpoint,
                on: *on,
                invited: invited.clone(),
                status: MeetingStatus::Planned,
                present: BTreeSet::new(),
                absent: Vec::new(),
                notes: Vec::new(),
            }),
            CaseEvent::MeetingMoved { meeting, to, reason, org, at, .. } => {
                if let Some(m) = self.meetings.iter_mut().find(|m| m.id == *meeting) {
                    m.notes.push(MeetingNote {
                        kind: "moved".into(),
                        from: Some(m.on),
                        to: Some(*to),
                        reason: reason.clone(),
                        org: org.clone(),
                        at: *at,
                    });
                    m.on = *to;
                }
            }
            CaseEvent::MeetingMissed { meeting, reason, org, at, .. } => {
                if let Some(m) = self.meetings.iter_mut().find(|m| m.id == *meeting) {
                    m.status = MeetingStatus::Missed;
                    m.notes.push(MeetingNote {
                        kind: "missed".into(),
                        from: None,
                        to: None,
                        reason: reason.clone(),
                        org: org.clone(),
                        at: *at,
                    });
                }
            }
            CaseEvent::ReferralDeclined { reason, at, .. } => {
                self.decline_reason = Some(reason.clone());
                self.end(*at);
            }
            CaseEvent::VolunteerMatched { volunteer, on, .. } => {
                self.current_match = Some(Match { volunteer: *volunteer, since: *on });
                self.first_matched_on.get_or_insert(*on);
                self.matches.push(MatchRecord { volunteer: *volunteer, since: *on, ended_at: None, end_reason: None });
            }
            CaseEvent::MatchEnded { reason, at, .. } => {
                self.current_match = None;
                if let Some(m) = self.matches.last_mut().filter(|m| m.ended_at.is_none()) {
                    m.ended_at = Some(*at);
                    m.end_reason = Some(reason.clone());
                }
            }
            CaseEvent::ConcernReported { concern, .. } => {
                self.concerns.insert(concern.id, concern.clone());
            }
            CaseEvent::ConcernAcknowledged { concern, receipt } => {
                if let Some(c) = self.concerns.get_mut(concern) {
                    c.receipt = Some(receipt.clone());
                }
            }
            CaseEvent::ClosingMeetingHeld { held_on, participants, absent, meeting, outcomes, at, .. } => {
                self.meeting_held(*meeting, Checkpoint::ClosingMeeting, *held_on, participants, absent);
                self.outcomes = outcomes.clone();
                self.end(*at);
            }
            CaseEvent::CaseWithdrawn { at, .. } | CaseEvent::CaseRedirected { at, .. } => self.end(*at),
            CaseEvent::PersonalDataErased { at, .. } => self.erased_at = Some(*at),
            CaseEvent::CaseMoved {
                from,
                to,
                on,
                young_person,
                custody_holders,
                items,
                concerns,
                agreement,
                agreement_version,
                at,
                ..
            } => {
                self.moves.push(CaseMove {
                    from: from.clone(),
                    to: to.clone(),
                    on: *on,
                    at: *at,
                    state: self.state.unwrap_or(CaseState::Opened),
                    items: items.clone(),
                    custody_holders: custody_holders.clone(),
                });
                self.municipality = Some(to.clone());
                // From now on the new municipality's own copies are the case's.
                self.young_person = Some(young_person.clone());
                self.custody_holders = custody_holders.clone();
                for c in concerns {
                    self.concerns.insert(c.id, c.clone());
                }
                if let (Some(referral), Some(id), Some(version)) = (&mut self.referral, agreement, agreement_version) {
                    referral.agreement = *id;
                    referral.agreement_version = *version;
                }
            }
        }
    }

    /// The journey ended at `at` (its final state came from the event).
    fn end(&mut self, at: DateTime<Utc>) {
        if self.current_match.take().is_some()
            && let Some(m) = self.matches.last_mut().filter(|m| m.ended_at.is_none())
        {
            m.ended_at = Some(at);
        }
        self.ended_at = Some(at);
    }

    /// A meeting was held: the planned one it names, or one recorded without a plan.
    fn meeting_held(
        &mut self,
        id: Option<MeetingId>,
        checkpoint: Checkpoint,
        held_on: NaiveDate,
        present: &BTreeSet<Participant>,
        absent: &[Absence],
    ) {
        let index = id.and_then(|id| self.meetings.iter().position(|m| m.id == id));
        let index = index.unwrap_or_else(|| {
            self.meetings.push(Meeting {
                id: id.unwrap_or(MeetingId(uuid::Uuid::nil())),
                checkpoint,
                on: held_on,
                invited: present.iter().copied().chain(absent.iter().map(|a| a.participant)).collect(),
                status: MeetingStatus::Planned,
                present: BTreeSet::new(),
                absent: Vec::new(),
                notes: Vec::new(),
            });
            self.meetings.len() - 1
        });
        let m = &mut self.meetings[index];
        m.status = MeetingStatus::Held;
        m.on = held_on;
        m.present = present.clone();
        m.absent = absent.to_vec();
    }

    /// The day the meeting at `checkpoint` was held, if it was.
    #[must_use]
    pub fn held_on(&self, checkpoint: Checkpoint) -> Option<NaiveDate> {
        self.meetings.iter().rev().find(|m| m.checkpoint == checkpoint && m.status == MeetingStatus::Held).map(|m| m.on)
    }

    /// When `org` stopped being the case's municipality, if it is a municipality the case moved
    /// away from and not a party now: it keeps its own records up to then, read-only.
    #[must_use]
    pub fn moved_away_at(&self, org: &Org) -> Option<DateTime<Utc>> {
        if self.municipality.as_ref() == Some(org) || self.referral.as_ref().is_some_and(|r| &r.ngo == org) {
            return None;
        }
        self.moves.iter().rev().find(|m| &m.from == org).map(|m| m.at)
    }

    /// The meeting at `checkpoint` planned and not yet held or missed, if any.
    #[must_use]
    pub fn planned_meeting(&self, checkpoint: Checkpoint) -> Option<&Meeting> {
        self.meetings.iter().find(|m| m.checkpoint == checkpoint && m.status == MeetingStatus::Planned)
    }
}
