//! The case as one reader may see it, and the volunteer brief. Every item and field passes the
//! rule in [`crate::policy`]; fields a reader may not see are absent from the view, never present
//! with a placeholder.

use std::collections::{BTreeMap, BTreeSet};

use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::{Case, Item, Measure, MeetingStatus, Score};
use brobyg_domain::{CaseState, Category, Checkpoint, ItemId, MeasurePoint, Org, Participant, Side};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use brobyg_domain::Personal;

use crate::policy::{
    Access, Reader, Visibility, access, brief_consented, disclosed_copy, first_name_visible, item_visibility,
};

/// How an erased personal text reads in every view.
pub const ERASED: &str = "[erased]";

/// A personal text as shown: the value, or [`ERASED`] once its key is gone.
#[must_use]
pub fn shown(p: &Personal<String>) -> String {
    p.known().cloned().unwrap_or_else(|| ERASED.to_owned())
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
    /// Age today, when consent names the volunteers for identity (absent once the birth date is
    /// erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
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
    /// A guardian (værge) rather than a custody holder.
    pub guardian: bool,
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
    /// The measurement an `outcome` item records (absent otherwise, and once erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure: Option<MeasureView>,
    /// The score a measure item records: baseline, closing or follow-up (absent otherwise, and
    /// once erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreView>,
}

/// A measure taken at one point, as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreView {
    /// The instrument, e.g. `sdq_total`.
    pub instrument: String,
    /// `baseline`, `closing` or `follow_up`.
    #[cfg_attr(feature = "openapi", schema(value_type = brobyg_domain::MeasurePoint))]
    pub point: MeasurePoint,
    /// The day it was taken.
    pub on: NaiveDate,
    /// The value.
    pub value: f64,
}

impl From<&Score> for ScoreView {
    fn from(s: &Score) -> Self {
        Self { instrument: s.instrument.clone(), point: s.point, on: s.on, value: s.value }
    }
}

/// The referral as both parties see it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralView {
    /// When it was made.
    pub at: DateTime<Utc>,
    /// The agreement version it was made under.
    pub agreement_version: u32,
    /// The municipality's note to the NGO.
    pub note: String,
}

/// Someone who should have been at a meeting and was not.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AbsenceView {
    /// Who.
    #[cfg_attr(feature = "openapi", schema(value_type = brobyg_domain::Participant))]
    pub participant: Participant,
    /// Why: only for the organisation that recorded the meeting (the NGO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A move or a miss of a meeting.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingChangeView {
    /// `moved` or `missed`.
    pub kind: String,
    /// For a move: the day it was moved away from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// For a move: the new day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
    /// Who recorded it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub organisation: Org,
    /// Why: only for the organisation that recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// A meeting, planned or held.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingView {
    /// Meeting id (nil for a meeting recorded before meetings were planned).
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// `pre_meeting` or `closing_meeting`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub checkpoint: Checkpoint,
    /// The day it is planned for, or was held on.
    pub on: NaiveDate,
    /// `planned`, `held` or `missed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: MeetingStatus,
    /// Who was invited.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<brobyg_domain::Participant>))]
    pub invited: Vec<Participant>,
    /// Who took part, once held.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<brobyg_domain::Participant>))]
    pub present: Vec<Participant>,
    /// Who must have taken part and did not, once held.
    pub absent: Vec<AbsenceView>,
    /// Moves and a miss, in order.
    pub changes: Vec<MeetingChangeView>,
}

/// A match of the course, current or ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchRecordView {
    /// Volunteer id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub volunteer: uuid::Uuid,
    /// Since.
    pub since: NaiveDate,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended (the NGO only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
}

/// An entry of the course log (the NGO only).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActivityView {
    /// The day.
    pub on: NaiveDate,
    /// A short word, e.g. `climbing`.
    pub kind: String,
    /// The note.
    pub note: String,
    /// Whether the course was on track, as the coordinator judged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_track: Option<bool>,
    /// When it was logged.
    pub at: DateTime<Utc>,
}

/// An outcome measurement as shown.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeasureView {
    /// The instrument, e.g. `sdq_total`.
    pub instrument: String,
    /// Score before the course.
    pub before: f64,
    /// Score after the course.
    pub after: f64,
}

