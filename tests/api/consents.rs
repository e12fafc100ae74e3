//! The consent ledger (`/clients/{id}/consents`, `/contacts/{id}/consents`): grants and withdrawals
//! kept as given, the current state that filters and exports obey, and the unsubscribe link that
//! withdraws without a login.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{assert_taken_between, field_errors, timestamp};
use crate::support::paging::texts;

fn id(record: &Value) -> &str {
    record["id"].as_str().unwrap_or_default()
}

async fn company(app: &TestApp, token: &str, name: &str) -> Value {
    let body = json!({"kind": "company", "name": name});
    app.post("/api/v1/clients", token, body).await.expect(201).clone()
}

fn consent(purpose: &str, state: &str, occurred_at: &str) -> Value {
    json!({"purpose": purpose, "state": state, "occurred_at": occurred_at, "channel": "website",
           "wording_version": "newsletter-2026-01"})
}

#[actix_web::test]
async fn each_purpose_is_as_its_latest_record_by_when_it_happened_and_every_record_is_kept() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let owner_id = app.owner_session().await["user_id"].clone();
    let acme = company(&app, &owner, "Acme").await;
    let path = format!("/api/v1/clients/{}", id(&acme));
    let ledger = format!("{path}/consents");

    // A grant: recorded as given, by whom, when; the client's current state and version follow.
    let from = chrono::Utc::now();
    let granted =
        app.post(&ledger, &owner, consent("marketing_email", "granted", "2026-03-01T10:00:00Z")).await;
    let to = chrono::Utc::now();
    assert_eq!(granted.header("etag"), Some("\"2\""));
    let record = granted.expect(201).clone();
    assert_eq!(
        (&record["client_id"], &record["contact_id"], &record["purpose"], &record["state"]),
        (&acme["id"], &Value::Null, &json!("marketing_email"), &json!("granted"))
    );
    assert_eq!(timestamp(&record["occurred_at"]), timestamp(&json!("2026-03-01T10:00:00Z")));
    assert_eq!(
        (&record["channel"], &record["wording_version"]),
        (&json!("website"), &json!("newsletter-2026-01"))
    );
    assert_eq!(record["recorded_by"], owner_id);
    assert_taken_between(&record["recorded_at"], from, to);
    let card = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(card["version"], 2);
    assert_eq!(card["consents"]["marketing_email"]["state"], "granted");
    assert_eq!(card["consents"]["marketing_email"]["channel"], "website");
    assert_eq!(
        timestamp(&card["consents"]["marketing_email"]["occurred_at"]),
        timestamp(&record["occurred_at"])
    );

    // Withdrawn later: withdrawn now. A grant recorded after that but dated before the withdrawal
    // is history, not the current state. Other purposes are apart.
    app.post(&ledger, &owner, consent("marketing_email", "withdrawn", "2026-06-01T10:00:00Z"))
        .await
        .expect(201);
    app.post(&ledger, &owner, consent("marketing_email", "granted", "2026-04-01T10:00:00Z"))
        .await
        .expect(201);
    app.post(&ledger, &owner, consent("calls", "granted", "2026-05-01T10:00:00Z")).await.expect(201);
    let card = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(card["consents"]["marketing_email"]["state"], "withdrawn");
    assert_eq!(card["consents"]["calls"]["state"], "granted");
    assert_eq!(card["consents"].as_object().map(|consents| consents.len()), Some(2));
    assert_eq!(card["version"], 5);

    // The ledger: the current state, and every record in the order they happened.
    let read = app.get(&ledger, &owner).await.expect(200).clone();
    assert_eq!(read["consents"], card["consents"]);
    let happened: Vec<(String, String)> = read["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|record| {
            (record["purpose"].as_str().unwrap_or_default().into(), record["occurred_at"].to_string())
        })
        .collect();
    let purposes: Vec<&str> = happened.iter().map(|(purpose, _)| purpose.as_str()).collect();
    assert_eq!(purposes, ["marketing_email", "marketing_email", "calls", "marketing_email"]);
    let states: Vec<&str> = read["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|record| record["state"].as_str())
        .collect();
    assert_eq!(states, ["granted", "granted", "granted", "withdrawn"]);

    // Each record is a change of the client, in its history and the changes feed alike.
    let history = app.get(&format!("{path}/history"), &owner).await.expect(200).clone();
    let actions = texts(&history, "action");
    assert_eq!(
        actions,
        ["consent_recorded", "consent_recorded", "consent_recorded", "consent_recorded", "created"]
    );
    let first = &history["data"][3];
    assert_eq!((&first["version"], &first["actor_id"]), (&json!(2), &owner_id));
    assert_eq!(first["changes"]["purpose"]["to"], "marketing_email");
    assert_eq!(first["changes"]["consents"]["from"], json!({}));
    assert_eq!(first["changes"]["consents"]["to"]["marketing_email"]["state"], "granted");

    // A sync reading the feed gets the client as the change left it, consents included, and the
    // record's facts only in `changes`.
    let feed = app.get("/api/v1/changes?entities=clients", &owner).await.expect(200).clone();
    let last = feed["data"].as_array().and_then(|events| events.last()).cloned().unwrap_or_default();
    assert_eq!((&last["action"], &last["version"]), (&json!("consent_recorded"), &json!(5)));
    assert_eq!(last["record"]["consents"], card["consents"]);
    assert_eq!(last["record"].get("purpose"), None, "{last}");

    // An update of the client keeps its consents: they change through the ledger only.
    app.patch(&path, &owner, json!({"notes": "Prefers email"})).await.expect(200);
    let card = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(card["consents"]["calls"]["state"], "granted");
}

