//! Per-client behaviour stats beyond the writes that keep them: the hourly re-aging of the rolling
//! activity counts, and the stats `crm seed` computes in bulk.

use chrono::Utc;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use serde_json::{Value, json};

use crate::support::TestApp;
use crm::db::models::client_stats::ClientStats;
use crm::ids::{ClientId, WorkspaceId};

const STATS_COLUMNS: &str =
    "id, stats_won_count, stats_won_amount, stats_first_purchase_at, stats_last_purchase_at,
    stats_open_deals_count, stats_last_activity_at, stats_activities_30d, stats_activities_90d,
    stats_rfm_recency, stats_rfm_frequency, stats_rfm_monetary, stats_rfm_class";

async fn stats(app: &TestApp, token: &str, client: &Value) -> Value {
    let path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    app.get(&path, token).await.expect(200)["stats"].clone()
}

#[actix_web::test]
async fn the_hourly_refresh_re_ages_the_rolling_counts_one_workspace_per_claim() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    for subject in ["Today", "Six weeks ago", "Four months ago"] {
        let body = json!({"kind": "call", "subject": subject, "client_id": client["id"], "status": "done"});
        app.post("/api/v1/activities", &owner, body).await.expect(201);
    }
    let fresh = stats(&app, &owner, &client).await;
    assert_eq!((fresh["activities_30d"].clone(), fresh["activities_90d"].clone()), (json!(3), json!(3)));

    // Time passes for two of the calls; the counts kept on the client don't notice by themselves.
    app.sql(
        "UPDATE activities SET completed_at = now() - CASE subject WHEN 'Six weeks ago' THEN interval '42 days'
                                                            ELSE interval '120 days' END
         WHERE subject <> 'Today'",
    )
    .await;
    assert_eq!(stats(&app, &owner, &client).await["activities_30d"], 3);

    // Two workers refresh at once: the first holds its claim open while the second claims; the
    // second takes the other workspace without waiting, and nothing is left for a third.
    app.create_other_workspace("Second", "second@example.com", "second-password").await;
    let refresh = |conn: &mut PgConnection| ClientStats::refresh_next_due(conn).expect("refresh");
    let (first, second, third) = app.overlapping_claims(refresh, refresh).await;
    assert_eq!((first, second, third), (true, true, false), "each workspace refreshed once, then none due");
    let aged = stats(&app, &owner, &client).await;
    assert_eq!((aged["activities_30d"].clone(), aged["activities_90d"].clone()), (json!(1), json!(2)));

    // An hour later it is due again.
    app.sql(&format!(
        "UPDATE workspaces SET stats_refreshed_at = now() - interval '61 minutes' WHERE id = '{}'",
        app.workspace_id
    ))
    .await;
    let before = Utc::now();
    assert!(app.on_database(|conn| ClientStats::refresh_next_due(conn).expect("refresh")).await);
    assert!(!app.on_database(|conn| ClientStats::refresh_next_due(conn).expect("refresh")).await);
    let refreshed_recently = format!(
        "SELECT count(*) AS value FROM workspaces WHERE id = '{}' AND stats_refreshed_at >= '{}'",
        app.workspace_id,
        before.to_rfc3339()
    );
    assert_eq!(app.sql_i64(&refreshed_recently).await, 1);
}

#[actix_web::test]
async fn crm_seed_leaves_every_clients_stats_as_the_writes_would_keep_them() {
    let app = TestApp::spawn().await;
    let workspace = uuid::Uuid::parse_str(&app.workspace_id).expect("a workspace id");
    app.on_database(move |conn| {
        let options = crm::seed::SeedOptions {
            workspace,
            clients: 60,
            seed: 7,
            deals_per_client: 3,
            activities_per_client: 6,
            users: Some(2),
            batch: 25,
        };
        crm::seed::run(conn, &options).expect("seed");
    })
    .await;
    app.sql(&format!("CREATE TABLE seeded_stats AS SELECT {STATS_COLUMNS} FROM clients")).await;

    // What the write path (per client) and the hourly refresh (per workspace) make of the same data.
    app.on_database(move |conn| {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: uuid::Uuid,
        }
        let ids: Vec<Row> = diesel::sql_query("SELECT id FROM clients").load(conn).expect("client ids");
        let workspace = WorkspaceId(workspace);
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            ClientStats::recompute(conn, workspace, ids.iter().map(|row| Some(ClientId(row.id))))?;
            ClientStats::refresh_workspace(conn, workspace).map(|_| ())
        })
        .expect("recompute");
    })
    .await;
    let differing = format!(
        "SELECT count(*) AS value FROM (
             (SELECT * FROM seeded_stats EXCEPT SELECT {STATS_COLUMNS} FROM clients)
             UNION ALL
             (SELECT {STATS_COLUMNS} FROM clients EXCEPT SELECT * FROM seeded_stats)) AS differences"
    );
    assert_eq!(app.sql_i64(&differing).await, 0, "clients whose seeded stats differ");
    // And the data set exercises every part of them.
    for condition in [
        "stats_won_count > 0",
        "stats_open_deals_count > 0",
        "stats_activities_30d > 0",
        "stats_activities_90d > stats_activities_30d",
        "stats_rfm_class IS NOT NULL",
        "stats_won_count = 0",
    ] {
        let count = app.sql_i64(&format!("SELECT count(*) AS value FROM clients WHERE {condition}")).await;
        assert!(count > 0, "no seeded client with {condition}");
    }
}
