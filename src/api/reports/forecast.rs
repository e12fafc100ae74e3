//! `GET /reports/forecast`: open deals by the month they are expected to close, weighted by their
//! probability, beside what was won in the same months a year before.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use diesel::PgConnection;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::plans::{ATTAINMENT_COLUMNS, Attainment, Plans, attainment_cells, group_subject};
use super::{
    GroupLabels, PersonGrouping, distinct_keys, group_labels, percent_of_decimal, respond, today_in,
};
use crate::auth::{Principal, run_reading};
use crate::db::models::Workspace;
use crate::db::models::forecast::{OpenDeals, OpenTally, open_tallies};
use crate::db::models::sales_line::{SalesFilter, SalesQuery, SalesTally, sales_tallies};
use crate::db::models::target::Subject;
use crate::domain::plan::{Goal, Plan};
use crate::domain::report_period::{DateRange, Interval};
use crate::domain::{FieldCode, Violation, money};
use crate::error::ApiError;
use crate::ids::PipelineId;
use crate::state::AppState;

pub const DEFAULT_MONTHS: u32 = 6;
pub const MOST_MONTHS: u32 = 24;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ForecastQuery {
    /// How many months, the current one first: 1 to 24, 6 when omitted.
    #[param(minimum = 1, maximum = 24)]
    pub months: Option<u32>,
    pub group_by: Option<PersonGrouping>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
}

/// Open deals and their money.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct OpenFigures {
    pub open_deals: i64,
    /// Their amounts in the workspace currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "10000.00")]
    pub amount: Decimal,
    /// Each amount times the deal's probability.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "4500.00")]
    pub weighted_amount: Decimal,
    /// Foreign-currency deals without an exchange rate: counted, not in the amounts.
    pub unconverted_deals: i64,
}

/// Deals won in a month, and their revenue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct WonFigures {
    pub deals: i64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "3900.00")]
    pub revenue: Decimal,
}

/// One month of the forecast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForecastMonth {
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Open deals expected to close in the month.
    pub expected: OpenFigures,
    /// Won so far in the month: only the current month has any.
    pub won: WonFigures,
    /// What was won in the same month a year before.
    pub last_year: WonFigures,
    /// The month's target beside what was won and what the open deals promise; null where no target
    /// applies (docs/reports.md).
    pub plan: Option<ForecastAttainment>,
}

/// A month's target, what was won of it so far, and what winning the open deals' weighted amounts
/// would make of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ForecastAttainment {
    /// The target and how far the month's sales so far reached it.
    #[serde(flatten)]
    pub reached: Attainment,
    /// Revenue won plus the open deals' weighted amount, as a percentage of `revenue_target`.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "96.5")]
    pub projected_revenue_percent: Option<Decimal>,
}

/// One owner's or team's forecast.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ForecastGroup {
    /// The user's or team's id; null for deals without one.
    pub key: Option<String>,
    pub label: Option<String>,
    pub overdue: OpenFigures,
    pub undated: OpenFigures,
    pub months: Vec<ForecastMonth>,
}

/// Open deals by expected close month.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-04-01", "to": "2026-05-31", "group_by": null, "currency": "EUR", "as_of": "2026-04-01T08:00:00Z",
    "overdue": {"open_deals": 1, "amount": "500.00", "weighted_amount": "250.00", "unconverted_deals": 0},
    "undated": {"open_deals": 2, "amount": "800.00", "weighted_amount": "80.00", "unconverted_deals": 0},
    "months": [
        {"start": "2026-04-01", "end": "2026-04-30",
         "expected": {"open_deals": 3, "amount": "3000.00", "weighted_amount": "1500.00", "unconverted_deals": 0},
         "won": {"deals": 1, "revenue": "1200.00"},
         "last_year": {"deals": 2, "revenue": "1800.00"},
         "plan": {"revenue_target": "4000.00", "revenue_percent": "30.0", "deals_target": 4, "deals_percent": "25.0",
                  "projected_revenue_percent": "67.5"}}
    ],
    "groups": []
}))]
pub struct ForecastReport {
    /// The first day of the current month.
    pub from: NaiveDate,
    /// The last day of the last month.
    pub to: NaiveDate,
    pub group_by: Option<PersonGrouping>,
    /// The workspace's: every amount is converted.
    pub currency: String,
    pub as_of: DateTime<Utc>,
    /// Open deals expected to close before the current month: late.
    pub overdue: OpenFigures,
    /// Open deals without an expected close date.
    pub undated: OpenFigures,
    pub months: Vec<ForecastMonth>,
    /// Each owner or team with an open deal or last year's sale, by weighted amount (largest first); empty
    /// without `group_by`.
    pub groups: Vec<ForecastGroup>,
}

