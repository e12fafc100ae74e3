//! `/reports`: figures computed by hand from a known set of deals, through every write that can
//! change them.

use actix_web::http::Method;
use serde_json::{Value, json};

use crm::ids::WorkspaceId;

use crate::support::TestApp;
use crate::support::http::{field_errors, id_of as id};

/// A workspace in Moscow's time (UTC+3) and US dollars, with three clients, a sales rep, and the
/// default pipeline's stages by name.
struct Shop {
    owner: String,
    rep: Value,
    rep_token: String,
    acme: Value,
    bob: Value,
    carol: Value,
    stages: Value,
}

impl Shop {
    fn stage(&self, name: &str) -> Value {
        self.stages
            .as_array()
            .into_iter()
            .flatten()
            .find(|stage| stage["name"] == name)
            .cloned()
            .unwrap_or_default()["id"]
            .clone()
    }
}

async fn shop(app: &TestApp) -> Shop {
    let owner = app.owner_token().await;
    app.patch("/api/v1/workspace", &owner, json!({"timezone": "Europe/Moscow"})).await.expect(200);
    let (rep, rep_token) = app.user_seeing("sales", "own").await;
    let client = |body: Value| {
        let owner = owner.clone();
        async move { app.post("/api/v1/clients", &owner, body).await.expect(201).clone() }
    };
    let acme = client(json!({"kind": "company", "name": "Acme"})).await;
    let bob = client(json!({"kind": "person", "first_name": "Bob", "last_name": "Stone"})).await;
    let carol = client(json!({"kind": "person", "first_name": "Carol", "last_name": "Reed"})).await;
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    Shop { owner, rep, rep_token, acme, bob, carol, stages: pipelines["data"][0]["stages"].clone() }
}

/// A deal won at `closed_at` (UTC), with `fields` added.
async fn won(app: &TestApp, shop: &Shop, client: &Value, closed_at: &str, fields: Value) -> Value {
    let mut body = json!({"title": "Deal", "client_id": client["id"], "stage_id": shop.stage("Won"), "closed_at": closed_at});
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    app.post("/api/v1/deals", &shop.owner, body).await.expect(201).clone()
}

/// The deals of the report's examples, each the case docs/reports.md names:
/// - January: Acme, items in two product groups (200 Hardware + 50 Software).
/// - February: Bob in euros, 33.33 Hardware + 66.67 Software at 1.1 (110.00 USD), closed at 22:30 UTC
///   on January 31, which is February 1 in Moscow; Acme 300 (owned by the rep, no items).
/// - March: Bob 200, deleted and restored; Carol in yen without a rate (unconverted); Carol 1000,
///   won and reopened (not a sale).
/// - February 2025: Acme 400, its first purchase. A lost deal never counts.
async fn sales(app: &TestApp, shop: &Shop) -> Value {
    let item = |name: &str, group: &str, price: &str| json!({"name": name, "product_group": group, "quantity": "1", "unit_price": price});
    won(app, shop, &shop.acme, "2025-02-10T09:00:00Z", json!({"amount": "400"})).await;
    won(
        app,
        shop,
        &shop.acme,
        "2026-01-10T10:00:00Z",
        json!({"items": [
            {"name": "Server", "product_group": "Hardware", "quantity": "2", "unit_price": "100"},
            item("Licence", "Software", "50"),
        ]}),
    )
    .await;
    won(
        app,
        shop,
        &shop.bob,
        "2026-01-31T22:30:00Z",
        json!({"currency": "EUR", "exchange_rate": "1.1", "items": [
            item("Cable", "Hardware", "33.33"),
            item("Support", "Software", "66.67"),
        ]}),
    )
    .await;
    won(app, shop, &shop.acme, "2026-02-15T12:00:00Z", json!({"amount": "300", "owner_id": shop.rep["id"]}))
        .await;
    let restored = won(app, shop, &shop.bob, "2026-03-20T12:00:00Z", json!({"amount": "200"})).await;
    let path = format!("/api/v1/deals/{}", id(&restored));
    app.request(Method::DELETE, &path, Some(&shop.owner), None).await.expect(204);
    app.post(&format!("{path}/restore"), &shop.owner, json!({})).await.expect(200);
    won(app, shop, &shop.carol, "2026-03-25T12:00:00Z", json!({"amount": "5000", "currency": "JPY"})).await;
    let reopened = won(app, shop, &shop.carol, "2026-03-05T12:00:00Z", json!({"amount": "1000"})).await;
    let path = format!("/api/v1/deals/{}", id(&reopened));
    app.patch(&path, &shop.owner, json!({"stage_id": shop.stage("Proposal")})).await.expect(200);
    let lost = json!({"title": "Lost", "client_id": shop.bob["id"], "amount": "900", "stage_id": shop.stage("Lost"),
                      "lost_reason": "Price", "closed_at": "2026-01-20T12:00:00Z"});
    app.post("/api/v1/deals", &shop.owner, lost).await.expect(201);
    restored
}

/// deals, revenue, average deal, unique buyers, first-time buyers, unconverted deals.
fn figures(figures: &Value) -> (i64, &str, &Value, i64, i64, i64) {
    (
        figures["deals"].as_i64().unwrap_or(-1),
        figures["revenue"].as_str().unwrap_or_default(),
        &figures["average_deal"],
        figures["unique_buyers"].as_i64().unwrap_or(-1),
        figures["first_time_buyers"].as_i64().unwrap_or(-1),
        figures["unconverted_deals"].as_i64().unwrap_or(-1),
    )
}

const QUARTER: &str = "/api/v1/reports/sales?from=2026-01-01&to=2026-03-31";

#[actix_web::test]
async fn sales_by_month_count_each_deal_once_on_the_day_it_was_won_where_the_workspace_is() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!((report["currency"].clone(), report["converted"].clone()), (json!("USD"), json!(true)));
    assert_eq!(figures(&report["total"]["figures"]), (5, "860.00", &json!("215.00"), 3, 2, 1));
    let periods = report["periods"].as_array().cloned().unwrap_or_default();
    let months: Vec<_> =
        periods.iter().map(|period| (period["start"].clone(), period["end"].clone())).collect();
    assert_eq!(
        months,
        [
            (json!("2026-01-01"), json!("2026-01-31")),
            (json!("2026-02-01"), json!("2026-02-28")),
            (json!("2026-03-01"), json!("2026-03-31"))
        ]
    );
    // Acme bought first in 2025; Bob's euro deal is February's in Moscow.
    assert_eq!(figures(&periods[0]["figures"]), (1, "250.00", &json!("250.00"), 1, 0, 0));
    assert_eq!(figures(&periods[1]["figures"]), (2, "410.00", &json!("205.00"), 2, 1, 0));
    // The yen deal counts as a deal and a buyer, not in the revenue or the average.
    assert_eq!(figures(&periods[2]["figures"]), (2, "200.00", &json!("200.00"), 2, 1, 1));
    assert_eq!(report["groups"], json!([]));
    assert_eq!(report["compared"], Value::Null);

    // In UTC the euro deal was won in January.
    app.patch("/api/v1/workspace", &shop.owner, json!({"timezone": "UTC"})).await.expect(200);
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&report["periods"][0]["figures"]), (2, "360.00", &json!("180.00"), 2, 1, 0));
    assert_eq!(figures(&report["periods"][1]["figures"]), (1, "300.00", &json!("300.00"), 1, 0, 0));
}

#[actix_web::test]
async fn sales_follow_deletes_restores_reopening_and_changes_of_amount() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let restored = sales(&app, &shop).await;
    let march = |report: &Value| report["periods"][2]["figures"].clone();
    let path = format!("/api/v1/deals/{}", id(&restored));

    app.request(Method::DELETE, &path, Some(&shop.owner), None).await.expect(204);
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&march(&report)), (1, "0.00", &Value::Null, 1, 1, 1), "a deleted deal is no sale");
    app.post(&format!("{path}/restore"), &shop.owner, json!({})).await.expect(200);
    app.patch(&path, &shop.owner, json!({"amount": "250.50"})).await.expect(200);
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&march(&report)), (2, "250.50", &json!("250.50"), 2, 1, 1));
    app.patch(&path, &shop.owner, json!({"stage_id": shop.stage("Negotiation")})).await.expect(200);
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&march(&report)), (1, "0.00", &Value::Null, 1, 1, 1), "a reopened deal is no sale");
    assert_eq!(figures(&report["total"]["figures"]), (4, "660.00", &json!("220.00"), 3, 2, 1));
}

#[actix_web::test]
async fn product_groups_split_a_deal_by_its_items_and_owners_by_whose_deal_it_is() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let report = app
        .get(&format!("{QUARTER}&interval=quarter&group_by=product_group"), &shop.owner)
        .await
        .expect(200)
        .clone();
    let groups: Vec<_> = report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|group| (group["key"].clone(), group["label"].clone(), figures(&group["total"]["figures"])))
        .map(|(key, label, (deals, revenue, _, buyers, _, _))| {
            (key, label, deals, revenue.to_string(), buyers)
        })
        .collect();
    // The euro deal's 110.00 is shared as 36.66 and 73.34: its lines add up to it exactly.
    assert_eq!(
        groups,
        [
            (Value::Null, Value::Null, 3, "500.00".to_string(), 3),
            (json!("Hardware"), json!("Hardware"), 2, "236.66".to_string(), 2),
            (json!("Software"), json!("Software"), 2, "123.34".to_string(), 2),
        ]
    );
    assert_eq!(figures(&report["total"]["figures"]).0, 5, "a deal with two groups is one deal in all");
    assert_eq!(report["groups"][1]["periods"][0]["start"], "2026-01-01");

    let report =
        app.get(&format!("{QUARTER}&interval=quarter&group_by=owner"), &shop.owner).await.expect(200).clone();
    let owners: Vec<_> = report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|group| (group["label"].clone(), group["total"]["figures"]["revenue"].clone()))
        .collect();
    assert_eq!(owners, [(json!("Olga Owner"), json!("560.00")), (json!("A sales"), json!("300.00"))]);

    let filtered = app
        .get(&format!("{QUARTER}&interval=quarter&product_group=Software"), &shop.owner)
        .await
        .expect(200)
        .clone();
    assert_eq!(figures(&filtered["total"]["figures"]), (2, "123.34", &json!("61.67"), 2, 1, 0));
}

