//! Pipelines and their ordered stages. Every workspace has one default pipeline; every pipeline
//! has at least one open stage, exactly one won stage and at least one lost stage.

pub mod stages;
pub mod wire;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use diesel::prelude::*;

use crate::api::extract::{IfMatch, Page, ValidatedJson, versioned_http};
use crate::api::record_change;
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Pipeline, Stage};
use crate::domain::FieldCode;
use crate::domain::pipeline::check_stage_kinds;
use crate::domain::text::non_blank;
use crate::error::{ApiError, ProblemCode, taken};
use crate::ids::{PipelineId, WorkspaceId};
use crate::state::AppState;
use wire::{CreatePipeline, PipelineResponse, UpdatePipeline, pipeline_response};

fn pipeline_http(status: StatusCode, pipeline: &Pipeline, stages: &[Stage]) -> HttpResponse {
    versioned_http(status, pipeline.version, "pipelines", pipeline.id, &pipeline_response(pipeline, stages))
}

fn stages_of(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    pipeline: PipelineId,
) -> QueryResult<Vec<Stage>> {
    Stage::of_pipelines(conn, workspace, &[pipeline])
}

/// List deleted pipelines (tombstones), oldest deletion first: for sync.
///
/// Pipelines are deleted outright; their deletions are read from the change log, oldest first, from
/// `deleted_since`, so that a sync that polls learns of them (they also come through `GET /changes`).
#[utoipa::path(
    tag = "pipelines",
    operation_id = "list_deleted_pipelines",
    security(("bearer" = [])),
    params(crate::api::listing::DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<crate::api::listing::Tombstone>))
)]
#[get("/pipelines/deleted")]
pub async fn list_deleted_pipelines(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<crate::api::listing::DeletedQuery>,
) -> Result<web::Json<Page<crate::api::listing::Tombstone>>, ApiError> {
    let page =
        crate::api::listing::logged_tombstones(&state, principal, query.into_inner(), "pipeline").await?;
    Ok(web::Json(page))
}

/// List the workspace's pipelines with their stages, the default first.
///
/// Every pipeline of the workspace with its stages in order; the default pipeline, which new deals go to,
/// comes first.
#[utoipa::path(
    tag = "pipelines",
    operation_id = "list_pipelines",
    security(("bearer" = [])),
    responses((status = 200, description = "Every pipeline (at most 200)", body = Page<PipelineResponse>))
)]
#[get("/pipelines")]
pub async fn list_pipelines(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<Page<PipelineResponse>>, ApiError> {
    let page = run_as(principal.caller(), &state.pool, move |conn| {
        let pipelines = Pipeline::list(conn, principal.workspace_id)?;
        let ids: Vec<PipelineId> = pipelines.iter().map(|pipeline| pipeline.id).collect();
        let stages = Stage::of_pipelines(conn, principal.workspace_id, &ids)?;
        Ok(Page {
            data: pipelines.iter().map(|pipeline| pipeline_response(pipeline, &stages)).collect(),
            next_cursor: None,
        })
    })
    .await?;
    Ok(web::Json(page))
}

/// Create a pipeline (owners and admins).
///
/// A named sales process with its stages in order: at least one open stage, exactly one won and at least one
/// lost (the usual New, Qualified, Proposal, Negotiation, Won and Lost when `stages` is omitted).
/// `is_default` makes it the pipeline new deals go to.
#[utoipa::path(
    tag = "pipelines",
    operation_id = "create_pipeline",
    security(("bearer" = [])),
    request_body = CreatePipeline,
    responses(
        (status = 201, description = "Created", body = PipelineResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new pipeline's URL"))),
        (status = 409, description = "Another pipeline has this name", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pipelines")]
pub async fn create_pipeline(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidatedJson<CreatePipeline>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("change pipelines")?;
    let body = body.0;
    if let Some(stages) = &body.stages {
        check_stage_kinds(stages.iter().map(|stage| stage.kind))?;
    }
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let name = non_blank("name", &body.name)?;
            if Pipeline::name_taken(conn, workspace, &name, None)? {
                return Err(taken(ProblemCode::PipelineNameTaken));
            }
            let stages = match &body.stages {
                Some(inputs) => inputs
                    .iter()
                    .enumerate()
                    .map(|(index, input)| {
                        let name = non_blank(&format!("stages[{index}].name"), &input.name)?;
                        Ok((name, input.kind.as_str().to_string(), input.probability()))
                    })
                    .collect::<Result<_, ApiError>>()?,
                None => crate::db::models::pipeline::default_stages(),
            };
            let pipeline = crate::db::models::pipeline::create_pipeline(
                conn,
                workspace,
                &name,
                body.is_default,
                &stages,
            )?;
            let stages = stages_of(conn, workspace, pipeline.id)?;
            let snapshot = serde_json::to_value(pipeline_response(&pipeline, &stages)).unwrap_or_default();
            let changes =
                ChangeSet::default().diff(None, &snapshot, &["id", "version", "created_at", "updated_at"]);
            record_change(conn, &principal, "pipeline", pipeline.id.0, "created", pipeline.version, changes)?;
            Ok((pipeline, stages))
        })
    })
    .await?;
    Ok(pipeline_http(StatusCode::CREATED, &pipeline, &stages))
}

