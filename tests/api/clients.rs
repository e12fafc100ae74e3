use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::paging::{ids, walk_while_editing};

fn client_path(client: &Value) -> String {
    format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default())
}

fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["field"].as_str().map(str::to_string))
        .collect()
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    app.post("/api/v1/clients", token, body).await.expect(201).clone()
}

#[actix_web::test]
async fn a_person_round_trips_with_derived_name_and_normalised_points() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let response = app
        .post(
            "/api/v1/clients",
            &owner,
            json!({
                "kind": "person", "last_name": "Иванов", "first_name": "Иван", "middle_name": "Иванович",
                "birth_date": "1980-05-17", "gender": "male", "tax_id": "500100732259",
                "relationship": "customer", "lifecycle_stage": "loyal", "source": "paper_form",
                "emails": [{"value": " Ivan@Example.COM ", "label": "work"}],
                "phones": [{"value": "+7 (912) 345-67-89", "label": "mobile"}],
                "address": {"country": "RU", "city": "Kazan", "street": "ul. Baumana, 1", "postal_code": "420111"},
                "tags": ["vip", " wholesale ", "VIP"], "notes": "Prefers calls after 6pm",
                "consent": {"given_at": "2026-01-10T09:00:00Z", "channel": "paper_form", "purpose": "newsletters"}
            }),
        )
        .await;
    let client = response.expect(201).clone();
    assert_eq!(response.header("etag"), Some("\"1\""));
    assert_eq!(client["display_name"], "Иванов Иван Иванович");
    assert_eq!(client["emails"], json!([{"value": "Ivan@Example.COM", "label": "work", "primary": true}]));
    assert_eq!(client["phones"], json!([{"value": "+79123456789", "label": "mobile", "primary": true}]));
    assert_eq!(client["tags"], json!(["vip", "wholesale"]));
    assert_eq!(client["relationship"], "customer");
    assert_eq!(client["address"]["city"], "Kazan");
    assert_eq!(client["consent"]["purpose"], "newsletters");
    let session = app.owner_session().await;
    assert_eq!(client["owner_id"], session["user_id"]);
    assert_eq!(client["created_by"], session["user_id"]);

    let mut fetched = app.get(&client_path(&client), &owner).await.expect(200).clone();
    let summary = fetched.as_object_mut().and_then(|fields| fields.remove("summary")).unwrap_or_default();
    // Like the summary, the behaviour stats come only with GET /clients/{id}.
    let stats = fetched.as_object_mut().and_then(|fields| fields.remove("stats")).unwrap_or_default();
    assert_eq!(fetched, client);
    assert_eq!(summary["open_deals"], 0);
    assert_eq!(stats["won_count"], 0);
    assert_eq!(stats["rfm_class"], Value::Null);
    assert_eq!(summary["updates"], 1);
}

#[actix_web::test]
async fn a_company_needs_a_name_and_refuses_person_fields() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let company = create(
        &app,
        &owner,
        json!({"kind": "company", "name": "Acme", "legal_name": "ООО «Акме»", "industry": "retail"}),
    )
    .await;
    assert_eq!(company["display_name"], "Acme");
    assert_eq!(company["relationship"], "prospect");
    assert_eq!(company["lifecycle_stage"], "lead");

    let nameless =
        app.post("/api/v1/clients", &owner, json!({"kind": "company", "birth_date": "2000-01-01"})).await;
    assert_eq!(error_fields(nameless.expect_problem(422, "validation_failed")), ["birth_date", "name"]);
    let nameless_person =
        app.post("/api/v1/clients", &owner, json!({"kind": "person", "legal_name": "X"})).await;
    assert_eq!(
        error_fields(nameless_person.expect_problem(422, "validation_failed")),
        ["last_name", "legal_name"]
    );
    // The other kind's fields are null or left out, as the document's two kinds say; blank is sent.
    let blank_person_field = json!({"kind": "company", "name": "Blanks", "first_name": " "});
    let blank = app.post("/api/v1/clients", &owner, blank_person_field).await;
    assert_eq!(error_fields(blank.expect_problem(422, "validation_failed")), ["first_name"]);
    let null_person_field = json!({"kind": "company", "name": "Nulls", "first_name": null, "gender": null});
    app.post("/api/v1/clients", &owner, null_person_field).await.expect(201);
}

