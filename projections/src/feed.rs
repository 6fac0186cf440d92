//! What an organisation's integrator receives of each event, applying the same rule as reads
//! (DESIGN §4), evaluated when the feed is read.
//!
//! An event the organisation may not see at all is left out. A partly visible one carries only
//! the visible fields:
//!
//! | event | municipality | NGO (once referred) |
//! |---|---|---|
//! | `case_opened`, `custody_holder_added`, `custody_holder_removed` | all | — |
//! | `item_added` | its own items | its own items |
//! | `consent_given` / `consent_revoked` | all | without `evidence` / `reason` |
//! | `referral_submitted`, `referral_accepted`, `referral_declined`, `volunteer_matched`, `case_withdrawn`, `personal_data_erased`, `meeting_planned` | all | all |
//! | `pre_meeting_held` | without the reasons of `absent` (the NGO recorded them) | all |
//! | `closing_meeting_held` | without `outcomes` (only older events carry them; outcomes are `outcome` items now) and the reasons of `absent` | all |
//! | `meeting_moved`, `meeting_missed` | the recording organisation: all; the other: without `reason` | same |
//! | `match_ended` | without `reason` | all |
//! | `case_redirected` | all | without `reason` |
//! | `activity_logged`, `needs_recorded` | — | all |
//! | `information_disclosed` | as sender: without contents; as recipient: contents while the basis holds | same |
//! | `concern_reported` | all (it reached the municipality) | the reporting organisation: all |
//! | `concern_acknowledged` | all | the reporter: `investigation_started` only |
//! | `case_moved` | all | without what passed (`young_person`, `custody_holders`, `items`, `concerns`) |
//!
//! A municipality the case moved away from receives only its own records up to the move:
//! `case_opened`, the custody holder and consent events, its own `item_added`, the
//! `referral_submitted` and the disclosures it sent (without contents), the concerns it
//! received, and its own `case_moved`; nothing recorded after it.
//! | agreement events | both parties | both parties |
//! | volunteer events | — | the volunteer's NGO |
//!
//! Personal values appear plain (`"Mikkel"`), or as `"[erased]"` once erased.

use std::collections::BTreeSet;

use brobyg_domain::agreement::AgreementEvent;
use brobyg_domain::case::{Case, CaseEvent};
use brobyg_domain::personal::{ERASED_MARK, PII_MARK, SEALED_MARK};
use brobyg_domain::volunteer::VolunteerEvent;
use brobyg_domain::{Category, Org, Side};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::case_view::ERASED;
use crate::policy::basis_holds;

/// Replaces personal marks with plain values (`{"$pii": v}` → `v`, erased or sealed → `"[erased]"`).
#[must_use]
pub fn plain(mut value: Value) -> Value {
    make_plain(&mut value);
    value
}

/// Replaces personal marks with plain values in place, and says whether a personal value that
/// is here (not erased) was among them: one walk for what is delivered and what the access log
/// records of it.
fn make_plain(value: &mut Value) -> bool {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key(PII_MARK) => {
            let mut inner = map.remove(PII_MARK).unwrap_or(Value::Null);
            make_plain(&mut inner);
            *value = inner;
            true
        }
        Value::Object(map) if map.len() == 1 && (map.contains_key(ERASED_MARK) || map.contains_key(SEALED_MARK)) => {
            *value = Value::String(ERASED.to_owned());
            false
        }
        Value::Object(map) => {
            let marked = map.contains_key(PII_MARK);
            map.values_mut().fold(marked, |any, v| make_plain(v) | any)
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, v| make_plain(v) | any),
        _ => false,
    }
}

