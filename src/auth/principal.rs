//! The authenticated principal: every request that needs a caller resolves to one here, and
//! every query takes the workspace from it, never from the request.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use chrono::Utc;
use diesel::PgConnection;
use futures_util::future::LocalBoxFuture;

use crate::auth::api_key;
use crate::auth::scopes::Scope;
use crate::auth::tokens::{API_KEY_PREFIX, OpaqueToken};
use crate::db::models::api_key::KeyWithPrincipal;
use crate::db::models::user::Access;
use crate::db::read_budget::Reader;
use crate::db::replica::{ReadReplica, in_read_snapshot};
use crate::db::visibility::ClientScope;
use crate::db::{self, DbPool, models::User};
use crate::documented_routes::DocumentedRoutes;
use crate::domain::personal_data::Disclosure;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::ids::{UserId, WorkspaceId};
use crate::middleware::RequestId;
use crate::state::AppState;

/// Who is calling: their workspace, user and role, as their access token says.
///
/// The token is verified before a handler runs, but the database has the last word: every piece
/// of the request's database work goes through [`run_as`], which first checks that the
/// account is still active and still has this role.
#[derive(Debug, Clone)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    /// The request's id, recorded with every change the request makes.
    pub request_id: Option<String>,
    /// How the response shows personal data, once the request's database check has read it.
    disclosure: DisclosureSlot,
}

/// How a request's response shows personal data: filled in by the caller's check in the request's
/// first database turn, read by `middleware::mask_personal_data` once the handler has answered.
/// Shared between the principal and the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct DisclosureSlot(Arc<OnceLock<Disclosure>>);

impl DisclosureSlot {
    pub fn get(&self) -> Option<Disclosure> {
        self.0.get().copied()
    }
}

/// What a request's database work is checked against: the caller as the access token has them.
/// Apart from the principal, so that `run_as(principal.caller(), ..)` can move the principal into
/// its closure.
#[derive(Debug, Clone)]
pub struct Caller {
    workspace_id: WorkspaceId,
    user_id: UserId,
    role: Role,
    disclosure: DisclosureSlot,
}

const INVALID_TOKEN: &str = "the access token or API key is missing, invalid or expired";
const ROLE_CHANGED: &str = "the user's role changed after the access token was issued; refresh it";

impl Principal {
    /// The caller to run this request's database work as.
    pub fn caller(&self) -> Caller {
        Caller {
            workspace_id: self.workspace_id,
            user_id: self.user_id,
            role: self.role,
            disclosure: self.disclosure.clone(),
        }
    }

    /// Refuses read-only roles.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(Cow::Borrowed("the viewer role is read-only")))
        }
    }

    /// Refuses everyone but owners and admins: for users, teams and workspace-wide settings.
    pub fn require_admin(&self, what: &'static str) -> Result<(), ApiError> {
        if self.role.can_manage_users() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(Cow::Owned(format!("only owners and admins may {what}"))))
        }
    }

    /// Refuses everyone but owners, admins and managers: for taking client data out in bulk.
    pub fn require_manager(&self, what: &'static str) -> Result<(), ApiError> {
        if self.role.can_export() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(Cow::Owned(format!("only owners, admins and managers may {what}"))))
        }
    }
}

/// Runs `work` as `caller` in one trip to a database thread, after checking on the same connection
/// that the account is still active and still has the token's role, so that a deactivation or a
/// change of role applies at once. Checking here rather than in the extractor saves every request
/// a second wait in the database queue and a second trip to a database thread.
pub async fn run_as<T, F>(caller: Caller, pool: &DbPool, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
{
    db::run(pool, move |conn| {
        caller.check(conn)?;
        work(conn)
    })
    .await
}

/// [`run_as`] for work on client data: `work` also gets the clients the caller sees, which every
/// query of client data takes. A scope narrower than `all` costs a query for the clients shared
/// with the caller, and a `team` one two more for the team's members.
pub async fn run_seeing<T, F>(caller: Caller, pool: &DbPool, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection, &ClientScope) -> Result<T, ApiError> + Send + 'static,
{
    db::run(pool, move |conn| {
        let access = caller.check(conn)?;
        let reader = access.read_budget.map(|budget| {
            Reader::new(caller.workspace_id, caller.user_id, budget, &access.timezone, Utc::now())
        });
        let scope = ClientScope::of(conn, caller.workspace_id, caller.user_id, &access, reader)?;
        work(conn, &scope)
    })
    .await
}

/// [`run_seeing`] for reads that may lag a little behind the writes: reports, exports, segment
/// counts and previews. They go to the read replica while it keeps up (`db::replica`), else to the
/// primary, and run in one read-only snapshot either way, so a report's figures agree with each
/// other. The caller is checked on the primary all the same: a deactivation or a revoked key
/// applies at once, whatever the replica's lag. A replica that fails the read for want of a
/// server hands it to the primary, which is why `work` may run twice.
pub async fn run_reading<T, F>(caller: Caller, state: &AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: Fn(&mut PgConnection, &ClientScope) -> Result<T, ApiError> + Send + Sync + 'static,
{
    let replica = state.read_replica.as_ref();
    let replica_takes_it = ReadReplica::taking(replica).is_some();
    if !replica_takes_it {
        // One trip: the caller's check and the read on the same connection.
        return run_seeing(caller, &state.pool, move |conn, scope| {
            in_read_snapshot(conn, |conn| work(conn, scope))
        })
        .await;
    }
    let scope = run_seeing(caller, &state.pool, |_, scope| Ok(scope.clone())).await?;
    db::replica::run_lagging(&state.pool, replica, move |conn| work(conn, &scope)).await
}

/// The principal a background job acts as, and what it sees: the user who started the job, as
/// they are now (a job of a user since deactivated stops). `request_id` marks the job's changes.
pub fn for_job(
    conn: &mut PgConnection,
    workspace_id: WorkspaceId,
    user_id: UserId,
    request_id: String,
) -> Result<(Principal, ClientScope), ApiError> {
    let access = match User::access(conn, workspace_id, user_id)? {
        Some(access) if access.active => access,
        _ => {
            return Err(ApiError::Unauthorized(Cow::Borrowed(
                "the user who started this is no longer active",
            )));
        }
    };
    let scope = ClientScope::of(conn, workspace_id, user_id, &access, None)?;
    let principal = Principal {
        workspace_id,
        user_id,
        role: access.role,
        request_id: Some(request_id),
        disclosure: DisclosureSlot::default(),
    };
    Ok((principal, scope))
}

impl Caller {
    /// How the request shows personal data, once its first database turn has checked the caller.
    pub fn disclosure(&self) -> Option<Disclosure> {
        self.disclosure.get()
    }

    /// Checks the account and gives what it may see and read; notes for the response how it shows
    /// personal data.
    fn check(&self, conn: &mut PgConnection) -> Result<Access, ApiError> {
        match User::access(conn, self.workspace_id, self.user_id)? {
            Some(access) if access.active && access.role == self.role => {
                // A request's later turns find it set already, to the same.
                let _ = self.disclosure.0.set(access.personal_data);
                Ok(access)
            }
            Some(access) if access.active => Err(ApiError::Unauthorized(Cow::Borrowed(ROLE_CHANGED))),
            _ => Err(ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN))),
        }
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { authenticate(&request).await })
    }
}

