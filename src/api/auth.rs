//! Login, token refresh (with rotation and reuse detection) and logout.

use std::borrow::Cow;

use std::time::Instant;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use crate::api::extract::ValidatedJson;
use crate::api::security::{SecurityEvent, action};
use crate::auth::password;
use crate::auth::tokens::{ACCESS_TOKEN_TTL, JwtKeys, OpaqueToken, REFRESH_TOKEN_TTL};
use crate::db::models::change_event::ChangeSet;
use crate::db::{self, models::RefreshToken, models::User, models::Workspace};
use crate::error::{ApiError, ProblemCode, WorkspaceChoice};
use crate::ids::{UserId, WorkspaceId};
use crate::middleware::RequestId;
use crate::state::AppState;

const BAD_CREDENTIALS: &str = "the email or password is wrong";
const BAD_REFRESH_TOKEN: &str = "the refresh token is invalid, expired or revoked";

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "boris@example.com", "password": "a long passphrase"}))]
pub struct LoginRequest {
    #[validate(length(min = 1, max = 320))]
    #[schema(example = "owner@example.com", min_length = 1, max_length = 320)]
    pub email: String,
    #[validate(length(min = 1, max = 256))]
    #[schema(example = "correct horse battery staple", min_length = 1, max_length = 256)]
    pub password: String,
    /// Needed only when the email has accounts in several workspaces and the password is valid
    /// for more than one of them (the 409 `workspace_required` lists them).
    #[schema(nullable = false)]
    pub workspace_id: Option<WorkspaceId>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "the refresh_token of the last login or refresh"}))]
pub struct RefreshRequest {
    /// The refresh token from login or the previous refresh. Each one can be used once.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub refresh_token: String,
}

/// A session's tokens.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIwMTkzOGY0ZSJ9.c2lnbmF0dXJl",
    "token_type": "Bearer", "expires_in": 900, "refresh_token": "01938f4e5b2a7c3d9e1f2a3b4c5d6e00.01938f4e5b2a7c3d9e1f2a3b4c5d6e09.q7WbX2cKd9LmN4pR1sT6uV8yZ0aB3eF5gH7jK2mN4pQ",
    "workspace_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e00", "user_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01"
}))]
pub struct TokenResponse {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires (15 minutes).
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Exchange at `POST /auth/refresh` for new tokens; single use, valid 30 days.
    pub refresh_token: String,
    pub workspace_id: WorkspaceId,
    pub user_id: UserId,
}

/// A security event about an account, from a request no one is authenticated in yet.
fn login_event<'a>(
    workspace: WorkspaceId,
    subject: UserId,
    actor: Option<UserId>,
    action: &'a str,
    request_id: Option<&'a str>,
    details: ChangeSet,
) -> SecurityEvent<'a> {
    SecurityEvent { workspace, actor, subject, action, request_id, details }
}

/// Opens a session for `user`: a new refresh-token family and an access token.
fn open_session(conn: &mut PgConnection, jwt: &JwtKeys, user: &User) -> Result<TokenResponse, ApiError> {
    let family = Uuid::now_v7();
    issue_tokens(conn, jwt, user, family)
}

fn issue_tokens(
    conn: &mut PgConnection,
    jwt: &JwtKeys,
    user: &User,
    family: Uuid,
) -> Result<TokenResponse, ApiError> {
    let now = Utc::now();
    let parts = OpaqueToken::generate(user.workspace_id);
    RefreshToken {
        workspace_id: user.workspace_id,
        id: parts.id,
        user_id: user.id,
        family_id: family,
        secret_hash: parts.secret_hash(),
        expires_at: now + REFRESH_TOKEN_TTL,
        created_at: now,
        used_at: None,
        revoked_at: None,
    }
    .insert(conn)?;
    let access_token = jwt.issue(user.workspace_id, user.id, user.role(), now).map_err(ApiError::internal)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.num_seconds(),
        refresh_token: parts.to_string(),
        workspace_id: user.workspace_id,
        user_id: user.id,
    })
}

