//! The activity cells (`activity_cells`): what the activities of one day, or of one calendar month,
//! add up to for the activity report, with the deals created then; for all, for each person and for
//! each team. A month by owner adds up 501 cells instead of 200,000 activities and 160,000
//! deals (1M clients), and counts the clients touched exactly, as the size of a union of sets.
//!
//! The cells are written by the job of `report_cells`, which also says how stale days keep a report
//! from being behind. Every write to activities marks the days they count on stale
//! ([`mark_activities_stale`]): the day each was done, the day it fell due, and the day its deal
//! was created (a deal's first touch is an activity's); every write to deals marks the day they
//! were created (`report_cells::mark_deal_days_stale`).
//!
//! Whether a planned activity is overdue changes by the minute. A day cell keeps the activities due
//! on it that are still planned: once the day is past they are all overdue, and on a day to come
//! none is. Today's are counted when a report asks ([`overdue_today`]); today's month is added up
//! from its days.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Date, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use roaring::{MultiOps, RoaringBitmap};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::activity_report::{ActivityScope, ActivityTallies, DoneCounts, PaceTally};
use super::buyer_union::union_len;
use super::report_cells::{
    Cells, ClientNumbers, Cover, DayBounds, corrupt, day_bounds, decoded_sets, encode_set, in_one_snapshot,
    refresh_stale, stale_between,
};
use crate::ids::{UserId, WorkspaceId};

/// Marks stale, for the activity cells, the days the activities `ids` count on as they are now:
/// the days they were done and fell due, and the day their deal was created. Every write to
/// activities calls it in its transaction: before and after a change, once for a new activity or
/// a delete.
pub fn mark_activities_stale(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    ids: &[uuid::Uuid],
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO activity_cells_stale (workspace_id, day) \
         SELECT DISTINCT $1::uuid, (moment AT TIME ZONE w.timezone)::date \
         FROM activities AS a \
         JOIN workspaces AS w ON w.id = $1 \
         LEFT JOIN deals AS d ON d.workspace_id = $1 AND d.id = a.deal_id \
         CROSS JOIN LATERAL (VALUES (a.completed_at), (a.due_at), (d.created_at)) AS moments (moment) \
         WHERE a.workspace_id = $1 AND a.id = ANY($2) AND moment IS NOT NULL",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(ids)
    .execute(conn)
    .map(drop)
}

/// Marks stale, for the activity cells, the days a person's activities count on: a team's cells
/// count the activities of the people in it now, so a person who changes teams moves theirs. The
/// days are those of the person's cells (any other day of theirs is stale already).
pub fn mark_person_stale(conn: &mut PgConnection, workspace: WorkspaceId, person: UserId) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO activity_cells_stale (workspace_id, day) \
         SELECT $1, starts_on FROM activity_cells \
         WHERE workspace_id = $1 AND dimension = 'person' AND span = 'day' AND value = $2::text",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<SqlUuid, _>(person.0)
    .execute(conn)
    .map(drop)
}

/// Marks every day of the workspace's activities and deals stale, in the workspace's time zone as
/// it is: for a change that moves all of them (a new time zone: call it before and after), or
/// records written without marking their days (the seed).
pub fn mark_all_stale(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO activity_cells_stale (workspace_id, day) \
         SELECT $1::uuid, day FROM ( \
             SELECT (moment AT TIME ZONE w.timezone)::date AS day \
             FROM activities AS a JOIN workspaces AS w ON w.id = $1 \
             CROSS JOIN LATERAL (VALUES (a.completed_at), (a.due_at)) AS moments (moment) \
             WHERE a.workspace_id = $1 AND a.deleted_at IS NULL AND moment IS NOT NULL \
             UNION \
             SELECT (d.created_at AT TIME ZONE w.timezone)::date \
             FROM deals AS d JOIN workspaces AS w ON w.id = $1 \
             WHERE d.workspace_id = $1 AND d.deleted_at IS NULL \
         ) AS days",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .execute(conn)
    .map(drop)
}

