use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::{assert_taken_between, timestamp};

fn path(deal: &Value) -> String {
    format!("/api/v1/deals/{}", deal["id"].as_str().unwrap_or_default())
}

/// The board's column of the stage named `name` (null when there is none).
fn board_column(board: &Value, name: &str) -> Value {
    board["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|column| column["stage"]["name"] == name)
        .cloned()
        .unwrap_or_default()
}

fn field_of(problem: &Value) -> &str {
    problem["errors"][0]["field"].as_str().unwrap_or_default()
}

struct Setup {
    owner: String,
    client: Value,
    pipeline: Value,
}

impl Setup {
    fn stage(&self, name: &str) -> Value {
        self.pipeline["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|stage| stage["name"] == name)
            .cloned()
            .unwrap_or_default()
    }
}

async fn setup(app: &TestApp) -> Setup {
    let owner = app.owner_token().await;
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    Setup { owner, client, pipeline: pipelines["data"][0].clone() }
}

#[actix_web::test]
async fn money_is_exact_from_the_wire_to_the_database_and_back() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let created = app
        .post(
            "/api/v1/deals",
            &s.owner,
            json!({"title": "Small change", "client_id": s.client["id"], "currency": "EUR", "items": [
                {"name": "A", "quantity": "1", "unit_price": "0.10"},
                {"name": "B", "quantity": "1", "unit_price": "0.20"}
            ]}),
        )
        .await;
    let deal = created.expect(201).clone();
    assert_eq!(deal["amount"], "0.30");
    assert_eq!(deal["items"][0]["total"], "0.10");
    assert_eq!(deal["status"], "open");
    assert_eq!(deal["stage_id"], s.stage("New")["id"], "the first open stage by default");
    assert_eq!(deal["probability"], 10);

    let big = app
        .post("/api/v1/deals", &s.owner, json!({"title": "Big", "client_id": s.client["id"], "amount": "999999999999999.99", "currency": "USD"}))
        .await;
    let big = big.expect(201).clone();
    assert_eq!(big["amount"], "999999999999999.99", "the largest amount, to the cent");
    assert_eq!(app.get(&path(&big), &s.owner).await.expect(200)["amount"], "999999999999999.99");

    // Half-even at the line, discount then tax.
    let lines = app
        .post(
            "/api/v1/deals",
            &s.owner,
            json!({"title": "Lines", "client_id": s.client["id"], "currency": "USD", "items": [
                {"name": "Half", "quantity": "3", "unit_price": "0.335"},
                {"name": "Taxed", "quantity": "2", "unit_price": "50", "discount_percent": "10", "tax_percent": "20"}
            ]}),
        )
        .await;
    let lines = lines.expect(201).clone();
    assert_eq!(
        (lines["items"][0]["total"].clone(), lines["items"][1]["total"].clone()),
        (json!("1.00"), json!("108.00"))
    );
    assert_eq!(lines["amount"], "109.00");

    for (body, field) in [
        (json!({"title": "X", "client_id": s.client["id"], "amount": 12.5}), "amount"),
        (json!({"title": "X", "client_id": s.client["id"], "amount": "12.345", "currency": "EUR"}), "amount"),
        (json!({"title": "X", "client_id": s.client["id"], "amount": "12", "currency": "XYZ"}), "currency"),
        (
            json!({"title": "X", "client_id": s.client["id"], "amount": "5", "items": [{"name": "A", "quantity": "1", "unit_price": "1"}]}),
            "amount",
        ),
        (
            json!({"title": "X", "client_id": s.client["id"], "items": [{"name": "A", "quantity": "0", "unit_price": "1"}]}),
            "items[0].quantity",
        ),
        (
            json!({"title": "X", "client_id": s.client["id"], "items": [{"quantity": "1", "unit_price": "1"}]}),
            "items[0].name",
        ),
    ] {
        let response = app.post("/api/v1/deals", &s.owner, body).await;
        assert_eq!(field_of(response.expect_problem(422, "validation_failed")), field);
    }
}

#[actix_web::test]
async fn items_take_the_products_name_group_and_price() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let tea = app
        .post("/api/v1/products", &s.owner, json!({"sku": "TEA", "name": "Green tea", "product_group": "Tea", "price": "4.90", "currency": "USD"}))
        .await
        .expect(201)
        .clone();
    let deal = app
        .post("/api/v1/deals", &s.owner, json!({"title": "Tea", "client_id": s.client["id"], "currency": "USD", "items": [{"product_id": tea["id"], "quantity": "3"}]}))
        .await
        .expect(201)
        .clone();
    assert_eq!(deal["items"][0]["name"], "Green tea");
    assert_eq!(deal["items"][0]["product_group"], "Tea");
    assert_eq!(deal["amount"], "14.70");
    let in_euros = app
        .post("/api/v1/deals", &s.owner, json!({"title": "Tea", "client_id": s.client["id"], "currency": "EUR", "items": [{"product_id": tea["id"], "quantity": "1"}]}))
        .await;
    assert_eq!(field_of(in_euros.expect_problem(422, "validation_failed")), "items[0].unit_price");
}

