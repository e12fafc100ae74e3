//! The agenda's window: the instants that make up a run of local days in a workspace's time zone.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// The most days one agenda covers.
pub const MAX_DAYS: u32 = 31;

/// The day it is at `now` in `timezone`: the agenda's default.
pub fn local_date(now: DateTime<Utc>, timezone: Tz) -> NaiveDate {
    now.with_timezone(&timezone).date_naive()
}

/// The instants `[from, to)` of `days` local days from `date`, each day from its local midnight.
/// None when the clocks skip `date`'s midnight (a change to summer time at 00:00): such a day has
/// no start to count from. When only the day after the window skips it, the window ends `days`
/// times 24 hours after it starts.
pub fn day_window(date: NaiveDate, days: u32, timezone: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start_of = |day: NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|midnight| midnight.and_local_timezone(timezone).earliest())
            .map(|local| local.with_timezone(&Utc))
    };
    let from = start_of(date)?;
    let length = Duration::days(i64::from(days));
    let to = start_of(date + length).unwrap_or(from + length);
    Some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|time| time.to_utc()).unwrap_or_default()
    }

    #[test]
    fn a_day_in_tokyo_starts_at_its_midnight_the_evening_before_in_utc() {
        let window = day_window(date("2026-12-06"), 2, chrono_tz::Asia::Tokyo);
        assert_eq!(window, Some((at("2026-12-05T15:00:00Z"), at("2026-12-07T15:00:00Z"))));
    }

    #[test]
    fn the_day_summer_time_begins_is_23_hours_long() {
        let (from, to) = day_window(date("2026-03-29"), 1, chrono_tz::Europe::Berlin).unwrap_or_default();
        assert_eq!((from, to - from), (at("2026-03-28T23:00:00Z"), Duration::hours(23)));
    }

    #[test]
    fn a_day_whose_midnight_the_clocks_skip_has_no_window() {
        // Chile moved its clocks from 24:00 to 01:00 on 11 September 2022.
        assert_eq!(day_window(date("2022-09-11"), 1, chrono_tz::America::Santiago), None);
        // The day before ends 24 hours after it began.
        let (from, to) = day_window(date("2022-09-10"), 1, chrono_tz::America::Santiago).unwrap_or_default();
        assert_eq!(to - from, Duration::hours(24));
    }

    #[test]
    fn the_local_date_is_not_utcs_far_from_utc() {
        let now = at("2026-12-05T20:00:00Z");
        assert_eq!(local_date(now, chrono_tz::Pacific::Kiritimati), date("2026-12-06"));
        assert_eq!(local_date(now, chrono_tz::Pacific::Pago_Pago), date("2026-12-05"));
    }
}
