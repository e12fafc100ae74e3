//! Who sees which clients: a sales rep their own, a manager their team's and the teams under it,
//! the owner everything; a client out of scope is a 404 like one that doesn't exist, on every path
//! that reads, matches, links or changes it.

use actix_web::http::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::http::id_of as id;
use crate::support::paging::texts;

/// A workspace with a branch over department A, and department B beside it; a rep in each
/// department, a manager of the branch, and a client of each rep's.
struct Branches {
    app: TestApp,
    owner: String,
    rep_a: (Value, String),
    rep_b: (Value, String),
    branch_manager: (Value, String),
    client_a: Value,
    client_b: Value,
}

impl Branches {
    async fn set_up() -> Self {
        let app = TestApp::spawn().await;
        let owner = app.owner_token().await;
        let team = |name: &str, parent: Option<&Value>| {
            let body = json!({"name": name, "parent_id": parent.map(|parent| parent["id"].clone())});
            let (app, owner) = (&app, owner.clone());
            async move { app.post("/api/v1/teams", &owner, body).await.expect(201).clone() }
        };
        let branch = team("North branch", None).await;
        let department_a = team("Department A", Some(&branch)).await;
        let department_b = team("Department B", None).await;
        let member = |role: &'static str, team: Value| {
            let (app, owner) = (&app, owner.clone());
            async move {
                let (user, token) = app.user_with_role(role).await;
                let path = format!("/api/v1/users/{}", id(&user));
                let user = app.patch(&path, &owner, json!({"team_id": team["id"]})).await.expect(200).clone();
                (user, token)
            }
        };
        let rep_a = member("sales", department_a).await;
        let rep_b = member("sales", department_b).await;
        let branch_manager = member("manager", branch).await;
        let client = |token: String, name: &str, email: &str| {
            let body = json!({"kind": "company", "name": name, "emails": [{"value": email}], "tax_id": format!("77{}", name.len())});
            let app = &app;
            async move { app.post("/api/v1/clients", &token, body).await.expect(201).clone() }
        };
        let client_a = client(rep_a.1.clone(), "Alpha", "office@alpha.example").await;
        let client_b = client(rep_b.1.clone(), "Bravo Trading", "office@bravo.example").await;
        Self { app, owner, rep_a, rep_b, branch_manager, client_a, client_b }
    }

    /// The names of the clients `token` lists at `path`.
    async fn listed(&self, token: &str, path: &str) -> Vec<String> {
        texts(self.app.get(path, token).await.expect(200), "name")
    }
}

#[actix_web::test]
async fn a_rep_sees_only_their_own_clients_on_every_read() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    assert_eq!(s.listed(rep, "/api/v1/clients").await, ["Alpha"]);
    assert_eq!(s.listed(&s.rep_b.1, "/api/v1/clients").await, ["Bravo Trading"]);
    assert_eq!(s.listed(&s.owner, "/api/v1/clients?sort=display_name").await, ["Alpha", "Bravo Trading"]);

    // Another rep's client is a 404, exactly like one that doesn't exist.
    let missing = app.get("/api/v1/clients/0193a1b2-0000-7000-8000-000000000000", rep).await;
    let hidden = app.get(&format!("/api/v1/clients/{}", id(&s.client_b)), rep).await;
    assert_eq!(hidden.expect_problem(404, "not_found"), missing.expect_problem(404, "not_found"));
    let timeline = format!("/api/v1/clients/{}/timeline", id(&s.client_b));
    app.get(&timeline, rep).await.expect_problem(404, "not_found");
    let nested = format!("/api/v1/clients/{}/deals", id(&s.client_b));
    app.get(&nested, rep).await.expect_problem(404, "not_found");

    // Lookups and searches find nothing of it, by any key.
    for lookup in ["email=office@bravo.example", "tax_id=7713", "q=bravo", "q=bravo%20trading"] {
        assert!(s.listed(rep, &format!("/api/v1/clients?{lookup}")).await.is_empty(), "{lookup}");
    }
    let search = json!({"filter": {"field": "name", "op": "contains", "value": "Bravo"}});
    let found = app.post("/api/v1/clients/search", rep, search.clone()).await.expect(200).clone();
    assert_eq!(found["data"], json!([]));
    let found = app.post("/api/v1/clients/search", &s.owner, search).await.expect(200).clone();
    assert_eq!(found["data"][0]["name"], "Bravo Trading");
}

#[actix_web::test]
async fn duplicates_pair_only_clients_the_caller_sees() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    let theirs = format!("/api/v1/clients/{}", id(&s.client_b));
    app.patch(&theirs, &s.owner, json!({"tax_id": "7707083893"})).await.expect(200);
    let copy = json!({"kind": "company", "name": "Bravo Trading", "tax_id": "7707083893"});
    let mine = app.post("/api/v1/clients?allow_duplicate=true", rep, copy).await.expect(201).clone();
    let names = |page: &Value| -> Vec<Value> {
        page["data"].as_array().into_iter().flatten().map(|pair| pair["clients"][1]["id"].clone()).collect()
    };
    let everyone = app.get("/api/v1/clients/duplicates", &s.owner).await.expect(200).clone();
    assert_eq!(names(&everyone).len(), 1);
    let seen = app.get("/api/v1/clients/duplicates", rep).await.expect(200).clone();
    assert_eq!(seen["data"], json!([]));
    let of_mine = format!("/api/v1/clients/duplicates?client_id={}", id(&mine));
    assert_eq!(app.get(&of_mine, rep).await.expect(200)["data"], json!([]));
    let of_owner = app.get(&of_mine, &s.owner).await.expect(200).clone();
    assert_eq!(names(&of_owner), [s.client_b["id"].clone()]);
    let of_theirs = format!("/api/v1/clients/duplicates?client_id={}", id(&s.client_b));
    app.get(&of_theirs, rep).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn an_import_writes_within_its_starters_scope_and_shows_to_them_alone() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    let theirs = format!("/api/v1/clients/{}", id(&s.client_b));
    app.patch(&theirs, &s.owner, json!({"tax_id": "7707083893"})).await.expect(200);
    let before = app.get(&theirs, &s.owner).await.expect(200).clone();
    // A row duplicating a client the rep doesn't see can't update it, whatever the policy says.
    let file = "name,tax_id,notes\nBravo copy,7707083893,mine now\n";
    let accepted = app
        .post("/api/v1/imports", rep, json!({"entity": "clients", "csv": file, "duplicates": "update"}))
        .await;
    let path = accepted.header("location").unwrap_or_default().to_string();
    accepted.expect(202);
    crate::imports::run_imports(app).await;
    let done = app.get(&path, rep).await.expect(200).clone();
    assert_eq!((done["updated"].clone(), done["failed"].clone()), (json!(0), json!(1)));
    let errors = app.get(&format!("{path}/errors"), rep).await.expect(200).clone();
    assert!(errors.as_str().unwrap_or_default().contains("duplicate_elsewhere"), "{errors}");
    app.assert_unchanged(&theirs, &s.owner, &before).await;
    // Another rep doesn't see the import; the owner does.
    app.get(&path, &s.rep_b.1).await.expect_problem(404, "not_found");
    app.get(&path, &s.owner).await.expect(200);
}