impl From<&Measure> for MeasureView {
    fn from(m: &Measure) -> Self {
        Self { instrument: m.instrument.clone(), before: m.before, after: m.after }
    }
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
    /// Whether the acknowledgement met both deadlines (the 24-hour assessment and the receipt's
    /// working days); absent until acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_time: Option<bool>,
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

/// Which view of a case a reader gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ViewAccess {
    /// A party's caseworker or coordinator (or integrator): what the organisation may see.
    Party,
    /// An auditor: everything in the auditor's scope.
    Audit,
    /// A municipality the case moved away from: its own records as they were at the move.
    Former,
}

/// A move of the case to another municipality.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MoveView {
    /// The municipality the case left.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub from: Org,
    /// The municipality it moved to.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub to: Org,
    /// The day the family moved.
    pub on: NaiveDate,
    /// When the move was recorded.
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
    /// `party` (a caseworker's or coordinator's view) or `audit` (everything in scope).
    pub access: ViewAccess,
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
    /// A consent in its validity lacks a grantor the young person's age now requires (from the
    /// 15th birthday the young person's own grant): renew it before anything more crosses under
    /// it; from the 18th birthday it covers nothing until renewed.
    pub consent_renewal_due: bool,
    /// The referral, once made: when, under which version, the municipality's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<ReferralView>,
    /// Why the NGO declined, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_reason: Option<String>,
    /// The meetings, planned, held or missed.
    pub meetings: Vec<MeetingView>,
    /// Every match of the course, in order.
    pub matches: Vec<MatchRecordView>,
    /// The course log (the NGO only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activities: Option<Vec<ActivityView>>,
    /// The course between checkpoints, for the municipality where the agreement in force allows
    /// it: active or not, the last contact day, the coordinator's latest on-track judgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interim: Option<InterimView>,
    /// For a re-referral: the earlier case of the same young person (the municipality only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Uuid))]
    pub earlier_case: Option<uuid::Uuid>,
    /// The moves to another municipality, oldest first (the municipality is the newest `to`).
    pub moves: Vec<MoveView>,
    /// What the young person wishes and can do, tagged for matching (the NGO only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needs: Option<NeedsView>,
    /// Who the matched volunteer is, for the municipality, where the volunteer agreed to it:
    /// first name, vetting status and start date; nothing else of the volunteer crosses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volunteer: Option<VolunteerInfoView>,
}

/// The matched volunteer as the municipality may know them, with the volunteer's own consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolunteerInfoView {
    /// First name.
    pub first_name: String,
    /// Whether the vetting is in order today (confidentiality declaration, current child
    /// certificate).
    pub vetted: bool,
    /// The day the volunteer started with the NGO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<NaiveDate>,
}

/// What the municipality's `reader` may know of the volunteer matched with `case` now: only the
/// volunteer of the current match, only with the volunteer's own consent.
#[must_use]
pub fn volunteer_for_municipality(
    case: &Case,
    volunteer: &brobyg_domain::volunteer::Volunteer,
    reader: &Reader,
    now: DateTime<Utc>,
) -> Option<VolunteerInfoView> {
    let municipality = reads_as_municipality(case, reader);
    let matched = case.current_match.as_ref().map(|m| m.volunteer);
    if !municipality || matched.is_none() || volunteer.id != matched || !volunteer.shares_with_municipality {
        return None;
    }
    let profile = volunteer.profile.as_ref()?;
    Some(VolunteerInfoView {
        first_name: shown(&profile.first_name),
        vetted: volunteer.vetted_on(copenhagen_date(now)),
        since: volunteer.since,
    })
}

/// The young person's needs as the coordinator tagged them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NeedsView {
    /// Interest tags.
    pub tags: Vec<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Postcode area.
    pub area: String,
    /// Weekly times, e.g. `tue 16:00-19:00`.
    pub availability: Vec<String>,
}

/// A running course as the municipality may follow it between checkpoints: no content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InterimView {
    /// Whether a volunteer is matched now.
    pub course_active: bool,
    /// The day of the latest activity the NGO logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_contact_on: Option<NaiveDate>,
    /// The coordinator's latest judgement whether the course is on track.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_track: Option<bool>,
}

/// Whether `reader` reads `case` as its municipality (its staff or auditor).
fn reads_as_municipality(case: &Case, reader: &Reader) -> bool {
    matches!(access(case, reader), Access::Party(Side::Municipality) | Access::Auditor(Side::Municipality))
}

