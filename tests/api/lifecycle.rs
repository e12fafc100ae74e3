//! A client's lifecycle stage moves by itself as its purchases say, unless a user set it; each move
//! is in the client's history.

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::field_errors;

fn id(record: &Value) -> &str {
    record["id"].as_str().unwrap_or_default()
}

/// The default pipeline's won stage.
async fn won_stage(app: &TestApp, token: &str) -> Value {
    let pipelines = app.get("/api/v1/pipelines", token).await.expect(200).clone();
    let stages = pipelines["data"][0]["stages"].as_array().cloned().unwrap_or_default();
    stages
        .into_iter()
        .find(|stage| stage["kind"] == "won")
        .map(|stage| stage["id"].clone())
        .unwrap_or_default()
}

async fn sale(app: &TestApp, token: &str, client: &Value, won: &Value, days_ago: i64) -> Value {
    let closed_at = (Utc::now() - TimeDelta::days(days_ago)).to_rfc3339();
    let deal = json!({"title": "Sale", "client_id": client["id"], "amount": "100", "stage_id": won, "closed_at": closed_at});
    app.post("/api/v1/deals", token, deal).await.expect(201).clone()
}

async fn stage_of(app: &TestApp, token: &str, client: &Value) -> (String, bool) {
    let card = app.get(&format!("/api/v1/clients/{}", id(client)), token).await.expect(200).clone();
    (card["lifecycle_stage"].as_str().unwrap_or_default().to_string(), card["lifecycle_auto"] == true)
}

#[actix_web::test]
async fn purchases_move_a_client_from_lead_to_customer_to_loyal_and_each_move_is_in_its_history() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let won = won_stage(&app, &owner).await;
    let client = json!({"kind": "company", "name": "Acme"});
    let client = app.post("/api/v1/clients", &owner, client).await.expect(201).clone();
    assert_eq!(
        (client["lifecycle_stage"].clone(), client["lifecycle_auto"].clone()),
        (json!("lead"), json!(true))
    );

    let first = sale(&app, &owner, &client, &won, 1).await;
    assert_eq!(stage_of(&app, &owner, &client).await, ("customer".into(), true));
    sale(&app, &owner, &client, &won, 1).await;
    assert_eq!(stage_of(&app, &owner, &client).await.0, "customer");
    sale(&app, &owner, &client, &won, 1).await;
    assert_eq!(stage_of(&app, &owner, &client).await.0, "loyal", "the third purchase, the default count");

    // Each move is an update of the client by no user, with the stage before and after.
    let history =
        app.get(&format!("/api/v1/clients/{}/history", id(&client)), &owner).await.expect(200).clone();
    let moves: Vec<(Value, Value)> = history["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|event| event["action"] == "updated" && event["changes"].get("lifecycle_stage").is_some())
        .map(|event| (event["changes"]["lifecycle_stage"].clone(), event["actor_id"].clone()))
        .collect();
    assert_eq!(
        moves,
        [
            (json!({"from": "customer", "to": "loyal"}), Value::Null),
            (json!({"from": "lead", "to": "customer"}), Value::Null),
        ]
    );

    // A won deal deleted takes the purchase back: two purchases are a customer's.
    let deal = format!("/api/v1/deals/{}", id(&first));
    app.request(actix_web::http::Method::DELETE, &deal, Some(&owner), None).await.expect(204);
    assert_eq!(stage_of(&app, &owner, &client).await.0, "customer");
}

#[actix_web::test]
async fn a_stage_set_by_hand_stays_until_handed_back_and_old_purchases_churn_a_customer() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let won = won_stage(&app, &owner).await;
    let settings = json!({"lifecycle": {"loyal_after_purchases": 2, "churned_after_days": 90}});
    let workspace = app.patch("/api/v1/workspace", &owner, settings).await.expect(200).clone();
    assert_eq!(workspace["lifecycle"], json!({"loyal_after_purchases": 2, "churned_after_days": 90}));
    for (change, field) in [
        (json!({"loyal_after_purchases": 1}), "lifecycle.loyal_after_purchases"),
        (json!({"churned_after_days": 10}), "lifecycle.churned_after_days"),
    ] {
        let refused = app.patch("/api/v1/workspace", &owner, json!({"lifecycle": change})).await;
        assert_eq!(field_errors(refused.expect(422)), [(field.to_string(), "range".to_string())]);
    }

    // Named at creation, the stage is the user's: purchases leave it.
    let partner = json!({"kind": "company", "name": "Partner", "lifecycle_stage": "prospect"});
    let partner = app.post("/api/v1/clients", &owner, partner).await.expect(201).clone();
    sale(&app, &owner, &partner, &won, 1).await;
    assert_eq!(stage_of(&app, &owner, &partner).await, ("prospect".into(), false));
    // Handed back, it is what the purchases say at once.
    let path = format!("/api/v1/clients/{}", id(&partner));
    let handed = app.patch(&path, &owner, json!({"lifecycle_auto": true})).await.expect(200).clone();
    assert_eq!(
        (handed["lifecycle_stage"].clone(), handed["lifecycle_auto"].clone()),
        (json!("customer"), json!(true))
    );
    // Set again by a PATCH, it is the user's again.
    let set = app.patch(&path, &owner, json!({"lifecycle_stage": "churned"})).await.expect(200).clone();
    assert_eq!(
        (set["lifecycle_stage"].clone(), set["lifecycle_auto"].clone()),
        (json!("churned"), json!(false))
    );
    sale(&app, &owner, &partner, &won, 1).await;
    assert_eq!(stage_of(&app, &owner, &partner).await, ("churned".into(), false));

    // A purchase older than the workspace allows makes a churned client of a new one at once; a
    // customer whose last purchase ages past it is churned by the hourly refresh.
    let lapsed = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Lapsed"})).await;
    let lapsed = lapsed.expect(201).clone();
    sale(&app, &owner, &lapsed, &won, 200).await;
    assert_eq!(stage_of(&app, &owner, &lapsed).await.0, "churned");
    let aging = app.post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Aging"})).await;
    let aging = aging.expect(201).clone();
    sale(&app, &owner, &aging, &won, 80).await;
    assert_eq!(stage_of(&app, &owner, &aging).await.0, "customer");
    // Twenty days later, as far as its stats know.
    let old = Utc::now() - TimeDelta::days(100);
    app.sql(&format!(
        "UPDATE clients SET stats_last_purchase_at = '{}' WHERE id = '{}'",
        old.to_rfc3339(),
        id(&aging)
    ))
    .await;
    app.sql("UPDATE workspaces SET stats_refreshed_at = NULL").await;
    app.on_database(|conn| {
        while crm::db::models::client_stats::ClientStats::refresh_next_due(conn).expect("the refresh") {}
    })
    .await;
    assert_eq!(stage_of(&app, &owner, &aging).await.0, "churned");
    assert_eq!(stage_of(&app, &owner, &partner).await.0, "churned", "set by hand, left alone");
    // A purchase brings a churned client back.
    sale(&app, &owner, &aging, &won, 0).await;
    assert_eq!(stage_of(&app, &owner, &aging).await.0, "loyal", "two purchases, the workspace's count");
}
