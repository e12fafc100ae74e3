//! A streaming replica for the reads that may lag a little behind the writes: reports, exports,
//! segment counts and previews (`CRM_READ_DATABASE_URL`, docs/scaling.md). It takes them while it
//! answers and holds every write the primary had made `max_lag` ago; otherwise they go to the
//! primary, so a replica that is down, stopped replaying or fell behind costs speed, never an
//! answer or its age. Reads that must see the caller's own last write (a record after its update,
//! lists, the agenda) never come here.
//!
//! How far behind it is, a thread of its own asks every half second: the primary's WAL position at
//! each check is kept, and the replica holds everything the primary had at the last check whose
//! position it has replayed. Comparing positions rather than the time of the last replayed commit
//! keeps an idle replica of an idle primary current, and one whose stream broke behind.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable};
use prometheus::{Gauge, IntCounterVec, Opts};

use super::DbPool;
use crate::error::ApiError;

/// How often the lag is measured: a read is at most this much older than the bound says.
const LAG_CHECK_EVERY: Duration = Duration::from_millis(500);

/// Why a read that could have gone to the replica went to the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The replica is further behind than the bound, or its lag is not known yet.
    Lagging,
    /// Its pool's probe can't reach it.
    Down,
    /// It failed the read for want of a server (a connection lost, a query cancelled by replay).
    Failed,
}

impl Fallback {
    fn as_str(self) -> &'static str {
        match self {
            Self::Lagging => "lagging",
            Self::Down => "down",
            Self::Failed => "failed",
        }
    }
}

/// The replica's pool and what is known of its lag. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadReplica {
    pool: DbPool,
    lag: Arc<LagWatch>,
}

#[derive(Debug)]
struct LagWatch {
    max_lag: Duration,
    /// The last moment at which the replica was known to hold every write the primary had made.
    caught_up: Mutex<Option<Instant>>,
    reads: IntCounterVec,
    lag_seconds: Gauge,
}

impl ReadReplica {
    /// The replica at `url` with `pool_size` connections, reads routed to it while it is within
    /// `max_lag` of the primary at `primary_url`. Starts even when the replica is down: reads go to
    /// the primary until it answers.
    pub fn connect(url: &str, primary_url: &str, pool_size: u32, max_lag: Duration) -> std::io::Result<Self> {
        let pool = DbPool::new(super::build_pool_unchecked(url, pool_size), url)?;
        let reads = IntCounterVec::new(
            Opts::new(
                "crm_read_replica_reads_total",
                "Reads that may lag (reports, exports, segment counts), by the server that answered and why the primary did",
            ),
            &["server", "reason"],
        )
        .map_err(std::io::Error::other)?;
        let lag_seconds = Gauge::with_opts(Opts::new(
            "crm_read_replica_lag_seconds",
            "How long ago the read replica last held every write of the primary (-1: not known yet)",
        ))
        .map_err(std::io::Error::other)?;
        lag_seconds.set(-1.0);
        let lag = Arc::new(LagWatch { max_lag, caught_up: Mutex::new(None), reads, lag_seconds });
        let (watched, primary_url, url) = (Arc::downgrade(&lag), primary_url.to_string(), url.to_string());
        std::thread::Builder::new()
            .name("crm-replica-lag".to_string())
            .spawn(move || watch_lag(&primary_url, &url, &watched))?;
        Ok(Self { pool, lag })
    }

    /// The replica and its pool when there is one and it may take a read now. When it may not, the
    /// primary takes the read, and that is counted with why.
    pub fn taking(replica: Option<&ReadReplica>) -> Option<(&ReadReplica, &DbPool)> {
        let replica = replica?;
        match replica.usable() {
            Ok(pool) => Some((replica, pool)),
            Err(why) => {
                replica.count_fallback(why);
                None
            }
        }
    }

    /// The replica's pool when it may take a read now; else why not.
    fn usable(&self) -> Result<&DbPool, Fallback> {
        if !self.pool.is_reachable() {
            return Err(Fallback::Down);
        }
        let caught_up = *self.lag.caught_up.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match caught_up {
            Some(at) if at.elapsed() <= self.lag.max_lag => Ok(&self.pool),
            _ => Err(Fallback::Lagging),
        }
    }

    /// What the replica answered, counted; `None` when it failed the read for want of a server
    /// (counted too), so that the primary is asked.
    fn settle<T>(&self, answered: Result<T, ApiError>) -> Option<Result<T, ApiError>> {
        match answered {
            Err(ApiError::DatabaseUnavailable(_) | ApiError::Unavailable(_)) => {
                self.count_fallback(Fallback::Failed);
                None
            }
            answered => {
                self.lag.reads.with_label_values(&["replica", ""]).inc();
                Some(answered)
            }
        }
    }

    fn count_fallback(&self, why: Fallback) {
        self.lag.reads.with_label_values(&["primary", why.as_str()]).inc();
    }