/// The principal the request's bearer credential names: an access token (verified here, no
/// database read: that happens in the request's own turn, see [`run_as`]) or an API key (read
/// from the database). The request counts against the principal's rate limit. Done once per
/// request: a handler that extracts the principal twice, and the work around handlers that needs
/// the caller first (safe retries), get the request's one principal. A key's scopes are checked
/// on every call, against the operation the request was routed to once it has been.
pub async fn authenticate(request: &HttpRequest) -> Result<Principal, ApiError> {
    let cached = request.extensions().get::<Authenticated>().cloned();
    let authenticated = match cached {
        Some(authenticated) => authenticated,
        None => {
            let authenticated = authenticate_anew(request).await?;
            request.extensions_mut().insert(authenticated.clone());
            authenticated
        }
    };
    if let Some(scopes) = &authenticated.key_scopes {
        check_key_scope(request, scopes)?;
    }
    Ok(authenticated.principal)
}

/// A request's principal, and for an API key the scopes it holds.
#[derive(Debug, Clone)]
struct Authenticated {
    principal: Principal,
    key_scopes: Option<Arc<Vec<Scope>>>,
}

async fn authenticate_anew(request: &HttpRequest) -> Result<Authenticated, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("the application state is not registered"))?;
    let token = bearer_token(request).ok_or(ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN)))?;
    let (workspace_id, user_id, role, key) = if token.starts_with(API_KEY_PREFIX) {
        let key = by_api_key(request, &state, &token).await?;
        let limit = u32::try_from(key.key.requests_per_minute).unwrap_or(1);
        let scopes = key.key.scopes.iter().filter_map(|scope| scope.parse().ok()).collect();
        (key.key.workspace_id, key.key.id, key.role(), Some((limit, Arc::new(scopes))))
    } else {
        let claims = state.jwt.verify(&token).map_err(|error| {
            log::debug!("refused an access token: {error}");
            ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN))
        })?;
        (claims.ws, claims.sub, claims.role, None)
    };
    let limit = key.as_ref().map_or(state.user_requests_per_minute, |(limit, _)| *limit);
    let counted = state.request_limiter.count(user_id, limit, Instant::now());
    request.extensions_mut().insert(counted.unwrap_or_else(|standing| standing));
    counted.map_err(|standing| ApiError::RateLimited { limit, retry_after: standing.reset })?;
    // Where the request's first database turn notes how the answer shows personal data, for
    // `middleware::mask_personal_data`.
    let disclosure = DisclosureSlot::default();
    request.extensions_mut().insert(disclosure.clone());
    let principal = Principal {
        workspace_id,
        user_id,
        role,
        request_id: request.extensions().get::<RequestId>().map(|id| id.0.clone()),
        disclosure,
    };
    Ok(Authenticated { principal, key_scopes: key.map(|(_, scopes)| scopes) })
}

/// The API key `token`, if it authenticates.
async fn by_api_key(
    request: &HttpRequest,
    state: &AppState,
    token: &str,
) -> Result<KeyWithPrincipal, ApiError> {
    let token =
        OpaqueToken::parse_api_key(token).ok_or(ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN)))?;
    // The peer, not a forwarded-for header a client could write itself.
    let from = request.peer_addr().map(|peer| peer.ip());
    db::run(&state.pool, move |conn| api_key::authenticate(conn, &token, from, Utc::now())).await
}

/// Refuses a key's request for an operation its scopes don't cover. The operation is the route the
/// request was matched to once routing has run (percent-encoded letters in a path reach the same
/// route as the plain ones, so the raw path can't be trusted to name it), and the one its path
/// names before (the safe-retries middleware).
fn check_key_scope(request: &HttpRequest, scopes: &[Scope]) -> Result<(), ApiError> {
    let path = request.match_pattern().unwrap_or_else(|| request.path().to_string());
    let needed = request
        .app_data::<web::Data<DocumentedRoutes>>()
        .and_then(|routes| routes.required_scope(request.method(), &path));
    api_key::check_scope(scopes, needed)
}

fn bearer_token(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_string())
}
