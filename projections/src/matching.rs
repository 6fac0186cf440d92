//! Volunteer suggestions for a case: a pure, deterministic ranking on real constraints, each
//! suggestion with its reasons and what it lacks.
//!
//! A volunteer is **named** only if the case's own rules allow the match today
//! ([`Case::check_volunteer`]: active, a free place, vetting that covers the young person's
//! age); the others are counted by what bars them ([`Ranking::barred`]), never listed. Among the
//! eligible, the ranking works on what the coordinator recorded of the young person
//! ([`Needs`]): interest tags from the programme's list (exact tags, not words in a text), a
//! common language, the postcode area (the same, or a neighbouring one: the same first two
//! digits, which in Denmark is the same postal district), an hour or more a week when both can
//! meet, and free places. Ties go by volunteer id, so the order is the same on every call.

use std::collections::{BTreeMap, BTreeSet};

use brobyg_domain::VolunteerId;
use brobyg_domain::case::{Case, CaseError, Needs};
use brobyg_domain::volunteer::{Slot, Volunteer};
use chrono::{NaiveDate, Timelike};

/// Each interest tag the volunteer shares with the young person's wishes.
pub const SHARED_TAG_WEIGHT: i64 = 10;
/// A language both speak.
pub const LANGUAGE_WEIGHT: i64 = 20;
/// The same postcode area.
pub const SAME_AREA_WEIGHT: i64 = 15;
/// A neighbouring postcode area.
pub const NEIGHBOUR_AREA_WEIGHT: i64 = 8;
/// An hour or more a week when both can meet.
pub const COMMON_TIME_WEIGHT: i64 = 20;
/// Each free place.
pub const FREE_PLACE_WEIGHT: i64 = 1;
/// The least weekly overlap that counts as a common time, in minutes.
pub const MIN_COMMON_MINUTES: u32 = 60;

/// One eligible volunteer, scored for one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// The volunteer.
    pub volunteer: VolunteerId,
    /// Their first name.
    pub first_name: String,
    /// Higher is better.
    pub score: i64,
    /// What speaks for the match, in words.
    pub reasons: Vec<String>,
    /// What the match lacks, in words.
    pub lacks: Vec<String>,
}

/// What bars a volunteer from a match today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bar {
    /// Paused or retired.
    NotActive,
    /// Every place taken.
    NoFreePlace,
    /// The vetting does not cover the young person's age (child certificate under 15,
    /// confidentiality declaration).
    NotVetted,
}

impl Bar {
    /// The stable word for the bar.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotActive => "not_active",
            Self::NoFreePlace => "no_free_place",
            Self::NotVetted => "not_vetted_for_age",
        }
    }

    fn of(error: &CaseError) -> Self {
        match error {
            CaseError::VolunteerInactive(_) => Self::NotActive,
            CaseError::VolunteerAtCapacity(_) => Self::NoFreePlace,
            _ => Self::NotVetted,
        }
    }
}

/// The ranking of a programme's volunteers for one case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranking {
    /// The eligible volunteers, best first.
    pub suggestions: Vec<Suggestion>,
    /// How many volunteers each bar keeps out.
    pub barred: BTreeMap<Bar, usize>,
}

impl Ranking {
    /// What blocks a match when nobody is eligible, or nobody fits: the bars that keep
    /// volunteers out, then what the best eligible suggestion lacks.
    #[must_use]
    pub fn blockers(&self) -> Vec<String> {
        match self.suggestions.first() {
            Some(best) => best.lacks.clone(),
            None if self.barred.is_empty() => vec!["no volunteer registered".to_owned()],
            None => self.barred.keys().map(|b| b.as_str().to_owned()).collect(),
        }
    }
}

/// Whether two postcode areas are neighbours: different, with the same first two digits.
#[must_use]
pub fn neighbouring(a: &str, b: &str) -> bool {
    a != b && a.len() == 4 && b.len() == 4 && a.as_bytes()[..2] == b.as_bytes()[..2]
}

fn minutes(t: chrono::NaiveTime) -> u32 {
    t.hour() * 60 + t.minute()
}