#[actix_web::test]
async fn won_and_lost_set_closed_at_and_reopening_clears_it() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let deal = app
        .post("/api/v1/deals", &s.owner, json!({"title": "D", "client_id": s.client["id"], "amount": "100"}))
        .await
        .expect(201)
        .clone();
    let p = path(&deal);
    let lost_without_reason = app.patch(&p, &s.owner, json!({"stage_id": s.stage("Lost")["id"]})).await;
    assert_eq!(field_of(lost_without_reason.expect_problem(422, "validation_failed")), "lost_reason");

    let sent = chrono::Utc::now();
    let lost = app
        .patch(&p, &s.owner, json!({"stage_id": s.stage("Lost")["id"], "lost_reason": "Too expensive"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(lost["status"], "lost");
    assert_taken_between(&lost["closed_at"], sent, chrono::Utc::now());
    assert_eq!(lost["probability"], 0);

    let reopened =
        app.patch(&p, &s.owner, json!({"stage_id": s.stage("Proposal")["id"]})).await.expect(200).clone();
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["closed_at"], Value::Null);
    assert_eq!(reopened["lost_reason"], Value::Null);
    assert_eq!(reopened["probability"], 50);

    let custom = app.patch(&p, &s.owner, json!({"probability": 65})).await.expect(200).clone();
    assert_eq!(
        (custom["probability"].clone(), custom["probability_is_custom"].clone()),
        (json!(65), json!(true))
    );
    let sent = chrono::Utc::now();
    let won = app.patch(&p, &s.owner, json!({"stage_id": s.stage("Won")["id"]})).await.expect(200).clone();
    assert_eq!(won["status"], "won");
    assert_taken_between(&won["closed_at"], sent, chrono::Utc::now());

    // The closing time of a closed deal can be set (history from elsewhere), never in the future,
    // and an open deal has none.
    let backdated =
        app.patch(&p, &s.owner, json!({"closed_at": "2025-03-01T10:00:00Z"})).await.expect(200).clone();
    assert_eq!(backdated["closed_at"], "2025-03-01T10:00:00Z");
    let renamed = app.patch(&p, &s.owner, json!({"title": "Renamed"})).await.expect(200).clone();
    assert_eq!(renamed["closed_at"], "2025-03-01T10:00:00Z", "kept while the deal stays won");
    let future = app.patch(&p, &s.owner, json!({"closed_at": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(field_of(future.expect_problem(422, "validation_failed")), "closed_at");
    let open = json!({"title": "O", "client_id": s.client["id"], "closed_at": "2025-03-01T10:00:00Z"});
    let open = app.post("/api/v1/deals", &s.owner, open).await;
    assert_eq!(field_of(open.expect_problem(422, "validation_failed")), "closed_at");
}

#[actix_web::test]
async fn references_must_belong_together_and_to_the_workspace() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let other_client = app
        .post("/api/v1/clients", &s.owner, json!({"kind": "company", "name": "Other"}))
        .await
        .expect(201)
        .clone();
    let their_contact = app
        .post("/api/v1/contacts", &s.owner, json!({"client_id": other_client["id"], "first_name": "Them"}))
        .await
        .expect(201)
        .clone();
    let second = app.post("/api/v1/pipelines", &s.owner, json!({"name": "Second"})).await.expect(201).clone();
    let foreign_stage = second["stages"][0]["id"].clone();

    let cases = [
        (json!({"title": "X", "client_id": s.client["id"], "contact_id": their_contact["id"]}), "contact_id"),
        (json!({"title": "X", "client_id": s.client["id"], "stage_id": foreign_stage}), "stage_id"),
        (json!({"title": "X", "client_id": uuid::Uuid::now_v7()}), "client_id"),
        (
            json!({"title": "X", "client_id": s.client["id"], "pipeline_id": uuid::Uuid::now_v7()}),
            "pipeline_id",
        ),
    ];
    for (body, field) in cases {
        let response = app.post("/api/v1/deals", &s.owner, body).await;
        assert_eq!(field_of(response.expect_problem(422, "validation_failed")), field);
    }
    // Moving to the second pipeline without a stage takes its first open stage.
    let deal = app
        .post("/api/v1/deals", &s.owner, json!({"title": "Mover", "client_id": s.client["id"]}))
        .await
        .expect(201)
        .clone();
    let moved =
        app.patch(&path(&deal), &s.owner, json!({"pipeline_id": second["id"]})).await.expect(200).clone();
    assert_eq!(moved["stage_id"], foreign_stage);

    let rival = app.rival_token().await;
    let theirs =
        app.post("/api/v1/deals", &rival, json!({"title": "Steal", "client_id": s.client["id"]})).await;
    assert_eq!(field_of(theirs.expect_problem(422, "validation_failed")), "client_id");
    let before = app.get(&path(&deal), &s.owner).await.expect(200).clone();
    app.get(&path(&deal), &rival).await.expect_problem(404, "not_found");
    app.patch(&path(&deal), &rival, json!({"title": "Mine"})).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path(&deal), Some(&rival), None).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path(&deal), &s.owner, &before).await;
    app.get(&format!("{}/history", path(&deal)), &rival).await.expect_problem(404, "not_found");
    app.get(&format!("{}/activities", path(&deal)), &rival).await.expect_problem(404, "not_found");
    // Deleted, it is neither in their tombstones nor theirs to restore.
    app.request(Method::DELETE, &path(&deal), Some(&s.owner), None).await.expect(204);
    assert_eq!(app.get("/api/v1/deals/deleted", &rival).await.expect(200)["data"], json!([]));
    app.request(Method::POST, &format!("{}/restore", path(&deal)), Some(&rival), None)
        .await
        .expect_problem(404, "not_found");
    app.get(&path(&deal), &s.owner).await.expect_problem(404, "not_found");
    let board = format!("/api/v1/pipelines/{}/board", s.pipeline["id"].as_str().unwrap_or_default());
    app.get(&board, &rival).await.expect_problem(404, "not_found");
    assert_eq!(app.get("/api/v1/deals", &rival).await.expect(200)["data"].as_array().map(Vec::len), Some(0));
}

#[actix_web::test]
async fn history_records_every_stage_with_its_duration() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let deal = app
        .post("/api/v1/deals", &s.owner, json!({"title": "D", "client_id": s.client["id"]}))
        .await
        .expect(201)
        .clone();
    app.patch(&path(&deal), &s.owner, json!({"stage_id": s.stage("Qualified")["id"]})).await.expect(200);
    app.patch(&path(&deal), &s.owner, json!({"notes_are_not_a_field": true})).await.expect(422);
    app.patch(&path(&deal), &s.owner, json!({"agreement": "Pilot in March"})).await.expect(200);
    app.patch(&path(&deal), &s.owner, json!({"stage_id": s.stage("Won")["id"]})).await.expect(200);
    // The moves happened a moment apart; give them known times: an hour in New, half an hour in
    // Qualified, in Won since 10:30.
    app.sql(
        "UPDATE deal_stage_changes AS c
         SET changed_at = timestamptz '2026-01-01 09:00:00+00' + moved.after
         FROM (SELECT id, (ARRAY[interval '0', interval '1 hour', interval '90 minutes'])
                          [row_number() OVER (ORDER BY changed_at, id)] AS after
               FROM deal_stage_changes) AS moved
         WHERE c.id = moved.id",
    )
    .await;
    let asked = chrono::Utc::now();
    let history = app.get(&format!("{}/history", path(&deal)), &s.owner).await.expect(200).clone();
    let answered = chrono::Utc::now();
    let names: Vec<&str> =
        history.as_array().into_iter().flatten().filter_map(|visit| visit["stage_name"].as_str()).collect();
    assert_eq!(names, ["New", "Qualified", "Won"]);
    assert_eq!(history[0]["from_stage_id"], Value::Null);
    assert_eq!(history[1]["from_stage_id"], s.stage("New")["id"]);
    assert_eq!(history[0]["left_at"], history[1]["entered_at"]);
    assert_eq!(history[2]["left_at"], Value::Null);
    assert_eq!(history[1]["entered_at"], "2026-01-01T10:00:00Z");
    assert_eq!(
        (history[0]["duration_seconds"].clone(), history[1]["duration_seconds"].clone()),
        (json!(3600), json!(1800))
    );
    // The current stage counts until now.
    let in_won = history[2]["duration_seconds"].as_i64().unwrap_or_default();
    let entered_won = timestamp(&history[2]["entered_at"]);
    assert!(
        (asked - entered_won).num_seconds() <= in_won && in_won <= (answered - entered_won).num_seconds(),
        "{in_won} s in Won"
    );
}

