//! The targets a report sets its figures beside, and how far the figures reach them.
//!
//! A report's figures stand beside a target only when they are the figures the target is for: the
//! whole workspace's (for those who see every client), a team's or a user's, in the workspace
//! currency, over every pipeline and product. A report filtered by anything else, or in one
//! currency unconverted, shows no plan.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::percent_of_decimal;
use crate::db::models::sales_line::SalesGrouping;
use crate::db::models::target::{Subject, Target};
use crate::db::visibility::ClientScope;
use crate::domain::plan::{Goal, Plan};
use crate::domain::report_period::Interval;
use crate::ids::{TeamId, UserId};

/// How far figures reached a target: each figure the target sets, and what was reached of it in
/// percent (to one decimal; null for a target of zero).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Attainment {
    /// The revenue to reach, in the workspace currency; null when the targets set none.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "150000.00")]
    pub revenue_target: Option<Decimal>,
    /// Revenue won as a percentage of `revenue_target`.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "84.2")]
    pub revenue_percent: Option<Decimal>,
    /// The deals to win; null when the targets set none.
    #[schema(example = 12)]
    pub deals_target: Option<i64>,
    /// Deals won as a percentage of `deals_target`.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "91.7")]
    pub deals_percent: Option<Decimal>,
}

impl Attainment {
    /// How `revenue` and `deals` reach `goal`.
    pub fn of(goal: Goal, revenue: Decimal, deals: i64) -> Self {
        Self {
            revenue_target: goal.revenue,
            revenue_percent: goal.revenue.and_then(|target| percent_of_decimal(revenue, target)),
            deals_target: goal.deals,
            deals_percent: goal
                .deals
                .and_then(|target| percent_of_decimal(Decimal::from(deals), Decimal::from(target))),
        }
    }
}

/// The CSV columns of an [`Attainment`], in the order [`attainment_cells`] fills them.
pub const ATTAINMENT_COLUMNS: [&str; 4] =
    ["revenue_target", "revenue_attainment_percent", "deals_target", "deals_attainment_percent"];

/// The CSV cells of `plan`: empty without one.
pub fn attainment_cells(plan: Option<&Attainment>) -> [String; 4] {
    let text = |value: Option<String>| value.unwrap_or_default();
    let decimal = |value: Option<Decimal>| text(value.map(|value| value.to_string()));
    [
        decimal(plan.and_then(|plan| plan.revenue_target)),
        decimal(plan.and_then(|plan| plan.revenue_percent)),
        text(plan.and_then(|plan| plan.deals_target).map(|deals| deals.to_string())),
        decimal(plan.and_then(|plan| plan.deals_percent)),
    ]
}

/// The subject a group of a report is, by its key: an owner's id is a user, a team's a team.
pub fn group_subject(grouping: SalesGrouping, key: &Option<String>) -> Option<Subject> {
    let id: uuid::Uuid = key.as_ref()?.parse().ok()?;
    match grouping {
        SalesGrouping::Owner => Some(Subject::User(UserId(id))),
        SalesGrouping::Team => Some(Subject::Team(TeamId(id))),
        _ => None,
    }
}

/// Each subject's plan over a report's days, for the subjects the caller may read the targets of.
#[derive(Debug, Default)]
pub struct Plans(HashMap<Subject, Plan>);

impl Plans {
    /// The targets of `subjects` that `scope` sees, for the periods the days `from` to `to` fall in.
    pub fn load(
        conn: &mut PgConnection,
        scope: &ClientScope,
        subjects: impl IntoIterator<Item = Subject>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> QueryResult<Self> {
        let subjects: Vec<Subject> = subjects.into_iter().filter(|subject| subject.seen_by(scope)).collect();
        // A year's first day: the quarters and months holding `from` start on or after it.
        let first = Interval::Year.start_of(from);
        let mut plans = HashMap::<Subject, Plan>::new();
        for target in Target::of_subjects(conn, scope.workspace(), &subjects, first, to)? {
            plans.entry(target.subject()).or_default().set(target.period(), target.goal());
        }
        Ok(Self(plans))
    }

    pub fn of(&self, subject: Option<Subject>) -> Option<&Plan> {
        self.0.get(&subject?)
    }
}