#[actix_web::test]
async fn a_record_names_a_known_purpose_a_past_moment_and_a_channel_or_is_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = company(&app, &owner, "Acme").await;
    let path = format!("/api/v1/clients/{}", id(&acme));
    let ledger = format!("{path}/consents");
    let before = app.get(&path, &owner).await.expect(200).clone();
    let in_an_hour = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    for (body, field, code) in [
        (consent("newsletter", "granted", "2026-03-01T10:00:00Z"), "purpose", "option"),
        (consent("marketing_email", "granted", &in_an_hour), "occurred_at", "in_future"),
        (json!({"purpose": "calls", "state": "granted", "channel": " \t"}), "channel", "blank"),
        (
            json!({"purpose": "calls", "state": "granted", "channel": "phone", "wording_version": "\u{a0}"}),
            "wording_version",
            "blank",
        ),
    ] {
        let refused = app.post(&ledger, &owner, body).await;
        assert_eq!(
            field_errors(refused.expect_problem(422, "validation_failed")),
            [(field.into(), code.into())]
        );
    }
    let unknown_state = json!({"purpose": "calls", "state": "maybe", "channel": "phone"});
    app.post(&ledger, &owner, unknown_state).await.expect(422);
    app.assert_unchanged(&path, &owner, &before).await;
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM consent_records").await, 0);

    // A purpose of the workspace's own is one once listed; a built-in one or one listed twice is
    // refused. Taken off the list, its records stay, and no new one is taken.
    let own = |purposes: Value| json!({"consent_purposes": purposes});
    for (purposes, field) in
        [(json!(["calls"]), "consent_purposes[0]"), (json!(["club", "club"]), "consent_purposes[1]")]
    {
        let refused = app.patch("/api/v1/workspace", &owner, own(purposes)).await;
        assert_eq!(
            field_errors(refused.expect_problem(422, "validation_failed")),
            [(field.into(), "duplicate".into())]
        );
    }
    let refused = app.patch("/api/v1/workspace", &owner, own(json!(["Loyalty Club"]))).await;
    assert_eq!(field_errors(refused.expect(422)), [("consent_purposes[0]".into(), "format".into())]);
    let workspace =
        app.patch("/api/v1/workspace", &owner, own(json!(["loyalty_club"]))).await.expect(200).clone();
    assert_eq!(workspace["consent_purposes"], json!(["loyalty_club"]));
    app.post(&ledger, &owner, consent("loyalty_club", "granted", "2026-03-01T10:00:00Z")).await.expect(201);
    app.patch("/api/v1/workspace", &owner, own(json!([]))).await.expect(200);
    let refused =
        app.post(&ledger, &owner, consent("loyalty_club", "withdrawn", "2026-04-01T10:00:00Z")).await;
    assert_eq!(field_errors(refused.expect(422)), [("purpose".into(), "option".into())]);
    let kept = app.get(&ledger, &owner).await.expect(200).clone();
    assert_eq!(kept["consents"]["loyalty_club"]["state"], "granted");
    assert_eq!(kept["records"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn searches_segments_and_exports_go_by_the_current_consent() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (granted, withdrawn, never) = (
        company(&app, &owner, "Granted").await,
        company(&app, &owner, "Withdrawn").await,
        company(&app, &owner, "Never").await,
    );
    let record = |client: &Value, state: &str| {
        let path = format!("/api/v1/clients/{}/consents", id(client));
        let body = consent("marketing_email", state, "2026-03-01T10:00:00Z");
        let (app, owner) = (&app, owner.clone());
        async move { app.post(&path, &owner, body).await.expect(201).clone() }
    };
    record(&granted, "granted").await;
    record(&withdrawn, "granted").await;
    let later = consent("marketing_email", "withdrawn", "2026-03-02T10:00:00Z");
    app.post(&format!("/api/v1/clients/{}/consents", id(&withdrawn)), &owner, later).await.expect(201);

    let found = |filter: Value| {
        let (app, owner) = (&app, owner.clone());
        async move {
            let body = json!({"filter": filter, "sort": "display_name"});
            texts(app.post("/api/v1/clients/search", &owner, body).await.expect(200), "name")
        }
    };
    let on = |op: &str, value: Value| json!({"field": "consent.marketing_email", "op": op, "value": value});
    assert_eq!(found(on("eq", json!("granted"))).await, ["Granted"]);
    assert_eq!(found(on("eq", json!("withdrawn"))).await, ["Withdrawn"]);
    assert_eq!(found(on("neq", json!("granted"))).await, ["Never", "Withdrawn"]);
    assert_eq!(found(json!({"field": "consent.marketing_email", "op": "is_null"})).await, ["Never"]);
    assert_eq!(found(json!({"field": "consent.calls", "op": "not_null"})).await, Vec::<String>::new());
    let unknown = json!({"filter": {"field": "consent.club", "op": "eq", "value": "granted"}});
    let refused = app.post("/api/v1/clients/search", &owner, unknown.clone()).await;
    assert_eq!(field_errors(refused.expect(422)), [("filter.field".into(), "unknown_field".into())]);
    // A purpose of the workspace's own is a field once listed.
    app.patch("/api/v1/workspace", &owner, json!({"consent_purposes": ["club"]})).await.expect(200);
    let club = format!("/api/v1/clients/{}/consents", id(&never));
    app.post(&club, &owner, consent("club", "granted", "2026-03-01T10:00:00Z")).await.expect(201);
    assert_eq!(
        texts(app.post("/api/v1/clients/search", &owner, unknown).await.expect(200), "name"),
        ["Never"]
    );

    // An export for a purpose sends only those who granted it, says how many it left out, and
    // keeps both in its record; without a purpose it sends everyone.
    let segment = json!({"name": "Everyone", "kind": "dynamic", "filter": {"field": "kind", "op": "eq", "value": "company"}});
    let segment = app.post("/api/v1/segments", &owner, segment).await.expect(201).clone();
    let export = format!("/api/v1/segments/{}/export", id(&segment));
    let for_mailing = app.get(&format!("{export}?consent=marketing_email"), &owner).await;
    assert_eq!(for_mailing.status, 200);
    assert_eq!(for_mailing.header("excluded-without-consent"), Some("2"));
    let csv = for_mailing.body.as_str().unwrap_or_default().to_string();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert!(rows[0].starts_with(id(&granted)), "{csv}");
    let everyone = app.get(&export, &owner).await;
    assert_eq!(everyone.header("excluded-without-consent"), Some("0"));
    assert_eq!(everyone.body.as_str().unwrap_or_default().lines().count(), 4);
    let refused = app.get(&format!("{export}?consent=newsletter"), &owner).await;
    assert_eq!(field_errors(refused.expect(422)), [("purpose".into(), "option".into())]);
    let exports =
        app.get(&format!("/api/v1/segments/{}/exports", id(&segment)), &owner).await.expect(200).clone();
    let kept: Vec<(Value, Value, Value)> = exports["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|export| {
            (
                export["consent_purpose"].clone(),
                export["excluded_without_consent"].clone(),
                export["row_count"].clone(),
            )
        })
        .collect();
    assert_eq!(kept, [(Value::Null, json!(0), json!(3)), (json!("marketing_email"), json!(2), json!(1))]);
}

