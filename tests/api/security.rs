//! What keeps the client base in the company: read budgets, the deletion limit as a setting,
//! security events in the audit trail, and a trail the database itself keeps append-only.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;
use crate::support::http::id_of as id;

/// The `action`s of a page of audit events, newest first.
fn actions(page: &Value) -> Vec<String> {
    crate::support::paging::texts(page, "action")
}

#[actix_web::test]
async fn a_read_budget_counts_distinct_clients_a_day_and_refuses_a_page_past_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (rep, token) = app.user_with_role("sales").await;
    for n in 0..5 {
        app.post("/api/v1/clients", &token, json!({"kind": "company", "name": format!("Client {n}")}))
            .await
            .expect(201);
    }
    let budget = json!({"limits": {"read_budget": {"sales": 3}}});
    let settings = app.patch("/api/v1/workspace", &owner, budget).await.expect(200).clone();
    assert_eq!(
        settings["limits"]["read_budget"],
        json!({"admin": null, "manager": 20000, "sales": 3, "viewer": 2000})
    );

    // Two clients read, then the same two again: reading a client again the same day is free.
    app.get("/api/v1/clients?limit=2&sort=created_at", &token).await.expect(200);
    app.get("/api/v1/clients?limit=2&sort=created_at", &token).await.expect(200);
    // Five would make five distinct clients: the page is refused whole, until the next day.
    let refused = app.get("/api/v1/clients?limit=5&sort=created_at", &token).await;
    refused.expect_problem(429, "read_budget_exceeded");
    let wait: u64 = refused.header("retry-after").and_then(|value| value.parse().ok()).unwrap_or_default();
    assert!((1..=25 * 3600).contains(&wait), "the next day starts within a day: {wait}");
    // Three fit (two already read and one new); a fourth doesn't, through any list.
    app.get("/api/v1/clients?limit=3&sort=created_at", &token).await.expect(200);
    let search = json!({"sort": "-created_at", "limit": 1});
    app.post("/api/v1/clients/search", &token, search).await.expect_problem(429, "read_budget_exceeded");
    // A single card doesn't count, and the owner reads without limit.
    let page = app.get("/api/v1/clients?limit=5", &owner).await.expect(200).clone();
    let newest = format!("/api/v1/clients/{}", id(&page["data"][0]));
    app.get(&newest, &token).await.expect(200);

    // The first refusal of the day is one alert about the rep, however many follow.
    let alerts = app.get("/api/v1/security/alerts", &owner).await.expect(200).clone();
    assert_eq!(actions(&alerts), ["read_budget_exceeded"]);
    assert_eq!(alerts["data"][0]["entity_id"], rep["id"]);
    assert_eq!(alerts["data"][0]["changes"]["budget"]["to"], 3);

    // Lifting the role's limit lets the rep read on.
    let lifted = json!({"limits": {"read_budget": {"sales": null}}});
    app.patch("/api/v1/workspace", &owner, lifted).await.expect(200);
    app.get("/api/v1/clients?limit=5", &token).await.expect(200);
}

#[actix_web::test]
async fn an_export_past_the_read_budget_is_refused_before_its_first_row() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for n in 0..4 {
        app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": format!("Client {n}")}))
            .await
            .expect(201);
    }
    let (_, manager) = app.user_seeing("manager", "all").await;
    let budget = json!({"limits": {"read_budget": {"manager": 3}}});
    app.patch("/api/v1/workspace", &owner, budget).await.expect(200);
    let segment = json!({"name": "Everyone", "kind": "dynamic", "filter": {"field": "kind", "op": "eq", "value": "company"}});
    let segment = app.post("/api/v1/segments", &owner, segment).await.expect(201).clone();
    let export = format!("/api/v1/segments/{}/export", id(&segment));
    app.get(&export, &manager).await.expect_problem(429, "read_budget_exceeded");
    let exports = app.get(&format!("/api/v1/segments/{}/exports", id(&segment)), &owner).await;
    assert_eq!(exports.expect(200)["data"], json!([]), "nothing was exported");

    // With room for every member, the export runs, counts its rows against the budget and is a
    // security event.
    let budget = json!({"limits": {"read_budget": {"manager": 4}}});
    app.patch("/api/v1/workspace", &owner, budget).await.expect(200);
    let response = app.request(Method::GET, &export, Some(&manager), None).await;
    assert_eq!(response.status, 200);
    app.get("/api/v1/clients?limit=1", &manager).await.expect(200);
    let trail = app.get("/api/v1/audit?entity=security&action=exported", &owner).await.expect(200).clone();
    assert_eq!(trail["data"][0]["changes"]["segment_name"]["to"], "Everyone");
    let used = app.sql_i64("SELECT used::bigint AS value FROM read_budget_usage").await;
    assert_eq!(used, 4);
}

