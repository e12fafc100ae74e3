//! Teams: a workspace's branches and departments, optionally nested under a parent team.

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
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{NewTeam, Team, TeamChanges};
use crate::domain::FieldCode;
use crate::domain::text::non_blank;
use crate::error::{ApiError, ProblemCode, taken};
use crate::ids::{TeamId, WorkspaceId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamResponse {
    pub id: TeamId,
    #[schema(example = "Kazan branch")]
    pub name: String,
    /// The team this one belongs to, if any.
    pub parent_id: Option<TeamId>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Team> for TeamResponse {
    fn from(team: Team) -> Self {
        Self {
            id: team.id,
            name: team.name,
            parent_id: team.parent_id,
            version: team.version,
            created_at: team.created_at,
            updated_at: team.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Moscow branch"}))]
pub struct CreateTeam {
    /// Unique in the workspace, compared case-insensitively.
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Kazan branch", min_length = 1, max_length = 200)]
    pub name: String,
    pub parent_id: Option<TeamId>,
}

/// A partial update: absent fields are left alone; `parent_id: null` makes it a top-level team.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Moscow office"}))]
pub struct UpdateTeam {
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 200))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Can't be the team itself or one of its descendants.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub parent_id: Option<Option<TeamId>>,
}

/// List the workspace's teams, oldest first.
///
/// Branches and departments, oldest first, each with its parent: a branch sees its departments. With
/// `updated_since` or `sort`, in the order of their last change, for a sync that polls.
#[utoipa::path(
    tag = "teams",
    operation_id = "list_teams",
    security(("bearer" = [])),
    params(PageParams, ChangedParams),
    responses((status = 200, description = "One page of teams", body = Page<TeamResponse>))
)]
#[get("/teams")]
pub async fn list_teams(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
    changed: web::Query<ChangedParams>,
) -> Result<web::Json<Page<TeamResponse>>, ApiError> {
    let limit = page.limit()?;
    let order = changed.order::<TeamId>(page.cursor.as_deref())?;
    let keyed = order.clone();
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Team::list(conn, principal.workspace_id, order, i64::from(limit) + 1)?)
    })
    .await?;
    let key = |team: &Team| list_key(&keyed, team.id, team.updated_at, team.id.0);
    Ok(web::Json(Page::from_rows(rows, limit, key, TeamResponse::from)))
}

/// Create a team (owners and admins).
///
/// A team, optionally under a parent team; names are unique in the workspace.
#[utoipa::path(
    tag = "teams",
    operation_id = "create_team",
    security(("bearer" = [])),
    request_body = CreateTeam,
    responses(
        (status = 201, description = "Created", body = TeamResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new team's URL"))),
        (status = 409, description = "Another team has this name", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidatedJson<CreateTeam>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("manage users")?;
    let body = body.0;
    let team = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let name = non_blank("name", &body.name)?;
            if let Some(parent) = body.parent_id {
                ensure_parent_exists(conn, workspace, parent)?;
            }
            if Team::name_taken(conn, workspace, &name, None)? {
                return Err(taken(ProblemCode::TeamNameTaken));
            }
            let team = Team::create(
                conn,
                &NewTeam {
                    workspace_id: workspace,
                    id: TeamId::generate(),
                    name: &name,
                    parent_id: body.parent_id,
                },
            )?;
            let changes = ChangeSet::default().field("name", None, &team.name).field(
                "parent_id",
                None,
                &team.parent_id,
            );
            record_change(conn, &principal, "team", team.id.0, "created", team.version, changes)?;
            Ok(team)
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, etag(team.version)))
        .insert_header((header::LOCATION, format!("/api/v1/teams/{}", team.id)))
        .json(TeamResponse::from(team)))
}

/// Get one team.
///
/// The team with its parent and the `ETag` header for `If-Match`.
#[utoipa::path(
    tag = "teams",
    operation_id = "get_team",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The team's id")),
    responses((status = 200, description = "The team", body = TeamResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/teams/{id}")]
pub async fn get_team(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<TeamId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let team = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Team::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(team.version))).json(TeamResponse::from(team)))
}

/// Rename a team or move it under another (owners and admins).
///
/// Moving a team under one of its own sub-teams is refused (`cycle`). `If-Match` refuses overwriting a change
/// made meanwhile (412).
#[utoipa::path(
    tag = "teams",
    operation_id = "update_team",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The team's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateTeam,
    responses(
        (status = 200, description = "Updated", body = TeamResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Another team has this name", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/teams/{id}")]
pub async fn update_team(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<TeamId>,
    if_match: IfMatch,
    body: ValidatedJson<UpdateTeam>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("manage users")?;
    let id = id.into_inner();
    let body = body.0;
    let team = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let current = Team::find_for_update(conn, workspace, id)?;
            if_match.check(current.version)?;
            let name = body
                .name
                .map(|name| non_blank("name", &name))
                .transpose()?
                .filter(|name| *name != current.name);
            if let Some(name) = &name
                && Team::name_taken(conn, workspace, name, Some(id))?
            {
                return Err(taken(ProblemCode::TeamNameTaken));
            }
            let parent_id = body.parent_id.filter(|parent| *parent != current.parent_id);
            if let Some(Some(parent)) = parent_id {
                ensure_parent_exists(conn, workspace, parent)?;
                if parent == id || Team::ancestors(conn, workspace, parent)?.contains(&id) {
                    return Err(ApiError::invalid_field(
                        "parent_id",
                        FieldCode::Cycle,
                        "a team can't be placed under itself or one of its own sub-teams",
                    ));
                }
            }
            let changes = ChangeSet::default()
                .field("name", Some(&current.name), name.as_ref().unwrap_or(&current.name))
                .field("parent_id", Some(&current.parent_id), &parent_id.unwrap_or(current.parent_id));
            if changes.is_empty() {
                return Ok(current);
            }
            let updated = Team::update(conn, workspace, id, &TeamChanges { name, parent_id })?;
            record_change(conn, &principal, "team", id.0, "updated", updated.version, changes)?;
            Ok(updated)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(team.version))).json(TeamResponse::from(team)))
}

fn ensure_parent_exists(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    parent: TeamId,
) -> Result<(), ApiError> {
    if Team::exists(conn, workspace, parent)? {
        Ok(())
    } else {
        Err(ApiError::invalid_field("parent_id", FieldCode::NotFound, "no such team in this workspace"))
    }
}
