//! `POST /clients/batch`: many operations in one request, each answered as its own endpoint would.

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;

async fn client_count(app: &TestApp) -> i64 {
    app.sql_i64("SELECT count(*) AS value FROM clients WHERE deleted_at IS NULL").await
}

async fn event_count(app: &TestApp) -> i64 {
    app.sql_i64("SELECT count(*) AS value FROM change_events WHERE entity = 'client'").await
}

fn statuses(answer: &Value) -> Vec<u64> {
    answer["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|result| result["status"].as_u64())
        .collect()
}

#[actix_web::test]
async fn each_operation_is_answered_in_order_as_its_own_endpoint_would() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = json!({"kind": "company", "name": "Acme", "emails": [{"value": "office@acme.example"}]});
    let acme = app.post("/api/v1/clients", &owner, acme).await.expect(201).clone();
    let beta = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Beta"}))
        .await
        .expect(201)
        .clone();
    let (clients, events) = (client_count(&app).await, event_count(&app).await);

    let batch = json!({"operations": [
        {"op": "create", "body": {"kind": "person", "first_name": "Anna", "last_name": "Ivanova"}},
        {"op": "create", "body": {"kind": "company", "name": " "}},
        {"op": "create", "body": {"kind": "company", "name": "Acme again", "emails": [{"value": "OFFICE@acme.example"}]}},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "10045"}, "body": {"kind": "company", "name": "Shop customer"}},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "10045"}, "body": {"name": "Shop customer Ltd"}},
        {"op": "update", "id": acme["id"], "body": {"lifecycle_stage": "customer"}, "version": 1},
        {"op": "update", "id": acme["id"], "body": {"notes": "stale"}, "version": 1},
        {"op": "delete", "id": beta["id"]},
        {"op": "delete", "id": beta["id"]},
    ]});
    let answer = app.post("/api/v1/clients/batch", &owner, batch).await.expect(200).clone();
    assert_eq!(answer["applied"], true);
    assert_eq!(statuses(&answer), [201, 422, 409, 201, 200, 200, 412, 204, 404]);
    let results = &answer["results"];
    assert_eq!(results[0]["client"]["display_name"], "Ivanova Anna");
    assert_eq!(field_errors(&results[1]["error"]), vec![("name".to_string(), "required".to_string())]);
    assert_eq!(results[2]["error"]["code"], "duplicate");
    assert_eq!(results[2]["error"]["conflicting_id"], acme["id"]);
    assert_eq!(results[4]["id"], results[3]["id"]);
    assert_eq!(
        (results[4]["client"]["name"].clone(), results[4]["client"]["version"].clone()),
        (json!("Shop customer Ltd"), json!(2))
    );
    assert_eq!(results[5]["client"]["lifecycle_stage"], "customer");
    assert_eq!(results[6]["error"]["current_version"], 2);
    assert_eq!((results[7]["id"].clone(), results[7]["client"].clone()), (beta["id"].clone(), Value::Null));

    // What failed left nothing; what succeeded is stored, each with its change event.
    assert_eq!(client_count(&app).await, clients + 2 - 1);
    assert_eq!(event_count(&app).await, events + 5);
    let stored =
        app.get(&format!("/api/v1/clients/{}", results[0]["id"].as_str().unwrap_or_default()), &owner).await;
    assert_eq!(stored.expect(200)["first_name"], "Anna");

    // A batch is a write of clients: a key needs `clients:write`, a viewer may not.
    let key = json!({"name": "reader", "scopes": ["clients:read"]});
    let key = app.post("/api/v1/api-keys", &owner, key).await.expect(201).clone();
    let one = json!({"operations": [{"op": "create", "body": {"kind": "company", "name": "Gamma"}}]});
    let secret = key["secret"].as_str().unwrap_or_default();
    app.post("/api/v1/clients/batch", secret, one.clone()).await.expect_problem(403, "insufficient_scope");
    let (_, viewer) = app.user_with_role("viewer").await;
    app.post("/api/v1/clients/batch", &viewer, one).await.expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn an_atomic_batch_keeps_all_of_it_or_none() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (clients, events) = (client_count(&app).await, event_count(&app).await);
    let failing = json!({"atomic": true, "operations": [
        {"op": "create", "body": {"kind": "company", "name": "Acme"}},
        {"op": "upsert", "external_ref": {"system": "1c", "id": "7"}, "body": {"kind": "company", "name": "Beta"}},
        {"op": "create", "body": {"kind": "company"}},
    ]});
    let answer = app.post("/api/v1/clients/batch", &owner, failing).await.expect(200).clone();
    assert_eq!(answer["applied"], false);
    assert_eq!(statuses(&answer), [424, 424, 422]);
    assert_eq!(answer["results"][0]["error"]["code"], "not_applied");
    assert_eq!(answer["results"][0]["id"], Value::Null);
    assert_eq!((client_count(&app).await, event_count(&app).await), (clients, events));
    let none = app.get("/api/v1/clients?external_ref=1c:7", &owner).await.expect(200).clone();
    assert_eq!(none["data"], json!([]));

    let passing = json!({"atomic": true, "operations": [
        {"op": "create", "body": {"kind": "company", "name": "Acme"}},
        {"op": "upsert", "external_ref": {"system": "1c", "id": "7"}, "body": {"kind": "company", "name": "Beta"}},
    ]});
    let answer = app.post("/api/v1/clients/batch", &owner, passing).await.expect(200).clone();
    assert_eq!((answer["applied"].clone(), statuses(&answer)), (json!(true), vec![201, 201]));
    assert_eq!(client_count(&app).await, clients + 2);

    // 1 to 1,000 operations.
    let empty = app.post("/api/v1/clients/batch", &owner, json!({"operations": []})).await;
    assert_eq!(field_errors(empty.expect(422)), vec![("operations".to_string(), "length".to_string())]);
    let create = json!({"op": "create", "body": {"kind": "company", "name": "X"}});
    let too_many = json!({"operations": vec![create; 1001]});
    let refused = app.post("/api/v1/clients/batch", &owner, too_many).await;
    assert_eq!(field_errors(refused.expect(422)), vec![("operations".to_string(), "length".to_string())]);
    assert_eq!(client_count(&app).await, clients + 2);
}
