//! The client cells (`client_cells`): what the live clients did on one day, or in one calendar
//! month, for the clients report: how many were created, who bought (first, again, or back after
//! the dormancy threshold), whose dormancy and loss ran out, and what they won. A year by month at
//! 1M clients adds up 18 cells instead of scanning 3.4M sales lines and every client.
//!
//! The cells count by the report's default thresholds ([`DORMANT_DAYS`], [`LOST_DAYS`]): a report
//! with others scans the records, as does one that sees part of the clients, one owner's or a
//! segment's. They are written by the job of `report_cells`, which also says how stale days keep a
//! report from being behind.
//!
//! A day's figures depend on other days: whether a purchase is a client's first, a repeat or a
//! return depends on its purchase before; whether a client's dormancy runs out on a day depends on
//! the purchases of the days before it. So a change to a client's purchase days marks every one of
//! them stale, and the days its dormancy and loss would run out after each; a change to what it
//! bought on a day marks that day ([`mark_purchases_stale`]). A client created, deleted, restored or
//! merged marks its creation day and all those days ([`mark_clients_stale`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{Days, Months, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Bytea, Date, Integer, Nullable, Numeric, Timestamptz, Uuid as SqlUuid,
};
use roaring::{MultiOps, RoaringBitmap};
use rust_decimal::Decimal;

use super::buyer_union::union_len;
use super::client_dynamics::{DynamicsQuery, DynamicsTally, LifetimeBasis};
use super::report_cells::{
    self, Cells, ClientNumbers, Cover, DayBounds, MOST_STALE_DAYS, SetKey, corrupt, day_bounds,
    decoded_parts, encode_set, in_one_snapshot, refresh_stale, stale_between, sum_of,
};
use super::sales_line::SalesLine;
use crate::domain::report_period::{DateRange, Interval};
use crate::domain::segments::{DORMANT_DAYS, LOST_DAYS};
use crate::ids::WorkspaceId;

/// The days after a purchase the cells look at: the purchase's own, and those its dormancy and
/// loss run out on.
const SHIFTS: [i64; 3] = [0, DORMANT_DAYS, LOST_DAYS];

/// Marks stale, for the client cells, the days a rewrite of clients' sales lines (`before` and
/// `after` it) changed. `sales_line::recompute` calls it for every rewrite.
///
/// A client whose purchase days stay the same changes only the days whose deals or revenue
/// changed. One whose purchase days changed changes each of them, and the days its dormancy and
/// loss run out after each: whether a purchase is a first, a repeat or a return, and when it
/// lapses, depends on the others.
pub fn mark_purchases_stale(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    before: &[SalesLine],
    after: &[SalesLine],
) -> QueryResult<()> {
    let (before, after) = (purchases_of(before), purchases_of(after));
    let mut stale: BTreeSet<NaiveDate> = BTreeSet::new();
    for client in before.keys().chain(after.keys()) {
        let (was, is) = (before.get(client), after.get(client));
        let days = |purchases: Option<&BTreeMap<NaiveDate, Purchase>>| {
            purchases.into_iter().flat_map(|days| days.keys().copied()).collect::<BTreeSet<_>>()
        };
        let (days_before, days_after) = (days(was), days(is));
        if days_before == days_after {
            let differs = |day: &NaiveDate| was.and_then(|was| was.get(day)) != is.and_then(|is| is.get(day));
            stale.extend(days_after.iter().filter(|day| differs(day)));
        } else {
            for day in days_before.union(&days_after) {
                stale
                    .extend(SHIFTS.iter().filter_map(|&shift| day.checked_add_days(Days::new(shift as u64))));
            }
        }
    }
    report_cells::mark_stale(conn, Cells::Client, workspace, &stale.into_iter().collect::<Vec<_>>())
}

/// What a client's purchase of a day adds to its cell besides the client: its deals, those without
/// an exchange rate, and the revenue of the rest.
#[derive(Debug, Default, PartialEq)]
struct Purchase {
    deals: i64,
    unconverted: i64,
    revenue: Option<Decimal>,
}

