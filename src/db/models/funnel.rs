//! The funnel report's queries: how far the deals created in a range got through their pipeline,
//! how long they stayed in each stage, and why the lost ones were lost. The deals are a cohort: those
//! created in the range, followed to now.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Integer, Nullable, Numeric, Text, Uuid as SqlUuid};
use rust_decimal::Decimal;

use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::visibility::ClientScope;
use crate::domain::report_period::DateRange;

/// Which deals the funnel follows.
#[derive(Debug, Clone)]
pub struct Cohort<'a> {
    pub scope: &'a ClientScope,
    pub pipeline_id: uuid::Uuid,
    /// Days of creation, in the workspace's time zone `timezone`.
    pub created: DateRange,
    pub timezone: String,
    pub owner_id: Option<uuid::Uuid>,
    pub team_id: Option<uuid::Uuid>,
}

impl Cohort<'_> {
    /// `WITH cohort AS (…)`: the live deals of the pipeline created in the range that the scope sees.
    fn with_cohort(&self) -> SqlFragment {
        let mut sql =
            SqlFragment::fixed("WITH cohort AS (SELECT d.id, d.status, d.lost_reason, d.amount_base FROM ");
        sql.append(self.scope.seen_rows("deals", "d", "owner_id", "client_id"));
        sql.push_sql(" WHERE d.workspace_id = ");
        sql.push_bind(Bind::Uuid(self.scope.workspace().0));
        sql.push_sql(" AND d.pipeline_id = ");
        sql.push_bind(Bind::Uuid(self.pipeline_id));
        sql.push_sql(" AND d.deleted_at IS NULL");
        sql.push_within_days("d.created_at", self.created.from, self.created.to, &self.timezone);
        if let Some(owner) = self.owner_id {
            sql.push_sql(" AND d.owner_id = ");
            sql.push_bind(Bind::Uuid(owner));
        }
        if let Some(team) = self.team_id {
            sql.push_sql(" AND d.team_id = ");
            sql.push_bind(Bind::Uuid(team));
        }
        sql.sql(") ")
    }
}

/// What the funnel report adds up: from the funnel cells where they can answer (`funnel_cell`), or
/// from the deals themselves ([`FunnelTallies::scanned`]).
#[derive(Debug, Clone)]
pub struct FunnelTallies {
    pub reach: Vec<Reach>,
    pub stays: Vec<Stays>,
    pub statuses: Vec<StatusCount>,
    pub lost_reasons: Vec<LostReason>,
}

impl FunnelTallies {
    pub fn scanned(conn: &mut PgConnection, cohort: &Cohort<'_>) -> QueryResult<FunnelTallies> {
        cohort.scope.scan_serially_when_partial(conn)?;
        Ok(FunnelTallies {
            reach: reach(conn, cohort)?,
            stays: stays(conn, cohort)?,
            statuses: statuses(conn, cohort)?,
            lost_reasons: lost_reasons(conn, cohort)?,
        })
    }
}

/// How many cohort deals got as far as the open stage at `furthest` (its position; `None` when they
/// never were in an open stage of the pipeline), and whether they were ever won.
#[derive(Debug, Clone, QueryableByName)]
pub struct Reach {
    #[diesel(sql_type = Nullable<Integer>)]
    pub furthest: Option<i32>,
    #[diesel(sql_type = Bool)]
    pub ever_won: bool,
    #[diesel(sql_type = Bool)]
    pub ever_lost: bool,
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
}

fn reach(conn: &mut PgConnection, cohort: &Cohort<'_>) -> QueryResult<Vec<Reach>> {
    let mut sql = cohort.with_cohort();
    sql.push_sql(
        "SELECT furthest, ever_won, ever_lost, count(*) AS deals FROM (\
         SELECT c.deal_id, max(st.position) FILTER (WHERE st.kind = 'open') AS furthest, \
         COALESCE(bool_or(st.kind = 'won'), false) AS ever_won, COALESCE(bool_or(st.kind = 'lost'), false) AS ever_lost \
         FROM deal_stage_changes AS c JOIN cohort ON cohort.id = c.deal_id \
         LEFT JOIN stages AS st ON st.workspace_id = c.workspace_id AND st.id = c.to_stage_id AND st.pipeline_id = ",
    );
    sql.push_bind(Bind::Uuid(cohort.pipeline_id));
    sql.push_sql(" WHERE c.workspace_id = ");
    sql.push_bind(Bind::Uuid(cohort.scope.workspace().0));
    sql.push_sql(" GROUP BY c.deal_id) AS per_deal GROUP BY furthest, ever_won, ever_lost");
    FragmentQuery(sql).load(conn)
}

