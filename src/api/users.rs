//! Users of a workspace, and `GET /me`.

use std::borrow::Cow;

use actix_web::http::header;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::extract::{
    ChangedParams, IfMatch, Page, PageParams, ValidatedJson, etag, list_key, not_null, nullable,
};
use crate::api::record_change;
use crate::api::security::{SecurityEvent, action};
use crate::api::workspace::WorkspaceResponse;
use crate::auth::{Principal, password, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{NewUser, RefreshToken, Team, User, UserChanges, Workspace};
use crate::domain::FieldCode;
use crate::domain::role::Role;
use crate::domain::text::non_blank;
use crate::domain::visibility::Visibility;
use crate::error::{ApiError, ProblemCode, taken};
use crate::ids::{TeamId, UserId, WorkspaceId};
use crate::state::AppState;

/// A user as the API shows it. The password hash never leaves the server.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: UserId,
    #[schema(example = "anna@example.com")]
    pub email: String,
    #[schema(example = "Anna Ivanova")]
    pub full_name: String,
    pub role: Role,
    pub team_id: Option<TeamId>,
    /// Which clients the user sees, when it isn't their role's (the workspace's `visibility`).
    pub visibility: Option<Visibility>,
    /// A deactivated user can't log in, and their tokens stop working at once.
    pub active: bool,
    /// How many times the record was written; send it back in `If-Match` to update safely.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            role: user.role(),
            visibility: user.visibility(),
            id: user.id,
            email: user.email,
            full_name: user.full_name,
            team_id: user.team_id,
            active: user.active,
            version: user.version,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserResponse,
    pub workspace: WorkspaceResponse,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "boris@example.com", "full_name": "Boris Petrov", "role": "sales", "password": "a long passphrase"}))]
pub struct CreateUser {
    /// Unique in the workspace, compared case-insensitively.
    #[validate(email, length(max = 320))]
    #[schema(format = Email, example = "boris@example.com", max_length = 320)]
    pub email: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Boris Petrov", min_length = 1, max_length = 200)]
    pub full_name: String,
    pub role: Role,
    pub team_id: Option<TeamId>,
    #[validate(length(min = 8, max = 256))]
    #[schema(example = "a long passphrase", min_length = 8, max_length = 256)]
    pub password: String,
}

/// A partial update: absent fields are left alone; `team_id: null` clears the team.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"full_name": "Boris Ivanov", "role": "manager"}))]
pub struct UpdateUser {
    #[serde(default, deserialize_with = "not_null")]
    #[validate(email, length(max = 320))]
    #[schema(nullable = false, format = Email, max_length = 320)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 200))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub full_name: Option<String>,
    /// Owners and admins only; only an owner may grant or take away `owner`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub role: Option<Role>,
    /// Owners and admins only.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<Option<TeamId>>,
    /// Owners and admins only; nobody can deactivate themselves.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
    /// Which clients the user sees, in place of their role's; `null` gives them their role's
    /// again. Owners and admins only.
    #[serde(default, deserialize_with = "nullable")]
    pub visibility: Option<Option<Visibility>>,
    /// A new password. Changing one's own needs `current_password`; every session of the user
    /// is then revoked.
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 8, max = 256))]
    #[schema(nullable = false, min_length = 8, max_length = 256)]
    pub password: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(max = 256))]
    #[schema(nullable = false, max_length = 256)]
    pub current_password: Option<String>,
}

/// The caller, and their workspace.
///
/// Who the token belongs to (name, email, role, team) and the workspace's settings (currency, time zone,
/// phone region): what an app needs after logging in.
#[utoipa::path(
    tag = "users",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = MeResponse))
)]
#[get("/me")]
pub async fn get_me(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<MeResponse>, ApiError> {
    let me = run_as(principal.caller(), &state.pool, move |conn| {
        let user = User::find_principal(conn, principal.workspace_id, principal.user_id)?;
        let workspace = Workspace::find(conn, principal.workspace_id)?;
        Ok(MeResponse { user: user.into(), workspace: workspace.into() })
    })
    .await?;
    Ok(web::Json(me))
}

/// List the workspace's users, oldest first.
///
/// Every user of the workspace, oldest first, with role, team and whether they are active. With `updated_since` or
/// `sort`, in the order of their last change, for a sync that polls.
#[utoipa::path(
    tag = "users",
    operation_id = "list_users",
    security(("bearer" = [])),
    params(PageParams, ChangedParams),
    responses((status = 200, description = "One page of users", body = Page<UserResponse>))
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
    changed: web::Query<ChangedParams>,
) -> Result<web::Json<Page<UserResponse>>, ApiError> {
    let limit = page.limit()?;
    let order = changed.order::<UserId>(page.cursor.as_deref())?;
    let keyed = order.clone();
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(User::list(conn, principal.workspace_id, order, i64::from(limit) + 1)?)
    })
    .await?;
    let key = |user: &User| list_key(&keyed, user.id, user.updated_at, user.id.0);
    Ok(web::Json(Page::from_rows(rows, limit, key, UserResponse::from)))
}

