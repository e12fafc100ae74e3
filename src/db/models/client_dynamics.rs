//! The queries of the clients report: how the base of clients the caller sees grew, bought,
//! slept and came back, period by period (`sql/client_dynamics.sql`), and the purchases a
//! lifetime value is estimated from (`sql/client_lifetime.sql`).

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Date, Nullable, Numeric, Text};
use rust_decimal::Decimal;

use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::visibility::ClientScope;
use crate::domain::report_period::{DateRange, Interval};

/// Which clients and days a clients report covers.
pub struct DynamicsQuery<'a> {
    pub scope: &'a ClientScope,
    /// The workspace's time zone, in which a client's creation falls on a day.
    pub timezone: String,
    pub range: DateRange,
    pub interval: Interval,
    /// Nothing happens after today: a client doesn't become dormant in the future.
    pub today: NaiveDate,
    pub dormant_days: i32,
    pub lost_days: i32,
    /// Only the clients this user owns.
    pub owner_id: Option<uuid::Uuid>,
    /// A condition on `clients`: the clients of a segment.
    pub clients: Option<SqlFragment>,
}

/// The clients (and their deals and revenue) of one kind of event in one period, in the whole
/// range (`whole_range`), or before the range (`before`).
#[derive(Debug, Clone, QueryableByName)]
pub struct DynamicsTally {
    /// `new`, `buyer`, `first`, `repeat`, `reactivated`, `dormant` or `lost`.
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Bool)]
    pub before: bool,
    #[diesel(sql_type = Nullable<Date>)]
    pub period: Option<NaiveDate>,
    #[diesel(sql_type = Bool)]
    pub whole_range: bool,
    #[diesel(sql_type = BigInt)]
    pub clients: i64,
    /// Only `buyer` events carry deals and revenue.
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
    #[diesel(sql_type = BigInt)]
    pub unconverted_deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub revenue: Option<Decimal>,
}

/// The purchases of the year ending on the range's last day, and the year before it.
#[derive(Debug, Clone, QueryableByName)]
pub struct LifetimeBasis {
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
    /// Deals with an amount in the workspace currency (an exchange rate where needed).
    #[diesel(sql_type = BigInt)]
    pub priced_deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub revenue: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    pub buyers: i64,
    /// Clients who bought in the year before.
    #[diesel(sql_type = BigInt)]
    pub earlier_buyers: i64,
    /// Those of them who bought again in the last year.
    #[diesel(sql_type = BigInt)]
    pub retained_buyers: i64,
}

impl DynamicsQuery<'_> {
    /// `WITH params AS (…), seen AS (…),`: the request's values, and the live clients it covers.
    fn prefix(&self) -> SqlFragment {
        let mut sql = SqlFragment::fixed("WITH params AS (SELECT ");
        sql.push_bind(Bind::Uuid(self.scope.workspace().0));
        sql.push_sql("::uuid AS workspace_id, ");
        sql.push_bind(Bind::Date(self.range.from));
        sql.push_sql("::date AS from_day, ");
        sql.push_bind(Bind::Date(self.range.to));
        sql.push_sql("::date AS to_day, ");
        sql.push_bind(Bind::Date(self.today));
        sql.push_sql("::date AS today, ");
        sql.push_bind(Bind::BigInt(i64::from(self.dormant_days)));
        sql.push_sql("::int AS dormant_days, ");
        sql.push_bind(Bind::BigInt(i64::from(self.lost_days)));
        sql.push_sql("::int AS lost_days, ");
        sql.push_bind(Bind::Text(self.interval.sql_unit().to_string()));
        sql.push_sql("::text AS unit), seen AS (SELECT clients.id, (clients.created_at AT TIME ZONE ");
        sql.push_bind(Bind::Text(self.timezone.clone()));
        sql.push_sql(")::date AS created_on FROM clients WHERE clients.workspace_id = ");
        sql.push_bind(Bind::Uuid(self.scope.workspace().0));
        sql.push_sql(" AND clients.deleted_at IS NULL");
        if let Some(owner) = self.owner_id {
            sql.push_sql(" AND clients.owner_id = ");
            sql.push_bind(Bind::Uuid(owner));
        }
        if let Some(seen) = self.scope.client_condition("clients") {
            sql.push_sql(" AND ");
            sql.append(seen);
        }
        if let Some(clients) = self.clients.clone() {
            sql.push_sql(" AND ");
            sql.append(clients);
        }
        sql.push_sql("),\n");
        sql
    }
}

/// Every kind of event of the clients covered, per period, over the whole range, and before it.
pub fn dynamics_tallies(
    conn: &mut PgConnection,
    query: &DynamicsQuery<'_>,
) -> QueryResult<Vec<DynamicsTally>> {
    query.scope.scan_serially_when_partial(conn)?;
    let mut sql = query.prefix();
    sql.push_sql(include_str!("../sql/client_dynamics.sql"));
    FragmentQuery(sql).load(conn)
}

/// What the lifetime value of the clients covered is estimated from.
pub fn lifetime_basis(conn: &mut PgConnection, query: &DynamicsQuery<'_>) -> QueryResult<LifetimeBasis> {
    query.scope.scan_serially_when_partial(conn)?;
    let mut sql = query.prefix();
    sql.push_sql(include_str!("../sql/client_lifetime.sql"));
    FragmentQuery(sql).get_result(conn)
}