/// The stays in one stage of the cohort's deals: how many entered it, and of the stays that ended
/// (the deal moved on) how many, their seconds, and their median length, each stay counted in
/// tenths of a day (rounded half away from zero).
#[derive(Debug, Clone, PartialEq, QueryableByName)]
pub struct Stays {
    #[diesel(sql_type = SqlUuid)]
    pub stage_id: uuid::Uuid,
    #[diesel(sql_type = BigInt)]
    pub entered: i64,
    #[diesel(sql_type = BigInt)]
    pub ended: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub seconds: Option<Decimal>,
    #[diesel(sql_type = Nullable<Double>)]
    pub median_tenths: Option<f64>,
}

impl Stays {
    /// The average length of the stays that ended, in days.
    pub fn average_days(&self) -> Option<Decimal> {
        let seconds = self.seconds?;
        (self.ended > 0).then(|| seconds / Decimal::from(self.ended) / Decimal::from(SECONDS_PER_DAY))
    }

    /// Their median length, in days.
    pub fn median_days(&self) -> Option<Decimal> {
        use rust_decimal::prelude::FromPrimitive;
        Decimal::from_f64(self.median_tenths?).map(|tenths| tenths / Decimal::TEN)
    }
}

const SECONDS_PER_DAY: i64 = 86_400;

fn stays(conn: &mut PgConnection, cohort: &Cohort<'_>) -> QueryResult<Vec<Stays>> {
    let mut sql = cohort.with_cohort();
    sql.push_sql(
        ", stays AS (SELECT c.deal_id, c.to_stage_id, \
         extract(epoch FROM lead(c.changed_at) OVER (PARTITION BY c.deal_id ORDER BY c.changed_at, c.id) - c.changed_at) \
         AS seconds FROM deal_stage_changes AS c JOIN cohort ON cohort.id = c.deal_id WHERE c.workspace_id = ",
    );
    sql.push_bind(Bind::Uuid(cohort.scope.workspace().0));
    sql.push_sql(
        ") SELECT to_stage_id AS stage_id, count(DISTINCT deal_id) AS entered, count(seconds) AS ended, \
         sum(seconds) AS seconds, \
         (percentile_cont(0.5) WITHIN GROUP (ORDER BY round(seconds / 8640)))::float8 AS median_tenths \
         FROM stays GROUP BY to_stage_id",
    );
    FragmentQuery(sql).load(conn)
}

/// The cohort's deals now: how many are open, won or lost.
#[derive(Debug, Clone, QueryableByName)]
pub struct StatusCount {
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
}

fn statuses(conn: &mut PgConnection, cohort: &Cohort<'_>) -> QueryResult<Vec<StatusCount>> {
    let mut sql = cohort.with_cohort();
    sql.push_sql("SELECT status, count(*) AS deals FROM cohort GROUP BY status");
    FragmentQuery(sql).load(conn)
}

/// One reason the cohort's lost deals give: how many, and their amount in the workspace currency
/// (deals without one left out of it).
#[derive(Debug, Clone, QueryableByName)]
pub struct LostReason {
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = BigInt)]
    pub deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    pub amount: Option<Decimal>,
}

fn lost_reasons(conn: &mut PgConnection, cohort: &Cohort<'_>) -> QueryResult<Vec<LostReason>> {
    let mut sql = cohort.with_cohort();
    sql.push_sql(
        "SELECT COALESCE(lost_reason, '') AS reason, count(*) AS deals, sum(amount_base) AS amount \
         FROM cohort WHERE status = 'lost' GROUP BY 1 ORDER BY count(*) DESC, 1",
    );
    FragmentQuery(sql).load(conn)
}
