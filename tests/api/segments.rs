use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::id_of as id;
use crate::support::http::{assert_taken_between, timestamp};

async fn company(app: &TestApp, token: &str, name: &str) -> Value {
    app.post("/api/v1/clients", token, json!({"kind": "company", "name": name})).await.expect(201).clone()
}

/// A dynamic segment of the companies.
async fn companies_segment(app: &TestApp, token: &str) -> Value {
    let filter = json!({"field": "kind", "op": "eq", "value": "company"});
    app.post("/api/v1/segments", token, json!({"name": "Companies", "kind": "dynamic", "filter": filter}))
        .await
        .expect(201)
        .clone()
}

async fn stats(app: &TestApp, token: &str, client: &Value) -> Value {
    app.get(&format!("/api/v1/clients/{}", id(client)), token).await.expect(200)["stats"].clone()
}

/// The display names of a segment's members, sorted.
async fn members(app: &TestApp, token: &str, segment: &Value) -> Vec<String> {
    let page = app.get(&format!("/api/v1/segments/{}/members?limit=200", id(segment)), token).await;
    let mut names: Vec<String> = page.expect(200)["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|client| client["display_name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

async fn builtin(app: &TestApp, token: &str, key: &str) -> Value {
    let page = app.get("/api/v1/segments?limit=200", token).await.expect(200).clone();
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|segment| segment["builtin"] == key)
        .cloned()
        .unwrap_or_default()
}

#[actix_web::test]
async fn deal_and_activity_writes_keep_the_clients_stats_current() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = company(&app, &owner, "Acme").await;
    let beta = company(&app, &owner, "Beta").await;
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let stage = |name: &str| {
        pipelines["data"][0]["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|stage| stage["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let won = app
        .post("/api/v1/deals", &owner, json!({"title": "Won", "client_id": acme["id"], "amount": "100.00", "stage_id": stage("Won")["id"]}))
        .await
        .expect(201)
        .clone();
    let open = app
        .post("/api/v1/deals", &owner, json!({"title": "Open", "client_id": acme["id"], "amount": "50.00"}))
        .await
        .expect(201)
        .clone();
    let now = stats(&app, &owner, &acme).await;
    assert_eq!(
        (now["won_count"].clone(), now["won_amount"].clone(), now["open_deals_count"].clone()),
        (json!(1), json!("100.00"), json!(1))
    );
    assert_eq!(now["first_purchase_at"], won["closed_at"]);
    assert_eq!(now["last_purchase_at"], won["closed_at"]);

    // Winning the open deal makes two purchases; moving it to Beta moves its purchase too.
    let open_path = format!("/api/v1/deals/{}", id(&open));
    app.patch(&open_path, &owner, json!({"stage_id": stage("Won")["id"]})).await.expect(200);
    assert_eq!(stats(&app, &owner, &acme).await["won_amount"], "150.00");
    app.patch(&open_path, &owner, json!({"client_id": beta["id"]})).await.expect(200);
    assert_eq!(stats(&app, &owner, &acme).await["won_count"], 1);
    assert_eq!(stats(&app, &owner, &beta).await["won_amount"], "50.00");

    // Deleting and restoring a deal takes its purchase away and back.
    let won_path = format!("/api/v1/deals/{}", id(&won));
    app.request(Method::DELETE, &won_path, Some(&owner), None).await.expect(204);
    let gone = stats(&app, &owner, &acme).await;
    assert_eq!((gone["won_count"].clone(), gone["last_purchase_at"].clone()), (json!(0), Value::Null));
    app.post(&format!("{won_path}/restore"), &owner, json!({})).await.expect(200);
    assert_eq!(stats(&app, &owner, &acme).await["won_count"], 1);

    // Activities: done ones count; planned ones don't until completed.
    let call = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": "Call", "client_id": acme["id"], "status": "done"}),
        )
        .await
        .expect(201)
        .clone();
    let planned = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "meeting", "subject": "Visit", "client_id": acme["id"]}),
        )
        .await
        .expect(201)
        .clone();
    let after_call = stats(&app, &owner, &acme).await;
    assert_eq!(
        (after_call["activities_30d"].clone(), after_call["activities_90d"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(after_call["last_activity_at"], call["completed_at"]);
    let done = app
        .post(&format!("/api/v1/activities/{}/complete", id(&planned)), &owner, json!({}))
        .await
        .expect(200)
        .clone();
    let after_meeting = stats(&app, &owner, &acme).await;
    assert_eq!(after_meeting["activities_30d"], 2);
    assert_eq!(after_meeting["last_activity_at"], done["activity"]["completed_at"]);
    let call_path = format!("/api/v1/activities/{}", id(&call));
    app.request(Method::DELETE, &call_path, Some(&owner), None).await.expect(204);
    assert_eq!(stats(&app, &owner, &acme).await["activities_30d"], 1);
    app.post(&format!("{call_path}/restore"), &owner, json!({})).await.expect(200);
    assert_eq!(stats(&app, &owner, &acme).await["activities_30d"], 2);
}

#[actix_web::test]
async fn rfm_classes_and_the_built_in_segments_on_a_known_dataset() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    // Recency by days since the last purchase, frequency by purchases, monetary by amount.
    let dataset =
        [("A", 1, 10, 1000), ("B", 10, 8, 800), ("C", 50, 1, 100), ("D", 200, 6, 600), ("E", 400, 2, 50)];
    for (name, days, count, amount) in dataset {
        company(&app, &owner, name).await;
        app.sql(&format!(
            "UPDATE clients SET stats_won_count = {count}, stats_won_amount = {amount}, \
             stats_first_purchase_at = now() - interval '1000 days', stats_last_purchase_at = now() - interval '{days} days' \
             WHERE display_name = '{name}'"
        ))
        .await;
    }
    let never = company(&app, &owner, "F").await;
    let refreshed = app.post("/api/v1/segments/rfm/refresh", &owner, json!({})).await.expect(200).clone();
    assert_eq!(refreshed["scored"], 5);

    let page = app.get("/api/v1/clients?sort=display_name", &owner).await.expect(200).clone();
    let mut classes = Vec::new();
    for client in page["data"].as_array().into_iter().flatten() {
        let stats = stats(&app, &owner, client).await;
        classes.push((
            client["display_name"].as_str().unwrap_or_default().to_string(),
            stats["rfm_recency"].clone(),
            stats["rfm_frequency"].clone(),
            stats["rfm_class"].clone(),
        ));
    }
    assert_eq!(
        classes,
        [
            ("A".to_string(), json!(5), json!(5), json!("champions")),
            ("B".to_string(), json!(4), json!(4), json!("loyal")),
            ("C".to_string(), json!(3), json!(1), json!("about_to_sleep")),
            ("D".to_string(), json!(2), json!(3), json!("at_risk")),
            ("E".to_string(), json!(1), json!(2), json!("hibernating")),
            ("F".to_string(), Value::Null, Value::Null, Value::Null),
        ]
    );
    assert_eq!(stats(&app, &owner, &never).await["won_count"], 0);

    for (key, expected) in [
        ("rfm_champions", vec!["A"]),
        ("rfm_at_risk", vec!["D"]),
        ("dormant", vec!["D", "E"]),
        ("frequent_buyers", vec!["A", "B", "D"]),
        ("occasional_buyers", vec!["C", "E"]),
        ("never_bought", vec!["F"]),
        ("new_this_month", vec!["A", "B", "C", "D", "E", "F"]),
    ] {
        let segment = builtin(&app, &owner, key).await;
        assert_eq!(members(&app, &owner, &segment).await, expected, "{key}");
        let count =
            app.get(&format!("/api/v1/segments/{}/count", id(&segment)), &owner).await.expect(200).clone();
        assert_eq!(count["count"], expected.len(), "{key}");
    }
}

#[actix_web::test]
async fn dynamic_segments_follow_the_data_and_static_ones_keep_their_list() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = company(&app, &owner, "Acme").await;
    let ivan = app
        .post("/api/v1/clients", &owner, json!({"kind": "person", "first_name": "Ivan", "tags": ["vip"]}))
        .await
        .expect(201)
        .clone();
    let companies = app
        .post("/api/v1/segments", &owner, json!({"name": "Companies", "kind": "dynamic", "filter": {"field": "kind", "op": "eq", "value": "company"}}))
        .await
        .expect(201)
        .clone();
    let picked = app
        .post("/api/v1/segments", &owner, json!({"name": "Picked", "kind": "static"}))
        .await
        .expect(201)
        .clone();
    let picked_members = format!("/api/v1/segments/{}/members", id(&picked));

    let added =
        app.post(&picked_members, &owner, json!({"client_ids": [ivan["id"]]})).await.expect(200).clone();
    assert_eq!((added["changed"].clone(), added["count"].clone()), (json!(1), json!(1)));
    let from_filter = app
        .post(
            &format!("{picked_members}/from-filter"),
            &owner,
            json!({"filter": {"field": "kind", "op": "eq", "value": "company"}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!((from_filter["changed"].clone(), from_filter["count"].clone()), (json!(1), json!(2)));

    // A new company joins the dynamic segment, not the static one.
    company(&app, &owner, "Beta").await;
    assert_eq!(members(&app, &owner, &companies).await, ["Acme", "Beta"]);
    assert_eq!(members(&app, &owner, &picked).await, ["Acme", "Ivan"]);

    // Removing, and a deleted client leaving every segment.
    let removed = app
        .request(Method::DELETE, &picked_members, Some(&owner), Some(&json!({"client_ids": [ivan["id"]]})))
        .await;
    assert_eq!(removed.expect(200)["count"], 1);
    app.request(Method::DELETE, &format!("/api/v1/clients/{}", id(&acme)), Some(&owner), None)
        .await
        .expect(204);
    assert_eq!(members(&app, &owner, &picked).await, Vec::<String>::new());
    assert_eq!(members(&app, &owner, &companies).await, ["Beta"]);

    // Membership changes are for static segments, with clients of this workspace.
    let dynamic_members = format!("/api/v1/segments/{}/members", id(&companies));
    app.post(&dynamic_members, &owner, json!({"client_ids": [ivan["id"]]}))
        .await
        .expect_problem(409, "dynamic_segment");
    let unknown =
        app.post(&picked_members, &owner, json!({"client_ids": [ivan["id"], uuid::Uuid::now_v7()]})).await;
    assert_eq!(unknown.expect(422)["errors"][0]["field"], "client_ids[1]");

    // A dynamic segment needs a valid filter; a static one takes none; names are unique.
    let no_filter = app.post("/api/v1/segments", &owner, json!({"name": "X", "kind": "dynamic"})).await;
    assert_eq!(no_filter.expect(422)["errors"][0]["field"], "filter");
    let bad_filter = app
        .post(
            "/api/v1/segments",
            &owner,
            json!({"name": "X", "kind": "dynamic", "filter": {"field": "nope", "op": "eq", "value": 1}}),
        )
        .await;
    assert_eq!(bad_filter.expect(422)["errors"][0]["field"], "filter.field");
    app.post("/api/v1/segments", &owner, json!({"name": "companies", "kind": "static"}))
        .await
        .expect_problem(409, "segment_name_taken");

    // Preview: the count and first page of a filter, nothing saved.
    let preview = app
        .post(
            "/api/v1/segments/preview",
            &owner,
            json!({"filter": {"field": "tags", "op": "contains", "value": "vip"}, "limit": 10}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(preview["count"], 1);
    assert_eq!(preview["members"]["data"][0]["display_name"], "Ivan");

    // Editing the filter changes the members.
    let edited = app
        .patch(
            &format!("/api/v1/segments/{}", id(&companies)),
            &owner,
            json!({"filter": {"field": "kind", "op": "eq", "value": "person"}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(edited["version"], 2);
    assert_eq!(members(&app, &owner, &companies).await, ["Ivan"]);
}

#[actix_web::test]
async fn a_saved_segments_values_match_as_written_quotes_and_backslashes_included() {
    // A saved segment's filter reaches the database with its values written into the SQL; the
    // preview of the same filter binds them. Both must select the same clients.
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    company(&app, &owner, r"O'Brien \ Sons").await;
    company(&app, &owner, "Robert'); DELETE FROM clients; --").await;
    company(&app, &owner, "O'Brien Sons").await;
    let person = json!({"kind": "person", "first_name": "Ann", "tags": [r"back\slash", "it's"],
                        "birth_date": "1990-05-17"});
    app.post("/api/v1/clients", &owner, person).await.expect(201);
    let filter = json!({"any": [
        {"field": "name", "op": "eq", "value": r"O'Brien \ Sons"},
        {"field": "name", "op": "contains", "value": "'); DELETE"},
        {"field": "tags", "op": "in", "value": [r"back\slash", "nobody's"]},
    ]});
    let dated = json!({"all": [
        {"field": "tags", "op": "contains", "value": "it's"},
        {"field": "birth_date", "op": "between", "value": ["1990-05-17", "1990-05-18"]},
        {"field": "created_at", "op": "gte", "value": "2001-02-03T04:05:06.000007Z"},
        {"field": "version", "op": "in", "value": [1, 2]},
    ]});

    for (name, filter, expected) in [
        ("Quoted", filter, vec!["Ann", r"O'Brien \ Sons", "Robert'); DELETE FROM clients; --"]),
        ("Dated", dated, vec!["Ann"]),
    ] {
        let preview = app
            .post("/api/v1/segments/preview", &owner, json!({"filter": filter, "limit": 50}))
            .await
            .expect(200)
            .clone();
        let mut previewed: Vec<&str> = preview["members"]["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|client| client["display_name"].as_str())
            .collect();
        previewed.sort();
        assert_eq!(previewed, expected, "{name}: the preview");

        let segment = app
            .post("/api/v1/segments", &owner, json!({"name": name, "kind": "dynamic", "filter": filter}))
            .await
            .expect(201)
            .clone();
        // Twice: the second page comes from the statement the first one cached.
        for _ in 0..2 {
            assert_eq!(members(&app, &owner, &segment).await, expected, "{name}: the members");
        }
        let count = app.get(&format!("/api/v1/segments/{}/count?fresh=true", id(&segment)), &owner).await;
        assert_eq!(count.expect(200)["count"], expected.len(), "{name}: the count");
    }
    let everyone = app.get("/api/v1/clients?limit=50", &owner).await.expect(200).clone();
    assert_eq!(everyone["data"].as_array().map(Vec::len), Some(4));
}

#[actix_web::test]
async fn exports_are_csv_recorded_and_only_for_managers_and_up() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.post(
        "/api/v1/clients",
        &owner,
        json!({"kind": "company", "name": "=cmd()", "emails": [{"value": "a@acme.example"}]}),
    )
    .await
    .expect(201);
    company(&app, &owner, "Beta, Inc.").await;
    let companies = app
        .post("/api/v1/segments", &owner, json!({"name": "Companies", "kind": "dynamic", "filter": {"field": "kind", "op": "eq", "value": "company"}}))
        .await
        .expect(201)
        .clone();
    let export_path = format!("/api/v1/segments/{}/export", id(&companies));

    let csv = app.get(&export_path, &owner).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.body.as_str().unwrap_or_default().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("id,kind,display_name,email,phone"), "{text}");
    assert!(text.contains(",'=cmd(),a@acme.example,"), "a formula is defused: {text}");
    assert!(text.contains(",\"Beta, Inc.\","), "a comma is quoted: {text}");

    // A manager who sees every client, so that their export holds the same rows (what an export
    // holds of a narrower visibility is in visibility.rs).
    let (manager_user, manager) = app.user_seeing("manager", "all").await;
    let manager_from = chrono::Utc::now();
    app.get(&export_path, &manager).await.expect(200);
    let manager_to = chrono::Utc::now();
    let (_, sales) = app.user_with_role("sales").await;
    app.get(&export_path, &sales).await.expect_problem(403, "forbidden");
    let (_, viewer) = app.user_with_role("viewer").await;
    app.get(&export_path, &viewer).await.expect_problem(403, "forbidden");

    let exports =
        app.get(&format!("/api/v1/segments/{}/exports", id(&companies)), &owner).await.expect(200).clone();
    let exports = exports["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(exports.len(), 2, "the refused ones are not exports");
    assert!(exports.iter().all(|export| export["row_count"] == 2), "{exports:?}");
    // Latest first: the manager's, then the owner's, each with who made it and when.
    let owner_id = app.owner_session().await["user_id"].clone();
    assert_eq!([&exports[0]["exported_by"], &exports[1]["exported_by"]], [&manager_user["id"], &owner_id]);
    assert_taken_between(&exports[0]["started_at"], manager_from, manager_to);
    assert_taken_between(&exports[0]["finished_at"], timestamp(&exports[0]["started_at"]), manager_to);
    app.get(&format!("/api/v1/segments/{}/exports", id(&companies)), &sales)
        .await
        .expect_problem(403, "forbidden");
}

#[actix_web::test]
async fn a_segment_never_shows_another_workspaces_clients() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    company(&app, &owner, "Ours").await;
    app.create_other_workspace("Rival", "rival@example.com", "rival-password-1").await;
    let rival = crate::support::http::access_token(
        &app.login_as("rival@example.com", "rival-password-1").await.expect(200).clone(),
    );
    let theirs = company(&app, &rival, "Theirs").await;

    let never = builtin(&app, &owner, "never_bought").await;
    assert_eq!(members(&app, &owner, &never).await, ["Ours"]);
    // Their segment is a 404 here, and their client can't join ours.
    let their_never = builtin(&app, &rival, "never_bought").await;
    app.get(&format!("/api/v1/segments/{}/members", id(&their_never)), &owner)
        .await
        .expect_problem(404, "not_found");
    let picked = app
        .post("/api/v1/segments", &owner, json!({"name": "Picked", "kind": "static"}))
        .await
        .expect(201)
        .clone();
    let sneaked = app
        .post(
            &format!("/api/v1/segments/{}/members", id(&picked)),
            &owner,
            json!({"client_ids": [theirs["id"]]}),
        )
        .await;
    assert_eq!(sneaked.expect(422)["errors"][0]["code"], "not_found");
    let preview = app
        .post(
            "/api/v1/segments/preview",
            &owner,
            json!({"filter": {"field": "id", "op": "eq", "value": theirs["id"]}}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(preview["count"], 0);
}

#[actix_web::test]
async fn a_count_is_kept_for_a_minute_unless_asked_fresh_or_the_segment_changes() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    company(&app, &owner, "Acme").await;
    let filter = json!({"field": "kind", "op": "eq", "value": "company"});
    let segment = companies_segment(&app, &owner).await;
    let count_path = format!("/api/v1/segments/{}/count", id(&segment));
    let first = app.get(&count_path, &owner).await.expect(200).clone();
    assert_eq!(first["count"], 1);

    company(&app, &owner, "Beta").await;
    let kept = app.get(&count_path, &owner).await.expect(200).clone();
    assert_eq!(kept, first, "the count of a moment ago, with its time");
    let fresh = app.get(&format!("{count_path}?fresh=true"), &owner).await.expect(200).clone();
    assert_eq!(fresh["count"], 2);
    assert!(timestamp(&fresh["counted_at"]) > timestamp(&first["counted_at"]), "{fresh} after {first}");
    assert_eq!(app.get(&count_path, &owner).await.expect(200).clone(), fresh, "the fresh count is kept");

    // A new filter is counted at once.
    let people = json!({"filter": {"field": "kind", "op": "eq", "value": "person"}});
    app.patch(&format!("/api/v1/segments/{}", id(&segment)), &owner, people).await.expect(200);
    assert_eq!(app.get(&count_path, &owner).await.expect(200)["count"], 0);

    // So are a static segment's new members.
    let picked = app
        .post("/api/v1/segments", &owner, json!({"name": "Picked", "kind": "static"}))
        .await
        .expect(201)
        .clone();
    let picked_count = format!("/api/v1/segments/{}/count", id(&picked));
    assert_eq!(app.get(&picked_count, &owner).await.expect(200)["count"], 0);
    let picked_members = format!("/api/v1/segments/{}/members", id(&picked));
    app.post(&format!("{picked_members}/from-filter"), &owner, json!({"filter": filter})).await.expect(200);
    assert_eq!(app.get(&picked_count, &owner).await.expect(200)["count"], 2);

    // Requests that find no kept count at the same moment share one count. They are made to
    // overlap: the segment's counting lock is held until all the server's connections (four in
    // tests) wait for it, the other two requests queued behind them.
    let everyone = app
        .post("/api/v1/segments", &owner, json!({"name": "Everyone", "kind": "dynamic", "filter": {"field": "kind", "op": "in", "value": ["company", "person"]}}))
        .await
        .expect(201)
        .clone();
    let everyone_count = format!("/api/v1/segments/{}/count", id(&everyone));
    let (locked, release) = hold_count_lock(&app, id(&everyone));
    locked.recv().expect("the lock is held");
    let (together, ()) = futures_util::future::join(
        futures_util::future::join_all((0..6).map(|_| app.get(&everyone_count, &owner))),
        async {
            app.wait_for_lock_waiters(4).await;
            release.send(()).expect("the lock holder is waiting");
        },
    )
    .await;
    let counts: Vec<Value> = together.into_iter().map(|response| response.expect(200).clone()).collect();
    assert!(counts.iter().all(|count| *count == counts[0]), "{counts:?}");
    assert_eq!(counts[0]["count"], 2);
}

#[actix_web::test]
async fn while_a_count_is_being_remade_the_others_get_the_one_it_replaces() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    company(&app, &owner, "Acme").await;
    let segment = companies_segment(&app, &owner).await;
    let count_path = format!("/api/v1/segments/{}/count", id(&segment));
    let first = app.get(&count_path, &owner).await.expect(200).clone();
    company(&app, &owner, "Beta").await;
    // The kept count expires, and another session holds the segment's counting lock, as a request
    // recounting it would.
    app.sql("UPDATE segment_counts SET counted_at = counted_at - interval '2 minutes'").await;
    let (locked, release) = hold_count_lock(&app, id(&segment));
    locked.recv().expect("the lock is held");

    let served =
        actix_web::rt::time::timeout(std::time::Duration::from_secs(10), app.get(&count_path, &owner))
            .await
            .expect("answered without waiting for the recount");
    let served = served.expect(200).clone();
    assert_eq!(served["count"], 1, "the count being replaced: {served}");
    assert!(timestamp(&served["counted_at"]) < timestamp(&first["counted_at"]), "with its time: {served}");

    // A fresh count waits for the lock and counts now.
    let fresh_path = format!("{count_path}?fresh=true");
    let fresh = futures_util::future::join(app.get(&fresh_path, &owner), async {
        app.wait_for_lock_waiters(1).await;
        release.send(()).expect("the lock holder is waiting");
    })
    .await
    .0;
    assert_eq!(fresh.expect(200)["count"], 2);
}

#[actix_web::test]
async fn fresh_counts_asked_together_share_one_begun_after_them() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    company(&app, &owner, "Acme").await;
    let segment = companies_segment(&app, &owner).await;
    let fresh_path = format!("/api/v1/segments/{}/count?fresh=true", id(&segment));
    let first = app.get(&fresh_path, &owner).await.expect(200).clone();
    assert_eq!(first["count"], 1);

    // A company written before the fresh counts are asked for, while another session holds the
    // counting lock as a count that began earlier would: its count can't be theirs. Three users,
    // as three processes would ask: one process shares a user's counts before the database does.
    company(&app, &owner, "Beta").await;
    let (_, admin) = app.user_with_role("admin").await;
    let (_, other_admin) = app.user_with_role("admin").await;
    let (locked, release) = hold_count_lock(&app, id(&segment));
    locked.recv().expect("the lock is held");
    let (together, ()) = futures_util::future::join(
        futures_util::future::join_all(
            [&owner, &admin, &other_admin].map(|token| app.get(&fresh_path, token)),
        ),
        async {
            app.wait_for_lock_waiters(3).await;
            release.send(()).expect("the lock holder is waiting");
        },
    )
    .await;
    let counts: Vec<Value> = together.into_iter().map(|response| response.expect(200).clone()).collect();
    assert_eq!(counts[0]["count"], 2, "Beta is counted");
    assert!(timestamp(&counts[0]["counted_at"]) > timestamp(&first["counted_at"]), "{counts:?}");
    // One of them counted; the others took its count, begun after they were asked.
    assert!(counts.iter().all(|count| *count == counts[0]), "one count for all three: {counts:?}");
}

/// Holds the counting lock of `segment` in a transaction of its own until told to let go.
fn hold_count_lock(
    app: &TestApp,
    segment: &str,
) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    app.hold_advisory_lock(&format!("segment count {segment}"))
}