#[actix_web::test]
async fn the_board_sums_what_it_lists() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    // A rep who sees the owner's client, to sell on it too.
    let (sales, sales_token) = app.user_seeing("sales", "all").await;
    for (amount, currency, token) in [
        ("100.10", "USD", &s.owner),
        ("200.20", "USD", &s.owner),
        ("50", "EUR", &s.owner),
        ("7.77", "USD", &sales_token),
    ] {
        app.post(
            "/api/v1/deals",
            token,
            json!({"title": "D", "client_id": s.client["id"], "amount": amount, "currency": currency}),
        )
        .await
        .expect(201);
    }
    let board_path = format!(
        "/api/v1/pipelines/{}/board?limit_per_stage=10",
        s.pipeline["id"].as_str().unwrap_or_default()
    );
    let board = app.get(&board_path, &s.owner).await.expect(200).clone();
    let new = &board["columns"][0];
    assert_eq!(new["stage"]["name"], "New");
    assert_eq!(new["deal_count"], 4);
    assert_eq!(new["deals"].as_array().map(Vec::len), Some(4));
    // A card holds the deal without its line items.
    let card = &new["deals"][0];
    assert_eq!(card["title"], "D");
    assert_eq!(card["stage_id"], s.stage("New")["id"]);
    assert!(card["version"].is_number(), "{card}");
    assert!(card.get("items").is_none(), "{card}");
    // Latest update first.
    let updated: Vec<chrono::DateTime<chrono::FixedOffset>> = new["deals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|deal| chrono::DateTime::parse_from_rfc3339(deal["updated_at"].as_str()?).ok())
        .collect();
    assert_eq!(updated.len(), 4);
    assert!(updated.windows(2).all(|pair| pair[0] >= pair[1]), "{updated:?}");
    assert_eq!(new["deals"][0]["amount"], "7.77");
    assert_eq!(
        new["amounts"],
        json!([{"currency": "EUR", "amount": "50.00"}, {"currency": "USD", "amount": "308.07"}])
    );
    // New's probability is 10 %.
    assert_eq!(
        new["weighted_amounts"],
        json!([{"currency": "EUR", "amount": "5.00"}, {"currency": "USD", "amount": "30.81"}])
    );
    assert_eq!(new["next_cursor"], Value::Null);

    let mine = app
        .get(&format!("{board_path}&owner_id={}", sales["id"].as_str().unwrap_or_default()), &s.owner)
        .await
        .expect(200)
        .clone();
    assert_eq!(mine["columns"][0]["deal_count"], 1);
    assert_eq!(mine["columns"][0]["amounts"], json!([{"currency": "USD", "amount": "7.77"}]));

    let paged = app.get(&board_path.replace("=10", "=3"), &s.owner).await.expect(200).clone();
    let cursor = paged["columns"][0]["next_cursor"].as_str().unwrap_or_default().to_string();
    assert!(!cursor.is_empty());
    let more = app
        .get(
            &format!(
                "/api/v1/deals?pipeline_id={}&stage_id={}&sort=-updated_at&cursor={cursor}",
                s.pipeline["id"].as_str().unwrap_or_default(),
                s.stage("New")["id"].as_str().unwrap_or_default()
            ),
            &s.owner,
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(more["data"].as_array().map(Vec::len), Some(1));
}

/// Fails the test unless the running totals equal a fresh sum over the live deals: the board's, per
/// owner and for all owners, and the forecast's open deals per owner, team and expected month.
const TOTALS_MATCH_THE_DEALS: &str = "DO $$ BEGIN IF EXISTS (
    WITH expected AS (
        SELECT workspace_id, pipeline_id, stage_id,
               COALESCE(owner_key, 'ffffffff-ffff-ffff-ffff-ffffffffffff') AS owner_key, currency, closed_on,
               count(*) AS deals, sum(amount) AS amount, sum(amount * probability / 100) AS weighted_amount
        FROM (SELECT workspace_id, pipeline_id, stage_id, currency, amount, probability,
                     COALESCE(owner_id, '00000000-0000-0000-0000-000000000000') AS owner_key,
                     COALESCE((closed_at AT TIME ZONE 'UTC')::date, 'infinity') AS closed_on
              FROM deals WHERE deleted_at IS NULL) AS live
        GROUP BY GROUPING SETS ((workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on),
                                (workspace_id, pipeline_id, stage_id, currency, closed_on))
    )
    (SELECT workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on, deals, amount, weighted_amount
     FROM deal_stage_totals WHERE deals <> 0 OR amount <> 0 OR weighted_amount <> 0
     EXCEPT
     SELECT * FROM expected)
    UNION ALL
    (SELECT * FROM expected
     EXCEPT
     SELECT workspace_id, pipeline_id, stage_id, owner_key, currency, closed_on, deals, amount, weighted_amount
     FROM deal_stage_totals)
) THEN RAISE EXCEPTION 'the board''s running totals differ from the deals'; END IF;
IF EXISTS (
    WITH expected AS (
        SELECT workspace_id, pipeline_id, COALESCE(owner_id, '00000000-0000-0000-0000-000000000000'),
               COALESCE(team_id, '00000000-0000-0000-0000-000000000000'),
               COALESCE(date_trunc('month', expected_close_date::timestamp)::date, 'infinity'), count(*),
               COALESCE(sum(amount_base), 0), COALESCE(sum(amount_base * probability / 100), 0),
               count(*) FILTER (WHERE amount_base IS NULL)
        FROM deals WHERE deleted_at IS NULL AND status = 'open'
        GROUP BY 1, 2, 3, 4, 5
    )
    (SELECT workspace_id, pipeline_id, owner_key, team_key, close_month, deals, amount, weighted_amount,
            unconverted_deals
     FROM open_deal_totals WHERE deals <> 0 OR amount <> 0 OR weighted_amount <> 0 OR unconverted_deals <> 0
     EXCEPT
     SELECT * FROM expected)
    UNION ALL
    (SELECT * FROM expected
     EXCEPT
     SELECT workspace_id, pipeline_id, owner_key, team_key, close_month, deals, amount, weighted_amount,
            unconverted_deals
     FROM open_deal_totals)
) THEN RAISE EXCEPTION 'the forecast''s running totals differ from the open deals'; END IF; END $$";

