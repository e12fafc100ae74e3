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

/// Two upserts of `path` with `body` that both reach the ref's `lock` while another session holds
/// it, then go on together: their statuses and the ids they answered with, by status.
async fn race_two_upserts(
    app: &TestApp,
    token: &str,
    lock: &str,
    path: &str,
    body: Value,
) -> [(u16, Value); 2] {
    let (locked, release) = app.hold_advisory_lock(lock);
    locked.recv().expect("the lock is held");
    let (answers, ()) = futures_util::future::join(
        futures_util::future::join(
            put(app, path, token, None, body.clone()),
            put(app, path, token, None, body.clone()),
        ),
        async {
            app.wait_for_lock_waiters(2).await;
            release.send(()).expect("the lock holder is waiting");
        },
    )
    .await;
    let answered = |answer: &crate::support::http::TestResponse| (answer.status, answer.body["id"].clone());
    let mut answers = [answered(&answers.0), answered(&answers.1)];
    answers.sort_by_key(|(status, _)| *status);
    answers
}

#[actix_web::test]
async fn two_upserts_of_one_new_ref_make_one_client() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let me = app.get("/api/v1/me", &owner).await.expect(200).clone();
    let workspace = me["workspace"]["id"].as_str().unwrap_or_default().to_string();
    let before = client_count(&app).await;
    let body = json!({"kind": "company", "name": "Racing Ltd"});
    let lock = format!("external_ref:{workspace}:client:shop:777");
    let [updated, created] =
        race_two_upserts(&app, &owner, &lock, "/api/v1/clients/by-ref/shop/777", body).await;
    assert_eq!((updated.0, created.0), (200, 201));
    assert_eq!(updated.1, created.1);
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

async fn events_of(app: &TestApp, id: &Value) -> i64 {
    let id = id.as_str().unwrap_or_default();
    app.sql_i64(&format!("SELECT count(*) AS value FROM change_events WHERE entity_id = '{id}'")).await
}

#[actix_web::test]
async fn a_shop_upserts_its_orders_by_their_own_numbers() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let customer = json!({"kind": "person", "first_name": "Anna", "last_name": "Ivanova"});
    let anna =
        put(&app, "/api/v1/clients/by-ref/shop/10045", &owner, None, customer).await.expect(201).clone();
    let tea = json!({"sku": "TEA-1", "name": "Green tea", "price": "4.90", "currency": "EUR"});
    put(&app, "/api/v1/products/by-ref/shop/SKU-1", &owner, None, tea).await.expect(201);
    let path = "/api/v1/deals/by-ref/shop/ORDER-1001";

    let nothing = put(&app, path, &owner, None, json!({"currency": "EUR"})).await;
    let required = |field: &str| (field.to_string(), "required".to_string());
    assert_eq!(field_errors(nothing.expect(422)), [required("client_id"), required("title")]);

    let line =
        |quantity: &str| json!({"product_ref": {"system": "shop", "id": "SKU-1"}, "quantity": quantity});
    let order = json!({"title": "Order 1001", "currency": "EUR",
                       "client_ref": {"system": "shop", "id": "10045"}, "items": [line("2")]});
    let created = put(&app, path, &owner, None, order.clone()).await;
    let deal = created.expect(201).clone();
    assert_eq!(created.header("location"), Some(format!("/api/v1/deals/{}", id_of(&deal)).as_str()));
    assert_eq!(
        (deal["client_id"].clone(), deal["amount"].clone(), deal["external_refs"].clone()),
        (anna["id"].clone(), json!("9.80"), json!([{"system": "shop", "id": "ORDER-1001"}]))
    );

    // The shop sends the order again after a timeout: nothing is written.
    let again = put(&app, path, &owner, None, order.clone()).await.expect(200).clone();
    assert_eq!((again["id"].clone(), again["version"].clone()), (deal["id"].clone(), json!(1)));
    assert_eq!(events_of(&app, &deal["id"]).await, 1);
    // The customer adds a pack: the lines are replaced, the ref stays.
    let more =
        put(&app, path, &owner, Some("\"1\""), json!({"items": [line("3")], "external_refs": []})).await;
    let more = more.expect(200).clone();
    assert_eq!((more["amount"].clone(), more["version"].clone()), (json!("14.70"), json!(2)));
    assert_eq!(more["external_refs"], deal["external_refs"]);
    assert_eq!(events_of(&app, &deal["id"]).await, 2);

    // Found by its number; no other deal may take it.
    let found = app.get("/api/v1/deals?external_ref=shop:ORDER-1001", &owner).await.expect(200).clone();
    assert_eq!(found["data"].as_array().map(|page| page.len()), Some(1));
    assert_eq!(found["data"][0]["id"], deal["id"]);
    let mut thief = order.clone();
    thief["external_refs"] = json!([{"system": "shop", "id": "ORDER-1001"}]);
    app.post("/api/v1/deals", &owner, thief).await.expect_problem(409, "external_ref_taken");

    // A cancelled order deleted in the CRM is not silently made again.
    let deal_path = format!("/api/v1/deals/{}", id_of(&deal));
    app.request(Method::DELETE, &deal_path, Some(&owner), None).await.expect(204);
    let deals = app.sql_i64("SELECT count(*) AS value FROM deals").await;
    put(&app, path, &owner, None, order).await.expect_problem(409, "record_deleted");
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM deals").await, deals);
}

