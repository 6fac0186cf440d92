//! Given/when/then tests for volunteers.

use super::*;
use crate::case::tests::fixtures::{VOLUNTEER, actor, at, date, muni, ngo, other_ngo};
use crate::ids::CaseId;

fn profile(capacity: u32) -> Profile {
    Profile {
        first_name: Personal::new("Sara".into()),
        interests: vec!["football".into()],
        languages: vec!["da".into(), "ar".into()],
        area: "8660".into(),
        availability: vec![Slot {
            weekday: Weekday::Tue,
            from: NaiveTime::from_hms_opt(17, 0, 0).expect("time"),
            to: NaiveTime::from_hms_opt(20, 0, 0).expect("time"),
        }],
        capacity,
    }
}

fn run(v: &mut Volunteer, action: VolunteerAction) -> Result<Vec<VolunteerEvent>, VolunteerError> {
    run_as(v, actor(ngo(), Role::Coordinator, at("2026-10-01T08:00:00Z")), action)
}

fn run_as(v: &mut Volunteer, who: Actor, action: VolunteerAction) -> Result<Vec<VolunteerEvent>, VolunteerError> {
    let events = v.decide(VolunteerCommand { actor: who, action })?;
    for e in &events {
        v.apply(e);
    }
    Ok(events)
}

fn registered(capacity: u32) -> Volunteer {
    let mut v = Volunteer::default();
    run(&mut v, VolunteerAction::Register { id: VOLUNTEER, profile: profile(capacity) }).expect("registered");
    v
}

#[test]
fn a_coordinator_registers_and_vets_a_volunteer() {
    let mut v = registered(1);
    run(
        &mut v,
        VolunteerAction::RecordVetting {
            child_certificate_date: Some(date("2026-09-01")),
            confidentiality_declaration_date: Some(date("2026-09-01")),
        },
    )
    .expect("vetted");
    let facts = v.facts_for(CaseId::new()).expect("facts");
    assert_eq!(facts.child_certificate_date, Some(date("2026-09-01")));
    assert_eq!(facts.ngo, ngo());
}

#[test]
fn only_an_ngo_coordinator_manages_volunteers() {
    let mut v = Volunteer::default();
    let when = at("2026-10-01T08:00:00Z");
    assert_eq!(
        run_as(
            &mut v,
            actor(muni(), Role::Coordinator, when),
            VolunteerAction::Register { id: VOLUNTEER, profile: profile(1) }
        ),
        Err(VolunteerError::NotAnNgo(muni()))
    );
    assert_eq!(
        run_as(
            &mut v,
            actor(ngo(), Role::Caseworker, when),
            VolunteerAction::Register { id: VOLUNTEER, profile: profile(1) }
        ),
        Err(VolunteerError::NotPermitted(Role::Caseworker))
    );
    let mut v = registered(1);
    assert_eq!(
        run_as(&mut v, actor(other_ngo(), Role::Coordinator, when), VolunteerAction::Pause),
        Err(VolunteerError::NotTheirVolunteer(other_ngo()))
    );
}

#[test]
fn capacity_bounds_assignments() {
    let mut v = registered(1);
    let (a, b) = (CaseId::new(), CaseId::new());
    run(&mut v, VolunteerAction::Assign { case: a }).expect("first");
    assert_eq!(run(&mut v, VolunteerAction::Assign { case: b }), Err(VolunteerError::AtCapacity(1)));
    run(&mut v, VolunteerAction::Release { case: a }).expect("release");
    run(&mut v, VolunteerAction::Assign { case: b }).expect("now free");
    assert_eq!(run(&mut v, VolunteerAction::Release { case: a }), Err(VolunteerError::NotAssigned(a)));
}

#[test]
fn pause_resume_retire() {
    let mut v = registered(2);
    run(&mut v, VolunteerAction::Pause).expect("pause");
    assert_eq!(
        run(&mut v, VolunteerAction::Assign { case: CaseId::new() }),
        Err(VolunteerError::WrongStatus(VolunteerStatus::Paused))
    );
    assert_eq!(run(&mut v, VolunteerAction::Pause), Err(VolunteerError::WrongStatus(VolunteerStatus::Paused)));
    run(&mut v, VolunteerAction::Resume).expect("resume");
    run(&mut v, VolunteerAction::Retire).expect("retire");
    assert_eq!(run(&mut v, VolunteerAction::Resume), Err(VolunteerError::WrongStatus(VolunteerStatus::Retired)));
}

#[test]
fn invalid_profiles_are_refused() {
    let mut v = Volunteer::default();
    assert_eq!(
        run(&mut v, VolunteerAction::Register { id: VOLUNTEER, profile: profile(0) }),
        Err(VolunteerError::Invalid("capacity must be at least 1"))
    );
}

#[test]
fn a_child_certificate_is_current_for_two_years() {
    assert!(VolunteerFacts::certificate_current_on(date("2024-11-11"), date("2026-11-10")));
    assert!(!VolunteerFacts::certificate_current_on(date("2024-11-10"), date("2026-11-10")));
    assert!(!VolunteerFacts::certificate_current_on(date("2026-11-11"), date("2026-11-10")));
}

#[test]
fn a_renewed_declaration_keeps_the_child_certificate() {
    let mut v = registered(1);
    run(
        &mut v,
        VolunteerAction::RecordVetting {
            child_certificate_date: Some(date("2026-09-01")),
            confidentiality_declaration_date: Some(date("2026-09-01")),
        },
    )
    .expect("vetted");
    run(
        &mut v,
        VolunteerAction::RecordVetting {
            child_certificate_date: None,
            confidentiality_declaration_date: Some(date("2026-09-20")),
        },
    )
    .expect("renewed");
    assert_eq!(v.child_certificate_date, Some(date("2026-09-01")));
    assert_eq!(v.confidentiality_declaration_date, Some(date("2026-09-20")));
    assert!(matches!(
        run(
            &mut v,
            VolunteerAction::RecordVetting { child_certificate_date: None, confidentiality_declaration_date: None }
        ),
        Err(VolunteerError::Invalid(_))
    ));
    assert!(matches!(
        run(
            &mut v,
            VolunteerAction::RecordVetting {
                child_certificate_date: Some(date("2027-01-01")),
                confidentiality_declaration_date: None
            }
        ),
        Err(VolunteerError::Invalid(_))
    ));
}

#[test]
fn a_volunteer_with_a_match_cannot_retire() {
    let mut v = registered(1);
    let case = CaseId::new();
    run(&mut v, VolunteerAction::Assign { case }).expect("assigned");
    assert_eq!(run(&mut v, VolunteerAction::Retire), Err(VolunteerError::StillMatched(vec![case])));
    run(&mut v, VolunteerAction::Release { case }).expect("released");
    run(&mut v, VolunteerAction::Retire).expect("retired");
}
