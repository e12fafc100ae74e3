//! Pipelines and their ordered stages. Every workspace has one default pipeline; every pipeline
//! has at least one open stage, exactly one won stage and at least one lost stage.

use std::borrow::Cow;
use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::extract::{IfMatch, Page, ValidatedJson, not_null, versioned_http};
use crate::api::record_change;
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Pipeline, Stage};
use crate::domain::enums::StageKind;
use crate::domain::text::non_blank;
use crate::error::{ApiError, FieldError};
use crate::ids::{PipelineId, StageId, WorkspaceId};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageResponse {
    pub id: StageId,
    pub pipeline_id: PipelineId,
    #[schema(example = "Proposal")]
    pub name: String,
    /// `open`, or what reaching the stage means: `won` or `lost`.
    pub kind: StageKind,
    /// 1-based order within the pipeline.
    pub position: i32,
    /// The default win probability, 0 to 100, of deals in this stage.
    pub probability: i16,
    pub version: i32,
}

impl From<&Stage> for StageResponse {
    fn from(stage: &Stage) -> Self {
        Self {
            id: stage.id,
            pipeline_id: stage.pipeline_id,
            name: stage.name.clone(),
            kind: stage.kind.parse().unwrap_or(StageKind::Open),
            position: stage.position,
            probability: stage.probability,
            version: stage.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PipelineResponse {
    pub id: PipelineId,
    #[schema(example = "Sales")]
    pub name: String,
    /// New deals without a pipeline go here; exactly one pipeline is the default.
    pub is_default: bool,
    /// In order.
    pub stages: Vec<StageResponse>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn pipeline_response(pipeline: &Pipeline, stages: &[Stage]) -> PipelineResponse {
    PipelineResponse {
        id: pipeline.id,
        name: pipeline.name.clone(),
        is_default: pipeline.is_default,
        stages: stages
            .iter()
            .filter(|stage| stage.pipeline_id == pipeline.id)
            .map(StageResponse::from)
            .collect(),
        version: pipeline.version,
        created_at: pipeline.created_at,
        updated_at: pipeline.updated_at,
    }
}

#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageInput {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Proposal", min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: StageKind,
    /// 0 to 100; 100 for a won stage, 0 for a lost one and 50 for an open one when omitted.
    #[validate(range(max = 100))]
    #[schema(maximum = 100)]
    pub probability: Option<u8>,
}

impl StageInput {
    fn probability(&self) -> i16 {
        i16::from(self.probability.unwrap_or(match self.kind {
            StageKind::Open => 50,
            StageKind::Won => 100,
            StageKind::Lost => 0,
        }))
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Wholesale", min_length = 1, max_length = 200)]
    pub name: String,
    /// Makes this the workspace's default pipeline.
    #[serde(default)]
    pub is_default: bool,
    /// In order. The usual New → Qualified → Proposal → Negotiation → Won / Lost when omitted.
    /// At most 50.
    #[validate(nested, length(min = 3, max = MAX_STAGES))]
    pub stages: Option<Vec<StageInput>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePipeline {
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 200))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Only `true`: make another pipeline the default to take the flag away from this one.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub is_default: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateStage {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Contract sent", min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: StageKind,
    #[validate(range(max = 100))]
    #[schema(maximum = 100)]
    pub probability: Option<u8>,
    /// 1-based place in the pipeline; at the end when omitted.
    #[validate(range(min = 1, max = 1000))]
    #[schema(minimum = 1)]
    pub position: Option<i32>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStage {
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 200))]
    #[schema(nullable = false, min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Changing the kind is refused while deals are in the stage.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub kind: Option<StageKind>,
    /// The new default probability; deals in the stage that don't set their own follow it.
    #[serde(default, deserialize_with = "not_null")]
    #[validate(range(max = 100))]
    #[schema(nullable = false, maximum = 100)]
    pub probability: Option<u8>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReorderStages {
    /// Every stage of the pipeline, each once, in the new order.
    pub stage_ids: Vec<StageId>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteStageQuery {
    /// A stage of the same pipeline and kind to move the stage's deals to; needed when deals use
    /// the stage.
    #[param(value_type = Option<String>, format = Uuid)]
    pub move_deals_to: Option<StageId>,
}

/// The most stages a pipeline has. A board lists every stage as a column, and its statement names
/// each stage (`Deal::board_columns`), so this also bounds the statement texts cached for boards.
const MAX_STAGES: u64 = 50;

/// Exactly one won stage, at least one lost and at least one open stage.
fn check_stage_kinds(kinds: impl IntoIterator<Item = StageKind>) -> Result<(), ApiError> {
    let mut counts: HashMap<StageKind, usize> = HashMap::new();
    for kind in kinds {
        *counts.entry(kind).or_default() += 1;
    }
    let count = |kind| counts.get(&kind).copied().unwrap_or_default();
    if count(StageKind::Won) != 1 || count(StageKind::Lost) == 0 || count(StageKind::Open) == 0 {
        return Err(ApiError::invalid_field(
            "stages",
            "stage_kinds",
            "a pipeline needs at least one open stage, exactly one won stage and at least one lost stage",
        ));
    }
    Ok(())
}

fn pipeline_http(status: StatusCode, pipeline: &Pipeline, stages: &[Stage]) -> HttpResponse {
    versioned_http(status, pipeline.version, "pipelines", pipeline.id, &pipeline_response(pipeline, stages))
}

fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.role.can_manage_users() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(Cow::Borrowed("only owners and admins may change pipelines")))
    }
}

fn stages_of(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    pipeline: PipelineId,
) -> QueryResult<Vec<Stage>> {
    Stage::of_pipelines(conn, workspace, &[pipeline])
}

/// List the workspace's pipelines with their stages, the default first.
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
    require_admin(&principal)?;
    let body = body.0;
    if let Some(stages) = &body.stages {
        check_stage_kinds(stages.iter().map(|stage| stage.kind))?;
    }
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let name = non_blank("name", &body.name)?;
            if Pipeline::name_taken(conn, workspace, &name, None)? {
                return Err(name_taken());
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
    require_admin(&principal)?;
    let id = id.into_inner();
    let body = body.0;
    if body.is_default == Some(false) {
        return Err(ApiError::invalid_field(
            "is_default",
            "default_required",
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
                return Err(name_taken());
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

/// Delete a pipeline that no deal uses (owners and admins). The default pipeline can't be deleted.
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
    require_admin(&principal)?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let pipeline = Pipeline::find_for_update(conn, workspace, id)?;
            if pipeline.is_default {
                return Err(ApiError::conflict("default_pipeline", "the default pipeline can't be deleted"));
            }
            let deals = Pipeline::deal_count(conn, workspace, id)?;
            if deals > 0 {
                return Err(ApiError::conflict(
                    "pipeline_in_use",
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

/// Add a stage to a pipeline (owners and admins).
#[utoipa::path(
    tag = "pipelines",
    operation_id = "create_stage",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The pipeline's id")),
    request_body = CreateStage,
    responses(
        (status = 201, description = "The pipeline with the new stage", body = PipelineResponse),
        (status = 409, description = "The pipeline already has the most stages a pipeline may have (50)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/pipelines/{id}/stages")]
pub async fn create_stage(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
    body: ValidatedJson<CreateStage>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let id = id.into_inner();
    let body = body.0;
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let pipeline = Pipeline::find_for_update(conn, workspace, id)?;
            let mut stages = stages_of(conn, workspace, id)?;
            if stages.len() as u64 >= MAX_STAGES {
                return Err(ApiError::conflict(
                    "too_many_stages",
                    format!("the pipeline already has {MAX_STAGES} stages, the most a pipeline may have"),
                ));
            }
            let kinds =
                stages.iter().filter_map(|stage| stage.kind.parse::<StageKind>().ok()).chain([body.kind]);
            check_stage_kinds(kinds)?;
            let position =
                body.position.map_or(stages.len() + 1, |position| (position as usize).min(stages.len() + 1));
            let now = Utc::now();
            let input =
                StageInput { name: body.name.clone(), kind: body.kind, probability: body.probability };
            let stage = Stage {
                workspace_id: workspace,
                id: StageId::generate(),
                pipeline_id: id,
                name: non_blank("name", &body.name)?,
                kind: body.kind.as_str().to_string(),
                position: position as i32,
                probability: input.probability(),
                version: 1,
                created_at: now,
                updated_at: now,
            };
            // Inserted at position 0, then numbered in place with the others.
            let stage = Stage { position: 0, ..stage };
            Stage::insert_all(conn, std::slice::from_ref(&stage))?;
            stages.insert(position - 1, stage.clone());
            renumber(conn, &mut stages)?;
            let changes =
                ChangeSet::default().field("name", None, &stage.name).field("kind", None, &stage.kind);
            record_change(conn, &principal, "stage", stage.id.0, "created", 1, changes)?;
            Ok((pipeline, stages_of(conn, workspace, id)?))
        })
    })
    .await?;
    Ok(pipeline_http(StatusCode::CREATED, &pipeline, &stages))
}

/// Writes 1..n as the stages' positions where they differ.
fn renumber(conn: &mut PgConnection, stages: &mut [Stage]) -> Result<(), ApiError> {
    for (stage, position) in stages.iter_mut().zip(1..) {
        if stage.position != position {
            stage.position = position;
            *stage = stage.save(conn)?;
        }
    }
    Ok(())
}

/// Rename a stage, change its kind or default probability (owners and admins).
#[utoipa::path(
    tag = "pipelines",
    operation_id = "update_stage",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The pipeline's id"),
        ("stage_id" = String, Path, format = Uuid, description = "The stage's id"),
    ),
    request_body = UpdateStage,
    responses(
        (status = 200, description = "The pipeline with the changed stage", body = PipelineResponse),
        (status = 409, description = "The kind can't change while deals are in the stage", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/pipelines/{id}/stages/{stage_id}")]
pub async fn update_stage(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(PipelineId, StageId)>,
    body: ValidatedJson<UpdateStage>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let (id, stage_id) = path.into_inner();
    let body = body.0;
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let pipeline = Pipeline::find_for_update(conn, workspace, id)?;
            let stages = stages_of(conn, workspace, id)?;
            let current =
                stages.iter().find(|stage| stage.id == stage_id).cloned().ok_or(ApiError::NotFound)?;
            let mut changed = current.clone();
            if let Some(name) = &body.name {
                changed.name = non_blank("name", name)?;
            }
            if let Some(kind) = body.kind
                && kind.as_str() != current.kind
            {
                if Stage::deal_count(conn, workspace, stage_id)? > 0 {
                    return Err(ApiError::conflict(
                        "stage_in_use",
                        "deals are in this stage: move them before changing its kind",
                    ));
                }
                let kinds = stages.iter().map(|stage| {
                    if stage.id == stage_id { kind } else { stage.kind.parse().unwrap_or(StageKind::Open) }
                });
                check_stage_kinds(kinds)?;
                changed.kind = kind.as_str().to_string();
            }
            if let Some(probability) = body.probability {
                changed.probability = i16::from(probability);
            }
            let changes = ChangeSet::default()
                .field("name", Some(&current.name), &changed.name)
                .field("kind", Some(&current.kind), &changed.kind)
                .field("probability", Some(&current.probability), &changed.probability);
            if !changes.is_empty() {
                let saved = changed.save(conn)?;
                if saved.probability != current.probability {
                    Stage::propagate_probability(conn, &saved)?;
                }
                record_change(conn, &principal, "stage", stage_id.0, "updated", saved.version, changes)?;
            }
            Ok((pipeline, stages_of(conn, workspace, id)?))
        })
    })
    .await?;
    Ok(pipeline_http(StatusCode::OK, &pipeline, &stages))
}

/// Put a pipeline's stages in a new order (owners and admins).
#[utoipa::path(
    tag = "pipelines",
    operation_id = "reorder_stages",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The pipeline's id")),
    request_body = ReorderStages,
    responses((status = 200, description = "The pipeline in its new order", body = PipelineResponse))
)]
#[post("/pipelines/{id}/stages/reorder")]
pub async fn reorder_stages(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
    body: ValidatedJson<ReorderStages>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let id = id.into_inner();
    let order = body.0.stage_ids;
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let pipeline = Pipeline::find_for_update(conn, workspace, id)?;
            let current = stages_of(conn, workspace, id)?;
            let mut sorted_ids: Vec<StageId> = order.clone();
            sorted_ids.sort();
            let mut expected: Vec<StageId> = current.iter().map(|stage| stage.id).collect();
            expected.sort();
            if sorted_ids != expected {
                return Err(ApiError::Validation(vec![FieldError::new(
                    "stage_ids",
                    "permutation",
                    "must list every stage of the pipeline exactly once",
                )]));
            }
            let mut reordered: Vec<Stage> = order
                .iter()
                .filter_map(|stage_id| current.iter().find(|stage| stage.id == *stage_id).cloned())
                .collect();
            renumber(conn, &mut reordered)?;
            let changes = ChangeSet::default().field("stage_ids", None, &order);
            record_change(conn, &principal, "pipeline", id.0, "stages_reordered", pipeline.version, changes)?;
            Ok((pipeline, stages_of(conn, workspace, id)?))
        })
    })
    .await?;
    Ok(pipeline_http(StatusCode::OK, &pipeline, &stages))
}