#[actix_web::test]
async fn a_comparison_gives_the_earlier_figures_and_the_change() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let report = app.get(&format!("{QUARTER}&compare=previous_year"), &shop.owner).await.expect(200).clone();
    assert_eq!(
        report["compared"],
        json!({"compare": "previous_year", "from": "2025-01-01", "to": "2025-03-31"})
    );
    assert_eq!(figures(&report["total"]["comparison"]), (1, "400.00", &json!("400.00"), 1, 1, 0));
    assert_eq!(figures(&report["periods"][1]["comparison"]), (1, "400.00", &json!("400.00"), 1, 1, 0));
    assert_eq!(figures(&report["periods"][0]["comparison"]), (0, "0.00", &Value::Null, 0, 0, 0));
    assert_eq!(
        report["total"]["change"],
        json!({"deals": 4, "deals_percent": "400.0", "revenue": "460.00", "revenue_percent": "115.0",
               "average_deal": "-185.00", "average_deal_percent": "-46.2", "unique_buyers": 2,
               "unique_buyers_percent": "200.0", "first_time_buyers": 1, "first_time_buyers_percent": "100.0"})
    );
    // January had nothing to compare with: no percentage.
    assert_eq!(report["periods"][0]["change"]["revenue_percent"], Value::Null);

    // The quarter before is October to December: no sales.
    let report =
        app.get(&format!("{QUARTER}&compare=previous_period"), &shop.owner).await.expect(200).clone();
    assert_eq!(
        report["compared"],
        json!({"compare": "previous_period", "from": "2025-10-01", "to": "2025-12-31"})
    );
    assert_eq!(report["total"]["comparison"]["deals"], 0);
}

#[actix_web::test]
async fn one_currency_is_reported_in_its_own_amounts() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let euros = app.get(&format!("{QUARTER}&currency=EUR"), &shop.owner).await.expect(200).clone();
    assert_eq!((euros["currency"].clone(), euros["converted"].clone()), (json!("EUR"), json!(false)));
    assert_eq!(figures(&euros["total"]["figures"]), (1, "100.00", &json!("100.00"), 1, 1, 0));
    let yen = app.get(&format!("{QUARTER}&currency=JPY"), &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&yen["total"]["figures"]), (1, "5000", &json!("5000"), 1, 1, 0));
}

#[actix_web::test]
async fn the_sales_report_is_csv_when_asked_for() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let path = format!("{QUARTER}&interval=quarter&group_by=product_group&compare=previous_year");
    let csv = app
        .request_with_headers(Method::GET, &path, Some(&shop.owner), &[("accept", "text/csv")], None)
        .await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.body.as_str().unwrap_or_default().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(
        "level,group_key,group_label,period_start,period_end,deals,revenue,average_deal,unique_buyers,\
         first_time_buyers,unconverted_deals,comparison_deals,comparison_revenue"
    ));
    assert!(lines.contains(
        &"total,,,2026-01-01,2026-03-31,5,860.00,215.00,3,2,1,1,400.00,400.00,1,1,0,4,400.0,460.00,115.0,-185.00,-46.2,2,200.0,1,100.0"
    ), "{text}");
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("group_total,Hardware,Hardware,2026-01-01,2026-03-31,2,236.66,")),
        "{text}"
    );
    // Header, the quarter and the total for all groups, then for each of three groups.
    assert_eq!(lines.len(), 1 + 2 + 3 * 2);
    let json = app
        .request_with_headers(
            Method::GET,
            &path,
            Some(&shop.owner),
            &[("accept", "application/json, text/csv;q=0.5")],
            None,
        )
        .await;
    assert_eq!(json.expect(200)["total"]["figures"]["deals"], 5);
}

#[actix_web::test]
async fn a_report_counts_only_what_the_caller_sees() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    // The rep owns one deal, of a client the owner owns.
    let report = app.get(QUARTER, &shop.rep_token).await.expect(200).clone();
    assert_eq!(figures(&report["total"]["figures"]), (1, "300.00", &json!("300.00"), 1, 0, 0));
    let by_owner = app.get(&format!("{QUARTER}&group_by=owner"), &shop.rep_token).await.expect(200).clone();
    assert_eq!(by_owner["groups"].as_array().map(Vec::len), Some(1));
    // Another workspace sees none of it.
    let rival = app.rival_token().await;
    let report = app.get(QUARTER, &rival).await.expect(200).clone();
    assert_eq!(figures(&report["total"]["figures"]), (0, "0.00", &Value::Null, 0, 0, 0));
    assert_eq!(report["groups"], json!([]));
}

/// A rep sees a record of their own client, one they own of someone else's client, and one of a
/// client shared with them; every report counts each once, even when it is seen two ways at once.
#[actix_web::test]
async fn every_report_counts_each_record_a_rep_sees_once_whichever_way_they_see_it() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let dana = app
        .post(
            "/api/v1/clients",
            &shop.owner,
            json!({"kind": "company", "name": "Dana", "owner_id": shop.rep["id"]}),
        )
        .await
        .expect(201)
        .clone();
    let bob_shares = format!("/api/v1/clients/{}/shares", id(&shop.bob));
    app.post(&bob_shares, &shop.owner, json!({"user_id": shop.rep["id"]})).await.expect(201);
    let rep = shop.rep["id"].clone();
    // Last year's, so that seasonality (whole years before this one) counts them too.
    let last_year = chrono::Datelike::year(&chrono::Utc::now()) - 1;
    // (client, whose deal or activity it is): seen both ways, by the client, by the owner, shared,
    // and not at all (Carol's, the owner's).
    let records = [
        (&dana, Some(&rep), "100"),
        (&dana, None, "200"),
        (&shop.acme, Some(&rep), "300"),
        (&shop.bob, None, "400"),
        (&shop.carol, None, "800"),
    ];
    for (client, owner, amount) in records {
        let mut sale = json!({"amount": amount});
        let mut open = json!({"title": "Open", "client_id": client["id"], "amount": amount});
        let mut call = json!({"kind": "call", "subject": "Touch", "client_id": client["id"], "status": "done",
                              "completed_at": "2026-03-05T10:00:00Z"});
        if let Some(owner) = owner {
            sale["owner_id"] = owner.clone();
            open["owner_id"] = owner.clone();
            call["assignee_id"] = owner.clone();
        }
        won(&app, &shop, client, &format!("{last_year}-02-10T09:00:00Z"), sale).await;
        app.post("/api/v1/deals", &shop.owner, open).await.expect(201);
        app.post("/api/v1/activities", &shop.owner, call).await.expect(201);
    }

    let path = format!("/api/v1/reports/sales?from={last_year}-01-01&to={last_year}-12-31");
    let sales = app.get(&path, &shop.rep_token).await.expect(200).clone();
    assert_eq!(figures(&sales["total"]["figures"]), (4, "1000.00", &json!("250.00"), 3, 3, 0));
    let seasons = app.get("/api/v1/reports/seasonality?years=1", &shop.rep_token).await.expect(200).clone();
    let february = seasons["months"].as_array().and_then(|months| months.get(1)).cloned().unwrap_or_default();
    assert_eq!((february["deals"].clone(), february["revenue"].clone()), (json!(4), json!("1000.00")));
    let funnel = app.get("/api/v1/reports/funnel", &shop.rep_token).await.expect(200).clone();
    assert_eq!(funnel["deals"], 8);
    let forecast = app.get("/api/v1/reports/forecast", &shop.rep_token).await.expect(200).clone();
    assert_eq!(forecast["undated"]["open_deals"], 4);
    assert_eq!(forecast["undated"]["amount"], "1000.00");
    let activity = app
        .get("/api/v1/reports/activity?from=2026-03-01&to=2026-03-31", &shop.rep_token)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (activity["total"]["done"].clone(), activity["total"]["clients_touched"].clone()),
        (json!(4), json!(3))
    );
    let this_month = app.get("/api/v1/reports/activity", &shop.rep_token).await.expect(200).clone();
    assert_eq!(this_month["total"]["deals_created"], 8);
}

/// revenue target, its percent, deals target, its percent.
fn attainment(plan: &Value) -> [Value; 4] {
    ["revenue_target", "revenue_percent", "deals_target", "deals_percent"].map(|name| plan[name].clone())
}

