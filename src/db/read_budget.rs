//! Read budgets: how many distinct clients a user may read a day through lists, searches, lookups,
//! segment members and exports. Past it, someone is copying the base out a page at a time; the
//! request is refused and the owners get one alert a user a day.
//!
//! The count lives in the database, not in a process, so that it holds however many API
//! processes serve the user: each request adds the clients new to the user's day in one statement
//! (`sql/charge_reads.sql`) and reads the new total back.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer};

use crate::db::fragment::{Bind, SqlFragment};
use crate::db::schema::{client_reads, read_budget_usage};
use crate::db::sql_file::{SqlFile, SqlText};
use crate::ids::{ClientId, UserId, WorkspaceId};

/// A user whose reads of clients count against a daily budget, on the day of their request.
#[derive(Debug, Clone)]
pub struct Reader {
    workspace: WorkspaceId,
    user: UserId,
    budget: i32,
    /// The day in the workspace's time zone, and when it ends.
    day: NaiveDate,
    day_ends: DateTime<Utc>,
}

/// A read the budget refuses: how big the budget is and when the next day starts.
#[derive(Debug, Clone, Copy)]
pub struct OverBudget {
    pub budget: i32,
    pub retry_after: std::time::Duration,
    /// Whether this is the user's first refusal of the day, to raise as an alert.
    pub first_today: bool,
}

#[derive(QueryableByName)]
struct Charged {
    #[diesel(sql_type = Integer)]
    used: i32,
    #[diesel(sql_type = Bool)]
    first_today: bool,
}

impl Reader {
    /// `user` of `workspace` with a budget of `budget` clients a day, the day as the workspace's
    /// time zone (an IANA name; UTC if it doesn't parse) has it at `now`.
    pub fn new(
        workspace: WorkspaceId,
        user: UserId,
        budget: i32,
        timezone: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let zone: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
        let day = now.with_timezone(&zone).date_naive();
        let next = day.succ_opt().unwrap_or(day);
        // A day may start at 01:00 where clocks skip midnight; the earliest valid time will do.
        let day_ends = (0..4)
            .find_map(|hour| zone.from_local_datetime(&next.and_hms_opt(hour, 0, 0)?).earliest())
            .map_or(now + chrono::Duration::days(1), |start| start.with_timezone(&Utc));
        Self { workspace, user, budget, day, day_ends }
    }

    /// Counts `clients` as read today. When they take the day's distinct clients past the budget,
    /// nothing is counted and the read is refused. Call it outside any transaction of the caller's:
    /// what it charges is remembered as committed.
    pub fn charge(&self, conn: &mut PgConnection, clients: &[ClientId]) -> Result<(), ChargeError> {
        let clients = CHARGED_HERE.not_yet_charged(self, clients);
        if clients.is_empty() {
            return Ok(());
        }
        self.charge_in_database(conn, &clients)?;
        CHARGED_HERE.remember(self, &clients);
        Ok(())
    }

    fn charge_in_database(&self, conn: &mut PgConnection, clients: &[ClientId]) -> Result<(), ChargeError> {
        static CHARGE: SqlText = SqlText::new(include_str!("sql/charge_reads.sql"));
        let outcome = conn.transaction(|conn| {
            // No row: nothing new read, and nothing read before today.
            let Some(charged): Option<Charged> = SqlFile::new(&CHARGE)
                .bind(Bind::Uuid(self.workspace.0))
                .bind(Bind::Uuid(self.user.0))
                .bind(Bind::Date(self.day))
                .bind(Bind::UuidList(clients.iter().map(|client| client.0).collect()))
                .get_result(conn)
                .optional()?
            else {
                return Ok(());
            };
            if charged.first_today {
                self.forget_earlier_days(conn)?;
            }
            if charged.used > self.budget {
                return Err(ChargeError::Refused);
            }
            Ok(())
        });
        match outcome {
            Err(ChargeError::Refused) => Err(ChargeError::OverBudget(self.refusal(conn)?)),
            other => other,
        }
    }

    /// How many more clients the user may read today.
    pub fn remaining(&self, conn: &mut PgConnection) -> QueryResult<i64> {
        let used: Option<i32> = read_budget_usage::table
            .find((self.workspace, self.user, self.day))
            .select(read_budget_usage::used)
            .first(conn)
            .optional()?;
        Ok(i64::from(self.budget) - i64::from(used.unwrap_or(0)))
    }

    /// The condition on a row of `clients` that the user hasn't read it today: what an export
    /// would add to the day's count.
    pub fn unread_condition(&self) -> SqlFragment {
        SqlFragment::fixed("NOT EXISTS (SELECT 1 FROM client_reads AS read WHERE read.workspace_id = ")
            .bind(Bind::Uuid(self.workspace.0))
            .sql(" AND read.user_id = ")
            .bind(Bind::Uuid(self.user.0))
            .sql(" AND read.day = ")
            .bind(Bind::Date(self.day))
            .sql(" AND read.client_id = clients.id)")
    }

