use serde_json::json;

use crate::support::TestApp;
use crate::support::http::access_token;

fn user_path(user: &serde_json::Value) -> String {
    format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default())
}

#[actix_web::test]
async fn owners_create_users_who_can_log_in() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let created = app
        .post(
            "/api/v1/users",
            &owner,
            json!({"email": "Boris@Example.com", "full_name": " Boris Petrov ", "role": "manager", "password": "boris-password"}),
        )
        .await;
    let user = created.expect(201).clone();
    assert_eq!(user["full_name"], "Boris Petrov");
    assert_eq!(user["role"], "manager");
    assert_eq!(user["version"], 1);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.header("location").map(str::to_string), Some(user_path(&user)));

    let session = app.login_as("boris@example.com", "boris-password").await;
    let me = app.get("/api/v1/me", &access_token(session.expect(200))).await;
    assert_eq!(me.expect(200)["user"]["id"], user["id"]);

    let fetched = app.get(&user_path(&user), &owner).await;
    assert_eq!(fetched.expect(200)["email"], "Boris@Example.com");
}

#[actix_web::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let body = json!({"email": "OWNER@example.com", "full_name": "Twin", "role": "sales", "password": "twin-password"});
    app.post("/api/v1/users", &owner, body).await.expect_problem(409, "email_taken");
}

#[actix_web::test]
async fn invalid_users_are_refused_with_every_field_named() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let body = json!({"email": "not-an-email", "full_name": "", "role": "sales", "password": "short"});
    let response = app.post("/api/v1/users", &owner, body).await;
    let problem = response.expect_problem(422, "validation_failed");
    let fields: Vec<&str> =
        problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["email", "full_name", "password"]);

    let unknown_role =
        json!({"email": "a@example.com", "full_name": "A", "role": "root", "password": "long-enough"});
    let problem = app
        .post("/api/v1/users", &owner, unknown_role)
        .await
        .expect_problem(422, "validation_failed")
        .clone();
    assert_eq!(problem["errors"][0]["field"], "role");

    let unknown_field = json!({"email": "a@example.com", "full_name": "A", "role": "sales", "password": "long-enough", "is_god": true});
    let problem = app
        .post("/api/v1/users", &owner, unknown_field)
        .await
        .expect_problem(422, "validation_failed")
        .clone();
    assert_eq!(problem["errors"][0]["field"], "is_god");
    assert_eq!(problem["errors"][0]["code"], "unknown_field");

    let foreign_team = json!({"email": "a@example.com", "full_name": "A", "role": "sales", "password": "long-enough", "team_id": uuid::Uuid::now_v7()});
    let problem = app
        .post("/api/v1/users", &owner, foreign_team)
        .await
        .expect_problem(422, "validation_failed")
        .clone();
    assert_eq!(problem["errors"][0]["field"], "team_id");
}

#[actix_web::test]
async fn only_owners_and_admins_manage_users() {
    let app = TestApp::spawn().await;
    let body = json!({"email": "x@example.com", "full_name": "X", "role": "sales", "password": "x-password"});
    for role in ["manager", "sales", "viewer"] {
        let (_, token) = app.user_with_role(role).await;
        app.post("/api/v1/users", &token, body.clone()).await.expect_problem(403, "forbidden");
    }
    app.login_as("x@example.com", "x-password").await.expect_problem(401, "unauthorized");
    let (_, admin) = app.user_with_role("admin").await;
    app.post("/api/v1/users", &admin, body).await.expect(201);
    // ...but an admin can't mint an owner.
    let owner_body =
        json!({"email": "o2@example.com", "full_name": "O", "role": "owner", "password": "o-password"});
    app.post("/api/v1/users", &admin, owner_body).await.expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn a_viewer_reads_but_cannot_write() {
    let app = TestApp::spawn().await;
    let (viewer, token) = app.user_with_role("viewer").await;
    app.get("/api/v1/users", &token).await.expect(200);
    let before = app.get(&user_path(&viewer), &token).await.expect(200).clone();
    // Not even their own role.
    app.patch(&user_path(&viewer), &token, json!({"role": "admin"})).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&user_path(&viewer), &token, &before).await;
}

