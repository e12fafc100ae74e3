//! The board: a pipeline as kanban columns with totals per currency.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::DealCursor;
use super::wire::{DealCard, Money, deal_card};
use crate::api::extract::Page;
use crate::auth::{Principal, run_seeing};
use crate::db::models::deal::{DealFilter, DealSortKey};
use crate::db::models::{Deal, Stage};
use crate::db::visibility::ClientScope;
use crate::domain::enums::StageKind;
use crate::domain::money;
use crate::error::{ApiError, ProblemCode};
use crate::ids::{PipelineId, UserId};
use crate::state::AppState;

/// A sum of money in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyAmount {
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1234.50")]
    pub amount: Money,
}

/// One column of the board.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardColumn {
    pub stage: crate::api::pipelines::wire::StageResponse,
    /// Every live deal in the stage (with the board's filters; for a won or lost stage, those
    /// closed since `closed_since`), not only those listed.
    pub deal_count: i64,
    /// Totals per currency.
    pub amounts: Vec<CurrencyAmount>,
    /// Totals weighted by each deal's probability, per currency, rounded to minor units.
    pub weighted_amounts: Vec<CurrencyAmount>,
    /// The stage's most recently updated deals, without their line items (a card doesn't show
    /// them; `GET /deals/{id}` has them).
    pub deals: Vec<DealCard>,
    /// Continue with `GET /deals?pipeline_id=…&stage_id=…&sort=-updated_at&cursor=…` (plus
    /// `owner_id` if the board was filtered by it, and `closed_from` for a won or lost stage);
    /// null when every deal is listed.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Board {
    pub pipeline_id: PipelineId,
    pub columns: Vec<BoardColumn>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// Only this user's deals.
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    /// How many deals to list per stage: 1 to 100, 20 when omitted.
    #[param(minimum = 1, maximum = 100)]
    pub limit_per_stage: Option<u32>,
    /// Won and lost columns show the deals closed since this time: midnight (UTC) 30 days ago
    /// when omitted. Open stages show every open deal.
    pub closed_since: Option<DateTime<Utc>>,
}

/// How far back the board's won and lost columns reach by default.
pub(super) const BOARD_CLOSED_DAYS: i64 = 30;

/// A pipeline as a kanban board, in one round trip.
///
/// Per stage: its live deal count, totals per currency, probability-weighted totals and its most recently
/// updated deals (`limit_per_stage`). Won and lost columns reach back to `closed_since`; `owner_id` narrows
/// the board to one user's deals. Each column's `next_cursor` continues in `GET /deals`.
#[utoipa::path(
    tag = "deals",
    operation_id = "get_pipeline_board",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The pipeline's id"), BoardQuery),
    responses((status = 200, description = "The board", body = Board))
)]
#[get("/pipelines/{id}/board")]
pub async fn get_pipeline_board(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
    query: web::Query<BoardQuery>,
) -> Result<web::Json<Board>, ApiError> {
    let pipeline_id = id.into_inner();
    let per_stage = query.limit_per_stage.unwrap_or(20);
    if !(1..=100).contains(&per_stage) {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidQuery,
            "limit_per_stage must be between 1 and 100",
        ));
    }
    let owner = query.owner_id;
    // By default from a midnight: the running totals then answer for whole days, and no deal is
    // read for the part of a day (at 1M clients ~600 deals close a day).
    let closed_since = query.closed_since.unwrap_or_else(|| {
        let since = Utc::now() - chrono::Duration::days(BOARD_CLOSED_DAYS);
        chrono::DurationRound::duration_trunc(since, chrono::Duration::days(1)).unwrap_or(since)
    });
    let (stages, totals, columns) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = principal.workspace_id;
        // A pipeline always has stages (one won, at least one open and one lost), so none means
        // there is no such pipeline in the workspace: one statement less than reading it first.
        let stages = Stage::of_pipelines(conn, workspace, &[pipeline_id])?;
        if stages.is_empty() {
            return Err(ApiError::NotFound);
        }
        // A caller who doesn't see every client sees the deals owned within their visibility: the
        // running totals are kept per owner, so the counts and sums stay index-backed and agree
        // with the cards listed. An `owner_id` outside it matches nothing.
        let owners = match (scope.owners(), owner) {
            (None, owner) => owner.map(|owner| vec![owner]),
            (Some(visible), None) => Some(visible),
            (Some(visible), Some(owner)) => Some(visible.into_iter().filter(|seen| *seen == owner).collect()),
        };
        let totals = Deal::board_totals(conn, workspace, pipeline_id, owners.as_deref(), closed_since)?;
        // Each stage, and for a won or lost one the time its deals must have closed since.
        let wanted: Vec<_> = stages
            .iter()
            .map(|stage| (stage.id, (stage.kind != StageKind::Open.as_str()).then_some(closed_since)))
            .collect();
        let filter =
            DealFilter { pipeline_id: Some(pipeline_id), owner_ids: owners, ..DealFilter::default() };
        // The owners above are the board's whole rule, for its cards as for its sums.
        let by_owner = ClientScope::whole_workspace(workspace);
        let rows = Deal::board_columns(conn, &by_owner, &filter, &wanted, i64::from(per_stage) + 1)?;
        // The rows come column after column, in the stages' order.
        let mut rows = rows.into_iter().peekable();
        let columns: Vec<Vec<Deal>> = stages
            .iter()
            .map(|stage| std::iter::from_fn(|| rows.next_if(|deal| deal.stage_id == stage.id)).collect())
            .collect();
        Ok((stages, totals, columns))
    })
    .await?;
    let columns = stages
        .iter()
        .zip(columns)
        .map(|(stage, rows)| {
            let stage_totals: Vec<_> = totals.iter().filter(|total| total.stage_id == stage.id.0).collect();
            let key = |deal: &Deal| DealCursor {
                sort: "-updated_at".to_string(),
                key: DealSortKey::Time(deal.updated_at),
                id: deal.id,
            };
            let page = Page::from_rows(rows, per_stage, key, |deal| deal_card(&deal));
            BoardColumn {
                stage: crate::api::pipelines::wire::StageResponse::from(stage),
                deal_count: stage_totals.iter().map(|total| total.deals).sum(),
                amounts: stage_totals
                    .iter()
                    .map(|total| CurrencyAmount {
                        currency: total.currency.clone(),
                        amount: money::round(total.amount, money::places(&total.currency)),
                    })
                    .collect(),
                weighted_amounts: stage_totals
                    .iter()
                    .map(|total| CurrencyAmount {
                        currency: total.currency.clone(),
                        amount: money::round(total.weighted_amount, money::places(&total.currency)),
                    })
                    .collect(),
                deals: page.data,
                next_cursor: page.next_cursor,
            }
        })
        .collect();
    Ok(web::Json(Board { pipeline_id, columns }))
}
