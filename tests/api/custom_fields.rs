use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;

async fn define(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/v1/custom-fields", token, body).await.expect(201).clone()
}

#[actix_web::test]
async fn values_are_checked_on_every_write_and_named_by_key() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    define(&app, &owner, json!({"entity": "client", "key": "tier", "label": "Tier", "type": "enum", "options": ["gold", "silver"]})).await;
    define(&app, &owner, json!({"entity": "client", "key": "score", "label": "Score", "type": "number", "min": "0", "max": "100"})).await;
    define(
        &app,
        &owner,
        json!({"entity": "client", "key": "limit", "label": "Credit limit", "type": "decimal"}),
    )
    .await;
    define(&app, &owner, json!({"entity": "client", "key": "since", "label": "Since", "type": "date"})).await;
    define(&app, &owner, json!({"entity": "client", "key": "seen", "label": "Seen", "type": "datetime"}))
        .await;
    define(&app, &owner, json!({"entity": "client", "key": "vip", "label": "VIP", "type": "bool"})).await;
    define(&app, &owner, json!({"entity": "client", "key": "topics", "label": "Topics", "type": "multi_enum", "options": ["tea", "coffee"]})).await;
    define(
        &app,
        &owner,
        json!({"entity": "client", "key": "billing_email", "label": "Billing email", "type": "email"}),
    )
    .await;
    define(&app, &owner, json!({"entity": "client", "key": "fax", "label": "Fax", "type": "phone"})).await;
    define(&app, &owner, json!({"entity": "client", "key": "portal", "label": "Portal", "type": "url"}))
        .await;
    define(&app, &owner, json!({"entity": "client", "key": "code", "label": "Code", "type": "text", "pattern": "^[A-Z]{3}-\\d+$", "max_length": 10})).await;

    let bad = app
        .post(
            "/api/v1/clients",
            &owner,
            json!({"kind": "company", "name": "Acme", "custom": {
                "tier": "bronze", "score": 101, "limit": "12,5", "since": "2026-13-01", "seen": "yesterday",
                "vip": "yes", "topics": ["tea", "juice"], "billing_email": "not-an-email", "fax": "12",
                "portal": "ftp://x", "code": "abc-1", "unknown": 1
            }}),
        )
        .await;
    let problem = bad.expect_problem(422, "validation_failed");
    assert_eq!(
        field_errors(problem),
        [
            ("custom.billing_email", "email"),
            ("custom.code", "pattern"),
            ("custom.fax", "phone"),
            ("custom.limit", "decimal"),
            ("custom.portal", "url"),
            ("custom.score", "range"),
            ("custom.seen", "datetime"),
            ("custom.since", "date"),
            ("custom.tier", "option"),
            ("custom.topics", "option"),
            ("custom.unknown", "unknown_field"),
            ("custom.vip", "type"),
        ]
        .map(|(field, code)| (field.to_string(), code.to_string()))
    );

    let client = app
        .post(
            "/api/v1/clients",
            &owner,
            json!({"kind": "company", "name": "Acme", "custom": {
                "tier": "gold", "score": 42, "limit": "1500.50", "since": "2020-01-31", "seen": "2026-01-01T03:00:00+03:00",
                "vip": true, "topics": ["tea", "tea", "coffee"], "billing_email": "Bills@Acme.EXAMPLE", "fax": "+7 912 345-67-89",
                "portal": "https://acme.example/portal", "code": "ABC-1"
            }}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(
        client["custom"],
        json!({"tier": "gold", "score": 42, "limit": "1500.50", "since": "2020-01-31", "seen": "2026-01-01T00:00:00Z",
               "vip": true, "topics": ["tea", "coffee"], "billing_email": "bills@acme.example", "fax": "+79123456789",
               "portal": "https://acme.example/portal", "code": "ABC-1"})
    );

    // A partial update sets the keys sent and clears those sent as null; the rest stay.
    let path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    let updated = app
        .patch(&path, &owner, json!({"custom": {"tier": "silver", "code": null}}))
        .await
        .expect(200)
        .clone();
    assert_eq!(updated["custom"]["tier"], "silver");
    assert_eq!(updated["custom"]["score"], 42);
    assert!(updated["custom"].get("code").is_none());
    let wrong = app.patch(&path, &owner, json!({"custom": {"score": -1}})).await;
    assert_eq!(field_errors(wrong.expect(422)), [("custom.score".to_string(), "range".to_string())]);
}

#[actix_web::test]
async fn a_required_field_is_enforced_and_narrowing_is_refused_with_a_count() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let tier = define(&app, &owner, json!({"entity": "deal", "key": "channel", "label": "Channel", "type": "enum", "options": ["web", "shop", "phone"]})).await;
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let deal =
        |channel: Value| json!({"title": "Order", "client_id": client["id"], "custom": {"channel": channel}});
    app.post("/api/v1/deals", &owner, deal(json!("web"))).await.expect(201);
    app.post("/api/v1/deals", &owner, deal(json!("web"))).await.expect(201);
    let no_channel = app
        .post("/api/v1/deals", &owner, json!({"title": "Bare", "client_id": client["id"]}))
        .await
        .expect(201)
        .clone();

    let field_path = format!("/api/v1/custom-fields/{}", tier["id"].as_str().unwrap_or_default());
    // Removing an option two deals use, or making the field required while one deal lacks it: refused.
    let narrowed = app.patch(&field_path, &owner, json!({"options": ["shop", "phone"]})).await;
    assert_eq!(narrowed.expect_problem(409, "records_in_the_way")["record_count"], 2);
    let required = app.patch(&field_path, &owner, json!({"required": true})).await;
    assert_eq!(required.expect_problem(409, "records_in_the_way")["record_count"], 1);
    // A type, key or entity is fixed: an update has no such fields.
    let retyped = app.patch(&field_path, &owner, json!({"type": "text"})).await;
    assert_eq!(field_errors(retyped.expect(422)), [("type".to_string(), "unknown_field".to_string())]);

    let bare_path = format!("/api/v1/deals/{}", no_channel["id"].as_str().unwrap_or_default());
    app.patch(&bare_path, &owner, json!({"custom": {"channel": "phone"}})).await.expect(200);
    let made_required = app
        .patch(&field_path, &owner, json!({"required": true, "options": ["web", "shop", "phone", "email"]}))
        .await;
    assert_eq!(made_required.expect(200)["required"], true);

    let missing =
        app.post("/api/v1/deals", &owner, json!({"title": "No channel", "client_id": client["id"]})).await;
    assert_eq!(field_errors(missing.expect(422)), [("custom.channel".to_string(), "required".to_string())]);
    let cleared = app.patch(&bare_path, &owner, json!({"custom": {"channel": null}})).await;
    assert_eq!(field_errors(cleared.expect(422)), [("custom.channel".to_string(), "required".to_string())]);

    // Deleting the definition deletes its values.
    app.request(Method::DELETE, &field_path, Some(&owner), None).await.expect(204);
    let after = app.get(&bare_path, &owner).await.expect(200).clone();
    assert_eq!(after["custom"], json!({}));
}

