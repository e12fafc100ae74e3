//! The `crm` command line: `serve` (the default), `migrate`, `openapi`, `seed` and `workspace create`.
//! Every subcommand works against the same database as the server, embedded or not, whether or
//! not the server is running.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::auth::tokens::{JwtKeys, generate_secret};
use crate::bootstrap::{self, NewWorkspaceWithOwner};
use crate::config::{self, Config, DatabaseLocation, Secret};
use crate::db;
use crate::db::replica::ReadReplica;
use crate::launch::{Database, Opener};
use crate::state::AppState;

pub type CliResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[derive(Debug, Parser)]
#[command(name = "crm", version, about = "The CRM API server and its administration commands")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the API server (the default). Without DATABASE_URL it runs its own PostgreSQL.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document to stdout.
    Openapi,
    /// Fill a workspace with realistic, deterministic data (for benchmarks and demos).
    Seed(crate::seed::SeedOptions),
    /// Manage workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Import a spreadsheet of clients (CSV with a header row), as `POST /imports` does, showing progress.
    Import(ImportOptions),
}

#[derive(Debug, clap::Args)]
pub struct ImportOptions {
    /// The CSV file.
    pub file: std::path::PathBuf,
    /// The workspace to import into.
    #[arg(long)]
    pub workspace: uuid::Uuid,
    /// The email of the user the import writes as (the clients' creator and owner).
    #[arg(long = "as")]
    pub as_user: String,
    /// What the rows are: clients, contacts, deals or products.
    #[arg(long, default_value = "clients", value_parser = ["clients", "contacts", "deals", "products"])]
    pub entity: String,
    /// What a row duplicating a live client (a contact, a product's SKU) does: skip, update or create.
    #[arg(long, default_value = "skip", value_parser = ["skip", "update", "create"])]
    pub duplicates: String,
    /// Check every row and count what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A column's field where its header doesn't say: `--map "Код 1С=ref:1c"`; repeat for more.
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    pub mapping: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace with its owner and print the workspace id.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        owner_email: String,
        /// The owner's password (or set CRM_OWNER_PASSWORD, which keeps it out of `ps`).
        #[arg(long, env = "CRM_OWNER_PASSWORD", hide_env_values = true)]
        owner_password: String,
        #[arg(long, default_value = "Owner")]
        owner_name: String,
    },
}

