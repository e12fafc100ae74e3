//! The forecast report's query: open deals by the month they are expected to close.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Numeric, Text};
use rust_decimal::Decimal;

use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::visibility::ClientScope;

/// Which open deals a forecast covers.
#[derive(Debug, Clone)]
pub struct OpenDeals<'a> {
    pub scope: &'a ClientScope,
    /// The first day of the first month forecast; deals expected before it are overdue.
    pub start: NaiveDate,
    /// The last day of the last month forecast.
    pub end: NaiveDate,
    /// `owner_id` or `team_id`, to split by.
    pub group_column: Option<&'static str>,
    pub pipeline_id: Option<uuid::Uuid>,
}

/// The open deals of one month (`bucket` its first day as `YYYY-MM-DD`), or `overdue` (expected
/// before the first month), or `undated`; of one group or all of them.
#[derive(Debug, Clone, QueryableByName)]
pub struct OpenTally {
    #[diesel(sql_type = Text)]
    pub bucket: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub group_key: Option<String>,
    #[diesel(sql_type = Bool)]
    pub all_groups: bool,
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub amount: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub weighted_amount: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    pub unconverted_deals: i64,
}

pub fn open_tallies(conn: &mut PgConnection, query: &OpenDeals<'_>) -> QueryResult<Vec<OpenTally>> {
    let group_key = query.group_column.map_or("NULL::text".to_string(), |column| format!("d.{column}::text"));
    let mut sql = SqlFragment::fixed(&format!(
        "SELECT s.bucket, s.group_key, {} AS all_groups, count(*) AS deals, sum(s.amount_base) AS amount, \
         sum(s.amount_base * s.probability / 100) AS weighted_amount, \
         count(*) FILTER (WHERE s.amount_base IS NULL) AS unconverted_deals \
         FROM (SELECT CASE WHEN d.expected_close_date IS NULL THEN 'undated' WHEN d.expected_close_date < ",
        if query.group_column.is_some() { "GROUPING(s.group_key) = 1" } else { "true" },
    ));
    sql.push_bind(Bind::Date(query.start));
    sql.push_sql(&format!(
        " THEN 'overdue' ELSE to_char(date_trunc('month', d.expected_close_date::timestamp), 'YYYY-MM-DD') END AS bucket, \
         {group_key} AS group_key, d.amount_base, d.probability FROM deals AS d WHERE d.workspace_id = "
    ));
    sql.push_bind(Bind::Uuid(query.scope.workspace().0));
    sql.push_sql(" AND d.deleted_at IS NULL AND d.status = 'open' AND (d.expected_close_date IS NULL OR d.expected_close_date <= ");
    sql.push_bind(Bind::Date(query.end));
    sql.push_sql(")");
    if let Some(pipeline) = query.pipeline_id {
        sql.push_sql(" AND d.pipeline_id = ");
        sql.push_bind(Bind::Uuid(pipeline));
    }
    if let Some(seen) = query.scope.record_condition("d.owner_id", "d.client_id") {
        sql.push_sql(" AND ");
        sql.append(seen);
    }
    sql.push_sql(if query.group_column.is_some() {
        ") AS s GROUP BY GROUPING SETS ((s.bucket, s.group_key), (s.bucket))"
    } else {
        ") AS s GROUP BY s.bucket, s.group_key"
    });
    FragmentQuery(sql).load(conn)
}
