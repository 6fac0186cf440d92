//! Given/when/then tests for the partnership agreement.

use super::*;
use crate::case::tests::fixtures::{AGREEMENT, actor, at, muni, ngo, other_ngo, terms};

fn run(a: &mut Agreement, actor: Actor, action: AgreementAction) -> Result<Vec<AgreementEvent>, AgreementError> {
    let events = a.decide(AgreementCommand { actor, action })?;
    for e in &events {
        a.apply(e);
    }
    Ok(events)
}

fn drafted() -> Agreement {
    let mut a = Agreement::default();
    run(
        &mut a,
        actor(muni(), Role::Admin, at("2026-10-01T08:00:00Z")),
        AgreementAction::Draft { id: AGREEMENT, terms: terms() },
    )
    .expect("drafted");
    a
}

fn approved() -> Agreement {
    let mut a = drafted();
    let when = at("2026-10-02T08:00:00Z");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve).expect("municipality approves");
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Approve).expect("ngo approves");
    a
}

#[test]
fn an_agreement_is_in_force_after_both_sides_approve() {
    let mut a = drafted();
    assert_eq!(a.status(), AgreementStatus::Draft);
    let when = at("2026-10-02T08:00:00Z");
    let events = run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve).expect("approve");
    assert_eq!(events.len(), 1);
    assert_eq!(a.status(), AgreementStatus::Draft);
    let events = run(&mut a, actor(ngo(), Role::Coordinator, when), AgreementAction::Approve).expect("approve");
    assert!(matches!(events[1], AgreementEvent::AgreementInForce { version: 1, .. }));
    assert_eq!(a.status(), AgreementStatus::Approved);
}

#[test]
fn a_side_approves_once_and_only_parties_approve() {
    let mut a = drafted();
    let when = at("2026-10-02T08:00:00Z");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve).expect("approve");
    assert_eq!(
        run(&mut a, actor(muni(), Role::Caseworker, when), AgreementAction::Approve),
        Err(AgreementError::AlreadyApproved { side: Side::Municipality, version: 1 })
    );
    assert_eq!(
        run(&mut a, actor(other_ngo(), Role::Admin, when), AgreementAction::Approve),
        Err(AgreementError::NotAParty(other_ngo()))
    );
    assert_eq!(
        run(&mut a, actor(ngo(), Role::Integrator, when), AgreementAction::Approve),
        Err(AgreementError::NotPermitted(Role::Integrator))
    );
}

#[test]
fn an_amendment_needs_approval_again_while_the_old_version_stays_in_force() {
    let mut a = approved();
    let when = at("2026-11-01T08:00:00Z");
    let mut amended = terms();
    amended.retention_days_after_closing = 90;
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Amend { terms: amended.clone() }).expect("amend");
    assert_eq!(a.version, 2);
    assert_eq!(a.status(), AgreementStatus::Draft);
    assert_eq!(a.in_force.as_ref().map(|(v, t)| (*v, t.retention_days_after_closing)), Some((1, 180)));
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Approve).expect("approve");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve).expect("approve");
    assert_eq!(a.in_force.as_ref().map(|(v, t)| (*v, t.retention_days_after_closing)), Some((2, 90)));
}

#[test]
fn an_amendment_keeps_the_parties() {
    let mut a = approved();
    let mut changed = terms();
    changed.ngo = other_ngo();
    let when = at("2026-11-01T08:00:00Z");
    assert!(matches!(
        run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Amend { terms: changed }),
        Err(AgreementError::InvalidTerms(_))
    ));
}

#[test]
fn a_terminated_agreement_cannot_be_approved_or_amended() {
    let mut a = approved();
    let when = at("2026-11-01T08:00:00Z");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Terminate { reason: "programme ended".into() })
        .expect("terminate");
    assert_eq!(a.status(), AgreementStatus::Terminated);
    assert_eq!(
        run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Amend { terms: terms() }),
        Err(AgreementError::Terminated)
    );
}

#[test]
fn invalid_terms_are_refused_with_the_reason() {
    let when = at("2026-10-01T08:00:00Z");
    let mut t = terms();
    t.flows[0].to = Side::Municipality;
    let mut a = Agreement::default();
    let err = run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Draft { id: AGREEMENT, terms: t });
    assert_eq!(err, Err(AgreementError::InvalidTerms("flow 0 goes from municipality to itself".into())));
    let mut t = terms();
    t.municipality = ngo();
    assert!(matches!(
        run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Draft { id: AGREEMENT, terms: t }),
        Err(AgreementError::InvalidTerms(_))
    ));
    assert_eq!(
        run(&mut a, actor(other_ngo(), Role::Admin, when), AgreementAction::Draft { id: AGREEMENT, terms: terms() }),
        Err(AgreementError::NotAParty(other_ngo()))
    );
}
