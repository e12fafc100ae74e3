//! A test's own server, over real HTTP, and a small client for it.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::http::Method;
use awc::http::header::HeaderMap;
use serde_json::{Value, json};

use super::cluster::{TestDatabase, cluster};
use crm::auth::tokens::JwtKeys;
use crm::bootstrap::{NewWorkspaceWithOwner, create_workspace};
use crm::config::Secret;
use crm::cors::AllowedOrigins;
use crm::state::AppState;

pub const JWT_SECRET: &str = "the-test-suite-signing-secret-of-48-bytes-length";
pub const OWNER_EMAIL: &str = "owner@example.com";
pub const OWNER_PASSWORD: &str = "owner-password-1";
pub const BODY_LIMIT: usize = 64 * 1024;

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is served, apart from the API.
    pub metrics_address: String,
    pub workspace_id: String,
    pub database_url: String,
    client: awc::Client,
    server: ServerHandle,
    // Dropped last: the server's connections go with the database.
    _database: TestDatabase,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts the status and that an error comes as problem+json with the status echoed.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        if status >= 400 {
            assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.body);
            assert_eq!(self.body["status"], status);
        }
        &self.body
    }

    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        self.expect(status);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["type"], format!("urn:crm:problem:{code}"));
        &self.body
    }
}

