//! API keys: issued by owners and admins, shown once, a principal of their own, limited by their
//! scopes, team, networks, expiry and rate limit; rotated with a grace period; revoked at once.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::id_of;
use crate::support::http::{assert_taken_between, field_errors, timestamp};

/// Issues a key with `body` as the owner: (the key as listed, its secret).
async fn issue(app: &TestApp, owner: &str, body: Value) -> (Value, String) {
    let issued = app.post("/api/v1/api-keys", owner, body).await.expect(201).clone();
    let secret = issued["secret"].as_str().unwrap_or_default().to_string();
    (issued["api_key"].clone(), secret)
}

#[actix_web::test]
async fn a_key_acts_within_its_scopes_as_a_principal_of_its_own() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let before = chrono::Utc::now();
    let issued = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "1C sync", "scopes": ["clients:write", "deals:read"], "requests_per_minute": 1000}),
        )
        .await;
    let body = issued.expect(201).clone();
    let (key, secret) = (body["api_key"].clone(), body["secret"].as_str().unwrap_or_default().to_string());
    assert!(secret.starts_with("crm_live_"), "{secret}");
    assert_eq!(key["secret_hint"], format!("…{}", &secret[secret.len() - 4..]));
    assert_eq!(key["scopes"], json!(["clients:write", "deals:read"]));
    assert_eq!(key["team_id"], Value::Null);
    assert_eq!(key["requests_per_minute"], 1000);
    assert_eq!(issued.header("location"), Some(format!("/api/v1/api-keys/{}", id_of(&key)).as_str()));
    assert_taken_between(&key["created_at"], before, chrono::Utc::now());

    // It is someone of its own: `/me` names it, its writes carry its id.
    let me = app.get("/api/v1/me", &secret).await.expect(200).clone();
    assert_eq!(me["user"]["id"], key["id"]);
    assert_eq!(me["user"]["full_name"], "1C sync");
    let client = app.post("/api/v1/clients", &secret, json!({"kind": "company", "name": "Acme"})).await;
    let client = client.expect(201).clone();
    assert_eq!(client["created_by"], key["id"]);
    let events =
        app.get(&format!("/api/v1/audit?actor_id={}", id_of(&key)), &owner).await.expect(200).clone();
    assert!(
        events["data"].as_array().into_iter().flatten().any(|event| event["entity_id"] == client["id"]),
        "{events}"
    );

    // Writing clients implies reading them; reading deals is not writing them; the rest is closed.
    let listed = app.get("/api/v1/clients", &secret).await;
    assert_eq!(listed.expect(200)["data"][0]["id"], client["id"]);
    app.get("/api/v1/deals", &secret).await.expect(200);
    let deal = json!({"client_id": client["id"], "title": "Order 1"});
    let refused = app.post("/api/v1/deals", &secret, deal).await;
    assert!(
        refused.expect_problem(403, "insufficient_scope")["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("deals:write")
    );
    for path in ["/api/v1/activities", "/api/v1/users", "/api/v1/api-keys", "/api/v1/audit"] {
        app.get(path, &secret).await.expect_problem(403, "insufficient_scope");
    }
    let another = json!({"name": "escalation", "scopes": ["admin"]});
    app.post("/api/v1/api-keys", &secret, another).await.expect_problem(403, "insufficient_scope");
    assert_eq!(
        app.get("/api/v1/api-keys", &owner).await.expect(200)["data"].as_array().map(Vec::len),
        Some(1)
    );

    // Its principal is no person: not among the users, not to be changed or logged in as.
    let users = app.get("/api/v1/users?limit=200", &owner).await.expect(200).clone();
    assert!(!users["data"].as_array().into_iter().flatten().any(|user| user["id"] == key["id"]), "{users}");
    let path = format!("/api/v1/users/{}", id_of(&key));
    app.get(&path, &owner).await.expect_problem(404, "not_found");
    app.patch(&path, &owner, json!({"password": "taken over!"})).await.expect_problem(404, "not_found");
    let login = json!({"email": format!("api-key:{}", id_of(&key)), "password": secret});
    assert!(app.request(Method::POST, "/api/v1/auth/login", None, Some(&login)).await.status >= 400);

    // The owner sees when and from where it was last used, never its secret.
    let listed = app.get(&format!("/api/v1/api-keys/{}", id_of(&key)), &owner).await.expect(200).clone();
    assert_eq!(listed["last_used_from"], "127.0.0.1");
    assert_taken_between(&listed["last_used_at"], before, chrono::Utc::now());
    assert!(!listed.to_string().contains(&secret[9..]), "{listed}");

    // Only owners and admins issue keys.
    let (_, manager) = app.user_with_role("manager").await;
    let body = json!({"name": "mine", "scopes": ["clients:read"]});
    app.post("/api/v1/api-keys", &manager, body).await.expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn a_team_key_sees_and_writes_its_teams_clients_only() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let team = app.post("/api/v1/teams", &owner, json!({"name": "Kazan"})).await.expect(201).clone();
    let body = json!({"name": "Kazan shop", "scopes": ["clients:write"], "team_id": team["id"]});
    let (key, secret) = issue(&app, &owner, body).await;
    assert_eq!(key["team_id"], team["id"]);
    let head_office =
        app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "HQ client"})).await;
    let head_office = head_office.expect(201).clone();
    let local =
        app.post("/api/v1/clients", &secret, json!({"kind": "company", "name": "Kazan client"})).await;
    let local = local.expect(201).clone();
    assert_eq!(local["team_id"], team["id"]);

    let seen = app.get("/api/v1/clients", &secret).await.expect(200).clone();
    let ids: Vec<&Value> =
        seen["data"].as_array().into_iter().flatten().map(|client| &client["id"]).collect();
    assert_eq!(ids, vec![&local["id"]]);
    let hidden = format!("/api/v1/clients/{}", id_of(&head_office));
    let head_office = app.get(&hidden, &owner).await.expect(200).clone();
    app.get(&hidden, &secret).await.expect_problem(404, "not_found");
    app.patch(&hidden, &secret, json!({"name": "Renamed"})).await.expect_problem(404, "not_found");
    app.assert_unchanged(&hidden, &owner, &head_office).await;

    let unknown_team = json!({"name": "x", "scopes": ["clients:read"], "team_id": uuid::Uuid::now_v7()});
    let refused = app.post("/api/v1/api-keys", &owner, unknown_team).await;
    assert_eq!(field_errors(refused.expect(422)), vec![("team_id".to_string(), "not_found".to_string())]);
}

