//! Webhooks: changes reach a subscribed endpoint signed as Standard Webhooks say (checked with the
//! PyPI library), at least once, a record's in version order, retried until the endpoint
//! recovers or three days pass; never to a private address unless allowed.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::id_of as id;
use crate::support::process::{ADMIN_EMAIL, ADMIN_PASSWORD, DataDir, RunningServer, crm, post};
use crate::support::receiver::{Answer, Receiver, verify_signatures};
use crm::webhooks::sender::Sender;

/// What the server's worker does each round: the new changes into the outbox, then the due
/// deliveries out; how many attempts were made.
async fn dispatch_and_deliver(app: &TestApp) -> usize {
    app.on_database(|conn| crm::webhooks::dispatch::dispatch_all(conn).expect("dispatch")).await;
    deliver(app, true).await
}

async fn deliver(app: &TestApp, allow_private: bool) -> usize {
    let pool = crm::db::build_pool(&app.database_url, 2).expect("pool");
    crm::webhooks::deliver_due(&pool, &Sender::new(allow_private)).await.expect("deliver")
}

/// Makes every pending delivery of the test's database due now: the wait before a retry, passed.
async fn retries_come_due(app: &TestApp) {
    app.sql("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'").await;
}

async fn subscribe(app: &TestApp, token: &str, url: &str, event_types: Value) -> (String, String) {
    let created = app
        .post("/api/v1/webhooks", token, json!({"url": url, "event_types": event_types}))
        .await
        .expect(201)
        .clone();
    (
        created["webhook"]["id"].as_str().expect("an id").to_string(),
        created["secret"].as_str().expect("a secret").to_string(),
    )
}

async fn deliveries(app: &TestApp, token: &str, webhook: &str) -> Vec<Value> {
    let page = app.get(&format!("/api/v1/webhooks/{webhook}/deliveries"), token).await.expect(200).clone();
    page["data"].as_array().expect("deliveries").clone()
}

#[actix_web::test]
async fn changes_reach_the_endpoint_signed_in_order_and_only_those_subscribed() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    // Made before the webhook: not sent.
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Before"})).await.expect(201);
    let (_, secret) = subscribe(&app, &owner, &receiver.url, json!(["client.*", "deal.won"])).await;

    let acme = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let acme = id(&acme).to_string();
    app.patch(&format!("/api/v1/clients/{acme}"), &owner, json!({"name": "Acme Ltd"})).await.expect(200);
    // Not subscribed: a contact.
    app.post("/api/v1/contacts", &owner, json!({"client_id": acme, "first_name": "Ivan"})).await.expect(201);

    assert_eq!(dispatch_and_deliver(&app).await, 2);
    let received = receiver.wait_for(2).await;
    assert_eq!(received.len(), 2, "{received:?}");
    verify_signatures(&secret, &received);
    let bodies: Vec<Value> = received.iter().map(|message| message.json()).collect();
    assert_eq!(bodies[0]["type"], "client.created");
    assert_eq!(bodies[1]["type"], "client.updated");
    for (body, version) in bodies.iter().zip([1, 2]) {
        assert_eq!(body["data"]["record_id"], acme.as_str());
        assert_eq!(body["data"]["entity"], "client");
        assert_eq!(body["data"]["version"], version);
    }
    assert_eq!(bodies[1]["data"]["changes"]["name"], json!({"from": "Acme", "to": "Acme Ltd"}));
    assert_eq!(bodies[1]["data"]["record"]["name"], "Acme Ltd");
    assert_eq!(bodies[1]["data"]["record"]["kind"], "company");
    assert_ne!(received[0].header("webhook-id"), received[1].header("webhook-id"));
    assert_eq!(received[0].header("content-type"), "application/json");

    // Delivered once: the next round sends nothing.
    assert_eq!(dispatch_and_deliver(&app).await, 0);
    assert_eq!(receiver.received().len(), 2);
}

