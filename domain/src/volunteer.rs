//! An NGO volunteer: registration, vetting (child certificate, confidentiality declaration),
//! pause, resume, retirement, and the cases they are assigned to.

use std::collections::BTreeSet;

use chrono::{DateTime, Months, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Personal;
use crate::ids::{CaseId, Org, UserId, VolunteerId};
use crate::vocab::{Actor, Role};

/// How long a child certificate (børneattest) counts as current, in months.
///
/// The law requires the certificate before contact with children under 15 but sets no expiry;
/// Danish volunteer organisations commonly renew it every two years, which we adopt.
pub const CHILD_CERTIFICATE_VALID_MONTHS: u32 = 24;

/// A day of the week for availability slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A weekly slot when the volunteer can meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The day.
    pub weekday: Weekday,
    /// From (local time).
    pub from: NaiveTime,
    /// To (local time), after `from`.
    pub to: NaiveTime,
}

/// The volunteer's profile as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// First name only.
    pub first_name: Personal<String>,
    /// Interests, e.g. `football`.
    pub interests: Vec<String>,
    /// Languages as ISO 639-1 codes.
    pub languages: Vec<String>,
    /// Postal code area.
    pub area: String,
    /// Weekly availability.
    pub availability: Vec<Slot>,
    /// How many young people the volunteer can be matched with at once (at least 1).
    pub capacity: u32,
}

/// A session of the volunteer's training or supervision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// Introductory or further training.
    Training,
    /// Supervision (sparring with the coordinator).
    Supervision,
}

/// A training or supervision session the volunteer took part in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Training or supervision.
    pub kind: SessionKind,
    /// The day.
    pub on: NaiveDate,
}

/// Whether a volunteer takes new matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VolunteerStatus {
    /// Takes new matches.
    #[default]
    Active,
    /// Temporarily takes none.
    Paused,
    /// Has stopped for good.
    Retired,
}

/// What happened to a volunteer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolunteerEvent {
    /// Registered by a coordinator of `ngo`.
    VolunteerRegistered { id: VolunteerId, ngo: Org, profile: Profile, by: UserId, at: DateTime<Utc> },
    /// Vetting facts were recorded.
    VolunteerVetted {
        child_certificate_date: Option<NaiveDate>,
        confidentiality_declaration_date: Option<NaiveDate>,
        by: UserId,
        at: DateTime<Utc>,
    },
    /// Paused: no new matches.
    VolunteerPaused { by: UserId, at: DateTime<Utc> },
    /// Resumed after a pause.
    VolunteerResumed { by: UserId, at: DateTime<Utc> },
    /// Retired for good.
    VolunteerRetired { by: UserId, at: DateTime<Utc> },
    /// Assigned to a case (matched).
    VolunteerAssigned { case: CaseId, by: UserId, at: DateTime<Utc> },
    /// Released from a case (match ended or case ended).
    VolunteerReleased { case: CaseId, by: UserId, at: DateTime<Utc> },
    /// The volunteer agreed (or no longer agrees) that the municipality of a case they are
    /// matched with may know their first name, vetting status and start date.
    VolunteerSharingChanged { with_municipality: bool, by: UserId, at: DateTime<Utc> },
    /// The volunteer took part in a training or supervision session.
    VolunteerSessionRecorded { kind: SessionKind, on: NaiveDate, by: UserId, at: DateTime<Utc> },
    /// A reference was taken up for the volunteer; `note` (sealed) is the coordinator's summary,
    /// never the referee's contact details.
    VolunteerReferenceChecked { on: NaiveDate, note: Personal<String>, by: UserId, at: DateTime<Utc> },
}

impl crate::personal::KeyHolder for VolunteerEvent {}

/// What may be asked of a volunteer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolunteerAction {
    /// Register a new volunteer of the actor's NGO.
    Register { id: VolunteerId, profile: Profile },
    /// Record vetting dates: a date left out keeps the one on record (a renewed declaration
    /// does not erase the child certificate).
    RecordVetting { child_certificate_date: Option<NaiveDate>, confidentiality_declaration_date: Option<NaiveDate> },
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Retire.
    Retire,
    /// Take on a case; checks status and capacity so two concurrent matches cannot both win.
    Assign { case: CaseId },
    /// Let go of a case.
    Release { case: CaseId },
    /// Record the volunteer's own consent (or its withdrawal) to the municipality of a matched
    /// case knowing their first name, vetting status and start date.
    SetSharing { with_municipality: bool },
    /// Record a training or supervision session.
    RecordSession { kind: SessionKind, on: NaiveDate },
    /// Record a reference taken up.
    RecordReference { on: NaiveDate, note: Personal<String> },
}

