//! `/targets`: sales plans, set by managers for whom they see, read by whom they are for.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{field_errors, id_of as id};

#[actix_web::test]
async fn a_target_is_set_read_changed_and_deleted_and_each_change_is_in_the_feed() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let created = app
        .post("/api/v1/targets", &owner, json!({"period": "2026-Q1", "revenue": "1000", "deals": 3}))
        .await;
    assert_eq!(created.header("etag"), Some("\"1\""));
    let target = created.expect(201).clone();
    assert_eq!(created.header("location"), Some(format!("/api/v1/targets/{}", id(&target)).as_str()));
    let path = format!("/api/v1/targets/{}", id(&target));
    assert_eq!(
        [&target["subject"], &target["user_id"], &target["team_id"], &target["period"], &target["interval"]],
        [&json!("workspace"), &Value::Null, &Value::Null, &json!("2026-Q1"), &json!("quarter")]
    );
    assert_eq!(
        [&target["starts_on"], &target["ends_on"], &target["revenue"], &target["deals"]],
        [&json!("2026-01-01"), &json!("2026-03-31"), &json!("1000.00"), &json!(3)]
    );
    assert_eq!(app.get(&path, &owner).await.expect(200), &target);

    // One per whom and period; a month of the same quarter is another period.
    let again = app.post("/api/v1/targets", &owner, json!({"period": "2026-Q1", "deals": 9})).await;
    again.expect_problem(409, "target_taken");
    app.post("/api/v1/targets", &owner, json!({"period": "2026-01", "deals": 1})).await.expect(201);

    // A partial update; null clears a figure while the other stays, never both.
    let changed = app.patch(&path, &owner, json!({"revenue": "1200.50", "deals": null})).await;
    let changed = changed.expect(200).clone();
    assert_eq!(
        [&changed["revenue"], &changed["deals"], &changed["version"]],
        [&json!("1200.50"), &Value::Null, &json!(2)]
    );
    let emptied = app.patch(&path, &owner, json!({"revenue": null})).await;
    assert_eq!(
        field_errors(emptied.expect_problem(422, "validation_failed")),
        [("revenue".into(), "required".into())]
    );
    let stale = app.request_if_match(Method::PATCH, &path, &owner, 1, Some(&json!({"deals": 4}))).await;
    stale.expect_problem(412, "version_mismatch");
    app.assert_unchanged(&path, &owner, &changed).await;

    app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
    app.get(&path, &owner).await.expect_problem(404, "not_found");
    let tombstones = app.get("/api/v1/targets/deleted", &owner).await.expect(200).clone();
    assert_eq!(tombstones["data"][0]["id"], target["id"], "{tombstones}");

    let feed = app.get("/api/v1/changes?entities=targets", &owner).await.expect(200).clone();
    let changes: Vec<_> = feed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|change| change["record_id"] == target["id"])
        .map(|change| (change["action"].clone(), change["version"].clone()))
        .collect();
    assert_eq!(
        changes,
        [(json!("created"), json!(1)), (json!("updated"), json!(2)), (json!("deleted"), json!(3))]
    );
    assert_eq!(feed["data"][0]["record"]["period"], "2026-Q1", "{feed}");
}

#[actix_web::test]
async fn a_bad_target_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (rep, _) = app.user_with_role("sales").await;
    let teams = app.post("/api/v1/teams", &owner, json!({"name": "North"})).await.expect(201).clone();
    for (body, field, code) in [
        (json!({"period": "2026-13", "revenue": "1"}), "period", "invalid"),
        (json!({"period": "2026-Q5", "revenue": "1"}), "period", "invalid"),
        (json!({"period": "0999-01", "revenue": "1"}), "period", "invalid"),
        (json!({"period": "2026-01"}), "revenue", "required"),
        (json!({"period": "2026-01", "revenue": "10.005"}), "revenue", "scale"),
        (json!({"period": "2026-01", "revenue": "-1"}), "revenue", "range"),
        (json!({"period": "2026-01", "revenue": "1000000000000000"}), "revenue", "too_large"),
        (json!({"period": "2026-01", "deals": -1}), "deals", "range"),
        (json!({"period": "2026-01", "deals": 3_000_000_000_i64}), "deals", "invalid"),
        (
            json!({"period": "2026-01", "deals": 1, "user_id": rep["id"], "team_id": teams["id"]}),
            "team_id",
            "invalid",
        ),
        (
            json!({"period": "2026-01", "deals": 1, "user_id": "0193a1b2-0000-7000-8000-000000000000"}),
            "user_id",
            "not_found",
        ),
        (
            json!({"period": "2026-01", "deals": 1, "team_id": "0193a1b2-0000-7000-8000-000000000000"}),
            "team_id",
            "not_found",
        ),
    ] {
        let refused = app.post("/api/v1/targets", &owner, body.clone()).await;
        assert_eq!(
            field_errors(refused.expect_problem(422, "validation_failed")),
            [(field.to_string(), code.to_string())],
            "{body}"
        );
    }
    let listed = app.get("/api/v1/targets", &owner).await.expect(200).clone();
    assert_eq!(listed["data"], json!([]));
}

