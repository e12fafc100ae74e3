//! A call list from a segment (`POST /segments/{id}/call-list`): on which days each person's calls
//! fall due, so that no one's day holds more calls than asked.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The most members one call list plans calls for: a request writes them in one transaction.
pub const MAX_CALLS: usize = 10_000;
/// The most calls a day the caller may ask for one person.
pub const MAX_PER_DAY: u32 = 500;
/// The calls a person gets a day when the request doesn't say.
pub const DEFAULT_PER_DAY: u32 = 20;
/// How far ahead a call list plans: a list that would need longer asks for more people or more
/// calls a day instead.
pub const HORIZON_DAYS: u64 = 366;

/// The days on which one person's `count` new calls fall due: from `first_day`, filling each day
/// up to `per_day` calls, counting the calls `busy` says they have planned on it already, on
/// weekdays only if asked. None when they would run past [`HORIZON_DAYS`].
pub fn due_days(
    count: usize,
    first_day: NaiveDate,
    per_day: u32,
    weekdays_only: bool,
    busy: &BTreeMap<NaiveDate, u32>,
) -> Option<Vec<NaiveDate>> {
    let mut days = Vec::with_capacity(count);
    let mut day = first_day;
    let last_day = first_day.checked_add_days(Days::new(HORIZON_DAYS))?;
    while days.len() < count {
        if day > last_day {
            return None;
        }
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        if !(weekdays_only && weekend) {
            let free = per_day.saturating_sub(busy.get(&day).copied().unwrap_or(0)) as usize;
            days.extend(std::iter::repeat_n(day, free.min(count - days.len())));
        }
        day = day.succ_opt()?;
    }
    Some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn days_fill_up_to_the_daily_limit_counting_calls_already_planned_and_skip_weekends() {
        // Friday 4 December 2026: two calls planned on it already, limit three a day.
        let busy = BTreeMap::from([(date("2026-12-04"), 2)]);
        let days = due_days(5, date("2026-12-04"), 3, true, &busy);
        let expected = ["2026-12-04", "2026-12-07", "2026-12-07", "2026-12-07", "2026-12-08"];
        assert_eq!(days, Some(expected.map(date).to_vec()));
        let every_day = due_days(4, date("2026-12-04"), 3, false, &busy);
        assert_eq!(
            every_day,
            Some(["2026-12-04", "2026-12-05", "2026-12-05", "2026-12-05"].map(date).to_vec())
        );
    }

    #[test]
    fn a_list_that_would_run_past_a_year_is_refused() {
        let busy = BTreeMap::new();
        assert_eq!(due_days(367, date("2026-12-04"), 1, false, &busy).map(|days| days.len()), Some(367));
        assert_eq!(due_days(368, date("2026-12-04"), 1, false, &busy), None);
        assert_eq!(due_days(0, date("2026-12-04"), 1, true, &busy), Some(Vec::new()));
    }
}
