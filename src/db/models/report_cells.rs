//! What the reports' cells share: the sales cells (`sales_cell`), the activity cells
//! (`activity_cell`), the client cells (`client_cell`) and the funnel cells (`funnel_cell`) all add
//! up a day or a month of their records, kept by one background job.
//!
//! - Every write marks the days it changes stale in its own transaction ([`mark_stale`]); a report
//!   reads the stale days and the cells in one snapshot ([`in_one_snapshot`]) and adds up the stale
//!   days from the records themselves, so it is never behind the job.
//! - The job ([`refresh_due`]) claims one workspace at a time and writes every kind of cell of its
//!   stale days again; as it alone numbers the clients its cells' sets hold ([`ClientNumbers`]),
//!   the numbers of a workspace are given by one transaction at a time.
//! - A range is covered by whole months' cells where it can, day cells for the rest ([`Cover`]).
//! - A process keeps the sets it decoded by their cell's version ([`decoded_sets`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Months, NaiveDate, Utc};
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Timestamptz, Uuid as SqlUuid};
use roaring::RoaringBitmap;

use crate::domain::report_period::{DateRange, Interval};
use crate::ids::WorkspaceId;

/// How many stale days of each kind one transaction of the job writes again: a month's, so that
/// the records it holds at once stay a day's and the transaction short.
const DAYS_PER_REFRESH: i64 = 31;

/// With more stale days than this to add up from their records, a report scans the records over its
/// whole range at once instead: right after every day went stale (a new time zone), until the job
/// has caught up.
pub(super) const MOST_STALE_DAYS: usize = 100;

/// Which cells a day is stale for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cells {
    Sales,
    Activity,
    Client,
    Funnel,
}

impl Cells {
    fn table(self) -> &'static str {
        match self {
            Cells::Sales => "sales_cells",
            Cells::Activity => "activity_cells",
            Cells::Client => "client_cells",
            Cells::Funnel => "funnel_cells",
        }
    }

    fn stale_table(self) -> &'static str {
        match self {
            Cells::Sales => "sales_cells_stale",
            Cells::Activity => "activity_cells_stale",
            Cells::Client => "client_cells_stale",
            Cells::Funnel => "funnel_cells_stale",
        }
    }
}

