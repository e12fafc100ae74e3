//! A pipeline's stages: adding, changing, reordering and deleting them (moving their deals on).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, patch, post, web};
use chrono::Utc;
use diesel::prelude::*;

use super::wire::{CreateStage, DeleteStageQuery, PipelineResponse, ReorderStages, StageInput, UpdateStage};
use super::{pipeline_http, stages_of};
use crate::api::extract::ValidatedJson;
use crate::api::record_change;
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Pipeline, Stage};
use crate::domain::FieldCode;
use crate::domain::enums::StageKind;
use crate::domain::pipeline::{MAX_STAGES, check_stage_kinds};
use crate::domain::text::non_blank;
use crate::error::{ApiError, FieldError, ProblemCode};
use crate::ids::{PipelineId, StageId};
use crate::state::AppState;

/// Add a stage to a pipeline (owners and admins).
///
/// Inserts a stage at `position` (1 is first; at the end when omitted). The pipeline keeps exactly one won
/// stage, and holds at most 50 stages (409).
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
    principal.require_admin("change pipelines")?;
    let id = id.into_inner();
    let body = body.0;
    let (pipeline, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let pipeline = Pipeline::find_for_update(conn, workspace, id)?;
            let mut stages = stages_of(conn, workspace, id)?;
            if stages.len() as u64 >= MAX_STAGES {
                return Err(ApiError::conflict(
                    ProblemCode::TooManyStages,
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
pub(super) fn renumber(conn: &mut PgConnection, stages: &mut [Stage]) -> Result<(), ApiError> {
    for (stage, position) in stages.iter_mut().zip(1..) {
        if stage.position != position {
            stage.position = position;
            *stage = stage.save(conn)?;
        }
    }
    Ok(())
}

/// Rename a stage, change its kind or default probability (owners and admins).
///
/// A stage's kind can't change while deals are in it (409), and the pipeline keeps exactly one won stage.
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
    principal.require_admin("change pipelines")?;
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
                        ProblemCode::StageInUse,
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
///
/// `stage_ids` lists every stage of the pipeline exactly once, in the new order; the board's columns follow
/// it.
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
    principal.require_admin("change pipelines")?;
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
                    FieldCode::Permutation,
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

/// Delete a stage (owners and admins).
///
/// Refused with a 409 while deals are in the stage, unless `move_deals_to` names a stage of the same pipeline
/// and kind for them to move to. The pipeline keeps its open, won and lost stages.
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
    principal.require_admin("change pipelines")?;
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
                        ProblemCode::StageInUse,
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
                            ProblemCode::InvalidQuery,
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
pub(super) fn move_deals(
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
