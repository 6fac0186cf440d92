//! Every rule of the journey: `Case::decide` and the checks it is made of.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::Personal;
use crate::agreement::{Agreement, Terms};
use crate::calendar::copenhagen_date;
use crate::ids::{AgreementId, CaseId, ConsentId, DisclosureId, ItemId, MeetingId, Org, PersonId};
use crate::vocab::{Actor, CaseState, Category, Checkpoint, MeasurePoint, Participant, Purpose, Role, Side};
use crate::volunteer::{VolunteerFacts, VolunteerStatus};

use super::*;

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

    /// Whether consent `c` holds at `at` for what was disclosed under it: it is active, and from
    /// the young person's 18th birthday it holds only if the young person is among its
    /// grantors (a consent the parents gave for a minor covers nothing for an adult).
    #[must_use]
    pub fn consent_holds_at(&self, c: &Consent, at: DateTime<Utc>) -> bool {
        c.is_active_at(at) && !self.adult_without_own_grant(c, at)
    }

    /// Whether consent `c` may be the basis of a new disclosure at `at`: active, and given by
    /// every grantor the age rule requires on that day (from the 15th birthday the young person
    /// too).
    #[must_use]
    pub fn consent_complete_at(&self, c: &Consent, at: DateTime<Utc>) -> bool {
        c.is_active_at(at)
            && self.required_grantors(copenhagen_date(at)).is_ok_and(|required| required.is_subset(&c.grantors))
    }

    /// Whether a consent in its validity at `at` lacks a grantor the age rule now requires
    /// (from the 15th birthday the young person's own): it must be renewed before anything more
    /// crosses under it, and from the 18th birthday it covers nothing until then.
    #[must_use]
    /// A consent counts as renewed once a complete consent covers every recipient, category and
    /// purpose it named.
    pub fn consent_renewal_due(&self, at: DateTime<Utc>) -> bool {
        let complete: Vec<&Consent> = self.consents.values().filter(|c| self.consent_complete_at(c, at)).collect();
        self.consents.values().any(|c| {
            c.is_active_at(at)
                && !self.consent_complete_at(c, at)
                && !complete.iter().any(|r| {
                    c.recipients.is_subset(&r.recipients)
                        && c.categories.is_subset(&r.categories)
                        && c.purposes.is_subset(&r.purposes)
                })
        })
    }

    fn adult_without_own_grant(&self, c: &Consent, at: DateTime<Utc>) -> bool {
        self.young_person.as_ref().is_some_and(|p| {
            !c.grantors.contains(&p.id)
                && p.birth_date.known().is_none_or(|birth| age_on(*birth, copenhagen_date(at)) >= 18)
        })
    }

    /// Decides a command: the events it yields, or the rule it breaks. Nothing is half-applied.
    pub fn decide(&self, command: CaseCommand) -> Decision {
        let CaseCommand { actor, action } = command;
        let name = action.name();
        if let CaseAction::Open { case, young_person, custody_holders, earlier } = action {
            return self.open(&actor, case, young_person, custody_holders, earlier.as_deref());
        }
        let state = self.opened_state()?;
        // A municipality the case moved away from keeps its records, read-only.
        if self.moved_away_at(&actor.org).is_some()
            && let Some(left) = self.moves.iter().rev().find(|m| m.from == actor.org)
        {
            return Err(CaseError::Moved { to: left.to.clone(), on: left.on });
        }
        match action {
            CaseAction::Open { .. } => Err(CaseError::AlreadyOpened),
            CaseAction::Move { to, on, items, agreement } => self.relocate(&actor, state, to, on, items, agreement),
            CaseAction::RecordNeeds { needs, agreement } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::Accepted, CaseState::AwaitingMatch, CaseState::InCourse], name)?;
                let tags = agreement.in_force.as_ref().map(|(_, t)| &t.interest_tags);
                check_needs(&needs, tags)?;
                Ok(vec![CaseEvent::NeedsRecorded { needs: Personal::new(needs), by: actor.user, at: actor.at }])
            }
            CaseAction::AddItem { item, category, content } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                not_final(state, name)?;
                if self.items.contains_key(&item) {
                    return Err(CaseError::Invalid("item id: already used"));
                }
                non_empty(&content, "content: empty")?;
                Ok(vec![CaseEvent::ItemAdded { item: Item::recorded(item, category, &actor, content) }])
            }
            CaseAction::AddCustodyHolder { holder } => {
                self.municipality_caseworker(&actor, name)?;
                if self.erased_at.is_some() {
                    return Err(CaseError::AlreadyErased);
                }
                non_empty(&holder.name, "name: empty")?;
                let taken = self.young_person.as_ref().is_some_and(|p| p.id == holder.id)
                    || self.custody_holders.iter().any(|h| h.id == holder.id);
                if taken {
                    return Err(CaseError::Invalid("person id: already a person of this case"));
                }
                // A guardian is appointed where nobody holds custody, and gives way to one.
                if holder.guardian && !self.custody_holders.is_empty() {
                    return Err(CaseError::Invalid(
                        "guardian: the young person has a custody holder; a guardian is for one who has none",
                    ));
                }
                if !holder.guardian && self.custody_holders.iter().any(|h| h.guardian) {
                    return Err(CaseError::Invalid(
                        "custody holder: a guardian is registered; remove the guardian when custody returns",
                    ));
                }
                Ok(vec![CaseEvent::CustodyHolderAdded { holder, by: actor.user, at: actor.at }])
            }
            CaseAction::RemoveCustodyHolder { holder, reason } => {
                self.municipality_caseworker(&actor, name)?;
                if !self.custody_holders.iter().any(|h| h.id == holder) {
                    return Err(CaseError::UnknownGrantor(holder));
                }
                if reason.trim().is_empty() {
                    return Err(CaseError::Invalid("reason: name the legal change, e.g. a custody decision"));
                }
                Ok(vec![CaseEvent::CustodyHolderRemoved { holder, reason, by: actor.user, at: actor.at }])
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
            CaseAction::HoldPreMeeting { agreement, held_on, meeting, participants, absent, wishes, disclosures } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::Accepted], name)?;
                self.check_held(&actor, Checkpoint::PreMeeting, meeting, held_on, &participants, &absent)?;
                let mut events = vec![CaseEvent::PreMeetingHeld {
                    held_on,
                    participants,
                    absent,
                    meeting,
                    by: actor.user.clone(),
                    at: actor.at,
                }];
                if let Some((item, content)) = wishes {
                    if self.items.contains_key(&item) {
                        return Err(CaseError::Invalid("item id: already used"));
                    }
                    non_empty(&content, "wishes: empty")?;
                    events.push(CaseEvent::ItemAdded { item: Item::recorded(item, Category::Wishes, &actor, content) });
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
                non_empty(&reason, "reason: say why the match ended")?;
                let current = self.current_match.as_ref().ok_or(CaseError::WrongState { action: name, state })?;
                Ok(vec![CaseEvent::MatchEnded { volunteer: current.volunteer, reason, by: actor.user, at: actor.at }])
            }
            CaseAction::LogActivity { on, kind, note, on_track } => {
                self.ngo_coordinator(&actor, name)?;
                expect_state(state, &[CaseState::InCourse], name)?;
                let kind_ok =
                    !kind.is_empty() && kind.len() <= 40 && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                if !kind_ok {
                    return Err(CaseError::Invalid("kind: use a short word of a-z and _, e.g. meeting"));
                }
                if on > copenhagen_date(actor.at) {
                    return Err(CaseError::Invalid("on: in the future"));
                }
                Ok(vec![CaseEvent::ActivityLogged { on, kind, note, on_track, by: actor.user, at: actor.at }])
            }
            CaseAction::PlanMeeting { meeting, checkpoint, on, invited } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                let allowed: &[CaseState] = match checkpoint {
                    Checkpoint::Referral => {
                        return Err(CaseError::Invalid(
                            "checkpoint: the referral is no meeting; plan a pre_meeting or closing_meeting",
                        ));
                    }
                    Checkpoint::PreMeeting => &[CaseState::Referred, CaseState::Accepted],
                    Checkpoint::ClosingMeeting => &[CaseState::InCourse, CaseState::AwaitingMatch],
                };
                expect_state(state, allowed, name)?;
                if checkpoint == Checkpoint::ClosingMeeting && self.matches.is_empty() {
                    return Err(CaseError::WrongState { action: name, state });
                }
                if self.meetings.iter().any(|m| m.id == meeting) {
                    return Err(CaseError::Invalid("meeting id: already used"));
                }
                if let Some(planned) = self.planned_meeting(checkpoint) {
                    return Err(CaseError::MeetingAlreadyPlanned(planned.id));
                }
                if on < copenhagen_date(actor.at) {
                    return Err(CaseError::Invalid("on: in the past; record a meeting that was held instead"));
                }
                if invited.is_empty() {
                    return Err(CaseError::Invalid("invited: name at least one party"));
                }
                if invited.contains(&Participant::Volunteer) && self.current_match.is_none() {
                    return Err(CaseError::Invalid("invited: no volunteer is matched"));
                }
                Ok(vec![CaseEvent::MeetingPlanned {
                    meeting,
                    checkpoint,
                    on,
                    invited,
                    org: actor.org,
                    by: actor.user,
                    at: actor.at,
                }])
            }
            CaseAction::MoveMeeting { meeting, to, reason } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                not_final(state, name)?;
                let planned = self.planned(meeting)?;
                if to < copenhagen_date(actor.at) {
                    return Err(CaseError::Invalid("to: in the past"));
                }
                if to == planned.on {
                    return Err(CaseError::Invalid("to: the meeting is planned for that day already"));
                }
                non_empty(&reason, "reason: say why the meeting moves")?;
                Ok(vec![CaseEvent::MeetingMoved { meeting, to, reason, org: actor.org, by: actor.user, at: actor.at }])
            }
            CaseAction::RecordMissedMeeting { meeting, reason } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                not_final(state, name)?;
                let planned = self.planned(meeting)?;
                if planned.on > copenhagen_date(actor.at) {
                    return Err(CaseError::Invalid("meeting: it is planned for a later day; move it instead"));
                }
                non_empty(&reason, "reason: say why the meeting did not take place")?;
                Ok(vec![CaseEvent::MeetingMissed { meeting, reason, org: actor.org, by: actor.user, at: actor.at }])
            }
            CaseAction::Disclose { checkpoint, items, disclosure, agreement } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                if checkpoint == Checkpoint::Referral {
                    return Err(CaseError::Invalid(
                        "checkpoint: the municipality discloses at the referral with the referral itself",
                    ));
                }
                if self.erased_at.is_some() {
                    return Err(CaseError::AlreadyErased);
                }
                let held_on = self.held_on(checkpoint).ok_or(CaseError::MeetingNotHeld(checkpoint))?;
                let until = held_on + TimeDelta::days(DISCLOSURE_DAYS_AFTER_MEETING);
                if copenhagen_date(actor.at) > until {
                    return Err(CaseError::CheckpointPassed { checkpoint, until });
                }
                if items.is_empty() {
                    return Err(CaseError::Invalid("items: name at least one"));
                }
                let to = self.other_party(&actor.org)?.clone();
                let request = DisclosureRequest { id: disclosure, items, to };
                self.meeting_disclosures(&actor, &agreement, checkpoint, vec![request])
            }
            CaseAction::RecordMeasure { item, instrument, point, on, value } => {
                self.party(&actor, &[Role::Caseworker, Role::Coordinator], name)?;
                if self.erased_at.is_some() {
                    return Err(CaseError::AlreadyErased);
                }
                let matched_before = !self.matches.is_empty();
                let fits = match point {
                    MeasurePoint::Baseline => {
                        matches!(state, CaseState::Accepted | CaseState::AwaitingMatch | CaseState::InCourse)
                    }
                    MeasurePoint::Closing => {
                        state == CaseState::InCourse
                            || (matched_before && matches!(state, CaseState::AwaitingMatch | CaseState::Closed))
                    }
                    MeasurePoint::FollowUp => state == CaseState::Closed,
                };
                if !fits {
                    return Err(CaseError::WrongState { action: name, state });
                }
                if point == MeasurePoint::FollowUp
                    && self.held_on(Checkpoint::ClosingMeeting).is_some_and(|closed| on <= closed)
                {
                    return Err(CaseError::Invalid("on: a follow-up is taken after the closing meeting"));
                }
                if !slug(&instrument) {
                    return Err(CaseError::Invalid("instrument: use a short word of a-z, 0-9 and _, e.g. sdq_total"));
                }
                if !value.is_finite() {
                    return Err(CaseError::Invalid("value: a finite number"));
                }
                if on > copenhagen_date(actor.at) {
                    return Err(CaseError::Invalid("on: in the future"));
                }
                if self.items.contains_key(&item) {
                    return Err(CaseError::Invalid("item id: already used"));
                }
                let score = Score { instrument, point, on, value };
                let category = if point == MeasurePoint::Baseline { Category::Development } else { Category::Outcome };
                Ok(vec![CaseEvent::ItemAdded {
                    item: Item {
                        score: Some(Personal::new(score.clone())),
                        ..Item::recorded(item, category, &actor, Personal::new(score.text()))
                    },
                }])
            }
            CaseAction::ReportConcern {
                concern,
                grounds,
                text,
                observed_on,
                reporter,
                volunteer,
                agreement,
                calendar,
            } => {
                self.ngo_coordinator(&actor, name)?;
                let referral = self.referral.as_ref().ok_or(CaseError::NotAParty(actor.org.clone(), name))?;
                if let Reporter::Volunteer { volunteer: id } = reporter
                    && !volunteer.as_ref().is_some_and(|v| v.id == id && v.ngo == referral.ngo)
                {
                    return Err(CaseError::VolunteerNotFound(id));
                }
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
                let on_time = !c.late_at(actor.at);
                Ok(vec![CaseEvent::ConcernAcknowledged {
                    concern,
                    receipt: Receipt { at: actor.at, by: actor.user, investigation_started, on_time },
                }])
            }
            CaseAction::HoldClosingMeeting {
                agreement,
                held_on,
                meeting,
                participants,
                absent,
                disclosures,
                outcomes,
                outcome_disclosure,
            } => {
                self.ngo_coordinator(&actor, name)?;
                // After a volunteer stopped, the course can still close with its evaluation.
                expect_state(state, &[CaseState::InCourse, CaseState::AwaitingMatch], name)?;
                if self.matches.is_empty() {
                    return Err(CaseError::WrongState { action: name, state });
                }
                self.check_held(&actor, Checkpoint::ClosingMeeting, meeting, held_on, &participants, &absent)?;
                if outcomes
                    .iter()
                    .any(|(_, o)| o.instrument.is_empty() || !o.before.is_finite() || !o.after.is_finite())
                {
                    return Err(CaseError::Invalid("outcomes: each needs an instrument and finite scores"));
                }
                let mut events =
                    self.meeting_disclosures(&actor, &agreement, Checkpoint::ClosingMeeting, disclosures)?;
                events.extend(self.outcome_items(&actor, &agreement, outcomes, outcome_disclosure)?);
                events.push(CaseEvent::ClosingMeetingHeld {
                    held_on,
                    participants,
                    absent,
                    meeting,
                    outcomes: Vec::new(),
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
                // Redirection to municipal support is the municipality's decision (DESIGN §3).
                self.municipality_caseworker(&actor, name)?;
                not_final(state, name)?;
                non_empty(&reason, "reason: a redirection needs a reason")?;
                Ok(vec![CaseEvent::CaseRedirected { reason, by: actor.user, at: actor.at }])
            }
        }
    }

    /// The family moved: checks the move and yields the new municipality's copies of what passes.
    fn relocate(
        &self,
        actor: &Actor,
        state: CaseState,
        to: Org,
        on: NaiveDate,
        items: Vec<ItemId>,
        agreement: Option<Box<Agreement>>,
    ) -> Decision {
        let name = "move";
        self.municipality_caseworker(actor, name)?;
        not_final(state, name)?;
        if self.erased_at.is_some() {
            return Err(CaseError::AlreadyErased);
        }
        if !to.is_municipality() {
            return Err(CaseError::Invalid("to: a municipality (municipality:<code>)"));
        }
        if self.municipality.as_ref() == Some(&to) {
            return Err(CaseError::Invalid("to: the case is this municipality's already"));
        }
        if on > copenhagen_date(actor.at) {
            return Err(CaseError::Invalid("on: the family has not moved yet; record the move on or after the day"));
        }
        let (agreement, agreement_version) = match (&self.referral, agreement) {
            (None, None) => (None, None),
            (None, Some(_)) => {
                return Err(CaseError::Invalid("agreement: the case has not been referred to an NGO"));
            }
            (Some(r), None) => {
                return Err(CaseError::MoveNeedsAgreement { to, ngo: r.ngo.clone(), programme: r.programme.clone() });
            }
            (Some(r), Some(agreement)) => {
                let id = agreement.id.unwrap_or_default();
                let (version, terms) = in_force_for_referral(id, &agreement)?;
                if terms.municipality != to || terms.ngo != r.ngo || terms.programme != r.programme {
                    return Err(CaseError::AgreementMismatch(id));
                }
                (Some(id), Some(version))
            }
        };
        let mut passed = Vec::new();
        let mut seen = BTreeSet::new();
        for id in items {
            if !seen.insert(id) {
                continue;
            }
            let item = self.items.get(&id).ok_or(CaseError::ItemNotFound(id))?;
            if item.owner != actor.org {
                return Err(CaseError::ItemNotOwned { item: id, org: actor.org.clone() });
            }
            passed.push(DisclosedItem {
                item: id,
                category: item.category,
                basis: Basis::Relocation,
                content: item.content.clone(),
                flow: None,
                measure: item.measure.clone(),
                score: item.score.clone(),
            });
        }
        let young_person = self.young_person.clone().ok_or(CaseError::NotFound)?;
        Ok(vec![CaseEvent::CaseMoved {
            from: actor.org.clone(),
            to,
            on,
            young_person,
            custody_holders: self.custody_holders.clone(),
            items: passed,
            concerns: self.concerns.values().cloned().collect(),
            agreement,
            agreement_version,
            by: actor.user.clone(),
            at: actor.at,
        }])
    }

    fn open(
        &self,
        actor: &Actor,
        case: CaseId,
        young_person: YoungPerson,
        custody_holders: Vec<CustodyHolder>,
        earlier: Option<&Case>,
    ) -> Decision {
        if self.id.is_some() {
            return Err(CaseError::AlreadyOpened);
        }
        // A re-referral: the earlier case of the same young person, ended, of this municipality,
        // with the same person ids (so that export and erasure find both).
        let earlier_case = match earlier {
            None => None,
            Some(e) => {
                let id = e.id.ok_or(CaseError::EarlierCaseNotFound)?;
                if e.municipality.as_ref() != Some(&actor.org) {
                    return Err(CaseError::EarlierCaseNotFound);
                }
                if !e.state.is_some_and(CaseState::is_final) {
                    return Err(CaseError::EarlierCaseOpen(id));
                }
                if e.erased_at.is_some() {
                    return Err(CaseError::AlreadyErased);
                }
                let same_person = e.young_person.as_ref().is_some_and(|p| p.id == young_person.id);
                let holders: BTreeSet<PersonId> = custody_holders.iter().map(|h| h.id).collect();
                let earlier_holders: BTreeSet<PersonId> = e.custody_holders.iter().map(|h| h.id).collect();
                if !same_person || !holders.is_subset(&earlier_holders) {
                    return Err(CaseError::Invalid("earlier case: a re-referral keeps the earlier case's person ids"));
                }
                Some(id)
            }
        };
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
        if custody_holders.iter().any(|h| h.guardian) && custody_holders.iter().any(|h| !h.guardian) {
            return Err(CaseError::Invalid(
                "custody_holders: a guardian is for a young person nobody holds custody of",
            ));
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
            earlier_case,
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
            let flows: Vec<(usize, &crate::agreement::Flow)> =
                terms.flows_for(checkpoint, from_side, to_side, item.category).collect();
            if flows.is_empty() {
                return Err(CaseError::CategoryNotInAgreement {
                    category: item.category,
                    from: from_side,
                    to: to_side,
                    checkpoint,
                    version,
                });
            }
            // Any flow in force covers it, for a purpose a consent covers that is active and
            // has every grantor the age rule requires today.
            let covering = |complete: bool| {
                flows.iter().find_map(|(index, flow)| {
                    self.consents
                        .values()
                        .filter(|c| if complete { self.consent_complete_at(c, at) } else { c.is_active_at(at) })
                        .find_map(|c| c.covers(&recipient, item.category, &flow.purposes).map(|p| (c, p)))
                        .map(|(consent, purpose)| (*index, consent, purpose))
                })
            };
            if covering(true).is_none()
                && let Some((_, stale, _)) = covering(false)
            {
                // A consent would cover it, but was given by fewer people than the young
                // person's age now requires (the 15th or 18th birthday came since).
                let required = self.required_grantors(copenhagen_date(at))?;
                return Err(CaseError::GrantorMissing(required.difference(&stale.grantors).copied().collect()));
            }
            let found = covering(true)
                .map(|(index, consent, purpose)| (index, Basis::Consent { consent: consent.id, purpose }));
            let (flow, basis) = found.ok_or_else(|| {
                let purposes: BTreeSet<Purpose> = flows.iter().flat_map(|(_, f)| f.purposes.iter().copied()).collect();
                CaseError::ConsentMissing {
                    category: item.category,
                    recipient: to.clone(),
                    role: recipient.role,
                    purposes: purposes.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" or "),
                }
            })?;
            disclosed.push(DisclosedItem {
                item: *item_id,
                category: item.category,
                basis,
                content: item.content.clone(),
                flow: u32::try_from(flow).ok(),
                measure: item.measure.clone(),
                score: item.score.clone(),
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

    /// The other party of the case, seen from `org`.
    fn other_party(&self, org: &Org) -> Result<&Org, CaseError> {
        match self.side_of(org) {
            Some(Side::Municipality) => self.ngo().ok_or(CaseError::NotFound),
            Some(Side::Ngo) => self.municipality.as_ref().ok_or(CaseError::NotFound),
            None => Err(CaseError::NotAParty(org.clone(), "disclose")),
        }
    }

    /// The planned meeting `id`.
    fn planned(&self, id: MeetingId) -> Result<&Meeting, CaseError> {
        let meeting = self.meetings.iter().find(|m| m.id == id).ok_or(CaseError::MeetingNotFound(id))?;
        if meeting.status != MeetingStatus::Planned {
            return Err(CaseError::MeetingNotPlanned(id));
        }
        Ok(meeting)
    }

    /// Checks a meeting as held: the planned one it names, its day, and who was there against
    /// who must be (Boks 6-7: the coordinator, the young person, the custody holders while the
    /// young person is under 18, a municipal employee, and at the closing meeting the volunteer
    /// of a current match); everyone who must be there and was not is recorded with a reason.
    fn check_held(
        &self,
        actor: &Actor,
        checkpoint: Checkpoint,
        meeting: Option<MeetingId>,
        held_on: NaiveDate,
        present: &BTreeSet<Participant>,
        absent: &[Absence],
    ) -> Result<(), CaseError> {
        if let Some(id) = meeting
            && self.planned(id)?.checkpoint != checkpoint
        {
            return Err(CaseError::Invalid("meeting: that planned meeting is for another checkpoint"));
        }
        if held_on > copenhagen_date(actor.at) {
            return Err(CaseError::Invalid("held_on: in the future; plan the meeting instead"));
        }
        if !present.contains(&Participant::Coordinator) {
            return Err(CaseError::Invalid("participants: the coordinator who records the meeting took part"));
        }
        if present.contains(&Participant::Volunteer) && self.matches.is_empty() {
            return Err(CaseError::Invalid("participants: no volunteer has been matched"));
        }
        if present.contains(&Participant::CustodyHolder) && self.custody_holders.is_empty() {
            return Err(CaseError::Invalid("participants: the case has no custody holder"));
        }
        let mut required =
            BTreeSet::from([Participant::Coordinator, Participant::Caseworker, Participant::YoungPerson]);
        if !self.custody_holders.is_empty() && self.age_on(held_on).is_some_and(|age| age < 18) {
            required.insert(Participant::CustodyHolder);
        }
        if checkpoint == Checkpoint::ClosingMeeting && self.current_match.is_some() {
            required.insert(Participant::Volunteer);
        }
        let mut recorded = BTreeSet::new();
        for a in absent {
            if present.contains(&a.participant) {
                return Err(CaseError::Invalid("absent: someone is named both present and absent"));
            }
            if !required.contains(&a.participant) {
                return Err(CaseError::Invalid("absent: only someone who must take part is recorded absent"));
            }
            if !recorded.insert(a.participant) {
                return Err(CaseError::Invalid("absent: someone is named twice"));
            }
            non_empty(&a.reason, "absent: each absence needs a reason")?;
        }
        let missing: Vec<Participant> =
            required.iter().filter(|p| !present.contains(p) && !recorded.contains(p)).copied().collect();
        if missing.is_empty() { Ok(()) } else { Err(CaseError::ParticipantsMissing(missing)) }
    }

    /// The disclosures asked for at a meeting by one party of its own items, under the version
    /// in force of the case's agreement.
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
        let from = &actor.org;
        let to = self.other_party(from)?;
        let mut events = Vec::new();
        for request in requests {
            if &request.to == from {
                return Err(CaseError::Invalid(
                    "disclosures: each party discloses its own items to the other; the other party records its own \
                     disclosure at this meeting under its own user (POST /v1/cases/{id}/disclosures)",
                ));
            }
            if &request.to != to {
                return Err(CaseError::NotAParty(request.to, "receive this disclosure"));
            }
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

    /// The closing meeting's outcomes as the NGO's `outcome` items, and their disclosure to the
    /// municipality as far as an `outcome` flow at the closing meeting and a consent allow (an
    /// outcome nothing allows stays with the NGO; that is not an error).
    fn outcome_items(
        &self,
        actor: &Actor,
        agreement: &Agreement,
        outcomes: Vec<(ItemId, Outcome)>,
        disclosure: DisclosureId,
    ) -> Decision {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        let ngo = self.ngo().ok_or(CaseError::NotFound)?.clone();
        let municipality = self.municipality.clone().ok_or(CaseError::NotFound)?;
        let referral = self.referral.as_ref().ok_or(CaseError::NotFound)?;
        let (version, terms) =
            agreement.in_force.as_ref().ok_or(CaseError::AgreementNotApproved(referral.agreement))?;
        let mut with_items = self.clone();
        let mut events = Vec::with_capacity(outcomes.len() + 1);
        let mut ids = Vec::with_capacity(outcomes.len());
        for (id, o) in outcomes {
            if with_items.items.contains_key(&id) {
                return Err(CaseError::Invalid("outcome item id: already used"));
            }
            let measure = Measure { instrument: o.instrument, before: o.before, after: o.after };
            let event = CaseEvent::ItemAdded {
                item: Item {
                    owner: ngo.clone(),
                    measure: Some(Personal::new(measure.clone())),
                    ..Item::recorded(id, Category::Outcome, actor, Personal::new(measure.text()))
                },
            };
            with_items.apply(&event);
            events.push(event);
            ids.push(id);
        }
        let check = |items: &[ItemId]| {
            with_items.check_disclosure(
                disclosure,
                referral.agreement,
                *version,
                terms,
                Checkpoint::ClosingMeeting,
                &ngo,
                &municipality,
                items,
                actor.at,
            )
        };
        let allowed: Vec<ItemId> = ids.into_iter().filter(|id| check(&[*id]).is_ok()).collect();
        if !allowed.is_empty() {
            events.push(CaseEvent::InformationDisclosed { disclosure: check(&allowed)?, by: actor.user.clone() });
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

/// The most tags, languages and weekly times one record of needs may hold.
pub const MAX_NEEDS_ENTRIES: usize = 21;

/// Checks a record of needs: tags from the programme's list (or slugs where it has none), ISO
/// 639-1 languages, a four-digit postcode area, weekly times that end after they start.
fn check_needs(needs: &Needs, programme_tags: Option<&std::collections::BTreeSet<String>>) -> Result<(), CaseError> {
    if needs.tags.len() > MAX_NEEDS_ENTRIES
        || needs.languages.len() > MAX_NEEDS_ENTRIES
        || needs.availability.len() > MAX_NEEDS_ENTRIES
    {
        return Err(CaseError::Invalid("needs: at most 21 tags, languages and weekly times each"));
    }
    let listed = programme_tags.filter(|list| !list.is_empty());
    for tag in &needs.tags {
        match listed {
            Some(list) if !list.contains(tag) => return Err(CaseError::TagNotInProgramme(tag.clone())),
            None if !crate::agreement::is_tag(tag) => {
                return Err(CaseError::Invalid("tags: 1 to 40 of a-z, 0-9, - and _, e.g. climbing"));
            }
            _ => {}
        }
    }
    if !needs.languages.iter().all(|l| l.len() == 2 && l.bytes().all(|b| b.is_ascii_lowercase())) {
        return Err(CaseError::Invalid("languages: ISO 639-1 codes, e.g. da, en, ar"));
    }
    if !(needs.area.len() == 4 && needs.area.bytes().all(|b| b.is_ascii_digit())) {
        return Err(CaseError::Invalid("area: a four-digit postcode, e.g. 8660"));
    }
    if needs.availability.iter().any(|s| s.from >= s.to) {
        return Err(CaseError::Invalid("availability: each time ends after it starts"));
    }
    Ok(())
}

fn expect_state(state: CaseState, allowed: &[CaseState], action: &'static str) -> Result<(), CaseError> {
    if allowed.contains(&state) { Ok(()) } else { Err(CaseError::WrongState { action, state }) }
}

fn not_final(state: CaseState, action: &'static str) -> Result<(), CaseError> {
    if state.is_final() { Err(CaseError::WrongState { action, state }) } else { Ok(()) }
}

/// A short machine word: 1 to 40 of a-z, 0-9 and `_`.
fn slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 40
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn non_empty(text: &Personal<String>, what: &'static str) -> Result<(), CaseError> {
    if text.expose().trim().is_empty() { Err(CaseError::Invalid(what)) } else { Ok(()) }
}
