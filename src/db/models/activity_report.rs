//! The activity report's queries: what the team did in a range of days, what fell due and how much
//! of it was late, how many clients were touched, and how soon new deals got their first touch.

use std::collections::BTreeMap;
use std::str::FromStr;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};

use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::visibility::ClientScope;
use crate::domain::enums::{ActivityKind, ContactReason, Direction};
use crate::domain::report_period::DateRange;

/// Whose activities a report covers and how it splits them.
#[derive(Debug, Clone)]
pub struct ActivityScope<'a> {
    pub scope: &'a ClientScope,
    /// Days in the workspace's time zone `timezone`.
    pub range: DateRange,
    pub timezone: String,
    /// Split by the assignee (`true`: their team) or not at all (`None`).
    pub by_team: Option<bool>,
}

impl ActivityScope<'_> {
    /// ` AND column …`: within the range's days.
    fn within(&self, sql: &mut SqlFragment, column: &str) {
        sql.push_within_days(column, self.range.from, self.range.to, &self.timezone);
    }

    /// The group of an activity (`a`) or a deal (`d`): its assignee or owner, or their team.
    fn group_key(&self, alias: &str, person: &str) -> String {
        match self.by_team {
            None => "NULL::text".to_string(),
            Some(false) => format!("{alias}.{person}::text"),
            Some(true) if alias == "d" => "d.team_id::text".to_string(),
            Some(true) => format!(
                "(SELECT u.team_id::text FROM users AS u WHERE u.workspace_id = {alias}.workspace_id AND u.id = {alias}.{person})"
            ),
        }
    }

    /// `FROM activities AS a WHERE …` the live activities the scope sees.
    fn activities(&self) -> SqlFragment {
        let mut sql = SqlFragment::fixed(" FROM ");
        sql.append(self.scope.seen_rows("activities", "a", "assignee_id", "client_id"));
        sql.push_sql(" WHERE a.workspace_id = ");
        sql.push_bind(Bind::Uuid(self.scope.workspace().0));
        sql.push_sql(" AND a.deleted_at IS NULL");
        sql
    }

    fn grouping_sets(&self) -> &'static str {
        if self.by_team.is_some() {
            " GROUP BY GROUPING SETS ((group_key), ())"
        } else {
            " GROUP BY group_key"
        }
    }

    fn all_groups(&self) -> &'static str {
        if self.by_team.is_some() { "GROUPING(group_key) = 1" } else { "true" }
    }
}

/// What the activity report adds up, per group and for all: from the activity cells where they can
/// answer (`activity_cell::tallies`), else scanned from the activities ([`ActivityTallies::scanned`]).
#[derive(Debug, Clone, Default)]
pub struct ActivityTallies {
    /// Per group (all under `None` when not grouped): the total is their sum.
    pub done: BTreeMap<Option<String>, DoneCounts>,
    pub touches: Vec<PaceTally>,
    pub due: Vec<PaceTally>,
    pub first_touch: Vec<PaceTally>,
}

impl ActivityTallies {
    /// Every tally read from the activities and deals the scope sees.
    pub fn scanned(conn: &mut PgConnection, report: &ActivityScope<'_>) -> QueryResult<ActivityTallies> {
        report.scope.scan_serially_when_partial(conn)?;
        Ok(ActivityTallies {
            done: done(conn, report)?,
            touches: touches(conn, report)?,
            due: due(conn, report)?,
            first_touch: first_touch(conn, report)?,
        })
    }
}

/// Activities done: how many, and how many of each kind, direction and reason, in the order of
/// [`ActivityKind::ALL`], [`Direction::ALL`] and [`ContactReason::ALL`] (those without a direction
/// or a reason are the rest of `done`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoneCounts {
    pub done: i64,
    pub by_kind: [i64; ActivityKind::ALL.len()],
    pub by_direction: [i64; Direction::ALL.len()],
    pub by_reason: [i64; ContactReason::ALL.len()],
}

impl DoneCounts {
    /// Counts `done` activities of `kind`, `direction` and `reason`.
    pub fn count(&mut self, kind: &str, direction: Option<&str>, reason: Option<&str>, done: i64) {
        self.done += done;
        count_at(&mut self.by_kind, ActivityKind::ALL, Some(kind), done);
        count_at(&mut self.by_direction, Direction::ALL, direction, done);
        count_at(&mut self.by_reason, ContactReason::ALL, reason, done);
    }

    pub fn add(&mut self, other: &DoneCounts) {
        self.done += other.done;
        add_up(&mut self.by_kind, &other.by_kind);
        add_up(&mut self.by_direction, &other.by_direction);
        add_up(&mut self.by_reason, &other.by_reason);
    }
}

/// Adds `done` to the count of `value` among `all` (none for a value the API doesn't know).
fn count_at<E: FromStr + PartialEq>(counts: &mut [i64], all: &[E], value: Option<&str>, done: i64) {
    let at = value
        .and_then(|value| value.parse::<E>().ok())
        .and_then(|value| all.iter().position(|of| *of == value));
    if let Some(count) = at.and_then(|at| counts.get_mut(at)) {
        *count += done;
    }
}

fn add_up(counts: &mut [i64], other: &[i64]) {
    for (count, more) in counts.iter_mut().zip(other) {
        *count += more;
    }
}

