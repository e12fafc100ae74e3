//! Opening the database a command works on: the server named by DATABASE_URL, or the embedded
//! PostgreSQL in the data folder, started for the process and stopped with it when it owns it.

use crate::config::{Config, DatabaseLocation};
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
    cluster: Option<EmbeddedPostgres>,
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
