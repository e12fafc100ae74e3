//! `GET /reports/funnel`: how far the deals created in a range got through a pipeline, how long
//! they stayed in each stage, and why the lost ones were lost.

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{percent_of, report_range, respond};
use crate::auth::{Principal, run_reading};
use crate::db::models::funnel::{Cohort, FunnelTallies, Stays};
use crate::db::models::funnel_cell;
use crate::db::models::{Pipeline, Stage, Workspace};
use crate::domain::{FieldCode, money};
use crate::error::ApiError;
use crate::ids::{PipelineId, StageId, TeamId, UserId};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// The pipeline; the workspace's default one when omitted.
    #[param(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    /// The first day deals were created on, in the workspace's time zone; January 1 of this year when omitted.
    pub from: Option<NaiveDate>,
    /// The last day deals were created on, included; today when omitted.
    pub to: Option<NaiveDate>,
    /// Deals this user owns.
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    /// Deals assigned to this team.
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
}

/// One stage of the funnel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FunnelStage {
    #[schema(value_type = String, format = Uuid)]
    pub stage_id: StageId,
    pub name: String,
    /// `open`, `won` or `lost`.
    pub kind: String,
    /// Deals that entered this stage.
    pub entered: i64,
    /// Deals that got at least this far: entered this stage or a later open one, or were ever won. For the won
    /// and lost stages, the deals that entered them.
    pub reached: i64,
    /// The percentage of the deals that reached this stage that reached the next open stage (the won stage
    /// after the last); null for the won and lost stages, or when none reached this one.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "80.0")]
    pub conversion_to_next: Option<Decimal>,
    /// The percentage of the deals that reached this stage that are won now; null for the won and lost stages, or
    /// when none reached this one.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "20.0")]
    pub conversion_to_won: Option<Decimal>,
    /// The average days of the stays in this stage that ended (the deal moved on); null when none did.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "2.5")]
    pub average_days: Option<Decimal>,
    /// Their median, each stay counted in tenths of a day.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "2.0")]
    pub median_days: Option<Decimal>,
}

/// A reason lost deals give.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FunnelLostReason {
    pub reason: String,
    pub deals: i64,
    /// Their amount in the workspace currency (deals without an exchange rate left out).
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "150.00")]
    pub amount: Decimal,
}

/// How the deals created in a range went through a pipeline.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "pipeline_id": "01968f5e-3a4b-7c2d-9e1f-0a1b2c3d4e5f", "from": "2026-01-01", "to": "2026-03-31", "currency": "EUR",
    "as_of": "2026-04-01T08:00:00Z", "deals": 5, "open": 1, "won": 1, "lost": 3, "win_rate": "25.0",
    "stages": [{"stage_id": "01968f5e-3a4b-7c2d-9e1f-0a1b2c3d4e60", "name": "New", "kind": "open", "entered": 4,
                "reached": 5, "conversion_to_next": "80.0", "conversion_to_won": "20.0", "average_days": "2.0",
                "median_days": "2.0"}],
    "lost_reasons": [{"reason": "Price", "deals": 2, "amount": "150.00"}]
}))]
pub struct FunnelReport {
    #[schema(value_type = String, format = Uuid)]
    pub pipeline_id: PipelineId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The currency of the lost reasons' amounts: the workspace's.
    pub currency: String,
    pub as_of: DateTime<Utc>,
    /// Deals created in the range (live, of this pipeline, that the caller sees).
    pub deals: i64,
    /// How many of them are open, won and lost now.
    pub open: i64,
    pub won: i64,
    pub lost: i64,
    /// Won as a percentage of won and lost; null while none is closed.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "25.0")]
    pub win_rate: Option<Decimal>,
    /// The pipeline's stages in order.
    pub stages: Vec<FunnelStage>,
    /// By deals, most first.
    pub lost_reasons: Vec<FunnelLostReason>,
}