#[actix_web::test]
async fn every_invalid_field_is_named() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let response = app
        .post(
            "/api/v1/clients",
            &owner,
            json!({
                "kind": "person", "first_name": "Anna",
                "emails": [{"value": "anna@example.com"}, {"value": "not-an-email"}],
                "phones": [{"value": "call me maybe"}],
                "website": "not a url", "tags": [""], "owner_id": uuid::Uuid::now_v7()
            }),
        )
        .await;
    let problem = response.expect_problem(422, "validation_failed").clone();
    assert_eq!(
        error_fields(&problem),
        ["emails[1].value", "phones[0].value", "tags[0]", "website"],
        "{problem}"
    );

    for (body, field) in [
        (json!({"kind": "alien", "first_name": "A"}), "kind"),
        (json!({"kind": "person", "first_name": "A", "relationship": "friend"}), "relationship"),
        (json!({"kind": "person", "first_name": "A", "birth_date": "1980-13-45"}), "birth_date"),
        (json!({"kind": "person", "first_name": "A", "favourite_colour": "blue"}), "favourite_colour"),
        (json!({"kind": "person", "first_name": "A", "owner_id": uuid::Uuid::now_v7()}), "owner_id"),
        (json!({"kind": "person", "first_name": "A", "team_id": uuid::Uuid::now_v7()}), "team_id"),
        (
            json!({"kind": "person", "first_name": "A", "emails": [{"value": "a@example.com", "primary": true}, {"value": "b@example.com", "primary": true}]}),
            "emails",
        ),
        (json!({"kind": "person", "first_name": "A", "address": {"planet": "Mars"}}), "address.planet"),
        (json!({"kind": "person", "first_name": "A", "last_name": "x".repeat(201)}), "last_name"),
    ] {
        let response = app.post("/api/v1/clients", &owner, body).await;
        let problem = response.expect_problem(422, "validation_failed");
        assert_eq!(error_fields(problem), [field], "{problem}");
    }
}

#[actix_web::test]
async fn lookups_by_email_phone_and_tax_id_ignore_formatting() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = create(
        &app,
        &owner,
        json!({"kind": "company", "name": "Acme", "tax_id": "7707083893", "emails": [{"value": "Sales@Acme.example"}], "phones": [{"value": "+1 650-253-0000"}]}),
    )
    .await;
    create(
        &app,
        &owner,
        json!({"kind": "person", "first_name": "Other", "phones": [{"value": "+16502530001"}]}),
    )
    .await;
    for query in [
        "email=SALES%40acme.example",
        "phone=%28650%29%20253-0000",
        "phone=%2B16502530000",
        "tax_id=7707083893",
    ] {
        let page = app.get(&format!("/api/v1/clients?{query}"), &owner).await.expect(200).clone();
        assert_eq!(ids(&page), [client["id"].as_str().unwrap_or_default()], "{query}");
    }
    let none = app.get("/api/v1/clients?email=nobody%40acme.example", &owner).await.expect(200).clone();
    assert!(ids(&none).is_empty());
    app.get("/api/v1/clients?phone=not-a-phone", &owner).await.expect_problem(400, "invalid_query");
}

