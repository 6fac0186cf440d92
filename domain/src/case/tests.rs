//! Given/when/then tests for every rule of the case journey.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::*;
use crate::Personal;
use crate::agreement::{Agreement, AgreementEvent, Flow, ReportingDuties, Terms};
use crate::calendar::{WorkCalendar, copenhagen_date};
use crate::ids::*;
use crate::vocab::*;
use crate::volunteer::{VolunteerFacts, VolunteerStatus};
use chrono::Days;
use uuid::Uuid;

pub(crate) mod fixtures {
    use super::*;

    pub fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("valid RFC 3339 instant")
    }
    pub fn date(s: &str) -> NaiveDate {
        s.parse().expect("valid date")
    }
    pub fn muni() -> Org {
        "municipality:0746".parse().expect("valid org")
    }
    pub fn ngo() -> Org {
        "ngo:kfum-sa".parse().expect("valid org")
    }
    pub fn other_ngo() -> Org {
        "ngo:red-cross".parse().expect("valid org")
    }
    pub fn actor(org: Org, role: Role, when: DateTime<Utc>) -> Actor {
        Actor { user: UserId(format!("{}-user", role.as_str())), org, role, at: when }
    }
    pub const CASE: CaseId = CaseId(Uuid::from_u128(1));
    pub const YP: PersonId = PersonId(Uuid::from_u128(10));
    pub const MOTHER: PersonId = PersonId(Uuid::from_u128(11));
    pub const FATHER: PersonId = PersonId(Uuid::from_u128(12));
    pub const IDENTITY: ItemId = ItemId(Uuid::from_u128(20));
    pub const SCHOOL: ItemId = ItemId(Uuid::from_u128(21));
    pub const HEALTH: ItemId = ItemId(Uuid::from_u128(22));
    pub const DEVELOPMENT: ItemId = ItemId(Uuid::from_u128(23));
    pub const OUTCOME: ItemId = ItemId(Uuid::from_u128(24));
    pub const CONSENT: ConsentId = ConsentId(Uuid::from_u128(30));
    pub const CLOSING_CONSENT: ConsentId = ConsentId(Uuid::from_u128(31));
    pub const AGREEMENT: AgreementId = AgreementId(Uuid::from_u128(40));
    pub const VOLUNTEER: VolunteerId = VolunteerId(Uuid::from_u128(50));
    pub const CONCERN: ConcernId = ConcernId(Uuid::from_u128(60));

    pub fn set<T: Ord + Copy>(xs: &[T]) -> BTreeSet<T> {
        xs.iter().copied().collect()
    }

    pub fn flows() -> Vec<Flow> {
        use Category::*;
        vec![
            Flow {
                checkpoint: Checkpoint::Referral,
                from: Side::Municipality,
                to: Side::Ngo,
                categories: set(&[Identity, Contact, Practical, Background, School]),
                purposes: set(&[Purpose::Referral, Purpose::CoursePlanning]),
            },
            Flow {
                checkpoint: Checkpoint::PreMeeting,
                from: Side::Municipality,
                to: Side::Ngo,
                categories: set(&[Wishes, School]),
                purposes: set(&[Purpose::CoursePlanning, Purpose::Matching]),
            },
            Flow {
                checkpoint: Checkpoint::ClosingMeeting,
                from: Side::Ngo,
                to: Side::Municipality,
                categories: set(&[Development, Outcome]),
                purposes: set(&[Purpose::ClosingEvaluation]),
            },
        ]
    }

    pub fn terms() -> Terms {
        Terms {
            municipality: muni(),
            ngo: ngo(),
            programme: "klub-move".to_owned(),
            flows: flows(),
            retention_days_after_closing: 180,
            reporting_duties: ReportingDuties::default(),
            interim_status: false,
            interest_tags: Default::default(),
        }
    }

    /// The agreement folded from `events` after a draft.
    pub fn agreement_after(events: &[AgreementEvent]) -> Agreement {
        let mut a = Agreement::default();
        let when = at("2026-10-01T08:00:00Z");
        a.apply(&AgreementEvent::AgreementDrafted {
            id: AGREEMENT,
            terms: terms(),
            by: UserId("admin".into()),
            org: muni(),
            at: when,
        });
        for e in events {
            a.apply(e);
        }
        a
    }

    pub fn approved_agreement() -> Agreement {
        let when = at("2026-10-02T08:00:00Z");
        agreement_after(&[AgreementEvent::AgreementInForce { version: 1, at: when }])
    }

    pub fn young_person(birth: &str) -> YoungPerson {
        YoungPerson {
            id: YP,
            first_name: Personal::new("Mikkel".into()),
            last_name: Personal::new("Jensen".into()),
            birth_date: Personal::new(date(birth)),
        }
    }

    pub fn holders() -> Vec<CustodyHolder> {
        vec![
            CustodyHolder { id: MOTHER, name: Personal::new("Anne Jensen".into()), guardian: false },
            CustodyHolder { id: FATHER, name: Personal::new("Peter Jensen".into()), guardian: false },
        ]
    }

    pub fn vetted_volunteer() -> VolunteerFacts {
        VolunteerFacts {
            id: VOLUNTEER,
            ngo: ngo(),
            status: VolunteerStatus::Active,
            capacity: 1,
            assigned_elsewhere: 0,
            child_certificate_date: Some(date("2026-09-01")),
            confidentiality_declaration_date: Some(date("2026-09-01")),
        }
    }

    /// A case driven through real commands, with a clock that moves one hour per command.
    pub struct Scenario {
        pub case: Case,
        pub now: DateTime<Utc>,
        pub events: Vec<CaseEvent>,
    }

    impl Scenario {
        pub fn new() -> Self {
            Self { case: Case::default(), now: at("2026-11-10T09:00:00Z"), events: vec![] }
        }

        pub fn caseworker(&self) -> Actor {
            actor(muni(), Role::Caseworker, self.now)
        }

        pub fn coordinator(&self) -> Actor {
            actor(ngo(), Role::Coordinator, self.now)
        }

        pub fn try_run(&mut self, actor: Actor, action: CaseAction) -> Result<Vec<CaseEvent>, CaseError> {
            let events = self.case.decide(CaseCommand { actor, action })?;
            for e in &events {
                self.case.apply(e);
            }
            self.events.extend(events.iter().cloned());
            self.now += TimeDelta::hours(1);
            Ok(events)
        }

        pub fn run(&mut self, actor: Actor, action: CaseAction) -> Vec<CaseEvent> {
            let name = action.name();
            match self.try_run(actor, action) {
                Ok(events) => events,
                Err(e) => panic!("{name} was refused: {e}"),
            }
        }

        pub fn as_caseworker(&mut self, action: CaseAction) -> Vec<CaseEvent> {
            let a = self.caseworker();
            self.run(a, action)
        }

        pub fn as_coordinator(&mut self, action: CaseAction) -> Vec<CaseEvent> {
            let a = self.coordinator();
            self.run(a, action)
        }

        /// Opened for a young person born on `birth`, with identity, school and health items.
        pub fn opened(birth: &str) -> Self {
            let mut s = Self::new();
            s.as_caseworker(CaseAction::Open {
                case: CASE,
                young_person: young_person(birth),
                custody_holders: holders(),
                earlier: None,
            });
            for (id, category) in
                [(IDENTITY, Category::Identity), (SCHOOL, Category::School), (HEALTH, Category::Health)]
            {
                s.as_caseworker(CaseAction::AddItem {
                    item: id,
                    category,
                    content: Personal::new(format!("{category} notes")),
                });
            }
            s
        }

        pub fn give_consent(
            &mut self,
            id: ConsentId,
            recipient: Recipient,
            categories: &[Category],
            purposes: &[Purpose],
        ) {
            let grantors = self.case.required_grantors(copenhagen_date(self.now)).expect("grantors");
            let action = CaseAction::GiveConsent {
                consent: id,
                grantors,
                recipients: BTreeSet::from([recipient]),
                categories: set(categories),
                purposes: set(purposes),
                valid_from: date("2026-11-01"),
                valid_until: date("2027-11-01"),
                evidence: Personal::new("signed form 2026-1234".into()),
            };
            self.as_caseworker(action);
        }

        pub fn consented(birth: &str) -> Self {
            let mut s = Self::opened(birth);
            use Category::*;
            s.give_consent(
                CONSENT,
                Recipient { org: ngo(), role: RecipientRole::Coordinator },
                &[Identity, Contact, Practical, Background, School, Wishes],
                &[Purpose::Referral, Purpose::CoursePlanning],
            );
            s
        }

        pub fn refer(&self, items: &[ItemId]) -> CaseAction {
            CaseAction::SubmitReferral {
                agreement: Box::new(approved_agreement()),
                items: items.to_vec(),
                note: Personal::new("Could use a friend".into()),
                disclosure: DisclosureId(Uuid::from_u128(70)),
            }
        }

        pub fn referred(birth: &str) -> Self {
            let mut s = Self::consented(birth);
            let refer = s.refer(&[IDENTITY, SCHOOL]);
            s.as_caseworker(refer);
            s
        }

        pub fn accepted(birth: &str) -> Self {
            let mut s = Self::referred(birth);
            s.as_coordinator(CaseAction::AcceptReferral);
            s
        }

        pub fn pre_meeting(&self, disclosures: Vec<DisclosureRequest>) -> CaseAction {
            CaseAction::HoldPreMeeting {
                agreement: Box::new(approved_agreement()),
                held_on: copenhagen_date(self.now),
                meeting: None,
                participants: set(&[
                    Participant::Coordinator,
                    Participant::Caseworker,
                    Participant::YoungPerson,
                    Participant::CustodyHolder,
                ]),
                absent: vec![],
                wishes: Some((ItemId(Uuid::from_u128(80)), Personal::new("Wants to try climbing".into()))),
                disclosures,
            }
        }

        pub fn awaiting_match(birth: &str) -> Self {
            let mut s = Self::accepted(birth);
            let meeting = s.pre_meeting(vec![]);
            s.as_coordinator(meeting);
            s
        }

        pub fn in_course(birth: &str) -> Self {
            let mut s = Self::awaiting_match(birth);
            let on = copenhagen_date(s.now);
            s.as_coordinator(CaseAction::MatchVolunteer { volunteer: vetted_volunteer(), on });
            s
        }

        /// In course, with an NGO development item and consent to show it to the caseworker.
        pub fn ready_to_close(birth: &str) -> Self {
            let mut s = Self::in_course(birth);
            s.as_coordinator(CaseAction::AddItem {
                item: DEVELOPMENT,
                category: Category::Development,
                content: Personal::new("More confident".into()),
            });
            s.give_consent(
                CLOSING_CONSENT,
                Recipient { org: muni(), role: RecipientRole::Caseworker },
                &[Category::Development],
                &[Purpose::ClosingEvaluation],
            );
            s
        }

        pub fn report_concern(&self) -> CaseAction {
            CaseAction::ReportConcern {
                concern: CONCERN,
                grounds: set(&[Ground::NeedsSupport]),
                text: Personal::new("Came hungry three times".into()),
                observed_on: copenhagen_date(self.now),
                reporter: Reporter::Coordinator,
                volunteer: None,
                agreement: Box::new(approved_agreement()),
                calendar: WorkCalendar::default(),
            }
        }

        /// The actor's own items disclosed to the other party at a meeting that was held.
        pub fn disclose(&self, checkpoint: Checkpoint, items: &[ItemId]) -> CaseAction {
            CaseAction::Disclose {
                checkpoint,
                items: items.to_vec(),
                disclosure: DisclosureId::new(),
                agreement: Box::new(approved_agreement()),
            }
        }

        pub fn closing_meeting(&self, disclosures: Vec<DisclosureRequest>) -> CaseAction {
            CaseAction::HoldClosingMeeting {
                agreement: Box::new(approved_agreement()),
                held_on: copenhagen_date(self.now),
                meeting: None,
                participants: set(&[
                    Participant::Coordinator,
                    Participant::Caseworker,
                    Participant::YoungPerson,
                    Participant::CustodyHolder,
                    Participant::Volunteer,
                ]),
                absent: vec![],
                disclosures,
                outcomes: vec![(OUTCOME, Outcome { instrument: "sdq_total".into(), before: 19.0, after: 14.0 })],
                outcome_disclosure: DisclosureId(Uuid::from_u128(90)),
            }
        }
    }
}