#[actix_web::test]
async fn definitions_are_checked_unique_per_entity_and_admin_only() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let bad = app
        .post(
            "/api/v1/custom-fields",
            &owner,
            json!({"entity": "contact", "key": "Bad Key", "label": "", "type": "text", "options": ["x"], "min": "1", "pattern": "("}),
        )
        .await;
    let mut found: Vec<String> = field_errors(bad.expect(422)).into_iter().map(|(field, _)| field).collect();
    found.sort();
    assert_eq!(found, ["key", "label", "min", "options", "pattern"]);
    // Bounds are decimals as the document's pattern writes them: what rust_decimal would also read
    // (`1_000`, `+5`, ` 5`) is refused, not guessed at.
    for bound in ["1_000", "+5", " 5", "1e3", ""] {
        let body =
            json!({"entity": "client", "key": "level", "label": "Level", "type": "number", "min": bound});
        let refused = app.post("/api/v1/custom-fields", &owner, body).await;
        let fields: Vec<String> =
            field_errors(refused.expect(422)).into_iter().map(|(field, _)| field).collect();
        assert_eq!(fields, ["min"], "{bound:?}");
    }

    let body = json!({"entity": "contact", "key": "birthday", "label": "Birthday", "type": "date"});
    define(&app, &owner, body.clone()).await;
    app.post("/api/v1/custom-fields", &owner, body.clone()).await.expect_problem(409, "key_taken");
    // The same key on another entity is another field.
    define(
        &app,
        &owner,
        json!({"entity": "activity", "key": "birthday", "label": "Birthday", "type": "date"}),
    )
    .await;
    let listed = app.get("/api/v1/custom-fields?entity=contact", &owner).await.expect(200).clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));

    let (_, manager) = app.user_with_role("manager").await;
    let refused = app
        .post(
            "/api/v1/custom-fields",
            &manager,
            json!({"entity": "deal", "key": "x", "label": "X", "type": "text"}),
        )
        .await;
    refused.expect_problem(403, "forbidden");
    // Everyone reads the definitions, to build their forms.
    app.get("/api/v1/custom-fields", &manager).await.expect(200);

    // Contacts and activities carry values too.
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let contact = app
        .post(
            "/api/v1/contacts",
            &owner,
            json!({"client_id": client["id"], "first_name": "Ann", "custom": {"birthday": "1990-02-03"}}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(contact["custom"]["birthday"], "1990-02-03");
    let activity = app
        .post("/api/v1/activities", &owner, json!({"kind": "task", "subject": "Card", "client_id": client["id"], "custom": {"birthday": "x"}}))
        .await;
    assert_eq!(field_errors(activity.expect(422)), [("custom.birthday".to_string(), "date".to_string())]);
}

/// Forms and filters list every field of an entity: an entity holds at most 100, and the 101st is
/// a conflict naming the limit, while other entities still take theirs.
#[actix_web::test]
async fn an_entity_holds_at_most_a_hundred_fields() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let field = |entity: &str, n: usize| json!({"entity": entity, "key": format!("field_{n}"), "label": format!("Field {n}"), "type": "text"});
    for n in 0..100 {
        define(&app, &owner, field("deal", n)).await;
    }
    let refused = app.post("/api/v1/custom-fields", &owner, field("deal", 100)).await;
    refused.expect_problem(409, "too_many_fields");
    define(&app, &owner, field("client", 100)).await;
}
