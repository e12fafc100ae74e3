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

#[actix_web::test]
async fn a_batch_sees_its_own_writes_and_stores_what_single_requests_would() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = json!({"kind": "company", "name": "Acme", "tax_id": "7707083893",
        "external_refs": [{"system": "shop", "id": "1"}]});
    let acme = app.post("/api/v1/clients", &owner, acme).await.expect(201).clone();
    let events = event_count(&app).await;

    // No deletes: the batch reads what it names ahead and writes its rows together at the end.
    let batch = json!({"operations": [
        {"op": "upsert", "external_ref": {"system": "shop", "id": "2"},
         "body": {"kind": "person", "first_name": "Anna", "last_name": "Ivanova", "emails": [{"value": "anna@example.com"}]}},
        {"op": "create", "body": {"kind": "company", "name": "Anna's shop", "emails": [{"value": "ANNA@example.com"}]}},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "2"}, "body": {"notes": "second order"}},
        {"op": "update", "id": acme["id"], "body": {"external_refs": []}, "version": 1},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "1"}, "body": {"kind": "company", "name": "Successor"}},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "3"}, "body": {"kind": "company"}},
        {"op": "update", "id": acme["id"], "body": {"notes": "stale"}, "version": 1},
        {"op": "create", "body": {"kind": "company", "name": "Borrower", "external_refs": [{"system": "shop", "id": "2"}]}},
        {"op": "create", "body": {"kind": "company", "name": "Acme twin", "tax_id": " 7707083893 "}},
    ]});
    let answer = app.post("/api/v1/clients/batch", &owner, batch).await.expect(200).clone();
    assert_eq!(statuses(&answer), [201, 409, 200, 200, 201, 422, 412, 409, 409]);
    let results = &answer["results"];
    // A duplicate of a client the batch created earlier, a ref it gave one: refused as if stored.
    assert_eq!(results[1]["error"]["conflicting_id"], results[0]["id"]);
    assert_eq!(results[7]["error"]["code"], "external_ref_taken");
    assert_eq!(results[8]["error"]["conflicting_id"], acme["id"]);
    assert_eq!(results[2]["id"], results[0]["id"]);
    assert_eq!(results[2]["client"]["version"], 2);
    assert_eq!(results[6]["error"]["current_version"], 2);

    // Each client the batch answered is stored exactly as answered (a GET adds its figures).
    for n in [2, 3, 4] {
        let id = results[n]["id"].as_str().unwrap_or_default();
        let mut stored = app.get(&format!("/api/v1/clients/{id}"), &owner).await.expect(200).clone();
        if let Some(stored) = stored.as_object_mut() {
            stored.remove("stats");
            stored.remove("summary");
        }
        assert_eq!(stored, results[n]["client"], "operation {n}");
    }
    // The ref Acme let go went to the client created after it; refs and name words are indexed.
    let by_ref = |system_id: &str| format!("/api/v1/clients?external_ref={system_id}");
    let found = app.get(&by_ref("shop:1"), &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], results[4]["id"]);
    let found = app.get(&by_ref("shop:2"), &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], results[0]["id"]);
    let found = app.get("/api/v1/clients?q=ivanova", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], results[0]["id"]);

    // One change event per successful operation, in order, with the versions they made.
    assert_eq!(event_count(&app).await, events + 4);
    let anna = results[0]["id"].as_str().unwrap_or_default();
    let history = app.get(&format!("/api/v1/clients/{anna}/history"), &owner).await.expect(200).clone();
    let versions: Vec<(Value, Value)> = history["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| (event["action"].clone(), event["version"].clone()))
        .collect();
    assert_eq!(versions, [(json!("updated"), json!(2)), (json!("created"), json!(1))]);
}

