//! The embedded PostgreSQL launcher: a cluster of the machine's own PostgreSQL binaries, kept in
//! a folder of ours, reachable only through a Unix socket in a private directory.
//!
//! The server, every subcommand and the test harness use this one launcher. Whoever starts the
//! cluster owns it and stops it; whoever finds it already running (a `crm migrate` while the
//! server runs) attaches to it and leaves it running.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use thiserror::Error;

/// The database the application uses inside the embedded cluster.
pub const DATABASE_NAME: &str = "crm";
/// The superuser initdb creates; only reachable through the private socket.
const SUPERUSER: &str = "postgres";
/// The system user that owns the cluster when we run as root (initdb refuses to run as root).
const SYSTEM_USER: &str = "postgres";
/// A Unix socket path must fit in `sun_path` (108 bytes on Linux, including the NUL).
const MAX_SOCKET_PATH: usize = 100;
const PORT: u16 = 5432;

#[derive(Debug, Error)]
pub enum LaunchError {
    #[error(
        "PostgreSQL binaries (initdb, pg_ctl, postgres, psql) were not found in {0}: install PostgreSQL \
         (for example `apt-get install postgresql`), set CRM_POSTGRES_BIN_DIR to their folder, or set DATABASE_URL"
    )]
    BinariesNotFound(String),
    #[error(
        "running as root, the embedded PostgreSQL must run as the `postgres` system user, which does not exist: \
         create it, run as another user, or set DATABASE_URL"
    )]
    NoSystemUser,
    #[error(
        "the `postgres` system user can't reach {0}: every parent directory needs search permission \
         for it; choose another CRM_DATA_DIR or set DATABASE_URL"
    )]
    Unreachable(PathBuf),
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LaunchError {
    let context = context.into();
    move |error| LaunchError::Io(context, error)
}

/// How the cluster is tuned: a user's data must survive a crash; a test cluster need not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    Throwaway,
}

/// The system user the cluster runs as, when it is not us.
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    /// `<data dir>/postgres`: owned by the cluster's user; holds `data/` and the log.
    cluster_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
    durability: Durability,
    /// True when this process started the cluster and so must stop it.
    owned: bool,
}

impl EmbeddedPostgres {
    /// Prepares (and on first use initialises) a cluster under `data_dir` without starting it,
    /// with the PostgreSQL binaries in `bin_dir`, or where [`find_binaries`] finds them.
    pub fn open(
        data_dir: &Path,
        durability: Durability,
        bin_dir: Option<&Path>,
    ) -> Result<Self, LaunchError> {
        let cluster = Self::prepare(data_dir, durability, bin_dir)?;
        if !cluster.pg_data().join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        Ok(cluster)
    }

