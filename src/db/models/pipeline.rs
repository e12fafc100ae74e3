//! Pipelines and their ordered stages.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::deal::{following_running_totals, lock_stage_deals};
use super::funnel_cell;
use crate::db::schema::{deals, pipelines, stages};
use crate::ids::{DealId, PipelineId, StageId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pipelines, check_for_backend(diesel::pg::Pg))]
pub struct Pipeline {
    pub workspace_id: WorkspaceId,
    pub id: PipelineId,
    pub name: String,
    pub is_default: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = stages, check_for_backend(diesel::pg::Pg))]
pub struct Stage {
    pub workspace_id: WorkspaceId,
    pub id: StageId,
    pub pipeline_id: PipelineId,
    pub name: String,
    pub kind: String,
    pub position: i32,
    pub probability: i16,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The stages every new workspace's pipeline starts with: (name, kind, probability).
pub const DEFAULT_STAGES: [(&str, &str, i16); 6] = [
    ("New", "open", 10),
    ("Qualified", "open", 25),
    ("Proposal", "open", 50),
    ("Negotiation", "open", 75),
    ("Won", "won", 100),
    ("Lost", "lost", 0),
];

impl Pipeline {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Pipeline> {
        diesel::insert_into(pipelines::table)
            .values(self)
            .returning(Pipeline::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: PipelineId) -> QueryResult<Pipeline> {
        pipelines::table.find((workspace, id)).select(Pipeline::as_select()).first(conn)
    }

    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: PipelineId,
    ) -> QueryResult<Pipeline> {
        pipelines::table.find((workspace, id)).select(Pipeline::as_select()).for_update().first(conn)
    }

