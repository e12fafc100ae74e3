//! `POST /clients/{id}/merge`: duplicates give one client everything they had, and stay behind as
//! tombstones that point to it.

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;

fn id(record: &Value) -> &str {
    record["id"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn a_merge_moves_everything_to_the_survivor_and_loses_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = json!({"kind": "company", "name": "Acme", "emails": [{"value": "office@acme.example"}],
                      "tags": ["vip"], "external_refs": [{"system": "1c", "id": "1"}]});
    let survivor = app.post("/api/v1/clients", &owner, acme).await.expect(201).clone();
    let twin = json!({"kind": "company", "name": "ACME Ltd", "emails": [{"value": "sales@acme.example"}],
                      "phones": [{"value": "+7 912 345-67-89"}], "website": "https://acme.example", "tax_id": "7707083893",
                      "notes": "Met at the expo", "tags": ["wholesale", "vip"], "external_refs": [{"system": "shop", "id": "9"}]});
    let twin = app.post("/api/v1/clients", &owner, twin).await.expect(201).clone();
    let contact =
        json!({"client_id": twin["id"], "first_name": "Anna", "last_name": "Petrova", "is_primary": true});
    let contact = app.post("/api/v1/contacts", &owner, contact).await.expect(201).clone();
    let deal =
        json!({"title": "Spring order", "client_id": twin["id"], "amount": "1200.00", "currency": "USD"});
    let deal = app.post("/api/v1/deals", &owner, deal).await.expect(201).clone();
    let call = json!({"kind": "call", "subject": "Follow up", "client_id": twin["id"], "status": "planned",
                      "due_at": "2030-01-01T10:00:00Z"});
    let call = app.post("/api/v1/activities", &owner, call).await.expect(201).clone();
    let segment = json!({"name": "Picked", "kind": "static"});
    let segment = app.post("/api/v1/segments", &owner, segment).await.expect(201).clone();
    let members = format!("/api/v1/segments/{}/members", id(&segment));
    app.post(&members, &owner, json!({"client_ids": [twin["id"]]})).await.expect(200);
    let (rep, rep_token) = app.user_with_role("sales").await;
    let twin_path = format!("/api/v1/clients/{}", id(&twin));
    app.post(&format!("{twin_path}/shares"), &owner, json!({"user_id": rep["id"]})).await.expect(201);

    let survivor_path = format!("/api/v1/clients/{}", id(&survivor));
    let merge = format!("{survivor_path}/merge");
    let from_twin = json!({"from": [twin["id"]]});
    let post = actix_web::http::Method::POST;
    let stale = app.request_if_match(post.clone(), &merge, &owner, 2, Some(&from_twin)).await;
    stale.expect_problem(412, "version_mismatch");
    let merged = app.request_if_match(post, &merge, &owner, 1, Some(&from_twin)).await.expect(200).clone();

    // The survivor keeps its own values, takes what it lacked, and gains the twin's lists.
    assert_eq!(merged["name"], "Acme");
    assert_eq!(merged["version"], 2);
    assert_eq!(
        (merged["website"].clone(), merged["tax_id"].clone()),
        (json!("https://acme.example"), json!("7707083893"))
    );
    assert_eq!(merged["notes"], "Met at the expo");
    let values = |list: &Value| -> Vec<Value> {
        list.as_array().into_iter().flatten().map(|p| p["value"].clone()).collect()
    };
    assert_eq!(values(&merged["emails"]), [json!("office@acme.example"), json!("sales@acme.example")]);
    assert_eq!(merged["emails"][0]["primary"], true);
    assert_eq!(values(&merged["phones"]), [json!("+79123456789")]);
    assert_eq!(merged["tags"], json!(["vip", "wholesale"]));
    assert_eq!(merged["external_refs"], json!([{"system": "1c", "id": "1"}, {"system": "shop", "id": "9"}]));

    // The twin is a tombstone that points to the survivor, and can't come back.
    let gone = app.get(&twin_path, &owner).await.expect_problem(404, "not_found").clone();
    assert_eq!(gone["merged_into"], survivor["id"]);
    app.post(&format!("{twin_path}/restore"), &owner, json!({})).await.expect_problem(409, "client_merged");
    let by_ref = app.get("/api/v1/clients?external_ref=shop:9", &owner).await.expect(200).clone();
    assert_eq!(by_ref["data"][0]["id"], survivor["id"]);

    // Its records moved, each with a new version; the moved contact isn't primary over the survivor.
    let moved = app.get(&format!("/api/v1/contacts/{}", id(&contact)), &owner).await.expect(200).clone();
    assert_eq!((moved["client_id"].clone(), moved["version"].clone()), (survivor["id"].clone(), json!(2)));
    let moved = app.get(&format!("/api/v1/deals/{}", id(&deal)), &owner).await.expect(200).clone();
    assert_eq!((moved["client_id"].clone(), moved["version"].clone()), (survivor["id"].clone(), json!(2)));
    let moved = app.get(&format!("/api/v1/activities/{}", id(&call)), &owner).await.expect(200).clone();
    assert_eq!((moved["client_id"].clone(), moved["version"].clone()), (survivor["id"].clone(), json!(2)));
    let in_segment = app.get(&members, &owner).await.expect(200).clone();
    let member_ids: Vec<Value> =
        in_segment["data"].as_array().into_iter().flatten().map(|m| m["id"].clone()).collect();
    assert_eq!(member_ids, [survivor["id"].clone()]);
    // The rep the twin was shared with sees the survivor now.
    app.get(&survivor_path, &rep_token).await.expect(200);

    // Both histories record the merge.
    let history = app.get(&format!("{survivor_path}/history"), &owner).await.expect(200).clone();
    assert_eq!(history["data"][0]["action"], "merged");
    assert_eq!(history["data"][0]["changes"]["merged_from"]["to"], json!([twin["id"]]));
    let merges = app.sql_i64("SELECT count(*) AS value FROM change_events WHERE action = 'merged'").await;
    assert_eq!(merges, 2);
}

#[actix_web::test]
async fn a_merge_names_live_clients_of_the_same_kind_other_than_itself() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let anna = json!({"kind": "person", "first_name": "Anna", "last_name": "Ivanova"});
    let anna = app.post("/api/v1/clients", &owner, anna).await.expect(201).clone();
    let merge = format!("/api/v1/clients/{}/merge", id(&acme));
    let refused = |from: Value| {
        let merge = merge.clone();
        let owner = owner.clone();
        let app = &app;
        async move { field_errors(app.post(&merge, &owner, json!({"from": from})).await.expect(422)) }
    };
    let field = |code: &str| vec![("from".to_string(), code.to_string())];
    assert_eq!(refused(json!([])).await, field("length"));
    assert_eq!(refused(json!([acme["id"]])).await, field("invalid"));
    assert_eq!(refused(json!([anna["id"], anna["id"]])).await, field("mismatch"));
    assert_eq!(refused(json!(["01968f5e-3a4b-7c2d-9e1f-0a1b2c3d4e5f"])).await, field("not_found"));
    // A deleted client merges no more than an unknown one.
    let beta = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Beta"}))
        .await
        .expect(201)
        .clone();
    app.request(
        actix_web::http::Method::DELETE,
        &format!("/api/v1/clients/{}", id(&beta)),
        Some(&owner),
        None,
    )
    .await
    .expect(204);
    assert_eq!(refused(json!([beta["id"]])).await, field("not_found"));
    app.get(&format!("/api/v1/clients/{}", id(&acme)), &owner).await.expect(200);
}

