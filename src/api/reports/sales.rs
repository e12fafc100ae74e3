//! `GET /reports/sales`: won deals, revenue, the average deal and buyers by period and by owner,
//! team, product group, product, pipeline, source or kind of client, beside a comparison range.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::plans::{ATTAINMENT_COLUMNS, Attainment, Plans, attainment_cells, group_subject};
use super::{
    GroupLabels, distinct_keys, group_labels, report_currency, report_day, respond, segment_clients, today_in,
};
use crate::auth::{Principal, run_reading};
use crate::db::models::Workspace;
use crate::db::models::sales_line::{SalesFilter, SalesGrouping, SalesQuery, SalesTally, sales_tallies};
use crate::db::models::target::Subject;
use crate::domain::plan::Plan;
use crate::domain::report_period::{Comparison, DateRange, Interval, Period};
use crate::domain::{FieldCode, Violation, money};
use crate::error::ApiError;
use crate::ids::{PipelineId, SegmentId, TeamId, UserId};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SalesReportQuery {
    /// The first day, in the workspace's time zone; January 1 of the current year when omitted.
    pub from: Option<NaiveDate>,
    /// The last day, included; today when omitted.
    pub to: Option<NaiveDate>,
    /// How to split the range into periods; `month` when omitted. At most 1,100 periods.
    pub interval: Option<Interval>,
    /// Split every figure by this as well.
    pub group_by: Option<SalesGrouping>,
    /// Give every figure beside the same figure for this earlier range, with the change.
    pub compare: Option<Comparison>,
    /// Report only deals in this currency, in their own amounts; without it every deal counts, its
    /// amount converted to the workspace currency at the deal's exchange rate.
    #[param(pattern = r"^[A-Z]{3}$", example = "EUR")]
    pub currency: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    /// Deals this user owns.
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    /// Deals assigned to this team.
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// Only the lines of this product group (deals count when they have a line in it).
    pub product_group: Option<String>,
    /// Only deals of the clients in this segment, as it is now.
    #[param(value_type = Option<String>, format = Uuid)]
    pub segment_id: Option<SegmentId>,
}

/// One set of sales figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SalesFigures {
    /// Deals won.
    pub deals: i64,
    /// Their revenue: the line items' totals (the amount for a deal without items).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1234.50")]
    pub revenue: Decimal,
    /// Revenue divided by the deals it counts (those with a known amount); null without any.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "411.50")]
    pub average_deal: Option<Decimal>,
    /// Clients who won deals with us.
    pub unique_buyers: i64,
    /// Those of them whose first won deal ever this is.
    pub first_time_buyers: i64,
    /// Deals in a foreign currency without an exchange rate: counted, but not in the revenue.
    pub unconverted_deals: i64,
}

/// How figures moved from the comparison range: the difference, and the difference as a percentage
/// of the earlier figure (null when that is zero).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SalesChange {
    pub deals: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "12.5")]
    pub deals_percent: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "-150.00")]
    pub revenue: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "-3.2")]
    pub revenue_percent: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "20.00")]
    pub average_deal: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "4.1")]
    pub average_deal_percent: Option<Decimal>,
    pub unique_buyers: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "0.0")]
    pub unique_buyers_percent: Option<Decimal>,
    pub first_time_buyers: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "100.0")]
    pub first_time_buyers_percent: Option<Decimal>,
}

/// The figures of a whole range, with the comparison when asked for.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesTotal {
    pub figures: SalesFigures,
    /// The same figures for the comparison range; null without `compare`.
    pub comparison: Option<SalesFigures>,
    pub change: Option<SalesChange>,
    /// The range's figures beside the targets of its periods together; null where no target applies
    /// (docs/reports.md).
    pub plan: Option<Attainment>,
}

/// The figures of one period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesPeriod {
    /// The period's first day (the range's first day for a partial first period).
    pub start: NaiveDate,
    /// Its last day, included.
    pub end: NaiveDate,
    pub figures: SalesFigures,
    /// The same figures for the period it is compared with; null without `compare`.
    pub comparison: Option<SalesFigures>,
    pub change: Option<SalesChange>,
    /// The period's figures beside its target: the target of its whole month, quarter or year (a
    /// quarter's months', a year's quarters' when it has none), also when the range cuts it; null
    /// for days and weeks, and where no target applies.
    pub plan: Option<Attainment>,
}

