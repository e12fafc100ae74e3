//! The sales cells (`sales_cells`): what the sales lines of one day, or of one calendar month, add
//! up to, for all lines and for each value of each grouping, with the buyers as a Roaring bitmap of
//! their numbers (`buyer_numbers`). A sales report over years adds up a few hundred cells instead of
//! millions of lines, and counts distinct buyers over any range exactly, as the size of a union.
//!
//! Cells are derived data, written by a background job ([`refresh_due`]). Every write to the sales
//! lines marks its days stale in its own transaction ([`mark_stale`]); a report adds those days up
//! from their lines instead, and reads cells and stale days in one snapshot, so it is never behind.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{Months, NaiveDate};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Date, Integer, Nullable, Numeric, Text};
use roaring::{MultiOps, RoaringBitmap};
use rust_decimal::Decimal;

use super::sales_line::{SalesGrouping, SalesQuery, SalesTally};
use crate::domain::report_period::{DateRange, Interval, Shift};
use crate::ids::WorkspaceId;

/// How many stale days one transaction of the job writes again: a month's, so that the lines it
/// holds at once stay a day's and the transaction short.
const DAYS_PER_REFRESH: i64 = 31;

/// Which lines a cell adds up: all of its span's, or those of one value of one grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dimension {
    All,
    By(SalesGrouping),
}

impl Dimension {
    const EVERY: [Dimension; 8] = [
        Dimension::All,
        Dimension::By(SalesGrouping::Owner),
        Dimension::By(SalesGrouping::Team),
        Dimension::By(SalesGrouping::ProductGroup),
        Dimension::By(SalesGrouping::Product),
        Dimension::By(SalesGrouping::Pipeline),
        Dimension::By(SalesGrouping::Source),
        Dimension::By(SalesGrouping::ClientKind),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Dimension::All => "all",
            Dimension::By(grouping) => grouping.as_str(),
        }
    }

    fn parse(text: &str) -> Option<Dimension> {
        Dimension::EVERY.into_iter().find(|dimension| dimension.as_str() == text)
    }
}

/// One sales line as the cells see it: its day, its buyer, its deal, its keys and its revenue.
#[derive(Debug, QueryableByName)]
struct CellLine {
    #[diesel(sql_type = Date)]
    won_on: NaiveDate,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    client_id: uuid::Uuid,
    /// Null for a buyer the job has not numbered yet (only in a report's stale days).
    #[diesel(sql_type = Nullable<Integer>)]
    number: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    deal_id: uuid::Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    owner: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    team: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    product_group: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    product: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pipeline: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    source: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    client_kind: Option<String>,
    #[diesel(sql_type = Nullable<Numeric>)]
    amount_base: Option<Decimal>,
    #[diesel(sql_type = Bool)]
    first_purchase: bool,
}

impl CellLine {
    /// The line's key in `dimension`, as the sales report's scan gives it (`SalesGrouping::column`).
    fn key(&self, dimension: Dimension) -> Option<&str> {
        let key = match dimension {
            Dimension::All => return None,
            Dimension::By(SalesGrouping::Owner) => &self.owner,
            Dimension::By(SalesGrouping::Team) => &self.team,
            Dimension::By(SalesGrouping::ProductGroup) => &self.product_group,
            Dimension::By(SalesGrouping::Product) => &self.product,
            Dimension::By(SalesGrouping::Pipeline) => &self.pipeline,
            Dimension::By(SalesGrouping::Source) => &self.source,
            Dimension::By(SalesGrouping::ClientKind) => &self.client_kind,
        };
        key.as_deref()
    }
}

/// The columns of [`CellLine`], over `sales_lines AS l` left-joined to `buyer_numbers AS n`.
const CELL_LINE_COLUMNS: &str = "l.won_on, l.client_id, n.number, l.deal_id, l.owner_id::text AS owner, \
     l.team_id::text AS team, l.product_group, l.product_id::text AS product, l.pipeline_id::text AS pipeline, \
     l.source, l.client_kind, l.amount_base, l.first_purchase";

/// The lines of `days` of the workspace, with their buyers' numbers where they have one.
fn lines_of(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    days: &[NaiveDate],
) -> QueryResult<Vec<CellLine>> {
    diesel::sql_query(format!(
        "SELECT {CELL_LINE_COLUMNS} FROM sales_lines AS l \
         LEFT JOIN buyer_numbers AS n ON n.workspace_id = $1 AND n.client_id = l.client_id \
         WHERE l.workspace_id = $1 AND l.won_on = ANY($2)"
    ))
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Array<Date>, _>(days)
    .load(conn)
}

