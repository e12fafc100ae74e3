use actix_web::http::Method;
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{assert_taken_between, timestamp};

fn path(activity: &Value) -> String {
    format!("/api/v1/activities/{}", activity["id"].as_str().unwrap_or_default())
}

fn subjects(items: &Value) -> Vec<String> {
    items
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["subject"].as_str().map(str::to_string))
        .collect()
}

async fn client_with_contact(app: &TestApp, token: &str) -> (Value, Value) {
    let client = app
        .post(
            "/api/v1/clients",
            token,
            json!({"kind": "company", "name": "Acme", "phones": [{"value": "+16502530000"}]}),
        )
        .await
        .expect(201)
        .clone();
    let contact = app
        .post("/api/v1/contacts", token, json!({"client_id": client["id"], "first_name": "Ann"}))
        .await
        .expect(201)
        .clone();
    (client, contact)
}

#[actix_web::test]
async fn activities_link_to_a_client_through_their_contact_and_deal() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (client, contact) = client_with_contact(&app, &owner).await;
    let sent = Utc::now();
    let call = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "direction": "outbound", "channel": "phone", "reason": "cold_call", "subject": "First call",
                   "contact_id": contact["id"], "status": "done", "outcome": "Send an offer", "duration_seconds": 300,
                   "external_ref": "pbx-1", "from": "+16502530001", "to": "+16502530000"}),
        )
        .await;
    let call = call.expect(201).clone();
    assert_eq!(call["client_id"], client["id"], "the contact's client");
    assert_eq!(call["status"], "done");
    assert_taken_between(&call["completed_at"], sent, Utc::now());
    let session = app.owner_session().await;
    assert_eq!(call["assignee_id"], session["user_id"]);

    let twice = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": "Again", "external_ref": "pbx-1"}),
        )
        .await;
    twice.expect_problem(409, "external_ref_taken");

    let other = app
        .post("/api/v1/clients", &owner, json!({"kind": "person", "first_name": "Other"}))
        .await
        .expect(201)
        .clone();
    let wrong = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": "X", "client_id": other["id"], "contact_id": contact["id"]}),
        )
        .await;
    assert_eq!(wrong.expect_problem(422, "validation_failed")["errors"][0]["field"], "contact_id");
    // Nor can it be about another client's deal.
    let deal = app
        .post("/api/v1/deals", &owner, json!({"title": "Acme's order", "client_id": client["id"]}))
        .await
        .expect(201)
        .clone();
    let crossed = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": "X", "client_id": other["id"], "deal_id": deal["id"]}),
        )
        .await;
    let problem = crossed.expect_problem(422, "validation_failed");
    assert_eq!(
        (problem["errors"][0]["field"].clone(), problem["errors"][0]["code"].clone()),
        (json!("deal_id"), json!("wrong_client"))
    );
    let call_path = path(&call);
    let moved = app
        .patch(
            &call_path,
            &owner,
            json!({"client_id": other["id"], "contact_id": null, "deal_id": deal["id"]}),
        )
        .await;
    assert_eq!(moved.expect_problem(422, "validation_failed")["errors"][0]["field"], "deal_id");
    assert_eq!(
        app.get(&call_path, &owner).await.expect(200)["client_id"],
        client["id"],
        "the call stays Acme's"
    );
    for (body, field) in [
        (json!({"kind": "fax", "subject": "X"}), "kind"),
        (json!({"kind": "call", "subject": ""}), "subject"),
        (json!({"kind": "call", "subject": "X", "reason": "boredom"}), "reason"),
        (json!({"kind": "call", "subject": "X", "status": "overdue"}), "status"),
        (json!({"kind": "call", "subject": "X", "deal_id": uuid::Uuid::now_v7()}), "deal_id"),
        (json!({"kind": "call", "subject": "X", "recording_url": "not a url"}), "recording_url"),
    ] {
        let response = app.post("/api/v1/activities", &owner, body).await;
        assert_eq!(response.expect_problem(422, "validation_failed")["errors"][0]["field"], field);
    }
    let client_path = format!("/api/v1/clients/{}/activities", client["id"].as_str().unwrap_or_default());
    assert_eq!(subjects(&app.get(&client_path, &owner).await.expect(200)["data"]), ["First call"]);
}

