//! Danish working days, for the concern deadlines of Barnets lov §§ 136–137.
//!
//! A working day is Monday to Friday and not a Danish public holiday: New Year's Day, Maundy
//! Thursday, Good Friday, Easter Sunday and Monday, Ascension Day, Whit Sunday and Monday,
//! Christmas Day and Boxing Day. Store Bededag (General Prayer Day) was abolished from 2024 and
//! is a holiday only in earlier years. 5 June, 24 December and 31 December are customary days
//! off, not public holidays; [`WorkCalendar::customary_days_off`] counts them as days off.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// How working days are counted. The default counts public holidays only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkCalendar {
    /// Also treat 5 June (Grundlovsdag), 24 December and 31 December as days off.
    pub customary_days_off: bool,
}

/// The calendar date in Denmark (Europe/Copenhagen) at an instant.
///
/// Central European Time is UTC+1; summer time (UTC+2) runs from 01:00 UTC on the last Sunday
/// of March to 01:00 UTC on the last Sunday of October (EU rule since 1996).
#[must_use]
pub fn copenhagen_date(at: DateTime<Utc>) -> NaiveDate {
    let year = at.year();
    let last_sunday = |month: u32| {
        let mut d = NaiveDate::from_ymd_opt(year, month, 31).unwrap_or(NaiveDate::MIN);
        while d.weekday() != Weekday::Sun {
            d = d.pred_opt().unwrap_or(NaiveDate::MIN);
        }
        d.and_hms_opt(1, 0, 0).unwrap_or_default().and_utc()
    };
    let summer = at >= last_sunday(3) && at < last_sunday(10);
    let offset = if summer { TimeDelta::hours(2) } else { TimeDelta::hours(1) };
    (at + offset).date_naive()
}

/// Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm).
#[must_use]
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    // The algorithm yields March or April and a day within it for every year.
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or(NaiveDate::MIN)
}

impl WorkCalendar {
    /// Whether `date` is a Danish public holiday (or a customary day off when so configured).
    #[must_use]
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        let (m, d) = (date.month(), date.day());
        if (m, d) == (1, 1) || (m, d) == (12, 25) || (m, d) == (12, 26) {
            return true;
        }
        if self.customary_days_off && ((m, d) == (6, 5) || (m, d) == (12, 24) || (m, d) == (12, 31)) {
            return true;
        }
        let easter = easter_sunday(date.year());
        let offset = (date - easter).num_days();
        // Maundy Thursday, Good Friday, Easter Sunday, Easter Monday, Ascension Day (+39),
        // Whit Sunday (+49), Whit Monday (+50); Store Bededag (+26) until 2023.
        matches!(offset, -3 | -2 | 0 | 1 | 39 | 49 | 50) || (offset == 26 && date.year() < 2024)
    }

    /// Whether `date` is a working day.
    #[must_use]
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_holiday(date)
    }

    /// The date `n` working days after `from` (the day of `from` itself does not count).
    #[must_use]
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut date = from;
        let mut left = n;
        while left > 0 {
            date = date.checked_add_days(Days::new(1)).unwrap_or(NaiveDate::MAX);
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        date
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn copenhagen_date_follows_summer_and_winter_time() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("valid instant");
        assert_eq!(copenhagen_date(t("2026-12-31T22:59:59Z")), d(2026, 12, 31));
        assert_eq!(copenhagen_date(t("2026-12-31T23:00:00Z")), d(2027, 1, 1));
        assert_eq!(copenhagen_date(t("2026-07-01T21:59:59Z")), d(2026, 7, 1));
        assert_eq!(copenhagen_date(t("2026-07-01T22:00:00Z")), d(2026, 7, 2));
    }

    #[test]
    fn easter_sunday_matches_known_years() {
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2025), d(2025, 4, 20));
        assert_eq!(easter_sunday(2026), d(2026, 4, 5));
        assert_eq!(easter_sunday(2027), d(2027, 3, 28));
        assert_eq!(easter_sunday(2038), d(2038, 4, 25));
    }

    #[test]
    fn six_working_days_across_easter_2026() {
        // Tue 31 March 2026: Wed 1, Thu 2 (Maundy Thursday), Fri 3 (Good Friday), Mon 6
        // (Easter Monday) are skipped or holidays. Working days: Wed 1, Tue 7, Wed 8, Thu 9,
        // Fri 10, Mon 13.
        let cal = WorkCalendar::default();
        assert_eq!(cal.add_working_days(d(2026, 3, 31), 6), d(2026, 4, 13));
    }

    #[test]
    fn six_working_days_across_christmas_and_new_year() {
        // Mon 21 Dec 2026: Tue 22, Wed 23, Thu 24, (Fri 25, Sat, Sun), Mon 28, Tue 29, Wed 30.
        let cal = WorkCalendar::default();
        assert_eq!(cal.add_working_days(d(2026, 12, 21), 6), d(2026, 12, 30));
        // With the customary days off, 24 and 31 December do not count either.
        let strict = WorkCalendar { customary_days_off: true };
        assert_eq!(strict.add_working_days(d(2026, 12, 21), 6), d(2027, 1, 4));
    }

    #[test]
    fn ascension_and_whitsun_are_holidays_and_store_bededag_is_gone() {
        let cal = WorkCalendar::default();
        assert!(cal.is_holiday(d(2026, 5, 14))); // Ascension Day 2026
        assert!(cal.is_holiday(d(2026, 5, 25))); // Whit Monday 2026
        assert!(!cal.is_holiday(d(2026, 5, 1))); // would have been Store Bededag
        assert!(cal.is_holiday(d(2023, 5, 5))); // Store Bededag 2023, still a holiday then
        assert!(!cal.is_holiday(d(2026, 6, 5)));
        assert!(WorkCalendar { customary_days_off: true }.is_holiday(d(2026, 6, 5)));
    }
}
