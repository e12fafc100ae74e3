//! The sales lines reports add up (`sales_lines`): one row per line of each live won deal, kept
//! by every write that can change one, and the sales report's query over them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Numeric, Text};
use rust_decimal::Decimal;

use super::report_cells::{self, Cells};
use super::{client_cell, sales_cell};
use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::schema::{deals, sales_lines};
use crate::db::sql_file::{SqlFile, SqlText};
use crate::db::visibility::ClientScope;
use crate::domain::enums::text_enum;
use crate::domain::report_period::{DateRange, Interval, Shift};
use crate::ids::{ClientId, WorkspaceId};

/// Writes the sales lines of each of `clients` (duplicates and `None` skipped) again from their
/// deals. Call it in the transaction of every write to a deal, its items, or a client's kind, for
/// the clients the deal belonged to before and after, with each client's row locked (as
/// `deal::recompute_derived` has it): two transactions rewriting one client's lines at once would
/// each insert the rows the other deleted.
pub fn recompute(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    clients: impl IntoIterator<Item = Option<ClientId>>,
) -> QueryResult<()> {
    static REFRESH: SqlText = SqlText::new(include_str!("../sql/refresh_sales_lines.sql"));
    let mut ids: Vec<uuid::Uuid> = clients.into_iter().flatten().map(|client| client.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    // The rows of the clients' deals as well as the rows under the clients' ids: a merge moves
    // deals to another client, and their old rows must go with them.
    let their_deals = deals::table
        .filter(deals::workspace_id.eq(workspace))
        .filter(deals::client_id.eq_any(ids.clone()))
        .select(deals::id);
    let before: Vec<SalesLine> = diesel::delete(
        sales_lines::table
            .filter(sales_lines::workspace_id.eq(workspace))
            .filter(sales_lines::client_id.eq_any(ids.clone()).or(sales_lines::deal_id.eq_any(their_deals))),
    )
    .returning(SalesLine::as_returning())
    .get_results(conn)?;
    SqlFile::new(&REFRESH).bind(Bind::Uuid(workspace.0)).bind(Bind::UuidList(ids.clone())).execute(conn)?;
    let after: Vec<SalesLine> = sales_lines::table
        .filter(sales_lines::workspace_id.eq(workspace))
        .filter(sales_lines::client_id.eq_any(ids))
        .select(SalesLine::as_select())
        .load(conn)?;
    // Most writes to deals change no sale (an open deal's): they leave the cells as they are.
    report_cells::mark_stale(conn, Cells::Sales, workspace, &changed_days(&before, &after))?;
    client_cell::mark_purchases_stale(conn, workspace, &before, &after)
}

/// A sales line as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = sales_lines, check_for_backend(diesel::pg::Pg))]
pub struct SalesLine {
    pub workspace_id: WorkspaceId,
    pub deal_id: uuid::Uuid,
    pub line: i32,
    pub won_on: NaiveDate,
    pub client_id: uuid::Uuid,
    pub client_kind: String,
    pub owner_id: Option<uuid::Uuid>,
    pub team_id: Option<uuid::Uuid>,
    pub pipeline_id: uuid::Uuid,
    pub source: Option<String>,
    pub product_id: Option<uuid::Uuid>,
    pub product_group: Option<String>,
    pub currency: String,
    pub amount: Decimal,
    pub amount_base: Option<Decimal>,
    pub deal_head: bool,
    pub first_purchase: bool,
}

/// The days whose lines differ between `before` and `after`: a sales cell adds up its day's lines.
fn changed_days(before: &[SalesLine], after: &[SalesLine]) -> Vec<NaiveDate> {
    fn by_day(lines: &[SalesLine]) -> BTreeMap<NaiveDate, Vec<&SalesLine>> {
        let mut days: BTreeMap<NaiveDate, Vec<&SalesLine>> = BTreeMap::new();
        for line in lines {
            days.entry(line.won_on).or_default().push(line);
        }
        for lines in days.values_mut() {
            lines.sort_by_key(|line| (line.deal_id, line.line));
        }
        days
    }
    let (before, after) = (by_day(before), by_day(after));
    before
        .keys()
        .chain(after.keys())
        .filter(|day| before.get(day) != after.get(day))
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Moves every sales line of the workspace to the day its deal was won in the workspace's time
/// zone, after the time zone changed, and marks the days of the sales and client cells it moves.
pub fn redate(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    sales_cell::mark_all_stale(conn, workspace)?;
    client_cell::mark_all_stale(conn, workspace)?;
    let moved = diesel::sql_query(
        "UPDATE sales_lines AS l SET won_on = (d.closed_at AT TIME ZONE w.timezone)::date \
         FROM deals AS d, workspaces AS w \
         WHERE l.workspace_id = $1 AND d.workspace_id = $1 AND d.id = l.deal_id AND w.id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .execute(conn)?;
    sales_cell::mark_all_stale(conn, workspace)?;
    client_cell::mark_all_stale(conn, workspace)?;
    Ok(moved)
}

text_enum!(
    /// What a sales report splits its figures by.
    SalesGrouping {
        Owner => "owner",
        Team => "team",
        ProductGroup => "product_group",
        Product => "product",
        Pipeline => "pipeline",
        Source => "source",
        ClientKind => "client_kind",
    }
);

impl SalesGrouping {
    fn column(self) -> &'static str {
        match self {
            SalesGrouping::Owner => "l.owner_id::text",
            SalesGrouping::Team => "l.team_id::text",
            SalesGrouping::ProductGroup => "l.product_group",
            SalesGrouping::Product => "l.product_id::text",
            SalesGrouping::Pipeline => "l.pipeline_id::text",
            SalesGrouping::Source => "l.source",
            SalesGrouping::ClientKind => "l.client_kind",
        }
    }
}

/// Which sales lines a report adds up, besides their days: the caller's and the request's filters.
#[derive(Debug, Clone)]
pub struct SalesFilter<'a> {
    pub scope: &'a ClientScope,
    /// Deals in this currency only, in their own amounts; all deals converted to the workspace
    /// currency when `None`.
    pub currency: Option<String>,
    pub pipeline_id: Option<uuid::Uuid>,
    pub owner_id: Option<uuid::Uuid>,
    pub team_id: Option<uuid::Uuid>,
    pub product_group: Option<String>,
    /// A condition on `clients`: the clients of a segment.
    pub clients: Option<SqlFragment>,
}

impl SalesFilter<'_> {
    /// The revenue column: the line's own amount for one currency, else the converted one.
    fn revenue(&self) -> &'static str {
        if self.currency.is_some() { "l.amount" } else { "l.amount_base" }
    }

    /// `… AS l WHERE l.workspace_id = …`: the sales lines the caller sees, named `l`.
    fn lines(&self) -> SqlFragment {
        let mut sql = self.scope.seen_rows("sales_lines", "l", "owner_id", "client_id");
        sql.push_sql(" WHERE l.workspace_id = ");
        sql.push_bind(Bind::Uuid(self.scope.workspace().0));
        sql
    }

    /// `AND …` for each filter, on `sales_lines AS l`.
    fn push_conditions(&self, sql: &mut SqlFragment) {
        let mut equal = |column: &str, value: Bind| {
            sql.push_sql(&format!(" AND {column} = "));
            sql.push_bind(value);
        };
        if let Some(currency) = &self.currency {
            equal("l.currency", Bind::Text(currency.clone()));
        }
        if let Some(pipeline) = self.pipeline_id {
            equal("l.pipeline_id", Bind::Uuid(pipeline));
        }
        if let Some(owner) = self.owner_id {
            equal("l.owner_id", Bind::Uuid(owner));
        }
        if let Some(team) = self.team_id {
            equal("l.team_id", Bind::Uuid(team));
        }
        if let Some(group) = &self.product_group {
            equal("l.product_group", Bind::Text(group.clone()));
        }
        if let Some(clients) = self.clients.clone() {
            sql.push_sql(" AND l.client_id IN (SELECT clients.id FROM clients WHERE clients.workspace_id = ");
            sql.push_bind(Bind::Uuid(self.scope.workspace().0));
            sql.push_sql(" AND ");
            sql.append(clients);
            sql.push_sql(")");
        }
    }
}

