//! `GET /reports/seasonality`: revenue and deals by month of the year over the last whole years,
//! with each month's index against the average month, overall and per group.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{GroupLabels, distinct_keys, group_labels, report_currency, respond, today_in};
use crate::auth::{Principal, run_reading};
use crate::db::models::Workspace;
use crate::db::models::sales_line::{MonthTally, SalesFilter, SalesGrouping, month_tallies};
use crate::domain::report_period::DateRange;
use crate::domain::{FieldCode, Violation, money};
use crate::error::ApiError;
use crate::ids::PipelineId;
use crate::state::AppState;

pub const DEFAULT_YEARS: u32 = 3;
pub const MOST_YEARS: u32 = 10;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeasonalityQuery {
    /// How many whole calendar years before the current one: 1 to 10, 3 when omitted.
    #[param(minimum = 1, maximum = 10)]
    pub years: Option<u32>,
    /// Give each group's months as well.
    pub group_by: Option<SalesGrouping>,
    /// Only deals in this currency, in their own amounts (see `GET /reports/sales`).
    #[param(pattern = r"^[A-Z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    /// Only the lines of this product group.
    pub product_group: Option<String>,
}

/// One year's figures for a month.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct YearFigures {
    pub year: i32,
    pub deals: i64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1200.00")]
    pub revenue: Decimal,
}

/// A month of the year over all the years.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeasonMonth {
    /// 1 (January) to 12.
    pub month: u32,
    /// Deals won in this month, all years together.
    pub deals: i64,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "3600.00")]
    pub revenue: Decimal,
    /// Foreign-currency deals without an exchange rate: counted, not in the revenue.
    pub unconverted_deals: i64,
    /// The month's revenue against the average month's: 1.00 is an average month, 1.25 a quarter
    /// above it. Null when there was no revenue at all.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "1.25")]
    pub index: Option<Decimal>,
    /// The month in each year, oldest first.
    pub by_year: Vec<YearFigures>,
}

/// One group's months (`group_by`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeasonGroup {
    /// As in the sales report: an id, a product group, a source or a kind of client; null for deals without one.
    pub key: Option<String>,
    pub label: Option<String>,
    /// Its own index: against its own average month.
    pub months: Vec<SeasonMonth>,
}

/// Sales by month of the year.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "years": [2024, 2025], "group_by": null, "currency": "EUR", "converted": true, "as_of": "2026-04-01T08:00:00Z",
    "months": [{"month": 1, "deals": 3, "revenue": "1500.00", "unconverted_deals": 0, "index": "0.75",
                "by_year": [{"year": 2024, "deals": 1, "revenue": "500.00"}, {"year": 2025, "deals": 2, "revenue": "1000.00"}]}],
    "groups": []
}))]
pub struct SeasonalityReport {
    /// The whole years covered, oldest first.
    pub years: Vec<i32>,
    pub group_by: Option<SalesGrouping>,
    pub currency: String,
    pub converted: bool,
    pub as_of: DateTime<Utc>,
    /// January to December.
    pub months: Vec<SeasonMonth>,
    /// Each group with a sale, by revenue (largest first); empty without `group_by`.
    pub groups: Vec<SeasonGroup>,
}