use fixtures::*;

const BORN_14: &str = "2012-03-14"; // 14 on 2026-11-10
const BORN_15: &str = "2011-03-14";
const BORN_16: &str = "2010-03-14";
const BORN_17: &str = "2009-03-14";
const BORN_18: &str = "2008-03-14";

fn refusal(s: &mut Scenario, actor: Actor, action: CaseAction) -> CaseError {
    let before = s.case.clone();
    let err = s.try_run(actor, action).expect_err("the command should be refused");
    assert_eq!(before, s.case, "a refused command changes nothing");
    err
}

// ---- opening and items -------------------------------------------------------------------

#[test]
fn a_caseworker_opens_a_case_for_a_young_person() {
    let s = Scenario::opened(BORN_14);
    assert_eq!(s.case.state, Some(CaseState::Opened));
    assert_eq!(s.case.municipality, Some(muni()));
    assert_eq!(s.case.items.len(), 3);
    assert!(s.case.items.values().all(|i| i.owner == muni()));
}

#[test]
fn a_coordinator_cannot_open_a_case() {
    let mut s = Scenario::new();
    let a = s.coordinator();
    let err = refusal(
        &mut s,
        a,
        CaseAction::Open { case: CASE, young_person: young_person(BORN_14), custody_holders: holders(), earlier: None },
    );
    assert_eq!(err, CaseError::NotPermitted { role: Role::Coordinator, action: "open" });
}

#[test]
fn a_case_is_opened_once() {
    let mut s = Scenario::opened(BORN_14);
    let a = s.caseworker();
    let err = refusal(
        &mut s,
        a,
        CaseAction::Open { case: CASE, young_person: young_person(BORN_14), custody_holders: holders(), earlier: None },
    );
    assert_eq!(err, CaseError::AlreadyOpened);
}

#[test]
fn commands_on_an_unopened_case_are_not_found() {
    let mut s = Scenario::new();
    let a = s.caseworker();
    let err = refusal(
        &mut s,
        a,
        CaseAction::AddItem { item: IDENTITY, category: Category::School, content: Personal::new("x".into()) },
    );
    assert_eq!(err, CaseError::NotFound);
}

#[test]
fn another_municipality_cannot_add_items() {
    let mut s = Scenario::opened(BORN_14);
    let a = actor("municipality:0101".parse().expect("org"), Role::Caseworker, s.now);
    let err = refusal(
        &mut s,
        a,
        CaseAction::AddItem { item: ItemId::new(), category: Category::School, content: Personal::new("x".into()) },
    );
    assert!(matches!(err, CaseError::NotAParty(_, "add_item")));
}

#[test]
fn the_ngo_cannot_add_items_before_the_referral() {
    let mut s = Scenario::opened(BORN_14);
    let a = s.coordinator();
    let err = refusal(
        &mut s,
        a,
        CaseAction::AddItem {
            item: ItemId::new(),
            category: Category::Development,
            content: Personal::new("x".into()),
        },
    );
    assert!(matches!(err, CaseError::NotAParty(_, "add_item")));
}

// ---- consent and grantors ------------------------------------------------------------------

fn consent_by(grantors: &[PersonId]) -> CaseAction {
    CaseAction::GiveConsent {
        consent: ConsentId::new(),
        grantors: set(grantors),
        recipients: BTreeSet::from([Recipient { org: ngo(), role: RecipientRole::Coordinator }]),
        categories: set(&[Category::School]),
        purposes: set(&[Purpose::Referral]),
        valid_from: date("2026-11-01"),
        valid_until: date("2027-11-01"),
        evidence: Personal::new("form".into()),
    }
}

#[test]
fn at_14_every_custody_holder_must_consent() {
    let mut s = Scenario::opened(BORN_14);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[MOTHER])), CaseError::GrantorMissing(vec![FATHER]));
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[YP])), CaseError::GrantorMissing(vec![MOTHER, FATHER]));
    s.as_caseworker(consent_by(&[MOTHER, FATHER]));
}

#[test]
fn at_15_the_young_person_and_every_custody_holder_must_consent() {
    let mut s = Scenario::opened(BORN_15);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[MOTHER, FATHER])), CaseError::GrantorMissing(vec![YP]));
    s.as_caseworker(consent_by(&[YP, MOTHER, FATHER]));
}

#[test]
fn at_17_the_young_person_and_every_custody_holder_must_consent() {
    let mut s = Scenario::opened(BORN_17);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[YP, MOTHER])), CaseError::GrantorMissing(vec![FATHER]));
    s.as_caseworker(consent_by(&[YP, MOTHER, FATHER]));
}

#[test]
fn at_18_the_young_person_consents_alone() {
    let mut s = Scenario::opened(BORN_18);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[MOTHER, FATHER])), CaseError::GrantorMissing(vec![YP]));
    s.as_caseworker(consent_by(&[YP]));
}

#[test]
fn a_grantor_must_be_a_person_of_the_case() {
    let mut s = Scenario::opened(BORN_18);
    let stranger = PersonId::new();
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[YP, stranger])), CaseError::UnknownGrantor(stranger));
}

#[test]
fn a_minor_without_custody_holders_cannot_consent() {
    let mut s = Scenario::new();
    s.as_caseworker(CaseAction::Open {
        case: CASE,
        young_person: young_person(BORN_16),
        custody_holders: vec![],
        earlier: None,
    });
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, consent_by(&[YP])), CaseError::NoCustodyHolder);
}

#[test]
fn revocation_takes_effect_from_that_moment_only() {
    let mut s = Scenario::consented(BORN_14);
    let given_at = s.case.consents[&CONSENT].given_at;
    s.as_caseworker(CaseAction::RevokeConsent {
        consent: CONSENT,
        reason: Personal::new("family changed mind".into()),
    });
    let c = &s.case.consents[&CONSENT];
    let revoked = c.revoked_at.expect("revoked");
    assert!(c.is_active_at(given_at), "still active for the past");
    assert!(c.is_active_at(revoked - TimeDelta::seconds(1)));
    assert!(!c.is_active_at(revoked));
    let a = s.caseworker();
    assert_eq!(
        refusal(&mut s, a, CaseAction::RevokeConsent { consent: CONSENT, reason: Personal::new("again".into()) }),
        CaseError::ConsentAlreadyRevoked(CONSENT)
    );
}

// ---- referral (checkpoint 1) ---------------------------------------------------------------

#[test]
fn a_referral_discloses_exactly_the_referred_items_under_the_consent() {
    let s = Scenario::referred(BORN_14);
    assert_eq!(s.case.state, Some(CaseState::Referred));
    let d = s.case.disclosures.last().expect("a disclosure");
    assert_eq!((d.checkpoint, &d.from, &d.to), (Checkpoint::Referral, &muni(), &ngo()));
    let items: Vec<ItemId> = d.items.iter().map(|i| i.item).collect();
    assert_eq!(items, vec![IDENTITY, SCHOOL]);
    assert!(d.items.iter().all(|i| i.basis == Basis::Consent { consent: CONSENT, purpose: Purpose::Referral }));
    assert_eq!(d.agreement_version, 1);
}

#[test]
fn referral_is_refused_without_an_approved_agreement() {
    let mut s = Scenario::consented(BORN_14);
    let a = s.caseworker();
    let action = CaseAction::SubmitReferral {
        agreement: Box::new(agreement_after(&[])),
        items: vec![SCHOOL],
        note: Personal::new("n".into()),
        disclosure: DisclosureId::new(),
    };
    assert_eq!(refusal(&mut s, a, action), CaseError::AgreementNotApproved(AGREEMENT));
}

#[test]
fn referral_is_refused_under_a_terminated_agreement() {
    let mut s = Scenario::consented(BORN_14);
    let when = s.now;
    let terminated = agreement_after(&[
        AgreementEvent::AgreementInForce { version: 1, at: when },
        AgreementEvent::AgreementTerminated { reason: "ended".into(), by: UserId("a".into()), org: muni(), at: when },
    ]);
    let a = s.caseworker();
    let action = CaseAction::SubmitReferral {
        agreement: Box::new(terminated),
        items: vec![SCHOOL],
        note: Personal::new("n".into()),
        disclosure: DisclosureId::new(),
    };
    assert_eq!(refusal(&mut s, a, action), CaseError::AgreementTerminated(AGREEMENT));
}

#[test]
fn referral_is_refused_under_another_municipalitys_agreement() {
    let mut s = Scenario::consented(BORN_14);
    let mut agreement = approved_agreement();
    if let Some((_, t)) = agreement.in_force.as_mut() {
        t.municipality = "municipality:0101".parse().expect("org");
    }
    let a = s.caseworker();
    let action = CaseAction::SubmitReferral {
        agreement: Box::new(agreement),
        items: vec![SCHOOL],
        note: Personal::new("n".into()),
        disclosure: DisclosureId::new(),
    };
    assert_eq!(refusal(&mut s, a, action), CaseError::AgreementMismatch(AGREEMENT));
}

#[test]
fn referral_is_refused_when_the_agreement_does_not_allow_health() {
    let mut s = Scenario::consented(BORN_14);
    let a = s.caseworker();
    let refer = s.refer(&[IDENTITY, HEALTH]);
    assert_eq!(
        refusal(&mut s, a, refer),
        CaseError::CategoryNotInAgreement {
            category: Category::Health,
            from: Side::Municipality,
            to: Side::Ngo,
            checkpoint: Checkpoint::Referral,
            version: 1
        }
    );
    assert_eq!(
        CaseError::CategoryNotInAgreement {
            category: Category::School,
            from: Side::Municipality,
            to: Side::Ngo,
            checkpoint: Checkpoint::Referral,
            version: 2
        }
        .to_string(),
        "category school is not allowed from municipality to ngo at referral by agreement v2"
    );
}

#[test]
fn referral_is_refused_without_any_consent() {
    let mut s = Scenario::opened(BORN_14);
    let a = s.caseworker();
    let refer = s.refer(&[SCHOOL]);
    assert!(matches!(refusal(&mut s, a, refer), CaseError::ConsentMissing { category: Category::School, .. }));
}

#[test]
fn referral_is_refused_when_consent_does_not_cover_the_category() {
    let mut s = Scenario::opened(BORN_14);
    s.give_consent(
        CONSENT,
        Recipient { org: ngo(), role: RecipientRole::Coordinator },
        &[Category::Identity],
        &[Purpose::Referral],
    );
    let a = s.caseworker();
    let refer = s.refer(&[IDENTITY, SCHOOL]);
    assert!(matches!(refusal(&mut s, a, refer), CaseError::ConsentMissing { category: Category::School, .. }));
}

#[test]
fn referral_is_refused_when_consent_names_another_recipient() {
    let mut s = Scenario::opened(BORN_14);
    s.give_consent(
        CONSENT,
        Recipient { org: other_ngo(), role: RecipientRole::Coordinator },
        &[Category::School],
        &[Purpose::Referral],
    );
    s.give_consent(
        ConsentId::new(),
        Recipient { org: ngo(), role: RecipientRole::Volunteer },
        &[Category::School],
        &[Purpose::Referral],
    );
    let a = s.caseworker();
    let refer = s.refer(&[SCHOOL]);
    assert!(matches!(refusal(&mut s, a, refer), CaseError::ConsentMissing { role: RecipientRole::Coordinator, .. }));
}

