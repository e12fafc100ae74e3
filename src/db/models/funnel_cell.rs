//! The funnel cells (`funnel_cells`): what the live deals of one pipeline created on one day, or in
//! one calendar month, add up to for the funnel now: their statuses, how far they got, why the lost
//! ones were lost, and their stays in each stage. A year's funnel adds up 18 cells instead of
//! following 880,000 deals through their history (1M clients).
//!
//! The funnel follows a cohort by its creation day, and a deal's figures change whenever it moves,
//! on whatever day: every write to a deal marks the day it was created
//! (`report_cells::mark_deal_days_stale`); a write to a pipeline's stages that changes their
//! positions or kinds, which say how far a deal got, marks the creation days of all its deals
//! ([`mark_pipeline_stale`]). The cells are written by the job of `report_cells`, which also says
//! how stale days keep a report from being behind. A median adds up as it is: each cell keeps how
//! many stays ended after each length, in tenths of a day, the unit the report's median is defined
//! in.

use std::collections::{BTreeMap, HashMap};

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Date, Integer, Jsonb, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::funnel::{Cohort, FunnelTallies, LostReason, Reach, StatusCount, Stays};
use super::report_cells::{
    Cells, Cover, DayBounds, MOST_STALE_DAYS, corrupt, day_bounds, in_one_snapshot, refresh_stale,
    stale_between, sum_of,
};
use crate::ids::{PipelineId, WorkspaceId};

/// Marks stale, for the funnel cells, the creation days of the live deals of `pipeline`: how far
/// each got depends on its stages' positions and kinds. Every write that adds or deletes a stage of
/// the pipeline, or changes one's position or kind, calls it in its transaction.
pub fn mark_pipeline_stale(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    pipeline: PipelineId,
) -> QueryResult<()> {
    mark_creation_days_stale(conn, workspace, Some(pipeline))
}

/// Marks the creation day of every live deal of the workspace stale, in the workspace's time zone as
/// it is: for a new time zone (call it before and after).
pub fn mark_all_stale(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
    mark_creation_days_stale(conn, workspace, None)
}

/// Marks the creation days of the live deals of `pipeline`, or of every pipeline, stale.
fn mark_creation_days_stale(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    pipeline: Option<PipelineId>,
) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO funnel_cells_stale (workspace_id, day) \
         SELECT DISTINCT $1::uuid, (d.created_at AT TIME ZONE w.timezone)::date \
         FROM deals AS d JOIN workspaces AS w ON w.id = $1 \
         WHERE d.workspace_id = $1 AND d.deleted_at IS NULL AND ($2::uuid IS NULL OR d.pipeline_id = $2)",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Nullable<SqlUuid>, _>(pipeline.map(|pipeline| pipeline.0))
    .execute(conn)
    .map(drop)
}

/// How far some deals got: the position of the furthest open stage of their pipeline they were in
/// (none when they never were in one), and whether they were ever won or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    furthest: Option<i32>,
    won: bool,
    lost: bool,
}

/// The stays of a cell's deals in one stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StageStays {
    /// Deals that entered the stage.
    entered: i64,
    /// Stays that ended: the deal moved on.
    ended: i64,
    /// Their seconds.
    #[serde(with = "rust_decimal::serde::str")]
    seconds: Decimal,
    /// How many of them lasted each length, in tenths of a day.
    tenths: BTreeMap<i64, i64>,
}

/// The lost deals of one reason: how many, and their amount in the workspace currency.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LostTally {
    deals: i64,
    #[serde(with = "rust_decimal::serde::str_option")]
    amount: Option<Decimal>,
}

/// What a cell's deals add up to, stored as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Figures {
    open: i64,
    won: i64,
    lost: i64,
    reach: Vec<(Progress, i64)>,
    lost_reasons: BTreeMap<String, LostTally>,
    stays: BTreeMap<uuid::Uuid, StageStays>,
}

impl Figures {
    fn count_reach(&mut self, progress: Progress, deals: i64) {
        match self.reach.iter_mut().find(|(counted, _)| *counted == progress) {
            Some((_, count)) => *count += deals,
            None => self.reach.push((progress, deals)),
        }
    }

