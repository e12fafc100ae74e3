//! Sharing one client beyond its owner's scope: a joint account, a handover, a colleague covering
//! a holiday. A share lets a user, or every member of a team and the teams under it, see the
//! client and what belongs to it as if it were theirs to see; what they may change follows their
//! role as for any record they see. Each share and its removal is recorded on the client.

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use diesel::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::{JsonBody, Page};
use crate::api::record_change;
use crate::api::soft_delete::live_for_update;
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_share::{ClientShare, ShareTarget};
use crate::db::models::{Client, Team, User};
use crate::domain::FieldCode;
use crate::error::{ApiError, FieldError};
use crate::ids::{ClientId, TeamId, UserId};
use crate::state::AppState;

/// Whom to share a client with: a user, or a team (its members and the members of the teams under
/// it). Exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e02"}), min_properties = 1, max_properties = 1)]
pub struct ShareRequest {
    #[serde(default)]
    #[schema(nullable = false)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    #[schema(nullable = false)]
    pub team_id: Option<TeamId>,
}

/// A client's share with a user or a team.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareResponse {
    pub id: uuid::Uuid,
    pub client_id: ClientId,
    /// The user it is shared with; null for a team share.
    pub user_id: Option<UserId>,
    /// The team it is shared with; null for a user share.
    pub team_id: Option<TeamId>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}

impl From<ClientShare> for ShareResponse {
    fn from(share: ClientShare) -> Self {
        Self {
            id: share.id,
            client_id: share.client_id,
            user_id: share.user_id,
            team_id: share.team_id,
            created_by: share.created_by,
            created_at: share.created_at,
        }
    }
}

impl ShareRequest {
    fn target(&self) -> Result<ShareTarget, ApiError> {
        match (self.user_id, self.team_id) {
            (Some(user), None) => Ok(ShareTarget::User(user)),
            (None, Some(team)) => Ok(ShareTarget::Team(team)),
            (Some(_), Some(_)) => Err(ApiError::Validation(vec![FieldError::new(
                "team_id",
                FieldCode::NotAllowed,
                "share with a user or a team, not both",
            )])),
            (None, None) => Err(ApiError::Validation(vec![FieldError::new(
                "user_id",
                FieldCode::Required,
                "name the user_id or the team_id to share with",
            )])),
        }
    }
}

/// Share a client with a user or a team.
///
/// The user, or every member of the team and of the teams under it, then sees the client, its contacts, deals
/// and activities as if the client were in their scope. Sharing needs the right to change the client: a sales rep
/// shares the clients they own; managers and above those they see. Sharing again with the same user or team
/// answers the existing share (200).
#[utoipa::path(
    tag = "clients",
    operation_id = "share_client",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    request_body = ShareRequest,
    responses(
        (status = 201, description = "Shared", body = ShareResponse),
        (status = 200, description = "Already shared with them: the existing share", body = ShareResponse),
    )
)]
#[post("/clients/{id}/shares")]
pub async fn share_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    body: JsonBody<ShareRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let target = body.0.target()?;
    let id = id.into_inner();
    let (share, created) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let client: Client = live_for_update(conn, &principal, scope, id)?;
            let workspace = principal.workspace_id;
            let exists = match target {
                ShareTarget::User(user) => User::find(conn, workspace, user).optional()?.is_some(),
                ShareTarget::Team(team) => Team::exists(conn, workspace, team)?,
            };
            if !exists {
                let (field, what) = match target {
                    ShareTarget::User(_) => ("user_id", "no such user in this workspace"),
                    ShareTarget::Team(_) => ("team_id", "no such team in this workspace"),
                };
                return Err(ApiError::invalid_field(field, FieldCode::NotFound, what));
            }
            if let Some(share) = ClientShare::find_for(conn, workspace, id, target)? {
                return Ok((share, false));
            }
            let share = ClientShare {
                workspace_id: workspace,
                id: uuid::Uuid::now_v7(),
                client_id: id,
                user_id: share_user(target),
                team_id: share_team(target),
                created_by: principal.user_id,
                created_at: Utc::now(),
            };
            share.insert(conn)?;
            record_change(conn, &principal, "client", id.0, "shared", client.version, share_changes(&share))?;
            Ok((share, true))
        })
    })
    .await?;
    let mut response = if created { HttpResponse::Created() } else { HttpResponse::Ok() };
    Ok(response.json(ShareResponse::from(share)))
}

/// Who a client is shared with.
///
/// The client's shares, oldest first: every one (a client is shared with a handful of people at most). Whoever
/// sees the client sees its shares.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_client_shares",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    responses((status = 200, description = "The shares", body = Page<ShareResponse>))
)]
#[get("/clients/{id}/shares")]
pub async fn list_client_shares(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
) -> Result<web::Json<Page<ShareResponse>>, ApiError> {
    let id = id.into_inner();
    let shares = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        if !Client::exists(conn, scope, id)? {
            return Err(ApiError::NotFound);
        }
        Ok(ClientShare::of_client(conn, scope.workspace(), id)?)
    })
    .await?;
    Ok(web::Json(Page { data: shares.into_iter().map(ShareResponse::from).collect(), next_cursor: None }))
}

/// Stop sharing a client.
///
/// The user or team loses what the share gave them (what they see by their own scope stays). Needs the same
/// right as sharing.
#[utoipa::path(
    tag = "clients",
    operation_id = "unshare_client",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The client's id"),
        ("share_id" = String, Path, format = Uuid, description = "The share's id"),
    ),
    responses((status = 204, description = "No longer shared"))
)]
#[delete("/clients/{id}/shares/{share_id}")]
pub async fn unshare_client(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(ClientId, uuid::Uuid)>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let (id, share_id) = path.into_inner();
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let client: Client = live_for_update(conn, &principal, scope, id)?;
            let shares = ClientShare::of_client(conn, principal.workspace_id, id)?;
            let Some(share) = shares.into_iter().find(|share| share.id == share_id) else {
                return Err(ApiError::NotFound);
            };
            ClientShare::delete(conn, principal.workspace_id, id, share_id)?;
            record_change(conn, &principal, "client", id.0, "unshared", client.version, share_changes(&share))
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn share_user(target: ShareTarget) -> Option<UserId> {
    match target {
        ShareTarget::User(user) => Some(user),
        ShareTarget::Team(_) => None,
    }
}

fn share_team(target: ShareTarget) -> Option<TeamId> {
    match target {
        ShareTarget::Team(team) => Some(team),
        ShareTarget::User(_) => None,
    }
}

/// What a share's event records: the share and whom it names.
fn share_changes(share: &ClientShare) -> ChangeSet {
    ChangeSet::default().field("share_id", None, &share.id).field("user_id", None, &share.user_id).field(
        "team_id",
        None,
        &share.team_id,
    )
}