#[test]
fn referral_is_refused_when_consent_is_for_another_purpose() {
    let mut s = Scenario::opened(BORN_14);
    s.give_consent(
        CONSENT,
        Recipient { org: ngo(), role: RecipientRole::Coordinator },
        &[Category::School],
        &[Purpose::Statistics],
    );
    let a = s.caseworker();
    let refer = s.refer(&[SCHOOL]);
    let err = refusal(&mut s, a, refer);
    assert!(matches!(err, CaseError::ConsentMissing { .. }));
    assert!(err.to_string().contains("referral or course_planning"), "{err}");
}

#[test]
fn referral_is_refused_when_consent_is_revoked() {
    let mut s = Scenario::consented(BORN_14);
    s.as_caseworker(CaseAction::RevokeConsent { consent: CONSENT, reason: Personal::new("no".into()) });
    let a = s.caseworker();
    let refer = s.refer(&[SCHOOL]);
    assert!(matches!(refusal(&mut s, a, refer), CaseError::ConsentMissing { .. }));
}

#[test]
fn referral_is_refused_when_consent_has_expired() {
    let mut s = Scenario::consented(BORN_14);
    s.now = at("2027-11-02T09:00:00Z");
    let a = s.caseworker();
    let refer = s.refer(&[SCHOOL]);
    assert!(matches!(refusal(&mut s, a, refer), CaseError::ConsentMissing { .. }));
}

#[test]
fn referral_is_refused_before_the_consent_is_valid() {
    let mut s = Scenario::opened(BORN_14);
    let grantors = s.case.required_grantors(copenhagen_date(s.now)).expect("grantors");
    s.as_caseworker(CaseAction::GiveConsent {
        consent: CONSENT,
        grantors,
        recipients: BTreeSet::from([Recipient { org: ngo(), role: RecipientRole::Coordinator }]),
        categories: set(&[Category::School]),
        purposes: set(&[Purpose::Referral]),
        valid_from: date("2026-12-01"),
        valid_until: date("2027-12-01"),
        evidence: Personal::new("form".into()),
    });
    let a = s.caseworker();
    let refer = s.refer(&[SCHOOL]);
    assert!(matches!(refusal(&mut s, a, refer), CaseError::ConsentMissing { .. }));
}

#[test]
fn only_the_municipalitys_own_items_can_be_referred() {
    let mut s = Scenario::consented(BORN_14);
    let a = s.caseworker();
    let missing = ItemId::new();
    let refer = s.refer(&[missing]);
    assert_eq!(refusal(&mut s, a, refer), CaseError::ItemNotFound(missing));
}

#[test]
fn a_coordinator_cannot_refer() {
    let mut s = Scenario::consented(BORN_14);
    let a = s.coordinator();
    let refer = s.refer(&[SCHOOL]);
    assert_eq!(refusal(&mut s, a, refer), CaseError::NotPermitted { role: Role::Coordinator, action: "refer" });
}

// ---- decision, pre-meeting, match -----------------------------------------------------------

#[test]
fn the_ngo_accepts_or_declines_with_a_reason() {
    let s = Scenario::accepted(BORN_14);
    assert_eq!(s.case.state, Some(CaseState::Accepted));
    let mut s = Scenario::referred(BORN_14);
    let a = s.coordinator();
    assert_eq!(
        refusal(&mut s, a, CaseAction::DeclineReferral { reason: Personal::new(" ".into()) }),
        CaseError::Invalid("reason: a decline needs a reason")
    );
    s.as_coordinator(CaseAction::DeclineReferral { reason: Personal::new("No volunteers in the area".into()) });
    assert_eq!(s.case.state, Some(CaseState::Declined));
}

#[test]
fn another_ngo_cannot_decide_the_referral() {
    let mut s = Scenario::referred(BORN_14);
    let a = actor(other_ngo(), Role::Coordinator, s.now);
    assert!(matches!(refusal(&mut s, a, CaseAction::AcceptReferral), CaseError::NotAParty(_, "accept")));
}

#[test]
fn the_pre_meeting_records_wishes_and_discloses_under_the_pre_meeting_flow() {
    let mut s = Scenario::accepted(BORN_14);
    let meeting = s.pre_meeting(vec![]);
    s.as_coordinator(meeting);
    let disclose = s.disclose(Checkpoint::PreMeeting, &[SCHOOL]);
    let events = s.as_caseworker(disclose);
    assert_eq!(s.case.state, Some(CaseState::AwaitingMatch));
    let wishes = s.case.items.values().find(|i| i.category == Category::Wishes).expect("wishes item");
    assert_eq!(wishes.owner, ngo());
    let d = s.case.disclosures.last().expect("disclosure");
    assert_eq!(d.checkpoint, Checkpoint::PreMeeting);
    assert_eq!((&d.from, &d.to), (&muni(), &ngo()));
    assert_eq!(d.items[0].basis, Basis::Consent { consent: CONSENT, purpose: Purpose::CoursePlanning });
    let [CaseEvent::InformationDisclosed { by, .. }] = events.as_slice() else { panic!("one disclosure: {events:?}") };
    assert_eq!(by, &s.caseworker().user, "the municipality's items cross under the caseworker's own user");
}

#[test]
fn the_pre_meeting_refuses_a_category_outside_its_flow() {
    let mut s = Scenario::accepted(BORN_14);
    let meeting = s.pre_meeting(vec![]);
    s.as_coordinator(meeting);
    let disclose = s.disclose(Checkpoint::PreMeeting, &[IDENTITY]);
    let a = s.caseworker();
    assert!(matches!(
        refusal(&mut s, a, disclose),
        CaseError::CategoryNotInAgreement { category: Category::Identity, checkpoint: Checkpoint::PreMeeting, .. }
    ));
}

#[test]
fn a_14_year_old_needs_a_volunteer_with_a_child_certificate() {
    let mut s = Scenario::awaiting_match(BORN_14);
    let on = copenhagen_date(s.now);
    let volunteer = VolunteerFacts { child_certificate_date: None, ..vetted_volunteer() };
    let a = s.coordinator();
    assert_eq!(
        refusal(&mut s, a, CaseAction::MatchVolunteer { volunteer, on }),
        CaseError::ChildCertificateMissing(VOLUNTEER)
    );
}

#[test]
fn a_16_year_old_may_be_matched_without_a_child_certificate() {
    let mut s = Scenario::awaiting_match(BORN_16);
    let on = copenhagen_date(s.now);
    let volunteer = VolunteerFacts { child_certificate_date: None, ..vetted_volunteer() };
    s.as_coordinator(CaseAction::MatchVolunteer { volunteer, on });
    assert_eq!(s.case.state, Some(CaseState::InCourse));
}

#[test]
fn an_expired_child_certificate_is_refused() {
    let mut s = Scenario::awaiting_match(BORN_14);
    let on = copenhagen_date(s.now);
    let old = date("2024-09-01");
    let volunteer = VolunteerFacts { child_certificate_date: Some(old), ..vetted_volunteer() };
    let a = s.coordinator();
    assert_eq!(
        refusal(&mut s, a, CaseAction::MatchVolunteer { volunteer, on }),
        CaseError::ChildCertificateExpired { volunteer: VOLUNTEER, date: old }
    );
}

#[test]
fn a_match_needs_a_confidentiality_declaration_capacity_and_an_active_volunteer() {
    let mut s = Scenario::awaiting_match(BORN_16);
    let on = copenhagen_date(s.now);
    for (volunteer, expected) in [
        (
            VolunteerFacts { confidentiality_declaration_date: None, ..vetted_volunteer() },
            CaseError::ConfidentialityDeclarationMissing(VOLUNTEER),
        ),
        (VolunteerFacts { assigned_elsewhere: 1, ..vetted_volunteer() }, CaseError::VolunteerAtCapacity(VOLUNTEER)),
        (
            VolunteerFacts { status: VolunteerStatus::Paused, ..vetted_volunteer() },
            CaseError::VolunteerInactive(VOLUNTEER),
        ),
        (
            VolunteerFacts { ngo: other_ngo(), ..vetted_volunteer() },
            CaseError::NotAParty(other_ngo(), "provide the volunteer"),
        ),
    ] {
        let a = s.coordinator();
        assert_eq!(refusal(&mut s, a, CaseAction::MatchVolunteer { volunteer, on }), expected);
    }
}

#[test]
fn an_ended_match_returns_the_case_to_awaiting_match() {
    let mut s = Scenario::in_course(BORN_14);
    s.as_coordinator(CaseAction::EndMatch { reason: Personal::new("moved away".into()) });
    assert_eq!(s.case.state, Some(CaseState::AwaitingMatch));
    assert_eq!(s.case.current_match, None);
    let on = copenhagen_date(s.now);
    s.as_coordinator(CaseAction::MatchVolunteer { volunteer: vetted_volunteer(), on });
    assert_eq!(s.case.state, Some(CaseState::InCourse));
}

#[test]
fn activities_are_logged_in_course_only() {
    let mut s = Scenario::in_course(BORN_14);
    let on = copenhagen_date(s.now);
    s.as_coordinator(CaseAction::LogActivity {
        on,
        kind: "meeting".into(),
        note: Personal::new("climbing".into()),
        on_track: Some(true),
    });
    let a = s.coordinator();
    assert!(matches!(
        refusal(
            &mut s,
            a,
            CaseAction::LogActivity {
                on,
                kind: "Meeting with Mikkel".into(),
                note: Personal::new("x".into()),
                on_track: None
            }
        ),
        CaseError::Invalid(_)
    ));
    let mut s = Scenario::awaiting_match(BORN_14);
    let a = s.coordinator();
    assert_eq!(
        refusal(
            &mut s,
            a,
            CaseAction::LogActivity { on, kind: "meeting".into(), note: Personal::new("x".into()), on_track: None }
        ),
        CaseError::WrongState { action: "log_activity", state: CaseState::AwaitingMatch }
    );
}

// ---- closing -------------------------------------------------------------------------------

#[test]
fn the_closing_meeting_discloses_development_to_the_municipality_and_closes() {
    let mut s = Scenario::in_course(BORN_14);
    s.as_coordinator(CaseAction::AddItem {
        item: DEVELOPMENT,
        category: Category::Development,
        content: Personal::new("More confident".into()),
    });
    s.give_consent(
        CLOSING_CONSENT,
        Recipient { org: muni(), role: RecipientRole::Caseworker },
        &[Category::Development],
        &[Purpose::ClosingEvaluation],
    );
    let meeting =
        s.closing_meeting(vec![DisclosureRequest { id: DisclosureId::new(), items: vec![DEVELOPMENT], to: muni() }]);
    s.as_coordinator(meeting);
    assert_eq!(s.case.state, Some(CaseState::Closed));
    assert_eq!(s.case.current_match, None);
    let d = s.case.disclosures.last().expect("disclosure");
    assert_eq!((d.checkpoint, &d.from, &d.to), (Checkpoint::ClosingMeeting, &ngo(), &muni()));
    assert!(s.case.outcomes.is_empty(), "outcomes are items now, not clear text on the event");
}

#[test]
fn the_closing_meeting_refuses_development_without_consent_for_the_caseworker() {
    let mut s = Scenario::in_course(BORN_14);
    s.as_coordinator(CaseAction::AddItem {
        item: DEVELOPMENT,
        category: Category::Development,
        content: Personal::new("x".into()),
    });
    let meeting =
        s.closing_meeting(vec![DisclosureRequest { id: DisclosureId::new(), items: vec![DEVELOPMENT], to: muni() }]);
    let a = s.coordinator();
    assert!(matches!(refusal(&mut s, a, meeting), CaseError::ConsentMissing { role: RecipientRole::Caseworker, .. }));
}

