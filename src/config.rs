//! Typed configuration, read once from the environment (and `.env`) and passed explicitly.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::cors::AllowedOrigins;

/// The shortest HS256 secret we accept: the key must be at least as long as the hash.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where the database is: a server the operator runs, or the embedded cluster in the data folder.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    External(String),
    Embedded,
}

impl fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The URL may carry a password.
            Self::External(_) => f.write_str("External(<redacted>)"),
            Self::Embedded => f.write_str("Embedded"),
        }
    }
}

/// A secret that never shows up in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseLocation,
    pub bind: String,
    /// Where `/metrics` is served: apart from the API, on loopback unless told otherwise, as it
    /// names every route and how busy the server is.
    pub metrics_bind: String,
    pub data_dir: PathBuf,
    /// Where the embedded mode finds initdb, pg_ctl, postgres and psql; None: looked for.
    pub postgres_bin_dir: Option<PathBuf>,
    /// None in embedded mode means "generate one and keep it in the data folder".
    pub jwt_secret: Option<Secret>,
    pub admin_email: Option<String>,
    pub admin_password: Option<Secret>,
    pub body_limit_bytes: usize,
    pub import_limit_bytes: usize,
    /// Whether this process works on imports in the background (`CRM_IMPORT_WORKER=off`: another does).
    pub import_worker: bool,
    pub db_pool_size: u32,
    pub workers: Option<usize>,
    pub cors_origins: AllowedOrigins,
    /// Requests a minute each person may make; an API key has its own limit.
    pub user_requests_per_minute: u32,
    /// Whether webhooks may be delivered to private and loopback addresses, over `http` too
    /// (`CRM_WEBHOOKS_ALLOW_PRIVATE=true`): for receivers on the operator's own network.
    pub webhooks_allow_private: bool,
    /// Whether this process delivers webhooks (`CRM_WEBHOOK_WORKER=off`: others do).
    pub webhook_worker: bool,
    /// A streaming replica for the reads that may lag a little (reports, exports, segment counts
    /// and previews): `CRM_READ_DATABASE_URL`; None: they go to the primary like the rest.
    pub read_database: Option<Secret>,
    /// How far behind the primary the replica may be and still take those reads
    /// (`CRM_READ_MAX_LAG_SECONDS`); past it they go to the primary.
    pub read_max_lag: std::time::Duration,
}

impl Config {
    /// Reads `.env` (if present) and then the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case; a broken one is worth a warning.
        if let Err(error) = dotenvy::dotenv()
            && !error.not_found()
        {
            log::warn!("ignoring .env: {error}");
        }
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    /// Builds the configuration from any variable source, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database = match lookup("DATABASE_URL") {
            Some(url) => DatabaseLocation::External(url),
            None => DatabaseLocation::Embedded,
        };
        let jwt_secret = lookup("CRM_JWT_SECRET").map(Secret::new);
        if let Some(secret) = &jwt_secret {
            check_jwt_secret(secret.expose())?;
        }
        Ok(Self {
            database,
            bind: lookup("CRM_BIND").unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            metrics_bind: lookup("CRM_METRICS_BIND").unwrap_or_else(|| "127.0.0.1:9464".to_string()),
            data_dir: PathBuf::from(lookup("CRM_DATA_DIR").unwrap_or_else(|| "./.crm".to_string())),
            postgres_bin_dir: lookup("CRM_POSTGRES_BIN_DIR").map(PathBuf::from),
            jwt_secret,
            admin_email: lookup("CRM_ADMIN_EMAIL"),
            admin_password: lookup("CRM_ADMIN_PASSWORD").map(Secret::new),
            body_limit_bytes: parse_number(&lookup, "CRM_BODY_LIMIT_BYTES", 1024 * 1024)?,
            import_limit_bytes: parse_number(&lookup, "CRM_IMPORT_LIMIT_BYTES", 64 * 1024 * 1024)?,
            import_worker: lookup("CRM_IMPORT_WORKER").is_none_or(|value| value != "off"),
            webhooks_allow_private: lookup("CRM_WEBHOOKS_ALLOW_PRIVATE").is_some_and(|value| value == "true"),
            webhook_worker: lookup("CRM_WEBHOOK_WORKER").is_none_or(|value| value != "off"),
            read_database: lookup("CRM_READ_DATABASE_URL").map(Secret::new),
            read_max_lag: std::time::Duration::from_secs(parse_number(
                &lookup,
                "CRM_READ_MAX_LAG_SECONDS",
                DEFAULT_READ_MAX_LAG_SECONDS,
            )?),
            db_pool_size: parse_number(&lookup, "CRM_DB_POOL_SIZE", default_pool_size())?,
            workers: lookup("CRM_WORKERS").map(|_| parse_number(&lookup, "CRM_WORKERS", 1)).transpose()?,
            user_requests_per_minute: parse_number(
                &lookup,
                "CRM_USER_REQUESTS_PER_MINUTE",
                crate::auth::rate_limit::DEFAULT_USER_REQUESTS_PER_MINUTE,
            )?,
            cors_origins: lookup("CRM_CORS_ORIGINS")
                .map(|origins| AllowedOrigins::parse(&origins))
                .transpose()
                .map_err(|reason| ConfigError::Invalid { name: "CRM_CORS_ORIGINS", reason })?
                .unwrap_or_default(),
        })
    }
}