/// Forecast of open deals by expected close month.
///
/// The open deals the caller sees by the month they are expected to close, from the current month on, with their
/// amounts and probability-weighted amounts in the workspace currency; the late and the undated apart; each month
/// beside the sales won in the same month a year before; per owner or team with `group_by`. CSV with
/// `Accept: text/csv`.
#[utoipa::path(
    tag = "reports",
    operation_id = "forecast_report",
    security(("bearer" = [])),
    params(ForecastQuery),
    responses(
        (status = 200, description = "The report",
            content((ForecastReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "The number of months out of range", body = crate::error::Problem,
            content_type = "application/problem+json"),
    )
)]
#[get("/reports/forecast")]
pub async fn forecast_report(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    query: web::Query<ForecastQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let months = query.months.unwrap_or(DEFAULT_MONTHS);
    if !(1..=MOST_MONTHS).contains(&months) {
        return Err(Violation::new(
            "months",
            FieldCode::Range,
            format!("must be between 1 and {MOST_MONTHS}"),
        )
        .into());
    }
    let report = run_reading(principal.caller(), &state, move |conn, scope| {
        let workspace = Workspace::find(conn, scope.workspace())?;
        let today = today_in(&workspace);
        let start = today.with_day(1).unwrap_or(today);
        let after = start.checked_add_months(Months::new(months)).unwrap_or(start);
        let end = after.pred_opt().unwrap_or(after);
        let open = open_tallies(
            conn,
            &OpenDeals {
                scope,
                start,
                end,
                split: query.group_by.map(PersonGrouping::as_split),
                pipeline_id: query.pipeline_id.map(|id| id.0),
            },
        )?;
        let year_before = |date: NaiveDate| date.checked_sub_months(Months::new(12)).unwrap_or(date);
        let sales_by_month = |conn: &mut PgConnection, range: DateRange| {
            sales_tallies(
                conn,
                &SalesQuery {
                    filter: SalesFilter {
                        scope,
                        currency: None,
                        pipeline_id: query.pipeline_id.map(|id| id.0),
                        owner_id: None,
                        team_id: None,
                        product_group: None,
                        clients: None,
                    },
                    range,
                    interval: Interval::Month,
                    group_by: query.group_by.map(PersonGrouping::as_sales),
                    compared: None,
                    // The forecast stands deals and revenue beside the plan, not buyers.
                    unique_buyers: false,
                },
            )
        };
        // Last year's months, and what the current one has won so far: one map by month.
        let mut sold = sales_by_month(
            conn,
            DateRange::new(year_before(start), year_before(after).pred_opt().unwrap_or(start))?,
        )?;
        sold.extend(sales_by_month(conn, DateRange::new(start, today.max(start))?)?);
        let keys = match query.group_by {
            Some(_) => distinct_keys(
                open.iter()
                    .filter(|tally| !tally.all_groups)
                    .map(|tally| &tally.group_key)
                    .chain(sold.iter().filter(|tally| !tally.all_groups).map(|tally| &tally.group_key)),
            ),
            None => Vec::new(),
        };
        let labels = group_labels(conn, workspace.id, query.group_by.map(PersonGrouping::as_sales), &keys)?;
        let places = money::places(&workspace.default_currency);
        let month_starts: Vec<NaiveDate> =
            (0..months).filter_map(|month| start.checked_add_months(Months::new(month))).collect();
        // Whose target a group's months stand beside: all groups together, the workspace's.
        let subject_of = |group: &Group| match group {
            None => Some(Subject::Workspace),
            Some(key) => query.group_by.and_then(|grouping| group_subject(grouping.as_sales(), key)),
        };
        // Targets are for every pipeline: one pipeline's forecast has none beside it.
        let subjects: Vec<Subject> = match query.pipeline_id {
            Some(_) => Vec::new(),
            None => std::iter::once(None)
                .chain(keys.iter().cloned().map(Some))
                .filter_map(|group| subject_of(&group))
                .collect(),
        };
        let plans = Plans::load(conn, scope, subjects, start, end)?;
        let forecast = Forecast::new(places, month_starts, open, sold, query.group_by.is_some());
        let plan_of = |group: &Group| plans.of(subject_of(group));
        Ok(forecast.assemble(
            ForecastReport {
                from: start,
                to: end,
                group_by: query.group_by,
                currency: workspace.default_currency.clone(),
                as_of: Utc::now(),
                overdue: OpenFigures::default(),
                undated: OpenFigures::default(),
                months: Vec::new(),
                groups: Vec::new(),
            },
            keys,
            &labels,
            plan_of,
        ))
    })
    .await?;
    respond(&request, &report, csv)
}

