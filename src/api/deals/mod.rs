//! Deals: sales opportunities moving through a pipeline, with exact money, line items, stage
//! history and a kanban board.

pub mod batch;
pub mod board;
mod wire;
mod write;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::Parent;
use crate::api::by_ref::{self, RefLookup, RefPath};
use crate::api::extract::{IfMatch, JsonBody, Page, decode_cursor, page_limit};
use crate::api::listing::{DeletedQuery, Tombstone, search_query, tombstone_page};
use crate::api::search::{SearchRequest, compile_filter};
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};

use crate::db::models::deal::{DealFilter, DealOrder, DealSortKey, recompute_derived};
use crate::db::models::external_ref::RefEntity;
use crate::db::models::{Client, Deal, Stage, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::enums::{CustomEntity, StageKind};
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ClientId, DealId, PipelineId, StageId, TeamId, UserId};
use crate::state::AppState;
use wire::{DealInput, DealResponse, UpdateDeal, deal_response};
use write::{create_in, deal_http, delete_in, update_in, upsert_in};

/// Create a deal.
///
/// A deal for a client in a pipeline (the default one and its first open stage when omitted). With line items
/// the amount is their sum; in a foreign currency it carries the exchange rate to the workspace's currency.
/// Amounts are exact decimal strings within the currency's minor units.
#[utoipa::path(
    tag = "deals",
    operation_id = "create_deal",
    security(("bearer" = [])),
    request_body = DealInput,
    responses((status = 201, description = "Created", body = DealResponse,
        headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new deal's URL"))))
)]
#[post("/deals")]
pub async fn create_deal(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<DealInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let (deal, items) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            create_in(conn, &principal, scope, &workspace, body.0)
        })
    })
    .await?;
    Ok(deal_http(StatusCode::CREATED, &deal, &items))
}

/// Create or update the deal another system knows by `{system}:{id}`: an e-shop's order.
///
/// When no deal has this ref, creates one from the body (which then needs `title`, and `client_id` or
/// `client_ref`) with the ref among its `external_refs`, 201; when one has, updates it with the fields the body
/// gives, as `PATCH` does (`items` replaces every line), 200, and writes nothing (same version, no change event)
/// when they change nothing. `If-Match` guards the update; on a create it fails (412, `current_version` 0). A
/// ref held by a deal the caller doesn't see is a 409 `external_ref_taken`, by a deleted one a 409
/// `record_deleted`. Two upserts of one new ref at once make one deal.
#[utoipa::path(
    tag = "deals",
    operation_id = "upsert_deal_by_ref",
    security(("bearer" = [])),
    params(
        RefPath,
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateDeal,
    responses(
        (status = 200, description = "Updated, or already as asked", body = DealResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 201, description = "Created", body = DealResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new deal's URL"))),
        (status = 409, description = "The ref is a hidden or deleted deal's", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/deals/by-ref/{system}/{id}")]
pub async fn upsert_deal_by_ref(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<RefPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateDeal>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let reference = path.parse()?;
    let (status, (deal, items)) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            upsert_in(conn, &principal, scope, &workspace, reference, body.0, &if_match)
        })
    })
    .await?;
    Ok(deal_http(status, &deal, &items))
}

/// `sort` of the deal lists.
pub struct DealSort;

impl utoipa::PartialSchema for DealSort {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::api::schemas::sort_order(SORTS.iter().map(|(name, _)| *name))
    }
}

impl utoipa::ToSchema for DealSort {}

/// How deal lists may be sorted.
const SORTS: &[(&str, DealOrder)] = &[
    ("updated_at", DealOrder::UpdatedAt),
    ("created_at", DealOrder::CreatedAt),
    ("amount", DealOrder::Amount),
    ("expected_close_date", DealOrder::ExpectedCloseDate),
];

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// `updated_at`, `created_at`, `amount` or `expected_close_date` (deals without one last),
    /// prefixed with `-` for descending; default `-updated_at`.
    #[param(inline, value_type = Option<DealSort>, example = "-amount")]
    pub sort: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub stage_id: Option<StageId>,
    pub status: Option<StageKind>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    pub closed_from: Option<DateTime<Utc>>,
    pub closed_to: Option<DateTime<Utc>>,
    /// Deals of at least this amount, in their own currency: a decimal such as `1000` or `99.95`.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub amount_min: Option<String>,
    /// Deals of at most this amount, written like `amount_min`.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub amount_max: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    /// The deal another system knows by this id: `system:id`, such as `shop:ORDER-1001`.
    #[param(inline, value_type = Option<RefLookup>)]
    pub external_ref: Option<String>,
    /// Fuzzy search over the title and the client's names.
    pub q: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DealCursor {
    sort: String,
    key: DealSortKey,
    id: DealId,
}

