//! Browser code on another origin: preflights answered for the configured origins
//! (`CRM_CORS_ORIGINS`) with the methods and headers the API uses, and the response headers that
//! code needs (versions, locations, request ids, retry hints) readable; nothing for other origins.

use actix_web::http::Method;
use serde_json::json;

use crate::support::TestApp;
use crm::cors::AllowedOrigins;

const APP_ORIGIN: &str = "https://app.example.com";

async fn app_allowing(origins: &str) -> TestApp {
    let origins = AllowedOrigins::parse(origins).expect("valid origins");
    TestApp::spawn_with(|state| state.cors_origins = origins).await
}

/// What a browser asks before a PATCH with `If-Match` from `origin`.
async fn preflight(app: &TestApp, origin: &str, path: &str) -> crate::support::http::TestResponse {
    app.request_with_headers(
        Method::OPTIONS,
        path,
        None,
        &[
            ("origin", origin),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "authorization, content-type, if-match"),
        ],
        None,
    )
    .await
}

fn listed(value: Option<&str>) -> Vec<String> {
    value.unwrap_or_default().split(',').map(|item| item.trim().to_ascii_lowercase()).collect()
}

#[actix_web::test]
async fn an_allowed_origin_gets_its_preflight_answered_and_reads_what_it_needs() {
    let app = app_allowing(&format!("{APP_ORIGIN}, http://localhost:5173")).await;
    let owner = app.owner_token().await;
    let created = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await;
    let path = format!("/api/v1/clients/{}", created.expect(201)["id"].as_str().unwrap_or_default());

    let answer = preflight(&app, APP_ORIGIN, &path).await;
    assert_eq!(answer.status, 200, "{:?}", answer.headers);
    assert_eq!(answer.header("access-control-allow-origin"), Some(APP_ORIGIN));
    for method in ["get", "post", "patch", "delete"] {
        assert!(
            listed(answer.header("access-control-allow-methods")).contains(&method.to_string()),
            "{method}"
        );
    }
    let allowed_headers = listed(answer.header("access-control-allow-headers"));
    for name in ["authorization", "content-type", "if-match", "x-request-id"] {
        assert!(allowed_headers.contains(&name.to_string()), "{name} not in {allowed_headers:?}");
    }
    assert_eq!(answer.header("access-control-max-age"), Some("7200"));
    assert!(answer.header("access-control-allow-credentials").is_none(), "tokens, not cookies");

    // The PATCH itself: the new version and the request id are readable by the page's code.
    let version = created.header("etag").unwrap_or_default().to_string();
    let patched = app
        .request_with_headers(
            Method::PATCH,
            &path,
            Some(&owner),
            &[("origin", APP_ORIGIN), ("if-match", &version)],
            Some(&json!({"name": "Acme Ltd"})),
        )
        .await;
    patched.expect(200);
    assert_eq!(patched.header("access-control-allow-origin"), Some(APP_ORIGIN));
    assert!(listed(patched.header("vary")).contains(&"origin".to_string()));
    let exposed = listed(patched.header("access-control-expose-headers"));
    for name in
        ["etag", "location", "retry-after", "x-request-id", "ratelimit-remaining", "content-disposition"]
    {
        assert!(exposed.contains(&name.to_string()), "{name} not exposed: {exposed:?}");
    }

    // Refusals too: the page must read the problem to show it.
    let stale = app
        .request_with_headers(
            Method::PATCH,
            &path,
            Some(&owner),
            &[("origin", "http://localhost:5173"), ("if-match", &version)],
            Some(&json!({"name": "Lost update"})),
        )
        .await;
    stale.expect_problem(412, "version_mismatch");
    assert_eq!(stale.header("access-control-allow-origin"), Some("http://localhost:5173"));
    let anonymous =
        app.request_with_headers(Method::GET, "/api/v1/clients", None, &[("origin", APP_ORIGIN)], None).await;
    anonymous.expect_problem(401, "unauthorized");
    assert_eq!(anonymous.header("access-control-allow-origin"), Some(APP_ORIGIN));
}

#[actix_web::test]
async fn another_origin_gets_nothing_a_browser_would_let_it_read() {
    let app = app_allowing(APP_ORIGIN).await;
    let owner = app.owner_token().await;
    let refused = preflight(&app, "https://evil.example", "/api/v1/clients").await;
    assert!(refused.status >= 400, "{}", refused.status);
    assert_eq!(
        refused.body["type"],
        format!("urn:crm:problem:{}", refused.body["code"].as_str().unwrap_or("?"))
    );
    assert!(refused.header("access-control-allow-origin").is_none());
    assert!(refused.header("access-control-allow-methods").is_none());
    // Non-browser clients send whatever Origin they like: served, but with no CORS grant.
    let read = app
        .request_with_headers(
            Method::GET,
            "/api/v1/clients",
            Some(&owner),
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    read.expect(200);
    assert!(read.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn without_configured_origins_no_origin_is_granted() {
    let app = TestApp::spawn().await;
    let answer = preflight(&app, APP_ORIGIN, "/api/v1/clients").await;
    assert!(answer.header("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn a_star_grants_every_origin_without_credentials() {
    let app = app_allowing("*").await;
    let answer = preflight(&app, "https://any.example", "/api/v1/clients").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert!(answer.header("access-control-allow-credentials").is_none());
}
