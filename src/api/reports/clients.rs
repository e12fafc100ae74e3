//! `GET /reports/clients`: the base of clients period by period: how many came, bought for the
//! first time, bought again, fell asleep, came back or were lost; what the base has bought to date;
//! and an estimate of what a client is worth over their life with us.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{percent_of, report_range, respond, segment_clients, today_in};
use crate::auth::{Principal, run_reading};
use crate::db::models::client_dynamics::{
    DynamicsQuery, DynamicsTally, LifetimeBasis, dynamics_tallies, lifetime_basis,
};
use crate::db::models::{Workspace, client_cell};
use crate::domain::report_period::{DateRange, Interval, Period};
use crate::domain::segments::{DORMANT_DAYS, LOST_DAYS};
use crate::domain::{FieldCode, Violation, money};
use crate::error::ApiError;
use crate::ids::{SegmentId, UserId};
use crate::state::AppState;

/// The longest threshold a request may set: ten years.
pub const MOST_DAYS: i64 = 3650;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientsReportQuery {
    /// The first day, in the workspace's time zone; January 1 of the current year when omitted.
    pub from: Option<NaiveDate>,
    /// The last day, included; today when omitted.
    pub to: Option<NaiveDate>,
    /// How to split the range into periods; `month` when omitted. At most 1,100 periods.
    pub interval: Option<Interval>,
    /// Days without a purchase after which a buyer is dormant: 1 to 3,650, 90 when omitted.
    #[param(minimum = 1, maximum = 3650)]
    pub dormant_days: Option<i64>,
    /// Days without a purchase after which a buyer is lost: more than `dormant_days`, at most 3,650,
    /// 365 when omitted.
    #[param(minimum = 2, maximum = 3650)]
    pub lost_days: Option<i64>,
    /// Only the clients this user owns.
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    /// Only the clients in this segment, as it is now.
    #[param(value_type = Option<String>, format = Uuid)]
    pub segment_id: Option<SegmentId>,
}

/// What happened to the base in a period (or the whole range), and where it stood at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ClientFigures {
    /// Clients created.
    pub new_clients: i64,
    /// Clients who bought.
    pub buyers: i64,
    /// Clients whose first purchase ever this was.
    pub first_purchases: i64,
    /// Clients who bought again: a purchase that was not their first.
    pub repeat_buyers: i64,
    /// Clients who bought after more than `dormant_days` without a purchase.
    pub reactivated: i64,
    /// Buyers whose `dormant_days` without a purchase ran out in the period.
    pub became_dormant: i64,
    /// Buyers whose `lost_days` without a purchase ran out in the period.
    pub became_lost: i64,
    /// Deals won.
    pub deals: i64,
    /// Their revenue in the workspace currency (deals without an exchange rate aside).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "12500.00")]
    pub revenue: Decimal,
    /// Deals in a foreign currency without an exchange rate: counted, not in the revenue.
    pub unconverted_deals: i64,
    /// The clients of the base at the end: those created by then.
    pub clients_at_end: i64,
    /// Those of them who had bought by then.
    pub customers_at_end: i64,
    /// Everything the base had bought by then: the base's value.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "480000.00")]
    pub revenue_to_date: Decimal,
}

/// One period of the report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientPeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub figures: ClientFigures,
}

/// An estimate of a client's worth over their life with us, from the year ending on the report's
/// last day: average order × purchases per year × expected lifetime in years, where the lifetime
/// is one over the share of the year before's buyers who didn't buy again (docs/reports.md).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LifetimeValue {
    /// The first day of the year the estimate is from.
    pub basis_from: NaiveDate,
    /// Its last day: the report's.
    pub basis_to: NaiveDate,
    /// Revenue over the deals won in the year (those with an amount in the workspace currency).
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "850.00")]
    pub average_order: Option<Decimal>,
    /// Deals won in the year per client who bought in it, to two decimals.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "2.40")]
    pub purchases_per_year: Option<Decimal>,
    /// The share of the year before's buyers who bought nothing in the year, in percent.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "35.0")]
    pub annual_churn_percent: Option<Decimal>,
    /// One over the churn, to two decimals; null when no buyer of the year before was lost (or
    /// there were none), which gives no basis for a lifetime.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "2.86")]
    pub expected_lifetime_years: Option<Decimal>,
    /// Average order × purchases per year × expected lifetime, in the workspace currency.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "5828.57")]
    pub estimate: Option<Decimal>,
}

