//! `GET /changes`: every committed change once, in an order where each record's changes follow
//! their versions, also when transactions commit out of the order they started in.

use std::collections::HashMap;
use std::sync::mpsc;

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{id_of as id, timestamp};

/// Reads the feed from `cursor` until a page says nothing more is ready: the changes and where
/// the reader stands.
async fn read_on(app: &TestApp, token: &str, cursor: &str, entities: &str) -> (Vec<Value>, String) {
    let (mut changes, mut cursor) = (Vec::new(), cursor.to_string());
    loop {
        let path = format!("/api/v1/changes?cursor={cursor}&entities={entities}&limit=7");
        let page = app.get(&path, token).await.expect(200).clone();
        changes.extend(page["data"].as_array().into_iter().flatten().cloned());
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
        if page["has_more"] != json!(true) {
            return (changes, cursor);
        }
    }
}

/// Follows the feed from `cursor` until it has at least `count` changes, or ten seconds passed: a
/// change waits for every transaction that started before it, and other tests' transactions on the
/// same database server count too.
pub async fn read_at_least(
    app: &TestApp,
    token: &str,
    cursor: &str,
    entities: &str,
    count: usize,
) -> (Vec<Value>, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (mut changes, mut cursor) = (Vec::new(), cursor.to_string());
    loop {
        let (more, next) = read_on(app, token, &cursor, entities).await;
        changes.extend(more);
        cursor = next;
        if changes.len() >= count || std::time::Instant::now() > deadline {
            return (changes, cursor);
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn actions_of(changes: &[Value]) -> Vec<(String, Value)> {
    changes
        .iter()
        .map(|change| (change["action"].as_str().unwrap_or_default().to_string(), change["version"].clone()))
        .collect()
}

#[actix_web::test]
async fn a_change_waits_for_every_transaction_that_started_before_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let start = app.get("/api/v1/changes/cursor", &owner).await.expect(200)["cursor"].clone();
    let start = start.as_str().unwrap_or_default().to_string();

    // A slow writer starts first and holds its transaction open, its change written...
    let (written, wait_for_write) = mpsc::channel();
    let (commit, wait_for_commit) = mpsc::channel::<()>();
    let (url, workspace, client) =
        (app.database_url.clone(), app.workspace_id.clone(), id(&acme).to_string());
    let slow_writer = std::thread::spawn(move || {
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::PgConnection::establish(&url).expect("connect");
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query(format!(
                "INSERT INTO change_events (workspace_id, id, entity, entity_id, action, version, changes) \
                 VALUES ('{workspace}', gen_random_uuid(), 'client', '{client}', 'slow_write', 90, '{{}}')"
            ))
            .execute(conn)?;
            written.send(()).expect("tell the test");
            wait_for_commit.recv().expect("wait for the test");
            Ok(())
        })
        .expect("the slow writer commits");
    });
    wait_for_write.recv().expect("the slow writer wrote");

    // ... while a later one commits: its change waits, not to be passed by the slow one's.
    let path = format!("/api/v1/clients/{}", id(&acme));
    app.patch(&path, &owner, json!({"notes": "committed second"})).await.expect(200);
    let (seen, cursor) = read_on(&app, &owner, &start, "clients").await;
    assert_eq!(actions_of(&seen), [], "nothing is ready while an older transaction runs");
    assert_eq!(cursor, start);

    commit.send(()).expect("let the slow writer commit");
    slow_writer.join().expect("the slow writer ends");
    let (seen, cursor) = read_at_least(&app, &owner, &start, "clients", 2).await;
    assert_eq!(
        actions_of(&seen),
        [("slow_write".to_string(), json!(90)), ("updated".to_string(), json!(2))],
        "both, in the order their transactions started"
    );
    assert!(seen.iter().all(|change| change["record_id"] == acme["id"]));
    // Read on from there: nothing again.
    assert_eq!(read_on(&app, &owner, &cursor, "clients").await.0, Vec::<Value>::new());
}