/// Log in with email and password.
///
/// An unknown email, a wrong password and a deactivated account all get the same 401. After 5
/// failures for one email, or 20 from one address, each further failure locks the next attempt
/// for twice as long as the last (1 s, 2 s, 4 s … up to 15 minutes): a 429 with `Retry-After`,
/// before the password is checked. A right password clears the email's count.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong email or password", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The password is valid in several workspaces: choose one with `workspace_id`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins for this account or from this address (`too_many_attempts`): retry after `Retry-After` seconds", body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the next attempt is taken"))),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: ValidatedJson<LoginRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let LoginRequest { email, password, workspace_id } = body.0;
    // The peer, not a forwarded-for header a client could write itself.
    let address = request.peer_addr().map(|peer| peer.ip());
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
    let throttle = state.login_throttle.clone();
    throttle
        .check(&email, address, Instant::now())
        .map_err(|retry_after| ApiError::TooManyAttempts { retry_after })?;
    let account = email.clone();
    let accounts = db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        let accounts = User::find_by_email_in_all_workspaces(conn, email.trim())?;
        Ok(accounts
            .into_iter()
            .filter(|user| user.active && workspace_id.is_none_or(|wanted| user.workspace_id == wanted))
            .collect::<Vec<User>>())
    })
    .await?;
    let tried: Vec<(WorkspaceId, UserId)> =
        accounts.iter().map(|user| (user.workspace_id, user.id)).collect();
    // Verify without holding a database connection: argon2 takes tens of milliseconds on purpose.
    let mut matching = password::on_hashing_threads(move || {
        if accounts.is_empty() {
            password::verify_against_nothing(&password);
        }
        accounts
            .into_iter()
            .filter(|user| password::verify(&password, &user.password_hash))
            .collect::<Vec<User>>()
    })
    .await
    .map_err(ApiError::internal)?;
    let from = address.map(|address| address.to_string());
    let seen_from = move || ChangeSet::default().field("address", None, &from);
    if matching.is_empty() {
        throttle.failed(&account, address, Instant::now());
        // Each account the email names learns of the attempt; an unknown email has no workspace.
        if !tried.is_empty() {
            db::run(&state.pool, move |conn| {
                for (workspace, user) in tried {
                    login_event(
                        workspace,
                        user,
                        None,
                        action::LOGIN_FAILED,
                        request_id.as_deref(),
                        seen_from(),
                    )
                    .record(conn)?;
                }
                Ok::<_, ApiError>(())
            })
            .await?;
        }
        return Err(ApiError::Unauthorized(Cow::Borrowed(BAD_CREDENTIALS)));
    }
    throttle.succeeded(&account);
    let jwt = state.jwt.clone();
    let tokens = match matching.len() {
        1 => {
            let user = matching.remove(0);
            db::run(&state.pool, move |conn| {
                conn.transaction(|conn| {
                    let (workspace, id) = (user.workspace_id, user.id);
                    login_event(workspace, id, Some(id), action::LOGIN, request_id.as_deref(), seen_from())
                        .record(conn)?;
                    open_session(conn, &jwt, &user)
                })
            })
            .await?
        }
        _ => {
            let ids: Vec<WorkspaceId> = matching.iter().map(|user| user.workspace_id).collect();
            let workspaces =
                db::run(&state.pool, move |conn| Ok::<_, ApiError>(Workspace::find_many(conn, &ids)?))
                    .await?;
            return Err(ApiError::Conflict {
                code: ProblemCode::WorkspaceRequired,
                detail: "this login is valid in several workspaces: repeat it with one of their ids as workspace_id"
                    .to_string(),
                workspaces: Some(
                    workspaces
                        .into_iter()
                        .map(|workspace| WorkspaceChoice { id: workspace.id.0, name: workspace.name })
                        .collect(),
                ),
            });
        }
    };
    Ok(web::Json(tokens))
}

/// What a refresh attempt came to. Reuse must commit its revocation, so it is not an error
/// inside the transaction.
enum Refresh {
    Rotated(TokenResponse),
    Refused,
    ReuseDetected,
}

/// Exchange a refresh token for new tokens.
///
/// The refresh token is rotated: the one sent is spent and a new one returned. Sending a spent
/// token again is taken as theft: the whole session (every token descended from the same login)
/// is revoked.
#[utoipa::path(
    tag = "auth",
    operation_id = "refresh_token",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "The refresh token is invalid, expired, revoked or reused", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: ValidatedJson<RefreshRequest>,
) -> Result<web::Json<TokenResponse>, ApiError> {
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
    let parts = OpaqueToken::parse(body.0.refresh_token.trim())
        .ok_or(ApiError::Unauthorized(Cow::Borrowed(BAD_REFRESH_TOKEN)))?;
    let jwt = state.jwt.clone();
    let outcome = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let Some(stored) = RefreshToken::find_for_update(conn, parts.workspace, parts.id).optional()?
            else {
                return Ok(Refresh::Refused);
            };
            if !parts.matches(&stored.secret_hash) || stored.revoked_at.is_some() {
                return Ok(Refresh::Refused);
            }
            if stored.used_at.is_some() {
                RefreshToken::revoke_family(conn, stored.workspace_id, stored.family_id)?;
                let details = ChangeSet::default().field("session", None, &stored.family_id);
                let event = action::REFRESH_TOKEN_REUSED;
                login_event(stored.workspace_id, stored.user_id, None, event, request_id.as_deref(), details)
                    .record(conn)?;
                return Ok(Refresh::ReuseDetected);
            }
            if stored.expires_at <= Utc::now() {
                return Ok(Refresh::Refused);
            }
            let user = User::find(conn, stored.workspace_id, stored.user_id)?;
            if !user.active {
                return Ok(Refresh::Refused);
            }
            RefreshToken::mark_used(conn, stored.workspace_id, stored.id)?;
            issue_tokens(conn, &jwt, &user, stored.family_id).map(Refresh::Rotated)
        })
    })
    .await?;
    match outcome {
        Refresh::Rotated(tokens) => Ok(web::Json(tokens)),
        Refresh::Refused => Err(ApiError::Unauthorized(Cow::Borrowed(BAD_REFRESH_TOKEN))),
        Refresh::ReuseDetected => {
            log::warn!("a spent refresh token was presented again; its session has been revoked");
            Err(ApiError::Unauthorized(Cow::Borrowed(
                "this refresh token was already used: the session has been revoked, log in again",
            )))
        }
    }
}

/// Log out: revoke the session the refresh token belongs to.
///
/// Answers 204 whether or not the token was still valid, so it is safe to retry. Access tokens
/// already issued stay valid until they expire (at most 15 minutes).
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    request_body = RefreshRequest,
    responses((status = 204, description = "Logged out"))
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: ValidatedJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    if let Some(parts) = OpaqueToken::parse(body.0.refresh_token.trim()) {
        db::run(&state.pool, move |conn| {
            conn.transaction::<_, ApiError, _>(|conn| {
                if let Some(stored) =
                    RefreshToken::find_for_update(conn, parts.workspace, parts.id).optional()?
                    && parts.matches(&stored.secret_hash)
                {
                    RefreshToken::revoke_family(conn, stored.workspace_id, stored.family_id)?;
                }
                Ok(())
            })
        })
        .await?;
    }
    Ok(HttpResponse::NoContent().finish())
}