/// A replica more than this many seconds behind the primary takes no reads: a report is then at
/// most that old, which a dashboard can live with, while the replica spares the primary.
const DEFAULT_READ_MAX_LAG_SECONDS: u64 = 10;

/// Twice the CPU count, at least 4. More connections than the cores can serve make PostgreSQL
/// switch between backends instead of finishing queries, while requests queue in the pool in
/// arrival order anyway (`db::run`). On 2 cores with the database on the same host, 4 connections
/// instead of 10 cut a client list page's p99 at 1M clients from 25–27 ms to 16–18 ms (card: 9–10
/// to 6–7 ms), at the same throughput.
fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |cores| cores.get());
    u32::try_from(2 * cores).unwrap_or(u32::MAX).max(4)
}

pub fn check_jwt_secret(secret: &str) -> Result<(), ConfigError> {
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name: "CRM_JWT_SECRET",
            reason: format!("it must be at least {MIN_JWT_SECRET_BYTES} bytes long, it is {}", secret.len()),
        });
    }
    Ok(())
}

fn parse_number<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
{
    let Some(raw) = lookup(name) else { return Ok(default) };
    match raw.trim().parse::<T>() {
        Ok(value) if value >= T::from(1) => Ok(value),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!("expected a positive whole number, got {raw:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone()))
    }

    #[test]
    fn defaults_to_the_embedded_database_on_loopback() -> Result<(), ConfigError> {
        let config = config(&[])?;
        assert_eq!(config.database, DatabaseLocation::Embedded);
        assert_eq!(config.bind, "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./.crm"));
        assert_eq!(config.body_limit_bytes, 1024 * 1024);
        assert!(config.db_pool_size >= 4 && config.db_pool_size % 2 == 0, "{}", config.db_pool_size);
        Ok(())
    }

    #[test]
    fn refuses_a_short_jwt_secret() {
        let error = config(&[("CRM_JWT_SECRET", "too-short")]).err();
        assert!(matches!(error, Some(ConfigError::Invalid { name: "CRM_JWT_SECRET", .. })));
        assert!(config(&[("CRM_JWT_SECRET", &"x".repeat(32))]).is_ok());
    }

    #[test]
    fn refuses_a_malformed_number() {
        assert!(config(&[("CRM_BODY_LIMIT_BYTES", "lots")]).is_err());
        assert!(config(&[("CRM_DB_POOL_SIZE", "0")]).is_err());
        assert!(config(&[("CRM_READ_MAX_LAG_SECONDS", "0")]).is_err());
    }

    #[test]
    fn debug_output_redacts_secrets() -> Result<(), ConfigError> {
        let config = config(&[
            ("DATABASE_URL", "postgres://crm:hunter2@db/crm"),
            ("CRM_JWT_SECRET", &"s".repeat(40)),
            ("CRM_ADMIN_PASSWORD", "hunter2"),
            ("CRM_READ_DATABASE_URL", "postgres://crm:hunter2@replica/crm"),
        ])?;
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("ssss"), "{printed}");
        Ok(())
    }
}
