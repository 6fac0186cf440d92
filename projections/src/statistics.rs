//! Group-level figures for a programme, safe to share between partners (DESIGN §4).
//!
//! Only cases whose consent (holding now, or when the case ended) covers the purpose
//! `statistics` count; their outcome measures only when that consent covers `outcome` too. Every count
//! below k = 5 is suppressed, and so many more cells as needed (complementary suppression) that
//! no suppressed cell can be recovered from the total and the visible cells: at least two cells
//! are suppressed together, and together they hold at least k cases. Medians, means and rates
//! are shown only over at least k cases, and a rate only when its numerator is shown.

use std::collections::BTreeMap;

use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::Case;
use brobyg_domain::{CaseState, Category, Purpose};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The smallest group size shown.
pub const K: u64 = 5;

/// A figure, or the fact that it is suppressed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Cell<T> {
    /// The figure.
    Value(T),
    /// Suppressed: `{"suppressed": true}`.
    Suppressed {
        /// Always true.
        suppressed: bool,
    },
}

impl<T> Cell<T> {
    fn hidden() -> Self {
        Self::Suppressed { suppressed: true }
    }
}

/// The OpenAPI schemas of the cells: a figure, or `{"suppressed": true}`; absent figures are null.
#[cfg(feature = "openapi")]
pub mod cell_schema {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};

    fn suppressed() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("suppressed", ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])))
            .required("suppressed")
            .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
    }

    fn figure(kind: Type) -> ObjectBuilder {
        ObjectBuilder::new().schema_type(kind).minimum(Some(0))
    }

    /// A count, or suppressed.
    #[must_use]
    pub fn count() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(figure(Type::Integer))
            .item(suppressed())
            .description(Some("A count, or {\"suppressed\": true} when under k."))
            .into()
    }

    /// A number (median, mean, rate), or suppressed.
    #[must_use]
    pub fn number() -> RefOr<Schema> {
        OneOfBuilder::new().item(ObjectBuilder::new().schema_type(Type::Number)).item(suppressed()).into()
    }

    /// A number, suppressed, or null when there is nothing to compute it from.
    #[must_use]
    pub fn optional_number() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(suppressed())
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .into()
    }

    /// Counts per state.
    #[must_use]
    pub fn counts_by_state() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(count())))
            .into()
    }
}

/// An outcome instrument's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutcomeFigures {
    /// Instrument, e.g. `sdq_total`.
    pub instrument: String,
    /// Cases with the measure.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::count))]
    pub cases: Cell<u64>,
    /// Mean of `after - before`.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::number))]
    pub mean_change: Cell<f64>,
}

/// The figures of one programme over the cases one partner is party to.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Statistics {
    /// The programme.
    pub programme: String,
    /// The smallest group shown.
    pub k: u64,
    /// Cases counted (consent covers statistics).
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::count))]
    pub cases: Cell<u64>,
    /// Cases per state.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::counts_by_state))]
    pub by_state: BTreeMap<&'static str, Cell<u64>>,
    /// Median days from referral to the first match.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::optional_number))]
    pub median_days_referral_to_match: Option<Cell<f64>>,
    /// Median days from referral to closing.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::optional_number))]
    pub median_days_referral_to_closing: Option<Cell<f64>>,
    /// Closed among ended courses.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::optional_number))]
    pub completion_rate: Option<Cell<f64>>,
    /// Withdrawn among ended courses.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::optional_number))]
    pub withdrawal_rate: Option<Cell<f64>>,
    /// Outcome change per instrument.
    pub outcomes: Vec<OutcomeFigures>,
    /// Cases waiting for a volunteer (accepted, or awaiting a match): shown only when both
    /// counts it sums are shown, so that it gives no suppressed count back.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::count))]
    pub waiting: Cell<u64>,
    /// Median days the waiting cases have waited since the NGO accepted them.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::optional_number))]
    pub median_days_waiting: Option<Cell<f64>>,
    /// The longest wait in days, shown only over at least k waiting cases.
    #[cfg_attr(feature = "openapi", schema(schema_with = cell_schema::optional_number))]
    pub longest_days_waiting: Option<Cell<f64>>,
}