#[test]
fn the_ngo_cannot_disclose_the_municipalitys_items() {
    let mut s = Scenario::in_course(BORN_14);
    // The closing flow lets development go NGO → municipality; SCHOOL is the municipality's.
    let meeting =
        s.closing_meeting(vec![DisclosureRequest { id: DisclosureId::new(), items: vec![SCHOOL], to: muni() }]);
    let a = s.coordinator();
    assert_eq!(refusal(&mut s, a, meeting), CaseError::ItemNotOwned { item: SCHOOL, org: ngo() });
}

// ---- withdrawal, redirection, wrong states ---------------------------------------------------

#[test]
fn withdrawal_and_redirection_end_the_journey_from_any_open_state() {
    for build in
        [Scenario::opened, Scenario::referred, Scenario::accepted, Scenario::awaiting_match, Scenario::in_course]
    {
        let mut s = build(BORN_14);
        s.as_caseworker(CaseAction::Withdraw {
            by_whom: WithdrawnBy::YoungPerson,
            reason: Personal::new("no time".into()),
        });
        assert_eq!(s.case.state, Some(CaseState::Withdrawn));
        let mut s = build(BORN_14);
        s.as_caseworker(CaseAction::Redirect { reason: Personal::new("needs municipal support".into()) });
        assert_eq!(s.case.state, Some(CaseState::Redirected));
    }
}

#[test]
fn every_transition_from_a_wrong_state_is_refused() {
    type Build = fn(&str) -> Scenario;
    let builds: [(CaseState, Build); 5] = [
        (CaseState::Opened, Scenario::opened),
        (CaseState::Referred, Scenario::referred),
        (CaseState::Accepted, Scenario::accepted),
        (CaseState::AwaitingMatch, Scenario::awaiting_match),
        (CaseState::InCourse, Scenario::in_course),
    ];
    let closed = || {
        let mut s = Scenario::in_course(BORN_16);
        let m = s.closing_meeting(vec![]);
        s.as_coordinator(m);
        s
    };
    let mut scenarios: Vec<(CaseState, Scenario)> = builds.iter().map(|(st, b)| (*st, b(BORN_16))).collect();
    scenarios.push((CaseState::Closed, closed()));
    let mut withdrawn = Scenario::opened(BORN_16);
    withdrawn.as_caseworker(CaseAction::Withdraw { by_whom: WithdrawnBy::Family, reason: Personal::new("r".into()) });
    scenarios.push((CaseState::Withdrawn, withdrawn));

    for (state, mut s) in scenarios {
        let on = copenhagen_date(s.now);
        let no_ngo_yet = s.case.ngo().is_none();
        let cw = s.caseworker();
        let co = s.coordinator();
        let attempts: Vec<(Actor, CaseAction, &[CaseState])> = vec![
            (cw.clone(), s.refer(&[SCHOOL]), &[CaseState::Opened]),
            (co.clone(), CaseAction::AcceptReferral, &[CaseState::Referred]),
            (co.clone(), CaseAction::DeclineReferral { reason: Personal::new("r".into()) }, &[CaseState::Referred]),
            (co.clone(), s.pre_meeting(vec![]), &[CaseState::Accepted]),
            (co.clone(), CaseAction::MatchVolunteer { volunteer: vetted_volunteer(), on }, &[CaseState::AwaitingMatch]),
            (co.clone(), CaseAction::EndMatch { reason: Personal::new("r".into()) }, &[CaseState::InCourse]),
            (co.clone(), s.closing_meeting(vec![]), &[CaseState::InCourse]),
            (
                cw.clone(),
                CaseAction::Withdraw { by_whom: WithdrawnBy::Family, reason: Personal::new("r".into()) },
                &[
                    CaseState::Opened,
                    CaseState::Referred,
                    CaseState::Accepted,
                    CaseState::AwaitingMatch,
                    CaseState::InCourse,
                ],
            ),
        ];
        for (actor, action, allowed) in attempts {
            if allowed.contains(&state) {
                continue;
            }
            let name = action.name();
            let err = refusal(&mut s, actor, action);
            assert!(
                matches!(err, CaseError::WrongState { state: st, .. } if st == state)
                    // Before the referral the NGO is not yet a party at all.
                    || (no_ngo_yet && matches!(err, CaseError::NotAParty(..))),
                "{name} in {state}: {err}"
            );
        }
    }
}

// ---- concerns --------------------------------------------------------------------------------

#[test]
fn a_concern_reaches_the_municipality_by_the_reporting_duty_with_deadlines() {
    let mut s = Scenario::in_course(BORN_14);
    s.now = at("2026-03-31T10:00:00Z"); // Tuesday before Easter 2026
    let report = s.report_concern();
    let events = s.as_coordinator(report);
    let CaseEvent::ConcernReported { concern, reported_to } = &events[0] else { panic!("expected a concern") };
    assert_eq!(reported_to, &muni());
    assert_eq!(concern.duty, Duty::Heightened);
    assert_eq!(concern.assessment_due, at("2026-04-01T10:00:00Z"));
    assert_eq!(concern.receipt_due, date("2026-04-13"));
}

#[test]
fn a_volunteers_concern_carries_the_general_duty() {
    let mut s = Scenario::in_course(BORN_14);
    let CaseAction::ReportConcern { concern, grounds, text, observed_on, agreement, calendar, .. } = s.report_concern()
    else {
        unreachable!()
    };
    let action = CaseAction::ReportConcern {
        concern,
        grounds,
        text,
        observed_on,
        reporter: Reporter::Volunteer { volunteer: VOLUNTEER },
        volunteer: Some(vetted_volunteer()),
        agreement,
        calendar,
    };
    s.as_coordinator(action);
    assert_eq!(s.case.concerns[&CONCERN].duty, Duty::General);
}

#[test]
fn a_concern_is_allowed_after_closing() {
    let mut s = Scenario::in_course(BORN_14);
    let m = s.closing_meeting(vec![]);
    s.as_coordinator(m);
    let report = s.report_concern();
    s.as_coordinator(report);
    assert_eq!(s.case.concerns.len(), 1);
}

#[test]
fn a_concern_is_allowed_after_consent_was_revoked_and_after_a_decline() {
    let mut s = Scenario::referred(BORN_14);
    s.as_caseworker(CaseAction::RevokeConsent { consent: CONSENT, reason: Personal::new("no".into()) });
    s.as_coordinator(CaseAction::DeclineReferral { reason: Personal::new("full".into()) });
    let report = s.report_concern();
    s.as_coordinator(report);
    assert_eq!(s.case.concerns.len(), 1);
}

#[test]
fn a_concern_needs_grounds_and_comes_from_the_ngo() {
    let mut s = Scenario::in_course(BORN_14);
    let CaseAction::ReportConcern { concern, text, observed_on, reporter, agreement, calendar, .. } =
        s.report_concern()
    else {
        unreachable!()
    };
    let a = s.coordinator();
    let no_grounds = CaseAction::ReportConcern {
        concern,
        grounds: BTreeSet::new(),
        text,
        observed_on,
        reporter,
        volunteer: None,
        agreement,
        calendar,
    };
    assert_eq!(refusal(&mut s, a, no_grounds), CaseError::Invalid("grounds: name at least one"));
    let a = s.caseworker();
    let report = s.report_concern();
    assert!(matches!(refusal(&mut s, a, report), CaseError::NotPermitted { .. }));
}

#[test]
fn the_municipality_acknowledges_a_concern_once() {
    let mut s = Scenario::in_course(BORN_14);
    let report = s.report_concern();
    s.as_coordinator(report);
    s.as_caseworker(CaseAction::AcknowledgeConcern { concern: CONCERN, investigation_started: true });
    let receipt = s.case.concerns[&CONCERN].receipt.clone().expect("receipt");
    assert!(receipt.on_time && receipt.investigation_started);
    let a = s.caseworker();
    assert_eq!(
        refusal(&mut s, a, CaseAction::AcknowledgeConcern { concern: CONCERN, investigation_started: false }),
        CaseError::ConcernAlreadyAcknowledged(CONCERN)
    );
}

#[test]
fn an_unacknowledged_concern_becomes_overdue() {
    let mut s = Scenario::in_course(BORN_14);
    let report = s.report_concern();
    s.as_coordinator(report);
    let c = &s.case.concerns[&CONCERN];
    assert!(!c.is_overdue(c.reported_at + TimeDelta::hours(23)));
    assert!(c.is_overdue(c.reported_at + TimeDelta::hours(25)));
    let late = c.reported_at.checked_add_days(Days::new(30)).expect("date");
    assert!(c.is_overdue(late));
}

#[test]
fn age_is_counted_in_full_years() {
    assert_eq!(age_on(date("2012-03-14"), date("2027-03-13")), 14);
    assert_eq!(age_on(date("2012-03-14"), date("2027-03-14")), 15);
    assert_eq!(age_on(date("2008-02-29"), date("2026-02-28")), 17);
    assert_eq!(age_on(date("2008-02-29"), date("2026-03-01")), 18);
}

#[test]
fn events_have_stable_snake_case_names() {
    let s = Scenario::referred(BORN_14);
    let json = serde_json::to_value(&s.events[0]).expect("serialises");
    assert!(json.get("case_opened").is_some(), "{json}");
    let back: CaseEvent = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, s.events[0]);
    assert_eq!(cqrs_es::DomainEvent::event_type(&s.events[0]), "case_opened");
}

// ---- property: random journeys ---------------------------------------------------------------

mod random_journeys {
    use super::*;
    use proptest::prelude::*;

    /// The transitions of DESIGN §3 (staying in the same state is always allowed).
    fn allowed(from: Option<CaseState>, to: CaseState) -> bool {
        use CaseState::*;
        match from {
            None => to == Opened,
            Some(f) if f == to => true,
            Some(f) => matches!(
                (f, to),
                (Opened, Referred)
                    | (Referred, Accepted)
                    | (Referred, Declined)
                    | (Accepted, AwaitingMatch)
                    | (AwaitingMatch, InCourse)
                    | (InCourse, AwaitingMatch)
                    | (InCourse | AwaitingMatch, Closed)
                    | (Opened | Referred | Accepted | AwaitingMatch | InCourse, Withdrawn | Redirected)
            ),
        }
    }

    /// Checks a disclosure against the state just before it, independently of `decide`.
    fn covered(before: &Case, d: &Disclosure, agreement: &Agreement) -> bool {
        let Some((version, terms)) = agreement.in_force.as_ref() else {
            return false;
        };
        d.agreement_version == *version
            && d.items.iter().all(|di| {
                let Some(item) = before.items.get(&di.item) else {
                    return false;
                };
                let Some(flow) = terms.flow_for(d.checkpoint, Side::of(&d.from), Side::of(&d.to), item.category) else {
                    return false;
                };
                match &di.basis {
                    // Items never travel at a checkpoint on a duty.
                    Basis::ReportingDuty { .. } | Basis::Relocation => false,
                    Basis::Consent { consent, purpose } => before.consents.get(consent).is_some_and(|c| {
                        let role =
                            if d.to.is_municipality() { RecipientRole::Caseworker } else { RecipientRole::Coordinator };
                        c.is_active_at(d.at)
                            && flow.purposes.contains(purpose)
                            && c.purposes.contains(purpose)
                            && c.categories.contains(&item.category)
                            && c.recipients.contains(&Recipient { org: d.to.clone(), role })
                    }),
                }
            })
    }

