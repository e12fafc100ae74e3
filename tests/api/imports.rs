//! `POST /imports`: a spreadsheet of clients, written in the background a chunk at a time.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::BODY_LIMIT;

/// Runs the import worker until no import has rows left; how many chunks it ran.
pub async fn run_imports(app: &TestApp) -> usize {
    app.on_database(|conn| crm::import_worker::run_pending(conn).expect("the imports run")).await
}

async fn import(app: &TestApp, token: &str, body: Value) -> (String, Value) {
    let accepted = app.post("/api/v1/imports", token, body).await;
    let path = accepted.header("location").unwrap_or_default().to_string();
    (path, accepted.expect(202).clone())
}

async fn client_count(app: &TestApp) -> i64 {
    app.sql_i64("SELECT count(*) AS value FROM clients WHERE deleted_at IS NULL").await
}

const FILE: &str = "Наименование;ИНН;E-mail;Телефон;Теги;Комментарий\n\
    ООО Ромашка;;info@romashka.example;+7 495 123-45-67;опт, vip;first\n\
    Existing twin;7707083893;;;;from the file\n\
    ООО Лютик;;not-an-email;;;bad email\n\
    ;;;;;no name\n";

#[actix_web::test]
async fn a_dry_run_counts_then_the_import_writes_and_lists_the_rows_it_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let existing = json!({"kind": "company", "name": "Existing Ltd", "tax_id": "7707083893"});
    let existing = app.post("/api/v1/clients", &owner, existing).await.expect(201).clone();
    let before = client_count(&app).await;

    let (path, accepted) =
        import(&app, &owner, json!({"entity": "clients", "csv": FILE, "dry_run": true})).await;
    assert_eq!((accepted["status"].clone(), accepted["rows_total"].clone()), (json!("queued"), json!(4)));
    let fields: Vec<Value> =
        accepted["columns"].as_array().into_iter().flatten().map(|c| c["field"].clone()).collect();
    assert_eq!(
        fields,
        [json!("name"), json!("tax_id"), json!("email"), json!("phone"), json!("tags"), json!("notes")]
    );
    assert_eq!(run_imports(&app).await, 1);
    let done = app.get(&path, &owner).await.expect(200).clone();
    let counts = |import: &Value| {
        ["status", "rows_done", "created", "updated", "skipped", "failed"].map(|field| import[field].clone())
    };
    assert_eq!(counts(&done), [json!("done"), json!(4), json!(1), json!(0), json!(1), json!(2)]);
    assert_eq!(client_count(&app).await, before, "a dry run writes nothing");
    let errors = app.get(&format!("{path}/errors"), &owner).await.expect(200).clone();
    let errors = errors.as_str().unwrap_or_default().to_string();
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 3, "{errors}");
    assert!(lines[0].starts_with("row,error,Наименование,ИНН"), "{errors}");
    assert!(lines[1].starts_with("4,validation_failed") && lines[1].contains("emails[0]"), "{errors}");
    assert!(lines[2].starts_with("5,validation_failed"), "{errors}");

    // For real, updating the duplicates it finds.
    let (path, _) =
        import(&app, &owner, json!({"entity": "clients", "csv": FILE, "duplicates": "update"})).await;
    run_imports(&app).await;
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(counts(&done), [json!("done"), json!(4), json!(1), json!(1), json!(0), json!(2)]);
    assert_eq!(client_count(&app).await, before + 1);
    let updated =
        app.get(&format!("/api/v1/clients/{}", existing["id"].as_str().unwrap_or_default()), &owner).await;
    assert_eq!(updated.expect(200)["notes"], "from the file");
    let found = app.get("/api/v1/clients?phone=%2B74951234567", &owner).await.expect(200).clone();
    assert_eq!(
        (found["data"][0]["name"].clone(), found["data"][0]["tags"].clone()),
        (json!("ООО Ромашка"), json!(["опт", "vip"]))
    );

    // The import is its starter's and the admins' to follow.
    let (_, rep) = app.user_with_role("sales").await;
    app.get(&path, &rep).await.expect_problem(404, "not_found");
    app.get(&format!("{path}/errors"), &rep).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn an_import_resumes_after_its_last_chunk_and_writes_no_row_twice() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let me = app.get("/api/v1/me", &owner).await.expect(200).clone();
    let workspace =
        crm::ids::WorkspaceId(me["workspace"]["id"].as_str().unwrap_or_default().parse().expect("an id"));
    let mut file = String::from("name,ref:shop\n");
    for n in 0..2_500 {
        file.push_str(&format!("Company {n},{n}\n"));
    }
    let before = client_count(&app).await;
    let (path, accepted) = import(&app, &owner, json!({"entity": "clients", "csv": file})).await;
    let id = crm::ids::ImportId(accepted["id"].as_str().unwrap_or_default().parse().expect("an id"));

    // One chunk, and the worker stops (as a restart would stop it).
    let ran = app.on_database(move |conn| crm::import_worker::run_chunk(conn, workspace, Some(id))).await;
    assert!(ran.expect("a chunk runs"));
    let partway = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!((partway["status"].clone(), partway["rows_done"].clone()), (json!("running"), json!(1000)));
    assert_eq!(client_count(&app).await, before + 1000);

    // Another worker takes up where it ended.
    assert_eq!(run_imports(&app).await, 2);
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(
        (done["status"].clone(), done["created"].clone(), done["failed"].clone()),
        (json!("done"), json!(2500), json!(0))
    );
    assert_eq!(client_count(&app).await, before + 2500);
    let refs = app
        .sql_i64("SELECT count(DISTINCT external_id) AS value FROM external_refs WHERE system = 'shop'")
        .await;
    assert_eq!(refs, 2500);
    assert_eq!(run_imports(&app).await, 0, "a finished import is left alone");
}