    fn add(&mut self, other: &Figures) {
        self.open += other.open;
        self.won += other.won;
        self.lost += other.lost;
        for (progress, deals) in &other.reach {
            self.count_reach(*progress, *deals);
        }
        for (reason, tally) in &other.lost_reasons {
            let mine = self.lost_reasons.entry(reason.clone()).or_default();
            mine.deals += tally.deals;
            mine.amount = sum_of(mine.amount, tally.amount);
        }
        for (stage, stays) in &other.stays {
            let mine = self.stays.entry(*stage).or_default();
            mine.entered += stays.entered;
            mine.ended += stays.ended;
            mine.seconds += stays.seconds;
            for (tenths, count) in &stays.tenths {
                *mine.tenths.entry(*tenths).or_default() += count;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.open + self.won + self.lost == 0
    }

    /// The funnel's tallies, as `FunnelTallies::scanned` gives them from the deals.
    fn into_tallies(self) -> FunnelTallies {
        let statuses = [("open", self.open), ("won", self.won), ("lost", self.lost)]
            .into_iter()
            .filter(|(_, deals)| *deals > 0)
            .map(|(status, deals)| StatusCount { status: status.to_owned(), deals })
            .collect();
        let reach = self
            .reach
            .into_iter()
            .map(|(progress, deals)| Reach {
                furthest: progress.furthest,
                ever_won: progress.won,
                ever_lost: progress.lost,
                deals,
            })
            .collect();
        let stays = self
            .stays
            .into_iter()
            .map(|(stage_id, stays)| Stays {
                stage_id,
                entered: stays.entered,
                ended: stays.ended,
                seconds: (stays.ended > 0).then_some(stays.seconds),
                median_tenths: median(&stays.tenths),
            })
            .collect();
        let mut lost_reasons: Vec<LostReason> = self
            .lost_reasons
            .into_iter()
            .map(|(reason, tally)| LostReason { reason, deals: tally.deals, amount: tally.amount })
            .collect();
        lost_reasons
            .sort_by(|one, other| other.deals.cmp(&one.deals).then_with(|| one.reason.cmp(&other.reason)));
        FunnelTallies { reach, stays, statuses, lost_reasons }
    }
}

/// The median of the lengths counted in `tenths`, as PostgreSQL's `percentile_cont(0.5)` gives it:
/// the middle length, or halfway between the two middle ones.
fn median(tenths: &BTreeMap<i64, i64>) -> Option<f64> {
    let count: i64 = tenths.values().sum();
    if count == 0 {
        return None;
    }
    let nth = |wanted: i64| {
        let mut seen = 0;
        tenths.iter().find_map(|(length, times)| {
            seen += times;
            (seen > wanted).then_some(*length)
        })
    };
    let (low, high) = (nth((count - 1) / 2)?, nth(count / 2)?);
    Some(low as f64 + (high - low) as f64 * 0.5)
}

/// A live deal created on a day.
#[derive(QueryableByName)]
struct BornDeal {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = SqlUuid)]
    pipeline_id: uuid::Uuid,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Nullable<Text>)]
    lost_reason: Option<String>,
    #[diesel(sql_type = Nullable<Numeric>)]
    amount_base: Option<Decimal>,
}

/// A move of such a deal: the stage it went to, and how long it stayed there if it moved on.
#[derive(QueryableByName)]
struct Move {
    #[diesel(sql_type = SqlUuid)]
    deal_id: uuid::Uuid,
    #[diesel(sql_type = SqlUuid)]
    to_stage_id: uuid::Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    position: Option<i32>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    stage_pipeline: Option<uuid::Uuid>,
    #[diesel(sql_type = Nullable<Numeric>)]
    seconds: Option<Decimal>,
    #[diesel(sql_type = Nullable<BigInt>)]
    tenths: Option<i64>,
}

/// The day cells of `days`, per pipeline, from the deals and their moves.
fn day_cells(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    days: &[NaiveDate],
) -> QueryResult<Vec<(NaiveDate, HashMap<uuid::Uuid, Figures>)>> {
    day_bounds(conn, workspace, days)?
        .into_iter()
        .map(|day| Ok((day.day, day_cell(conn, workspace, &day)?)))
        .collect()
}

