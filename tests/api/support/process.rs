//! The `crm` binary run as a process of its own, on a data folder of its own: for the tests of
//! the launcher and of faults (a killed server, a killed or stopped database), which need a whole
//! server and PostgreSQL to themselves.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

pub const ADMIN_EMAIL: &str = "admin@launcher.test";
pub const ADMIN_PASSWORD: &str = "launcher-password";

/// A data folder removed, with anything still running in it stopped, when the test ends.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new() -> Self {
        Self(std::env::temp_dir().join(format!("crm-launcher-{}", uuid::Uuid::now_v7().simple())))
    }

    pub fn postmaster_pid(&self) -> Option<i32> {
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

pub fn crm(data_dir: &Path) -> Command {
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

pub struct RunningServer {
    child: Child,
    pub address: String,
    /// Where its metrics are scraped (`http://…/metrics`).
    pub metrics_url: String,
    /// What the server has printed on stdout so far, line by line.
    stdout: Arc<Mutex<Vec<String>>>,
    /// Fills `stdout`; ends when the server does.
    stdout_reader: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    pub fn start(data_dir: &Path) -> Self {
        Self::start_command(crm(data_dir))
    }

    pub fn start_command(mut command: Command) -> Self {
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
                    let metrics = line.split("metrics at ").nth(1).unwrap_or_default();
                    let metrics = metrics.trim_end_matches(')').to_string();
                    let _ = sender.send(Ok((address, metrics)));
                } else if line.starts_with("crm:") {
                    let _ = sender.send(Err(line));
                }
            }
        });
        match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok((address, metrics_url))) => {
                wait_until_serving(&address);
                Self { child, address: format!("http://{address}"), metrics_url, stdout, stdout_reader }
            }
            other => {
                let _ = child.kill();
                panic!("the server did not start: {other:?}");
            }
        }
    }

    /// The first line printed on stdout that contains `text`, waiting a few seconds for it: the
    /// server prints before it listens, but the reader thread may not have read it yet.
    pub fn printed_line(&self, text: &str) -> String {
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
    pub fn stop(self) -> std::process::ExitStatus {
        self.stop_with(nix::sys::signal::Signal::SIGTERM).0
    }

    /// Sends `signal`, and gives the exit status and every line the server printed on stdout.
    pub fn stop_with(mut self, signal: nix::sys::signal::Signal) -> (std::process::ExitStatus, Vec<String>) {
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
pub fn wait_until_serving(address: &str) {
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

pub async fn post(address: &str, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = awc::Client::default().post(format!("{address}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let mut response = request.send_json(&body).await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

pub async fn get(address: &str, path: &str, token: &str) -> (u16, Value) {
    // Longer than the pool's 5 s wait for a connection: a request that arrives just as the
    // database dies waits that long for its 503.
    let client = awc::Client::builder().timeout(Duration::from_secs(15)).finish();
    let mut response =
        client.get(format!("{address}{path}")).bearer_auth(token).send().await.expect("request");
    (response.status().as_u16(), response.json().await.unwrap_or_default())
}

/// Whether `pid` still runs, allowing it a few seconds to finish exiting: PostgreSQL removes its
/// pid file just before it exits, and a zombie awaiting its reaper is not running.
pub fn process_alive(pid: i32) -> bool {
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