fn parse_decimal(name: &str, value: Option<&str>) -> Result<Option<Decimal>, ApiError> {
    value
        .map(|value| {
            crate::domain::money::parse_decimal_text(value).ok_or_else(|| {
                ApiError::bad_request(
                    ProblemCode::InvalidQuery,
                    format!("{name} must be a decimal such as 1000 or 99.95 (digits and a point)"),
                )
            })
        })
        .transpose()
}

impl DealListQuery {
    /// What the list's query parameters narrow it to (without the search filter).
    fn filter(self) -> Result<DealFilter, ApiError> {
        Ok(DealFilter {
            pipeline_id: self.pipeline_id,
            stage_id: self.stage_id,
            status: self.status.map(StageKind::as_str),
            owner_id: self.owner_id,
            owner_ids: None,
            team_id: self.team_id,
            client_id: self.client_id,
            expected_close_from: self.expected_close_from,
            expected_close_to: self.expected_close_to,
            closed_from: self.closed_from,
            closed_to: self.closed_to,
            amount_min: parse_decimal("amount_min", self.amount_min.as_deref())?,
            amount_max: parse_decimal("amount_max", self.amount_max.as_deref())?,
            tag: self.tag.map(|tag| tag.trim().to_string()),
            updated_since: self.updated_since,
            q: search_query(self.q.as_deref())?,
            condition: None,
            id: None,
        })
    }
}

/// List deals, with filters and fuzzy search.
///
/// Pages through deals with filters by pipeline, stage, status, owner, team, client, expected and actual
/// closing dates, amount range and tag; sorts by update, creation, amount or expected close date; `q`
/// searches titles and clients' names. `POST /deals/search` takes the full filter language.
#[utoipa::path(
    tag = "deals",
    operation_id = "list_deals",
    security(("bearer" = [])),
    params(DealListQuery),
    responses((status = 200, description = "One page of deals", body = Page<DealResponse>))
)]
#[get("/deals")]
pub async fn list_deals(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DealListQuery>,
) -> Result<web::Json<Page<DealResponse>>, ApiError> {
    deals_page(state, principal, query.into_inner(), None, None).await.map(web::Json)
}

/// The deals of one client (any filter of `GET /deals` applies).
///
/// The client's deals with the same filters, sorts and paging as `GET /deals`. A client that doesn't exist is
/// a 404.
#[utoipa::path(
    tag = "deals",
    operation_id = "list_client_deals",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), DealListQuery),
    responses((status = 200, description = "One page of the client's deals", body = Page<DealResponse>))
)]
#[get("/clients/{id}/deals")]
pub async fn list_client_deals(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<DealListQuery>,
) -> Result<web::Json<Page<DealResponse>>, ApiError> {
    let client = id.into_inner();
    let mut query = query.into_inner();
    query.client_id = Some(client);
    deals_page(state, principal, query, None, Some(Parent::Client(client))).await.map(web::Json)
}