#[actix_web::test]
async fn a_planned_activity_past_due_is_overdue() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let late = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "task", "subject": "Late", "due_at": Utc::now() - Duration::minutes(1)}),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(late["status"], "overdue");
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "task", "subject": "Later", "due_at": Utc::now() + Duration::hours(1)}),
    )
    .await
    .expect(201);
    app.post("/api/v1/activities", &owner, json!({"kind": "call", "subject": "Held", "status": "done"}))
        .await
        .expect(201);
    let overdue = app.get("/api/v1/activities?status=overdue", &owner).await.expect(200).clone();
    assert_eq!(subjects(&overdue["data"]), ["Late"]);
    let planned = app.get("/api/v1/activities?status=planned", &owner).await.expect(200).clone();
    assert_eq!(subjects(&planned["data"]), ["Later", "Late"], "overdue ones are still planned");
    let done = app.get("/api/v1/activities?status=done", &owner).await.expect(200).clone();
    assert_eq!(subjects(&done["data"]), ["Held"]);
    let unchanged = app.patch(&path(&late), &owner, json!({"subject": "Late"})).await.expect(200).clone();
    assert_eq!(unchanged["version"], 1, "overdue is derived, not a change");
}

#[actix_web::test]
async fn completing_plans_the_follow_up_in_the_same_step() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (client, contact) = client_with_contact(&app, &owner).await;
    let call = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": "Call Ann", "contact_id": contact["id"], "due_at": Utc::now()}),
        )
        .await
        .expect(201)
        .clone();
    let friday = Utc::now() + Duration::days(3);

    // A follow-up refused at the door leaves the call planned.
    let broken = app
        .post(
            &format!("{}/complete", path(&call)),
            &owner,
            json!({"outcome": "Interested", "next": {"kind": "call", "due_at": friday, "subject": ""}}),
        )
        .await;
    broken.expect_problem(422, "validation_failed");
    assert_eq!(app.get(&path(&call), &owner).await.expect(200)["completed_at"], Value::Null);
    // A follow-up that fails inside the transaction, after the call was already marked done there
    // (the custom field is only looked up in the database), leaves no trace: the call stays
    // planned at its version, no activity is added, and the card knows no last contact.
    let before = app.get(&path(&call), &owner).await.expect(200).clone();
    let count = |page: &Value| page["data"].as_array().map_or(0, Vec::len);
    let activities_before = count(app.get("/api/v1/activities", &owner).await.expect(200));
    let client_path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    let timeline_before = app.get(&format!("{client_path}/timeline"), &owner).await.expect(200).clone();
    let broken = app
        .post(
            &format!("{}/complete", path(&call)),
            &owner,
            json!({"outcome": "Interested", "next": {"kind": "call", "due_at": friday, "subject": "Call again", "custom": {"no_such_field": 1}}}),
        )
        .await;
    let problem = broken.expect_problem(422, "validation_failed").clone();
    assert_eq!(problem["errors"][0]["field"], "next.custom.no_such_field", "{problem}");
    app.assert_unchanged(&path(&call), &owner, &before).await;
    assert_eq!(count(app.get("/api/v1/activities", &owner).await.expect(200)), activities_before);
    let card = app.get(&client_path, &owner).await.expect(200).clone();
    assert_eq!(card["summary"]["last_contact"], Value::Null, "{card}");
    app.assert_unchanged(&format!("{client_path}/timeline"), &owner, &timeline_before).await;

    let done = app
        .post(&format!("{}/complete", path(&call)), &owner, json!({"outcome": "Interested, call on Friday", "next": {"kind": "call", "due_at": friday, "subject": "Call Ann again"}}))
        .await;
    let done = done.expect(200).clone();
    assert_eq!(done["activity"]["status"], "done");
    assert_eq!(done["activity"]["outcome"], "Interested, call on Friday");
    assert_eq!(done["next"]["status"], "planned");
    assert_eq!(done["next"]["contact_id"], contact["id"]);
    assert_eq!(done["next"]["client_id"], client["id"]);
    assert_eq!(done["next"]["reason"], "follow_up");
    app.post(&format!("{}/complete", path(&call)), &owner, json!({}))
        .await
        .expect_problem(409, "not_planned");

    // The client card now knows the last contact and the next call.
    let card = app
        .get(&format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default()), &owner)
        .await
        .expect(200)
        .clone();
    assert_eq!(card["summary"]["last_contact"]["outcome"], "Interested, call on Friday");
    assert_eq!(card["summary"]["last_contact"]["kind"], "call");
    assert_eq!(card["summary"]["next_activity"]["activity_id"], done["next"]["id"]);
}