#[actix_web::test]
async fn expired_revoked_tampered_and_out_of_network_keys_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (key, secret) = issue(&app, &owner, json!({"name": "shop", "scopes": ["clients:read"]})).await;
    app.get("/api/v1/clients", &secret).await.expect(200);

    // One character off is no key.
    let tampered =
        format!("{}{}", &secret[..secret.len() - 1], if secret.ends_with('A') { 'B' } else { 'A' });
    app.get("/api/v1/clients", &tampered).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/clients", "crm_live_not-a-key").await.expect_problem(401, "unauthorized");

    // Past its expiry it stops.
    app.sql(&format!(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = '{}'",
        id_of(&key)
    ))
    .await;
    app.get("/api/v1/clients", &secret).await.expect_problem(401, "unauthorized");
    let past = json!({"name": "late", "scopes": ["clients:read"], "expires_at": "2020-01-01T00:00:00Z"});
    let refused = app.post("/api/v1/api-keys", &owner, past).await;
    assert_eq!(field_errors(refused.expect(422)), vec![("expires_at".to_string(), "range".to_string())]);

    // Revoked, it stops at once and stays listed.
    let (key, secret) = issue(&app, &owner, json!({"name": "shop 2", "scopes": ["clients:read"]})).await;
    let path = format!("/api/v1/api-keys/{}", id_of(&key));
    app.get("/api/v1/clients", &secret).await.expect(200);
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
    app.get("/api/v1/clients", &secret).await.expect_problem(401, "unauthorized");
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect_problem(404, "not_found");
    assert!(app.get(&path, &owner).await.expect(200)["revoked_at"].is_string());

    // From outside its networks, it is refused; from inside, let in.
    let elsewhere = json!({"name": "office", "scopes": ["clients:read"], "allowed_networks": ["10.0.0.0/8"]});
    let (_, secret) = issue(&app, &owner, elsewhere).await;
    let refused = app.get("/api/v1/clients", &secret).await;
    assert!(
        refused.expect_problem(403, "forbidden")["detail"].as_str().unwrap_or_default().contains("127.0.0.1")
    );
    let here =
        json!({"name": "here", "scopes": ["clients:read"], "allowed_networks": ["127.0.0.0/8", "::1"]});
    let (key, secret) = issue(&app, &owner, here).await;
    assert_eq!(key["allowed_networks"], json!(["127.0.0.0/8", "::1/128"]));
    app.get("/api/v1/clients", &secret).await.expect(200);
    let malformed =
        json!({"name": "x", "scopes": ["clients:read"], "allowed_networks": ["10.0.0.0/8", "banana"]});
    let refused = app.post("/api/v1/api-keys", &owner, malformed).await;
    assert_eq!(
        field_errors(refused.expect(422)),
        vec![("allowed_networks[1]".to_string(), "format".to_string())]
    );
    let unknown_scope = json!({"name": "x", "scopes": ["clients:delete"]});
    app.post("/api/v1/api-keys", &owner, unknown_scope).await.expect(422);
    assert_eq!(
        app.get("/api/v1/api-keys", &owner).await.expect(200)["data"].as_array().map(Vec::len),
        Some(4)
    );
}