/// The figures of one owner, team, product group, … (`group_by`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SalesGroup {
    /// The owner's, team's, product's or pipeline's id, the product group, the source or the kind
    /// of client; null for deals without one (no owner, no product group, …).
    pub key: Option<String>,
    /// The user's, team's, product's or pipeline's name, else the key.
    pub label: Option<String>,
    pub total: SalesTotal,
    /// Every period of the range, including those without a sale.
    pub periods: Vec<SalesPeriod>,
}

/// The range compared with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComparedRange {
    pub compare: Comparison,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Sales in a range of days, by period and group.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-01-01", "to": "2026-03-31", "interval": "quarter", "group_by": null,
    "currency": "EUR", "converted": true,
    "compared": {"compare": "previous_year", "from": "2025-01-01", "to": "2025-03-31"},
    "as_of": "2026-04-01T08:00:00Z",
    "total": {
        "figures": {"deals": 3, "revenue": "1500.00", "average_deal": "500.00", "unique_buyers": 2,
                    "first_time_buyers": 1, "unconverted_deals": 0},
        "comparison": {"deals": 2, "revenue": "1200.00", "average_deal": "600.00", "unique_buyers": 2,
                       "first_time_buyers": 2, "unconverted_deals": 0},
        "change": {"deals": 1, "deals_percent": "50.0", "revenue": "300.00", "revenue_percent": "25.0",
                   "average_deal": "-100.00", "average_deal_percent": "-16.7", "unique_buyers": 0,
                   "unique_buyers_percent": "0.0", "first_time_buyers": -1, "first_time_buyers_percent": "-50.0"},
        "plan": {"revenue_target": "2000.00", "revenue_percent": "75.0", "deals_target": null, "deals_percent": null}
    },
    "periods": [{
        "start": "2026-01-01", "end": "2026-03-31",
        "figures": {"deals": 3, "revenue": "1500.00", "average_deal": "500.00", "unique_buyers": 2,
                    "first_time_buyers": 1, "unconverted_deals": 0},
        "comparison": {"deals": 2, "revenue": "1200.00", "average_deal": "600.00", "unique_buyers": 2,
                       "first_time_buyers": 2, "unconverted_deals": 0},
        "change": {"deals": 1, "deals_percent": "50.0", "revenue": "300.00", "revenue_percent": "25.0",
                   "average_deal": "-100.00", "average_deal_percent": "-16.7", "unique_buyers": 0,
                   "unique_buyers_percent": "0.0", "first_time_buyers": -1, "first_time_buyers_percent": "-50.0"},
        "plan": {"revenue_target": "2000.00", "revenue_percent": "75.0", "deals_target": null, "deals_percent": null}
    }],
    "groups": []
}))]
pub struct SalesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub interval: Interval,
    pub group_by: Option<SalesGrouping>,
    /// The currency of every amount: the workspace's, or the one `currency` asked for.
    pub currency: String,
    /// Whether amounts were converted to the workspace currency (false with `currency`).
    pub converted: bool,
    /// Null without `compare`.
    pub compared: Option<ComparedRange>,
    /// When the figures were read: every deal written before counts.
    pub as_of: DateTime<Utc>,
    /// The whole range, all groups.
    pub total: SalesTotal,
    /// Each period of the range, all groups; including periods without a sale.
    pub periods: Vec<SalesPeriod>,
    /// Each group with a sale in either range, by revenue (largest first); empty without `group_by`.
    pub groups: Vec<SalesGroup>,
}