#[actix_web::test]
async fn the_summary_follows_won_deals() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (client, _) = client_with_contact(&app, &owner).await;
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let won_stage = pipelines["data"][0]["stages"][4]["id"].clone();
    app.post("/api/v1/deals", &owner, json!({"title": "Open", "client_id": client["id"], "amount": "100"}))
        .await
        .expect(201);
    let won = app
        .post(
            "/api/v1/deals",
            &owner,
            json!({"title": "Won", "client_id": client["id"], "amount": "250.50", "stage_id": won_stage}),
        )
        .await
        .expect(201)
        .clone();
    let card = app
        .get(&format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default()), &owner)
        .await
        .expect(200)
        .clone();
    let summary = &card["summary"];
    assert_eq!((summary["open_deals"].clone(), summary["open_amount"].clone()), (json!(1), json!("100.00")));
    assert_eq!((summary["won_deals"].clone(), summary["won_amount"].clone()), (json!(1), json!("250.50")));
    assert_eq!(timestamp(&summary["last_purchase_at"]), timestamp(&won["closed_at"]));
    let workspace = app.get("/api/v1/workspace", &owner).await.expect(200).clone();
    assert_eq!(
        summary["currency"], workspace["default_currency"],
        "the card says which currency its amounts are in"
    );
}

#[actix_web::test]
async fn a_long_overdue_backlog_does_not_push_todays_activities_off_the_agenda() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let due_in_an_hour = Utc::now() + Duration::hours(1);
    let tomorrow = Utc::now() + Duration::days(1);
    for (subject, due) in [("Forgotten", Utc::now() - Duration::days(2)), ("Call back", due_in_an_hour)] {
        app.post("/api/v1/activities", &owner, json!({"kind": "call", "subject": subject, "due_at": due}))
            .await
            .expect(201);
    }
    // 1,200 older forgotten tasks.
    app.sql(
        "INSERT INTO activities
         SELECT (jsonb_populate_record(a, jsonb_build_object('id', gen_random_uuid(), 'subject', 'Older',
                 'due_at', a.due_at - make_interval(mins => g)))).*
         FROM activities AS a, generate_series(1, 1200) AS g WHERE a.subject = 'Forgotten'",
    )
    .await;
    let date = tomorrow.date_naive() - Duration::days(1);
    let agenda = app.get(&format!("/api/v1/me/agenda?date={date}&days=2"), &owner).await.expect(200).clone();
    assert_eq!(agenda["overdue_count"], 1201);
    assert_eq!(agenda["truncated"], false);
    let items = subjects(&agenda["items"]);
    assert_eq!(items.len(), 101, "the 100 most recent overdue, then what is due");
    assert_eq!(items[98], "Older");
    assert_eq!(items[99], "Forgotten", "oldest first: the most recent overdue comes last");
    assert_eq!(items[100], "Call back");

    // A window of more than 1,000 activities says it was cut.
    app.sql(
        "INSERT INTO activities
         SELECT (jsonb_populate_record(a, jsonb_build_object('id', gen_random_uuid(),
                 'due_at', a.due_at + make_interval(secs => g)))).*
         FROM activities AS a, generate_series(1, 1000) AS g WHERE a.subject = 'Call back'",
    )
    .await;
    let agenda = app.get(&format!("/api/v1/me/agenda?date={date}&days=2"), &owner).await.expect(200).clone();
    assert_eq!(agenda["truncated"], true);
    assert_eq!(agenda["items"].as_array().map(Vec::len), Some(1100));
}

