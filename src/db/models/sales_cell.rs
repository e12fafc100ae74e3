//! The sales cells (`sales_cells`): what the sales lines of one day, or of one calendar month, add
//! up to, for all lines and for each value of each grouping, with the buyers as a Roaring bitmap of
//! their numbers (`client_numbers`). A sales report over years adds up a few hundred cells instead of
//! millions of lines, and counts distinct buyers over any range exactly, as the size of a union.
//!
//! Cells are derived data, written by the background job of `report_cells`, which also says how
//! stale days keep a report from ever being behind.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Date, Integer, Nullable, Numeric, Text};
use roaring::{MultiOps, RoaringBitmap};
use rust_decimal::Decimal;

use super::report_cells::{
    Cells, ClientNumbers, Cover, corrupt, decoded_sets, encode_set, in_one_snapshot, refresh_stale,
    stale_between, sum_of,
};
use super::sales_line::{SalesGrouping, SalesQuery, SalesTally};
use crate::domain::report_period::{DateRange, Interval, Shift};
use crate::ids::WorkspaceId;

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

/// The columns of [`CellLine`], over `sales_lines AS l` left-joined to `client_numbers AS n`.
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
         LEFT JOIN client_numbers AS n ON n.workspace_id = $1 AND n.client_id = l.client_id \
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
        let buyers = RoaringBitmap::deserialize_from(self.buyers.as_slice())
            .map_err(|error| corrupt(format!("unreadable buyers of a sales cell: {error}")))?;
        self.figures.into_cell(Arc::new(buyers))
    }
}

fn dimension_of(text: &str) -> QueryResult<Dimension> {
    Dimension::parse(text).ok_or_else(|| corrupt(format!("unknown sales cell dimension {text:?}")))
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

/// Writes the cells of a batch of the workspace's stale days again, and of their months; returns
/// how many days. The job calls it holding the workspace's claim (`report_cells`).
pub(super) fn refresh_stale_days(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    let write_days = |conn: &mut PgConnection, days: &[NaiveDate]| {
        let mut numbers = ClientNumbers::for_job();
        for &day in days {
            let lines = lines_of(conn, workspace, &[day])?;
            numbers.number_new(conn, workspace, lines.iter().map(|line| (line.client_id, line.number)))?;
            let cells = day_cells(
                &lines,
                &Dimension::EVERY,
                |_| true,
                |line| numbers.of(line.client_id, line.number),
            );
            store(conn, workspace, "day", cells)?;
        }
        Ok(())
    };
    refresh_stale(conn, Cells::Sales, workspace, write_days, |conn, month| {
        refresh_month(conn, workspace, month)
    })
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
        buyers.push(encode_set(&figures.buyers)?);
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
        let stale = stale_between(conn, Cells::Sales, workspace, earliest, latest)?;
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
            let mut numbers = ClientNumbers::for_report();
            let wanted =
                |value: Option<&str>| selection.value.is_none() || value == selection.value.as_deref();
            let cells =
                day_cells(&lines, &dimensions, wanted, |line| numbers.of(line.client_id, line.number));
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

/// Which stored cells add up `cover`: of `dimensions`, of `value` only when given.
const COVERED: &str = "workspace_id = $1 AND dimension = ANY($2) AND ($3::text IS NULL OR value = $3) \
     AND ((span = 'month' AND starts_on = ANY($4)) OR (span = 'day' AND starts_on = ANY($5)))";

/// The stored cells of `cover` in `dimensions` (of `value` only, when given), their buyer sets
/// as this process decoded them before where it did; with empty sets when `buyers` aren't wanted.
fn covered_cells(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    dimensions: &[Dimension],
    value: Option<&str>,
    cover: &Cover,
    buyers: bool,
) -> QueryResult<Vec<(CellKey, Figures)>> {
    if cover.is_stored_empty() {
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
    let versions: Vec<uuid::Uuid> = cells.iter().map(|cell| cell.version).collect();
    let sets = decoded_sets(&versions, |missing| {
        let read: Vec<CellBuyers> = diesel::sql_query(format!(
            "SELECT version, buyers FROM sales_cells WHERE {COVERED} AND version = ANY($6)"
        ))
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .bind::<Array<Text>, _>(&names)
        .bind::<Nullable<Text>, _>(value)
        .bind::<Array<Date>, _>(&cover.months)
        .bind::<Array<Date>, _>(&cover.days)
        .bind::<Array<diesel::sql_types::Uuid>, _>(missing)
        .load(conn)?;
        Ok(read.into_iter().map(|cell| (cell.version, cell.buyers)).collect())
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report_period::tests::{day, range};

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
        let mut numbers = ClientNumbers::for_report();
        let cells = day_cells(&lines, &dimensions, |_| true, |line| numbers.of(line.client_id, line.number));
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
