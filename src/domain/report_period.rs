//! The calendar of a report: the range it covers, the periods it splits that range into, and the
//! range it compares with. Dates are days in the workspace's time zone, both ends included.

use chrono::{Datelike, Days, Months, NaiveDate};

use super::enums::text_enum;
use super::{FieldCode, Violation};

text_enum!(
    /// How a report splits its range into periods. Weeks start on Monday (ISO 8601).
    Interval { Day => "day", Week => "week", Month => "month", Quarter => "quarter", Year => "year" }
);

impl Interval {
    /// The unit PostgreSQL's `date_trunc` takes for it: its own name.
    pub fn sql_unit(self) -> &'static str {
        self.as_str()
    }

    /// The first day of the period holding `date`.
    pub fn start_of(self, date: NaiveDate) -> NaiveDate {
        let first_of_month = |month: u32| NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date);
        match self {
            Interval::Day => date,
            Interval::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Interval::Month => first_of_month(date.month()),
            Interval::Quarter => first_of_month(date.month0() / 3 * 3 + 1),
            Interval::Year => first_of_month(1),
        }
    }

    /// The first day of the period after the one starting on `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Interval::Day => start.checked_add_days(Days::new(1)),
            Interval::Week => start.checked_add_days(Days::new(7)),
            Interval::Month => start.checked_add_months(Months::new(1)),
            Interval::Quarter => start.checked_add_months(Months::new(3)),
            Interval::Year => start.checked_add_months(Months::new(12)),
        }
    }

    /// `count` of these periods, as a shift.
    fn times(self, count: u32) -> Shift {
        match self {
            Interval::Day => Shift::Days(count),
            Interval::Week => Shift::Days(count * 7),
            Interval::Month => Shift::Months(count),
            Interval::Quarter => Shift::Months(count * 3),
            Interval::Year => Shift::Months(count * 12),
        }
    }
}

text_enum!(
    /// What a report compares its range with: `previous_period` is the range of the same length
    /// just before (as many whole periods when the range is made of whole periods, so January to
    /// March compares with October to December; else as many days), `previous_year` the same
    /// dates a year earlier.
    Comparison { PreviousPeriod => "previous_period", PreviousYear => "previous_year" }
);

/// How far back a comparison lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    Days(u32),
    /// Calendar months: a day past the end of a shorter month becomes its last day.
    Months(u32),
}

impl Shift {
    pub fn back(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            Shift::Days(days) => date.checked_sub_days(Days::new(u64::from(days))),
            Shift::Months(months) => date.checked_sub_months(Months::new(months)),
        }
    }

    /// The day `date` moves onto: as far after it as the shift goes back.
    pub fn forward(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            Shift::Days(days) => date.checked_add_days(Days::new(u64::from(days))),
            Shift::Months(months) => date.checked_add_months(Months::new(months)),
        }
    }

    /// The shift as a PostgreSQL interval, for moving compared days onto the report's periods.
    pub fn sql_interval(self) -> String {
        match self {
            Shift::Days(days) => format!("{days} days"),
            Shift::Months(months) => format!("{months} months"),
        }
    }
}

/// Days `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// One period of a report, cut to its range: the first and the last one may be partial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// The most periods a report returns: three years of days.
pub const MOST_PERIODS: usize = 1_100;