/// A command to a volunteer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolunteerCommand {
    /// Who acts, and when.
    pub actor: Actor,
    /// What is asked.
    pub action: VolunteerAction,
}

/// Why a volunteer command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VolunteerError {
    /// Register on an existing volunteer.
    #[error("volunteer already registered")]
    AlreadyRegistered,
    /// Any command but register on a volunteer that does not exist.
    #[error("volunteer not found")]
    NotFound,
    /// Only coordinators manage volunteers.
    #[error("role {0} may not manage volunteers")]
    NotPermitted(Role),
    /// The actor is not of the volunteer's NGO.
    #[error("organisation {0} does not manage this volunteer")]
    NotTheirVolunteer(Org),
    /// Only NGOs have volunteers.
    #[error("only an NGO can register volunteers, not {0}")]
    NotAnNgo(Org),
    /// The status does not allow the command.
    #[error("volunteer is {0:?}")]
    WrongStatus(VolunteerStatus),
    /// Capacity is used up.
    #[error("volunteer is at capacity ({0} matches)")]
    AtCapacity(u32),
    /// Assigned twice to the same case.
    #[error("volunteer is already matched with case {0}")]
    AlreadyAssigned(CaseId),
    /// Released from a case they were not assigned to.
    #[error("volunteer is not matched with case {0}")]
    NotAssigned(CaseId),
    /// Retirement while matched with cases.
    #[error("volunteer is matched with {} case(s) ({}): end those matches first", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    StillMatched(Vec<CaseId>),
    /// A field is invalid.
    #[error("invalid volunteer: {0}")]
    Invalid(&'static str),
}

/// The volunteer as folded from their events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volunteer {
    /// Id; `None` before registration.
    pub id: Option<VolunteerId>,
    /// The NGO.
    pub ngo: Option<Org>,
    /// The profile.
    pub profile: Option<Profile>,
    /// Child certificate date.
    pub child_certificate_date: Option<NaiveDate>,
    /// Confidentiality declaration date.
    pub confidentiality_declaration_date: Option<NaiveDate>,
    /// Status.
    pub status: VolunteerStatus,
    /// Cases the volunteer is matched with now.
    pub assignments: BTreeSet<CaseId>,
    /// The day the volunteer was registered (their start).
    #[serde(default)]
    pub since: Option<NaiveDate>,
    /// Whether the volunteer agreed that the municipality of a matched case may know their
    /// first name, vetting status and start date.
    #[serde(default)]
    pub shares_with_municipality: bool,
    /// Training and supervision sessions, in order.
    #[serde(default)]
    pub sessions: Vec<Session>,
    /// The days references were taken up.
    #[serde(default)]
    pub references: Vec<NaiveDate>,
}

/// What a case needs to know about a volunteer to decide a match; looked up by the application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolunteerFacts {
    /// The volunteer.
    pub id: VolunteerId,
    /// Their NGO.
    pub ngo: Org,
    /// Their status.
    pub status: VolunteerStatus,
    /// Capacity.
    pub capacity: u32,
    /// Current matches with other cases.
    pub assigned_elsewhere: u32,
    /// Child certificate date.
    pub child_certificate_date: Option<NaiveDate>,
    /// Confidentiality declaration date.
    pub confidentiality_declaration_date: Option<NaiveDate>,
}

impl VolunteerFacts {
    /// Whether a child certificate dated `date` is current on `on`.
    #[must_use]
    pub fn certificate_current_on(date: NaiveDate, on: NaiveDate) -> bool {
        date <= on && date.checked_add_months(Months::new(CHILD_CERTIFICATE_VALID_MONTHS)).is_some_and(|end| on < end)
    }
}