/// Sales by period and group.
///
/// Won deals, their revenue, the average deal, unique and first-time buyers over the days `from` to `to` in the
/// workspace's time zone, per period of `interval`, split by `group_by`, and beside an earlier range with
/// `compare`. A deal counts on the day it was won; while it stays won and not deleted. Revenue comes from line
/// items, so a deal with items in two product groups counts in each with its items' share. Figures cover the
/// deals the caller sees: a sales rep's own, a manager's team's. CSV with `Accept: text/csv`: one row per
/// period and group. docs/reports.md defines each figure.
#[utoipa::path(
    tag = "reports",
    operation_id = "sales_report",
    security(("bearer" = [])),
    params(SalesReportQuery),
    responses(
        (status = 200, description = "The report",
            content((SalesReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter out of range (named in `errors`): `to` before `from`, too many periods, an unknown currency or segment",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/sales")]
pub async fn sales_report(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    query: web::Query<SalesReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let report = run_reading(principal.caller(), &state, move |conn, scope| {
        let workspace = Workspace::find(conn, scope.workspace())?;
        let calendar = ReportCalendar::of(&workspace, &query)?;
        let clients = query.segment_id.map(|id| segment_clients(conn, workspace.id, id)).transpose()?;
        let sales_query = SalesQuery {
            filter: SalesFilter {
                scope,
                currency: query.currency.clone(),
                pipeline_id: query.pipeline_id.map(|id| id.0),
                owner_id: query.owner_id.map(|id| id.0),
                team_id: query.team_id.map(|id| id.0),
                product_group: query.product_group.clone(),
                clients,
            },
            range: calendar.range,
            interval: calendar.interval,
            group_by: query.group_by,
            compared: calendar.compared.map(|(range, shift, _)| (range, shift)),
            unique_buyers: true,
        };
        let tallies = sales_tallies(conn, &sales_query)?;
        let keys = match query.group_by {
            Some(_) => {
                distinct_keys(tallies.iter().filter(|tally| !tally.all_groups).map(|tally| &tally.group_key))
            }
            None => Vec::new(),
        };
        let labels = group_labels(conn, workspace.id, query.group_by, &keys)?;
        let subjects = PlanSubjects::of(&query);
        let plans = Plans::load(
            conn,
            scope,
            subjects.total.into_iter().chain(keys.iter().filter_map(|key| subjects.of_group(key))),
            calendar.range.from,
            calendar.range.to,
        )?;
        Ok(calendar.assemble(query.group_by, keys, tallies, &labels, |group| match group {
            None => plans.of(subjects.total),
            Some(key) => plans.of(subjects.of_group(key)),
        }))
    })
    .await?;
    respond(&request, &report, csv)
}

/// Whose targets the report's figures are set beside: the total's (the workspace's, or the owner's
/// or team's it is filtered by) and each group's (a user's or team's). None when a filter narrows
/// the figures to part of what any target is for.
struct PlanSubjects {
    total: Option<Subject>,
    groups: Option<SalesGrouping>,
}

impl PlanSubjects {
    fn of(query: &SalesReportQuery) -> Self {
        let narrowed = query.currency.is_some()
            || query.pipeline_id.is_some()
            || query.product_group.is_some()
            || query.segment_id.is_some();
        if narrowed {
            return Self { total: None, groups: None };
        }
        let total = match (query.owner_id, query.team_id) {
            (None, None) => Some(Subject::Workspace),
            (Some(owner), None) => Some(Subject::User(owner)),
            (None, Some(team)) => Some(Subject::Team(team)),
            (Some(_), Some(_)) => None,
        };
        let groups = match query.group_by {
            Some(SalesGrouping::Owner) => Some(SalesGrouping::Owner),
            // A user's deals split by team are parts of the user's.
            Some(SalesGrouping::Team) if query.owner_id.is_none() => Some(SalesGrouping::Team),
            _ => None,
        };
        Self { total, groups }
    }

    fn of_group(&self, key: &Option<String>) -> Option<Subject> {
        group_subject(self.groups?, key)
    }
}

/// Whose figures: the report's range (`true`) or the compared one; a period's first day, or `None`
/// for the whole range; a group, or `None` for all groups (`Some(None)` is the deals without one).
type TallyKey = (bool, Option<NaiveDate>, Option<Option<String>>);

/// The calendar and currency of one report, from the request and the workspace.
struct ReportCalendar {
    range: DateRange,
    interval: Interval,
    periods: Vec<Period>,
    compared: Option<(DateRange, crate::domain::report_period::Shift, Comparison)>,
    currency: String,
    converted: bool,
    places: u32,
}

impl ReportCalendar {
    fn of(workspace: &Workspace, query: &SalesReportQuery) -> Result<Self, ApiError> {
        let today = today_in(workspace);
        let mut violations = Vec::new();
        let mut day = |field: &str, given: Option<NaiveDate>, default: NaiveDate| {
            report_day(field, given.unwrap_or(default)).map_err(|found| violations.push(found)).ok()
        };
        let from = day("from", query.from, today.with_ordinal(1).unwrap_or(today));
        let to = day("to", query.to, today);
        let currency = report_currency(&workspace.default_currency, query.currency.as_deref())
            .map_err(|found| violations.push(found))
            .ok();
        let (Some(from), Some(to), Some((currency, converted, places))) = (from, to, currency) else {
            return Err(violations.into());
        };
        let range = DateRange::new(from, to)?;
        let interval = query.interval.unwrap_or(Interval::Month);
        let periods = range.periods(interval)?;
        let compared = match query.compare {
            Some(comparison) => {
                let (compared, shift) = range
                    .compared(interval, comparison)
                    .filter(|(compared, _)| report_day("compare", compared.from).is_ok())
                    .ok_or_else(|| {
                        Violation::new("compare", FieldCode::Range, "reaches before 1900-01-01")
                    })?;
                Some((compared, shift, comparison))
            }
            None => None,
        };
        Ok(Self { range, interval, periods, compared, currency, converted, places })
    }

    /// The report from the tallies: every period of every group, zeros where nothing sold.
    fn assemble<'a>(
        self,
        group_by: Option<SalesGrouping>,
        keys: Vec<Option<String>>,
        tallies: Vec<SalesTally>,
        labels: &GroupLabels,
        plan_of: impl Fn(&Option<Option<String>>) -> Option<&'a Plan>,
    ) -> SalesReport {
        let places = self.places;
        let compare = self.compared.is_some();
        let mut figures: HashMap<TallyKey, SalesFigures> = HashMap::new();
        for tally in tallies {
            let group =
                if group_by.is_none() || tally.all_groups { None } else { Some(tally.group_key.clone()) };
            let period = if tally.whole_range { None } else { tally.period };
            figures.insert((tally.current, period, group), figures_of(&tally, places));
        }
        let nothing =
            SalesFigures { revenue: money::round(Decimal::ZERO, places), ..SalesFigures::default() };
        let line = |period: Option<NaiveDate>, group: &Option<Option<String>>| {
            let tally = |current: bool| {
                figures.get(&(current, period, group.clone())).cloned().unwrap_or_else(|| nothing.clone())
            };
            let now = tally(true);
            let before = compare.then(|| tally(false));
            let change = before.as_ref().map(|before| change(&now, before));
            (now, before, change)
        };
        let periods_of = |group: &Option<Option<String>>| -> Vec<SalesPeriod> {
            self.periods
                .iter()
                .map(|period| {
                    let (figures, comparison, change) = line(Some(period.start), group);
                    let goal = plan_of(group).and_then(|plan| plan.goal(self.interval, period.start));
                    let plan = goal.map(|goal| Attainment::of(goal, figures.revenue, figures.deals));
                    SalesPeriod { start: period.start, end: period.end, figures, comparison, change, plan }
                })
                .collect()
        };
        let total_of = |group: &Option<Option<String>>| {
            let (figures, comparison, change) = line(None, group);
            let goal = plan_of(group).and_then(|plan| {
                plan.goal_over(self.interval, self.periods.iter().map(|period| period.start))
            });
            let plan = goal.map(|goal| Attainment::of(goal, figures.revenue, figures.deals));
            SalesTotal { figures, comparison, change, plan }
        };
        let mut groups: Vec<SalesGroup> = keys
            .into_iter()
            .map(|key| {
                let group = Some(key.clone());
                SalesGroup {
                    label: labels.of(&key),
                    key,
                    total: total_of(&group),
                    periods: periods_of(&group),
                }
            })
            .collect();
        groups.sort_by(|a, b| {
            b.total.figures.revenue.cmp(&a.total.figures.revenue).then_with(|| a.label.cmp(&b.label))
        });
        SalesReport {
            from: self.range.from,
            to: self.range.to,
            interval: self.interval,
            group_by,
            currency: self.currency.clone(),
            converted: self.converted,
            compared: self.compared.map(|(range, _, compare)| ComparedRange {
                compare,
                from: range.from,
                to: range.to,
            }),
            as_of: Utc::now(),
            total: total_of(&None),
            periods: periods_of(&None),
            groups,
        }
    }
}

fn figures_of(tally: &SalesTally, places: u32) -> SalesFigures {
    let revenue = money::round(tally.revenue.unwrap_or_default(), places);
    let priced = tally.deals - tally.unconverted_deals;
    SalesFigures {
        deals: tally.deals,
        revenue,
        average_deal: (priced > 0).then(|| money::round(revenue / Decimal::from(priced), places)),
        unique_buyers: tally.unique_buyers,
        first_time_buyers: tally.first_time_buyers,
        unconverted_deals: tally.unconverted_deals,
    }
}

/// `now - before` as a percentage of `before`, to one decimal; null when `before` is zero.
fn percent(now: Decimal, before: Decimal) -> Option<Decimal> {
    if before.is_zero() {
        return None;
    }
    Some(money::round((now - before) * Decimal::ONE_HUNDRED / before, 1))
}

fn change(now: &SalesFigures, before: &SalesFigures) -> SalesChange {
    let count = |now: i64, before: i64| (now - before, percent(Decimal::from(now), Decimal::from(before)));
    let (deals, deals_percent) = count(now.deals, before.deals);
    let (unique_buyers, unique_buyers_percent) = count(now.unique_buyers, before.unique_buyers);
    let (first_time_buyers, first_time_buyers_percent) =
        count(now.first_time_buyers, before.first_time_buyers);
    let average = now.average_deal.zip(before.average_deal);
    SalesChange {
        deals,
        deals_percent,
        revenue: now.revenue - before.revenue,
        revenue_percent: percent(now.revenue, before.revenue),
        average_deal: average.map(|(now, before)| now - before),
        average_deal_percent: average.and_then(|(now, before)| percent(now, before)),
        unique_buyers,
        unique_buyers_percent,
        first_time_buyers,
        first_time_buyers_percent,
    }
}

/// The report as CSV: a row for each period (`level` `period`) and one for the whole range
/// (`total`), then the same for each group (`group_period`, `group_total`); comparison and change
/// columns with `compare`.
fn csv(report: &SalesReport) -> Result<actix_web::web::Bytes, actix_web::Error> {
    let figures =
        ["deals", "revenue", "average_deal", "unique_buyers", "first_time_buyers", "unconverted_deals"];
    let changes = ["deals", "revenue", "average_deal", "unique_buyers", "first_time_buyers"];
    let mut header: Vec<String> =
        ["level", "group_key", "group_label", "period_start", "period_end"].map(String::from).to_vec();
    header.extend(figures.iter().map(|name| name.to_string()));
    if report.compared.is_some() {
        header.extend(figures.iter().map(|name| format!("comparison_{name}")));
        for name in changes {
            header.push(format!("{name}_change"));
            header.push(format!("{name}_change_percent"));
        }
    }
    let planned = report.total.plan.is_some()
        || report.periods.iter().any(|period| period.plan.is_some())
        || report.groups.iter().any(|group| {
            group.total.plan.is_some() || group.periods.iter().any(|period| period.plan.is_some())
        });
    if planned {
        header.extend(ATTAINMENT_COLUMNS.map(String::from));
    }
    let text = |value: Option<Decimal>| value.map(|value| value.to_string()).unwrap_or_default();
    let figure_cells = |figures: &SalesFigures| {
        vec![
            figures.deals.to_string(),
            figures.revenue.to_string(),
            text(figures.average_deal),
            figures.unique_buyers.to_string(),
            figures.first_time_buyers.to_string(),
            figures.unconverted_deals.to_string(),
        ]
    };
    let row = |level: &str,
               group: Option<&SalesGroup>,
               span: Option<(NaiveDate, NaiveDate)>,
               now: &SalesFigures,
               before: &Option<SalesFigures>,
               change: &Option<SalesChange>,
               plan: &Option<Attainment>| {
        let mut cells = vec![
            level.to_string(),
            group.and_then(|group| group.key.clone()).unwrap_or_default(),
            group.and_then(|group| group.label.clone()).unwrap_or_default(),
            span.map(|(start, _)| start.to_string()).unwrap_or_default(),
            span.map(|(_, end)| end.to_string()).unwrap_or_default(),
        ];
        cells.extend(figure_cells(now));
        if let (Some(before), Some(change)) = (before, change) {
            cells.extend(figure_cells(before));
            cells.extend([
                change.deals.to_string(),
                text(change.deals_percent),
                change.revenue.to_string(),
                text(change.revenue_percent),
                text(change.average_deal),
                text(change.average_deal_percent),
                change.unique_buyers.to_string(),
                text(change.unique_buyers_percent),
                change.first_time_buyers.to_string(),
                text(change.first_time_buyers_percent),
            ]);
        }
        if planned {
            cells.extend(attainment_cells(plan.as_ref()));
        }
        cells
    };
    let whole = Some((report.from, report.to));
    let mut rows = vec![header];
    let mut add = |group: Option<&SalesGroup>, periods: &[SalesPeriod], total: &SalesTotal| {
        let (period_level, total_level) =
            if group.is_some() { ("group_period", "group_total") } else { ("period", "total") };
        for period in periods {
            let span = Some((period.start, period.end));
            rows.push(row(
                period_level,
                group,
                span,
                &period.figures,
                &period.comparison,
                &period.change,
                &period.plan,
            ));
        }
        rows.push(row(
            total_level,
            group,
            whole,
            &total.figures,
            &total.comparison,
            &total.change,
            &total.plan,
        ));
    };
    add(None, &report.periods, &report.total);
    for group in &report.groups {
        add(Some(group), &group.periods, &group.total);
    }
    crate::api::segments::export::csv_rows(rows.into_iter())
}