/// Delete a stage (owners and admins): refused while deals use it, unless `move_deals_to` names a
/// stage of the same pipeline and kind for them.
#[utoipa::path(
    tag = "pipelines",
    operation_id = "delete_stage",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The pipeline's id"),
        ("stage_id" = String, Path, format = Uuid, description = "The stage's id"),
        DeleteStageQuery,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Deals use the stage and `move_deals_to` is missing", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/pipelines/{id}/stages/{stage_id}")]
pub async fn delete_stage(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(PipelineId, StageId)>,
    query: web::Query<DeleteStageQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&principal)?;
    let (id, stage_id) = path.into_inner();
    let target = query.move_deals_to;
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            Pipeline::find_for_update(conn, workspace, id)?;
            let mut stages = stages_of(conn, workspace, id)?;
            let stage =
                stages.iter().find(|stage| stage.id == stage_id).cloned().ok_or(ApiError::NotFound)?;
            let remaining = stages.iter().filter(|other| other.id != stage_id);
            check_stage_kinds(remaining.filter_map(|other| other.kind.parse::<StageKind>().ok()))?;
            let deals = Stage::deal_count(conn, workspace, stage_id)?;
            if deals > 0 {
                let Some(target) = target else {
                    return Err(ApiError::conflict(
                        "stage_in_use",
                        format!(
                            "{deals} deal(s) are in this stage: name a stage for them with move_deals_to"
                        ),
                    ));
                };
                let target_stage = stages
                    .iter()
                    .find(|other| other.id == target && other.id != stage_id && other.kind == stage.kind)
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_query",
                            "move_deals_to must be another stage of this pipeline, of the same kind",
                        )
                    })?;
                move_deals(conn, &principal, &stage, target_stage)?;
            }
            Stage::delete(conn, workspace, stage_id)?;
            stages.retain(|other| other.id != stage_id);
            renumber(conn, &mut stages)?;
            let changes =
                ChangeSet::default().field("name", Some(&Some(stage.name.clone())), &None::<String>);
            record_change(conn, &principal, "stage", stage_id.0, "deleted", stage.version + 1, changes)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Moves every deal of `from` to `to` (same kind), recording each move in the deal's stage
/// history and the change log.
fn move_deals(
    conn: &mut PgConnection,
    principal: &Principal,
    from: &Stage,
    to: &Stage,
) -> Result<(), ApiError> {
    for (deal, version) in from.move_deals_to(conn, to, principal.user_id)? {
        let changes = ChangeSet::default().field("stage_id", Some(&from.id), &to.id);
        record_change(conn, principal, "deal", deal.0, "updated", version, changes)?;
    }
    Ok(())
}

fn name_taken() -> ApiError {
    ApiError::conflict("pipeline_name_taken", "another pipeline in this workspace has this name")
}