#[actix_web::test]
async fn a_contacts_import_finds_only_the_clients_its_starter_sees() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    // Bravo is named by its tax id and by its name, as one the rep doesn't see: not found.
    let file = format!(
        "full_name;position;client_tax_id;client_name\nOrlov Oleg;CEO;{};\nSidorov Ivan;CFO;;Bravo Trading\nSmirnova Anna;CEO;;Alpha\n",
        s.client_b["tax_id"].as_str().unwrap_or_default()
    );
    let accepted = app.post("/api/v1/imports", rep, json!({"entity": "contacts", "csv": file})).await;
    let path = accepted.header("location").unwrap_or_default().to_string();
    accepted.expect(202);
    crate::imports::run_imports(app).await;
    let done = app.get(&path, rep).await.expect(200).clone();
    assert_eq!((done["created"].clone(), done["failed"].clone()), (json!(1), json!(2)));
    let errors = app.get(&format!("{path}/errors"), rep).await.expect(200).clone();
    assert_eq!(errors.as_str().unwrap_or_default().matches("no client you can see").count(), 2, "{errors}");
    let bravo_contacts = format!("/api/v1/contacts?client_id={}", id(&s.client_b));
    assert_eq!(app.get(&bravo_contacts, &s.owner).await.expect(200)["data"], json!([]));
    let alpha_contacts = format!("/api/v1/contacts?client_id={}", id(&s.client_a));
    assert_eq!(texts(app.get(&alpha_contacts, rep).await.expect(200), "first_name"), ["Anna"]);
}

#[actix_web::test]
async fn the_changes_feed_is_only_for_those_who_see_every_client() {
    let s = Branches::set_up().await;
    // A rep's or a branch manager's feed would be every record of the workspace: refused.
    for token in [&s.rep_a.1, &s.branch_manager.1] {
        s.app.get("/api/v1/changes", token).await.expect_problem(403, "forbidden");
        s.app.get("/api/v1/changes/cursor", token).await.expect_problem(403, "forbidden");
    }
    let (seen, _) = crate::changes::read_at_least(&s.app, &s.owner, "", "clients", 2).await;
    let names: Vec<Value> = seen.iter().map(|change| change["changes"]["name"]["to"].clone()).collect();
    assert_eq!(names, [json!("Alpha"), json!("Bravo Trading")]);
}

#[actix_web::test]
async fn webhooks_are_only_for_owners_and_admins() {
    let s = Branches::set_up().await;
    let app = &s.app;
    let body = json!({"url": "http://127.0.0.1:9/hooks", "event_types": ["*"]});
    let created = app.post("/api/v1/webhooks", &s.owner, body.clone()).await.expect(201).clone();
    let webhook = format!("/api/v1/webhooks/{}", created["webhook"]["id"].as_str().expect("an id"));
    let ping = app.post(&format!("{webhook}/test"), &s.owner, json!(null)).await.expect(202).clone();
    let before = app.get(&webhook, &s.owner).await.expect(200).clone();
    // A webhook is sent every record of the workspace: a rep, a branch manager, or an admin who
    // sees one team's clients may neither make one nor read, change or test another's.
    let (_, team_admin) = app.user_seeing("admin", "team").await;
    for token in [&s.rep_a.1, &s.branch_manager.1, &team_admin] {
        app.get("/api/v1/webhooks", token).await.expect_problem(403, "forbidden");
        app.post("/api/v1/webhooks", token, body.clone()).await.expect_problem(403, "forbidden");
        app.get(&webhook, token).await.expect_problem(403, "forbidden");
        app.patch(&webhook, token, json!({"url": "http://127.0.0.1:10/mine"}))
            .await
            .expect_problem(403, "forbidden");
        app.request(Method::DELETE, &webhook, Some(token), None).await.expect_problem(403, "forbidden");
        app.post(&format!("{webhook}/rotate-secret"), token, json!(null))
            .await
            .expect_problem(403, "forbidden");
        app.post(&format!("{webhook}/test"), token, json!(null)).await.expect_problem(403, "forbidden");
        app.get(&format!("{webhook}/deliveries"), token).await.expect_problem(403, "forbidden");
        let retry = format!("{webhook}/deliveries/{}/retry", id(&ping));
        app.post(&retry, token, json!(null)).await.expect_problem(403, "forbidden");
    }
    app.assert_unchanged(&webhook, &s.owner, &before).await;
    let deliveries = app.get(&format!("{webhook}/deliveries"), &s.owner).await.expect(200).clone();
    assert_eq!(deliveries["data"].as_array().map(Vec::len), Some(1));
    let listed = app.get("/api/v1/webhooks", &s.owner).await.expect(200).clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn a_rep_can_neither_change_nor_link_to_a_client_they_dont_see() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    let path = format!("/api/v1/clients/{}", id(&s.client_b));
    let before = app.get(&path, &s.owner).await.expect(200).clone();
    app.patch(&path, rep, json!({"notes": "mine now"})).await.expect_problem(404, "not_found");
    app.request(Method::DELETE, &path, Some(rep), None).await.expect_problem(404, "not_found");
    app.post(&format!("{path}/restore"), rep, json!({})).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path, &s.owner, &before).await;
    // Nor by another system's id, nor found by it.
    let refs = json!({"external_refs": [{"system": "1c", "id": "B-1"}]});
    app.patch(&path, &s.owner, refs).await.expect(200);
    let before = app.get(&path, &s.owner).await.expect(200).clone();
    let taking = json!({"notes": "mine now"});
    let upsert = app.request(Method::PUT, "/api/v1/clients/by-ref/1c/B-1", Some(rep), Some(&taking)).await;
    upsert.expect_problem(409, "external_ref_taken");
    app.assert_unchanged(&path, &s.owner, &before).await;
    assert!(s.listed(rep, "/api/v1/clients?external_ref=1c:B-1").await.is_empty());
    // Nor in a batch: each operation on it is the 404 (or the 409) its own endpoint gives.
    let batch = json!({"operations": [
        {"op": "update", "id": s.client_b["id"], "body": {"notes": "mine now"}},
        {"op": "delete", "id": s.client_b["id"]},
        {"op": "upsert", "external_ref": {"system": "1c", "id": "B-1"}, "body": {"notes": "mine now"}},
    ]});
    let answer = app.post("/api/v1/clients/batch", rep, batch).await.expect(200).clone();
    let codes: Vec<&Value> =
        answer["results"].as_array().into_iter().flatten().map(|r| &r["error"]["code"]).collect();
    assert_eq!(codes, [&json!("not_found"), &json!("not_found"), &json!("external_ref_taken")]);
    app.assert_unchanged(&path, &s.owner, &before).await;
    assert_eq!(s.listed(&s.owner, "/api/v1/clients?external_ref=1c:B-1").await, ["Bravo Trading"]);
    // Nor merged into theirs, nor theirs into it.
    let into_mine = json!({"from": [s.client_b["id"]]});
    let mine = format!("/api/v1/clients/{}", id(&s.client_a));
    let refused = app.post(&format!("{mine}/merge"), rep, into_mine).await;
    let refused = crate::support::http::field_errors(refused.expect_problem(422, "validation_failed"));
    assert_eq!(refused, [("from".to_string(), "not_found".to_string())]);
    let into_theirs = json!({"from": [s.client_a["id"]]});
    app.post(&format!("{path}/merge"), rep, into_theirs).await.expect_problem(404, "not_found");
    app.assert_unchanged(&path, &s.owner, &before).await;

    // A contact, deal or activity can't be put on it: its id is unknown to the rep.
    let client_id = s.client_b["id"].clone();
    for (path, body) in [
        ("/api/v1/contacts", json!({"client_id": client_id, "first_name": "Spy"})),
        ("/api/v1/deals", json!({"client_id": client_id, "title": "Poached"})),
        ("/api/v1/activities", json!({"client_id": client_id, "kind": "call", "subject": "Cold call"})),
    ] {
        let refused = app.post(path, rep, body).await;
        let problem = refused.expect_problem(422, "validation_failed");
        assert_eq!(
            crate::support::http::field_errors(problem),
            [("client_id".into(), "not_found".into())],
            "{path}"
        );
    }
    for list in ["/api/v1/contacts", "/api/v1/deals", "/api/v1/activities"] {
        let page = app.get(list, &s.owner).await.expect(200).clone();
        assert_eq!(page["data"], json!([]), "{list}: nothing was added");
    }

    // Once deleted by its owner, it is no tombstone of the rep's either.
    app.request(Method::DELETE, &path, Some(&s.rep_b.1), None).await.expect(204);
    let tombstones = app.get("/api/v1/clients/deleted", rep).await.expect(200).clone();
    assert_eq!(tombstones["data"], json!([]));
    let tombstones = app.get("/api/v1/clients/deleted", &s.owner).await.expect(200).clone();
    assert_eq!(tombstones["data"][0]["id"], s.client_b["id"]);
}

