//! The partnership agreement (samarbejds- og videndelingsaftale) between one municipality and one
//! NGO for one programme: which categories may flow in which direction at which checkpoint, for
//! which purposes, and how long the NGO keeps personal data after closing.
//!
//! Lifecycle: drafted (version 1) → approved by each side → in force. An amendment is a new
//! version that needs both approvals again; until then the last approved version stays in force,
//! and disclosures keep the version they were made under. Termination stops new referrals.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AgreementId, Org, UserId};
use crate::vocab::{Actor, Category, Checkpoint, Duty, Purpose, Role, Side};

/// One permitted flow: at `checkpoint`, `categories` may go `from` one side `to` the other for
/// `purposes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Where the flow happens.
    pub checkpoint: Checkpoint,
    /// The disclosing side.
    pub from: Side,
    /// The receiving side.
    pub to: Side,
    /// The categories that may flow.
    pub categories: BTreeSet<Category>,
    /// The purposes the flow serves.
    pub purposes: BTreeSet<Purpose>,
}

/// The reporting duty each kind of NGO reporter has under this agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportingDuties {
    /// Coordinators perform a public task in the partnership: heightened duty by default.
    pub coordinator: Duty,
    /// Volunteers have the general duty by default.
    pub volunteer: Duty,
}

impl Default for ReportingDuties {
    fn default() -> Self {
        Self { coordinator: Duty::Heightened, volunteer: Duty::General }
    }
}

/// The terms of one version of an agreement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// The municipality party.
    pub municipality: Org,
    /// The NGO party.
    pub ngo: Org,
    /// The programme slug, e.g. `klub-move`.
    pub programme: String,
    /// The permitted flows.
    pub flows: Vec<Flow>,
    /// Days the NGO side keeps personal data after the case closes.
    pub retention_days_after_closing: u32,
    /// Reporting duties of the NGO's reporters.
    #[serde(default)]
    pub reporting_duties: ReportingDuties,
    /// Whether the municipality may follow a running course between checkpoints: whether it is
    /// active, the last contact day and the coordinator's on-track judgement — no content.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interim_status: bool,
    /// The programme's interest tags, the controlled list the young person's wishes and the
    /// volunteers' interests are matched on (e.g. `climbing`, `football`); empty: any tag.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub interest_tags: std::collections::BTreeSet<String>,
}

/// The most interest tags one programme may list.
pub const MAX_INTEREST_TAGS: usize = 200;

/// Whether `tag` is an interest tag: 1 to 40 of a-z, 0-9, `-` and `_`.
#[must_use]
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 40
        && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The longest retention an agreement may set: ten years after the case ended.
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// The most flows one agreement may list.
pub const MAX_FLOWS: usize = 64;

impl Terms {
    /// The last day the NGO side keeps a case's personal data after the case ended on
    /// `ended_on`; erasure is due from the day after. `None` when the period reaches past the
    /// calendar (no erasure is due).
    #[must_use]
    pub fn ngo_retention_due(&self, ended_on: NaiveDate) -> Option<NaiveDate> {
        ended_on.checked_add_days(chrono::Days::new(u64::from(self.retention_days_after_closing)))
    }

    /// The first flow that lets `category` go `from` → `to` at `checkpoint`, if any.
    #[must_use]
    pub fn flow_for(&self, checkpoint: Checkpoint, from: Side, to: Side, category: Category) -> Option<&Flow> {
        self.flows_for(checkpoint, from, to, category).next().map(|(_, f)| f)
    }

    /// Every flow that lets `category` go `from` → `to` at `checkpoint`, with its index: flows of
    /// different purposes may cover the same category.
    pub fn flows_for(
        &self,
        checkpoint: Checkpoint,
        from: Side,
        to: Side,
        category: Category,
    ) -> impl Iterator<Item = (usize, &Flow)> {
        self.flows.iter().enumerate().filter(move |(_, f)| {
            f.checkpoint == checkpoint && f.from == from && f.to == to && f.categories.contains(&category)
        })
    }

    /// The side `org` is on in this agreement, if it is a party.
    #[must_use]
    pub fn side_of(&self, org: &Org) -> Option<Side> {
        if *org == self.municipality {
            Some(Side::Municipality)
        } else if *org == self.ngo {
            Some(Side::Ngo)
        } else {
            None
        }
    }

