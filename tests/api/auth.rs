use actix_web::http::Method;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::json;

use crate::support::TestApp;
use crate::support::http::{JWT_SECRET, OWNER_EMAIL, OWNER_PASSWORD, access_token};

#[actix_web::test]
async fn login_gives_tokens_that_open_me() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 900);
    assert_eq!(session["workspace_id"], app.workspace_id.as_str());
    assert!(session["refresh_token"].as_str().is_some_and(|token| !token.is_empty()));

    let me = app.get("/api/v1/me", &access_token(&session)).await;
    let me = me.expect(200);
    assert_eq!(me["user"]["email"], OWNER_EMAIL);
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["workspace"]["id"], app.workspace_id.as_str());
    assert!(me["user"].get("password_hash").is_none());
}

#[actix_web::test]
async fn the_email_is_case_insensitive_at_login() {
    let app = TestApp::spawn().await;
    app.login_as(&OWNER_EMAIL.to_uppercase(), OWNER_PASSWORD).await.expect(200);
}

#[actix_web::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = TestApp::spawn().await;
    let wrong_password = app.login_as(OWNER_EMAIL, "not-the-password").await;
    let unknown_email = app.login_as("nobody@example.com", OWNER_PASSWORD).await;
    wrong_password.expect_problem(401, "unauthorized");
    unknown_email.expect_problem(401, "unauthorized");
    assert_eq!(wrong_password.body, unknown_email.body);
}

#[actix_web::test]
async fn me_needs_a_token() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/api/v1/me", None, None).await;
    response.expect_problem(401, "unauthorized");
    assert_eq!(response.header("www-authenticate"), Some("Bearer"));
}

#[actix_web::test]
async fn refresh_rotates_the_token() {
    let app = TestApp::spawn().await;
    let first = app.owner_session().await;
    let second = app.refresh(&first["refresh_token"]).await;
    let second = second.expect(200);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    app.get("/api/v1/me", &access_token(second)).await.expect(200);
}

#[actix_web::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let first = app.owner_session().await;
    let second = app.refresh(&first["refresh_token"]).await.expect(200).clone();

    // The first token is spent: presenting it again looks like theft.
    app.refresh(&first["refresh_token"]).await.expect_problem(401, "unauthorized");
    // ...so the legitimate successor stops working too.
    app.refresh(&second["refresh_token"]).await.expect_problem(401, "unauthorized");

    // Another login's session is untouched.
    let other = app.owner_session().await;
    app.refresh(&other["refresh_token"]).await.expect(200);
}

#[actix_web::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let body = json!({"refresh_token": session["refresh_token"]});
    app.request(Method::POST, "/api/v1/auth/logout", None, Some(&body)).await.expect(204);
    app.refresh(&session["refresh_token"]).await.expect_problem(401, "unauthorized");
    // Logging out twice is harmless.
    app.request(Method::POST, "/api/v1/auth/logout", None, Some(&body)).await.expect(204);
}

#[actix_web::test]
async fn garbage_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let real = session["refresh_token"].as_str().unwrap_or_default();
    let (prefix, _) = real.rsplit_once('.').unwrap_or_default();
    let forged = format!("{prefix}.{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
    for token in ["nonsense", "a.b.c", forged.as_str()] {
        app.refresh(token).await.expect_problem(401, "unauthorized");
    }
    // The forged attempt did not revoke the real session.
    app.refresh(real).await.expect(200);
}

fn sign(header: serde_json::Value, claims: serde_json::Value, secret: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let encode =
        |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default());
    let signing_input = format!("{}.{}", encode(&header), encode(&claims));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length works for HMAC");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn claims_of(session: &serde_json::Value) -> serde_json::Value {
    let now = Utc::now().timestamp();
    json!({
        "sub": session["user_id"], "ws": session["workspace_id"], "role": "owner", "iss": "crm", "aud": "crm-api",
        "iat": now, "nbf": now, "exp": now + 600,
    })
}