#[actix_web::test]
async fn the_agenda_lists_overdue_first_then_the_day_in_the_workspace_time_zone() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.patch("/api/v1/workspace", &owner, json!({"timezone": "Asia/Tokyo"})).await.expect(200);
    let (client, _) = client_with_contact(&app, &owner).await;
    let tokyo = chrono_tz::Asia::Tokyo;
    let tomorrow = Utc::now().with_timezone(&tokyo).date_naive() + Duration::days(1);
    let at = |hour: u32, minute: u32| {
        tomorrow
            .and_hms_opt(hour, minute, 0)
            .and_then(|local| local.and_local_timezone(tokyo).single())
            .map(|local| local.with_timezone(&Utc))
    };
    // 00:30 in Tokyo tomorrow is still today in UTC: it belongs to tomorrow's agenda here.
    for (subject, due) in
        [("Evening call", at(18, 0)), ("Early call", at(0, 30)), ("Noon meeting", at(12, 0))]
    {
        app.post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": subject, "due_at": due, "client_id": client["id"]}),
        )
        .await
        .expect(201);
    }
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "task", "subject": "Forgotten", "due_at": Utc::now() - Duration::days(2)}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "task", "subject": "Next week", "due_at": Utc::now() + Duration::days(8)}),
    )
    .await
    .expect(201);
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "note", "subject": "Done already", "status": "done"}),
    )
    .await
    .expect(201);

    let agenda = app.get(&format!("/api/v1/me/agenda?date={tomorrow}"), &owner).await.expect(200).clone();
    assert_eq!(subjects(&agenda["items"]), ["Forgotten", "Early call", "Noon meeting", "Evening call"]);
    assert_eq!(agenda["overdue_count"], 1);
    assert_eq!(agenda["truncated"], false);
    assert_eq!(agenda["timezone"], "Asia/Tokyo");
    assert_eq!(agenda["items"][0]["status"], "overdue");
    assert_eq!(agenda["items"][1]["client_name"], "Acme");
    assert_eq!(agenda["items"][1]["client_phone"], "+16502530000");

    let today = app
        .get(&format!("/api/v1/me/agenda?date={}", tomorrow - Duration::days(1)), &owner)
        .await
        .expect(200)
        .clone();
    assert_eq!(subjects(&today["items"]), ["Forgotten"]);

    let (_, sales) = app.user_with_role("sales").await;
    let session = app.owner_session().await;
    let owner_id = session["user_id"].as_str().unwrap_or_default();
    app.get(&format!("/api/v1/me/agenda?user_id={owner_id}"), &sales).await.expect_problem(403, "forbidden");
    assert_eq!(
        subjects(&app.get("/api/v1/me/agenda", &sales).await.expect(200)["items"]),
        Vec::<String>::new()
    );
    app.get("/api/v1/me/agenda?days=40", &owner).await.expect_problem(400, "invalid_query");
}