/// What a sales report covers.
#[derive(Debug, Clone)]
pub struct SalesQuery<'a> {
    pub filter: SalesFilter<'a>,
    pub range: DateRange,
    pub interval: Interval,
    pub group_by: Option<SalesGrouping>,
    /// The range compared with, and how far before the report's range it lies.
    pub compared: Option<(DateRange, Shift)>,
    /// Whether `unique_buyers` is wanted. From the sales cells it is the size of a union of sets,
    /// most of the work of a report over many groups; without it the tallies say 0 buyers there.
    pub unique_buyers: bool,
}

/// The figures of one period (or the whole range, `period` `None`) of one group (or all of them),
/// in the report's range (`current`) or the compared one.
#[derive(Debug, Clone, QueryableByName)]
pub struct SalesTally {
    #[diesel(sql_type = Bool)]
    pub current: bool,
    /// The first day of the period (cut to the range); for the compared range, the report's
    /// period it compares with.
    #[diesel(sql_type = Nullable<Date>)]
    pub period: Option<NaiveDate>,
    #[diesel(sql_type = Bool)]
    pub whole_range: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub group_key: Option<String>,
    #[diesel(sql_type = Bool)]
    pub all_groups: bool,
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub revenue: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    pub unique_buyers: i64,
    #[diesel(sql_type = BigInt)]
    pub first_time_buyers: i64,
    #[diesel(sql_type = BigInt)]
    pub unconverted_deals: i64,
}