/// What the deals created on `day` add up to, per pipeline.
fn day_cell(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    day: &DayBounds,
) -> QueryResult<HashMap<uuid::Uuid, Figures>> {
    let born: Vec<BornDeal> = diesel::sql_query(
        "SELECT id, pipeline_id, status, lost_reason, amount_base FROM deals \
         WHERE workspace_id = $1 AND deleted_at IS NULL AND created_at >= $2 AND created_at < $3",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Timestamptz, _>(day.starts)
    .bind::<Timestamptz, _>(day.ends)
    .load(conn)?;
    let ids: Vec<uuid::Uuid> = born.iter().map(|deal| deal.id).collect();
    // The stay's length as the scan (`funnel::stays`) measures it.
    let moves: Vec<Move> = diesel::sql_query(
        "SELECT c.deal_id, c.to_stage_id, st.kind, st.position, st.pipeline_id AS stage_pipeline, \
         extract(epoch FROM lead(c.changed_at) OVER stays - c.changed_at) AS seconds, \
         round(extract(epoch FROM lead(c.changed_at) OVER stays - c.changed_at) / 8640)::bigint AS tenths \
         FROM deal_stage_changes AS c \
         LEFT JOIN stages AS st ON st.workspace_id = $1 AND st.id = c.to_stage_id \
         WHERE c.workspace_id = $1 AND c.deal_id = ANY($2) \
         WINDOW stays AS (PARTITION BY c.deal_id ORDER BY c.changed_at, c.id)",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(&ids)
    .load(conn)?;
    let mut moves_of: HashMap<uuid::Uuid, Vec<&Move>> = HashMap::new();
    for change in &moves {
        moves_of.entry(change.deal_id).or_default().push(change);
    }
    let mut cells: HashMap<uuid::Uuid, Figures> = HashMap::new();
    for deal in &born {
        let figures = cells.entry(deal.pipeline_id).or_default();
        match deal.status.as_str() {
            "won" => figures.won += 1,
            "lost" => {
                figures.lost += 1;
                let tally =
                    figures.lost_reasons.entry(deal.lost_reason.clone().unwrap_or_default()).or_default();
                tally.deals += 1;
                tally.amount = sum_of(tally.amount, deal.amount_base);
            }
            _ => figures.open += 1,
        }
        // A deal without moves has no progress, as in the scan, which follows the moves.
        let Some(moves) = moves_of.get(&deal.id) else { continue };
        let mut progress = Progress { furthest: None, won: false, lost: false };
        let mut entered: Vec<uuid::Uuid> = Vec::new();
        for change in moves {
            if change.stage_pipeline == Some(deal.pipeline_id) {
                match change.kind.as_deref() {
                    Some("won") => progress.won = true,
                    Some("lost") => progress.lost = true,
                    Some("open") => progress.furthest = progress.furthest.max(change.position),
                    _ => {}
                }
            }
            let stays = figures.stays.entry(change.to_stage_id).or_default();
            if !entered.contains(&change.to_stage_id) {
                entered.push(change.to_stage_id);
                stays.entered += 1;
            }
            if let (Some(seconds), Some(tenths)) = (change.seconds, change.tenths) {
                stays.ended += 1;
                stays.seconds += seconds;
                *stays.tenths.entry(tenths).or_default() += 1;
            }
        }
        figures.count_reach(progress, 1);
    }
    Ok(cells)
}

/// Writes the funnel cells of a batch of the workspace's stale days again, and of their months;
/// returns how many days. The job calls it holding the workspace's claim (`report_cells`).
pub(super) fn refresh_stale_days(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    let write_days = |conn: &mut PgConnection, days: &[NaiveDate]| {
        for (day, pipelines) in day_cells(conn, workspace, days)? {
            store(conn, workspace, "day", day, pipelines)?;
        }
        Ok(())
    };
    refresh_stale(conn, Cells::Funnel, workspace, write_days, |conn, month| {
        refresh_month(conn, workspace, month)
    })
}

/// A stored cell.
#[derive(QueryableByName)]
struct StoredCell {
    #[diesel(sql_type = SqlUuid)]
    pipeline_id: uuid::Uuid,
    #[diesel(sql_type = Jsonb)]
    figures: serde_json::Value,
}

impl StoredCell {
    fn figures(self) -> QueryResult<Figures> {
        serde_json::from_value(self.figures)
            .map_err(|error| corrupt(format!("an unreadable funnel cell: {error}")))
    }
}

/// Writes the cells of `month` again from its day cells.
fn refresh_month(conn: &mut PgConnection, workspace: WorkspaceId, month: NaiveDate) -> QueryResult<()> {
    let end = month.checked_add_months(Months::new(1)).unwrap_or(month);
    let days: Vec<StoredCell> = diesel::sql_query(
        "SELECT pipeline_id, figures FROM funnel_cells \
         WHERE workspace_id = $1 AND span = 'day' AND starts_on >= $2 AND starts_on < $3",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .bind::<Date, _>(end)
    .load(conn)?;
    let mut pipelines: HashMap<uuid::Uuid, Figures> = HashMap::new();
    for day in days {
        let pipeline = day.pipeline_id;
        pipelines.entry(pipeline).or_default().add(&day.figures()?);
    }
    diesel::sql_query(
        "DELETE FROM funnel_cells WHERE workspace_id = $1 AND span = 'month' AND starts_on = $2",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(month)
    .execute(conn)?;
    store(conn, workspace, "month", month, pipelines)
}

/// Inserts the cells of `span` starting on `starts_on`, one per pipeline that has deals in it.
fn store(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    span: &str,
    starts_on: NaiveDate,
    pipelines: HashMap<uuid::Uuid, Figures>,
) -> QueryResult<()> {
    let mut ids = Vec::with_capacity(pipelines.len());
    let mut figures = Vec::with_capacity(pipelines.len());
    for (pipeline, cell) in pipelines.into_iter().filter(|(_, cell)| !cell.is_empty()) {
        ids.push(pipeline);
        figures.push(
            serde_json::to_value(&cell)
                .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?,
        );
    }
    if ids.is_empty() {
        return Ok(());
    }
    diesel::sql_query(
        "INSERT INTO funnel_cells (workspace_id, pipeline_id, span, starts_on, figures) \
         SELECT $1, pipeline_id, $2, $3, figures FROM unnest($4::uuid[], $5::jsonb[]) AS cell (pipeline_id, figures)",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Text, _>(span)
    .bind::<Date, _>(starts_on)
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Jsonb>, _>(figures)
    .execute(conn)
    .map(drop)
}

/// The funnel's tallies from the cells, as `FunnelTallies::scanned` gives them from the deals;
/// `None` when the cells can't answer: a caller who sees part of the deals, one owner's or one
/// team's deals, or too many stale days.
pub fn tallies(conn: &mut PgConnection, cohort: &Cohort<'_>) -> QueryResult<Option<FunnelTallies>> {
    if !cohort.scope.sees_everything() || cohort.owner_id.is_some() || cohort.team_id.is_some() {
        return Ok(None);
    }
    let workspace = cohort.scope.workspace();
    let range = cohort.created;
    in_one_snapshot(conn, |conn| {
        let stale = stale_between(conn, Cells::Funnel, workspace, range.from, range.to)?;
        if stale.len() > MOST_STALE_DAYS {
            return Ok(None);
        }
        let mut cover = Cover::default();
        Cover::of(range, true, &stale, &mut cover);
        let stored: Vec<StoredCell> = diesel::sql_query(
            "SELECT pipeline_id, figures FROM funnel_cells WHERE workspace_id = $1 AND pipeline_id = $2 \
             AND ((span = 'month' AND starts_on = ANY($3)) OR (span = 'day' AND starts_on = ANY($4)))",
        )
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<SqlUuid, _>(cohort.pipeline_id)
        .bind::<Array<Date>, _>(&cover.months)
        .bind::<Array<Date>, _>(&cover.days)
        .load(conn)?;
        let mut total = Figures::default();
        for cell in stored {
            total.add(&cell.figures()?);
        }
        for (_, mut pipelines) in day_cells(conn, workspace, &cover.stale_days)? {
            if let Some(figures) = pipelines.remove(&cohort.pipeline_id) {
                total.add(&figures);
            }
        }
        Ok(Some(total.into_tallies()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_length_or_halfway_between_the_two_middle_ones() {
        let counted = |lengths: &[(i64, i64)]| lengths.iter().copied().collect::<BTreeMap<i64, i64>>();
        assert_eq!(median(&counted(&[])), None);
        assert_eq!(median(&counted(&[(20, 1)])), Some(20.0));
        assert_eq!(median(&counted(&[(10, 1), (20, 1), (50, 1)])), Some(20.0));
        assert_eq!(median(&counted(&[(10, 1), (25, 1)])), Some(17.5));
        assert_eq!(median(&counted(&[(10, 2), (30, 2)])), Some(20.0));
        assert_eq!(median(&counted(&[(10, 3), (30, 1)])), Some(10.0));
    }
}