/// Get one pipeline with its stages.
///
/// The pipeline with its stages in order, each with its kind and default probability.
#[utoipa::path(
    tag = "pipelines",
    operation_id = "get_pipeline",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The pipeline's id")),
    responses((status = 200, description = "The pipeline", body = PipelineResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/pipelines/{id}")]
pub async fn get_pipeline(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        let pipeline = Pipeline::find(conn, principal.workspace_id, id)?;
        let stages = stages_of(conn, principal.workspace_id, id)?;
        Ok((pipeline, stages))
    })
    .await?;
    Ok(pipeline_http(StatusCode::OK, &pipeline, &stages))
}

/// Rename a pipeline or make it the default (owners and admins).
///
/// A workspace always has one default pipeline: make another the default to change it, rather than unsetting
/// this one. `If-Match` refuses overwriting a change made meanwhile (412).
#[utoipa::path(
    tag = "pipelines",
    operation_id = "update_pipeline",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The pipeline's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdatePipeline,
    responses(
        (status = 200, description = "Updated", body = PipelineResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Another pipeline has this name", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/pipelines/{id}")]
pub async fn update_pipeline(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
    if_match: IfMatch,
    body: ValidatedJson<UpdatePipeline>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("change pipelines")?;
    let id = id.into_inner();
    let body = body.0;
    if body.is_default == Some(false) {
        return Err(ApiError::invalid_field(
            "is_default",
            FieldCode::DefaultRequired,
            "make another pipeline the default instead: a workspace always has one",
        ));
    }
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let current = Pipeline::find_for_update(conn, workspace, id)?;
            if_match.check(current.version)?;
            let name = match body.name {
                Some(name) => non_blank("name", &name)?,
                None => current.name.clone(),
            };
            if name != current.name && Pipeline::name_taken(conn, workspace, &name, Some(id))? {
                return Err(taken(ProblemCode::PipelineNameTaken));
            }
            let is_default = current.is_default || body.is_default == Some(true);
            let changes = ChangeSet::default().field("name", Some(&current.name), &name).field(
                "is_default",
                Some(&current.is_default),
                &is_default,
            );
            let pipeline = if changes.is_empty() {
                current
            } else {
                Pipeline::update(conn, workspace, id, &name, is_default)?
            };
            if !changes.is_empty() {
                record_change(conn, &principal, "pipeline", id.0, "updated", pipeline.version, changes)?;
            }
            Ok((pipeline.clone(), stages_of(conn, workspace, id)?))
        })
    })
    .await?;
    Ok(pipeline_http(StatusCode::OK, &pipeline, &stages))
}

/// Delete a pipeline that no deal uses (owners and admins).
///
/// Refused while any deal, deleted ones included, is in the pipeline: move or delete them first. The default
/// pipeline can't be deleted; make another the default first.
#[utoipa::path(
    tag = "pipelines",
    operation_id = "delete_pipeline",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The pipeline's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "It is the default pipeline, or deals use it", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/pipelines/{id}")]
pub async fn delete_pipeline(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("change pipelines")?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let pipeline = Pipeline::find_for_update(conn, workspace, id)?;
            if pipeline.is_default {
                return Err(ApiError::conflict(
                    ProblemCode::DefaultPipeline,
                    "the default pipeline can't be deleted",
                ));
            }
            let deals = Pipeline::deal_count(conn, workspace, id)?;
            if deals > 0 {
                return Err(ApiError::conflict(
                    ProblemCode::PipelineInUse,
                    format!("{deals} deal(s) use this pipeline"),
                ));
            }
            Pipeline::delete(conn, workspace, id)?;
            let changes =
                ChangeSet::default().field("name", Some(&Some(pipeline.name.clone())), &None::<String>);
            record_change(conn, &principal, "pipeline", id.0, "deleted", pipeline.version + 1, changes)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
