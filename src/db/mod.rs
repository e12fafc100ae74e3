//! The database: the connection pool and its threads, migrations, and the one helper that runs
//! Diesel code off the async workers. Where the database is (embedded or external) is decided
//! at start-up, in `launch.rs`.

pub mod change_order;
pub mod citus;
pub mod embedded;
pub mod filter;
pub mod fragment;
pub mod json;
pub mod models;
pub mod page_limit;
mod reachability;
pub mod read_budget;
pub mod replica;
pub mod schema;
pub mod sql_file;
pub mod visibility;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use reachability::Reachability;

pub type PgPool = Pool<Manager>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The migration that introduced segments.
const SEGMENTS_MIGRATION: &str = "20261123000005";

/// Serialises migrations between processes (several API nodes starting at once).
const MIGRATION_LOCK_KEY: i64 = 0x6372_6d6d_6967; // "crmmig" in ASCII

/// Asks the database for the simplest answer: whether it is there and answering.
pub fn ping(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

/// The database's time now, to the microsecond: one clock for every API process, where times
/// taken by different processes are compared.
pub fn database_clock(conn: &mut PgConnection) -> QueryResult<chrono::DateTime<chrono::Utc>> {
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Timestamptz>("clock_timestamp()")).get_result(conn)
}

pub fn build_pool(url: &str, max_size: u32) -> Result<PgPool, diesel::r2d2::PoolError> {
    pool_builder(max_size).build(Manager(ConnectionManager::new(url)))
}

/// A pool whose server may be down when it is built (a read replica): its connections are made
/// as they are needed.
pub fn build_pool_unchecked(url: &str, max_size: u32) -> PgPool {
    pool_builder(max_size).build_unchecked(Manager(ConnectionManager::new(url)))
}

fn pool_builder(max_size: u32) -> diesel::r2d2::Builder<Manager> {
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(max_size.min(2)))
        .connection_timeout(Duration::from_secs(5))
        // No `SELECT 1` round trip at every checkout (two per request): a connection that broke
        // fails its query (a 503, `ApiError::DatabaseUnavailable`) and is dropped as it comes
        // back to the pool (`Manager::has_broken`).
        .test_on_check_out(false)
        // r2d2's default, said here because the statement caches rely on it: a saved segment's
        // statements are cached per connection (`SqlFragment::with_values_written_in`), and a
        // connection replaced every 30 minutes holds only the segments viewed in that time.
        .max_lifetime(Some(Duration::from_secs(30 * 60)))
        .connection_customizer(Box::new(SessionSettings))
}

thread_local! {
    /// Set by [`connection_lost`] when a query on this thread found its connection dead, and read
    /// as the connection goes back to the pool, on the same thread.
    static CONNECTION_LOST: Cell<bool> = const { Cell::new(false) };
}

/// Says that the connection this thread is using has lost its server, so that the pool drops it
/// instead of handing it to the next request. Called where a query's error is classified
/// (`ApiError::from(diesel::result::Error)`), which runs on the thread holding the connection.
pub fn connection_lost() {
    CONNECTION_LOST.set(true);
}

/// Diesel's connection manager, which also drops a connection whose server has gone away.
/// Diesel's own check sees a connection once libpq knows it is dead, which a failure to send a
/// query does not always tell it: relying on it alone, sessions the database ended failed 7
/// requests on a pool of 4 in `connections_the_database_ended_cost_one_503_each_and_are_replaced`.
#[derive(Debug)]
pub struct Manager(ConnectionManager<PgConnection>);

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        CONNECTION_LOST.replace(false) || self.0.has_broken(conn)
    }
}

/// Settings of every pooled session. JIT off: our queries are short or index-backed, and
/// compiling one costs more (0.4–0.7 s measured on a 1,000-row generate_series) than it saves.
#[derive(Debug)]
struct SessionSettings;

impl diesel::r2d2::CustomizeConnection<PgConnection, diesel::r2d2::Error> for SessionSettings {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("SET jit = off").map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Applies pending migrations, one process at a time.
pub fn run_migrations(url: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
        .and_then(|versions| {
            // Segments arrived with this migration: workspaces that existed before get the built-in
            // ones new workspaces are created with.
            if versions.iter().any(|version| version == SEGMENTS_MIGRATION) {
                models::segment::Segment::add_builtins_everywhere(&mut conn)?;
            }
            let distributed = citus::distribute_new_tables(&mut conn)?;
            if !distributed.is_empty() {
                log::info!("distributed on Citus: {}", distributed.join(", "));
            }
            Ok(versions.len())
        });
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)?;
    applied
}