#[actix_web::test]
async fn a_batch_update_stores_every_field_as_answered() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for (key, kind) in [("limit", "decimal"), ("since", "date"), ("vip", "bool")] {
        let field = json!({"entity": "client", "key": key, "label": key, "type": kind});
        app.post("/api/v1/custom-fields", &owner, field).await.expect(201);
    }
    let anna = json!({"kind": "person", "first_name": "Anna", "last_name": "Ivanova"});
    let anna = app.post("/api/v1/clients", &owner, anna).await.expect(201).clone();

    // Changed clients are written back together, each row as one JSON value that the database
    // reads into the table's columns: every type of column must come back as it went.
    let change = json!({"last_name": "Петрова", "middle_name": "Sergeevna", "birth_date": "1990-02-28",
        "gender": "female", "website": "https://anna.example", "relationship": "partner", "lifecycle_stage": "customer",
        "source": "referral", "emails": [{"value": "anna@example.com", "label": "work", "primary": true}],
        "phones": [{"value": "+7 495 123-45-67"}], "address": {"country": "RU", "city": "Москва", "street": "Тверская, 1"},
        "tags": ["vip", "tea \"lover\""], "notes": "line one\nline two",
        "consent": {"given_at": "2026-01-02T03:04:05.678901Z", "channel": "email", "purpose": "marketing"},
        "custom": {"limit": "12345678901234.5678", "since": "2020-01-31", "vip": true},
        "external_refs": [{"system": "1c", "id": "A-1"}]});
    let batch = json!({"operations": [{"op": "update", "id": anna["id"], "body": change, "version": 1}]});
    let answer = app.post("/api/v1/clients/batch", &owner, batch).await.expect(200).clone();
    assert_eq!(statuses(&answer), [200]);
    let answered = &answer["results"][0]["client"];
    assert_eq!(answered["version"], 2);
    let id = anna["id"].as_str().unwrap_or_default();
    let mut stored = app.get(&format!("/api/v1/clients/{id}"), &owner).await.expect(200).clone();
    if let Some(stored) = stored.as_object_mut() {
        stored.remove("stats");
        stored.remove("summary");
    }
    assert_eq!(&stored, answered);
    assert_eq!(stored["custom"]["limit"], "12345678901234.5678");
    assert_eq!(stored["consent"]["given_at"], "2026-01-02T03:04:05.678901Z");
    // `q=петрова`, percent-encoded.
    let found = app
        .get("/api/v1/clients?q=%D0%BF%D0%B5%D1%82%D1%80%D0%BE%D0%B2%D0%B0", &owner)
        .await
        .expect(200)
        .clone();
    assert_eq!(found["data"][0]["id"], anna["id"]);
    let found = app.get("/api/v1/clients?external_ref=1c:A-1", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], anna["id"]);
}

#[actix_web::test]
async fn a_ref_taken_by_another_writer_meanwhile_fails_only_its_operation() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let holder = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Holder"})).await;
    let holder = holder.expect(201)["id"].as_str().unwrap_or_default().to_string();
    let before = client_count(&app).await;
    // Another writer gives the holder the ref erp:9 and hasn't committed: the batch doesn't see it
    // when it checks, and meets it when it writes.
    let statement = format!(
        "UPDATE clients SET external_refs = '[{{\"system\": \"erp\", \"id\": \"9\"}}]' WHERE id = '{holder}';
         INSERT INTO external_refs (workspace_id, entity, system, external_id, record_id)
         SELECT workspace_id, 'client', 'erp', '9', id FROM clients WHERE id = '{holder}'"
    );
    let (written, commit) = app.hold_transaction(move |conn| {
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&statement)
    });
    written.recv().expect("the other writer wrote");
    let batch = json!({"operations": [
        {"op": "create", "body": {"kind": "company", "name": "Taker", "external_refs": [{"system": "erp", "id": "9"}]}},
        {"op": "create", "body": {"kind": "company", "name": "Bystander"}},
    ]});
    let (answer, ()) = futures_util::future::join(app.post("/api/v1/clients/batch", &owner, batch), async {
        app.wait_for_lock_waiters(1).await;
        commit.send(()).expect("the other writer is waiting");
    })
    .await;
    let answer = answer.expect(200).clone();
    assert_eq!((answer["applied"].clone(), statuses(&answer)), (json!(true), vec![409, 201]));
    assert_eq!(answer["results"][0]["error"]["code"], "external_ref_taken");
    assert_eq!(client_count(&app).await, before + 1);
    let found = app.get("/api/v1/clients?external_ref=erp:9", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], json!(holder));
}

