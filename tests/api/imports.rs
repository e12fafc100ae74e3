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

/// The fields each column of an accepted import went to.
fn fields_of(accepted: &Value) -> Vec<Value> {
    accepted["columns"].as_array().into_iter().flatten().map(|column| column["field"].clone()).collect()
}

/// The first of the `resource` records found by `external_ref` (`system:id`).
async fn found_by_ref(app: &TestApp, token: &str, resource: &str, external_ref: &str) -> Value {
    let found = app.get(&format!("/api/v1/{resource}?external_ref={external_ref}"), token).await;
    found.expect(200)["data"][0].clone()
}

/// The lines of an import's errors file.
async fn error_lines(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let errors = app.get(&format!("{path}/errors"), token).await.expect(200).clone();
    errors.as_str().unwrap_or_default().lines().map(str::to_string).collect()
}

#[actix_web::test]
async fn a_companys_people_import_as_contacts_of_clients_named_by_tax_id_name_or_ref() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = |body: Value| {
        let (app, owner) = (&app, owner.clone());
        async move { app.post("/api/v1/clients", &owner, body).await.expect(201).clone() }
    };
    let romashka = client(json!({"kind": "company", "name": "ООО Ромашка", "tax_id": "7707083893",
        "external_refs": [{"system": "1c", "id": "000123"}]}))
    .await;
    let lyutik = client(json!({"kind": "company", "name": "ООО Лютик"})).await;
    client(json!({"kind": "company", "name": "Twin Ltd"})).await;
    client(json!({"kind": "company", "name": "Twin Ltd", "tax_id": "500100732259"})).await;
    let file = "ФИО;Должность;E-mail;ИНН;Контрагент;Клиент 1С;Код 1С\n\
        Смирнова Анна Сергеевна;Бухгалтер;anna@romashka.example;7707083893;;;P-1\n\
        Орлов Олег;Директор;oleg@lyutik.example;;ООО Лютик;;P-2\n\
        Петров Пётр;;petr@twin.example;;Twin Ltd;;P-3\n\
        Сидоров Иван;;;0000000000;;;P-4\n\
        Кузнецова Мария;;maria@romashka.example;;;000123;P-5\n";
    let mapping = json!({"Клиент 1С": "client_ref:1c", "Код 1С": "ref:1c"});
    let (path, accepted) =
        import(&app, &owner, json!({"entity": "contacts", "csv": file, "mapping": mapping})).await;
    assert_eq!(accepted["entity"], "contacts");
    assert_eq!(
        fields_of(&accepted),
        ["full_name", "position", "email", "client_tax_id", "client_name", "client_ref:1c", "ref:1c"]
    );
    run_imports(&app).await;
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(
        [&done["status"], &done["created"], &done["updated"], &done["failed"]],
        [&json!("done"), &json!(3), &json!(0), &json!(2)]
    );
    let anna = found_by_ref(&app, &owner, "contacts", "1c:P-1").await;
    assert_eq!((&anna["client_id"], &anna["position"]), (&romashka["id"], &json!("Бухгалтер")));
    assert_eq!(found_by_ref(&app, &owner, "contacts", "1c:P-2").await["client_id"], lyutik["id"]);
    assert_eq!(found_by_ref(&app, &owner, "contacts", "1c:P-5").await["client_id"], romashka["id"]);
    // A name two clients share, and a tax id nobody has, refuse their rows, naming the column.
    let lines = error_lines(&app, &owner, &path).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[1].starts_with("4,")
            && lines[1].contains("validation_failed: 1 field is not valid: client_name"),
        "{lines:?}"
    );
    assert!(lines[1].contains("2 clients have the name"), "{lines:?}");
    assert!(
        lines[2].starts_with("5,") && lines[2].contains("client_tax_id no client you can see"),
        "{lines:?}"
    );

    // The same file again: each contact found by its ref takes the row, and none is made twice.
    let (path, _) =
        import(&app, &owner, json!({"entity": "contacts", "csv": file, "mapping": mapping})).await;
    run_imports(&app).await;
    let again = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!([&again["created"], &again["updated"], &again["failed"]], [&json!(0), &json!(3), &json!(2)]);
    let contacts = app.sql_i64("SELECT count(*) AS value FROM contacts WHERE deleted_at IS NULL").await;
    assert_eq!(contacts, 3);
}