fn body<T: serde::Serialize>(event: &T) -> Map<String, Value> {
    match serde_json::to_value(event) {
        Ok(Value::Object(outer)) => match outer.into_iter().next() {
            Some((_, Value::Object(inner))) => inner,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

fn without(mut map: Map<String, Value>, fields: &[&str]) -> Map<String, Value> {
    for f in fields {
        map.remove(*f);
    }
    map
}

/// A case event as one organisation receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivered {
    /// The data, personal values plain.
    pub data: Value,
    /// What kinds of personal data it carries (categories, or `consent`, `concern`, `note`),
    /// empty when it carries none: what the access log records of the delivery.
    pub personal: BTreeSet<&'static str>,
}

/// The data of a case event as `org` may receive it at `now`; `None` to leave it out.
#[must_use]
pub fn case_event_for(event: &CaseEvent, case: &Case, org: &Org, now: DateTime<Utc>) -> Option<Value> {
    case_event_delivered(event, case, org, now).map(|d| d.data)
}

/// The data of a case event as `org` may receive it at `now`, with the kinds of personal data
/// it carries; `None` to leave it out.
#[must_use]
pub fn case_event_delivered(event: &CaseEvent, case: &Case, org: &Org, now: DateTime<Utc>) -> Option<Delivered> {
    let mut data = case_event_marked(event, case, org, now)?;
    let personal = if make_plain(&mut data) { personal_kinds(event, case, org, now) } else { BTreeSet::new() };
    Some(Delivered { data, personal })
}

/// The kinds of personal data an event delivered to `org` holds, for the access log.
fn personal_kinds(event: &CaseEvent, case: &Case, org: &Org, now: DateTime<Utc>) -> BTreeSet<&'static str> {
    match event {
        CaseEvent::CaseOpened { custody_holders, .. } => {
            let mut kinds = BTreeSet::from([Category::Identity.as_str()]);
            if !custody_holders.is_empty() {
                kinds.insert(Category::Family.as_str());
            }
            kinds
        }
        CaseEvent::ItemAdded { item } => BTreeSet::from([item.category.as_str()]),
        CaseEvent::NeedsRecorded { .. } => BTreeSet::from([Category::Wishes.as_str(), Category::Practical.as_str()]),
        CaseEvent::CustodyHolderAdded { .. } | CaseEvent::CustodyHolderRemoved { .. } => {
            BTreeSet::from([Category::Family.as_str()])
        }
        CaseEvent::InformationDisclosed { disclosure, .. } => disclosure
            .items
            .iter()
            .filter(|i| &disclosure.to == org && basis_holds(case, &i.basis, org, i.category, now))
            .map(|i| i.category.as_str())
            .collect(),
        CaseEvent::ConsentGiven { .. } | CaseEvent::ConsentRevoked { .. } => BTreeSet::from(["consent"]),
        CaseEvent::ConcernReported { .. } | CaseEvent::ConcernAcknowledged { .. } => BTreeSet::from(["concern"]),
        CaseEvent::CaseMoved { items, concerns, .. } => {
            let mut kinds = BTreeSet::from([Category::Identity.as_str(), Category::Family.as_str()]);
            kinds.extend(items.iter().map(|i| i.category.as_str()));
            if !concerns.is_empty() {
                kinds.insert("concern");
            }
            kinds
        }
        _ => BTreeSet::from(["note"]),
    }
}

/// The data of a case event as `org` may receive it at `now`, personal values still marked.
fn case_event_marked(event: &CaseEvent, case: &Case, org: &Org, now: DateTime<Utc>) -> Option<Value> {
    let Some(side) = case.side_of(org) else { return former_event(event, case, org) };
    let municipality = side == Side::Municipality;
    let all = || Some(body(event));
    let data = match event {
        CaseEvent::CaseOpened { .. }
        | CaseEvent::CustodyHolderAdded { .. }
        | CaseEvent::CustodyHolderRemoved { .. } => municipality.then(|| body(event)),
        CaseEvent::ItemAdded { item } => (&item.owner == org).then(|| body(event)),
        CaseEvent::ConsentGiven { .. } => {
            let b = body(event);
            Some(if municipality {
                b
            } else {
                let mut b = b;
                if let Some(Value::Object(c)) = b.get_mut("consent") {
                    c.remove("evidence");
                }
                b
            })
        }
        CaseEvent::ConsentRevoked { .. } => {
            Some(if municipality { body(event) } else { without(body(event), &["reason"]) })
        }
        CaseEvent::ReferralSubmitted { .. }
        | CaseEvent::ReferralAccepted { .. }
        | CaseEvent::ReferralDeclined { .. }
        | CaseEvent::VolunteerMatched { .. }
        | CaseEvent::CaseWithdrawn { .. }
        | CaseEvent::PersonalDataErased { .. }
        | CaseEvent::MeetingPlanned { .. } => all(),
        // The reasons of an absence are the NGO's, which recorded the meeting.
        CaseEvent::PreMeetingHeld { .. } => {
            Some(if municipality { without_absence_reasons(body(event)) } else { body(event) })
        }
        // Outcomes older closing meetings carried in the clear are the NGO's.
        CaseEvent::ClosingMeetingHeld { .. } => {
            Some(if municipality { without_absence_reasons(without(body(event), &["outcomes"])) } else { body(event) })
        }
        CaseEvent::MeetingMoved { org: owner, .. } | CaseEvent::MeetingMissed { org: owner, .. } => {
            Some(if owner == org { body(event) } else { without(body(event), &["reason"]) })
        }
        CaseEvent::MatchEnded { .. } => {
            Some(if municipality { without(body(event), &["reason"]) } else { body(event) })
        }
        CaseEvent::CaseRedirected { .. } => {
            Some(if municipality { body(event) } else { without(body(event), &["reason"]) })
        }
        CaseEvent::ActivityLogged { .. } | CaseEvent::NeedsRecorded { .. } => (!municipality).then(|| body(event)),
        CaseEvent::InformationDisclosed { disclosure, .. } => {
            if &disclosure.to != org && &disclosure.from != org {
                return None;
            }
            Some(disclosure_body(event, disclosure, |item| {
                &disclosure.to == org && basis_holds(case, &item.basis, org, item.category, now)
            }))
        }
        CaseEvent::ConcernReported { concern, .. } => {
            (municipality || &concern.reporter_org == org).then(|| body(event))
        }
        CaseEvent::CaseMoved { .. } => Some(if municipality {
            body(event)
        } else {
            without(body(event), &["young_person", "custody_holders", "items", "concerns"])
        }),
        CaseEvent::ConcernAcknowledged { concern, receipt } => {
            if municipality {
                all()
            } else if case.concerns.get(concern).is_some_and(|c| &c.reporter_org == org) {
                let mut m = Map::new();
                m.insert("concern".into(), Value::String(concern.to_string()));
                m.insert("investigation_started".into(), Value::Bool(receipt.investigation_started));
                Some(m)
            } else {
                None
            }
        }
    }?;
    Some(Value::Object(data))
}

/// A case event as a municipality the case moved away from receives it: its own records up to
/// the move, nothing after.
fn former_event(event: &CaseEvent, case: &Case, org: &Org) -> Option<Value> {
    let until = case.moved_away_at(org)?;
    if event.at() > until {
        return None;
    }
    let data = match event {
        CaseEvent::CaseOpened { .. }
        | CaseEvent::CustodyHolderAdded { .. }
        | CaseEvent::CustodyHolderRemoved { .. }
        | CaseEvent::ConsentGiven { .. }
        | CaseEvent::ConsentRevoked { .. }
        | CaseEvent::ReferralSubmitted { .. }
        | CaseEvent::ConcernReported { .. }
        | CaseEvent::ConcernAcknowledged { .. } => body(event),
        CaseEvent::ItemAdded { item } if &item.owner == org => body(event),
        CaseEvent::CaseMoved { from, .. } if from == org => body(event),
        // What it sent, without the contents (the recipient's copies).
        CaseEvent::InformationDisclosed { disclosure, .. } if &disclosure.from == org => {
            disclosure_body(event, disclosure, |_| false)
        }
        CaseEvent::ItemAdded { .. }
        | CaseEvent::CaseMoved { .. }
        | CaseEvent::InformationDisclosed { .. }
        | CaseEvent::ReferralAccepted { .. }
        | CaseEvent::ReferralDeclined { .. }
        | CaseEvent::PreMeetingHeld { .. }
        | CaseEvent::MeetingPlanned { .. }
        | CaseEvent::MeetingMoved { .. }
        | CaseEvent::MeetingMissed { .. }
        | CaseEvent::VolunteerMatched { .. }
        | CaseEvent::MatchEnded { .. }
        | CaseEvent::ActivityLogged { .. }
        | CaseEvent::NeedsRecorded { .. }
        | CaseEvent::ClosingMeetingHeld { .. }
        | CaseEvent::CaseWithdrawn { .. }
        | CaseEvent::CaseRedirected { .. }
        | CaseEvent::PersonalDataErased { .. } => return None,
    };
    Some(Value::Object(data))
}

/// The body of a disclosure event with each item's content (the recipient's copy) kept only
/// where `keep` says.
fn disclosure_body(
    event: &CaseEvent,
    disclosure: &brobyg_domain::case::Disclosure,
    keep: impl Fn(&brobyg_domain::case::DisclosedItem) -> bool,
) -> Map<String, Value> {
    let mut b = body(event);
    if let Some(Value::Object(d)) = b.get_mut("disclosure")
        && let Some(Value::Array(items)) = d.get_mut("items")
    {
        for (item, shown) in disclosure.items.iter().zip(items.iter_mut()) {
            if !keep(item)
                && let Value::Object(m) = shown
            {
                m.remove("content");
            }
        }
    }
    b
}

fn without_absence_reasons(mut map: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::Array(absent)) = map.get_mut("absent") {
        for a in absent.iter_mut() {
            if let Value::Object(a) = a {
                a.remove("reason");
            }
        }
    }
    map
}

/// The data of an agreement event for `org`: its parties see all of it.
#[must_use]
pub fn agreement_event_for(event: &AgreementEvent, parties: (&Org, &Org), org: &Org) -> Option<Value> {
    (parties.0 == org || parties.1 == org).then(|| plain(Value::Object(body(event))))
}

/// The data of a volunteer event for `org`: the volunteer's NGO sees all of it.
#[must_use]
pub fn volunteer_event_for(event: &VolunteerEvent, ngo: &Org, org: &Org) -> Option<Value> {
    (ngo == org).then(|| plain(Value::Object(body(event))))
}