/// The report's figures for every period and group, both ranges, from the sales lines the scope
/// sees. Periods and groups without a sale have no row.
///
/// From the sales cells where they can answer (`sales_cell`), else from the lines themselves.
pub fn sales_tallies(conn: &mut PgConnection, query: &SalesQuery<'_>) -> QueryResult<Vec<SalesTally>> {
    match sales_cell::sales_tallies(conn, query)? {
        Some(tallies) => Ok(tallies),
        None => scan_sales_tallies(conn, query),
    }
}

fn scan_sales_tallies(conn: &mut PgConnection, query: &SalesQuery<'_>) -> QueryResult<Vec<SalesTally>> {
    query.filter.scope.scan_serially_when_partial(conn)?;
    let from = query.range.from;
    let group_key = query.group_by.map_or("NULL::text", SalesGrouping::column);
    let revenue = query.filter.revenue();
    let mut sql = SqlFragment::fixed(
        "SELECT s.current, s.period, GROUPING(s.period) = 1 AS whole_range, s.group_key, \
         GROUPING(s.group_key) = 1 AS all_groups, count(DISTINCT s.deal_id) AS deals, sum(s.revenue) AS revenue, \
         count(DISTINCT s.client_id) AS unique_buyers, \
         count(DISTINCT s.client_id) FILTER (WHERE s.first_purchase) AS first_time_buyers, \
         count(DISTINCT s.deal_id) FILTER (WHERE s.revenue IS NULL) AS unconverted_deals \
         FROM (SELECT l.won_on >= ",
    );
    sql.push_bind(Bind::Date(from));
    sql.push_sql(&format!(" AS current, GREATEST(date_trunc('{}', (", query.interval.sql_unit()));
    // Days of the compared range move onto the report's periods by the shift between the ranges.
    match query.compared {
        Some((_, shift)) => {
            sql.push_sql("CASE WHEN l.won_on >= ");
            sql.push_bind(Bind::Date(from));
            sql.push_sql(&format!(" THEN l.won_on ELSE l.won_on + interval '{}' END", shift.sql_interval()));
        }
        None => {
            sql.push_sql("l.won_on");
        }
    }
    sql.push_sql(")::timestamp)::date, ");
    sql.push_bind(Bind::Date(from));
    sql.push_sql(&format!(
        ") AS period, {group_key} AS group_key, l.deal_id, l.client_id, l.first_purchase, {revenue} AS revenue \
         FROM "
    ));
    sql.append(query.filter.lines());
    sql.push_sql(" AND (l.won_on BETWEEN ");
    sql.push_bind(Bind::Date(from));
    sql.push_sql(" AND ");
    sql.push_bind(Bind::Date(query.range.to));
    if let Some((compared, _)) = query.compared {
        sql.push_sql(" OR l.won_on BETWEEN ");
        sql.push_bind(Bind::Date(compared.from));
        sql.push_sql(" AND ");
        sql.push_bind(Bind::Date(compared.to));
    }
    sql.push_sql(")");
    query.filter.push_conditions(&mut sql);
    sql.push_sql(if query.group_by.is_some() {
        ") AS s GROUP BY GROUPING SETS ((s.current, s.period, s.group_key), (s.current, s.group_key), \
         (s.current, s.period), (s.current))"
    } else {
        ") AS s GROUP BY GROUPING SETS ((s.current, s.period, s.group_key), (s.current, s.group_key))"
    });
    FragmentQuery(sql).load(conn)
}