/// The purchases of each client among `lines`, by day.
fn purchases_of(lines: &[SalesLine]) -> HashMap<uuid::Uuid, BTreeMap<NaiveDate, Purchase>> {
    let mut clients: HashMap<uuid::Uuid, BTreeMap<NaiveDate, Purchase>> = HashMap::new();
    for line in lines {
        let purchase = clients.entry(line.client_id).or_default().entry(line.won_on).or_default();
        if line.deal_head {
            purchase.deals += 1;
            purchase.unconverted += i64::from(line.amount_base.is_none());
        }
        purchase.revenue = sum_of(purchase.revenue, line.amount_base);
    }
    clients
}

/// Marks stale, for the client cells, the days the clients `ids` count on: the day each was created
/// and the days of its purchases. Every write that creates a client, deletes, restores or merges one
/// calls it in its transaction (after creating; before or after the rest, as a client's purchases
/// stay).
pub fn mark_clients_stale(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    ids: &[uuid::Uuid],
) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO client_cells_stale (workspace_id, day) \
         SELECT DISTINCT $1::uuid, day FROM ( \
             SELECT (c.created_at AT TIME ZONE w.timezone)::date AS day \
             FROM clients AS c JOIN workspaces AS w ON w.id = $1 \
             WHERE c.workspace_id = $1 AND c.id = ANY($2) \
             UNION \
             SELECT l.won_on + shift FROM sales_lines AS l, unnest($3::int[]) AS shift \
             WHERE l.workspace_id = $1 AND l.client_id = ANY($2) \
         ) AS days",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Integer>, _>(SHIFTS.map(|shift| shift as i32).to_vec())
    .execute(conn)
    .map(drop)
}

/// Marks every day the workspace's clients and sales count on stale, in the workspace's time zone
/// as it is: for a change that moves all of them (a new time zone: call it before and after).
pub fn mark_all_stale(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO client_cells_stale (workspace_id, day) \
         SELECT $1::uuid, day FROM ( \
             SELECT DISTINCT (c.created_at AT TIME ZONE w.timezone)::date AS day \
             FROM clients AS c JOIN workspaces AS w ON w.id = $1 \
             WHERE c.workspace_id = $1 AND c.deleted_at IS NULL \
             UNION \
             SELECT l.won_on + shift \
             FROM (SELECT DISTINCT won_on FROM sales_lines WHERE workspace_id = $1) AS l, unnest($2::int[]) AS shift \
         ) AS days",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<Integer>, _>(SHIFTS.map(|shift| shift as i32).to_vec())
    .execute(conn)
    .map(drop)
}

/// The sets of clients a cell keeps, in the order of their columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Buyers,
    Repeat,
    Reactivated,
    Dormant,
    Lost,
}

impl Set {
    const ALL: [Set; 5] = [Set::Buyers, Set::Repeat, Set::Reactivated, Set::Dormant, Set::Lost];

    /// The kind of the clients report's tally ([`DynamicsTally::kind`]) the set counts.
    fn kind(self) -> &'static str {
        match self {
            Set::Buyers => "buyer",
            Set::Repeat => "repeat",
            Set::Reactivated => "reactivated",
            Set::Dormant => "dormant",
            Set::Lost => "lost",
        }
    }

    fn key(self, version: uuid::Uuid) -> SetKey {
        (version, self as u8)
    }
}

/// What a cell's days add up to.
#[derive(Debug, Clone, Default, QueryableByName)]
struct Figures {
    #[diesel(sql_type = BigInt)]
    new_clients: i64,
    #[diesel(sql_type = BigInt)]
    first_purchases: i64,
    #[diesel(sql_type = BigInt)]
    deals: i64,
    #[diesel(sql_type = BigInt)]
    unconverted_deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    revenue: Option<Decimal>,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.new_clients += other.new_clients;
        self.first_purchases += other.first_purchases;
        self.deals += other.deals;
        self.unconverted_deals += other.unconverted_deals;
        self.revenue = sum_of(self.revenue, other.revenue);
    }
}