#[actix_web::test]
async fn a_duplicate_the_caller_doesnt_see_is_named_by_its_owner_alone() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    let copy =
        json!({"kind": "company", "name": "Bravo again", "emails": [{"value": "OFFICE@bravo.example"}]});
    let refused = app.post("/api/v1/clients", rep, copy.clone()).await;
    let problem = refused.expect_problem(409, "duplicate_elsewhere").clone();
    assert_eq!(problem["owner_name"], s.rep_b.0["full_name"]);
    assert!(problem.get("conflicting_id").is_none(), "{problem}");
    assert!(!problem.to_string().contains(id(&s.client_b)), "{problem}");
    assert!(!problem.to_string().contains("Bravo Trading"), "{problem}");
    // Its owner gets the usual answer, with the id; anyone may still create it on purpose.
    let own = app.post("/api/v1/clients", &s.rep_b.1, copy.clone()).await;
    assert_eq!(own.expect_problem(409, "duplicate")["conflicting_id"], s.client_b["id"]);
    app.post("/api/v1/clients?allow_duplicate=true", rep, copy).await.expect(201);
}

#[actix_web::test]
async fn a_manager_sees_the_teams_under_theirs_and_settings_widen_or_narrow_a_scope() {
    let s = Branches::set_up().await;
    let app = &s.app;
    let manager = &s.branch_manager.1;
    // Department A is under the branch, department B isn't.
    assert_eq!(s.listed(manager, "/api/v1/clients").await, ["Alpha"]);
    app.get(&format!("/api/v1/clients/{}", id(&s.client_b)), manager).await.expect_problem(404, "not_found");

    // The workspace gives reps everything; one rep is narrowed back to their own.
    let settings = json!({"visibility": {"sales": "all"}});
    let workspace = app.patch("/api/v1/workspace", &s.owner, settings).await.expect(200).clone();
    assert_eq!(
        workspace["visibility"],
        json!({"admin": "all", "manager": "team", "sales": "all", "viewer": "team"})
    );
    assert_eq!(s.listed(&s.rep_a.1, "/api/v1/clients?sort=display_name").await, ["Alpha", "Bravo Trading"]);
    let rep_b = format!("/api/v1/users/{}", id(&s.rep_b.0));
    let narrowed = app.patch(&rep_b, &s.owner, json!({"visibility": "own"})).await.expect(200).clone();
    assert_eq!(narrowed["visibility"], "own");
    assert_eq!(s.listed(&s.rep_b.1, "/api/v1/clients").await, ["Bravo Trading"]);
    let restored = app.patch(&rep_b, &s.owner, json!({"visibility": null})).await.expect(200).clone();
    assert_eq!(restored["visibility"], Value::Null);
    assert_eq!(s.listed(&s.rep_b.1, "/api/v1/clients").await.len(), 2);

    // Only owners and admins set a scope: a manager may not widen their own.
    let me = format!("/api/v1/users/{}", id(&s.branch_manager.0));
    app.patch(&me, manager, json!({"visibility": "all"})).await.expect_problem(403, "forbidden");
    assert_eq!(s.listed(manager, "/api/v1/clients").await, ["Alpha"]);
}

