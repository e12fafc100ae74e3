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
    let response = app
        .send_raw(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some("application/json"),
            b"{\"email\": ".to_vec(),
        )
        .await;
    let problem = response.expect_problem(400, "malformed_json");
    assert!(problem["detail"].as_str().is_some_and(|detail| detail.contains("not valid JSON")));
}

/// serde_json keeps the last of repeated keys: the body a log or a proxy shows (the first) would
/// not be the one stored.
#[actix_web::test]
async fn a_repeated_key_in_a_body_is_a_400_naming_it_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for (body, detail) in [
        (
            &br#"{"kind": "company", "name": "Shown", "name": "Stored"}"#[..],
            "the body repeats the key `name`",
        ),
        (
            br#"{"kind": "company", "name": "Shown", "custom": {"tier": "a", "tier": "b"}}"#,
            "the body repeats the key `tier` in `custom`",
        ),
    ] {
        let response = app
            .send_raw(Method::POST, "/api/v1/clients", Some(&owner), Some("application/json"), body.to_vec())
            .await;
        assert_eq!(response.expect_problem(400, "duplicate_key")["detail"], detail);
    }
    assert_eq!(app.get("/api/v1/clients", &owner).await.expect(200)["data"], json!([]));
}

/// JSON Schema's `integer` includes `60.0`; generated clients and fuzzers send it so.
#[actix_web::test]
async fn a_whole_number_written_with_a_fraction_fills_an_integer_field() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let body = json!({"kind": "call", "subject": "Short call", "status": "done", "duration_seconds": 60.0});
    let call = app.post("/api/v1/activities", &owner, body).await;
    assert_eq!(call.expect(201)["duration_seconds"], 60);
    let half = json!({"kind": "call", "subject": "Half a second", "duration_seconds": 0.5});
    let refused = app.post("/api/v1/activities", &owner, half).await;
    assert_eq!(refused.expect_problem(422, "validation_failed")["errors"][0]["field"], "duration_seconds");
}

#[actix_web::test]
async fn a_body_without_a_content_type_is_a_415() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let body = br#"{"kind": "company", "name": "Untyped"}"#.to_vec();
    let response = app.send_raw(Method::POST, "/api/v1/clients", Some(&owner), None, body).await;
    response.expect_problem(415, "unsupported_media_type");
    assert_eq!(app.get("/api/v1/clients", &owner).await.expect(200)["data"], json!([]));
}