impl TestApp {
    /// A server on a database of its own, with one workspace and its owner.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// [`TestApp::spawn`], with settings changed by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut AppState)) -> TestApp {
        let database = cluster().create_database();
        let url = database.url.clone();
        let workspace_id = actix_web::web::block(move || {
            let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&url).expect("connect");
            let new = NewWorkspaceWithOwner {
                name: "Test company",
                owner_email: OWNER_EMAIL,
                owner_full_name: "Olga Owner",
                owner_password: OWNER_PASSWORD,
            };
            create_workspace(&mut conn, &new).expect("create the workspace").0.id.to_string()
        })
        .await
        .expect("bootstrap");

        let pool = crm::db::build_pool(&database.url, 4).expect("pool");
        let metrics = crm::metrics::build(pool.clone(), None).expect("metrics");
        let mut state = AppState {
            pool: crm::db::DbPool::new(pool, &database.url).expect("database threads"),
            read_replica: None,
            jwt: Arc::new(JwtKeys::new(&Secret::new(JWT_SECRET))),
            body_limit: BODY_LIMIT,
            import_limit: 8 * BODY_LIMIT,
            login_throttle: Arc::default(),
            request_limiter: Arc::default(),
            user_requests_per_minute: crm::auth::rate_limit::DEFAULT_USER_REQUESTS_PER_MINUTE,
            cors_origins: AllowedOrigins::None,
            webhooks_allow_private: true,
        };
        configure(&mut state);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let metrics_listener = TcpListener::bind("127.0.0.1:0").expect("bind the metrics");
        let metrics_address = format!("http://{}", metrics_listener.local_addr().expect("metrics address"));
        actix_web::rt::spawn(crm::metrics::serve(&metrics, metrics_listener).expect("metrics server"));
        let server = crm::server::build(state, metrics, listener, 1, false).expect("server");
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestApp {
            address,
            metrics_address,
            workspace_id,
            database_url: database.url.clone(),
            // An idle connection is dropped after 2 s, before the server's keep-alive (5 s) ends
            // it: a request sent on a connection the server is closing fails with `Disconnected`.
            // Tests that pause (a Python verifier installing itself) would meet that race.
            client: awc::Client::builder()
                .connector(awc::Connector::new().conn_keep_alive(std::time::Duration::from_secs(2)))
                .timeout(std::time::Duration::from_secs(30))
                .finish(),
            server: handle,
            _database: database,
        }
    }

    /// Another workspace in the same database, with its owner: (workspace id, owner id).
    pub async fn create_other_workspace(
        &self,
        name: &str,
        owner_email: &str,
        owner_password: &str,
    ) -> (String, String) {
        let (name, email, password) = (name.to_string(), owner_email.to_string(), owner_password.to_string());
        self.on_database(move |conn| {
            let new = NewWorkspaceWithOwner {
                name: &name,
                owner_email: &email,
                owner_full_name: "Other owner",
                owner_password: &password,
            };
            let (workspace, owner) = create_workspace(conn, &new).expect("create the other workspace");
            (workspace.id.to_string(), owner.id.to_string())
        })
        .await
    }

    /// Runs `work` on a connection of its own to the test's database, off the async workers: for
    /// what the API can't do (states in the past, a background job's claim, a held lock).
    pub async fn on_database<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut diesel::PgConnection) -> T + Send + 'static,
    ) -> T {
        let url = self.database_url.clone();
        actix_web::web::block(move || {
            let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&url).expect("connect");
            work(&mut conn)
        })
        .await
        .expect("the database work")
    }

    /// Runs SQL on the test's database directly: for states the API can't reach quickly (a
    /// purchase three years ago).
    pub async fn sql(&self, statement: &str) {
        let statement = statement.to_string();
        self.on_database(move |conn| {
            diesel::RunQueryDsl::execute(diesel::sql_query(statement), conn).expect("run the SQL");
        })
        .await;
    }

    /// Runs a query that returns one bigint column named `value` and gives its value.
    pub async fn sql_i64(&self, query: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            value: i64,
        }
        let query = query.to_string();
        self.on_database(move |conn| {
            diesel::RunQueryDsl::get_result::<Row>(diesel::sql_query(query), conn)
                .expect("run the query")
                .value
        })
        .await
    }

    /// Runs a background job's claim as two workers would at the same moment: `first` inside a
    /// transaction that stays open while `then` runs on a connection of its own, which must
    /// finish within 20 s (waiting for the first worker fails the test); then `then` once more,
    /// after both committed. Gives the three outcomes.
    pub async fn overlapping_claims<T: Send + 'static>(
        &self,
        first: impl FnOnce(&mut diesel::PgConnection) -> T + Send + 'static,
        then: impl Fn(&mut diesel::PgConnection) -> T + Clone + Send + 'static,
    ) -> (T, T, T) {
        use diesel::Connection;
        let url = self.database_url.clone();
        self.on_database(move |conn| {
            let second_worker = then.clone();
            let (first, second) = conn
                .transaction::<_, diesel::result::Error, _>(|conn| {
                    let first = first(conn);
                    let (sender, receiver) = std::sync::mpsc::channel();
                    std::thread::spawn(move || {
                        let mut other = diesel::PgConnection::establish(&url).expect("connect");
                        let _ = sender.send(second_worker(&mut other));
                    });
                    let second = receiver
                        .recv_timeout(std::time::Duration::from_secs(20))
                        .expect("the second worker claims without waiting for the first");
                    Ok((first, second))
                })
                .expect("the first worker's transaction");
            (first, second, then(conn))
        })
        .await
    }

    /// Holds the transaction-level advisory lock the server takes for `name` (hashed as the server
    /// hashes it) in a transaction of its own: the first channel says when it is held, sending on
    /// the second lets it go.
    pub fn hold_advisory_lock(
        &self,
        name: &str,
    ) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        use diesel::RunQueryDsl;
        let name = name.to_string();
        self.hold_transaction(move |conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind::<diesel::sql_types::Text, _>(name)
                .execute(conn)
                .map(drop)
        })
    }

    /// Runs `work` in a transaction of its own and keeps it open, uncommitted: the first channel
    /// says when `work` is done, sending on the second commits it.
    pub fn hold_transaction(
        &self,
        work: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<()> + Send + 'static,
    ) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        use diesel::Connection;
        let url = self.database_url.clone();
        let (done_tx, done) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut conn = diesel::PgConnection::establish(&url).expect("connect");
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                work(conn)?;
                done_tx.send(()).expect("the test waits");
                release_rx.recv().ok();
                Ok(())
            })
            .expect("the held transaction");
        });
        (done, release)
    }

    /// Waits until `count` sessions of this test's database wait for a lock: the way a test makes
    /// sure that requests really overlap with a transaction it holds open, instead of sleeping and
    /// hoping. Gives up after 30 s.
    pub async fn wait_for_lock_waiters(&self, count: i64) {
        // Sessions, not pg_locks: a wait for another transaction's row or key is a lock without a
        // database there.
        let query = "SELECT count(*) AS value FROM pg_stat_activity
                     WHERE wait_event_type = 'Lock' AND datname = current_database()";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let waiting = self.sql_i64(query).await;
            if waiting >= count {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "only {waiting} of {count} sessions ever waited for a lock"
            );
            actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Re-reads `path` as `token` and asserts it is exactly `before`: what a refused write must
    /// leave behind (same fields, same version).
    pub async fn assert_unchanged(&self, path: &str, token: &str, before: &Value) {
        let after = self.get(path, token).await.expect(200).clone();
        assert_eq!(&after, before, "{path} changed although the write was refused");
    }

    /// Sends a request with `If-Match: "<version>"`.
    pub async fn request_if_match(
        &self,
        method: Method,
        path: &str,
        token: &str,
        version: i64,
        body: Option<&Value>,
    ) -> TestResponse {
        let request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token)
            .insert_header(("if-match", format!("\"{version}\"")));
        send(request, body).await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        send(request, body).await
    }

    /// A request with extra headers, as a browser sends `Origin` and a preflight's questions.
    pub async fn request_with_headers(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> TestResponse {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        send(request, body).await
    }

    /// Sends raw bytes with the given content type (none when `None`), as `token`'s holder.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> TestResponse {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(content_type) = content_type {
            request = request.insert_header(("content-type", content_type));
        }
        read(request.send_body(body).await).await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::POST, path, Some(token), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.request(Method::PATCH, path, Some(token), Some(&body)).await
    }

    pub async fn login_as(&self, email: &str, password: &str) -> TestResponse {
        self.request(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Exchanges a refresh token (a string, or a session's `refresh_token`) for a new pair.
    pub async fn refresh(&self, refresh_token: impl serde::Serialize) -> TestResponse {
        let body = json!({"refresh_token": refresh_token});
        self.request(Method::POST, "/api/v1/auth/refresh", None, Some(&body)).await
    }

    /// Logs the owner in; returns the whole token response.
    pub async fn owner_session(&self) -> Value {
        self.login_as(OWNER_EMAIL, OWNER_PASSWORD).await.expect(200).clone()
    }

    pub async fn owner_token(&self) -> String {
        access_token(&self.owner_session().await)
    }

    /// A second workspace in the same database, and its owner's access token.
    pub async fn rival_token(&self) -> String {
        self.create_other_workspace("Rival", "rival@example.com", "rival-password").await;
        access_token(self.login_as("rival@example.com", "rival-password").await.expect(200))
    }

    /// Creates a user with `role` and returns (the user, their access token).
    pub async fn user_with_role(&self, role: &str) -> (Value, String) {
        let owner = self.owner_token().await;
        let email = format!("{role}-{}@example.com", uuid::Uuid::now_v7().simple());
        let password = "a-user-password";
        let user = self
            .post(
                "/api/v1/users",
                &owner,
                json!({"email": email, "full_name": format!("A {role}"), "role": role, "password": password}),
            )
            .await
            .expect(201)
            .clone();
        let session = self.login_as(&email, password).await.expect(200).clone();
        (user, access_token(&session))
    }

    /// [`TestApp::user_with_role`], seeing `visibility` of the clients (`own`, `team` or `all`)
    /// whatever their role's default.
    pub async fn user_seeing(&self, role: &str, visibility: &str) -> (Value, String) {
        let (user, token) = self.user_with_role(role).await;
        let owner = self.owner_token().await;
        let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap_or_default());
        let user = self.patch(&path, &owner, json!({"visibility": visibility})).await.expect(200).clone();
        (user, token)
    }
}

/// The (field, code) of each error of a validation problem, in order.
pub fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|error| {
            let text = |key: &str| error[key].as_str().unwrap_or_default().to_string();
            (text("field"), text("code"))
        })
        .collect()
}

