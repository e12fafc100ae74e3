//! Safe retries: a write sent with an `Idempotency-Key` runs once; its retries get its answer.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

async fn keyed(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    key: &str,
    body: Option<&Value>,
) -> crate::support::http::TestResponse {
    app.request_with_headers(method, path, Some(token), &[("idempotency-key", key)], body).await
}

async fn acme(app: &TestApp, token: &str) -> Value {
    app.post("/api/v1/clients", token, json!({"kind": "company", "name": "Acme"})).await.expect(201).clone()
}

async fn deal_count(app: &TestApp, token: &str) -> usize {
    let page = app.get("/api/v1/deals?limit=200", token).await.expect(200).clone();
    page["data"].as_array().map_or(0, Vec::len)
}

#[actix_web::test]
async fn a_retried_post_creates_one_record_and_gets_the_first_answer_again() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = acme(&app, &owner).await;
    let deal = json!({"client_id": client["id"], "title": "Order 1C-000123", "amount": "1500.00"});

    let first = keyed(&app, Method::POST, "/api/v1/deals", &owner, "order-000123", Some(&deal)).await;
    let created = first.expect(201).clone();
    assert_eq!(first.header("idempotent-replayed"), None);
    // A client that timed out retries ten times: one deal, and each retry is the first answer.
    for _ in 0..10 {
        let retry = keyed(&app, Method::POST, "/api/v1/deals", &owner, "order-000123", Some(&deal)).await;
        assert_eq!(retry.expect(201)["id"], created["id"]);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        assert_eq!(retry.header("location"), first.header("location"));
        assert_eq!(retry.header("etag"), first.header("etag"));
    }
    assert_eq!(deal_count(&app, &owner).await, 1);

    // The same key on another request is refused; another key, or another user's same key, runs.
    let other = json!({"client_id": client["id"], "title": "Order 1C-000124"});
    let reused = keyed(&app, Method::POST, "/api/v1/deals", &owner, "order-000123", Some(&other)).await;
    reused.expect_problem(422, "idempotency_key_reused");
    keyed(&app, Method::POST, "/api/v1/deals", &owner, "order-000124", Some(&other)).await.expect(201);
    let (_, admin) = app.user_with_role("admin").await;
    keyed(&app, Method::POST, "/api/v1/deals", &admin, "order-000123", Some(&other)).await.expect(201);
    assert_eq!(deal_count(&app, &owner).await, 3);

    // Refusals are answers too: a retry of a refused request gets the same refusal.
    let invalid = json!({"client_id": client["id"], "title": ""});
    keyed(&app, Method::POST, "/api/v1/deals", &owner, "bad-1", Some(&invalid)).await.expect(422);
    let again = keyed(&app, Method::POST, "/api/v1/deals", &owner, "bad-1", Some(&invalid)).await;
    again.expect_problem(422, "validation_failed");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // A key is 1 to 255 visible ASCII characters.
    let spaced = keyed(&app, Method::POST, "/api/v1/deals", &owner, "a key", Some(&deal)).await;
    spaced.expect_problem(400, "invalid_idempotency_key");
}

#[actix_web::test]
async fn a_retried_delete_answers_as_the_first_did() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = acme(&app, &owner).await;
    let path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    keyed(&app, Method::DELETE, &path, &owner, "delete-acme", None).await.expect(204);
    let retry = keyed(&app, Method::DELETE, &path, &owner, "delete-acme", None).await;
    assert_eq!(retry.status, 204);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    // Without the key, deleting the deleted client again is a 404.
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn two_requests_racing_with_one_key_make_one_record() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = acme(&app, &owner).await;
    let deal = json!({"client_id": client["id"], "title": "Raced order"});
    let racers = (0..8).map(|_| keyed(&app, Method::POST, "/api/v1/deals", &owner, "raced", Some(&deal)));
    let answers = futures_util::future::join_all(racers).await;
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert!(statuses.iter().all(|status| *status == 201 || *status == 409), "{statuses:?}");
    assert!(statuses.contains(&201), "{statuses:?}");
    for answer in answers.iter().filter(|answer| answer.status == 409) {
        answer.expect_problem(409, "idempotency_in_progress");
    }
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .filter(|answer| answer.status == 201)
        .map(|answer| answer.body["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "every 201 is the one deal: {ids:?}");
    assert_eq!(deal_count(&app, &owner).await, 1);
}

#[actix_web::test]
async fn a_key_on_a_request_for_no_operation_changes_nothing_about_its_refusal() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let body = json!({"kind": "company", "name": "Acme"});
    // PATCH is not a method of /clients: a 405 naming the methods, however often the key is sent,
    // and the key stays free for the request it was meant for.
    for _ in 0..2 {
        let refused = keyed(&app, Method::PATCH, "/api/v1/clients", &owner, "k-1", Some(&body)).await;
        refused.expect_problem(405, "method_not_allowed");
        assert_eq!(refused.header("idempotent-replayed"), None);
    }
    keyed(&app, Method::POST, "/api/v1/no-such-thing", &owner, "k-1", Some(&body))
        .await
        .expect_problem(404, "not_found");
    keyed(&app, Method::POST, "/api/v1/clients", &owner, "k-1", Some(&body)).await.expect(201);
}
