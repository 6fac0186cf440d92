//! Why a case command is refused: each message names the rule and the offending value.

use chrono::NaiveDate;

use crate::ids::{AgreementId, CaseId, ConcernId, ConsentId, ItemId, MeetingId, Org, PersonId, VolunteerId};
use crate::vocab::{CaseState, Category, Checkpoint, Participant, RecipientRole, Role, Side};

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
    /// A re-referral names a case that is not the municipality's.
    #[error("the earlier case was not found")]
    EarlierCaseNotFound,
    /// A re-referral while the earlier case is still open.
    #[error("the earlier case {0} is still open: end it before referring the young person again")]
    EarlierCaseOpen(CaseId),
    /// No such volunteer of the case's NGO.
    #[error("volunteer {0} is not a volunteer of this case's NGO")]
    VolunteerNotFound(VolunteerId),
    /// No such meeting.
    #[error("meeting {0} not found")]
    MeetingNotFound(MeetingId),
    /// The meeting was held or missed already.
    #[error("meeting {0} is not planned any more (it was held or missed)")]
    MeetingNotPlanned(MeetingId),
    /// A meeting for the checkpoint is planned already.
    #[error("meeting {0} is planned for this checkpoint already: move it, or record it missed")]
    MeetingAlreadyPlanned(MeetingId),
    /// A disclosure at a meeting that was not held.
    #[error("the {0} has not been held: disclose at it once it is")]
    MeetingNotHeld(Checkpoint),
    /// A disclosure at a meeting too long after it.
    #[error("the {checkpoint} checkpoint closed on {until}: disclosures at a meeting are recorded within a week")]
    CheckpointPassed { checkpoint: Checkpoint, until: NaiveDate },
    /// Someone who must take part in a meeting is neither present nor recorded absent.
    #[error("{} must take part in the meeting or be recorded absent with a reason", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    ParticipantsMissing(Vec<Participant>),
    /// A command by a municipality the case moved away from.
    #[error("the case moved to {to} on {on}: this organisation keeps its own records of it, read-only")]
    Moved { to: Org, on: NaiveDate },
    /// A move of a course with an NGO without the new municipality's agreement with it.
    #[error("the course runs with {ngo} ({programme}): name the agreement of {to} with {ngo} that covers it")]
    MoveNeedsAgreement { to: Org, ngo: Org, programme: String },
    /// An interest tag outside the programme's list.
    #[error("tag {0:?} is not one of the programme's interest tags")]
    TagNotInProgramme(String),
    /// Erased twice.
    #[error("the subject's personal data is already erased")]
    AlreadyErased,
}
