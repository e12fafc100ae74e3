//! The database side of the harness: the cluster, the template, per-test databases, and the
//! sweeping of what crashed runs left behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crm::db::embedded::{Durability, EmbeddedPostgres};
use diesel::{Connection, PgConnection, RunQueryDsl};

const TEST_DIR_PREFIX: &str = "crm-test-pg-";

pub struct TestCluster {
    /// A URL whose database can be replaced: the cluster's maintenance database.
    server_url: String,
    template: String,
    run_prefix: String,
    next_database: AtomicUsize,
    /// Kept open for the life of the process: when it closes, the watchdog stops the cluster.
    _watchdog: Option<Mutex<ChildStdin>>,
}

pub fn cluster() -> &'static TestCluster {
    static CLUSTER: OnceLock<TestCluster> = OnceLock::new();
    CLUSTER.get_or_init(TestCluster::start)
}

impl TestCluster {
    fn start() -> Self {
        let pid = std::process::id();
        let run_prefix = format!("crm_test_{pid}_");
        let (server_url, watchdog) = match std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) {
            Some(url) => {
                sweep_databases(&url);
                (url, None)
            }
            None => {
                sweep_clusters();
                let root = std::env::temp_dir().join(format!("{TEST_DIR_PREFIX}{pid}"));
                let mut cluster = EmbeddedPostgres::open(&root, Durability::Throwaway, None)
                    .unwrap_or_else(|error| panic!("the test cluster can't be set up: {error}"));
                cluster.start().unwrap_or_else(|error| panic!("the test cluster can't start: {error}"));
                // The harness can't run code when the test process exits: a watchdog process
                // stops the cluster and deletes it when our end of its stdin closes.
                cluster.disown();
                let watchdog = spawn_watchdog(&cluster.pg_data(), &root);
                (cluster.database_url("postgres"), Some(Mutex::new(watchdog)))
            }
        };
        let template = format!("{run_prefix}template");
        let mut admin = PgConnection::establish(&server_url).expect("connect to the test cluster");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {template} WITH (FORCE)"))
            .execute(&mut admin)
            .ok();
        diesel::sql_query(format!("CREATE DATABASE {template}"))
            .execute(&mut admin)
            .expect("create the template");
        crm::db::run_migrations(&database_url(&server_url, &template)).expect("migrate the template");
        Self { server_url, template, run_prefix, next_database: AtomicUsize::new(1), _watchdog: watchdog }
    }

    /// A fresh, migrated database of its own for one test.
    pub fn create_database(&self) -> TestDatabase {
        let name = format!("{}{}", self.run_prefix, self.next_database.fetch_add(1, Ordering::Relaxed));
        let mut admin = PgConnection::establish(&self.server_url).expect("connect to the test cluster");
        // FILE_COPY copies the template's files as they are: 61 ms a test against 104 for
        // PostgreSQL 15's default WAL_LOG, which writes every block through the WAL.
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {} STRATEGY FILE_COPY", self.template))
            .execute(&mut admin)
            .expect("copy the template database");
        TestDatabase { url: database_url(&self.server_url, &name), name, server_url: self.server_url.clone() }
    }
}

/// A test's database, dropped (with its connections) when the test ends.
pub struct TestDatabase {
    pub url: String,
    pub name: String,
    server_url: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // On a thread of its own, so that the next test need not wait for it. One the process
        // leaves undone goes with the throwaway cluster, or with the next run's sweep.
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        std::thread::spawn(move || {
            if let Ok(mut admin) = PgConnection::establish(&server_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        });
    }
}

/// The URL of `database` on the server `url` points at: the path's database is replaced.
fn database_url(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |index| scheme_end + index);
    let mut result = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

#[expect(clippy::zombie_processes, reason = "the watchdog must outlive the test process, not be waited for")]
fn spawn_watchdog(pg_data: &Path, root: &Path) -> ChildStdin {
    let script = r#"
        trap '' INT TERM HUP
        cat >/dev/null
        pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) && kill -INT "$pid" 2>/dev/null
        for _ in $(seq 1 100); do [ -e "$PG_DATA/postmaster.pid" ] || break; sleep 0.1; done
        rm -rf "$ROOT"
    "#;
    let mut child = Command::new("sh")
        .args(["-c", script])
        .env("PG_DATA", pg_data)
        .env("ROOT", root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the cluster's watchdog");
    let mut stdin = child.stdin.take().expect("the watchdog's stdin");
    // Nothing is ever sent: only the pipe's closing matters.
    let _ = stdin.write_all(b"");
    stdin
}

fn process_alive(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

/// Clusters of earlier runs whose test process died before its watchdog could clean up.
fn sweep_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix(TEST_DIR_PREFIX).and_then(|pid| pid.parse::<i32>().ok()) else {
            continue;
        };
        if process_alive(pid) {
            continue;
        }
        let root: PathBuf = entry.path();
        let pid_file = root.join("postgres/data/postmaster.pid");
        if let Some(postmaster) =
            std::fs::read_to_string(&pid_file).ok().and_then(|text| text.lines().next()?.trim().parse().ok())
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(postmaster),
                nix::sys::signal::Signal::SIGQUIT,
            );
            for _ in 0..50 {
                if !process_alive(postmaster) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }
}

/// Databases of earlier runs against an external server, whose process is gone.
fn sweep_databases(server_url: &str) {
    let Ok(mut admin) = PgConnection::establish(server_url) else { return };
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> =
        diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'crm\\_test\\_%'")
            .load(&mut admin)
            .unwrap_or_default();
    for Name { datname } in names {
        let pid = datname.split('_').nth(2).and_then(|pid| pid.parse::<i32>().ok());
        if pid.is_some_and(|pid| !process_alive(pid)) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {datname} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

#[test]
fn database_urls_swap_the_database_and_keep_the_query() {
    assert_eq!(database_url("postgres://u:p@host:5432/postgres", "x"), "postgres://u:p@host:5432/x");
    assert_eq!(
        database_url("postgres://u@localhost:5432/postgres?host=/tmp/s", "x"),
        "postgres://u@localhost:5432/x?host=/tmp/s"
    );
    assert_eq!(database_url("postgres://host", "x"), "postgres://host/x");
}
