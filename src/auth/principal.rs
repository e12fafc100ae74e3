//! The authenticated principal: every request that needs a caller resolves to one here, and
//! every query takes the workspace from it, never from the request.

use std::borrow::Cow;
use std::future::{Ready, ready};
use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use chrono::Utc;
use diesel::PgConnection;

use crate::auth::tokens::JwtKeys;
use crate::db::models::user::Access;
use crate::db::read_budget::Reader;
use crate::db::visibility::ClientScope;
use crate::db::{self, DbPool, models::User};
use crate::domain::personal_data::Disclosure;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::ids::{UserId, WorkspaceId};
use crate::middleware::RequestId;

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

const INVALID_TOKEN: &str = "the access token is missing, invalid or expired";
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
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal_of(request))
    }
}

/// The principal the request's bearer token names, if the token verifies. No database read: that
/// happens in the request's own turn (see [`run_as`]).
fn principal_of(request: &HttpRequest) -> Result<Principal, ApiError> {
    let keys = request
        .app_data::<web::Data<JwtKeys>>()
        .ok_or_else(|| ApiError::internal("the JWT keys are not registered"))?;
    let token = bearer_token(request).ok_or(ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN)))?;
    let claims = keys.verify(&token).map_err(|error| {
        log::debug!("refused an access token: {error}");
        ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN))
    })?;
    // A handler may extract the principal more than once; each gets the request's one slot.
    let existing = request.extensions().get::<DisclosureSlot>().cloned();
    let disclosure = existing.unwrap_or_else(|| {
        let slot = DisclosureSlot::default();
        request.extensions_mut().insert(slot.clone());
        slot
    });
    Ok(Principal {
        workspace_id: claims.ws,
        user_id: claims.sub,
        role: claims.role,
        request_id: request.extensions().get::<RequestId>().map(|id| id.0.clone()),
        disclosure,
    })
}

/// The workspace and user a request's bearer token names, if it verifies: for work around the
/// handlers (safe retries) that keys on the caller before any handler runs.
pub fn verified_caller(request: &HttpRequest) -> Option<(WorkspaceId, UserId)> {
    principal_of(request).ok().map(|principal| (principal.workspace_id, principal.user_id))
}

fn bearer_token(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_string())
}