/// Whether a case waits for a volunteer.
#[must_use]
pub fn is_waiting(case: &Case) -> bool {
    matches!(case.state, Some(CaseState::Accepted | CaseState::AwaitingMatch))
}

/// Days a waiting case has waited at `now`: since the NGO accepted it (since the referral for a
/// case accepted before acceptance was kept).
#[must_use]
pub fn days_waiting(case: &Case, now: DateTime<Utc>) -> Option<i64> {
    let since = case.accepted_at.or(case.referral.as_ref().map(|r| r.at))?;
    Some((copenhagen_date(now) - copenhagen_date(since)).num_days().max(0))
}

const STATES: [CaseState; 8] = [
    CaseState::Referred,
    CaseState::Accepted,
    CaseState::AwaitingMatch,
    CaseState::InCourse,
    CaseState::Closed,
    CaseState::Declined,
    CaseState::Withdrawn,
    CaseState::Redirected,
];

/// The moment a case's statistics consent is judged at: now, or when the case ended (a case
/// that ended keeps counting under the consent that held then).
fn judged_at(case: &Case, now: DateTime<Utc>) -> DateTime<Utc> {
    case.ended_at.map_or(now, |ended| ended.min(now))
}

/// Whether a consent holding at the moment the case is judged names `statistics` (and, with
/// `category`, that category).
fn statistics_consent(case: &Case, category: Option<Category>, now: DateTime<Utc>) -> bool {
    let at = judged_at(case, now);
    case.consents.values().any(|c| {
        case.consent_holds_at(c, at)
            && c.purposes.contains(&Purpose::Statistics)
            && category.is_none_or(|k| c.categories.contains(&k))
    })
}

/// Whether a case counts: referred to `programme` and a consent holding now (or when the case
/// ended) covers statistics.
#[must_use]
pub fn counts(case: &Case, programme: &str, now: DateTime<Utc>) -> bool {
    case.referral.as_ref().is_some_and(|r| r.programme == programme) && statistics_consent(case, None, now)
}

/// The outcome measures of a counted case that count: only under a statistics consent that
/// covers the `outcome` category; the NGO's `outcome` items (erased ones are gone) and the
/// outcomes older closing meetings carried in the clear.
fn outcome_measures(case: &Case, now: DateTime<Utc>) -> Vec<(String, f64)> {
    if !statistics_consent(case, Some(Category::Outcome), now) {
        return Vec::new();
    }
    let ngo = case.ngo();
    let items = case
        .items
        .values()
        .filter(|i| i.category == Category::Outcome && Some(&i.owner) == ngo && i.added_at <= now)
        .filter_map(|i| i.measure.as_ref().and_then(|m| m.known()))
        .map(|m| (m.instrument.clone(), m.after - m.before));
    let legacy = case.outcomes.iter().map(|o| (o.instrument.clone(), o.after - o.before));
    items.chain(legacy).collect()
}

/// The states a case ends in: the denominator of the rates.
const ENDED: [&str; 4] = ["closed", "withdrawn", "redirected", "declined"];

/// The share of `state` among the ended cases: shown only over at least k ended cases and when
/// every count it is computed from is shown — a rate over counts of which one is suppressed
/// would give the suppressed count back (10 closed of 16 ended reveals 6 withdrawn).
fn ended_rate(by_state: &BTreeMap<&'static str, Cell<u64>>, state: &str) -> Option<Cell<f64>> {
    let mut ended = 0;
    let mut all_shown = true;
    for s in ENDED {
        match by_state.get(s) {
            Some(Cell::Value(n)) => ended += n,
            _ => all_shown = false,
        }
    }
    if all_shown && ended == 0 {
        return None;
    }
    match by_state.get(state) {
        Some(Cell::Value(n)) if all_shown && ended >= K => Some(Cell::Value(*n as f64 / ended as f64)),
        _ => Some(Cell::hidden()),
    }
}