    fn action(s: &Scenario, op: u8, arg: u8) -> (Actor, CaseAction) {
        let cw = s.caseworker();
        let co = s.coordinator();
        let on = copenhagen_date(s.now);
        let items = [IDENTITY, SCHOOL, HEALTH, DEVELOPMENT, ItemId(Uuid::from_u128(80))];
        let pick = |n: u8| -> Vec<ItemId> {
            match n % 4 {
                0 => vec![SCHOOL],
                1 => vec![IDENTITY, SCHOOL],
                2 => vec![DEVELOPMENT],
                _ => items.iter().enumerate().filter(|(i, _)| (n >> 2) & (1 << i) != 0).map(|(_, id)| *id).collect(),
            }
        };
        let categories = Category::ALL;
        let natural = |to: Org, other: Org| if (arg >> 4) % 3 == 2 { other } else { to };
        match op % 21 {
            0 => (
                cw,
                CaseAction::AddItem {
                    item: ItemId::new(),
                    category: categories[arg as usize % categories.len()],
                    content: Personal::new("c".into()),
                },
            ),
            1 => (
                co,
                CaseAction::AddItem {
                    item: DEVELOPMENT,
                    category: Category::Development,
                    content: Personal::new("d".into()),
                },
            ),
            2 => {
                let recipient = if arg.is_multiple_of(3) {
                    Recipient { org: muni(), role: RecipientRole::Caseworker }
                } else {
                    Recipient { org: ngo(), role: RecipientRole::Coordinator }
                };
                let grantors = s.case.required_grantors(on).unwrap_or_default();
                (
                    cw,
                    CaseAction::GiveConsent {
                        consent: ConsentId::new(),
                        grantors,
                        recipients: BTreeSet::from([recipient]),
                        categories: categories
                            .iter()
                            .copied()
                            .filter(|c| !(*c as u8).wrapping_add(arg).is_multiple_of(3))
                            .collect(),
                        purposes: Purpose::ALL
                            .iter()
                            .copied()
                            .filter(|p| (*p as u8).wrapping_add(arg).is_multiple_of(2))
                            .collect(),
                        valid_from: on,
                        valid_until: on + TimeDelta::days(i64::from(arg) + 1),
                        evidence: Personal::new("e".into()),
                    },
                )
            }
            3 => {
                let consent = s
                    .case
                    .consents
                    .keys()
                    .nth(arg as usize % s.case.consents.len().max(1))
                    .copied()
                    .unwrap_or_default();
                (cw, CaseAction::RevokeConsent { consent, reason: Personal::new("r".into()) })
            }
            4 => (cw, s.refer(&pick(arg))),
            5 => (co, CaseAction::AcceptReferral),
            6 => (co, CaseAction::DeclineReferral { reason: Personal::new("r".into()) }),
            7 => (
                co,
                s.pre_meeting(vec![DisclosureRequest {
                    id: DisclosureId::new(),
                    items: pick(arg),
                    to: natural(ngo(), muni()),
                }]),
            ),
            8 => (
                co,
                CaseAction::MatchVolunteer {
                    volunteer: VolunteerFacts {
                        child_certificate_date: arg.is_multiple_of(2).then(|| date("2026-01-01")),
                        ..vetted_volunteer()
                    },
                    on,
                },
            ),
            9 => (co, CaseAction::EndMatch { reason: Personal::new("r".into()) }),
            10 => (
                co,
                CaseAction::LogActivity { on, kind: "meeting".into(), note: Personal::new("n".into()), on_track: None },
            ),
            11 => (co, s.report_concern()),
            12 => {
                (cw, CaseAction::AcknowledgeConcern { concern: CONCERN, investigation_started: arg.is_multiple_of(2) })
            }
            13 => (
                co,
                s.closing_meeting(vec![DisclosureRequest {
                    id: DisclosureId::new(),
                    items: pick(arg),
                    to: natural(muni(), ngo()),
                }]),
            ),
            14 => (
                if arg.is_multiple_of(2) { cw } else { co },
                CaseAction::Withdraw { by_whom: WithdrawnBy::Family, reason: Personal::new("r".into()) },
            ),
            16 => (
                if arg.is_multiple_of(2) { cw } else { co },
                CaseAction::Disclose {
                    checkpoint: if (arg >> 1).is_multiple_of(2) {
                        Checkpoint::PreMeeting
                    } else {
                        Checkpoint::ClosingMeeting
                    },
                    items: pick(arg >> 2),
                    disclosure: DisclosureId::new(),
                    agreement: Box::new(approved_agreement()),
                },
            ),
            17 => (
                if arg.is_multiple_of(2) { cw } else { co },
                CaseAction::PlanMeeting {
                    meeting: MeetingId(Uuid::from_u128(100 + u128::from(arg % 3))),
                    checkpoint: Checkpoint::ALL[usize::from(arg >> 2) % 3],
                    on: on + TimeDelta::days(i64::from(arg % 5)),
                    invited: set(&[Participant::Coordinator, Participant::Caseworker]),
                },
            ),
            18 => (
                if arg.is_multiple_of(2) { cw } else { co },
                CaseAction::MoveMeeting {
                    meeting: MeetingId(Uuid::from_u128(100 + u128::from(arg % 3))),
                    to: on + TimeDelta::days(i64::from(arg % 7)),
                    reason: Personal::new("ill".into()),
                },
            ),
            19 => (
                if arg.is_multiple_of(2) { cw } else { co },
                CaseAction::RecordMissedMeeting {
                    meeting: MeetingId(Uuid::from_u128(100 + u128::from(arg % 3))),
                    reason: Personal::new("did not come".into()),
                },
            ),
            20 => (
                if arg.is_multiple_of(2) { cw } else { co },
                CaseAction::RecordMeasure {
                    item: ItemId::new(),
                    instrument: "sdq_total".into(),
                    point: MeasurePoint::ALL[usize::from(arg >> 1) % 3],
                    on,
                    value: f64::from(arg % 40),
                },
            ),
            _ => (cw, CaseAction::Redirect { reason: Personal::new("r".into()) }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_journeys_keep_the_state_machine_and_never_disclose_without_a_basis(
            birth_year in 2004i32..2016,
            start in 0usize..7,
            ops in proptest::collection::vec((any::<u8>(), any::<u8>(), 0u8..48), 1..60),
        ) {
            let starts = [Scenario::opened, Scenario::consented, Scenario::referred, Scenario::accepted, Scenario::awaiting_match, Scenario::in_course, Scenario::ready_to_close];
            let mut s = starts[start](&format!("{birth_year}-06-15"));
            let agreement = approved_agreement();
            for (op, arg, hours) in ops {
                s.now += TimeDelta::hours(i64::from(hours));
                let (actor, action) = action(&s, op, arg);
                let (actor_org, actor_user) = (actor.org.clone(), actor.user.clone());
                let before = s.case.clone();
                match s.case.decide(CaseCommand { actor, action }) {
                    Err(_) => {}
                    Ok(events) => {
                        let mut state = before.clone();
                        let meeting_held = |checkpoint: Checkpoint| {
                            before.held_on(checkpoint).is_some()
                                || events.iter().any(|e| {
                                    matches!(
                                        (checkpoint, e),
                                        (Checkpoint::PreMeeting, CaseEvent::PreMeetingHeld { .. })
                                            | (Checkpoint::ClosingMeeting, CaseEvent::ClosingMeetingHeld { .. })
                                    )
                                })
                        };
                        for e in &events {
                            if let CaseEvent::InformationDisclosed { disclosure, by } = e {
                                prop_assert!(covered(&state, disclosure, &agreement), "uncovered disclosure {disclosure:?}");
                                prop_assert_eq!(&disclosure.from, &actor_org, "a party discloses only its own items");
                                prop_assert_eq!(by, &actor_user);
                                prop_assert!(
                                    disclosure.checkpoint == Checkpoint::Referral || meeting_held(disclosure.checkpoint),
                                    "a disclosure at a meeting that was not held"
                                );
                            }
                            if let CaseEvent::ConcernReported { reported_to, .. } = e {
                                prop_assert_eq!(Some(reported_to), state.municipality.as_ref());
                            }
                            let from = state.state;
                            state.apply(e);
                            let to = state.state.expect("opened");
                            prop_assert!(allowed(from, to), "{from:?} -> {to:?} by {}", e.name());
                        }
                        s.case = state;
                    }
                }
                s.now += TimeDelta::minutes(1);
            }
        }
    }
}

// ---- erasure --------------------------------------------------------------------------------

fn erase(retention_days: u32) -> CaseAction {
    CaseAction::EraseSubject { reason: "GDPR art. 17 request".into(), retention_days }
}

#[test]
fn erasure_waits_for_the_end_the_retention_duty_and_every_open_concern() {
    let mut s = Scenario::in_course(BORN_14);
    let a = s.caseworker();
    assert!(matches!(refusal(&mut s, a, erase(0)), CaseError::WrongState { action: "erase", .. }));
    let report = s.report_concern();
    s.as_coordinator(report);
    let m = s.closing_meeting(vec![]);
    s.as_coordinator(m);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, erase(0)), CaseError::ConcernOpen(CONCERN));
    s.as_caseworker(CaseAction::AcknowledgeConcern { concern: CONCERN, investigation_started: false });
    let a = s.caseworker();
    assert!(matches!(refusal(&mut s, a, erase(365)), CaseError::RetentionDutyApplies(_)));
    let a = s.coordinator();
    assert!(matches!(refusal(&mut s, a, erase(0)), CaseError::NotPermitted { .. }));
    s.as_caseworker(erase(0));
    assert!(s.case.erased_at.is_some());
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, erase(0)), CaseError::AlreadyErased);
}

#[test]
fn any_flow_in_force_covers_a_disclosure_and_the_event_records_which() {
    use fixtures::*;
    // Two flows for school at referral, municipality → NGO: one for referral, one for statistics.
    let mut t = terms();
    t.flows.insert(
        0,
        Flow {
            checkpoint: Checkpoint::Referral,
            from: Side::Municipality,
            to: Side::Ngo,
            categories: BTreeSet::from([Category::School]),
            purposes: BTreeSet::from([Purpose::Statistics]),
        },
    );
    let mut agreement = Agreement::default();
    let when = at("2026-10-01T08:00:00Z");
    agreement.apply(&AgreementEvent::AgreementDrafted {
        id: AGREEMENT,
        terms: t,
        by: UserId("admin".into()),
        org: muni(),
        at: when,
    });
    agreement.apply(&AgreementEvent::AgreementInForce { version: 1, at: when });
    let mut s = Scenario::opened("2012-03-14");
    // The consent covers the second flow's purpose only.
    s.give_consent(
        CONSENT,
        Recipient { org: ngo(), role: RecipientRole::Coordinator },
        &[Category::School],
        &[Purpose::Referral],
    );
    let events = s.as_caseworker(CaseAction::SubmitReferral {
        agreement: Box::new(agreement),
        items: vec![SCHOOL],
        note: Personal::new(String::new()),
        disclosure: DisclosureId(Uuid::from_u128(70)),
    });
    let disclosed = events
        .iter()
        .find_map(|e| match e {
            CaseEvent::InformationDisclosed { disclosure, .. } => Some(disclosure.items[0].clone()),
            _ => None,
        })
        .expect("a disclosure");
    assert_eq!(disclosed.basis, Basis::Consent { consent: CONSENT, purpose: Purpose::Referral });
    assert_eq!(disclosed.flow, Some(1), "the second flow allowed it");
}

// Outcomes are the NGO's sealed `outcome` items, crossing only under a flow and a consent.

#[test]
fn closing_meeting_outcomes_are_sealed_ngo_items_that_stay_without_an_outcome_consent() {
    let mut s = Scenario::ready_to_close(BORN_14);
    let meeting = s.closing_meeting(vec![]);
    let events = s.as_coordinator(meeting);
    let item = &s.case.items[&OUTCOME];
    assert_eq!((item.category, &item.owner), (Category::Outcome, &ngo()));
    assert_eq!(item.content.expose(), "sdq_total: 19 → 14");
    let measure = item.measure.as_ref().and_then(|m| m.known()).expect("measure");
    assert_eq!((measure.instrument.as_str(), measure.before, measure.after), ("sdq_total", 19.0, 14.0));
    // The closing consent names development only: the outcome stays with the NGO.
    assert!(s.case.disclosures.iter().all(|d| d.items.iter().all(|i| i.item != OUTCOME)));
    let Some(CaseEvent::ClosingMeetingHeld { outcomes, .. }) = events.last() else { panic!("closing last") };
    assert!(outcomes.is_empty());
    // In the event's wire form the scores are personal values, so the store seals them.
    let wire = serde_json::to_value(&events[0]).expect("json");
    assert_eq!(wire["item_added"]["item"]["measure"]["$pii"]["before"], 19.0, "{wire}");
}