#[actix_web::test]
async fn a_failing_endpoint_is_retried_with_the_same_id_and_a_records_later_changes_wait_for_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    let (webhook, secret) = subscribe(&app, &owner, &receiver.url, json!(["client.*"])).await;
    receiver.answer(&[Answer::Status(500), Answer::Status(503)]);
    let acme = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let acme = id(&acme).to_string();

    let before_attempt = Utc::now();
    assert_eq!(dispatch_and_deliver(&app).await, 1);
    let after_attempt = Utc::now();
    let listed = deliveries(&app, &owner, &webhook).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(listed[0]["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["attempts"][0]["response_status"], 500);
    assert_eq!(listed[0]["attempts"][0]["response_excerpt"], "answered 500");
    // The first retry comes 10 s later, give or take a fifth.
    let next = crate::support::http::timestamp(&listed[0]["next_attempt_at"]);
    assert!(
        next >= before_attempt + Duration::seconds(8) && next <= after_attempt + Duration::seconds(12),
        "{next}"
    );

    // Later changes of the same record wait while the first is pending, even when due.
    app.patch(&format!("/api/v1/clients/{acme}"), &owner, json!({"name": "Acme Ltd"})).await.expect(200);
    app.patch(&format!("/api/v1/clients/{acme}"), &owner, json!({"name": "Acme Group"})).await.expect(200);
    assert_eq!(dispatch_and_deliver(&app).await, 0);
    assert_eq!(receiver.received().len(), 1);

    retries_come_due(&app).await;
    assert_eq!(deliver(&app, true).await, 1, "only the first change is sent: the others wait for it");
    retries_come_due(&app).await;
    assert_eq!(deliver(&app, true).await, 3, "the first change, delivered at last, then the two that waited");
    let received = receiver.wait_for(5).await;
    verify_signatures(&secret, &received);
    let first_id = received[0].header("webhook-id");
    assert!(
        received[..3].iter().all(|message| message.header("webhook-id") == first_id),
        "one id for every attempt"
    );
    let versions: Vec<Value> =
        received[2..].iter().map(|message| message.json()["data"]["version"].clone()).collect();
    assert_eq!(versions, vec![json!(1), json!(2), json!(3)]);

    let listed = deliveries(&app, &owner, &webhook).await;
    let statuses: Vec<&str> =
        listed.iter().map(|delivery| delivery["status"].as_str().unwrap_or_default()).collect();
    assert_eq!(statuses, ["delivered"; 3]);
    let oldest = &listed[2];
    let answers: Vec<&Value> =
        oldest["attempts"].as_array().expect("attempts").iter().map(|a| &a["response_status"]).collect();
    assert_eq!(answers, [&json!(500), &json!(503), &json!(200)]);
    assert!(oldest["next_attempt_at"].is_null());
}

#[actix_web::test]
async fn deliveries_failing_for_three_days_turn_the_webhook_off_until_it_is_turned_on() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    let (webhook, _) = subscribe(&app, &owner, &receiver.url, json!(["*"])).await;
    receiver.answer(&[Answer::Status(500)]);
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await.expect(201);
    app.on_database(|conn| crm::webhooks::dispatch::dispatch_all(conn).expect("dispatch")).await;
    // Made three days ago (less the minute the next wait would pass the end).
    app.sql("UPDATE webhook_deliveries SET created_at = now() - interval '3 days' + interval '5 seconds'")
        .await;

    assert_eq!(deliver(&app, true).await, 1);
    let listed = deliveries(&app, &owner, &webhook).await;
    assert_eq!(listed[0]["status"], "failed");
    assert!(listed[0]["next_attempt_at"].is_null());
    let turned_off = app.get(&format!("/api/v1/webhooks/{webhook}"), &owner).await.expect(200).clone();
    assert_eq!(turned_off["active"], false);
    assert_eq!(turned_off["disabled_reason"], "deliveries failed for 3 days");
    assert!(turned_off["disabled_at"].is_string());
    let audit = app
        .get(&format!("/api/v1/audit?entity=webhook&entity_id={webhook}"), &owner)
        .await
        .expect(200)
        .clone();
    let actions: Vec<&str> =
        audit["data"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["disabled", "created"]);

    // While off, changes are not queued for it.
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Unsent"})).await.expect(201);
    assert_eq!(dispatch_and_deliver(&app).await, 0);
    let on = app
        .patch(&format!("/api/v1/webhooks/{webhook}"), &owner, json!({"active": true}))
        .await
        .expect(200)
        .clone();
    assert_eq!(on["active"], true);
    assert!(on["disabled_at"].is_null() && on["disabled_reason"].is_null());
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Sent"})).await.expect(201);
    assert_eq!(dispatch_and_deliver(&app).await, 1);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].json()["data"]["changes"]["name"]["to"], "Sent");
}