impl Volunteer {
    /// Whether the vetting is in order on `on`: a confidentiality declaration, and a child
    /// certificate that is current (what contact with a child under 15 needs).
    #[must_use]
    pub fn vetted_on(&self, on: NaiveDate) -> bool {
        self.confidentiality_declaration_date.is_some_and(|d| d <= on)
            && self.child_certificate_date.is_some_and(|d| d <= on && VolunteerFacts::certificate_current_on(d, on))
    }

    /// The facts a match decision needs, for matching with `case`.
    #[must_use]
    pub fn facts_for(&self, case: CaseId) -> Option<VolunteerFacts> {
        let (id, ngo, profile) = (self.id?, self.ngo.clone()?, self.profile.as_ref()?);
        Some(VolunteerFacts {
            id,
            ngo,
            status: self.status,
            capacity: profile.capacity,
            assigned_elsewhere: self.assignments.iter().filter(|c| **c != case).count() as u32,
            child_certificate_date: self.child_certificate_date,
            confidentiality_declaration_date: self.confidentiality_declaration_date,
        })
    }

    /// Decides a command.
    pub fn decide(&self, command: VolunteerCommand) -> Result<Vec<VolunteerEvent>, VolunteerError> {
        let VolunteerCommand { actor, action } = command;
        if actor.role != Role::Coordinator {
            return Err(VolunteerError::NotPermitted(actor.role));
        }
        let by = actor.user.clone();
        let at = actor.at;
        if let VolunteerAction::Register { id, profile } = action {
            if self.id.is_some() {
                return Err(VolunteerError::AlreadyRegistered);
            }
            if actor.org.is_municipality() {
                return Err(VolunteerError::NotAnNgo(actor.org));
            }
            validate_profile(&profile)?;
            return Ok(vec![VolunteerEvent::VolunteerRegistered { id, ngo: actor.org, profile, by, at }]);
        }
        let (Some(ngo), Some(profile)) = (&self.ngo, &self.profile) else {
            return Err(VolunteerError::NotFound);
        };
        if *ngo != actor.org {
            return Err(VolunteerError::NotTheirVolunteer(actor.org));
        }
        let event = match action {
            VolunteerAction::Register { .. } => return Err(VolunteerError::AlreadyRegistered),
            VolunteerAction::RecordVetting { child_certificate_date, confidentiality_declaration_date } => {
                if self.status == VolunteerStatus::Retired {
                    return Err(VolunteerError::WrongStatus(self.status));
                }
                if child_certificate_date.is_none() && confidentiality_declaration_date.is_none() {
                    return Err(VolunteerError::Invalid(
                        "name a child_certificate_date or a confidentiality_declaration_date",
                    ));
                }
                let today = crate::calendar::copenhagen_date(at);
                if [child_certificate_date, confidentiality_declaration_date].into_iter().flatten().any(|d| d > today) {
                    return Err(VolunteerError::Invalid("a vetting date is in the future"));
                }
                VolunteerEvent::VolunteerVetted {
                    child_certificate_date: child_certificate_date.or(self.child_certificate_date),
                    confidentiality_declaration_date: confidentiality_declaration_date
                        .or(self.confidentiality_declaration_date),
                    by,
                    at,
                }
            }
            VolunteerAction::Pause => match self.status {
                VolunteerStatus::Active => VolunteerEvent::VolunteerPaused { by, at },
                s => return Err(VolunteerError::WrongStatus(s)),
            },
            VolunteerAction::Resume => match self.status {
                VolunteerStatus::Paused => VolunteerEvent::VolunteerResumed { by, at },
                s => return Err(VolunteerError::WrongStatus(s)),
            },
            VolunteerAction::Retire => match self.status {
                VolunteerStatus::Retired => return Err(VolunteerError::WrongStatus(self.status)),
                // A case with a retired volunteer would stay in course with nobody: the
                // coordinator ends each match first (with its reason), or pauses the volunteer.
                _ if !self.assignments.is_empty() => {
                    return Err(VolunteerError::StillMatched(self.assignments.iter().copied().collect()));
                }
                _ => VolunteerEvent::VolunteerRetired { by, at },
            },
            VolunteerAction::Assign { case } => {
                if self.status != VolunteerStatus::Active {
                    return Err(VolunteerError::WrongStatus(self.status));
                }
                if self.assignments.contains(&case) {
                    return Err(VolunteerError::AlreadyAssigned(case));
                }
                if self.assignments.len() as u32 >= profile.capacity {
                    return Err(VolunteerError::AtCapacity(profile.capacity));
                }
                VolunteerEvent::VolunteerAssigned { case, by, at }
            }
            VolunteerAction::Release { case } => {
                if !self.assignments.contains(&case) {
                    return Err(VolunteerError::NotAssigned(case));
                }
                VolunteerEvent::VolunteerReleased { case, by, at }
            }
            VolunteerAction::SetSharing { with_municipality } => {
                VolunteerEvent::VolunteerSharingChanged { with_municipality, by, at }
            }
            VolunteerAction::RecordSession { kind, on } => {
                if on > crate::calendar::copenhagen_date(at) {
                    return Err(VolunteerError::Invalid("on: a session is recorded once it took place"));
                }
                VolunteerEvent::VolunteerSessionRecorded { kind, on, by, at }
            }
            VolunteerAction::RecordReference { on, note } => {
                if on > crate::calendar::copenhagen_date(at) {
                    return Err(VolunteerError::Invalid("on: a reference is recorded once it was taken up"));
                }
                VolunteerEvent::VolunteerReferenceChecked { on, note, by, at }
            }
        };
        Ok(vec![event])
    }

