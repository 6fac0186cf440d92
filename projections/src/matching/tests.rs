use brobyg_domain::case::{CaseEvent, YoungPerson};
use brobyg_domain::volunteer::{Profile, VolunteerEvent, Weekday};
use brobyg_domain::{AgreementId, CaseId, Org, PersonId, Personal, UserId};
use chrono::{DateTime, NaiveTime, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn at() -> DateTime<Utc> {
    "2026-11-01T09:00:00Z".parse().expect("time")
}
fn day(s: &str) -> NaiveDate {
    s.parse().expect("date")
}
fn ngo() -> Org {
    "ngo:kfum-sa".parse().expect("org")
}
fn slot(weekday: Weekday, from: u32, to: u32) -> Slot {
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("time");
    Slot { weekday, from: t(from), to: t(to) }
}

/// A case of a young person born on `birth`, referred to `ngo()`.
fn case(birth: &str) -> Case {
    let mut case = Case::default();
    case.apply(&CaseEvent::CaseOpened {
        earlier_case: None,
        case: CaseId(Uuid::from_u128(1)),
        municipality: "municipality:0746".parse().expect("org"),
        young_person: YoungPerson {
            id: PersonId(Uuid::from_u128(2)),
            first_name: Personal::new("Mikkel".into()),
            last_name: Personal::new("Jensen".into()),
            birth_date: Personal::new(day(birth)),
        },
        custody_holders: vec![],
        by: UserId("cw".into()),
        at: at(),
    });
    case.apply(&CaseEvent::ReferralSubmitted {
        agreement: AgreementId(Uuid::from_u128(9)),
        agreement_version: 1,
        ngo: ngo(),
        programme: "klub-move".into(),
        note: Personal::new(String::new()),
        by: UserId("cw".into()),
        at: at(),
    });
    case
}

fn needs() -> Needs {
    Needs {
        tags: ["climbing".to_owned(), "drawing".to_owned()].into(),
        languages: ["da".to_owned()].into(),
        area: "8660".into(),
        availability: vec![slot(Weekday::Tue, 16, 19)],
    }
}

struct V {
    id: u128,
    interests: Vec<&'static str>,
    languages: Vec<&'static str>,
    area: &'static str,
    availability: Vec<Slot>,
    capacity: u32,
    certificate: bool,
}

impl V {
    fn new(id: u128) -> Self {
        Self {
            id,
            interests: vec![],
            languages: vec!["da"],
            area: "8660",
            availability: vec![slot(Weekday::Tue, 17, 20)],
            capacity: 1,
            certificate: true,
        }
    }

    fn build(self) -> Volunteer {
        let mut v = Volunteer::default();
        v.apply(&VolunteerEvent::VolunteerRegistered {
            id: VolunteerId(Uuid::from_u128(self.id)),
            ngo: ngo(),
            profile: Profile {
                first_name: Personal::new(format!("V{}", self.id)),
                interests: self.interests.iter().map(|s| (*s).to_owned()).collect(),
                languages: self.languages.iter().map(|s| (*s).to_owned()).collect(),
                area: self.area.into(),
                availability: self.availability,
                capacity: self.capacity,
            },
            by: UserId("co".into()),
            at: at(),
        });
        v.apply(&VolunteerEvent::VolunteerVetted {
            child_certificate_date: self.certificate.then(|| day("2026-01-10")),
            confidentiality_declaration_date: Some(day("2026-01-10")),
            by: UserId("co".into()),
            at: at(),
        });
        v
    }
}

#[test]
fn a_volunteer_the_rules_bar_is_counted_never_named() {
    let unvetted = V { interests: vec!["climbing", "drawing"], certificate: false, ..V::new(10) }.build();
    let vetted = V::new(11).build();
    let ranking = rank(&case("2012-03-14"), Some(&needs()), [&unvetted, &vetted], day("2026-12-01"));
    assert_eq!(ranking.suggestions.iter().map(|s| s.volunteer.0.as_u128()).collect::<Vec<_>>(), vec![11]);
    assert_eq!(ranking.barred, BTreeMap::from([(Bar::NotVetted, 1)]));
    // A 16-year-old needs no child certificate: the same volunteer is named then.
    let ranking = rank(&case("2010-03-14"), Some(&needs()), [&unvetted, &vetted], day("2026-12-01"));
    assert_eq!(ranking.suggestions[0].volunteer.0.as_u128(), 10, "shared interests put them first");
}

#[test]
fn tags_are_matched_exactly_not_as_words_in_a_text() {
    // "art" is not "party"; a tag is a tag.
    let needs = Needs { tags: ["party".to_owned()].into(), ..needs() };
    let art = V { interests: vec!["art"], ..V::new(20) }.build();
    let s = &rank(&case("2012-03-14"), Some(&needs), [&art], day("2026-12-01")).suggestions[0];
    assert!(s.lacks.contains(&"no shared interest".to_owned()), "{s:?}");
}

#[test]
fn language_area_and_time_rank_the_eligible_and_each_says_why() {
    let best = V { interests: vec!["climbing"], ..V::new(30) }.build();
    let neighbour = V { interests: vec!["climbing"], area: "8600", ..V::new(31) }.build();
    let far = V { interests: vec!["climbing"], area: "2400", ..V::new(32) }.build();
    let no_time =
        V { interests: vec!["climbing"], availability: vec![slot(Weekday::Sat, 10, 12)], ..V::new(33) }.build();
    let no_language = V { interests: vec!["climbing"], languages: vec!["ar"], ..V::new(34) }.build();
    let ranking =
        rank(&case("2012-03-14"), Some(&needs()), [&far, &no_time, &best, &no_language, &neighbour], day("2026-12-01"));
    let order: Vec<(u128, i64)> = ranking.suggestions.iter().map(|s| (s.volunteer.0.as_u128(), s.score)).collect();
    assert_eq!(order, vec![(30, 66), (31, 59), (32, 51), (33, 46), (34, 46)]);
    let best = &ranking.suggestions[0];
    assert_eq!(
        best.reasons,
        vec![
            "shares interests: climbing",
            "speaks da",
            "same area (8660)",
            "both free tue 17:00–19:00",
            "1 of 1 places free"
        ]
    );
    assert_eq!(best.lacks, Vec::<String>::new());
    assert_eq!(ranking.suggestions[2].lacks, vec!["lives in another area (2400)"]);
    assert_eq!(ranking.suggestions[3].lacks, vec!["no common hour in the week"]);
    assert_eq!(ranking.suggestions[4].lacks, vec!["no common language"]);
    // The same input gives the same order, whatever order the volunteers come in.
    let again = rank(
        &case("2012-03-14"),
        Some(&needs()),
        [&neighbour, &no_language, &best_again(), &far, &no_time],
        day("2026-12-01"),
    );
    assert_eq!(again, ranking);
}

fn best_again() -> Volunteer {
    V { interests: vec!["climbing"], ..V::new(30) }.build()
}

#[test]
fn a_half_hour_in_common_is_not_a_common_time() {
    let v = V { availability: vec![slot(Weekday::Tue, 18, 20)], ..V::new(40) }.build();
    let needs = Needs {
        availability: vec![Slot {
            weekday: Weekday::Tue,
            from: NaiveTime::from_hms_opt(17, 0, 0).expect("t"),
            to: NaiveTime::from_hms_opt(18, 30, 0).expect("t"),
        }],
        ..needs()
    };
    let s = &rank(&case("2012-03-14"), Some(&needs), [&v], day("2026-12-01")).suggestions[0];
    assert!(s.lacks.contains(&"no common hour in the week".to_owned()), "{s:?}");
}

#[test]
fn without_needs_the_eligible_are_named_and_what_is_missing_is_said() {
    let v = V::new(50).build();
    let ranking = rank(&case("2012-03-14"), None, [&v], day("2026-12-01"));
    assert_eq!(ranking.suggestions[0].lacks, vec!["no needs recorded for the young person"]);
    assert_eq!(ranking.blockers(), vec!["no needs recorded for the young person"]);
}

#[test]
fn what_blocks_a_match_is_named_when_nobody_is_eligible() {
    let full = V { capacity: 1, certificate: false, ..V::new(60) }.build();
    let ranking = rank(&case("2012-03-14"), Some(&needs()), [&full], day("2026-12-01"));
    assert!(ranking.suggestions.is_empty());
    assert_eq!(ranking.blockers(), vec!["not_vetted_for_age"]);
    assert_eq!(rank(&case("2012-03-14"), None, [], day("2026-12-01")).blockers(), vec!["no volunteer registered"]);
}

#[test]
fn a_volunteer_without_a_profile_is_not_suggested() {
    let ranking = rank(&case("2012-03-14"), None, [&Volunteer::default()], day("2026-12-01"));
    assert!(ranking.suggestions.is_empty() && ranking.barred.is_empty());
}

fn weekday() -> impl Strategy<Value = Weekday> {
    prop_oneof![Just(Weekday::Mon), Just(Weekday::Tue), Just(Weekday::Sat)]
}

fn slots() -> impl Strategy<Value = Vec<Slot>> {
    proptest::collection::vec((weekday(), 8u32..20, 1u32..4), 0..3)
        .prop_map(|xs| xs.into_iter().map(|(d, from, len)| slot(d, from, from + len)).collect())
}

prop_compose! {
    fn any_volunteer(id: u128)(
        interests in proptest::sample::subsequence(vec!["climbing", "drawing", "football", "art"], 0..4),
        languages in proptest::sample::subsequence(vec!["da", "en", "ar"], 0..3),
        area in prop_oneof![Just("8660"), Just("8600"), Just("2400")],
        availability in slots(),
        capacity in 1u32..3,
        certificate in any::<bool>(),
        paused in any::<bool>(),
        assigned in 0u32..3,
    ) -> Volunteer {
        let mut v = V { id, interests, languages, area, availability, capacity, certificate }.build();
        if paused {
            v.apply(&VolunteerEvent::VolunteerPaused { by: UserId("co".into()), at: at() });
        }
        for k in 0..assigned {
            let case = CaseId(Uuid::from_u128(1000 + u128::from(k)));
            v.apply(&VolunteerEvent::VolunteerAssigned { case, by: UserId("co".into()), at: at() });
        }
        v
    }
}

proptest! {
    #[test]
    fn a_suggestion_never_names_an_ineligible_volunteer_and_leaves_no_eligible_one_out(
        volunteers in (0u128..12).prop_flat_map(|n| (0..n).map(|i| any_volunteer(100 + i)).collect::<Vec<_>>()),
        born_at_14 in any::<bool>(),
        with_needs in any::<bool>(),
    ) {
        let case = case(if born_at_14 { "2012-03-14" } else { "2010-03-14" });
        let today = day("2026-12-01");
        let needs = needs();
        let ranking = rank(&case, with_needs.then_some(&needs), volunteers.iter(), today);
        let case_id = case.id.expect("id");
        let eligible: BTreeSet<VolunteerId> = volunteers
            .iter()
            .filter_map(|v| v.facts_for(case_id))
            .filter(|f| case.check_volunteer(f, today).is_ok())
            .map(|f| f.id)
            .collect();
        let named: BTreeSet<VolunteerId> = ranking.suggestions.iter().map(|s| s.volunteer).collect();
        prop_assert_eq!(&named, &eligible);
        prop_assert_eq!(ranking.suggestions.len(), named.len(), "each volunteer once");
        prop_assert_eq!(ranking.barred.values().sum::<usize>() + named.len(), volunteers.len());
        // Best first, ties by id: the order does not depend on the order volunteers come in.
        let reversed = rank(&case, with_needs.then_some(&needs), volunteers.iter().rev(), today);
        prop_assert_eq!(reversed, ranking.clone());
        for w in ranking.suggestions.windows(2) {
            prop_assert!((w[0].score, std::cmp::Reverse(w[0].volunteer.0)) >= (w[1].score, std::cmp::Reverse(w[1].volunteer.0)));
        }
    }
}