#[actix_web::test]
async fn private_addresses_and_plain_http_are_refused_unless_allowed() {
    let app = TestApp::spawn_with(|state| state.webhooks_allow_private = false).await;
    let owner = app.owner_token().await;
    for (url, code) in [
        ("https://127.0.0.1/hooks", "not_allowed"),
        ("https://[::1]:8443/hooks", "not_allowed"),
        ("https://169.254.169.254/latest/meta-data", "not_allowed"),
        ("https://10.0.0.8/hooks", "not_allowed"),
        ("http://hooks.example.com/crm", "format"),
        ("ftp://hooks.example.com/crm", "format"),
        ("https://user:password@hooks.example.com/crm", "format"),
        ("not a url", "format"),
    ] {
        let refused = app.post("/api/v1/webhooks", &owner, json!({"url": url, "event_types": ["*"]})).await;
        let problem = refused.expect_problem(422, "validation_failed");
        assert_eq!(
            crate::support::http::field_errors(problem),
            vec![("url".to_string(), code.to_string())],
            "{url}"
        );
    }
    let listed = app.get("/api/v1/webhooks", &owner).await.expect(200).clone();
    assert_eq!(listed["data"], json!([]));

    // A name is checked on what it resolves to when the delivery is made: localhost is loopback.
    let receiver = Receiver::start().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost").replace("http://", "https://");
    let (webhook, _) = subscribe(&app, &owner, &by_name, json!(["*"])).await;
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await.expect(201);
    app.on_database(|conn| crm::webhooks::dispatch::dispatch_all(conn).expect("dispatch")).await;
    assert_eq!(deliver(&app, false).await, 1);
    let listed = deliveries(&app, &owner, &webhook).await;
    let attempt = &listed[0]["attempts"][0];
    assert!(attempt["response_status"].is_null());
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(error.contains("is not a public address"), "{error}");
    assert_eq!(receiver.received().len(), 0);
}

#[actix_web::test]
async fn a_rotated_out_secret_signs_beside_the_new_one_during_its_grace() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    let (webhook, old_secret) = subscribe(&app, &owner, &receiver.url, json!(["*"])).await;
    let rotated = app
        .post(&format!("/api/v1/webhooks/{webhook}/rotate-secret?grace_seconds=3600"), &owner, json!(null))
        .await;
    let rotated = rotated.expect(200).clone();
    let new_secret = rotated["secret"].as_str().expect("the new secret").to_string();
    assert_ne!(new_secret, old_secret);
    assert!(rotated["webhook"]["previous_secret_valid_until"].is_string());

    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await.expect(201);
    dispatch_and_deliver(&app).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].header("webhook-signature").split(' ').count(), 2);
    verify_signatures(&new_secret, &received);
    verify_signatures(&old_secret, &received);

    // Without grace the old secret stops at once.
    let rotated = app
        .post(&format!("/api/v1/webhooks/{webhook}/rotate-secret?grace_seconds=0"), &owner, json!(null))
        .await;
    let newest = rotated.expect(200)["secret"].as_str().expect("a secret").to_string();
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Beta"})).await.expect(201);
    dispatch_and_deliver(&app).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].header("webhook-signature").split(' ').count(), 1);
    verify_signatures(&newest, &received[1..]);
    let refused = app
        .post(&format!("/api/v1/webhooks/{webhook}/rotate-secret?grace_seconds=-1"), &owner, json!(null))
        .await;
    refused.expect_problem(400, "invalid_query");
}