#[actix_web::test]
async fn users_can_change_their_own_name_and_password_but_not_their_role() {
    let app = TestApp::spawn().await;
    let (user, token) = app.user_with_role("sales").await;
    let path = user_path(&user);
    let renamed = app.patch(&path, &token, json!({"full_name": "Renamed"})).await;
    assert_eq!(renamed.expect(200)["full_name"], "Renamed");
    assert_eq!(renamed.body["version"], 2);

    app.patch(&path, &token, json!({"role": "admin"})).await.expect_problem(403, "forbidden");
    let without_current = app.patch(&path, &token, json!({"password": "new-password-1"})).await;
    assert_eq!(
        without_current.expect_problem(422, "validation_failed")["errors"][0]["field"],
        "current_password"
    );
    app.patch(&path, &token, json!({"password": "new-password-1", "current_password": "wrong"}))
        .await
        .expect_problem(422, "validation_failed");
    app.patch(&path, &token, json!({"password": "new-password-1", "current_password": "a-user-password"}))
        .await
        .expect(200);
    let email = user["email"].as_str().unwrap_or_default();
    app.login_as(email, "a-user-password").await.expect_problem(401, "unauthorized");
    app.login_as(email, "new-password-1").await.expect(200);

    // Someone else's record is not theirs to change.
    let (other, _) = app.user_with_role("sales").await;
    let before = app.get(&user_path(&other), &token).await.expect(200).clone();
    app.patch(&user_path(&other), &token, json!({"full_name": "Hijacked"}))
        .await
        .expect_problem(403, "forbidden");
    app.assert_unchanged(&user_path(&other), &token, &before).await;
    let mine = app.get(&path, &token).await.expect(200).clone();
    assert_eq!(
        (mine["role"].clone(), mine["version"].clone()),
        (json!("sales"), json!(3)),
        "the role refusal changed nothing"
    );
}

#[actix_web::test]
async fn null_clears_the_team_but_not_a_required_field() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (user, _) = app.user_with_role("sales").await;
    let path = user_path(&user);
    app.patch(&path, &owner, json!({"team_id": null})).await.expect(200);
    let problem = app.patch(&path, &owner, json!({"full_name": null})).await;
    assert_eq!(problem.expect_problem(422, "validation_failed")["errors"][0]["field"], "full_name");
}

#[actix_web::test]
async fn if_match_guards_against_lost_updates() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (user, _) = app.user_with_role("sales").await;
    let path = user_path(&user);
    let send = |etag: &'static str, name: &'static str| {
        let (app, path, owner) = (&app, path.clone(), owner.clone());
        async move {
            let client = awc::Client::default();
            let mut response = client
                .patch(format!("{}{path}", app.address))
                .bearer_auth(owner)
                .insert_header(("if-match", etag))
                .send_json(&json!({"full_name": name}))
                .await
                .expect("request");
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (response.status().as_u16(), body)
        }
    };
    let (status, body) = send("\"1\"", "First").await;
    assert_eq!((status, body["version"].clone()), (200, json!(2)));
    let (status, body) = send("\"1\"", "Stale").await;
    assert_eq!(status, 412);
    assert_eq!(body["code"], "version_mismatch");
    assert_eq!(body["current_version"], 2);
    let current = app.get(&path, &owner).await;
    assert_eq!(current.expect(200)["full_name"], "First");
    assert_eq!(current.header("etag"), Some("\"2\""));
}

