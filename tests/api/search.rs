use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;

/// The display names a client search returns, sorted.
async fn names(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let page = app.post("/api/v1/clients/search", token, json!({"filter": filter, "limit": 200})).await;
    let page = page.expect(200);
    let mut names: Vec<String> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|client| client["display_name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Three clients with every kind of field filled differently.
async fn dataset(app: &TestApp, owner: &str) {
    for (key, body) in [
        ("tier", json!({"type": "enum", "options": ["gold", "silver"]})),
        ("score", json!({"type": "number"})),
        ("vip", json!({"type": "bool"})),
        ("since", json!({"type": "date"})),
        ("topics", json!({"type": "multi_enum", "options": ["tea", "coffee"]})),
        ("nickname", json!({"type": "text"})),
    ] {
        let mut body = body;
        body["entity"] = json!("client");
        body["key"] = json!(key);
        body["label"] = json!(key);
        app.post("/api/v1/custom-fields", owner, body).await.expect(201);
    }
    app.post(
        "/api/v1/clients",
        owner,
        json!({"kind": "person", "last_name": "Иванов", "first_name": "Иван", "birth_date": "1980-05-01",
               "relationship": "customer", "source": "website", "tags": ["vip"],
               "emails": [{"value": "Ivan@Example.com"}], "phones": [{"value": "+7 912 345-67-89"}],
               "address": {"city": "Kazan"},
               "custom": {"tier": "gold", "score": 10, "vip": true, "since": "2020-01-01", "topics": ["tea"], "nickname": "Ваня"}}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/clients",
        owner,
        json!({"kind": "company", "name": "Acme", "relationship": "partner", "tags": ["wholesale", "vip"],
               "custom": {"tier": "silver", "score": 20, "vip": false, "since": "2024-06-30", "topics": ["tea", "coffee"]}}),
    )
    .await
    .expect(201);
    app.post("/api/v1/clients", owner, json!({"kind": "company", "name": "Beta_Works", "owner_id": null}))
        .await
        .expect(201);
}

#[actix_web::test]
async fn every_operator_works_on_every_kind_of_field() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    dataset(&app, &owner).await;
    let session = app.owner_session().await;
    let me = session["user_id"].clone();
    let all = ["Acme", "Beta_Works", "Иванов Иван"];
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // text
        (json!({"field": "display_name", "op": "eq", "value": "Acme"}), vec!["Acme"]),
        (json!({"field": "display_name", "op": "neq", "value": "Acme"}), vec!["Beta_Works", "Иванов Иван"]),
        (json!({"field": "display_name", "op": "in", "value": ["Acme", "Nobody"]}), vec!["Acme"]),
        (json!({"field": "name", "op": "not_in", "value": ["Acme"]}), vec!["Beta_Works", "Иванов Иван"]),
        (json!({"field": "display_name", "op": "contains", "value": "ВАН"}), vec!["Иванов Иван"]),
        (json!({"field": "display_name", "op": "contains", "value": "_"}), vec!["Beta_Works"]),
        (json!({"field": "display_name", "op": "starts_with", "value": "ac"}), vec!["Acme"]),
        (json!({"field": "last_name", "op": "is_null"}), vec!["Acme", "Beta_Works"]),
        (json!({"field": "last_name", "op": "not_null"}), vec!["Иванов Иван"]),
        (json!({"field": "address.city", "op": "eq", "value": "Kazan"}), vec!["Иванов Иван"]),
        // enum
        (json!({"field": "kind", "op": "eq", "value": "company"}), vec!["Acme", "Beta_Works"]),
        (json!({"field": "relationship", "op": "neq", "value": "customer"}), vec!["Acme", "Beta_Works"]),
        (
            json!({"field": "relationship", "op": "in", "value": ["customer", "partner"]}),
            vec!["Acme", "Иванов Иван"],
        ),
        (json!({"field": "relationship", "op": "not_in", "value": ["customer"]}), vec!["Acme", "Beta_Works"]),
        (json!({"field": "source", "op": "is_null"}), vec!["Acme", "Beta_Works"]),
        (json!({"field": "source", "op": "not_null"}), vec!["Иванов Иван"]),
        // uuid
        (json!({"field": "owner_id", "op": "eq", "value": me}), vec!["Acme", "Beta_Works", "Иванов Иван"]),
        (json!({"field": "owner_id", "op": "neq", "value": me}), vec![]),
        (json!({"field": "owner_id", "op": "in", "value": [me]}), all.to_vec()),
        (json!({"field": "team_id", "op": "is_null"}), all.to_vec()),
        // integer
        (json!({"field": "version", "op": "eq", "value": 1}), all.to_vec()),
        (json!({"field": "version", "op": "gt", "value": 1}), vec![]),
        (json!({"field": "version", "op": "between", "value": [1, 2]}), all.to_vec()),
        (json!({"field": "stats.won_count", "op": "lte", "value": 0}), all.to_vec()),
        // decimal (and custom numbers, compared as decimals)
        (json!({"field": "stats.won_amount", "op": "lt", "value": "0.01"}), all.to_vec()),
        (json!({"field": "custom.score", "op": "gte", "value": 15}), vec!["Acme"]),
        (json!({"field": "custom.score", "op": "lt", "value": "15.5"}), vec!["Иванов Иван"]),
        (json!({"field": "custom.score", "op": "in", "value": [10, 20]}), vec!["Acme", "Иванов Иван"]),
        (json!({"field": "custom.score", "op": "between", "value": ["5", "15"]}), vec!["Иванов Иван"]),
        (json!({"field": "custom.score", "op": "is_null"}), vec!["Beta_Works"]),
        // date
        (json!({"field": "birth_date", "op": "lt", "value": "1990-01-01"}), vec!["Иванов Иван"]),
        (json!({"field": "birth_date", "op": "before_days_ago", "value": 365}), vec!["Иванов Иван"]),
        (json!({"field": "birth_date", "op": "within_days", "value": 365}), vec![]),
        (json!({"field": "custom.since", "op": "gte", "value": "2021-01-01"}), vec!["Acme"]),
        (
            json!({"field": "custom.since", "op": "between", "value": ["2019-12-31", "2020-01-01"]}),
            vec!["Иванов Иван"],
        ),
        // timestamp
        (json!({"field": "created_at", "op": "within_days", "value": 1}), all.to_vec()),
        (json!({"field": "created_at", "op": "before_days_ago", "value": 1}), vec![]),
        (json!({"field": "created_at", "op": "gt", "value": "2000-01-01T00:00:00Z"}), all.to_vec()),
        (json!({"field": "stats.last_purchase_at", "op": "is_null"}), all.to_vec()),
        // bool
        (json!({"field": "custom.vip", "op": "eq", "value": true}), vec!["Иванов Иван"]),
        (json!({"field": "custom.vip", "op": "neq", "value": true}), vec!["Acme", "Beta_Works"]),
        // lists: tags, emails, phones, multi_enum
        (json!({"field": "tags", "op": "contains", "value": "vip"}), vec!["Acme", "Иванов Иван"]),
        (json!({"field": "tags", "op": "in", "value": ["wholesale", "none"]}), vec!["Acme"]),
        (json!({"field": "tags", "op": "not_in", "value": ["wholesale"]}), vec!["Beta_Works", "Иванов Иван"]),
        (json!({"field": "tags", "op": "is_null"}), vec!["Beta_Works"]),
        (json!({"field": "tags", "op": "not_null"}), vec!["Acme", "Иванов Иван"]),
        (json!({"field": "emails", "op": "contains", "value": "IVAN@example.COM"}), vec!["Иванов Иван"]),
        (json!({"field": "phones", "op": "contains", "value": "+7 (912) 345 67 89"}), vec!["Иванов Иван"]),
        (json!({"field": "custom.topics", "op": "contains", "value": "coffee"}), vec!["Acme"]),
        (json!({"field": "custom.topics", "op": "in", "value": ["tea"]}), vec!["Acme", "Иванов Иван"]),
        (
            json!({"field": "custom.topics", "op": "not_in", "value": ["coffee"]}),
            vec!["Beta_Works", "Иванов Иван"],
        ),
        // custom text and enum
        (json!({"field": "custom.tier", "op": "eq", "value": "gold"}), vec!["Иванов Иван"]),
        (json!({"field": "custom.tier", "op": "not_in", "value": ["gold"]}), vec!["Acme", "Beta_Works"]),
        (json!({"field": "custom.nickname", "op": "starts_with", "value": "ва"}), vec!["Иванов Иван"]),
        (json!({"field": "custom.nickname", "op": "not_null"}), vec!["Иванов Иван"]),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&app, &owner, filter.clone()).await, expected, "filter {filter}");
    }
}

