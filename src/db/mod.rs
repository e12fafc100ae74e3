//! The database: where it is (embedded or external), the connection pool, migrations, and the one
//! helper that runs Diesel code off the async workers.

pub mod embedded;
pub mod filter;
pub mod fragment;
pub mod json;
pub mod models;
pub mod page_limit;
pub mod schema;
pub mod sql_file;

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use tokio::sync::Semaphore;

use crate::config::{Config, DatabaseLocation};
use crate::error::ApiError;
use embedded::{Durability, EmbeddedPostgres, LaunchError};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The migration that introduced segments.
const SEGMENTS_MIGRATION: &str = "20261123000005";

/// Serialises migrations between processes (several API nodes starting at once).
const MIGRATION_LOCK_KEY: i64 = 0x6372_6d6d_6967; // "crmmig" in ASCII

/// Who opens the database decides who stops an embedded cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    /// `crm serve`: owns the cluster, even one an earlier crashed server left running.
    Server,
    /// A one-off subcommand: attaches to a running cluster and leaves it running.
    Tool,
}

/// An open database: its URL and, in embedded mode, the cluster that stops when this is dropped.
#[derive(Debug)]
pub struct Database {
    pub url: String,
    cluster: Option<EmbeddedPostgres>,
}

impl Database {
    pub fn open(config: &Config, opener: Opener) -> Result<Self, LaunchError> {
        match &config.database {
            DatabaseLocation::External(url) => Ok(Self { url: url.clone(), cluster: None }),
            DatabaseLocation::Embedded => {
                let mut cluster = EmbeddedPostgres::open(&config.data_dir, Durability::Durable)?;
                let attached = cluster.is_running();
                cluster.start()?;
                if attached && opener == Opener::Server {
                    log::warn!(
                        "an earlier server left the embedded PostgreSQL running; this server now owns it"
                    );
                    cluster.adopt();
                }
                Ok(Self { url: cluster.database_url(embedded::DATABASE_NAME), cluster: Some(cluster) })
            }
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.cluster.is_some()
    }

    /// Stops an embedded cluster this process owns.
    pub fn shutdown(mut self) -> Result<(), LaunchError> {
        match self.cluster.as_mut() {
            Some(cluster) => cluster.stop(),
            None => Ok(()),
        }
    }
}

pub fn build_pool(url: &str, max_size: u32) -> Result<PgPool, diesel::r2d2::PoolError> {
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(max_size.min(2)))
        .connection_timeout(Duration::from_secs(5))
        // No `SELECT 1` round trip at every checkout (two per request): a connection that broke
        // fails its query, and r2d2 drops it then (`has_broken`).
        .test_on_check_out(false)
        // r2d2's default, said here because the statement caches rely on it: a saved segment's
        // statements are cached per connection (`SqlFragment::with_values_written_in`), and a
        // connection replaced every 30 minutes holds only the segments viewed in that time.
        .max_lifetime(Some(Duration::from_secs(30 * 60)))
        .connection_customizer(Box::new(SessionSettings))
        .build(ConnectionManager::new(url))
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
                crate::bootstrap::add_builtin_segments_everywhere(&mut conn)?;
            }
            Ok(versions.len())
        });
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)?;
    applied
}

/// The API's connection pool and the queue in front of it.
///
/// r2d2 gives a returned connection to whichever thread asks next, and the blocking thread that
/// has just returned one usually asks again first, so a request can lose its place repeatedly:
/// under the bench's 16 connections the card's p99 was 21–37 ms in some runs and 7–9 ms in others.
/// So [`run`] first waits for a turn on the async worker, in arrival order (tokio's semaphore is
/// fair), with one turn per connection, and no more blocking threads wait for a connection than
/// there are connections.
#[derive(Debug, Clone)]
pub struct DbPool {
    connections: PgPool,
    turns: Arc<Semaphore>,
}

impl DbPool {
    pub fn new(connections: PgPool) -> Self {
        let turns = Arc::new(Semaphore::new(connections.max_size() as usize));
        Self { connections, turns }
    }

    /// The pool itself, for background work on threads of its own.
    pub fn connections(&self) -> &PgPool {
        &self.connections
    }
}

/// Runs `work` with a pooled connection on actix's blocking thread pool: one closure per request,
/// so an async worker never waits on the database.
pub async fn run<T, F>(pool: &DbPool, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
{
    let turn = pool.turns.clone().acquire_owned().await.map_err(ApiError::internal)?;
    let connections = pool.connections.clone();
    actix_web::web::block(move || {
        // The turn ends with the work, even when the request is dropped while it runs.
        let _turn = turn;
        let mut conn = connections.get()?;
        work(&mut conn)
    })
    .await?
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