#[actix_web::test]
async fn activities_of_another_workspace_are_out_of_reach() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (client, _) = client_with_contact(&app, &owner).await;
    let call = app
        .post(
            "/api/v1/activities",
            &owner,
            json!({"kind": "call", "subject": "Private", "client_id": client["id"]}),
        )
        .await
        .expect(201)
        .clone();
    let rival = app.rival_token().await;
    let before = app.get(&path(&call), &owner).await.expect(200).clone();
    app.get(&path(&call), &rival).await.expect_problem(404, "not_found");
    app.patch(&path(&call), &rival, json!({"subject": "Mine"})).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path(&call), Some(&rival), None).await.expect_problem(404, "not_found");
    app.post(&format!("{}/complete", path(&call)), &rival, json!({})).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path(&call), &owner, &before).await;
    let linked = app
        .post(
            "/api/v1/activities",
            &rival,
            json!({"kind": "call", "subject": "X", "client_id": client["id"]}),
        )
        .await;
    assert_eq!(linked.expect_problem(422, "validation_failed")["errors"][0]["field"], "client_id");
    assert_eq!(
        app.get("/api/v1/activities", &rival).await.expect(200)["data"].as_array().map(Vec::len),
        Some(0)
    );

    // Seeing every client, so that only the role is in the way of writing.
    let (_, viewer) = app.user_seeing("viewer", "all").await;
    app.get(&path(&call), &viewer).await.expect(200);
    app.post("/api/v1/activities", &viewer, json!({"kind": "call", "subject": "X"}))
        .await
        .expect_problem(403, "forbidden");
    app.patch(&path(&call), &viewer, json!({"subject": "Mine"})).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, &path(&call), Some(&viewer), None).await.expect_problem(403, "forbidden");
    app.post(&format!("{}/complete", path(&call)), &viewer, json!({})).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&path(&call), &owner, &before).await;

    // Deleted, it leaves a tombstone for a sync to apply, and only we bring it back.
    app.request(Method::DELETE, &path(&call), Some(&owner), None).await.expect(204);
    app.get(&path(&call), &owner).await.expect_problem(404, "not_found");
    let tombstones = app.get("/api/v1/activities/deleted", &owner).await.expect(200).clone();
    assert_eq!((&tombstones["data"][0]["id"], &tombstones["data"][0]["version"]), (&call["id"], &json!(2)));
    assert_eq!(tombstones["data"].as_array().map(Vec::len), Some(1));
    let elsewhere = app.get("/api/v1/activities/deleted", &rival).await.expect(200).clone();
    assert_eq!(elsewhere["data"], json!([]));
    let restore = format!("{}/restore", path(&call));
    app.request(Method::POST, &restore, Some(&rival), None).await.expect_problem(404, "not_found");
    app.request(Method::POST, &restore, Some(&viewer), None).await.expect_problem(403, "forbidden");
    app.get(&path(&call), &owner).await.expect_problem(404, "not_found");
    app.request(Method::POST, &restore, Some(&owner), None).await.expect(200);
}

#[actix_web::test]
async fn overdue_is_a_moment_not_a_day_far_from_utc() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    // UTC+14: most of the time its calendar day is not UTC's.
    app.patch("/api/v1/workspace", &owner, json!({"timezone": "Pacific/Kiritimati"})).await.expect(200);
    let kiritimati = chrono_tz::Pacific::Kiritimati;
    let now = Utc::now();
    let coming_up = now + Duration::hours(1);
    for (subject, due) in [("Just missed", now - Duration::minutes(1)), ("Coming up", coming_up)] {
        app.post("/api/v1/activities", &owner, json!({"kind": "call", "subject": subject, "due_at": due}))
            .await
            .expect(201);
    }
    let overdue = app.get("/api/v1/activities?status=overdue", &owner).await.expect(200).clone();
    assert_eq!(subjects(&overdue["data"]), ["Just missed"]);

    // The local day of the upcoming call (whatever day it is in UTC, or here at the moment).
    let day = coming_up.with_timezone(&kiritimati).date_naive();
    let agenda = app.get(&format!("/api/v1/me/agenda?date={day}"), &owner).await.expect(200).clone();
    let midnight = day.and_hms_opt(0, 0, 0).and_then(|local| local.and_local_timezone(kiritimati).single());
    assert_eq!(Some(timestamp(&agenda["from"])), midnight.map(|local| local.with_timezone(&Utc)));
    assert_eq!(timestamp(&agenda["to"]) - timestamp(&agenda["from"]), Duration::hours(24));
    assert_eq!(subjects(&agenda["items"]), ["Just missed", "Coming up"], "listed once each: {agenda}");
    assert_eq!(agenda["items"][0]["status"], "overdue");
    assert_eq!(agenda["items"][1]["status"], "planned");
    assert_eq!(agenda["overdue_count"], 1);
    // Overdue shows on any day's agenda; the call only on its own.
    let next_day = app.get(&format!("/api/v1/me/agenda?date={}", day + Duration::days(1)), &owner).await;
    assert_eq!(subjects(&next_day.expect(200)["items"]), ["Just missed"]);
}