#[actix_web::test]
async fn a_correctly_signed_token_is_accepted_and_the_checks_are_real() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    // The hand-made token passes, so the refusals below are about what was changed.
    app.get("/api/v1/me", &sign(hs256.clone(), claims_of(&session), JWT_SECRET.as_bytes())).await.expect(200);

    let mut expired = claims_of(&session);
    expired["exp"] = json!(Utc::now().timestamp() - 3600);
    expired["iat"] = json!(Utc::now().timestamp() - 7200);
    expired["nbf"] = expired["iat"].clone();
    let mut not_yet = claims_of(&session);
    not_yet["nbf"] = json!(Utc::now().timestamp() + 3600);
    let mut wrong_audience = claims_of(&session);
    wrong_audience["aud"] = json!("someone-else");
    let mut wrong_issuer = claims_of(&session);
    wrong_issuer["iss"] = json!("someone-else");
    let mut no_expiry = claims_of(&session);
    no_expiry.as_object_mut().map(|claims| claims.remove("exp"));
    let mut other_workspace = claims_of(&session);
    other_workspace["ws"] = json!(uuid::Uuid::now_v7());

    let refused = [
        ("expired", sign(hs256.clone(), expired, JWT_SECRET.as_bytes())),
        ("not yet valid", sign(hs256.clone(), not_yet, JWT_SECRET.as_bytes())),
        ("wrong audience", sign(hs256.clone(), wrong_audience, JWT_SECRET.as_bytes())),
        ("wrong issuer", sign(hs256.clone(), wrong_issuer, JWT_SECRET.as_bytes())),
        ("no expiry", sign(hs256.clone(), no_expiry, JWT_SECRET.as_bytes())),
        ("another workspace", sign(hs256.clone(), other_workspace, JWT_SECRET.as_bytes())),
        ("wrong key", sign(hs256.clone(), claims_of(&session), b"another-secret-that-is-long-enough-too")),
        ("HS512", sign(json!({"alg": "HS512", "typ": "JWT"}), claims_of(&session), JWT_SECRET.as_bytes())),
        ("HS384", sign(json!({"alg": "HS384", "typ": "JWT"}), claims_of(&session), JWT_SECRET.as_bytes())),
    ];
    for (what, token) in refused {
        let response = app.get("/api/v1/me", &token).await;
        assert_eq!(response.status, 401, "a token with {what} was accepted");
    }
}

#[actix_web::test]
async fn alg_none_and_tampered_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let token = access_token(&session);
    let encode =
        |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default());

    let unsigned =
        format!("{}.{}.", encode(&json!({"alg": "none", "typ": "JWT"})), encode(&claims_of(&session)));
    app.get("/api/v1/me", &unsigned).await.expect_problem(401, "unauthorized");

    // Same signature, different payload: a user trying to become someone else.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(&session);
    claims["sub"] = json!(uuid::Uuid::now_v7());
    let tampered = format!("{}.{}.{}", parts[0], encode(&claims), parts[2]);
    app.get("/api/v1/me", &tampered).await.expect_problem(401, "unauthorized");

    app.get("/api/v1/me", "not-a-jwt").await.expect_problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_deactivated_users_tokens_stop_working_at_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (user, token) = app.user_with_role("sales").await;
    app.get("/api/v1/me", &token).await.expect(200);

    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default());
    app.patch(&path, &owner, json!({"active": false})).await.expect(200);

    app.get("/api/v1/me", &token).await.expect_problem(401, "unauthorized");
    app.login_as(user["email"].as_str().unwrap_or_default(), "a-user-password")
        .await
        .expect_problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_changed_email_logs_in_and_the_old_one_no_longer_does() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (user, _) = app.user_with_role("sales").await;
    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default());
    app.patch(&path, &owner, json!({"email": "Renamed.Rep@Example.com"})).await.expect(200);
    // Login compares emails without regard to case.
    let session = app.login_as("renamed.rep@example.com", "a-user-password").await.expect(200).clone();
    assert_eq!(session["user_id"], user["id"]);
    app.login_as(user["email"].as_str().unwrap_or_default(), "a-user-password")
        .await
        .expect_problem(401, "unauthorized");
}