#[actix_web::test]
async fn two_upserts_of_one_new_order_make_one_deal() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let me = app.get("/api/v1/me", &owner).await.expect(200).clone();
    let workspace = me["workspace"]["id"].as_str().unwrap_or_default().to_string();
    let client = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let order = json!({"title": "Order 777", "client_id": client.expect(201)["id"], "amount": "10.00"});
    let lock = format!("external_ref:{workspace}:deal:shop:777");
    let [updated, created] =
        race_two_upserts(&app, &owner, &lock, "/api/v1/deals/by-ref/shop/777", order).await;
    assert_eq!((updated.0, created.0), (200, 201));
    assert_eq!(updated.1, created.1);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM deals").await, 1);
}

#[actix_web::test]
async fn a_contact_is_upserted_by_ref_under_a_client_named_by_ref() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let company = json!({"kind": "company", "name": "Acme"});
    let acme = put(&app, "/api/v1/clients/by-ref/1c/000123", &owner, None, company).await.expect(201).clone();
    let path = "/api/v1/contacts/by-ref/1c/P-7";
    let nameless = put(&app, path, &owner, None, json!({"first_name": "Anna"})).await;
    assert_eq!(field_errors(nameless.expect(422)), [("client_id".to_string(), "required".to_string())]);

    let anna = json!({"client_ref": {"system": "1c", "id": "000123"}, "first_name": "Anna",
                      "last_name": "Smirnova", "phones": [{"value": "+7 912 345-67-90"}]});
    let contact = put(&app, path, &owner, None, anna.clone()).await.expect(201).clone();
    assert_eq!(contact["client_id"], acme["id"]);
    assert_eq!(contact["external_refs"], json!([{"system": "1c", "id": "P-7"}]));
    let again = put(&app, path, &owner, None, anna).await.expect(200).clone();
    assert_eq!(again["version"], 1);
    let promoted = put(&app, path, &owner, None, json!({"position": "Head of purchasing"})).await;
    let promoted = promoted.expect(200).clone();
    assert_eq!(
        (promoted["version"].clone(), promoted["phones"][0]["value"].clone()),
        (json!(2), json!("+79123456790"))
    );
    assert_eq!(events_of(&app, &contact["id"]).await, 2);
    let found = app.get("/api/v1/contacts?external_ref=1c:P-7", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], contact["id"]);

    // A rep who doesn't see Acme neither finds nor takes over the contact, nor makes a second one.
    let (_, rep) = app.user_seeing("sales", "own").await;
    let hidden = app.get("/api/v1/contacts?external_ref=1c:P-7", &rep).await.expect(200).clone();
    assert_eq!(hidden["data"], json!([]));
    let mine = app.post("/api/v1/clients", &rep, json!({"kind": "company", "name": "Mine"})).await;
    let takeover = json!({"client_id": mine.expect(201)["id"], "first_name": "Anna"});
    put(&app, path, &rep, None, takeover).await.expect_problem(409, "external_ref_taken");
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM contacts").await, 1);
}

#[actix_web::test]
async fn a_call_is_logged_when_it_rings_and_completed_when_it_ends() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let client = client.expect(201).clone();
    let path = "/api/v1/activities/by-ref/pbx/call-88812";
    let ringing = json!({"kind": "call", "subject": "Incoming call", "direction": "inbound",
                         "client_id": client["id"], "from": "+79123456790"});
    let call = put(&app, path, &owner, None, ringing).await.expect(201).clone();
    assert_eq!(
        (call["status"].clone(), call["external_refs"].clone()),
        (json!("planned"), json!([{"system": "pbx", "id": "call-88812"}]))
    );
    let ended = json!({"status": "done", "duration_seconds": 312, "outcome": "Wants a quote"});
    let done = put(&app, path, &owner, None, ended.clone()).await.expect(200).clone();
    assert_eq!(
        (done["id"].clone(), done["status"].clone(), done["version"].clone()),
        (call["id"].clone(), json!("done"), json!(2))
    );
    // The PBX repeats its last event: nothing changes.
    let repeated = put(&app, path, &owner, None, ended).await.expect(200).clone();
    assert_eq!(repeated["version"], 2);
    let found = app.get("/api/v1/activities?external_ref=pbx:call-88812", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], call["id"]);
    let bad = app.get("/api/v1/activities?external_ref=call-88812", &owner).await;
    bad.expect_problem(400, "invalid_query");
}

#[actix_web::test]
async fn a_rep_neither_finds_nor_takes_over_the_deals_and_activities_of_clients_they_dont_see() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let client_id = client.expect(201)["id"].clone();
    let order = json!({"title": "Order 5", "client_id": client_id, "amount": "10.00"});
    put(&app, "/api/v1/deals/by-ref/shop/5", &owner, None, order).await.expect(201);
    let call = json!({"kind": "call", "subject": "Call", "client_id": client_id});
    put(&app, "/api/v1/activities/by-ref/pbx/5", &owner, None, call).await.expect(201);

    let (_, rep) = app.user_seeing("sales", "own").await;
    for lookup in ["/api/v1/deals?external_ref=shop:5", "/api/v1/activities?external_ref=pbx:5"] {
        assert_eq!(app.get(lookup, &rep).await.expect(200)["data"], json!([]), "{lookup}");
    }
    let mine = app.post("/api/v1/clients", &rep, json!({"kind": "company", "name": "Mine"})).await;
    let mine = mine.expect(201)["id"].clone();
    let order = json!({"title": "Order 5", "client_id": mine, "amount": "1.00"});
    put(&app, "/api/v1/deals/by-ref/shop/5", &rep, None, order)
        .await
        .expect_problem(409, "external_ref_taken");
    let call = json!({"kind": "call", "subject": "Call", "client_id": mine});
    let taken = put(&app, "/api/v1/activities/by-ref/pbx/5", &rep, None, call).await;
    taken.expect_problem(409, "external_ref_taken");
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM deals").await, 1);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM activities").await, 1);
}
