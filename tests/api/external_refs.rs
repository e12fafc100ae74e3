//! The integrator's own ids: clients carry `external_refs`, are found by them, and are upserted by
//! them with `PUT /clients/by-ref/{system}/{id}`.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;
use crate::support::http::id_of;

async fn put(
    app: &TestApp,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> crate::support::http::TestResponse {
    let headers: Vec<(&str, &str)> = if_match.map(|tag| ("if-match", tag)).into_iter().collect();
    app.request_with_headers(Method::PUT, path, Some(token), &headers, Some(&body)).await
}

async fn client_count(app: &TestApp) -> i64 {
    app.sql_i64("SELECT count(*) AS value FROM clients").await
}

async fn change_count(app: &TestApp, client: &str) -> i64 {
    app.sql_i64(&format!(
        "SELECT count(*) AS value FROM change_events WHERE entity = 'client' AND entity_id = '{client}'"
    ))
    .await
}

#[actix_web::test]
async fn an_upsert_creates_then_updates_then_writes_nothing_when_nothing_changes() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let path = "/api/v1/clients/by-ref/shop/10045";
    let anna = json!({"kind": "person", "first_name": "Anna", "last_name": "Ivanova",
                      "emails": [{"value": "anna@example.com"}]});

    let created = put(&app, path, &owner, None, anna.clone()).await;
    let client = created.expect(201).clone();
    assert_eq!(created.header("location"), Some(format!("/api/v1/clients/{}", id_of(&client)).as_str()));
    assert_eq!(client["external_refs"], json!([{"system": "shop", "id": "10045"}]));
    assert_eq!(
        (client["version"].clone(), client["display_name"].clone()),
        (json!(1), json!("Ivanova Anna"))
    );

    // The shop knows a new surname: the fields sent change, the others stay.
    let renamed = put(&app, path, &owner, None, json!({"last_name": "Petrova"})).await;
    let renamed = renamed.expect(200).clone();
    assert_eq!(renamed["id"], client["id"]);
    assert_eq!(renamed["version"], 2);
    assert_eq!(renamed["last_name"], "Petrova");
    assert_eq!(renamed["emails"][0]["value"], "anna@example.com");
    assert_eq!(renamed["external_refs"], client["external_refs"]);

    // The same again: nothing written, no new version, no change event.
    let events = change_count(&app, id_of(&client)).await;
    let same = put(&app, path, &owner, None, json!({"last_name": "Petrova", "kind": "person"})).await;
    assert_eq!(same.expect(200)["version"], 2);
    assert_eq!(same.header("etag"), Some("\"2\""));
    assert_eq!(change_count(&app, id_of(&client)).await, events);

    // If-Match guards the update; on a ref nobody has, it fails and creates nothing.
    let stale = put(&app, path, &owner, Some("\"1\""), json!({"first_name": "Anya"})).await;
    assert_eq!(stale.expect_problem(412, "version_mismatch")["current_version"], 2);
    put(&app, path, &owner, Some("\"2\""), json!({"first_name": "Anya"})).await.expect(200);
    let before = client_count(&app).await;
    let absent = put(&app, "/api/v1/clients/by-ref/shop/10046", &owner, Some("*"), anna.clone()).await;
    assert_eq!(absent.expect_problem(412, "version_mismatch")["current_version"], 0);
    // A new client needs its kind; a client's kind never changes.
    let kindless =
        put(&app, "/api/v1/clients/by-ref/shop/10046", &owner, None, json!({"name": "Acme"})).await;
    assert_eq!(field_errors(kindless.expect(422)), vec![("kind".to_string(), "required".to_string())]);
    let company = put(&app, path, &owner, None, json!({"kind": "company", "name": "Acme"})).await;
    assert_eq!(field_errors(company.expect(422)), vec![("kind".to_string(), "immutable".to_string())]);
    assert_eq!(client_count(&app).await, before);

    // The ref finds the client; an unknown ref finds none.
    let found = app.get("/api/v1/clients?external_ref=shop:10045", &owner).await.expect(200).clone();
    let ids: Vec<&Value> = found["data"].as_array().into_iter().flatten().map(|c| &c["id"]).collect();
    assert_eq!(ids, vec![&client["id"]]);
    let none = app.get("/api/v1/clients?external_ref=shop:99999", &owner).await.expect(200).clone();
    assert_eq!(none["data"], json!([]));
    app.get("/api/v1/clients?external_ref=10045", &owner).await.expect_problem(400, "invalid_query");
    put(&app, "/api/v1/clients/by-ref/Shop!/1", &owner, None, anna).await.expect_problem(400, "invalid_path");
}