#[actix_web::test]
async fn a_ping_and_a_retry_are_sent_on_request() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    let (webhook, secret) = subscribe(&app, &owner, &receiver.url, json!(["deal.*"])).await;
    let ping =
        app.post(&format!("/api/v1/webhooks/{webhook}/test"), &owner, json!(null)).await.expect(202).clone();
    assert_eq!(ping["event_type"], "webhook.test");
    assert_eq!(ping["status"], "pending");
    assert_eq!(deliver(&app, true).await, 1);
    let received = receiver.wait_for(1).await;
    verify_signatures(&secret, &received);
    assert_eq!(received[0].json()["type"], "webhook.test");
    assert_eq!(received[0].header("webhook-id"), ping["id"].as_str().expect("an id"));

    let path = format!("/api/v1/webhooks/{webhook}/deliveries/{}/retry", id(&ping));
    let retried = app.post(&path, &owner, json!(null)).await.expect(202).clone();
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(deliver(&app, true).await, 1);
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].header("webhook-id"), received[0].header("webhook-id"));
    let delivered = deliveries(&app, &owner, &webhook).await;
    assert_eq!(delivered[0]["status"], "delivered");
    assert_eq!(delivered[0]["attempts"].as_array().map(Vec::len), Some(2));

    let unknown = format!("/api/v1/webhooks/{webhook}/deliveries/{}/retry", uuid::Uuid::now_v7());
    app.post(&unknown, &owner, json!(null)).await.expect_problem(404, "not_found");
    let other =
        app.post(&format!("/api/v1/webhooks/{}/test", uuid::Uuid::now_v7()), &owner, json!(null)).await;
    other.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn reminders_and_closed_deals_go_out_under_their_own_types() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    let (_, _) =
        subscribe(&app, &owner, &receiver.url, json!(["activity.reminder_due", "deal.updated"])).await;
    let due =
        json!({"kind": "call", "subject": "Call back", "reminder_at": Utc::now() - Duration::minutes(1)});
    let call = app.post("/api/v1/activities", &owner, due).await.expect(201).clone();
    app.on_database(|conn| crm::db::models::Activity::fire_due_reminders(conn, 10).expect("fire")).await;
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let deal = app
        .post(
            "/api/v1/deals",
            &owner,
            json!({"client_id": id(&client), "title": "Order", "amount": "100.00", "currency": "RUB"}),
        )
        .await
        .expect(201)
        .clone();
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let won = pipelines["data"][0]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|stage| stage["kind"] == "won")
        .cloned();
    let won = won.expect("a won stage");
    app.patch(&format!("/api/v1/deals/{}", id(&deal)), &owner, json!({"stage_id": won["id"]}))
        .await
        .expect(200);

    assert_eq!(dispatch_and_deliver(&app).await, 2);
    let received = receiver.wait_for(2).await;
    let types: Vec<Value> = received.iter().map(|message| message.json()["type"].clone()).collect();
    assert_eq!(types, [json!("activity.reminder_due"), json!("deal.won")]);
    assert_eq!(received[0].json()["data"]["record_id"], id(&call));
    assert_eq!(received[1].json()["data"]["record_id"], id(&deal));
}

#[actix_web::test]
async fn two_processes_claiming_at_once_send_each_delivery_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    subscribe(&app, &owner, &receiver.url, json!(["*"])).await;
    for index in 0..30 {
        app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": format!("Client {index}")}))
            .await
            .expect(201);
    }
    // Two dispatchers at once: the second skips the workspace the first holds; nothing is left after.
    let dispatch =
        |conn: &mut diesel::PgConnection| crm::webhooks::dispatch::dispatch_all(conn).expect("dispatch");
    let (first, second, third) = app.overlapping_claims(dispatch, dispatch).await;
    assert_eq!((first, second, third), (30, 0, 0));

    // Two senders claim at once: the second takes none of what the first holds, and a third,
    // after both, finds everything leased.
    let workspace: crm::ids::WorkspaceId = app.workspace_id.parse::<uuid::Uuid>().expect("an id").into();
    let claim = move |limit: i64| {
        move |conn: &mut diesel::PgConnection| {
            crm::db::models::webhook::Delivery::claim_due(conn, workspace, limit, 60).expect("claim")
        }
    };
    let (first, second, third) = app.overlapping_claims(claim(10), claim(100)).await;
    assert_eq!((first.len(), second.len(), third.len()), (10, 20, 0));
    let mut ids: Vec<String> = first.iter().chain(&second).map(|delivery| delivery.id.to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
}