/// The interim status of `case` for `reader` at `now` under the agreement terms in force:
/// only for the municipality's readers, only where the terms allow it, only once matched.
#[must_use]
pub fn interim_status(
    case: &Case,
    terms: &brobyg_domain::agreement::Terms,
    reader: &Reader,
    now: DateTime<Utc>,
) -> Option<InterimView> {
    let municipality = reads_as_municipality(case, reader);
    if !municipality || !terms.interim_status || case.first_matched_on.is_none() {
        return None;
    }
    let logged: Vec<_> = case.activities.iter().filter(|a| a.at <= now).collect();
    Some(InterimView {
        course_active: case.current_match.is_some() && !case.state.is_some_and(CaseState::is_final),
        last_contact_on: logged.iter().map(|a| a.on).max(),
        on_track: logged.iter().rev().find_map(|a| a.on_track),
    })
}

/// Whether `reader` may read `case` at all (as a party, an auditor in scope, or a municipality
/// the case moved away from, of its own records).
#[must_use]
pub fn is_party(case: &Case, reader: &Reader) -> bool {
    matches!(access(case, reader), Access::Party(_) | Access::Auditor(_) | Access::Former { .. })
}

/// The categories of the items `reader` sees of `case` at `now` (for the access log).
#[must_use]
pub fn visible_categories(case: &Case, reader: &Reader, now: DateTime<Utc>) -> BTreeSet<Category> {
    case.items.values().filter(|i| item_visibility(case, i, reader, now).visible()).map(|i| i.category).collect()
}

fn item_view(case: &Case, item: &Item, visibility: Visibility, reader: &Reader, now: DateTime<Utc>) -> ItemView {
    // A disclosed item shows the recipient's copy; the owner the original.
    let (content, measure, score) = match visibility {
        Visibility::Disclosed { .. } => match disclosed_copy(case, item, &reader.org, now) {
            Some((_, copy)) => (shown(&copy.content), copy.measure.as_ref(), copy.score.as_ref()),
            None => (ERASED.to_owned(), None, None),
        },
        Visibility::Owner | Visibility::Hidden => (shown(&item.content), item.measure.as_ref(), item.score.as_ref()),
    };
    let measure = measure.and_then(|m| m.known()).map(MeasureView::from);
    let score = score.and_then(|s| s.known()).map(ScoreView::from);
    ItemView {
        id: item.id,
        category: item.category,
        owner: item.owner.clone(),
        content,
        added_at: item.added_at,
        disclosed_at: match visibility {
            Visibility::Disclosed { at } => Some(at),
            Visibility::Owner | Visibility::Hidden => None,
        },
        measure,
        score,
    }
}