/// Seasonality by month of the year.
///
/// Revenue and won deals of each month of the year over the last `years` whole calendar years (in the workspace's
/// time zone), each month with its index against the average month and its figure in each year; per group with
/// `group_by`. Sales are counted as in `GET /reports/sales`, within what the caller sees. CSV with `Accept: text/csv`.
#[utoipa::path(
    tag = "reports",
    operation_id = "seasonality_report",
    security(("bearer" = [])),
    params(SeasonalityQuery),
    responses(
        (status = 200, description = "The report",
            content((SeasonalityReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter out of range (named in `errors`): the years, an unknown currency",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/seasonality")]
pub async fn seasonality_report(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    query: web::Query<SeasonalityQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let years = query.years.unwrap_or(DEFAULT_YEARS);
    if !(1..=MOST_YEARS).contains(&years) {
        return Err(
            Violation::new("years", FieldCode::Range, format!("must be between 1 and {MOST_YEARS}")).into()
        );
    }
    let report = run_reading(principal.caller(), &state, move |conn, scope| {
        let workspace = Workspace::find(conn, scope.workspace())?;
        let (currency, converted, places) =
            report_currency(&workspace.default_currency, query.currency.as_deref())?;
        let this_year = today_in(&workspace).year();
        let first_year = this_year - years as i32;
        let day =
            |year: i32, month: u32, day: u32| NaiveDate::from_ymd_opt(year, month, day).unwrap_or_default();
        let range = DateRange::new(day(first_year, 1, 1), day(this_year - 1, 12, 31))?;
        let filter = SalesFilter {
            scope,
            currency: query.currency.clone(),
            pipeline_id: query.pipeline_id.map(|id| id.0),
            owner_id: None,
            team_id: None,
            product_group: query.product_group.clone(),
            clients: None,
        };
        let tallies = month_tallies(conn, &filter, range, query.group_by)?;
        let keys =
            distinct_keys(tallies.iter().filter(|tally| !tally.all_groups).map(|tally| &tally.group_key));
        let labels = group_labels(conn, workspace.id, query.group_by, &keys)?;
        let report = SeasonalityReport {
            years: (first_year..this_year).collect(),
            group_by: query.group_by,
            currency,
            converted,
            as_of: Utc::now(),
            months: Vec::new(),
            groups: Vec::new(),
        };
        Ok(assemble(report, places, keys, &tallies, &labels))
    })
    .await?;
    respond(&request, &report, csv)
}

/// `report` with its months and groups laid out from the tallies.
fn assemble(
    mut report: SeasonalityReport,
    places: u32,
    keys: Vec<Option<String>>,
    tallies: &[MonthTally],
    labels: &GroupLabels,
) -> SeasonalityReport {
    // Each group's tallies (`None`: all groups'), sorted out once.
    let mut by_group: HashMap<Option<&Option<String>>, Vec<&MonthTally>> = HashMap::new();
    for tally in tallies {
        by_group.entry((!tally.all_groups).then_some(&tally.group_key)).or_default().push(tally);
    }
    let months_of = |group: Option<&Option<String>>| -> Vec<SeasonMonth> {
        let mine = by_group.get(&group).map_or(&[][..], Vec::as_slice);
        let total: Decimal = mine.iter().filter_map(|tally| tally.revenue).sum();
        (1..=12)
            .map(|month| {
                let in_month: Vec<&&MonthTally> =
                    mine.iter().filter(|tally| tally.month == month as i32).collect();
                let revenue: Decimal = in_month.iter().filter_map(|tally| tally.revenue).sum();
                let by_year = report
                    .years
                    .iter()
                    .map(|&year| {
                        let tally = in_month.iter().find(|tally| tally.year == year);
                        YearFigures {
                            year,
                            deals: tally.map_or(0, |tally| tally.deals),
                            revenue: money::round(
                                tally.and_then(|tally| tally.revenue).unwrap_or_default(),
                                places,
                            ),
                        }
                    })
                    .collect();
                SeasonMonth {
                    month,
                    deals: in_month.iter().map(|tally| tally.deals).sum(),
                    revenue: money::round(revenue, places),
                    unconverted_deals: in_month.iter().map(|tally| tally.unconverted_deals).sum(),
                    index: (!total.is_zero()).then(|| money::round(revenue * Decimal::from(12) / total, 2)),
                    by_year,
                }
            })
            .collect()
    };
    let mut groups: Vec<SeasonGroup> = keys
        .into_iter()
        .map(|key| SeasonGroup { label: labels.of(&key), months: months_of(Some(&key)), key })
        .collect();
    let revenue = |group: &SeasonGroup| group.months.iter().map(|month| month.revenue).sum::<Decimal>();
    groups.sort_by(|a, b| revenue(b).cmp(&revenue(a)).then_with(|| a.label.cmp(&b.label)));
    report.months = months_of(None);
    report.groups = groups;
    report
}

/// One row per month of the year (`level` `month`), then per group (`group_month`), with each
/// year's deals and revenue in columns of their own.
fn csv(report: &SeasonalityReport) -> Result<actix_web::web::Bytes, actix_web::Error> {
    let mut header: Vec<String> =
        ["level", "group_key", "group_label", "month", "deals", "revenue", "unconverted_deals", "index"]
            .map(String::from)
            .to_vec();
    for year in &report.years {
        header.push(format!("deals_{year}"));
        header.push(format!("revenue_{year}"));
    }
    let mut rows = vec![header];
    let mut add = |level: &str, group: Option<&SeasonGroup>, months: &[SeasonMonth]| {
        for month in months {
            let mut cells = vec![
                level.to_string(),
                group.and_then(|group| group.key.clone()).unwrap_or_default(),
                group.and_then(|group| group.label.clone()).unwrap_or_default(),
                month.month.to_string(),
                month.deals.to_string(),
                month.revenue.to_string(),
                month.unconverted_deals.to_string(),
                month.index.map(|index| index.to_string()).unwrap_or_default(),
            ];
            for year in &month.by_year {
                cells.push(year.deals.to_string());
                cells.push(year.revenue.to_string());
            }
            rows.push(cells);
        }
    };
    add("month", None, &report.months);
    for group in &report.groups {
        add("group_month", Some(group), &group.months);
    }
    crate::api::segments::export::csv_rows(rows.into_iter())
}