/// What the lines of a cell add up to.
#[derive(Debug, Clone)]
struct Figures {
    deals: i64,
    revenue: Option<Decimal>,
    unconverted_deals: i64,
    first_time_buyers: i64,
    buyers: Arc<RoaringBitmap>,
}

/// Revenue added up as `sum` does: null only when both are.
fn sum_of(mine: Option<Decimal>, theirs: Option<Decimal>) -> Option<Decimal> {
    match (mine, theirs) {
        (Some(mine), Some(theirs)) => Some(mine + theirs),
        (mine, theirs) => mine.or(theirs),
    }
}

/// The figures of several cells while they are added up (a report's period and group, a month's
/// days): their buyer sets are kept and united once at the end, which is much faster than uniting
/// them one by one.
#[derive(Debug, Default)]
struct Tally {
    deals: i64,
    revenue: Option<Decimal>,
    unconverted_deals: i64,
    first_time_buyers: i64,
    buyer_sets: Vec<Arc<RoaringBitmap>>,
}

impl Tally {
    fn add(&mut self, cell: &Figures) {
        self.deals += cell.deals;
        self.revenue = sum_of(self.revenue, cell.revenue);
        self.unconverted_deals += cell.unconverted_deals;
        self.first_time_buyers += cell.first_time_buyers;
        if !cell.buyers.is_empty() {
            self.buyer_sets.push(Arc::clone(&cell.buyers));
        }
    }

    fn unique_buyers(&self) -> u64 {
        super::buyer_union::union_len(&self.buyer_sets)
    }

    /// The figures of the cells added up, as one cell's: a month's from its days'.
    fn into_figures(self) -> Figures {
        let buyers = match self.buyer_sets.as_slice() {
            [only] => Arc::clone(only),
            sets => Arc::new(sets.iter().map(|set| &**set).union()),
        };
        Figures {
            deals: self.deals,
            revenue: self.revenue,
            unconverted_deals: self.unconverted_deals,
            first_time_buyers: self.first_time_buyers,
            buyers,
        }
    }
}

/// A cell's figures while its lines are added up: deals are counted once however many of their
/// lines the cell holds.
#[derive(Default)]
struct FiguresOfLines {
    deals: HashSet<uuid::Uuid>,
    unconverted: HashSet<uuid::Uuid>,
    first_buyers: RoaringBitmap,
    revenue: Option<Decimal>,
    buyers: RoaringBitmap,
}

impl FiguresOfLines {
    fn add(&mut self, line: &CellLine, buyer: u32) {
        self.deals.insert(line.deal_id);
        match line.amount_base {
            Some(amount) => self.revenue = Some(self.revenue.unwrap_or_default() + amount),
            None => {
                self.unconverted.insert(line.deal_id);
            }
        }
        if line.first_purchase {
            self.first_buyers.insert(buyer);
        }
        self.buyers.insert(buyer);
    }

    fn finish(self) -> Figures {
        Figures {
            deals: self.deals.len() as i64,
            revenue: self.revenue,
            unconverted_deals: self.unconverted.len() as i64,
            first_time_buyers: self.first_buyers.len() as i64,
            buyers: Arc::new(self.buyers),
        }
    }
}

/// A cell: a day or a month (its first day), a dimension, and the value of its lines there.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CellKey {
    starts_on: NaiveDate,
    dimension: Dimension,
    value: Option<String>,
}

/// The day cells of `lines` in `dimensions`, whose values pass `wanted`; `buyer` numbers a line's
/// client.
fn day_cells(
    lines: &[CellLine],
    dimensions: &[Dimension],
    wanted: impl Fn(Option<&str>) -> bool,
    mut buyer: impl FnMut(&CellLine) -> u32,
) -> HashMap<CellKey, Figures> {
    let mut cells: HashMap<CellKey, FiguresOfLines> = HashMap::new();
    for line in lines {
        let number = buyer(line);
        for &dimension in dimensions {
            let value = line.key(dimension);
            if !wanted(value) {
                continue;
            }
            let key = CellKey { starts_on: line.won_on, dimension, value: value.map(str::to_owned) };
            cells.entry(key).or_default().add(line, number);
        }
    }
    cells.into_iter().map(|(key, figures)| (key, figures.finish())).collect()
}

/// A stored cell as read back, with its buyers.
#[derive(QueryableByName)]
struct StoredCell {
    #[diesel(embed)]
    figures: CellFigures,
    #[diesel(sql_type = Bytea)]
    buyers: Vec<u8>,
}