/// A misspelt filter used to be ignored, and the list answered with everything.
#[actix_web::test]
async fn an_unknown_query_parameter_is_a_400_naming_it_and_what_the_operation_takes() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Old"})).await.expect(201);
    let misspelt = app.get("/api/v1/clients?updated_sinse=2030-01-01T00:00:00Z&limit=5", &owner).await;
    let detail =
        misspelt.expect_problem(400, "unknown_query_parameter")["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("unknown query parameter `updated_sinse`: it takes "), "{detail}");
    assert!(detail.contains("`updated_since`") && detail.contains("`limit`"), "{detail}");
    let several = app.get("/api/v1/me?b=1&a=2&b=3", &owner).await;
    assert_eq!(
        several.expect_problem(400, "unknown_query_parameter")["detail"],
        "unknown query parameters `a`, `b`: it takes none"
    );
    // A write with one is refused before it happens.
    let refused =
        app.post("/api/v1/clients?dry_run=true", &owner, json!({"kind": "company", "name": "New"})).await;
    refused.expect_problem(400, "unknown_query_parameter");
    let page = app.get("/api/v1/clients?updated_since=2000-01-01T00:00:00Z&limit=5", &owner).await;
    let names: Vec<&str> = page.expect(200)["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["Old"]);
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
    let response =
        app.send_raw(Method::POST, "/api/v1/auth/login", None, Some("text/plain"), b"email=x".to_vec()).await;
    response.expect_problem(415, "unsupported_media_type");
}

#[actix_web::test]
async fn an_oversized_body_is_a_413_problem() {
    let app = TestApp::spawn().await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(BODY_LIMIT)});
    let body = serde_json::to_vec(&huge).unwrap_or_default();
    let response =
        app.send_raw(Method::POST, "/api/v1/auth/login", None, Some("application/json"), body).await;
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
    let refused = app.get("/api/v1/clients?tag=a%00b", &owner).await;
    refused.expect_problem(400, "invalid_text");
    // Refused before the routes, but still with the headers of every API answer.
    assert_eq!(refused.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    assert!(refused.header("x-request-id").is_some());
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

#[actix_web::test]
async fn a_name_of_blanks_is_a_422_naming_the_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let post = |path: String, body: serde_json::Value| {
        let (app, owner) = (&app, owner.clone());
        async move { app.post(&path, &owner, body).await.expect(201).clone() }
    };
    let client = post("/api/v1/clients".into(), json!({"kind": "company", "name": "Acme"})).await;
    let pipeline = post("/api/v1/pipelines".into(), json!({"name": "Wholesale"})).await;
    let pipeline_path = format!("/api/v1/pipelines/{}", pipeline["id"].as_str().unwrap_or_default());
    let stage_path =
        format!("{pipeline_path}/stages/{}", pipeline["stages"][0]["id"].as_str().unwrap_or_default());
    let deal = post("/api/v1/deals".into(), json!({"title": "Deal", "client_id": client["id"]})).await;
    let deal_path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap_or_default());
    let call = post(
        "/api/v1/activities".into(),
        json!({"kind": "call", "subject": "Call", "due_at": "2030-01-01T10:00:00Z"}),
    )
    .await;
    let call_path = format!("/api/v1/activities/{}", call["id"].as_str().unwrap_or_default());
    let team = post("/api/v1/teams".into(), json!({"name": "North"})).await;
    let team_path = format!("/api/v1/teams/{}", team["id"].as_str().unwrap_or_default());
    let product =
        post("/api/v1/products".into(), json!({"sku": "T", "name": "Tea", "price": "1", "currency": "USD"}))
            .await;
    let product_path = format!("/api/v1/products/{}", product["id"].as_str().unwrap_or_default());
    let session = app.owner_session().await;
    let me = format!("/api/v1/users/{}", session["user_id"].as_str().unwrap_or_default());
    let reads = [
        &pipeline_path,
        &deal_path,
        &call_path,
        &team_path,
        &product_path,
        &me,
        &"/api/v1/workspace".to_string(),
    ];
    let mut before = Vec::new();
    for path in reads {
        before.push(app.get(path, &owner).await.expect(200).clone());
    }
    let count = |list: &'static str| {
        let (app, owner) = (&app, owner.clone());
        async move { app.get(list, &owner).await.expect(200)["data"].as_array().map_or(0, Vec::len) }
    };
    let lists = [
        "/api/v1/deals",
        "/api/v1/activities",
        "/api/v1/pipelines",
        "/api/v1/teams",
        "/api/v1/products",
        "/api/v1/segments",
        "/api/v1/custom-fields",
        "/api/v1/users",
    ];
    let mut counts = Vec::new();
    for list in lists {
        counts.push(count(list).await);
    }

    // U+0085 (NEL) is white space to Unicode, and to the document's pattern, though not to `\s`.
    for blank in [" ", "\t", "\n", "\u{a0}", "\u{3000} \u{2003}", "\u{85}"] {
        let cases = [
            (
                Method::POST,
                "/api/v1/deals".to_string(),
                json!({"title": blank, "client_id": client["id"]}),
                "title",
            ),
            (Method::PATCH, deal_path.clone(), json!({"title": blank}), "title"),
            (
                Method::POST,
                "/api/v1/deals".to_string(),
                json!({"title": "D", "client_id": client["id"], "items": [{"name": blank, "quantity": "1", "unit_price": "1"}]}),
                "items[0].name",
            ),
            (
                Method::POST,
                "/api/v1/activities".to_string(),
                json!({"kind": "call", "subject": blank}),
                "subject",
            ),
            (Method::PATCH, call_path.clone(), json!({"subject": blank}), "subject"),
            (
                Method::POST,
                format!("{call_path}/complete"),
                json!({"next": {"kind": "call", "subject": blank, "due_at": "2030-01-02T10:00:00Z"}}),
                "next.subject",
            ),
            (Method::POST, "/api/v1/pipelines".to_string(), json!({"name": blank}), "name"),
            (
                Method::POST,
                "/api/v1/pipelines".to_string(),
                json!({"name": "P", "stages": [{"name": blank, "kind": "open"}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}),
                "stages[0].name",
            ),
            (Method::PATCH, pipeline_path.clone(), json!({"name": blank}), "name"),
            (Method::POST, format!("{pipeline_path}/stages"), json!({"name": blank, "kind": "open"}), "name"),
            (Method::PATCH, stage_path.clone(), json!({"name": blank}), "name"),
            (Method::POST, "/api/v1/teams".to_string(), json!({"name": blank}), "name"),
            (Method::PATCH, team_path.clone(), json!({"name": blank}), "name"),
            (
                Method::POST,
                "/api/v1/products".to_string(),
                json!({"sku": blank, "name": "N", "price": "1", "currency": "USD"}),
                "sku",
            ),
            (
                Method::POST,
                "/api/v1/products".to_string(),
                json!({"sku": "S", "name": blank, "price": "1", "currency": "USD"}),
                "name",
            ),
            (Method::PATCH, product_path.clone(), json!({"name": blank}), "name"),
            (Method::PATCH, "/api/v1/workspace".to_string(), json!({"name": blank}), "name"),
            (Method::POST, "/api/v1/segments".to_string(), json!({"name": blank, "kind": "static"}), "name"),
            (
                Method::POST,
                "/api/v1/custom-fields".to_string(),
                json!({"entity": "client", "key": "k", "label": blank, "type": "text"}),
                "label",
            ),
            (
                Method::POST,
                "/api/v1/users".to_string(),
                json!({"email": "blank@example.com", "full_name": blank, "role": "sales", "password": "a-password-1"}),
                "full_name",
            ),
            (Method::PATCH, me.clone(), json!({"full_name": blank}), "full_name"),
            (
                Method::POST,
                "/api/v1/contacts".to_string(),
                json!({"client_id": client["id"], "first_name": "Anna", "messengers": [{"kind": "telegram", "handle": blank}]}),
                "messengers[0].handle",
            ),
        ];
        for (method, path, body, field) in cases {
            // A custom field's label and a messenger's handle had their own rule before: blank is a
            // wrong length there.
            let code = if path.ends_with("/custom-fields") || path.ends_with("/contacts") {
                "length"
            } else {
                "blank"
            };
            let response = app.request(method.clone(), &path, Some(&owner), Some(&body)).await;
            let problem = response.expect_problem(422, "validation_failed");
            assert_eq!(
                crate::support::http::field_errors(problem),
                [(field.to_string(), code.to_string())],
                "{method} {path} with {blank:?}"
            );
        }
    }
    for (path, before) in reads.into_iter().zip(&before) {
        app.assert_unchanged(path, &owner, before).await;
    }
    for (list, before) in lists.iter().zip(&counts) {
        assert_eq!(&count(list).await, before, "{list}: nothing was added");
    }
}