#[actix_web::test]
async fn targets_stand_beside_the_sales_of_their_periods_and_of_whom_they_are_for() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let rep_id = shop.rep["id"].clone();
    for target in [
        json!({"period": "2026-01", "revenue": "500"}),
        json!({"period": "2026-02", "revenue": "410", "deals": 2}),
        json!({"period": "2026-03", "revenue": "400"}),
        json!({"period": "2026-Q1", "deals": 4}),
        json!({"period": "2026-02", "revenue": "600", "user_id": rep_id}),
    ] {
        app.post("/api/v1/targets", &shop.owner, target).await.expect(201);
    }
    let null = Value::Null;
    let by_month = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    let periods = by_month["periods"].clone();
    // January 250 of 500; February 410 of 410 in 2 deals of 2; March 200 of 400.
    assert_eq!(attainment(&periods[0]["plan"]), [json!("500.00"), json!("50.0"), null.clone(), null.clone()]);
    assert_eq!(attainment(&periods[1]["plan"]), [json!("410.00"), json!("100.0"), json!(2), json!("100.0")]);
    assert_eq!(attainment(&periods[2]["plan"]), [json!("400.00"), json!("50.0"), null.clone(), null.clone()]);
    // The quarter: 860 of the months' 1310; the deals of its own target, 5 of 4.
    assert_eq!(
        attainment(&by_month["total"]["plan"]),
        [json!("1310.00"), json!("65.6"), json!(4), json!("125.0")]
    );
    let by_quarter = app.get(&format!("{QUARTER}&interval=quarter"), &shop.owner).await.expect(200).clone();
    assert_eq!(
        attainment(&by_quarter["periods"][0]["plan"]),
        [json!("1310.00"), json!("65.6"), json!(4), json!("125.0")]
    );
    // Weeks have no targets; nor do the sales of one pipeline, or one currency.
    let by_week = app.get(&format!("{QUARTER}&interval=week"), &shop.owner).await.expect(200).clone();
    assert_eq!(by_week["periods"][0]["plan"], Value::Null);
    let pipeline = app.get("/api/v1/pipelines", &shop.owner).await.expect(200)["data"][0]["id"].clone();
    let path = format!("{QUARTER}&pipeline_id={}", pipeline.as_str().unwrap_or_default());
    let one_pipeline = app.get(&path, &shop.owner).await.expect(200).clone();
    assert_eq!(
        (one_pipeline["total"]["plan"].clone(), one_pipeline["periods"][0]["plan"].clone()),
        (null.clone(), null.clone())
    );

    // By owner: the rep's February is 300 of their 600; the owner has no target of their own.
    let by_owner = app.get(&format!("{QUARTER}&group_by=owner"), &shop.owner).await.expect(200).clone();
    let group = |label: &str| {
        by_owner["groups"].as_array().into_iter().flatten().find(|group| group["label"] == label).cloned()
    };
    let rep = group("A sales").unwrap_or_default();
    assert_eq!(
        attainment(&rep["periods"][1]["plan"]),
        [json!("600.00"), json!("50.0"), null.clone(), null.clone()]
    );
    assert_eq!(rep["periods"][0]["plan"], Value::Null);
    assert_eq!(group("Olga Owner").unwrap_or_default()["total"]["plan"], Value::Null);
    assert_eq!(attainment(&by_owner["total"]["plan"])[0], json!("1310.00"));

    // The rep sees their own plan beside their own sales, never the workspace's beside a part of it.
    let own = app.get(QUARTER, &shop.rep_token).await.expect(200).clone();
    assert_eq!(own["total"]["plan"], Value::Null);
    let path = format!("{QUARTER}&owner_id={}", rep_id.as_str().unwrap_or_default());
    let own = app.get(&path, &shop.rep_token).await.expect(200).clone();
    assert_eq!(
        attainment(&own["periods"][1]["plan"]),
        [json!("600.00"), json!("50.0"), null.clone(), null.clone()]
    );

    // CSV carries the targets' columns.
    let csv = app
        .request_with_headers(Method::GET, QUARTER, Some(&shop.owner), &[("accept", "text/csv")], None)
        .await;
    let text = csv.body.as_str().unwrap_or_default().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0]
            .ends_with(",revenue_target,revenue_attainment_percent,deals_target,deals_attainment_percent"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("period,,,2026-02-01,") && line.ends_with(",410.00,100.0,2,100.0")),
        "{text}"
    );
}

#[actix_web::test]
async fn a_segment_limits_the_report_to_its_clients() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let segment = json!({"name": "Bob only", "kind": "static"});
    let segment = app.post("/api/v1/segments", &shop.owner, segment).await.expect(201).clone();
    let members = format!("/api/v1/segments/{}/members", id(&segment));
    app.post(&members, &shop.owner, json!({"client_ids": [shop.bob["id"]]})).await.expect(200);
    let report =
        app.get(&format!("{QUARTER}&segment_id={}", id(&segment)), &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&report["total"]["figures"]), (2, "310.00", &json!("155.00"), 1, 1, 0));
    let unknown = app.get(&format!("{QUARTER}&segment_id={}", uuid::Uuid::now_v7()), &shop.owner).await;
    assert_eq!(
        field_errors(unknown.expect_problem(422, "validation_failed")),
        [("segment_id".into(), "not_found".into())]
    );
}

#[actix_web::test]
async fn a_merge_moves_sales_to_the_client_that_stays() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    let merge = format!("/api/v1/clients/{}/merge", id(&shop.carol));
    app.post(&merge, &shop.owner, json!({"from": [shop.bob["id"]]})).await.expect(200);
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    // Bob's deals are Carol's now: two buyers in all, and Carol first bought in February.
    assert_eq!(figures(&report["total"]["figures"]), (5, "860.00", &json!("215.00"), 2, 1, 1));
    assert_eq!(figures(&report["periods"][2]["figures"]), (2, "200.00", &json!("200.00"), 1, 0, 1));
}

#[actix_web::test]
async fn bad_report_parameters_are_named() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let refused = |path: &'static str| {
        let owner = owner.clone();
        let app = &app;
        async move { field_errors(app.get(path, &owner).await.expect_problem(422, "validation_failed")) }
    };
    let field = |name: &str, code: &str| vec![(name.to_string(), code.to_string())];
    assert_eq!(refused("/api/v1/reports/sales?from=2026-03-01&to=2026-02-01").await, field("to", "range"));
    assert_eq!(
        refused("/api/v1/reports/sales?from=2016-01-01&to=2026-12-31&interval=day").await,
        field("interval", "range")
    );
    assert_eq!(refused("/api/v1/reports/sales?currency=XYZ").await, field("currency", "currency"));
    assert_eq!(refused("/api/v1/reports/sales?from=1800-01-01").await, field("from", "range"));
    assert_eq!(
        refused("/api/v1/reports/sales?from=1900-01-01&to=1900-12-31&compare=previous_year").await,
        field("compare", "range")
    );
    let unknown = app.get("/api/v1/reports/sales?group_by=colour", &owner).await;
    assert_eq!(unknown.status, 400, "{:?}", unknown.body);
    // Without a range: this year to today.
    let report = app.get("/api/v1/reports/sales", &owner).await.expect(200).clone();
    let today = chrono::Utc::now().date_naive();
    assert_eq!(report["to"], json!(today.to_string()));
    assert_eq!(report["from"], json!(format!("{}-01-01", chrono::Datelike::year(&today))));
}

#[actix_web::test]
async fn seasonality_indexes_each_month_against_the_average_month_of_whole_years() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let year = chrono::Datelike::year(&chrono::Utc::now());
    let at = |years_ago: i32, date: &str| format!("{}-{date}T12:00:00Z", year - years_ago);
    won(&app, &shop, &shop.acme, &at(1, "02-10"), json!({"amount": "400"})).await;
    won(&app, &shop, &shop.acme, &at(2, "02-05"), json!({"amount": "100"})).await;
    won(&app, &shop, &shop.bob, &at(2, "07-10"), json!({"amount": "200"})).await;
    // Neither this year nor three years ago is within two whole years.
    won(&app, &shop, &shop.bob, &at(3, "07-10"), json!({"amount": "5000"})).await;
    won(&app, &shop, &shop.bob, &format!("{year}-01-01T12:00:00Z"), json!({"amount": "5000"})).await;

    let report = app
        .get("/api/v1/reports/seasonality?years=2&group_by=client_kind", &shop.owner)
        .await
        .expect(200)
        .clone();
    assert_eq!(report["years"], json!([year - 2, year - 1]));
    let month = |months: &Value, number: usize| {
        let month = &months[number - 1];
        (month["deals"].clone(), month["revenue"].clone(), month["index"].clone())
    };
    assert_eq!(month(&report["months"], 2), (json!(2), json!("500.00"), json!("8.57")));
    assert_eq!(month(&report["months"], 7), (json!(1), json!("200.00"), json!("3.43")));
    assert_eq!(month(&report["months"], 1), (json!(0), json!("0.00"), json!("0.00")));
    assert_eq!(
        report["months"][1]["by_year"],
        json!([{"year": year - 2, "deals": 1, "revenue": "100.00"}, {"year": year - 1, "deals": 1, "revenue": "400.00"}])
    );
    let groups: Vec<_> =
        report["groups"].as_array().into_iter().flatten().map(|group| group["key"].clone()).collect();
    assert_eq!(groups, [json!("company"), json!("person")]);
    assert_eq!(month(&report["groups"][0]["months"], 2), (json!(2), json!("500.00"), json!("12.00")));
    assert_eq!(month(&report["groups"][1]["months"], 7), (json!(1), json!("200.00"), json!("12.00")));

    let csv = app
        .request_with_headers(
            Method::GET,
            "/api/v1/reports/seasonality?years=2",
            Some(&shop.owner),
            &[("accept", "text/csv")],
            None,
        )
        .await;
    let text = csv.body.as_str().unwrap_or_default().to_string();
    assert!(text.lines().any(|line| line == "month,,,2,2,500.00,0,8.57,1,100.00,1,400.00"), "{text}");
    assert_eq!(text.lines().count(), 13);

    // The rep owns none of these deals and sees none of their clients.
    let report = app.get("/api/v1/reports/seasonality?years=2", &shop.rep_token).await.expect(200).clone();
    assert_eq!(month(&report["months"], 2), (json!(0), json!("0.00"), Value::Null));
    let refused = app.get("/api/v1/reports/seasonality?years=11", &shop.owner).await;
    assert_eq!(
        field_errors(refused.expect_problem(422, "validation_failed")),
        [("years".into(), "range".into())]
    );
}