#[actix_web::test]
async fn fuzzy_search_finds_cyrillic_with_typos_and_takes_percent_literally() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let ivanov =
        create(&app, &owner, json!({"kind": "person", "last_name": "Иванов", "first_name": "Пётр"})).await;
    create(&app, &owner, json!({"kind": "person", "last_name": "Сидоров", "first_name": "Олег"})).await;
    let acme = create(
        &app,
        &owner,
        json!({"kind": "company", "name": "Acme Trading", "legal_name": "100% Acme LLC"}),
    )
    .await;

    let found = app.get("/api/v1/clients?q=%D0%B8%D0%B2%D0%B0%D0%BD%D0%B2", &owner).await.expect(200).clone(); // иванв
    assert_eq!(ids(&found).first().map(String::as_str), ivanov["id"].as_str(), "{found}");
    assert_eq!(ids(&found).len(), 1, "{found}");

    let latin = app.get("/api/v1/clients?q=acme%20tradng", &owner).await.expect(200).clone();
    assert_eq!(ids(&latin), [acme["id"].as_str().unwrap_or_default()]);

    let percent = app.get("/api/v1/clients?q=%25", &owner).await.expect(200).clone();
    assert_eq!(ids(&percent), [acme["id"].as_str().unwrap_or_default()], "only the one with a literal %");
    let underscore = app.get("/api/v1/clients?q=_", &owner).await.expect(200).clone();
    assert!(ids(&underscore).is_empty(), "{underscore}");
}

/// Every page of `path` (which takes `&cursor=`), in order.
async fn walk(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("{path}{cursor}"), token).await.expect(200).clone();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return seen,
        }
    }
}