#[actix_web::test]
async fn the_last_owner_stays_an_active_owner() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let owner = access_token(&session);
    let path = format!("/api/v1/users/{}", session["user_id"].as_str().unwrap_or_default());
    app.patch(&path, &owner, json!({"role": "admin"})).await.expect_problem(409, "last_owner");
    app.patch(&path, &owner, json!({"active": false})).await.expect_problem(409, "cannot_deactivate_self");

    // With a second owner, the first may step down.
    let second = app
        .post(
            "/api/v1/users",
            &owner,
            json!({"email": "o2@example.com", "full_name": "O2", "role": "owner", "password": "o2-password"}),
        )
        .await
        .expect(201)
        .clone();
    app.patch(&path, &owner, json!({"role": "admin"})).await.expect(200);
    // Their owner's token stops at once; refreshed, it says admin, and an admin can't touch the
    // remaining owner.
    app.patch(&user_path(&second), &owner, json!({"full_name": "Nope"}))
        .await
        .expect_problem(401, "unauthorized");
    let admin = access_token(app.refresh(&session["refresh_token"]).await.expect(200));
    app.patch(&user_path(&second), &admin, json!({"full_name": "Nope"}))
        .await
        .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn lists_are_cursor_paginated() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for index in 0..4 {
        let body = json!({"email": format!("u{index}@example.com"), "full_name": format!("U{index}"), "role": "sales", "password": "u-password"});
        app.post("/api/v1/users", &owner, body).await.expect(201);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/users?limit=2".to_string();
    loop {
        let page = app.get(&path, &owner).await.expect(200).clone();
        let data = page["data"].as_array().cloned().unwrap_or_default();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|user| user["email"].as_str().unwrap_or_default().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["owner@example.com", "u0@example.com", "u1@example.com", "u2@example.com", "u3@example.com"]
    );

    app.get("/api/v1/users?limit=0", &owner).await.expect_problem(400, "invalid_query");
    app.get("/api/v1/users?limit=201", &owner).await.expect_problem(400, "invalid_query");
    app.get("/api/v1/users?cursor=garbage", &owner).await.expect_problem(400, "invalid_cursor");
}

#[actix_web::test]
async fn another_workspaces_users_are_invisible() {
    let app = TestApp::spawn().await;
    let (_, stranger_id) =
        app.create_other_workspace("Rival company", "rival@example.com", "rival-password").await;
    let owner = app.owner_token().await;
    let path = format!("/api/v1/users/{stranger_id}");
    let rival = access_token(app.login_as("rival@example.com", "rival-password").await.expect(200));
    let before = app.get(&path, &rival).await.expect(200).clone();
    app.get(&path, &owner).await.expect_problem(404, "not_found");
    app.patch(&path, &owner, json!({"full_name": "Mine now"})).await.expect_problem(404, "not_found");
    let listed = app.get("/api/v1/users", &owner).await.expect(200).clone();
    assert!(listed["data"].as_array().into_iter().flatten().all(|user| user["id"] != stranger_id.as_str()));
    // The rival's own login still sees them, as they were.
    app.assert_unchanged(&path, &rival, &before).await;
}

#[actix_web::test]
async fn every_user_write_is_in_the_change_log() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (user, _) = app.user_with_role("sales").await;
    app.patch(&user_path(&user), &owner, json!({"full_name": "Logged", "password": "changed-password"}))
        .await
        .expect(200);

    let user_id: uuid::Uuid = user["id"].as_str().and_then(|id| id.parse().ok()).expect("a user id");
    let events = app
        .on_database(move |conn| {
            use crm::db::schema::change_events::dsl as events;
            use diesel::prelude::*;
            events::change_events
                .filter(events::entity.eq("user"))
                .filter(events::entity_id.eq(user_id))
                .order(events::id)
                .select((
                    events::action,
                    events::version,
                    events::changes,
                    events::actor_id.is_not_null(),
                    events::request_id.is_not_null(),
                ))
                .load::<(String, Option<i32>, serde_json::Value, bool, bool)>(conn)
                .expect("events")
        })
        .await;
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].0.as_str(), events[0].1), ("created", Some(1)));
    let (action, version, changes, has_actor, has_request_id) = &events[1];
    assert_eq!((action.as_str(), *version, *has_actor, *has_request_id), ("updated", Some(2), true, true));
    assert_eq!(changes["full_name"]["to"], "Logged");
    assert_eq!(changes["password"], json!({"changed": true}), "the password itself must not be logged");
}