#[actix_web::test]
async fn an_order_history_imports_as_deals_at_stages_named_in_the_file() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let romashka = json!({"kind": "company", "name": "ООО Ромашка", "tax_id": "7707083893"});
    let romashka = app.post("/api/v1/clients", &owner, romashka).await.expect(201).clone();
    let file = "Номер;Сделка;ИНН;Сумма;Валюта;Этап;Дата закрытия;Теги\n\
        1001;Order 1001;7707083893;12 990,50;rub;Won;2026-11-30;shop\n\
        1002;Order 1002;7707083893;500;RUB;negotiation;;shop, b2b\n\
        1003;Order 1003;7707083893;1;RUB;Shipped;;\n\
        1004;;7707083893;1;RUB;;;\n";
    let request = json!({"entity": "deals", "csv": file, "mapping": {"Номер": "ref:shop"}});
    let (path, accepted) = import(&app, &owner, request.clone()).await;
    assert_eq!(
        fields_of(&accepted),
        ["ref:shop", "title", "client_tax_id", "amount", "currency", "stage", "expected_close_date", "tags"]
    );
    run_imports(&app).await;
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!([&done["created"], &done["failed"]], [&json!(2), &json!(2)]);
    let won = found_by_ref(&app, &owner, "deals", "shop:1001").await;
    assert_eq!(
        [&won["client_id"], &won["status"], &won["amount"], &won["currency"]],
        [&romashka["id"], &json!("won"), &json!("12990.50"), &json!("RUB")]
    );
    let open = found_by_ref(&app, &owner, "deals", "shop:1002").await;
    assert_eq!((&open["status"], &open["tags"]), (&json!("open"), &json!(["shop", "b2b"])));
    let stage = app
        .get(&format!("/api/v1/pipelines/{}", open["pipeline_id"].as_str().unwrap_or_default()), &owner)
        .await;
    let stage_name = stage.expect(200)["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|stage| stage["id"] == open["stage_id"])
        .map(|stage| stage["name"].clone());
    assert_eq!(stage_name, Some(json!("Negotiation")));
    // The won order counts in the client's figures, as a deal won through the API does.
    let client =
        app.get(&format!("/api/v1/clients/{}", romashka["id"].as_str().unwrap_or_default()), &owner).await;
    assert_eq!(client.expect(200)["stats"]["won_count"], 1);
    let lines = error_lines(&app, &owner, &path).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].starts_with("4,") && lines[1].contains("stage the pipeline"), "{lines:?}");
    assert!(lines[2].starts_with("5,validation_failed") && lines[2].contains("title"), "{lines:?}");

    // Pushed again, the orders are found by their numbers and nothing is made twice.
    let (path, _) = import(&app, &owner, request).await;
    run_imports(&app).await;
    let again = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!([&again["created"], &again["updated"], &again["failed"]], [&json!(0), &json!(2), &json!(2)]);
    let deals = app.sql_i64("SELECT count(*) AS value FROM deals WHERE deleted_at IS NULL").await;
    assert_eq!(deals, 2);
}

#[actix_web::test]
async fn a_workbook_imports_as_its_first_sheet_with_numbers_and_dates_as_written() {
    use base64::Engine;
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let workbook = include_bytes!("../fixtures/clients.xlsx");
    let xlsx = base64::engine::general_purpose::STANDARD.encode(workbook);
    let request = json!({"entity": "clients", "xlsx": xlsx, "mapping": {"Код 1С": "ref:1c", "Оборот": null}});
    let (path, accepted) = import(&app, &owner, request).await;
    assert_eq!(accepted["rows_total"], 2);
    assert_eq!(
        fields_of(&accepted),
        [
            json!("name"),
            json!("tax_id"),
            json!("phone"),
            json!("birth_date"),
            json!("full_name"),
            json!("ref:1c"),
            Value::Null
        ]
    );
    run_imports(&app).await;
    let done = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!([&done["created"], &done["failed"]], [&json!(2), &json!(0)]);
    // A tax id and a code stored as numbers come as written, a date as a date.
    let romashka = found_by_ref(&app, &owner, "clients", "1c:123").await;
    assert_eq!((&romashka["name"], &romashka["tax_id"]), (&json!("ООО Ромашка"), &json!("7707083893")));
    let anna = found_by_ref(&app, &owner, "clients", "1c:124").await;
    assert_eq!((&anna["last_name"], &anna["birth_date"]), (&json!("Иванова"), &json!("1990-02-28")));

    // Not base64, not a workbook, or the file sent twice or not at all: refused, naming the field.
    for (body, field) in [
        (json!({"entity": "clients", "xlsx": "%%%"}), "xlsx"),
        (json!({"entity": "clients", "xlsx": "bm90IGEgd29ya2Jvb2s="}), "xlsx"),
        (json!({"entity": "clients", "csv": "name\nAcme\n", "xlsx": xlsx}), "csv"),
        (json!({"entity": "clients"}), "csv"),
    ] {
        let refused = app.post("/api/v1/imports", &owner, body).await;
        let problem = refused.expect_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}