/// Search deals with the filter language: `{filter, sort, limit, cursor}`.
///
/// An unknown field, an operator the field doesn't take or a bad value is a 422 naming its path
/// (`filter.all[1].op`).
#[utoipa::path(
    tag = "deals",
    operation_id = "search_deals",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching deals", body = Page<DealResponse>))
)]
#[post("/deals/search")]
pub async fn search_deals(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<web::Json<Page<DealResponse>>, ApiError> {
    let search = body.0;
    let query =
        DealListQuery { limit: search.limit, cursor: search.cursor, sort: search.sort, ..Default::default() };
    deals_page(state, principal, query, search.filter, None).await.map(web::Json)
}

async fn deals_page(
    state: web::Data<AppState>,
    principal: Principal,
    query: DealListQuery,
    search: Option<serde_json::Value>,
    parent: Option<Parent>,
) -> Result<Page<DealResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    // Exactly a documented value: `sort=` is refused, not read as the default.
    let sort_name = query.sort.as_deref().unwrap_or("-updated_at").to_string();
    let (descending, field) =
        sort_name.strip_prefix('-').map_or((false, sort_name.as_str()), |field| (true, field));
    let order = SORTS.iter().find(|(name, _)| *name == field).map(|(_, order)| *order).ok_or_else(|| {
        ApiError::bad_request(
            ProblemCode::InvalidQuery,
            "sort must be updated_at, created_at, amount or expected_close_date, optionally prefixed with -",
        )
    })?;
    let after = decode_cursor::<DealCursor>(query.cursor.as_deref())?;
    let fits = |key: &DealSortKey| match order {
        DealOrder::UpdatedAt | DealOrder::CreatedAt => matches!(key, DealSortKey::Time(_)),
        DealOrder::Amount => matches!(key, DealSortKey::Amount(_)),
        DealOrder::ExpectedCloseDate => matches!(key, DealSortKey::Date(_)),
    };
    if after.as_ref().is_some_and(|cursor| cursor.sort != sort_name || !fits(&cursor.key)) {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidCursor,
            "the cursor belongs to a list with another sort",
        ));
    }
    let external = by_ref::parse_lookup(query.external_ref.as_deref())?;
    let mut filter = query.filter()?;
    let after = after.map(|cursor| (cursor.key, cursor.id));
    let (rows, items) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        if let Some(parent) = parent {
            parent.ensure_exists(conn, scope)?;
        }
        if let Some(reference) = &external {
            let found = by_ref::lookup_id(conn, principal.workspace_id, RefEntity::Deal, reference)?;
            filter.id = Some(DealId(found));
        }
        filter.condition = search
            .map(|search| compile_filter(conn, principal.workspace_id, CustomEntity::Deal, &search))
            .transpose()?;
        let rows = Deal::list(conn, scope, &filter, order, descending, after, i64::from(limit) + 1)?;
        let ids: Vec<DealId> = rows.iter().map(|deal| deal.id).collect();
        let items = Deal::items_of(conn, principal.workspace_id, &ids)?;
        Ok((rows, items))
    })
    .await?;
    let key = |deal: &Deal| DealCursor {
        sort: sort_name.clone(),
        key: match order {
            DealOrder::UpdatedAt => DealSortKey::Time(deal.updated_at),
            DealOrder::CreatedAt => DealSortKey::Time(deal.created_at),
            DealOrder::Amount => DealSortKey::Amount(deal.amount),
            DealOrder::ExpectedCloseDate => DealSortKey::Date(deal.expected_close_date),
        },
        id: deal.id,
    };
    Ok(Page::from_rows(rows, limit, key, |deal| deal_response(&deal, &items)))
}

/// List deleted deals (tombstones), oldest deletion first.
///
/// Tombstones of soft-deleted deals from `deleted_since`: for a sync to apply deletions and for undo with
/// `POST /deals/{id}/restore`.
#[utoipa::path(
    tag = "deals",
    operation_id = "list_deleted_deals",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/deals/deleted")]
pub async fn list_deleted_deals(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, DealId)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        Ok(Deal::list_deleted(conn, scope, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |deal| {
        (deal.id, deal.deleted_at.unwrap_or(deal.updated_at), deal.deleted_by, deal.version)
    })))
}

/// Get one deal with its items.
///
/// The deal with its line items, amounts in its own and the workspace's currency, stage and probability, and
/// the `ETag` header for `If-Match`.
#[utoipa::path(
    tag = "deals",
    operation_id = "get_deal",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id")),
    responses((status = 200, description = "The deal", body = DealResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/deals/{id}")]
pub async fn get_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (deal, items) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let deal = Deal::find(conn, scope, id)?;
        let items = Deal::items_of(conn, principal.workspace_id, &[id])?;
        Ok((deal, items))
    })
    .await?;
    Ok(deal_http(StatusCode::OK, &deal, &items))
}