/// Two server processes on one database send each change once; when both are killed in the middle
/// of a delivery, a restarted one sends it again once its lease is over, and nothing is lost.
#[actix_web::test]
async fn server_processes_share_the_deliveries_and_a_killed_one_loses_none() {
    let database = crate::support::cluster::cluster().create_database();
    let receiver = Receiver::start().await;
    let data_dir = DataDir::new();
    let start = || {
        let mut command = crm(&data_dir.0);
        command
            .env("DATABASE_URL", &database.url)
            .env("CRM_JWT_SECRET", "a-secret-every-process-of-this-test-shares")
            .env("CRM_WEBHOOKS_ALLOW_PRIVATE", "true");
        RunningServer::start_command(command)
    };
    let (first, second) = (start(), start());
    let login = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let (status, session) = post(&first.address, "/api/v1/auth/login", None, login).await;
    assert_eq!(status, 200, "{session}");
    let token = session["access_token"].as_str().expect("a token").to_string();
    let subscription = json!({"url": receiver.url, "event_types": ["client.created"]});
    let (status, created) = post(&first.address, "/api/v1/webhooks", Some(&token), subscription).await;
    assert_eq!(status, 201, "{created}");

    for index in 0..20 {
        let server = if index % 2 == 0 { &first } else { &second };
        let client = json!({"kind": "company", "name": format!("Client {index}")});
        assert_eq!(post(&server.address, "/api/v1/clients", Some(&token), client).await.0, 201);
    }
    let received = receiver.wait_for(20).await;
    let mut ids: Vec<&str> = received.iter().map(|message| message.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each change is sent once");
    let url = database.url.clone();
    let attempts = actix_web::web::block(move || {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let mut conn = PgConnection::establish(&url).expect("connect");
        diesel::sql_query("SELECT count(*) AS count FROM webhook_attempts")
            .get_result::<Count>(&mut conn)
            .expect("count")
            .count
    })
    .await
    .expect("count the attempts");
    assert_eq!(attempts, 20, "no delivery was attempted twice");

    // The next delivery is kept waiting, and both processes die while it does.
    receiver.answer(&[Answer::HoldThenOk(std::time::Duration::from_secs(120))]);
    let held = json!({"kind": "company", "name": "Held"});
    assert_eq!(post(&first.address, "/api/v1/clients", Some(&token), held).await.0, 201);
    let received = receiver.wait_for(21).await;
    first.stop_with(nix::sys::signal::Signal::SIGKILL);
    second.stop_with(nix::sys::signal::Signal::SIGKILL);
    let _restarted = start();
    // Its lease, 15 s from the claim, has to pass first.
    let again = receiver.wait_for_within(22, std::time::Duration::from_secs(40)).await;
    assert_eq!(again[21].header("webhook-id"), received[20].header("webhook-id"));
    assert_eq!(again[21].json()["data"]["changes"]["name"]["to"], "Held");
}

#[actix_web::test]
async fn the_log_of_finished_deliveries_is_kept_thirty_days() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let receiver = Receiver::start().await;
    let (webhook, _) = subscribe(&app, &owner, &receiver.url, json!(["client.created"])).await;
    for name in ["Delivered long ago", "Delivered lately"] {
        app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": name})).await.expect(201);
    }
    assert_eq!(dispatch_and_deliver(&app).await, 2);
    receiver.answer(&[Answer::Status(500)]);
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Pending"})).await.expect(201);
    assert_eq!(dispatch_and_deliver(&app).await, 1);
    // The first and the pending one were made 31 days ago; the second 29.
    app.sql(
        "UPDATE webhook_deliveries SET created_at = now() - interval '31 days' \
         WHERE payload -> 'data' -> 'changes' -> 'name' ->> 'to' IN ('Delivered long ago', 'Pending')",
    )
    .await;
    app.sql(
        "UPDATE webhook_deliveries SET created_at = now() - interval '29 days' \
         WHERE payload -> 'data' -> 'changes' -> 'name' ->> 'to' = 'Delivered lately'",
    )
    .await;

    let purged = app.on_database(|conn| crm::webhooks::purge_finished(conn).expect("purge")).await;
    assert_eq!(purged, 1);
    let left = deliveries(&app, &owner, &webhook).await;
    let names: Vec<&Value> =
        left.iter().map(|delivery| &delivery["payload"]["data"]["changes"]["name"]["to"]).collect();
    assert_eq!(names, [&json!("Pending"), &json!("Delivered lately")]);
    assert_eq!(
        app.sql_i64("SELECT count(*) AS value FROM webhook_attempts").await,
        2,
        "the purged one's attempt went with it"
    );
}