#[actix_web::test]
async fn a_reader_following_the_feed_under_parallel_writers_sees_every_change_once_in_version_order() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let start = app.get("/api/v1/changes/cursor", &owner).await.expect(200)["cursor"].clone();
    let start = start.as_str().unwrap_or_default().to_string();
    const WRITERS: usize = 4;
    const UPDATES: i64 = 12;
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (address, token) = (app.address.clone(), owner.clone());
        writers.push(actix_web::rt::spawn(async move {
            let client = awc::Client::default();
            let url = |path: &str| format!("{address}/api/v1{path}");
            let body = json!({"kind": "company", "name": format!("Writer {writer}")});
            let mut created =
                client.post(url("/clients")).bearer_auth(&token).send_json(&body).await.expect("create");
            let created: Value = created.json().await.expect("the client");
            let path = format!("/clients/{}", created["id"].as_str().unwrap_or_default());
            for update in 0..UPDATES {
                let response = client
                    .patch(url(&path))
                    .bearer_auth(&token)
                    .send_json(&json!({"notes": format!("update {update}")}))
                    .await
                    .expect("update");
                assert_eq!(response.status().as_u16(), 200);
            }
            created["id"].clone()
        }));
    }
    // The reader follows the feed while the writers write, then until it has caught up.
    let mut seen = Vec::new();
    let mut cursor = start;
    let mut ids = Vec::new();
    for writer in writers {
        let (changes, next) = read_on(&app, &owner, &cursor, "clients").await;
        seen.extend(changes);
        cursor = next;
        ids.push(writer.await.expect("the writer ends"));
    }
    let expected = WRITERS * (1 + UPDATES as usize);
    let (rest, _) = read_at_least(&app, &owner, &cursor, "clients", expected - seen.len()).await;
    seen.extend(rest);

    // Each change once, and each client's changes in the order of their versions.
    assert_eq!(seen.len(), expected);
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for change in &seen {
        let record = change["record_id"].as_str().unwrap_or_default().to_string();
        versions.entry(record).or_default().push(change["version"].as_i64().unwrap_or_default());
    }
    for client in &ids {
        let expected: Vec<i64> = (1..=1 + UPDATES).collect();
        assert_eq!(versions.get(client.as_str().unwrap_or_default()), Some(&expected), "client {client}");
    }
}

#[actix_web::test]
async fn the_feed_refuses_what_it_did_not_issue_and_starts_at_the_first_change() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    // A cursor of the right shape with a transaction id no transaction has (base64 of
    // `[-5,"00000000-0000-0000-0000-000000000000"]`).
    let made_up = "cursor=Wy01LCIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAiXQ";
    for query in
        ["cursor=not-ours", made_up, "entities=clients,invoices", "entities=", "limit=0", "limit=1001"]
    {
        let refused = app.get(&format!("/api/v1/changes?{query}"), &owner).await;
        assert_eq!(refused.status, 400, "{query}");
    }
    // From the start, a created client reads as its creation, with its fields.
    app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"})).await.expect(201);
    let (seen, _) = read_at_least(&app, &owner, "", "clients", 1).await;
    let first = seen.first().cloned().unwrap_or_default();
    assert_eq!(
        (&first["entity"], &first["action"], &first["version"]),
        (&json!("client"), &json!("created"), &json!(1))
    );
    assert_eq!(first["changes"]["name"]["to"], "Acme");
}

/// Every page of `path` (which has its own query), following `next_cursor`: the items' ids.
async fn walk(app: &TestApp, token: &str, path: &str) -> Vec<String> {
    let (mut ids, mut cursor) = (Vec::new(), String::new());
    loop {
        let page = app.get(&format!("{path}&limit=1&cursor={cursor}"), token).await.expect(200).clone();
        ids.extend(page["data"].as_array().into_iter().flatten().map(|item| id(item).to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return ids,
        }
    }
}

/// Products, users, teams and segments list in the order of their last change, from
/// `updated_since`, as clients, contacts, deals and activities do: a sync that polls pages through
/// what changed since its last run, oldest change first, without the changes feed.
#[actix_web::test]
async fn every_list_pages_by_change_time_from_updated_since() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let resources = [
        (
            "/api/v1/products",
            json!({"sku": "TEA", "name": "Tea", "price": "4.90", "currency": "EUR"}),
            json!({"sku": "COF", "name": "Coffee", "price": "7.10", "currency": "EUR"}),
            json!({"price": "5.10"}),
        ),
        (
            "/api/v1/users",
            json!({"email": "anna@example.com", "full_name": "Anna", "role": "sales", "password": "a-password-1"}),
            json!({"email": "boris@example.com", "full_name": "Boris", "role": "sales", "password": "a-password-1"}),
            json!({"full_name": "Anna Petrova"}),
        ),
        ("/api/v1/teams", json!({"name": "Kazan"}), json!({"name": "Omsk"}), json!({"name": "Kazan branch"})),
        (
            "/api/v1/segments",
            json!({"name": "Call list", "kind": "static"}),
            json!({"name": "Mailing", "kind": "static"}),
            json!({"name": "Call list, spring"}),
        ),
    ];
    for (list, first, second, change) in resources {
        let first = app.post(list, &owner, first).await.expect(201).clone();
        let second = app.post(list, &owner, second).await.expect(201).clone();
        let changed = app.patch(&format!("{list}/{}", id(&first)), &owner, change).await.expect(200).clone();
        assert!(timestamp(&changed["updated_at"]) >= timestamp(&second["updated_at"]));
        // From the second's creation on: it, then the first, changed after it.
        let since = second["updated_at"].as_str().expect("updated_at").replace('+', "%2B");
        let (first, second) = (id(&first).to_string(), id(&second).to_string());
        let from_since = walk(&app, &owner, &format!("{list}?updated_since={since}")).await;
        assert_eq!(from_since, [second.clone(), first.clone()], "{list}");
        // Everything, oldest change first, ends with the same two; latest first starts with them.
        let oldest_first = walk(&app, &owner, &format!("{list}?sort=updated_at")).await;
        assert_eq!(oldest_first[oldest_first.len() - 2..], [second.clone(), first.clone()], "{list}");
        let latest_first = walk(&app, &owner, &format!("{list}?sort=-updated_at")).await;
        assert_eq!(latest_first[..2], [first.clone(), second.clone()], "{list}");
        let mut reversed = oldest_first.clone();
        reversed.reverse();
        assert_eq!(latest_first, reversed, "{list}");
    }
}