/// The case as `reader` may see it at `now`; `None` if the case does not exist for the reader.
#[must_use]
pub fn case_view(case: &Case, version: usize, reader: &Reader, now: DateTime<Utc>) -> Option<CaseView> {
    let access = access(case, reader);
    // `full`: the municipality's staff and auditors see the person, custody holders, consent
    // evidence and every concern; the NGO's the concerns it reported.
    // A municipality the case moved away from sees its own records as they were at the move.
    let (full, former) = match access {
        Access::Party(Side::Municipality) | Access::Auditor(Side::Municipality) => (true, None),
        Access::Party(Side::Ngo) | Access::Auditor(Side::Ngo) => (false, None),
        Access::Former { until } => (true, case.moves.iter().rev().find(|m| m.from == reader.org && m.at == until)),
        Access::Brief | Access::None => return None,
    };
    let now = former.map_or(now, |m| now.min(m.at));
    let (id, mut state, municipality, person) =
        (case.id?, case.state?, case.municipality.clone()?, case.young_person.as_ref()?);
    if let Some(m) = former {
        state = m.state;
    }
    let mut items = Vec::new();
    let mut redacted = BTreeSet::new();
    for item in case.items.values().filter(|i| i.added_at <= now) {
        let visibility = item_visibility(case, item, reader, now);
        if visibility.visible() {
            items.push(item_view(case, item, visibility, reader, now));
        } else {
            redacted.insert(item.category);
        }
    }
    let young_person = YoungPersonView {
        id: person.id.0,
        first_name: first_name_visible(case, reader, now).then(|| shown(&person.first_name)),
        last_name: full.then(|| shown(&person.last_name)),
        birth_date: if full { person.birth_date.known().copied() } else { None },
        age: person.birth_date.known().map(|b| brobyg_domain::case::age_on(*b, copenhagen_date(now))),
    };
    let consents = case
        .consents
        .values()
        .filter(|c| c.given_at <= now)
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
            revoked_at: c.revoked_at.filter(|r| *r <= now),
            active: c.is_active_at(now),
            evidence: full.then(|| shown(&c.evidence)),
        })
        .collect();
    let concerns = case
        .concerns
        .values()
        .filter(|c| c.reported_at <= now && (full || c.reporter_org == reader.org))
        .map(|c| {
            let receipt = c.receipt.as_ref().filter(|r| r.at <= now);
            ConcernView {
                id: c.id.0,
                grounds: c.grounds.iter().copied().collect(),
                text: shown(&c.text),
                observed_on: c.observed_on,
                reported_at: c.reported_at,
                assessment_due: c.assessment_due,
                receipt_due: c.receipt_due,
                overdue: receipt.is_none() && c.is_overdue(now),
                acknowledged_at: receipt.map(|r| r.at),
                on_time: receipt.map(|r| r.on_time),
                investigation_started: receipt.map(|r| r.investigation_started),
            }
        })
        .collect();
    let disclosures = case
        .disclosures
        .iter()
        .filter(|d| {
            d.at <= now
                && if former.is_some() {
                    d.from == reader.org
                } else {
                    full || d.from == reader.org || d.to == reader.org
                }
        })
        .map(|d| DisclosureView {
            id: d.id.0,
            checkpoint: d.checkpoint,
            from: d.from.clone(),
            to: d.to.clone(),
            items: d.items.iter().map(|i| i.item).collect(),
            at: d.at,
        })
        .collect();
    let custody_holders = former.map_or(&case.custody_holders, |m| &m.custody_holders);
    let view = CaseView {
        id: id.0,
        state,
        version,
        municipality,
        ngo: case.ngo().cloned(),
        access: match access {
            Access::Auditor(_) => ViewAccess::Audit,
            Access::Former { .. } => ViewAccess::Former,
            Access::Party(_) | Access::Brief | Access::None => ViewAccess::Party,
        },
        programme: case.referral.as_ref().map(|r| r.programme.clone()),
        young_person,
        custody_holders: full.then(|| {
            custody_holders
                .iter()
                .map(|h| CustodyHolderView { id: h.id.0, name: shown(&h.name), guardian: h.guardian })
                .collect()
        }),
        items,
        consents,
        concerns,
        disclosures,
        current_match: case.current_match.as_ref().map(|m| MatchView { volunteer: m.volunteer.0, since: m.since }),
        redacted_categories: redacted.into_iter().collect(),
        consent_renewal_due: case.consent_renewal_due(now),
        referral: case.referral.as_ref().filter(|r| r.at <= now).map(|r| ReferralView {
            at: r.at,
            agreement_version: r.agreement_version,
            note: shown(&r.note),
        }),
        decline_reason: case.decline_reason.as_ref().map(shown),
        meetings: meetings(case, &reader.org, now),
        matches: case
            .matches
            .iter()
            .map(|m| MatchRecordView {
                volunteer: m.volunteer.0,
                since: m.since,
                ended_at: m.ended_at.filter(|at| *at <= now),
                end_reason: if full { None } else { m.end_reason.as_ref().map(shown) },
            })
            .collect(),
        earlier_case: case.earlier_case.filter(|_| full).map(|c| c.0),
        interim: None,
        activities: (!full).then(|| {
            case.activities
                .iter()
                .filter(|a| a.at <= now)
                .map(|a| ActivityView {
                    on: a.on,
                    kind: a.kind.clone(),
                    note: shown(&a.note),
                    on_track: a.on_track,
                    at: a.at,
                })
                .collect()
        }),
        volunteer: None,
        needs: (!full).then(|| case.needs.as_ref().and_then(|n| n.known())).flatten().map(|n| NeedsView {
            tags: n.tags.iter().cloned().collect(),
            languages: n.languages.iter().cloned().collect(),
            area: n.area.clone(),
            availability: n
                .availability
                .iter()
                .map(|s| format!("{:?} {}-{}", s.weekday, s.from.format("%H:%M"), s.to.format("%H:%M")).to_lowercase())
                .collect(),
        }),
        moves: case
            .moves
            .iter()
            .filter(|m| m.at <= now)
            .map(|m| MoveView { from: m.from.clone(), to: m.to.clone(), on: m.on, at: m.at })
            .collect(),
    };
    Some(if former.is_some() { former_records(view) } else { view })
}

