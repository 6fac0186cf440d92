//! The policy as a table (every reader × category × basis × checkpoint) and as a property over
//! random histories.

use std::collections::BTreeSet;

use brobyg_domain::case::{
    Basis, Case, CaseEvent, Consent, CustodyHolder, DisclosedItem, Disclosure, Item, Recipient, YoungPerson,
};
use brobyg_domain::{
    AgreementId, CaseId, Category, Checkpoint, ConsentId, DisclosureId, Duty, ItemId, Org, PersonId, Personal, Purpose,
    RecipientRole, Role, UserId,
};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn org(s: &str) -> Org {
    s.parse().expect("org")
}
fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("instant")
}
fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn muni() -> Org {
    org("municipality:0746")
}
fn ngo() -> Org {
    org("ngo:kfum-sa")
}

/// A referred case with one municipal item per category.
fn base_case() -> Case {
    let mut case = Case::default();
    let at = t("2026-11-01T09:00:00Z");
    case.apply(&CaseEvent::CaseOpened {
        earlier_case: None,
        case: CaseId(Uuid::from_u128(1)),
        municipality: muni(),
        young_person: YoungPerson {
            id: PersonId(Uuid::from_u128(2)),
            first_name: Personal::new("Mikkel".into()),
            last_name: Personal::new("Jensen".into()),
            birth_date: Personal::new(d("2012-03-14")),
        },
        custody_holders: vec![CustodyHolder {
            id: PersonId(Uuid::from_u128(3)),
            name: Personal::new("Anne".into()),
            guardian: false,
        }],
        by: UserId("cw".into()),
        at,
    });
    for (n, category) in Category::ALL.iter().enumerate() {
        case.apply(&CaseEvent::ItemAdded {
            item: Item {
                id: ItemId(Uuid::from_u128(100 + n as u128)),
                category: *category,
                owner: muni(),
                author: UserId("cw".into()),
                content: Personal::new(format!("{category}")),
                added_at: at,
                measure: None,
                score: None,
            },
        });
    }
    case.apply(&CaseEvent::ReferralSubmitted {
        agreement: AgreementId(Uuid::from_u128(9)),
        agreement_version: 1,
        ngo: ngo(),
        programme: "klub-move".into(),
        note: Personal::new(String::new()),
        by: UserId("cw".into()),
        at,
    });
    case
}

fn consent(id: u128, recipients: &[(Org, RecipientRole)], purposes: &[Purpose], until: &str) -> CaseEvent {
    CaseEvent::ConsentGiven {
        consent: Consent {
            id: ConsentId(Uuid::from_u128(id)),
            grantors: BTreeSet::from([PersonId(Uuid::from_u128(3))]),
            recipients: recipients.iter().map(|(o, r)| Recipient { org: o.clone(), role: *r }).collect(),
            categories: Category::ALL.iter().copied().collect(),
            purposes: purposes.iter().copied().collect(),
            valid_from: d("2026-01-01"),
            valid_until: d(until),
            evidence: Personal::new("form".into()),
            recorded_by: UserId("cw".into()),
            given_at: t("2026-11-01T09:00:00Z"),
            revoked_at: None,
        },
    }
}

/// The bases of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BasisCase {
    ConsentActive,
    ConsentRevoked,
    ConsentExpired,
    ConsentForAnotherRecipient,
    ConsentForAnotherPurpose,
    ReportingDuty,
}

const BASES: [BasisCase; 6] = [
    BasisCase::ConsentActive,
    BasisCase::ConsentRevoked,
    BasisCase::ConsentExpired,
    BasisCase::ConsentForAnotherRecipient,
    BasisCase::ConsentForAnotherPurpose,
    BasisCase::ReportingDuty,
];