/// Every required text field of every create, read from the OpenAPI document, refuses each kind
/// of blank (spaces, a tab, a line break, U+00A0, U+3000) with a 422 naming it, and stores
/// nothing. A new create operation or required field fails this test until it is listed here.
#[actix_web::test]
async fn every_required_text_field_refuses_blank_values_by_name() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let valid = valid_creates(&app, &owner).await;
    // Credentials and tokens: a blank one is a wrong one, refused as such (tests/api/auth.rs).
    let credentials = ["login", "logout", "refresh_token"];

    let document = app.request(Method::GET, "/api/v1/openapi.json", None, None).await.expect(200).clone();
    let mut required_text = Vec::new();
    for item in document["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        let Some(operation) = item.get("post") else { continue };
        let id = operation["operationId"].as_str().unwrap_or_default().to_string();
        let Some(reference) =
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        else {
            continue;
        };
        let schema = &document["components"]["schemas"][reference.rsplit('/').next().unwrap_or_default()];
        for field in schema["required"].as_array().into_iter().flatten().filter_map(|field| field.as_str()) {
            let property = &schema["properties"][field];
            let property = match property["$ref"].as_str() {
                Some(reference) => {
                    &document["components"]["schemas"][reference.rsplit('/').next().unwrap_or_default()]
                }
                None => property,
            };
            if property["type"] == "string" && !credentials.contains(&id.as_str()) {
                required_text.push((id.clone(), field.to_string()));
            }
        }
    }
    assert!(required_text.len() >= 15, "{required_text:?}");

    let counts = "SELECT (SELECT count(*) FROM clients) + (SELECT count(*) FROM contacts) + (SELECT count(*) FROM deals) \
                  + (SELECT count(*) FROM activities) + (SELECT count(*) FROM pipelines) + (SELECT count(*) FROM stages) \
                  + (SELECT count(*) FROM products) + (SELECT count(*) FROM segments) + (SELECT count(*) FROM teams) \
                  + (SELECT count(*) FROM users) + (SELECT count(*) FROM custom_fields) \
                  + (SELECT count(*) FROM consent_records) AS value";
    let before = app.sql_i64(counts).await;
    for (operation, field) in &required_text {
        let (_, path, body) = valid.iter().find(|(id, _, _)| id == operation).unwrap_or_else(|| {
            panic!("{operation} takes required text ({field}): give it a valid body here")
        });
        for blank in [" ", "   ", "\t", "\n", "\u{a0}", "\u{3000}"] {
            let mut blanked = body.clone();
            blanked[field.as_str()] = json!(blank);
            let response = app.post(path, &owner, blanked).await;
            let problem = response.expect(422);
            let named = problem["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|error| error["field"] == field.as_str());
            assert!(named, "{operation}.{field} = {blank:?}: {problem}");
        }
    }
    assert_eq!(app.sql_i64(counts).await, before, "a blank value stored something");
}

