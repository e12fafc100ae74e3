//! `POST /segments/{id}/call-list`: a planned call for each member who may and can be called, on
//! their owner's agenda or spread over the people named, never more a day than asked.

use chrono::{Days, NaiveDate, Utc};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;

fn id(record: &Value) -> &str {
    record["id"].as_str().unwrap_or_default()
}

/// The workspace's clients and people for a call list, in Moscow's time zone.
struct Calling {
    app: TestApp,
    owner: String,
    rep_a: (Value, String),
    rep_b: (Value, String),
    segment: String,
    /// A week from today in Moscow: far enough that the test never straddles its start.
    first_day: NaiveDate,
}

impl Calling {
    async fn set_up() -> Self {
        let app = TestApp::spawn().await;
        let owner = app.owner_token().await;
        app.patch("/api/v1/workspace", &owner, json!({"timezone": "Europe/Moscow"})).await.expect(200);
        let rep_a = app.user_with_role("sales").await;
        let rep_b = app.user_with_role("sales").await;
        let (gone, _) = app.user_with_role("sales").await;
        let segment = json!({"name": "Wave one", "kind": "dynamic", "filter": {"field": "tags", "op": "contains", "value": "wave1"}});
        let segment = app.post("/api/v1/segments", &owner, segment).await.expect(201).clone();
        let today = Utc::now().with_timezone(&chrono_tz::Europe::Moscow).date_naive();
        let first_day = today + Days::new(7);
        let calling = Self {
            segment: format!("/api/v1/segments/{}/call-list", id(&segment)),
            app,
            owner,
            rep_a,
            rep_b,
            first_day,
        };
        let (a, b) = (calling.rep_a.0["id"].clone(), calling.rep_b.0["id"].clone());
        let (phone, none) = (true, false);
        // Name, owner, phones, consent to calls, won revenue.
        calling.client("Alpha", &a, phone, Some("granted"), 500).await;
        calling.client("Bravo", &b, phone, Some("granted"), 0).await;
        let charlie = calling.client("Charlie", &a, none, Some("granted"), 100).await;
        calling.client("Delta", &a, phone, Some("withdrawn"), 0).await;
        calling.client("Echo", &a, phone, None, 0).await;
        calling.client("Foxtrot", &a, none, Some("granted"), 0).await;
        let golf = calling.client("Golf", &a, phone, Some("granted"), 0).await;
        calling.client("Hotel", &gone["id"], phone, Some("granted"), 0).await;
        // Charlie is called through its contact person's phone.
        let anna =
            json!({"client_id": charlie["id"], "first_name": "Anna", "phones": [{"value": "+79161234567"}]});
        calling.app.post("/api/v1/contacts", &calling.owner, anna).await.expect(201);
        // Golf has a call planned already, on the list's first day: rep A's day holds one.
        let due = format!("{}T12:00:00+03:00", calling.first_day);
        let call = json!({"kind": "call", "subject": "Planned before", "client_id": golf["id"], "assignee_id": a,
                          "due_at": due, "status": "planned"});
        calling.app.post("/api/v1/activities", &calling.owner, call).await.expect(201);
        // Hotel's owner left.
        let gone_path = format!("/api/v1/users/{}", id(&gone));
        calling.app.patch(&gone_path, &calling.owner, json!({"active": false})).await.expect(200);
        calling
    }

    async fn client(
        &self,
        name: &str,
        owner: &Value,
        has_phone: bool,
        calls: Option<&str>,
        won: i64,
    ) -> Value {
        // A phone of its own: clients sharing one are duplicates.
        let own_phone = format!("+7912000{:04}", name.bytes().map(u32::from).sum::<u32>());
        let phones = if has_phone { json!([{"value": own_phone}]) } else { json!([]) };
        let body =
            json!({"kind": "company", "name": name, "owner_id": owner, "phones": phones, "tags": ["wave1"]});
        let client = self.app.post("/api/v1/clients", &self.owner, body).await.expect(201).clone();
        if let Some(state) = calls {
            let consent = json!({"purpose": "calls", "state": state, "channel": "phone"});
            let path = format!("/api/v1/clients/{}/consents", id(&client));
            self.app.post(&path, &self.owner, consent).await.expect(201);
        }
        // Won revenue is the stats' to keep; set here, it orders who is called first.
        self.app
            .sql(&format!("UPDATE clients SET stats_won_amount = {won} WHERE id = '{}'", id(&client)))
            .await;
        client
    }