#[actix_web::test]
async fn a_ref_names_one_client_and_moves_with_its_writes() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let ref_123 = json!([{"system": "1c", "id": "000123"}]);
    let acme = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme", "external_refs": ref_123}))
        .await;
    let acme = acme.expect(201).clone();
    assert_eq!(acme["external_refs"], ref_123);

    // Another client can't take it, created or changed.
    let before = client_count(&app).await;
    let copy = json!({"kind": "company", "name": "Acme copy", "external_refs": ref_123});
    app.post("/api/v1/clients", &owner, copy).await.expect_problem(409, "external_ref_taken");
    assert_eq!(client_count(&app).await, before);
    let beta = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Beta"}))
        .await
        .expect(201)
        .clone();
    let beta_path = format!("/api/v1/clients/{}", id_of(&beta));
    let beta = app.get(&beta_path, &owner).await.expect(200).clone();
    app.patch(&beta_path, &owner, json!({"external_refs": ref_123}))
        .await
        .expect_problem(409, "external_ref_taken");
    app.assert_unchanged(&beta_path, &owner, &beta).await;

    // Replaced on its client, the ref is free again, and the lookup follows it.
    let acme_path = format!("/api/v1/clients/{}", id_of(&acme));
    app.patch(&acme_path, &owner, json!({"external_refs": [{"system": "1c", "id": "000124"}]}))
        .await
        .expect(200);
    app.patch(&beta_path, &owner, json!({"external_refs": ref_123})).await.expect(200);
    let found = app.get("/api/v1/clients?external_ref=1c:000123", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], beta["id"]);
    assert_eq!(found["data"].as_array().map(Vec::len), Some(1));

    // A deleted client keeps its ref: an upsert of it says so instead of making a second.
    app.request(Method::DELETE, &acme_path, Some(&owner), None).await.expect(204);
    let upsert =
        put(&app, "/api/v1/clients/by-ref/1c/000124", &owner, None, json!({"name": "Acme again"})).await;
    upsert.expect_problem(409, "client_deleted");

    // A client someone can't see keeps its ref from them too.
    let (_, rep) = app.user_seeing("sales", "own").await;
    let beta = app.get(&beta_path, &owner).await.expect(200).clone();
    let hidden = put(&app, "/api/v1/clients/by-ref/1c/000123", &rep, None, json!({"name": "Mine now"})).await;
    hidden.expect_problem(409, "external_ref_taken");
    app.assert_unchanged(&beta_path, &owner, &beta).await;

    // Refs are checked like any field.
    let bad = json!({"kind": "company", "name": "Gamma", "external_refs": [{"system": "1C", "id": "1"}, {"system": "1c", "id": ""}]});
    let refused = app.post("/api/v1/clients", &owner, bad).await;
    assert_eq!(
        field_errors(refused.expect(422)),
        vec![
            ("external_refs[0].system".to_string(), "format".to_string()),
            ("external_refs[1].id".to_string(), "format".to_string())
        ]
    );
}

#[actix_web::test]
async fn two_upserts_of_one_new_ref_make_one_client() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let me = app.get("/api/v1/me", &owner).await.expect(200).clone();
    let workspace = me["workspace"]["id"].as_str().unwrap_or_default().to_string();
    let before = client_count(&app).await;
    // Both requests reach the ref's lock while another session holds it, then go on together.
    let (locked, release) = app.hold_advisory_lock(&format!("external_ref:{workspace}:client:shop:777"));
    locked.recv().expect("the lock is held");
    let path = "/api/v1/clients/by-ref/shop/777";
    let body = json!({"kind": "company", "name": "Racing Ltd"});
    let (answers, ()) = futures_util::future::join(
        futures_util::future::join(
            put(&app, path, &owner, None, body.clone()),
            put(&app, path, &owner, None, body.clone()),
        ),
        async {
            app.wait_for_lock_waiters(2).await;
            release.send(()).expect("the lock holder is waiting");
        },
    )
    .await;
    let mut statuses = [answers.0.status, answers.1.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201]);
    assert_eq!(answers.0.expect(answers.0.status)["id"], answers.1.expect(answers.1.status)["id"]);
    assert_eq!(client_count(&app).await, before + 1);
}

