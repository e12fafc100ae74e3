use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::paging::{ids, walk_while_editing};

fn contact_path(contact: &Value) -> String {
    format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap_or_default())
}

async fn client(app: &TestApp, token: &str, name: &str) -> Value {
    app.post("/api/v1/clients", token, json!({"kind": "company", "name": name})).await.expect(201).clone()
}

#[actix_web::test]
async fn contacts_belong_to_a_client_and_round_trip() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = client(&app, &owner, "Acme").await;
    let created = app
        .post(
            "/api/v1/contacts",
            &owner,
            json!({
                "client_id": acme["id"], "last_name": "Петрова", "first_name": "Анна", "middle_name": "Сергеевна",
                "position": "Chief accountant", "emails": [{"value": "Anna@Acme.example"}],
                "phones": [{"value": "+7 912 000-11-22", "label": "mobile"}],
                "messengers": [{"kind": "telegram", "handle": " @anna "}], "is_primary": true
            }),
        )
        .await;
    let contact = created.expect(201).clone();
    assert_eq!(contact["display_name"], "Петрова Анна Сергеевна");
    assert_eq!(contact["phones"][0]["value"], "+79120001122");
    assert_eq!(contact["messengers"], json!([{"kind": "telegram", "handle": "@anna"}]));
    assert_eq!(contact["is_primary"], true);
    assert_eq!(app.get(&contact_path(&contact), &owner).await.expect(200), &contact);

    let listed = app
        .get(&format!("/api/v1/clients/{}/contacts", acme["id"].as_str().unwrap_or_default()), &owner)
        .await;
    assert_eq!(ids(listed.expect(200)), [contact["id"].as_str().unwrap_or_default()]);

    for (body, field) in [
        (json!({"first_name": "No client"}), "client_id"),
        (json!({"client_id": uuid::Uuid::now_v7(), "first_name": "Ghost"}), "client_id"),
        (json!({"client_id": acme["id"]}), "last_name"),
        (
            json!({"client_id": acme["id"], "first_name": "M", "messengers": [{"kind": "icq", "handle": "1"}]}),
            "messengers[0].kind",
        ),
        (
            json!({"client_id": acme["id"], "first_name": "M", "messengers": [{"kind": "skype", "handle": ""}]}),
            "messengers[0].handle",
        ),
        (
            json!({"client_id": acme["id"], "first_name": "M", "phones": [{"value": "555"}]}),
            "phones[0].value",
        ),
    ] {
        let response = app.post("/api/v1/contacts", &owner, body).await;
        let problem = response.expect_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}

#[actix_web::test]
async fn a_client_has_at_most_one_primary_contact() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = client(&app, &owner, "Acme").await;
    let first = app
        .post(
            "/api/v1/contacts",
            &owner,
            json!({"client_id": acme["id"], "first_name": "First", "is_primary": true}),
        )
        .await
        .expect(201)
        .clone();
    let second = app
        .post(
            "/api/v1/contacts",
            &owner,
            json!({"client_id": acme["id"], "first_name": "Second", "is_primary": true}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(second["is_primary"], true);
    let first_now = app.get(&contact_path(&first), &owner).await.expect(200).clone();
    assert_eq!(first_now["is_primary"], false);
    assert_eq!(first_now["version"], 2, "losing the flag is a recorded change");

    let promoted = app.patch(&contact_path(&first), &owner, json!({"is_primary": true})).await;
    assert_eq!(promoted.expect(200)["is_primary"], true);
    assert_eq!(app.get(&contact_path(&second), &owner).await.expect(200)["is_primary"], false);
}

#[actix_web::test]
async fn contact_lookups_search_and_duplicates() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = client(&app, &owner, "Acme").await;
    let anna = app
        .post("/api/v1/contacts", &owner, json!({"client_id": acme["id"], "last_name": "Иванова", "first_name": "Анна", "emails": [{"value": "Anna@Acme.example"}], "phones": [{"value": "+16502530000"}]}))
        .await
        .expect(201)
        .clone();
    app.post(
        "/api/v1/contacts",
        &owner,
        json!({"client_id": acme["id"], "last_name": "Smith", "first_name": "John"}),
    )
    .await
    .expect(201);
    let anna_id = anna["id"].as_str().unwrap_or_default();
    for query in [
        "email=anna%40ACME.example",
        "phone=%2B1%20650%20253%200000",
        "q=%D0%B8%D0%B2%D0%B0%D0%BD%D0%BE%D0%B2%D0%B0",
    ] {
        let page = app.get(&format!("/api/v1/contacts?{query}"), &owner).await.expect(200).clone();
        assert_eq!(ids(&page), [anna_id], "{query}");
    }
    let twin =
        json!({"client_id": acme["id"], "first_name": "Twin", "emails": [{"value": "anna@acme.example"}]});
    let response = app.post("/api/v1/contacts", &owner, twin.clone()).await;
    assert_eq!(response.expect_problem(409, "duplicate")["conflicting_id"], anna["id"]);
    app.post("/api/v1/contacts?allow_duplicate=true", &owner, twin).await.expect(201);

    let sorted = app.get("/api/v1/contacts?sort=display_name", &owner).await.expect(200).clone();
    let names: Vec<&str> =
        sorted["data"].as_array().into_iter().flatten().filter_map(|c| c["display_name"].as_str()).collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(names, expected);
}

