use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

fn stage_names(pipeline: &Value) -> Vec<String> {
    pipeline["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect()
}

fn stage_id(pipeline: &Value, name: &str) -> String {
    pipeline["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|stage| stage["name"] == name)
        .and_then(|stage| stage["id"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[actix_web::test]
async fn a_workspace_starts_with_the_default_sales_pipeline() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let default = &pipelines["data"][0];
    assert_eq!(default["is_default"], true);
    assert_eq!(stage_names(default), ["New", "Qualified", "Proposal", "Negotiation", "Won", "Lost"]);
    let kinds: Vec<&str> =
        default["stages"].as_array().into_iter().flatten().filter_map(|s| s["kind"].as_str()).collect();
    assert_eq!(kinds, ["open", "open", "open", "open", "won", "lost"]);
    assert_eq!(default["stages"][4]["probability"], 100);
}

#[actix_web::test]
async fn pipelines_are_created_renamed_and_made_default() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let created = app
        .post(
            "/api/v1/pipelines",
            &owner,
            json!({"name": "Wholesale", "stages": [
                {"name": "Request", "kind": "open", "probability": 20},
                {"name": "Shipped", "kind": "won"},
                {"name": "Refused", "kind": "lost"}
            ]}),
        )
        .await;
    let wholesale = created.expect(201).clone();
    assert_eq!(stage_names(&wholesale), ["Request", "Shipped", "Refused"]);
    assert_eq!(wholesale["stages"][1]["probability"], 100);
    assert_eq!(wholesale["is_default"], false);
    let path = format!("/api/v1/pipelines/{}", wholesale["id"].as_str().unwrap_or_default());

    let made_default = app.patch(&path, &owner, json!({"is_default": true, "name": "Wholesale B2B"})).await;
    assert_eq!(made_default.expect(200)["is_default"], true);
    let all = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let defaults: Vec<&Value> =
        all["data"].as_array().into_iter().flatten().filter(|p| p["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["name"], "Wholesale B2B");

    app.post("/api/v1/pipelines", &owner, json!({"name": "wholesale b2b"}))
        .await
        .expect_problem(409, "pipeline_name_taken");
    app.patch(&path, &owner, json!({"is_default": false})).await.expect_problem(422, "validation_failed");
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect_problem(409, "default_pipeline");
}

#[actix_web::test]
async fn a_pipeline_keeps_one_won_and_some_lost_and_open_stages() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for stages in [
        json!([{"name": "A", "kind": "open"}, {"name": "B", "kind": "lost"}, {"name": "C", "kind": "lost"}]),
        json!([{"name": "A", "kind": "open"}, {"name": "W1", "kind": "won"}, {"name": "W2", "kind": "won"}, {"name": "L", "kind": "lost"}]),
        json!([{"name": "W", "kind": "won"}, {"name": "L", "kind": "lost"}, {"name": "L2", "kind": "lost"}]),
    ] {
        let response =
            app.post("/api/v1/pipelines", &owner, json!({"name": "Broken", "stages": stages})).await;
        assert_eq!(response.expect_problem(422, "validation_failed")["errors"][0]["code"], "stage_kinds");
    }
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let default = pipelines["data"][0].clone();
    let base = format!("/api/v1/pipelines/{}", default["id"].as_str().unwrap_or_default());
    let won = stage_id(&default, "Won");
    app.request(Method::DELETE, &format!("{base}/stages/{won}"), Some(&owner), None)
        .await
        .expect_problem(422, "validation_failed");
    app.post(&format!("{base}/stages"), &owner, json!({"name": "Also won", "kind": "won"}))
        .await
        .expect_problem(422, "validation_failed");
}

#[actix_web::test]
async fn a_pipeline_takes_stages_up_to_fifty_and_refuses_the_fifty_first() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let mut stages: Vec<Value> =
        (1..=47).map(|n| json!({"name": format!("Step {n}"), "kind": "open"})).collect();
    stages.extend([json!({"name": "Won", "kind": "won"}), json!({"name": "Lost", "kind": "lost"})]);
    let mut too_many = stages.clone();
    too_many.extend((48..=49).map(|n| json!({"name": format!("Step {n}"), "kind": "open"})));
    app.post("/api/v1/pipelines", &owner, json!({"name": "Too long", "stages": too_many}))
        .await
        .expect_problem(422, "validation_failed");
    let created = app.post("/api/v1/pipelines", &owner, json!({"name": "Long", "stages": stages})).await;
    let path = format!("/api/v1/pipelines/{}", created.expect(201)["id"].as_str().unwrap_or_default());

    let fiftieth =
        app.post(&format!("{path}/stages"), &owner, json!({"name": "Step 48", "kind": "open"})).await;
    assert_eq!(stage_names(fiftieth.expect(201)).len(), 50);
    app.post(&format!("{path}/stages"), &owner, json!({"name": "Step 49", "kind": "open"}))
        .await
        .expect_problem(409, "too_many_stages");
    let pipeline = app.get(&path, &owner).await;
    let names = stage_names(pipeline.expect(200));
    assert_eq!(names.len(), 50);
    assert!(!names.contains(&"Step 49".to_string()), "{names:?}");
}

#[actix_web::test]
async fn stages_are_added_renamed_reordered_and_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let default = pipelines["data"][0].clone();
    let base = format!("/api/v1/pipelines/{}", default["id"].as_str().unwrap_or_default());

    let added = app
        .post(
            &format!("{base}/stages"),
            &owner,
            json!({"name": "Contract", "kind": "open", "probability": 90, "position": 5}),
        )
        .await;
    let added = added.expect(201).clone();
    assert_eq!(
        stage_names(&added),
        ["New", "Qualified", "Proposal", "Negotiation", "Contract", "Won", "Lost"]
    );
    let positions: Vec<i64> =
        added["stages"].as_array().into_iter().flatten().filter_map(|s| s["position"].as_i64()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6, 7]);

    let contract = stage_id(&added, "Contract");
    let renamed = app
        .patch(
            &format!("{base}/stages/{contract}"),
            &owner,
            json!({"name": "Contract sent", "probability": 95}),
        )
        .await;
    assert_eq!(stage_names(renamed.expect(200))[4], "Contract sent");

    let mut order: Vec<String> = added["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    order.swap(0, 1);
    let reordered = app.post(&format!("{base}/stages/reorder"), &owner, json!({"stage_ids": order})).await;
    assert_eq!(stage_names(reordered.expect(200))[..2], ["Qualified", "New"]);
    let partial =
        app.post(&format!("{base}/stages/reorder"), &owner, json!({"stage_ids": &order[..3]})).await;
    partial.expect_problem(422, "validation_failed");

    app.request(Method::DELETE, &format!("{base}/stages/{contract}"), Some(&owner), None).await.expect(204);
    let after = app.get(&base, &owner).await.expect(200).clone();
    assert_eq!(stage_names(&after).len(), 6);
    let positions: Vec<i64> =
        after["stages"].as_array().into_iter().flatten().filter_map(|s| s["position"].as_i64()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6]);
}

#[actix_web::test]
async fn only_admins_change_pipelines_and_other_workspaces_see_none() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (_, sales) = app.user_with_role("sales").await;
    app.get("/api/v1/pipelines", &sales).await.expect(200);
    app.post("/api/v1/pipelines", &sales, json!({"name": "Mine"})).await.expect_problem(403, "forbidden");
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let path = format!("/api/v1/pipelines/{}", pipelines["data"][0]["id"].as_str().unwrap_or_default());

    let before = app.get(&path, &owner).await.expect(200).clone();
    app.patch(&path, &sales, json!({"name": "Mine"})).await.expect_problem(403, "forbidden");
    app.post(&format!("{path}/stages"), &sales, json!({"name": "X", "kind": "open"}))
        .await
        .expect_problem(403, "forbidden");
    app.request(Method::DELETE, &path, Some(&sales), None).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&path, &owner, &before).await;

    let rival = app.rival_token().await;
    app.get(&path, &rival).await.expect_problem(404, "not_found");
    app.patch(&path, &rival, json!({"name": "Ours"})).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/stages"), &rival, json!({"name": "X", "kind": "open"}))
        .await
        .expect_problem(404, "not_found");
    let first_stage = format!("{path}/stages/{}", before["stages"][0]["id"].as_str().unwrap_or_default());
    app.patch(&first_stage, &rival, json!({"name": "Ours"})).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &first_stage, Some(&rival), None).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path, Some(&rival), None).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path, &owner, &before).await;
    let theirs = app.get("/api/v1/pipelines", &rival).await.expect(200).clone();
    assert_eq!(theirs["data"].as_array().map(Vec::len), Some(1), "only their own default pipeline");
    assert_ne!(theirs["data"][0]["id"], pipelines["data"][0]["id"]);
}
