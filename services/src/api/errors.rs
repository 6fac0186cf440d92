//! Domain refusals as problem+json: each rule has a stable slug and a status.

use axum::http::StatusCode;
use brobyg_domain::Org;
use brobyg_domain::agreement::AgreementError;
use brobyg_domain::case::CaseError;
use brobyg_domain::volunteer::VolunteerError;

use crate::api::Problem;

/// A domain error that knows its problem.
pub trait DomainProblem: std::error::Error {
    /// The problem for a caller of organisation `caller_org`.
    fn problem(&self, caller_org: &Org) -> Problem;
}

fn p(status: StatusCode, slug: &'static str, title: &'static str, e: &impl std::error::Error) -> Problem {
    Problem::new(status, slug, title, e.to_string())
}

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const CONFLICT: StatusCode = StatusCode::CONFLICT;

impl DomainProblem for CaseError {
    fn problem(&self, caller_org: &Org) -> Problem {
        use CaseError::*;
        match self {
            AlreadyOpened => p(CONFLICT, "already-exists", "Already exists", self),
            NotFound => Problem::not_found("case"),
            // Not a party at all: the case's existence must not leak.
            NotAParty(org, _) if org == caller_org => Problem::not_found("case"),
            NotAParty(..) => p(UNPROCESSABLE, "not-a-party", "Organisation is not a party to the case", self),
            WrongState { .. } => p(CONFLICT, "wrong-state", "Not allowed in the case's state", self),
            NotPermitted { .. } => p(StatusCode::FORBIDDEN, "forbidden", "Forbidden", self),
            AgreementNotApproved(_) => p(CONFLICT, "agreement-not-approved", "Agreement not approved", self),
            AgreementTerminated(_) => p(CONFLICT, "agreement-terminated", "Agreement terminated", self),
            AgreementMismatch(_) => p(UNPROCESSABLE, "agreement-mismatch", "Agreement does not cover this case", self),
            CategoryNotInAgreement { .. } => {
                p(UNPROCESSABLE, "category-not-in-agreement", "Category not allowed by the agreement", self)
            }
            ConsentMissing { .. } => p(UNPROCESSABLE, "consent-missing", "No consent covers the disclosure", self),
            GrantorMissing(_) | UnknownGrantor(_) | NoCustodyHolder => {
                p(UNPROCESSABLE, "grantor-missing", "Consent lacks a required grantor", self)
            }
            ConsentNotFound(_) => Problem::not_found("consent"),
            ConcernNotFound(_) => Problem::not_found("concern"),
            ItemNotFound(_) => p(UNPROCESSABLE, "unknown-item", "Unknown item", self),
            ConsentAlreadyRevoked(_) | ConcernAlreadyAcknowledged(_) => {
                p(CONFLICT, "already-done", "Already done", self)
            }
            ItemNotOwned { .. } => p(UNPROCESSABLE, "item-not-owned", "Only the owner discloses an item", self),
            ConfidentialityDeclarationMissing(_) | ChildCertificateMissing(_) | ChildCertificateExpired { .. } => {
                p(UNPROCESSABLE, "volunteer-not-vetted", "Volunteer not vetted", self)
            }
            VolunteerInactive(_) | VolunteerAtCapacity(_) => {
                p(CONFLICT, "volunteer-unavailable", "Volunteer unavailable", self)
            }
            Invalid(_) => p(UNPROCESSABLE, "invalid-field", "Invalid field", self),
            ConcernOpen(_) => p(CONFLICT, "concern-open", "A concern is open", self),
            RetentionDutyApplies(_) => p(CONFLICT, "retention-duty", "The record must be kept", self),
            AlreadyErased => p(CONFLICT, "already-done", "Already done", self),
            EarlierCaseNotFound => p(UNPROCESSABLE, "unknown-case", "Unknown earlier case", self),
            EarlierCaseOpen(_) => p(CONFLICT, "wrong-state", "The earlier case is still open", self),
            VolunteerNotFound(_) => p(UNPROCESSABLE, "unknown-volunteer", "Unknown volunteer", self),
            MeetingNotFound(_) => Problem::not_found("meeting"),
            MeetingNotPlanned(_) | MeetingAlreadyPlanned(_) => {
                p(CONFLICT, "wrong-state", "Not allowed in the meeting's state", self)
            }
            MeetingNotHeld(_) | CheckpointPassed { .. } => {
                p(CONFLICT, "checkpoint-not-open", "The checkpoint is not open", self)
            }
            TagNotInProgramme(_) => p(UNPROCESSABLE, "unknown-tag", "Not one of the programme's interest tags", self),
            Moved { .. } => p(CONFLICT, "case-moved", "The case moved to another municipality", self),
            MoveNeedsAgreement { .. } => {
                p(UNPROCESSABLE, "agreement-required", "The new municipality's agreement is required", self)
            }
            ParticipantsMissing(_) => {
                p(UNPROCESSABLE, "participants-missing", "Someone who must take part is not accounted for", self)
            }
        }
    }
}

impl DomainProblem for AgreementError {
    fn problem(&self, caller_org: &Org) -> Problem {
        use AgreementError::*;
        match self {
            AlreadyExists => p(CONFLICT, "already-exists", "Already exists", self),
            NotFound => Problem::not_found("agreement"),
            NotAParty(org) if org == caller_org => Problem::not_found("agreement"),
            NotAParty(_) | DraftsForOthers(_) => p(UNPROCESSABLE, "not-a-party", "Organisation is not a party", self),
            NotPermitted(_) => p(StatusCode::FORBIDDEN, "forbidden", "Forbidden", self),
            AlreadyApproved { .. } => p(CONFLICT, "already-done", "Already done", self),
            VersionConflict { .. } => p(CONFLICT, "version-conflict", "Version conflict", self),
            Terminated => p(CONFLICT, "agreement-terminated", "Agreement terminated", self),
            InvalidTerms(_) => p(UNPROCESSABLE, "invalid-field", "Invalid agreement terms", self),
        }
    }
}

impl DomainProblem for VolunteerError {
    fn problem(&self, _caller_org: &Org) -> Problem {
        use VolunteerError::*;
        match self {
            AlreadyRegistered => p(CONFLICT, "already-exists", "Already exists", self),
            NotFound | NotTheirVolunteer(_) => Problem::not_found("volunteer"),
            NotPermitted(_) | NotAnNgo(_) => p(StatusCode::FORBIDDEN, "forbidden", "Forbidden", self),
            WrongStatus(_) | AtCapacity(_) => p(CONFLICT, "volunteer-unavailable", "Volunteer unavailable", self),
            AlreadyAssigned(_) | NotAssigned(_) | StillMatched(_) => {
                p(CONFLICT, "wrong-state", "Not allowed in the volunteer's state", self)
            }
            Invalid(_) => p(UNPROCESSABLE, "invalid-field", "Invalid field", self),
        }
    }
}