/// A pipeline's funnel.
///
/// Follows the deals of a pipeline created from `from` to `to` (in the workspace's time zone) to now: how many
/// entered and reached each stage, the conversion to the next stage and to won, the days they stayed in each stage,
/// the win rate, and the lost reasons ranked. Only deals the caller sees. CSV with `Accept: text/csv`.
#[utoipa::path(
    tag = "reports",
    operation_id = "funnel_report",
    security(("bearer" = [])),
    params(FunnelQuery),
    responses(
        (status = 200, description = "The report",
            content((FunnelReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter out of range or unknown (named in `errors`): `to` before `from`, no such pipeline",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/reports/funnel")]
pub async fn funnel_report(
    state: web::Data<AppState>,
    principal: Principal,
    request: HttpRequest,
    query: web::Query<FunnelQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let report = run_reading(principal.caller(), &state, move |conn, scope| {
        let workspace = Workspace::find(conn, scope.workspace())?;
        let range = report_range(&workspace, query.from, query.to, |today| today.with_ordinal(1))?;
        let pipeline = match query.pipeline_id {
            Some(id) => Pipeline::find(conn, workspace.id, id).optional()?.ok_or_else(|| {
                ApiError::invalid_field(
                    "pipeline_id",
                    FieldCode::NotFound,
                    "no such pipeline in this workspace",
                )
            })?,
            None => Pipeline::find_default(conn, workspace.id)?,
        };
        let stages = Stage::of_pipelines(conn, workspace.id, &[pipeline.id])?;
        let cohort = Cohort {
            scope,
            pipeline_id: pipeline.id.0,
            created: range,
            timezone: workspace.timezone.clone(),
            owner_id: query.owner_id.map(|id| id.0),
            team_id: query.team_id.map(|id| id.0),
        };
        let FunnelTallies { reach, stays, statuses, lost_reasons: reasons } =
            match funnel_cell::tallies(conn, &cohort)? {
                Some(from_cells) => from_cells,
                None => FunnelTallies::scanned(conn, &cohort)?,
            };
        let places = money::places(&workspace.default_currency);
        let count =
            |status: &str| statuses.iter().find(|row| row.status == status).map_or(0, |row| row.deals);
        let (open, won, lost) = (count("open"), count("won"), count("lost"));
        let reached = |stage: &Stage| -> i64 {
            reach
                .iter()
                .filter(|row| match stage.kind.as_str() {
                    "won" => row.ever_won,
                    "lost" => row.ever_lost,
                    _ => row.ever_won || row.furthest.is_some_and(|furthest| furthest >= stage.position),
                })
                .map(|row| row.deals)
                .sum()
        };
        let open_stages: Vec<&Stage> = stages.iter().filter(|stage| stage.kind == "open").collect();
        let won_stage = stages.iter().find(|stage| stage.kind == "won");
        let days = |value: Option<Decimal>| value.map(|days| money::round(days, 1));
        let stages = stages
            .iter()
            .map(|stage| {
                let here = reached(stage);
                let next = open_stages
                    .iter()
                    .position(|open| open.id == stage.id)
                    .and_then(|index| open_stages.get(index + 1).copied().or(won_stage));
                let stay = stays.iter().find(|stay| stay.stage_id == stage.id.0);
                FunnelStage {
                    stage_id: stage.id,
                    name: stage.name.clone(),
                    kind: stage.kind.clone(),
                    entered: stay.map_or(0, |stay| stay.entered),
                    reached: here,
                    conversion_to_next: next.and_then(|next| percent_of(reached(next), here)),
                    conversion_to_won: (stage.kind == "open").then(|| percent_of(won, here)).flatten(),
                    average_days: days(stay.and_then(Stays::average_days)),
                    median_days: days(stay.and_then(Stays::median_days)),
                }
            })
            .collect();
        Ok(FunnelReport {
            pipeline_id: pipeline.id,
            from: range.from,
            to: range.to,
            currency: workspace.default_currency.clone(),
            as_of: Utc::now(),
            deals: open + won + lost,
            open,
            won,
            lost,
            win_rate: percent_of(won, won + lost),
            stages,
            lost_reasons: reasons
                .into_iter()
                .map(|reason| FunnelLostReason {
                    reason: reason.reason,
                    deals: reason.deals,
                    amount: money::round(reason.amount.unwrap_or_default(), places),
                })
                .collect(),
        })
    })
    .await?;
    respond(&request, &report, csv)
}

/// One row per stage (`level` `stage`), then one per lost reason (`lost_reason`).
fn csv(report: &FunnelReport) -> Result<actix_web::web::Bytes, actix_web::Error> {
    let text = |value: Option<Decimal>| value.map(|value| value.to_string()).unwrap_or_default();
    let mut rows = vec![
        [
            "level",
            "stage_id",
            "name",
            "kind",
            "entered",
            "reached",
            "conversion_to_next",
            "conversion_to_won",
            "average_days",
            "median_days",
            "deals",
            "amount",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for stage in &report.stages {
        rows.push(vec![
            "stage".to_string(),
            stage.stage_id.to_string(),
            stage.name.clone(),
            stage.kind.clone(),
            stage.entered.to_string(),
            stage.reached.to_string(),
            text(stage.conversion_to_next),
            text(stage.conversion_to_won),
            text(stage.average_days),
            text(stage.median_days),
            String::new(),
            String::new(),
        ]);
    }
    for reason in &report.lost_reasons {
        let mut row = vec!["lost_reason".to_string(), String::new(), reason.reason.clone()];
        row.extend(std::iter::repeat_n(String::new(), 7));
        row.extend([reason.deals.to_string(), reason.amount.to_string()]);
        rows.push(row);
    }
    crate::api::segments::export::csv_rows(rows.into_iter())
}