/// A day's figures and sets, as the job writes them or a report adds up a stale day.
#[derive(Debug, Default)]
struct DayCell {
    figures: Figures,
    sets: [RoaringBitmap; 5],
}

impl DayCell {
    fn is_empty(&self) -> bool {
        self.figures.new_clients == 0 && self.sets.iter().all(RoaringBitmap::is_empty)
    }
}

/// A live client's purchases of a day, and the day of its purchase before.
#[derive(QueryableByName)]
struct PurchaseRow {
    #[diesel(sql_type = SqlUuid)]
    client_id: uuid::Uuid,
    #[diesel(sql_type = Nullable<Integer>)]
    number: Option<i32>,
    #[diesel(sql_type = BigInt)]
    deals: i64,
    #[diesel(sql_type = BigInt)]
    unconverted: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    revenue: Option<Decimal>,
    #[diesel(sql_type = Nullable<Date>)]
    previous_on: Option<NaiveDate>,
}

/// A live client whose dormancy (or loss) ran out on a day.
#[derive(QueryableByName)]
struct LapseRow {
    #[diesel(sql_type = SqlUuid)]
    client_id: uuid::Uuid,
    #[diesel(sql_type = Nullable<Integer>)]
    number: Option<i32>,
    #[diesel(sql_type = Bool)]
    lost: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

/// The day cells of `days`, from the clients and sales lines themselves; one day at a time, with
/// its bounds as values (`report_cells::day_bounds`).
fn day_cells(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    days: &[NaiveDate],
    numbers: &mut ClientNumbers,
) -> QueryResult<Vec<(NaiveDate, DayCell)>> {
    let bounds = day_bounds(conn, workspace, days)?;
    bounds.into_iter().map(|day| Ok((day.day, day_cell(conn, workspace, &day, numbers)?))).collect()
}

/// What the live clients did on `day`.
fn day_cell(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    day: &DayBounds,
    numbers: &mut ClientNumbers,
) -> QueryResult<DayCell> {
    let created: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM clients WHERE workspace_id = $1 AND deleted_at IS NULL \
         AND created_at >= $2 AND created_at < $3",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Timestamptz, _>(day.starts)
    .bind::<Timestamptz, _>(day.ends)
    .get_result(conn)?;
    let purchases: Vec<PurchaseRow> = diesel::sql_query(
        "SELECT l.client_id, n.number, count(*) FILTER (WHERE l.deal_head) AS deals, \
         count(*) FILTER (WHERE l.deal_head AND l.amount_base IS NULL) AS unconverted, \
         sum(l.amount_base) AS revenue, \
         (SELECT max(p.won_on) FROM sales_lines AS p \
          WHERE p.workspace_id = $1 AND p.client_id = l.client_id AND p.won_on < $2) AS previous_on \
         FROM sales_lines AS l \
         JOIN clients AS c ON c.workspace_id = $1 AND c.id = l.client_id AND c.deleted_at IS NULL \
         LEFT JOIN client_numbers AS n ON n.workspace_id = $1 AND n.client_id = l.client_id \
         WHERE l.workspace_id = $1 AND l.won_on = $2 \
         GROUP BY l.client_id, n.number",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(day.day)
    .load(conn)?;
    // The clients who bought `threshold` days before and not since, up to this day included.
    let lapses: Vec<LapseRow> = diesel::sql_query(
        "SELECT l.client_id, n.number, t.lost \
         FROM (VALUES ($3::int, false), ($4::int, true)) AS t (days, lost) \
         CROSS JOIN LATERAL (SELECT DISTINCT s.client_id FROM sales_lines AS s \
                             WHERE s.workspace_id = $1 AND s.won_on = $2::date - t.days) AS l \
         JOIN clients AS c ON c.workspace_id = $1 AND c.id = l.client_id AND c.deleted_at IS NULL \
         LEFT JOIN client_numbers AS n ON n.workspace_id = $1 AND n.client_id = l.client_id \
         WHERE NOT EXISTS (SELECT FROM sales_lines AS q WHERE q.workspace_id = $1 AND q.client_id = l.client_id \
                           AND q.won_on > $2::date - t.days AND q.won_on <= $2)",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(day.day)
    .bind::<Integer, _>(DORMANT_DAYS as i32)
    .bind::<Integer, _>(LOST_DAYS as i32)
    .load(conn)?;
    let clients = purchases
        .iter()
        .map(|row| (row.client_id, row.number))
        .chain(lapses.iter().map(|row| (row.client_id, row.number)));
    numbers.number_new(conn, workspace, clients)?;

    let mut cell = DayCell::default();
    cell.figures.new_clients = created.count;
    for row in purchases {
        let client = numbers.of(row.client_id, row.number);
        let sales = Figures {
            deals: row.deals,
            unconverted_deals: row.unconverted,
            revenue: row.revenue,
            ..Figures::default()
        };
        cell.figures.add(&sales);
        cell.sets[Set::Buyers as usize].insert(client);
        match row.previous_on {
            None => cell.figures.first_purchases += 1,
            Some(previous) => {
                cell.sets[Set::Repeat as usize].insert(client);
                if (day.day - previous).num_days() > DORMANT_DAYS {
                    cell.sets[Set::Reactivated as usize].insert(client);
                }
            }
        }
    }
    for row in lapses {
        let set = if row.lost { Set::Lost } else { Set::Dormant };
        cell.sets[set as usize].insert(numbers.of(row.client_id, row.number));
    }
    Ok(cell)
}

/// Writes the client cells of a batch of the workspace's stale days again, and of their months;
/// returns how many days. The job calls it holding the workspace's claim (`report_cells`).
pub(super) fn refresh_stale_days(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    let write_days = |conn: &mut PgConnection, days: &[NaiveDate]| {
        let cells = day_cells(conn, workspace, days, &mut ClientNumbers::for_job())?;
        store(conn, workspace, "day", cells)
    };
    refresh_stale(conn, Cells::Client, workspace, write_days, |conn, month| {
        refresh_month(conn, workspace, month)
    })
}

/// The columns of [`StoredFigures`].
const STORED_FIGURES: &str =
    "span, starts_on, new_clients, first_purchases, deals, unconverted_deals, revenue, version";

/// The columns of a cell's sets, in [`Set::ALL`]'s order.
const SET_COLUMNS: &str = "buyers, repeat_buyers, reactivated, became_dormant, became_lost";

/// A stored cell's figures, without its sets.
#[derive(QueryableByName)]
struct StoredFigures {
    #[diesel(sql_type = diesel::sql_types::Text)]
    span: String,
    #[diesel(sql_type = Date)]
    starts_on: NaiveDate,
    #[diesel(embed)]
    figures: Figures,
    #[diesel(sql_type = SqlUuid)]
    version: uuid::Uuid,
}

/// A stored cell's sets, as stored.
#[derive(QueryableByName)]
struct StoredSets {
    #[diesel(sql_type = SqlUuid)]
    version: uuid::Uuid,
    #[diesel(sql_type = Bytea)]
    buyers: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    repeat_buyers: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    reactivated: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    became_dormant: Vec<u8>,
    #[diesel(sql_type = Bytea)]
    became_lost: Vec<u8>,
}

impl StoredSets {
    /// Each set with its key, in [`Set::ALL`]'s order.
    fn into_parts(self) -> [(SetKey, Vec<u8>); 5] {
        let version = self.version;
        [self.buyers, self.repeat_buyers, self.reactivated, self.became_dormant, self.became_lost]
            .into_iter()
            .zip(Set::ALL)
            .map(|(bytes, set)| (set.key(version), bytes))
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or_else(|_| unreachable!("five sets make five parts"))
    }
}

/// The sets of the stored cells of `versions`, decoded once per process (`decoded_parts`).
fn stored_sets(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    versions: &[uuid::Uuid],
) -> QueryResult<HashMap<SetKey, Arc<RoaringBitmap>>> {
    let keys: Vec<SetKey> =
        versions.iter().flat_map(|&version| Set::ALL.map(|set| set.key(version))).collect();
    decoded_parts(&keys, |missing| {
        let versions: BTreeSet<uuid::Uuid> = missing.iter().map(|(version, _)| *version).collect();
        let read: Vec<StoredSets> = diesel::sql_query(format!(
            "SELECT version, {SET_COLUMNS} FROM client_cells WHERE workspace_id = $1 AND version = ANY($2)"
        ))
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<Array<SqlUuid>, _>(versions.into_iter().collect::<Vec<_>>())
        .load(conn)?;
        Ok(read.into_iter().flat_map(StoredSets::into_parts).collect())
    })
}

/// Writes the cell of `month` again from its day cells.
fn refresh_month(conn: &mut PgConnection, workspace: WorkspaceId, month: NaiveDate) -> QueryResult<()> {
    let end = month.checked_add_months(Months::new(1)).unwrap_or(month);
    let days: Vec<StoredFigures> = diesel::sql_query(format!(
        "SELECT {STORED_FIGURES} FROM client_cells \
         WHERE workspace_id = $1 AND span = 'day' AND starts_on >= $2 AND starts_on < $3"
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .bind::<Date, _>(end)
    .load(conn)?;
    let versions: Vec<uuid::Uuid> = days.iter().map(|day| day.version).collect();
    let sets = stored_sets(conn, workspace, &versions)?;
    let mut cell = DayCell::default();
    for day in &days {
        cell.figures.add(&day.figures);
        for set in Set::ALL {
            let stored = sets.get(&set.key(day.version)).ok_or_else(missing_set)?;
            cell.sets[set as usize] |= &**stored;
        }
    }
    diesel::sql_query(
        "DELETE FROM client_cells WHERE workspace_id = $1 AND span = 'month' AND starts_on = $2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .execute(conn)?;
    store(conn, workspace, "month", vec![(month, cell)])
}

fn missing_set() -> diesel::result::Error {
    corrupt("a client cell's set went missing while read".to_owned())
}

/// Inserts the cells of `span` that hold anything.
fn store(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    span: &str,
    cells: Vec<(NaiveDate, DayCell)>,
) -> QueryResult<()> {
    let cells: Vec<(NaiveDate, DayCell)> = cells.into_iter().filter(|(_, cell)| !cell.is_empty()).collect();
    if cells.is_empty() {
        return Ok(());
    }
    let mut starts = Vec::with_capacity(cells.len());
    let mut new_clients = Vec::with_capacity(cells.len());
    let mut first_purchases = Vec::with_capacity(cells.len());
    let mut deals = Vec::with_capacity(cells.len());
    let mut unconverted = Vec::with_capacity(cells.len());
    let mut revenue = Vec::with_capacity(cells.len());
    let mut sets: [Vec<Vec<u8>>; 5] = Default::default();
    let versions: Vec<uuid::Uuid> = (0..cells.len()).map(|_| uuid::Uuid::now_v7()).collect();
    for (day, cell) in cells {
        starts.push(day);
        new_clients.push(cell.figures.new_clients);
        first_purchases.push(cell.figures.first_purchases);
        deals.push(cell.figures.deals);
        unconverted.push(cell.figures.unconverted_deals);
        revenue.push(cell.figures.revenue);
        for (stored, set) in sets.iter_mut().zip(&cell.sets) {
            stored.push(encode_set(set)?);
        }
    }
    let [buyers, repeat, reactivated, dormant, lost] = sets;
    diesel::sql_query(format!(
        "INSERT INTO client_cells (workspace_id, span, starts_on, new_clients, first_purchases, deals, \
         unconverted_deals, revenue, {SET_COLUMNS}, version) \
         SELECT $1, $2, * FROM unnest($3::date[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], \
         $8::numeric[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[], $13::bytea[], $14::uuid[])"
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<diesel::sql_types::Text, _>(span)
    .bind::<Array<Date>, _>(starts)
    .bind::<Array<BigInt>, _>(new_clients)
    .bind::<Array<BigInt>, _>(first_purchases)
    .bind::<Array<BigInt>, _>(deals)
    .bind::<Array<BigInt>, _>(unconverted)
    .bind::<Array<Nullable<Numeric>>, _>(revenue)
    .bind::<Array<Bytea>, _>(buyers)
    .bind::<Array<Bytea>, _>(repeat)
    .bind::<Array<Bytea>, _>(reactivated)
    .bind::<Array<Bytea>, _>(dormant)
    .bind::<Array<Bytea>, _>(lost)
    .bind::<Array<SqlUuid>, _>(versions)
    .execute(conn)
    .map(drop)
}

/// The figures of several cells while they are added up, their sets kept to be united once.
#[derive(Debug, Default)]
struct Tally {
    figures: Figures,
    sets: [Vec<Arc<RoaringBitmap>>; 5],
}

impl Tally {
    fn add(&mut self, figures: &Figures, sets: &[Arc<RoaringBitmap>; 5]) {
        self.figures.add(figures);
        for (mine, set) in self.sets.iter_mut().zip(sets) {
            if !set.is_empty() {
                mine.push(Arc::clone(set));
            }
        }
    }

    fn count(&self, set: Set) -> i64 {
        union_len(&self.sets[set as usize]) as i64
    }

    fn buyers(&self) -> RoaringBitmap {
        self.sets[Set::Buyers as usize].iter().map(|set| &**set).union()
    }
}

/// A cell read for a report: its span's first day, whether it is a month's, its figures and sets.
struct ReadCell {
    starts_on: NaiveDate,
    month: bool,
    figures: Figures,
    sets: [Arc<RoaringBitmap>; 5],
}

/// The cells a [`Cover`] takes, each as (whether a month's, its first day).
struct Taken(HashSet<(bool, NaiveDate)>);

impl Taken {
    fn of(cover: &Cover) -> Taken {
        let months = cover.months.iter().map(|month| (true, *month));
        let days = cover.days.iter().chain(&cover.stale_days).map(|day| (false, *day));
        Taken(months.chain(days).collect())
    }

    fn takes(&self, cell: &ReadCell) -> bool {
        self.0.contains(&(cell.month, cell.starts_on))
    }
}

/// The clients report's tallies and lifetime basis from the cells, as `client_dynamics` scans them;
/// `None` when the cells can't answer: a caller who sees part of the clients, one owner's or a
/// segment's clients, thresholds other than the defaults, or too many stale days.
pub fn report(
    conn: &mut PgConnection,
    query: &DynamicsQuery<'_>,
) -> QueryResult<Option<(Vec<DynamicsTally>, LifetimeBasis)>> {
    let defaults = i64::from(query.dormant_days) == DORMANT_DAYS && i64::from(query.lost_days) == LOST_DAYS;
    if !query.scope.sees_everything() || query.owner_id.is_some() || query.clients.is_some() || !defaults {
        return Ok(None);
    }
    let workspace = query.scope.workspace();
    let DateRange { from, to } = query.range;
    let days_before = |days: u64| to.checked_sub_days(Days::new(days)).unwrap_or(NaiveDate::MIN);
    let last_year = DateRange { from: days_before(364), to };
    let year_before = DateRange { from: days_before(729), to: days_before(365) };
    let whole_months = matches!(query.interval, Interval::Month | Interval::Quarter | Interval::Year);
    in_one_snapshot(conn, |conn| {
        let earliest = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN);
        let stale = stale_between(conn, Cells::Client, workspace, earliest, to)?;
        if stale.len() > MOST_STALE_DAYS {
            return Ok(None);
        }
        // Nothing happens after today: the periods' events stop there.
        let in_range = DateRange { from, to: to.min(query.today) };
        // The whole range takes month cells where it can, whatever its periods: a year by week
        // unites 12 months' sets rather than 365 days'.
        let (mut period_cover, mut whole_cover) = (Cover::default(), Cover::default());
        if in_range.from <= in_range.to {
            Cover::of(in_range, whole_months, &stale, &mut period_cover);
            Cover::of(in_range, true, &stale, &mut whole_cover);
        }
        let (mut last_cover, mut before_cover) = (Cover::default(), Cover::default());
        Cover::of(last_year, true, &stale, &mut last_cover);
        Cover::of(year_before, true, &stale, &mut before_cover);
        let covers = [&period_cover, &whole_cover, &last_cover, &before_cover];
        let cells = read_cells(conn, workspace, &covers, &stale)?;
        // The stored day cells before the range added up by the database, and the stale ones
        // (all of them were added up from the records: any may be before the range).
        let mut before = before_range(conn, workspace, from, &stale)?;
        for cell in cells
            .iter()
            .filter(|cell| !cell.month && cell.starts_on < from && stale.contains(&cell.starts_on))
        {
            before.add(&cell.figures);
        }

        let period_of = |day: NaiveDate| query.interval.start_of(day).max(from);
        let [in_periods, in_whole_range, in_last_year, in_year_before] = covers.map(Taken::of);
        let mut periods: HashMap<NaiveDate, Tally> = HashMap::new();
        let mut whole = Tally::default();
        let (mut last, mut earlier) = (Tally::default(), Tally::default());
        for cell in &cells {
            if in_periods.takes(cell) {
                periods.entry(period_of(cell.starts_on)).or_default().add(&cell.figures, &cell.sets);
            }
            if in_whole_range.takes(cell) {
                whole.add(&cell.figures, &cell.sets);
            }
            if in_last_year.takes(cell) {
                last.add(&cell.figures, &cell.sets);
            }
            if in_year_before.takes(cell) {
                earlier.add(&cell.figures, &cell.sets);
            }
        }

        let mut tallies = Vec::new();
        for (period, tally) in
            periods.iter().map(|(period, tally)| (Some(*period), tally)).chain([(None, &whole)])
        {
            tallies.extend(period_tallies(period, tally));
        }
        tallies.push(tally_before("new", before.new_clients, &Figures::default()));
        tallies.push(tally_before("first", before.first_purchases, &Figures::default()));
        tallies.push(tally_before("buyer", 0, &before));

        Ok(Some((tallies, lifetime_basis(&last, &earlier))))
    })
}

/// The cells `covers` take, stored, and every `stale` day added up from the records.
fn read_cells(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    covers: &[&Cover],
    stale: &BTreeSet<NaiveDate>,
) -> QueryResult<Vec<ReadCell>> {
    let months: BTreeSet<NaiveDate> = covers.iter().flat_map(|cover| cover.months.iter().copied()).collect();
    let days: BTreeSet<NaiveDate> = covers.iter().flat_map(|cover| cover.days.iter().copied()).collect();
    let stored: Vec<StoredFigures> = diesel::sql_query(format!(
        "SELECT {STORED_FIGURES} FROM client_cells WHERE workspace_id = $1 \
         AND ((span = 'month' AND starts_on = ANY($2)) OR (span = 'day' AND starts_on = ANY($3)))"
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<Date>, _>(months.into_iter().collect::<Vec<_>>())
    .bind::<Array<Date>, _>(days.into_iter().collect::<Vec<_>>())
    .load(conn)?;
    let versions: Vec<uuid::Uuid> = stored.iter().map(|cell| cell.version).collect();
    let sets = stored_sets(conn, workspace, &versions)?;
    let mut cells = Vec::with_capacity(stored.len() + stale.len());
    for cell in stored {
        let read = Set::ALL.map(|set| sets.get(&set.key(cell.version)).cloned());
        let [Some(buyers), Some(repeat), Some(reactivated), Some(dormant), Some(lost)] = read else {
            return Err(missing_set());
        };
        cells.push(ReadCell {
            starts_on: cell.starts_on,
            month: cell.span == "month",
            figures: cell.figures,
            sets: [buyers, repeat, reactivated, dormant, lost],
        });
    }
    let stale_days: Vec<NaiveDate> = stale.iter().copied().collect();
    for (day, cell) in day_cells(conn, workspace, &stale_days, &mut ClientNumbers::for_report())? {
        cells.push(ReadCell {
            starts_on: day,
            month: false,
            figures: cell.figures,
            sets: cell.sets.map(Arc::new),
        });
    }
    Ok(cells)
}

/// What the lifetime value is estimated from: the cells of the year ending on the report's last
/// day (`last`) and of the year before.
fn lifetime_basis(last: &Tally, year_before: &Tally) -> LifetimeBasis {
    let (buyers, earlier_buyers) = (last.buyers(), year_before.buyers());
    LifetimeBasis {
        deals: last.figures.deals,
        priced_deals: last.figures.deals - last.figures.unconverted_deals,
        revenue: last.figures.revenue,
        buyers: buyers.len() as i64,
        earlier_buyers: earlier_buyers.len() as i64,
        retained_buyers: buyers.intersection_len(&earlier_buyers) as i64,
    }
}

/// The figures of the day cells before `from` that are up to date, added up by the database:
/// the clients created, first purchases and sales before the range.
fn before_range(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    from: NaiveDate,
    stale: &BTreeSet<NaiveDate>,
) -> QueryResult<Figures> {
    let stale: Vec<NaiveDate> = stale.range(..from).copied().collect();
    diesel::sql_query(
        "SELECT coalesce(sum(new_clients), 0)::bigint AS new_clients, \
         coalesce(sum(first_purchases), 0)::bigint AS first_purchases, coalesce(sum(deals), 0)::bigint AS deals, \
         coalesce(sum(unconverted_deals), 0)::bigint AS unconverted_deals, sum(revenue) AS revenue \
         FROM client_cells WHERE workspace_id = $1 AND span = 'day' AND starts_on < $2 \
         AND NOT (starts_on = ANY($3))",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(from)
    .bind::<Array<Date>, _>(stale)
    .get_result(conn)
}

/// The tallies of one period (or, for `None`, the whole range), as the scan gives them.
fn period_tallies(period: Option<NaiveDate>, tally: &Tally) -> Vec<DynamicsTally> {
    let row = |kind: &str, clients: i64| DynamicsTally {
        kind: kind.to_owned(),
        before: false,
        period,
        whole_range: period.is_none(),
        clients,
        deals: 0,
        unconverted_deals: 0,
        revenue: None,
    };
    let mut rows = vec![
        row("new", tally.figures.new_clients),
        row("first", tally.figures.first_purchases),
        DynamicsTally {
            deals: tally.figures.deals,
            unconverted_deals: tally.figures.unconverted_deals,
            revenue: tally.figures.revenue,
            ..row("buyer", tally.count(Set::Buyers))
        },
    ];
    rows.extend(
        [Set::Repeat, Set::Reactivated, Set::Dormant, Set::Lost].map(|set| row(set.kind(), tally.count(set))),
    );
    rows
}

/// A tally of what came before the range.
fn tally_before(kind: &str, clients: i64, sales: &Figures) -> DynamicsTally {
    DynamicsTally {
        kind: kind.to_owned(),
        before: true,
        period: None,
        whole_range: true,
        clients,
        deals: sales.deals,
        unconverted_deals: sales.unconverted_deals,
        revenue: sales.revenue,
    }
}