/// Whose figures a cell holds: everyone's, one person's (the activities they are assigned, the
/// deals they own), or one team's (the activities of its people, the deals of the team).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dimension {
    All,
    Person,
    Team,
}

impl Dimension {
    fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::Person => "person",
            Dimension::Team => "team",
        }
    }

    /// The cells a figure of `person` (the assignee, or the deal's owner) and `team` counts in:
    /// everyone's, the person's and the team's.
    fn of<'a>(person: Option<&'a str>, team: Option<&'a str>) -> [(Dimension, Option<&'a str>); 3] {
        [(Dimension::All, None), (Dimension::Person, person), (Dimension::Team, team)]
    }

    fn parse(text: &str) -> QueryResult<Dimension> {
        [Dimension::All, Dimension::Person, Dimension::Team]
            .into_iter()
            .find(|dimension| dimension.as_str() == text)
            .ok_or_else(|| corrupt(format!("unknown activity cell dimension {text:?}")))
    }
}

/// A cell: a day or a month (its first day), whose figures, and the person or team.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CellKey {
    starts_on: NaiveDate,
    dimension: Dimension,
    value: Option<String>,
}

/// What a cell's activities and new deals add up to.
#[derive(Debug, Clone, Default)]
struct Figures {
    done: DoneCounts,
    done_with_client: i64,
    clients: RoaringBitmap,
    due: i64,
    due_planned: i64,
    /// Of `due_planned`, those due before now: counted for the days added up for a report, worked
    /// out for a stored cell from whether its days are past; never kept.
    overdue_now: i64,
    due_on_time: i64,
    deals_created: i64,
    deals_touched: i64,
    first_touch_seconds: Decimal,
}

impl Figures {
    /// Adds the other cell's activity figures but its clients, which are united apart.
    fn add_activities(&mut self, other: &Figures) {
        self.done.add(&other.done);
        self.done_with_client += other.done_with_client;
        self.due += other.due;
        self.due_planned += other.due_planned;
        self.overdue_now += other.overdue_now;
        self.due_on_time += other.due_on_time;
    }

    fn add_deals(&mut self, other: &Figures) {
        self.deals_created += other.deals_created;
        self.deals_touched += other.deals_touched;
        self.first_touch_seconds += other.first_touch_seconds;
    }
}

/// A done activity as a day cell counts it.
#[derive(QueryableByName)]
struct DoneRow {
    #[diesel(sql_type = Text)]
    person: String,
    /// The person's team now.
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<Text>)]
    direction: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    client_id: Option<uuid::Uuid>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Integer>)]
    number: Option<i32>,
}

/// The activities one person had due on one day, not cancelled.
#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = Text)]
    person: String,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = BigInt)]
    due: i64,
    #[diesel(sql_type = BigInt)]
    planned: i64,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
    #[diesel(sql_type = BigInt)]
    on_time: i64,
}

/// The live deals of one owner and team created on one day.
#[derive(QueryableByName)]
struct DealRow {
    #[diesel(sql_type = Nullable<Text>)]
    owner: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = BigInt)]
    created: i64,
    #[diesel(sql_type = BigInt)]
    touched: i64,
    #[diesel(sql_type = Numeric)]
    seconds: Decimal,
}

/// The day cells of `days` in every dimension, from the activities and deals themselves.
///
/// One day at a time, with its bounds as values (`report_cells::day_bounds`).
fn day_cells(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    days: &[NaiveDate],
    numbers: &mut ClientNumbers,
) -> QueryResult<HashMap<CellKey, Figures>> {
    let bounds = day_bounds(conn, workspace, days)?;
    let mut cells: HashMap<CellKey, Figures> = HashMap::new();
    for day in bounds {
        add_day(conn, workspace, &day, numbers, &mut cells)?;
    }
    Ok(cells)
}

