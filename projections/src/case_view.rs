//! The case as one reader may see it (DESIGN §4).
//!
//! A reader (organisation, role) sees an information item when
//! 1. the item is owned by the reader's organisation; or
//! 2. the item was disclosed to the reader's organisation at a checkpoint and the basis of that
//!    disclosure holds *now*: its consent is neither revoked nor expired, or it is the reporting
//!    duty, which never lapses.
//!
//! Fields a reader may not see are absent from the view, never present with a placeholder.
//! Role-specific narrowing (the volunteer brief) and auditors' scopes come with the policy issue.

use std::collections::{BTreeMap, BTreeSet};

use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::{Basis, Case};
use brobyg_domain::{CaseState, Category, ItemId, Org, Role};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Who reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reader {
    /// The reader's organisation.
    pub org: Org,
    /// The role the reader acts in.
    pub role: Role,
}

/// The young person, as far as the reader may see them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct YoungPersonView {
    /// Person id (grantor id).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// First name: the municipality, or the NGO once an identity item reached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name: the municipality only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Birth date: the municipality only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<NaiveDate>,
    /// Age today.
    pub age: u32,
}

/// A custody holder (municipality only).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustodyHolderView {
    /// Person id (grantor id).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// Name.
    pub name: String,
}

/// A visible information item.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemView {
    /// Item id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: ItemId,
    /// Category.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub category: Category,
    /// Owning organisation.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub owner: Org,
    /// Content.
    pub content: String,
    /// When it was recorded.
    pub added_at: DateTime<Utc>,
    /// When it was first disclosed to the reader's organisation (absent for own items).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disclosed_at: Option<DateTime<Utc>>,
}

/// A consent, as the parties see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentView {
    /// Consent id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// Grantor person ids.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub grantors: Vec<uuid::Uuid>,
    /// Recipients as `org` + `role`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub recipients: Vec<BTreeMap<&'static str, String>>,
    /// Categories.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub categories: Vec<Category>,
    /// Purposes.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub purposes: Vec<brobyg_domain::Purpose>,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day.
    pub valid_until: NaiveDate,
    /// When it was recorded.
    pub given_at: DateTime<Utc>,
    /// When it was revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether it is in effect now.
    pub active: bool,
    /// Where the signed form is kept (the municipality only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// A concern report as the reader may see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConcernView {
    /// Concern id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// Grounds.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub grounds: Vec<brobyg_domain::Ground>,
    /// What was observed (the municipality and the reporting organisation).
    pub text: String,
    /// When it was observed.
    pub observed_on: NaiveDate,
    /// When it was reported.
    pub reported_at: DateTime<Utc>,
    /// Assessment deadline.
    pub assessment_due: DateTime<Utc>,
    /// Receipt deadline (end of that Danish working day).
    pub receipt_due: NaiveDate,
    /// Whether it is past a deadline without a receipt.
    pub overdue: bool,
    /// When the municipality acknowledged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Whether an investigation or measures followed (all the reporter learns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub investigation_started: Option<bool>,
}

/// The current match.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchView {
    /// Volunteer id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub volunteer: uuid::Uuid,
    /// Since.
    pub since: NaiveDate,
}

/// A disclosure involving the reader's organisation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DisclosureView {
    /// Disclosure id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// Checkpoint.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub checkpoint: brobyg_domain::Checkpoint,
    /// From.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Org,
    /// To.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub to: Org,
    /// Items disclosed.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub items: Vec<ItemId>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The case as one reader may see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CaseView {
    /// Case id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// State.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: CaseState,
    /// Version (also the `ETag`).
    pub version: usize,
    /// The municipality.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub municipality: Org,
    /// The NGO, once referred.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub ngo: Option<Org>,
    /// The programme, once referred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    /// The young person.
    pub young_person: YoungPersonView,
    /// Custody holders (the municipality only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custody_holders: Option<Vec<CustodyHolderView>>,
    /// Items the reader may see.
    pub items: Vec<ItemView>,
    /// Consents.
    pub consents: Vec<ConsentView>,
    /// Concerns.
    pub concerns: Vec<ConcernView>,
    /// Disclosures to or from the reader's organisation.
    pub disclosures: Vec<DisclosureView>,
    /// The current match.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub current_match: Option<MatchView>,
    /// Categories of items that exist in the case but are hidden from the reader.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub redacted_categories: Vec<Category>,
}

/// Whether `reader` is a party to `case` (may read it at all).
#[must_use]
pub fn is_party(case: &Case, reader: &Reader) -> bool {
    case.side_of(&reader.org).is_some() && matches!(reader.role, Role::Caseworker | Role::Coordinator)
}