#[actix_web::test]
async fn the_running_totals_follow_every_kind_of_deal_change() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    // A rep who sees the owner's client, to sell on it too.
    let (_, sales_token) = app.user_seeing("sales", "all").await;
    let mut deals = Vec::new();
    for (amount, currency, token) in
        [("100", "USD", &s.owner), ("200", "USD", &s.owner), ("50", "EUR", &sales_token)]
    {
        let body = json!({"title": "D", "client_id": s.client["id"], "amount": amount, "currency": currency});
        deals.push(app.post("/api/v1/deals", token, body).await.expect(201).clone());
    }
    app.sql(TOTALS_MATCH_THE_DEALS).await;

    // An amount change, an expected month, a rate, a stage move, a win and a reopening, a deletion
    // and a restore.
    app.patch(&path(&deals[0]), &s.owner, json!({"amount": "150"})).await.expect(200);
    app.patch(&path(&deals[1]), &s.owner, json!({"expected_close_date": "2027-03-14"})).await.expect(200);
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    app.patch(&path(&deals[2]), &s.owner, json!({"exchange_rate": "1.1"})).await.expect(200);
    app.patch(&path(&deals[1]), &s.owner, json!({"expected_close_date": "2027-04-01"})).await.expect(200);
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    app.patch(&path(&deals[1]), &s.owner, json!({"stage_id": s.stage("Proposal")["id"]})).await.expect(200);
    app.patch(&path(&deals[0]), &s.owner, json!({"stage_id": s.stage("Won")["id"]})).await.expect(200);
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    app.patch(&path(&deals[0]), &s.owner, json!({"stage_id": s.stage("Qualified")["id"]})).await.expect(200);
    app.request(Method::DELETE, &path(&deals[2]), Some(&s.owner), None).await.expect(204);
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    app.request(Method::POST, &format!("{}/restore", path(&deals[2])), Some(&s.owner), None)
        .await
        .expect(200);
    // Deleting a stage moves its deals in one statement.
    let stages = format!("/api/v1/pipelines/{}/stages", s.pipeline["id"].as_str().unwrap_or_default());
    let qualified = s.stage("Qualified")["id"].as_str().unwrap_or_default().to_string();
    let new_stage = s.stage("New")["id"].as_str().unwrap_or_default().to_string();
    app.request(
        Method::DELETE,
        &format!("{stages}/{qualified}?move_deals_to={new_stage}"),
        Some(&s.owner),
        None,
    )
    .await
    .expect(204);
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    // A stage's new probability reaches its deals' weighted amounts.
    app.patch(&format!("{stages}/{new_stage}"), &s.owner, json!({"probability": 30})).await.expect(200);
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    app.patch(&format!("{stages}/{new_stage}"), &s.owner, json!({"probability": 10})).await.expect(200);

    let board_path = format!("/api/v1/pipelines/{}/board", s.pipeline["id"].as_str().unwrap_or_default());
    let board = app.get(&board_path, &s.owner).await.expect(200).clone();
    let column = |name: &str| board_column(&board, name);
    let new = column("New");
    assert_eq!(new["deal_count"], 2, "the restored EUR deal and the one moved from Qualified");
    assert_eq!(
        new["amounts"],
        json!([{"currency": "EUR", "amount": "50.00"}, {"currency": "USD", "amount": "150.00"}])
    );
    assert_eq!(
        new["weighted_amounts"],
        json!([{"currency": "EUR", "amount": "5.00"}, {"currency": "USD", "amount": "15.00"}])
    );
    let proposal = column("Proposal");
    assert_eq!(proposal["deal_count"], 1);
    assert_eq!(proposal["amounts"], json!([{"currency": "USD", "amount": "200.00"}]));
    assert_eq!(column("Won")["deal_count"], 0, "reopened");
}