type DealPath = (&'static str, &'static [(&'static str, i32)], Option<&'static str>);

#[actix_web::test]
async fn the_funnel_follows_the_deals_created_in_the_range_through_each_stage() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    // Each deal's amount, its path with the days ago it entered each stage, and why it was lost.
    let paths: [DealPath; 6] = [
        ("100", &[("New", 10), ("Qualified", 8), ("Proposal", 5), ("Won", 1)], None),
        ("100", &[("New", 10), ("Qualified", 9), ("Lost", 5)], Some("Price")),
        ("10", &[("New", 10)], None),
        ("50", &[("New", 10), ("Proposal", 7), ("Lost", 6)], Some("Price")),
        ("30", &[("Qualified", 10), ("Lost", 8)], Some("Timing")),
        // Created in 2020: not in the range.
        ("999", &[("New", 10), ("Lost", 9)], Some("Price")),
    ];
    let mut ids = Vec::new();
    for (amount, path, reason) in paths {
        let first = json!({"title": "Deal", "client_id": shop.acme["id"], "amount": amount, "stage_id": shop.stage(path[0].0)});
        let deal = app.post("/api/v1/deals", &shop.owner, first).await.expect(201).clone();
        for (stage, _) in &path[1..] {
            let mut change = json!({"stage_id": shop.stage(stage)});
            if *stage == "Lost" {
                change["lost_reason"] = json!(reason);
            }
            app.patch(&format!("/api/v1/deals/{}", id(&deal)), &shop.owner, change).await.expect(200);
        }
        for (stage, days_ago) in path {
            app.sql(&format!(
                "UPDATE deal_stage_changes SET changed_at = now() - interval '{days_ago} days' \
                 WHERE deal_id = '{}' AND to_stage_id = {}",
                id(&deal),
                shop.stage(stage).to_string().replace('"', "'")
            ))
            .await;
        }
        ids.push(id(&deal).to_string());
    }
    app.sql(&format!("UPDATE deals SET created_at = '2020-01-01' WHERE id = '{}'", ids[5])).await;

    let report = app.get("/api/v1/reports/funnel", &shop.owner).await.expect(200).clone();
    let counts = ["deals", "open", "won", "lost", "win_rate"].map(|field| report[field].clone());
    assert_eq!(counts, [json!(5), json!(1), json!(1), json!(3), json!("25.0")]);
    let stages: Vec<_> = report["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|stage| {
            let field = |name: &str| stage[name].clone();
            (
                field("name"),
                field("entered"),
                field("reached"),
                field("conversion_to_next"),
                field("conversion_to_won"),
                field("average_days"),
                field("median_days"),
            )
        })
        .collect();
    let null = Value::Null;
    assert_eq!(
        stages,
        [
            (json!("New"), json!(4), json!(5), json!("80.0"), json!("20.0"), json!("2.0"), json!("2.0")),
            (
                json!("Qualified"),
                json!(3),
                json!(4),
                json!("50.0"),
                json!("25.0"),
                json!("3.0"),
                json!("3.0")
            ),
            (json!("Proposal"), json!(2), json!(2), json!("50.0"), json!("50.0"), json!("2.5"), json!("2.5")),
            (
                json!("Negotiation"),
                json!(0),
                json!(1),
                json!("100.0"),
                json!("100.0"),
                null.clone(),
                null.clone()
            ),
            (json!("Won"), json!(1), json!(1), null.clone(), null.clone(), null.clone(), null.clone()),
            (json!("Lost"), json!(3), json!(3), null.clone(), null.clone(), null.clone(), null.clone()),
        ]
    );
    assert_eq!(
        report["lost_reasons"],
        json!([{"reason": "Price", "deals": 2, "amount": "150.00"}, {"reason": "Timing", "deals": 1, "amount": "30.00"}])
    );

    let csv = app
        .request_with_headers(
            Method::GET,
            "/api/v1/reports/funnel",
            Some(&shop.owner),
            &[("accept", "text/csv")],
            None,
        )
        .await;
    let text = csv.body.as_str().unwrap_or_default().to_string();
    assert!(text.lines().any(|line| line == "lost_reason,,Price,,,,,,,,2,150.00"), "{text}");
    assert_eq!(text.lines().count(), 1 + 6 + 2);

    let rep = app.get("/api/v1/reports/funnel", &shop.rep_token).await.expect(200).clone();
    assert_eq!((rep["deals"].clone(), rep["win_rate"].clone()), (json!(0), Value::Null));
    let unknown =
        app.get(&format!("/api/v1/reports/funnel?pipeline_id={}", uuid::Uuid::now_v7()), &shop.owner).await;
    assert_eq!(
        field_errors(unknown.expect_problem(422, "validation_failed")),
        [("pipeline_id".into(), "not_found".into())]
    );
}

/// The workspace's time zone and today there, and the days from `from` to `to` (`today` for today).
fn whole_workspace_range(
    conn: &mut diesel::PgConnection,
    workspace: WorkspaceId,
    from: &str,
    to: &str,
) -> (String, chrono::NaiveDate, crm::domain::report_period::DateRange) {
    let timezone = crm::db::models::Workspace::find(conn, workspace).expect("workspace").timezone;
    let today =
        chrono::Utc::now().with_timezone(&timezone.parse::<chrono_tz::Tz>().expect("zone")).date_naive();
    let to = if to == "today" { today } else { to.parse().expect("to") };
    (timezone, today, crm::domain::report_period::DateRange { from: from.parse().expect("from"), to })
}

/// The funnel's tallies over deals of `pipeline` created from `from` to `to` (`today` for the
/// workspace's today), from the funnel cells and from a scan of the deals, each written out in one
/// order.
async fn funnel_tallies_both_ways(
    app: &TestApp,
    pipeline: uuid::Uuid,
    from: &'static str,
    to: &'static str,
) -> (Vec<String>, Vec<String>) {
    use crm::db::models::funnel::{Cohort, FunnelTallies};
    fn written_out(tallies: &FunnelTallies) -> Vec<String> {
        let mut rows: Vec<String> = tallies
            .reach
            .iter()
            .map(|reach| {
                format!("reach {:?} {} {} {}", reach.furthest, reach.ever_won, reach.ever_lost, reach.deals)
            })
            .chain(tallies.stays.iter().map(|stays| {
                let seconds = stays.seconds.map(|seconds| seconds.normalize());
                format!(
                    "stays {} {} {} {seconds:?} {:?}",
                    stays.stage_id, stays.entered, stays.ended, stays.median_tenths
                )
            }))
            .chain(tallies.statuses.iter().map(|status| format!("status {} {}", status.status, status.deals)))
            .collect();
        rows.sort();
        // Lost reasons in the report's order.
        rows.extend(tallies.lost_reasons.iter().map(|lost| {
            format!(
                "lost {:?} {} {:?}",
                lost.reason,
                lost.deals,
                lost.amount.map(|amount| amount.normalize())
            )
        }));
        rows
    }
    let workspace = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
    app.on_database(move |conn| {
        let (timezone, _, range) = whole_workspace_range(conn, workspace, from, to);
        let scope = crm::db::visibility::ClientScope::whole_workspace(workspace);
        let cohort = Cohort {
            scope: &scope,
            pipeline_id: pipeline,
            created: range,
            timezone,
            owner_id: None,
            team_id: None,
        };
        let cells = crm::db::models::funnel_cell::tallies(conn, &cohort).expect("cells");
        let scanned = FunnelTallies::scanned(conn, &cohort).expect("scan");
        (written_out(&cells.expect("the cells answer for the whole workspace")), written_out(&scanned))
    })
    .await
}