/// The case for one basis; `reached`: whether the checkpoint (the disclosure) happened.
fn case_with(basis: BasisCase, reached: bool) -> Case {
    let mut case = base_case();
    let coordinator = (ngo(), RecipientRole::Coordinator);
    let volunteer = (ngo(), RecipientRole::Volunteer);
    let consent_event = match basis {
        // Referral for the disclosure, matching for the volunteer brief.
        BasisCase::ConsentActive | BasisCase::ConsentRevoked => {
            consent(50, &[coordinator, volunteer], &[Purpose::Referral, Purpose::Matching], "2030-01-01")
        }
        BasisCase::ConsentExpired => {
            consent(50, &[coordinator, volunteer], &[Purpose::Referral, Purpose::Matching], "2026-11-15")
        }
        BasisCase::ConsentForAnotherRecipient => {
            consent(50, &[(org("ngo:red-cross"), RecipientRole::Coordinator)], &[Purpose::Referral], "2030-01-01")
        }
        BasisCase::ConsentForAnotherPurpose => {
            consent(50, &[coordinator, volunteer], &[Purpose::Statistics], "2030-01-01")
        }
        BasisCase::ReportingDuty => consent(50, &[], &[Purpose::Referral], "2030-01-01"),
    };
    case.apply(&consent_event);
    if reached {
        let items = case
            .items
            .values()
            .map(|i| DisclosedItem {
                item: i.id,
                category: i.category,
                content: i.content.clone(),
                flow: None,
                measure: None,
                score: None,
                basis: match basis {
                    BasisCase::ReportingDuty => Basis::ReportingDuty { duty: Duty::Heightened },
                    _ => Basis::Consent { consent: ConsentId(Uuid::from_u128(50)), purpose: Purpose::Referral },
                },
            })
            .collect();
        case.apply(&CaseEvent::InformationDisclosed {
            disclosure: Disclosure {
                id: DisclosureId(Uuid::from_u128(60)),
                checkpoint: Checkpoint::Referral,
                from: muni(),
                to: ngo(),
                items,
                agreement: AgreementId(Uuid::from_u128(9)),
                agreement_version: 1,
                at: t("2026-11-01T10:00:00Z"),
            },
            by: UserId("cw".into()),
        });
    }
    if basis == BasisCase::ConsentRevoked {
        case.apply(&CaseEvent::ConsentRevoked {
            consent: ConsentId(Uuid::from_u128(50)),
            reason: Personal::new("changed mind".into()),
            by: UserId("cw".into()),
            at: t("2026-11-10T09:00:00Z"),
        });
    }
    case
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Caseworker,
    Coordinator,
    Brief,
    MunicipalAuditor,
    NgoAuditor,
    OtherNgoCoordinator,
    Admin,
    Integrator,
}

fn reader(who: Who) -> Reader {
    match who {
        Who::Caseworker => Reader::staff(muni(), Role::Caseworker),
        Who::Coordinator => Reader::staff(ngo(), Role::Coordinator),
        Who::Brief => Reader { org: ngo(), role: ReaderRole::VolunteerBrief },
        Who::MunicipalAuditor => Reader::staff(muni(), Role::Auditor),
        Who::NgoAuditor => Reader::staff(ngo(), Role::Auditor),
        Who::OtherNgoCoordinator => Reader::staff(org("ngo:red-cross"), Role::Coordinator),
        Who::Admin => Reader::staff(muni(), Role::Admin),
        Who::Integrator => Reader::staff(ngo(), Role::Integrator),
    }
}

/// The expected answer, written out as the design states it.
fn expected(who: Who, category: Category, basis: BasisCase, reached: bool) -> bool {
    let ngo_basis_holds = reached && matches!(basis, BasisCase::ConsentActive | BasisCase::ReportingDuty);
    match who {
        Who::Caseworker => true, // the municipality owns every item of this table
        // An auditor acts for its organisation: the municipality's sees what it holds, the NGO's
        // only what was disclosed to the NGO while the basis holds — never the undisclosed rest.
        Who::MunicipalAuditor => true,
        Who::NgoAuditor => ngo_basis_holds,
        Who::Coordinator | Who::Integrator => ngo_basis_holds,
        Who::Brief => {
            // Only wishes and practicalities, and only while a consent naming the volunteers
            // is active (the reporting-duty row's consent names nobody).
            matches!(category, Category::Wishes | Category::Practical) && reached && basis == BasisCase::ConsentActive
        }
        Who::OtherNgoCoordinator | Who::Admin => false,
    }
}