    pub fn find_default(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<Pipeline> {
        pipelines::table
            .filter(pipelines::workspace_id.eq(workspace))
            .filter(pipelines::is_default.eq(true))
            .select(Pipeline::as_select())
            .first(conn)
    }

    pub fn list(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<Vec<Pipeline>> {
        pipelines::table
            .filter(pipelines::workspace_id.eq(workspace))
            .order((pipelines::is_default.desc(), pipelines::name, pipelines::id))
            .limit(200)
            .select(Pipeline::as_select())
            .load(conn)
    }

    pub fn name_taken(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        name: &str,
        except: Option<PipelineId>,
    ) -> QueryResult<bool> {
        let mut query = pipelines::table
            .filter(pipelines::workspace_id.eq(workspace))
            .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(name)").eq(name.to_lowercase()))
            .into_boxed();
        if let Some(except) = except {
            query = query.filter(pipelines::id.ne(except));
        }
        diesel::select(diesel::dsl::exists(query.select(pipelines::id))).get_result(conn)
    }

    /// Renames and/or flags as default; bumps the version.
    pub fn update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: PipelineId,
        name: &str,
        is_default: bool,
    ) -> QueryResult<Pipeline> {
        if is_default {
            diesel::update(
                pipelines::table
                    .filter(pipelines::workspace_id.eq(workspace))
                    .filter(pipelines::is_default.eq(true))
                    .filter(pipelines::id.ne(id)),
            )
            .set((pipelines::is_default.eq(false), pipelines::version.eq(pipelines::version + 1)))
            .execute(conn)?;
        }
        diesel::update(pipelines::table.find((workspace, id)))
            .set((
                pipelines::name.eq(name),
                pipelines::is_default.eq(is_default),
                pipelines::version.eq(pipelines::version + 1),
                pipelines::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Pipeline::as_returning())
            .get_result(conn)
    }

    /// Deletes a pipeline with its stages; the caller checked that no deal uses it.
    pub fn delete(conn: &mut PgConnection, workspace: WorkspaceId, id: PipelineId) -> QueryResult<usize> {
        diesel::delete(pipelines::table.find((workspace, id))).execute(conn)
    }

    /// Deals (live or deleted: tombstones keep their stage) in this pipeline.
    pub fn deal_count(conn: &mut PgConnection, workspace: WorkspaceId, id: PipelineId) -> QueryResult<i64> {
        deals::table
            .filter(deals::workspace_id.eq(workspace))
            .filter(deals::pipeline_id.eq(id))
            .count()
            .get_result(conn)
    }
}

impl Stage {
    /// Inserts stages; each write to a pipeline's stages marks its deals' days stale for the funnel
    /// cells (how far a deal got depends on the stages' positions and kinds).
    pub fn insert_all(conn: &mut PgConnection, stages: &[Stage]) -> QueryResult<Vec<Stage>> {
        let inserted: Vec<Stage> = diesel::insert_into(stages::table)
            .values(stages)
            .returning(Stage::as_returning())
            .get_results(conn)?;
        let mut pipelines: Vec<(WorkspaceId, PipelineId)> = Vec::new();
        for stage in &inserted {
            if !pipelines.contains(&(stage.workspace_id, stage.pipeline_id)) {
                pipelines.push((stage.workspace_id, stage.pipeline_id));
                funnel_cell::mark_pipeline_stale(conn, stage.workspace_id, stage.pipeline_id)?;
            }
        }
        Ok(inserted)
    }

    /// The stages of these pipelines, in order.
    pub fn of_pipelines(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        pipelines: &[PipelineId],
    ) -> QueryResult<Vec<Stage>> {
        stages::table
            .filter(stages::workspace_id.eq(workspace))
            .filter(stages::pipeline_id.eq_any(pipelines))
            .order((stages::pipeline_id, stages::position, stages::id))
            .select(Stage::as_select())
            .load(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: StageId) -> QueryResult<Stage> {
        stages::table.find((workspace, id)).select(Stage::as_select()).first(conn)
    }

    /// Writes name, kind, position and probability back; bumps the version.
    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Stage> {
        // How far a deal got depends on its stages' positions and kinds, not their names.
        let (position, kind): (i32, String) = stages::table
            .find((self.workspace_id, self.id))
            .select((stages::position, stages::kind))
            .first(conn)?;
        if (position, kind.as_str()) != (self.position, self.kind.as_str()) {
            funnel_cell::mark_pipeline_stale(conn, self.workspace_id, self.pipeline_id)?;
        }
        diesel::update(stages::table.find((self.workspace_id, self.id)))
            .set((
                stages::name.eq(&self.name),
                stages::kind.eq(&self.kind),
                stages::position.eq(self.position),
                stages::probability.eq(self.probability),
                stages::version.eq(stages::version + 1),
                stages::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Stage::as_returning())
            .get_result(conn)
    }

    pub fn delete(conn: &mut PgConnection, workspace: WorkspaceId, id: StageId) -> QueryResult<usize> {
        let pipelines: Vec<PipelineId> = diesel::delete(stages::table.find((workspace, id)))
            .returning(stages::pipeline_id)
            .get_results(conn)?;
        for pipeline in &pipelines {
            funnel_cell::mark_pipeline_stale(conn, workspace, *pipeline)?;
        }
        Ok(pipelines.len())
    }

    /// Deals (live or deleted) in this stage.
    pub fn deal_count(conn: &mut PgConnection, workspace: WorkspaceId, id: StageId) -> QueryResult<i64> {
        deals::table
            .filter(deals::workspace_id.eq(workspace))
            .filter(deals::stage_id.eq(id))
            .count()
            .get_result(conn)
    }

    /// Gives the stage's probability to its deals that don't set their own. A derived value: the
    /// deals' versions don't change.
    pub fn propagate_probability(conn: &mut PgConnection, stage: &Stage) -> QueryResult<usize> {
        let ids = lock_stage_deals(conn, stage.workspace_id, stage.id)?;
        following_running_totals(conn, stage.workspace_id, ids, |conn| {
            diesel::update(
                deals::table
                    .filter(deals::workspace_id.eq(stage.workspace_id))
                    .filter(deals::stage_id.eq(stage.id))
                    .filter(deals::probability_override.is_null()),
            )
            .set(deals::probability.eq(stage.probability))
            .execute(conn)
        })
    }

    /// Moves every deal of this stage to `to`, a stage of the same kind, as `actor`: each deal
    /// gets `to`'s probability unless it sets its own, a new version and a stage-history entry.
    /// Returns each moved deal's id and new version, for the change log.
    pub fn move_deals_to(
        &self,
        conn: &mut PgConnection,
        to: &Stage,
        actor: UserId,
    ) -> QueryResult<Vec<(DealId, i32)>> {
        #[derive(QueryableByName)]
        struct Moved {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: uuid::Uuid,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            version: i32,
        }
        let ids = lock_stage_deals(conn, self.workspace_id, self.id)?;
        let moved: Vec<Moved> = following_running_totals(conn, self.workspace_id, ids, |conn| {
            diesel::sql_query(include_str!("../sql/move_deals.sql"))
                .bind::<diesel::sql_types::Uuid, _>(self.workspace_id.0)
                .bind::<diesel::sql_types::Uuid, _>(self.id.0)
                .bind::<diesel::sql_types::Uuid, _>(to.id.0)
                .bind::<diesel::sql_types::SmallInt, _>(to.probability)
                .bind::<diesel::sql_types::Uuid, _>(actor.0)
                .load(conn)
        })?;
        Ok(moved.into_iter().map(|deal| (DealId(deal.id), deal.version)).collect())
    }
}

/// Creates a pipeline with `stages` (name, kind, probability) in order. A new default pipeline
/// takes the flag from the previous one.
pub fn create_pipeline(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    name: &str,
    is_default: bool,
    stages: &[(String, String, i16)],
) -> QueryResult<Pipeline> {
    let now = Utc::now();
    if is_default {
        diesel::update(
            pipelines::table
                .filter(pipelines::workspace_id.eq(workspace))
                .filter(pipelines::is_default.eq(true)),
        )
        .set((pipelines::is_default.eq(false), pipelines::version.eq(pipelines::version + 1)))
        .execute(conn)?;
    }
    let pipeline = Pipeline {
        workspace_id: workspace,
        id: PipelineId::generate(),
        name: name.to_string(),
        is_default,
        version: 1,
        created_at: now,
        updated_at: now,
    }
    .insert(conn)?;
    let stages: Vec<Stage> = stages
        .iter()
        .zip(1..)
        .map(|((name, kind, probability), position)| Stage {
            workspace_id: workspace,
            id: StageId::generate(),
            pipeline_id: pipeline.id,
            name: name.clone(),
            kind: kind.clone(),
            position,
            probability: *probability,
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .collect();
    Stage::insert_all(conn, &stages)?;
    Ok(pipeline)
}

/// The stages every new pipeline starts with unless others are given.
pub fn default_stages() -> Vec<(String, String, i16)> {
    DEFAULT_STAGES
        .iter()
        .map(|(name, kind, probability)| (name.to_string(), kind.to_string(), *probability))
        .collect()
}