/// A record's `id`, as paths take it.
pub fn id_of(record: &Value) -> &str {
    record["id"].as_str().unwrap_or_default()
}

pub fn access_token(session: &Value) -> String {
    session["access_token"].as_str().expect("an access token").to_string()
}

/// Sends `request` with `body` as JSON, or with no body.
async fn send(request: awc::ClientRequest, body: Option<&Value>) -> TestResponse {
    let response = match body {
        Some(body) => request.send_json(body).await,
        None => request.send().await,
    };
    read(response).await
}

async fn read(
    response: Result<
        awc::ClientResponse<
            impl futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
        >,
        awc::error::SendRequestError,
    >,
) -> TestResponse {
    let mut response = response.expect("the request reaches the server");
    let bytes = response.body().limit(16 * 1024 * 1024).await.expect("the response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).to_string()))
    };
    TestResponse { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sent at once; the server's workers stop without waiting for the future.
        drop(self.server.stop(false));
    }
}

/// An RFC 3339 timestamp of a response, as a time: compared as times, never as text.
#[track_caller]
pub fn timestamp(value: &Value) -> chrono::DateTime<chrono::Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a timestamp: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text:?} is not RFC 3339: {error}"))
        .to_utc()
}

/// Asserts that `value` is a timestamp no earlier than `from` and no later than `to`: for times
/// the server takes from the clock while the test watches.
#[track_caller]
pub fn assert_taken_between(
    value: &Value,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) {
    let at = timestamp(value);
    // PostgreSQL keeps microseconds: the bounds are cut to them too.
    let from = chrono::SubsecRound::trunc_subsecs(from, 6);
    assert!(from <= at && at <= to, "{at} is not between {from} and {to}");
}