/// The weekly minutes two sets of slots share, and the first shared slot.
#[must_use]
pub fn common_time(a: &[Slot], b: &[Slot]) -> (u32, Option<Slot>) {
    let mut total = 0;
    let mut first: Option<Slot> = None;
    for x in a {
        for y in b.iter().filter(|y| y.weekday == x.weekday) {
            let (from, to) = (x.from.max(y.from), x.to.min(y.to));
            if from < to {
                total += minutes(to) - minutes(from);
                let slot = Slot { weekday: x.weekday, from, to };
                if first.as_ref().is_none_or(|f| (slot.weekday, slot.from) < (f.weekday, f.from)) {
                    first = Some(slot);
                }
            }
        }
    }
    (total, first)
}

/// Scores one volunteer for `case`: the suggestion, or what bars the volunteer. `None` for a
/// volunteer without a profile.
#[must_use]
pub fn score(
    case: &Case,
    needs: Option<&Needs>,
    volunteer: &Volunteer,
    today: NaiveDate,
) -> Option<Result<Suggestion, Bar>> {
    let case_id = case.id?;
    let (facts, profile) = (volunteer.facts_for(case_id)?, volunteer.profile.as_ref()?);
    if let Err(e) = case.check_volunteer(&facts, today) {
        return Some(Err(Bar::of(&e)));
    }
    let (mut reasons, mut lacks, mut score) = (Vec::new(), Vec::new(), 0);
    match needs {
        None => lacks.push("no needs recorded for the young person".to_owned()),
        Some(needs) => {
            let interests: BTreeSet<String> = profile.interests.iter().map(|i| i.to_lowercase()).collect();
            let shared: Vec<&str> = needs.tags.iter().filter(|t| interests.contains(*t)).map(String::as_str).collect();
            if !shared.is_empty() {
                reasons.push(format!("shares interests: {}", shared.join(", ")));
                score += SHARED_TAG_WEIGHT * shared.len() as i64;
            } else if !needs.tags.is_empty() {
                lacks.push("no shared interest".to_owned());
            }
            if !needs.languages.is_empty() {
                let common: Vec<&str> =
                    profile.languages.iter().filter(|l| needs.languages.contains(*l)).map(String::as_str).collect();
                if common.is_empty() {
                    lacks.push("no common language".to_owned());
                } else {
                    reasons.push(format!("speaks {}", common.join(", ")));
                    score += LANGUAGE_WEIGHT;
                }
            }
            if profile.area == needs.area {
                reasons.push(format!("same area ({})", needs.area));
                score += SAME_AREA_WEIGHT;
            } else if neighbouring(&profile.area, &needs.area) {
                reasons.push(format!("neighbouring area ({})", profile.area));
                score += NEIGHBOUR_AREA_WEIGHT;
            } else {
                lacks.push(format!("lives in another area ({})", profile.area));
            }
            let (shared_minutes, first) = common_time(&profile.availability, &needs.availability);
            match first.filter(|_| shared_minutes >= MIN_COMMON_MINUTES) {
                Some(slot) => {
                    let (from, to) = (slot.from.format("%H:%M"), slot.to.format("%H:%M"));
                    reasons.push(format!("both free {:?} {from}–{to}", slot.weekday).to_lowercase());
                    score += COMMON_TIME_WEIGHT;
                }
                None => lacks.push("no common hour in the week".to_owned()),
            }
        }
    }
    let free = i64::from(facts.capacity) - i64::from(facts.assigned_elsewhere);
    reasons.push(format!("{free} of {} places free", facts.capacity));
    score += FREE_PLACE_WEIGHT * free;
    Some(Ok(Suggestion { volunteer: facts.id, first_name: profile.first_name.expose().clone(), score, reasons, lacks }))
}

/// Ranks `volunteers` for `case` on the young person's `needs`: the eligible best first (ties by
/// volunteer id), the others counted by what bars them.
#[must_use]
pub fn rank<'a>(
    case: &Case,
    needs: Option<&Needs>,
    volunteers: impl IntoIterator<Item = &'a Volunteer>,
    today: NaiveDate,
) -> Ranking {
    let mut ranking = Ranking::default();
    for v in volunteers {
        match score(case, needs, v, today) {
            Some(Ok(s)) => ranking.suggestions.push(s),
            Some(Err(bar)) => *ranking.barred.entry(bar).or_default() += 1,
            None => {}
        }
    }
    ranking.suggestions.sort_by(|a, b| b.score.cmp(&a.score).then(a.volunteer.0.cmp(&b.volunteer.0)));
    ranking
}

#[cfg(test)]
mod tests;
