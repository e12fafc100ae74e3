//! What pipelines and stages look like on the wire, and the bodies that change them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::extract::not_null;
use crate::db::models::{Pipeline, Stage};
use crate::domain::enums::StageKind;
use crate::domain::pipeline::MAX_STAGES;
use crate::ids::{PipelineId, StageId};

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

pub(super) fn pipeline_response(pipeline: &Pipeline, stages: &[Stage]) -> PipelineResponse {
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
    pub(super) fn probability(&self) -> i16 {
        i16::from(self.probability.unwrap_or(match self.kind {
            StageKind::Open => 50,
            StageKind::Won => 100,
            StageKind::Lost => 0,
        }))
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Wholesale", "stages": [{"name": "New", "kind": "open"}, {"name": "Proposal", "kind": "open", "probability": 40}, {"name": "Won", "kind": "won"}, {"name": "Lost", "kind": "lost"}]}))]
pub struct CreatePipeline {
    #[validate(length(min = 1, max = 200))]
    #[schema(example = "Wholesale", min_length = 1, max_length = 200)]
    pub name: String,
    /// Makes this the workspace's default pipeline.
    #[serde(default)]
    pub is_default: bool,
    /// In order. The usual New → Qualified → Proposal → Negotiation → Won / Lost when omitted.
    /// 3 to 50: at least one open stage, a won one and a lost one.
    #[validate(nested, length(min = 3, max = MAX_STAGES, message = "must hold 3 to 50 stages"))]
    #[schema(min_items = 3, max_items = 50)]
    pub stages: Option<Vec<StageInput>>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Wholesale orders"}))]
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
#[schema(example = json!({"name": "Negotiation", "kind": "open", "position": 3, "probability": 70}))]
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
    #[schema(minimum = 1, maximum = 1000)]
    pub position: Option<i32>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Offer sent", "probability": 45}))]
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
#[schema(example = json!({"stage_ids": ["01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e71", "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e72", "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e73"]}))]
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