#[actix_web::test]
async fn limits_are_workspace_settings_with_bounds() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let settings = app.get("/api/v1/workspace", &owner).await.expect(200).clone();
    assert_eq!(settings["limits"]["max_deletions_per_hour"], 50);
    for (limits, field) in [
        (json!({"max_deletions_per_hour": 0}), "limits.max_deletions_per_hour"),
        (json!({"read_budget": {"sales": 0}}), "limits.read_budget.sales"),
        (json!({"read_budget": {"viewer": 100_000_001}}), "limits.read_budget.viewer"),
    ] {
        let refused = app.patch("/api/v1/workspace", &owner, json!({"limits": limits})).await;
        let problem = refused.expect_problem(422, "validation_failed");
        assert_eq!(field_errors(problem), [(field.to_string(), "range".to_string())]);
    }
    let (_, admin) = app.user_with_role("admin").await;
    let (_, manager) = app.user_with_role("manager").await;
    let lower = json!({"limits": {"max_deletions_per_hour": 2}});
    app.patch("/api/v1/workspace", &manager, lower.clone()).await.expect_problem(403, "forbidden");
    app.patch("/api/v1/workspace", &admin, lower).await.expect(200);

    // The lower limit applies at once: the manager's third deletion within the hour is refused.
    let mut paths = Vec::new();
    for n in 0..3 {
        let client = json!({"kind": "company", "name": format!("Doomed {n}")});
        let client = app.post("/api/v1/clients", &manager, client).await.expect(201).clone();
        paths.push(format!("/api/v1/clients/{}", id(&client)));
    }
    app.request(Method::DELETE, &paths[0], Some(&manager), None).await.expect(204);
    app.request(Method::DELETE, &paths[1], Some(&manager), None).await.expect(204);
    let refused = app.request(Method::DELETE, &paths[2], Some(&manager), None).await;
    refused.expect_problem(429, "too_many_deletions");
    let alerts = app.get("/api/v1/security/alerts", &owner).await.expect(200).clone();
    assert_eq!(alerts["data"][0]["changes"]["limit"]["to"], 2);

    // Changing who sees and reads how much is a security event, from and to.
    let trail = app.get("/api/v1/audit?entity=security&action=access_settings_changed", &owner).await;
    let change = &trail.expect(200)["data"][0];
    assert_eq!(change["changes"]["limits"]["from"]["max_deletions_per_hour"], 50);
    assert_eq!(change["changes"]["limits"]["to"]["max_deletions_per_hour"], 2);
}