impl StoredCell {
    fn into_cell(self) -> QueryResult<(CellKey, Figures)> {
        let buyers = Arc::new(decode_buyers(&self.buyers)?);
        self.figures.into_cell(buyers)
    }
}

fn dimension_of(text: &str) -> QueryResult<Dimension> {
    Dimension::parse(text).ok_or_else(|| corrupt(format!("unknown sales cell dimension {text:?}")))
}

fn decode_buyers(bytes: &[u8]) -> QueryResult<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes)
        .map_err(|error| corrupt(format!("unreadable buyers of a sales cell: {error}")))
}

fn corrupt(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

/// Marks `days` of the workspace stale: their cells no longer match their lines. Call it in the
/// transaction that changes the lines. A plain insert, without a key to meet: it never waits for
/// another transaction marking the same day.
pub fn mark_stale(conn: &mut PgConnection, workspace: WorkspaceId, days: &[NaiveDate]) -> QueryResult<()> {
    if days.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO sales_cells_stale (workspace_id, day) SELECT DISTINCT $1::uuid, unnest($2::date[])",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Array<Date>, _>(days)
    .execute(conn)?;
    Ok(())
}

/// Marks every day of the workspace's lines stale, for a change that moves all of them (the time
/// zone's): call it before and after.
pub fn mark_all_stale(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO sales_cells_stale (workspace_id, day) \
         SELECT DISTINCT $1::uuid, won_on FROM sales_lines WHERE workspace_id = $1",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .execute(conn)?;
    Ok(())
}

/// Gives a new workspace the row the job claims it by ([`refresh_workspace`]). Written with the
/// workspace, never by the job: an insert that meets another process's uncommitted one waits.
pub fn add_workspace(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
    diesel::sql_query("INSERT INTO sales_cells_refreshes (workspace_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .execute(conn)
        .map(drop)
}

#[derive(QueryableByName)]
struct DueWorkspace {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    workspace_id: uuid::Uuid,
}

#[derive(QueryableByName)]
struct StaleDay {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
}

/// Writes the cells of stale days again, a batch of days per workspace and transaction, until no
/// day is stale or another process holds the workspaces that are. Returns how many days it wrote.
///
/// Workspaces with stale days are found without a lock, then claimed one at a time (their row in
/// `sales_cells_refreshes`, `FOR UPDATE SKIP LOCKED`): one process writes a workspace's cells at a
/// time, as a month's cell adds up its days'.
pub fn refresh_due(conn: &mut PgConnection) -> QueryResult<usize> {
    let mut written = 0;
    loop {
        let due: Vec<DueWorkspace> =
            diesel::sql_query("SELECT DISTINCT workspace_id FROM sales_cells_stale LIMIT 64").load(conn)?;
        let mut progress = 0;
        for workspace in due {
            progress += refresh_workspace(conn, WorkspaceId(workspace.workspace_id))?;
        }
        if progress == 0 {
            return Ok(written);
        }
        written += progress;
    }
}

/// Writes the cells of up to [`DAYS_PER_REFRESH`] stale days of `workspace` again, and of their
/// months; 0 when another process holds the workspace or no day is stale.
pub fn refresh_workspace(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let claimed = diesel::sql_query(
            "SELECT workspace_id FROM sales_cells_refreshes WHERE workspace_id = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .load::<DueWorkspace>(conn)?;
        if claimed.is_empty() {
            return Ok(0);
        }
        // A day marked several times comes back once per mark.
        let days: Vec<NaiveDate> = diesel::sql_query(
            "DELETE FROM sales_cells_stale WHERE workspace_id = $1 AND day IN \
             (SELECT DISTINCT day FROM sales_cells_stale WHERE workspace_id = $1 ORDER BY day LIMIT $2) \
             RETURNING day",
        )
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .bind::<BigInt, _>(DAYS_PER_REFRESH)
        .load::<StaleDay>(conn)?
        .into_iter()
        .map(|stale| stale.day)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
        if days.is_empty() {
            return Ok(0);
        }
        number_new_buyers(conn, workspace, &days)?;
        diesel::sql_query(
            "DELETE FROM sales_cells WHERE workspace_id = $1 AND span = 'day' AND starts_on = ANY($2)",
        )
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .bind::<Array<Date>, _>(&days)
        .execute(conn)?;
        for &day in &days {
            let lines = lines_of(conn, workspace, &[day])?;
            let cells = day_cells(&lines, &Dimension::EVERY, |_| true, |line| buyer_number(line.number));
            store(conn, workspace, "day", cells)?;
        }
        let months: BTreeSet<NaiveDate> = days.iter().map(|&day| Interval::Month.start_of(day)).collect();
        for month in months {
            refresh_month(conn, workspace, month)?;
        }
        diesel::sql_query("UPDATE sales_cells_refreshes SET refreshed_at = now() WHERE workspace_id = $1")
            .bind::<diesel::sql_types::Uuid, _>(workspace.0)
            .execute(conn)?;
        Ok(days.len())
    })
}

/// A numbered buyer's number. The job numbers every buyer of the days it writes first, so a line
/// there always has one.
fn buyer_number(number: Option<i32>) -> u32 {
    number.and_then(|number| u32::try_from(number).ok()).unwrap_or(u32::MAX)
}

/// Numbers the buyers of `days` who have no number yet, after the highest given.
fn number_new_buyers(conn: &mut PgConnection, workspace: WorkspaceId, days: &[NaiveDate]) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO buyer_numbers (workspace_id, client_id, number) \
         SELECT $1, buyer.client_id, \
                (SELECT coalesce(max(number), 0) FROM buyer_numbers WHERE workspace_id = $1) \
                + row_number() OVER (ORDER BY buyer.client_id) \
         FROM (SELECT DISTINCT l.client_id FROM sales_lines AS l \
               WHERE l.workspace_id = $1 AND l.won_on = ANY($2) \
               AND NOT EXISTS (SELECT FROM buyer_numbers AS n WHERE n.workspace_id = $1 AND n.client_id = l.client_id) \
         ) AS buyer",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Array<Date>, _>(days)
    .execute(conn)?;
    Ok(())
}