#[actix_web::test]
async fn an_unsubscribe_link_withdraws_without_a_login_once_and_only_what_it_names() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let acme = company(&app, &owner, "Acme").await;
    let path = format!("/api/v1/clients/{}", id(&acme));
    app.post(
        &format!("{path}/consents"),
        &owner,
        consent("marketing_email", "granted", "2026-03-01T10:00:00Z"),
    )
    .await
    .expect(201);
    app.post(&format!("{path}/consents"), &owner, consent("calls", "granted", "2026-03-01T10:00:00Z"))
        .await
        .expect(201);
    let link = app.get(&format!("{path}/consents/unsubscribe-link?purpose=marketing_email"), &owner).await;
    let link = link.expect(200).clone();
    let token = link["token"].as_str().unwrap_or_default().to_string();
    assert_eq!(link["path"], format!("/api/v1/unsubscribe/{token}"));
    let refused = app.get(&format!("{path}/consents/unsubscribe-link?purpose=newsletter"), &owner).await;
    assert_eq!(field_errors(refused.expect(422)), [("purpose".into(), "option".into())]);

    // Opened without a login: withdrawn through the link, by no user; the other purpose stays.
    let from = chrono::Utc::now();
    let opened = app.request(Method::GET, &format!("/api/v1/unsubscribe/{token}"), None, None).await;
    let to = chrono::Utc::now();
    let opened = opened.expect(200).clone();
    assert_eq!((&opened["purpose"], &opened["state"]), (&json!("marketing_email"), &json!("withdrawn")));
    assert_taken_between(&opened["occurred_at"], from, to);
    let ledger = app.get(&format!("{path}/consents"), &owner).await.expect(200).clone();
    assert_eq!(ledger["consents"]["marketing_email"]["state"], "withdrawn");
    assert_eq!(ledger["consents"]["marketing_email"]["channel"], "unsubscribe_link");
    assert_eq!(ledger["consents"]["calls"]["state"], "granted");
    let last = &ledger["records"][2];
    assert_eq!((&last["recorded_by"], &last["channel"]), (&Value::Null, &json!("unsubscribe_link")));
    let history = app.get(&format!("{path}/history"), &owner).await.expect(200).clone();
    assert_eq!(history["data"][0]["action"], "consent_recorded");
    assert_eq!(history["data"][0]["actor_id"], Value::Null);

    // Opened again, or posted by a mail client's one-click: the same answer, nothing more recorded.
    let again = app.request(Method::GET, &format!("/api/v1/unsubscribe/{token}"), None, None).await;
    assert_eq!(again.expect(200), &opened);
    let one_click = app.request(Method::POST, &format!("/api/v1/unsubscribe/{token}"), None, None).await;
    assert_eq!(one_click.expect(200), &opened);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM consent_records").await, 3);

    // A token not signed by this server is no link, and changes nothing.
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [forged.as_str(), "not-a-token"] {
        let refused = app.request(Method::GET, &format!("/api/v1/unsubscribe/{bad}"), None, None).await;
        refused.expect_problem(404, "not_found");
    }
    // Nor is an access token.
    app.request(Method::GET, &format!("/api/v1/unsubscribe/{owner}"), None, None).await.expect(404);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM consent_records").await, 3);

    // A contact person's link withdraws the contact's consent, not the client's.
    let anna = json!({"client_id": acme["id"], "first_name": "Anna"});
    let anna = app.post("/api/v1/contacts", &owner, anna).await.expect(201).clone();
    let anna_path = format!("/api/v1/contacts/{}", id(&anna));
    app.post(&format!("{anna_path}/consents"), &owner, consent("calls", "granted", "2026-03-01T10:00:00Z"))
        .await
        .expect(201);
    let link = app.get(&format!("{anna_path}/consents/unsubscribe-link?purpose=calls"), &owner).await;
    let link_path = link.expect(200)["path"].as_str().unwrap_or_default().to_string();
    app.request(Method::POST, &link_path, None, None).await.expect(200);
    let anna = app.get(&anna_path, &owner).await.expect(200).clone();
    assert_eq!(anna["consents"]["calls"]["state"], "withdrawn");
    let acme = app.get(&path, &owner).await.expect(200).clone();
    assert_eq!(acme["consents"]["calls"]["state"], "granted");
}

