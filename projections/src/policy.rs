//! The one rule that decides every read (DESIGN §4), as a pure function of the case, the reader
//! and the moment.
//!
//! A reader sees an information item when
//! 1. the item is owned by the reader's organisation and the reader's role may see that category
//!    there; or
//! 2. the item was disclosed to the reader's organisation at a checkpoint, the basis of that
//!    disclosure holds *now* (consent neither revoked nor expired, or the reporting duty, which
//!    never lapses), and the reader's role may see that category; or
//! 3. the reader is an auditor of a party: an auditor acts for its own organisation and sees
//!    what rules 1 and 2 give that organisation (everything it holds, everything disclosed to it
//!    while the basis holds), with the full metadata of the case — never the other party's
//!    undisclosed data.
//! 4. the reader's organisation is a municipality the case moved away from: it keeps only its
//!    own records, as they were when the case left (its items, the young person, the consents
//!    it recorded, the concerns it received), read-only; nothing recorded after the move and
//!    nothing another organisation disclosed to it.
//!
//! What a municipality passes to the new one on a move (the relocation duty) is a disclosure to
//! the new one under [`Basis::Relocation`], which never lapses.
//!
//! The volunteer brief is a narrow role view: first name, age, and the categories
//! [`BRIEF_CATEGORIES`], each only while a consent active now names the NGO's volunteers as
//! recipients of that category. Every `match` below is exhaustive, so a new role or category
//! fails to compile until someone decides what it may see.

use std::collections::BTreeSet;

use brobyg_domain::case::{Basis, Case, DisclosedItem, Item, Recipient};
use brobyg_domain::{Category, Org, Purpose, RecipientRole, Role, Side};
use chrono::{DateTime, Utc};

/// Who reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reader {
    /// The reader's organisation.
    pub org: Org,
    /// The role the reader acts in.
    pub role: ReaderRole,
}

/// The role a reader reads in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReaderRole {
    /// A staff role from the token.
    Staff(Role),
    /// The volunteer brief, handed by the NGO to the matched volunteer (or the NGO's volunteer app).
    VolunteerBrief,
}

impl Reader {
    /// A staff reader.
    #[must_use]
    pub fn staff(org: Org, role: Role) -> Self {
        Self { org, role: ReaderRole::Staff(role) }
    }
}

/// The purposes for which a consent may name the volunteers: a consent naming them for
/// statistics only gives the brief nothing.
pub const BRIEF_PURPOSES: [Purpose; 2] = [Purpose::Matching, Purpose::CoursePlanning];

/// The categories a volunteer brief may hold, besides first name and age.
pub const BRIEF_CATEGORIES: [Category; 2] = [Category::Wishes, Category::Practical];

/// How a reader relates to a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A party's caseworker or coordinator (or integrator): rules 1 and 2.
    Party(Side),
    /// An auditor of the party on this side: rule 3.
    Auditor(Side),
    /// The volunteer brief of the case's NGO.
    Brief,
    /// A municipality the case moved away from at `until` (its caseworker, integrator or
    /// auditor): rule 4.
    Former { until: DateTime<Utc> },
    /// Nothing: the case does not exist for this reader.
    None,
}

/// How `reader` may access `case`.
#[must_use]
pub fn access(case: &Case, reader: &Reader) -> Access {
    let Some(side) = case.side_of(&reader.org) else {
        return match (case.moved_away_at(&reader.org), reader.role) {
            (
                Some(until),
                ReaderRole::Staff(Role::Caseworker)
                | ReaderRole::Staff(Role::Integrator)
                | ReaderRole::Staff(Role::Auditor),
            ) => Access::Former { until },
            _ => Access::None,
        };
    };
    match reader.role {
        ReaderRole::Staff(Role::Caseworker) => {
            if side == Side::Municipality {
                Access::Party(side)
            } else {
                Access::None
            }
        }
        ReaderRole::Staff(Role::Coordinator) => {
            if side == Side::Ngo {
                Access::Party(side)
            } else {
                Access::None
            }
        }
        // An integrator reads for its organisation's systems, like that organisation's staff.
        ReaderRole::Staff(Role::Integrator) => Access::Party(side),
        // An auditor's scope is the cases their organisation is a party to, as that organisation.
        ReaderRole::Staff(Role::Auditor) => Access::Auditor(side),
        // Administrators manage agreements and erasure, not case content.
        ReaderRole::Staff(Role::Admin) => Access::None,
        ReaderRole::VolunteerBrief => {
            if side == Side::Ngo {
                Access::Brief
            } else {
                Access::None
            }
        }
    }
}

/// Why an item is visible, or that it is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Owned by the reader's organisation.
    Owner,
    /// Disclosed to the reader's organisation at `at`, basis holding now.
    Disclosed { at: DateTime<Utc> },
    /// Hidden.
    Hidden,
}

impl Visibility {
    /// Whether the reader sees the item.
    #[must_use]
    pub fn visible(self) -> bool {
        !matches!(self, Self::Hidden)
    }
}

