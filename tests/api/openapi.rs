use actix_web::http::Method;

use crate::support::TestApp;

fn committed_document() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let text = std::fs::read_to_string(path).expect("openapi/openapi.json is committed");
    serde_json::from_str(&text).expect("openapi/openapi.json is JSON")
}

#[test]
fn the_committed_document_matches_the_code() {
    let generated = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    assert!(
        generated == committed_document(),
        "openapi/openapi.json is stale: regenerate it with `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[actix_web::test]
async fn the_served_document_is_the_generated_one() {
    let app = TestApp::spawn().await;
    let served = app.request(Method::GET, "/api/v1/openapi.json", None, None).await;
    let generated = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    assert_eq!(served.expect(200), &generated);
}

/// What an integrator reads in Swagger UI and a generated client's doc comments: a one-line summary,
/// a description below it, and the request id on every answer.
#[test]
fn every_operation_has_a_summary_a_description_and_the_request_id() {
    let document = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    let paths = document["paths"].as_object().expect("paths");
    let operations = paths.values().flat_map(|item| item.as_object().into_iter().flatten());
    let mut count = 0;
    for (method, operation) in operations {
        let id = operation["operationId"].as_str().unwrap_or(method);
        let summary = operation["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty() && !summary.contains('\n') && summary.len() <= 120, "{id}: {summary:?}");
        assert!(
            operation["description"].as_str().is_some_and(|text| text.len() > 40),
            "{id} has no description"
        );
        let responses = operation["responses"].as_object().expect("responses");
        for (status, response) in responses {
            assert_eq!(
                response["headers"]["X-Request-Id"]["$ref"], "#/components/headers/X-Request-Id",
                "{id} {status}"
            );
        }
        count += 1;
    }
    assert!(count >= 90, "only {count} operations");
}

#[test]
fn every_operation_is_documented_with_its_errors() {
    let document = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    assert!(document["openapi"].as_str().is_some_and(|version| version.starts_with("3.1")));
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    let paths = document["paths"].as_object().expect("paths");
    for expected in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/teams",
        "/api/v1/teams/{id}",
        "/api/v1/workspace",
        "/api/v1/clients",
        "/api/v1/clients/{id}",
        "/api/v1/clients/{id}/restore",
        "/api/v1/clients/{id}/contacts",
        "/api/v1/clients/deleted",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/contacts/{id}/restore",
        "/api/v1/contacts/deleted",
        "/health/live",
        "/health/ready",
    ] {
        assert!(paths.contains_key(expected), "{expected} is missing");
    }
    for (path, item) in paths {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let operation_id = operation["operationId"].as_str().unwrap_or_default();
            assert!(!operation_id.is_empty(), "{method} {path} has no operation id");
            // Public operations say so (`security: []`) rather than leave it to be guessed.
            let security = operation["security"].as_array();
            assert!(security.is_some(), "{operation_id} says nothing about security");
            let secured = security.is_some_and(|security| !security.is_empty());
            if path.starts_with("/api/") {
                assert!(operation["responses"]["400"].is_object(), "{operation_id} doesn't document 400");
            }
            if secured {
                assert!(operation["responses"]["401"].is_object(), "{operation_id} doesn't document 401");
            }
            if operation["requestBody"].is_object() {
                assert!(operation["responses"]["422"].is_object(), "{operation_id} doesn't document 422");
            }
            let takes_if_match =
                operation["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == "If-Match");
            if takes_if_match {
                assert!(operation["responses"]["412"].is_object(), "{operation_id} doesn't document 412");
            }
        }
    }
}

#[actix_web::test]
async fn swagger_ui_is_served() {
    let app = TestApp::spawn().await;
    let client = awc::Client::default();
    let mut response = client.get(format!("{}/docs/", app.address)).send().await.expect("docs");
    assert_eq!(response.status().as_u16(), 200);
    let page = String::from_utf8(response.body().await.expect("body").to_vec()).unwrap_or_default();
    assert!(page.to_lowercase().contains("swagger"), "{page}");
    let no_redirects = awc::Client::builder().disable_redirects().finish();
    let response = no_redirects.get(format!("{}/docs", app.address)).send().await.expect("docs");
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers().get("location").and_then(|value| value.to_str().ok()), Some("/docs/"));
}

/// Generated clients build one type per schema: a page's items must be the item's own schema, and
/// a field that every response carries must not be optional in them.
#[test]
fn pages_refer_to_their_items_and_always_sent_fields_are_required() {
    let document = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    assert_eq!(document["servers"][0]["url"], "/");
    let schemas = document["components"]["schemas"].as_object().expect("schemas");
    let pages: Vec<&String> = schemas.keys().filter(|name| name.starts_with("Page_")).collect();
    assert!(pages.len() >= 10, "{pages:?}");
    for page in pages {
        let item = page.trim_start_matches("Page_");
        assert_eq!(
            schemas[page]["properties"]["data"]["items"]["$ref"],
            format!("#/components/schemas/{item}"),
            "{page} copies its item"
        );
        assert_eq!(schemas[page]["required"], serde_json::json!(["data", "next_cursor"]), "{page}");
    }
    // A deal is its card's fields (null when unset, never absent) plus its lines.
    let card_required = schemas["DealCard"]["required"].as_array().expect("required");
    for field in ["expected_close_date", "closed_at", "lost_reason", "created_by"] {
        assert!(card_required.iter().any(|name| name == field), "DealCard.{field} is optional");
    }
}

/// Swagger UI's "Try it out" sends a body's example as it stands: each must be accepted (with a
/// real client's id where the example names one, which no document can know).
#[actix_web::test]
async fn the_request_body_examples_are_accepted() {
    let app = crate::support::TestApp::spawn().await;
    let owner = app.owner_token().await;
    let document = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    let client =
        app.post("/api/v1/clients", &owner, serde_json::json!({"kind": "company", "name": "Real"})).await;
    let client_id = client.expect(201)["id"].clone();
    for (path, operation, status) in [
        ("/api/v1/clients", "post", 201),
        ("/api/v1/contacts", "post", 201),
        ("/api/v1/deals", "post", 201),
        ("/api/v1/activities", "post", 201),
        ("/api/v1/clients/search", "post", 200),
        ("/api/v1/contacts/search", "post", 200),
        ("/api/v1/deals/search", "post", 200),
        ("/api/v1/activities/search", "post", 200),
    ] {
        let schema =
            &document["paths"][path][operation]["requestBody"]["content"]["application/json"]["schema"];
        let name = schema["$ref"].as_str().unwrap_or_default().trim_start_matches("#/components/schemas/");
        let mut example = document["components"]["schemas"][name]["example"].clone();
        assert!(example.is_object(), "{path} has no example");
        if example.get("client_id").is_some() {
            example["client_id"] = client_id.clone();
        }
        app.post(path, &owner, example).await.expect(status);
    }
    // A client body is one of two kinds; the person's has an example of its own (the company's is
    // the one sent above).
    let person = document["components"]["schemas"]["ClientPersonInput"]["example"].clone();
    assert_eq!(person["kind"], "person");
    app.post("/api/v1/clients", &owner, person).await.expect(201);
}