impl ForecastAttainment {
    fn of(goal: Goal, won: &WonFigures, expected: &OpenFigures) -> Self {
        Self {
            reached: Attainment::of(goal, won.revenue, won.deals),
            projected_revenue_percent: goal
                .revenue
                .and_then(|target| percent_of_decimal(won.revenue + expected.weighted_amount, target)),
        }
    }
}

/// A group of a forecast: `None` for all groups, `Some(None)` for deals without an owner or team.
type Group = Option<Option<String>>;

/// The tallies of one forecast, by bucket or month and group, to be laid out per month and group.
struct Forecast {
    places: u32,
    month_starts: Vec<NaiveDate>,
    /// Open deals by bucket (a month's first day as `YYYY-MM-DD`, `overdue` or `undated`).
    open: HashMap<(String, Group), OpenFigures>,
    /// Sales by the first day of their month: last year's, and the current month's so far.
    sold: HashMap<(NaiveDate, Group), WonFigures>,
}

impl Forecast {
    fn new(
        places: u32,
        month_starts: Vec<NaiveDate>,
        open: Vec<OpenTally>,
        sold: Vec<SalesTally>,
        grouped: bool,
    ) -> Self {
        let group = |all_groups: bool, key: Option<String>| (grouped && !all_groups).then_some(key);
        let round = |value: Option<Decimal>| money::round(value.unwrap_or_default(), places);
        let open = open
            .into_iter()
            .map(|tally| {
                let figures = OpenFigures {
                    open_deals: tally.deals,
                    amount: round(tally.amount),
                    weighted_amount: round(tally.weighted_amount),
                    unconverted_deals: tally.unconverted_deals,
                };
                ((tally.bucket, group(tally.all_groups, tally.group_key)), figures)
            })
            .collect();
        let sold = sold
            .into_iter()
            .filter(|tally| tally.current && !tally.whole_range)
            .filter_map(|tally| {
                let last_year = WonFigures { deals: tally.deals, revenue: round(tally.revenue) };
                Some(((tally.period?, group(tally.all_groups, tally.group_key)), last_year))
            })
            .collect();
        Self { places, month_starts, open, sold }
    }

    fn open_figures(&self, bucket: &str, group: &Group) -> OpenFigures {
        self.open.get(&(bucket.to_string(), group.clone())).cloned().unwrap_or_else(|| {
            let zero = money::round(Decimal::ZERO, self.places);
            OpenFigures { amount: zero, weighted_amount: zero, ..OpenFigures::default() }
        })
    }

    fn won(&self, month: NaiveDate, group: &Group) -> WonFigures {
        self.sold
            .get(&(month, group.clone()))
            .cloned()
            .unwrap_or_else(|| WonFigures { deals: 0, revenue: money::round(Decimal::ZERO, self.places) })
    }

    fn months(&self, group: &Group, plan: Option<&Plan>) -> Vec<ForecastMonth> {
        self.month_starts
            .iter()
            .map(|&start| {
                let after = start.checked_add_months(Months::new(1)).unwrap_or(start);
                let a_year_before = start.checked_sub_months(Months::new(12)).unwrap_or(start);
                let expected = self.open_figures(&start.format("%Y-%m-%d").to_string(), group);
                let won = self.won(start, group);
                let plan = plan
                    .and_then(|plan| plan.goal(Interval::Month, start))
                    .map(|goal| ForecastAttainment::of(goal, &won, &expected));
                ForecastMonth {
                    start,
                    end: after.pred_opt().unwrap_or(after),
                    expected,
                    won,
                    last_year: self.won(a_year_before, group),
                    plan,
                }
            })
            .collect()
    }