/// Whether the basis of disclosing an item of `category` to `to` holds at `now`: the reporting
/// duty always; a consent while it is active and (re-checked, not trusted) names `to`'s receiving
/// role, the category and the purpose.
#[must_use]
pub fn basis_holds(case: &Case, basis: &Basis, to: &Org, category: Category, now: DateTime<Utc>) -> bool {
    match basis {
        Basis::ReportingDuty { .. } | Basis::Relocation => true,
        Basis::Consent { consent, purpose } => case.consents.get(consent).is_some_and(|c| {
            let role = Side::of(to).receiving_role();
            case.consent_holds_at(c, now)
                && c.covers(&Recipient { org: to.clone(), role }, category, &BTreeSet::from([*purpose])).is_some()
        }),
    }
}

/// The first disclosure of `item` to `org` at or before `now` whose basis holds now: when, and
/// the recipient's copy of the item.
#[must_use]
pub fn disclosed_copy<'a>(
    case: &'a Case,
    item: &Item,
    org: &Org,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, &'a DisclosedItem)> {
    let at_checkpoint = case.disclosures.iter().filter(|d| &d.to == org && d.at <= now).find_map(|d| {
        d.items
            .iter()
            .find(|i| i.item == item.id && basis_holds(case, &i.basis, org, item.category, now))
            .map(|i| (d.at, i))
    });
    // What a municipality passed on when the family moved.
    at_checkpoint.or_else(|| {
        case.moves
            .iter()
            .filter(|m| &m.to == org && m.at <= now)
            .find_map(|m| m.items.iter().find(|i| i.item == item.id).map(|i| (m.at, i)))
    })
}

/// The first moment `item` was disclosed to `org` at or before `now` under a basis that holds now.
#[must_use]
pub fn disclosed_at(case: &Case, item: &Item, org: &Org, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    disclosed_copy(case, item, org, now).map(|(at, _)| at)
}

/// Whether a consent active at `now` names the NGO's volunteers for `category`.
#[must_use]
pub fn brief_consented(case: &Case, ngo: &Org, category: Category, now: DateTime<Utc>) -> bool {
    case.consents.values().any(|c| {
        case.consent_holds_at(c, now)
            && c.categories.contains(&category)
            && c.purposes.iter().any(|p| BRIEF_PURPOSES.contains(p))
            && c.recipients.iter().any(|r| &r.org == ngo && r.role == RecipientRole::Volunteer)
    })
}

/// Whether a category is in the volunteer brief.
#[must_use]
pub fn in_brief(category: Category) -> bool {
    match category {
        Category::Wishes | Category::Practical => true,
        Category::Identity
        | Category::Contact
        | Category::School
        | Category::Family
        | Category::Health
        | Category::Background
        | Category::Development
        | Category::Outcome => false,
    }
}

/// The rule: how `reader` sees `item` of `case` at `now`.
#[must_use]
pub fn item_visibility(case: &Case, item: &Item, reader: &Reader, now: DateTime<Utc>) -> Visibility {
    if item.added_at > now {
        return Visibility::Hidden;
    }
    match access(case, reader) {
        Access::None => Visibility::Hidden,
        Access::Former { until } => {
            if item.owner == reader.org && item.added_at <= until {
                Visibility::Owner
            } else {
                Visibility::Hidden
            }
        }
        Access::Party(_) | Access::Auditor(_) => {
            if item.owner == reader.org {
                Visibility::Owner
            } else {
                disclosed_at(case, item, &reader.org, now).map_or(Visibility::Hidden, |at| Visibility::Disclosed { at })
            }
        }
        Access::Brief => {
            if !in_brief(item.category) || !brief_consented(case, &reader.org, item.category, now) {
                Visibility::Hidden
            } else if item.owner == reader.org {
                Visibility::Owner
            } else {
                disclosed_at(case, item, &reader.org, now).map_or(Visibility::Hidden, |at| Visibility::Disclosed { at })
            }
        }
    }
}

/// Whether the reader may see the young person's first name: the municipality's staff and
/// auditors, an NGO reader once an identity item reached it, a brief with identity consent.
#[must_use]
pub fn first_name_visible(case: &Case, reader: &Reader, now: DateTime<Utc>) -> bool {
    let identity_seen = || {
        case.items.values().any(|i| i.category == Category::Identity && item_visibility(case, i, reader, now).visible())
    };
    match access(case, reader) {
        Access::None => false,
        Access::Party(Side::Municipality) | Access::Auditor(Side::Municipality) | Access::Former { .. } => true,
        Access::Party(Side::Ngo) | Access::Auditor(Side::Ngo) => identity_seen(),
        Access::Brief => {
            brief_consented(case, &reader.org, Category::Identity, now) && {
                let as_party = Reader::staff(reader.org.clone(), Role::Coordinator);
                case.items
                    .values()
                    .any(|i| i.category == Category::Identity && item_visibility(case, i, &as_party, now).visible())
            }
        }
    }
}

#[cfg(test)]
mod tests;