#[actix_web::test]
async fn logins_failed_logins_token_reuse_and_role_changes_are_security_events() {
    let app = TestApp::spawn().await;
    let owner_session = app.owner_session().await;
    let owner = crate::support::http::access_token(&owner_session);
    let body = json!({"email": "rita@example.com", "full_name": "Rita", "role": "sales", "password": "a-user-password"});
    let rita = app.post("/api/v1/users", &owner, body).await.expect(201).clone();
    app.login_as("rita@example.com", "not her password").await.expect_problem(401, "unauthorized");
    let session = app.login_as("rita@example.com", "a-user-password").await.expect(200).clone();
    let spent = session["refresh_token"].clone();
    app.refresh(&spent).await.expect(200);
    app.refresh(&spent).await.expect_problem(401, "unauthorized");
    let path = format!("/api/v1/users/{}", id(&rita));
    app.patch(&path, &owner, json!({"role": "manager", "visibility": "all"})).await.expect(200);

    let trail = app.get(&format!("/api/v1/audit?entity=security&entity_id={}", id(&rita)), &owner).await;
    let trail = trail.expect(200).clone();
    let mut seen = actions(&trail);
    seen.sort();
    assert_eq!(seen, ["login", "login_failed", "refresh_token_reused", "role_changed", "visibility_changed"]);
    let event = |action: &str| {
        trail["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["action"] == action)
            .cloned()
            .unwrap_or_default()
    };
    // A failed login has no actor: whoever tried is not known, only from where.
    assert_eq!(event("login_failed")["actor_id"], Value::Null);
    assert!(event("login_failed")["changes"]["address"]["to"].is_string());
    assert_eq!(event("login")["actor_id"], rita["id"]);
    assert_eq!(event("role_changed")["changes"]["role"], json!({"from": "sales", "to": "manager"}));
    assert_eq!(event("role_changed")["actor_id"], owner_session["user_id"]);
    // A stolen session is an alert; logins are not.
    let alerts = app.get("/api/v1/security/alerts", &owner).await.expect(200).clone();
    assert_eq!(actions(&alerts), ["refresh_token_reused"]);
}

#[actix_web::test]
async fn the_database_refuses_to_edit_or_remove_an_audit_event() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Kept"})).await.expect(201);
    let before = app.sql_i64("SELECT count(*) AS value FROM change_events").await;
    assert!(before > 0);
    for statement in
        ["UPDATE change_events SET action = 'nothing'", "DELETE FROM change_events", "TRUNCATE change_events"]
    {
        let outcome = app
            .on_database(move |conn| diesel::RunQueryDsl::execute(diesel::sql_query(statement), conn))
            .await;
        let error = outcome.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM change_events").await, before);
}

#[actix_web::test]
async fn a_role_that_sees_personal_data_masked_gets_it_masked_on_every_path_and_lookups_still_work() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let person = json!({
        "kind": "person", "first_name": "Ivan", "last_name": "Petrov", "birth_date": "1980-05-17",
        "tax_id": "500100732259", "notes": "Calls after six",
        "emails": [{"value": "ivan.petrov@example.com"}], "phones": [{"value": "+79123456789"}],
        "address": {"country": "RU", "city": "Kazan", "street": "ul. Baumana, 1", "postal_code": "420111"}
    });
    let person = app.post("/api/v1/clients", &owner, person).await.expect(201).clone();
    let path = format!("/api/v1/clients/{}", id(&person));
    app.patch(&path, &owner, json!({"phones": [{"value": "+79123456700"}]})).await.expect(200);
    let company = json!({"kind": "company", "name": "Romashka LLC", "tax_id": "7701234567"});
    app.post("/api/v1/clients", &owner, company).await.expect(201);
    let contact =
        json!({"client_id": person["id"], "first_name": "Anna", "emails": [{"value": "anna@example.com"}]});
    app.post("/api/v1/contacts", &owner, contact).await.expect(201);

    // A viewer sees personal data masked by default, and is told so.
    let (_, viewer) = app.user_seeing("viewer", "all").await;
    let card = app.get(&path, &viewer).await;
    assert_eq!(card.header("x-personal-data"), Some("masked"));
    let card = card.expect(200).clone();
    assert_eq!(card["display_name"], "P***");
    assert_eq!(card["first_name"], "I***");
    assert_eq!(card["emails"][0]["value"], "i***@example.com");
    assert_eq!(card["phones"][0]["value"], "+7912*****00");
    assert_eq!(card["address"]["street"], "u***");
    assert_eq!(card["address"]["city"], "Kazan");
    assert_eq!(card["birth_date"], Value::Null);
    assert_eq!(card["tax_id"], "5***");
    assert_eq!(card["notes"], "C***");
    assert_eq!(card["id"], person["id"]);

    // A telephony lookup by the full number still finds the client, masked; a company's name is
    // no personal data.
    let found = app.get("/api/v1/clients?phone=%2B79123456700", &viewer).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], person["id"]);
    assert_eq!(found["data"][0]["phones"][0]["value"], "+7912*****00");
    let companies = app.get("/api/v1/clients?kind=company", &viewer).await.expect(200).clone();
    assert_eq!(companies["data"][0]["display_name"], "Romashka LLC");
    assert_eq!(companies["data"][0]["tax_id"], "7701234567");
    // Contacts, the history's changes and the timeline are masked too.
    let contacts = app.get(&format!("{path}/contacts"), &viewer).await.expect(200).clone();
    assert_eq!(contacts["data"][0]["first_name"], "A***");
    assert_eq!(contacts["data"][0]["emails"][0]["value"], "a***@example.com");
    let history = app.get(&format!("{path}/history"), &viewer).await.expect(200).clone();
    assert_eq!(history["data"][0]["changes"]["phones"]["to"][0]["value"], "+7912*****00");
    let timeline = app.get(&format!("{path}/timeline"), &viewer).await.expect(200).clone();
    let text = timeline.to_string();
    assert!(!text.contains("Anna") && !text.contains("79123456"), "{text}");

    // A sales rep sees it in full by default; the owner decides otherwise for the role.
    let (_, rep) = app.user_seeing("sales", "all").await;
    let full = app.get(&path, &rep).await;
    assert_eq!(full.header("x-personal-data"), None);
    assert_eq!(full.expect(200)["emails"][0]["value"], "ivan.petrov@example.com");
    let masked_sales = json!({"personal_data": {"sales": "masked"}});
    let settings = app.patch("/api/v1/workspace", &owner, masked_sales).await.expect(200).clone();
    assert_eq!(
        settings["personal_data"],
        json!({"admin": "full", "manager": "full", "sales": "masked", "viewer": "masked"})
    );
    assert_eq!(app.get(&path, &rep).await.expect(200)["emails"][0]["value"], "i***@example.com");
    // The owner always sees it in full.
    assert_eq!(app.get(&path, &owner).await.expect(200)["emails"][0]["value"], "ivan.petrov@example.com");

    // A masked manager's export is masked the same way.
    let masked_managers = json!({"personal_data": {"manager": "masked"}});
    app.patch("/api/v1/workspace", &owner, masked_managers).await.expect(200);
    let (_, manager) = app.user_seeing("manager", "all").await;
    let segment = json!({"name": "People", "kind": "dynamic", "filter": {"field": "kind", "op": "eq", "value": "person"}});
    let segment = app.post("/api/v1/segments", &owner, segment).await.expect(201).clone();
    let export = format!("/api/v1/segments/{}/export", id(&segment));
    let csv = app.get(&export, &manager).await.expect(200).as_str().unwrap_or_default().to_string();
    assert!(csv.contains("i***@example.com") && csv.contains("+7912*****00"), "{csv}");
    assert!(!csv.contains("Petrov") && !csv.contains("ivan.petrov"), "{csv}");
}

