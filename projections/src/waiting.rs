//! The NGO's waiting list and its board of demand against free capacity: pure functions of the
//! waiting cases (as the coordinator may see them) and the NGO's active volunteers.

use std::collections::BTreeMap;

use brobyg_domain::calendar::copenhagen_date;
use brobyg_domain::case::{Case, Needs};
use brobyg_domain::volunteer::{Volunteer, Weekday};
use brobyg_domain::{CaseState, VolunteerId};
use chrono::{DateTime, Utc};

use crate::case_view::shown;
use crate::matching::{Ranking, rank};
use crate::policy::{Reader, first_name_visible};
use crate::statistics::days_waiting;

/// One case on the waiting list.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitingRow {
    /// The case.
    pub case: brobyg_domain::CaseId,
    /// The young person's first name, once disclosed to the NGO.
    pub first_name: Option<String>,
    /// Age today, with the first name.
    pub age: Option<u32>,
    /// `accepted` or `awaiting_match`.
    pub state: CaseState,
    /// Days since the NGO accepted the case.
    pub days_waiting: i64,
    /// The young person's needs as the coordinator tagged them, if recorded.
    pub needs: Option<Needs>,
    /// How many volunteers could be matched today.
    pub eligible: usize,
    /// The best suggestion, if any.
    pub best: Option<VolunteerId>,
    /// What blocks a match (see [`Ranking::blockers`]).
    pub blockers: Vec<String>,
}

/// The waiting-list row of `case` for the NGO `reader` at `now`, ranked against `volunteers`;
/// `None` unless the case waits and the reader's organisation is its NGO.
#[must_use]
pub fn waiting_row(case: &Case, reader: &Reader, volunteers: &[Volunteer], now: DateTime<Utc>) -> Option<WaitingRow> {
    if case.ngo() != Some(&reader.org) || !crate::statistics::is_waiting(case) {
        return None;
    }
    let person = case.young_person.as_ref()?;
    let today = copenhagen_date(now);
    let first_name = first_name_visible(case, reader, now).then(|| shown(&person.first_name));
    let age = first_name.as_ref().and(person.birth_date.known()).map(|b| brobyg_domain::case::age_on(*b, today));
    let needs = case.needs.as_ref().and_then(|n| n.known()).cloned();
    let ranking: Ranking = rank(case, needs.as_ref(), volunteers.iter(), today);
    Some(WaitingRow {
        case: case.id?,
        first_name,
        age,
        state: case.state?,
        days_waiting: days_waiting(case, now)?,
        needs,
        eligible: ranking.suggestions.len(),
        best: ranking.suggestions.first().map(|s| s.volunteer),
        blockers: ranking.blockers(),
    })
}

/// Orders the waiting list: longest wait first, ties by case id.
pub fn order(rows: &mut [WaitingRow]) {
    rows.sort_by(|a, b| b.days_waiting.cmp(&a.days_waiting).then(a.case.0.cmp(&b.case.0)));
}

/// Demand against supply for one value of one dimension.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Waiting young people whose needs name it.
    pub waiting: u32,
    /// Free places of active volunteers who offer it.
    pub free_places: u32,
}

/// The coordinator's board: demand against free capacity by area, weekday, language and
/// interest tag.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Board {
    /// By postcode area.
    pub by_area: BTreeMap<String, Pressure>,
    /// By weekday.
    pub by_weekday: BTreeMap<Weekday, Pressure>,
    /// By language.
    pub by_language: BTreeMap<String, Pressure>,
    /// By interest tag.
    pub by_tag: BTreeMap<String, Pressure>,
    /// Waiting young people without recorded needs.
    pub without_needs: u32,
    /// Free places in all.
    pub free_places: u32,
}

/// The board over the waiting `rows` and the NGO's active `volunteers`.
#[must_use]
pub fn board(rows: &[WaitingRow], volunteers: &[Volunteer]) -> Board {
    let mut b = Board::default();
    for row in rows {
        let Some(needs) = &row.needs else {
            b.without_needs += 1;
            continue;
        };
        b.by_area.entry(needs.area.clone()).or_default().waiting += 1;
        let days: std::collections::BTreeSet<Weekday> = needs.availability.iter().map(|s| s.weekday).collect();
        for d in days {
            b.by_weekday.entry(d).or_default().waiting += 1;
        }
        for l in &needs.languages {
            b.by_language.entry(l.clone()).or_default().waiting += 1;
        }
        for t in &needs.tags {
            b.by_tag.entry(t.clone()).or_default().waiting += 1;
        }
    }
    for v in volunteers {
        let Some(profile) = &v.profile else { continue };
        if v.status != brobyg_domain::volunteer::VolunteerStatus::Active {
            continue;
        }
        let free = profile.capacity.saturating_sub(u32::try_from(v.assignments.len()).unwrap_or(u32::MAX));
        if free == 0 {
            continue;
        }
        b.free_places += free;
        b.by_area.entry(profile.area.clone()).or_default().free_places += free;
        let days: std::collections::BTreeSet<Weekday> = profile.availability.iter().map(|s| s.weekday).collect();
        for d in days {
            b.by_weekday.entry(d).or_default().free_places += free;
        }
        for l in &profile.languages {
            b.by_language.entry(l.clone()).or_default().free_places += free;
        }
        let tags: std::collections::BTreeSet<String> = profile.interests.iter().map(|i| i.to_lowercase()).collect();
        for t in tags {
            b.by_tag.entry(t).or_default().free_places += free;
        }
    }
    b
}