/// Adds the activities and new deals of `day` to their cells.
fn add_day(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    day: &DayBounds,
    numbers: &mut ClientNumbers,
    cells: &mut HashMap<CellKey, Figures>,
) -> QueryResult<()> {
    let done: Vec<DoneRow> = diesel::sql_query(
        "SELECT a.assignee_id::text AS person, u.team_id::text AS team, a.kind, a.direction, a.reason, a.client_id, \
         n.number FROM activities AS a JOIN users AS u ON u.workspace_id = $1 AND u.id = a.assignee_id \
         LEFT JOIN client_numbers AS n ON n.workspace_id = $1 AND n.client_id = a.client_id \
         WHERE a.workspace_id = $1 AND a.status = 'done' AND a.deleted_at IS NULL \
         AND a.completed_at >= $2 AND a.completed_at < $3",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Timestamptz, _>(day.starts)
    .bind::<Timestamptz, _>(day.ends)
    .load(conn)?;
    numbers.number_new(conn, workspace, done.iter().filter_map(|row| Some((row.client_id?, row.number))))?;
    let due: Vec<DueRow> = diesel::sql_query(
        "SELECT a.assignee_id::text AS person, u.team_id::text AS team, count(*) AS due, \
         count(*) FILTER (WHERE a.status = 'planned') AS planned, \
         count(*) FILTER (WHERE a.status = 'planned' AND a.due_at < now()) AS overdue, \
         count(*) FILTER (WHERE a.status = 'done' AND a.completed_at <= a.due_at) AS on_time \
         FROM activities AS a JOIN users AS u ON u.workspace_id = $1 AND u.id = a.assignee_id \
         WHERE a.workspace_id = $1 AND a.status <> 'cancelled' AND a.deleted_at IS NULL \
         AND a.due_at IS NOT NULL AND a.due_at >= $2 AND a.due_at < $3 \
         GROUP BY 1, 2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Timestamptz, _>(day.starts)
    .bind::<Timestamptz, _>(day.ends)
    .load(conn)?;
    let deals: Vec<DealRow> = diesel::sql_query(
        "SELECT owner, team, count(*) AS created, count(done_at) AS touched, \
         coalesce(sum(extract(epoch FROM done_at - created_at)), 0) AS seconds \
         FROM (SELECT d.owner_id::text AS owner, d.team_id::text AS team, d.created_at, \
                      (SELECT min(a.completed_at) FROM activities AS a WHERE a.workspace_id = $1 \
                       AND a.deal_id = d.id AND a.status = 'done' AND a.deleted_at IS NULL) AS done_at \
               FROM deals AS d WHERE d.workspace_id = $1 AND d.deleted_at IS NULL \
               AND d.created_at >= $2 AND d.created_at < $3) AS created \
         GROUP BY 1, 2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Timestamptz, _>(day.starts)
    .bind::<Timestamptz, _>(day.ends)
    .load(conn)?;

    for row in done {
        let client = row.client_id.map(|client| numbers.of(client, row.number));
        // Its kind, direction and reason are looked up once, then counted in each of its cells.
        let mut one = DoneCounts::default();
        one.count(&row.kind, row.direction.as_deref(), row.reason.as_deref(), 1);
        for (dimension, value) in Dimension::of(Some(&row.person), row.team.as_deref()) {
            let figures = cell(cells, day.day, dimension, value);
            figures.done.add(&one);
            if let Some(client) = client {
                figures.done_with_client += 1;
                figures.clients.insert(client);
            }
        }
    }
    for row in due {
        for (dimension, value) in Dimension::of(Some(&row.person), row.team.as_deref()) {
            let figures = cell(cells, day.day, dimension, value);
            figures.due += row.due;
            figures.due_planned += row.planned;
            figures.overdue_now += row.overdue;
            figures.due_on_time += row.on_time;
        }
    }
    for row in deals {
        for (dimension, value) in Dimension::of(row.owner.as_deref(), row.team.as_deref()) {
            let figures = cell(cells, day.day, dimension, value);
            figures.deals_created += row.created;
            figures.deals_touched += row.touched;
            figures.first_touch_seconds += row.seconds;
        }
    }
    Ok(())
}

/// The figures of a cell, new ones when it has none yet.
fn cell<'a>(
    cells: &'a mut HashMap<CellKey, Figures>,
    day: NaiveDate,
    dimension: Dimension,
    value: Option<&str>,
) -> &'a mut Figures {
    cells.entry(CellKey { starts_on: day, dimension, value: value.map(str::to_owned) }).or_default()
}

/// Writes the activity cells of a batch of the workspace's stale days again, and of their months;
/// returns how many days. The job calls it holding the workspace's claim (`report_cells`).
pub(super) fn refresh_stale_days(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    let write_days = |conn: &mut PgConnection, days: &[NaiveDate]| {
        let cells = day_cells(conn, workspace, days, &mut ClientNumbers::for_job())?;
        store(conn, workspace, "day", cells)
    };
    refresh_stale(conn, Cells::Activity, workspace, write_days, |conn, month| {
        refresh_month(conn, workspace, month)
    })
}

/// The columns of [`StoredFigures`].
const STORED_FIGURES: &str = "span, starts_on, dimension, value, done, done_by_kind, done_by_direction, \
     done_by_reason, done_with_client, client_count, due, due_planned, due_on_time, deals_created, deals_touched, \
     first_touch_seconds, version";

/// A stored cell's figures, without its clients.
#[derive(QueryableByName)]
struct StoredFigures {
    #[diesel(sql_type = Text)]
    span: String,
    #[diesel(sql_type = Date)]
    starts_on: NaiveDate,
    #[diesel(sql_type = Text)]
    dimension: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
    #[diesel(sql_type = BigInt)]
    done: i64,
    #[diesel(sql_type = Array<BigInt>)]
    done_by_kind: Vec<i64>,
    #[diesel(sql_type = Array<BigInt>)]
    done_by_direction: Vec<i64>,
    #[diesel(sql_type = Array<BigInt>)]
    done_by_reason: Vec<i64>,
    #[diesel(sql_type = BigInt)]
    done_with_client: i64,
    #[diesel(sql_type = BigInt)]
    client_count: i64,
    #[diesel(sql_type = BigInt)]
    due: i64,
    #[diesel(sql_type = BigInt)]
    due_planned: i64,
    #[diesel(sql_type = BigInt)]
    due_on_time: i64,
    #[diesel(sql_type = BigInt)]
    deals_created: i64,
    #[diesel(sql_type = BigInt)]
    deals_touched: i64,
    #[diesel(sql_type = Numeric)]
    first_touch_seconds: Decimal,
    #[diesel(sql_type = SqlUuid)]
    version: uuid::Uuid,
}

/// Counts stored in the order of a list of values, as many as the list has: a value added to the
/// list since the cell was written has none in it.
fn counts_of<const N: usize>(stored: &[i64]) -> [i64; N] {
    let mut counts = [0; N];
    for (count, stored) in counts.iter_mut().zip(stored) {
        *count = *stored;
    }
    counts
}

impl StoredFigures {
    /// The cell's key and figures, its clients left empty. Its overdue activities are those still
    /// planned once its days are all past `today`, and none before.
    fn into_cell(self, today: NaiveDate) -> QueryResult<(CellKey, Figures)> {
        let done = DoneCounts {
            done: self.done,
            by_kind: counts_of(&self.done_by_kind),
            by_direction: counts_of(&self.done_by_direction),
            by_reason: counts_of(&self.done_by_reason),
        };
        let ends = match self.span.as_str() {
            "month" => self.starts_on.checked_add_months(Months::new(1)),
            _ => self.starts_on.succ_opt(),
        }
        .unwrap_or(NaiveDate::MAX);
        let key = CellKey {
            starts_on: self.starts_on,
            dimension: Dimension::parse(&self.dimension)?,
            value: self.value,
        };
        let figures = Figures {
            done,
            done_with_client: self.done_with_client,
            clients: RoaringBitmap::new(),
            due: self.due,
            due_planned: self.due_planned,
            overdue_now: if ends <= today { self.due_planned } else { 0 },
            due_on_time: self.due_on_time,
            deals_created: self.deals_created,
            deals_touched: self.deals_touched,
            first_touch_seconds: self.first_touch_seconds,
        };
        Ok((key, figures))
    }
}

/// A stored cell with its clients, as a month's cells are added up from its days'.
#[derive(QueryableByName)]
struct StoredCell {
    #[diesel(embed)]
    figures: StoredFigures,
    #[diesel(sql_type = Bytea)]
    clients: Vec<u8>,
}

/// Writes the cells of `month` again from its day cells.
fn refresh_month(conn: &mut PgConnection, workspace: WorkspaceId, month: NaiveDate) -> QueryResult<()> {
    let end = month.checked_add_months(Months::new(1)).unwrap_or(month);
    let days: Vec<StoredCell> = diesel::sql_query(format!(
        "SELECT {STORED_FIGURES}, clients FROM activity_cells \
         WHERE workspace_id = $1 AND span = 'day' AND starts_on >= $2 AND starts_on < $3"
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .bind::<Date, _>(end)
    .load(conn)?;
    let mut months: HashMap<CellKey, (Figures, Vec<RoaringBitmap>)> = HashMap::new();
    for stored in days {
        let clients = RoaringBitmap::deserialize_from(stored.clients.as_slice())
            .map_err(|error| corrupt(format!("unreadable clients of an activity cell: {error}")))?;
        // Kept, not needed: a month's overdue activities are worked out from its own end.
        let (key, figures) = stored.figures.into_cell(NaiveDate::MIN)?;
        let (tally, sets) = months.entry(CellKey { starts_on: month, ..key }).or_default();
        tally.add_activities(&figures);
        tally.add_deals(&figures);
        sets.push(clients);
    }
    let cells = months
        .into_iter()
        .map(|(key, (mut figures, sets))| {
            figures.clients = sets.iter().union();
            (key, figures)
        })
        .collect();
    diesel::sql_query(
        "DELETE FROM activity_cells WHERE workspace_id = $1 AND span = 'month' AND starts_on = $2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .execute(conn)?;
    store(conn, workspace, "month", cells)
}

/// `counts` as an array literal, `{1,0,2}`: a list per cell can't be bound as an array of arrays.
fn array_literal(counts: &[i64]) -> String {
    let counts: Vec<String> = counts.iter().map(i64::to_string).collect();
    format!("{{{}}}", counts.join(","))
}

/// Inserts `cells` of `span`.
fn store(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    span: &str,
    cells: HashMap<CellKey, Figures>,
) -> QueryResult<()> {
    if cells.is_empty() {
        return Ok(());
    }
    let mut starts = Vec::with_capacity(cells.len());
    let mut dimensions = Vec::with_capacity(cells.len());
    let mut values = Vec::with_capacity(cells.len());
    let mut done = Vec::with_capacity(cells.len());
    let mut by_kind = Vec::with_capacity(cells.len());
    let mut by_direction = Vec::with_capacity(cells.len());
    let mut by_reason = Vec::with_capacity(cells.len());
    let mut with_client = Vec::with_capacity(cells.len());
    let mut clients = Vec::with_capacity(cells.len());
    let mut client_counts = Vec::with_capacity(cells.len());
    let mut due = Vec::with_capacity(cells.len());
    let mut planned = Vec::with_capacity(cells.len());
    let mut on_time = Vec::with_capacity(cells.len());
    let mut created = Vec::with_capacity(cells.len());
    let mut touched = Vec::with_capacity(cells.len());
    let mut seconds = Vec::with_capacity(cells.len());
    let versions: Vec<uuid::Uuid> = (0..cells.len()).map(|_| uuid::Uuid::now_v7()).collect();
    for (key, figures) in cells {
        starts.push(key.starts_on);
        dimensions.push(key.dimension.as_str());
        values.push(key.value);
        done.push(figures.done.done);
        by_kind.push(array_literal(&figures.done.by_kind));
        by_direction.push(array_literal(&figures.done.by_direction));
        by_reason.push(array_literal(&figures.done.by_reason));
        with_client.push(figures.done_with_client);
        client_counts.push(figures.clients.len() as i64);
        clients.push(encode_set(&figures.clients)?);
        due.push(figures.due);
        planned.push(figures.due_planned);
        on_time.push(figures.due_on_time);
        created.push(figures.deals_created);
        touched.push(figures.deals_touched);
        seconds.push(figures.first_touch_seconds);
    }
    diesel::sql_query(
        "INSERT INTO activity_cells (workspace_id, span, starts_on, dimension, value, done, done_by_kind, \
         done_by_direction, done_by_reason, done_with_client, clients, client_count, due, due_planned, due_on_time, \
         deals_created, deals_touched, first_touch_seconds, version) \
         SELECT $1, $2, starts_on, dimension, value, done, by_kind::bigint[], by_direction::bigint[], \
         by_reason::bigint[], done_with_client, clients, client_count, due, due_planned, due_on_time, deals_created, \
         deals_touched, first_touch_seconds, version \
         FROM unnest($3::date[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], \
         $10::bigint[], $11::bytea[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], \
         $17::bigint[], $18::numeric[], $19::uuid[]) AS cell (starts_on, dimension, value, done, by_kind, \
         by_direction, by_reason, done_with_client, clients, client_count, due, due_planned, due_on_time, \
         deals_created, deals_touched, first_touch_seconds, version)",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Text, _>(span)
    .bind::<Array<Date>, _>(starts)
    .bind::<Array<Text>, _>(dimensions)
    .bind::<Array<Nullable<Text>>, _>(values)
    .bind::<Array<BigInt>, _>(done)
    .bind::<Array<Text>, _>(by_kind)
    .bind::<Array<Text>, _>(by_direction)
    .bind::<Array<Text>, _>(by_reason)
    .bind::<Array<BigInt>, _>(with_client)
    .bind::<Array<Bytea>, _>(clients)
    .bind::<Array<BigInt>, _>(client_counts)
    .bind::<Array<BigInt>, _>(due)
    .bind::<Array<BigInt>, _>(planned)
    .bind::<Array<BigInt>, _>(on_time)
    .bind::<Array<BigInt>, _>(created)
    .bind::<Array<BigInt>, _>(touched)
    .bind::<Array<Numeric>, _>(seconds)
    .bind::<Array<SqlUuid>, _>(versions)
    .execute(conn)
    .map(drop)
}

/// Which figures a cell adds to: all groups', or one group's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Slot {
    Total,
    Group(Option<String>),
}

/// The clients of a cell, to be counted with the others of its slot.
#[derive(Debug, Clone)]
enum Clients {
    /// A stored cell's: its count, and its version to read its set by when another cell's must
    /// be united with it.
    Stored { version: uuid::Uuid, count: i64 },
    /// A day added up for this report.
    AddedUp(Arc<RoaringBitmap>),
}

/// The figures of one slot while its cells are added up.
#[derive(Debug, Default)]
struct SlotTally {
    figures: Figures,
    clients: Vec<Clients>,
}

impl SlotTally {
    fn add_activities(&mut self, figures: &Figures, clients: Option<&Clients>) {
        self.figures.add_activities(figures);
        self.clients.extend(clients.cloned());
    }

    /// The distinct clients of the slot's cells; `sets` holds the stored sets of every slot with
    /// more than one cell to unite.
    fn clients_touched(&self, sets: &HashMap<uuid::Uuid, Arc<RoaringBitmap>>) -> QueryResult<i64> {
        if let [Clients::Stored { count, .. }] = self.clients.as_slice() {
            return Ok(*count);
        }
        let sets =
            self.clients
                .iter()
                .map(|clients| match clients {
                    Clients::AddedUp(set) => Ok(Arc::clone(set)),
                    Clients::Stored { version, .. } => sets.get(version).cloned().ok_or_else(|| {
                        corrupt("an activity cell's clients went missing while read".to_owned())
                    }),
                })
                .collect::<QueryResult<Vec<_>>>()?;
        Ok(union_len(&sets) as i64)
    }
}

/// How many planned activities one person had due today before now.
#[derive(QueryableByName)]
struct OverdueToday {
    #[diesel(sql_type = Text)]
    person: String,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = BigInt)]
    overdue: i64,
}

/// The planned activities due on `today` before now, per person: the one figure of a day that
/// moves with the clock, so that a report counts it when asked and takes the rest of today from
/// its cell.
fn overdue_today(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    today: NaiveDate,
) -> QueryResult<Vec<OverdueToday>> {
    diesel::sql_query(
        "SELECT a.assignee_id::text AS person, u.team_id::text AS team, count(*) AS overdue FROM activities AS a \
         JOIN users AS u ON u.workspace_id = $1 AND u.id = a.assignee_id \
         WHERE a.workspace_id = $1 AND a.status = 'planned' AND a.status <> 'cancelled' AND a.deleted_at IS NULL \
         AND a.due_at IS NOT NULL AND a.due_at < now() \
         AND a.due_at >= (SELECT $2::timestamp AT TIME ZONE w.timezone FROM workspaces AS w WHERE w.id = $1) \
         GROUP BY 1, 2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(today)
    .load(conn)
}

#[derive(QueryableByName)]
struct StoredClients {
    #[diesel(sql_type = SqlUuid)]
    version: uuid::Uuid,
    #[diesel(sql_type = Bytea)]
    clients: Vec<u8>,
}

/// The activity report's tallies from the cells, as `ActivityTallies::scanned` gives them from the
/// activities; `None` when the cells can't answer: a caller who sees only part of the clients.
/// `today` is the workspace's.
pub fn tallies(
    conn: &mut PgConnection,
    report: &ActivityScope<'_>,
    today: NaiveDate,
) -> QueryResult<Option<ActivityTallies>> {
    if !report.scope.sees_everything() {
        return Ok(None);
    }
    let workspace = report.scope.workspace();
    let range = report.range;
    in_one_snapshot(conn, |conn| {
        let mut stale = stale_between(conn, Cells::Activity, workspace, range.from, range.to)?;
        // Today's month is added up from its days, whose overdue activities depend on whether
        // they are past: today's cell, when it is up to date, with today's overdue ones counted now.
        let today_in_range = range.from <= today && today <= range.to;
        let today_clean = today_in_range && stale.insert(today);
        let mut cover = Cover::default();
        Cover::of(range, true, &stale, &mut cover);
        if today_clean {
            cover.stale_days.retain(|day| *day != today);
            cover.days.push(today);
        }
        let dimensions: &[Dimension] = match report.by_team {
            None => &[Dimension::All],
            Some(false) => &[Dimension::All, Dimension::Person],
            Some(true) => &[Dimension::All, Dimension::Team],
        };
        let mut slots: BTreeMap<Slot, SlotTally> = BTreeMap::new();
        let mut count = |key: CellKey, figures: &Figures, clients: Option<Clients>| {
            let clients = clients.filter(|_| figures.done_with_client > 0);
            let slot = match (key.dimension, report.by_team) {
                (Dimension::All, _) => Slot::Total,
                (Dimension::Person, Some(false)) | (Dimension::Team, Some(true)) => Slot::Group(key.value),
                _ => return,
            };
            let tally = slots.entry(slot).or_default();
            tally.add_activities(figures, clients.as_ref());
            tally.figures.add_deals(figures);
        };
        let names: Vec<&str> = dimensions.iter().map(|dimension| dimension.as_str()).collect();
        if !cover.is_stored_empty() {
            let stored: Vec<StoredFigures> = diesel::sql_query(format!(
                "SELECT {STORED_FIGURES} FROM activity_cells WHERE workspace_id = $1 AND dimension = ANY($2) \
                 AND ((span = 'month' AND starts_on = ANY($3)) OR (span = 'day' AND starts_on = ANY($4)))"
            ))
            .bind::<SqlUuid, _>(workspace.0)
            .bind::<Array<Text>, _>(&names)
            .bind::<Array<Date>, _>(&cover.months)
            .bind::<Array<Date>, _>(&cover.days)
            .load(conn)?;
            for cell in stored {
                let clients = Clients::Stored { version: cell.version, count: cell.client_count };
                let (key, figures) = cell.into_cell(today)?;
                count(key, &figures, Some(clients));
            }
        }
        if !cover.stale_days.is_empty() {
            let cells = day_cells(conn, workspace, &cover.stale_days, &mut ClientNumbers::for_report())?;
            for (key, mut figures) in cells.into_iter().filter(|(key, _)| dimensions.contains(&key.dimension))
            {
                let clients = Clients::AddedUp(Arc::new(std::mem::take(&mut figures.clients)));
                count(key, &figures, Some(clients));
            }
        }
        if today_clean {
            for late in overdue_today(conn, workspace, today)? {
                let figures = Figures { overdue_now: late.overdue, ..Figures::default() };
                for (dimension, value) in Dimension::of(Some(&late.person), late.team.as_deref()) {
                    let key = CellKey { starts_on: today, dimension, value: value.map(str::to_owned) };
                    count(key, &figures, None);
                }
            }
        }
        let united: Vec<uuid::Uuid> = slots
            .values()
            .filter(|tally| tally.clients.len() > 1)
            .flat_map(|tally| &tally.clients)
            .filter_map(|clients| match clients {
                Clients::Stored { version, .. } => Some(*version),
                Clients::AddedUp(_) => None,
            })
            .collect();
        let sets = decoded_sets(&united, |missing| {
            let read: Vec<StoredClients> = diesel::sql_query(
                "SELECT version, clients FROM activity_cells WHERE workspace_id = $1 AND version = ANY($2)",
            )
            .bind::<SqlUuid, _>(workspace.0)
            .bind::<Array<SqlUuid>, _>(missing)
            .load(conn)?;
            Ok(read.into_iter().map(|cell| (cell.version, cell.clients)).collect())
        })?;
        let grouped = report.by_team.is_some();
        let mut tallies = ActivityTallies::default();
        for (slot, tally) in slots {
            let (group_key, all_groups) = match slot {
                Slot::Total => (None, true),
                Slot::Group(key) => (key, false),
            };
            let figures = &tally.figures;
            if figures.done.done > 0 && !(grouped && all_groups) {
                tallies.done.insert(group_key.clone(), figures.done.clone());
            }
            let pace = |value: i64, second: i64, third: i64, days: Option<f64>| PaceTally {
                group_key: group_key.clone(),
                all_groups,
                value,
                second,
                third,
                days,
            };
            if figures.done.done > 0 {
                tallies.touches.push(pace(tally.clients_touched(&sets)?, figures.done_with_client, 0, None));
            }
            if figures.due > 0 {
                tallies.due.push(pace(figures.due, figures.overdue_now, figures.due_on_time, None));
            }
            if figures.deals_created > 0 {
                let days = (figures.deals_touched > 0).then(|| {
                    figures.first_touch_seconds / Decimal::from(figures.deals_touched) / Decimal::from(86_400)
                });
                tallies.first_touch.push(pace(
                    figures.deals_created,
                    figures.deals_touched,
                    0,
                    days.and_then(|days| days.to_f64()),
                ));
            }
        }
        Ok(Some(tallies))
    })
}