/// Suppresses `cells` (and, if needed, the total) so that no suppressed value can be recovered.
/// Returns the cells and whether the total is shown.
#[must_use]
pub fn suppress<K2: Ord + Clone>(cells: &BTreeMap<K2, u64>) -> (BTreeMap<K2, Cell<u64>>, bool) {
    let total: u64 = cells.values().sum();
    if total < K {
        return (cells.keys().map(|k| (k.clone(), Cell::hidden())).collect(), false);
    }
    let mut hidden: Vec<K2> = cells.iter().filter(|(_, v)| (1..K).contains(*v)).map(|(k, _)| k.clone()).collect();
    let hidden_sum = |hidden: &Vec<K2>| hidden.iter().map(|k| cells[k]).sum::<u64>();
    let mut total_shown = true;
    while !hidden.is_empty() && (hidden.len() == 1 || hidden_sum(&hidden) < K) {
        let next = cells
            .iter()
            .filter(|(k, v)| **v > 0 && !hidden.contains(k))
            .min_by_key(|(_, v)| **v)
            .map(|(k, _)| k.clone());
        match next {
            Some(k) => hidden.push(k),
            None => {
                total_shown = false;
                break;
            }
        }
    }
    let out = cells
        .iter()
        .map(|(k, v)| (k.clone(), if hidden.contains(k) { Cell::hidden() } else { Cell::Value(*v) }))
        .collect();
    (out, total_shown)
}