    /// The planned calls on `token`'s agenda from the first day, as (client, day, reason, subject).
    async fn agenda(&self, token: &str) -> Vec<(String, String, String, String)> {
        let path = format!("/api/v1/me/agenda?date={}&days=7", self.first_day);
        let agenda = self.app.get(&path, token).await.expect(200).clone();
        agenda["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| item["subject"] != "Planned before")
            .map(|item| {
                let due = crate::support::http::timestamp(&item["due_at"]);
                let day = due.with_timezone(&chrono_tz::Europe::Moscow).date_naive().to_string();
                let text = |field: &str| item[field].as_str().unwrap_or_default().to_string();
                (text("client_name"), day, text("reason"), text("subject"))
            })
            .collect()
    }
}

#[actix_web::test]
async fn a_call_list_calls_those_who_consented_and_can_be_reached_on_their_owners_agendas() {
    let s = Calling::set_up().await;
    let app = &s.app;
    let day = |offset: u64| (s.first_day + Days::new(offset)).to_string();
    let body = json!({"assignees": "owner", "due_from": s.first_day, "per_day": 2, "subject": "Spring offer",
                      "reason": "order_waiting", "weekdays_only": false});
    let planned = app.post(&s.segment, &s.owner, body.clone()).await;
    let planned = planned.expect(201).clone();
    assert_eq!(planned["created"], 3);
    assert_eq!(
        planned["skipped"],
        json!({"no_consent": 2, "no_phone": 1, "already_planned": 1, "no_assignee": 1}),
        "Delta withdrew and Echo never consented, Foxtrot has no phone, Golf has a call, Hotel's owner left"
    );
    let shares = planned["assignees"].as_array().cloned().unwrap_or_default();
    let share_of = |user: &Value| shares.iter().find(|share| share["user_id"] == user["id"]).cloned();
    assert_eq!(
        share_of(&s.rep_a.0).map(|share| (
            share["calls"].clone(),
            share["first_due"].clone(),
            share["last_due"].clone()
        )),
        Some((json!(2), json!(day(0)), json!(day(1))))
    );
    assert_eq!(share_of(&s.rep_b.0).map(|share| share["calls"].clone()), Some(json!(1)));

    // Rep A's first day held one call already: Alpha, worth more, comes first, Charlie the next day.
    let call = |name: &str, day: String| {
        (name.to_string(), day, "order_waiting".to_string(), "Spring offer".to_string())
    };
    assert_eq!(s.agenda(&s.rep_a.1).await, [call("Alpha", day(0)), call("Charlie", day(1))]);
    assert_eq!(s.agenda(&s.rep_b.1).await, [call("Bravo", day(0))]);
    // Each call is an activity created like any other, due at the end of its day in Moscow.
    let calls =
        app.get("/api/v1/activities?kind=call&status=planned&limit=50", &s.owner).await.expect(200).clone();
    let alpha = calls["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|call| {
            call["subject"] == "Spring offer"
                && call["assignee_id"] == s.rep_a.0["id"]
                && call["direction"] == "outbound"
        })
        .cloned()
        .unwrap_or_default();
    let history =
        app.get(&format!("/api/v1/activities/{}/history", id(&alpha)), &s.owner).await.expect(200).clone();
    assert_eq!(history["data"][0]["action"], "created");