/// Create a user (owners and admins).
///
/// Adds a user with a role (owner, admin, manager, sales or viewer), an optional team and an initial password
/// they can change. The email is unique in the workspace. Only owners grant the owner role.
#[utoipa::path(
    tag = "users",
    operation_id = "create_user",
    security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new user's URL"))),
        (status = 409, description = "The email is taken in this workspace", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidatedJson<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("manage users")?;
    let body = body.0;
    if !principal.role.can_administer(body.role) {
        return Err(ApiError::Forbidden(Cow::Borrowed("only an owner may create another owner")));
    }
    // Hash before taking a database connection: argon2 is slow on purpose.
    let password = body.password.clone();
    let password_hash = password::on_hashing_threads(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let user = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            if let Some(team) = body.team_id {
                ensure_team_exists(conn, workspace, team)?;
            }
            if User::email_taken(conn, workspace, body.email.trim())? {
                return Err(taken(ProblemCode::EmailTaken));
            }
            let user = User::create(
                conn,
                &NewUser {
                    workspace_id: workspace,
                    id: UserId::generate(),
                    email: body.email.trim(),
                    full_name: &non_blank("full_name", &body.full_name)?,
                    role: body.role.as_str(),
                    team_id: body.team_id,
                    password_hash: &password_hash,
                },
            )?;
            let changes = ChangeSet::default()
                .field("email", None, &user.email)
                .field("full_name", None, &user.full_name)
                .field("role", None, &user.role())
                .field("team_id", None, &user.team_id)
                .secret("password", true);
            record_change(conn, &principal, "user", user.id.0, "created", user.version, changes)?;
            Ok(user)
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, etag(user.version)))
        .insert_header((header::LOCATION, format!("/api/v1/users/{}", user.id)))
        .json(UserResponse::from(user)))
}

/// Get one user.
///
/// The user with their role, team and whether they are active.
#[utoipa::path(
    tag = "users",
    operation_id = "get_user",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The user's id")),
    responses((status = 200, description = "The user", body = UserResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let user = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(User::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(user.version))).json(UserResponse::from(user)))
}

/// Update a user.
///
/// Anyone may change their own name, email and password; owners and admins may change others,
/// their roles, teams and status. The last active owner can't be demoted or deactivated.
#[utoipa::path(
    tag = "users",
    operation_id = "update_user",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The user's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "Updated", body = UserResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "The email is taken, or the change would leave no active owner or deactivate the caller", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<UserId>,
    if_match: IfMatch,
    body: ValidatedJson<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = body.0;
    let user = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| apply_user_update(conn, &principal, id, &if_match, body))
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(user.version))).json(UserResponse::from(user)))
}