#[actix_web::test]
async fn a_one_word_search_ranks_by_the_closest_name_word_and_pages_through_every_match_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let person = |last: &str, first: &str| json!({"kind": "person", "last_name": last, "first_name": first});
    let mut williams = Vec::new();
    for first in ["Anna", "Bob", "Carl", "Dora"] {
        williams.push(
            create(&app, &owner, person("Williams", first)).await["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let mut williamson = Vec::new();
    for first in ["Eve", "Fred"] {
        williamson.push(
            create(&app, &owner, person("Williamson", first)).await["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    // Both words: listed once, under the closer one.
    let both = create(
        &app,
        &owner,
        json!({"kind": "company", "name": "Williamson Trading", "legal_name": "Williams Ltd"}),
    )
    .await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    create(&app, &owner, person("Wilson", "Gary")).await;
    let gone = create(&app, &owner, person("Williams", "Gone")).await;
    app.request(Method::DELETE, &client_path(&gone), Some(&owner), None).await.expect(204);

    let mut exact = williams.clone();
    exact.push(both.clone());
    exact.sort();
    let mut close = williamson.clone();
    close.sort();
    let expected: Vec<String> = exact.into_iter().chain(close).collect();
    let whole = app.get("/api/v1/clients?q=williams&limit=100", &owner).await.expect(200).clone();
    assert_eq!(ids(&whole), expected, "exact word first, then the near one, each by id: {whole}");
    assert_eq!(walk(&app, &owner, "/api/v1/clients?q=williams&limit=2").await, expected);
    assert_eq!(walk(&app, &owner, "/api/v1/clients?q=WILIAMS&limit=3").await.len(), expected.len(), "a typo");

    // Other filters apply before the page is cut, and other sorts see the same matches.
    let companies =
        app.get("/api/v1/clients?q=williams&kind=company&limit=1", &owner).await.expect(200).clone();
    assert_eq!(ids(&companies), [both]);
    assert!(companies["next_cursor"].is_null(), "{companies}");
    let mut by_name = walk(&app, &owner, "/api/v1/clients?q=williams&sort=display_name&limit=4").await;
    by_name.sort();
    let mut all = expected.clone();
    all.sort();
    assert_eq!(by_name, all);

    // A renamed client is found by its new name only.
    let renamed = format!("/api/v1/clients/{}", williams[0]);
    app.patch(&renamed, &owner, json!({"last_name": "Smythe"})).await.expect(200);
    assert!(
        !ids(&app.get("/api/v1/clients?q=williams&limit=100", &owner).await.expect(200).clone())
            .contains(&williams[0])
    );
    assert_eq!(
        ids(&app.get("/api/v1/clients?q=smythe", &owner).await.expect(200).clone()),
        [williams[0].clone()]
    );
    // Part of a word is found too.
    assert_eq!(
        ids(&app.get("/api/v1/clients?q=myth", &owner).await.expect(200).clone()),
        [williams[0].clone()]
    );
    // A word close to no name finds nothing, and there is no next page.
    let none = app.get("/api/v1/clients?q=qwxzv", &owner).await.expect(200).clone();
    assert!(ids(&none).is_empty() && none["next_cursor"].is_null(), "{none}");
}

#[actix_web::test]
async fn filters_narrow_the_list() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (sales, sales_token) = app.user_with_role("sales").await;
    let vip = create(&app, &owner, json!({"kind": "company", "name": "Vip Co", "tags": ["vip"], "relationship": "customer", "source": "event"})).await;
    let mine = create(
        &app,
        &sales_token,
        json!({"kind": "person", "first_name": "Mine", "lifecycle_stage": "customer"}),
    )
    .await;
    let before = chrono::Utc::now();
    let late = create(&app, &owner, json!({"kind": "person", "first_name": "Late"})).await;
    let id = |client: &Value| client["id"].as_str().unwrap_or_default().to_string();

    let cases = [
        ("kind=company", vec![id(&vip)]),
        ("tag=vip", vec![id(&vip)]),
        ("relationship=customer", vec![id(&vip)]),
        ("source=event", vec![id(&vip)]),
        ("lifecycle_stage=customer", vec![id(&mine)]),
        (&format!("owner_id={}", sales["id"].as_str().unwrap_or_default()), vec![id(&mine)]),
        (
            &format!(
                "created_since={}",
                before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B")
            ),
            vec![id(&late)],
        ),
        (
            &format!(
                "updated_since={}",
                before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B")
            ),
            vec![id(&late)],
        ),
    ];
    for (query, expected) in cases {
        let page = app.get(&format!("/api/v1/clients?{query}"), &owner).await.expect(200).clone();
        assert_eq!(ids(&page), expected, "{query}");
    }
    app.get("/api/v1/clients?kind=robot", &owner).await.expect_problem(400, "invalid_query");
    app.get("/api/v1/clients?sort=favourite", &owner).await.expect_problem(400, "invalid_query");
    // Exactly a documented value: blank or padded is refused, not read as the default.
    for sort in ["", "%20updated_at"] {
        app.get(&format!("/api/v1/clients?sort={sort}"), &owner).await.expect_problem(400, "invalid_query");
    }
}

#[actix_web::test]
async fn a_pagination_walk_sees_every_client_once_in_every_order_while_others_change() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let workspace = app.workspace_id.clone();
    let owner_id = app.owner_session().await["user_id"].as_str().unwrap_or_default().to_string();
    // 250 clients straight into the table (the API would take a while at argon2-free speed too).
    app.sql(&format!(
        "INSERT INTO clients (workspace_id, id, kind, display_name, last_name, first_name, relationship, lifecycle_stage, owner_id, search_text, created_at, updated_at)
             SELECT '{workspace}', uuidv7_like, 'person', 'Client ' || (n % 37), 'Client', (n % 37)::text, 'prospect', 'lead', '{owner_id}', 'client',
                    now() - (n % 50) * interval '1 minute', now() - (n % 50) * interval '1 minute'
             FROM (SELECT n, ('01a20000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid AS uuidv7_like FROM generate_series(1, 250) n) s"
    ))
    .await;

    // Every order, the default (-updated_at) included, walked while someone edits one client the
    // walk has listed and one it has not reached.
    let all: Vec<String> = (1..=250).map(|n| format!("01a20000-0000-7000-8000-{n:012}")).collect();
    for sort in
        ["", "updated_at", "-updated_at", "created_at", "-created_at", "display_name", "-display_name"]
    {
        let edit = json!({"notes": format!("edited during {sort:?}")});
        let walk = walk_while_editing(&app, &owner, "/api/v1/clients", sort, 37, &all, &edit).await;
        walk.assert_documented(sort, &all);
        assert_eq!(walk.pages, 7, "{sort:?}");
    }
    // A cursor only works with the sort it was made for.
    let first = app.get("/api/v1/clients?limit=10&sort=created_at", &owner).await.expect(200).clone();
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    app.get(&format!("/api/v1/clients?sort=display_name&cursor={cursor}"), &owner)
        .await
        .expect_problem(400, "invalid_cursor");
}

#[actix_web::test]
async fn an_updated_at_walk_never_misses_a_client_changed_during_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let mut created = Vec::new();
    for index in 0..6 {
        created
            .push(create(&app, &owner, json!({"kind": "person", "first_name": format!("P{index}")})).await);
    }
    let first = app.get("/api/v1/clients?limit=3&sort=updated_at", &owner).await.expect(200).clone();
    // The first client (already seen) and the fifth (not yet seen) change during the walk.
    app.patch(&client_path(&created[0]), &owner, json!({"notes": "changed"})).await.expect(200);
    app.patch(&client_path(&created[4]), &owner, json!({"notes": "changed"})).await.expect(200);
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let rest = app
        .get(&format!("/api/v1/clients?limit=50&sort=updated_at&cursor={cursor}"), &owner)
        .await
        .expect(200)
        .clone();
    let mut seen = ids(&first);
    seen.extend(ids(&rest));
    for client in &created {
        assert!(seen.contains(&client["id"].as_str().unwrap_or_default().to_string()), "missed {client}");
    }
}

#[actix_web::test]
async fn patch_merges_checks_and_versions() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = create(&app, &owner, json!({"kind": "person", "last_name": "Petrov", "first_name": "Oleg", "tags": ["a"], "phones": [{"value": "+79123456789"}]})).await;
    let path = client_path(&client);

    let updated = app
        .patch(
            &path,
            &owner,
            json!({"middle_name": "Ivanovich", "tags": null, "lifecycle_stage": "customer"}),
        )
        .await;
    let updated = updated.expect(200).clone();
    assert_eq!(updated["display_name"], "Petrov Oleg Ivanovich");
    assert_eq!(updated["tags"], json!([]));
    assert_eq!(updated["phones"], client["phones"], "untouched fields stay");
    assert_eq!(updated["version"], 2);

    let unchanged = app.patch(&path, &owner, json!({"middle_name": "Ivanovich"})).await;
    assert_eq!(unchanged.expect(200)["version"], 2, "a write that changes nothing is not a new version");

    app.patch(&path, &owner, json!({"kind": "company"})).await.expect_problem(422, "validation_failed");
    let cleared = app.patch(&path, &owner, json!({"last_name": null, "first_name": null})).await;
    assert_eq!(error_fields(cleared.expect_problem(422, "validation_failed")), ["last_name"]);
    app.patch(&path, &owner, json!({"relationship": null})).await.expect_problem(422, "validation_failed");
    let bad_phone = app.patch(&path, &owner, json!({"phones": [{"value": "12"}]})).await;
    assert_eq!(error_fields(bad_phone.expect_problem(422, "validation_failed")), ["phones[0].value"]);

    let stale = app.request(Method::PATCH, &path, Some(&owner), Some(&json!({"notes": "x"}))).await;
    stale.expect(200);
    let client_with_etag = awc::Client::default()
        .patch(format!("{}{path}", app.address))
        .bearer_auth(&owner)
        .insert_header(("if-match", "\"2\""))
        .send_json(&json!({"notes": "stale"}))
        .await;
    let mut response = client_with_etag.expect("request");
    assert_eq!(response.status().as_u16(), 412);
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(body["current_version"], 3);
}

#[actix_web::test]
async fn duplicates_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let first = create(&app, &owner, json!({"kind": "person", "first_name": "A", "emails": [{"value": "a@example.com"}], "phones": [{"value": "+79123456789"}], "tax_id": "123456"})).await;
    for body in [
        json!({"kind": "person", "first_name": "B", "emails": [{"value": "A@EXAMPLE.com"}]}),
        json!({"kind": "person", "first_name": "B", "phones": [{"value": "+7 912 345 67 89"}]}),
        json!({"kind": "company", "name": "B", "tax_id": "123456"}),
    ] {
        let response = app.post("/api/v1/clients", &owner, body.clone()).await;
        assert_eq!(response.expect_problem(409, "duplicate")["conflicting_id"], first["id"]);
        app.post("/api/v1/clients?allow_duplicate=true", &owner, body).await.expect(201);
    }
    // Deleting the first leaves the duplicates allowed above, which still count.
    app.request(Method::DELETE, &client_path(&first), Some(&owner), None).await.expect(204);
    let body = json!({"kind": "person", "first_name": "C", "emails": [{"value": "a@example.com"}], "phones": [{"value": "+79990001122"}]});
    let response = app.post("/api/v1/clients", &owner, body).await;
    assert_eq!(response.status, 409, "the allowed duplicates above are live: {}", response.body);

    // A deleted client with no live twin is no longer a duplicate: its email, phone and tax id
    // are free again.
    let points = |name: &str| {
        json!({"kind": "company", "name": name, "emails": [{"value": "gone@example.com"}],
               "phones": [{"value": "+79990003344"}], "tax_id": "7707083893"})
    };
    let gone = create(&app, &owner, points("Gone")).await;
    app.post("/api/v1/clients", &owner, points("Twin")).await.expect_problem(409, "duplicate");
    app.request(Method::DELETE, &client_path(&gone), Some(&owner), None).await.expect(204);
    let successor = create(&app, &owner, points("Successor")).await;
    assert_ne!(successor["id"], gone["id"]);
}

#[actix_web::test]
async fn delete_hides_the_client_and_its_contacts_and_restore_brings_them_back() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = create(
        &app,
        &owner,
        json!({"kind": "company", "name": "Gone Ltd", "emails": [{"value": "gone@example.com"}]}),
    )
    .await;
    let contact = app
        .post(
            "/api/v1/contacts",
            &owner,
            json!({"client_id": client["id"], "first_name": "Ann", "is_primary": true}),
        )
        .await
        .expect(201)
        .clone();
    let separately_deleted = app
        .post("/api/v1/contacts", &owner, json!({"client_id": client["id"], "first_name": "Bob"}))
        .await
        .expect(201)
        .clone();
    let bob_path = format!("/api/v1/contacts/{}", separately_deleted["id"].as_str().unwrap_or_default());
    app.request(Method::DELETE, &bob_path, Some(&owner), None).await.expect(204);

    let path = client_path(&client);
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
    app.get(&path, &owner).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect_problem(404, "not_found");
    let contact_path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap_or_default());
    app.get(&contact_path, &owner).await.expect_problem(404, "not_found");
    assert!(ids(app.get("/api/v1/clients?email=gone%40example.com", &owner).await.expect(200)).is_empty());

    let tombstones = app.get("/api/v1/clients/deleted", &owner).await.expect(200).clone();
    assert_eq!(ids(&tombstones), [client["id"].as_str().unwrap_or_default()]);
    assert_eq!(tombstones["data"][0]["version"], 2);

    let restored = app.request(Method::POST, &format!("{path}/restore"), Some(&owner), None).await;
    assert_eq!(restored.expect(200)["version"], 3);
    app.get(&path, &owner).await.expect(200);
    let contact_again = app.get(&contact_path, &owner).await;
    assert_eq!(contact_again.expect(200)["is_primary"], true);
    // Bob was deleted on his own before: he stays deleted.
    app.get(&bob_path, &owner).await.expect_problem(404, "not_found");
    assert!(ids(app.get("/api/v1/clients/deleted", &owner).await.expect(200)).is_empty());
}