#[actix_web::test]
async fn the_funnel_cells_count_as_a_scan_of_the_deals_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let pipelines = app.get("/api/v1/pipelines", &shop.owner).await.expect(200).clone();
    let first = pipelines["data"][0]["id"].as_str().unwrap_or_default().parse::<uuid::Uuid>().expect("id");
    let stages = json!([{"name": "Call", "kind": "open"}, {"name": "Offer", "kind": "open"},
                        {"name": "Signed", "kind": "won"}, {"name": "Gone", "kind": "lost"}]);
    let second =
        app.post("/api/v1/pipelines", &shop.owner, json!({"name": "Renewals", "stages": stages})).await;
    let second = second.expect(201).clone();
    let second_stage = |name: &str| {
        second["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|stage| stage["name"] == name)
            .cloned()
            .unwrap_or_default()["id"]
            .clone()
    };
    let workspace = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
    // Each deal: the day it was created, and its moves after it (stage, lost reason, days later).
    type Path = (&'static str, &'static str, &'static [(&'static str, Option<&'static str>, i64)]);
    let paths: [Path; 6] = [
        ("New", "2025-03-10", &[("Qualified", None, 2), ("Proposal", None, 5), ("Won", None, 9)]),
        ("New", "2025-03-10", &[("Qualified", None, 1), ("Lost", Some("Price"), 4)]),
        ("Qualified", "2025-07-20", &[("Lost", Some("Timing"), 3)]),
        ("New", "2025-12-31", &[("Proposal", None, 1)]),
        ("New", "2026-01-05", &[("Qualified", None, 6), ("Won", None, 7)]),
        ("New", "2026-02-14", &[]),
    ];
    let mut deals = Vec::new();
    for (first_stage, created, moves) in paths {
        let body = json!({"title": "Deal", "client_id": shop.acme["id"], "amount": "100", "stage_id": shop.stage(first_stage)});
        let deal = app.post("/api/v1/deals", &shop.owner, body).await.expect(201).clone();
        let path = format!("/api/v1/deals/{}", id(&deal));
        for (stage, reason, _) in moves {
            let mut change = json!({"stage_id": shop.stage(stage)});
            if let Some(reason) = reason {
                change["lost_reason"] = json!(reason);
            }
            app.patch(&path, &shop.owner, change).await.expect(200);
        }
        // Back-dated past the API: its new creation day is marked here as the API's writes mark theirs.
        let deal_id = id(&deal).to_string();
        app.sql(&format!("UPDATE deals SET created_at = '{created}T09:00:00Z' WHERE id = '{deal_id}'")).await;
        app.sql(&format!(
            "UPDATE deal_stage_changes AS c SET changed_at = '{created}T09:00:00Z'::timestamptz + \
             (CASE c.to_stage_id WHEN NULL THEN 0 {} ELSE 0 END) * interval '1 day' + interval '3 hours 7 minutes' * \
             (CASE WHEN c.from_stage_id IS NULL THEN 0 ELSE 1 END) WHERE deal_id = '{deal_id}'",
            moves
                .iter()
                .map(|(stage, _, days)| format!(
                    "WHEN {} THEN {days}",
                    shop.stage(stage).to_string().replace('"', "'")
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .await;
        app.on_database(move |conn| {
            use crm::db::models::report_cells::{Cells, mark_deal_days_stale};
            mark_deal_days_stale(conn, Cells::Funnel, workspace, &[deal_id.parse().expect("id")])
                .expect("mark")
        })
        .await;
        deals.push(deal);
    }
    let check = async |app: &TestApp, when: &str| {
        for pipeline in [first, second["id"].as_str().unwrap_or_default().parse().expect("id")] {
            for (from, to) in
                [("2025-01-01", "2025-12-31"), ("2025-03-10", "2026-01-31"), ("2024-01-01", "today")]
            {
                let (cells, scanned) = funnel_tallies_both_ways(app, pipeline, from, to).await;
                assert_eq!(cells, scanned, "{from}..{to} of {pipeline}, {when}");
            }
        }
    };
    let (cells, _) = funnel_tallies_both_ways(&app, first, "2025-01-01", "2025-12-31").await;
    assert!(cells.len() > 8, "the funnel has something to count: {cells:?}");
    check(&app, "before the job").await;
    write_report_cells(&app).await;
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM funnel_cells_stale").await, 0);
    assert!(app.sql_i64("SELECT count(*) AS value FROM funnel_cells WHERE span = 'month'").await > 0);
    check(&app, "from the cells").await;
    // A stage's name says nothing of how far a deal got: renaming it marks no day.
    let renamed =
        format!("/api/v1/pipelines/{first}/stages/{}", shop.stage("Proposal").as_str().unwrap_or_default());
    app.patch(&renamed, &shop.owner, json!({"name": "Offer"})).await.expect(200);
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM funnel_cells_stale").await, 0);

    let deal = |at: usize| format!("/api/v1/deals/{}", id(&deals[at]));
    let first_stages = format!("/api/v1/pipelines/{first}/stages");
    let stage_id = |name: &str| shop.stage(name).as_str().unwrap_or_default().to_string();
    let mut order: Vec<Value> =
        shop.stages.as_array().into_iter().flatten().map(|stage| stage["id"].clone()).collect();
    order.swap(1, 2);
    let changes: Vec<Change> = vec![
        ("a deal moved on", Method::PATCH, deal(5), Some(json!({"stage_id": shop.stage("Proposal")}))),
        (
            "a deal lost",
            Method::PATCH,
            deal(3),
            Some(json!({"stage_id": shop.stage("Lost"), "lost_reason": "Price"})),
        ),
        ("a deal deleted", Method::DELETE, deal(0), None),
        ("a deal restored", Method::POST, format!("{}/restore", deal(0)), Some(json!({}))),
        (
            "a deal moved to another pipeline",
            Method::PATCH,
            deal(4),
            Some(json!({"pipeline_id": second["id"], "stage_id": second_stage("Offer")})),
        ),
        (
            "stages reordered",
            Method::POST,
            format!("{first_stages}/reorder"),
            Some(json!({"stage_ids": order})),
        ),
        (
            "a stage deleted, its deals moved",
            Method::DELETE,
            format!("{first_stages}/{}?move_deals_to={}", stage_id("Negotiation"), stage_id("Proposal")),
            None,
        ),
        (
            "a new deal",
            Method::POST,
            "/api/v1/deals".to_string(),
            Some(
                json!({"title": "New", "client_id": shop.bob["id"], "amount": "5", "stage_id": shop.stage("New")}),
            ),
        ),
        ("a new time zone", Method::PATCH, "/api/v1/workspace".to_string(), Some(json!({"timezone": "UTC"}))),
    ];
    after_each_change(&app, &shop.owner, changes, "funnel_cells_stale", check).await;
}

#[actix_web::test]
async fn the_forecast_weighs_open_deals_by_expected_month_beside_last_years_sales() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    // Days in Moscow, which keeps UTC+3 all year.
    let today = (chrono::Utc::now() + chrono::Duration::hours(3)).date_naive();
    let month = chrono::Datelike::with_day(&today, 1).unwrap_or(today);
    let day = |months: i32, days: i64| {
        let shifted = if months >= 0 {
            month.checked_add_months(chrono::Months::new(months as u32))
        } else {
            month.checked_sub_months(chrono::Months::new(months.unsigned_abs()))
        };
        (shifted.unwrap_or(month) + chrono::Duration::days(days)).to_string()
    };
    let open = |client: &Value, amount: &str, stage: &str, expected: Option<String>, owner: &Value| {
        json!({"title": "Open", "client_id": client["id"], "amount": amount, "stage_id": shop.stage(stage),
               "expected_close_date": expected, "owner_id": owner["id"]})
    };
    let me = app.get("/api/v1/me", &shop.owner).await.expect(200).clone();
    for deal in [
        open(&shop.acme, "1000", "Proposal", Some(day(0, 10)), &me),
        open(&shop.bob, "400", "Qualified", Some(day(1, 5)), &shop.rep),
        open(&shop.carol, "200", "New", Some(day(0, -20)), &me),
        open(&shop.acme, "300", "New", None, &me),
        // Beyond six months.
        open(&shop.acme, "9000", "New", Some(day(8, 0)), &me),
    ] {
        app.post("/api/v1/deals", &shop.owner, deal).await.expect(201);
    }
    // Won: no longer open, but a sale of this month's a year ago.
    let mut sold = open(&shop.bob, "700", "Won", Some(day(0, 10)), &shop.rep);
    sold["closed_at"] = json!(format!("{}T09:00:00Z", day(-12, 3)));
    app.post("/api/v1/deals", &shop.owner, sold).await.expect(201);

    let report = app.get("/api/v1/reports/forecast?group_by=owner", &shop.owner).await.expect(200).clone();
    let figures = |open_deals: i64, amount: &str, weighted: &str| json!({"open_deals": open_deals, "amount": amount, "weighted_amount": weighted, "unconverted_deals": 0});
    assert_eq!(
        (report["from"].clone(), report["months"].as_array().map(Vec::len)),
        (json!(day(0, 0)), Some(6))
    );
    assert_eq!(report["months"][0]["expected"], figures(1, "1000.00", "500.00"));
    assert_eq!(report["months"][0]["last_year"], json!({"deals": 1, "revenue": "700.00"}));
    assert_eq!(report["months"][1]["expected"], figures(1, "400.00", "100.00"));
    assert_eq!(report["months"][1]["last_year"], json!({"deals": 0, "revenue": "0.00"}));
    assert_eq!(report["months"][2]["expected"], figures(0, "0.00", "0.00"));
    assert_eq!(report["overdue"], figures(1, "200.00", "20.00"));
    assert_eq!(report["undated"], figures(1, "300.00", "30.00"));
    let groups: Vec<_> =
        report["groups"].as_array().into_iter().flatten().map(|group| group["label"].clone()).collect();
    assert_eq!(groups, [json!("Olga Owner"), json!("A sales")]);
    let rep = &report["groups"][1];
    assert_eq!(rep["months"][0]["last_year"], json!({"deals": 1, "revenue": "700.00"}));
    assert_eq!(rep["months"][1]["expected"], figures(1, "400.00", "100.00"));
    assert_eq!(rep["overdue"], figures(0, "0.00", "0.00"));

    // The rep's forecast holds their own deals only.
    let mine = app.get("/api/v1/reports/forecast?months=2", &shop.rep_token).await.expect(200).clone();
    assert_eq!(mine["months"][0]["expected"], figures(0, "0.00", "0.00"));
    assert_eq!(mine["months"][1]["expected"], figures(1, "400.00", "100.00"));
    assert_eq!(mine["undated"], figures(0, "0.00", "0.00"));

    let csv = app
        .request_with_headers(
            Method::GET,
            "/api/v1/reports/forecast?months=2",
            Some(&shop.owner),
            &[("accept", "text/csv")],
            None,
        )
        .await;
    let text = csv.body.as_str().unwrap_or_default().to_string();
    assert!(
        text.lines().any(|line| line == format!("month,,,{},1,1000.00,500.00,0,1,700.00,0,0.00", day(0, 0))),
        "{text}"
    );
    assert!(text.lines().any(|line| line == "undated,,,,1,300.00,30.00,0,,,,"), "{text}");
    // A target for this month: what was won of it so far, and with the weighted open deals.
    let this_month = &day(0, 0)[..7];
    let target = json!({"period": this_month, "revenue": "2000", "deals": 4});
    app.post("/api/v1/targets", &shop.owner, target).await.expect(201);
    let now = json!({"title": "Now", "client_id": shop.carol["id"], "amount": "300", "stage_id": shop.stage("Won")});
    app.post("/api/v1/deals", &shop.owner, now).await.expect(201);
    let report = app.get("/api/v1/reports/forecast?months=2", &shop.owner).await.expect(200).clone();
    assert_eq!(report["months"][0]["won"], json!({"deals": 1, "revenue": "300.00"}));
    assert_eq!(
        report["months"][0]["plan"],
        json!({"revenue_target": "2000.00", "revenue_percent": "15.0", "deals_target": 4, "deals_percent": "25.0",
               "projected_revenue_percent": "40.0"})
    );
    assert_eq!(report["months"][1]["plan"], Value::Null);
    let refused = app.get("/api/v1/reports/forecast?months=25", &shop.owner).await;
    assert_eq!(
        field_errors(refused.expect_problem(422, "validation_failed")),
        [("months".into(), "range".into())]
    );
}

/// The activities of the activity report's example, and three deals: `touched` (created March 2,
/// Moscow, touched on March 5), `untouched` (March 3) and `later` (April 3).
struct ActivityHistory {
    touched: Value,
    untouched: Value,
    activities: Vec<Value>,
}

async fn activity_history(app: &TestApp, shop: &Shop) -> ActivityHistory {
    let deal = json!({"title": "Touched", "client_id": shop.acme["id"], "amount": "10"});
    let touched = app.post("/api/v1/deals", &shop.owner, deal.clone()).await.expect(201).clone();
    let untouched = app.post("/api/v1/deals", &shop.owner, deal.clone()).await.expect(201).clone();
    let later = app.post("/api/v1/deals", &shop.owner, deal).await.expect(201).clone();
    for (deal, created_at) in [
        (&touched, "2026-03-02T10:00:00Z"),
        (&untouched, "2026-03-03T10:00:00Z"),
        (&later, "2026-04-03T10:00:00Z"),
    ] {
        // Back-dated past the API, so its new day is marked stale here as a write through the
        // API marks it.
        let id = id(deal).to_string();
        app.sql(&format!("UPDATE deals SET created_at = '{created_at}' WHERE id = '{id}'")).await;
        let workspace = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
        app.on_database(move |conn| {
            let id = id.parse().expect("deal id");
            use crm::db::models::report_cells::{Cells, mark_deal_days_stale};
            mark_deal_days_stale(conn, Cells::Activity, workspace, &[id]).expect("mark")
        })
        .await;
    }
    let done = |kind: &str, client: &Value, completed_at: &str, due_at: Option<&str>, extra: Value| {
        let mut body = json!({"kind": kind, "subject": "Touch", "client_id": client["id"], "status": "done",
                              "completed_at": completed_at, "due_at": due_at});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let mut activities = Vec::new();
    for activity in [
        done(
            "call",
            &shop.acme,
            "2026-03-05T10:00:00Z",
            Some("2026-03-05T12:00:00Z"),
            json!({"direction": "outbound", "reason": "follow_up", "deal_id": touched["id"]}),
        ),
        done(
            "call",
            &shop.acme,
            "2026-03-10T10:00:00Z",
            Some("2026-03-09T10:00:00Z"),
            json!({"direction": "inbound"}),
        ),
        done(
            "meeting",
            &shop.bob,
            "2026-03-12T10:00:00Z",
            Some("2026-03-12T15:00:00Z"),
            json!({"reason": "follow_up", "assignee_id": shop.rep["id"]}),
        ),
        // March 1 in Moscow.
        done("call", &shop.carol, "2026-02-28T22:30:00Z", None, json!({"direction": "outbound"})),
        done("call", &shop.carol, "2026-04-01T10:00:00Z", None, json!({})),
        json!({"kind": "task", "subject": "Late", "due_at": "2026-03-20T10:00:00Z"}),
        json!({"kind": "call", "subject": "Off", "status": "cancelled", "due_at": "2026-03-21T10:00:00Z"}),
    ] {
        activities.push(app.post("/api/v1/activities", &shop.owner, activity).await.expect(201).clone());
    }
    ActivityHistory { touched, untouched, activities }
}

#[actix_web::test]
async fn the_activity_report_counts_what_was_done_due_and_late_in_the_workspaces_days() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    activity_history(&app, &shop).await;

    let march = "/api/v1/reports/activity?from=2026-03-01&to=2026-03-31";
    let report = app.get(&format!("{march}&group_by=owner"), &shop.owner).await.expect(200).clone();
    let total = &report["total"];
    assert_eq!(total["done"], 4);
    let kinds: Vec<_> =
        total["by_kind"].as_array().into_iter().flatten().filter(|kind| kind["done"] != 0).cloned().collect();
    assert_eq!(kinds, [json!({"kind": "call", "done": 3}), json!({"kind": "meeting", "done": 1})]);
    assert_eq!(total["by_direction"], json!({"inbound": 1, "outbound": 2, "unspecified": 1}));
    assert_eq!(total["by_reason"], json!([{"reason": null, "done": 2}, {"reason": "follow_up", "done": 2}]));
    let pace = ["due", "overdue", "overdue_percent", "completed_on_time", "on_time_percent"]
        .map(|field| total[field].clone());
    assert_eq!(pace, [json!(4), json!(1), json!("25.0"), json!(2), json!("50.0")]);
    let touches = [
        "clients_touched",
        "touches_per_client",
        "deals_created",
        "deals_touched",
        "average_days_to_first_activity",
    ]
    .map(|field| total[field].clone());
    assert_eq!(touches, [json!(3), json!("1.33"), json!(2), json!(1), json!("3.0")]);
    let groups: Vec<_> = report["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|group| {
            (group["label"].clone(), group["figures"]["done"].clone(), group["figures"]["due"].clone())
        })
        .collect();
    assert_eq!(groups, [(json!("Olga Owner"), json!(3), json!(3)), (json!("A sales"), json!(1), json!(1))]);

    let mine = app.get(march, &shop.rep_token).await.expect(200).clone();
    assert_eq!((mine["total"]["done"].clone(), mine["total"]["deals_created"].clone()), (json!(1), json!(0)));
    let csv = app
        .request_with_headers(Method::GET, march, Some(&shop.owner), &[("accept", "text/csv")], None)
        .await;
    let text = csv.body.as_str().unwrap_or_default().to_string();
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|line| line == "total,,,4,3,1,0,0,0,0,0,1,2,4,1,25.0,2,50.0,3,1.33,2,1,3.0"),
        "{text}"
    );
}

/// The activity report's tallies over the whole workspace from `from` to `to` (`by_team`: none, by
/// person, by team), from the activity cells and from a scan of the activities, each written out
/// in one order, without empty rows.
async fn activity_tallies_both_ways(
    app: &TestApp,
    from: &'static str,
    to: &'static str,
    by_team: Option<bool>,
) -> (Vec<String>, Vec<String>) {
    use crm::db::models::activity_report::{ActivityScope, ActivityTallies};
    fn written_out(tallies: &ActivityTallies) -> Vec<String> {
        let mut rows: Vec<String> =
            tallies.done.iter().map(|(group, done)| format!("done {group:?} {done:?}")).collect();
        for (name, paced) in
            [("touches", &tallies.touches), ("due", &tallies.due), ("first", &tallies.first_touch)]
        {
            rows.extend(paced.iter().filter(|pace| (pace.value, pace.second, pace.third) != (0, 0, 0)).map(
                |pace| {
                    let days = pace.days.map(|days| format!("{days:.6}"));
                    format!(
                        "{name} {:?} {} {} {} {} {days:?}",
                        pace.group_key, pace.all_groups, pace.value, pace.second, pace.third
                    )
                },
            ));
        }
        rows.sort();
        rows
    }
    let workspace = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
    app.on_database(move |conn| {
        let (timezone, today, range) = whole_workspace_range(conn, workspace, from, to);
        let scope = crm::db::visibility::ClientScope::whole_workspace(workspace);
        let report = ActivityScope { scope: &scope, range, timezone, by_team };
        let cells = crm::db::models::activity_cell::tallies(conn, &report, today).expect("cells");
        let scanned = ActivityTallies::scanned(conn, &report).expect("scan");
        (written_out(&cells.expect("the cells answer for the whole workspace")), written_out(&scanned))
    })
    .await
}

/// Asserts that the cells (stored, and stale days added up) give every tally a scan gives.
async fn assert_cells_match_the_scan(app: &TestApp, when: &str) {
    let ranges = [("2026-03-01", "2026-03-31"), ("2026-02-20", "2026-04-05"), ("2026-01-01", "today")];
    for (from, to) in ranges {
        for by_team in [None, Some(false), Some(true)] {
            let (cells, scanned) = activity_tallies_both_ways(app, from, to, by_team).await;
            assert!(!scanned.is_empty(), "{from}..{to} has something to count");
            assert_eq!(cells, scanned, "{from}..{to} by team {by_team:?}, {when}");
        }
    }
}

/// Writes the report cells of every stale day, as the background job does.
async fn write_report_cells(app: &TestApp) {
    app.on_database(|conn| crm::db::models::report_cells::refresh_due(conn).expect("refresh")).await;
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM activity_cells_stale").await, 0);
}

#[actix_web::test]
async fn the_activity_cells_count_as_a_scan_of_the_activities_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let team = app.post("/api/v1/teams", &shop.owner, json!({"name": "North"})).await.expect(201).clone();
    let rep_path = format!("/api/v1/users/{}", id(&shop.rep));
    app.patch(&rep_path, &shop.owner, json!({"team_id": team["id"]})).await.expect(200);
    let history = activity_history(&app, &shop).await;
    // Today: one done, one planned due in an hour and one a minute ago (overdue, unless today began
    // since), a deal of the rep's created and touched.
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let a_minute_ago = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    let rep_deal = json!({"title": "Today", "client_id": shop.bob["id"], "owner_id": shop.rep["id"]});
    let rep_deal = app.post("/api/v1/deals", &shop.owner, rep_deal).await.expect(201).clone();
    for activity in [
        json!({"kind": "call", "subject": "Now", "status": "done", "client_id": shop.bob["id"],
               "deal_id": rep_deal["id"], "assignee_id": shop.rep["id"]}),
        json!({"kind": "meeting", "subject": "Soon", "due_at": in_an_hour, "client_id": shop.carol["id"]}),
        json!({"kind": "task", "subject": "Just late", "due_at": a_minute_ago, "assignee_id": shop.rep["id"]}),
    ] {
        app.post("/api/v1/activities", &shop.owner, activity).await.expect(201);
    }
    // Every day stale: the stale days are added up from the activities.
    assert_cells_match_the_scan(&app, "before the job").await;
    write_report_cells(&app).await;
    assert!(app.sql_i64("SELECT count(*) AS value FROM activity_cells WHERE span = 'month'").await > 0);
    assert_cells_match_the_scan(&app, "from the cells").await;

    let activity = |at: usize| format!("/api/v1/activities/{}", id(&history.activities[at]));
    let late = format!("{}/complete", activity(5));
    let changes: Vec<Change> = vec![
        ("a late task done", Method::POST, late, Some(json!({}))),
        ("an activity deleted", Method::DELETE, activity(1), None),
        ("an activity restored", Method::POST, format!("{}/restore", activity(1)), None),
        (
            "an activity given to another",
            Method::PATCH,
            activity(4),
            Some(json!({"assignee_id": shop.rep["id"]})),
        ),
        (
            "an activity moved to another day",
            Method::PATCH,
            activity(3),
            Some(json!({"completed_at": "2026-03-15T10:00:00Z"})),
        ),
        (
            "a deal given to another",
            Method::PATCH,
            format!("/api/v1/deals/{}", id(&history.touched)),
            Some(json!({"owner_id": shop.rep["id"]})),
        ),
        ("a deal deleted", Method::DELETE, format!("/api/v1/deals/{}", id(&history.untouched)), None),
        (
            "clients merged",
            Method::POST,
            format!("/api/v1/clients/{}/merge", id(&shop.bob)),
            Some(json!({"from": [shop.carol["id"]]})),
        ),
        ("a person moved to no team", Method::PATCH, rep_path.clone(), Some(json!({"team_id": null}))),
        ("a new time zone", Method::PATCH, "/api/v1/workspace".to_string(), Some(json!({"timezone": "UTC"}))),
    ];
    after_each_change(&app, &shop.owner, changes, "activity_cells_stale", assert_cells_match_the_scan).await;
}

