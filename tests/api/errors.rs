use actix_web::http::Method;
use serde_json::json;

use crate::support::TestApp;
use crate::support::http::BODY_LIMIT;

#[actix_web::test]
async fn an_unknown_route_is_a_problem() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/api/v1/no-such-thing", None, None).await;
    response.expect_problem(404, "not_found");
    assert!(response.header("x-request-id").is_some());
}

#[actix_web::test]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let response =
        app.send_raw(Method::POST, "/api/v1/auth/login", "application/json", b"{\"email\": ".to_vec()).await;
    let problem = response.expect_problem(400, "malformed_json");
    assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains("not valid JSON")));
}

#[actix_web::test]
async fn a_wrongly_typed_field_is_named() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/api/v1/auth/login", None, Some(&json!({"email": 5, "password": "x"})))
        .await;
    let problem = response.expect_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "email");
    assert!(!problem["errors"][0]["message"].as_str().unwrap_or_default().contains("line"));
}

#[actix_web::test]
async fn another_content_type_is_a_415_problem() {
    let app = TestApp::spawn().await;
    let response = app.send_raw(Method::POST, "/api/v1/auth/login", "text/plain", b"email=x".to_vec()).await;
    response.expect_problem(415, "unsupported_media_type");
}

#[actix_web::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = TestApp::spawn().await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(BODY_LIMIT)});
    let body = serde_json::to_vec(&huge).unwrap_or_default();
    let response = app.send_raw(Method::POST, "/api/v1/auth/login", "application/json", body).await;
    response.expect_problem(413, "payload_too_large");
}

#[actix_web::test]
async fn a_bad_path_or_query_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.get("/api/v1/users/not-a-uuid", &owner).await.expect_problem(400, "invalid_path");
    app.get("/api/v1/users?limit=many", &owner).await.expect_problem(400, "invalid_query");
}

#[actix_web::test]
async fn a_wrong_method_is_a_405_naming_the_allowed_ones() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::DELETE, "/api/v1/me", None, None).await;
    response.expect_problem(405, "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET"));
    let response =
        app.request(Method::PUT, "/api/v1/users/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", None, None).await;
    response.expect_problem(405, "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET, PATCH"));
}

#[actix_web::test]
async fn the_request_id_is_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let client = awc::Client::default();
    let response = client
        .get(format!("{}/health/live", app.address))
        .insert_header(("x-request-id", "trace-123"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-123"));
    let response = client
        .get(format!("{}/health/live", app.address))
        .insert_header(("x-request-id", "bad id with spaces"))
        .send()
        .await
        .expect("request");
    let generated = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
}

#[actix_web::test]
async fn nul_characters_are_refused_at_the_edge() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let response =
        app.post("/api/v1/clients", &owner, json!({"kind": "person", "first_name": "A\u{0}B"})).await;
    let problem = response.expect_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "first_name");
    assert_eq!(problem["errors"][0]["code"], "nul_character");
    app.get("/api/v1/clients?tag=a%00b", &owner).await.expect_problem(400, "invalid_text");
}

#[actix_web::test]
async fn a_fixed_path_beside_a_pattern_answers_405_for_other_methods() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let response = app.patch("/api/v1/clients/deleted", &owner, json!({})).await;
    response.expect_problem(405, "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET"));
}

#[actix_web::test]
async fn a_body_must_be_an_object() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for body in [json!([]), json!("text"), json!(5)] {
        let response = app.patch("/api/v1/workspace", &owner, body).await;
        assert_eq!(response.expect_problem(422, "validation_failed")["errors"][0]["field"], "body");
    }
}
