//! Sales plans: a target of revenue or won deals for one month or one quarter, and what it sets
//! for a report's period. A quarter without its own target is planned by its three months when
//! all of them are; a year by its four quarters. Each figure apart: a quarter may have a revenue
//! target of its own and deal targets by month.

use std::collections::HashMap;
use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;

use super::enums::text_enum;
use super::report_period::Interval;

text_enum!(
    /// How long a target runs.
    PlanInterval { Month => "month", Quarter => "quarter" }
);

/// The month or quarter a target is for: `2026-03`, `2026-Q1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanPeriod {
    pub interval: PlanInterval,
    /// The first day of the month or quarter.
    pub start: NaiveDate,
}

/// The years a period may name: those a report may cover.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=9999;

impl PlanPeriod {
    /// The period starting on `start`, if that is the first day of a month (a quarter) of the
    /// years a report may cover.
    pub fn starting(interval: PlanInterval, start: NaiveDate) -> Option<Self> {
        let aligned = match interval {
            PlanInterval::Month => start.day() == 1,
            PlanInterval::Quarter => start.day() == 1 && start.month0().is_multiple_of(3),
        };
        (aligned && YEARS.contains(&start.year())).then_some(Self { interval, start })
    }

    /// `2026-03` or `2026-Q1`.
    pub fn parse(text: &str) -> Option<Self> {
        let (year, rest) = text.split_once('-')?;
        if year.len() != 4 || !year.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let (interval, month) = match rest.strip_prefix('Q') {
            Some(quarter) if quarter.len() == 1 => {
                let quarter: u32 = quarter.parse().ok().filter(|quarter| (1..=4).contains(quarter))?;
                (PlanInterval::Quarter, quarter * 3 - 2)
            }
            Some(_) => return None,
            None if rest.len() == 2 && rest.bytes().all(|byte| byte.is_ascii_digit()) => {
                (PlanInterval::Month, rest.parse().ok()?)
            }
            None => return None,
        };
        Self::starting(interval, NaiveDate::from_ymd_opt(year, month, 1)?)
    }

    /// The last day, included.
    pub fn end(self) -> NaiveDate {
        let months = match self.interval {
            PlanInterval::Month => 1,
            PlanInterval::Quarter => 3,
        };
        let after = self.start.checked_add_months(Months::new(months)).unwrap_or(self.start);
        after.pred_opt().unwrap_or(after)
    }
}

impl fmt::Display for PlanPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.interval {
            PlanInterval::Month => write!(f, "{:04}-{:02}", self.start.year(), self.start.month()),
            PlanInterval::Quarter => write!(f, "{:04}-Q{}", self.start.year(), self.start.month0() / 3 + 1),
        }
    }
}

impl serde::Serialize for PlanPeriod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PlanPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(
                "must be a month (2026-03) or a quarter (2026-Q1) of the years 1900 to 9999",
            )
        })
    }
}

/// The pattern of a period's text, as the OpenAPI document states it.
pub const PERIOD_PATTERN: &str = r"^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2]|Q[1-4])$";

impl utoipa::PartialSchema for PlanPeriod {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .pattern(Some(PERIOD_PATTERN))
            .examples([serde_json::json!("2026-Q1")])
            .description(Some("A month (`2026-03`) or a quarter (`2026-Q1`)"))
            .into()
    }
}

impl utoipa::ToSchema for PlanPeriod {}

/// What a target sets: revenue in the workspace currency, a number of won deals, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Goal {
    pub revenue: Option<Decimal>,
    pub deals: Option<i64>,
}

impl Goal {
    /// The sum of `goals`, figure by figure: a figure only when every goal sets it; none when
    /// `goals` is empty or sets nothing.
    fn sum(goals: &[Option<Goal>]) -> Option<Goal> {
        if goals.is_empty() {
            return None;
        }
        let revenue: Option<Decimal> = goals.iter().map(|goal| goal.and_then(|goal| goal.revenue)).sum();
        let deals: Option<i64> = goals.iter().map(|goal| goal.and_then(|goal| goal.deals)).sum();
        Self::of(revenue, deals)
    }