#[actix_web::test]
async fn a_contact_merge_moves_deals_activities_and_refs_and_leaves_a_tombstone() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let acme = acme.expect(201)["id"].clone();
    let anna = json!({"client_id": acme, "first_name": "Anna", "emails": [{"value": "anna@acme.example"}]});
    let anna = app.post("/api/v1/contacts", &owner, anna).await.expect(201).clone();
    let twin = json!({"client_id": acme, "first_name": "Anna", "last_name": "Smirnova", "position": "Buyer",
                      "emails": [{"value": "a.smirnova@acme.example"}], "phones": [{"value": "+79123456790"}],
                      "is_primary": true, "external_refs": [{"system": "1c", "id": "P-2"}]});
    let twin = app.post("/api/v1/contacts", &owner, twin).await.expect(201).clone();
    let deal = json!({"title": "Spring", "client_id": acme, "contact_id": twin["id"], "amount": "10.00"});
    let deal = app.post("/api/v1/deals", &owner, deal).await.expect(201).clone();
    let call = json!({"kind": "call", "subject": "Hi", "contact_id": twin["id"]});
    let call = app.post("/api/v1/activities", &owner, call).await.expect(201).clone();

    let path = format!("/api/v1/contacts/{}", id(&anna));
    let merged = app.post(&format!("{path}/merge"), &owner, json!({"from": [twin["id"]]})).await;
    let merged = merged.expect(200).clone();
    assert_eq!((merged["id"].clone(), merged["version"].clone()), (anna["id"].clone(), json!(2)));
    assert_eq!(
        (merged["last_name"].clone(), merged["position"].clone(), merged["is_primary"].clone()),
        (json!("Smirnova"), json!("Buyer"), json!(true))
    );
    let emails: Vec<Value> =
        merged["emails"].as_array().into_iter().flatten().map(|e| e["value"].clone()).collect();
    assert_eq!(emails, [json!("anna@acme.example"), json!("a.smirnova@acme.example")]);
    assert_eq!(merged["phones"][0]["value"], "+79123456790");
    assert_eq!(merged["external_refs"], json!([{"system": "1c", "id": "P-2"}]));

    // What pointed at the twin points at Anna, each with a new version.
    let deal = app.get(&format!("/api/v1/deals/{}", id(&deal)), &owner).await.expect(200).clone();
    assert_eq!((deal["contact_id"].clone(), deal["version"].clone()), (anna["id"].clone(), json!(2)));
    let call = app.get(&format!("/api/v1/activities/{}", id(&call)), &owner).await.expect(200).clone();
    assert_eq!(call["contact_id"], anna["id"]);
    let found = app.get("/api/v1/contacts?external_ref=1c:P-2", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], anna["id"]);

    // The twin is a tombstone that names Anna, and stays one.
    let twin_path = format!("/api/v1/contacts/{}", id(&twin));
    let gone = app.get(&twin_path, &owner).await;
    assert_eq!(gone.expect_problem(404, "not_found")["merged_into"], anna["id"]);
    app.post(&format!("{twin_path}/restore"), &owner, json!({})).await.expect_problem(409, "contact_merged");
    let history = app.get(&format!("{twin_path}/history"), &owner).await.expect(200).clone();
    assert_eq!(history["data"][0]["action"], "merged");

    // Only contacts of the same client merge; a rep who doesn't see them merges nothing.
    let beta = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Beta"})).await;
    let oleg = json!({"client_id": beta.expect(201)["id"], "first_name": "Oleg"});
    let oleg = app.post("/api/v1/contacts", &owner, oleg).await.expect(201).clone();
    let other = app.post(&format!("{path}/merge"), &owner, json!({"from": [oleg["id"]]})).await;
    assert_eq!(field_errors(other.expect(422)), [("from".to_string(), "wrong_client".to_string())]);
    let (_, rep) = app.user_seeing("sales", "own").await;
    let hidden =
        app.post(&format!("/api/v1/contacts/{}/merge", id(&oleg)), &rep, json!({"from": [anna["id"]]})).await;
    hidden.expect_problem(404, "not_found");
}