/// A former municipality's view: the course's records (meetings, matches, the match, the NGO's
/// log) are not its own.
fn former_records(mut view: CaseView) -> CaseView {
    view.meetings.clear();
    view.matches.clear();
    view.current_match = None;
    view.activities = None;
    view.consent_renewal_due = false;
    view.decline_reason = None;
    view
}

/// The meetings of `case` as `org` sees them: every date and who took part; a reason only to the
/// organisation that recorded it (an absence: the NGO, which records the meeting).
fn meetings(case: &Case, org: &Org, now: DateTime<Utc>) -> Vec<MeetingView> {
    let ngo = case.ngo();
    case.meetings
        .iter()
        .map(|m| MeetingView {
            id: m.id.0,
            checkpoint: m.checkpoint,
            on: m.on,
            status: m.status,
            invited: m.invited.iter().copied().collect(),
            present: m.present.iter().copied().collect(),
            absent: m
                .absent
                .iter()
                .map(|a| AbsenceView {
                    participant: a.participant,
                    reason: (ngo == Some(org)).then(|| shown(&a.reason)),
                })
                .collect(),
            changes: m
                .notes
                .iter()
                .filter(|n| n.at <= now)
                .map(|n| MeetingChangeView {
                    kind: n.kind.clone(),
                    from: n.from,
                    to: n.to,
                    organisation: n.org.clone(),
                    reason: (&n.org == org).then(|| shown(&n.reason)),
                    at: n.at,
                })
                .collect(),
        })
        .collect()
}

/// `view` (a party's view) limited to what `limit` (the auditor's own view of the same case at
/// the same moment) shows: an auditor sees how another party saw the case only as far as its
/// own organisation may see it.
#[must_use]
pub fn limited_to(mut view: CaseView, limit: &CaseView) -> CaseView {
    let items: BTreeSet<ItemId> = limit.items.iter().map(|i| i.id).collect();
    let (kept, withheld): (Vec<ItemView>, Vec<ItemView>) = view.items.into_iter().partition(|i| items.contains(&i.id));
    view.items = kept;
    let mut redacted: BTreeSet<Category> = view.redacted_categories.into_iter().collect();
    redacted.extend(withheld.iter().map(|i| i.category));
    view.redacted_categories = redacted.into_iter().collect();
    let limit_person = &limit.young_person;
    view.young_person.first_name = view.young_person.first_name.filter(|_| limit_person.first_name.is_some());
    view.young_person.last_name = view.young_person.last_name.filter(|_| limit_person.last_name.is_some());
    view.young_person.birth_date = view.young_person.birth_date.filter(|_| limit_person.birth_date.is_some());
    if limit.custody_holders.is_none() {
        view.custody_holders = None;
    }
    for consent in &mut view.consents {
        let seen = limit.consents.iter().any(|c| c.id == consent.id && c.evidence.is_some());
        if !seen {
            consent.evidence = None;
        }
    }
    let concerns: BTreeSet<uuid::Uuid> = limit.concerns.iter().map(|c| c.id).collect();
    view.concerns.retain(|c| concerns.contains(&c.id));
    let disclosures: BTreeSet<uuid::Uuid> = limit.disclosures.iter().map(|d| d.id).collect();
    view.disclosures.retain(|d| disclosures.contains(&d.id));
    if limit.needs.is_none() {
        view.needs = None;
    }
    if limit.activities.is_none() {
        view.activities = None;
    }
    for (m, own) in view.matches.iter_mut().zip(&limit.matches) {
        if own.end_reason.is_none() {
            m.end_reason = None;
        }
    }
    for (m, own) in view.meetings.iter_mut().zip(&limit.meetings) {
        for (a, seen) in m.absent.iter_mut().zip(&own.absent) {
            if seen.reason.is_none() {
                a.reason = None;
            }
        }
        for (c, seen) in m.changes.iter_mut().zip(&own.changes) {
            if seen.reason.is_none() {
                c.reason = None;
            }
        }
    }
    view
}