/// Each change carries the record as it left it: the creation's fields with every later change laid
/// over them, up to that change and no further; a deletion carries none.
#[actix_web::test]
async fn each_change_carries_the_record_as_it_left_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let cursor = app.get("/api/v1/changes/cursor", &owner).await.expect(200)["cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let acme = json!({"kind": "company", "name": "Acme", "tax_id": "7707083893", "tags": ["vip"]});
    let acme = app.post("/api/v1/clients", &owner, acme).await.expect(201).clone();
    let path = format!("/api/v1/clients/{}", id(&acme));
    app.patch(&path, &owner, json!({"name": "Acme Ltd"})).await.expect(200);
    app.patch(&path, &owner, json!({"tags": ["vip", "wholesale"]})).await.expect(200);
    app.request(actix_web::http::Method::DELETE, &path, Some(&owner), None).await.expect(204);

    let (changes, _) = read_at_least(&app, &owner, &cursor, "clients", 4).await;
    let records: Vec<&Value> = changes.iter().map(|change| &change["record"]).collect();
    assert_eq!(records[0]["id"], acme["id"]);
    assert_eq!((&records[0]["name"], &records[0]["tax_id"]), (&json!("Acme"), &json!("7707083893")));
    // The rename, with what the creation set kept; and the tags as they were then.
    assert_eq!(
        (&records[1]["name"], &records[1]["tax_id"], &records[1]["tags"]),
        (&json!("Acme Ltd"), &json!("7707083893"), &json!(["vip"]))
    );
    assert_eq!(
        (&records[2]["name"], &records[2]["tags"]),
        (&json!("Acme Ltd"), &json!(["vip", "wholesale"]))
    );
    assert_eq!(changes[3]["action"], "deleted");
    assert!(records[3].is_null());
    // The whole record, as the API shows the client (but for what changes on every write).
    for field in ["kind", "display_name", "emails", "phones", "owner_id", "custom", "external_refs"] {
        assert!(records[2].get(field).is_some(), "{field} is missing from {}", records[2]);
    }
}

/// Segments, pipelines and custom fields are deleted outright: their tombstones come from the log,
/// oldest deletion first, from `deleted_since`, a page at a time.
#[actix_web::test]
async fn records_deleted_outright_have_tombstones_from_the_log() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (_, rep) = app.user_with_role("sales").await;
    let kinds = [
        (
            "/api/v1/segments",
            json!({"name": "Old list", "kind": "static"}),
            json!({"name": "New list", "kind": "static"}),
        ),
        ("/api/v1/pipelines", json!({"name": "Old pipeline"}), json!({"name": "New pipeline"})),
        (
            "/api/v1/custom-fields",
            json!({"entity": "client", "key": "old_tier", "label": "Old tier", "type": "text"}),
            json!({"entity": "client", "key": "new_tier", "label": "New tier", "type": "text"}),
        ),
    ];
    for (list, first, second) in kinds {
        let first = app.post(list, &owner, first).await.expect(201).clone();
        let second = app.post(list, &owner, second).await.expect(201).clone();
        let deleting = |record: &Value| format!("{list}/{}", id(record));
        let before_first = chrono::Utc::now();
        app.request(actix_web::http::Method::DELETE, &deleting(&first), Some(&owner), None).await.expect(204);
        let between = chrono::Utc::now();
        app.request(actix_web::http::Method::DELETE, &deleting(&second), Some(&owner), None)
            .await
            .expect(204);

        let all = walk(
            &app,
            &rep,
            &format!("{list}/deleted?deleted_since={}", before_first.to_rfc3339().replace('+', "%2B")),
        )
        .await;
        assert_eq!(all, [id(&first).to_string(), id(&second).to_string()], "{list}");
        let later = walk(
            &app,
            &rep,
            &format!("{list}/deleted?deleted_since={}", between.to_rfc3339().replace('+', "%2B")),
        )
        .await;
        assert_eq!(later, [id(&second).to_string()], "{list}");
        let page = app.get(&format!("{list}/deleted?limit=1"), &owner).await.expect(200).clone();
        let tombstone = &page["data"][0];
        assert_eq!(
            (tombstone["id"].as_str(), tombstone["deleted_by"].is_string()),
            (Some(id(&first)), true),
            "{page}"
        );
        crate::support::http::assert_taken_between(&tombstone["deleted_at"], before_first, between);
    }
}