fn median(mut xs: Vec<f64>) -> Option<Cell<f64>> {
    if xs.is_empty() {
        return None;
    }
    if (xs.len() as u64) < K {
        return Some(Cell::hidden());
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let m = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
    Some(Cell::Value(m))
}

/// The figures of `programme` over `cases` (those of one partner) at `now`.
#[must_use]
pub fn compute(programme: &str, cases: &[Case], now: DateTime<Utc>) -> Statistics {
    let counted: Vec<&Case> = cases.iter().filter(|c| counts(c, programme, now)).collect();
    let mut per_state: BTreeMap<&'static str, u64> = STATES.iter().map(|s| (s.as_str(), 0)).collect();
    for case in &counted {
        if let Some(state) = case.state
            && let Some(n) = per_state.get_mut(state.as_str())
        {
            *n += 1;
        }
    }
    let (by_state, total_shown) = suppress(&per_state);
    let total = counted.len() as u64;
    let referral_day = |c: &Case| c.referral.as_ref().map(|r| copenhagen_date(r.at));
    let to_match: Vec<f64> =
        counted.iter().filter_map(|c| Some((c.first_matched_on? - referral_day(c)?).num_days() as f64)).collect();
    let to_closing: Vec<f64> = counted
        .iter()
        .filter(|c| c.state == Some(CaseState::Closed))
        .filter_map(|c| Some((copenhagen_date(c.ended_at?) - referral_day(c)?).num_days() as f64))
        .collect();
    let (completion_rate, withdrawal_rate) = (ended_rate(&by_state, "closed"), ended_rate(&by_state, "withdrawn"));
    let mut by_instrument: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for case in &counted {
        for (instrument, change) in outcome_measures(case, now) {
            by_instrument.entry(instrument).or_default().push(change);
        }
    }
    let outcomes = by_instrument
        .into_iter()
        .map(|(instrument, changes)| {
            let n = changes.len() as u64;
            let shown = n >= K;
            OutcomeFigures {
                instrument,
                cases: if shown { Cell::Value(n) } else { Cell::hidden() },
                mean_change: if shown { Cell::Value(changes.iter().sum::<f64>() / n as f64) } else { Cell::hidden() },
            }
        })
        .collect();
    let waits: Vec<f64> =
        counted.iter().filter(|c| is_waiting(c)).filter_map(|c| days_waiting(c, now)).map(|d| d as f64).collect();
    let waiting = match (by_state.get("accepted"), by_state.get("awaiting_match")) {
        (Some(Cell::Value(a)), Some(Cell::Value(b))) => Cell::Value(a + b),
        _ => Cell::hidden(),
    };
    let longest_days_waiting = match waits.len() as u64 {
        0 => None,
        n if n < K => Some(Cell::hidden()),
        _ => Some(Cell::Value(waits.iter().copied().fold(0.0, f64::max))),
    };
    Statistics {
        waiting,
        median_days_waiting: median(waits),
        longest_days_waiting,
        programme: programme.to_owned(),
        k: K,
        cases: if total_shown && total >= K { Cell::Value(total) } else { Cell::hidden() },
        by_state,
        median_days_referral_to_match: median(to_match),
        median_days_referral_to_closing: median(to_closing),
        completion_rate,
        withdrawal_rate,
        outcomes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(xs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
        xs.iter().copied().collect()
    }

    fn shown(c: &BTreeMap<&'static str, Cell<u64>>) -> Vec<&'static str> {
        c.iter().filter(|(_, v)| matches!(v, Cell::Value(_))).map(|(k, _)| *k).collect()
    }

    #[test]
    fn a_total_below_k_hides_everything() {
        let (c, total) = suppress(&cells(&[("a", 4), ("b", 0)]));
        assert!(!total);
        assert!(shown(&c).is_empty());
    }

    #[test]
    fn a_single_small_cell_takes_the_next_smallest_with_it() {
        // a = 3 alone could be recovered as total − b − c; b is suppressed too.
        let (c, total) = suppress(&cells(&[("a", 3), ("b", 6), ("c", 9)]));
        assert!(total);
        assert_eq!(shown(&c), vec!["c"]);
    }

    #[test]
    fn small_cells_are_suppressed_until_they_hold_k_together() {
        // 1 + 2 = 3 < 5: the two could be bounded too tightly; the next smallest joins them.
        let (c, _) = suppress(&cells(&[("a", 1), ("b", 2), ("c", 7), ("d", 8)]));
        assert_eq!(shown(&c), vec!["d"]);
        let (c, _) = suppress(&cells(&[("a", 3), ("b", 4), ("c", 7)]));
        assert_eq!(shown(&c), vec!["c"]);
    }

    #[test]
    fn zero_cells_stay_visible_and_large_cells_stay_visible() {
        let (c, total) = suppress(&cells(&[("a", 0), ("b", 5), ("c", 6)]));
        assert!(total);
        assert_eq!(shown(&c), vec!["a", "b", "c"]);
    }

    #[test]
    fn a_rate_is_hidden_when_a_count_it_is_computed_from_is_hidden() {
        // 3 in course, 10 closed, 6 withdrawn: in_course and withdrawn are suppressed together.
        let (c, _) =
            suppress(&cells(&[("in_course", 3), ("closed", 10), ("withdrawn", 6), ("redirected", 0), ("declined", 0)]));
        assert_eq!(shown(&c), vec!["closed", "declined", "redirected"]);
        // 10 / 16 would give the 16 ended cases, and so both hidden cells.
        assert_eq!(ended_rate(&c, "closed"), Some(Cell::hidden()));
        assert_eq!(ended_rate(&c, "withdrawn"), Some(Cell::hidden()));
        // With every count shown, the rate is shown.
        let (c, _) =
            suppress(&cells(&[("in_course", 5), ("closed", 10), ("withdrawn", 6), ("redirected", 0), ("declined", 0)]));
        assert_eq!(ended_rate(&c, "closed"), Some(Cell::Value(10.0 / 16.0)));
        let (c, _) =
            suppress(&cells(&[("in_course", 5), ("closed", 0), ("withdrawn", 0), ("redirected", 0), ("declined", 0)]));
        assert_eq!(ended_rate(&c, "closed"), None, "no ended case, no rate");
    }

    #[test]
    fn when_nothing_else_can_be_hidden_the_total_goes() {
        let (c, total) = suppress(&cells(&[("a", 4), ("b", 0), ("c", 9)]));
        // a joins c (the only other non-zero): both hidden, total 13 could still give a + c only.
        assert_eq!(shown(&c), vec!["b"]);
        assert!(total);
        let (c, total) = suppress(&cells(&[("a", 4), ("b", 1)]));
        assert!(shown(&c).is_empty());
        assert!(total, "4 + 1 = 5 hidden together, total 5 shown");
    }

    mod outcomes {
        use brobyg_domain::case::{Case, CaseEvent, Consent, Item, Measure, Recipient};
        use brobyg_domain::{AgreementId, Category, ConsentId, ItemId, Org, Personal, Purpose, RecipientRole, UserId};
        use chrono::{DateTime, TimeDelta, Utc};
        use uuid::Uuid;

        fn t(s: &str) -> DateTime<Utc> {
            s.parse().expect("time")
        }

        /// A closed case with one outcome of change -5, under a statistics consent covering
        /// `categories`.
        fn case(n: u128, categories: &[Category]) -> Case {
            let ngo: Org = "ngo:kfum-sa".parse().expect("org");
            let at = t("2026-11-01T10:00:00Z");
            let mut c = Case::default();
            c.apply(&CaseEvent::CaseOpened {
                earlier_case: None,
                case: brobyg_domain::CaseId(Uuid::from_u128(n)),
                municipality: "municipality:0746".parse().expect("org"),
                young_person: brobyg_domain::case::YoungPerson {
                    id: brobyg_domain::PersonId(Uuid::from_u128(1)),
                    first_name: Personal::new("A".into()),
                    last_name: Personal::new("B".into()),
                    birth_date: Personal::new("2012-01-01".parse().expect("date")),
                },
                custody_holders: vec![],
                by: UserId("cw".into()),
                at,
            });
            c.apply(&CaseEvent::ConsentGiven {
                consent: Consent {
                    id: ConsentId(Uuid::from_u128(2)),
                    grantors: Default::default(),
                    recipients: [Recipient { org: ngo.clone(), role: RecipientRole::Coordinator }].into(),
                    categories: categories.iter().copied().collect(),
                    purposes: [Purpose::Statistics].into(),
                    valid_from: "2026-01-01".parse().expect("date"),
                    valid_until: "2030-01-01".parse().expect("date"),
                    evidence: Personal::new("e".into()),
                    recorded_by: UserId("cw".into()),
                    given_at: at,
                    revoked_at: None,
                },
            });
            c.apply(&CaseEvent::ReferralSubmitted {
                agreement: AgreementId(Uuid::from_u128(3)),
                agreement_version: 1,
                ngo: ngo.clone(),
                programme: "klub-move".into(),
                note: Personal::new("n".into()),
                by: UserId("cw".into()),
                at,
            });
            let measure = Measure { instrument: "sdq_total".into(), before: 19.0, after: 14.0 };
            c.apply(&CaseEvent::ItemAdded {
                item: Item {
                    id: ItemId(Uuid::from_u128(4)),
                    category: Category::Outcome,
                    owner: ngo,
                    author: UserId("co".into()),
                    content: Personal::new(measure.text()),
                    added_at: at + TimeDelta::days(100),
                    measure: Some(Personal::new(measure)),
                    score: None,
                },
            });
            c.apply(&CaseEvent::ClosingMeetingHeld {
                absent: vec![],
                meeting: None,
                held_on: "2027-02-09".parse().expect("date"),
                participants: Default::default(),
                outcomes: vec![],
                by: UserId("co".into()),
                at: at + TimeDelta::days(100),
            });
            c
        }

        #[test]
        fn outcomes_count_only_under_a_statistics_consent_that_covers_outcomes() {
            let now = t("2027-06-01T10:00:00Z");
            let covered: Vec<Case> = (0..5).map(|n| case(n, &[Category::Outcome])).collect();
            let figures = super::super::compute("klub-move", &covered, now);
            assert_eq!(figures.outcomes.len(), 1);
            assert_eq!(figures.outcomes[0].cases, super::super::Cell::Value(5));
            assert_eq!(figures.outcomes[0].mean_change, super::super::Cell::Value(-5.0));
            // The same cases under a statistics consent for school only: they count, their
            // outcomes do not.
            let uncovered: Vec<Case> = (0..5).map(|n| case(n, &[Category::School])).collect();
            let figures = super::super::compute("klub-move", &uncovered, now);
            assert_eq!(figures.cases, super::super::Cell::Value(5));
            assert!(figures.outcomes.is_empty(), "{:?}", figures.outcomes);
        }
    }
}