#[actix_web::test]
async fn a_file_whose_columns_name_no_field_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let refused =
        app.post("/api/v1/imports", &owner, json!({"entity": "clients", "csv": "foo,bar\n1,2\n"})).await;
    let refused = crate::support::http::field_errors(refused.expect(422));
    assert_eq!(refused, [("csv".to_string(), "invalid".to_string())]);
    let mapped =
        json!({"entity": "clients", "csv": "foo,bar\nAcme,2\n", "mapping": {"foo": "name", "baz": "tax_id"}});
    let refused =
        crate::support::http::field_errors(app.post("/api/v1/imports", &owner, mapped).await.expect(422));
    assert_eq!(refused, [("mapping.baz".to_string(), "not_found".to_string())]);
    let mapped = json!({"entity": "clients", "csv": "foo,bar\nAcme,2\n", "mapping": {"foo": "name", "bar": "ref:erp"}});
    let (_, accepted) = import(&app, &owner, mapped).await;
    let fields: Vec<Value> =
        accepted["columns"].as_array().into_iter().flatten().map(|c| c["field"].clone()).collect();
    assert_eq!(fields, [json!("name"), json!("ref:erp")]);
}

#[actix_web::test]
async fn a_large_spreadsheet_sent_with_an_idempotency_key_is_imported_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    // Over the limit of other requests' bodies (1 MiB by default; less in the tests), within the
    // uploads' (64 MiB by default).
    let mut csv = String::from("Name;Comment\n");
    for row in 0..2_500 {
        csv.push_str(&format!("Company {row};{}\n", "x".repeat(90)));
    }
    assert!((2 * BODY_LIMIT..4 * BODY_LIMIT).contains(&csv.len()));
    let body = json!({"entity": "clients", "csv": csv});
    let key = [("idempotency-key", "import-2026-12-06")];
    let post = || app.request_with_headers(Method::POST, "/api/v1/imports", Some(&owner), &key, Some(&body));
    let first = post().await;
    let first = first.expect(202).clone();
    let retried = post().await;
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(retried.expect(202)["id"], first["id"]);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM imports").await, 1);

    // Other writes keep their limit, keyed or not.
    let notes = "x".repeat(BODY_LIMIT + 1);
    let big = json!({"kind": "company", "name": "Acme", "notes": notes});
    let keyed = [("idempotency-key", "big-client")];
    let refused =
        app.request_with_headers(Method::POST, "/api/v1/clients", Some(&owner), &keyed, Some(&big)).await;
    refused.expect_problem(413, "payload_too_large");
}

#[actix_web::test]
async fn a_catalogue_imports_as_products_by_the_shops_ids() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let held = json!({"sku": "TEA-2", "name": "Black tea", "price": "3.00", "currency": "RUB"});
    app.post("/api/v1/products", &owner, held).await.expect(201);
    let file = "Артикул;Наименование;Цена;Валюта;Группа;Код магазина\n\
        TEA-1;Green tea, 100 g;1 490,00;rub;Tea;SKU-1\n\
        TEA-2;Black tea, 100 g;990,00;RUB;Tea;SKU-2\n\
        TEA-3;Oolong;cheap;RUB;Tea;SKU-3\n";
    let mapping = json!({"Код магазина": "ref:shop"});
    let (path, accepted) =
        import(&app, &owner, json!({"entity": "products", "csv": file, "mapping": mapping})).await;
    assert_eq!(accepted["entity"], "products");
    let fields: Vec<Value> =
        accepted["columns"].as_array().into_iter().flatten().map(|c| c["field"].clone()).collect();
    assert_eq!(
        fields,
        [
            json!("sku"),
            json!("name"),
            json!("price"),
            json!("currency"),
            json!("product_group"),
            json!("ref:shop")
        ]
    );
    run_imports(&app).await;
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(
        [&done["status"], &done["created"], &done["skipped"], &done["failed"]],
        [&json!("done"), &json!(1), &json!(1), &json!(1)]
    );
    let tea = app.get("/api/v1/products?external_ref=shop:SKU-1", &owner).await.expect(200).clone();
    assert_eq!(
        (tea["data"][0]["price"].clone(), tea["data"][0]["currency"].clone()),
        (json!("1490.00"), json!("RUB"))
    );
    let errors = app.get(&format!("{path}/errors"), &owner).await.expect(200).clone();
    let errors = errors.as_str().unwrap_or_default().to_string();
    let lines: Vec<&str> = errors.lines().collect();
    assert_eq!(lines.len(), 2, "{errors}");
    assert!(lines[1].starts_with("4,") && lines[1].contains("price"), "{errors}");

    // With `update`, the product that has the SKU takes the row, and the shop's id with it.
    let (path, _) = import(
        &app,
        &owner,
        json!({"entity": "products", "csv": file, "mapping": mapping, "duplicates": "update"}),
    )
    .await;
    run_imports(&app).await;
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!([&done["created"], &done["updated"], &done["failed"]], [&json!(0), &json!(2), &json!(1)]);
    let black = app.get("/api/v1/products?external_ref=shop:SKU-2", &owner).await.expect(200).clone();
    assert_eq!(
        (black["data"][0]["sku"].clone(), black["data"][0]["price"].clone()),
        (json!("TEA-2"), json!("990.00"))
    );
}
