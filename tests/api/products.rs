use serde_json::{Value, json};

use crate::support::TestApp;

fn product_path(product: &Value) -> String {
    format!("/api/v1/products/{}", product["id"].as_str().unwrap_or_default())
}

#[actix_web::test]
async fn products_keep_exact_prices_and_unique_skus() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let created = app
        .post("/api/v1/products", &owner, json!({"sku": "TEA-1", "name": "Green tea", "product_group": "Tea", "unit": "pack", "price": "4.90", "currency": "EUR"}))
        .await;
    let tea = created.expect(201).clone();
    assert_eq!(tea["price"], "4.90");
    assert_eq!(tea["active"], true);
    app.post(
        "/api/v1/products",
        &owner,
        json!({"sku": "tea-1", "name": "Twin", "price": "1", "currency": "EUR"}),
    )
    .await
    .expect_problem(409, "sku_taken");
    let huge = app
        .post(
            "/api/v1/products",
            &owner,
            json!({"sku": "GOLD", "name": "Gold bar", "price": "999999999999999.123456", "currency": "USD"}),
        )
        .await;
    assert_eq!(huge.expect(201)["price"], "999999999999999.123456", "the largest price, to six places");

    for (body, field) in [
        (json!({"sku": "X", "name": "X", "price": 4.9, "currency": "EUR"}), "price"),
        (json!({"sku": "X", "name": "X", "price": "-1", "currency": "EUR"}), "price"),
        (json!({"sku": "X", "name": "X", "price": "1.1234567", "currency": "EUR"}), "price"),
        (json!({"sku": "X", "name": "X", "price": "1", "currency": "EURO"}), "currency"),
        (json!({"sku": "", "name": "X", "price": "1", "currency": "EUR"}), "sku"),
    ] {
        let response = app.post("/api/v1/products", &owner, body).await;
        assert_eq!(response.expect_problem(422, "validation_failed")["errors"][0]["field"], field);
    }

    let updated =
        app.patch(&product_path(&tea), &owner, json!({"price": "5.10", "active": false, "unit": null})).await;
    let updated = updated.expect(200).clone();
    assert_eq!(
        (updated["price"].clone(), updated["active"].clone(), updated["unit"].clone()),
        (json!("5.10"), json!(false), Value::Null)
    );

    // Another product may not take its SKU either, in any letter case.
    let gold = huge.expect(201).clone();
    app.patch(&product_path(&gold), &owner, json!({"sku": "TEA-1"})).await.expect_problem(409, "sku_taken");

    let inactive = app.get("/api/v1/products?active=false", &owner).await.expect(200).clone();
    assert_eq!(inactive["data"].as_array().map(Vec::len), Some(1));
    let tea_group = app.get("/api/v1/products?product_group=Tea", &owner).await.expect(200).clone();
    assert_eq!(tea_group["data"][0]["id"], tea["id"]);
    let searched = app.get("/api/v1/products?q=gren%20tea", &owner).await.expect(200).clone();
    assert_eq!(searched["data"][0]["id"], tea["id"]);

    let before = app.get(&product_path(&tea), &owner).await.expect(200).clone();
    let (_, viewer) = app.user_with_role("viewer").await;
    app.post("/api/v1/products", &viewer, json!({"sku": "V", "name": "V", "price": "1", "currency": "EUR"}))
        .await
        .expect_problem(403, "forbidden");
    app.patch(&product_path(&tea), &viewer, json!({"name": "Mine"})).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&product_path(&tea), &owner, &before).await;
    let rival = app.rival_token().await;
    app.get(&product_path(&tea), &rival).await.expect_problem(404, "not_found");
    app.patch(&product_path(&tea), &rival, json!({"name": "Mine"})).await.expect_problem(404, "not_found");
    app.assert_unchanged(&product_path(&tea), &owner, &before).await;
    assert_eq!(
        app.get("/api/v1/products", &rival).await.expect(200)["data"].as_array().map(Vec::len),
        Some(0)
    );
}