#[actix_web::test]
async fn the_boards_won_and_lost_columns_hold_recent_closings() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    // A win brought over from another system keeps the day it closed.
    let sixty_days_ago =
        (chrono::Utc::now() - chrono::Duration::days(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (title, closed_at) in [("Old win", Some(sixty_days_ago)), ("Fresh win", None)] {
        app.post(
            "/api/v1/deals",
            &s.owner,
            json!({"title": title, "client_id": s.client["id"], "amount": "10", "stage_id": s.stage("Won")["id"], "closed_at": closed_at}),
        )
        .await
        .expect(201);
    }
    app.sql(TOTALS_MATCH_THE_DEALS).await;
    let board_path = format!("/api/v1/pipelines/{}/board", s.pipeline["id"].as_str().unwrap_or_default());
    let board = app.get(&board_path, &s.owner).await.expect(200).clone();
    let won = board_column(&board, "Won");
    assert_eq!(won["deal_count"], 1, "closed in the last 30 days by default");
    assert_eq!(won["deals"][0]["title"], "Fresh win");
    let since =
        (chrono::Utc::now() - chrono::Duration::days(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let longer = app.get(&format!("{board_path}?closed_since={since}"), &s.owner).await.expect(200).clone();
    assert_eq!(board_column(&longer, "Won")["deal_count"], 2);
}

#[actix_web::test]
async fn closed_since_counts_to_the_second_within_its_own_day() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    for (title, closed_at) in [
        ("Morning win", "2026-11-10T08:00:00Z"),
        ("Evening win", "2026-11-10T20:00:00Z"),
        ("Next day win", "2026-11-11T09:00:00Z"),
    ] {
        let body = json!({"title": title, "client_id": s.client["id"], "amount": "10", "stage_id": s.stage("Won")["id"]});
        let deal = app.post("/api/v1/deals", &s.owner, body).await.expect(201).clone();
        // Corrected afterwards, as an integrator fixing an import would.
        app.patch(&path(&deal), &s.owner, json!({"closed_at": closed_at})).await.expect(200);
    }
    let board_path = format!("/api/v1/pipelines/{}/board", s.pipeline["id"].as_str().unwrap_or_default());
    for (since, expected) in [
        ("2026-11-10T00:00:00Z", 3),
        ("2026-11-10T12:00:00Z", 2),
        ("2026-11-10T20:00:00Z", 2),
        ("2026-11-10T20:00:01Z", 1),
        ("2026-11-11T09:00:01Z", 0),
    ] {
        let board =
            app.get(&format!("{board_path}?closed_since={since}"), &s.owner).await.expect(200).clone();
        let won = board_column(&board, "Won");
        assert_eq!(won["deal_count"], expected, "closed since {since}");
        let amount = if expected == 0 {
            json!([])
        } else {
            json!([{"currency": "USD", "amount": format!("{}.00", 10 * expected)}])
        };
        assert_eq!(won["amounts"], amount, "closed since {since}");
    }
    // The part of a day before the first midnight adds to the whole days' totals, currency by
    // currency, also in a currency the whole days don't have.
    let body = json!({"title": "Late euro win", "client_id": s.client["id"], "amount": "5", "currency": "EUR", "stage_id": s.stage("Won")["id"]});
    let deal = app.post("/api/v1/deals", &s.owner, body).await.expect(201).clone();
    app.patch(&path(&deal), &s.owner, json!({"closed_at": "2026-11-10T22:00:00Z"})).await.expect(200);
    let board = app
        .get(&format!("{board_path}?closed_since=2026-11-10T12:00:00Z"), &s.owner)
        .await
        .expect(200)
        .clone();
    let won = board_column(&board, "Won");
    assert_eq!(won["deal_count"], 3);
    assert_eq!(
        won["amounts"],
        json!([{"currency": "EUR", "amount": "5.00"}, {"currency": "USD", "amount": "20.00"}])
    );
    app.sql(TOTALS_MATCH_THE_DEALS).await;
}

#[actix_web::test]
async fn deals_are_filtered_sorted_deleted_and_restored() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let mut ids = Vec::new();
    for (title, amount, close) in
        [("Alpha", "300", Some("2026-12-01")), ("Beta", "100", None), ("Gamma", "200", Some("2026-11-30"))]
    {
        let deal = app
            .post("/api/v1/deals", &s.owner, json!({"title": title, "client_id": s.client["id"], "amount": amount, "expected_close_date": close, "tags": ["q4"]}))
            .await
            .expect(201)
            .clone();
        ids.push(deal);
    }
    let titles = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|deal| deal["title"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(
        titles(app.get("/api/v1/deals?sort=-amount", &s.owner).await.expect(200)),
        ["Alpha", "Gamma", "Beta"]
    );
    assert_eq!(
        titles(app.get("/api/v1/deals?sort=expected_close_date", &s.owner).await.expect(200)),
        ["Gamma", "Alpha", "Beta"]
    );
    let paged = app.get("/api/v1/deals?sort=expected_close_date&limit=2", &s.owner).await.expect(200).clone();
    let cursor = paged["next_cursor"].as_str().unwrap_or_default();
    assert_eq!(
        titles(
            app.get(&format!("/api/v1/deals?sort=expected_close_date&limit=2&cursor={cursor}"), &s.owner)
                .await
                .expect(200)
        ),
        ["Beta"]
    );
    assert_eq!(
        titles(app.get("/api/v1/deals?amount_min=150&amount_max=250", &s.owner).await.expect(200)),
        ["Gamma"]
    );
    assert_eq!(
        titles(app.get("/api/v1/deals?q=acme&sort=amount", &s.owner).await.expect(200)),
        ["Beta", "Gamma", "Alpha"],
        "by the client's name"
    );
    assert_eq!(titles(app.get("/api/v1/deals?q=gama", &s.owner).await.expect(200)), ["Gamma"]);
    assert_eq!(
        titles(app.get("/api/v1/deals?expected_close_to=2026-11-30", &s.owner).await.expect(200)),
        ["Gamma"]
    );
    let client_deals =
        format!("/api/v1/clients/{}/deals?sort=amount", s.client["id"].as_str().unwrap_or_default());
    assert_eq!(titles(app.get(&client_deals, &s.owner).await.expect(200)), ["Beta", "Gamma", "Alpha"]);
    // Digits and a point, as the document's pattern says: no sign, exponent, separator or space.
    for amount in ["lots", "1e3", "-5", "1_000", "%2010", ""] {
        app.get(&format!("/api/v1/deals?amount_min={amount}"), &s.owner)
            .await
            .expect_problem(400, "invalid_query");
    }
    app.get("/api/v1/deals?sort=", &s.owner).await.expect_problem(400, "invalid_query");

    let beta = path(&ids[1]);
    app.request(Method::DELETE, &beta, Some(&s.owner), None).await.expect(204);
    app.get(&beta, &s.owner).await.expect_problem(404, "not_found");
    let tombstones = app.get("/api/v1/deals/deleted", &s.owner).await.expect(200).clone();
    assert_eq!(tombstones["data"][0]["id"], ids[1]["id"]);
    app.request(Method::POST, &format!("{beta}/restore"), Some(&s.owner), None).await.expect(200);
    app.get(&beta, &s.owner).await.expect(200);

    // Seeing every client, so that only the role is in the way of writing.
    let (_, viewer) = app.user_seeing("viewer", "all").await;
    let before = app.get(&beta, &s.owner).await.expect(200).clone();
    app.get(&beta, &viewer).await.expect(200);
    app.patch(&beta, &viewer, json!({"title": "X"})).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, &beta, Some(&viewer), None).await.expect_problem(403, "forbidden");
    app.post("/api/v1/deals", &viewer, json!({"title": "X", "client_id": s.client["id"]}))
        .await
        .expect_problem(403, "forbidden");
    app.assert_unchanged(&beta, &s.owner, &before).await;
    assert_eq!(titles(app.get("/api/v1/deals", &s.owner).await.expect(200)).len(), 3, "no deal was added");
    app.request(Method::DELETE, &beta, Some(&s.owner), None).await.expect(204);
    app.request(Method::POST, &format!("{beta}/restore"), Some(&viewer), None)
        .await
        .expect_problem(403, "forbidden");
    app.get(&beta, &s.owner).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn a_deal_lists_the_activities_linked_to_it() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let deal = app
        .post("/api/v1/deals", &s.owner, json!({"title": "D", "client_id": s.client["id"]}))
        .await
        .expect(201)
        .clone();
    for (subject, deal_id) in [
        ("About the deal", Some(&deal["id"])),
        ("Just the client", None),
        ("Proposal sent", Some(&deal["id"])),
    ] {
        let body = json!({"kind": "call", "subject": subject, "client_id": s.client["id"], "deal_id": deal_id, "status": "done"});
        app.post("/api/v1/activities", &s.owner, body).await.expect(201);
    }
    let listed = app.get(&format!("{}/activities", path(&deal)), &s.owner).await.expect(200).clone();
    let mut subjects: Vec<&str> =
        listed["data"].as_array().into_iter().flatten().filter_map(|item| item["subject"].as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(subjects, ["About the deal", "Proposal sent"]);
    assert!(listed["data"].as_array().into_iter().flatten().all(|item| item["deal_id"] == deal["id"]));

    app.request(Method::DELETE, &path(&deal), Some(&s.owner), None).await.expect(204);
    app.get(&format!("{}/activities", path(&deal)), &s.owner).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn a_stage_with_deals_is_deleted_only_by_moving_them() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let deal = app
        .post("/api/v1/deals", &s.owner, json!({"title": "D", "client_id": s.client["id"]}))
        .await
        .expect(201)
        .clone();
    let base = format!("/api/v1/pipelines/{}/stages", s.pipeline["id"].as_str().unwrap_or_default());
    let new_stage = s.stage("New")["id"].as_str().unwrap_or_default().to_string();
    app.request(Method::DELETE, &format!("{base}/{new_stage}"), Some(&s.owner), None)
        .await
        .expect_problem(409, "stage_in_use");
    let qualified = s.stage("Qualified")["id"].as_str().unwrap_or_default().to_string();
    app.request(
        Method::DELETE,
        &format!("{base}/{new_stage}?move_deals_to={qualified}"),
        Some(&s.owner),
        None,
    )
    .await
    .expect(204);
    let moved = app.get(&path(&deal), &s.owner).await.expect(200).clone();
    assert_eq!(moved["stage_id"], json!(qualified));
    assert_eq!(moved["probability"], 25);
    assert_eq!(moved["version"], 2);
    let history = app.get(&format!("{}/history", path(&deal)), &s.owner).await.expect(200).clone();
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    // A pipeline with deals can't be deleted either.
    let second = app.post("/api/v1/pipelines", &s.owner, json!({"name": "Second"})).await.expect(201).clone();
    app.patch(&path(&deal), &s.owner, json!({"pipeline_id": second["id"]})).await.expect(200);
    let second_path = format!("/api/v1/pipelines/{}", second["id"].as_str().unwrap_or_default());
    app.request(Method::DELETE, &second_path, Some(&s.owner), None)
        .await
        .expect_problem(409, "pipeline_in_use");
}

#[actix_web::test]
async fn a_foreign_currency_deal_carries_its_amount_in_the_workspace_currency() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    // The workspace counts in USD (the default).
    let eur = app
        .post("/api/v1/deals", &s.owner, json!({"title": "EUR", "client_id": s.client["id"], "amount": "1000.00", "currency": "EUR", "exchange_rate": "1.0875"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(
        (eur["amount_base"].clone(), eur["exchange_rate"].clone()),
        (json!("1087.50"), json!("1.0875"))
    );
    let no_rate = app
        .post(
            "/api/v1/deals",
            &s.owner,
            json!({"title": "JPY", "client_id": s.client["id"], "amount": "5000", "currency": "JPY"}),
        )
        .await;
    let no_rate = no_rate.expect(201).clone();
    assert_eq!((no_rate["amount"].clone(), no_rate["amount_base"].clone()), (json!("5000"), Value::Null));
    let home = app
        .post("/api/v1/deals", &s.owner, json!({"title": "USD", "client_id": s.client["id"], "amount": "10"}))
        .await
        .expect(201)
        .clone();
    assert_eq!(home["amount_base"], "10.00");
    let needless_rate = app
        .post(
            "/api/v1/deals",
            &s.owner,
            json!({"title": "USD", "client_id": s.client["id"], "amount": "10", "exchange_rate": "2"}),
        )
        .await;
    assert_eq!(field_of(needless_rate.expect_problem(422, "validation_failed")), "exchange_rate");
    let rate_changed =
        app.patch(&path(&eur), &s.owner, json!({"exchange_rate": "1.1"})).await.expect(200).clone();
    assert_eq!(rate_changed["amount_base"], "1100.00");
}

#[actix_web::test]
async fn deals_filter_by_status_stage_owner_and_close_time() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    // A rep who sees the owner's client, to sell on it too.
    let (sales, sales_token) = app.user_seeing("sales", "all").await;
    let open = app
        .post(
            "/api/v1/deals",
            &s.owner,
            json!({"title": "Open", "client_id": s.client["id"], "tags": ["hot"]}),
        )
        .await
        .expect(201)
        .clone();
    let won = app
        .post(
            "/api/v1/deals",
            &sales_token,
            json!({"title": "Won", "client_id": s.client["id"], "stage_id": s.stage("Won")["id"]}),
        )
        .await
        .expect(201)
        .clone();
    let titles = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|deal| deal["title"].as_str().map(str::to_string))
            .collect()
    };
    // Around the moment the deal was won, whatever the day.
    let closed_at = timestamp(&won["closed_at"]);
    let just_after =
        (closed_at + chrono::Duration::microseconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let cases = [
        ("status=won".to_string(), vec!["Won"]),
        ("status=open".to_string(), vec!["Open"]),
        (format!("stage_id={}", s.stage("Won")["id"].as_str().unwrap_or_default()), vec!["Won"]),
        (format!("owner_id={}", sales["id"].as_str().unwrap_or_default()), vec!["Won"]),
        ("tag=hot".to_string(), vec!["Open"]),
        (format!("closed_from={}", won["closed_at"].as_str().unwrap_or_default()), vec!["Won"]),
        (format!("closed_from={just_after}"), vec![]),
    ];
    for (query, expected) in cases {
        assert_eq!(
            titles(app.get(&format!("/api/v1/deals?{query}"), &s.owner).await.expect(200)),
            expected,
            "{query}"
        );
    }
    assert_eq!(open["closed_at"], Value::Null);
    app.get("/api/v1/deals?status=maybe", &s.owner).await.expect_problem(400, "invalid_query");
    app.get("/api/v1/deals?sort=title", &s.owner).await.expect_problem(400, "invalid_query");
}

/// The largest amount a deal, a line or a price may hold: 15 digits before the point.
const MAX_AMOUNT: &str = "999999999999999.99";

/// Amounts, quantities, percents and rates are decimal strings as the document's patterns write
/// them: what rust_decimal would also read (a separator, a sign, padding, an exponent) is refused
/// with the field named, not guessed at.
#[actix_web::test]
async fn decimals_are_read_as_the_document_writes_them() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let client = s.client["id"].clone();
    for text in ["1_000", "+5", " 5", "1e3", "", "0.1234567"] {
        let cases = [
            (json!({"title": "T", "client_id": client, "amount": text}), "amount"),
            (
                json!({"title": "T", "client_id": client, "currency": "EUR", "exchange_rate": text}),
                "exchange_rate",
            ),
            (
                json!({"title": "T", "client_id": client, "items": [{"name": "Tea", "quantity": text, "unit_price": "1"}]}),
                "items[0].quantity",
            ),
            (
                json!({"title": "T", "client_id": client, "items": [{"name": "Tea", "quantity": "1", "unit_price": "1", "tax_percent": text}]}),
                "items[0].tax_percent",
            ),
        ];
        for (body, field) in cases {
            if field == "exchange_rate" && text == "0.1234567" {
                continue; // a rate takes up to 10 decimals
            }
            let problem = app.post("/api/v1/deals", &s.owner, body).await.expect(422).clone();
            assert_eq!(field_of(&problem), field, "{text:?}");
        }
    }
}

#[actix_web::test]
async fn amounts_beyond_the_documented_maximum_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let client = s.client["id"].clone();
    let deals_before = app.sql_i64("SELECT count(*) AS value FROM deals").await;
    let refusals = [
        (json!({"title": "Too much", "client_id": client, "amount": "1000000000000000"}), "amount"),
        (
            json!({"title": "Too much", "client_id": client, "amount": "50000000000000000000000000000"}),
            "amount",
        ),
        (
            json!({"title": "Too much", "client_id": client,
                   "items": [{"name": "Gold", "quantity": "1", "unit_price": "1000000000000000"}]}),
            "items[0].unit_price",
        ),
        (
            json!({"title": "Too much", "client_id": client,
                   "items": [{"name": "Gold", "quantity": "1000000000000", "unit_price": "1000"}]}),
            "items[0]",
        ),
        (
            json!({"title": "Too much", "client_id": client,
                   "items": [{"name": "Gold", "quantity": "1", "unit_price": MAX_AMOUNT},
                             {"name": "More gold", "quantity": "1", "unit_price": "1"}]}),
            "items",
        ),
        (
            json!({"title": "Too much", "client_id": client, "currency": "EUR", "amount": MAX_AMOUNT,
                   "exchange_rate": "2"}),
            "exchange_rate",
        ),
    ];
    for (body, field) in refusals {
        let problem = app.post("/api/v1/deals", &s.owner, body.clone()).await.expect(422).clone();
        assert_eq!(
            (field_of(&problem), problem["errors"][0]["code"].as_str()),
            (field, Some("too_large")),
            "{body}"
        );
    }
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM deals").await, deals_before);
    let product = json!({"sku": "GOLD", "name": "Gold", "price": "1000000000000000", "currency": "EUR"});
    let problem = app.post("/api/v1/products", &s.owner, product).await.expect(422).clone();
    assert_eq!((field_of(&problem), problem["errors"][0]["code"].as_str()), ("price", Some("too_large")));
}