async fn live_count(app: &TestApp, table: &str) -> i64 {
    app.sql_i64(&format!("SELECT count(*) AS value FROM {table} WHERE deleted_at IS NULL")).await
}

#[actix_web::test]
async fn a_shop_sends_a_day_of_orders_in_one_batch() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let anna = json!({"op": "upsert", "external_ref": {"system": "shop", "id": "10045"},
                      "body": {"kind": "person", "first_name": "Anna", "last_name": "Ivanova"}});
    app.post("/api/v1/clients/batch", &owner, json!({"operations": [anna]})).await.expect(200);
    let tea = json!({"op": "upsert", "external_ref": {"system": "shop", "id": "SKU-1"},
                     "body": {"sku": "TEA-1", "name": "Green tea", "price": "4.90", "currency": "EUR"}});
    let catalogue =
        app.post("/api/v1/products/batch", &owner, json!({"operations": [tea.clone(), tea]})).await;
    assert_eq!(statuses(catalogue.expect(200)), [201, 200]);

    let order = |number: &str, customer: &str, quantity: &str| {
        json!({"op": "upsert", "external_ref": {"system": "shop", "id": number},
               "body": {"title": format!("Order {number}"), "currency": "EUR",
                        "client_ref": {"system": "shop", "id": customer},
                        "items": [{"product_ref": {"system": "shop", "id": "SKU-1"}, "quantity": quantity}]}})
    };
    let day =
        json!({"operations": [order("1", "10045", "2"), order("2", "99999", "1"), order("3", "10045", "1")]});
    let answer = app.post("/api/v1/deals/batch", &owner, day.clone()).await.expect(200).clone();
    assert_eq!(statuses(&answer), [201, 422, 201]);
    assert_eq!(answer["applied"], true);
    assert_eq!(answer["results"][0]["deal"]["amount"], "9.80");
    assert_eq!(answer["results"][1]["error"]["errors"][0]["field"], "client_ref");
    assert_eq!(live_count(&app, "deals").await, 2);
    let deal_events = "SELECT count(*) AS value FROM change_events WHERE entity = 'deal'";
    assert_eq!(app.sql_i64(deal_events).await, 2);

    // The same day again, after a timeout: nothing new, nothing rewritten.
    let again = app.post("/api/v1/deals/batch", &owner, day).await.expect(200).clone();
    assert_eq!(statuses(&again), [200, 422, 200]);
    assert_eq!(again["results"][0]["deal"]["version"], 1);
    assert_eq!(app.sql_i64(deal_events).await, 2);

    // All or nothing: one bad order keeps the others out too.
    let atomic = json!({"atomic": true, "operations": [order("4", "10045", "1"), order("5", "99999", "1")]});
    let refused = app.post("/api/v1/deals/batch", &owner, atomic).await.expect(200).clone();
    assert_eq!((refused["applied"].clone(), statuses(&refused)), (json!(false), vec![424, 422]));
    assert_eq!(live_count(&app, "deals").await, 2);

    // A cancelled order is deleted by id, with the version last read.
    let first = answer["results"][0]["id"].clone();
    let stale = json!({"operations": [{"op": "delete", "id": first, "version": 7}, {"op": "delete", "id": first, "version": 1}]});
    let deleted = app.post("/api/v1/deals/batch", &owner, stale).await.expect(200).clone();
    assert_eq!(statuses(&deleted), [412, 204]);
    assert_eq!(live_count(&app, "deals").await, 1);
}