    /// The replica's metrics, to register with the server's.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![Box::new(self.lag.reads.clone()), Box::new(self.lag.lag_seconds.clone())]
    }
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Nullable<BigInt>)]
    position: Option<i64>,
}

/// The primary's WAL position: every commit visible there is at or before it (give or take the WAL
/// writer's delay under `synchronous_commit = off`).
const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_lsn() - '0/0')::bigint AS position";
/// How far the replica has replayed; null on a server that is not in recovery.
const REPLAYED_POSITION: &str = "SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint AS position";

/// The primary's positions of this many checks back are kept: enough to span the bound, after which
/// the replica counts as behind whatever it replays.
fn marks_kept(max_lag: Duration) -> usize {
    (max_lag.as_millis() / LAG_CHECK_EVERY.as_millis()) as usize + 2
}

fn watch_lag(primary_url: &str, replica_url: &str, watched: &Weak<LagWatch>) {
    let (mut primary, mut replica) = (None, None);
    // The primary's position at recent checks, oldest first.
    let mut marks: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut said_not_a_replica = false;
    loop {
        std::thread::sleep(LAG_CHECK_EVERY);
        let Some(watch) = watched.upgrade() else { return };
        let now = Instant::now();
        if let Some(Some(position)) = position_at(&mut primary, primary_url, PRIMARY_POSITION) {
            marks.push_back((now, position));
            if marks.len() > marks_kept(watch.max_lag) {
                marks.pop_front();
            }
        }
        let caught_up = match position_at(&mut replica, replica_url, REPLAYED_POSITION) {
            Some(Some(replayed)) => {
                let held = marks.iter().rev().find(|(_, position)| *position <= replayed).map(|(at, _)| *at);
                if let Some(at) = held {
                    marks.retain(|(mark, _)| *mark >= at);
                }
                held
            }
            // Not in recovery: the setting names a primary (the same server, say), which is as
            // current as it gets.
            Some(None) => {
                if !said_not_a_replica {
                    log::warn!(
                        "CRM_READ_DATABASE_URL names a server that is not a replica: reads go to it as they are"
                    );
                    said_not_a_replica = true;
                }
                marks.clear();
                Some(now)
            }
            None => None,
        };
        let mut known = watch.caught_up.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(at) = caught_up {
            *known = Some(known.map_or(at, |before| before.max(at)));
        }
        watch.lag_seconds.set(known.map_or(-1.0, |at| at.elapsed().as_secs_f64()));
    }
}

/// Runs `query` on the connection kept in `conn`, connecting first when there is none; a failure
/// drops the connection, to connect again at the next check.
fn position_at(conn: &mut Option<PgConnection>, url: &str, query: &str) -> Option<Option<i64>> {
    if conn.is_none() {
        *conn = PgConnection::establish(url).ok();
    }
    let answer = diesel::sql_query(query).get_result::<Position>(conn.as_mut()?);
    match answer {
        Ok(answer) => Some(answer.position),
        Err(error) => {
            log::debug!("measuring the read replica's lag failed: {error}");
            *conn = None;
            None
        }
    }
}

/// Runs `read` in one read-only, repeatable-read snapshot: all it reads agrees, and a write slipped
/// into a read that may go to the replica fails on the primary too, where the tests see it.
pub fn in_read_snapshot<T>(
    conn: &mut PgConnection,
    read: impl FnOnce(&mut PgConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    conn.build_transaction().read_only().repeatable_read().run(read)
}

/// For a read inside work on the primary that waits for it (a segment's recount under its lock):
/// runs `read` on a replica connection taken on this thread when the replica may take it, else, or
/// when it fails for want of a server, on `primary`.
pub fn read_within<T>(
    replica: Option<&ReadReplica>,
    primary: &mut PgConnection,
    read: impl Fn(&mut PgConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let Some((replica, pool)) = ReadReplica::taking(replica) else { return read(primary) };
    let answered = pool
        .connections()
        .get()
        .map_err(ApiError::from)
        .and_then(|mut conn| in_read_snapshot(&mut conn, &read));
    replica.settle(answered).unwrap_or_else(|| read(primary))
}

/// Runs `read` on the replica while it may take it, else on `primary`, in one read-only snapshot;
/// a replica that fails it for want of a server hands it to the primary, so `read` may run twice.
/// No caller is checked here: that is the work of whoever calls (`auth::run_reading`).
pub async fn run_lagging<T, F>(
    primary: &DbPool,
    replica: Option<&ReadReplica>,
    read: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: Fn(&mut PgConnection) -> Result<T, ApiError> + Send + Sync + 'static,
{
    let read = Arc::new(read);
    let in_snapshot = move |conn: &mut PgConnection| in_read_snapshot(conn, |conn| read(conn));
    let Some((replica, pool)) = ReadReplica::taking(replica) else {
        return super::run(primary, in_snapshot).await;
    };
    match replica.settle(super::run(pool, in_snapshot.clone()).await) {
        Some(answered) => answered,
        None => super::run(primary, in_snapshot).await,
    }
}