/// The volunteer brief: what the matched volunteer may know.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BriefView {
    /// Case id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub case: uuid::Uuid,
    /// The matched volunteer the brief is for.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub volunteer: uuid::Uuid,
    /// First name, when consent names the volunteers for identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Age today (absent once the birth date is erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    /// Wishes and practicalities the volunteers may know.
    pub items: Vec<ItemView>,
}

/// The volunteer brief of `case` for the NGO `reader` at `now`: only while a volunteer is
/// matched, for that volunteer; `None` if not the case's NGO or no volunteer is matched.
#[must_use]
pub fn volunteer_brief(case: &Case, reader: &Reader, now: DateTime<Utc>) -> Option<BriefView> {
    if access(case, reader) != Access::Brief {
        return None;
    }
    let volunteer = case.current_match.as_ref()?.volunteer;
    let person = case.young_person.as_ref()?;
    let items = case
        .items
        .values()
        .filter_map(|item| {
            let visibility = item_visibility(case, item, reader, now);
            visibility.visible().then(|| item_view(case, item, visibility, reader, now))
        })
        .collect();
    Some(BriefView {
        case: case.id?.0,
        volunteer: volunteer.0,
        first_name: first_name_visible(case, reader, now).then(|| shown(&person.first_name)),
        age: person
            .birth_date
            .known()
            .filter(|_| brief_consented(case, &reader.org, Category::Identity, now))
            .map(|b| brobyg_domain::case::age_on(*b, copenhagen_date(now))),
        items,
    })
}

#[cfg(test)]
mod interim_tests {
    use super::*;
    use crate::policy::Reader;
    use brobyg_domain::agreement::{ReportingDuties, Terms};
    use brobyg_domain::case::{Activity, Match, Referral};
    use brobyg_domain::{AgreementId, CaseId, PersonId, Personal, Role, UserId, VolunteerId};

    #[test]
    fn the_interim_status_is_the_municipalitys_where_the_terms_allow_and_holds_no_content() {
        let (muni, ngo): (Org, Org) = ("municipality:0746".parse().expect("org"), "ngo:kfum-sa".parse().expect("org"));
        let now: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().expect("time");
        let mut case = Case {
            id: Some(CaseId::new()),
            state: Some(CaseState::InCourse),
            municipality: Some(muni.clone()),
            young_person: Some(brobyg_domain::case::YoungPerson {
                id: PersonId::new(),
                first_name: Personal::new("M".into()),
                last_name: Personal::new("J".into()),
                birth_date: Personal::new("2012-03-14".parse().expect("date")),
            }),
            referral: Some(Referral {
                agreement: AgreementId::new(),
                agreement_version: 1,
                ngo: ngo.clone(),
                programme: "klub-move".into(),
                at: now,
                note: Personal::new("n".into()),
            }),
            current_match: Some(Match { volunteer: VolunteerId::new(), since: "2026-11-20".parse().expect("date") }),
            first_matched_on: Some("2026-11-20".parse().expect("date")),
            ..Case::default()
        };
        for (on, on_track) in [("2026-11-25", Some(true)), ("2026-11-28", None), ("2026-11-27", Some(false))] {
            case.activities.push(Activity {
                on: on.parse().expect("date"),
                kind: "climbing".into(),
                note: Personal::new("secret".into()),
                on_track,
                by: UserId("co".into()),
                at: now - chrono::TimeDelta::hours(1),
            });
        }
        let mut terms = Terms {
            municipality: muni.clone(),
            ngo: ngo.clone(),
            programme: "klub-move".into(),
            flows: vec![],
            retention_days_after_closing: 180,
            reporting_duties: ReportingDuties::default(),
            interim_status: false,
            interest_tags: Default::default(),
        };
        let caseworker = Reader::staff(muni, Role::Caseworker);
        assert_eq!(interim_status(&case, &terms, &caseworker, now), None);
        terms.interim_status = true;
        let shown = interim_status(&case, &terms, &caseworker, now).expect("shown");
        assert_eq!(
            shown,
            InterimView {
                course_active: true,
                last_contact_on: Some("2026-11-28".parse().expect("date")),
                on_track: Some(false),
            }
        );
        assert_eq!(interim_status(&case, &terms, &Reader::staff(ngo, Role::Coordinator), now), None);
    }
}