    fn validate(&self) -> Result<(), AgreementError> {
        if !self.municipality.is_municipality() {
            return Err(AgreementError::InvalidTerms(format!("{} is not a municipality", self.municipality)));
        }
        if self.ngo.is_municipality() {
            return Err(AgreementError::InvalidTerms(format!("{} is not an NGO", self.ngo)));
        }
        let slug_ok = !self.programme.is_empty()
            && self.programme.len() <= 64
            && self.programme.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug_ok {
            return Err(AgreementError::InvalidTerms(
                "programme must be a slug of a-z, 0-9 and - (at most 64)".to_owned(),
            ));
        }
        if self.retention_days_after_closing > MAX_RETENTION_DAYS {
            return Err(AgreementError::InvalidTerms(format!(
                "retention_days_after_closing must be at most {MAX_RETENTION_DAYS} (ten years)"
            )));
        }
        if self.flows.len() > MAX_FLOWS {
            return Err(AgreementError::InvalidTerms(format!("at most {MAX_FLOWS} flows")));
        }
        if self.interest_tags.len() > MAX_INTEREST_TAGS {
            return Err(AgreementError::InvalidTerms(format!("at most {MAX_INTEREST_TAGS} interest tags")));
        }
        if let Some(bad) = self.interest_tags.iter().find(|t| !is_tag(t)) {
            return Err(AgreementError::InvalidTerms(format!("interest tag {bad:?}: 1 to 40 of a-z, 0-9, - and _")));
        }
        for (i, flow) in self.flows.iter().enumerate() {
            if flow.from == flow.to {
                return Err(AgreementError::InvalidTerms(format!("flow {i} goes from {} to itself", flow.from)));
            }
            if flow.categories.is_empty() {
                return Err(AgreementError::InvalidTerms(format!("flow {i} names no category")));
            }
            if flow.purposes.is_empty() {
                return Err(AgreementError::InvalidTerms(format!("flow {i} names no purpose")));
            }
        }
        Ok(())
    }
}

/// Where an agreement stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementStatus {
    /// The latest version awaits approval by one or both sides.
    #[default]
    Draft,
    /// The latest version is approved by both sides.
    Approved,
    /// No new referrals; existing cases continue under the last approved version.
    Terminated,
}

/// What happened to an agreement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementEvent {
    /// Version 1 was drafted.
    AgreementDrafted { id: AgreementId, terms: Terms, by: UserId, org: Org, at: DateTime<Utc> },
    /// One side approved a version.
    AgreementApproved { version: u32, side: Side, by: UserId, org: Org, at: DateTime<Utc> },
    /// Both sides have approved `version`; it is now the version in force.
    AgreementInForce { version: u32, at: DateTime<Utc> },
    /// A new version was drafted; it needs both approvals again.
    AgreementAmended { version: u32, terms: Terms, by: UserId, org: Org, at: DateTime<Utc> },
    /// No new referrals under this agreement.
    AgreementTerminated { reason: String, by: UserId, org: Org, at: DateTime<Utc> },
}

impl crate::personal::KeyHolder for AgreementEvent {}

/// What may be asked of an agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgreementAction {
    /// Draft version 1.
    Draft { id: AgreementId, terms: Terms },
    /// Approve `version`, which must be the latest, on behalf of the actor's side.
    Approve { version: u32 },
    /// Draft a new version with new flows or retention; the parties and programme stay.
    Amend { terms: Terms },
    /// Stop new referrals.
    Terminate { reason: String },
}

/// A command to an agreement: who asks, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementCommand {
    /// Who acts, and when.
    pub actor: Actor,
    /// What is asked.
    pub action: AgreementAction,
}

/// Why an agreement command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgreementError {
    /// Draft on an agreement that exists.
    #[error("agreement already exists")]
    AlreadyExists,
    /// Any command but draft on an agreement that does not exist.
    #[error("agreement not found")]
    NotFound,
    /// The actor's organisation is not a party.
    #[error("organisation {0} is not a party to this agreement")]
    NotAParty(Org),
    /// The actor's organisation drafts terms between two other organisations.
    #[error(
        "organisation {0} is not one of the two parties the terms name; an agreement is drafted by one of its parties"
    )]
    DraftsForOthers(Org),
    /// The actor's role may not act on agreements.
    #[error(
        "role {0} may not change partnership agreements: drafting, amending, approving and terminating are for each side's admin"
    )]
    NotPermitted(Role),
    /// An approval named a version that is not the latest.
    #[error("version {named} is not the current version of the terms ({current}); read the agreement again")]
    VersionConflict { named: u32, current: u32 },
    /// The side approved this version already.
    #[error("{side} side already approved version {version}")]
    AlreadyApproved { side: Side, version: u32 },
    /// The agreement was terminated.
    #[error("agreement is terminated")]
    Terminated,
    /// The terms are not valid.
    #[error("invalid agreement terms: {0}")]
    InvalidTerms(String),
}

/// The agreement as folded from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// Its id; `None` before it was drafted.
    pub id: Option<AgreementId>,
    /// The latest version number (0 before drafting).
    pub version: u32,
    /// The latest version's terms.
    pub terms: Option<Terms>,
    /// The sides that approved the latest version.
    pub approvals: BTreeSet<Side>,
    /// The version in force and its terms: the last one both sides approved.
    pub in_force: Option<(u32, Terms)>,
    /// Whether the agreement was terminated.
    pub terminated: bool,
}

