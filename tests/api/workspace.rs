use actix_web::http::Method;
use serde_json::json;

use crate::support::TestApp;

#[actix_web::test]
async fn owners_set_the_phone_region_that_reads_local_numbers() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let workspace = app.get("/api/v1/workspace", &owner).await.expect(200).clone();
    assert_eq!(workspace["default_phone_region"], "US");

    // A Russian number written the local way is not a US number...
    let local = json!({"kind": "person", "first_name": "Local", "phones": [{"value": "8 (912) 345-67-89"}]});
    app.post("/api/v1/clients", &owner, local.clone()).await.expect_problem(422, "validation_failed");

    let updated = app
        .patch("/api/v1/workspace", &owner, json!({"default_phone_region": "RU", "timezone": "Europe/Moscow", "default_currency": "RUB", "name": "ООО Ромашка"}))
        .await;
    let updated = updated.expect(200).clone();
    assert_eq!(updated["default_phone_region"], "RU");
    assert_eq!(updated["timezone"], "Europe/Moscow");
    assert_eq!(updated["version"], 2);

    // ...but is one of the workspace's region once it is set.
    let client = app.post("/api/v1/clients", &owner, local).await.expect(201).clone();
    assert_eq!(client["phones"][0]["value"], "+79123456789");
    let found = app.get("/api/v1/clients?phone=8%20912%20345%2067%2089", &owner).await.expect(200).clone();
    assert_eq!(found["data"][0]["id"], client["id"]);
}

#[actix_web::test]
async fn workspace_settings_are_checked_and_guarded() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for (body, field) in [
        (json!({"default_phone_region": "XX"}), "default_phone_region"),
        (json!({"timezone": "Mars/Olympus"}), "timezone"),
        (json!({"default_currency": "euro"}), "default_currency"),
        // Three capitals are not yet a currency: reports convert to it.
        (json!({"default_currency": "XYZ"}), "default_currency"),
        (json!({"name": ""}), "name"),
        (json!({"name": null}), "name"),
    ] {
        let response = app.patch("/api/v1/workspace", &owner, body).await;
        assert_eq!(response.expect_problem(422, "validation_failed")["errors"][0]["field"], field);
    }
    let (_, manager) = app.user_with_role("manager").await;
    app.get("/api/v1/workspace", &manager).await.expect(200);
    app.patch("/api/v1/workspace", &manager, json!({"name": "Mine"})).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, "/api/v1/workspace", Some(&owner), None)
        .await
        .expect_problem(405, "method_not_allowed");
}
