//! `/reports`: what the owner reads off the base rather than out of it. Each report answers JSON,
//! or CSV when the caller asks for `text/csv`; its money is exact decimal strings, its days are the
//! workspace's, and its figures count only what the caller sees. docs/reports.md defines every
//! figure.

pub mod activity;
pub mod clients;
pub mod forecast;
pub mod funnel;
pub mod plans;
pub mod sales;
pub mod seasonality;

use std::collections::{HashMap, HashSet};

use actix_web::http::header::{self, Header};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use crate::api::search::segment_condition;
use crate::db::fragment::SqlFragment;
use crate::db::models::Workspace;
use crate::db::models::forecast::Split;
use crate::db::models::sales_line::SalesGrouping;
use crate::db::models::segment::Segment;
use crate::db::schema::{pipelines, products, teams, users};
use crate::domain::agenda::local_date;
use crate::domain::enums::text_enum;
use crate::domain::report_period::DateRange;
use crate::domain::{FieldCode, Violation, money};
use crate::error::ApiError;
use crate::ids::{SegmentId, WorkspaceId};

/// `report` as JSON, or as the CSV `csv` writes when the caller asks for it.
pub fn respond<T: serde::Serialize>(
    request: &HttpRequest,
    report: &T,
    csv: impl FnOnce(&T) -> Result<actix_web::web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    if wants_csv(request) {
        let body = csv(report).map_err(|error| ApiError::Internal(error.to_string()))?;
        return Ok(HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(body));
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Whether the caller would rather have CSV than JSON: `text/csv` ranks above `application/json`
/// in its `Accept`.
fn wants_csv(request: &HttpRequest) -> bool {
    let Ok(accept) = header::Accept::parse(request) else { return false };
    accept
        .ranked()
        .into_iter()
        .find(|media| {
            (media.type_() == "text" && media.subtype() == "csv")
                || (media.type_() == "application" && media.subtype() == "json")
        })
        .is_some_and(|media| media.subtype() == "csv")
}

/// Today in the workspace's time zone: where a report's default range ends.
pub fn today_in(workspace: &Workspace) -> NaiveDate {
    let timezone = workspace.timezone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC);
    local_date(Utc::now(), timezone)
}

/// The days a report covers: `from` and `to` as asked, else from `default_from` of today to today;
/// a 422 naming the field out of range, or `to` before `from`.
pub fn report_range(
    workspace: &Workspace,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    default_from: impl FnOnce(NaiveDate) -> Option<NaiveDate>,
) -> Result<DateRange, ApiError> {
    let today = today_in(workspace);
    let from = report_day("from", from.unwrap_or(default_from(today).unwrap_or(today)))?;
    let to = report_day("to", to.unwrap_or(today))?;
    Ok(DateRange::new(from, to)?)
}

/// `part` as a percentage of `whole`, to one decimal (half to even); null when `whole` is zero.
pub fn percent_of(part: i64, whole: i64) -> Option<Decimal> {
    percent_of_decimal(Decimal::from(part), Decimal::from(whole))
}

/// [`percent_of`] for amounts.
pub fn percent_of_decimal(part: Decimal, whole: Decimal) -> Option<Decimal> {
    (!whole.is_zero()).then(|| money::round(part * Decimal::ONE_HUNDRED / whole, 1))
}

/// The earliest and latest days a report may name: PostgreSQL's dates reach further, but no sale
/// of a living company does.
const FIRST_DAY: (i32, u32, u32) = (1900, 1, 1);
const LAST_DAY: (i32, u32, u32) = (9999, 12, 31);

/// `date` if within the years a report may name, else a 422 naming `field`.
pub fn report_day(field: &str, date: NaiveDate) -> Result<NaiveDate, Violation> {
    let day = |(year, month, day): (i32, u32, u32)| NaiveDate::from_ymd_opt(year, month, day);
    if day(FIRST_DAY).is_some_and(|first| date < first) || day(LAST_DAY).is_some_and(|last| date > last) {
        return Err(Violation::new(field, FieldCode::Range, "must be between 1900-01-01 and 9999-12-31"));
    }
    Ok(date)
}

/// The condition on `clients` of being in segment `id` now; a 422 naming `segment_id` when the
/// workspace has no such segment.
pub fn segment_clients(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    id: SegmentId,
) -> Result<SqlFragment, ApiError> {
    let segment = Segment::find(conn, workspace, id).optional()?.ok_or_else(|| {
        ApiError::invalid_field("segment_id", FieldCode::NotFound, "no such segment in this workspace")
    })?;
    segment_condition(conn, &segment)
}

/// The currency a report's money is in, whether it is converted, and its minor units: the
/// workspace's, or the one the request names (a 422 naming `currency` if it isn't ISO 4217).
pub fn report_currency(default: &str, asked: Option<&str>) -> Result<(String, bool, u32), Violation> {
    match asked {
        Some(code) => Ok((code.to_string(), false, money::check_currency("currency", code)?)),
        None => Ok((default.to_string(), true, money::places(default))),
    }
}

/// The distinct group keys among `keys`, in the order first met.
pub fn distinct_keys<'a>(keys: impl IntoIterator<Item = &'a Option<String>>) -> Vec<Option<String>> {
    let mut seen = HashSet::new();
    keys.into_iter().filter(|key| seen.insert(*key)).cloned().collect()
}