/// A write through the API: what it is, and its method, path and body.
type Change = (&'static str, Method, String, Option<Value>);

/// Makes each of `changes` as `owner`, and checks after each that it marked days stale in
/// `stale_table` and that `check` holds both with those days added up from the records and once
/// the job has written their cells.
async fn after_each_change(
    app: &TestApp,
    owner: &str,
    changes: Vec<Change>,
    stale_table: &str,
    check: impl AsyncFn(&TestApp, &str),
) {
    for (change, method, path, body) in changes {
        let answer = app.request(method, &path, Some(owner), body.as_ref()).await;
        assert!(answer.status < 300, "{change}: {}", answer.status);
        let stale = app.sql_i64(&format!("SELECT count(*) AS value FROM {stale_table}")).await;
        assert!(stale > 0, "{change} marks days");
        check(app, &format!("after {change}, its days stale")).await;
        write_report_cells(app).await;
        check(app, &format!("after {change}, from the cells")).await;
    }
}

#[actix_web::test]
async fn concurrent_writes_to_one_clients_deals_keep_its_sales_exact() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let mut deals = Vec::new();
    for _ in 0..8 {
        deals.push(won(&app, &shop, &shop.acme, "2026-02-10T10:00:00Z", json!({"amount": "100"})).await);
    }
    // Each write rewrites all of the client's sales lines: at once, they must take turns.
    let paths: Vec<String> = deals.iter().map(|deal| format!("/api/v1/deals/{}", id(deal))).collect();
    let writes = paths.iter().map(|path| app.patch(path, &shop.owner, json!({"amount": "250"})));
    for answer in futures_util::future::join_all(writes).await {
        answer.expect(200);
    }
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&report["total"]["figures"]), (8, "2000.00", &json!("250.00"), 1, 1, 0));
}

