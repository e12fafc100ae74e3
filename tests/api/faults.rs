//! Faults an operator meets: the server and its database killed in the middle of writes (SIGKILL,
//! as the OOM killer or a container's hard stop sends it), the embedded PostgreSQL killed under
//! load, an external database stopped and started again. Each test runs a whole `crm` process and
//! a PostgreSQL of its own, so the rest of the suite keeps its cluster.
//!
//! What holds through all of them: an acknowledged write is there exactly once afterwards, a write
//! that was not acknowledged is there whole or not at all, and the answers meanwhile are 503s
//! naming no internals, never a 500.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crm::db::embedded::{Durability, EmbeddedPostgres};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use crate::support::process::{
    ADMIN_EMAIL, ADMIN_PASSWORD, DataDir, RunningServer, crm, get, post, process_alive,
};

/// What a deal's three lines add up to: a stored deal with another amount is half-written.
const WHOLE_DEAL_AMOUNT: f64 = 140.0;

/// Logs in as the first owner and creates the client the deals are for: the token and the
/// client's path.
async fn owner_and_client(address: &str) -> (String, String) {
    let (status, session) =
        post(address, "/api/v1/auth/login", None, json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().expect("token").to_string();
    let (status, client) =
        post(address, "/api/v1/clients", Some(&token), json!({"kind": "company", "name": "Kept"})).await;
    assert_eq!(status, 201, "{client}");
    (token, client["id"].as_str().expect("the client's id").to_string())
}

/// What concurrent writers of deals saw.
#[derive(Debug, Default)]
struct Written {
    /// Titles of the deals answered 201 with the whole deal.
    acknowledged: Vec<String>,
    /// Every other answer: status and body.
    refused: Vec<(u16, Value)>,
    /// Requests that got no whole answer (the server died under them): their deals may exist.
    unanswered: usize,
}

/// Writers creating deals of three lines each, concurrently, until told to stop or until the
/// server stops answering.
struct DealWriters {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Written>>,
}

impl DealWriters {
    fn start(address: &str, token: &str, client_id: &str, writers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let tasks = (0..writers)
            .map(|writer| {
                let (address, token, client_id) =
                    (address.to_string(), token.to_string(), client_id.to_string());
                let (stop, acknowledged) = (stop.clone(), acknowledged.clone());
                actix_web::rt::spawn(async move {
                    write_deals(&address, &token, &client_id, writer, &stop, &acknowledged).await
                })
            })
            .collect();
        Self { stop, acknowledged, tasks }
    }

    /// Waits until `count` deals in all have been acknowledged.
    async fn wait_for_acknowledged(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acknowledged.load(Ordering::Relaxed) < count {
            assert!(Instant::now() < deadline, "{count} deals were not acknowledged within 60 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn acknowledged_so_far(&self) -> usize {
        self.acknowledged.load(Ordering::Relaxed)
    }

    async fn finish(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Written::default();
        for task in self.tasks {
            let written = task.await.expect("a writer");
            all.acknowledged.extend(written.acknowledged);
            all.refused.extend(written.refused);
            all.unanswered += written.unanswered;
        }
        all
    }
}

async fn write_deals(
    address: &str,
    token: &str,
    client_id: &str,
    writer: usize,
    stop: &AtomicBool,
    acknowledged: &AtomicUsize,
) -> Written {
    let client = awc::Client::builder().timeout(Duration::from_secs(15)).finish();
    let mut written = Written::default();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let title = format!("writer {writer} deal {n}");
        let deal = json!({"title": title, "client_id": client_id, "currency": "EUR", "items": [
            {"name": "A", "quantity": "1", "unit_price": "10"},
            {"name": "B", "quantity": "2", "unit_price": "20"},
            {"name": "C", "quantity": "3", "unit_price": "30"},
        ]});
        let sent = client.post(format!("{address}/api/v1/deals")).bearer_auth(token).send_json(&deal).await;
        let Ok(mut response) = sent else {
            written.unanswered += 1;
            break;
        };
        let status = response.status().as_u16();
        match response.json::<Value>().limit(1 << 20).await {
            Ok(body) if status == 201 && body["title"] == title => {
                written.acknowledged.push(title);
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            Ok(body) => {
                written.refused.push((status, body));
                // Paced as a client honouring Retry-After would be, only faster.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {
                written.unanswered += 1;
                break;
            }
        }
    }
    written
}

/// Every deal the server holds, walking the list's pages.
async fn all_deals(address: &str, token: &str) -> Vec<Value> {
    let mut deals = Vec::new();
    let mut path = "/api/v1/deals?limit=200".to_string();
    loop {
        let (status, page) = get(address, &path, token).await;
        assert_eq!(status, 200, "{page}");
        deals.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/deals?limit=200&cursor={cursor}"),
            None => return deals,
        }
    }
}

/// Each acknowledged deal is stored exactly once; every stored deal is one a writer sent, once,
/// with all three of its lines.
async fn assert_acknowledged_once_and_whole(address: &str, token: &str, written: &Written) {
    let deals = all_deals(address, token).await;
    let mut copies: HashMap<String, usize> = HashMap::new();
    for deal in &deals {
        let amount: f64 = deal["amount"].as_str().and_then(|amount| amount.parse().ok()).unwrap_or(-1.0);
        let lines = deal["items"].as_array().map_or(0, Vec::len);
        assert!(lines == 3 && amount == WHOLE_DEAL_AMOUNT, "a half-written deal: {deal}");
        *copies.entry(deal["title"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    let lost_or_doubled: Vec<_> =
        written.acknowledged.iter().filter(|title| copies.get(*title) != Some(&1)).collect();
    assert!(lost_or_doubled.is_empty(), "acknowledged but not stored exactly once: {lost_or_doubled:?}");
    assert!(copies.values().all(|count| *count == 1), "a deal stored twice: {copies:?}");
    let sent = written.acknowledged.len() + written.refused.len() + written.unanswered;
    assert!(deals.len() <= sent, "{} deals stored, {sent} sent", deals.len());
}

fn assert_database_unavailable(status: u16, body: &Value) {
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "database_unavailable", "{body}");
    assert_eq!(body["detail"], "the database is unavailable: retry in a moment");
}

/// SIGKILL to the server and then its PostgreSQL while eight clients write: after a restart on
/// the same data folder, every write that was answered 201 is there once, and the ones in flight
/// are whole or absent.
#[actix_web::test]
async fn acknowledged_writes_survive_the_server_and_its_database_killed_mid_stream() {
    let data_dir = DataDir::new();
    let server = RunningServer::start(&data_dir.0);
    let (token, client_id) = owner_and_client(&server.address).await;
    let writers = DealWriters::start(&server.address, &token, &client_id, 8);
    writers.wait_for_acknowledged(200).await;

    let postmaster = data_dir.postmaster_pid().expect("PostgreSQL runs");
    let (status, _) = server.stop_with(Signal::SIGKILL);
    assert!(!status.success());
    kill(Pid::from_raw(postmaster), Signal::SIGKILL).expect("kill the postmaster");
    assert!(!process_alive(postmaster));
    let written = writers.finish().await;
    assert!(written.refused.is_empty(), "refused before the kill: {:?}", written.refused);
    assert!(written.unanswered > 0, "the writers were not cut off mid-stream");

    // The signing secret lives in the data folder: the old token still works.
    let server = RunningServer::start(&data_dir.0);
    assert_acknowledged_once_and_whole(&server.address, &token, &written).await;
    assert!(server.stop().success());
}

/// The postmaster killed under the server while clients write and read (SIGKILL, as the OOM
/// killer does) is restarted by the server itself: meanwhile answers are 503s naming no
/// internals, never a 500; afterwards writes resume, none acknowledged is lost, and the data
/// written before is served again, with no restart of the server.
#[actix_web::test]
async fn the_server_restarts_its_embedded_postgres_killed_under_load() {
    let data_dir = DataDir::new();
    let server = RunningServer::start(&data_dir.0);
    let (token, client_id) = owner_and_client(&server.address).await;
    let client_path = format!("/api/v1/clients/{client_id}");
    let writers = DealWriters::start(&server.address, &token, &client_id, 4);
    writers.wait_for_acknowledged(50).await;

    let killed = data_dir.postmaster_pid().expect("PostgreSQL runs");
    kill(Pid::from_raw(killed), Signal::SIGKILL).expect("kill the postmaster");
    let mut outage = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "still down after 30 s ({outage} answers of 503)");
        let (status, body) = get(&server.address, &client_path, &token).await;
        // A backend may still answer for a moment after its postmaster died: recovered means
        // served by the new one.
        if status == 200 && data_dir.postmaster_pid().is_some_and(|pid| pid != killed) {
            assert_eq!(body["name"], "Kept");
            break;
        }
        if status != 200 {
            assert_database_unavailable(status, &body);
            outage += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = writers.acknowledged_so_far();
    writers.wait_for_acknowledged(before + 50).await;
    let written = writers.finish().await;
    assert_eq!(written.unanswered, 0);
    for (status, body) in &written.refused {
        assert_database_unavailable(*status, body);
    }
    assert_acknowledged_once_and_whole(&server.address, &token, &written).await;

    let restarted = data_dir.postmaster_pid().expect("PostgreSQL runs again");
    assert_ne!(restarted, killed);
    let (status, ready) = get(&server.address, "/health/ready", &token).await;
    assert_eq!(status, 200, "{ready}");
    assert!(server.stop().success());
    assert!(!process_alive(restarted), "the restarted PostgreSQL outlived the server");
}

/// An external database (DATABASE_URL) stopped under the server, as a failover or an operator's
/// restart does: the server answers 503 without waiting for a connection, says it is not ready,
/// and serves again once the database is back, with no restart of its own.
#[actix_web::test]
async fn an_external_database_that_goes_away_costs_prompt_503s_and_service_resumes_when_it_returns() {
    let data_dir = DataDir::new();
    let mut database = EmbeddedPostgres::open(&data_dir.0, Durability::Throwaway, None)
        .unwrap_or_else(|error| panic!("a cluster of its own: {error}"));
    database.start().unwrap_or_else(|error| panic!("start it: {error}"));
    let mut command = crm(&data_dir.0.join("server"));
    command
        .env("DATABASE_URL", database.database_url("postgres"))
        .env("CRM_JWT_SECRET", "a-secret-every-node-of-this-test-shares");
    let server = RunningServer::start_command(command);
    let (token, client_id) = owner_and_client(&server.address).await;
    let client_path = format!("/api/v1/clients/{client_id}");

    database.stop().unwrap_or_else(|error| panic!("stop the database: {error}"));
    // The first requests find the pool's connections dead; from then on the server knows, and
    // answers at once. Without that each would wait out the pool's 5 s for a connection: the
    // bound below is that wait's, not a measure of speed.
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let began = Instant::now();
        let (status, body) = get(&server.address, &client_path, &token).await;
        assert_database_unavailable(status, &body);
        if n >= 5 {
            slowest = slowest.max(began.elapsed());
        }
    }
    assert!(slowest < Duration::from_secs(2), "a 503 waited {slowest:?}, as long as a connection attempt");
    let (status, ready) = get(&server.address, "/health/ready", &token).await;
    assert_database_unavailable(status, &ready);

    database.start().unwrap_or_else(|error| panic!("start the database again: {error}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "not served 30 s after the database came back");
        let (status, body) = get(&server.address, &client_path, &token).await;
        if status == 200 {
            assert_eq!(body["name"], "Kept");
            break;
        }
        assert_database_unavailable(status, &body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&server.address, "/health/ready", &token).await.0, 200);
    assert!(server.stop().success());
}