#[actix_web::test]
async fn two_workers_racing_fire_each_due_reminder_exactly_once() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for index in 0..30 {
        let body = json!({"kind": "call", "subject": format!("Call {index}"), "due_at": Utc::now() + Duration::hours(1), "reminder_at": Utc::now() - Duration::minutes(1)});
        app.post("/api/v1/activities", &owner, body).await.expect(201);
    }
    let later = json!({"kind": "call", "subject": "Not yet", "reminder_at": Utc::now() + Duration::hours(1)});
    app.post("/api/v1/activities", &owner, later).await.expect(201);

    // The first worker claims ten and holds its transaction open while the second claims: the
    // second must neither wait for the first nor take what the first holds.
    let fire = |batch: i64| {
        move |conn: &mut diesel::PgConnection| {
            crm::db::models::Activity::fire_due_reminders(conn, batch).expect("fire")
        }
    };
    let claimed_from = Utc::now();
    // After both committed, nothing is left to fire.
    let (first, second, third) = app.overlapping_claims(fire(10), fire(100)).await;
    let claimed_to = Utc::now();
    assert_eq!((first.len(), second.len(), third.len()), (10, 20, 0));
    let mut ids: Vec<String> = first.iter().chain(&second).map(|(_, id)| id.to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "each reminder fired once");

    let reminders = app.get("/api/v1/me/reminders", &owner).await.expect(200).clone();
    let pending = reminders["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(pending.len(), 30);
    for activity in &pending {
        assert_taken_between(&activity["reminder_fired_at"], claimed_from, claimed_to);
    }
    let first = format!("/api/v1/me/reminders/{}/ack", pending[0]["id"].as_str().unwrap_or_default());
    app.request(Method::POST, &first, Some(&owner), None).await.expect(200);
    assert_eq!(
        app.get("/api/v1/me/reminders", &owner).await.expect(200)["data"].as_array().map(Vec::len),
        Some(29)
    );
    let (_, sales) = app.user_with_role("sales").await;
    app.request(Method::POST, &first, Some(&sales), None).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn the_timeline_merges_activities_deal_events_and_record_changes() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let (client, contact) = client_with_contact(&app, &owner).await;
    let client_path = format!("/api/v1/clients/{}", client["id"].as_str().unwrap_or_default());
    app.patch(&client_path, &owner, json!({"notes": "Prefers email"})).await.expect(200);
    let contact_path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap_or_default());
    app.patch(&contact_path, &owner, json!({"position": "Head of purchasing"})).await.expect(200);
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let won_stage = pipelines["data"][0]["stages"][4]["id"].clone();
    let deal = app
        .post("/api/v1/deals", &owner, json!({"title": "Order", "client_id": client["id"], "amount": "100"}))
        .await
        .expect(201)
        .clone();
    let deal_path = format!("/api/v1/deals/{}", deal["id"].as_str().unwrap_or_default());
    app.patch(&deal_path, &owner, json!({"amount": "150"})).await.expect(200);
    app.patch(&deal_path, &owner, json!({"stage_id": won_stage})).await.expect(200);
    app.post(
        "/api/v1/activities",
        &owner,
        json!({"kind": "call", "subject": "Thanks call", "client_id": client["id"], "status": "done"}),
    )
    .await
    .expect(201);

    let full = app.get(&format!("{client_path}/timeline"), &owner).await.expect(200).clone();
    let types: Vec<&str> =
        full["data"].as_array().into_iter().flatten().filter_map(|item| item["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "activity",
            "client_updated",
            "deal_won",
            "deal_amount_changed",
            "deal_created",
            "contact_updated",
            "client_updated",
            "contact_created",
            "client_created"
        ]
    );
    assert_eq!(full["data"][0]["payload"]["subject"], "Thanks call");
    // Winning the deal made the client a customer, by itself (no user): see tests/api/lifecycle.rs.
    assert_eq!(
        full["data"][1]["payload"]["changes"]["lifecycle_stage"],
        json!({"from": "lead", "to": "customer"})
    );
    assert_eq!(full["data"][1]["actor"], Value::Null);
    assert_eq!(full["data"][6]["payload"]["changes"]["notes"]["to"], "Prefers email");
    // A contact person's changes are the client's history too, naming the contact.
    let contact_change = &full["data"][5]["payload"];
    assert_eq!(contact_change["contact_id"], contact["id"]);
    assert_eq!(contact_change["changes"]["position"]["to"], "Head of purchasing");
    assert_eq!(full["data"][7]["payload"]["contact_id"], contact["id"]);
    // Events carry {deal_id, action, changes}, as the document's TimelineChange says: the deal's
    // id for its events, null for the client's own.
    assert_eq!(full["data"][2]["payload"]["deal_id"], deal["id"]);
    assert_eq!(full["data"][4]["payload"]["action"], "created");
    let own = &full["data"][6]["payload"];
    assert!(own["deal_id"].is_null() && own.get("deal_id").is_some(), "{own}");
    assert!(own["contact_id"].is_null() && own.get("contact_id").is_some(), "{own}");
    assert_eq!(own["action"], "updated");
    let session = app.owner_session().await;
    assert_eq!(full["data"][2]["actor"], session["user_id"]);

    // Paging two at a time gives the same feed, without gaps or repeats.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(cursor) => format!("{client_path}/timeline?limit=2&cursor={cursor}"),
            None => format!("{client_path}/timeline?limit=2"),
        };
        let page = app.get(&page_path, &owner).await.expect(200).clone();
        paged.extend(page["data"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(json!(paged), full["data"]);

    let only_deals = app.get(&format!("{client_path}/timeline?types=deal"), &owner).await.expect(200).clone();
    assert_eq!(only_deals["data"].as_array().map(Vec::len), Some(3));
    let contacts =
        app.get(&format!("{client_path}/timeline?types=contact"), &owner).await.expect(200).clone();
    assert_eq!(contacts["data"].as_array().map(Vec::len), Some(2));
    for types in ["emails", "", "deal,%20client", "deal,"] {
        app.get(&format!("{client_path}/timeline?types={types}"), &owner)
            .await
            .expect_problem(400, "invalid_query");
    }
}

#[actix_web::test]
async fn a_sync_pages_through_activities_oldest_change_first() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let mut made = Vec::new();
    for subject in ["First", "Second", "Third"] {
        let call = json!({"kind": "call", "subject": subject});
        made.push(app.post("/api/v1/activities", &owner, call).await.expect(201)["id"].clone());
    }
    // The first one changes last: an oldest-first sync meets it at the end.
    let first = format!("/api/v1/activities/{}", made[0].as_str().unwrap_or_default());
    app.patch(&first, &owner, json!({"subject": "First, changed"})).await.expect(200);
    let mut seen = Vec::new();
    let mut path = "/api/v1/activities?sort=updated_at&limit=2".to_string();
    loop {
        let page = app.get(&path, &owner).await.expect(200).clone();
        seen.extend(page["data"].as_array().into_iter().flatten().map(|activity| activity["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/activities?sort=updated_at&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, [made[1].clone(), made[2].clone(), made[0].clone()]);
    let newest = app.get("/api/v1/activities", &owner).await.expect(200).clone();
    assert_eq!(newest["data"][0]["id"], made[0]);
    app.get("/api/v1/activities?sort=subject", &owner).await.expect_problem(400, "invalid_query");
}