/// Done activities of one kind, direction and reason, of one group.
#[derive(Debug, Clone, QueryableByName)]
struct DoneTally {
    #[diesel(sql_type = Nullable<Text>)]
    group_key: Option<String>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    direction: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    done: i64,
}

/// Activities done (completed) in the range, by group.
fn done(
    conn: &mut PgConnection,
    report: &ActivityScope<'_>,
) -> QueryResult<BTreeMap<Option<String>, DoneCounts>> {
    let mut sql = SqlFragment::fixed(&format!(
        "SELECT {} AS group_key, a.kind, a.direction, a.reason, count(*) AS done",
        report.group_key("a", "assignee_id")
    ));
    sql.append(report.activities());
    sql.push_sql(" AND a.status = 'done'");
    report.within(&mut sql, "a.completed_at");
    sql.push_sql(" GROUP BY 1, 2, 3, 4");
    let mut groups: BTreeMap<Option<String>, DoneCounts> = BTreeMap::new();
    for tally in FragmentQuery(sql).load::<DoneTally>(conn)? {
        let counts = groups.entry(tally.group_key).or_default();
        counts.count(&tally.kind, tally.direction.as_deref(), tally.reason.as_deref(), tally.done);
    }
    Ok(groups)
}

/// Per group and for all: clients touched by the activities done in the range, how the activities
/// due in the range went, and how soon the deals created in the range got their first done one.
#[derive(Debug, Clone, QueryableByName)]
pub struct PaceTally {
    #[diesel(sql_type = Nullable<Text>)]
    pub group_key: Option<String>,
    #[diesel(sql_type = Bool)]
    pub all_groups: bool,
    #[diesel(sql_type = BigInt)]
    pub value: i64,
    #[diesel(sql_type = BigInt)]
    pub second: i64,
    #[diesel(sql_type = BigInt)]
    pub third: i64,
    #[diesel(sql_type = Nullable<Double>)]
    pub days: Option<f64>,
}

/// `value`: distinct clients touched; `second`: done activities with a client.
fn touches(conn: &mut PgConnection, report: &ActivityScope<'_>) -> QueryResult<Vec<PaceTally>> {
    let mut sql = SqlFragment::fixed(&format!(
        "SELECT group_key, {} AS all_groups, count(DISTINCT client_id) AS value, count(client_id) AS second, \
         0::bigint AS third, NULL::float8 AS days FROM (SELECT {} AS group_key, a.client_id",
        report.all_groups(),
        report.group_key("a", "assignee_id")
    ));
    sql.append(report.activities());
    sql.push_sql(" AND a.status = 'done'");
    report.within(&mut sql, "a.completed_at");
    sql.push_sql(") AS touched");
    sql.push_sql(report.grouping_sets());
    FragmentQuery(sql).load(conn)
}

/// `value`: activities due in the range and not cancelled; `second`: still planned past their due
/// time; `third`: done by their due time.
fn due(conn: &mut PgConnection, report: &ActivityScope<'_>) -> QueryResult<Vec<PaceTally>> {
    let mut sql = SqlFragment::fixed(&format!(
        "SELECT group_key, {} AS all_groups, count(*) AS value, \
         count(*) FILTER (WHERE status = 'planned' AND due_at < now()) AS second, \
         count(*) FILTER (WHERE status = 'done' AND completed_at <= due_at) AS third, NULL::float8 AS days \
         FROM (SELECT {} AS group_key, a.status, a.due_at, a.completed_at",
        report.all_groups(),
        report.group_key("a", "assignee_id")
    ));
    sql.append(report.activities());
    sql.push_sql(" AND a.status <> 'cancelled'");
    report.within(&mut sql, "a.due_at");
    sql.push_sql(") AS fell_due");
    sql.push_sql(report.grouping_sets());
    FragmentQuery(sql).load(conn)
}

/// `value`: live deals created in the range (by owner or team); `second`: those with a done
/// activity; `days`: the average days from creation to the first.
fn first_touch(conn: &mut PgConnection, report: &ActivityScope<'_>) -> QueryResult<Vec<PaceTally>> {
    let mut sql = SqlFragment::fixed(&format!(
        "SELECT group_key, {} AS all_groups, count(*) AS value, count(first_done) AS second, 0::bigint AS third, \
         avg(extract(epoch FROM first_done - created_at) / 86400)::float8 AS days \
         FROM (SELECT {} AS group_key, d.created_at, (SELECT min(a.completed_at) FROM activities AS a \
         WHERE a.workspace_id = d.workspace_id AND a.deal_id = d.id AND a.status = 'done' AND a.deleted_at IS NULL) AS first_done \
         FROM ",
        report.all_groups(),
        report.group_key("d", "owner_id")
    ));
    sql.append(report.scope.seen_rows("deals", "d", "owner_id", "client_id"));
    sql.push_sql(" WHERE d.workspace_id = ");
    sql.push_bind(Bind::Uuid(report.scope.workspace().0));
    sql.push_sql(" AND d.deleted_at IS NULL");
    report.within(&mut sql, "d.created_at");
    sql.push_sql(") AS created");
    sql.push_sql(report.grouping_sets());
    FragmentQuery(sql).load(conn)
}