#[actix_web::test]
async fn contact_and_activity_batches_run_each_operation_as_its_endpoint() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let acme = acme.expect(201)["id"].clone();
    let anna = json!({"client_id": acme, "first_name": "Anna", "emails": [{"value": "anna@acme.example"}]});
    let contacts = json!({"operations": [
        {"op": "create", "body": anna},
        {"op": "create", "body": anna},
        {"op": "create", "body": anna, "allow_duplicate": true},
        {"op": "upsert", "external_ref": {"system": "1c", "id": "P-1"}, "body": {"client_id": acme, "last_name": "Orlov"}},
        {"op": "create", "body": {"client_id": acme}}
    ]});
    let answer = app.post("/api/v1/contacts/batch", &owner, contacts).await.expect(200).clone();
    assert_eq!(statuses(&answer), [201, 409, 201, 201, 422]);
    assert_eq!(answer["results"][1]["error"]["code"], "duplicate");
    assert_eq!(answer["results"][3]["contact"]["external_refs"][0]["id"], "P-1");
    assert_eq!(live_count(&app, "contacts").await, 3);
    let orlov = answer["results"][3]["id"].clone();
    let delete = json!({"operations": [{"op": "delete", "id": orlov}]});
    let deleted = app.post("/api/v1/contacts/batch", &owner, delete).await.expect(200).clone();
    assert_eq!(statuses(&deleted), [204]);
    assert_eq!(live_count(&app, "contacts").await, 2);

    let call = |id: &str| {
        json!({"op": "upsert", "external_ref": {"system": "pbx", "id": id},
               "body": {"kind": "call", "subject": "Call", "client_id": acme, "status": "done", "duration_seconds": 60}})
    };
    let calls = json!({"operations": [call("c-1"), call("c-2"), call("c-1"), {"op": "update", "id": acme, "body": {}}]});
    let answer = app.post("/api/v1/activities/batch", &owner, calls).await.expect(200).clone();
    assert_eq!(statuses(&answer), [201, 201, 200, 404]);
    assert_eq!(live_count(&app, "activities").await, 2);
    let stats = app.get(&format!("/api/v1/clients/{}", acme.as_str().unwrap_or_default()), &owner).await;
    assert!(stats.expect(200)["summary"].is_object());
}

#[actix_web::test]
async fn a_batch_reaches_only_the_records_the_caller_sees() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let acme = acme.expect(201)["id"].clone();
    let deal =
        app.post("/api/v1/deals", &owner, json!({"title": "Big", "client_id": acme, "amount": "5.00"})).await;
    let deal = deal.expect(201)["id"].clone();
    let contact =
        app.post("/api/v1/contacts", &owner, json!({"client_id": acme, "first_name": "Anna"})).await;
    let contact = contact.expect(201)["id"].clone();
    let call = app
        .post("/api/v1/activities", &owner, json!({"kind": "call", "subject": "Hi", "client_id": acme}))
        .await;
    let call = call.expect(201)["id"].clone();

    let (_, rep) = app.user_seeing("sales", "own").await;
    let touch = |id: &Value, body: Value| {
        json!({"operations": [{"op": "update", "id": id, "body": body},
                                                                {"op": "delete", "id": id}]})
    };
    for (path, id, body) in [
        ("/api/v1/deals/batch", &deal, json!({"title": "Mine"})),
        ("/api/v1/contacts/batch", &contact, json!({"first_name": "Mine"})),
        ("/api/v1/activities/batch", &call, json!({"subject": "Mine"})),
    ] {
        let answer = app.post(path, &rep, touch(id, body)).await.expect(200).clone();
        assert_eq!(statuses(&answer), [404, 404], "{path}");
    }
    // Nor does a new record reach a client the rep doesn't see.
    let hidden = json!({"operations": [{"op": "create", "body": {"title": "Sneaky", "client_id": acme, "amount": "1.00"}}]});
    let answer = app.post("/api/v1/deals/batch", &rep, hidden).await.expect(200).clone();
    assert_eq!(statuses(&answer), [422]);
    assert_eq!(live_count(&app, "deals").await, 1);
}