#[actix_web::test]
async fn a_merge_hands_the_merged_records_consent_to_the_survivor_and_its_links_follow() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let survivor = company(&app, &owner, "Acme").await;
    let twin = company(&app, &owner, "Acme twin").await;
    let survivor_path = format!("/api/v1/clients/{}", id(&survivor));
    let twin_path = format!("/api/v1/clients/{}", id(&twin));
    app.post(
        &format!("{survivor_path}/consents"),
        &owner,
        consent("marketing_email", "granted", "2026-03-01T10:00:00Z"),
    )
    .await
    .expect(201);
    // The twin's withdrawal is later: after the merge, it is the survivor's current state.
    app.post(
        &format!("{twin_path}/consents"),
        &owner,
        consent("marketing_email", "withdrawn", "2026-05-01T10:00:00Z"),
    )
    .await
    .expect(201);
    app.post(&format!("{twin_path}/consents"), &owner, consent("calls", "granted", "2026-05-01T10:00:00Z"))
        .await
        .expect(201);
    let link = app.get(&format!("{twin_path}/consents/unsubscribe-link?purpose=calls"), &owner).await;
    let link_path = link.expect(200)["path"].as_str().unwrap_or_default().to_string();

    let merged = app.post(&format!("{survivor_path}/merge"), &owner, json!({"from": [twin["id"]]})).await;
    let merged = merged.expect(200).clone();
    assert_eq!(merged["consents"]["marketing_email"]["state"], "withdrawn");
    assert_eq!(merged["consents"]["calls"]["state"], "granted");
    let ledger = app.get(&format!("{survivor_path}/consents"), &owner).await.expect(200).clone();
    assert_eq!(ledger["records"].as_array().map(Vec::len), Some(3));
    assert!(
        ledger["records"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|record| record["client_id"] == survivor["id"])
    );

    // The twin's link, in a mailing sent before the merge, withdraws on the survivor.
    app.request(Method::GET, &link_path, None, None).await.expect(200);
    let card = app.get(&survivor_path, &owner).await.expect(200).clone();
    assert_eq!(card["consents"]["calls"]["state"], "withdrawn");
}