#[test]
fn outcomes_cross_to_the_municipality_under_an_outcome_flow_and_a_consent() {
    let mut s = Scenario::ready_to_close(BORN_14);
    s.give_consent(
        ConsentId(Uuid::from_u128(32)),
        Recipient { org: muni(), role: RecipientRole::Caseworker },
        &[Category::Outcome],
        &[Purpose::ClosingEvaluation],
    );
    let meeting = s.closing_meeting(vec![]);
    s.as_coordinator(meeting);
    let d = s.case.disclosures.last().expect("outcome disclosure");
    assert_eq!((d.checkpoint, &d.from, &d.to), (Checkpoint::ClosingMeeting, &ngo(), &muni()));
    assert_eq!(d.items.len(), 1);
    let shared = &d.items[0];
    assert_eq!((shared.item, shared.category, shared.flow), (OUTCOME, Category::Outcome, Some(2)));
    assert_eq!(
        shared.basis,
        Basis::Consent { consent: ConsentId(Uuid::from_u128(32)), purpose: Purpose::ClosingEvaluation }
    );
    assert!(shared.measure.as_ref().is_some_and(|m| m.known().is_some()), "the recipient's copy of the scores");
}

#[test]
fn without_an_outcome_flow_a_consent_for_outcomes_shares_nothing() {
    let mut s = Scenario::ready_to_close(BORN_14);
    s.give_consent(
        ConsentId(Uuid::from_u128(32)),
        Recipient { org: muni(), role: RecipientRole::Caseworker },
        &[Category::Outcome],
        &[Purpose::ClosingEvaluation],
    );
    let mut agreement = approved_agreement();
    if let Some((_, terms)) = agreement.in_force.as_mut() {
        for f in &mut terms.flows {
            f.categories.remove(&Category::Outcome);
        }
    }
    let CaseAction::HoldClosingMeeting { disclosures, outcomes, outcome_disclosure, held_on, participants, .. } =
        s.closing_meeting(vec![])
    else {
        unreachable!()
    };
    let meeting = CaseAction::HoldClosingMeeting {
        agreement: Box::new(agreement),
        held_on,
        meeting: None,
        participants,
        absent: vec![],
        disclosures,
        outcomes,
        outcome_disclosure,
    };
    s.as_coordinator(meeting);
    assert_eq!(s.case.state, Some(CaseState::Closed));
    assert!(s.case.items.contains_key(&OUTCOME));
    assert!(s.case.disclosures.iter().all(|d| d.items.iter().all(|i| i.item != OUTCOME)));
}

// Age thresholds are evaluated at the moment of each disclosure and read.

/// A consent from the custody holders only, as recorded for a young person under 15.
fn parents_consent(s: &mut Scenario, id: ConsentId, categories: &[Category], grantors: &[PersonId]) {
    let action = CaseAction::GiveConsent {
        consent: id,
        grantors: set(grantors),
        recipients: BTreeSet::from([Recipient { org: ngo(), role: RecipientRole::Coordinator }]),
        categories: set(categories),
        purposes: set(&[Purpose::Referral, Purpose::CoursePlanning]),
        valid_from: date("2026-11-01"),
        valid_until: date("2029-11-01"),
        evidence: Personal::new("signed".into()),
    };
    s.as_caseworker(action);
}

#[test]
fn a_parents_consent_given_at_14_does_not_cover_a_disclosure_after_the_15th_birthday() {
    // Born 2011-11-12: 14 on 2026-11-10, 15 on 2026-11-12.
    let mut s = Scenario::opened("2011-11-12");
    parents_consent(&mut s, CONSENT, &[Category::Identity, Category::School], &[MOTHER, FATHER]);
    assert!(!s.case.consent_renewal_due(s.now), "complete for a 14-year-old");
    s.now = at("2026-11-12T09:00:00Z");
    assert!(s.case.consent_renewal_due(s.now), "from the 15th birthday the young person's own grant is needed");
    let refer = s.refer(&[IDENTITY]);
    let actor = s.caseworker();
    let err = refusal(&mut s, actor, refer);
    assert_eq!(err, CaseError::GrantorMissing(vec![YP]));
    // The same consent recorded that day is refused for the same reason: one rule for both.
    let actor = s.caseworker();
    let err = refusal(
        &mut s,
        actor,
        CaseAction::GiveConsent {
            consent: ConsentId(Uuid::from_u128(33)),
            grantors: set(&[MOTHER, FATHER]),
            recipients: BTreeSet::from([Recipient { org: ngo(), role: RecipientRole::Coordinator }]),
            categories: set(&[Category::Identity]),
            purposes: set(&[Purpose::Referral]),
            valid_from: date("2026-11-01"),
            valid_until: date("2027-11-01"),
            evidence: Personal::new("signed".into()),
        },
    );
    assert_eq!(err, CaseError::GrantorMissing(vec![YP]));
    // Renewed with the young person's own grant, the referral goes.
    parents_consent(&mut s, ConsentId(Uuid::from_u128(34)), &[Category::Identity], &[MOTHER, FATHER, YP]);
    assert!(s.case.consent_renewal_due(s.now), "the new consent does not cover school, the old one did");
    parents_consent(
        &mut s,
        ConsentId(Uuid::from_u128(35)),
        &[Category::Identity, Category::School],
        &[MOTHER, FATHER, YP],
    );
    assert!(!s.case.consent_renewal_due(s.now), "renewed: a complete consent covers all the old one did");
    let refer = s.refer(&[IDENTITY]);
    s.as_caseworker(refer);
    let d = s.case.disclosures.last().expect("referral disclosure");
    assert!(matches!(d.items[0].basis, Basis::Consent { consent, .. } if consent == ConsentId(Uuid::from_u128(34))));
}

#[test]
fn from_the_18th_birthday_a_consent_without_the_young_persons_grant_holds_no_longer() {
    // Born 2008-11-12: 17 on 2026-11-10, 18 on 2026-11-12.
    let mut s = Scenario::opened("2008-11-12");
    parents_consent(&mut s, CONSENT, &[Category::Identity], &[MOTHER, FATHER, YP]);
    let with_own = s.case.consents[&CONSENT].clone();
    let mut parents_only = with_own.clone();
    parents_only.grantors = set(&[MOTHER, FATHER]);
    let eve = at("2026-11-11T22:59:00Z"); // 23:59 in Copenhagen, the day before
    let birthday = at("2026-11-11T23:00:00Z"); // midnight in Copenhagen
    assert!(s.case.consent_holds_at(&parents_only, eve));
    assert!(!s.case.consent_holds_at(&parents_only, birthday), "reads hide from that day, as after a revocation");
    assert!(s.case.consent_holds_at(&with_own, birthday));
}

#[test]
fn the_young_persons_assent_under_15_is_recorded_and_carries_the_consent_past_15() {
    let mut s = Scenario::opened("2011-11-12");
    parents_consent(&mut s, CONSENT, &[Category::Identity], &[MOTHER, FATHER, YP]);
    assert!(s.case.consents[&CONSENT].grantors.contains(&YP), "the assent is recorded with the consent");
    s.now = at("2026-11-12T09:00:00Z");
    assert!(!s.case.consent_renewal_due(s.now));
    let refer = s.refer(&[IDENTITY]);
    s.as_caseworker(refer);
}

// ---- meetings as they happen -----------------------------------------------------------------

fn pre_meeting_with(s: &Scenario, present: &[Participant], absent: Vec<Absence>) -> CaseAction {
    let CaseAction::HoldPreMeeting { agreement, held_on, wishes, disclosures, .. } = s.pre_meeting(vec![]) else {
        unreachable!()
    };
    CaseAction::HoldPreMeeting {
        agreement,
        held_on,
        meeting: None,
        participants: set(present),
        absent,
        wishes,
        disclosures,
    }
}

fn absence(who: Participant, reason: &str) -> Absence {
    Absence { participant: who, reason: Personal::new(reason.into()) }
}

#[test]
fn a_pre_meeting_needs_everyone_who_must_take_part_present_or_absent_with_a_reason() {
    use Participant::*;
    let mut s = Scenario::accepted(BORN_14);
    let a = s.coordinator();
    let nobody = pre_meeting_with(&s, &[], vec![]);
    assert!(matches!(refusal(&mut s, a.clone(), nobody), CaseError::Invalid(m) if m.starts_with("participants")));
    let without_family = pre_meeting_with(&s, &[Coordinator, Caseworker], vec![]);
    assert_eq!(
        refusal(&mut s, a.clone(), without_family),
        CaseError::ParticipantsMissing(vec![YoungPerson, CustodyHolder])
    );
    let no_reason = pre_meeting_with(&s, &[Coordinator, Caseworker, YoungPerson], vec![absence(CustodyHolder, " ")]);
    assert_eq!(refusal(&mut s, a.clone(), no_reason), CaseError::Invalid("absent: each absence needs a reason"));
    let volunteer = pre_meeting_with(&s, &[Coordinator, Caseworker, YoungPerson, CustodyHolder, Volunteer], vec![]);
    assert_eq!(
        refusal(&mut s, a.clone(), volunteer),
        CaseError::Invalid("participants: no volunteer has been matched")
    );
    let both =
        pre_meeting_with(&s, &[Coordinator, Caseworker, YoungPerson, CustodyHolder], vec![absence(YoungPerson, "ill")]);
    assert_eq!(refusal(&mut s, a, both), CaseError::Invalid("absent: someone is named both present and absent"));
    let held = pre_meeting_with(&s, &[Coordinator, Caseworker, YoungPerson], vec![absence(CustodyHolder, "at work")]);
    s.as_coordinator(held);
    let m = s.case.meetings.last().expect("meeting");
    assert_eq!((m.checkpoint, m.status), (Checkpoint::PreMeeting, MeetingStatus::Held));
    assert_eq!(m.absent, vec![absence(CustodyHolder, "at work")]);
}

#[test]
fn an_adult_young_persons_parents_need_not_attend() {
    use Participant::*;
    let mut s = Scenario::accepted(BORN_18);
    let held = pre_meeting_with(&s, &[Coordinator, Caseworker, YoungPerson], vec![]);
    s.as_coordinator(held);
    assert_eq!(s.case.state, Some(CaseState::AwaitingMatch));
}

#[test]
fn each_party_discloses_only_its_own_items_under_its_own_user() {
    let mut s = Scenario::accepted(BORN_14);
    // The coordinator can no longer carry the municipality's school item across.
    let meeting = s.pre_meeting(vec![DisclosureRequest { id: DisclosureId::new(), items: vec![SCHOOL], to: ngo() }]);
    let a = s.coordinator();
    assert!(matches!(refusal(&mut s, a, meeting), CaseError::Invalid(m) if m.contains("its own items")));
    // Before the meeting was held, nothing crosses at it.
    let early = s.disclose(Checkpoint::PreMeeting, &[SCHOOL]);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, early), CaseError::MeetingNotHeld(Checkpoint::PreMeeting));
    let meeting = s.pre_meeting(vec![]);
    s.as_coordinator(meeting);
    // The coordinator cannot disclose the municipality's item with the caseworker's command either.
    let theirs = s.disclose(Checkpoint::PreMeeting, &[SCHOOL]);
    let a = s.coordinator();
    assert_eq!(refusal(&mut s, a, theirs), CaseError::ItemNotOwned { item: SCHOOL, org: ngo() });
    // The referral is no meeting.
    let referral = s.disclose(Checkpoint::Referral, &[SCHOOL]);
    let a = s.caseworker();
    assert!(matches!(refusal(&mut s, a, referral), CaseError::Invalid(m) if m.starts_with("checkpoint")));
    // A week after the meeting the checkpoint has passed.
    s.now += TimeDelta::days(8);
    let late = s.disclose(Checkpoint::PreMeeting, &[SCHOOL]);
    let a = s.caseworker();
    assert!(matches!(refusal(&mut s, a, late), CaseError::CheckpointPassed { checkpoint: Checkpoint::PreMeeting, .. }));
}