/// The base's dynamics.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-01-01", "to": "2026-01-31", "interval": "month", "currency": "EUR",
    "dormant_days": 90, "lost_days": 365, "as_of": "2026-02-01T08:00:00Z",
    "total": {"new_clients": 40, "buyers": 25, "first_purchases": 8, "repeat_buyers": 17, "reactivated": 3,
              "became_dormant": 6, "became_lost": 2, "deals": 31, "revenue": "26350.00", "unconverted_deals": 0,
              "clients_at_end": 1240, "customers_at_end": 610, "revenue_to_date": "480000.00"},
    "periods": [{"start": "2026-01-01", "end": "2026-01-31",
                 "figures": {"new_clients": 40, "buyers": 25, "first_purchases": 8, "repeat_buyers": 17, "reactivated": 3,
                             "became_dormant": 6, "became_lost": 2, "deals": 31, "revenue": "26350.00", "unconverted_deals": 0,
                             "clients_at_end": 1240, "customers_at_end": 610, "revenue_to_date": "480000.00"}}],
    "lifetime_value": {"basis_from": "2025-02-01", "basis_to": "2026-01-31", "average_order": "850.00",
                       "purchases_per_year": "2.40", "annual_churn_percent": "35.0", "expected_lifetime_years": "2.86",
                       "estimate": "5828.57"}
}))]
pub struct ClientsReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub interval: Interval,
    /// The workspace's: every amount is converted.
    pub currency: String,
    pub dormant_days: i64,
    pub lost_days: i64,
    pub as_of: DateTime<Utc>,
    /// The whole range: each client counted once per figure; the base at the range's end.
    pub total: ClientFigures,
    pub periods: Vec<ClientPeriod>,
    pub lifetime_value: LifetimeValue,
}