/// The budget is counted in the database, in one statement per request, so that it holds however
/// many requests (on however many processes) read at once: twenty concurrent lookups of twenty
/// different clients against a budget of ten let exactly ten through.
#[actix_web::test]
async fn concurrent_reads_count_each_client_once_and_stop_exactly_at_the_budget() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (_, rep) = app.user_seeing("sales", "all").await;
    for n in 0..20 {
        let client = json!({"kind": "company", "name": format!("Client {n}"), "emails": [{"value": format!("office{n}@example.com")}]});
        app.post("/api/v1/clients", &owner, client).await.expect(201);
    }
    app.patch("/api/v1/workspace", &owner, json!({"limits": {"read_budget": {"sales": 10}}}))
        .await
        .expect(200);
    let lookups = (0..20).map(|n| {
        let (app, rep) = (&app, rep.clone());
        async move { app.get(&format!("/api/v1/clients?email=office{n}@example.com"), &rep).await.status }
    });
    let statuses = futures_util::future::join_all(lookups).await;
    let served = statuses.iter().filter(|status| **status == 200).count();
    let refused = statuses.iter().filter(|status| **status == 429).count();
    assert_eq!((served, refused), (10, 10), "{statuses:?}");
    assert_eq!(app.sql_i64("SELECT used::bigint AS value FROM read_budget_usage").await, 10);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM client_reads").await, 10);
}
