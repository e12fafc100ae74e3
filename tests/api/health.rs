use actix_web::http::Method;

use crate::support::TestApp;

#[actix_web::test]
async fn liveness_and_readiness_answer_ok() {
    let app = TestApp::spawn().await;
    let live = app.request(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.expect(200)["status"], "ok");
    let ready = app.request(Method::GET, "/health/ready", None, None).await;
    assert_eq!(ready.expect(200)["status"], "ok");
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_show_the_pool() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    app.get("/api/v1/me", &owner).await.expect(200);
    app.get("/api/v1/nowhere", &owner).await.expect(404);
    let client = awc::Client::default();
    let on_the_api = client.get(format!("{}/metrics", app.address)).send().await.expect("the API's /metrics");
    assert_eq!(on_the_api.status().as_u16(), 404, "metrics are not served to the API's callers");
    let mut response = client.get(format!("{}/metrics", app.metrics_address)).send().await.expect("metrics");
    assert_eq!(response.status().as_u16(), 200);
    let text = String::from_utf8(response.body().await.expect("body").to_vec()).unwrap_or_default();
    assert!(
        text.contains(r#"crm_http_requests_total{endpoint="/api/v1/me",method="GET",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"endpoint="UNMATCHED""#), "unknown paths are pooled under one label: {text}");
    assert!(text.contains("crm_http_requests_duration_seconds_bucket"), "{text}");
    assert!(text.contains("crm_db_pool_max_connections 4"), "{text}");
}

#[actix_web::test]
async fn more_requests_at_once_than_pooled_connections_all_get_their_answer() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    // The test server has 4 connections: the other requests wait their turn, none fails.
    let together =
        futures_util::future::join_all((0..40).map(|_| app.get("/api/v1/clients?limit=5", &owner))).await;
    for response in together {
        response.expect(200);
    }
    assert_eq!(app.get("/api/v1/me", &owner).await.expect(200)["user"]["role"], "owner");
}

#[actix_web::test]
async fn a_panic_in_one_requests_database_work_is_its_500_and_the_database_threads_live_on() {
    use crm::error::ApiError;

    let database = crate::support::cluster::cluster().create_database();
    // One connection, so one thread: had the panic taken it down, nothing would serve what follows.
    let pool = crm::db::build_pool(&database.url, 1).expect("pool");
    let pool = crm::db::DbPool::new(pool, &database.url).expect("database threads");
    for _ in 0..2 {
        let outcome: Result<(), ApiError> = crm::db::run(&pool, |_| panic!("a bug in a handler")).await;
        assert!(matches!(outcome, Err(ApiError::Internal(_))), "{outcome:?}");
    }
    let answers = futures_util::future::join_all((0..8).map(|n| {
        crm::db::run(&pool, move |conn| {
            use diesel::RunQueryDsl;
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(&n.to_string()))
                .get_result::<i32>(conn)
                .map_err(ApiError::from)
        })
    }))
    .await;
    let answers: Vec<i32> = answers.into_iter().map(|answer| answer.expect("an answer")).collect();
    assert_eq!(answers, (0..8).collect::<Vec<_>>());
}

/// Sessions the database ended (as a restart or an operator's pg_terminate_backend does) are
/// found by the request that uses them: a 503 naming no internals, with Retry-After, at most once
/// per pooled connection; never a 500, and the requests after are served on new connections.
#[actix_web::test]
async fn connections_the_database_ended_cost_one_503_each_and_are_replaced() {
    let app = TestApp::spawn().await;
    let owner = app.owner_token().await;
    for _ in 0..8 {
        app.get("/api/v1/clients", &owner).await.expect(200);
    }
    // Three rounds: which request meets which dead connection varies from run to run.
    for round in 0..3 {
        app.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await;
        let mut unavailable = 0;
        for attempt in 0..12 {
            let response = app.get("/api/v1/clients", &owner).await;
            match response.status {
                200 => {}
                503 => {
                    unavailable += 1;
                    let problem = response.expect_problem(503, "database_unavailable");
                    let detail = problem["detail"].as_str().unwrap_or_default();
                    assert_eq!(detail, "the database is unavailable: retry in a moment");
                    assert!(response.header("retry-after").is_some(), "round {round}, attempt {attempt}");
                }
                status => panic!("round {round}, attempt {attempt} answered {status}: {}", response.body),
            }
            if attempt >= 8 {
                assert_eq!(
                    response.status, 200,
                    "round {round}, attempt {attempt}: every dead connection is replaced"
                );
            }
        }
        assert!(
            unavailable <= 4,
            "round {round}: {unavailable} requests met a dead connection, of a pool of 4"
        );
    }
}

/// Every API answer is kept by no cache (tokens, personal data, exports), no response is sniffed
/// into another type, and the docs can't be framed by another site.
#[actix_web::test]
async fn responses_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let owner = crate::support::http::access_token(&session);
    let me = app.get("/api/v1/me", &owner).await;
    let refused = app.get("/api/v1/me", "not-a-token").await;
    let login = app.login_as("nobody@example.com", "wrong password 1").await;
    for (what, response) in [("a read", &me), ("a 401", &refused), ("a refused login", &login)] {
        assert_eq!(response.header("cache-control"), Some("no-store"), "{what}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{what}");
    }
    let live = app.request(Method::GET, "/health/live", None, None).await;
    assert_eq!(live.header("x-content-type-options"), Some("nosniff"));
    let docs = app.request(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, 200);
    assert_eq!(docs.header("x-frame-options"), Some("DENY"));
    assert!(
        docs.header("content-security-policy")
            .is_some_and(|policy| policy.contains("frame-ancestors 'none'"))
    );
}