pub fn run(cli: Cli) -> CliResult {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            let document = serde_json::to_string_pretty(&crate::openapi::document())?;
            println!("{document}");
            Ok(())
        }
        Command::Serve => actix_web::rt::System::new().block_on(serve(Config::from_env()?)),
        Command::Migrate => {
            let config = Config::from_env()?;
            let database = Database::open(&config, Opener::Tool)?;
            let applied = db::run_migrations(&database.url)?;
            println!("{applied} migration(s) applied");
            database.shutdown()?;
            Ok(())
        }
        Command::Seed(options) => {
            let config = Config::from_env()?;
            let database = Database::open(&config, Opener::Tool)?;
            db::run_migrations(&database.url)?;
            let mut conn = diesel::Connection::establish(&database.url)?;
            crate::seed::run(&mut conn, &options)?;
            drop(conn);
            database.shutdown()?;
            Ok(())
        }
        Command::Import(options) => {
            let config = Config::from_env()?;
            let database = Database::open(&config, Opener::Tool)?;
            db::run_migrations(&database.url)?;
            let mut conn = diesel::Connection::establish(&database.url)?;
            let imported = crate::import_worker::import_file(&mut conn, &options);
            drop(conn);
            database.shutdown()?;
            imported
        }
        Command::Workspace {
            command: WorkspaceCommand::Create { name, owner_email, owner_password, owner_name },
        } => {
            let config = Config::from_env()?;
            let new = NewWorkspaceWithOwner {
                name: &name,
                owner_email: &owner_email,
                owner_full_name: &owner_name,
                owner_password: &owner_password,
            };
            bootstrap::check(&new)?;
            let database = Database::open(&config, Opener::Tool)?;
            db::run_migrations(&database.url)?;
            let mut conn = diesel::Connection::establish(&database.url)?;
            let (workspace, _) =
                bootstrap::create_workspace(&mut conn, &new).map_err(|error| error.to_string())?;
            drop(conn);
            database.shutdown()?;
            println!("{}", workspace.id);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> CliResult {
    // One server per embedded data folder: a second would fight the first over the cluster.
    let _data_dir_lock = match config.database {
        DatabaseLocation::Embedded => Some(lock_data_dir(&config.data_dir)?),
        DatabaseLocation::External(_) => None,
    };
    let database = Database::open(&config, Opener::Server)?;
    let served = serve_with(&config, &database).await;
    // Stop the embedded cluster whatever happened, then report the server's outcome.
    let stopped = database.shutdown();
    served?;
    stopped?;
    Ok(())
}

async fn serve_with(config: &Config, database: &Database) -> CliResult {
    let applied = db::run_migrations(&database.url)?;
    if applied > 0 {
        log::info!("applied {applied} migration(s)");
    }
    let jwt_secret = match (&config.jwt_secret, database.is_embedded()) {
        (Some(secret), _) => secret.clone(),
        (None, true) => load_or_create_jwt_secret(&config.data_dir)?,
        (None, false) => {
            return Err(
                "CRM_JWT_SECRET must be set when DATABASE_URL is: every server node must sign tokens \
                        with the same secret"
                    .into(),
            );
        }
    };
    let pool = db::build_pool(&database.url, config.db_pool_size)?;
    let mut conn = pool.get()?;
    if let Some(first) =
        bootstrap::ensure_first_workspace(&mut conn, config).map_err(|error| error.to_string())?
    {
        announce_first_owner(&first);
    }
    drop(conn);

    let listener = TcpListener::bind(&config.bind)
        .map_err(|error| format!("can't listen on {}: {error}", config.bind))?;
    let address = listener.local_addr()?;
    let read_replica = match &config.read_database {
        Some(url) => {
            Some(ReadReplica::connect(url.expose(), &database.url, config.db_pool_size, config.read_max_lag)?)
        }
        None => None,
    };
    let metrics = crate::metrics::build(pool.clone(), read_replica.as_ref())?;
    let metrics_listener = TcpListener::bind(&config.metrics_bind)
        .map_err(|error| format!("can't listen for metrics on {}: {error}", config.metrics_bind))?;
    let metrics_address = metrics_listener.local_addr()?;
    let metrics_server = crate::metrics::serve(&metrics, metrics_listener)?;
    let metrics_handle = metrics_server.handle();
    actix_web::rt::spawn(metrics_server);
    let state = AppState {
        pool: db::DbPool::new(pool, &database.url)?,
        read_replica,
        jwt: Arc::new(JwtKeys::new(&jwt_secret)),
        body_limit: config.body_limit_bytes,
        import_limit: config.import_limit_bytes,
        login_throttle: Arc::default(),
        request_limiter: Arc::default(),
        user_requests_per_minute: config.user_requests_per_minute,
        cors_origins: config.cors_origins.clone(),
        webhooks_allow_private: config.webhooks_allow_private,
    };
    // One HTTP worker per two cores: requests' database work runs on the pool's own threads, and
    // PostgreSQL usually shares the machine. On 2 cores one worker served the card at 7,530–7,860
    // req/s against 6,400 with two, and the board and a list page 5–7% faster.
    let workers = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1)));
    let _supervisor = database.supervise(state.pool.clone());
    crate::reminders::spawn(state.pool.connections().clone());
    crate::stats_worker::spawn(state.pool.connections().clone());
    crate::report_cells_worker::spawn(state.pool.connections().clone());
    if config.import_worker {
        crate::import_worker::spawn(state.pool.connections().clone());
    }
    if config.webhook_worker {
        crate::webhooks::spawn(state.pool.connections().clone(), config.webhooks_allow_private);
    }
    let server = crate::server::build(state, metrics, listener, workers, true)?;
    // Starting up (the migrations' check, the API document) freed most of what it allocated on
    // this thread, which from here on only wakes the background jobs.
    crate::allocator::give_back_free_memory();
    log::info!(
        "listening on http://{address} (API docs at http://{address}/docs/, metrics at http://{metrics_address}/metrics)"
    );
    server.await?;
    metrics_handle.stop(true).await;
    log::info!("server stopped");
    Ok(())
}

fn announce_first_owner(first: &bootstrap::FirstOwner) {
    log::info!(
        "created the first workspace {} ({}) with owner {}",
        first.workspace.name,
        first.workspace.id,
        first.email
    );
    if let Some(password) = &first.generated_password {
        // Printed once, on stdout, so it doesn't end up in shipped logs by default.
        println!(
            "\nFirst start: created workspace \"{}\" with owner {}\n  generated password: {}\n  \
             (shown only this once; set CRM_ADMIN_PASSWORD before the first start to choose it)\n",
            first.workspace.name,
            first.email,
            password.expose()
        );
    }
}

fn lock_data_dir(data_dir: &Path) -> Result<fs::File, Box<dyn std::error::Error + Send + Sync>> {
    fs::create_dir_all(data_dir)?;
    let lock =
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(data_dir.join("crm.lock"))?;
    lock.try_lock().map_err(|_| {
        format!(
            "another crm server is already using {}; stop it or choose another CRM_DATA_DIR",
            data_dir.display()
        )
    })?;
    Ok(lock)
}

/// The embedded mode's JWT secret: generated on first start and kept (mode 0600) in the data
/// folder, so tokens survive a restart.
fn load_or_create_jwt_secret(data_dir: &Path) -> Result<Secret, Box<dyn std::error::Error + Send + Sync>> {
    let path = data_dir.join("jwt_secret");
    if path.exists() {
        let secret = fs::read_to_string(&path)?.trim().to_string();
        config::check_jwt_secret(&secret).map_err(|error| format!("{}: {error}", path.display()))?;
        return Ok(Secret::new(secret));
    }
    let secret = generate_secret();
    let mut file = fs::OpenOptions::new().create_new(true).write(true).mode(0o600).open(&path)?;
    file.write_all(secret.expose().as_bytes())?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    log::info!("generated a JWT secret in {}", path.display());
    Ok(secret)
}