#[actix_web::test]
async fn a_rotated_key_works_with_both_secrets_until_the_grace_period_ends() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (key, first) = issue(&app, &owner, json!({"name": "shop", "scopes": ["clients:read"]})).await;
    let rotate = |grace: &str| format!("/api/v1/api-keys/{}/rotate{grace}", id_of(&key));

    let before = chrono::Utc::now();
    let rotated = app.request(Method::POST, &rotate(""), Some(&owner), None).await.expect(200).clone();
    let second = rotated["secret"].as_str().unwrap_or_default().to_string();
    assert_ne!(second, first);
    assert_eq!(rotated["api_key"]["id"], key["id"]);
    let until = timestamp(&rotated["api_key"]["previous_secret_valid_until"]);
    assert!(
        until >= before + chrono::Duration::hours(24)
            && until <= chrono::Utc::now() + chrono::Duration::hours(24)
    );
    // During the grace period, both work.
    app.get("/api/v1/clients", &first).await.expect(200);
    app.get("/api/v1/clients", &second).await.expect(200);

    // A rotation without grace stops the current secret at once, and the one before it too.
    let rotated =
        app.request(Method::POST, &rotate("?grace_seconds=0"), Some(&owner), None).await.expect(200).clone();
    let third = rotated["secret"].as_str().unwrap_or_default().to_string();
    app.get("/api/v1/clients", &third).await.expect(200);
    app.get("/api/v1/clients", &second).await.expect_problem(401, "unauthorized");
    app.get("/api/v1/clients", &first).await.expect_problem(401, "unauthorized");

    let too_long = app.request(Method::POST, &rotate("?grace_seconds=2592001"), Some(&owner), None).await;
    too_long.expect(422);
    app.get("/api/v1/clients", &third).await.expect(200);
}

#[actix_web::test]
async fn rate_limits_say_where_the_caller_stands_and_refuse_past_the_limit() {
    let app = TestApp::spawn_with(|state| state.user_requests_per_minute = 3).await;
    let owner = app.owner_token().await;
    // The owner's first request this minute.
    let (key, secret) =
        issue(&app, &owner, json!({"name": "shop", "scopes": ["clients:read"], "requests_per_minute": 2}))
            .await;
    assert_eq!(key["requests_per_minute"], 2);

    // A key has its own limit, apart from the person who issued it.
    let first = app.get("/api/v1/clients", &secret).await;
    first.expect(200);
    assert_eq!(first.header("ratelimit-limit"), Some("2"));
    assert_eq!(first.header("ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("ratelimit-policy"), Some("2;w=60"));
    app.get("/api/v1/clients", &secret).await.expect(200);
    let refused = app.get("/api/v1/clients", &secret).await;
    refused.expect_problem(429, "rate_limited");
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    let retry_after: u64 =
        refused.header("retry-after").and_then(|value| value.parse().ok()).unwrap_or_default();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.header("ratelimit-reset"), refused.header("retry-after"));

    // A person has the server's limit: the owner has two requests left this minute.
    let second = app.get("/api/v1/me", &owner).await;
    second.expect(200);
    assert_eq!(second.header("ratelimit-limit"), Some("3"));
    assert_eq!(second.header("ratelimit-remaining"), Some("1"));
    app.get("/api/v1/me", &owner).await.expect(200);
    app.get("/api/v1/me", &owner).await.expect_problem(429, "rate_limited");
    // Requests without a caller are not counted against anyone: logging in still works.
    app.owner_session().await;
}

#[actix_web::test]
async fn a_scope_holds_however_the_path_is_spelt() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (_, secret) = issue(&app, &owner, json!({"name": "deals only", "scopes": ["deals:read"]})).await;
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await.expect(201);
    // Percent-encoded letters reach the same route: the scope it needs still applies.
    for path in ["/api/v1/clients", "/api/v1/%63lients", "/api/v1/c%6Cients?limit=5"] {
        let refused = app.get(path, &secret).await;
        assert_eq!(refused.status, 403, "{path}: {:?}", refused.body);
    }
    let spelt = json!({"kind": "company", "name": "Sneaky"});
    let refused = app.post("/api/v1/%63lients", &secret, spelt).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM clients").await, 1);
}