impl DateRange {
    /// The range, or a 422 when `to` is before `from`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, Violation> {
        if to < from {
            return Err(Violation::new("to", FieldCode::Range, "must not be before from"));
        }
        Ok(Self { from, to })
    }

    fn days(self) -> u32 {
        u32::try_from((self.to - self.from).num_days() + 1).unwrap_or(u32::MAX)
    }

    /// The range's periods, in order; a 422 naming `interval` when there are more than
    /// [`MOST_PERIODS`].
    pub fn periods(self, interval: Interval) -> Result<Vec<Period>, Violation> {
        let too_many = || {
            Violation::new(
                "interval",
                FieldCode::Range,
                format!("splits the range into more than {MOST_PERIODS} periods: choose a longer interval"),
            )
        };
        let mut periods = Vec::new();
        let mut start = interval.start_of(self.from);
        while start <= self.to {
            if periods.len() == MOST_PERIODS {
                return Err(too_many());
            }
            let next = interval.next(start).ok_or_else(too_many)?;
            let end = next.pred_opt().unwrap_or(next).min(self.to);
            periods.push(Period { start: start.max(self.from), end });
            start = next;
        }
        Ok(periods)
    }

    /// Whether the range is made of whole periods.
    fn is_whole(self, interval: Interval) -> bool {
        let after = self.to.succ_opt();
        interval.start_of(self.from) == self.from
            && after.is_some_and(|after| interval.start_of(after) == after)
    }

    /// The range to compare with, and how far back it lies.
    pub fn compared(self, interval: Interval, comparison: Comparison) -> Option<(DateRange, Shift)> {
        let shift = match comparison {
            Comparison::PreviousYear => Shift::Months(12),
            Comparison::PreviousPeriod if self.is_whole(interval) => {
                let count = self.periods(interval).ok()?.len();
                interval.times(u32::try_from(count).ok()?)
            }
            Comparison::PreviousPeriod => Shift::Days(self.days()),
        };
        // The end of the compared range is the day before the shifted day after the range, so
        // that a range ending on the last day of a month compares with one that does too.
        let to = shift.back(self.to.succ_opt()?)?.pred_opt()?;
        Some((DateRange { from: shift.back(self.from)?, to }, shift))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A day written `2026-03-10`, for tests.
    pub(crate) fn day(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    /// The days from `from` to `to`, for tests.
    pub(crate) fn range(from: &str, to: &str) -> DateRange {
        DateRange { from: day(from), to: day(to) }
    }

    #[test]
    fn periods_are_cut_to_the_range() {
        let periods = range("2026-01-15", "2026-03-10").periods(Interval::Month).unwrap_or_default();
        assert_eq!(
            periods,
            vec![
                Period { start: day("2026-01-15"), end: day("2026-01-31") },
                Period { start: day("2026-02-01"), end: day("2026-02-28") },
                Period { start: day("2026-03-01"), end: day("2026-03-10") },
            ]
        );
        let weeks = range("2026-12-02", "2026-12-14").periods(Interval::Week).unwrap_or_default();
        assert_eq!(
            weeks.iter().map(|period| period.start).collect::<Vec<_>>(),
            [day("2026-12-02"), day("2026-12-07"), day("2026-12-14")]
        );
        let quarters = range("2026-02-01", "2026-12-31").periods(Interval::Quarter).unwrap_or_default();
        assert_eq!(quarters.len(), 4);
        assert_eq!(quarters[1], Period { start: day("2026-04-01"), end: day("2026-06-30") });
    }

    #[test]
    fn too_many_periods_name_the_interval() {
        let refused = range("2020-01-01", "2026-12-31").periods(Interval::Day);
        assert_eq!(refused.map_err(|violation| violation.field), Err("interval".to_string()));
        assert!(range("2024-01-01", "2026-12-31").periods(Interval::Day).is_ok());
    }

    #[test]
    fn whole_periods_compare_with_as_many_periods_before() {
        let quarter = range("2026-01-01", "2026-03-31");
        let (compared, shift) =
            quarter.compared(Interval::Month, Comparison::PreviousPeriod).unwrap_or_else(|| {
                panic!("no comparison");
            });
        assert_eq!((compared, shift), (range("2025-10-01", "2025-12-31"), Shift::Months(3)));
        let february = range("2028-02-01", "2028-02-29");
        let compared = february.compared(Interval::Month, Comparison::PreviousYear).map(|(range, _)| range);
        assert_eq!(compared, Some(range("2027-02-01", "2027-02-28")));
    }

    #[test]
    fn partial_periods_compare_with_as_many_days_before() {
        let ten_days = range("2026-03-05", "2026-03-14");
        let compared = ten_days.compared(Interval::Month, Comparison::PreviousPeriod);
        assert_eq!(compared, Some((range("2026-02-23", "2026-03-04"), Shift::Days(10))));
        let compared = ten_days.compared(Interval::Day, Comparison::PreviousPeriod);
        assert_eq!(compared, Some((range("2026-02-23", "2026-03-04"), Shift::Days(10))));
    }
}
