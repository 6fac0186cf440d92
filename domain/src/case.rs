//! The case journey (DESIGN §3): one young person's course in one NGO programme.
//!
//! ```text
//! opened ─refer─▶ referred ─accept─▶ accepted ─pre-meeting─▶ awaiting_match ─match─▶ in_course
//!                    │ decline                                   ▲   end match   │
//!                    ▼                                           └───────────────┘
//!                 declined                          in_course ─closing meeting─▶ closed
//! withdraw / redirect: from any open state
//! ```
//!
//! Knowledge crosses the organisational border only through [`CaseEvent::InformationDisclosed`],
//! and only at the three checkpoints, when the agreement lets the category flow in that direction
//! and a consent active at that moment covers the recipient, the category and a purpose of the
//! flow. A concern report needs no consent: it reaches the municipality by the reporting duty.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::Personal;
use crate::agreement::{Agreement, Terms};
use crate::calendar::{WorkCalendar, copenhagen_date};
use crate::ids::{AgreementId, CaseId, ConcernId, ConsentId, DisclosureId, ItemId, Org, PersonId, UserId, VolunteerId};
use crate::vocab::{
    Actor, CaseState, Category, Checkpoint, Duty, Ground, Participant, Purpose, RecipientRole, Role, Side, WithdrawnBy,
};
use crate::volunteer::{VolunteerFacts, VolunteerStatus};

/// Hours within which the municipality assesses a concern (Barnets lov § 136).
pub const ASSESSMENT_HOURS: i64 = 24;
/// Working days within which the municipality acknowledges a professional's concern (§ 137).
pub const RECEIPT_WORKING_DAYS: u32 = 6;

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

/// A custody holder (forældremyndighedsindehaver).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyHolder {
    /// Person id, used as grantor id.
    pub id: PersonId,
    /// Full name.
    pub name: Personal<String>,
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
    /// Whether the concern is past a deadline without a receipt at `now`.
    #[must_use]
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        self.receipt.is_none() && (now > self.assessment_due || copenhagen_date(now) > self.receipt_due)
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
}

/// A current match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// The volunteer.
    pub volunteer: VolunteerId,
    /// Since.
    pub since: NaiveDate,
}

/// An outcome measure recorded at the closing meeting.
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
        by: UserId,
        at: DateTime<Utc>,
    },
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
    PreMeetingHeld { held_on: NaiveDate, participants: BTreeSet<Participant>, by: UserId, at: DateTime<Utc> },
    /// A vetted volunteer was matched.
    VolunteerMatched { volunteer: VolunteerId, on: NaiveDate, by: UserId, at: DateTime<Utc> },
    /// The match ended; the case awaits a new one.
    MatchEnded { volunteer: VolunteerId, reason: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// The NGO logged an activity of the course.
    ActivityLogged { on: NaiveDate, kind: String, note: Personal<String>, by: UserId, at: DateTime<Utc> },
    /// A concern was reported; by the reporting duty it reaches the municipality at once.
    ConcernReported { concern: Concern, reported_to: Org },
    /// The municipality acknowledged a concern.
    ConcernAcknowledged { concern: ConcernId, receipt: Receipt },
    /// Checkpoint 3: the closing meeting was held; the case is closed.
    ClosingMeetingHeld {
        held_on: NaiveDate,
        participants: BTreeSet<Participant>,
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
}

impl crate::personal::KeyHolder for CaseEvent {
    /// A disclosure's copies belong to the recipient; a concern report to the municipality it
    /// reached.
    fn key_holder(&self) -> Option<&Org> {
        match self {
            Self::InformationDisclosed { disclosure, .. } => Some(&disclosure.to),
            Self::ConcernReported { reported_to, .. } => Some(reported_to),
            _ => None,
        }
    }
}

/// What may be asked of a case.
#[derive(Clone, Debug, PartialEq)]
pub enum CaseAction {
    /// Open the case (caseworker of the municipality).
    Open { case: CaseId, young_person: YoungPerson, custody_holders: Vec<CustodyHolder> },
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
        participants: BTreeSet<Participant>,
        wishes: Option<(ItemId, Personal<String>)>,
        disclosures: Vec<DisclosureRequest>,
    },
    /// Match a volunteer; the application looked up the facts.
    MatchVolunteer { volunteer: VolunteerFacts, on: NaiveDate },
    /// End the current match.
    EndMatch { reason: Personal<String> },
    /// Log an activity of the course.
    LogActivity { on: NaiveDate, kind: String, note: Personal<String> },
    /// Report a concern (NGO side).
    ReportConcern {
        concern: ConcernId,
        grounds: BTreeSet<Ground>,
        text: Personal<String>,
        observed_on: NaiveDate,
        reporter: Reporter,
        agreement: Box<Agreement>,
        calendar: WorkCalendar,
    },
    /// Acknowledge a concern (municipality).
    AcknowledgeConcern { concern: ConcernId, investigation_started: bool },
    /// Checkpoint 3: the closing meeting, with disclosures both ways and outcomes; closes.
    HoldClosingMeeting {
        agreement: Box<Agreement>,
        held_on: NaiveDate,
        participants: BTreeSet<Participant>,
        disclosures: Vec<DisclosureRequest>,
        outcomes: Vec<Outcome>,
    },
    /// The young person or family stops.
    Withdraw { by_whom: WithdrawnBy, reason: Personal<String> },
    /// Redirect to municipal support.
    Redirect { reason: Personal<String> },
    /// Erase the subject's personal data (the municipality; GDPR art. 17). `retention_days`:
    /// how long the municipality must keep the record after the case ended.
    EraseSubject { reason: String, retention_days: u32 },
}