#[actix_web::test]
async fn a_phone_without_its_country_code_is_read_in_the_workspace_region() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    dataset(&app, &owner).await;
    let national = json!({"any": [{"field": "phones", "op": "contains", "value": "8 (912) 345-67-89"}]});
    // The workspace's region is the US at first, where this is no valid number.
    let refused =
        app.post("/api/v1/clients/search", &owner, json!({"filter": national})).await.expect(422).clone();
    assert_eq!(
        field_errors(&refused),
        [("filter.any[0].value".to_string(), "invalid_value".to_string())],
        "{refused}"
    );
    app.patch("/api/v1/workspace", &owner, json!({"default_phone_region": "RU"})).await.expect(200);
    assert_eq!(names(&app, &owner, national).await, ["Иванов Иван"]);
}

#[actix_web::test]
async fn groups_nest_and_pages_follow_the_sort() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    dataset(&app, &owner).await;
    let nested = json!({"any": [
        {"all": [{"field": "kind", "op": "eq", "value": "company"}, {"field": "tags", "op": "contains", "value": "vip"}]},
        {"all": [{"field": "kind", "op": "eq", "value": "person"}, {"field": "custom.tier", "op": "eq", "value": "silver"}]},
        {"field": "display_name", "op": "eq", "value": "Beta_Works"}
    ]});
    assert_eq!(names(&app, &owner, nested).await, ["Acme", "Beta_Works"]);

    let first = app
        .post("/api/v1/clients/search", &owner, json!({"filter": {"field": "kind", "op": "eq", "value": "company"}, "sort": "display_name", "limit": 1}))
        .await
        .expect(200)
        .clone();
    assert_eq!(first["data"][0]["display_name"], "Acme");
    let second = app
        .post(
            "/api/v1/clients/search",
            &owner,
            json!({"filter": {"field": "kind", "op": "eq", "value": "company"}, "sort": "display_name", "limit": 1, "cursor": first["next_cursor"]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(second["data"][0]["display_name"], "Beta_Works");
    assert_eq!(second["next_cursor"], Value::Null);
    // No filter: every client.
    let every = app.post("/api/v1/clients/search", &owner, json!({})).await.expect(200).clone();
    assert_eq!(every["data"].as_array().map(Vec::len), Some(3));
}

#[actix_web::test]
async fn mistakes_are_422s_naming_the_path() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    dataset(&app, &owner).await;
    let bad = app
        .post(
            "/api/v1/clients/search",
            &owner,
            json!({"filter": {"all": [
                {"field": "nope", "op": "eq", "value": 1},
                {"field": "kind", "op": "gt", "value": "company"},
                {"field": "kind", "op": "eq", "value": "robot"},
                {"field": "custom.missing", "op": "eq", "value": 1},
                {"field": "tags", "op": "matches", "value": "x"},
                {"any": [{"field": "birth_date", "op": "between", "value": ["2020-01-01"]}]},
                {"field": "stats.won_amount", "op": "gte", "value": "lots"},
                {"field": "kind", "op": "is_null", "value": "person"},
                {"field": "owner_id", "op": "eq", "value": "me"},
                {"field": "created_at", "op": "within_days", "value": -1},
                "kind = company"
            ]}}),
        )
        .await;
    assert_eq!(
        field_errors(bad.expect_problem(422, "validation_failed")),
        [
            ("filter.all[0].field", "unknown_field"),
            ("filter.all[1].op", "operator_not_allowed"),
            ("filter.all[2].value", "invalid_value"),
            ("filter.all[3].field", "unknown_field"),
            ("filter.all[4].op", "unknown_operator"),
            ("filter.all[5].any[0].value", "invalid_value"),
            ("filter.all[6].value", "invalid_value"),
            ("filter.all[7].value", "invalid_value"),
            ("filter.all[8].value", "invalid_value"),
            ("filter.all[9].value", "invalid_value"),
            ("filter.all[10]", "type"),
        ]
        .map(|(field, code)| (field.to_string(), code.to_string()))
    );
    // Deals don't have client stats; contacts don't have tags.
    let deal = app
        .post(
            "/api/v1/deals/search",
            &owner,
            json!({"filter": {"field": "stats.won_count", "op": "eq", "value": 1}}),
        )
        .await;
    assert_eq!(field_errors(deal.expect(422)), [("filter.field".to_string(), "unknown_field".to_string())]);
    let contact = app
        .post(
            "/api/v1/contacts/search",
            &owner,
            json!({"filter": {"field": "tags", "op": "contains", "value": "x"}}),
        )
        .await;
    assert_eq!(
        field_errors(contact.expect(422)),
        [("filter.field".to_string(), "unknown_field".to_string())]
    );
    // Too deep.
    let mut deep = json!({"field": "kind", "op": "eq", "value": "person"});
    for _ in 0..6 {
        deep = json!({"all": [deep]});
    }
    let too_deep = app.post("/api/v1/clients/search", &owner, json!({"filter": deep})).await;
    assert_eq!(field_errors(too_deep.expect(422))[0].1, "too_deep");
}

#[actix_web::test]
async fn contacts_deals_and_activities_are_searchable_too() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    app.post(
        "/api/v1/contacts",
        &owner,
        json!({"client_id": client["id"], "first_name": "Ann", "position": "CFO"}),
    )
    .await
    .expect(201);
    app.post("/api/v1/contacts", &owner, json!({"client_id": client["id"], "first_name": "Bob"}))
        .await
        .expect(201);
    app.post(
        "/api/v1/deals",
        &owner,
        json!({"title": "Big", "client_id": client["id"], "amount": "5000.00", "tags": ["q4"]}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/deals",
        &owner,
        json!({"title": "Small", "client_id": client["id"], "amount": "10.00"}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "call", "subject": "Call", "client_id": client["id"], "reason": "cold_call"}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "note", "subject": "Note", "client_id": client["id"]}),
    )
    .await
    .expect(201);

    let search = |path: &'static str, filter: Value| {
        let app = &app;
        let owner = owner.clone();
        async move { app.post(path, &owner, json!({"filter": filter})).await.expect(200)["data"].clone() }
    };
    let contacts = search("/api/v1/contacts/search", json!({"field": "position", "op": "not_null"})).await;
    assert_eq!(contacts.as_array().map(Vec::len), Some(1));
    assert_eq!(contacts[0]["first_name"], "Ann");
    let deals = search(
        "/api/v1/deals/search",
        json!({"all": [{"field": "amount", "op": "gt", "value": "100"}, {"field": "status", "op": "eq", "value": "open"},
                       {"field": "tags", "op": "contains", "value": "q4"}]}),
    )
    .await;
    assert_eq!(deals.as_array().map(Vec::len), Some(1));
    assert_eq!(deals[0]["title"], "Big");
    let activities = search(
        "/api/v1/activities/search",
        json!({"all": [{"field": "kind", "op": "in", "value": ["call", "meeting"]}, {"field": "reason", "op": "eq", "value": "cold_call"}]}),
    )
    .await;
    assert_eq!(activities.as_array().map(Vec::len), Some(1));
    assert_eq!(activities[0]["subject"], "Call");
}

#[actix_web::test]
async fn a_search_never_returns_another_workspaces_records() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Ours"})).await.expect(201);
    app.create_other_workspace("Rival", "rival@example.com", "rival-password-1").await;
    let rival = crate::support::http::access_token(
        &app.login_as("rival@example.com", "rival-password-1").await.expect(200).clone(),
    );
    app.post("/api/v1/clients", &rival, json!({"kind": "company", "name": "Theirs"})).await.expect(201);

    let every = json!({"field": "kind", "op": "eq", "value": "company"});
    assert_eq!(names(&app, &owner, every.clone()).await, ["Ours"]);
    assert_eq!(names(&app, &rival, every).await, ["Theirs"]);
    // Even by id.
    let theirs =
        app.post("/api/v1/clients/search", &rival, json!({})).await.expect(200)["data"][0]["id"].clone();
    assert_eq!(
        names(&app, &owner, json!({"field": "id", "op": "eq", "value": theirs})).await,
        Vec::<String>::new()
    );
}