#[test]
fn meetings_are_planned_moved_missed_and_held() {
    use Participant::*;
    let mut s = Scenario::accepted(BORN_14);
    let first = MeetingId(Uuid::from_u128(101));
    let second = MeetingId(Uuid::from_u128(102));
    let today = copenhagen_date(s.now);
    let plan = |id: MeetingId, on: NaiveDate| CaseAction::PlanMeeting {
        meeting: id,
        checkpoint: Checkpoint::PreMeeting,
        on,
        invited: set(&[Coordinator, Caseworker, YoungPerson, CustodyHolder]),
    };
    s.as_caseworker(plan(first, today + TimeDelta::days(3)));
    let a = s.coordinator();
    assert_eq!(refusal(&mut s, a, plan(second, today + TimeDelta::days(4))), CaseError::MeetingAlreadyPlanned(first));
    let a = s.caseworker();
    assert!(matches!(
        refusal(&mut s, a, plan(second, today - TimeDelta::days(1))),
        CaseError::MeetingAlreadyPlanned(_) | CaseError::Invalid(_)
    ));
    s.as_coordinator(CaseAction::MoveMeeting {
        meeting: first,
        to: today + TimeDelta::days(5),
        reason: Personal::new("the mother is ill".into()),
    });
    assert_eq!(s.case.meetings[0].on, today + TimeDelta::days(5));
    assert_eq!(s.case.meetings[0].notes[0].org, ngo());
    let a = s.caseworker();
    let too_early = CaseAction::RecordMissedMeeting { meeting: first, reason: Personal::new("x".into()) };
    assert!(matches!(refusal(&mut s, a, too_early), CaseError::Invalid(m) if m.contains("move it instead")));
    s.now += TimeDelta::days(6);
    s.as_caseworker(CaseAction::RecordMissedMeeting { meeting: first, reason: Personal::new("nobody came".into()) });
    assert_eq!(s.case.meetings[0].status, MeetingStatus::Missed);
    let today = copenhagen_date(s.now);
    s.as_coordinator(plan(second, today));
    let CaseAction::HoldPreMeeting { agreement, wishes, disclosures, participants, .. } = s.pre_meeting(vec![]) else {
        unreachable!()
    };
    let hold = |meeting| CaseAction::HoldPreMeeting {
        agreement: agreement.clone(),
        held_on: today,
        meeting: Some(meeting),
        participants: participants.clone(),
        absent: vec![],
        wishes: wishes.clone(),
        disclosures: disclosures.clone(),
    };
    let a = s.coordinator();
    assert_eq!(refusal(&mut s, a, hold(first)), CaseError::MeetingNotPlanned(first));
    s.as_coordinator(hold(second));
    assert_eq!(s.case.meetings.len(), 2);
    assert_eq!(s.case.meetings[1].status, MeetingStatus::Held);
    assert_eq!(s.case.held_on(Checkpoint::PreMeeting), Some(today));
}

#[test]
fn a_course_closes_with_its_evaluation_after_the_volunteer_left() {
    use Participant::*;
    let mut s = Scenario::ready_to_close(BORN_14);
    s.as_coordinator(CaseAction::EndMatch { reason: Personal::new("the volunteer moved away".into()) });
    assert_eq!(s.case.state, Some(CaseState::AwaitingMatch));
    let CaseAction::HoldClosingMeeting { agreement, held_on, outcomes, outcome_disclosure, .. } =
        s.closing_meeting(vec![])
    else {
        unreachable!()
    };
    // The volunteer of an ended match need not attend.
    s.as_coordinator(CaseAction::HoldClosingMeeting {
        agreement,
        held_on,
        meeting: None,
        participants: set(&[Coordinator, Caseworker, YoungPerson, CustodyHolder]),
        absent: vec![],
        disclosures: vec![DisclosureRequest { id: DisclosureId::new(), items: vec![DEVELOPMENT], to: muni() }],
        outcomes,
        outcome_disclosure,
    });
    assert_eq!(s.case.state, Some(CaseState::Closed));
    assert!(s.case.disclosures.iter().any(|d| d.checkpoint == Checkpoint::ClosingMeeting));
    assert_eq!(s.case.matches.len(), 1);
    assert!(s.case.matches[0].ended_at.is_some());
}

#[test]
fn a_course_never_matched_cannot_hold_a_closing_meeting() {
    let mut s = Scenario::awaiting_match(BORN_14);
    let m = s.closing_meeting(vec![]);
    let a = s.coordinator();
    assert!(matches!(refusal(&mut s, a, m), CaseError::WrongState { .. }));
}

#[test]
fn the_volunteer_of_a_current_match_must_attend_the_closing_meeting() {
    use Participant::*;
    let mut s = Scenario::in_course(BORN_14);
    let CaseAction::HoldClosingMeeting { agreement, held_on, outcomes, outcome_disclosure, .. } =
        s.closing_meeting(vec![])
    else {
        unreachable!()
    };
    let a = s.coordinator();
    let without = CaseAction::HoldClosingMeeting {
        agreement,
        held_on,
        meeting: None,
        participants: set(&[Coordinator, Caseworker, YoungPerson, CustodyHolder]),
        absent: vec![],
        disclosures: vec![],
        outcomes,
        outcome_disclosure,
    };
    assert_eq!(refusal(&mut s, a, without), CaseError::ParticipantsMissing(vec![Volunteer]));
}

// ---- measures and follow-up ------------------------------------------------------------------

fn measure(point: MeasurePoint, on: NaiveDate, value: f64) -> CaseAction {
    CaseAction::RecordMeasure { item: ItemId::new(), instrument: "sdq_total".into(), point, on, value }
}

#[test]
fn measures_are_taken_at_baseline_closing_and_follow_up() {
    let mut s = Scenario::awaiting_match(BORN_14);
    let today = copenhagen_date(s.now);
    let a = s.coordinator();
    assert!(matches!(
        refusal(&mut s, a, measure(MeasurePoint::FollowUp, today, 12.0)),
        CaseError::WrongState { action: "record_measure", .. }
    ));
    let events = s.as_coordinator(measure(MeasurePoint::Baseline, today, 19.0));
    let CaseEvent::ItemAdded { item } = &events[0] else { panic!("an item") };
    assert_eq!((item.category, &item.owner), (Category::Development, &ngo()));
    let score = item.score.as_ref().expect("score").expose().clone();
    assert_eq!((score.point, score.value), (MeasurePoint::Baseline, 19.0));
    let a = s.coordinator();
    assert_eq!(
        refusal(&mut s, a.clone(), measure(MeasurePoint::Baseline, today, f64::NAN)),
        CaseError::Invalid("value: a finite number")
    );
    let bad = CaseAction::RecordMeasure {
        item: ItemId::new(),
        instrument: "SDQ total".into(),
        point: MeasurePoint::Baseline,
        on: today,
        value: 1.0,
    };
    assert!(matches!(refusal(&mut s, a, bad), CaseError::Invalid(m) if m.starts_with("instrument")));
    // The caseworker records the municipality's own measure.
    s.as_caseworker(measure(MeasurePoint::Baseline, today, 18.0));
    let s2 = {
        let mut s = Scenario::in_course(BORN_14);
        let m = s.closing_meeting(vec![]);
        s.as_coordinator(m);
        s
    };
    let mut s = s2;
    let closed_on = copenhagen_date(s.now);
    let a = s.coordinator();
    assert!(matches!(
        refusal(&mut s, a, measure(MeasurePoint::FollowUp, closed_on - TimeDelta::days(1), 12.0)),
        CaseError::Invalid(m) if m.starts_with("on")
    ));
    s.now += TimeDelta::days(90);
    let later = copenhagen_date(s.now);
    let events = s.as_coordinator(measure(MeasurePoint::FollowUp, later, 11.0));
    let CaseEvent::ItemAdded { item } = &events[0] else { panic!("an item") };
    assert_eq!(item.category, Category::Outcome);
    // Only measures may be added after closing.
    let a = s.coordinator();
    let note = CaseAction::AddItem {
        item: ItemId::new(),
        category: Category::Development,
        content: Personal::new("x".into()),
    };
    assert!(matches!(refusal(&mut s, a, note), CaseError::WrongState { .. }));
}

// ---- mistakes the domain accepted -----------------------------------------------------------

#[test]
fn a_match_ends_with_a_reason() {
    let mut s = Scenario::in_course(BORN_14);
    let a = s.coordinator();
    assert_eq!(
        refusal(&mut s, a, CaseAction::EndMatch { reason: Personal::new("  ".into()) }),
        CaseError::Invalid("reason: say why the match ended")
    );
}

#[test]
fn only_the_caseworker_redirects() {
    let mut s = Scenario::in_course(BORN_14);
    let a = s.coordinator();
    assert!(matches!(
        refusal(&mut s, a, CaseAction::Redirect { reason: Personal::new("needs more".into()) }),
        CaseError::NotPermitted { role: Role::Coordinator, action: "redirect" }
    ));
}

#[test]
fn a_concern_from_a_volunteer_names_a_volunteer_of_the_ngo() {
    let mut s = Scenario::in_course(BORN_14);
    let CaseAction::ReportConcern { concern, grounds, text, observed_on, agreement, calendar, .. } = s.report_concern()
    else {
        unreachable!()
    };
    let stranger = VolunteerId(Uuid::from_u128(999));
    for found in [None, Some(VolunteerFacts { ngo: other_ngo(), ..vetted_volunteer() })] {
        let action = CaseAction::ReportConcern {
            concern,
            grounds: grounds.clone(),
            text: text.clone(),
            observed_on,
            reporter: Reporter::Volunteer { volunteer: if found.is_some() { VOLUNTEER } else { stranger } },
            volunteer: found.clone(),
            agreement: agreement.clone(),
            calendar,
        };
        let a = s.coordinator();
        assert!(matches!(refusal(&mut s, a, action), CaseError::VolunteerNotFound(_)));
    }
}

#[test]
fn a_receipt_after_the_24_hours_is_late_as_the_overdue_list_says() {
    let mut s = Scenario::in_course(BORN_14);
    let report = s.report_concern();
    s.as_coordinator(report);
    let reported_at = s.case.concerns[&CONCERN].reported_at;
    s.now = reported_at + TimeDelta::hours(48);
    assert!(s.case.concerns[&CONCERN].is_overdue(s.now), "the overdue list shows it late");
    s.as_caseworker(CaseAction::AcknowledgeConcern { concern: CONCERN, investigation_started: false });
    let receipt = s.case.concerns[&CONCERN].receipt.clone().expect("receipt");
    assert!(!receipt.on_time, "a receipt the overdue list showed late is late");
}

// ---- life events ----------------------------------------------------------------------------