/// The base of clients by period.
///
/// For the live clients the caller sees (optionally one owner's, or one segment's): per period of `interval`,
/// clients created, buyers, first purchases, repeat buyers, clients who came back after `dormant_days` without a
/// purchase, buyers who became dormant or lost (`lost_days`), deals and revenue; the base's size, its customers
/// and everything it bought by the end of each period; and an estimated lifetime value. CSV with
/// `Accept: text/csv`. docs/reports.md defines each figure.
#[utoipa::path(
    tag = "reports",
    operation_id = "clients_report",
    security(("bearer" = [])),
    params(ClientsReportQuery),
    responses(
        (status = 200, description = "The report",
            content((ClientsReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter out of range (named in `errors`): `to` before `from`, too many periods, thresholds out of order, an unknown segment",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/clients")]
pub async fn clients_report(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    query: web::Query<ClientsReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let (dormant_days, lost_days) = thresholds(&query)?;
    let report = run_reading(principal.caller(), &state, move |conn, scope| {
        let workspace = Workspace::find(conn, scope.workspace())?;
        let today = today_in(&workspace);
        let range = report_range(&workspace, query.from, query.to, |today| today.with_ordinal(1))?;
        let DateRange { from, to } = range;
        let interval = query.interval.unwrap_or(Interval::Month);
        let periods = range.periods(interval)?;
        let clients = query.segment_id.map(|id| segment_clients(conn, workspace.id, id)).transpose()?;
        let dynamics = DynamicsQuery {
            scope,
            timezone: workspace.timezone.clone(),
            range,
            interval,
            today,
            dormant_days,
            lost_days,
            owner_id: query.owner_id.map(|id| id.0),
            clients,
        };
        let (tallies, basis) = match client_cell::report(conn, &dynamics)? {
            Some(from_cells) => from_cells,
            None => (dynamics_tallies(conn, &dynamics)?, lifetime_basis(conn, &dynamics)?),
        };
        let places = money::places(&workspace.default_currency);
        let (total, periods) = lay_out(&tallies, &periods, places);
        Ok(ClientsReport {
            from,
            to,
            interval,
            currency: workspace.default_currency.clone(),
            dormant_days: i64::from(dormant_days),
            lost_days: i64::from(lost_days),
            as_of: Utc::now(),
            total,
            periods,
            lifetime_value: lifetime_value(&basis, to, places),
        })
    })
    .await?;
    respond(&request, &report, csv)
}

/// The dormancy and loss thresholds asked for, in range and in order.
fn thresholds(query: &ClientsReportQuery) -> Result<(i32, i32), ApiError> {
    let dormant = query.dormant_days.unwrap_or(DORMANT_DAYS);
    let lost = query.lost_days.unwrap_or(LOST_DAYS.max(dormant + 1));
    let mut violations = Vec::new();
    if !(1..=MOST_DAYS).contains(&dormant) {
        violations.push(Violation::new("dormant_days", FieldCode::Range, "must be between 1 and 3650"));
    } else if !(dormant + 1..=MOST_DAYS).contains(&lost) {
        violations.push(Violation::new(
            "lost_days",
            FieldCode::Range,
            "must be more than dormant_days and at most 3650",
        ));
    }
    match (i32::try_from(dormant), i32::try_from(lost)) {
        (Ok(dormant), Ok(lost)) if violations.is_empty() => Ok((dormant, lost)),
        _ => Err(violations.into()),
    }
}

/// Which tally: before the range (`true`), or in it; a period's first day, or `None` for the
/// whole range (and before it).
type TallyKey<'a> = (&'a str, bool, Option<NaiveDate>);

/// The whole range's figures and each period's, from the tallies.
fn lay_out(tallies: &[DynamicsTally], periods: &[Period], places: u32) -> (ClientFigures, Vec<ClientPeriod>) {
    let by_key: HashMap<TallyKey<'_>, &DynamicsTally> = tallies
        .iter()
        .filter(|tally| tally.whole_range || !tally.before)
        .map(|tally| ((tally.kind.as_str(), tally.before, tally.period), tally))
        .collect();
    let clients = |kind: &str, before: bool, period: Option<NaiveDate>| {
        by_key.get(&(kind, before, period)).map_or(0, |tally| tally.clients)
    };
    let buying = |before: bool, period: Option<NaiveDate>| by_key.get(&("buyer", before, period)).copied();
    let revenue_of =
        |tally: Option<&DynamicsTally>| tally.and_then(|tally| tally.revenue).unwrap_or_default();
    let figures = |period: Option<NaiveDate>| {
        let bought = buying(false, period);
        ClientFigures {
            new_clients: clients("new", false, period),
            buyers: clients("buyer", false, period),
            first_purchases: clients("first", false, period),
            repeat_buyers: clients("repeat", false, period),
            reactivated: clients("reactivated", false, period),
            became_dormant: clients("dormant", false, period),
            became_lost: clients("lost", false, period),
            deals: bought.map_or(0, |tally| tally.deals),
            revenue: money::round(revenue_of(bought), places),
            unconverted_deals: bought.map_or(0, |tally| tally.unconverted_deals),
            ..ClientFigures::default()
        }
    };
    // The base at the end of each period: what came before the range, and each period since.
    let mut clients_at_end = clients("new", true, None);
    let mut customers_at_end = clients("first", true, None);
    let mut revenue_to_date = revenue_of(buying(true, None));
    let periods: Vec<ClientPeriod> = periods
        .iter()
        .map(|period| {
            let mut figures = figures(Some(period.start));
            clients_at_end += figures.new_clients;
            customers_at_end += figures.first_purchases;
            revenue_to_date += figures.revenue;
            figures.clients_at_end = clients_at_end;
            figures.customers_at_end = customers_at_end;
            figures.revenue_to_date = money::round(revenue_to_date, places);
            ClientPeriod { start: period.start, end: period.end, figures }
        })
        .collect();
    let mut total = figures(None);
    total.clients_at_end = clients_at_end;
    total.customers_at_end = customers_at_end;
    total.revenue_to_date = money::round(revenue_to_date, places);
    (total, periods)
}

/// The estimate from `basis`, the year ending on `to`.
fn lifetime_value(basis: &LifetimeBasis, to: NaiveDate, places: u32) -> LifetimeValue {
    let revenue = basis.revenue.unwrap_or_default();
    let average_order = (basis.priced_deals > 0).then(|| revenue / Decimal::from(basis.priced_deals));
    let purchases_per_year =
        (basis.buyers > 0).then(|| Decimal::from(basis.deals) / Decimal::from(basis.buyers));
    let churned = basis.earlier_buyers - basis.retained_buyers;
    let lifetime_years = (churned > 0).then(|| Decimal::from(basis.earlier_buyers) / Decimal::from(churned));
    let estimate = match (average_order, purchases_per_year, lifetime_years) {
        (Some(order), Some(per_year), Some(years)) => Some(money::round(order * per_year * years, places)),
        _ => None,
    };
    LifetimeValue {
        basis_from: to.checked_sub_days(Days::new(364)).unwrap_or(to),
        basis_to: to,
        average_order: average_order.map(|order| money::round(order, places)),
        purchases_per_year: purchases_per_year.map(|per_year| money::round(per_year, 2)),
        annual_churn_percent: percent_of(churned, basis.earlier_buyers),
        expected_lifetime_years: lifetime_years.map(|years| money::round(years, 2)),
        estimate,
    }
}

/// One row per period (`level` `period`) and one for the whole range (`total`).
fn csv(report: &ClientsReport) -> Result<actix_web::web::Bytes, actix_web::Error> {
    let header = [
        "level",
        "period_start",
        "period_end",
        "new_clients",
        "buyers",
        "first_purchases",
        "repeat_buyers",
        "reactivated",
        "became_dormant",
        "became_lost",
        "deals",
        "revenue",
        "unconverted_deals",
        "clients_at_end",
        "customers_at_end",
        "revenue_to_date",
    ];
    let row = |level: &str, start: NaiveDate, end: NaiveDate, figures: &ClientFigures| {
        vec![
            level.to_string(),
            start.to_string(),
            end.to_string(),
            figures.new_clients.to_string(),
            figures.buyers.to_string(),
            figures.first_purchases.to_string(),
            figures.repeat_buyers.to_string(),
            figures.reactivated.to_string(),
            figures.became_dormant.to_string(),
            figures.became_lost.to_string(),
            figures.deals.to_string(),
            figures.revenue.to_string(),
            figures.unconverted_deals.to_string(),
            figures.clients_at_end.to_string(),
            figures.customers_at_end.to_string(),
            figures.revenue_to_date.to_string(),
        ]
    };
    let rows = std::iter::once(header.map(String::from).to_vec())
        .chain(report.periods.iter().map(|period| row("period", period.start, period.end, &period.figures)))
        .chain(std::iter::once(row("total", report.from, report.to, &report.total)));
    crate::api::segments::export::csv_rows(rows)
}