    fn of(revenue: Option<Decimal>, deals: Option<i64>) -> Option<Goal> {
        (revenue.is_some() || deals.is_some()).then_some(Goal { revenue, deals })
    }

    /// `self`'s figures, with `fallback`'s where `self` sets none.
    fn or(self, fallback: Option<Goal>) -> Option<Goal> {
        let fallback = fallback.unwrap_or_default();
        Self::of(self.revenue.or(fallback.revenue), self.deals.or(fallback.deals))
    }
}

/// One subject's targets (the workspace's, a team's or a user's), by period.
#[derive(Debug, Clone, Default)]
pub struct Plan(HashMap<PlanPeriod, Goal>);

impl Plan {
    pub fn set(&mut self, period: PlanPeriod, goal: Goal) {
        self.0.insert(period, goal);
    }

    /// What the plan sets for the calendar period of `interval` that holds `day`: a month's or a
    /// quarter's target, else a quarter's months' and a year's quarters'. Nothing for days and
    /// weeks, which targets don't divide into.
    pub fn goal(&self, interval: Interval, day: NaiveDate) -> Option<Goal> {
        let start = interval.start_of(day);
        match interval {
            Interval::Day | Interval::Week => None,
            Interval::Month => self.target(PlanInterval::Month, start),
            Interval::Quarter => self.quarter(start),
            Interval::Year => Goal::sum(
                &(0..4).map(|quarter| self.quarter(months_after(start, quarter * 3))).collect::<Vec<_>>(),
            ),
        }
    }

    /// What the plan sets for the periods of `interval` that hold `days`, together: each figure
    /// only when every period sets it. Months that make a whole quarter count as the quarter, so
    /// that a quarter's own target plans a range of months too.
    pub fn goal_over(&self, interval: Interval, days: impl IntoIterator<Item = NaiveDate>) -> Option<Goal> {
        let mut starts: Vec<NaiveDate> = days.into_iter().map(|day| interval.start_of(day)).collect();
        starts.dedup();
        if interval != Interval::Month {
            return Goal::sum(&starts.iter().map(|&start| self.goal(interval, start)).collect::<Vec<_>>());
        }
        let mut quarters: Vec<NaiveDate> =
            starts.iter().map(|&month| Interval::Quarter.start_of(month)).collect();
        quarters.dedup();
        let goals: Vec<Option<Goal>> = quarters
            .into_iter()
            .flat_map(|quarter| {
                let months: Vec<NaiveDate> = starts
                    .iter()
                    .copied()
                    .filter(|&month| Interval::Quarter.start_of(month) == quarter)
                    .collect();
                match months.len() {
                    3 => vec![self.quarter(quarter)],
                    _ => months.into_iter().map(|month| self.target(PlanInterval::Month, month)).collect(),
                }
            })
            .collect();
        Goal::sum(&goals)
    }

    fn target(&self, interval: PlanInterval, start: NaiveDate) -> Option<Goal> {
        self.0.get(&PlanPeriod { interval, start }).copied()
    }

    fn quarter(&self, start: NaiveDate) -> Option<Goal> {
        let by_months = || {
            Goal::sum(
                &(0..3)
                    .map(|month| self.target(PlanInterval::Month, months_after(start, month)))
                    .collect::<Vec<_>>(),
            )
        };
        match self.target(PlanInterval::Quarter, start) {
            Some(own) => own.or(by_months()),
            None => by_months(),
        }
    }
}