impl Agreement {
    /// Where the agreement stands.
    #[must_use]
    pub fn status(&self) -> AgreementStatus {
        if self.terminated {
            AgreementStatus::Terminated
        } else if self.in_force.as_ref().is_some_and(|(v, _)| *v == self.version) {
            AgreementStatus::Approved
        } else {
            AgreementStatus::Draft
        }
    }

    /// Decides a command: the events it yields, or the rule it breaks.
    pub fn decide(&self, command: AgreementCommand) -> Result<Vec<AgreementEvent>, AgreementError> {
        let AgreementCommand { actor, action } = command;
        if actor.role != Role::Admin {
            return Err(AgreementError::NotPermitted(actor.role));
        }
        let by = actor.user.clone();
        let org = actor.org.clone();
        let at = actor.at;
        match action {
            AgreementAction::Draft { id, terms } => {
                if self.id.is_some() {
                    return Err(AgreementError::AlreadyExists);
                }
                terms.validate()?;
                if terms.side_of(&actor.org).is_none() {
                    return Err(AgreementError::DraftsForOthers(actor.org));
                }
                Ok(vec![AgreementEvent::AgreementDrafted { id, terms, by, org, at }])
            }
            AgreementAction::Approve { version } => {
                let terms = self.current_terms()?;
                let side = terms.side_of(&actor.org).ok_or(AgreementError::NotAParty(actor.org.clone()))?;
                if self.terminated {
                    return Err(AgreementError::Terminated);
                }
                if version != self.version {
                    return Err(AgreementError::VersionConflict { named: version, current: self.version });
                }
                if self.approvals.contains(&side) {
                    return Err(AgreementError::AlreadyApproved { side, version: self.version });
                }
                let mut events = vec![AgreementEvent::AgreementApproved { version: self.version, side, by, org, at }];
                if self.approvals.len() + 1 == 2 {
                    events.push(AgreementEvent::AgreementInForce { version: self.version, at });
                }
                Ok(events)
            }
            AgreementAction::Amend { terms } => {
                let current = self.current_terms()?;
                if current.side_of(&actor.org).is_none() {
                    return Err(AgreementError::NotAParty(actor.org));
                }
                if self.terminated {
                    return Err(AgreementError::Terminated);
                }
                terms.validate()?;
                if terms.municipality != current.municipality
                    || terms.ngo != current.ngo
                    || terms.programme != current.programme
                {
                    return Err(AgreementError::InvalidTerms(
                        "an amendment keeps the parties and the programme".to_owned(),
                    ));
                }
                Ok(vec![AgreementEvent::AgreementAmended { version: self.version + 1, terms, by, org, at }])
            }
            AgreementAction::Terminate { reason } => {
                let current = self.current_terms()?;
                if current.side_of(&actor.org).is_none() {
                    return Err(AgreementError::NotAParty(actor.org));
                }
                if self.terminated {
                    return Err(AgreementError::Terminated);
                }
                Ok(vec![AgreementEvent::AgreementTerminated { reason, by, org, at }])
            }
        }
    }

    fn current_terms(&self) -> Result<&Terms, AgreementError> {
        self.terms.as_ref().ok_or(AgreementError::NotFound)
    }

    /// Folds one event into the state. Holds no rules.
    pub fn apply(&mut self, event: &AgreementEvent) {
        match event {
            AgreementEvent::AgreementDrafted { id, terms, .. } => {
                self.id = Some(*id);
                self.version = 1;
                self.terms = Some(terms.clone());
            }
            AgreementEvent::AgreementApproved { side, .. } => {
                self.approvals.insert(*side);
            }
            AgreementEvent::AgreementInForce { version, .. } => {
                if let Some(terms) = &self.terms {
                    self.in_force = Some((*version, terms.clone()));
                }
            }
            AgreementEvent::AgreementAmended { version, terms, .. } => {
                self.version = *version;
                self.terms = Some(terms.clone());
                self.approvals.clear();
            }
            AgreementEvent::AgreementTerminated { .. } => self.terminated = true,
        }
    }
}

impl AgreementEvent {
    /// The stable wire name of the event.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::AgreementDrafted { .. } => "agreement_drafted",
            Self::AgreementApproved { .. } => "agreement_approved",
            Self::AgreementInForce { .. } => "agreement_in_force",
            Self::AgreementAmended { .. } => "agreement_amended",
            Self::AgreementTerminated { .. } => "agreement_terminated",
        }
    }
}

pure_aggregate!(Agreement, "agreement", AgreementCommand, AgreementEvent, AgreementError);

#[cfg(test)]
mod tests;