/// A purchase: the day and the amount.
type Purchase = (&'static str, &'static str);

/// new clients, buyers, first purchases, repeat buyers, reactivated, became dormant, became lost,
/// deals, revenue, clients at end, customers at end, revenue to date.
fn base(figures: &Value) -> Vec<Value> {
    [
        "new_clients",
        "buyers",
        "first_purchases",
        "repeat_buyers",
        "reactivated",
        "became_dormant",
        "became_lost",
        "deals",
        "revenue",
        "clients_at_end",
        "customers_at_end",
        "revenue_to_date",
    ]
    .iter()
    .map(|name| figures[*name].clone())
    .collect()
}

#[actix_web::test]
async fn the_clients_report_follows_the_base_from_first_purchase_to_sleep_return_and_loss() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.patch("/api/v1/workspace", &owner, json!({"timezone": "UTC"})).await.expect(200);
    let (rep, rep_token) = app.user_seeing("sales", "own").await;
    let pipelines = app.get("/api/v1/pipelines", &owner).await.expect(200).clone();
    let stages = pipelines["data"][0]["stages"].as_array().cloned().unwrap_or_default();
    let won_stage = stages.iter().find(|stage| stage["kind"] == "won").map(|stage| stage["id"].clone());
    // Each client, the day it was created, and its purchases (day, amount).
    let history: [(&str, &str, &[Purchase]); 6] = [
        (
            "A",
            "2025-06-01",
            &[("2024-10-01", "150"), ("2025-12-10", "100"), ("2026-01-05", "200"), ("2026-03-20", "300")],
        ),
        ("B", "2026-01-15", &[("2026-01-20", "50"), ("2026-01-25", "70")]),
        ("C", "2026-02-10", &[]),
        ("D", "2025-01-01", &[("2025-11-01", "400")]),
        ("E", "2026-03-05", &[]),
        ("F", "2024-01-01", &[("2024-06-01", "500")]),
    ];
    for (name, created, purchases) in history {
        let owner_id = if name == "B" { rep["id"].clone() } else { Value::Null };
        let body = json!({"kind": "company", "name": name, "owner_id": owner_id});
        let client = app.post("/api/v1/clients", &owner, body).await.expect(201).clone();
        app.sql(&format!(
            "UPDATE clients SET created_at = '{created}T10:00:00Z' WHERE id = '{}'",
            id(&client)
        ))
        .await;
        for (day, amount) in purchases {
            let deal = json!({"title": "Order", "client_id": client["id"], "amount": amount, "stage_id": won_stage,
                              "closed_at": format!("{day}T12:00:00Z"), "owner_id": owner_id});
            app.post("/api/v1/deals", &owner, deal).await.expect(201);
        }
        if name == "E" {
            let path = format!("/api/v1/clients/{}", id(&client));
            app.request(Method::DELETE, &path, Some(&owner), None).await.expect(204);
        }
    }

    let path = "/api/v1/reports/clients?from=2026-01-01&to=2026-03-31&dormant_days=30&lost_days=60";
    let report = app.get(path, &owner).await.expect(200).clone();
    let figures = |values: Value| values.as_array().cloned().unwrap_or_default();
    // January: B is new and buys twice; A buys again 26 days after December, not yet dormant.
    assert_eq!(
        base(&report["periods"][0]["figures"]),
        figures(json!([1, 2, 1, 2, 0, 0, 0, 3, "320.00", 4, 4, "1470.00"]))
    );
    // February: C is new; A (30 days after January 5) and B (after January 25) fall asleep.
    assert_eq!(
        base(&report["periods"][1]["figures"]),
        figures(json!([1, 0, 0, 0, 0, 2, 0, 0, "0.00", 5, 4, "1470.00"]))
    );
    // March: A comes back after 74 days; 60 days after their January purchases both were lost.
    // E, created and deleted, is no client of the base.
    assert_eq!(
        base(&report["periods"][2]["figures"]),
        figures(json!([0, 1, 0, 1, 1, 0, 2, 1, "300.00", 5, 4, "1770.00"]))
    );
    assert_eq!(base(&report["total"]), figures(json!([2, 2, 1, 2, 1, 2, 2, 4, "620.00", 5, 4, "1770.00"])));
    // The year to March 31: A, B and D bought 6 deals for 1,120; of the year before's buyers (A
    // and F) F never came back: churn 50%, a lifetime of 2 years.
    assert_eq!(
        report["lifetime_value"],
        json!({"basis_from": "2025-04-01", "basis_to": "2026-03-31", "average_order": "186.67",
               "purchases_per_year": "2.00", "annual_churn_percent": "50.0", "expected_lifetime_years": "2.00",
               "estimate": "746.67"})
    );

    // The rep's base is B alone, and so is the rep's as an owner filter.
    let mine = app.get(path, &rep_token).await.expect(200).clone();
    assert_eq!(base(&mine["total"]), figures(json!([1, 1, 1, 1, 0, 1, 1, 2, "120.00", 1, 1, "120.00"])));
    let theirs = format!("{path}&owner_id={}", id(&rep));
    assert_eq!(base(&app.get(&theirs, &owner).await.expect(200)["total"]), base(&mine["total"]));

    let csv =
        app.request_with_headers(Method::GET, path, Some(&owner), &[("accept", "text/csv")], None).await;
    let text = csv.body.as_str().unwrap_or_default().to_string();
    assert!(
        text.lines().any(|line| line == "period,2026-02-01,2026-02-28,1,0,0,0,0,2,0,0,0.00,0,5,4,1470.00"),
        "{text}"
    );

    for (query, field) in [("dormant_days=0", "dormant_days"), ("dormant_days=30&lost_days=30", "lost_days")]
    {
        let refused = app.get(&format!("/api/v1/reports/clients?{query}"), &owner).await;
        assert_eq!(
            field_errors(refused.expect_problem(422, "validation_failed")),
            [(field.into(), "range".into())]
        );
    }
    // Another workspace's base is empty.
    let rival = app.rival_token().await;
    let empty = app.get(path, &rival).await.expect(200).clone();
    assert_eq!(base(&empty["total"]), figures(json!([0, 0, 0, 0, 0, 0, 0, 0, "0.00", 0, 0, "0.00"])));
}

/// The clients report's tallies and lifetime basis over the whole workspace from `from` to `to`
/// (`today` for the workspace's today) by `interval`, at the default thresholds, from the client
/// cells and from a scan of the sales lines, each written out in one order, without empty rows.
async fn client_tallies_both_ways(
    app: &TestApp,
    from: &'static str,
    to: &'static str,
    interval: &'static str,
) -> (Vec<String>, Vec<String>) {
    use crm::db::models::client_dynamics::{
        DynamicsQuery, DynamicsTally, LifetimeBasis, dynamics_tallies, lifetime_basis,
    };
    fn written_out(tallies: &[DynamicsTally], basis: &LifetimeBasis) -> Vec<String> {
        let mut rows: Vec<String> = tallies
            .iter()
            .filter(|tally| {
                (tally.clients, tally.deals, tally.unconverted_deals, tally.revenue) != (0, 0, 0, None)
            })
            .map(|tally| {
                format!(
                    "{} before {} {:?} whole {} clients {} deals {} unconverted {} revenue {:?}",
                    tally.kind,
                    tally.before,
                    tally.period,
                    tally.whole_range,
                    tally.clients,
                    tally.deals,
                    tally.unconverted_deals,
                    tally.revenue.map(|revenue| revenue.normalize())
                )
            })
            .collect();
        rows.sort();
        rows.push(format!(
            "lifetime deals {} priced {} revenue {:?} buyers {} earlier {} retained {}",
            basis.deals,
            basis.priced_deals,
            basis.revenue.map(|revenue| revenue.normalize()),
            basis.buyers,
            basis.earlier_buyers,
            basis.retained_buyers
        ));
        rows
    }
    let workspace = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
    app.on_database(move |conn| {
        let (timezone, today, range) = whole_workspace_range(conn, workspace, from, to);
        let scope = crm::db::visibility::ClientScope::whole_workspace(workspace);
        let query = DynamicsQuery {
            scope: &scope,
            timezone,
            range,
            interval: interval.parse().expect("interval"),
            today,
            dormant_days: 90,
            lost_days: 365,
            owner_id: None,
            clients: None,
        };
        let (tallies, basis) = crm::db::models::client_cell::report(conn, &query)
            .expect("cells")
            .expect("the cells answer for the whole workspace");
        let scanned = dynamics_tallies(conn, &query).expect("scan");
        let scanned_basis = lifetime_basis(conn, &query).expect("scan");
        (written_out(&tallies, &basis), written_out(&scanned, &scanned_basis))
    })
    .await
}

/// Asserts that the client cells (stored, and stale days added up) give every tally a scan gives.
async fn assert_client_cells_match_the_scan(app: &TestApp, when: &str) {
    let reports = [
        ("2025-01-01", "2025-12-31", "month"),
        ("2025-11-15", "2026-02-10", "week"),
        ("2024-01-01", "today", "quarter"),
        ("2025-06-10", "2025-09-20", "day"),
        ("2025-02-11", "2026-12-31", "year"),
    ];
    for (from, to, interval) in reports {
        let (cells, scanned) = client_tallies_both_ways(app, from, to, interval).await;
        assert!(scanned.len() > 1, "{from}..{to} has something to count");
        assert_eq!(cells, scanned, "{from}..{to} by {interval}, {when}");
    }
}

