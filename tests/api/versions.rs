//! Optimistic concurrency on every versioned resource: `If-Match` with a stale version is a 412
//! that changes nothing, on PATCH and on DELETE; with the current version the write goes through.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

/// One resource: where it is created, the body that creates it, and a PATCH that changes it.
struct Case {
    collection: &'static str,
    create: Value,
    first_edit: Value,
    stale_edit: Value,
    current_edit: Value,
}

#[actix_web::test]
async fn a_stale_if_match_changes_nothing_and_a_current_one_goes_through() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    let client = app
        .post("/api/v1/clients", &owner, json!({"kind": "company", "name": "Acme"}))
        .await
        .expect(201)
        .clone();
    let cases = [
        Case {
            collection: "/api/v1/clients",
            create: json!({"kind": "person", "first_name": "Ann"}),
            first_edit: json!({"notes": "first"}),
            stale_edit: json!({"notes": "stale"}),
            current_edit: json!({"notes": "current"}),
        },
        Case {
            collection: "/api/v1/contacts",
            create: json!({"client_id": client["id"], "first_name": "Bob"}),
            first_edit: json!({"position": "CFO"}),
            stale_edit: json!({"position": "Intern"}),
            current_edit: json!({"position": "CEO"}),
        },
        Case {
            collection: "/api/v1/deals",
            create: json!({"title": "Deal", "client_id": client["id"], "amount": "100"}),
            first_edit: json!({"amount": "150"}),
            stale_edit: json!({"amount": "1"}),
            current_edit: json!({"amount": "175"}),
        },
        Case {
            collection: "/api/v1/activities",
            create: json!({"kind": "task", "subject": "Send the offer", "client_id": client["id"]}),
            first_edit: json!({"subject": "Send the new offer"}),
            stale_edit: json!({"subject": "Stale"}),
            current_edit: json!({"subject": "Send the final offer"}),
        },
        Case {
            collection: "/api/v1/segments",
            create: json!({"name": "Companies", "kind": "dynamic", "filter": {"field": "kind", "op": "eq", "value": "company"}}),
            first_edit: json!({"name": "All companies"}),
            stale_edit: json!({"name": "Stale"}),
            current_edit: json!({"name": "Every company"}),
        },
    ];
    for case in cases {
        let created = app.post(case.collection, &owner, case.create).await.expect(201).clone();
        let path = format!("{}/{}", case.collection, created["id"].as_str().unwrap_or_default());
        app.patch(&path, &owner, case.first_edit).await.expect(200);
        let current = app.get(&path, &owner).await.expect(200).clone();
        assert_eq!(current["version"], 2, "{path}");

        let stale = app.request_if_match(Method::PATCH, &path, &owner, 1, Some(&case.stale_edit)).await;
        assert_eq!(stale.expect_problem(412, "version_mismatch")["current_version"], 2, "{path}");
        app.request_if_match(Method::DELETE, &path, &owner, 1, None)
            .await
            .expect_problem(412, "version_mismatch");
        app.assert_unchanged(&path, &owner, &current).await;

        let edited = app.request_if_match(Method::PATCH, &path, &owner, 2, Some(&case.current_edit)).await;
        assert_eq!(edited.expect(200)["version"], 3, "{path}");
        assert_eq!(edited.header("etag"), Some("\"3\""), "{path}");
        app.request_if_match(Method::DELETE, &path, &owner, 3, None).await.expect(204);
        app.get(&path, &owner).await.expect_problem(404, "not_found");
    }
}