#[actix_web::test]
async fn a_manager_plans_their_team_and_a_rep_reads_only_their_own_plans() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let north = app.post("/api/v1/teams", &owner, json!({"name": "North"})).await.expect(201).clone();
    let (manager, manager_token) = app.user_seeing("manager", "team").await;
    let (rep, rep_token) = app.user_seeing("sales", "own").await;
    let (stranger, _) = app.user_with_role("sales").await;
    for user in [&manager, &rep] {
        let path = format!("/api/v1/users/{}", id(user));
        app.patch(&path, &owner, json!({"team_id": north["id"]})).await.expect(200);
    }
    let target = |subject: Value| {
        let mut body = json!({"period": "2026-02", "revenue": "500"});
        if let (Some(body), Some(subject)) = (body.as_object_mut(), subject.as_object()) {
            body.extend(subject.clone());
        }
        body
    };
    let rep_target = app.post("/api/v1/targets", &manager_token, target(json!({"user_id": rep["id"]}))).await;
    let rep_target = rep_target.expect(201).clone();
    let team_target =
        app.post("/api/v1/targets", &manager_token, target(json!({"team_id": north["id"]}))).await;
    let team_target = team_target.expect(201).clone();
    // Someone outside the team is unknown to the manager, and the workspace's plan is not theirs.
    let outside =
        app.post("/api/v1/targets", &manager_token, target(json!({"user_id": stranger["id"]}))).await;
    assert_eq!(
        field_errors(outside.expect_problem(422, "validation_failed")),
        [("user_id".into(), "not_found".into())]
    );
    app.post("/api/v1/targets", &manager_token, target(json!({}))).await.expect_problem(403, "forbidden");
    let company = app.post("/api/v1/targets", &owner, target(json!({}))).await.expect(201).clone();
    let strangers = app.post("/api/v1/targets", &owner, target(json!({"user_id": stranger["id"]}))).await;
    let strangers = strangers.expect(201).clone();

    // A rep sets no plans, and reads their own and their team's.
    app.post("/api/v1/targets", &rep_token, target(json!({"user_id": rep["id"]})))
        .await
        .expect_problem(403, "forbidden");
    let ids = |page: &Value| -> Vec<Value> {
        page["data"].as_array().into_iter().flatten().map(|target| target["id"].clone()).collect()
    };
    let reps = app.get("/api/v1/targets", &rep_token).await.expect(200).clone();
    assert_eq!(ids(&reps), [rep_target["id"].clone(), team_target["id"].clone()]);
    app.get(&format!("/api/v1/targets/{}", id(&company)), &rep_token).await.expect_problem(404, "not_found");
    let managers = app.get("/api/v1/targets", &manager_token).await.expect(200).clone();
    assert_eq!(ids(&managers), [rep_target["id"].clone(), team_target["id"].clone()]);
    let path = format!("/api/v1/targets/{}", id(&strangers));
    app.patch(&path, &manager_token, json!({"revenue": "1"})).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path, &owner, &strangers).await;
    let everyone = app.get("/api/v1/targets?from=2026-02-01&to=2026-02-01", &owner).await.expect(200).clone();
    assert_eq!(ids(&everyone).len(), 4);
    let filtered =
        app.get(&format!("/api/v1/targets?user_id={}", id(&rep)), &owner).await.expect(200).clone();
    assert_eq!(ids(&filtered), [rep_target["id"].clone()]);

    // Another workspace sees none of them.
    let rival = app.rival_token().await;
    assert_eq!(app.get("/api/v1/targets", &rival).await.expect(200)["data"], json!([]));
    let path = format!("/api/v1/targets/{}", id(&company));
    app.get(&path, &rival).await.expect_problem(404, "not_found");
}