#[actix_web::test]
async fn the_client_cells_count_as_a_scan_of_the_sales_after_every_kind_of_change() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let dan = app.post("/api/v1/clients", &shop.owner, json!({"kind": "company", "name": "Dan"})).await;
    let dan = dan.expect(201).clone();
    let workspace = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
    // Created before its purchases, back-dated past the API: its new day is marked here as the
    // API's writes mark theirs.
    for (client, created_at) in [(&shop.acme, "2024-09-01"), (&dan, "2024-06-01")] {
        let id = id(client).to_string();
        app.sql(&format!("UPDATE clients SET created_at = '{created_at}T10:00:00Z' WHERE id = '{id}'")).await;
        app.on_database(move |conn| {
            let id = id.parse().expect("client id");
            crm::db::models::client_cell::mark_clients_stale(conn, workspace, &[id]).expect("mark")
        })
        .await;
    }
    // Acme: a first purchase, a repeat, a return after 142 days and one after 457 (dormant and lost
    // between); Bob: two deals on one day, then a return; Carol: one in yen without a rate; Dan:
    // one purchase, dormant and lost since.
    let mut deals = Vec::new();
    for (client, day, fields) in [
        (&shop.acme, "2024-11-05", json!({"amount": "100"})),
        (&shop.acme, "2025-01-10", json!({"amount": "150"})),
        (&shop.acme, "2025-06-01", json!({"amount": "80"})),
        (&shop.acme, "2026-09-01", json!({"amount": "220"})),
        (&shop.bob, "2025-03-15", json!({"amount": "40"})),
        (&shop.bob, "2025-03-15", json!({"amount": "60"})),
        (&shop.bob, "2025-12-20", json!({"amount": "75"})),
        (&shop.carol, "2025-10-01", json!({"amount": "500"})),
        (&shop.carol, "2025-10-20", json!({"amount": "5000", "currency": "JPY"})),
        (&dan, "2024-07-01", json!({"amount": "900"})),
    ] {
        deals.push(won(&app, &shop, client, &format!("{day}T12:00:00Z"), fields).await);
    }
    // Every day stale: the stale days are added up from the records.
    assert_client_cells_match_the_scan(&app, "before the job").await;
    write_report_cells(&app).await;
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM client_cells_stale").await, 0);
    assert!(app.sql_i64("SELECT count(*) AS value FROM client_cells WHERE span = 'month'").await > 0);
    assert_client_cells_match_the_scan(&app, "from the cells").await;

    // A write that changes no sale marks no day; one that changes what a client bought on a day
    // marks that day alone, for the sales and the client cells.
    let stale_days = async |cells: &str| {
        app.sql_i64(&format!("SELECT count(DISTINCT day) AS value FROM {cells}_cells_stale")).await
    };
    let open = json!({"title": "Open", "client_id": shop.acme["id"], "amount": "10"});
    app.post("/api/v1/deals", &shop.owner, open).await.expect(201);
    assert_eq!((stale_days("sales").await, stale_days("client").await), (0, 0), "an open deal");
    app.patch(&format!("/api/v1/deals/{}", id(&deals[2])), &shop.owner, json!({"amount": "90"}))
        .await
        .expect(200);
    assert_eq!((stale_days("sales").await, stale_days("client").await), (1, 1), "a sale's amount");
    assert_client_cells_match_the_scan(&app, "after a sale's amount changed, its day stale").await;
    write_report_cells(&app).await;

    let deal = |at: usize| format!("/api/v1/deals/{}", id(&deals[at]));
    let client = |client: &Value| format!("/api/v1/clients/{}", id(client));
    let dan_again = json!({"title": "Again", "client_id": dan["id"], "amount": "30", "stage_id": shop.stage("Won"),
                           "closed_at": "2025-05-01T12:00:00Z"});
    let changes: Vec<Change> = vec![
        ("a deal won", Method::POST, "/api/v1/deals".to_string(), Some(dan_again)),
        (
            "a win moved to another day",
            Method::PATCH,
            deal(1),
            Some(json!({"closed_at": "2025-02-20T12:00:00Z"})),
        ),
        ("a deal deleted", Method::DELETE, deal(6), None),
        ("a deal restored", Method::POST, format!("{}/restore", deal(6)), Some(json!({}))),
        ("a deal reopened", Method::PATCH, deal(2), Some(json!({"stage_id": shop.stage("Proposal")}))),
        ("a client deleted", Method::DELETE, client(&dan), None),
        ("a client restored", Method::POST, format!("{}/restore", client(&dan)), Some(json!({}))),
        (
            "clients merged",
            Method::POST,
            format!("{}/merge", client(&shop.bob)),
            Some(json!({"from": [shop.carol["id"]]})),
        ),
        (
            "a new client",
            Method::POST,
            "/api/v1/clients".to_string(),
            Some(json!({"kind": "company", "name": "Eve"})),
        ),
        ("a new time zone", Method::PATCH, "/api/v1/workspace".to_string(), Some(json!({"timezone": "UTC"}))),
    ];
    after_each_change(&app, &shop.owner, changes, "client_cells_stale", assert_client_cells_match_the_scan)
        .await;
}

/// Reports the sales cells answer, each a way of picking them: whole months, days, weeks, a quarter
/// and a year made of months, groups, a filter on the grouping, a comparison, seasonality.
const CELL_ANSWERED: &[&str] = &[
    "/api/v1/reports/sales?from=2025-01-01&to=2026-03-31",
    "/api/v1/reports/sales?from=2026-01-15&to=2026-03-20&interval=day&group_by=product_group",
    "/api/v1/reports/sales?from=2026-01-01&to=2026-03-31&interval=week&group_by=owner",
    "/api/v1/reports/sales?from=2025-01-01&to=2026-12-31&interval=quarter&group_by=product_group",
    "/api/v1/reports/sales?from=2025-02-11&to=2026-12-31&interval=year&group_by=client_kind",
    "/api/v1/reports/sales?from=2026-01-01&to=2026-03-31&product_group=Software",
    "/api/v1/reports/sales?from=2026-01-01&to=2026-03-31&group_by=product_group&product_group=Hardware",
    "/api/v1/reports/sales?from=2026-01-01&to=2026-03-31&compare=previous_year&group_by=pipeline",
    "/api/v1/reports/sales?from=2026-02-01&to=2026-03-31&compare=previous_period&interval=week",
    "/api/v1/reports/seasonality?years=3&group_by=product_group",
];

async fn cell_answered(app: &TestApp, shop: &Shop) -> Vec<Value> {
    let mut reports = Vec::new();
    for path in CELL_ANSWERED {
        reports.push(app.get(path, &shop.owner).await.expect(200).clone());
    }
    reports
}

/// Writes the cells of every stale day, as the background job does.
async fn write_sales_cells(app: &TestApp) {
    let written =
        app.on_database(|conn| crm::db::models::report_cells::refresh_due(conn).expect("refresh")).await;
    assert!(written > 0, "the job had stale days to write");
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM sales_cells_stale").await, 0);
}

/// Every figure the same; only `as_of` moves on.
fn assert_same_reports(before: &[Value], after: &[Value], when: &str) {
    let figures = |report: &Value| {
        let mut report = report.clone();
        report.as_object_mut().map(|fields| fields.remove("as_of"));
        report
    };
    for ((path, before), after) in CELL_ANSWERED.iter().zip(before).zip(after) {
        assert_eq!(figures(before), figures(after), "{path} {when}");
    }
}

#[actix_web::test]
async fn the_sales_cells_answer_as_the_lines_do_and_stale_days_are_never_behind() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let restored = sales(&app, &shop).await;
    // Until the job writes them every day is stale: these come from the lines alone.
    let from_lines = cell_answered(&app, &shop).await;
    assert_eq!(figures(&from_lines[0]["total"]["figures"]), (6, "1260.00", &json!("252.00"), 3, 3, 1));
    write_sales_cells(&app).await;
    assert!(app.sql_i64("SELECT count(*) AS value FROM sales_cells WHERE span = 'month'").await > 0);
    assert_same_reports(&from_lines, &cell_answered(&app, &shop).await, "from the cells");

    // A change makes its days stale; reports add them up from the lines beside the others' cells.
    let path = format!("/api/v1/deals/{}", id(&restored));
    app.request(Method::DELETE, &path, Some(&shop.owner), None).await.expect(204);
    assert!(app.sql_i64("SELECT count(*) AS value FROM sales_cells_stale").await > 0);
    let mixed = cell_answered(&app, &shop).await;
    assert_eq!(figures(&mixed[0]["total"]["figures"]), (5, "1060.00", &json!("265.00"), 3, 3, 1));
    write_sales_cells(&app).await;
    assert_same_reports(&mixed, &cell_answered(&app, &shop).await, "after a delete, from the cells");

    // A new time zone moves every sale to its day there: Bob's euro deal, won at 22:30 UTC on
    // January 31, is a January sale in UTC.
    app.patch("/api/v1/workspace", &shop.owner, json!({"timezone": "UTC"})).await.expect(200);
    let moved = cell_answered(&app, &shop).await;
    let january = &moved[0]["periods"][12]["figures"];
    assert_eq!(figures(january), (2, "360.00", &json!("180.00"), 2, 1, 0));
    write_sales_cells(&app).await;
    assert_same_reports(&moved, &cell_answered(&app, &shop).await, "after a new time zone, from the cells");
}

#[actix_web::test]
async fn two_workers_write_the_sales_cells_of_each_workspace_once_without_waiting() {
    use crm::db::models::report_cells::{refresh_due, refresh_workspace};
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    sales(&app, &shop).await;
    // Days stale for the sales cells, for the activity and funnel cells (the deals' creation days)
    // and for the client cells (the clients' creation days, the purchases' and when dormancy runs
    // out).
    let mut stale = 0;
    for table in ["sales_cells_stale", "activity_cells_stale", "client_cells_stale", "funnel_cells_stale"] {
        stale += app.sql_i64(&format!("SELECT count(DISTINCT day) AS value FROM {table}")).await;
    }
    let (other, _) = app.create_other_workspace("Second", "second@example.com", "second-password").await;
    app.sql(&format!("INSERT INTO sales_cells_stale (workspace_id, day) VALUES ('{other}', '2026-01-01')"))
        .await;
    let ours = WorkspaceId(app.workspace_id.parse().expect("workspace id"));
    let (first, second, third) = app
        .overlapping_claims(
            move |conn| refresh_workspace(conn, ours).expect("refresh"),
            |conn| refresh_due(conn).expect("refresh"),
        )
        .await;
    assert_eq!((first, second, third), (stale as usize, 1, 0), "each workspace's days written once");
    let report = app.get(QUARTER, &shop.owner).await.expect(200).clone();
    assert_eq!(figures(&report["total"]["figures"]), (5, "860.00", &json!("215.00"), 3, 2, 1));
}