    /// Folds one event. Holds no rules.
    pub fn apply(&mut self, event: &VolunteerEvent) {
        match event {
            VolunteerEvent::VolunteerRegistered { id, ngo, profile, at, .. } => {
                self.since = Some(crate::calendar::copenhagen_date(*at));
                self.id = Some(*id);
                self.ngo = Some(ngo.clone());
                self.profile = Some(profile.clone());
            }
            VolunteerEvent::VolunteerVetted { child_certificate_date, confidentiality_declaration_date, .. } => {
                self.child_certificate_date = *child_certificate_date;
                self.confidentiality_declaration_date = *confidentiality_declaration_date;
            }
            VolunteerEvent::VolunteerPaused { .. } => self.status = VolunteerStatus::Paused,
            VolunteerEvent::VolunteerResumed { .. } => self.status = VolunteerStatus::Active,
            VolunteerEvent::VolunteerRetired { .. } => self.status = VolunteerStatus::Retired,
            VolunteerEvent::VolunteerAssigned { case, .. } => {
                self.assignments.insert(*case);
            }
            VolunteerEvent::VolunteerReleased { case, .. } => {
                self.assignments.remove(case);
            }
            VolunteerEvent::VolunteerSharingChanged { with_municipality, .. } => {
                self.shares_with_municipality = *with_municipality;
            }
            VolunteerEvent::VolunteerSessionRecorded { kind, on, .. } => {
                self.sessions.push(Session { kind: *kind, on: *on });
            }
            VolunteerEvent::VolunteerReferenceChecked { on, .. } => self.references.push(*on),
        }
    }
}

fn validate_profile(p: &Profile) -> Result<(), VolunteerError> {
    if p.first_name.expose().trim().is_empty() {
        return Err(VolunteerError::Invalid("first_name is empty"));
    }
    if p.capacity == 0 {
        return Err(VolunteerError::Invalid("capacity must be at least 1"));
    }
    if p.availability.iter().any(|s| s.to <= s.from) {
        return Err(VolunteerError::Invalid("an availability slot ends before it starts"));
    }
    Ok(())
}

impl VolunteerEvent {
    /// The stable wire name of the event.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::VolunteerRegistered { .. } => "volunteer_registered",
            Self::VolunteerVetted { .. } => "volunteer_vetted",
            Self::VolunteerPaused { .. } => "volunteer_paused",
            Self::VolunteerResumed { .. } => "volunteer_resumed",
            Self::VolunteerRetired { .. } => "volunteer_retired",
            Self::VolunteerAssigned { .. } => "volunteer_assigned",
            Self::VolunteerReleased { .. } => "volunteer_released",
            Self::VolunteerSharingChanged { .. } => "volunteer_sharing_changed",
            Self::VolunteerSessionRecorded { .. } => "volunteer_session_recorded",
            Self::VolunteerReferenceChecked { .. } => "volunteer_reference_checked",
        }
    }
}

pure_aggregate!(Volunteer, "volunteer", VolunteerCommand, VolunteerEvent, VolunteerError);

#[cfg(test)]
mod tests;
