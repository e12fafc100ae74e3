use serde_json::json;

use crate::support::TestApp;

fn team_path(team: &serde_json::Value) -> String {
    format!("/api/v1/teams/{}", team["id"].as_str().unwrap_or_default())
}

#[actix_web::test]
async fn admins_build_a_tree_of_teams_and_assign_users() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let head_office =
        app.post("/api/v1/teams", &owner, json!({"name": "Head office"})).await.expect(201).clone();
    let created = app
        .post("/api/v1/teams", &owner, json!({"name": "Kazan branch", "parent_id": head_office["id"]}))
        .await;
    let branch = created.expect(201).clone();
    assert_eq!(branch["parent_id"], head_office["id"]);
    assert_eq!(created.header("location").map(str::to_string), Some(team_path(&branch)));

    let listed = app.get("/api/v1/teams", &owner).await.expect(200).clone();
    let names: Vec<&str> =
        listed["data"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["Head office", "Kazan branch"]);

    let (user, _) = app.user_with_role("sales").await;
    let user_path = format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default());
    let assigned = app.patch(&user_path, &owner, json!({"team_id": branch["id"]})).await;
    assert_eq!(assigned.expect(200)["team_id"], branch["id"]);

    let renamed = app.patch(&team_path(&branch), &owner, json!({"name": "Kazan"})).await;
    assert_eq!(renamed.expect(200)["name"], "Kazan");
    assert_eq!(renamed.body["version"], 2);
    let detached = app.patch(&team_path(&branch), &owner, json!({"parent_id": null})).await;
    assert_eq!(detached.expect(200)["parent_id"], serde_json::Value::Null);
}

#[actix_web::test]
async fn team_names_are_unique_whatever_their_case() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.post("/api/v1/teams", &owner, json!({"name": "Sales"})).await.expect(201);
    app.post("/api/v1/teams", &owner, json!({"name": "SALES"})).await.expect_problem(409, "team_name_taken");
    let other = app.post("/api/v1/teams", &owner, json!({"name": "Support"})).await.expect(201).clone();
    app.patch(&team_path(&other), &owner, json!({"name": "sales"}))
        .await
        .expect_problem(409, "team_name_taken");
}

#[actix_web::test]
async fn a_team_cannot_sit_under_itself_or_its_descendants() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let top = app.post("/api/v1/teams", &owner, json!({"name": "Top"})).await.expect(201).clone();
    let middle = app
        .post("/api/v1/teams", &owner, json!({"name": "Middle", "parent_id": top["id"]}))
        .await
        .expect(201)
        .clone();
    let bottom = app
        .post("/api/v1/teams", &owner, json!({"name": "Bottom", "parent_id": middle["id"]}))
        .await
        .expect(201)
        .clone();

    for parent in [&top, &bottom] {
        let response = app.patch(&team_path(&top), &owner, json!({"parent_id": parent["id"]})).await;
        let problem = response.expect_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "parent_id");
        assert_eq!(problem["errors"][0]["code"], "cycle");
    }
    // Moving a leaf elsewhere is fine.
    app.patch(&team_path(&bottom), &owner, json!({"parent_id": top["id"]})).await.expect(200);

    let missing =
        app.post("/api/v1/teams", &owner, json!({"name": "Orphan", "parent_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(missing.expect_problem(422, "validation_failed")["errors"][0]["field"], "parent_id");
}

#[actix_web::test]
async fn only_owners_and_admins_change_teams_and_everyone_reads_them() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let team = app.post("/api/v1/teams", &owner, json!({"name": "North"})).await.expect(201).clone();
    let before = app.get(&team_path(&team), &owner).await.expect(200).clone();
    for role in ["manager", "sales", "viewer"] {
        let (_, token) = app.user_with_role(role).await;
        app.post("/api/v1/teams", &token, json!({"name": format!("By {role}")}))
            .await
            .expect_problem(403, "forbidden");
        app.patch(&team_path(&team), &token, json!({"name": "Renamed"}))
            .await
            .expect_problem(403, "forbidden");
        app.get(&team_path(&team), &token).await.expect(200);
    }
    app.assert_unchanged(&team_path(&team), &owner, &before).await;
    assert_eq!(app.get("/api/v1/teams", &owner).await.expect(200)["data"].as_array().map(Vec::len), Some(1));
    let (_, admin) = app.user_with_role("admin").await;
    app.post("/api/v1/teams", &admin, json!({"name": "By admin"})).await.expect(201);
}

#[actix_web::test]
async fn another_workspaces_teams_are_invisible_and_unusable() {
    let app = TestApp::spawn().await;
    app.create_other_workspace("Rival company", "rival@example.com", "rival-password").await;
    let rival_session = app.login_as("rival@example.com", "rival-password").await.expect(200).clone();
    let rival = crate::support::http::access_token(&rival_session);
    let rival_team =
        app.post("/api/v1/teams", &rival, json!({"name": "Rival team"})).await.expect(201).clone();

    let owner = app.owner_token().await;
    app.get(&team_path(&rival_team), &owner).await.expect_problem(404, "not_found");
    app.patch(&team_path(&rival_team), &owner, json!({"name": "Ours"}))
        .await
        .expect_problem(404, "not_found");
    app.assert_unchanged(&team_path(&rival_team), &rival, &rival_team).await;
    let listed = app.get("/api/v1/teams", &owner).await.expect(200).clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0));
    // Referencing it from our workspace is refused, not linked.
    let nested =
        app.post("/api/v1/teams", &owner, json!({"name": "Sneaky", "parent_id": rival_team["id"]})).await;
    nested.expect_problem(422, "validation_failed");
    let (user, _) = app.user_with_role("sales").await;
    let user_path = format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default());
    let user_before = app.get(&user_path, &owner).await.expect(200).clone();
    app.patch(&user_path, &owner, json!({"team_id": rival_team["id"]}))
        .await
        .expect_problem(422, "validation_failed");
    app.assert_unchanged(&user_path, &owner, &user_before).await;
}
