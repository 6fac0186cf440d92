//! Volunteer suggestions for a case: a pure, deterministic ranking with its reasons.
//!
//! The ranking sees only what the coordinator may see of the case (the texts of the items the
//! policy shows them) and the NGO's own volunteers.

use brobyg_domain::VolunteerId;
use brobyg_domain::case::Case;
use brobyg_domain::volunteer::Volunteer;
use chrono::NaiveDate;

/// Being matchable now outweighs everything else.
pub const ELIGIBLE_WEIGHT: i64 = 1000;
/// Each interest the volunteer shares with what the case says.
pub const SHARED_INTEREST_WEIGHT: i64 = 10;
/// Each free place counts one.
pub const FREE_PLACE_WEIGHT: i64 = 1;

/// One volunteer, scored for one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// The volunteer.
    pub volunteer: VolunteerId,
    /// Their first name.
    pub first_name: String,
    /// Whether the case's rules allow the match today.
    pub eligible: bool,
    /// Higher is better.
    pub score: i64,
    /// Why, in words: the refusal if any, shared interests, free places.
    pub reasons: Vec<String>,
}

/// Scores one volunteer for `case`, given the lower-cased text the coordinator sees of the case.
/// `None` for a volunteer without a profile.
#[must_use]
pub fn score(case: &Case, case_text: &str, volunteer: &Volunteer, today: NaiveDate) -> Option<Suggestion> {
    let case_id = case.id?;
    let (facts, profile) = (volunteer.facts_for(case_id)?, volunteer.profile.as_ref()?);
    let mut reasons = Vec::new();
    let refusal = case.check_volunteer(&facts, today).err();
    if let Some(e) = &refusal {
        reasons.push(e.to_string());
    }
    let shared: Vec<&str> =
        profile.interests.iter().filter(|i| case_text.contains(&i.to_lowercase())).map(String::as_str).collect();
    if !shared.is_empty() {
        reasons.push(format!("shares interests: {}", shared.join(", ")));
    }
    let free = i64::from(facts.capacity) - i64::from(facts.assigned_elsewhere);
    reasons.push(format!("{free} of {} places free", facts.capacity));
    let eligible = refusal.is_none();
    let score = if eligible { ELIGIBLE_WEIGHT } else { 0 }
        + SHARED_INTEREST_WEIGHT * shared.len() as i64
        + FREE_PLACE_WEIGHT * free;
    Some(Suggestion { volunteer: facts.id, first_name: profile.first_name.expose().clone(), eligible, score, reasons })
}

/// Ranks `volunteers` for `case`: best first, ties by volunteer id, so the order is the same
/// on every call.
#[must_use]
pub fn rank<'a>(
    case: &Case,
    case_text: &str,
    volunteers: impl IntoIterator<Item = &'a Volunteer>,
    today: NaiveDate,
) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = volunteers.into_iter().filter_map(|v| score(case, case_text, v, today)).collect();
    out.sort_by(|a, b| b.score.cmp(&a.score).then(a.volunteer.0.cmp(&b.volunteer.0)));
    out
}

#[cfg(test)]
mod tests {
    use brobyg_domain::case::{CaseEvent, YoungPerson};
    use brobyg_domain::volunteer::{Profile, VolunteerEvent};
    use brobyg_domain::{AgreementId, CaseId, Org, PersonId, Personal, UserId};
    use chrono::{DateTime, Utc};
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

    /// A case of a 14-year-old referred to `ngo()`.
    fn case() -> Case {
        let mut case = Case::default();
        case.apply(&CaseEvent::CaseOpened {
            earlier_case: None,
            case: CaseId(Uuid::from_u128(1)),
            municipality: "municipality:0746".parse().expect("org"),
            young_person: YoungPerson {
                id: PersonId(Uuid::from_u128(2)),
                first_name: Personal::new("Mikkel".into()),
                last_name: Personal::new("Jensen".into()),
                birth_date: Personal::new(day("2012-03-14")),
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

    fn volunteer(id: u128, interests: &[&str], capacity: u32, certificate: bool) -> Volunteer {
        let mut v = Volunteer::default();
        v.apply(&VolunteerEvent::VolunteerRegistered {
            id: VolunteerId(Uuid::from_u128(id)),
            ngo: ngo(),
            profile: Profile {
                first_name: Personal::new(format!("V{id}")),
                interests: interests.iter().map(|s| (*s).to_owned()).collect(),
                languages: vec!["da".into()],
                area: "2400".into(),
                availability: vec![],
                capacity,
            },
            by: UserId("co".into()),
            at: at(),
        });
        v.apply(&VolunteerEvent::VolunteerVetted {
            child_certificate_date: certificate.then(|| day("2026-01-10")),
            confidentiality_declaration_date: Some(day("2026-01-10")),
            by: UserId("co".into()),
            at: at(),
        });
        v
    }

    #[test]
    fn an_eligible_volunteer_outranks_any_ineligible_one_and_says_why() {
        let unvetted = volunteer(10, &["football", "music", "art"], 3, false);
        let vetted = volunteer(11, &[], 1, true);
        let ranked = rank(&case(), "football music art", [&unvetted, &vetted], day("2026-12-01"));
        assert_eq!(ranked.iter().map(|s| s.volunteer.0.as_u128()).collect::<Vec<_>>(), vec![11, 10]);
        assert!(ranked[0].eligible && !ranked[1].eligible);
        assert_eq!(ranked[0].score, ELIGIBLE_WEIGHT + FREE_PLACE_WEIGHT);
        assert!(ranked[1].reasons[0].contains("certificate"), "{:?}", ranked[1].reasons);
        assert_eq!(ranked[1].reasons[1], "shares interests: football, music, art");
    }

    #[test]
    fn shared_interests_and_free_places_order_eligible_volunteers_ties_by_id() {
        let a = volunteer(21, &["football"], 1, true);
        let b = volunteer(20, &["chess"], 1, true);
        let c = volunteer(22, &[], 2, true);
        let ranked = rank(&case(), "plays football after school", [&a, &b, &c], day("2026-12-01"));
        let order: Vec<(u128, i64)> = ranked.iter().map(|s| (s.volunteer.0.as_u128(), s.score)).collect();
        assert_eq!(order, vec![(21, 1011), (22, 1002), (20, 1001)]);
        // The same input gives the same order, whatever order the volunteers come in.
        assert_eq!(rank(&case(), "plays football after school", [&c, &b, &a], day("2026-12-01")), ranked);
    }

    #[test]
    fn a_volunteer_without_a_profile_is_not_suggested() {
        assert!(rank(&case(), "", [&Volunteer::default()], day("2026-12-01")).is_empty());
    }
}