#[actix_web::test]
async fn a_webhook_filtered_by_owner_or_pipeline_is_sent_only_those_records_changes() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (rep, rep_token) = app.user_with_role("sales").await;
    let by_owner = Receiver::start().await;
    let by_pipeline = Receiver::start().await;
    let pipeline =
        app.post("/api/v1/pipelines", &owner, json!({"name": "Wholesale"})).await.expect(201).clone();
    let body = json!({"url": by_owner.url, "event_types": ["client.created", "deal.created"], "owner_id": rep["id"]});
    app.post("/api/v1/webhooks", &owner, body).await.expect(201);
    let body = json!({"url": by_pipeline.url, "event_types": ["deal.*"], "pipeline_id": pipeline["id"]});
    app.post("/api/v1/webhooks", &owner, body).await.expect(201);

    let mine = app
        .post("/api/v1/clients", &rep_token, json!({"kind": "company", "name": "Rep's"}))
        .await
        .expect(201)
        .clone();
    let others = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Owner's"}))
        .await
        .expect(201)
        .clone();
    let wholesale =
        json!({"client_id": id(&others), "title": "Wholesale order", "pipeline_id": pipeline["id"]});
    let wholesale = app.post("/api/v1/deals", &owner, wholesale).await.expect(201).clone();
    let retail = app
        .post("/api/v1/deals", &owner, json!({"client_id": id(&others), "title": "Retail order"}))
        .await
        .expect(201)
        .clone();
    assert_ne!(retail["pipeline_id"], pipeline["id"]);

    assert_eq!(dispatch_and_deliver(&app).await, 2);
    let records = |received: Vec<crate::support::receiver::Received>| -> Vec<Value> {
        received.iter().map(|message| message.json()["data"]["record_id"].clone()).collect()
    };
    assert_eq!(records(by_owner.wait_for(1).await), [json!(id(&mine))]);
    assert_eq!(records(by_pipeline.wait_for(1).await), [json!(id(&wholesale))]);

    let unknown = json!({"url": by_owner.url, "event_types": ["*"], "owner_id": uuid::Uuid::now_v7()});
    let refused = app.post("/api/v1/webhooks", &owner, unknown).await;
    let problem = refused.expect_problem(422, "validation_failed");
    assert_eq!(
        crate::support::http::field_errors(problem),
        [("owner_id".to_string(), "not_found".to_string())]
    );
}

#[actix_web::test]
async fn a_slow_endpoint_holds_up_only_its_own_deliveries() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (slow, quick) = (Receiver::start().await, Receiver::start().await);
    subscribe(&app, &owner, &slow.url, json!(["client.*"])).await;
    subscribe(&app, &owner, &quick.url, json!(["client.*"])).await;
    slow.answer(&[Answer::HoldThenOk(std::time::Duration::from_secs(8))]);
    let acme = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    app.patch(&format!("/api/v1/clients/{}", id(&acme)), &owner, json!({"name": "Acme Ltd"}))
        .await
        .expect(200);
    app.on_database(|conn| crm::webhooks::dispatch::dispatch_all(conn).expect("dispatch")).await;

    // While the slow endpoint keeps its first delivery waiting, the quick one gets the creation
    // and then the update, which had waited only for the quick one's own first delivery.
    let (attempts, quick_got) = futures_util::future::join(
        deliver(&app, true),
        quick.wait_for_within(2, std::time::Duration::from_secs(5)),
    )
    .await;
    let versions: Vec<Value> =
        quick_got.iter().map(|message| message.json()["data"]["version"].clone()).collect();
    assert_eq!(versions, [json!(1), json!(2)]);
    assert_eq!(attempts, 4, "both endpoints, both changes");
    assert_eq!(slow.received().len(), 2);
}
