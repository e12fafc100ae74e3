use actix_web::http::Method;
use serde_json::{Value, json};

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

/// Swagger UI's "Try it out" sends a body's example as it stands: every operation that takes a
/// body has one, and each is accepted in a workspace with the records it names (whose ids no
/// document can know: the test puts real ones in the path and in fields that name records).
#[actix_web::test]
async fn every_request_body_example_is_accepted() {
    let app = crate::support::TestApp::spawn().await;
    let owner = app.owner_token().await;
    let document = serde_json::to_value(crm::openapi::document()).expect("the document serialises");
    let mut sent = std::collections::BTreeSet::new();
    // The example of the body `method template` takes, with `ids` put in, sent to `path`.
    let mut send = async |method: Method, template: &str, path: &str, ids: &[(&str, Value)], status: u16| {
        let operation = &document["paths"][template][method.as_str().to_lowercase()];
        let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
        let name = schema["$ref"].as_str().unwrap_or_default().trim_start_matches("#/components/schemas/");
        let mut example = document["components"]["schemas"][name]["example"].clone();
        assert!(example.is_object(), "{method} {template} has no example");
        for (field, id) in ids {
            example[*field] = id.clone();
        }
        sent.insert(format!("{method} {template}"));
        app.request(method, path, Some(&owner), Some(&example)).await.expect(status).clone()
    };
    let post = Method::POST;
    let patch = Method::PATCH;

    let client = send(post.clone(), "/api/v1/clients", "/api/v1/clients", &[], 201).await;
    let client_id = client["id"].clone();
    let with_client = [("client_id", client_id.clone())];
    let id_of = |record: &Value| record["id"].as_str().unwrap_or_default().to_string();
    let client_path = format!("/api/v1/clients/{}", id_of(&client));
    send(patch.clone(), "/api/v1/clients/{id}", &client_path, &[], 200).await;
    // A client body is one of two kinds; the person's has an example of its own.
    let person = document["components"]["schemas"]["ClientPersonInput"]["example"].clone();
    assert_eq!(person["kind"], "person");
    app.post("/api/v1/clients", &owner, person).await.expect(201);

    let contact = send(post.clone(), "/api/v1/contacts", "/api/v1/contacts", &with_client, 201).await;
    let contact_path = format!("/api/v1/contacts/{}", id_of(&contact));
    send(patch.clone(), "/api/v1/contacts/{id}", &contact_path, &[], 200).await;

    let deal = send(post.clone(), "/api/v1/deals", "/api/v1/deals", &with_client, 201).await;
    send(patch.clone(), "/api/v1/deals/{id}", &format!("/api/v1/deals/{}", id_of(&deal)), &[], 200).await;

    let call = send(post.clone(), "/api/v1/activities", "/api/v1/activities", &with_client, 201).await;
    let call_path = format!("/api/v1/activities/{}", id_of(&call));
    send(post.clone(), "/api/v1/activities/{id}/complete", &format!("{call_path}/complete"), &[], 200).await;
    let task = send(post.clone(), "/api/v1/activities", "/api/v1/activities", &with_client, 201).await;
    let task_path = format!("/api/v1/activities/{}", id_of(&task));
    send(patch.clone(), "/api/v1/activities/{id}", &task_path, &[], 200).await;

    for entity in ["clients", "contacts", "deals", "activities"] {
        let path = format!("/api/v1/{entity}/search");
        send(post.clone(), &path, &path, &[], 200).await;
    }

    let field = send(post.clone(), "/api/v1/custom-fields", "/api/v1/custom-fields", &[], 201).await;
    let field_path = format!("/api/v1/custom-fields/{}", id_of(&field));
    send(patch.clone(), "/api/v1/custom-fields/{id}", &field_path, &[], 200).await;

    let pipeline = send(post.clone(), "/api/v1/pipelines", "/api/v1/pipelines", &[], 201).await;
    let pipeline_path = format!("/api/v1/pipelines/{}", id_of(&pipeline));
    send(patch.clone(), "/api/v1/pipelines/{id}", &pipeline_path, &[], 200).await;
    let stage_path = format!("{pipeline_path}/stages");
    let stage = send(post.clone(), "/api/v1/pipelines/{id}/stages", &stage_path, &[], 201).await;
    let stages: Vec<Value> =
        stage["stages"].as_array().into_iter().flatten().map(|s| s["id"].clone()).collect();
    let new_stage = stage["stages"].as_array().into_iter().flatten().find(|s| s["name"] == "Negotiation");
    let new_stage = new_stage.map(id_of).unwrap_or_default();
    send(
        patch.clone(),
        "/api/v1/pipelines/{id}/stages/{stage_id}",
        &format!("{stage_path}/{new_stage}"),
        &[],
        200,
    )
    .await;
    let reversed: Vec<Value> = stages.into_iter().rev().collect();
    let reorder = format!("{stage_path}/reorder");
    send(
        post.clone(),
        "/api/v1/pipelines/{id}/stages/reorder",
        &reorder,
        &[("stage_ids", json!(reversed))],
        200,
    )
    .await;

    let product = send(post.clone(), "/api/v1/products", "/api/v1/products", &[], 201).await;
    let product_path = format!("/api/v1/products/{}", id_of(&product));
    send(patch.clone(), "/api/v1/products/{id}", &product_path, &[], 200).await;

    let segment = send(post.clone(), "/api/v1/segments", "/api/v1/segments", &[], 201).await;
    let segment_path = format!("/api/v1/segments/{}", id_of(&segment));
    send(patch.clone(), "/api/v1/segments/{id}", &segment_path, &[], 200).await;
    send(post.clone(), "/api/v1/segments/preview", "/api/v1/segments/preview", &[], 200).await;
    let list = app.post("/api/v1/segments", &owner, json!({"name": "Call list", "kind": "static"})).await;
    let members = format!("/api/v1/segments/{}/members", id_of(list.expect(201)));
    let clients = [("client_ids", json!([client_id]))];
    send(post.clone(), "/api/v1/segments/{id}/members", &members, &clients, 200).await;
    send(Method::DELETE, "/api/v1/segments/{id}/members", &members, &clients, 200).await;
    let from_filter = format!("{members}/from-filter");
    send(post.clone(), "/api/v1/segments/{id}/members/from-filter", &from_filter, &[], 200).await;
    // No member has consented to calls: the list plans none, and says why.
    let call_list = format!("{segment_path}/call-list");
    send(post.clone(), "/api/v1/segments/{id}/call-list", &call_list, &[], 200).await;

    let webhook = send(post.clone(), "/api/v1/webhooks", "/api/v1/webhooks", &[], 201).await;
    let webhook_path = format!("/api/v1/webhooks/{}", webhook["webhook"]["id"].as_str().unwrap_or_default());
    send(patch.clone(), "/api/v1/webhooks/{id}", &webhook_path, &[], 200).await;

    let team = send(post.clone(), "/api/v1/teams", "/api/v1/teams", &[], 201).await;
    send(patch.clone(), "/api/v1/teams/{id}", &format!("/api/v1/teams/{}", id_of(&team)), &[], 200).await;
    let target = send(post.clone(), "/api/v1/targets", "/api/v1/targets", &[], 201).await;
    send(patch.clone(), "/api/v1/targets/{id}", &format!("/api/v1/targets/{}", id_of(&target)), &[], 200)
        .await;
    let user = send(post.clone(), "/api/v1/users", "/api/v1/users", &[], 201).await;
    let shares = format!("{client_path}/shares");
    let with_user = [("user_id", user["id"].clone())];
    send(post.clone(), "/api/v1/clients/{id}/shares", &shares, &with_user, 201).await;
    send(post.clone(), "/api/v1/clients/{id}/consents", &format!("{client_path}/consents"), &[], 201).await;
    send(post.clone(), "/api/v1/contacts/{id}/consents", &format!("{contact_path}/consents"), &[], 201).await;
    send(patch.clone(), "/api/v1/users/{id}", &format!("/api/v1/users/{}", id_of(&user)), &[], 200).await;
    send(patch.clone(), "/api/v1/workspace", "/api/v1/workspace", &[], 200).await;
    send(post.clone(), "/api/v1/api-keys", "/api/v1/api-keys", &[], 201).await;
    send(post.clone(), "/api/v1/imports", "/api/v1/imports", &[], 202).await;
    let twin = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme twin"})).await;
    let from_twin = [("from", json!([twin.expect(201)["id"]]))];
    send(post.clone(), "/api/v1/clients/{id}/merge", &format!("{client_path}/merge"), &from_twin, 200).await;
    let twin = json!({"client_id": client_id, "first_name": "Anna"});
    let twin = app.post("/api/v1/contacts", &owner, twin).await.expect(201)["id"].clone();
    let merge_contact = format!("{contact_path}/merge");
    send(post.clone(), "/api/v1/contacts/{id}/merge", &merge_contact, &[("from", json!([twin]))], 200).await;
    let by_ref = "/api/v1/clients/by-ref/{system}/{id}";
    send(
        Method::PUT,
        by_ref,
        "/api/v1/clients/by-ref/1c/000123",
        &[("kind", json!("company")), ("name", json!("Acme"))],
        201,
    )
    .await;
    // The product's example changes a price: it updates the product that has the ref.
    let refs = json!({"external_refs": [{"system": "shop", "id": "SKU-100"}]});
    app.patch(&product_path, &owner, refs).await.expect(200);
    let product_by_ref = "/api/v1/products/by-ref/{system}/{id}";
    send(Method::PUT, product_by_ref, "/api/v1/products/by-ref/shop/SKU-100", &[], 200).await;
    // The other upserts' examples are changes; with what a new record needs, they create one.
    let contact_by_ref = "/api/v1/contacts/by-ref/{system}/{id}";
    let new_contact = [with_client[0].clone(), ("first_name", json!("Anna"))];
    send(Method::PUT, contact_by_ref, "/api/v1/contacts/by-ref/1c/P-7", &new_contact, 201).await;
    let deal_by_ref = "/api/v1/deals/by-ref/{system}/{id}";
    send(Method::PUT, deal_by_ref, "/api/v1/deals/by-ref/shop/ORDER-1001", &with_client, 201).await;
    let activity_by_ref = "/api/v1/activities/by-ref/{system}/{id}";
    let new_call = [with_client[0].clone(), ("kind", json!("call")), ("subject", json!("Incoming call"))];
    send(Method::PUT, activity_by_ref, "/api/v1/activities/by-ref/pbx/call-88812", &new_call, 201).await;
    // The batches' examples name records by the refs given above, and each of their operations
    // succeeds (but the clients' second, the company the create example made already: a duplicate).
    send(post.clone(), "/api/v1/clients/batch", "/api/v1/clients/batch", &[], 200).await;
    for entity in ["contacts", "deals", "products", "activities"] {
        let path = format!("/api/v1/{entity}/batch");
        let answer = send(post.clone(), &path, &path, &[], 200).await;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        let succeeded = |result: &Value| result["status"].as_u64().is_some_and(|status| status < 300);
        assert!(results.iter().all(succeeded), "{answer}");
    }
    // The login example is the new user's credentials; refreshing and logging out take the token
    // that login answered, which no example can hold.
    let login = send(post.clone(), "/api/v1/auth/login", "/api/v1/auth/login", &[], 200).await;
    let refresh = [("refresh_token", login["refresh_token"].clone())];
    let rotated = send(post.clone(), "/api/v1/auth/refresh", "/api/v1/auth/refresh", &refresh, 200).await;
    let refresh = [("refresh_token", rotated["refresh_token"].clone())];
    send(post.clone(), "/api/v1/auth/logout", "/api/v1/auth/logout", &refresh, 204).await;

    let with_bodies: std::collections::BTreeSet<String> = document["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(_, operation)| operation.get("requestBody").is_some())
                .map(move |(method, _)| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let unsent: Vec<&String> = with_bodies.difference(&sent).collect();
    assert!(unsent.is_empty(), "bodies whose example no test sends: {unsent:?}");
}

/// Where two JSON values differ in shape: keys one has and the other lacks, or a value of another
/// JSON type. Null stands for any type (a nullable field may be set in one and not the other), an
/// empty array for any items, and the keys of `FREE_KEYED` maps are the caller's own.
fn shape_differences(example: &Value, real: &Value, at: &str, differences: &mut Vec<String>) {
    /// Maps whose keys are data, not fields: custom values, a change's fields and the consent purposes.
    const FREE_KEYED: &[&str] = &["custom", "changes", "consents"];
    match (example, real) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(example), Value::Object(real)) => {
            let free_keyed = FREE_KEYED.iter().any(|name| at.ends_with(&format!(".{name}")));
            for key in example.keys().chain(real.keys()).collect::<std::collections::BTreeSet<_>>() {
                match (example.get(key), real.get(key)) {
                    (Some(example), Some(real)) => {
                        shape_differences(example, real, &format!("{at}.{key}"), differences)
                    }
                    _ if free_keyed => {}
                    (Some(_), None) => differences.push(format!("{at}.{key} is in the example only")),
                    _ => differences.push(format!("{at}.{key} is missing from the example")),
                }
            }
        }
        (Value::Array(example), Value::Array(real)) => {
            if let (Some(example), Some(real)) = (example.first(), real.first()) {
                shape_differences(example, real, &format!("{at}[0]"), differences);
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => differences.push(format!("{at} is {example} in the example but {real} in a response")),
    }
}

/// A response example is what a reader copies and a mock server answers: each has every field a
/// real response has, and no other, with values of the same JSON types. (Redocly checks each
/// against its schema.)
#[actix_web::test]
async fn every_response_example_has_the_fields_of_a_real_response() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let document = crm::openapi::document();
    let schemas = &document["components"]["schemas"];
    let example_of = |name: &str| schemas[name]["example"].clone();
    let mut compared = std::collections::BTreeSet::new();
    let mut differences = Vec::new();
    let mut compare = |name: &str, real: &Value| {
        compared.insert(name.to_string());
        shape_differences(&example_of(name), real, name, &mut differences);
    };

    let client = app.post("/api/v1/clients", &owner, example_of("ClientInput")).await.expect(201).clone();
    compare("ClientResponse", &client);
    let with_client = |mut body: Value| {
        body["client_id"] = client["id"].clone();
        body
    };
    let contact = app.post("/api/v1/contacts", &owner, with_client(example_of("ContactInput"))).await;
    compare("ContactResponse", contact.expect(201));
    let deal =
        app.post("/api/v1/deals", &owner, with_client(example_of("DealInput"))).await.expect(201).clone();
    compare("DealResponse", &deal);
    let call = app.post("/api/v1/activities", &owner, with_client(example_of("ActivityInput"))).await;
    compare("ActivityResponse", call.expect(201));
    for (page, path) in [
        ("Page_ClientResponse", "/api/v1/clients"),
        ("Page_ContactResponse", "/api/v1/contacts"),
        ("Page_DealResponse", "/api/v1/deals"),
        ("Page_ActivityResponse", "/api/v1/activities"),
    ] {
        compare(page, app.get(&format!("{path}?limit=1"), &owner).await.expect(200));
    }

    // Items are compared only where both sides have one: the call is on the agenda and the deal
    // on the board.
    let agenda = app.get("/api/v1/me/agenda?date=2027-03-01", &owner).await.expect(200).clone();
    assert_eq!(agenda["items"].as_array().map(Vec::len), Some(1), "{agenda}");
    compare("Agenda", &agenda);
    let pipeline = app.get("/api/v1/pipelines", &owner).await.expect(200)["data"][0].clone();
    let board = format!("/api/v1/pipelines/{}/board", pipeline["id"].as_str().unwrap_or_default());
    let board = app.get(&board, &owner).await.expect(200).clone();
    assert_eq!(board["columns"][0]["deal_count"], 1, "{board}");
    compare("Board", &board);

    // The timeline's example is a deal moving to another stage.
    let next_stage = pipeline["stages"][1]["id"].clone();
    let deal_path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap_or_default());
    app.patch(&deal_path, &owner, json!({"stage_id": next_stage})).await.expect(200);
    let timeline =
        format!("/api/v1/clients/{}/timeline?types=deal&limit=1", client["id"].as_str().unwrap_or_default());
    let timeline = app.get(&timeline, &owner).await.expect(200).clone();
    assert_eq!(timeline["data"][0]["type"], example_of("TimelineItem")["type"], "{timeline}");
    compare("Page_TimelineItem", &timeline);
    compare("TimelineItem", &timeline["data"][0]);

    // The sales report's example is a quarter beside the same quarter a year before, with a sale in
    // each.
    let won = pipeline["stages"].as_array().into_iter().flatten().find(|stage| stage["kind"] == "won");
    let won = won.map(|stage| stage["id"].clone()).unwrap_or_default();
    for closed_at in ["2025-02-01T12:00:00Z", "2026-02-01T12:00:00Z"] {
        let sale = json!({"title": "Sale", "amount": "500", "stage_id": won, "closed_at": closed_at});
        app.post("/api/v1/deals", &owner, with_client(sale)).await.expect(201);
    }
    // The target's example is the workspace's plan for that quarter, which the report sets beside it.
    let target = app.post("/api/v1/targets", &owner, example_of("CreateTarget")).await.expect(201).clone();
    compare("TargetResponse", &target);
    compare("Page_TargetResponse", app.get("/api/v1/targets", &owner).await.expect(200));
    let quarter =
        "/api/v1/reports/sales?from=2026-01-01&to=2026-03-31&interval=quarter&compare=previous_year";
    compare("SalesReport", app.get(quarter, &owner).await.expect(200));
    // Seasonality over the three whole years before this one, which hold the 2025 sale.
    let seasons = app.get("/api/v1/reports/seasonality?years=3", &owner).await.expect(200).clone();
    compare("SeasonalityReport", &seasons);
    // The funnel of every deal since 2020: the first deal above moved on from its first stage, so the
    // stage has a finished stay, and the sales are won.
    let funnel = app.get("/api/v1/reports/funnel?from=2020-01-01", &owner).await.expect(200).clone();
    compare("FunnelReport", &funnel);
    compare("ForecastReport", app.get("/api/v1/reports/forecast", &owner).await.expect(200));
    // From 2020 to 2030: the call above falls due in it, and the deals were created in it.
    let activity = app.get("/api/v1/reports/activity?from=2020-01-01&to=2030-12-31", &owner).await;
    compare("ActivityReport", activity.expect(200));
    let clients =
        app.get("/api/v1/reports/clients?from=2020-01-01&to=2030-12-31&interval=year", &owner).await;
    compare("ClientsReport", clients.expect(200));

    // A call list's example plans a call for a client who consented to calls.
    let callee = json!({"kind": "company", "name": "Callee", "phones": [{"value": "+74951112233"}]});
    let callee = app.post("/api/v1/clients", &owner, callee).await.expect(201)["id"].clone();
    let consent = json!({"purpose": "calls", "state": "granted", "channel": "phone"});
    let callee_path = format!("/api/v1/clients/{}", callee.as_str().unwrap_or_default());
    app.post(&format!("{callee_path}/consents"), &owner, consent).await.expect(201);
    let to_call = app.post("/api/v1/segments", &owner, json!({"name": "To call", "kind": "static"})).await;
    let to_call = format!("/api/v1/segments/{}", to_call.expect(201)["id"].as_str().unwrap_or_default());
    app.post(&format!("{to_call}/members"), &owner, json!({"client_ids": [callee]})).await.expect(200);
    let list = json!({"assignees": "owner", "subject": "Spring offer"});
    compare("CallListResult", app.post(&format!("{to_call}/call-list"), &owner, list).await.expect(201));

    // A webhook's delivery carries a change as the example's: a client's update.
    let webhook = app.post("/api/v1/webhooks", &owner, example_of("CreateWebhook")).await.expect(201).clone();
    let client_path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    app.patch(&client_path, &owner, json!({"phones": [{"value": "+74957654321"}]})).await.expect(200);
    app.on_database(|conn| crm::webhooks::dispatch::dispatch_all(conn).expect("dispatch")).await;
    let deliveries =
        format!("/api/v1/webhooks/{}/deliveries", webhook["webhook"]["id"].as_str().unwrap_or_default());
    let deliveries = app.get(&deliveries, &owner).await.expect(200).clone();
    assert_eq!(deliveries["data"][0]["event_type"], "client.updated", "{deliveries}");
    compare("WebhookEvent", &deliveries["data"][0]["payload"]);

    app.post("/api/v1/users", &owner, example_of("CreateUser")).await.expect(201);
    let login = example_of("LoginRequest");
    let session = app.request(Method::POST, "/api/v1/auth/login", None, Some(&login)).await;
    let session = session.expect(200).clone();
    compare("TokenResponse", &session);
    let refused = app
        .post(
            "/api/v1/clients",
            &owner,
            json!({"kind": "person", "last_name": "Ivanov", "emails": [{"value": "not an email"}]}),
        )
        .await;
    compare("Problem", refused.expect(422));

    assert!(differences.is_empty(), "response examples unlike real responses: {differences:#?}");
    let read = schemas_requests_use(&document);
    let with_examples: std::collections::BTreeSet<String> = schemas
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, schema)| schema.get("example").is_some() && !read.contains(*name))
        .map(|(name, _)| name.clone())
        .collect();
    let unchecked: Vec<&String> = with_examples.difference(&compared).collect();
    assert!(unchecked.is_empty(), "response examples no test compares with a response: {unchecked:?}");
}

/// The schemas a request body refers to, directly or through other schemas.
fn schemas_requests_use(document: &Value) -> std::collections::BTreeSet<String> {
    fn references(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(target)) = object.get("$ref") {
                    found.push(target.trim_start_matches("#/components/schemas/").to_string());
                }
                object.values().for_each(|value| references(value, found));
            }
            Value::Array(items) => items.iter().for_each(|value| references(value, found)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for item in document["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        for operation in item.as_object().into_iter().flat_map(|item| item.values()) {
            references(&operation["requestBody"], &mut pending);
        }
    }
    let mut read = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if read.insert(name.clone()) {
            references(&document["components"]["schemas"][&name], &mut pending);
        }
    }
    read
}