#[actix_web::test]
async fn an_email_in_two_workspaces_logs_into_the_one_chosen() {
    let app = TestApp::spawn().await;
    let (second_workspace, _) =
        app.create_other_workspace("Second company", OWNER_EMAIL, OWNER_PASSWORD).await;

    let ambiguous = app.login_as(OWNER_EMAIL, OWNER_PASSWORD).await;
    let problem = ambiguous.expect_problem(409, "workspace_required");
    assert_eq!(problem["workspaces"].as_array().map(Vec::len), Some(2));

    let chosen = app
        .request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(
                &json!({"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "workspace_id": second_workspace}),
            ),
        )
        .await;
    assert_eq!(chosen.expect(200)["workspace_id"], second_workspace.as_str());
}

#[actix_web::test]
async fn stale_refresh_tokens_are_purged_and_live_ones_kept() {
    let app = TestApp::spawn().await;
    let live = app.owner_session().await;
    let revoked = app.owner_session().await;
    let body = json!({"refresh_token": revoked["refresh_token"]});
    app.request(Method::POST, "/api/v1/auth/logout", None, Some(&body)).await.expect(204);
    let purged = app
        .on_database(|conn| {
            use diesel::RunQueryDsl;
            // Age the revocation past the day of grace.
            diesel::sql_query(
            "UPDATE refresh_tokens SET revoked_at = now() - interval '2 days' WHERE revoked_at IS NOT NULL",
        )
        .execute(conn)
        .expect("age");
            crm::db::models::RefreshToken::purge_stale(conn).expect("purge")
        })
        .await;
    assert_eq!(purged, 1);
    app.refresh(&live["refresh_token"]).await.expect(200);
}

#[actix_web::test]
async fn a_role_change_stops_the_old_access_token_at_once_and_a_refresh_brings_the_new_role() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (user, _) = app.user_with_role("sales").await;
    let session =
        app.login_as(user["email"].as_str().unwrap_or_default(), "a-user-password").await.expect(200).clone();
    let token = access_token(&session);
    app.get("/api/v1/clients", &token).await.expect(200);

    let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default());
    app.patch(&path, &owner, json!({"role": "viewer"})).await.expect(200);

    // The token still says "sales": it no longer opens anything, reads included.
    let stale = app.get("/api/v1/clients", &token).await;
    let problem = stale.expect_problem(401, "unauthorized");
    assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains("refresh")), "{problem}");
    let body = json!({"kind": "person", "first_name": "Ivan", "last_name": "Petrov"});
    app.post("/api/v1/clients", &token, body.clone()).await.expect_problem(401, "unauthorized");

    let viewer = access_token(app.refresh(&session["refresh_token"]).await.expect(200));
    app.get("/api/v1/clients", &viewer).await.expect(200);
    app.post("/api/v1/clients", &viewer, body).await.expect_problem(403, "forbidden");
}

/// Every operation that takes a token checks the account in the database before it reads or
/// writes anything: a deactivated owner (who passes every role check) gets a 401 everywhere, or a
/// 4xx about the request itself where it is refused before any database work.
#[actix_web::test]
async fn a_deactivated_account_is_refused_by_every_operation() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (second_owner, token) = app.user_with_role("owner").await;
    let path = format!("/api/v1/users/{}", second_owner["id"].as_str().unwrap_or_default());
    app.patch(&path, &owner, json!({"active": false})).await.expect(200);

    let document = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    let mut refused = 0;
    let mut leaks = Vec::new();
    for (template, operations) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in operations.as_object().into_iter().flatten() {
            // Public operations say `security: []`.
            if operation["security"].as_array().is_none_or(Vec::is_empty) {
                continue;
            }
            let path =
                template
                    .split('/')
                    .map(|part| {
                        if part.starts_with('{') {
                            uuid::Uuid::now_v7().to_string()
                        } else {
                            part.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("an HTTP method");
            let body = operation.get("requestBody").map(|_| json!({}));
            let response = app.request(method.clone(), &path, Some(&token), body.as_ref()).await;
            match response.status {
                401 => refused += 1,
                // Refused for what the request says (a missing field, If-Match), before any query.
                400 | 422 | 428 if body.is_some() || method == Method::DELETE => {}
                status => leaks.push(format!("{method} {template}: {status}")),
            }
        }
    }
    assert!(leaks.is_empty(), "answered a deactivated account: {leaks:?}");
    assert!(refused > 50, "only {refused} operations answered 401");
}

/// Wrong passwords lock the account for a growing time, even for the right password, until it
/// has passed; a success clears the count.
#[actix_web::test]
async fn repeated_wrong_passwords_lock_the_account_for_a_while() {
    let app = TestApp::spawn().await;
    let email = OWNER_EMAIL.to_string();
    for _ in 0..5 {
        app.login_as(&email, "not the password").await.expect_problem(401, "unauthorized");
    }
    let locked = app.login_as(&email.to_uppercase(), OWNER_PASSWORD).await;
    locked.expect_problem(429, "too_many_attempts");
    let wait: u64 = locked.header("retry-after").and_then(|seconds| seconds.parse().ok()).unwrap_or(0);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");

    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    app.login_as(&email, OWNER_PASSWORD).await.expect(200);
    for _ in 0..5 {
        app.login_as(&email, "not the password").await.expect_problem(401, "unauthorized");
    }
}

/// One address guessing across many accounts is locked too, for accounts it hasn't tried.
#[actix_web::test]
async fn an_address_guessing_many_accounts_is_locked() {
    let app = TestApp::spawn().await;
    for n in 0..20 {
        app.login_as(&format!("guess{n}@example.com"), "password 123")
            .await
            .expect_problem(401, "unauthorized");
    }
    let locked = app.login_as("someone.else@example.com", "password 123").await;
    locked.expect_problem(429, "too_many_attempts");
    assert!(locked.header("retry-after").is_some());
}