/// The labels of a report's groups: the names of the users, teams, products or pipelines they
/// are, by id; other groups (a product group, a source, a kind of client) are their own labels.
pub struct GroupLabels(HashMap<String, String>);

impl GroupLabels {
    /// The label of the group `key`; none for the group of records without one.
    pub fn of(&self, key: &Option<String>) -> Option<String> {
        key.as_ref().map(|key| self.0.get(key).cloned().unwrap_or_else(|| key.clone()))
    }
}

/// The labels of the groups `keys` of `grouping` (none without a grouping).
pub fn group_labels(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    grouping: Option<SalesGrouping>,
    keys: &[Option<String>],
) -> QueryResult<GroupLabels> {
    names_by_id(conn, workspace, grouping, keys).map(GroupLabels)
}

fn names_by_id(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    grouping: Option<SalesGrouping>,
    keys: &[Option<String>],
) -> QueryResult<HashMap<String, String>> {
    let Some(grouping) = grouping else { return Ok(HashMap::new()) };
    let keys: Vec<String> = keys.iter().flatten().cloned().collect();
    // The `name` column of the records of `table` whose ids are the keys.
    macro_rules! names_in {
        ($table:ident, $name:ident) => {
            names_of(conn, &keys, |conn, ids| {
                $table::table
                    .filter($table::workspace_id.eq(workspace))
                    .filter($table::id.eq_any(ids))
                    .select(($table::id, $table::$name))
                    .load::<(uuid::Uuid, String)>(conn)
            })
        };
    }
    match grouping {
        SalesGrouping::Owner => names_in!(users, full_name),
        SalesGrouping::Team => names_in!(teams, name),
        SalesGrouping::Product => names_in!(products, name),
        SalesGrouping::Pipeline => names_in!(pipelines, name),
        SalesGrouping::ProductGroup | SalesGrouping::Source | SalesGrouping::ClientKind => Ok(HashMap::new()),
    }
}

/// The names of the records whose ids are `keys` (users, teams, products or pipelines), by id.
fn names_of<T>(
    conn: &mut PgConnection,
    keys: &[String],
    load: impl FnOnce(&mut PgConnection, Vec<uuid::Uuid>) -> QueryResult<Vec<(T, String)>>,
) -> QueryResult<HashMap<String, String>>
where
    T: std::fmt::Display,
{
    let ids: Vec<uuid::Uuid> = keys.iter().filter_map(|key| key.parse().ok()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(load(conn, ids)?.into_iter().map(|(id, name)| (id.to_string(), name)).collect())
}

text_enum!(
    /// Whose figures a report splits: each owner's (or assignee's), or each team's.
    PersonGrouping { Owner => "owner", Team => "team" }
);

impl PersonGrouping {
    pub fn as_split(self) -> Split {
        match self {
            PersonGrouping::Owner => Split::Owner,
            PersonGrouping::Team => Split::Team,
        }
    }

    pub fn as_sales(self) -> SalesGrouping {
        match self {
            PersonGrouping::Owner => SalesGrouping::Owner,
            PersonGrouping::Team => SalesGrouping::Team,
        }
    }
}