#[actix_web::test]
async fn a_viewer_reads_but_cannot_write_clients() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = create(&app, &owner, json!({"kind": "person", "first_name": "Read Me"})).await;
    // Seeing every client, so that only the role is in the way of writing.
    let (_, viewer) = app.user_seeing("viewer", "all").await;
    let before = app.get(&client_path(&client), &owner).await.expect(200).clone();
    app.get(&client_path(&client), &viewer).await.expect(200);
    app.get("/api/v1/clients", &viewer).await.expect(200);
    app.post("/api/v1/clients", &viewer, json!({"kind": "person", "first_name": "X"}))
        .await
        .expect_problem(403, "forbidden");
    app.patch(&client_path(&client), &viewer, json!({"notes": "x"})).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, &client_path(&client), Some(&viewer), None)
        .await
        .expect_problem(403, "forbidden");
    app.assert_unchanged(&client_path(&client), &owner, &before).await;
    app.request(Method::DELETE, &client_path(&client), Some(&owner), None).await.expect(204);
    app.request(Method::POST, &format!("{}/restore", client_path(&client)), Some(&viewer), None)
        .await
        .expect_problem(403, "forbidden");
    app.get(&client_path(&client), &owner).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn another_workspace_sees_none_of_our_clients() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = create(
        &app,
        &owner,
        json!({"kind": "company", "name": "Secret Co", "tax_id": "999", "emails": [{"value": "secret@example.com"}], "phones": [{"value": "+79120000000"}]}),
    )
    .await;
    let rival = app.rival_token().await;
    let path = client_path(&client);
    let before = app.get(&path, &owner).await.expect(200).clone();
    app.get(&path, &rival).await.expect_problem(404, "not_found");
    app.patch(&path, &rival, json!({"notes": "mine"})).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path, Some(&rival), None).await.expect_problem(404, "not_found");
    app.request(Method::POST, &format!("{path}/restore"), Some(&rival), None)
        .await
        .expect_problem(404, "not_found");
    app.assert_unchanged(&path, &owner, &before).await;
    for nested in ["contacts", "deals", "activities", "timeline"] {
        app.get(&format!("{path}/{nested}"), &rival).await.expect_problem(404, "not_found");
    }
    // Deleted, it is neither in their tombstones nor theirs to restore.
    let gone = create(&app, &owner, json!({"kind": "person", "first_name": "Gone"})).await;
    app.request(Method::DELETE, &client_path(&gone), Some(&owner), None).await.expect(204);
    assert!(ids(app.get("/api/v1/clients/deleted", &rival).await.expect(200)).is_empty());
    app.request(Method::POST, &format!("{}/restore", client_path(&gone)), Some(&rival), None)
        .await
        .expect_problem(404, "not_found");
    assert_eq!(
        ids(app.get("/api/v1/clients/deleted", &owner).await.expect(200)),
        [gone["id"].as_str().unwrap_or_default()],
        "still deleted"
    );
    let no_deal = format!("/api/v1/deals/{}/activities", uuid::Uuid::now_v7());
    app.get(&no_deal, &owner).await.expect_problem(404, "not_found");
    for query in ["", "?q=secret", "?email=secret%40example.com", "?phone=%2B79120000000", "?tax_id=999"] {
        let page = app.get(&format!("/api/v1/clients{query}"), &rival).await.expect(200).clone();
        assert!(ids(&page).is_empty(), "{query}: {page}");
    }
    // Nor can they attach a contact to it, or create a duplicate-checked twin that reveals it.
    let contact =
        app.post("/api/v1/contacts", &rival, json!({"client_id": client["id"], "first_name": "Spy"})).await;
    assert_eq!(error_fields(contact.expect_problem(422, "validation_failed")), ["client_id"]);
    app.post("/api/v1/clients", &rival, json!({"kind": "company", "name": "Twin", "tax_id": "999"}))
        .await
        .expect(201);
}
