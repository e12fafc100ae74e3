//! Ids of another workspace's records in request bodies: each is unknown here, named in a 422,
//! and the record the request would have changed stays as it was.

use serde_json::{Value, json};

use crate::support::TestApp;

/// The field each error of a validation problem names.
fn fields(problem: &Value) -> Vec<String> {
    crate::support::http::field_errors(problem).into_iter().map(|(field, _)| field).collect()
}

#[actix_web::test]
async fn another_workspaces_ids_in_a_body_are_unknown() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let rival = app.rival_token().await;

    // Theirs: a client with a contact and a deal, a product, a pipeline's stage, a team, a user.
    let post = |path: &'static str, token: &str, body: Value| {
        let token = token.to_string();
        let app = &app;
        async move { app.post(path, &token, body).await.expect(201).clone() }
    };
    let their_client = post("/api/v1/clients", &rival, json!({"kind": "company", "name": "Theirs"})).await;
    let their_contact =
        post("/api/v1/contacts", &rival, json!({"client_id": their_client["id"], "first_name": "Them"}))
            .await;
    let their_deal =
        post("/api/v1/deals", &rival, json!({"title": "Theirs", "client_id": their_client["id"]})).await;
    let their_product = post(
        "/api/v1/products",
        &rival,
        json!({"sku": "T", "name": "Their tea", "price": "1", "currency": "USD"}),
    )
    .await;
    let their_team = post("/api/v1/teams", &rival, json!({"name": "Their team"})).await;
    let their_user = app.get("/api/v1/me", &rival).await.expect(200)["user"].clone();
    let their_pipeline = app.get("/api/v1/pipelines", &rival).await.expect(200)["data"][0].clone();
    let their_stage = their_pipeline["stages"][0]["id"].clone();
    for id in [
        &their_client["id"],
        &their_contact["id"],
        &their_deal["id"],
        &their_product["id"],
        &their_team["id"],
        &their_user["id"],
        &their_pipeline["id"],
        &their_stage,
    ] {
        assert!(uuid::Uuid::parse_str(id.as_str().unwrap_or_default()).is_ok(), "a real id of theirs: {id}");
    }

    // Ours, to attach them to.
    let client = post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Ours"})).await;
    let deal = post("/api/v1/deals", &owner, json!({"title": "Ours", "client_id": client["id"]})).await;
    let activity = post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "task", "subject": "Ours", "client_id": client["id"]}),
    )
    .await;
    let deal_path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap_or_default());
    let activity_path = format!("/api/v1/activities/{}", activity["id"].as_str().unwrap_or_default());
    let client_path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    let deal_before = app.get(&deal_path, &owner).await.expect(200).clone();
    let activity_before = app.get(&activity_path, &owner).await.expect(200).clone();
    let client_before = app.get(&client_path, &owner).await.expect(200).clone();

    let deal_cases = [
        (json!({"contact_id": their_contact["id"]}), "contact_id"),
        (json!({"stage_id": their_stage}), "stage_id"),
        (json!({"pipeline_id": their_pipeline["id"]}), "pipeline_id"),
        (json!({"owner_id": their_user["id"]}), "owner_id"),
        (json!({"team_id": their_team["id"]}), "team_id"),
        (json!({"items": [{"product_id": their_product["id"], "quantity": "1"}]}), "items[0].product_id"),
    ];
    for (fields_of_theirs, field) in deal_cases {
        let mut create = json!({"title": "X", "client_id": client["id"]});
        for (key, value) in fields_of_theirs.as_object().into_iter().flatten() {
            create[key] = value.clone();
        }
        let created = app.post("/api/v1/deals", &owner, create).await;
        assert_eq!(created.status, 422, "POST {field}: {}", created.body);
        assert_eq!(fields(created.expect_problem(422, "validation_failed")), [field], "POST {field}");
        let patched = app.patch(&deal_path, &owner, fields_of_theirs).await;
        assert_eq!(fields(patched.expect_problem(422, "validation_failed")), [field], "PATCH {field}");
    }
    app.assert_unchanged(&deal_path, &owner, &deal_before).await;

    let activity_cases = [
        (json!({"client_id": their_client["id"]}), "client_id"),
        (json!({"contact_id": their_contact["id"]}), "contact_id"),
        (json!({"deal_id": their_deal["id"]}), "deal_id"),
        (json!({"assignee_id": their_user["id"]}), "assignee_id"),
    ];
    for (fields_of_theirs, field) in activity_cases {
        let mut create = json!({"kind": "call", "subject": "X"});
        for (key, value) in fields_of_theirs.as_object().into_iter().flatten() {
            create[key] = value.clone();
        }
        let created = app.post("/api/v1/activities", &owner, create).await;
        assert_eq!(fields(created.expect_problem(422, "validation_failed")), [field], "POST {field}");
        let patched = app.patch(&activity_path, &owner, fields_of_theirs).await;
        assert_eq!(fields(patched.expect_problem(422, "validation_failed")), [field], "PATCH {field}");
    }
    app.assert_unchanged(&activity_path, &owner, &activity_before).await;

    for (fields_of_theirs, field) in [
        (json!({"owner_id": their_user["id"]}), "owner_id"),
        (json!({"team_id": their_team["id"]}), "team_id"),
    ] {
        let patched = app.patch(&client_path, &owner, fields_of_theirs).await;
        assert_eq!(fields(patched.expect_problem(422, "validation_failed")), [field], "PATCH {field}");
    }
    app.assert_unchanged(&client_path, &owner, &client_before).await;

    // Nothing was created on either side.
    for (path, token, expected) in [
        ("/api/v1/deals", &owner, 1),
        ("/api/v1/activities", &owner, 1),
        ("/api/v1/deals", &rival, 1),
        ("/api/v1/activities", &rival, 0),
    ] {
        assert_eq!(
            app.get(path, token).await.expect(200)["data"].as_array().map(Vec::len),
            Some(expected),
            "{path}"
        );
    }
}