#[actix_web::test]
async fn segments_count_list_and_take_only_the_clients_the_caller_sees() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    let companies = json!({"filter": {"field": "kind", "op": "eq", "value": "company"}});
    let preview = app.post("/api/v1/segments/preview", rep, companies.clone()).await.expect(200).clone();
    assert_eq!(
        (preview["count"].clone(), preview["members"]["data"].as_array().map(Vec::len)),
        (json!(1), Some(1))
    );
    let preview = app.post("/api/v1/segments/preview", &s.owner, companies).await.expect(200).clone();
    assert_eq!(preview["count"], 2);

    // A list the owner filled with both clients shows the rep theirs alone, and counts it so.
    let list = app.post("/api/v1/segments", &s.owner, json!({"name": "Call list", "kind": "static"})).await;
    let members = format!("/api/v1/segments/{}/members", id(list.expect(201)));
    let both = json!({"client_ids": [s.client_a["id"], s.client_b["id"]]});
    assert_eq!(app.post(&members, &s.owner, both).await.expect(200)["count"], 2);
    assert_eq!(s.listed(rep, &members).await, ["Alpha"]);
    let count = format!("/api/v1/segments/{}/count", id(list.expect(201)));
    assert_eq!(app.get(&count, rep).await.expect(200)["count"], 1);
    assert_eq!(app.get(&count, &s.owner).await.expect(200)["count"], 2);

    // What a rep adds is what they see, by id or by filter.
    let mine = app.post("/api/v1/segments", rep, json!({"name": "Mine", "kind": "static"})).await;
    let mine = format!("/api/v1/segments/{}/members", id(mine.expect(201)));
    let by_id = app.post(&mine, rep, json!({"client_ids": [s.client_b["id"]]})).await;
    let problem = by_id.expect_problem(422, "validation_failed");
    assert_eq!(crate::support::http::field_errors(problem), [("client_ids[0]".into(), "not_found".into())]);
    let all = json!({"filter": {"field": "kind", "op": "eq", "value": "company"}});
    let added = app.post(&format!("{mine}/from-filter"), rep, all).await.expect(200).clone();
    assert_eq!((added["changed"].clone(), added["count"].clone()), (json!(1), json!(1)));
    assert_eq!(s.listed(&s.owner, &mine).await, ["Alpha"]);
}

#[actix_web::test]
async fn a_rep_cannot_change_the_contacts_deals_and_activities_of_a_client_they_dont_see() {
    let s = Branches::set_up().await;
    let (app, rep, other) = (&s.app, &s.rep_a.1, &s.rep_b.1);
    let client_id = s.client_b["id"].clone();
    let contact =
        app.post("/api/v1/contacts", other, json!({"client_id": client_id, "first_name": "Boris"})).await;
    let deal =
        app.post("/api/v1/deals", other, json!({"client_id": client_id, "title": "Bravo order"})).await;
    let call = app
        .post(
            "/api/v1/activities",
            other,
            json!({"client_id": client_id, "kind": "call", "subject": "Follow up"}),
        )
        .await;
    let records = [
        format!("/api/v1/contacts/{}", id(contact.expect(201))),
        format!("/api/v1/deals/{}", id(deal.expect(201))),
        format!("/api/v1/activities/{}", id(call.expect(201))),
    ];
    for path in &records {
        let before = app.get(path, other).await.expect(200).clone();
        app.patch(path, rep, json!({})).await.expect_problem(404, "not_found");
        app.request(Method::DELETE, path, Some(rep), None).await.expect_problem(404, "not_found");
        app.post(&format!("{path}/restore"), rep, json!({})).await.expect_problem(404, "not_found");
        app.assert_unchanged(path, other, &before).await;
    }
    app.post(&format!("{}/complete", records[2]), rep, json!({})).await.expect_problem(404, "not_found");
    for nested in ["contacts", "deals", "activities"] {
        let path = format!("/api/v1/clients/{}/{nested}", id(&s.client_b));
        app.get(&path, rep).await.expect_problem(404, "not_found");
        assert_eq!(
            app.get(&path, other).await.expect(200)["data"].as_array().map(Vec::len),
            Some(1),
            "{nested}"
        );
    }
}

#[actix_web::test]
async fn the_contacts_deals_and_activities_of_a_client_out_of_sight_are_out_of_sight_too() {
    let s = Branches::set_up().await;
    let (app, rep, other) = (&s.app, &s.rep_a.1, &s.rep_b.1);
    let client_id = s.client_b["id"].clone();
    let contact =
        app.post("/api/v1/contacts", other, json!({"client_id": client_id, "first_name": "Boris"})).await;
    let contact = contact.expect(201).clone();
    let deal =
        app.post("/api/v1/deals", other, json!({"client_id": client_id, "title": "Bravo order"})).await;
    let deal = deal.expect(201).clone();
    let call = json!({"client_id": client_id, "deal_id": deal["id"], "kind": "call", "subject": "Follow up"});
    let call = app.post("/api/v1/activities", other, call).await.expect(201).clone();
    let deal_path = format!("/api/v1/deals/{}", id(&deal));
    for path in [
        format!("/api/v1/contacts/{}", id(&contact)),
        deal_path.clone(),
        format!("{deal_path}/history"),
        format!("{deal_path}/activities"),
        format!("/api/v1/activities/{}", id(&call)),
    ] {
        app.get(&path, rep).await.expect_problem(404, "not_found");
        app.get(&path, other).await.expect(200);
    }
    let count = |page: &Value| page["data"].as_array().map_or(0, Vec::len);
    for entity in ["contacts", "deals", "activities"] {
        let list = format!("/api/v1/{entity}");
        assert_eq!(count(app.get(&list, rep).await.expect(200)), 0, "{list}");
        assert_eq!(count(app.get(&list, other).await.expect(200)), 1, "{list}");
        let search = format!("/api/v1/{entity}/search");
        assert_eq!(count(app.post(&search, rep, json!({})).await.expect(200)), 0, "{search}");
    }
    let contact_lookup = "/api/v1/contacts?q=boris";
    assert_eq!(count(app.get(contact_lookup, rep).await.expect(200)), 0);
    for path in [
        format!("/api/v1/activities/{}", id(&call)),
        format!("/api/v1/contacts/{}", id(&contact)),
        deal_path.clone(),
    ] {
        app.request(Method::DELETE, &path, Some(other), None).await.expect(204);
    }
    for tombstones in ["/api/v1/contacts/deleted", "/api/v1/deals/deleted", "/api/v1/activities/deleted"] {
        assert_eq!(count(app.get(tombstones, rep).await.expect(200)), 0, "{tombstones}");
        assert_eq!(count(app.get(tombstones, other).await.expect(200)), 1, "{tombstones}");
    }

    // A deal handed to the rep is theirs to see and work on, though its client stays out of sight.
    let handed = json!({"client_id": client_id, "title": "Handed over"});
    let handed = app.post("/api/v1/deals", other, handed).await.expect(201).clone();
    let handed_path = format!("/api/v1/deals/{}", id(&handed));
    let owner_id = json!({"owner_id": s.rep_a.0["id"]});
    app.patch(&handed_path, &s.owner, owner_id).await.expect(200);
    assert_eq!(app.get(&handed_path, rep).await.expect(200)["title"], "Handed over");
    let listed = app.get("/api/v1/deals", rep).await.expect(200).clone();
    assert_eq!(listed["data"][0]["id"], handed["id"]);
    app.patch(&handed_path, rep, json!({"next_step": "Call Boris"})).await.expect(200);
    app.get(&format!("/api/v1/clients/{}", id(&s.client_b)), rep).await.expect_problem(404, "not_found");
}

