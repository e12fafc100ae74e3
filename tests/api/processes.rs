//! Several `crm serve` processes on one database, as behind a load balancer: each reminder fires
//! once whichever process claims it, and a retried write, a stale version or a spent read budget
//! is caught by any process, since idempotency keys, versions and budgets live in the database
//! (docs/scaling.md). Rate limits and the login throttle are counted per process, as
//! `auth::rate_limit` says.

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{OWNER_EMAIL, OWNER_PASSWORD};
use crate::support::process::RunningServer;

/// One secret for all of them: a token one process issues, another accepts.
const SHARED_SECRET: &str = "several-processes-share-this-signing-secret-of-48";

fn serve(database_url: &str) -> RunningServer {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CRM_JWT_SECRET", SHARED_SECRET)
        .env("CRM_BIND", "127.0.0.1:0")
        .env("CRM_METRICS_BIND", "127.0.0.1:0")
        .env("CRM_WORKERS", "1")
        .env("RUST_LOG", "info")
        .env_remove("CRM_ADMIN_EMAIL")
        .env_remove("CRM_ADMIN_PASSWORD")
        .env_remove("CRM_DATA_DIR")
        .current_dir(std::env::temp_dir());
    RunningServer::start_command(command)
}

async fn send(
    method: awc::http::Method,
    url: String,
    token: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> (u16, Value, Option<String>) {
    let mut request = awc::Client::default().request(method, url).bearer_auth(token);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request.send_json(&body).await.expect("request");
    let replayed =
        response.headers().get("idempotent-replayed").and_then(|value| value.to_str().ok()).map(String::from);
    (response.status().as_u16(), response.json().await.unwrap_or_default(), replayed)
}

#[actix_web::test]
async fn three_processes_fire_each_reminder_once_and_share_keys_versions_and_budgets() {
    let app = TestApp::spawn().await;
    let servers: Vec<RunningServer> = (0..3).map(|_| serve(&app.database_url)).collect();
    let address = |index: usize| servers[index].address.clone();
    let (status, session) = crate::support::process::post(
        &address(0),
        "/api/v1/auth/login",
        None,
        json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().unwrap_or_default().to_string();

    // Reminders falling due in a moment, written through each process in turn.
    let due = Utc::now() + chrono::Duration::seconds(1);
    for index in 0..60 {
        let body = json!({"kind": "call", "subject": format!("Call {index}"), "reminder_at": due});
        let url = format!("{}/api/v1/activities", address(index % 3));
        let (status, created, _) = send(awc::http::Method::POST, url, &token, &[], body).await;
        assert_eq!(status, 201, "{created}");
    }
    // Every process's worker looks every 5 s; all of them are racing for the same rows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fired = "SELECT count(*) AS value FROM activities WHERE reminder_fired_at IS NOT NULL";
    while app.sql_i64(fired).await < 60 {
        assert!(Instant::now() < deadline, "the reminders did not all fire within 30 s");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let events = "SELECT count(*) AS value FROM change_events WHERE action = 'reminder_due'";
    let twice = "SELECT count(*) AS value FROM (SELECT entity_id FROM change_events \
                 WHERE action = 'reminder_due' GROUP BY entity_id HAVING count(*) > 1) AS repeated";
    assert_eq!((app.sql_i64(events).await, app.sql_i64(twice).await), (60, 0));

    // A keyed create retried on another process is answered from the first, not run again.
    let key = [("idempotency-key", "order-1C-000123")];
    let client = json!({"kind": "company", "name": "Keyed Ltd"});
    let url = |index: usize| format!("{}/api/v1/clients", address(index));
    let (status, first, replayed) = send(awc::http::Method::POST, url(0), &token, &key, client.clone()).await;
    assert_eq!((status, replayed), (201, None), "{first}");
    let (status, again, replayed) = send(awc::http::Method::POST, url(1), &token, &key, client).await;
    assert_eq!((status, replayed.as_deref()), (201, Some("true")));
    assert_eq!(again["id"], first["id"]);
    let keyed = "SELECT count(*) AS value FROM clients WHERE display_name = 'Keyed Ltd'";
    assert_eq!(app.sql_i64(keyed).await, 1);

    // A version read on one process is stale on another once a third changed the record.
    let path = |index: usize| {
        format!("{}/api/v1/clients/{}", address(index), first["id"].as_str().unwrap_or_default())
    };
    let (status, _, _) = send(awc::http::Method::PATCH, path(2), &token, &[], json!({"tags": ["vip"]})).await;
    assert_eq!(status, 200);
    let stale = [("if-match", "\"1\"")];
    let (status, problem, _) =
        send(awc::http::Method::PATCH, path(0), &token, &stale, json!({"tags": []})).await;
    assert_eq!((status, problem["code"].clone()), (412, json!("version_mismatch")));

    // A sales rep's daily read budget counts the clients read through any process.
    let (rep, _) = app.user_with_role("sales").await;
    let rep_email = rep["email"].as_str().unwrap_or_default().to_string();
    let (status, rep_session) = crate::support::process::post(
        &address(1),
        "/api/v1/auth/login",
        None,
        json!({"email": rep_email, "password": "a-user-password"}),
    )
    .await;
    assert_eq!(status, 200, "{rep_session}");
    let rep_token = rep_session["access_token"].as_str().unwrap_or_default().to_string();
    for n in 0..4 {
        let body = json!({"kind": "company", "name": format!("Rep's client {n}")});
        let (status, _, _) = send(awc::http::Method::POST, url(n % 3), &rep_token, &[], body).await;
        assert_eq!(status, 201);
    }
    let budget = json!({"limits": {"read_budget": {"sales": 3}}});
    let workspace = format!("{}/api/v1/workspace", address(2));
    assert_eq!(send(awc::http::Method::PATCH, workspace, &token, &[], budget).await.0, 200);
    let page = |index: usize, limit: u32| {
        let address = address(index);
        let token = rep_token.clone();
        async move {
            let path = format!("/api/v1/clients?limit={limit}&sort=created_at");
            crate::support::process::get(&address, &path, &token).await
        }
    };
    assert_eq!(page(0, 2).await.0, 200);
    assert_eq!(page(1, 3).await.0, 200);
    let (status, refused) = page(2, 4).await;
    assert_eq!((status, refused["code"].clone()), (429, json!("read_budget_exceeded")));

    for server in servers {
        assert!(server.stop().success());
    }
}