/// The sales of one month of one year, of one group (or all of them).
#[derive(Debug, Clone, QueryableByName)]
pub struct MonthTally {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub year: i32,
    /// 1 to 12.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub month: i32,
    #[diesel(sql_type = Nullable<Text>)]
    pub group_key: Option<String>,
    #[diesel(sql_type = Bool)]
    pub all_groups: bool,
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub revenue: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    pub unconverted_deals: i64,
}

/// Sales by year and month within `range`, for all groups and, with `group_by`, for each group.
/// Months without a sale have no row.
pub fn month_tallies(
    conn: &mut PgConnection,
    filter: &SalesFilter<'_>,
    range: DateRange,
    group_by: Option<SalesGrouping>,
) -> QueryResult<Vec<MonthTally>> {
    let by_month = SalesQuery {
        filter: filter.clone(),
        range,
        interval: Interval::Month,
        group_by,
        compared: None,
        unique_buyers: false,
    };
    if let Some(tallies) = sales_cell::sales_tallies(conn, &by_month)? {
        let months = tallies.into_iter().filter_map(|tally| {
            let period = tally.period?;
            Some(MonthTally {
                year: period.year(),
                month: period.month() as i32,
                group_key: tally.group_key,
                all_groups: tally.all_groups || group_by.is_none(),
                deals: tally.deals,
                revenue: tally.revenue,
                unconverted_deals: tally.unconverted_deals,
            })
        });
        return Ok(months.collect());
    }
    filter.scope.scan_serially_when_partial(conn)?;
    let group_key = group_by.map_or("NULL::text", SalesGrouping::column);
    let mut sql = SqlFragment::fixed(&format!(
        "SELECT s.year, s.month, s.group_key, {} AS all_groups, count(DISTINCT s.deal_id) AS deals, \
         sum(s.revenue) AS revenue, count(DISTINCT s.deal_id) FILTER (WHERE s.revenue IS NULL) AS unconverted_deals \
         FROM (SELECT extract(year FROM l.won_on)::int AS year, extract(month FROM l.won_on)::int AS month, \
         {group_key} AS group_key, l.deal_id, {} AS revenue FROM ",
        if group_by.is_some() { "GROUPING(s.group_key) = 1" } else { "true" },
        filter.revenue(),
    ));
    sql.append(filter.lines());
    sql.push_sql(" AND l.won_on BETWEEN ");
    sql.push_bind(Bind::Date(range.from));
    sql.push_sql(" AND ");
    sql.push_bind(Bind::Date(range.to));
    filter.push_conditions(&mut sql);
    sql.push_sql(if group_by.is_some() {
        ") AS s GROUP BY GROUPING SETS ((s.year, s.month, s.group_key), (s.year, s.month))"
    } else {
        ") AS s GROUP BY s.year, s.month, s.group_key"
    });
    FragmentQuery(sql).load(conn)
}