    fn assemble<'a>(
        self,
        mut report: ForecastReport,
        keys: Vec<Option<String>>,
        labels: &GroupLabels,
        plan_of: impl Fn(&Group) -> Option<&'a Plan>,
    ) -> ForecastReport {
        report.overdue = self.open_figures("overdue", &None);
        report.undated = self.open_figures("undated", &None);
        report.months = self.months(&None, plan_of(&None));
        let mut groups: Vec<ForecastGroup> = keys
            .into_iter()
            .map(|key| {
                let group = Some(key.clone());
                ForecastGroup {
                    label: labels.of(&key),
                    overdue: self.open_figures("overdue", &group),
                    undated: self.open_figures("undated", &group),
                    months: self.months(&group, plan_of(&group)),
                    key,
                }
            })
            .collect();
        let weighted = |group: &ForecastGroup| {
            group.months.iter().map(|month| month.expected.weighted_amount).sum::<Decimal>()
        };
        groups.sort_by(|a, b| weighted(b).cmp(&weighted(a)).then_with(|| a.label.cmp(&b.label)));
        report.groups = groups;
        report
    }
}

/// One row per month (`level` `month`), the late and the undated (`overdue`, `undated`), then the
/// same per group (`group_month`, `group_overdue`, `group_undated`).
fn csv(report: &ForecastReport) -> Result<actix_web::web::Bytes, actix_web::Error> {
    let mut rows = vec![
        [
            "level",
            "group_key",
            "group_label",
            "month_start",
            "open_deals",
            "amount",
            "weighted_amount",
            "unconverted_deals",
            "last_year_deals",
            "last_year_revenue",
            "won_deals",
            "won_revenue",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let planned = report
        .months
        .iter()
        .chain(report.groups.iter().flat_map(|group| &group.months))
        .any(|month| month.plan.is_some());
    if planned {
        rows[0].extend(ATTAINMENT_COLUMNS.into_iter().chain(["projected_revenue_percent"]).map(String::from));
    }
    let mut add = |prefix: &str,
                   group: Option<&ForecastGroup>,
                   overdue: &OpenFigures,
                   undated: &OpenFigures,
                   months: &[ForecastMonth]| {
        let row = |level: &str, month: Option<&ForecastMonth>, figures: &OpenFigures| {
            let mut cells = vec![
                format!("{prefix}{level}"),
                group.and_then(|group| group.key.clone()).unwrap_or_default(),
                group.and_then(|group| group.label.clone()).unwrap_or_default(),
                month.map(|month| month.start.to_string()).unwrap_or_default(),
                figures.open_deals.to_string(),
                figures.amount.to_string(),
                figures.weighted_amount.to_string(),
                figures.unconverted_deals.to_string(),
                month.map(|month| month.last_year.deals.to_string()).unwrap_or_default(),
                month.map(|month| month.last_year.revenue.to_string()).unwrap_or_default(),
            ];
            cells.extend([
                month.map(|month| month.won.deals.to_string()).unwrap_or_default(),
                month.map(|month| month.won.revenue.to_string()).unwrap_or_default(),
            ]);
            if planned {
                let plan = month.and_then(|month| month.plan.as_ref());
                cells.extend(attainment_cells(plan.map(|plan| &plan.reached)));
                cells.push(
                    plan.and_then(|plan| plan.projected_revenue_percent)
                        .map(|percent| percent.to_string())
                        .unwrap_or_default(),
                );
            }
            cells
        };
        for month in months {
            rows.push(row("month", Some(month), &month.expected));
        }
        rows.push(row("overdue", None, overdue));
        rows.push(row("undated", None, undated));
    };
    add("", None, &report.overdue, &report.undated, &report.months);
    for group in &report.groups {
        add("group_", Some(group), &group.overdue, &group.undated, &group.months);
    }
    crate::api::segments::export::csv_rows(rows.into_iter())
}