impl CaseAction {
    /// A short name of the action, for errors, metrics and spans.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Open { .. } => "open",
            Self::AddItem { .. } => "add_item",
            Self::GiveConsent { .. } => "give_consent",
            Self::RevokeConsent { .. } => "revoke_consent",
            Self::SubmitReferral { .. } => "refer",
            Self::AcceptReferral => "accept",
            Self::DeclineReferral { .. } => "decline",
            Self::HoldPreMeeting { .. } => "hold_pre_meeting",
            Self::MatchVolunteer { .. } => "match",
            Self::EndMatch { .. } => "end_match",
            Self::LogActivity { .. } => "log_activity",
            Self::ReportConcern { .. } => "report_concern",
            Self::AcknowledgeConcern { .. } => "acknowledge_concern",
            Self::HoldClosingMeeting { .. } => "hold_closing_meeting",
            Self::Withdraw { .. } => "withdraw",
            Self::Redirect { .. } => "redirect",
            Self::EraseSubject { .. } => "erase",
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

/// Why a case command was refused. Each message names the rule and the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// Open on a case that exists.
    #[error("case already exists")]
    AlreadyOpened,
    /// Anything but open on a case that does not exist.
    #[error("case not found")]
    NotFound,
    /// The state machine does not allow the action now.
    #[error("cannot {action} a case that is {state}")]
    WrongState { action: &'static str, state: CaseState },
    /// The actor's role may not do this.
    #[error("role {role} may not {action}")]
    NotPermitted { role: Role, action: &'static str },
    /// The actor's organisation is not a party to the case (or not the right party).
    #[error("organisation {0} may not {1} in this case")]
    NotAParty(Org, &'static str),
    /// The agreement was never approved by both sides.
    #[error("agreement {0} is not approved by both sides")]
    AgreementNotApproved(AgreementId),
    /// The agreement was terminated.
    #[error("agreement {0} is terminated: no new referrals")]
    AgreementTerminated(AgreementId),
    /// The agreement is not the one for this case.
    #[error("agreement {0} does not cover this case's parties")]
    AgreementMismatch(AgreementId),
    /// The agreement does not let the category flow that way at that checkpoint.
    #[error("category {category} is not allowed from {from} to {to} at {checkpoint} by agreement v{version}")]
    CategoryNotInAgreement { category: Category, from: Side, to: Side, checkpoint: Checkpoint, version: u32 },
    /// No active consent covers the disclosure.
    #[error("no active consent covers category {category} for the {role} at {recipient} for purpose {purposes}")]
    ConsentMissing { category: Category, recipient: Org, role: RecipientRole, purposes: String },
    /// The consent lacks grantors the age rule requires.
    #[error("consent lacks required grantor(s): {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    GrantorMissing(Vec<PersonId>),
    /// A grantor is not a person of this case.
    #[error("grantor {0} is not the young person or a custody holder of this case")]
    UnknownGrantor(PersonId),
    /// A young person under 18 without a registered custody holder cannot consent alone.
    #[error("the young person is under 18 and no custody holder is registered")]
    NoCustodyHolder,
    /// No such consent.
    #[error("consent {0} not found")]
    ConsentNotFound(ConsentId),
    /// Revoked twice.
    #[error("consent {0} is already revoked")]
    ConsentAlreadyRevoked(ConsentId),
    /// No such item.
    #[error("item {0} not found")]
    ItemNotFound(ItemId),
    /// Only an item's owner can disclose it.
    #[error("item {item} is not owned by {org}")]
    ItemNotOwned { item: ItemId, org: Org },
    /// Vetting: no confidentiality declaration.
    #[error("volunteer {0} has not signed a confidentiality declaration")]
    ConfidentialityDeclarationMissing(VolunteerId),
    /// Vetting: no child certificate, required under 15.
    #[error("volunteer {0} has no child certificate and the young person is under 15")]
    ChildCertificateMissing(VolunteerId),
    /// Vetting: the child certificate is too old.
    #[error("volunteer {volunteer}'s child certificate of {date} has expired")]
    ChildCertificateExpired { volunteer: VolunteerId, date: NaiveDate },
    /// The volunteer does not take matches now.
    #[error("volunteer {0} is not active")]
    VolunteerInactive(VolunteerId),
    /// The volunteer is at capacity.
    #[error("volunteer {0} is at capacity")]
    VolunteerAtCapacity(VolunteerId),
    /// No such concern.
    #[error("concern {0} not found")]
    ConcernNotFound(ConcernId),
    /// Acknowledged twice.
    #[error("concern {0} is already acknowledged")]
    ConcernAlreadyAcknowledged(ConcernId),
    /// A field is invalid.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Erasure while a concern awaits the municipality's receipt.
    #[error("concern {0} is still open: the reporting duty's record must stay until it is acknowledged")]
    ConcernOpen(ConcernId),
    /// Erasure while the municipality must still keep the record.
    #[error("the municipality must keep this record until {0}")]
    RetentionDutyApplies(NaiveDate),
    /// Erased twice.
    #[error("the subject's personal data is already erased")]
    AlreadyErased,
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
    /// Outcomes from the closing meeting.
    pub outcomes: Vec<Outcome>,
    /// When the case reached a final state.
    pub ended_at: Option<DateTime<Utc>>,
    /// The day of the first match (for waiting-time statistics).
    #[serde(default)]
    pub first_matched_on: Option<NaiveDate>,
    /// When the subject's personal data was erased.
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
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

type Decision = Result<Vec<CaseEvent>, CaseError>;

impl Case {
    /// The state, or `NotFound` before the case was opened.
    fn opened_state(&self) -> Result<CaseState, CaseError> {
        self.state.ok_or(CaseError::NotFound)
    }

    /// The NGO party, once referred.
    #[must_use]
    pub fn ngo(&self) -> Option<&Org> {
        self.referral.as_ref().map(|r| &r.ngo)
    }

    /// The young person's age on `on`.
    #[must_use]
    pub fn age_on(&self, on: NaiveDate) -> Option<u32> {
        self.young_person.as_ref().map(|p| age_on(*p.birth_date.expose(), on))
    }

    /// The side `org` is on in this case, if it is a party.
    #[must_use]
    pub fn side_of(&self, org: &Org) -> Option<Side> {
        if self.municipality.as_ref() == Some(org) {
            Some(Side::Municipality)
        } else if self.ngo() == Some(org) {
            Some(Side::Ngo)
        } else {
            None
        }
    }

    /// The grantors the age rule requires for a consent given on `on`.
    ///
    /// Under 15: every custody holder. 15–17: the young person and every custody holder.
    /// 18 and over: the young person.
    pub fn required_grantors(&self, on: NaiveDate) -> Result<BTreeSet<PersonId>, CaseError> {
        let person = self.young_person.as_ref().ok_or(CaseError::NotFound)?;
        let age = age_on(*person.birth_date.expose(), on);
        let holders = self.custody_holders.iter().map(|h| h.id);
        if age < 18 && self.custody_holders.is_empty() {
            return Err(CaseError::NoCustodyHolder);
        }
        Ok(match age {
            0..15 => holders.collect(),
            15..18 => holders.chain([person.id]).collect(),
            _ => BTreeSet::from([person.id]),
        })
    }

    /// Decides a command: the events it yields, or the rule it breaks. Nothing is half-applied.
    pub fn decide(&self, command: CaseCommand) -> Decision {
        let CaseCommand { actor, action } = command;
        let name = action.name();
        if let CaseAction::Open { case, young_person, custody_holders } = action {
            return self.open(&actor, case, young_person, custody_holders);
        }
        let state = self.opened_state()?;
        match action {
            CaseAction::Open { .. } => Err(CaseError::AlreadyOpened),
            CaseAction::AddItem { item, category, content } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                not_final(state, name)?;
                if self.items.contains_key(&item) {
                    return Err(CaseError::Invalid("item id: already used"));
                }
                non_empty(&content, "content: empty")?;
                Ok(vec![CaseEvent::ItemAdded {
                    item: Item {
                        id: item,
                        category,
                        owner: actor.org,
                        author: actor.user,
                        content,
                        added_at: actor.at,
                    },
                }])
            }
            CaseAction::GiveConsent {
                consent,
                grantors,
                recipients,
                categories,
                purposes,
                valid_from,
                valid_until,
                evidence,
            } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                self.give_consent(
                    &actor,
                    consent,
                    grantors,
                    recipients,
                    categories,
                    purposes,
                    valid_from,
                    valid_until,
                    evidence,
                )
            }
            CaseAction::RevokeConsent { consent, reason } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                let c = self.consents.get(&consent).ok_or(CaseError::ConsentNotFound(consent))?;
                if c.revoked_at.is_some() {
                    return Err(CaseError::ConsentAlreadyRevoked(consent));
                }
                Ok(vec![CaseEvent::ConsentRevoked { consent, reason, by: actor.user, at: actor.at }])
            }
            CaseAction::SubmitReferral { agreement, items, note, disclosure } => {
                self.municipality_caseworker(&actor, name)?;
                expect_state(state, &[CaseState::Opened], name)?;
                let agreement_id = agreement.id.unwrap_or_default();
                let (version, terms) = in_force_for_referral(agreement_id, &agreement)?;
                if Some(&terms.municipality) != self.municipality.as_ref() {
                    return Err(CaseError::AgreementMismatch(agreement_id));
                }
                let disclosure = self.check_disclosure(
                    disclosure,
                    agreement_id,
                    version,
                    terms,
                    Checkpoint::Referral,
                    &actor.org,
                    &terms.ngo,
                    &items,
                    actor.at,
                )?;
                let referral = CaseEvent::ReferralSubmitted {
                    agreement: agreement_id,
                    agreement_version: version,
                    ngo: terms.ngo.clone(),
                    programme: terms.programme.clone(),
                    note,
                    by: actor.user.clone(),
                    at: actor.at,
                };
                Ok(vec![referral, CaseEvent::InformationDisclosed { disclosure, by: actor.user }])
            }
            CaseAction::AcceptReferral => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::Referred], name)?;
                Ok(vec![CaseEvent::ReferralAccepted { by: actor.user, at: actor.at }])
            }
            CaseAction::DeclineReferral { reason } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::Referred], name)?;
                non_empty(&reason, "reason: a decline needs a reason")?;
                Ok(vec![CaseEvent::ReferralDeclined { reason, by: actor.user, at: actor.at }])
            }
            CaseAction::HoldPreMeeting { agreement, held_on, participants, wishes, disclosures } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::Accepted], name)?;
                let mut events =
                    vec![CaseEvent::PreMeetingHeld { held_on, participants, by: actor.user.clone(), at: actor.at }];
                if let Some((item, content)) = wishes {
                    if self.items.contains_key(&item) {
                        return Err(CaseError::Invalid("item id: already used"));
                    }
                    non_empty(&content, "wishes: empty")?;
                    events.push(CaseEvent::ItemAdded {
                        item: Item {
                            id: item,
                            category: Category::Wishes,
                            owner: actor.org.clone(),
                            author: actor.user.clone(),
                            content,
                            added_at: actor.at,
                        },
                    });
                }
                events.extend(self.meeting_disclosures(&actor, &agreement, Checkpoint::PreMeeting, disclosures)?);
                Ok(events)
            }
            CaseAction::MatchVolunteer { volunteer, on } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::AwaitingMatch], name)?;
                self.check_volunteer(&volunteer, on)?;
                Ok(vec![CaseEvent::VolunteerMatched { volunteer: volunteer.id, on, by: actor.user, at: actor.at }])
            }
            CaseAction::EndMatch { reason } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::InCourse], name)?;
                let current = self.current_match.as_ref().ok_or(CaseError::WrongState { action: name, state })?;
                Ok(vec![CaseEvent::MatchEnded { volunteer: current.volunteer, reason, by: actor.user, at: actor.at }])
            }
            CaseAction::LogActivity { on, kind, note } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::InCourse], name)?;
                let kind_ok =
                    !kind.is_empty() && kind.len() <= 40 && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                if !kind_ok {
                    return Err(CaseError::Invalid("kind: use a short word of a-z and _, e.g. meeting"));
                }
                Ok(vec![CaseEvent::ActivityLogged { on, kind, note, by: actor.user, at: actor.at }])
            }
            CaseAction::ReportConcern { concern, grounds, text, observed_on, reporter, agreement, calendar } => {
                self.ngo_coordinator(&actor, name)?;
                let referral = self.referral.as_ref().ok_or(CaseError::NotAParty(actor.org.clone(), name))?;
                if agreement.id != Some(referral.agreement) {
                    return Err(CaseError::AgreementMismatch(agreement.id.unwrap_or_default()));
                }
                if self.concerns.contains_key(&concern) {
                    return Err(CaseError::Invalid("concern id: already used"));
                }
                if grounds.is_empty() {
                    return Err(CaseError::Invalid("grounds: name at least one"));
                }
                non_empty(&text, "text: empty")?;
                if observed_on > copenhagen_date(actor.at) {
                    return Err(CaseError::Invalid("observed_on: in the future"));
                }
                let duties = agreement
                    .in_force
                    .as_ref()
                    .map(|(_, t)| t.reporting_duties)
                    .or(agreement.terms.as_ref().map(|t| t.reporting_duties))
                    .unwrap_or_default();
                let duty = match reporter {
                    Reporter::Coordinator => duties.coordinator,
                    Reporter::Volunteer { .. } => duties.volunteer,
                };
                let municipality = self.municipality.clone().ok_or(CaseError::NotFound)?;
                Ok(vec![CaseEvent::ConcernReported {
                    concern: Concern {
                        id: concern,
                        grounds,
                        text,
                        observed_on,
                        reported_by: actor.user,
                        reporter_org: actor.org,
                        reporter,
                        duty,
                        reported_at: actor.at,
                        assessment_due: actor.at + TimeDelta::hours(ASSESSMENT_HOURS),
                        receipt_due: calendar.add_working_days(copenhagen_date(actor.at), RECEIPT_WORKING_DAYS),
                        receipt: None,
                    },
                    reported_to: municipality,
                }])
            }
            CaseAction::AcknowledgeConcern { concern, investigation_started } => {
                self.municipality_caseworker(&actor, name)?;
                let c = self.concerns.get(&concern).ok_or(CaseError::ConcernNotFound(concern))?;
                if c.receipt.is_some() {
                    return Err(CaseError::ConcernAlreadyAcknowledged(concern));
                }
                let on_time = actor.at <= c.assessment_due || copenhagen_date(actor.at) <= c.receipt_due;
                Ok(vec![CaseEvent::ConcernAcknowledged {
                    concern,
                    receipt: Receipt { at: actor.at, by: actor.user, investigation_started, on_time },
                }])
            }
            CaseAction::HoldClosingMeeting { agreement, held_on, participants, disclosures, outcomes } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::InCourse], name)?;
                if outcomes.iter().any(|o| o.instrument.is_empty() || !o.before.is_finite() || !o.after.is_finite()) {
                    return Err(CaseError::Invalid("outcomes: each needs an instrument and finite scores"));
                }
                let mut events =
                    self.meeting_disclosures(&actor, &agreement, Checkpoint::ClosingMeeting, disclosures)?;
                events.push(CaseEvent::ClosingMeetingHeld {
                    held_on,
                    participants,
                    outcomes,
                    by: actor.user,
                    at: actor.at,
                });
                Ok(events)
            }
            CaseAction::Withdraw { by_whom, reason } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                not_final(state, name)?;
                Ok(vec![CaseEvent::CaseWithdrawn { by_whom, reason, by: actor.user, at: actor.at }])
            }
            CaseAction::EraseSubject { reason, retention_days } => {
                self.municipality_party(&actor, name)?;
                if self.erased_at.is_some() {
                    return Err(CaseError::AlreadyErased);
                }
                if let Some(open) = self.concerns.values().find(|c| c.receipt.is_none()) {
                    return Err(CaseError::ConcernOpen(open.id));
                }
                let ended = self.ended_at.map(copenhagen_date).ok_or(CaseError::WrongState { action: name, state })?;
                let until = ended + TimeDelta::days(i64::from(retention_days));
                if copenhagen_date(actor.at) < until {
                    return Err(CaseError::RetentionDutyApplies(until));
                }
                if reason.trim().is_empty() {
                    return Err(CaseError::Invalid("reason: name the legal ground"));
                }
                Ok(vec![CaseEvent::PersonalDataErased { reason, by: actor.user, at: actor.at }])
            }
            CaseAction::Redirect { reason } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                not_final(state, name)?;
                non_empty(&reason, "reason: a redirection needs a reason")?;
                Ok(vec![CaseEvent::CaseRedirected { reason, by: actor.user, at: actor.at }])
            }
        }
    }

    fn open(
        &self,
        actor: &Actor,
        case: CaseId,
        young_person: YoungPerson,
        custody_holders: Vec<CustodyHolder>,
    ) -> Decision {
        if self.id.is_some() {
            return Err(CaseError::AlreadyOpened);
        }
        if actor.role != Role::Caseworker {
            return Err(CaseError::NotPermitted { role: actor.role, action: "open" });
        }
        if !actor.org.is_municipality() {
            return Err(CaseError::NotAParty(actor.org.clone(), "open"));
        }
        non_empty(&young_person.first_name, "young_person.first_name: empty")?;
        if *young_person.birth_date.expose() > copenhagen_date(actor.at) {
            return Err(CaseError::Invalid("young_person.birth_date: in the future"));
        }
        if custody_holders.iter().any(|h| h.name.expose().trim().is_empty()) {
            return Err(CaseError::Invalid("custody_holders: a name is empty"));
        }
        let mut ids: BTreeSet<PersonId> = custody_holders.iter().map(|h| h.id).collect();
        ids.insert(young_person.id);
        if ids.len() != custody_holders.len() + 1 {
            return Err(CaseError::Invalid("person ids: not unique"));
        }
        Ok(vec![CaseEvent::CaseOpened {
            case,
            municipality: actor.org.clone(),
            young_person,
            custody_holders,
            by: actor.user.clone(),
            at: actor.at,
        }])
    }

    #[expect(clippy::too_many_arguments, reason = "the fields of one consent, passed on from the command")]
    fn give_consent(
        &self,
        actor: &Actor,
        consent: ConsentId,
        grantors: BTreeSet<PersonId>,
        recipients: BTreeSet<Recipient>,
        categories: BTreeSet<Category>,
        purposes: BTreeSet<Purpose>,
        valid_from: NaiveDate,
        valid_until: NaiveDate,
        evidence: Personal<String>,
    ) -> Decision {
        if self.consents.contains_key(&consent) {
            return Err(CaseError::Invalid("consent id: already used"));
        }
        if recipients.is_empty() {
            return Err(CaseError::Invalid("recipients: name at least one"));
        }
        if categories.is_empty() {
            return Err(CaseError::Invalid("categories: name at least one"));
        }
        if purposes.is_empty() {
            return Err(CaseError::Invalid("purposes: name at least one"));
        }
        if valid_until < valid_from {
            return Err(CaseError::Invalid("valid_until: before valid_from"));
        }
        let known: BTreeSet<PersonId> =
            self.custody_holders.iter().map(|h| h.id).chain(self.young_person.as_ref().map(|p| p.id)).collect();
        if let Some(unknown) = grantors.iter().find(|g| !known.contains(g)) {
            return Err(CaseError::UnknownGrantor(*unknown));
        }
        let required = self.required_grantors(copenhagen_date(actor.at))?;
        let missing: Vec<PersonId> = required.difference(&grantors).copied().collect();
        if !missing.is_empty() {
            return Err(CaseError::GrantorMissing(missing));
        }
        Ok(vec![CaseEvent::ConsentGiven {
            consent: Consent {
                id: consent,
                grantors,
                recipients,
                categories,
                purposes,
                valid_from,
                valid_until,
                evidence,
                recorded_by: actor.user.clone(),
                given_at: actor.at,
                revoked_at: None,
            },
        }])
    }

    /// Checks one disclosure of `items` from `from` to `to` at `checkpoint` under `terms`, and
    /// builds it with a basis per item: the first consent (in order given) that is active at
    /// `at`, names the recipient's receiving role, the item's category and a purpose of the flow.
    #[expect(clippy::too_many_arguments, reason = "one disclosure has this many facets")]
    fn check_disclosure(
        &self,
        id: DisclosureId,
        agreement: AgreementId,
        version: u32,
        terms: &Terms,
        checkpoint: Checkpoint,
        from: &Org,
        to: &Org,
        items: &[ItemId],
        at: DateTime<Utc>,
    ) -> Result<Disclosure, CaseError> {
        let (from_side, to_side) = (Side::of(from), Side::of(to));
        let recipient = Recipient { org: to.clone(), role: to_side.receiving_role() };
        let mut seen = BTreeSet::new();
        let mut disclosed = Vec::with_capacity(items.len());
        for item_id in items {
            if !seen.insert(*item_id) {
                continue;
            }
            let item = self.items.get(item_id).ok_or(CaseError::ItemNotFound(*item_id))?;
            if &item.owner != from {
                return Err(CaseError::ItemNotOwned { item: *item_id, org: from.clone() });
            }
            let flow = terms.flow_for(checkpoint, from_side, to_side, item.category).ok_or(
                CaseError::CategoryNotInAgreement {
                    category: item.category,
                    from: from_side,
                    to: to_side,
                    checkpoint,
                    version,
                },
            )?;
            let basis = self
                .consents
                .values()
                .filter(|c| c.is_active_at(at))
                .find_map(|c| c.covers(&recipient, item.category, &flow.purposes).map(|p| (c.id, p)))
                .map(|(consent, purpose)| Basis::Consent { consent, purpose })
                .ok_or_else(|| CaseError::ConsentMissing {
                    category: item.category,
                    recipient: to.clone(),
                    role: recipient.role,
                    purposes: flow.purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" or "),
                })?;
            disclosed.push(DisclosedItem {
                item: *item_id,
                category: item.category,
                basis,
                content: item.content.clone(),
            });
        }
        Ok(Disclosure {
            id,
            checkpoint,
            from: from.clone(),
            to: to.clone(),
            items: disclosed,
            agreement,
            agreement_version: version,
            at,
        })
    }

    /// The disclosures asked for at a meeting, under the version in force of the case's agreement.
    fn meeting_disclosures(
        &self,
        actor: &Actor,
        agreement: &Agreement,
        checkpoint: Checkpoint,
        requests: Vec<DisclosureRequest>,
    ) -> Decision {
        let referral = self.referral.as_ref().ok_or(CaseError::NotFound)?;
        let agreement_id = referral.agreement;
        if agreement.id != Some(agreement_id) {
            return Err(CaseError::AgreementMismatch(agreement.id.unwrap_or_default()));
        }
        // Existing courses continue under the last approved version, also after termination.
        let (version, terms) = agreement.in_force.as_ref().ok_or(CaseError::AgreementNotApproved(agreement_id))?;
        let municipality = self.municipality.as_ref().ok_or(CaseError::NotFound)?;
        let mut events = Vec::new();
        for request in requests {
            let from = if request.to == referral.ngo {
                municipality
            } else if &request.to == municipality {
                &referral.ngo
            } else {
                return Err(CaseError::NotAParty(request.to, "receive a disclosure"));
            };
            if request.items.is_empty() {
                continue;
            }
            let disclosure = self.check_disclosure(
                request.id,
                agreement_id,
                *version,
                terms,
                checkpoint,
                from,
                &request.to,
                &request.items,
                actor.at,
            )?;
            events.push(CaseEvent::InformationDisclosed { disclosure, by: actor.user.clone() });
        }
        Ok(events)
    }

    /// Whether the volunteer may be matched with this case on `on`: the refusal, if any.
    pub fn check_volunteer(&self, v: &VolunteerFacts, on: NaiveDate) -> Result<(), CaseError> {
        if Some(&v.ngo) != self.ngo() {
            return Err(CaseError::NotAParty(v.ngo.clone(), "provide the volunteer"));
        }
        if v.status != VolunteerStatus::Active {
            return Err(CaseError::VolunteerInactive(v.id));
        }
        if v.assigned_elsewhere >= v.capacity {
            return Err(CaseError::VolunteerAtCapacity(v.id));
        }
        if v.confidentiality_declaration_date.is_none_or(|d| d > on) {
            return Err(CaseError::ConfidentialityDeclarationMissing(v.id));
        }
        let age = self.age_on(on).ok_or(CaseError::NotFound)?;
        if age < 15 {
            match v.child_certificate_date {
                None => return Err(CaseError::ChildCertificateMissing(v.id)),
                Some(date) if date > on => return Err(CaseError::ChildCertificateMissing(v.id)),
                Some(date) if !VolunteerFacts::certificate_current_on(date, on) => {
                    return Err(CaseError::ChildCertificateExpired { volunteer: v.id, date });
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn party(&self, actor: &Actor, roles: &[Role], action: &'static str) -> Result<Side, CaseError> {
        if !roles.contains(&actor.role) {
            return Err(CaseError::NotPermitted { role: actor.role, action });
        }
        let side = self.side_of(&actor.org).ok_or(CaseError::NotAParty(actor.org.clone(), action))?;
        let role_fits =
            matches!((side, actor.role), (Side::Municipality, Role::Caseworker) | (Side::Ngo, Role::Coordinator));
        if !role_fits {
            return Err(CaseError::NotPermitted { role: actor.role, action });
        }
        Ok(side)
    }

    /// The municipality's caseworker or admin.
    fn municipality_party(&self, actor: &Actor, action: &'static str) -> Result<(), CaseError> {
        if !matches!(actor.role, Role::Caseworker | Role::Admin) {
            return Err(CaseError::NotPermitted { role: actor.role, action });
        }
        if self.municipality.as_ref() != Some(&actor.org) {
            return Err(CaseError::NotAParty(actor.org.clone(), action));
        }
        Ok(())
    }

    fn municipality_caseworker(&self, actor: &Actor, action: &'static str) -> Result<(), CaseError> {
        if actor.role != Role::Caseworker {
            return Err(CaseError::NotPermitted { role: actor.role, action });
        }
        if self.municipality.as_ref() != Some(&actor.org) {
            return Err(CaseError::NotAParty(actor.org.clone(), action));
        }
        Ok(())
    }

    fn ngo_coordinator(&self, actor: &Actor, action: &'static str) -> Result<(), CaseError> {
        if actor.role != Role::Coordinator {
            return Err(CaseError::NotPermitted { role: actor.role, action });
        }
        if self.ngo() != Some(&actor.org) {
            return Err(CaseError::NotAParty(actor.org.clone(), action));
        }
        Ok(())
    }

    /// Folds one event into the state. Holds no rules.
    pub fn apply(&mut self, event: &CaseEvent) {
        if let Some(state) = event.state_after() {
            self.state = Some(state);
        }
        match event {
            CaseEvent::CaseOpened { case, municipality, young_person, custody_holders, .. } => {
                self.id = Some(*case);
                self.municipality = Some(municipality.clone());
                self.young_person = Some(young_person.clone());
                self.custody_holders = custody_holders.clone();
            }
            CaseEvent::ItemAdded { item } => {
                self.items.insert(item.id, item.clone());
            }
            CaseEvent::ConsentGiven { consent } => {
                self.consents.insert(consent.id, consent.clone());
            }
            CaseEvent::ConsentRevoked { consent, at, .. } => {
                if let Some(c) = self.consents.get_mut(consent) {
                    c.revoked_at = Some(*at);
                }
            }
            CaseEvent::ReferralSubmitted { agreement, agreement_version, ngo, programme, at, .. } => {
                self.referral = Some(Referral {
                    agreement: *agreement,
                    agreement_version: *agreement_version,
                    ngo: ngo.clone(),
                    programme: programme.clone(),
                    at: *at,
                });
            }
            CaseEvent::InformationDisclosed { disclosure, .. } => self.disclosures.push(disclosure.clone()),
            CaseEvent::ReferralAccepted { .. }
            | CaseEvent::PreMeetingHeld { .. }
            | CaseEvent::ActivityLogged { .. } => {}
            CaseEvent::ReferralDeclined { at, .. } => self.end(*at),
            CaseEvent::VolunteerMatched { volunteer, on, .. } => {
                self.current_match = Some(Match { volunteer: *volunteer, since: *on });
                self.first_matched_on.get_or_insert(*on);
            }
            CaseEvent::MatchEnded { .. } => self.current_match = None,
            CaseEvent::ConcernReported { concern, .. } => {
                self.concerns.insert(concern.id, concern.clone());
            }
            CaseEvent::ConcernAcknowledged { concern, receipt } => {
                if let Some(c) = self.concerns.get_mut(concern) {
                    c.receipt = Some(receipt.clone());
                }
            }
            CaseEvent::ClosingMeetingHeld { outcomes, at, .. } => {
                self.outcomes = outcomes.clone();
                self.end(*at);
            }
            CaseEvent::CaseWithdrawn { at, .. } | CaseEvent::CaseRedirected { at, .. } => self.end(*at),
            CaseEvent::PersonalDataErased { at, .. } => self.erased_at = Some(*at),
        }
    }

    /// The journey ended at `at` (its final state came from the event).
    fn end(&mut self, at: DateTime<Utc>) {
        self.current_match = None;
        self.ended_at = Some(at);
    }
}

fn in_force_for_referral(id: AgreementId, agreement: &Agreement) -> Result<(u32, &Terms), CaseError> {
    if agreement.id != Some(id) {
        return Err(CaseError::AgreementMismatch(id));
    }
    if agreement.terminated {
        return Err(CaseError::AgreementTerminated(id));
    }
    agreement.in_force.as_ref().map(|(v, t)| (*v, t)).ok_or(CaseError::AgreementNotApproved(id))
}

fn expect_state(state: CaseState, allowed: &[CaseState], action: &'static str) -> Result<(), CaseError> {
    if allowed.contains(&state) { Ok(()) } else { Err(CaseError::WrongState { action, state }) }
}

fn not_final(state: CaseState, action: &'static str) -> Result<(), CaseError> {
    if state.is_final() { Err(CaseError::WrongState { action, state }) } else { Ok(()) }
}

fn non_empty(text: &Personal<String>, what: &'static str) -> Result<(), CaseError> {
    if text.expose().trim().is_empty() { Err(CaseError::Invalid(what)) } else { Ok(()) }
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
            | Self::ConcernReported { .. }
            | Self::ConcernAcknowledged { .. }
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
            | Self::ClosingMeetingHeld { at, .. }
            | Self::CaseWithdrawn { at, .. }
            | Self::CaseRedirected { at, .. }
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
            | Self::ClosingMeetingHeld { by, .. }
            | Self::CaseWithdrawn { by, .. }
            | Self::CaseRedirected { by, .. }
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
            Self::ConcernReported { .. } => "concern_reported",
            Self::ConcernAcknowledged { .. } => "concern_acknowledged",
            Self::ClosingMeetingHeld { .. } => "closing_meeting_held",
            Self::CaseWithdrawn { .. } => "case_withdrawn",
            Self::CaseRedirected { .. } => "case_redirected",
            Self::PersonalDataErased { .. } => "personal_data_erased",
        }
    }
}

pure_aggregate!(Case, "case", CaseCommand, CaseEvent, CaseError);

#[cfg(test)]
pub(crate) mod tests;