#[test]
fn a_young_person_referred_again_keeps_their_person_ids_and_the_link() {
    let mut first = Scenario::referred(BORN_14);
    first.as_coordinator(CaseAction::DeclineReferral { reason: Personal::new("No volunteer nearby".into()) });
    let earlier = first.case.clone();
    let again = CaseId(Uuid::from_u128(2));
    let open = |case: &Case, person: YoungPerson, holders: Vec<CustodyHolder>| CaseAction::Open {
        case: again,
        young_person: person,
        custody_holders: holders,
        earlier: Some(Box::new(case.clone())),
    };
    let mut s = Scenario::new();
    s.now = first.now;
    // Another municipality cannot link to the case.
    let stranger = actor("municipality:0101".parse().expect("org"), Role::Caseworker, s.now);
    assert_eq!(
        refusal(&mut s, stranger, open(&earlier, young_person(BORN_14), holders())),
        CaseError::EarlierCaseNotFound
    );
    // New person ids would split the subject in two.
    let mut other = young_person(BORN_14);
    other.id = PersonId(Uuid::from_u128(99));
    let a = s.caseworker();
    assert!(matches!(refusal(&mut s, a, open(&earlier, other, holders())), CaseError::Invalid(_)));
    // An open earlier case is not ended: no second course beside it.
    let open_case = Scenario::referred(BORN_14).case;
    let a = s.caseworker();
    assert_eq!(
        refusal(&mut s, a, open(&open_case, young_person(BORN_14), holders())),
        CaseError::EarlierCaseOpen(CASE)
    );
    s.as_caseworker(open(&earlier, young_person(BORN_14), holders()));
    assert_eq!(s.case.earlier_case, Some(CASE));
    assert_eq!(s.case.young_person.as_ref().map(|p| p.id), Some(YP));
    assert_eq!(s.case.state, Some(CaseState::Opened));
}

#[test]
fn a_guardian_grants_consent_where_nobody_holds_custody() {
    let mut s = Scenario::new();
    s.as_caseworker(CaseAction::Open {
        case: CASE,
        young_person: young_person(BORN_14),
        custody_holders: vec![],
        earlier: None,
    });
    assert_eq!(s.case.required_grantors(copenhagen_date(s.now)), Err(CaseError::NoCustodyHolder));
    let guardian = PersonId(Uuid::from_u128(13));
    let a = s.coordinator();
    let add = |id, guardian| CaseAction::AddCustodyHolder {
        holder: CustodyHolder { id, name: Personal::new("Værge Hansen".into()), guardian },
    };
    assert!(matches!(
        refusal(&mut s, a, add(guardian, true)),
        CaseError::NotAParty(..) | CaseError::NotPermitted { .. }
    ));
    s.as_caseworker(add(guardian, true));
    assert_eq!(s.case.required_grantors(copenhagen_date(s.now)), Ok(set(&[guardian])));
    // Custody returns to a parent: the guardian is removed first.
    let a = s.caseworker();
    assert!(matches!(refusal(&mut s, a, add(MOTHER, false)), CaseError::Invalid(m) if m.contains("guardian")));
    let a = s.caseworker();
    let no_reason = CaseAction::RemoveCustodyHolder { holder: guardian, reason: " ".into() };
    assert!(matches!(refusal(&mut s, a, no_reason), CaseError::Invalid(_)));
    s.as_caseworker(CaseAction::RemoveCustodyHolder { holder: guardian, reason: "custody decision 2026-11".into() });
    s.as_caseworker(add(MOTHER, false));
    assert_eq!(s.case.required_grantors(copenhagen_date(s.now)), Ok(set(&[MOTHER])));
    let a = s.caseworker();
    let unknown = CaseAction::RemoveCustodyHolder { holder: FATHER, reason: "x".into() };
    assert_eq!(refusal(&mut s, a, unknown), CaseError::UnknownGrantor(FATHER));
}

#[test]
fn a_new_custody_holder_must_grant_what_crosses_from_now_on() {
    let mut s = Scenario::consented(BORN_14);
    let stepmother = PersonId(Uuid::from_u128(14));
    s.as_caseworker(CaseAction::AddCustodyHolder {
        holder: CustodyHolder { id: stepmother, name: Personal::new("Lise Jensen".into()), guardian: false },
    });
    let refer = s.refer(&[IDENTITY, SCHOOL]);
    let a = s.caseworker();
    assert_eq!(refusal(&mut s, a, refer), CaseError::GrantorMissing(vec![stepmother]));
    // The father no longer holds custody: the old consent (mother, father) still lacks the
    // stepmother; one from the holders of today covers the referral.
    s.as_caseworker(CaseAction::RemoveCustodyHolder { holder: FATHER, reason: "custody decision".into() });
    s.give_consent(
        ConsentId(Uuid::from_u128(33)),
        Recipient { org: ngo(), role: RecipientRole::Coordinator },
        &[Category::Identity, Category::School],
        &[Purpose::Referral],
    );
    let refer = s.refer(&[IDENTITY, SCHOOL]);
    s.as_caseworker(refer);
    assert_eq!(s.case.state, Some(CaseState::Referred));
}

// ---- a move to another municipality ----------------------------------------------------------

fn muni2() -> Org {
    "municipality:0101".parse().expect("org")
}

/// The new municipality's agreement with the case's NGO for the programme.
fn agreement_of_muni2() -> Agreement {
    let mut a = approved_agreement();
    a.id = Some(AgreementId(Uuid::from_u128(41)));
    for t in a.terms.iter_mut().chain(a.in_force.as_mut().map(|(_, t)| t)) {
        t.municipality = muni2();
    }
    a
}

fn move_to(to: Org, items: &[ItemId], agreement: Option<Agreement>, on: NaiveDate) -> CaseAction {
    CaseAction::Move { to, on, items: items.to_vec(), agreement: agreement.map(Box::new) }
}

#[test]
fn a_move_passes_the_case_to_the_new_municipality_with_the_items_chosen() {
    let mut s = Scenario::in_course(BORN_14);
    let today = copenhagen_date(s.now);
    let events = s.as_caseworker(move_to(muni2(), &[SCHOOL], Some(agreement_of_muni2()), today));
    let [CaseEvent::CaseMoved { from, to, items, young_person, custody_holders, agreement, .. }] = &events[..] else {
        panic!("one move: {events:?}")
    };
    assert_eq!((from, to), (&muni(), &muni2()));
    assert_eq!(items.iter().map(|i| (i.item, i.basis.clone())).collect::<Vec<_>>(), vec![(SCHOOL, Basis::Relocation)]);
    assert_eq!(young_person.id, YP, "the same person ids, so subject requests find the case");
    assert_eq!(custody_holders.len(), holders().len());
    assert_eq!(*agreement, Some(AgreementId(Uuid::from_u128(41))));
    assert_eq!(s.case.municipality, Some(muni2()));
    assert_eq!(s.case.side_of(&muni2()), Some(Side::Municipality));
    assert_eq!(s.case.side_of(&muni()), None);
    assert!(s.case.moved_away_at(&muni()).is_some());
    assert_eq!(s.case.referral.as_ref().map(|r| r.agreement), Some(AgreementId(Uuid::from_u128(41))));
}

#[test]
fn the_old_municipality_cannot_act_once_the_case_moved() {
    let mut s = Scenario::in_course(BORN_14);
    let today = copenhagen_date(s.now);
    s.as_caseworker(move_to(muni2(), &[], Some(agreement_of_muni2()), today));
    let a = s.caseworker();
    let err = refusal(&mut s, a, CaseAction::Redirect { reason: Personal::new("x".into()) });
    assert_eq!(err, CaseError::Moved { to: muni2(), on: today });
    // The new municipality can.
    let new = actor(muni2(), Role::Caseworker, s.now);
    s.run(new, CaseAction::Redirect { reason: Personal::new("municipal support".into()) });
    assert_eq!(s.case.state, Some(CaseState::Redirected));
}

#[test]
fn a_course_with_an_ngo_moves_only_under_the_new_municipalitys_agreement() {
    let mut s = Scenario::in_course(BORN_14);
    let today = copenhagen_date(s.now);
    let a = s.caseworker();
    let err = refusal(&mut s, a.clone(), move_to(muni2(), &[], None, today));
    assert!(matches!(err, CaseError::MoveNeedsAgreement { .. }), "{err:?}");
    // The old municipality's own agreement does not cover the new one.
    let err = refusal(&mut s, a.clone(), move_to(muni2(), &[], Some(approved_agreement()), today));
    assert_eq!(err, CaseError::AgreementMismatch(AGREEMENT));
    // Nor one of another NGO.
    let mut other = agreement_of_muni2();
    for t in other.terms.iter_mut().chain(other.in_force.as_mut().map(|(_, t)| t)) {
        t.ngo = other_ngo();
    }
    let err = refusal(&mut s, a, move_to(muni2(), &[], Some(other), today));
    assert!(matches!(err, CaseError::AgreementMismatch(_)), "{err:?}");
}

#[test]
fn a_move_is_checked_before_anything_passes() {
    let mut s = Scenario::consented(BORN_14);
    let today = copenhagen_date(s.now);
    let a = s.caseworker();
    // Not a municipality, the same one, a day still to come.
    assert!(matches!(refusal(&mut s, a.clone(), move_to(ngo(), &[], None, today)), CaseError::Invalid(_)));
    assert!(matches!(refusal(&mut s, a.clone(), move_to(muni(), &[], None, today)), CaseError::Invalid(_)));
    let tomorrow = today + TimeDelta::days(1);
    assert!(matches!(refusal(&mut s, a.clone(), move_to(muni2(), &[], None, tomorrow)), CaseError::Invalid(_)));
    // An item that does not exist; an agreement before the case has an NGO.
    let unknown = ItemId(Uuid::from_u128(999));
    assert_eq!(refusal(&mut s, a.clone(), move_to(muni2(), &[unknown], None, today)), CaseError::ItemNotFound(unknown));
    let err = refusal(&mut s, a, move_to(muni2(), &[], Some(agreement_of_muni2()), today));
    assert!(matches!(err, CaseError::Invalid(_)), "{err:?}");
    // The coordinator does not move a case.
    let mut s = Scenario::in_course(BORN_14);
    let c = s.coordinator();
    let err = refusal(&mut s, c, move_to(muni2(), &[], Some(agreement_of_muni2()), today));
    assert!(matches!(err, CaseError::NotPermitted { .. }), "{err:?}");
}

#[test]
fn only_the_municipalitys_own_items_pass_on_a_move() {
    let mut s = Scenario::in_course(BORN_14);
    s.as_coordinator(CaseAction::AddItem {
        item: DEVELOPMENT,
        category: Category::Development,
        content: Personal::new("progress".into()),
    });
    let today = copenhagen_date(s.now);
    let a = s.caseworker();
    let err = refusal(&mut s, a, move_to(muni2(), &[DEVELOPMENT], Some(agreement_of_muni2()), today));
    assert_eq!(err, CaseError::ItemNotOwned { item: DEVELOPMENT, org: muni() });
}

#[test]
fn an_open_concern_follows_the_child_to_the_new_municipality() {
    let mut s = Scenario::in_course(BORN_14);
    let report = s.report_concern();
    s.as_coordinator(report);
    let today = copenhagen_date(s.now);
    s.as_caseworker(move_to(muni2(), &[], Some(agreement_of_muni2()), today));
    let concern = *s.case.concerns.keys().next().expect("a concern");
    // The new municipality acknowledges it; the old one cannot.
    let ack = CaseAction::AcknowledgeConcern { concern, investigation_started: true };
    let old = s.caseworker();
    assert!(matches!(refusal(&mut s, old, ack.clone()), CaseError::Moved { .. }));
    s.run(actor(muni2(), Role::Caseworker, s.now), ack);
    assert!(s.case.concerns[&concern].receipt.is_some());
}

#[test]
fn a_closed_case_does_not_move() {
    let mut s = Scenario::ready_to_close(BORN_14);
    let close = s.closing_meeting(vec![]);
    s.as_coordinator(close);
    let today = copenhagen_date(s.now);
    let a = s.caseworker();
    let err = refusal(&mut s, a, move_to(muni2(), &[], Some(agreement_of_muni2()), today));
    assert!(matches!(err, CaseError::WrongState { .. }), "{err:?}");
}