#[actix_web::test]
async fn an_order_names_its_customer_by_the_shops_own_id() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let anna = json!({"kind": "person", "first_name": "Anna", "last_name": "Ivanova"});
    let anna = put(&app, "/api/v1/clients/by-ref/shop/10045", &owner, None, anna).await.expect(201).clone();
    let order = |client: Value| {
        let mut order = json!({"title": "Order 2026-000123", "currency": "RUB",
                               "items": [{"name": "Green tea", "quantity": "2", "unit_price": "1490.00"}]});
        order
            .as_object_mut()
            .into_iter()
            .for_each(|fields| fields.extend(client.as_object().cloned().unwrap_or_default()));
        order
    };
    let deal = app
        .post("/api/v1/deals", &owner, order(json!({"client_ref": {"system": "shop", "id": "10045"}})))
        .await;
    let deal = deal.expect(201).clone();
    assert_eq!((deal["client_id"].clone(), deal["amount"].clone()), (anna["id"].clone(), json!("2980.00")));

    let deals_before = app.sql_i64("SELECT count(*) AS value FROM deals").await;
    let unknown = app
        .post("/api/v1/deals", &owner, order(json!({"client_ref": {"system": "shop", "id": "99999"}})))
        .await;
    assert_eq!(field_errors(unknown.expect(422)), vec![("client_ref".to_string(), "not_found".to_string())]);
    let both = order(json!({"client_id": anna["id"], "client_ref": {"system": "shop", "id": "10045"}}));
    let both = app.post("/api/v1/deals", &owner, both).await;
    assert_eq!(field_errors(both.expect(422)), vec![("client_ref".to_string(), "not_allowed".to_string())]);
    let neither = app.post("/api/v1/deals", &owner, order(json!({}))).await;
    assert_eq!(field_errors(neither.expect(422)), vec![("client_id".to_string(), "required".to_string())]);
    // A ref doesn't reach past the caller's sight: to a rep, Anna is no client.
    let (_, rep) = app.user_seeing("sales", "own").await;
    let hidden = app
        .post("/api/v1/deals", &rep, order(json!({"client_ref": {"system": "shop", "id": "10045"}})))
        .await;
    assert_eq!(field_errors(hidden.expect(422)), vec![("client_ref".to_string(), "not_found".to_string())]);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM deals").await, deals_before);
}

#[actix_web::test]
async fn a_shop_upserts_its_products_by_its_own_ids_and_orders_them_by_ref() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let path = "/api/v1/products/by-ref/shop/SKU-100";
    let partial = put(&app, path, &owner, None, json!({"name": "Green tea"})).await;
    let missing: Vec<(String, String)> = crate::support::http::field_errors(partial.expect(422));
    let required = |field: &str| (field.to_string(), "required".to_string());
    assert_eq!(missing, [required("currency"), required("price"), required("sku")]);

    let tea = json!({"sku": "TEA-GRN-100", "name": "Green tea, 100 g", "price": "4.90", "currency": "EUR"});
    let created = put(&app, path, &owner, None, tea.clone()).await.expect(201).clone();
    assert_eq!(created["external_refs"], json!([{"system": "shop", "id": "SKU-100"}]));
    let id = created["id"].as_str().unwrap_or_default().to_string();
    let count_events = format!("SELECT count(*) AS value FROM change_events WHERE entity_id = '{id}'");
    let events = || app.sql_i64(&count_events);
    // The same again writes nothing; a change is an update; a stale version is refused.
    let again = put(&app, path, &owner, None, tea.clone()).await.expect(200).clone();
    assert_eq!((again["id"].clone(), again["version"].clone()), (created["id"].clone(), json!(1)));
    assert_eq!(events().await, 1);
    let cheaper = put(&app, path, &owner, Some("\"1\""), json!({"price": "4.50"})).await.expect(200).clone();
    assert_eq!((cheaper["price"].clone(), cheaper["version"].clone()), (json!("4.50"), json!(2)));
    put(&app, path, &owner, Some("\"1\""), json!({"price": "4.00"}))
        .await
        .expect_problem(412, "version_mismatch");
    assert_eq!(events().await, 2);

    // Found by the ref; no other product may take it.
    let found = app.get("/api/v1/products?external_ref=shop:SKU-100", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], created["id"]);
    let none = app.get("/api/v1/products?external_ref=shop:SKU-999", &owner).await.expect(200).clone();
    assert_eq!(none["data"], json!([]));
    let thief = json!({"sku": "TEA-BLK", "name": "Black tea", "price": "3.00", "currency": "EUR",
                       "external_refs": [{"system": "shop", "id": "SKU-100"}]});
    app.post("/api/v1/products", &owner, thief).await.expect_problem(409, "external_ref_taken");

    // An order names its line's product by the shop's id too.
    let client = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let client_id = client.expect(201)["id"].clone();
    let line = |product_ref: Value| json!({"product_ref": product_ref, "quantity": "2"});
    let order = json!({"title": "Order 7", "client_id": client_id, "currency": "EUR",
                       "items": [line(json!({"system": "shop", "id": "SKU-100"}))]});
    let deal = app.post("/api/v1/deals", &owner, order).await.expect(201).clone();
    assert_eq!(deal["items"][0]["product_id"], created["id"]);
    assert_eq!(
        (deal["items"][0]["name"].clone(), deal["amount"].clone()),
        (json!("Green tea, 100 g"), json!("9.00"))
    );
    let unknown = json!({"title": "Order 8", "client_id": client_id, "currency": "EUR",
                         "items": [line(json!({"system": "shop", "id": "SKU-999"}))]});
    let refused = app.post("/api/v1/deals", &owner, unknown).await;
    let refused = crate::support::http::field_errors(refused.expect_problem(422, "validation_failed"));
    assert_eq!(refused, [("items[0].product_ref".to_string(), "not_found".to_string())]);
}