#[actix_web::test]
async fn agendas_and_reminders_are_ones_own_or_in_a_managers_scope() {
    let s = Branches::set_up().await;
    let (app, rep, other) = (&s.app, &s.rep_a.1, &s.rep_b.1);
    let soon = chrono::Utc::now() + chrono::Duration::hours(1);
    let call = json!({"client_id": s.client_b["id"], "kind": "call", "subject": "Bravo call", "due_at": soon,
                      "reminder_at": chrono::Utc::now() - chrono::Duration::minutes(1)});
    let call = app.post("/api/v1/activities", other, call).await.expect(201).clone();
    app.on_database(|conn| crm::db::models::Activity::fire_due_reminders(conn, 10).expect("fire")).await;

    // The reminder is its assignee's alone.
    let reminders = |token: String| async move {
        let page = app.get("/api/v1/me/reminders", &token).await.expect(200).clone();
        page["data"].as_array().map_or(0, Vec::len)
    };
    assert_eq!((reminders(rep.clone()).await, reminders(other.clone()).await), (0, 1));
    let ack = format!("/api/v1/me/reminders/{}/ack", id(&call));
    app.request(Method::POST, &ack, Some(rep), None).await.expect_problem(404, "not_found");

    // A rep's agenda is their own; the branch's manager reads the agendas of the reps under the
    // branch, and another department's rep is a stranger to them.
    let date = soon.date_naive();
    let agenda = |token: String, user: Option<&Value>| {
        let query = user.map_or(String::new(), |user| format!("&user_id={}", id(user)));
        let path = format!("/api/v1/me/agenda?date={date}&days=2{query}");
        async move { app.get(&path, &token).await }
    };
    let own = agenda(other.clone(), None).await.expect(200).clone();
    assert_eq!(own["items"][0]["subject"], "Bravo call");
    assert_eq!(agenda(rep.clone(), None).await.expect(200)["items"], json!([]));
    let manager = s.branch_manager.1.clone();
    agenda(manager.clone(), Some(&s.rep_a.0)).await.expect(200);
    let stranger = agenda(manager, Some(&s.rep_b.0)).await;
    stranger.expect_problem(404, "not_found");
    let everyone = agenda(s.owner.clone(), Some(&s.rep_b.0)).await.expect(200).clone();
    assert_eq!(everyone["items"][0]["subject"], "Bravo call");
}

#[actix_web::test]
async fn a_board_counts_sums_and_lists_the_deals_owned_within_the_callers_visibility() {
    let s = Branches::set_up().await;
    let app = &s.app;
    for (token, client, amount) in [(&s.rep_a.1, &s.client_a, "100.00"), (&s.rep_b.1, &s.client_b, "250.00")]
    {
        let deal = json!({"client_id": client["id"], "title": "Order", "amount": amount, "currency": "USD"});
        app.post("/api/v1/deals", token, deal).await.expect(201);
    }
    let pipelines = app.get("/api/v1/pipelines", &s.owner).await.expect(200).clone();
    let board = format!("/api/v1/pipelines/{}/board", id(&pipelines["data"][0]));
    // (deals listed, deals counted, their total) in the first stage.
    let first_stage = |board: &Value| {
        let column = &board["columns"][0];
        let listed = column["deals"].as_array().map_or(0, Vec::len);
        (listed, column["deal_count"].clone(), column["amounts"].clone())
    };
    let usd = |amount: &str| json!([{"currency": "USD", "amount": amount}]);
    let seen = |token: String, query: String| {
        let path = format!("{board}{query}");
        async move { first_stage(app.get(&path, &token).await.expect(200)) }
    };
    assert_eq!(seen(s.rep_a.1.clone(), String::new()).await, (1, json!(1), usd("100.00")));
    assert_eq!(seen(s.branch_manager.1.clone(), String::new()).await, (1, json!(1), usd("100.00")));
    assert_eq!(seen(s.owner.clone(), String::new()).await, (2, json!(2), usd("350.00")));
    // Filtering by an owner out of sight finds nothing, rather than their numbers.
    let rep_b = format!("?owner_id={}", id(&s.rep_b.0));
    assert_eq!(seen(s.rep_a.1.clone(), rep_b.clone()).await, (0, json!(0), json!([])));
    assert_eq!(seen(s.owner.clone(), rep_b).await, (1, json!(1), usd("250.00")));
}

#[actix_web::test]
async fn an_export_holds_what_the_exporter_sees_and_a_rep_changes_only_their_own_segments() {
    let s = Branches::set_up().await;
    let app = &s.app;
    let list = app.post("/api/v1/segments", &s.owner, json!({"name": "Call list", "kind": "static"})).await;
    let list = list.expect(201).clone();
    let path = format!("/api/v1/segments/{}", id(&list));
    let both = json!({"client_ids": [s.client_a["id"], s.client_b["id"]]});
    app.post(&format!("{path}/members"), &s.owner, both).await.expect(200);
    let exported = |token: String| {
        let export = format!("{path}/export");
        async move { app.get(&export, &token).await.expect(200).as_str().unwrap_or_default().to_string() }
    };
    let csv = exported(s.branch_manager.1.clone()).await;
    assert!(csv.contains("Alpha") && !csv.contains("Bravo"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "the header and Alpha: {csv}");
    let csv = exported(s.owner.clone()).await;
    assert!(csv.contains("Alpha") && csv.contains("Bravo"), "{csv}");

    // A rep may not change, empty or delete a segment someone else made; their own, they may.
    let rep = &s.rep_a.1;
    let before = app.get(&path, &s.owner).await.expect(200).clone();
    app.patch(&path, rep, json!({"name": "Mine now"})).await.expect_problem(403, "forbidden");
    let members = json!({"client_ids": [s.client_a["id"]]});
    app.request(Method::DELETE, &format!("{path}/members"), Some(rep), Some(&members))
        .await
        .expect_problem(403, "forbidden");
    app.request(Method::DELETE, &path, Some(rep), None).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&path, &s.owner, &before).await;
    let own = app.post("/api/v1/segments", rep, json!({"name": "My list", "kind": "static"})).await;
    let own = format!("/api/v1/segments/{}", id(own.expect(201)));
    app.patch(&own, rep, json!({"name": "My calls"})).await.expect(200);
    app.patch(&own, &s.branch_manager.1, json!({"description": "Checked"})).await.expect(200);
    app.request(Method::DELETE, &own, Some(rep), None).await.expect(204);
}