#[test]
fn every_reader_category_basis_and_checkpoint() {
    let now = t("2026-11-20T12:00:00Z"); // after the revocation and after the expiry
    let mut checked = 0;
    for basis in BASES {
        for reached in [false, true] {
            let case = case_with(basis, reached);
            for who in [
                Who::Caseworker,
                Who::Coordinator,
                Who::Brief,
                Who::MunicipalAuditor,
                Who::NgoAuditor,
                Who::OtherNgoCoordinator,
                Who::Admin,
                Who::Integrator,
            ] {
                for item in case.items.values() {
                    let seen = item_visibility(&case, item, &reader(who), now).visible();
                    assert_eq!(
                        seen,
                        expected(who, item.category, basis, reached),
                        "{who:?} × {} × {basis:?} × checkpoint {}",
                        item.category,
                        if reached { "reached" } else { "not reached" }
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 2 * 8 * 10);
}

#[test]
fn before_revocation_and_expiry_the_consent_basis_holds() {
    let before = t("2026-11-05T12:00:00Z");
    for basis in [BasisCase::ConsentRevoked, BasisCase::ConsentExpired] {
        let case = case_with(basis, true);
        let school = case.items.values().find(|i| i.category == Category::School).expect("school");
        assert!(item_visibility(&case, school, &reader(Who::Coordinator), before).visible(), "{basis:?}");
    }
}

#[test]
fn the_first_name_follows_the_identity_item() {
    let now = t("2026-11-20T12:00:00Z");
    assert!(first_name_visible(&case_with(BasisCase::ConsentActive, true), &reader(Who::Coordinator), now));
    assert!(!first_name_visible(&case_with(BasisCase::ConsentActive, false), &reader(Who::Coordinator), now));
    assert!(!first_name_visible(&case_with(BasisCase::ConsentRevoked, true), &reader(Who::Coordinator), now));
    assert!(first_name_visible(&case_with(BasisCase::ConsentActive, true), &reader(Who::Brief), now));
    assert!(!first_name_visible(&case_with(BasisCase::ReportingDuty, true), &reader(Who::Brief), now));
}

// ---- property: random histories ----------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    AddItem { category: usize, by_ngo: bool },
    Consent { to_ngo: bool, volunteer: bool, purposes: u8, days: i64 },
    Revoke { which: usize },
    Disclose { items: u16, to_ngo: bool, consent: usize, duty: bool, purpose: usize },
    Wait { hours: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..10, any::<bool>()).prop_map(|(category, by_ngo)| Step::AddItem { category, by_ngo }),
        (any::<bool>(), any::<bool>(), any::<u8>(), 0i64..60)
            .prop_map(|(to_ngo, volunteer, purposes, days)| Step::Consent { to_ngo, volunteer, purposes, days }),
        (0usize..8).prop_map(|which| Step::Revoke { which }),
        (any::<u16>(), any::<bool>(), 0usize..8, prop::bool::weighted(0.1), 0usize..5).prop_map(
            |(items, to_ngo, consent, duty, purpose)| Step::Disclose { items, to_ngo, consent, duty, purpose }
        ),
        (1i64..200).prop_map(|hours| Step::Wait { hours }),
    ]
}

/// Independent check: a non-owner party reader sees an item only through a disclosure to its
/// organisation made by then, whose consent is unrevoked, in its validity and covers it now.
fn basis_really_holds(case: &Case, item: &Item, org: &Org, now: DateTime<Utc>) -> bool {
    case.disclosures.iter().filter(|d| &d.to == org && d.at <= now).any(|d| {
        d.items.iter().filter(|i| i.item == item.id).any(|i| match &i.basis {
            Basis::ReportingDuty { .. } | Basis::Relocation => true,
            Basis::Consent { consent, purpose } => case.consents.get(consent).is_some_and(|c| {
                let day = brobyg_domain::calendar::copenhagen_date(now);
                let role = if org.is_municipality() { RecipientRole::Caseworker } else { RecipientRole::Coordinator };
                c.revoked_at.is_none_or(|r| now < r)
                    && c.valid_from <= day
                    && day <= c.valid_until
                    && c.purposes.contains(purpose)
                    && c.categories.contains(&item.category)
                    && c.recipients.contains(&Recipient { org: org.clone(), role })
            }),
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_reader_ever_sees_an_item_whose_basis_does_not_hold(steps in proptest::collection::vec(step(), 1..80)) {
        let mut case = base_case();
        let mut now = t("2026-11-01T12:00:00Z");
        let mut consents: Vec<ConsentId> = vec![];
        let mut n = 1000u128;
        let readers = [Who::Caseworker, Who::Coordinator, Who::Integrator, Who::Brief, Who::OtherNgoCoordinator];
        for s in steps {
            n += 1;
            now += TimeDelta::minutes(7);
            let event = match s {
                Step::AddItem { category, by_ngo } => Some(CaseEvent::ItemAdded { item: Item {
                    id: ItemId(Uuid::from_u128(n)), category: Category::ALL[category],
                    owner: if by_ngo { ngo() } else { muni() }, author: UserId("u".into()),
                    content: Personal::new("c".into()), added_at: now, measure: None , score: None} }),
                Step::Consent { to_ngo, volunteer, purposes, days } => {
                    let id = ConsentId(Uuid::from_u128(n));
                    consents.push(id);
                    let role = match (to_ngo, volunteer) { (true, true) => RecipientRole::Volunteer, (true, false) => RecipientRole::Coordinator, _ => RecipientRole::Caseworker };
                    Some(CaseEvent::ConsentGiven { consent: Consent {
                        id, grantors: BTreeSet::new(),
                        recipients: BTreeSet::from([Recipient { org: if to_ngo { ngo() } else { muni() }, role }]),
                        categories: Category::ALL.iter().copied().filter(|c| (*c as u8).wrapping_add(purposes).is_multiple_of(2)).collect(),
                        purposes: Purpose::ALL.iter().copied().filter(|p| (purposes >> (*p as u8)) & 1 == 1).collect(),
                        valid_from: brobyg_domain::calendar::copenhagen_date(now),
                        valid_until: brobyg_domain::calendar::copenhagen_date(now) + TimeDelta::days(days),
                        evidence: Personal::new("e".into()), recorded_by: UserId("u".into()), given_at: now, revoked_at: None } })
                }
                Step::Revoke { which } => consents.get(which % consents.len().max(1)).map(|c| CaseEvent::ConsentRevoked {
                    consent: *c, reason: Personal::new("r".into()), by: UserId("u".into()), at: now }),
                Step::Disclose { items, to_ngo, consent, duty, purpose } => {
                    let to = if to_ngo { ngo() } else { muni() };
                    let chosen: Vec<DisclosedItem> = case.items.values().enumerate()
                        .filter(|(i, _)| items & (1 << (i % 16)) != 0)
                        .map(|(_, item)| DisclosedItem { item: item.id, category: item.category, content: item.content.clone(), flow: None, measure: None, score: None, basis: if duty {
                            Basis::ReportingDuty { duty: Duty::General }
                        } else {
                            Basis::Consent { consent: consents.get(consent % consents.len().max(1)).copied().unwrap_or_default(), purpose: Purpose::ALL[purpose] }
                        } })
                        .collect();
                    Some(CaseEvent::InformationDisclosed { disclosure: Disclosure {
                        id: DisclosureId(Uuid::from_u128(n)), checkpoint: Checkpoint::PreMeeting,
                        from: if to_ngo { muni() } else { ngo() }, to, items: chosen,
                        agreement: AgreementId(Uuid::from_u128(9)), agreement_version: 1, at: now }, by: UserId("u".into()) })
                }
                Step::Wait { hours } => { now += TimeDelta::hours(hours); None }
            };
            if let Some(e) = event { case.apply(&e); }
            for who in readers {
                let r = reader(who);
                for item in case.items.values() {
                    if item_visibility(&case, item, &r, now).visible() && item.owner != r.org {
                        prop_assert!(basis_really_holds(&case, item, &r.org, now),
                            "{who:?} sees {} item {} without a basis at {now}", item.category, item.id);
                    }
                    if who == Who::OtherNgoCoordinator {
                        prop_assert!(!item_visibility(&case, item, &r, now).visible());
                    }
                }
            }
        }
    }
}