fn months_after(start: NaiveDate, months: u32) -> NaiveDate {
    start.checked_add_months(Months::new(months)).unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).expect("a real day")
    }

    fn period(text: &str) -> PlanPeriod {
        PlanPeriod::parse(text).expect("a period")
    }

    fn goal(revenue: Option<i64>, deals: Option<i64>) -> Goal {
        Goal { revenue: revenue.map(Decimal::from), deals }
    }

    #[test]
    fn periods_read_and_print_as_months_and_quarters() {
        let march = period("2026-03");
        assert_eq!(
            (march.interval, march.start, march.end()),
            (PlanInterval::Month, day(2026, 3, 1), day(2026, 3, 31))
        );
        let q4 = period("2026-Q4");
        assert_eq!((q4.start, q4.end()), (day(2026, 10, 1), day(2026, 12, 31)));
        assert_eq!(march.to_string(), "2026-03");
        assert_eq!(q4.to_string(), "2026-Q4");
        for wrong in [
            "2026-13",
            "2026-00",
            "2026-Q5",
            "2026-Q0",
            "2026-3",
            "26-03",
            "2026-Q",
            "0999-01",
            "2026-03-01",
            "",
        ] {
            assert_eq!(PlanPeriod::parse(wrong), None, "{wrong}");
        }
        assert_eq!(PlanPeriod::starting(PlanInterval::Quarter, day(2026, 2, 1)), None);
    }

    #[test]
    fn a_quarter_without_a_target_is_planned_by_its_months_when_all_three_are() {
        let mut plan = Plan::default();
        for month in 1..=3 {
            plan.set(period(&format!("2026-0{month}")), goal(Some(100), Some(month)));
        }
        plan.set(period("2026-04"), goal(Some(100), None));
        assert_eq!(plan.goal(Interval::Month, day(2026, 2, 14)), Some(goal(Some(100), Some(2))));
        assert_eq!(plan.goal(Interval::Quarter, day(2026, 2, 14)), Some(goal(Some(300), Some(6))));
        // April alone doesn't plan the second quarter.
        assert_eq!(plan.goal(Interval::Quarter, day(2026, 4, 1)), None);
        assert_eq!(plan.goal(Interval::Week, day(2026, 2, 14)), None);
    }

    #[test]
    fn a_quarter_of_its_own_wins_over_its_months_figure_by_figure() {
        let mut plan = Plan::default();
        plan.set(period("2026-Q1"), goal(Some(1000), None));
        for month in 1..=3 {
            plan.set(period(&format!("2026-0{month}")), goal(Some(100), Some(5)));
        }
        assert_eq!(plan.goal(Interval::Quarter, day(2026, 3, 31)), Some(goal(Some(1000), Some(15))));
    }

    #[test]
    fn a_year_is_planned_by_its_four_quarters_and_a_range_by_its_periods() {
        let mut plan = Plan::default();
        for quarter in 1..=4 {
            plan.set(period(&format!("2026-Q{quarter}")), goal(Some(250), None));
        }
        assert_eq!(plan.goal(Interval::Year, day(2026, 7, 1)), Some(goal(Some(1000), None)));
        assert_eq!(plan.goal(Interval::Year, day(2025, 7, 1)), None);
        let halves = [day(2026, 1, 15), day(2026, 4, 1)];
        assert_eq!(plan.goal_over(Interval::Quarter, halves), Some(goal(Some(500), None)));
        assert_eq!(plan.goal_over(Interval::Quarter, [day(2025, 12, 1), day(2026, 1, 1)]), None);
    }

    #[test]
    fn months_making_a_whole_quarter_are_planned_by_the_quarters_own_target() {
        let mut plan = Plan::default();
        plan.set(period("2026-Q1"), goal(None, Some(4)));
        plan.set(period("2026-03"), goal(Some(100), Some(1)));
        let quarter = [day(2026, 1, 5), day(2026, 2, 1), day(2026, 3, 1)];
        assert_eq!(plan.goal_over(Interval::Month, quarter), Some(goal(None, Some(4))));
        // March alone, and March with April (which has no target), by their months.
        assert_eq!(plan.goal_over(Interval::Month, [day(2026, 3, 1)]), Some(goal(Some(100), Some(1))));
        assert_eq!(plan.goal_over(Interval::Month, [day(2026, 3, 1), day(2026, 4, 1)]), None);
    }
}