/// Update a deal: a partial update, checked like a new deal.
///
/// Moving it to a won or lost stage sets `closed_at` (a lost one needs `lost_reason`); moving it
/// back to an open stage clears both.
#[utoipa::path(
    tag = "deals",
    operation_id = "update_deal",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateDeal,
    responses(
        (status = 200, description = "Updated", body = DealResponse, headers(("ETag" = String, description = "The record's version"))),
    )
)]
#[patch("/deals/{id}")]
pub async fn update_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
    if_match: IfMatch,
    body: JsonBody<UpdateDeal>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let (deal, items) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let current: Deal = soft_delete::live_for_update(conn, &principal, scope, id)?;
            update_in(conn, &principal, scope, &workspace, current, body.0, &if_match)
        })
    })
    .await?;
    Ok(deal_http(StatusCode::OK, &deal, &items))
}

/// Delete a deal (soft).
///
/// The deal leaves lists, the board and reports, and can be brought back with `POST /deals/{id}/restore`.
/// `If-Match` refuses the delete if it changed meanwhile (412).
#[utoipa::path(
    tag = "deals",
    operation_id = "delete_deal",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/deals/{id}")]
pub async fn delete_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| delete_in(conn, &principal, scope, id, &if_match))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted deal; its client must be live.
///
/// Brings a soft-deleted deal back onto the board and into lists, as it was; a deal of a deleted client stays
/// deleted until the client is restored (409). Restoring a live deal changes nothing.
#[utoipa::path(
    tag = "deals",
    operation_id = "restore_deal",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id")),
    responses(
        (status = 200, description = "The restored deal", body = DealResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Its client is deleted: restore the client first", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/deals/{id}/restore")]
pub async fn restore_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let (deal, items) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let deal =
                soft_delete::restore(conn, &principal, scope, id, |conn, deleted: &Deal, _, changes| {
                    // Whether the client is live, seen or not: the deal is seen, by its own owner.
                    if !Client::exists(conn, &ClientScope::whole_workspace(workspace), deleted.client_id)? {
                        return Err(ApiError::conflict(
                            ProblemCode::ClientDeleted,
                            "the deal's client is deleted: restore the client first",
                        ));
                    }
                    let restored = Deal::set_deleted(conn, workspace, id, None, principal.user_id)?;
                    recompute_derived(conn, workspace, [Some(restored.client_id)])?;
                    Ok((restored, changes))
                })?;
            let items = Deal::items_of(conn, workspace, &[id])?;
            Ok((deal, items))
        })
    })
    .await?;
    Ok(deal_http(StatusCode::OK, &deal, &items))
}

/// A stay of a deal in a stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageVisit {
    pub stage_id: StageId,
    /// The stage's current name; null when the stage was deleted since.
    pub stage_name: Option<String>,
    /// Where the deal came from; null for the stage it was created in.
    pub from_stage_id: Option<StageId>,
    pub entered_at: DateTime<Utc>,
    /// Null while the deal is still there.
    pub left_at: Option<DateTime<Utc>>,
    /// Time spent in the stage so far, in seconds.
    pub duration_seconds: i64,
    pub changed_by: Option<UserId>,
}

/// The deal's path through its stages, oldest first, with the time spent in each.
///
/// Every stage the deal has been in, with when it entered and how long it stayed: what a funnel and a sales
/// cycle are measured from.
#[utoipa::path(
    tag = "deals",
    operation_id = "get_deal_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id")),
    responses((status = 200, description = "Every stage the deal has been in", body = Vec<StageVisit>))
)]
#[get("/deals/{id}/history")]
pub async fn get_deal_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
) -> Result<web::Json<Vec<StageVisit>>, ApiError> {
    let id = id.into_inner();
    let (changes, stages) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let deal = Deal::find(conn, scope, id)?;
        let changes = Deal::stage_changes(conn, principal.workspace_id, id)?;
        let stages = Stage::of_pipelines(conn, principal.workspace_id, &[deal.pipeline_id])?;
        Ok((changes, stages))
    })
    .await?;
    let now = Utc::now();
    let visits = changes
        .iter()
        .enumerate()
        .map(|(index, change)| {
            let left_at = changes.get(index + 1).map(|next| next.changed_at);
            StageVisit {
                stage_id: change.to_stage_id,
                stage_name: stages
                    .iter()
                    .find(|stage| stage.id == change.to_stage_id)
                    .map(|stage| stage.name.clone()),
                from_stage_id: change.from_stage_id,
                entered_at: change.changed_at,
                left_at,
                duration_seconds: (left_at.unwrap_or(now) - change.changed_at).num_seconds().max(0),
                changed_by: change.changed_by,
            }
        })
        .collect();
    Ok(web::Json(visits))
}