/// Marks `days` of the workspace stale for `cells`: their cells no longer match their records.
/// Call it in the transaction that changes the records. A plain insert, without a key to meet: it
/// never waits for another transaction marking the same day.
pub fn mark_stale(
    conn: &mut PgConnection,
    cells: Cells,
    workspace: WorkspaceId,
    days: &[NaiveDate],
) -> QueryResult<()> {
    if days.is_empty() {
        return Ok(());
    }
    diesel::sql_query(format!(
        "INSERT INTO {} (workspace_id, day) SELECT DISTINCT $1::uuid, unnest($2::date[])",
        cells.stale_table()
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<Date>, _>(days)
    .execute(conn)
    .map(drop)
}

/// Marks stale, for `cells`, the days the deals `ids` were created on: the activity cells count the
/// deals created each day, and the funnel cells follow each deal from its creation day. Every write
/// to deals calls it in its transaction, after the change (a deal's creation day never changes).
pub fn mark_deal_days_stale(
    conn: &mut PgConnection,
    cells: Cells,
    workspace: WorkspaceId,
    ids: &[uuid::Uuid],
) -> QueryResult<()> {
    diesel::sql_query(format!(
        "INSERT INTO {} (workspace_id, day) \
         SELECT DISTINCT $1::uuid, (d.created_at AT TIME ZONE w.timezone)::date \
         FROM deals AS d JOIN workspaces AS w ON w.id = $1 \
         WHERE d.workspace_id = $1 AND d.id = ANY($2)",
        cells.stale_table()
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(ids)
    .execute(conn)
    .map(drop)
}

#[derive(QueryableByName)]
struct StaleDay {
    #[diesel(sql_type = Date)]
    day: NaiveDate,
}

/// The days from `from` to `to` stale for `cells`.
pub(super) fn stale_between(
    conn: &mut PgConnection,
    cells: Cells,
    workspace: WorkspaceId,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<BTreeSet<NaiveDate>> {
    let days: Vec<StaleDay> = diesel::sql_query(format!(
        "SELECT day FROM {} WHERE workspace_id = $1 AND day BETWEEN $2 AND $3",
        cells.stale_table()
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Date, _>(from)
    .bind::<Date, _>(to)
    .load(conn)?;
    Ok(days.into_iter().map(|stale| stale.day).collect())
}

/// Clears up to [`DAYS_PER_REFRESH`] of the workspace's stale days for `cells`, earliest first,
/// and returns them: the job writes their cells again in the same transaction.
fn take_stale(conn: &mut PgConnection, cells: Cells, workspace: WorkspaceId) -> QueryResult<Vec<NaiveDate>> {
    let table = cells.stale_table();
    // A day marked several times comes back once per mark.
    let days: BTreeSet<NaiveDate> = diesel::sql_query(format!(
        "DELETE FROM {table} WHERE workspace_id = $1 AND day IN \
         (SELECT DISTINCT day FROM {table} WHERE workspace_id = $1 ORDER BY day LIMIT $2) RETURNING day"
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<BigInt, _>(DAYS_PER_REFRESH)
    .load::<StaleDay>(conn)?
    .into_iter()
    .map(|stale| stale.day)
    .collect();
    Ok(days.into_iter().collect())
}

/// Writes the `cells` of a batch of the workspace's stale days again, and of their months; returns
/// how many days. The job calls it holding the workspace's claim: the day cells go, `write_days`
/// writes those of the days again from their records, and `write_month` each of their months' from
/// its days'.
pub(super) fn refresh_stale(
    conn: &mut PgConnection,
    cells: Cells,
    workspace: WorkspaceId,
    write_days: impl FnOnce(&mut PgConnection, &[NaiveDate]) -> QueryResult<()>,
    mut write_month: impl FnMut(&mut PgConnection, NaiveDate) -> QueryResult<()>,
) -> QueryResult<usize> {
    let days = take_stale(conn, cells, workspace)?;
    if days.is_empty() {
        return Ok(0);
    }
    diesel::sql_query(format!(
        "DELETE FROM {} WHERE workspace_id = $1 AND span = 'day' AND starts_on = ANY($2)",
        cells.table()
    ))
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<Date>, _>(&days)
    .execute(conn)?;
    write_days(conn, &days)?;
    let months: BTreeSet<NaiveDate> = days.iter().map(|&day| Interval::Month.start_of(day)).collect();
    for month in months {
        write_month(conn, month)?;
    }
    Ok(days.len())
}

/// A day of the workspace and where it starts and ends, in its time zone.
#[derive(QueryableByName)]
pub(super) struct DayBounds {
    #[diesel(sql_type = Date)]
    pub day: NaiveDate,
    #[diesel(sql_type = Timestamptz)]
    pub starts: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub ends: DateTime<Utc>,
}

/// Where each of `days` starts and ends in the workspace's time zone, worked out by the database
/// (as the marks of stale days are) to be passed to a day's queries as values: joined to a list of
/// days instead, the planner can't tell how many records a day holds and reads all of them (18 s
/// for a month of activities at 1M clients, against 0.2 s).
pub(super) fn day_bounds(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    days: &[NaiveDate],
) -> QueryResult<Vec<DayBounds>> {
    diesel::sql_query(
        "SELECT day, day::timestamp AT TIME ZONE w.timezone AS starts, \
         (day + 1)::timestamp AT TIME ZONE w.timezone AS ends \
         FROM unnest($2::date[]) AS day, workspaces AS w WHERE w.id = $1",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<Date>, _>(days)
    .load(conn)
}

/// Gives a new workspace the row the job claims it by ([`refresh_workspace`]). Written with the
/// workspace, never by the job: an insert that meets another process's uncommitted one waits.
pub fn add_workspace(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
    diesel::sql_query("INSERT INTO cell_refreshes (workspace_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind::<SqlUuid, _>(workspace.0)
        .execute(conn)
        .map(drop)
}

#[derive(QueryableByName)]
struct DueWorkspace {
    #[diesel(sql_type = SqlUuid)]
    workspace_id: uuid::Uuid,
}

/// Writes the cells of stale days again, a batch of days per workspace and transaction, until no
/// day is stale or another process holds the workspaces that are. Returns how many days it wrote
/// (a day stale for several kinds of cells counts once for each).
///
/// Workspaces with stale days are found without a lock, then claimed one at a time (their row in
/// `cell_refreshes`, `FOR UPDATE SKIP LOCKED`): one process writes a workspace's cells at a time,
/// as a month's cell adds up its days' and the job numbers the clients.
pub fn refresh_due(conn: &mut PgConnection) -> QueryResult<usize> {
    let mut written = 0;
    loop {
        let due: Vec<DueWorkspace> = diesel::sql_query(
            "SELECT workspace_id FROM sales_cells_stale UNION SELECT workspace_id FROM activity_cells_stale \
             UNION SELECT workspace_id FROM client_cells_stale UNION SELECT workspace_id FROM funnel_cells_stale \
             LIMIT 64",
        )
        .load(conn)?;
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

/// Writes the cells of up to [`DAYS_PER_REFRESH`] stale days of each kind of `workspace` again,
/// and of their months; 0 when another process holds the workspace or no day is stale.
pub fn refresh_workspace(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let claimed = diesel::sql_query(
            "SELECT workspace_id FROM cell_refreshes WHERE workspace_id = $1 FOR UPDATE SKIP LOCKED",
        )
        .bind::<SqlUuid, _>(workspace.0)
        .load::<DueWorkspace>(conn)?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let written = super::sales_cell::refresh_stale_days(conn, workspace)?
            + super::activity_cell::refresh_stale_days(conn, workspace)?
            + super::client_cell::refresh_stale_days(conn, workspace)?
            + super::funnel_cell::refresh_stale_days(conn, workspace)?;
        if written > 0 {
            diesel::sql_query("UPDATE cell_refreshes SET refreshed_at = now() WHERE workspace_id = $1")
                .bind::<SqlUuid, _>(workspace.0)
                .execute(conn)?;
        }
        Ok(written)
    })
}

/// The small numbers clients go by in the cells' sets (`client_numbers`): given once, in order of
/// the client's id, never reused.
///
/// The job gives every client of the days it writes a number first ([`ClientNumbers::for_job`]),
/// so a client in a stored cell always has one; a report's stale days may hold clients the job
/// has not numbered yet, who get numbers of their own for the one report, from the top down,
/// where no numbered client is ([`ClientNumbers::for_report`]).
#[derive(Debug, Default)]
pub(super) struct ClientNumbers {
    /// Whether this one writes numbers: the job's, under the workspace's claim.
    gives: bool,
    given: HashMap<uuid::Uuid, u32>,
    provisional: HashMap<uuid::Uuid, u32>,
}

#[derive(QueryableByName)]
struct GivenNumber {
    #[diesel(sql_type = SqlUuid)]
    client_id: uuid::Uuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    number: i32,
}

impl ClientNumbers {
    /// The job's: it numbers the clients it meets. Only the job holding a workspace's claim
    /// may, so that one transaction at a time gives a workspace's numbers.
    pub(super) fn for_job() -> ClientNumbers {
        ClientNumbers { gives: true, ..ClientNumbers::default() }
    }

    pub(super) fn for_report() -> ClientNumbers {
        ClientNumbers::default()
    }

    /// Gives the clients among `clients` (each with its stored number, if any) that have none a
    /// number after the highest given; a report's only remembers they have none.
    pub(super) fn number_new(
        &mut self,
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        clients: impl Iterator<Item = (uuid::Uuid, Option<i32>)>,
    ) -> QueryResult<()> {
        if !self.gives {
            return Ok(());
        }
        let new: BTreeSet<uuid::Uuid> = clients
            .filter(|(client, number)| number.is_none() && !self.given.contains_key(client))
            .map(|(client, _)| client)
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let given: Vec<GivenNumber> = diesel::sql_query(
            "INSERT INTO client_numbers (workspace_id, client_id, number) \
             SELECT $1, new.client_id, \
                    (SELECT coalesce(max(number), 0) FROM client_numbers WHERE workspace_id = $1) \
                    + row_number() OVER (ORDER BY new.client_id) \
             FROM unnest($2::uuid[]) AS new (client_id) \
             RETURNING client_id, number",
        )
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<Array<SqlUuid>, _>(new.into_iter().collect::<Vec<_>>())
        .load(conn)?;
        for number in given {
            self.given.insert(number.client_id, u32::try_from(number.number).unwrap_or(u32::MAX));
        }
        Ok(())
    }

    /// The number of `client`, whose stored number is `number` (if it had one when read).
    pub(super) fn of(&mut self, client: uuid::Uuid, number: Option<i32>) -> u32 {
        if let Some(number) = number.and_then(|number| u32::try_from(number).ok()) {
            return number;
        }
        if let Some(number) = self.given.get(&client) {
            return *number;
        }
        let next = u32::MAX - self.provisional.len() as u32;
        *self.provisional.entry(client).or_insert(next)
    }
}

/// Amounts added up as SQL's `sum` does: null only when both are.
pub(super) fn sum_of(
    mine: Option<rust_decimal::Decimal>,
    theirs: Option<rust_decimal::Decimal>,
) -> Option<rust_decimal::Decimal> {
    match (mine, theirs) {
        (Some(mine), Some(theirs)) => Some(mine + theirs),
        (mine, theirs) => mine.or(theirs),
    }
}

/// A set of client numbers as stored.
pub(super) fn encode_set(set: &RoaringBitmap) -> QueryResult<Vec<u8>> {
    let mut bytes = Vec::with_capacity(set.serialized_size());
    set.serialize_into(&mut bytes).map_err(|error| corrupt(error.to_string()))?;
    Ok(bytes)
}

pub(super) fn corrupt(message: String) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(message.into())
}

/// The client sets this process decoded, by the version of the cell they came from and which of
/// its sets each is: a report over the months an earlier one covered reads their figures again, but
/// not their sets. Up to [`DECODED_SETS_BUDGET`] bytes as stored; past it the cache starts over. A
/// cell written again has a new version, so a set is never taken for a cell it no longer matches.
static DECODED_SETS: LazyLock<Mutex<DecodedSets>> = LazyLock::new(Mutex::default);
const DECODED_SETS_BUDGET: usize = 32 << 20;

/// A cell's set: its version, and which of the cell's sets (0 for a cell of one set).
pub(super) type SetKey = (uuid::Uuid, u8);

#[derive(Default)]
struct DecodedSets {
    sets: HashMap<SetKey, Arc<RoaringBitmap>>,
    bytes: usize,
}

fn cached() -> std::sync::MutexGuard<'static, DecodedSets> {
    DECODED_SETS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sets of the cells of `versions`, for cells of one set: those this process decoded before,
/// and the others as `read` gives them stored (by version), decoded and kept.
pub(super) fn decoded_sets(
    versions: &[uuid::Uuid],
    read: impl FnOnce(&[uuid::Uuid]) -> QueryResult<Vec<(uuid::Uuid, Vec<u8>)>>,
) -> QueryResult<HashMap<uuid::Uuid, Arc<RoaringBitmap>>> {
    let keys: Vec<SetKey> = versions.iter().map(|version| (*version, 0)).collect();
    let sets = decoded_parts(&keys, |missing| {
        let versions: Vec<uuid::Uuid> = missing.iter().map(|(version, _)| *version).collect();
        Ok(read(&versions)?.into_iter().map(|(version, bytes)| ((version, 0), bytes)).collect())
    })?;
    Ok(sets.into_iter().map(|((version, _), set)| (version, set)).collect())
}

/// The sets of `keys`: those this process decoded before, and the others as `read` gives them
/// stored, decoded and kept. `read` may give more sets than it is asked for (all the sets of a
/// cell it reads), which are kept too.
pub(super) fn decoded_parts(
    keys: &[SetKey],
    read: impl FnOnce(&[SetKey]) -> QueryResult<Vec<(SetKey, Vec<u8>)>>,
) -> QueryResult<HashMap<SetKey, Arc<RoaringBitmap>>> {
    let mut sets: HashMap<SetKey, Arc<RoaringBitmap>> = {
        let cached = cached();
        keys.iter().filter_map(|key| Some((*key, Arc::clone(cached.sets.get(key)?)))).collect()
    };
    let missing: Vec<SetKey> = keys.iter().copied().filter(|key| !sets.contains_key(key)).collect();
    if missing.is_empty() {
        return Ok(sets);
    }
    let stored = read(&missing)?;
    let mut cached = cached();
    for (key, bytes) in stored {
        let set = Arc::new(
            RoaringBitmap::deserialize_from(bytes.as_slice())
                .map_err(|error| corrupt(format!("an unreadable set of a report cell: {error}")))?,
        );
        if cached.bytes + bytes.len() > DECODED_SETS_BUDGET {
            cached.sets.clear();
            cached.bytes = 0;
        }
        cached.bytes += bytes.len();
        cached.sets.insert(key, Arc::clone(&set));
        sets.insert(key, set);
    }
    Ok(sets)
}

/// The cells that add up one range: whole months' cells where every day of the month falls on one
/// period of the report, the other days' cells, and the stale days, added up from their records.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Cover {
    pub months: Vec<NaiveDate>,
    pub days: Vec<NaiveDate>,
    pub stale_days: Vec<NaiveDate>,
}

impl Cover {
    pub(super) fn of(range: DateRange, whole_months: bool, stale: &BTreeSet<NaiveDate>, cover: &mut Cover) {
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

    pub(super) fn is_stored_empty(&self) -> bool {
        self.months.is_empty() && self.days.is_empty()
    }
}

/// Runs `work` in one repeatable-read snapshot, so that the stale days and the cells it reads
/// agree; in the caller's transaction when it is in one.
pub(super) fn in_one_snapshot<T>(
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
    use crate::domain::report_period::tests::{day, range};

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
    fn clients_the_job_has_not_numbered_get_numbers_of_their_own_from_the_top() {
        let mut numbers = ClientNumbers::for_report();
        let (first, second) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        assert_eq!(numbers.of(first, Some(7)), 7);
        assert_eq!(numbers.of(first, None), u32::MAX);
        assert_eq!(numbers.of(second, None), u32::MAX - 1);
        assert_eq!(numbers.of(first, None), u32::MAX);
    }
}