#[actix_web::test]
async fn a_rep_works_on_their_own_and_only_a_manager_hands_records_over_within_their_sight() {
    let s = Branches::set_up().await;
    let app = &s.app;
    // Rep A, made to see everything, still changes only what is theirs.
    let rep_a = format!("/api/v1/users/{}", id(&s.rep_a.0));
    app.patch(&rep_a, &s.owner, json!({"visibility": "all"})).await.expect(200);
    let (rep, path_b) = (&s.rep_a.1, format!("/api/v1/clients/{}", id(&s.client_b)));
    let before = app.get(&path_b, rep).await.expect(200).clone();
    app.patch(&path_b, rep, json!({"notes": "x"})).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, &path_b, Some(rep), None).await.expect_problem(403, "forbidden");
    app.assert_unchanged(&path_b, &s.owner, &before).await;

    // A rep can't give away what they make, nor what they own.
    let to_b = json!({"kind": "company", "name": "Gift", "owner_id": s.rep_b.0["id"]});
    app.post("/api/v1/clients", rep, to_b).await.expect_problem(403, "forbidden");
    let path_a = format!("/api/v1/clients/{}", id(&s.client_a));
    app.patch(&path_a, rep, json!({"owner_id": s.rep_b.0["id"]})).await.expect_problem(403, "forbidden");
    app.patch(&path_a, rep, json!({"notes": "Still mine"})).await.expect(200);

    // The branch's manager hands rep A's client to themself, not to rep B, whom they don't see.
    let manager = &s.branch_manager;
    let refused = app.patch(&path_a, &manager.1, json!({"owner_id": s.rep_b.0["id"]})).await;
    refused.expect_problem(403, "forbidden");
    let taken =
        app.patch(&path_a, &manager.1, json!({"owner_id": manager.0["id"]})).await.expect(200).clone();
    assert_eq!(taken["owner_id"], manager.0["id"]);
    // The owner gives anything to anyone.
    let given = app.patch(&path_a, &s.owner, json!({"owner_id": s.rep_b.0["id"]})).await.expect(200).clone();
    assert_eq!(given["owner_id"], s.rep_b.0["id"]);
}

#[actix_web::test]
async fn the_audit_trail_says_who_changed_what_and_a_manager_reads_their_teams() {
    let s = Branches::set_up().await;
    let app = &s.app;
    let path_a = format!("/api/v1/clients/{}", id(&s.client_a));
    let changed = app
        .request_with_headers(
            Method::PATCH,
            &path_a,
            Some(&s.rep_a.1),
            &[("x-request-id", "fair-2026")],
            Some(&json!({"notes": "Met at the fair"})),
        )
        .await;
    changed.expect(200);

    let trail =
        app.get(&format!("/api/v1/audit?entity=client&entity_id={}", id(&s.client_a)), &s.owner).await;
    let trail = trail.expect(200).clone();
    let actions: Vec<&str> =
        trail["data"].as_array().into_iter().flatten().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["updated", "created"], "newest first: {trail}");
    let update = &trail["data"][0];
    assert_eq!(update["actor_id"], s.rep_a.0["id"]);
    assert_eq!(update["request_id"], "fair-2026");
    assert_eq!(update["changes"]["notes"], json!({"from": null, "to": "Met at the fair"}));

    // A manager reads the changes of the users they see: rep A's, not rep B's.
    let entities = |token: String| async move {
        let page = app.get("/api/v1/audit?entity=client&action=created", &token).await.expect(200).clone();
        let mut ids = texts(&page, "entity_id");
        ids.sort();
        ids
    };
    assert_eq!(entities(s.branch_manager.1.clone()).await, [id(&s.client_a)]);
    let mut both = vec![id(&s.client_a).to_string(), id(&s.client_b).to_string()];
    both.sort();
    assert_eq!(entities(s.owner.clone()).await, both);
    for bad in ["entity=Client", "entity=", "action=deleted%20or%201%3D1"] {
        app.get(&format!("/api/v1/audit?{bad}"), &s.owner).await.expect_problem(400, "invalid_query");
    }
    // Reps don't read the trail; a page goes on by its cursor.
    app.get("/api/v1/audit", &s.rep_a.1).await.expect_problem(403, "forbidden");
    let first = app.get("/api/v1/audit?limit=1", &s.owner).await.expect(200).clone();
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_string();
    let second =
        app.get(&format!("/api/v1/audit?limit=1&cursor={cursor}"), &s.owner).await.expect(200).clone();
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);
}

#[actix_web::test]
async fn fifty_deletions_an_hour_is_all_anyone_but_the_owner_gets_and_the_next_raises_an_alert() {
    let s = Branches::set_up().await;
    let (app, rep) = (&s.app, &s.rep_a.1);
    let mut paths = Vec::new();
    for n in 0..51 {
        let client =
            app.post("/api/v1/clients", rep, json!({"kind": "company", "name": format!("Lead {n}")})).await;
        paths.push(format!("/api/v1/clients/{}", id(client.expect(201))));
    }
    for path in &paths[..50] {
        app.request(Method::DELETE, path, Some(rep), None).await.expect(204);
    }
    let before = app.get(&paths[50], rep).await.expect(200).clone();
    let refused = app.request(Method::DELETE, &paths[50], Some(rep), None).await;
    refused.expect_problem(429, "too_many_deletions");
    let wait: u64 = refused.header("retry-after").and_then(|value| value.parse().ok()).unwrap_or_default();
    assert!((3500..=3600).contains(&wait), "the first deletion ages out in about an hour: {wait}");
    app.assert_unchanged(&paths[50], rep, &before).await;
    // The refusal is an alert for owners and admins, under the rep's name, and in the audit trail;
    // the 50 deleted are restorable.
    let alerts = app.get("/api/v1/security/alerts", &s.owner).await.expect(200).clone();
    assert_eq!(alerts["data"][0]["action"], "bulk_delete_refused");
    assert_eq!(alerts["data"][0]["actor_id"], s.rep_a.0["id"]);
    let trail = app.get("/api/v1/audit?entity=security", &s.owner).await.expect(200).clone();
    assert_eq!(trail["data"][0]["id"], alerts["data"][0]["id"]);
    app.get("/api/v1/security/alerts", &s.branch_manager.1).await.expect_problem(403, "forbidden");
    app.post(&format!("{}/restore", paths[0]), rep, json!({})).await.expect(200);
    // The owner may go on.
    app.request(Method::DELETE, &paths[50], Some(&s.owner), None).await.expect(204);
}

