//! The authenticated principal: every request that needs a caller resolves to one here, and
//! every query takes the workspace from it, never from the request.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use diesel::OptionalExtension;

use crate::db::{self, models::User};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::ids::{TeamId, UserId, WorkspaceId};
use crate::middleware::RequestId;
use crate::state::AppState;

/// Who is calling: their workspace, user, role and team, as the database says now.
#[derive(Debug, Clone)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
    pub role: Role,
    pub team_id: Option<TeamId>,
    /// The request's id, recorded with every change the request makes.
    pub request_id: Option<String>,
}

const INVALID_TOKEN: &str = "the access token is missing, invalid or expired";

impl Principal {
    /// Refuses read-only roles.
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.role.can_write() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(Cow::Borrowed("the viewer role is read-only")))
        }
    }

    /// Refuses everyone but owners and admins, for workspace-wide settings.
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

    /// Refuses roles that may not manage users.
    pub fn require_user_admin(&self) -> Result<(), ApiError> {
        if self.role.can_manage_users() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(Cow::Borrowed("only owners and admins may manage users")))
        }
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = request.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(request);
        let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            let token = token.ok_or(ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN)))?;
            let claims = state.jwt.verify(&token).map_err(|error| {
                log::debug!("refused an access token: {error}");
                ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN))
            })?;
            // Read the user every time, so that deactivation or a role change applies at once.
            let user =
                db::run(&state.pool, move |conn| Ok(User::find(conn, claims.ws, claims.sub).optional()?))
                    .await?;
            match user {
                Some(user) if user.active => Ok(Principal {
                    workspace_id: user.workspace_id,
                    user_id: user.id,
                    role: user.role(),
                    team_id: user.team_id,
                    request_id,
                }),
                _ => Err(ApiError::Unauthorized(Cow::Borrowed(INVALID_TOKEN))),
            }
        })
    }
}

fn bearer_token(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim().to_string())
}