/// A valid body for every create operation that takes required text, by operation id, with its
/// path (a client and the default pipeline made first, for the ones that name them).
async fn valid_creates(app: &TestApp, owner: &str) -> Vec<(&'static str, String, serde_json::Value)> {
    let client = app
        .post("/api/v1/clients", owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let pipelines = app.get("/api/v1/pipelines", owner).await.expect(200).clone();
    let pipeline = pipelines["data"][0]["id"].as_str().unwrap_or_default().to_string();
    let contact = json!({"client_id": client["id"], "first_name": "Olga"});
    let contact = app.post("/api/v1/contacts", owner, contact).await.expect(201).clone();
    let consent =
        json!({"purpose": "calls", "state": "granted", "channel": "phone", "wording_version": "v1"});
    let segment = json!({"name": "To call", "kind": "static"});
    let segment = app.post("/api/v1/segments", owner, segment).await.expect(201).clone();
    vec![
        (
            "create_call_list",
            format!("/api/v1/segments/{}/call-list", segment["id"].as_str().unwrap_or_default()),
            json!({"assignees": "owner", "subject": "Spring offer"}),
        ),
        ("create_activity", "/api/v1/activities".into(), json!({"kind": "call", "subject": "Call"})),
        ("create_client", "/api/v1/clients".into(), json!({"kind": "company", "name": "Beta"})),
        (
            "record_client_consent",
            format!("/api/v1/clients/{}/consents", client["id"].as_str().unwrap_or_default()),
            consent.clone(),
        ),
        (
            "record_contact_consent",
            format!("/api/v1/contacts/{}/consents", contact["id"].as_str().unwrap_or_default()),
            consent,
        ),
        ("create_api_key", "/api/v1/api-keys".into(), json!({"name": "Shop", "scopes": ["clients:read"]})),
        (
            "create_webhook",
            "/api/v1/webhooks".into(),
            json!({"url": "https://shop.example.com/hooks", "event_types": ["*"]}),
        ),
        (
            "create_contact",
            "/api/v1/contacts".into(),
            json!({"client_id": client["id"], "first_name": "Anna"}),
        ),
        (
            "create_custom_field",
            "/api/v1/custom-fields".into(),
            json!({"entity": "client", "key": "tier", "label": "Tier", "type": "text"}),
        ),
        ("create_deal", "/api/v1/deals".into(), json!({"title": "Tea", "client_id": client["id"]})),
        ("create_pipeline", "/api/v1/pipelines".into(), json!({"name": "Partners"})),
        (
            "create_stage",
            format!("/api/v1/pipelines/{pipeline}/stages"),
            json!({"name": "Demo", "kind": "open"}),
        ),
        (
            "create_product",
            "/api/v1/products".into(),
            json!({"sku": "TEA", "name": "Tea", "price": "1", "currency": "EUR"}),
        ),
        ("create_segment", "/api/v1/segments".into(), json!({"name": "VIP", "kind": "static"})),
        (
            "create_import",
            "/api/v1/imports".into(),
            json!({"entity": "clients", "csv": "name\nAcme\n", "dry_run": true}),
        ),
        ("create_team", "/api/v1/teams".into(), json!({"name": "North"})),
        ("create_target", "/api/v1/targets".into(), json!({"period": "2026-Q1", "revenue": "1000"})),
        (
            "create_user",
            "/api/v1/users".into(),
            json!({"email": "new@example.com", "full_name": "New", "role": "sales", "password": "password-123"}),
        ),
    ]
}

/// A hostile-input corpus against every create and every search: NUL characters, lone
/// surrogates, invalid UTF-8, 100,000-character strings, huge and tiny numbers, deep nesting,
/// duplicate keys and wrong types, in every field. Each is a 4xx or a success, never a 5xx, and
/// the records that were there before are untouched.
#[actix_web::test]
async fn hostile_values_anywhere_in_a_write_or_search_are_never_a_5xx() {
    // Well over a thousand requests a minute from one person: the rate limit (tested on its own)
    // would answer the last of them 429 before they reach what this test is about.
    let app = TestApp::spawn_with(|state| state.user_requests_per_minute = 100_000).await;
    let owner = app.owner_token().await;
    let valid = valid_creates(&app, &owner).await;
    let clients_before = app.get("/api/v1/clients?limit=200", &owner).await.expect(200).clone();
    let mut nested = json!("deep");
    for _ in 0..200 {
        nested = json!([nested]);
    }
    let hostile = [
        json!("\u{0}"),
        json!("a\u{0}b"),
        json!("x".repeat(100_000)),
        json!("\u{202e}\u{feff}\u{fffd}"),
        json!(1e308),
        json!(-1e308),
        json!(5e-324),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(true),
        json!(null),
        json!([]),
        json!({"$ne": 1}),
        nested,
    ];
    let mut server_errors = Vec::new();
    for (operation, path, body) in &valid {
        let fields: Vec<String> =
            body.as_object().into_iter().flat_map(|object| object.keys().cloned()).collect();
        for field in fields.iter().map(String::as_str).chain(["custom", "tags", "not_a_field"]) {
            for value in &hostile {
                let mut changed = body.clone();
                changed[field] = value.clone();
                let status = app.post(path, &owner, changed).await.status;
                if status >= 500 {
                    server_errors.push(format!("{operation}.{field} = {}: {status}", abbreviated(value)));
                }
            }
        }
        // What serde_json can't build: lone surrogates, invalid UTF-8, duplicate keys, a body
        // nested deeper than any parser should follow.
        let raw: [&[u8]; 5] = [
            br#"{"name": "\ud800", "title": "\udfff", "subject": "\ud800x"}"#,
            b"{\"name\": \"\xff\xfe\", \"kind\": \"company\"}",
            br#"{"kind": "company", "kind": "person", "name": "A", "name": "B"}"#,
            &[b'['; 100_000],
            b"{\"name\": 1e999999}",
        ];
        for bytes in raw {
            let status = app
                .send_raw(Method::POST, path, Some(&owner), Some("application/json"), bytes.to_vec())
                .await
                .status;
            if status >= 500 {
                server_errors.push(format!(
                    "{operation} raw {:?}: {status}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
                ));
            }
        }
    }
    for search in [
        "/api/v1/clients/search",
        "/api/v1/contacts/search",
        "/api/v1/deals/search",
        "/api/v1/activities/search",
    ] {
        let many: Vec<_> =
            (0..2000).map(|n| json!({"field": "tags", "op": "contains", "value": n.to_string()})).collect();
        let filters = [
            json!({"all": many}),
            json!({"field": "id", "op": "in", "value": vec!["00000000-0000-0000-0000-000000000000"; 5000]}),
            json!({"field": "created_at", "op": "between", "value": ["-999999-01-01T00:00:00Z", "+999999-12-31T00:00:00Z"]}),
            json!({"field": "updated_at", "op": "within_days", "value": i64::MAX}),
            json!({"field": "version", "op": "gt", "value": 1e308}),
            json!({"field": "id", "op": "eq", "value": "'; DROP TABLE clients; --"}),
            json!({"field": "custom.x\u{0}", "op": "eq", "value": "y"}),
            json!({"any": [{"all": [{"any": [{"all": [{"any": [{"all": [{"field": "id", "op": "is_null"}]}]}]}]}]}]}),
            json!([1, 2, 3]),
            json!("x".repeat(100_000)),
        ];
        for filter in filters {
            for body in [
                json!({"filter": filter.clone()}),
                json!({"filter": {"field": "id", "op": "is_null"}, "sort": filter.clone(), "cursor": filter.clone(), "limit": filter.clone()}),
            ] {
                let status = app.post(search, &owner, body).await.status;
                if status >= 500 {
                    server_errors.push(format!("{search} {}: {status}", abbreviated(&filter)));
                }
            }
        }
    }
    assert!(server_errors.is_empty(), "{server_errors:#?}");
    let clients_after = app.get("/api/v1/clients?limit=200", &owner).await.expect(200).clone();
    let consent_subjects: Vec<&String> = valid
        .iter()
        .filter(|(operation, _, _)| *operation == "record_client_consent")
        .map(|(_, path, _)| path)
        .collect();
    let ids = |page: &serde_json::Value| -> Vec<(String, i64)> {
        page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|client| {
                clients_before["data"].as_array().into_iter().flatten().any(|old| old["id"] == client["id"])
            })
            // Recording a client's consent is a new version of that client, by design: it is the
            // one client from before that the valid requests change.
            .filter(|client| {
                !consent_subjects.iter().any(|path| path.contains(client["id"].as_str().unwrap_or("-")))
            })
            .map(|client| {
                (
                    client["id"].as_str().unwrap_or_default().to_string(),
                    client["version"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    };
    assert_eq!(ids(&clients_after), ids(&clients_before), "a client from before changed");
}

fn abbreviated(value: &serde_json::Value) -> String {
    let text = value.to_string();
    text.chars().take(60).collect()
}

/// A name, SKU or email taken by a concurrent request between the handler's check and its write
/// breaks a unique key: each key of the schema answers with the code the check would have given
/// (or asks for a retry), not with the catch-all `already_exists`. Keys on ids alone are left out:
/// ids are generated; so are the keys of what only a background job writes, under its claim.
#[actix_web::test]
async fn every_unique_key_breaks_with_a_code_of_its_own() {
    #[derive(diesel::QueryableByName)]
    struct Index {
        #[diesel(sql_type = diesel::sql_types::Text)]
        indexname: String,
    }
    const ID_KEYS: &[&str] = &["stages_workspace_id_pipeline_id_id_key"];
    const JOB_KEYS: &[&str] = &["activity_cells_key", "client_numbers_number_key", "sales_cells_key"];
    let app = TestApp::spawn().await;
    let keys: Vec<String> = app
        .on_database(|conn| {
            let query = "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' \
                         AND indexdef LIKE 'CREATE UNIQUE INDEX%' AND indexname NOT LIKE '%\\_pkey' ORDER BY 1";
            diesel::RunQueryDsl::load::<Index>(diesel::sql_query(query), conn).expect("the unique keys")
        })
        .await
        .into_iter()
        .map(|index| index.indexname)
        .filter(|name| !ID_KEYS.contains(&name.as_str()) && !JOB_KEYS.contains(&name.as_str()))
        .collect();
    assert!(keys.contains(&"teams_name_key".to_string()), "{keys:?}");
    let generic: Vec<&String> = keys
        .iter()
        .filter(|key| crm::error::unique_key_broken(Some(key)).to_problem().code.as_str() == "already_exists")
        .collect();
    assert!(generic.is_empty(), "unique keys without a code of their own: {generic:?}");

    // And a real violation reaches the mapping by its key's name.
    let owner = app.owner_token().await;
    app.post("/api/v1/teams", &owner, json!({"name": "North"})).await.expect(201);
    let broken = app
        .on_database(|conn| {
            let insert = "INSERT INTO teams (workspace_id, id, name) SELECT workspace_id, gen_random_uuid(), 'NORTH' \
                          FROM teams LIMIT 1";
            diesel::RunQueryDsl::execute(diesel::sql_query(insert), conn).expect_err("the name is taken")
        })
        .await;
    assert_eq!(crm::error::ApiError::from(broken).to_problem().code.as_str(), "team_name_taken");
}