    /// A refusal before anything is read, for a read that would take the day past the budget.
    pub fn refuse(&self, conn: &mut PgConnection) -> QueryResult<OverBudget> {
        self.refusal(conn)
    }

    /// The refusal of a read past the budget, marking the day as alerted.
    fn refusal(&self, conn: &mut PgConnection) -> QueryResult<OverBudget> {
        // A refused first read of the day left no row: the refusal makes one.
        let first_today = diesel::sql_query(
            "INSERT INTO read_budget_usage AS usage (workspace_id, user_id, day, used, alerted) \
             VALUES ($1, $2, $3, 0, true) ON CONFLICT (workspace_id, user_id, day) \
             DO UPDATE SET alerted = true WHERE NOT usage.alerted",
        )
        .bind::<diesel::sql_types::Uuid, _>(self.workspace.0)
        .bind::<diesel::sql_types::Uuid, _>(self.user.0)
        .bind::<diesel::sql_types::Date, _>(self.day)
        .execute(conn)?
            > 0;
        let retry_after = (self.day_ends - Utc::now()).to_std().unwrap_or_default();
        Ok(OverBudget { budget: self.budget, retry_after, first_today })
    }

    /// Drops the user's reads of days before this one: nothing asks for them again.
    fn forget_earlier_days(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::delete(
            client_reads::table
                .filter(client_reads::workspace_id.eq(self.workspace))
                .filter(client_reads::user_id.eq(self.user))
                .filter(client_reads::day.lt(self.day)),
        )
        .execute(conn)?;
        diesel::delete(
            read_budget_usage::table
                .filter(read_budget_usage::workspace_id.eq(self.workspace))
                .filter(read_budget_usage::user_id.eq(self.user))
                .filter(read_budget_usage::day.lt(self.day)),
        )
        .execute(conn)?;
        Ok(())
    }
}

/// The clients this process charged to each user on their current day. Reading them again is free,
/// so a request whose clients are all here (a rep reloading their list) skips the database: without
/// this the charge was the costliest part of a rep's list page. It only ever holds charges the
/// database committed, so with several processes each skips what it knows and the database counts
/// the rest; it never decides a refusal.
static CHARGED_HERE: ChargedHere = ChargedHere(std::sync::LazyLock::new(Default::default));

struct ChargedHere(std::sync::LazyLock<Mutex<HashMap<(WorkspaceId, UserId), ChargedToday>>>);

struct ChargedToday {
    day: NaiveDate,
    clients: HashSet<ClientId>,
}

impl ChargedHere {
    fn not_yet_charged(&self, reader: &Reader, clients: &[ClientId]) -> Vec<ClientId> {
        let charged = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match charged.get(&(reader.workspace, reader.user)) {
            Some(today) if today.day == reader.day => {
                clients.iter().filter(|client| !today.clients.contains(client)).copied().collect()
            }
            _ => clients.to_vec(),
        }
    }

    fn remember(&self, reader: &Reader, clients: &[ClientId]) {
        let mut charged = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (reader.workspace, reader.user);
        if !charged.contains_key(&key) {
            // Whoever hasn't read since yesterday has nothing worth keeping: a new user's first read
            // sweeps them out, so the memo holds about a day of readers.
            let yesterday = reader.day.pred_opt().unwrap_or(reader.day);
            charged.retain(|_, today| today.day >= yesterday);
        }
        let today =
            charged.entry(key).or_insert_with(|| ChargedToday { day: reader.day, clients: HashSet::new() });
        if today.day != reader.day {
            *today = ChargedToday { day: reader.day, clients: HashSet::new() };
        }
        today.clients.extend(clients);
    }
}

/// Why a charge failed.
#[derive(Debug)]
pub enum ChargeError {
    /// Inside the charge's transaction, to roll it back.
    Refused,
    OverBudget(OverBudget),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for ChargeError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_day_is_the_workspaces_own() {
        let workspace = WorkspaceId(uuid::Uuid::nil());
        let user = UserId(uuid::Uuid::nil());
        // 22:30 UTC is already the next day in Moscow (UTC+3), which ends at 21:00 UTC.
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 22, 30, 0).single().expect("a time");
        let reader = Reader::new(workspace, user, 10, "Europe/Moscow", now);
        assert_eq!(reader.day, NaiveDate::from_ymd_opt(2026, 12, 7).expect("a date"));
        assert_eq!(reader.day_ends, Utc.with_ymd_and_hms(2026, 12, 7, 21, 0, 0).single().expect("a time"));
        let reader = Reader::new(workspace, user, 10, "not a zone", now);
        assert_eq!(reader.day, NaiveDate::from_ymd_opt(2026, 12, 6).expect("a date"));
    }
}