    // Again: nothing is planned twice.
    let again = app.post(&s.segment, &s.owner, body).await;
    let again = again.expect(200).clone();
    assert_eq!(again["created"], 0);
    assert_eq!(again["skipped"]["already_planned"], 4);
    assert_eq!(
        app.sql_i64("SELECT count(*) AS value FROM activities WHERE subject = 'Spring offer'").await,
        3
    );
}

#[actix_web::test]
async fn calls_spread_over_the_people_named_in_turn_the_most_valuable_clients_first() {
    let s = Calling::set_up().await;
    let app = &s.app;
    let (a, b) = (s.rep_a.0["id"].clone(), s.rep_b.0["id"].clone());
    let body =
        json!({"assignees": [b, a], "due_from": s.first_day, "subject": "Check-in", "weekdays_only": false});
    let planned = app.post(&s.segment, &s.owner, body).await.expect(201).clone();
    // Hotel has an owner no more, but the calls go to the people named.
    assert_eq!((&planned["created"], &planned["skipped"]["no_assignee"]), (&json!(4), &json!(0)));
    // Alpha (500), Charlie (100), then Bravo and Hotel by id: B, A, B, A.
    let names = |agenda: Vec<(String, String, String, String)>| {
        let mut names: Vec<String> =
            agenda.into_iter().map(|(name, _, reason, _)| format!("{name}:{reason}")).collect();
        names.sort();
        names
    };
    assert_eq!(names(s.agenda(&s.rep_b.1).await), ["Alpha:follow_up", "Bravo:follow_up"]);
    assert_eq!(names(s.agenda(&s.rep_a.1).await), ["Charlie:follow_up", "Hotel:follow_up"]);
}

#[actix_web::test]
async fn a_rep_plans_calls_for_themselves_among_the_clients_they_see_and_bad_lists_are_refused() {
    let s = Calling::set_up().await;
    let app = &s.app;
    let (rep, token) = (&s.rep_a.0, &s.rep_a.1);
    let list = |assignees: Value| json!({"assignees": assignees, "due_from": s.first_day, "subject": "Mine", "weekdays_only": false});
    app.post(&s.segment, token, list(json!("owner"))).await.expect_problem(403, "forbidden");
    app.post(&s.segment, token, list(json!([s.rep_b.0["id"]]))).await.expect_problem(403, "forbidden");
    let (_, viewer) = app.user_with_role("viewer").await;
    app.post(&s.segment, &viewer, list(json!("owner"))).await.expect_problem(403, "forbidden");
    // Rep A sees their own clients only: Alpha and Charlie, not Bravo (rep B's) nor Hotel.
    let planned = app.post(&s.segment, token, list(json!([rep["id"]]))).await.expect(201).clone();
    assert_eq!(planned["created"], 2);
    assert_eq!(
        planned["skipped"],
        json!({"no_consent": 2, "no_phone": 1, "already_planned": 1, "no_assignee": 0})
    );

    let yesterday = s.first_day - Days::new(8);
    let refusals = [
        (json!({"assignees": "owner", "due_from": yesterday, "subject": "Late"}), "due_from", "range"),
        (
            json!({"assignees": ["0193a1b2-0000-7000-8000-000000000000"], "subject": "Who"}),
            "assignees[0]",
            "not_found",
        ),
        (json!({"assignees": "owner", "subject": " \t"}), "subject", "blank"),
    ];
    let before = app.sql_i64("SELECT count(*) AS value FROM activities").await;
    for (body, field, code) in refusals {
        let refused = app.post(&s.segment, &s.owner, body).await;
        assert_eq!(
            field_errors(refused.expect_problem(422, "validation_failed")),
            [(field.to_string(), code.to_string())]
        );
    }
    let after = app.sql_i64("SELECT count(*) AS value FROM activities").await;
    assert_eq!(after, before, "a refused list plans nothing");
    let bad_word = json!({"assignees": "owners", "subject": "Typo"});
    app.post(&s.segment, &s.owner, bad_word).await.expect(422);
}