    /// The folders of a cluster under `data_dir`, made and handed to the cluster's user, with
    /// nothing in its data folder yet.
    fn prepare(data_dir: &Path, durability: Durability, bin_dir: Option<&Path>) -> Result<Self, LaunchError> {
        let bin_dir = match bin_dir {
            Some(dir) if has_binaries(dir) => dir.to_path_buf(),
            Some(dir) => {
                return Err(LaunchError::BinariesNotFound(format!(
                    "{} (CRM_POSTGRES_BIN_DIR)",
                    dir.display()
                )));
            }
            None => find_binaries().ok_or_else(|| {
                LaunchError::BinariesNotFound(
                    "PATH, `pg_config --bindir` or /usr/lib/postgresql/*/bin".into(),
                )
            })?,
        };
        let run_as = if nix::unistd::geteuid().is_root() {
            let user =
                nix::unistd::User::from_name(SYSTEM_USER).ok().flatten().ok_or(LaunchError::NoSystemUser)?;
            Some(RunAs { name: user.name, uid: user.uid, gid: user.gid })
        } else {
            None
        };

        fs::create_dir_all(data_dir).map_err(io_error(format!("creating {}", data_dir.display())))?;
        let data_dir =
            fs::canonicalize(data_dir).map_err(io_error(format!("resolving {}", data_dir.display())))?;
        let cluster_dir = data_dir.join("postgres");
        fs::create_dir_all(&cluster_dir).map_err(io_error(format!("creating {}", cluster_dir.display())))?;
        if let Some(user) = &run_as {
            // The data folder stays ours (it holds the JWT secret): the cluster's user may only
            // pass through it to the `postgres` folder it owns.
            set_mode(&data_dir, 0o711)?;
            chown(&cluster_dir, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .map_err(io_error(format!("handing {} to {}", cluster_dir.display(), user.name)))?;
        }
        set_mode(&cluster_dir, 0o700)?;

        let socket_dir = if cluster_dir.join(".s.PGSQL.5432").as_os_str().len() <= MAX_SOCKET_PATH {
            cluster_dir.clone()
        } else {
            short_socket_dir(&data_dir, run_as.as_ref())?
        };

        let cluster = Self { bin_dir, cluster_dir, socket_dir, run_as, durability, owned: false };
        if cluster.run_as.is_some() {
            let probe = cluster.command("test").arg("-x").arg(&cluster.cluster_dir).output();
            if !probe.is_ok_and(|output| output.status.success()) {
                return Err(LaunchError::Unreachable(cluster.cluster_dir.clone()));
            }
        }
        Ok(cluster)
    }

    /// Prepares a streaming replica of this running cluster under `data_dir`, not started: a base
    /// backup that follows this cluster's WAL once started (`CRM_READ_DATABASE_URL` is tried on
    /// one in the tests). A folder that holds a cluster already is taken as it is.
    pub fn replicate_to(&self, data_dir: &Path, durability: Durability) -> Result<Self, LaunchError> {
        let replica = Self::prepare(data_dir, durability, Some(&self.bin_dir))?;
        if !replica.pg_data().join("PG_VERSION").exists() {
            let mut backup = replica.tool("pg_basebackup");
            backup
                .arg("-h")
                .arg(&self.socket_dir)
                .args([
                    "-p",
                    &PORT.to_string(),
                    "-U",
                    SUPERUSER,
                    "--wal-method=stream",
                    "--write-recovery-conf",
                    "--checkpoint=fast",
                ])
                .args(if durability == Durability::Throwaway { &["--no-sync"][..] } else { &[] })
                .arg("-D")
                .arg(replica.pg_data());
            replica.run_checked(&mut backup, "pg_basebackup")?;
        }
        Ok(replica)
    }

    /// Starts the cluster, or attaches to it when it already runs (then it is left running).
    pub fn start(&mut self) -> Result<(), LaunchError> {
        if self.is_running() {
            log::info!(
                "attaching to the embedded PostgreSQL already running in {}",
                self.pg_data().display()
            );
            return Ok(());
        }
        self.remove_a_zombies_lock_files()?;
        self.write_settings()?;
        let log_file = self.cluster_dir.join("postgres.log");
        let mut start = self.tool("pg_ctl");
        start
            .arg("start")
            .args(["--wait", "--timeout=60", "--silent"])
            .arg("-D")
            .arg(self.pg_data())
            .arg("-l")
            .arg(&log_file);
        self.run_checked(&mut start, "starting the embedded PostgreSQL")
            .map_err(|error| append_log_tail(error, &log_file))?;
        self.owned = true;
        log::info!("embedded PostgreSQL started in {}", self.pg_data().display());
        self.ensure_database()
    }

    /// Stops the cluster if this process started it. Safe to call twice.
    pub fn stop(&mut self) -> Result<(), LaunchError> {
        if !self.owned {
            return Ok(());
        }
        self.owned = false;
        let mut stop = self.tool("pg_ctl");
        stop.arg("stop")
            .args(["--wait", "--timeout=60", "--silent", "--mode=fast"])
            .arg("-D")
            .arg(self.pg_data());
        self.run_checked(&mut stop, "stopping the embedded PostgreSQL")?;
        log::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    /// Takes over a cluster found running (left by a crashed server): this process stops it.
    pub fn adopt(&mut self) {
        self.owned = true;
    }

    /// Hands ownership to the caller's process exit: the cluster is no longer stopped on drop.
    /// Used by the test harness, whose watchdog stops it instead.
    pub fn disown(&mut self) {
        self.owned = false;
    }

    /// Whether the postmaster named in the pid file runs: cheap enough to ask every second.
    ///
    /// Not `pg_ctl status`, which, like PostgreSQL's own lock-file check, takes a zombie for a
    /// running server: a killed postmaster stays one until its parent collects it, which a
    /// container's PID 1 may do late or never, and the server would then attach to nothing.
    pub fn is_running(&self) -> bool {
        self.postmaster_pid().is_some_and(|pid| process_state(pid).is_some_and(|state| state != 'Z'))
    }

    /// Removes the lock files of a postmaster that died and awaits collection (see `is_running`):
    /// PostgreSQL would refuse to start beside them. A zombie holds no memory or files, so nothing
    /// it left can be damaged; lock files of a process gone entirely PostgreSQL handles itself.
    fn remove_a_zombies_lock_files(&self) -> Result<(), LaunchError> {
        if self.postmaster_pid().and_then(process_state) != Some('Z') {
            return Ok(());
        }
        log::warn!("the embedded PostgreSQL's last postmaster died uncollected: removing its lock files");
        let socket_lock = self.socket_dir.join(format!(".s.PGSQL.{PORT}.lock"));
        for lock_file in [self.pg_data().join("postmaster.pid"), socket_lock] {
            match fs::remove_file(&lock_file) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io_error(format!("removing {}", lock_file.display()))(error));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether this process started (or adopted) the cluster, and so keeps it running.
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// The postmaster's process id while it runs.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let pid_file = fs::read_to_string(self.pg_data().join("postmaster.pid")).ok()?;
        pid_file.lines().next()?.trim().parse().ok()
    }

    /// A libpq URL for `database` over the private socket.
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@localhost:{PORT}/{database}?host={}", self.socket_dir.display())
    }

    pub fn pg_data(&self) -> PathBuf {
        self.cluster_dir.join("data")
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    fn initdb(&self) -> Result<(), LaunchError> {
        log::info!("initialising an embedded PostgreSQL cluster in {}", self.pg_data().display());
        let mut initdb = self.tool("initdb");
        initdb
            .arg("-D")
            .arg(self.pg_data())
            .args(["--username", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"])
            .args(if self.durability == Durability::Throwaway { &["--no-sync"][..] } else { &[] });
        self.run_checked(&mut initdb, "initdb")?;
        // Our settings live in a file of their own, rewritten at every start.
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(self.pg_data().join("postgresql.conf"))
            .map_err(io_error("opening postgresql.conf"))?;
        writeln!(conf, "\ninclude_if_exists = 'crm.conf'").map_err(io_error("writing postgresql.conf"))
    }

    fn write_settings(&self) -> Result<(), LaunchError> {
        let socket_dir = self.socket_dir.display().to_string().replace('\'', "''");
        let mut settings = format!(
            "# Written by crm at every start; edit postgresql.conf instead.\n\
             listen_addresses = ''\n\
             port = {PORT}\n\
             unix_socket_directories = '{socket_dir}'\n\
             unix_socket_permissions = 0700\n"
        );
        if self.durability == Durability::Throwaway {
            settings.push_str(
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 400\n",
            );
        }
        let path = self.pg_data().join("crm.conf");
        fs::write(&path, settings).map_err(io_error(format!("writing {}", path.display())))?;
        if let Some(user) = &self.run_as {
            chown(&path, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(io_error(format!(
                "handing {} to {}",
                path.display(),
                user.name
            )))?;
        }
        Ok(())
    }

    /// Creates the application database on the first start.
    fn ensure_database(&self) -> Result<(), LaunchError> {
        let mut exists = self.tool("psql");
        exists
            .args(["-h"])
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-d", "postgres", "-tAc"])
            .arg(format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"));
        let output = self.run_checked(&mut exists, "looking for the crm database")?;
        if String::from_utf8_lossy(&output.stdout).trim() == "1" {
            return Ok(());
        }
        let mut create = self.tool("psql");
        create
            .args(["-h"])
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-d", "postgres", "-c"])
            .arg(format!("CREATE DATABASE {DATABASE_NAME}"));
        self.run_checked(&mut create, "creating the crm database").map(drop)
    }

    /// A command that runs `program` as the cluster's user.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = match &self.run_as {
            Some(user) => {
                let mut wrapped = Command::new("runuser");
                wrapped.args(["-u", &user.name, "--"]).arg(program);
                wrapped
            }
            None => Command::new(program),
        };
        // The server's own PG* variables must not redirect the cluster's tools elsewhere.
        for variable in ["PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSERVICE"] {
            command.env_remove(variable);
        }
        // Run the tools from a folder the cluster's user can read, not our working directory.
        command.current_dir(&self.cluster_dir).stdin(Stdio::null());
        command
    }

    /// A command that runs one of the PostgreSQL binaries as the cluster's user.
    fn tool(&self, name: &str) -> Command {
        self.command(self.bin_dir.join(name))
    }

    fn run_checked(&self, command: &mut Command, action: &str) -> Result<Output, LaunchError> {
        let output = command.output().map_err(io_error(action))?;
        if output.status.success() {
            return Ok(output);
        }
        let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        if detail.is_empty() {
            detail = output.status.to_string();
        }
        Err(LaunchError::Command { action: action.to_string(), detail })
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            log::error!("{error}");
        }
    }
}

/// The state letter of process `pid` (`R`, `S`, `Z` for a zombie…), `None` when there is no such
/// process. Without `/proc` a process that takes signals counts as running (`S`).
fn process_state(pid: i32) -> Option<char> {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()),
        Err(_) if Path::new("/proc/self/stat").exists() => None,
        Err(_) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).ok().map(|()| 'S'),
    }
}