/// Many deals at the maximum, and one cent beside them, are summed wherever they are read: the
/// board's totals (weighted ones too), the client's card, the deal list and a segment export.
#[actix_web::test]
async fn the_largest_amounts_allowed_add_up_wherever_they_are_read() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let client = s.client["id"].as_str().unwrap_or_default().to_string();
    let (open, won) = (s.stage("Qualified")["id"].clone(), s.stage("Won")["id"].clone());
    for index in 0..12 {
        let stage = if index % 2 == 0 { open.clone() } else { won.clone() };
        let body = json!({"title": format!("Big {index}"), "client_id": client, "stage_id": stage,
                          "amount": MAX_AMOUNT, "probability": 37});
        app.post("/api/v1/deals", &s.owner, body).await.expect(201);
    }
    let cent = json!({"title": "A cent", "client_id": client, "stage_id": open, "amount": "0.01", "probability": 37});
    app.post("/api/v1/deals", &s.owner, cent).await.expect(201);
    let lines = json!({"title": "Lines", "client_id": client, "stage_id": won,
                       "items": [{"name": "Gold", "quantity": "1", "unit_price": MAX_AMOUNT, "tax_percent": "0"}]});
    app.post("/api/v1/deals", &s.owner, lines).await.expect(201);
    let foreign = json!({"title": "Dollars", "client_id": client, "stage_id": won, "currency": "EUR",
                         "amount": MAX_AMOUNT, "exchange_rate": "1"});
    app.post("/api/v1/deals", &s.owner, foreign).await.expect(201);

    let pipeline = s.pipeline["id"].as_str().unwrap_or_default();
    let board = app.get(&format!("/api/v1/pipelines/{pipeline}/board"), &s.owner).await.expect(200).clone();
    let qualified = board_column(&board, "Qualified");
    assert_eq!(qualified["amounts"][0]["amount"], "5999999999999999.95");
    assert_eq!(qualified["weighted_amounts"][0]["amount"], "2219999999999999.98");
    assert_eq!(board_column(&board, "Won")["deal_count"], 8);

    let card = app.get(&format!("/api/v1/clients/{client}"), &s.owner).await.expect(200).clone();
    assert_eq!(card["stats"]["won_count"], 8);
    assert_eq!(card["stats"]["won_amount"], "7999999999999999.92");
    let page =
        app.get(&format!("/api/v1/deals?client_id={client}&limit=200"), &s.owner).await.expect(200).clone();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(15));

    let segment = app
        .post("/api/v1/segments", &s.owner, json!({"name": "Whales", "kind": "static"}))
        .await
        .expect(201)
        .clone();
    let segment = segment["id"].as_str().unwrap_or_default();
    app.post(&format!("/api/v1/segments/{segment}/members"), &s.owner, json!({"client_ids": [client]}))
        .await
        .expect(200);
    let export = app.get(&format!("/api/v1/segments/{segment}/export"), &s.owner).await;
    assert_eq!(export.status, 200);
    let csv = export.body.as_str().unwrap_or_default();
    assert!(csv.contains("7999999999999999.92"), "{csv}");
}
