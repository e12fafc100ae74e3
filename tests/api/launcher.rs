//! The `crm` binary itself with its embedded PostgreSQL: first start with its generated owner
//! password, subcommands beside a running server and without one, restart with data kept, a
//! clean stop on SIGINT and SIGTERM, and the messages of a start that can't happen.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

const ADMIN_EMAIL: &str = "admin@launcher.test";
const ADMIN_PASSWORD: &str = "launcher-password";

/// A data folder removed, with anything still running in it stopped, when the test ends.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("crm-launcher-{}", uuid::Uuid::now_v7().simple())))
    }

    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.0.join("postgres/data/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT);
            // Waits (a few seconds at most) for it to go before its folder does.
            let _ = process_alive(pid);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn crm(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("CRM_JWT_SECRET")
        .env("CRM_DATA_DIR", data_dir)
        .env("CRM_BIND", "127.0.0.1:0")
        .env("CRM_METRICS_BIND", "127.0.0.1:0")
        .env("CRM_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("CRM_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CRM_WORKERS", "1")
        .env("RUST_LOG", "info")
        // A .env in the working directory must not leak into the test.
        .current_dir(data_dir.parent().unwrap_or(Path::new("/")));
    command
}

struct RunningServer {
    child: Child,
    address: String,
    /// What the server has printed on stdout so far, line by line.
    stdout: Arc<Mutex<Vec<String>>>,
    /// Fills `stdout`; ends when the server does.
    stdout_reader: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    fn start(data_dir: &Path) -> Self {
        Self::start_command(crm(data_dir))
    }

    fn start_command(mut command: Command) -> Self {
        let mut child = command.stderr(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start crm");
        let pipe = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let lines = stdout.clone();
        let stdout_reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().expect("the stdout lines").push(line);
            }
        }));
        let stderr = child.stderr.take().expect("stderr");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining the log so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = sender.send(Ok(address));
                } else if line.starts_with("crm:") {
                    let _ = sender.send(Err(line));
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(address)) => {
                wait_until_serving(&address);
                Self { child, address: format!("http://{address}"), stdout, stdout_reader }
            }
            other => {
                let _ = child.kill();
                panic!("the server did not start: {other:?}");
            }
        }
    }

    /// The first line printed on stdout that contains `text`, waiting a few seconds for it: the
    /// server prints before it listens, but the reader thread may not have read it yet.
    fn printed_line(&self, text: &str) -> String {
        for _ in 0..100 {
            if let Some(line) =
                self.stdout.lock().expect("the stdout lines").iter().find(|line| line.contains(text))
            {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server never printed {text:?}");
    }

    /// SIGTERM, as a service manager would send, and the exit status.
    fn stop(self) -> std::process::ExitStatus {
        self.stop_with(nix::sys::signal::Signal::SIGTERM).0
    }

    /// Sends `signal`, and gives the exit status and every line the server printed on stdout.
    fn stop_with(mut self, signal: nix::sys::signal::Signal) -> (std::process::ExitStatus, Vec<String>) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal the server");
        let status = self.child.wait().expect("wait for the server");
        if let Some(reader) = self.stdout_reader.take() {
            reader.join().expect("the stdout reader");
        }
        let printed = self.stdout.lock().expect("the stdout lines").clone();
        (status, printed)
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Waits for the first HTTP answer: only then has the server installed its signal handlers.
fn wait_until_serving(address: &str) {
    use std::io::{Read, Write};
    for _ in 0..100 {
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let mut answer = String::new();
            let asked = stream.write_all(b"GET /health/live HTTP/1.0\r\n\r\n").is_ok();
            if asked && stream.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server at {address} never answered");
}

async fn post(address: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = awc::Client::default().post(format!("{address}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send_json(&body).await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

async fn get(address: &str, path: &str, token: &str) -> (u16, Value) {
    // Longer than the pool's 5 s wait for a connection: a request that arrives just as the
    // database dies waits that long for its 503.
    let client = awc::Client::builder().timeout(Duration::from_secs(15)).finish();
    let mut response =
        client.get(format!("{address}{path}")).bearer_auth(token).send().await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

fn create_workspace(data_dir: &Path, name: &str) -> String {
    let output = crm(data_dir)
        .args(["workspace", "create", "--name", name, "--owner-email", "cli@launcher.test"])
        .env("CRM_OWNER_PASSWORD", "cli-owner-password")
        .output()
        .expect("run crm workspace create");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "printed {id:?}");
    id
}

/// Whether `pid` still runs, allowing it a few seconds to finish exiting: PostgreSQL removes its
/// pid file just before it exits, and a zombie awaiting its reaper is not running.
fn process_alive(pid: i32) -> bool {
    for _ in 0..50 {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next()))
            .flatten();
        if matches!(state, None | Some('Z')) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

#[actix_web::test]
async fn the_embedded_server_starts_restarts_with_its_data_and_stops_cleanly() {
    let data_dir = DataDir::new();

    // First start: a new cluster, migrations, and the owner CRM_ADMIN_EMAIL names, with a
    // generated password printed once.
    let mut without_password = crm(&data_dir.0);
    without_password.env_remove("CRM_ADMIN_PASSWORD");
    let server = RunningServer::start_command(without_password);
    let postmaster = data_dir.postmaster_pid().expect("PostgreSQL runs while the server does");
    let announced = server.printed_line("generated password");
    let password = announced.rsplit(": ").next().unwrap_or_default().trim().to_string();
    assert!(password.len() >= 16, "a strong password: {announced:?}");
    let (status, session) = post(
        &server.address,
        "/api/v1/auth/login",
        None,
        json!({"email": ADMIN_EMAIL, "password": password}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().expect("token").to_string();
    let new_user = json!({"email": "kept@launcher.test", "full_name": "Kept", "role": "sales", "password": "kept-password"});
    assert_eq!(post(&server.address, "/api/v1/users", Some(&token), new_user).await.0, 201);

    // A subcommand beside the running server attaches to its cluster and leaves it running.
    create_workspace(&data_dir.0, "Beside the server");
    assert_eq!(data_dir.postmaster_pid(), Some(postmaster));
    assert_eq!(get(&server.address, "/api/v1/me", &token).await.0, 200);

    // Ctrl-C in a terminal (SIGINT) stops the server and its PostgreSQL.
    let (status, printed) = server.stop_with(nix::sys::signal::Signal::SIGINT);
    assert!(status.success(), "the server exited with {status}");
    assert!(!process_alive(postmaster), "PostgreSQL outlived the server");
    assert_eq!(data_dir.postmaster_pid(), None);
    assert_eq!(
        printed.iter().filter(|line| line.contains(&password)).count(),
        1,
        "printed once: {printed:?}"
    );

    // Without a server, a subcommand starts the cluster for itself and stops it again.
    create_workspace(&data_dir.0, "Without the server");
    assert_eq!(data_dir.postmaster_pid(), None, "the subcommand left PostgreSQL running");

    // Restart: the data and the generated signing secret are kept, so old tokens still work.
    let mut without_password = crm(&data_dir.0);
    without_password.env_remove("CRM_ADMIN_PASSWORD");
    let server = RunningServer::start_command(without_password);
    assert_eq!(get(&server.address, "/api/v1/me", &token).await.0, 200);
    let (status, _) = post(
        &server.address,
        "/api/v1/auth/login",
        None,
        json!({"email": "kept@launcher.test", "password": "kept-password"}),
    )
    .await;
    assert_eq!(status, 200, "the user created before the restart is gone");
    let (status, login) = post(
        &server.address,
        "/api/v1/auth/login",
        None,
        json!({"email": "cli@launcher.test", "password": "cli-owner-password"}),
    )
    .await;
    assert_eq!(status, 409, "both CLI workspaces should exist: {login}");
    assert_eq!(login["workspaces"].as_array().map(Vec::len), Some(2));

    // SIGTERM, as a service manager sends it, stops them too; the password was not shown again.
    let postmaster = data_dir.postmaster_pid().expect("PostgreSQL runs again");
    let (status, printed) = server.stop_with(nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "the server exited with {status}");
    assert!(!process_alive(postmaster));
    assert!(printed.iter().all(|line| !line.contains(&password)), "{printed:?}");
}

/// The postmaster killed under the server (SIGKILL, as the OOM killer does) is restarted by the
/// server itself: meanwhile requests get 503s naming no internals, never a 500, and afterwards
/// the data written before is served again, with no restart of the server.
#[actix_web::test]
async fn the_server_restarts_its_embedded_postgres_when_it_dies() {
    let data_dir = DataDir::new();
    let server = RunningServer::start(&data_dir.0);
    let (status, session) = post(
        &server.address,
        "/api/v1/auth/login",
        None,
        json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().expect("token").to_string();
    let (status, client) =
        post(&server.address, "/api/v1/clients", Some(&token), json!({"kind": "company", "name": "Kept"}))
            .await;
    assert_eq!(status, 201, "{client}");
    let client_path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());

    let killed = data_dir.postmaster_pid().expect("PostgreSQL runs");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(killed), nix::sys::signal::Signal::SIGKILL)
        .expect("kill the postmaster");
    let mut outage = Vec::new();
    let mut recovered = false;
    for _ in 0..120 {
        let (status, body) = get(&server.address, &client_path, &token).await;
        match status {
            // A backend may still answer for a moment after its postmaster died: recovered means
            // served by the new one.
            200 if data_dir.postmaster_pid().is_some_and(|pid| pid != killed) => {
                recovered = true;
                assert_eq!(body["name"], "Kept");
                break;
            }
            200 => {}
            503 => {
                assert_eq!(body["code"], "database_unavailable", "{body}");
                assert_eq!(body["detail"], "the database is unavailable: retry in a moment");
                outage.push(status);
            }
            other => panic!("answered {other} during the outage: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "still down after 30 s ({} answers of 503)", outage.len());
    let restarted = data_dir.postmaster_pid().expect("PostgreSQL runs again");
    assert_ne!(restarted, killed);
    let (status, ready) = get(&server.address, "/health/ready", &token).await;
    assert_eq!(status, 200, "{ready}");
    assert!(server.stop().success());
    assert!(!process_alive(restarted), "the restarted PostgreSQL outlived the server");
}

#[test]
fn missing_postgres_binaries_are_named_with_what_to_do() {
    let data_dir = DataDir::new();
    let empty = data_dir.0.join("no-postgres-here");
    std::fs::create_dir_all(&empty).expect("an empty folder");
    let output =
        crm(&data_dir.0).env("CRM_POSTGRES_BIN_DIR", &empty).arg("serve").output().expect("run crm serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for part in [
        "PostgreSQL binaries (initdb, pg_ctl, postgres, psql) were not found in",
        &empty.display().to_string(),
        "install PostgreSQL",
        "DATABASE_URL",
    ] {
        assert!(stderr.contains(part), "{part:?} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(data_dir.postmaster_pid(), None);
}

#[test]
fn a_second_server_on_the_same_data_folder_is_refused() {
    let data_dir = DataDir::new();
    let first = RunningServer::start(&data_dir.0);
    let output = crm(&data_dir.0).arg("serve").output().expect("run a second server");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("another crm server is already using"));
    assert!(first.stop().success());
}

#[test]
fn a_short_jwt_secret_is_refused_at_start() {
    let data_dir = DataDir::new();
    let output = crm(&data_dir.0).env("CRM_JWT_SECRET", "short").output().expect("run crm");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CRM_JWT_SECRET") && stderr.contains("32 bytes"), "{stderr}");
}

#[test]
fn openapi_prints_the_document() {
    let data_dir = DataDir::new();
    let output = crm(&data_dir.0).arg("openapi").output().expect("run crm openapi");
    assert!(output.status.success());
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(document, serde_json::to_value(crm::openapi::document()).expect("the document serialises"));
}