/// Looks for initdb, pg_ctl and postgres on PATH, then where `pg_config` says, then in Debian's
/// versioned folders (newest first).
pub fn find_binaries() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    let mut debian: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .collect();
    debian.sort_by_key(|dir| {
        let version =
            dir.parent().and_then(Path::file_name).and_then(|name| name.to_str()?.parse::<u32>().ok());
        std::cmp::Reverse(version)
    });
    on_path.chain(from_pg_config).chain(debian).find(|dir| has_binaries(dir))
}

/// Whether `dir` holds every PostgreSQL program the launcher runs.
fn has_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres", "psql"].iter().all(|tool| dir.join(tool).is_file())
}

/// Where the socket goes when the data folder's path is too long for one: a private folder in
/// the system's temporary directory, named after the data folder so every process finds it.
fn short_socket_dir(data_dir: &Path, run_as: Option<&RunAs>) -> Result<PathBuf, LaunchError> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let name: String = digest.iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("crm-pg-{name}"));
    fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
    if let Some(user) = run_as {
        chown(&dir, Some(user.uid.as_raw()), Some(user.gid.as_raw())).map_err(io_error(format!(
            "handing {} to {}",
            dir.display(),
            user.name
        )))?;
    }
    set_mode(&dir, 0o700)?;
    Ok(dir)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), LaunchError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(io_error(format!("setting permissions of {}", path.display())))
}

fn append_log_tail(error: LaunchError, log_file: &Path) -> LaunchError {
    let tail = fs::read_to_string(log_file)
        .map(|log| {
            log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        })
        .unwrap_or_default();
    match error {
        LaunchError::Command { action, detail } if !tail.is_empty() => {
            LaunchError::Command { action, detail: format!("{detail}\n{tail}") }
        }
        other => other,
    }
}
