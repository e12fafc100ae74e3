//! Opening the database a command works on: the server named by DATABASE_URL, or the embedded
//! PostgreSQL in the data folder, started for the process and stopped with it when it owns it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::{Config, DatabaseLocation};
use crate::db::DbPool;
use crate::db::embedded::{self, Durability, EmbeddedPostgres, LaunchError};

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
    cluster: Option<Arc<Mutex<EmbeddedPostgres>>>,
}

impl Database {
    pub fn open(config: &Config, opener: Opener) -> Result<Self, LaunchError> {
        match &config.database {
            DatabaseLocation::External(url) => Ok(Self { url: url.clone(), cluster: None }),
            DatabaseLocation::Embedded => {
                let mut cluster = EmbeddedPostgres::open(
                    &config.data_dir,
                    Durability::Durable,
                    config.postgres_bin_dir.as_deref(),
                )?;
                let attached = cluster.is_running();
                cluster.start()?;
                if attached && opener == Opener::Server {
                    log::warn!(
                        "an earlier server left the embedded PostgreSQL running; this server now owns it"
                    );
                    cluster.adopt();
                }
                let url = cluster.database_url(embedded::DATABASE_NAME);
                Ok(Self { url, cluster: Some(Arc::new(Mutex::new(cluster))) })
            }
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.cluster.is_some()
    }

    /// Stops an embedded cluster this process owns.
    pub fn shutdown(self) -> Result<(), LaunchError> {
        match &self.cluster {
            Some(cluster) => lock(cluster).stop(),
            None => Ok(()),
        }
    }

    /// Keeps an embedded cluster this process owns running: a thread that restarts it when its
    /// postmaster dies (killed, out of memory), with backoff, telling `pool` to refuse work at once
    /// until it answers again. Nothing to watch with an external database. Stops when dropped.
    pub fn supervise(&self, pool: DbPool) -> Option<Supervisor> {
        let cluster = self.cluster.clone()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("crm-postgres-supervisor".to_string())
            .spawn({
                let stopping = stopping.clone();
                move || supervise(&cluster, &pool, &stopping)
            })
            .map_err(|error| log::error!("can't start the embedded PostgreSQL's supervisor: {error}"))
            .ok()?;
        Some(Supervisor { stopping, thread: Some(thread) })
    }
}

fn lock(cluster: &Mutex<EmbeddedPostgres>) -> MutexGuard<'_, EmbeddedPostgres> {
    cluster.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How often the supervisor looks at the postmaster, and the longest it waits between restarts.
const WATCH_EVERY: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn supervise(cluster: &Mutex<EmbeddedPostgres>, pool: &DbPool, stopping: &AtomicBool) {
    let mut backoff = WATCH_EVERY;
    let mut wait = WATCH_EVERY;
    loop {
        // Sleeps in short steps, so that a shutdown isn't kept waiting for a long backoff.
        let deadline = std::time::Instant::now() + wait;
        while std::time::Instant::now() < deadline {
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut cluster = lock(cluster);
        if !cluster.is_owned() || cluster.is_running() {
            wait = WATCH_EVERY;
            continue;
        }
        pool.mark_down();
        log::error!("the embedded PostgreSQL has stopped (its postmaster is gone): restarting it");
        match cluster.start() {
            Ok(()) => {
                // Requests resume once the pool's probe connects.
                log::warn!("the embedded PostgreSQL runs again");
                backoff = WATCH_EVERY;
                wait = WATCH_EVERY;
            }
            Err(error) => {
                log::error!("restarting the embedded PostgreSQL failed; next try in {backoff:?}: {error}");
                wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The thread keeping the embedded cluster up; stopped (and waited for) when dropped.
#[derive(Debug)]
pub struct Supervisor {
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