fn apply_user_update(
    conn: &mut PgConnection,
    principal: &Principal,
    id: UserId,
    if_match: &IfMatch,
    body: UpdateUser,
) -> Result<User, ApiError> {
    let workspace = principal.workspace_id;
    let target = User::find_for_update(conn, workspace, id)?;
    if_match.check(target.version)?;
    let is_self = target.id == principal.user_id;
    let changes_access =
        body.role.is_some() || body.team_id.is_some() || body.active.is_some() || body.visibility.is_some();
    if !is_self || changes_access {
        principal.require_admin("manage users")?;
        if !principal.role.can_administer(target.role())
            || body.role.is_some_and(|role| !principal.role.can_administer(role))
        {
            return Err(ApiError::Forbidden(Cow::Borrowed(
                "only an owner may change an owner or grant the owner role",
            )));
        }
    }
    if is_self && body.active == Some(false) {
        return Err(ApiError::conflict(ProblemCode::CannotDeactivateSelf, "you can't deactivate yourself"));
    }
    let stops_being_owner = target.role() == Role::Owner
        && target.active
        && (body.role.is_some_and(|role| role != Role::Owner) || body.active == Some(false));
    if stops_being_owner && User::count_active_owners(conn, workspace)? <= 1 {
        return Err(ApiError::conflict(
            ProblemCode::LastOwner,
            "the workspace must keep at least one active owner",
        ));
    }
    if let Some(Some(team)) = body.team_id {
        ensure_team_exists(conn, workspace, team)?;
    }
    let email = body.email.map(|email| email.trim().to_string()).filter(|email| *email != target.email);
    if let Some(email) = &email
        && !email.eq_ignore_ascii_case(&target.email)
        && User::email_taken(conn, workspace, email)?
    {
        return Err(taken(ProblemCode::EmailTaken));
    }
    let password_hash =
        new_password_hash(body.password.as_deref(), body.current_password.as_deref(), &target, is_self)?;
    let full_name = body
        .full_name
        .map(|name| non_blank("full_name", &name))
        .transpose()?
        .filter(|name| *name != target.full_name);
    let role = body.role.filter(|role| *role != target.role());
    let team_id = body.team_id.filter(|team| *team != target.team_id);
    let active = body.active.filter(|active| *active != target.active);
    let visibility = body.visibility.filter(|visibility| *visibility != target.visibility());
    let changes = ChangeSet::default()
        .field("email", Some(&target.email), email.as_ref().unwrap_or(&target.email))
        .field("full_name", Some(&target.full_name), full_name.as_ref().unwrap_or(&target.full_name))
        .field("role", Some(&target.role()), &role.unwrap_or(target.role()))
        .field("team_id", Some(&target.team_id), &team_id.unwrap_or(target.team_id))
        .field("active", Some(&target.active), &active.unwrap_or(target.active))
        .field("visibility", Some(&target.visibility()), &visibility.unwrap_or(target.visibility()))
        .secret("password", password_hash.is_some());
    if changes.is_empty() {
        return Ok(target);
    }
    let revoke_sessions = password_hash.is_some() || active == Some(false);
    let updated = User::update(
        conn,
        workspace,
        id,
        &UserChanges {
            email,
            full_name,
            role: role.map(Role::as_str),
            team_id,
            password_hash,
            active,
            visibility: visibility.map(|visibility| visibility.map(Visibility::as_str)),
        },
    )?;
    if revoke_sessions {
        RefreshToken::revoke_all_of_user(conn, workspace, id)?;
    }
    if team_id.is_some() {
        // A team's activity figures count its people's activities: theirs move with them.
        crate::db::models::activity_cell::mark_person_stale(conn, workspace, id)?;
    }
    // A change of what someone may do or see is also a security event about them.
    let security = [
        (
            role.is_some(),
            action::ROLE_CHANGED,
            ChangeSet::default().field("role", Some(&target.role()), &updated.role()),
        ),
        (
            visibility.is_some(),
            action::VISIBILITY_CHANGED,
            ChangeSet::default().field("visibility", Some(&target.visibility()), &updated.visibility()),
        ),
    ];
    for (_, action, details) in security.into_iter().filter(|(changed, ..)| *changed) {
        SecurityEvent { subject: id, ..SecurityEvent::by(principal, action, details) }.record(conn)?;
    }
    record_change(conn, principal, "user", id.0, "updated", updated.version, changes)?;
    Ok(updated)
}

/// The hash of the new password, if the update sets one; changing one's own password needs the
/// current one.
fn new_password_hash(
    new_password: Option<&str>,
    current_password: Option<&str>,
    target: &User,
    is_self: bool,
) -> Result<Option<String>, ApiError> {
    let Some(new_password) = new_password else { return Ok(None) };
    if is_self {
        let current = current_password.ok_or_else(|| {
            ApiError::invalid_field(
                "current_password",
                FieldCode::Required,
                "is required to change your own password",
            )
        })?;
        if !password::verify(current, &target.password_hash) {
            return Err(ApiError::invalid_field(
                "current_password",
                FieldCode::Mismatch,
                "is not your current password",
            ));
        }
    }
    Ok(Some(password::hash(new_password).map_err(ApiError::internal)?))
}

pub(crate) fn ensure_team_exists(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    team: TeamId,
) -> Result<(), ApiError> {
    if Team::exists(conn, workspace, team)? {
        Ok(())
    } else {
        Err(ApiError::invalid_field("team_id", FieldCode::NotFound, "no such team in this workspace"))
    }
}
