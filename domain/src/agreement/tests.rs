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
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 1 })
        .expect("municipality approves");
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Approve { version: 1 }).expect("ngo approves");
    a
}

#[test]
fn an_agreement_is_in_force_after_both_sides_approve() {
    let mut a = drafted();
    assert_eq!(a.status(), AgreementStatus::Draft);
    let when = at("2026-10-02T08:00:00Z");
    let events =
        run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 1 }).expect("approve");
    assert_eq!(events.len(), 1);
    assert_eq!(a.status(), AgreementStatus::Draft);
    let events =
        run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Approve { version: 1 }).expect("approve");
    assert!(matches!(events[1], AgreementEvent::AgreementInForce { version: 1, .. }));
    assert_eq!(a.status(), AgreementStatus::Approved);
}

#[test]
fn a_side_approves_once_and_only_parties_approve() {
    let mut a = drafted();
    let when = at("2026-10-02T08:00:00Z");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 1 }).expect("approve");
    assert_eq!(
        run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 1 }),
        Err(AgreementError::AlreadyApproved { side: Side::Municipality, version: 1 })
    );
    assert_eq!(
        run(&mut a, actor(other_ngo(), Role::Admin, when), AgreementAction::Approve { version: 1 }),
        Err(AgreementError::NotAParty(other_ngo()))
    );
    assert_eq!(
        run(&mut a, actor(ngo(), Role::Integrator, when), AgreementAction::Approve { version: 1 }),
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
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Approve { version: 2 }).expect("approve");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 2 }).expect("approve");
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
        Err(AgreementError::DraftsForOthers(other_ngo()))
    );
}

#[test]
fn only_each_side_s_admin_drafts_amends_approves_and_terminates() {
    let when = at("2026-10-01T08:00:00Z");
    for role in [Role::Caseworker, Role::Coordinator, Role::Auditor, Role::Integrator] {
        let mut a = Agreement::default();
        assert_eq!(
            run(&mut a, actor(muni(), role, when), AgreementAction::Draft { id: AGREEMENT, terms: terms() }),
            Err(AgreementError::NotPermitted(role))
        );
        let mut a = drafted();
        assert_eq!(
            run(&mut a, actor(ngo(), role, when), AgreementAction::Approve { version: 1 }),
            Err(AgreementError::NotPermitted(role))
        );
        assert_eq!(
            run(&mut a, actor(ngo(), role, when), AgreementAction::Amend { terms: terms() }),
            Err(AgreementError::NotPermitted(role))
        );
        assert_eq!(
            run(&mut a, actor(ngo(), role, when), AgreementAction::Terminate { reason: "no".into() }),
            Err(AgreementError::NotPermitted(role))
        );
    }
}

#[test]
fn an_approval_of_a_version_amended_since_is_refused() {
    // The municipality's admin read version 1; meanwhile the NGO's admin amended it to add
    // health and family. The approval names version 1, so it does not approve version 2.
    let mut a = drafted();
    let when = at("2026-10-02T08:00:00Z");
    let mut wider = terms();
    wider.flows[0].categories.insert(Category::Health);
    wider.flows[0].categories.insert(Category::Family);
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Amend { terms: wider }).expect("amend");
    assert_eq!(
        run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 1 }),
        Err(AgreementError::VersionConflict { named: 1, current: 2 })
    );
    assert!(a.approvals.is_empty());
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 2 }).expect("approve v2");
}

#[test]
fn an_amendment_clears_approvals_given_to_the_version_before() {
    let mut a = drafted();
    let when = at("2026-10-02T08:00:00Z");
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Approve { version: 1 }).expect("approve");
    run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Amend { terms: terms() }).expect("amend");
    assert!(a.approvals.is_empty());
    let events =
        run(&mut a, actor(ngo(), Role::Admin, when), AgreementAction::Approve { version: 2 }).expect("approve");
    assert_eq!(events.len(), 1, "one side's approval of version 2 does not put it in force");
    assert_eq!(a.status(), AgreementStatus::Draft);
}

#[test]
fn numbers_in_the_terms_have_bounds() {
    let when = at("2026-10-01T08:00:00Z");
    let mut t = terms();
    t.retention_days_after_closing = 4_000_000_000;
    let mut a = Agreement::default();
    assert!(matches!(
        run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Draft { id: AGREEMENT, terms: t }),
        Err(AgreementError::InvalidTerms(m)) if m.contains("at most 3650")
    ));
    let mut t = terms();
    t.retention_days_after_closing = MAX_RETENTION_DAYS;
    run(&mut a, actor(muni(), Role::Admin, when), AgreementAction::Draft { id: AGREEMENT, terms: t })
        .expect("ten years");
    let mut many = terms();
    many.flows = (0..=MAX_FLOWS).map(|_| terms().flows[0].clone()).collect();
    assert!(matches!(
        run(&mut drafted(), actor(muni(), Role::Admin, when), AgreementAction::Amend { terms: many }),
        Err(AgreementError::InvalidTerms(_))
    ));
}
