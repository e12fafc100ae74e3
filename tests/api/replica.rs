//! A read replica (`CRM_READ_DATABASE_URL`, docs/scaling.md): reports, exports, segment counts and
//! previews go to it while it keeps up, and to the primary when it falls further behind than
//! `CRM_READ_MAX_LAG_SECONDS` or is down, without a failed request. The test runs a primary and a
//! streaming replica of its own: a replica of the shared test cluster would copy every test's
//! database.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crm::db::embedded::{DATABASE_NAME, Durability, EmbeddedPostgres};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::support::process::{RunningServer, get, post};

const SECRET: &str = "the-replica-test-signs-its-tokens-with-this-one";
const EMAIL: &str = "owner@replica.test";
const PASSWORD: &str = "replica-password-1";
/// The bound the server is given: short, so the lagging case is quick to reach, and long enough
/// that a busy test machine's lag checks (every half second) keep a healthy replica within it.
const MAX_LAG_SECONDS: u64 = 3;
const REPORT: &str = "/api/v1/reports/sales?from=2026-01-01&to=2026-12-31&interval=year";

/// The folder of the two clusters, removed at the end; under the temporary folder, which the
/// clusters' system user can reach.
struct Clusters(PathBuf);

impl Drop for Clusters {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn serve(primary: &str, replica: &str) -> RunningServer {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .arg("serve")
        .env("DATABASE_URL", primary)
        .env("CRM_READ_DATABASE_URL", replica)
        .env("CRM_READ_MAX_LAG_SECONDS", MAX_LAG_SECONDS.to_string())
        .env("CRM_JWT_SECRET", SECRET)
        .env("CRM_ADMIN_EMAIL", EMAIL)
        .env("CRM_ADMIN_PASSWORD", PASSWORD)
        .env("CRM_BIND", "127.0.0.1:0")
        .env("CRM_METRICS_BIND", "127.0.0.1:0")
        .env("CRM_WORKERS", "1")
        .env("RUST_LOG", "info")
        .env_remove("CRM_DATA_DIR")
        .current_dir(std::env::temp_dir());
    RunningServer::start_command(command)
}

/// The reads each server answered: (replica, primary because it lagged, primary because it was
/// down or failed the read).
async fn reads(server: &RunningServer) -> (u64, u64, u64) {
    let mut response = awc::Client::default().get(&server.metrics_url).send().await.expect("scrape");
    let text = String::from_utf8_lossy(&response.body().await.expect("metrics")).to_string();
    let count = |labels: &[&str]| -> u64 {
        text.lines()
            .filter(|line| line.starts_with("crm_read_replica_reads_total{"))
            .filter(|line| labels.iter().all(|label| line.contains(label)))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    (
        count(&["server=\"replica\""]),
        count(&["server=\"primary\"", "reason=\"lagging\""]),
        count(&["server=\"primary\"", "reason=\"down\""])
            + count(&["server=\"primary\"", "reason=\"failed\""]),
    )
}

fn revenue(report: &Value) -> String {
    report["total"]["figures"]["revenue"].as_str().unwrap_or_default().to_string()
}

async fn won_deal(server: &RunningServer, token: &str, won_stage: &Value, amount: &str) {
    let (status, client) =
        post(&server.address, "/api/v1/clients", Some(token), json!({"kind": "company", "name": "Acme"}))
            .await;
    assert_eq!(status, 201, "{client}");
    let body = json!({"title": "Deal", "client_id": client["id"], "stage_id": won_stage, "amount": amount,
                      "closed_at": "2026-06-01T12:00:00Z"});
    let (status, deal) = post(&server.address, "/api/v1/deals", Some(token), body).await;
    assert_eq!(status, 201, "{deal}");
}

/// Asks `path` until the answer is `expected` by `check` and came from the server `from` says
/// (by the change in `reads`), for up to 30 s; the answer.
async fn until_answered(
    server: &RunningServer,
    token: &str,
    path: &str,
    check: impl Fn(&Value) -> bool,
    from: impl Fn((u64, u64, u64), (u64, u64, u64)) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = reads(server).await;
        let (status, answer) = get(&server.address, path, token).await;
        let after = reads(server).await;
        assert_eq!(status, 200, "{path}: {answer}");
        if check(&answer) && from(before, after) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered as expected: {answer}, reads {before:?} → {after:?}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

fn by_replica(before: (u64, u64, u64), after: (u64, u64, u64)) -> bool {
    after.0 == before.0 + 1 && (after.1, after.2) == (before.1, before.2)
}

fn on_replica(replica: &EmbeddedPostgres, statement: &str) {
    let mut conn =
        PgConnection::establish(&replica.database_url(DATABASE_NAME)).expect("connect to the replica");
    diesel::sql_query(statement).execute(&mut conn).expect(statement);
}

#[actix_web::test]
async fn lagging_reads_go_to_the_replica_while_it_keeps_up_and_to_the_primary_when_it_lags_or_is_down() {
    let root = std::env::temp_dir().join(format!("crm-replica-test-{}", std::process::id()));
    let _clusters = Clusters(root.clone());
    let mut primary =
        EmbeddedPostgres::open(&root.join("primary"), Durability::Throwaway, None).expect("the primary");
    primary.start().expect("start the primary");
    let mut replica =
        primary.replicate_to(&root.join("replica"), Durability::Throwaway).expect("the replica");
    replica.start().expect("start the replica");
    let server = serve(&primary.database_url(DATABASE_NAME), &replica.database_url(DATABASE_NAME));

    let (status, session) =
        post(&server.address, "/api/v1/auth/login", None, json!({"email": EMAIL, "password": PASSWORD}))
            .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().unwrap_or_default().to_string();
    let (_, pipelines) = get(&server.address, "/api/v1/pipelines", &token).await;
    let stages = pipelines["data"][0]["stages"].as_array().cloned().unwrap_or_default();
    let won_stage = stages.iter().find(|stage| stage["kind"] == "won").map(|stage| stage["id"].clone());
    let won_stage = won_stage.unwrap_or_default();
    won_deal(&server, &token, &won_stage, "100").await;

    // Kept up: the report, a segment's count and a preview's come from the replica, and see the
    // deal once it has been replayed there.
    let report =
        until_answered(&server, &token, REPORT, |report| revenue(report) == "100.00", by_replica).await;
    assert_eq!(report["total"]["figures"]["deals"], 1, "{report}");
    let (_, segments) = get(&server.address, "/api/v1/segments", &token).await;
    let segment = segments["data"][0]["id"].as_str().unwrap_or_default().to_string();
    let count_path = format!("/api/v1/segments/{segment}/count?fresh=true");
    until_answered(&server, &token, &count_path, |count| count["count"].is_i64(), by_replica).await;
    let before = reads(&server).await;
    let filter = json!({"filter": {"field": "kind", "op": "eq", "value": "company"}});
    let (status, preview) = post(&server.address, "/api/v1/segments/preview", Some(&token), filter).await;
    assert_eq!((status, preview["count"].as_i64()), (200, Some(1)), "{preview}");
    assert!(reads(&server).await.0 > before.0, "the preview's count was not read on the replica");
    let before = reads(&server).await;
    let mut export = awc::Client::default()
        .get(format!("{}/api/v1/segments/{segment}/export", server.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("export");
    assert_eq!(export.status().as_u16(), 200);
    export.body().await.expect("the export's rows");
    assert!(reads(&server).await.0 > before.0, "the export's rows were not read on the replica");

    // Stopped replaying: a write the replica doesn't have shows once the replica counts as
    // further behind than the bound, and the primary answers.
    on_replica(&replica, "SELECT pg_wal_replay_pause()");
    won_deal(&server, &token, &won_stage, "50").await;
    let report = until_answered(
        &server,
        &token,
        REPORT,
        |report| revenue(report) == "150.00",
        |before, after| after.1 > before.1 && after.0 == before.0,
    )
    .await;
    assert_eq!(report["total"]["figures"]["deals"], 2, "{report}");

    // Replaying again: back to the replica.
    on_replica(&replica, "SELECT pg_wal_replay_resume()");
    until_answered(&server, &token, REPORT, |report| revenue(report) == "150.00", by_replica).await;

    // Down: not one request fails; the primary answers from the first one on.
    replica.stop().expect("stop the replica");
    for _ in 0..3 {
        let before = reads(&server).await;
        let (status, report) = get(&server.address, REPORT, &token).await;
        assert_eq!((status, revenue(&report)), (200, "150.00".to_string()), "{report}");
        let after = reads(&server).await;
        assert_eq!(after.0, before.0, "a stopped replica answered");
        assert_eq!(after.1 + after.2, before.1 + before.2 + 1, "the primary did not answer in its place");
    }
    server.stop();
}