#[actix_web::test]
async fn a_contact_is_deleted_restored_and_moved() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = client(&app, &owner, "Acme").await;
    let globex = client(&app, &owner, "Globex").await;
    let contact = app
        .post("/api/v1/contacts", &owner, json!({"client_id": acme["id"], "first_name": "Mover"}))
        .await
        .expect(201)
        .clone();
    let path = contact_path(&contact);

    let moved = app.patch(&path, &owner, json!({"client_id": globex["id"], "position": "CEO"})).await;
    assert_eq!(moved.expect(200)["client_id"], globex["id"]);

    app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
    app.get(&path, &owner).await.expect_problem(404, "not_found");
    let tombstones = app.get("/api/v1/contacts/deleted", &owner).await.expect(200).clone();
    assert_eq!(ids(&tombstones), [contact["id"].as_str().unwrap_or_default()]);
    app.request(Method::POST, &format!("{path}/restore"), Some(&owner), None).await.expect(200);
    app.get(&path, &owner).await.expect(200);

    // A contact of a deleted client can't come back on its own.
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
    let globex_path = format!("/api/v1/clients/{}", globex["id"].as_str().unwrap_or_default());
    app.request(Method::DELETE, &globex_path, Some(&owner), None).await.expect(204);
    app.request(Method::POST, &format!("{path}/restore"), Some(&owner), None)
        .await
        .expect_problem(409, "client_deleted");
}

#[actix_web::test]
async fn a_viewer_and_another_workspace_are_kept_out_of_contacts() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = client(&app, &owner, "Acme").await;
    let contact = app
        .post("/api/v1/contacts", &owner, json!({"client_id": acme["id"], "first_name": "Private", "emails": [{"value": "private@acme.example"}]}))
        .await
        .expect(201)
        .clone();
    let path = contact_path(&contact);
    let before = app.get(&path, &owner).await.expect(200).clone();
    // Seeing every client, so that only the role is in the way of writing.
    let (_, viewer) = app.user_seeing("viewer", "all").await;
    app.get(&path, &viewer).await.expect(200);
    app.post("/api/v1/contacts", &viewer, json!({"client_id": acme["id"], "first_name": "X"}))
        .await
        .expect_problem(403, "forbidden");
    app.patch(&path, &viewer, json!({"position": "X"})).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, &path, Some(&viewer), None).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&path, &owner, &before).await;
    assert_eq!(ids(app.get("/api/v1/contacts", &owner).await.expect(200)).len(), 1, "no contact was added");

    let rival = app.rival_token().await;
    app.get(&path, &rival).await.expect_problem(404, "not_found");
    app.patch(&path, &rival, json!({"position": "Spy"})).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path, Some(&rival), None).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path, &owner, &before).await;
    for query in ["", "?q=private", "?email=private%40acme.example"] {
        assert!(
            ids(app.get(&format!("/api/v1/contacts{query}"), &rival).await.expect(200)).is_empty(),
            "{query}"
        );
    }
    assert!(ids(app.get("/api/v1/contacts/deleted", &rival).await.expect(200)).is_empty());

    // Deleted, it stays deleted whoever of them tries to bring it back.
    app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
    assert!(ids(app.get("/api/v1/contacts/deleted", &rival).await.expect(200)).is_empty());
    let restore = format!("{path}/restore");
    app.request(Method::POST, &restore, Some(&rival), None).await.expect_problem(404, "not_found");
    app.request(Method::POST, &restore, Some(&viewer), None).await.expect_problem(403, "forbidden");
    app.get(&path, &owner).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn a_contacts_walk_sees_each_contact_once_in_every_order_while_others_change() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = client(&app, &owner, "Acme").await;
    let template = app
        .post("/api/v1/contacts", &owner, json!({"client_id": acme["id"], "first_name": "Template"}))
        .await
        .expect(201)
        .clone();
    // 120 copies of it straight into the table, with names and times that tie in groups.
    app.sql(&format!(
        "INSERT INTO contacts
         SELECT (jsonb_populate_record(c, jsonb_build_object(
                    'id', ('01a20000-0000-7000-8000-' || lpad(n::text, 12, '0'))::uuid,
                    'first_name', 'Contact ' || (n % 13), 'display_name', 'Contact ' || (n % 13),
                    'created_at', now() - (n % 20) * interval '1 minute',
                    'updated_at', now() - (n % 20) * interval '1 minute'))).*
         FROM contacts AS c, generate_series(1, 120) AS n WHERE c.id = '{}'",
        template["id"].as_str().unwrap_or_default()
    ))
    .await;
    let mut all: Vec<String> = (1..=120).map(|n| format!("01a20000-0000-7000-8000-{n:012}")).collect();
    all.push(template["id"].as_str().unwrap_or_default().to_string());
    for sort in
        ["", "updated_at", "-updated_at", "created_at", "-created_at", "display_name", "-display_name"]
    {
        let edit = json!({"position": format!("edited during {sort:?}")});
        let walk = walk_while_editing(&app, &owner, "/api/v1/contacts", sort, 17, &all, &edit).await;
        walk.assert_documented(sort, &all);
        assert_eq!(walk.pages, 8, "{sort:?}");
    }
}