#[actix_web::test]
async fn a_share_lets_a_user_or_a_team_see_one_client_until_it_is_taken_back() {
    let s = Branches::set_up().await;
    let (app, rep_a, rep_b) = (&s.app, &s.rep_a.1, &s.rep_b.1);
    let client_a = format!("/api/v1/clients/{}", id(&s.client_a));
    let shares = format!("{client_a}/shares");
    app.get(&client_a, rep_b).await.expect_problem(404, "not_found");

    // Rep A shares their client with rep B; sharing again answers the same share.
    let with_b = json!({"user_id": s.rep_b.0["id"]});
    let share = app.post(&shares, rep_a, with_b.clone()).await.expect(201).clone();
    assert_eq!(share["user_id"], s.rep_b.0["id"]);
    assert_eq!(share["team_id"], Value::Null);
    let again = app.post(&shares, rep_a, with_b).await.expect(200).clone();
    assert_eq!(again["id"], share["id"]);

    // Rep B now sees it on every read, and works on it, but may not edit the card of a client
    // they don't own, nor share it further.
    app.get(&client_a, rep_b).await.expect(200);
    assert_eq!(s.listed(rep_b, "/api/v1/clients?sort=display_name").await, ["Alpha", "Bravo Trading"]);
    assert_eq!(s.listed(rep_b, "/api/v1/clients?email=office@alpha.example").await, ["Alpha"]);
    let call = json!({"client_id": s.client_a["id"], "kind": "call", "subject": "Covering for A"});
    app.post("/api/v1/activities", rep_b, call).await.expect(201);
    app.patch(&client_a, rep_b, json!({"notes": "mine"})).await.expect_problem(403, "forbidden");
    let onward = json!({"user_id": s.branch_manager.0["id"]});
    app.post(&shares, rep_b, onward).await.expect_problem(403, "forbidden");
    let listed = app.get(&shares, rep_b).await.expect(200).clone();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));

    // A share names a user or a team, one that exists, never both.
    for (body, field, code) in [
        (json!({}), "user_id", "required"),
        (json!({"user_id": s.rep_b.0["id"], "team_id": s.rep_b.0["team_id"]}), "team_id", "not_allowed"),
        (json!({"user_id": "0193a1b2-0000-7000-8000-000000000000"}), "user_id", "not_found"),
        (json!({"team_id": "0193a1b2-0000-7000-8000-000000000000"}), "team_id", "not_found"),
    ] {
        let refused = app.post(&shares, rep_a, body).await;
        let problem = refused.expect_problem(422, "validation_failed");
        assert_eq!(crate::support::http::field_errors(problem), [(field.to_string(), code.to_string())]);
    }

    // Taken back, it is out of rep B's sight again; both steps are in the client's history.
    let unshare = format!("{shares}/{}", id(&share));
    app.request(Method::DELETE, &unshare, Some(rep_b), None).await.expect_problem(403, "forbidden");
    app.request(Method::DELETE, &unshare, Some(rep_a), None).await.expect(204);
    app.request(Method::DELETE, &unshare, Some(rep_a), None).await.expect_problem(404, "not_found");
    app.get(&client_a, rep_b).await.expect_problem(404, "not_found");
    app.get(&shares, rep_b).await.expect_problem(404, "not_found");
    let history = app.get(&format!("{client_a}/history"), rep_a).await.expect(200).clone();
    let actions: Vec<&str> =
        history["data"].as_array().into_iter().flatten().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["unshared", "shared", "created"]);

    // A team share reaches the team's members and those of the teams under it: the owner shares
    // rep B's client with the branch, and rep A, in a department under it, sees it.
    let client_b = format!("/api/v1/clients/{}", id(&s.client_b));
    app.get(&client_b, rep_a).await.expect_problem(404, "not_found");
    let with_branch = json!({"team_id": s.branch_manager.0["team_id"]});
    app.post(&format!("{client_b}/shares"), &s.owner, with_branch).await.expect(201);
    app.get(&client_b, rep_a).await.expect(200);
    let found = app.post("/api/v1/clients/search", rep_a, json!({})).await.expect(200).clone();
    assert_eq!(found["data"].as_array().map(Vec::len), Some(2));
}

#[actix_web::test]
async fn a_records_history_is_read_by_whoever_sees_the_record() {
    let s = Branches::set_up().await;
    let (app, rep, other) = (&s.app, &s.rep_a.1, &s.rep_b.1);
    let client_b = format!("/api/v1/clients/{}", id(&s.client_b));
    app.patch(&client_b, other, json!({"notes": "Prefers mornings"})).await.expect(200);
    let contact = json!({"client_id": s.client_b["id"], "first_name": "Boris"});
    let contact = app.post("/api/v1/contacts", other, contact).await.expect(201).clone();
    let call = json!({"client_id": s.client_b["id"], "kind": "call", "subject": "Follow up"});
    let call = app.post("/api/v1/activities", other, call).await.expect(201).clone();
    app.request(Method::DELETE, &client_b, Some(other), None).await.expect(204);

    let actions = |page: &Value| texts(page, "action");
    // Its owner reads it, deleted or not, newest first, with what changed.
    let history = app.get(&format!("{client_b}/history"), other).await.expect(200).clone();
    assert_eq!(actions(&history), ["deleted", "updated", "created"]);
    assert_eq!(history["data"][1]["changes"]["notes"]["to"], "Prefers mornings");
    for path in [
        format!("{client_b}/history"),
        format!("/api/v1/contacts/{}/history", id(&contact)),
        format!("/api/v1/activities/{}/history", id(&call)),
    ] {
        app.get(&path, rep).await.expect_problem(404, "not_found");
    }
    let calls =
        app.get(&format!("/api/v1/activities/{}/history", id(&call)), other).await.expect(200).clone();
    assert_eq!(actions(&calls), ["created"]);

    // The catalogue is everyone's, and so is its history.
    let tea = json!({"sku": "TEA", "name": "Tea", "price": "4.90", "currency": "EUR"});
    let tea = app.post("/api/v1/products", &s.owner, tea).await.expect(201).clone();
    let tea = format!("/api/v1/products/{}", id(&tea));
    app.patch(&tea, &s.owner, json!({"price": "5.10"})).await.expect(200);
    let prices = app.get(&format!("{tea}/history"), rep).await.expect(200).clone();
    assert_eq!(actions(&prices), ["updated", "created"]);
    assert_eq!(prices["data"][0]["changes"]["price"], json!({"from": "4.90", "to": "5.10"}));
}

