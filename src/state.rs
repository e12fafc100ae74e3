//! The state every handler shares, registered once as `web::Data<AppState>`.

use std::sync::Arc;

use crate::auth::rate_limit::RequestLimiter;
use crate::auth::throttle::LoginThrottle;
use crate::auth::tokens::JwtKeys;
use crate::cors::AllowedOrigins;
use crate::db::DbPool;
use crate::db::replica::ReadReplica;

#[derive(Debug, Clone)]
pub struct AppState {
    pub pool: DbPool,
    /// Where reports, exports, segment counts and previews go while it keeps up
    /// (`CRM_READ_DATABASE_URL`, `auth::run_reading`); None: to `pool`.
    pub read_replica: Option<ReadReplica>,
    pub jwt: Arc<JwtKeys>,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// The largest spreadsheet upload (`POST /imports`), in bytes.
    pub import_limit: usize,
    /// Failed logins by account and address, this process's.
    pub login_throttle: Arc<LoginThrottle>,
    /// Requests a minute by principal, this process's.
    pub request_limiter: Arc<RequestLimiter>,
    /// The requests a minute a person may make (an API key has its own limit).
    pub user_requests_per_minute: u32,
    /// Browser origins allowed to call the API (CORS), read by the server's middleware.
    pub cors_origins: AllowedOrigins,
    /// Whether webhooks may point at private and loopback addresses, and use `http`
    /// (`CRM_WEBHOOKS_ALLOW_PRIVATE`).
    pub webhooks_allow_private: bool,
}