/// The API's connection pool and the threads that use it.
///
/// Each request's database work is one closure ([`run`]). The closures wait in one queue, in
/// arrival order, and a fixed set of threads takes them, one thread per pooled connection. So no
/// thread waits for a connection, requests are served in the order they came, and under load a
/// thread finishes one closure and takes the next without going to sleep in between.
///
/// This replaced a fair semaphore in front of actix's blocking pool (r2d2 alone lets a request lose
/// its place to whichever thread asks next). That design paid to wake a blocking thread for each
/// request, and tokio grew the blocking pool to about 17 threads per worker under the bench's 16
/// connections, each one's caches cold. With the fixed threads the card at 10k clients went from
/// 5,060–5,260 to 6,350–6,580 req/s, and the server's CPU per card from 161–167 to 120–126 µs.
#[derive(Debug, Clone)]
pub struct DbPool {
    connections: PgPool,
    jobs: crossbeam_channel::Sender<Job>,
    /// Whether the database answers: while it doesn't, work is refused at once instead of each
    /// request waiting out the pool's timeout.
    reachability: Arc<Reachability>,
}

/// How long a database thread waits for work before it gives its free memory back to the system
/// (`allocator`): long enough that a busy thread never does, short enough that a server goes back
/// to its idle size within seconds of the last request.
const IDLE_BEFORE_GIVING_BACK_MEMORY: Duration = Duration::from_secs(2);

/// A request's database work, wrapped so that it sends its outcome back to the request.
type Job = Box<dyn FnOnce(&PgPool) + Send>;

impl DbPool {
    /// Starts the pool's threads, and the probe of the database at `url` (the pool's). They stop
    /// once every clone of the pool is gone and the queue is empty.
    pub fn new(connections: PgPool, url: &str) -> std::io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for n in 0..connections.max_size() {
            let queue = queue.clone();
            let connections = connections.clone();
            std::thread::Builder::new().name(format!("crm-db-{n}")).spawn(move || {
                let mut gave_back = true;
                loop {
                    match queue.recv_timeout(IDLE_BEFORE_GIVING_BACK_MEMORY) {
                        Ok(job) => {
                            job(&connections);
                            gave_back = false;
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) if !gave_back => {
                            crate::allocator::give_back_free_memory();
                            gave_back = true;
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        }
        let reachability = Reachability::watch(url, connections.clone())?;
        Ok(Self { connections, jobs, reachability })
    }

    /// Says that the database is down (the embedded one is being restarted): requests are refused
    /// until it answers again.
    pub fn mark_down(&self) {
        self.reachability.mark_down();
    }

    /// Whether the database answers, as far as the pool's probe knows.
    pub fn is_reachable(&self) -> bool {
        self.reachability.is_reachable()
    }

    /// The pool itself, for background work on threads of its own.
    pub fn connections(&self) -> &PgPool {
        &self.connections
    }
}

/// Why a request's database work did not run to its own outcome.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no database connection available: {0}")]
    NoConnection(#[from] diesel::r2d2::PoolError),
    #[error("the request's database work panicked")]
    Panicked,
    #[error("the database threads have stopped")]
    Stopped,
    #[error("a database thread dropped the request's work")]
    Dropped,
    #[error("the database does not answer (its probe could not connect)")]
    Down,
}

/// Runs `work` with a pooled connection on one of the pool's threads, so that an async worker
/// never waits on the database, and awaits its outcome. `work` returns its caller's error type,
/// which says how to take a [`RunError`].
pub async fn run<T, E, F>(pool: &DbPool, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<RunError> + Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
{
    if !pool.reachability.is_reachable() {
        return Err(RunError::Down.into());
    }
    let reachability = pool.reachability.clone();
    let (reply, outcome) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move |connections| {
        // A request dropped while it waited in the queue (its client went away) costs nothing.
        // One dropped while its work runs still has it finish, so a write is never cut short.
        if reply.is_closed() {
            return;
        }
        // A panic is this request's 500; the thread lives on to serve the next one.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut conn = connections.get().map_err(|error| {
                reachability.suspect();
                RunError::from(error)
            })?;
            let outcome = work(&mut conn);
            if CONNECTION_LOST.get() {
                reachability.suspect();
            }
            outcome
        }))
        .unwrap_or_else(|_| Err(RunError::Panicked.into()));
        // Sending fails only if the request has gone meanwhile: there is no one left to tell.
        let _ = reply.send(result);
    });
    pool.jobs.send(job).map_err(|_| RunError::Stopped)?;
    outcome.await.map_err(|_| RunError::Dropped)?
}

#[cfg(test)]
mod tests {
    use diesel::migration::MigrationSource;
    use diesel::pg::Pg;

    use super::*;

    #[test]
    fn the_segments_migration_is_known_by_the_version_run_migrations_compares() {
        let migrations = MigrationSource::<Pg>::migrations(&MIGRATIONS).unwrap_or_default();
        let versions: Vec<String> =
            migrations.iter().map(|migration| migration.name().version().to_string()).collect();
        assert!(versions.contains(&SEGMENTS_MIGRATION.to_string()), "{versions:?}");
    }
}