/// Writes the cells of `month` again from its day cells.
fn refresh_month(conn: &mut PgConnection, workspace: WorkspaceId, month: NaiveDate) -> QueryResult<()> {
    let end = month.checked_add_months(Months::new(1)).unwrap_or(month);
    let days: Vec<StoredCell> = diesel::sql_query(
        "SELECT starts_on, dimension, value, deals, revenue, unconverted_deals, first_time_buyers, version, buyers \
         FROM sales_cells WHERE workspace_id = $1 AND span = 'day' AND starts_on >= $2 AND starts_on < $3",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .bind::<Date, _>(end)
    .load(conn)?;
    let mut tallies: HashMap<CellKey, Tally> = HashMap::new();
    for stored in days {
        let (key, figures) = stored.into_cell()?;
        tallies.entry(CellKey { starts_on: month, ..key }).or_default().add(&figures);
    }
    let cells = tallies.into_iter().map(|(key, tally)| (key, tally.into_figures())).collect();
    diesel::sql_query(
        "DELETE FROM sales_cells WHERE workspace_id = $1 AND span = 'month' AND starts_on = $2",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .execute(conn)?;
    store(conn, workspace, "month", cells)
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
    let mut deals = Vec::with_capacity(cells.len());
    let mut revenues = Vec::with_capacity(cells.len());
    let mut unconverted = Vec::with_capacity(cells.len());
    let mut first_buyers = Vec::with_capacity(cells.len());
    let mut buyer_counts = Vec::with_capacity(cells.len());
    let mut buyers = Vec::with_capacity(cells.len());
    let versions: Vec<uuid::Uuid> = (0..cells.len()).map(|_| uuid::Uuid::now_v7()).collect();
    for (key, figures) in cells {
        starts.push(key.starts_on);
        dimensions.push(key.dimension.as_str());
        values.push(key.value);
        deals.push(figures.deals);
        revenues.push(figures.revenue);
        unconverted.push(figures.unconverted_deals);
        first_buyers.push(figures.first_time_buyers);
        buyer_counts.push(figures.buyers.len() as i64);
        let mut bytes = Vec::with_capacity(figures.buyers.serialized_size());
        figures.buyers.serialize_into(&mut bytes).map_err(|error| corrupt(error.to_string()))?;
        buyers.push(bytes);
    }
    diesel::sql_query(
        "INSERT INTO sales_cells (workspace_id, span, starts_on, dimension, value, deals, revenue, unconverted_deals, \
         first_time_buyers, buyer_count, buyers, version) \
         SELECT $1, $2, * FROM unnest($3::date[], $4::text[], $5::text[], $6::bigint[], $7::numeric[], $8::bigint[], \
         $9::bigint[], $10::bigint[], $11::bytea[], $12::uuid[])",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Text, _>(span)
    .bind::<Array<Date>, _>(starts)
    .bind::<Array<Text>, _>(dimensions)
    .bind::<Array<Nullable<Text>>, _>(values)
    .bind::<Array<BigInt>, _>(deals)
    .bind::<Array<Nullable<Numeric>>, _>(revenues)
    .bind::<Array<BigInt>, _>(unconverted)
    .bind::<Array<BigInt>, _>(first_buyers)
    .bind::<Array<BigInt>, _>(buyer_counts)
    .bind::<Array<Bytea>, _>(buyers)
    .bind::<Array<diesel::sql_types::Uuid>, _>(versions)
    .execute(conn)?;
    Ok(())
}

/// Which cells answer a report: those of `group`'s values (with `group_by`), and of `total` for the
/// figures of all groups; only those of `value` when a filter names one.
#[derive(Debug, Clone, PartialEq)]
struct Selection {
    group: Option<Dimension>,
    total: Dimension,
    value: Option<String>,
}

impl Selection {
    /// The cells that answer `query`, or `None` when they can't: a caller who sees part of the
    /// clients, one currency's own amounts, a segment, or filters on more than the grouping.
    fn of(query: &SalesQuery<'_>) -> Option<Selection> {
        let filter = &query.filter;
        if !filter.scope.sees_everything() || filter.currency.is_some() || filter.clients.is_some() {
            return None;
        }
        let filters: Vec<(SalesGrouping, String)> = [
            filter.owner_id.map(|id| (SalesGrouping::Owner, id.to_string())),
            filter.team_id.map(|id| (SalesGrouping::Team, id.to_string())),
            filter.pipeline_id.map(|id| (SalesGrouping::Pipeline, id.to_string())),
            filter.product_group.clone().map(|group| (SalesGrouping::ProductGroup, group)),
        ]
        .into_iter()
        .flatten()
        .collect();
        match (filters.as_slice(), query.group_by) {
            ([], group_by) => {
                Some(Selection { group: group_by.map(Dimension::By), total: Dimension::All, value: None })
            }
            ([(filtered, value)], group_by) if group_by.is_none() || group_by == Some(*filtered) => {
                let dimension = Dimension::By(*filtered);
                Some(Selection {
                    group: group_by.map(|_| dimension),
                    total: dimension,
                    value: Some(value.clone()),
                })
            }
            _ => None,
        }
    }

    fn dimensions(&self) -> Vec<Dimension> {
        let mut dimensions = vec![self.total];
        if let Some(group) = self.group.filter(|group| *group != self.total) {
            dimensions.push(group);
        }
        dimensions
    }
}

/// The cells that add up one range: whole months' cells where every day of the month falls on one
/// period of the report, the other days' cells, and the stale days, added up from their lines.
#[derive(Debug, Default, PartialEq)]
struct Cover {
    months: Vec<NaiveDate>,
    days: Vec<NaiveDate>,
    stale_days: Vec<NaiveDate>,
}

impl Cover {
    fn of(range: DateRange, whole_months: bool, stale: &BTreeSet<NaiveDate>, cover: &mut Cover) {
        let mut month = Interval::Month.start_of(range.from);
        while month <= range.to {
            let Some(next) = month.checked_add_months(Months::new(1)) else { return };
            let inside = month >= range.from && next <= range.to.succ_opt().unwrap_or(next);
            if whole_months && inside && stale.range(month..next).next().is_none() {
                cover.months.push(month);
            } else {
                for day in month.max(range.from).iter_days().take_while(|day| *day < next && *day <= range.to)
                {
                    if stale.contains(&day) {
                        cover.stale_days.push(day);
                    } else {
                        cover.days.push(day);
                    }
                }
            }
            month = next;
        }
    }
}

/// Where a cell's lines count in a report: in the report's range or the compared one, and on which
/// period.
struct Placement {
    range: DateRange,
    interval: Interval,
    shift: Option<Shift>,
}

impl Placement {
    fn place(&self, starts_on: NaiveDate) -> (bool, NaiveDate) {
        let current = starts_on >= self.range.from;
        let day = match (current, self.shift) {
            (false, Some(shift)) => shift.forward(starts_on).unwrap_or(starts_on),
            _ => starts_on,
        };
        (current, self.interval.start_of(day).max(self.range.from))
    }
}

/// Which figures a cell adds to: one group's, or all groups'.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Slot {
    Group(Option<String>),
    Total,
}

/// The sales report's tallies from the cells, as `sales_line::sales_tallies` scans them from the
/// lines; `None` when the cells can't answer the query (see [`Selection::of`]).
pub fn sales_tallies(
    conn: &mut PgConnection,
    query: &SalesQuery<'_>,
) -> QueryResult<Option<Vec<SalesTally>>> {
    let Some(selection) = Selection::of(query) else { return Ok(None) };
    let workspace = query.filter.scope.workspace();
    let shift = query.compared.map(|(_, shift)| shift);
    let months_fit = |shift: Option<Shift>| {
        matches!(query.interval, Interval::Month | Interval::Quarter | Interval::Year)
            && !matches!(shift, Some(Shift::Days(_)))
    };
    let placement = Placement { range: query.range, interval: query.interval, shift };
    let earliest =
        query.compared.map_or(query.range.from, |(compared, _)| compared.from.min(query.range.from));
    let latest = query.compared.map_or(query.range.to, |(compared, _)| compared.to.max(query.range.to));
    in_one_snapshot(conn, |conn| {
        let stale: BTreeSet<NaiveDate> = diesel::sql_query(
            "SELECT day FROM sales_cells_stale WHERE workspace_id = $1 AND day BETWEEN $2 AND $3",
        )
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .bind::<Date, _>(earliest)
        .bind::<Date, _>(latest)
        .load::<StaleDay>(conn)?
        .into_iter()
        .map(|stale| stale.day)
        .collect();
        let mut cover = Cover::default();
        Cover::of(query.range, months_fit(None), &stale, &mut cover);
        if let Some((compared, shift)) = query.compared {
            Cover::of(compared, months_fit(Some(shift)), &stale, &mut cover);
        }
        let dimensions = selection.dimensions();
        let mut tallies: HashMap<(bool, Option<NaiveDate>, Slot), Tally> = HashMap::new();
        let mut count = |key: CellKey, figures: Figures| {
            let (current, period) = placement.place(key.starts_on);
            let mut slots = Vec::with_capacity(2);
            if selection.group == Some(key.dimension) {
                slots.push(Slot::Group(key.value.clone()));
            }
            if selection.total == key.dimension {
                slots.push(if selection.group.is_some() { Slot::Total } else { Slot::Group(None) });
            }
            for slot in slots {
                tallies.entry((current, Some(period), slot.clone())).or_default().add(&figures);
                tallies.entry((current, None, slot)).or_default().add(&figures);
            }
        };
        let cells = covered_cells(
            conn,
            workspace,
            &dimensions,
            selection.value.as_deref(),
            &cover,
            query.unique_buyers,
        )?;
        for (key, figures) in cells {
            count(key, figures);
        }
        if !cover.stale_days.is_empty() {
            let lines = lines_of(conn, workspace, &cover.stale_days)?;
            // Buyers the job has not numbered yet get numbers of their own for this report, from
            // the top down, where no numbered buyer is.
            let mut unnumbered: HashMap<uuid::Uuid, u32> = HashMap::new();
            let wanted =
                |value: Option<&str>| selection.value.is_none() || value == selection.value.as_deref();
            let cells = day_cells(&lines, &dimensions, wanted, |line| match line.number {
                Some(number) => buyer_number(Some(number)),
                None => {
                    let next = u32::MAX - unnumbered.len() as u32;
                    *unnumbered.entry(line.client_id).or_insert(next)
                }
            });
            for (key, figures) in cells {
                count(key, figures);
            }
        }
        let mut rows: Vec<SalesTally> = tallies
            .into_iter()
            .map(|((current, period, slot), tally)| {
                let (group_key, all_groups) = match slot {
                    Slot::Group(value) => (value, false),
                    Slot::Total => (None, true),
                };
                SalesTally {
                    current,
                    period,
                    whole_range: period.is_none(),
                    group_key,
                    all_groups,
                    deals: tally.deals,
                    revenue: tally.revenue,
                    unique_buyers: tally.unique_buyers() as i64,
                    first_time_buyers: tally.first_time_buyers,
                    unconverted_deals: tally.unconverted_deals,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            (!a.current, a.period, a.all_groups, &a.group_key).cmp(&(
                !b.current,
                b.period,
                b.all_groups,
                &b.group_key,
            ))
        });
        Ok(Some(rows))
    })
}

/// A stored cell's figures, without its buyers.
#[derive(QueryableByName)]
struct CellFigures {
    #[diesel(sql_type = Date)]
    starts_on: NaiveDate,
    #[diesel(sql_type = Text)]
    dimension: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
    #[diesel(sql_type = BigInt)]
    deals: i64,
    #[diesel(sql_type = Nullable<Numeric>)]
    revenue: Option<Decimal>,
    #[diesel(sql_type = BigInt)]
    unconverted_deals: i64,
    #[diesel(sql_type = BigInt)]
    first_time_buyers: i64,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    version: uuid::Uuid,
}

impl CellFigures {
    fn into_cell(self, buyers: Arc<RoaringBitmap>) -> QueryResult<(CellKey, Figures)> {
        let key = CellKey {
            starts_on: self.starts_on,
            dimension: dimension_of(&self.dimension)?,
            value: self.value,
        };
        let figures = Figures {
            deals: self.deals,
            revenue: self.revenue,
            unconverted_deals: self.unconverted_deals,
            first_time_buyers: self.first_time_buyers,
            buyers,
        };
        Ok((key, figures))
    }
}

#[derive(QueryableByName)]
struct CellBuyers {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    version: uuid::Uuid,
    #[diesel(sql_type = Bytea)]
    buyers: Vec<u8>,
}

/// The buyer sets this process decoded, by the version of the cell they came from: a report over
/// the months an earlier one covered reads their figures again, but not their sets. Up to
/// [`BUYER_SETS_BUDGET`] bytes as stored; past it the cache starts over. A cell written again has
/// a new version, so a set is never taken for a cell it no longer matches.
static BUYER_SETS: LazyLock<Mutex<BuyerSets>> = LazyLock::new(Mutex::default);
const BUYER_SETS_BUDGET: usize = 32 << 20;

#[derive(Default)]
struct BuyerSets {
    sets: HashMap<uuid::Uuid, Arc<RoaringBitmap>>,
    bytes: usize,
}

fn buyer_sets() -> std::sync::MutexGuard<'static, BuyerSets> {
    BUYER_SETS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which stored cells add up `cover`: of `dimensions`, of `value` only when given.
const COVERED: &str = "workspace_id = $1 AND dimension = ANY($2) AND ($3::text IS NULL OR value = $3) \
     AND ((span = 'month' AND starts_on = ANY($4)) OR (span = 'day' AND starts_on = ANY($5)))";

/// The stored cells of `cover` in `dimensions` (of `value` only, when given), their buyer sets
/// from [`BUYER_SETS`] where it has them; with empty sets when `buyers` aren't wanted.
fn covered_cells(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    dimensions: &[Dimension],
    value: Option<&str>,
    cover: &Cover,
    buyers: bool,
) -> QueryResult<Vec<(CellKey, Figures)>> {
    if cover.months.is_empty() && cover.days.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = dimensions.iter().map(|dimension| dimension.as_str()).collect();
    let cells: Vec<CellFigures> = diesel::sql_query(format!(
        "SELECT starts_on, dimension, value, deals, revenue, unconverted_deals, first_time_buyers, version \
         FROM sales_cells WHERE {COVERED}"
    ))
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<Array<Text>, _>(&names)
    .bind::<Nullable<Text>, _>(value)
    .bind::<Array<Date>, _>(&cover.months)
    .bind::<Array<Date>, _>(&cover.days)
    .load(conn)?;
    if !buyers {
        let none = Arc::new(RoaringBitmap::new());
        return cells.into_iter().map(|cell| cell.into_cell(Arc::clone(&none))).collect();
    }
    let mut sets: HashMap<uuid::Uuid, Arc<RoaringBitmap>> = {
        let cached = buyer_sets();
        cells
            .iter()
            .filter_map(|cell| Some((cell.version, Arc::clone(cached.sets.get(&cell.version)?))))
            .collect()
    };
    let missing: Vec<uuid::Uuid> =
        cells.iter().map(|cell| cell.version).filter(|version| !sets.contains_key(version)).collect();
    if !missing.is_empty() {
        let read: Vec<CellBuyers> = diesel::sql_query(format!(
            "SELECT version, buyers FROM sales_cells WHERE {COVERED} AND version = ANY($6)"
        ))
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .bind::<Array<Text>, _>(&names)
        .bind::<Nullable<Text>, _>(value)
        .bind::<Array<Date>, _>(&cover.months)
        .bind::<Array<Date>, _>(&cover.days)
        .bind::<Array<diesel::sql_types::Uuid>, _>(&missing)
        .load(conn)?;
        let mut cached = buyer_sets();
        for cell in read {
            let set = Arc::new(decode_buyers(&cell.buyers)?);
            if cached.bytes + cell.buyers.len() > BUYER_SETS_BUDGET {
                cached.sets.clear();
                cached.bytes = 0;
            }
            cached.bytes += cell.buyers.len();
            cached.sets.insert(cell.version, Arc::clone(&set));
            sets.insert(cell.version, set);
        }
    }
    cells
        .into_iter()
        .map(|cell| {
            let buyers = sets
                .get(&cell.version)
                .cloned()
                .ok_or_else(|| corrupt("a sales cell's buyers went missing while read".to_owned()))?;
            cell.into_cell(buyers)
        })
        .collect()
}

/// Runs `work` in one repeatable-read snapshot, so that the stale days and the cells it reads
/// agree; in the caller's transaction when it is in one.
fn in_one_snapshot<T>(
    conn: &mut PgConnection,
    work: impl FnOnce(&mut PgConnection) -> QueryResult<T>,
) -> QueryResult<T> {
    let in_transaction =
        AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth()?.is_some();
    if in_transaction { work(conn) } else { conn.build_transaction().read_only().repeatable_read().run(work) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn range(from: &str, to: &str) -> DateRange {
        DateRange { from: day(from), to: day(to) }
    }

    #[test]
    fn a_range_takes_its_whole_clean_months_and_the_days_of_the_rest() {
        let stale: BTreeSet<NaiveDate> = [day("2026-03-10")].into();
        let mut cover = Cover::default();
        Cover::of(range("2026-01-30", "2026-04-02"), true, &stale, &mut cover);
        assert_eq!(cover.months, vec![day("2026-02-01")]);
        let mut days = vec![day("2026-01-30"), day("2026-01-31")];
        days.extend((1..=31).filter(|&d| d != 10).map(|d| NaiveDate::from_ymd_opt(2026, 3, d).expect("day")));
        days.extend([day("2026-04-01"), day("2026-04-02")]);
        assert_eq!(cover.days, days);
        assert_eq!(cover.stale_days, vec![day("2026-03-10")]);
    }

    #[test]
    fn days_and_weeks_take_day_cells_only() {
        let mut cover = Cover::default();
        Cover::of(range("2026-02-01", "2026-02-28"), false, &BTreeSet::new(), &mut cover);
        assert!(cover.months.is_empty());
        assert_eq!(cover.days.len(), 28);
    }

    #[test]
    fn compared_cells_move_onto_the_reports_periods() {
        let placement = Placement {
            range: range("2026-01-15", "2026-12-31"),
            interval: Interval::Quarter,
            shift: Some(Shift::Months(12)),
        };
        assert_eq!(placement.place(day("2026-02-01")), (true, day("2026-01-15")));
        assert_eq!(placement.place(day("2026-05-01")), (true, day("2026-04-01")));
        assert_eq!(placement.place(day("2025-08-01")), (false, day("2026-07-01")));
        assert_eq!(placement.place(day("2025-01-20")), (false, day("2026-01-15")));
    }

    #[test]
    fn a_deal_counts_once_in_a_cell_however_many_of_its_lines_it_holds() {
        let deal = uuid::Uuid::from_u128(7);
        let line = |group: &str, amount: i64, client: u128| CellLine {
            won_on: day("2026-03-01"),
            client_id: uuid::Uuid::from_u128(client),
            number: Some(client as i32),
            deal_id: if client == 1 { deal } else { uuid::Uuid::from_u128(client + 100) },
            owner: None,
            team: None,
            product_group: Some(group.to_owned()),
            product: None,
            pipeline: None,
            source: None,
            client_kind: None,
            amount_base: Some(Decimal::new(amount, 0)),
            first_purchase: client == 1,
        };
        let lines = [line("tea", 10, 1), line("tea", 5, 1), line("cups", 7, 1), line("tea", 1, 2)];
        let dimensions = [Dimension::All, Dimension::By(SalesGrouping::ProductGroup)];
        let cells = day_cells(&lines, &dimensions, |_| true, |line| buyer_number(line.number));
        let all = &cells[&CellKey { starts_on: day("2026-03-01"), dimension: Dimension::All, value: None }];
        assert_eq!(
            (all.deals, all.revenue, all.first_time_buyers, all.buyers.len()),
            (2, Some(Decimal::new(23, 0)), 1, 2)
        );
        let tea = &cells[&CellKey {
            starts_on: day("2026-03-01"),
            dimension: dimensions[1],
            value: Some("tea".to_owned()),
        }];
        assert_eq!((tea.deals, tea.revenue, tea.buyers.len()), (2, Some(Decimal::new(16, 0)), 2));
    }
}