fn basis_holds(case: &Case, basis: &Basis, now: DateTime<Utc>) -> bool {
    match basis {
        Basis::ReportingDuty { .. } => true,
        Basis::Consent { consent, .. } => case.consents.get(consent).is_some_and(|c| c.is_active_at(now)),
    }
}

/// The items disclosed to `org` whose basis holds at `now`, with the first disclosure time.
#[must_use]
pub fn disclosed_to(case: &Case, org: &Org, now: DateTime<Utc>) -> BTreeMap<ItemId, DateTime<Utc>> {
    let mut visible = BTreeMap::new();
    for d in case.disclosures.iter().filter(|d| &d.to == org && d.at <= now) {
        for item in &d.items {
            if basis_holds(case, &item.basis, now) {
                visible.entry(item.item).or_insert(d.at);
            }
        }
    }
    visible
}

/// The case as `reader` may see it at `now`; `None` if the reader is not a party.
#[must_use]
pub fn case_view(case: &Case, version: usize, reader: &Reader, now: DateTime<Utc>) -> Option<CaseView> {
    if !is_party(case, reader) {
        return None;
    }
    let (id, state, municipality, person) =
        (case.id?, case.state?, case.municipality.clone()?, case.young_person.as_ref()?);
    let is_municipality = reader.org == municipality;
    let disclosed = disclosed_to(case, &reader.org, now);
    let mut items = Vec::new();
    let mut redacted = BTreeSet::new();
    for item in case.items.values() {
        let disclosed_at = disclosed.get(&item.id).copied();
        if item.owner == reader.org || disclosed_at.is_some() {
            items.push(ItemView {
                id: item.id,
                category: item.category,
                owner: item.owner.clone(),
                content: item.content.expose().clone(),
                added_at: item.added_at,
                disclosed_at: if item.owner == reader.org { None } else { disclosed_at },
            });
        } else {
            redacted.insert(item.category);
        }
    }
    let identity_reached = is_municipality || items.iter().any(|i| i.category == Category::Identity);
    let young_person = YoungPersonView {
        id: person.id.0,
        first_name: identity_reached.then(|| person.first_name.expose().clone()),
        last_name: is_municipality.then(|| person.last_name.expose().clone()),
        birth_date: is_municipality.then(|| *person.birth_date.expose()),
        age: brobyg_domain::case::age_on(*person.birth_date.expose(), copenhagen_date(now)),
    };
    let consents = case
        .consents
        .values()
        .map(|c| ConsentView {
            id: c.id.0,
            grantors: c.grantors.iter().map(|g| g.0).collect(),
            recipients: c
                .recipients
                .iter()
                .map(|r| BTreeMap::from([("org", r.org.to_string()), ("role", r.role.to_string())]))
                .collect(),
            categories: c.categories.iter().copied().collect(),
            purposes: c.purposes.iter().copied().collect(),
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            given_at: c.given_at,
            revoked_at: c.revoked_at,
            active: c.is_active_at(now),
            evidence: is_municipality.then(|| c.evidence.expose().clone()),
        })
        .collect();
    let concerns = case
        .concerns
        .values()
        .filter(|c| is_municipality || c.reporter_org == reader.org)
        .map(|c| ConcernView {
            id: c.id.0,
            grounds: c.grounds.iter().copied().collect(),
            text: c.text.expose().clone(),
            observed_on: c.observed_on,
            reported_at: c.reported_at,
            assessment_due: c.assessment_due,
            receipt_due: c.receipt_due,
            overdue: c.is_overdue(now),
            acknowledged_at: c.receipt.as_ref().map(|r| r.at),
            investigation_started: c.receipt.as_ref().map(|r| r.investigation_started),
        })
        .collect();
    let disclosures = case
        .disclosures
        .iter()
        .filter(|d| d.from == reader.org || d.to == reader.org)
        .map(|d| DisclosureView {
            id: d.id.0,
            checkpoint: d.checkpoint,
            from: d.from.clone(),
            to: d.to.clone(),
            items: d.items.iter().map(|i| i.item).collect(),
            at: d.at,
        })
        .collect();
    Some(CaseView {
        id: id.0,
        state,
        version,
        municipality,
        ngo: case.ngo().cloned(),
        programme: case.referral.as_ref().map(|r| r.programme.clone()),
        young_person,
        custody_holders: is_municipality.then(|| {
            case.custody_holders
                .iter()
                .map(|h| CustodyHolderView { id: h.id.0, name: h.name.expose().clone() })
                .collect()
        }),
        items,
        consents,
        concerns,
        disclosures,
        current_match: case.current_match.as_ref().map(|m| MatchView { volunteer: m.volunteer.0, since: m.since }),
        redacted_categories: redacted.into_iter().collect(),
    })
}