/// Operations on client data that the tests above hold to the caller's scope.
#[actix_web::test]
async fn consent_is_read_and_recorded_by_whoever_sees_and_may_change_the_client() {
    let s = Branches::set_up().await;
    let (app, rep_a, rep_b) = (&s.app, &s.rep_a.1, &s.rep_b.1);
    let client_a = format!("/api/v1/clients/{}", id(&s.client_a));
    let contact = json!({"client_id": s.client_a["id"], "first_name": "Anna"});
    let contact = app.post("/api/v1/contacts", rep_a, contact).await.expect(201).clone();
    let contact_a = format!("/api/v1/contacts/{}", id(&contact));
    let grant = json!({"purpose": "calls", "state": "granted", "channel": "phone"});

    // Its owner records and reads it, and asks for its unsubscribe links.
    for subject in [&client_a, &contact_a] {
        app.post(&format!("{subject}/consents"), rep_a, grant.clone()).await.expect(201);
        app.get(&format!("{subject}/consents"), rep_a).await.expect(200);
        app.get(&format!("{subject}/consents/unsubscribe-link?purpose=calls"), rep_a).await.expect(200);
    }
    // Another rep, who doesn't see the client, finds none of it and records nothing.
    for subject in [&client_a, &contact_a] {
        app.post(&format!("{subject}/consents"), rep_b, grant.clone()).await.expect_problem(404, "not_found");
        app.get(&format!("{subject}/consents"), rep_b).await.expect_problem(404, "not_found");
        let link = format!("{subject}/consents/unsubscribe-link?purpose=calls");
        app.get(&link, rep_b).await.expect_problem(404, "not_found");
    }
    // A viewer who sees every client reads it, and records none.
    let (_, viewer) = app.user_seeing("viewer", "all").await;
    app.get(&format!("{client_a}/consents"), &viewer).await.expect(200);
    app.post(&format!("{client_a}/consents"), &viewer, grant.clone()).await.expect_problem(403, "forbidden");
    assert_eq!(app.sql_i64("SELECT count(*) AS value FROM consent_records").await, 2);
}

const SCOPE_TESTED: &[&str] = &[
    "list_clients",
    "search_clients",
    "get_client",
    "get_client_timeline",
    "create_client",
    "update_client",
    "upsert_client_by_ref",
    "upsert_contact_by_ref",
    "upsert_deal_by_ref",
    "upsert_activity_by_ref",
    "batch_clients",
    "batch_contacts",
    "batch_deals",
    "batch_activities",
    "delete_client",
    "restore_client",
    "list_deleted_clients",
    "list_client_contacts",
    "list_client_deals",
    "list_client_activities",
    "create_contact",
    "update_contact",
    "delete_contact",
    "restore_contact",
    "create_deal",
    "update_deal",
    "delete_deal",
    "restore_deal",
    "create_activity",
    "update_activity",
    "delete_activity",
    "restore_activity",
    "complete_activity",
    "get_contact",
    "list_contacts",
    "search_contacts",
    "list_deleted_contacts",
    "list_deleted_activities",
    "get_deal",
    "get_deal_history",
    "list_deals",
    "search_deals",
    "list_deleted_deals",
    "list_deal_activities",
    "get_activity",
    "list_activities",
    "search_activities",
    "get_agenda",
    "get_pipeline_board",
    "list_reminders",
    "ack_reminder",
    "preview_segment",
    "list_segment_members",
    "count_segment_members",
    "add_segment_members",
    "add_segment_members_from_filter",
    "export_segment",
    // In tests/api/call_lists.rs: a rep's call list calls the clients they see.
    "create_call_list",
    "list_audit_events",
    "list_security_alerts",
    "get_client_history",
    "get_contact_history",
    "get_activity_history",
    "share_client",
    "list_client_shares",
    "unshare_client",
    "record_client_consent",
    "get_client_consents",
    "get_client_unsubscribe_link",
    "record_contact_consent",
    "get_contact_consents",
    "get_contact_unsubscribe_link",
    "merge_clients",
    "merge_contacts",
    "list_client_duplicates",
    "create_import",
    "get_import",
    "get_import_errors",
    "list_changes",
    "get_changes_cursor",
    "list_webhooks",
    "create_webhook",
    "get_webhook",
    "update_webhook",
    "delete_webhook",
    "rotate_webhook_secret",
    "test_webhook",
    "list_webhook_deliveries",
    "retry_webhook_delivery",
    // In tests/api/reports.rs: a rep's report counts their own deals only.
    "sales_report",
    "seasonality_report",
    "funnel_report",
    "forecast_report",
    "activity_report",
    "clients_report",
    // In tests/api/targets.rs: a rep reads their own plans and their team's, a manager their team's.
    "list_targets",
    "create_target",
    "get_target",
    "update_target",
    "delete_target",
];

/// Operations under those tags that return no client's data: a segment's definition (its name and
/// filter) or tombstone (its id), the record of who exported what, the workspace's RFM recount
/// (how many clients it scored, for owners, admins and managers), and a target's tombstone.
const NO_CLIENT_DATA: &[&str] = &[
    "list_deleted_segments",
    "get_segment",
    "list_segments",
    "create_segment",
    "update_segment",
    "delete_segment",
    "remove_segment_members",
    "list_segment_exports",
    "refresh_rfm",
    // A target's tombstone: its id only.
    "list_deleted_targets",
    // An unsubscribe link answers the purpose it withdrew and when: whose it was is in the signed
    // token its holder already has.
    "unsubscribe",
    "unsubscribe_one_click",
];

/// Every operation under the tags that carry client data is either held to the scope by a test
/// above or says why it returns none: a new endpoint can't slip past the rules unnoticed.
#[test]
fn every_operation_on_client_data_is_scope_tested() {
    const CLIENT_DATA: &[&str] = &[
        "clients",
        "contacts",
        "deals",
        "activities",
        "segments",
        "audit",
        "changes",
        "webhooks",
        "reports",
        "targets",
        "consent",
    ];
    let document = crm::openapi::document();
    let mut unclassified = Vec::new();
    for item in document["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        for operation in item.as_object().into_iter().flat_map(|item| item.values()) {
            let id = operation["operationId"].as_str().unwrap_or_default();
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            let listed = SCOPE_TESTED.contains(&id) as u8 + NO_CLIENT_DATA.contains(&id) as u8;
            if CLIENT_DATA.contains(&tag) && listed != 1 {
                unclassified.push(id.to_string());
            }
        }
    }
    assert!(unclassified.is_empty(), "operations on client data without a scope test: {unclassified:?}");
}
