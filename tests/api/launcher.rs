//! The `crm` binary itself with its embedded PostgreSQL: first start with its generated owner
//! password, subcommands beside a running server and without one, restart with data kept, a
//! clean stop on SIGINT and SIGTERM, and the messages of a start that can't happen.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::process::{ADMIN_EMAIL, DataDir, RunningServer, crm, get, post, process_alive};

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
