//! `GET /clients/duplicates`: pairs of clients that look like one.

use serde_json::{Value, json};

use crate::support::TestApp;

/// Each pair as (first client's name, second's, reasons, score).
fn pairs(page: &Value) -> Vec<(String, String, Value, Value)> {
    page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| {
            let name = |n: usize| pair["clients"][n]["display_name"].as_str().unwrap_or_default().to_string();
            (name(0), name(1), pair["reasons"].clone(), pair["score"].clone())
        })
        .collect()
}

#[actix_web::test]
async fn pairs_share_a_key_and_one_clients_pairs_also_a_name() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let create = |body: Value| {
        let (app, owner) = (&app, owner.clone());
        async move { app.post("/api/v1/clients?allow_duplicate=true", &owner, body).await.expect(201).clone() }
    };
    let acme = create(
        json!({"kind": "company", "name": "Acme Trading", "emails": [{"value": "office@acme.example"}]}),
    )
    .await;
    create(json!({"kind": "company", "name": "ACME  trading", "emails": [{"value": "OFFICE@acme.example"}],
                  "tax_id": "7707083893"}))
    .await;
    create(json!({"kind": "company", "name": "Acme Tradin", "tax_id": "7707083893", "phones": [{"value": "+7 912 345-67-89"}]}))
        .await;
    create(json!({"kind": "company", "name": "Zeta", "phones": [{"value": "+79123456789"}]})).await;
    create(json!({"kind": "company", "name": "Omega Foods"})).await;

    // The whole base: pairs sharing a key, in the order of their ids, a page at a time.
    let all = app.get("/api/v1/clients/duplicates", &owner).await.expect(200).clone();
    assert_eq!(
        pairs(&all),
        [
            ("Acme Trading".into(), "ACME  trading".into(), json!(["email"]), json!(0.95)),
            ("ACME  trading".into(), "Acme Tradin".into(), json!(["tax_id"]), json!(1.0)),
            ("Acme Tradin".into(), "Zeta".into(), json!(["phone"]), json!(0.9)),
        ]
    );
    assert_eq!(all["next_cursor"], Value::Null);
    let first = app.get("/api/v1/clients/duplicates?limit=2", &owner).await.expect(200).clone();
    assert_eq!(pairs(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap_or_default();
    let rest = app.get(&format!("/api/v1/clients/duplicates?limit=2&cursor={cursor}"), &owner).await;
    assert_eq!(pairs(rest.expect(200)), pairs(&all)[2..]);

    // One client's: its keys and its name, the likeliest first.
    let path = format!("/api/v1/clients/duplicates?client_id={}", acme["id"].as_str().unwrap_or_default());
    let mine = app.get(&path, &owner).await.expect(200).clone();
    let found = pairs(&mine);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        found[0],
        ("Acme Trading".into(), "ACME  trading".into(), json!(["email", "name"]), json!(0.95))
    );
    assert_eq!((found[1].1.as_str(), &found[1].2), ("Acme Tradin", &json!(["similar_name"])));
    assert!(found[1].3.as_f64().is_some_and(|score| score > 0.48 && score < 0.8), "{found:?}");

    // A merged pair is no longer one.
    let survivor = format!("/api/v1/clients/{}/merge", acme["id"].as_str().unwrap_or_default());
    let twin = &mine["data"][0]["clients"][1]["id"];
    app.post(&survivor, &owner, json!({"from": [twin]})).await.expect(200);
    let after = app.get("/api/v1/clients/duplicates", &owner).await.expect(200).clone();
    let names: Vec<(String, String)> = pairs(&after).into_iter().map(|(a, b, _, _)| (a, b)).collect();
    assert_eq!(
        names,
        [("Acme Trading".to_string(), "Acme Tradin".to_string()), ("Acme Tradin".into(), "Zeta".into())]
    );
}
