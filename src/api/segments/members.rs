//! A segment's members: listing and counting them, previewing a filter, and changing a static
//! segment's list.

use std::sync::LazyLock;

use actix_web::{HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::MAX_MEMBER_IDS;
use crate::api::clients::{ClientListQuery, ClientResponse, Narrowing, clients_page, clients_page_http};
use crate::api::coalesce::{Begin, Coalescer};
use crate::api::extract::{JsonBody, Page};
use crate::api::record_change;
use crate::api::search::{compile_filter, segment_condition};
use crate::auth::{Principal, run_reading, run_seeing};
use crate::db::database_clock;
use crate::db::fragment::SqlFragment;
use crate::db::models::Client;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::segment::{Segment, members_condition};
use crate::db::replica::read_within;
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::enums::{CustomEntity, SegmentKind};
use crate::error::{ApiError, FieldError, ProblemCode};
use crate::ids::{ClientId, SegmentId, UserId};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// `updated_at`, `created_at` or `display_name`, prefixed with `-` for descending; default
    /// `-updated_at`.
    #[param(inline, value_type = Option<crate::api::listing::ClientSort>)]
    pub sort: Option<String>,
}

/// The segment's members: live clients, in pages like `GET /clients`.
///
/// Pages through the segment's live clients like `GET /clients`, with its sorts. A dynamic segment's filter
/// is evaluated now; a static segment lists the clients put in it.
#[utoipa::path(
    tag = "segments",
    operation_id = "list_segment_members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id"), MembersQuery),
    responses((status = 200, description = "One page of members", body = Page<ClientResponse>))
)]
#[get("/segments/{id}/members")]
pub async fn list_segment_members(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    query: web::Query<MembersQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let query =
        ClientListQuery { limit: query.limit, cursor: query.cursor, sort: query.sort, ..Default::default() };
    clients_page_http(state, principal, query, Some(Narrowing::Segment(id.into_inner()))).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentCount {
    /// Live clients in the segment when it was counted.
    pub count: i64,
    /// When: at most a minute ago; with `fresh=true`, after the request came.
    pub counted_at: DateTime<Utc>,
}

/// How long a count is given again without counting anew: a segment list or a dashboard shows
/// sizes over and over, and counting a filter reads every client it could match.
pub(super) const COUNT_MAX_AGE: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, Deserialize, IntoParams)]
pub struct CountQuery {
    /// Count now rather than give a count up to a minute old.
    pub fresh: Option<bool>,
}

/// How many clients the segment holds.
///
/// A count up to a minute old, with `counted_at` saying when it was made, or one made now with `fresh=true`:
/// counting a large dynamic segment is a query over every client.
#[utoipa::path(
    tag = "segments",
    operation_id = "count_segment_members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id"), CountQuery),
    responses((status = 200, description = "The member count", body = SegmentCount))
)]
#[get("/segments/{id}/count")]
pub async fn count_segment_members(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    query: web::Query<CountQuery>,
) -> Result<web::Json<SegmentCount>, ApiError> {
    let id = id.into_inner();
    let fresh = query.fresh.unwrap_or(false);
    if !fresh {
        return Ok(web::Json(count_members(state, principal, id, None).await?));
    }
    // Fresh counts of one segment for one user, asked together in this process, are made once.
    let key = (id, principal.user_id);
    let count = FRESH_COUNTS.answer(key, |begin| count_members(state, principal, id, Some(begin))).await?;
    Ok(web::Json(count))
}

/// The previews' counts being made in this process, by user and filter.
static PREVIEW_COUNTS: LazyLock<Coalescer<(UserId, String), i64>> = LazyLock::new(Coalescer::default);

/// The fresh counts being made in this process, by segment and user.
static FRESH_COUNTS: LazyLock<Coalescer<(SegmentId, UserId), SegmentCount>> =
    LazyLock::new(Coalescer::default);

/// The segment's count: one kept up to a minute, or with `fresh` one begun after the request came.
async fn count_members(
    state: web::Data<AppState>,
    principal: Principal,
    id: SegmentId,
    fresh: Option<Begin<SegmentCount>>,
) -> Result<SegmentCount, ApiError> {
    let workspace = principal.workspace_id;
    let replica = state.read_replica.clone();
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        if let Some(begin) = &fresh {
            begin.now();
        }
        let segment = Segment::find(conn, workspace, id)?;
        // Counted on the read replica when it keeps up: a count may lag as a report does.
        let count_now = |conn: &mut PgConnection, condition: &SqlFragment| {
            read_within(replica.as_ref(), conn, |conn| Ok(Segment::count(conn, scope, condition)?))
        };
        // The kept count is the whole workspace's: whoever sees less gets theirs counted now.
        if !scope.sees_everything() {
            let condition = segment_condition(conn, &segment)?;
            let count = count_now(conn, &condition)?;
            return Ok(SegmentCount { count, counted_at: chrono::SubsecRound::trunc_subsecs(Utc::now(), 6) });
        }
        // When a fresh count was asked for: a count begun later counts every write committed
        // before it, so it is as fresh.
        let asked_at = fresh.as_ref().map(|_| database_clock(conn)).transpose()?;
        let kept = |conn: &mut PgConnection| -> Result<Option<SegmentCount>, ApiError> {
            Ok(Segment::kept_count(conn, &segment)?
                .map(|(count, counted_at)| SegmentCount { count, counted_at }))
        };
        let recent = |count: &SegmentCount| count.counted_at >= Utc::now() - COUNT_MAX_AGE;
        let expired = match asked_at {
            Some(_) => None,
            None => match kept(conn)? {
                Some(count) if recent(&count) => return Ok(count),
                expired => expired,
            },
        };
        conn.transaction(|conn| {
            // One count of a segment at a time. The requests that miss the kept count while
            // another one recounts it (a dashboard polling as the minute runs out) get the count
            // being replaced, its `counted_at` saying how old it is, rather than each holding a
            // connection until the recount ends (about 230 ms at 1M clients). With no count of
            // this version to give, or asked for a fresh one, they wait and take the new count.
            if !Segment::try_lock_for_counting(conn, &segment)? {
                if let Some(count) = expired {
                    return Ok(count);
                }
                Segment::lock_for_counting(conn, &segment)?;
            }
            // A count made while this one waited is as fresh as asked when it began after the
            // request came: it counts every write committed before. So fresh counts asked
            // together share one, instead of each queueing to count again (16 of them took
            // 3 s at 1M clients).
            let taken = kept(conn)?.filter(|count| match asked_at {
                Some(asked_at) => count.counted_at >= asked_at,
                None => recent(count),
            });
            if let Some(count) = taken {
                return Ok(count);
            }
            // On the database's clock, which every process shares, as `asked_at` is.
            let counted_at = database_clock(conn)?;
            let condition = segment_condition(conn, &segment)?;
            let count = count_now(conn, &condition)?;
            Segment::keep_count(conn, &segment, count, counted_at)?;
            Ok(SegmentCount { count, counted_at })
        })
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"filter": {"field": "relationship", "op": "eq", "value": "customer"}, "limit": 20, "sort": "display_name"}))]
pub struct PreviewRequest {
    #[schema(value_type = crate::api::schemas::Filter, example = json!({"field": "stats.won_count", "op": "gte", "value": 5}))]
    pub filter: serde_json::Value,
    /// The first page's size: 1 to 200, 50 when omitted.
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// As in `GET /clients`; default `-updated_at`.
    #[schema(inline, value_type = Option<crate::api::listing::ClientSort>)]
    pub sort: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentPreview {
    /// How many live clients match.
    pub count: i64,
    /// The first page of them.
    pub members: Page<ClientResponse>,
}

/// The count and first page of members of a filter, without saving a segment.
///
/// Runs a filter over clients and answers with the count and the first page of members, so a segment can be
/// tried before it is saved.
#[utoipa::path(
    tag = "segments",
    operation_id = "preview_segment",
    security(("bearer" = [])),
    request_body = PreviewRequest,
    responses((status = 200, description = "The count and first page", body = SegmentPreview))
)]
#[post("/segments/preview")]
pub async fn preview_segment(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<PreviewRequest>,
) -> Result<web::Json<SegmentPreview>, ApiError> {
    let request = body.0;
    let workspace = principal.workspace_id;
    let filter = request.filter.clone();
    // The same filter previewed by the same user at once (a form refreshing as it is typed, a
    // dashboard) is counted once; the page is read for each.
    let key = (principal.user_id, request.filter.to_string());
    let count = PREVIEW_COUNTS
        .answer(key, |begin| {
            run_reading(principal.caller(), &state, move |conn, scope| {
                begin.now();
                let condition = compile_filter(conn, workspace, CustomEntity::Client, &filter)?;
                Ok(Segment::count(conn, scope, &condition)?)
            })
        })
        .await?;
    let query = ClientListQuery { limit: request.limit, sort: request.sort, ..Default::default() };
    let members =
        clients_page(state, principal, query, Some(Narrowing::Filter(request.filter)), |page| page).await?;
    Ok(web::Json(SegmentPreview { count, members }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"client_ids": ["01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e81", "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e82"]}))]
pub struct MemberIds {
    /// 1 to 1000 client ids.
    #[schema(value_type = Vec<uuid::Uuid>, min_items = 1, max_items = 1000)]
    pub client_ids: Vec<ClientId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipChange {
    /// Clients that joined (or left) the segment; ids already in (or not in) it don't count.
    pub changed: usize,
    /// The segment's member count afterwards.
    pub count: i64,
}

/// A static segment of the caller's workspace, locked for a membership change.
pub(super) fn static_for_update(
    conn: &mut PgConnection,
    principal: &Principal,
    id: SegmentId,
) -> Result<Segment, ApiError> {
    let segment = super::segment_for_change(conn, principal, id)?;
    if segment.kind != SegmentKind::Static.as_str() {
        return Err(ApiError::conflict(
            ProblemCode::DynamicSegment,
            "a dynamic segment's members are whoever matches its filter: change the filter instead",
        ));
    }
    Ok(segment)
}

pub(super) fn check_member_ids(ids: &[ClientId]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_MEMBER_IDS {
        return Err(ApiError::invalid_field("client_ids", FieldCode::Length, "must hold 1 to 1000 ids"));
    }
    Ok(())
}

/// Add clients to a static segment.
///
/// Puts the listed clients in a static segment; the answer counts those that joined, not those already in it.
/// Every client must exist in the workspace (422 naming each that doesn't). A dynamic segment is a 409.
#[utoipa::path(
    tag = "segments",
    operation_id = "add_segment_members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    request_body = MemberIds,
    responses(
        (status = 200, description = "Added", body = MembershipChange),
        (status = 409, description = "The segment is dynamic", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/segments/{id}/members")]
pub async fn add_segment_members(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    body: JsonBody<MemberIds>,
) -> Result<web::Json<MembershipChange>, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let ids = body.0.client_ids;
    check_member_ids(&ids)?;
    let change = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let segment = static_for_update(conn, &principal, id)?;
            let live = Client::find_many(conn, scope, &ids)?;
            let unknown: Vec<FieldError> = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| !live.iter().any(|client| client.id == **id))
                .map(|(index, _)| {
                    FieldError::new(
                        format!("client_ids[{index}]"),
                        FieldCode::NotFound,
                        "no such client in this workspace",
                    )
                })
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::Validation(unknown));
            }
            let changed = Segment::add_members(conn, scope, id, &ids, principal.user_id)?;
            record_membership(conn, &principal, scope, &segment, "members_added", &ids, changed)
        })
    })
    .await?;
    Ok(web::Json(change))
}

/// Remove clients from a static segment.
///
/// Takes the listed clients out of a static segment; the answer counts those that left. A dynamic segment's
/// members follow its filter, so changing them is a 409.
#[utoipa::path(
    tag = "segments",
    operation_id = "remove_segment_members",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    request_body = MemberIds,
    responses(
        (status = 200, description = "Removed", body = MembershipChange),
        (status = 409, description = "The segment is dynamic", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/segments/{id}/members")]
pub async fn remove_segment_members(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    body: JsonBody<MemberIds>,
) -> Result<web::Json<MembershipChange>, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let ids = body.0.client_ids;
    check_member_ids(&ids)?;
    let change = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let segment = static_for_update(conn, &principal, id)?;
            let changed = Segment::remove_members(conn, principal.workspace_id, id, &ids)?;
            record_membership(conn, &principal, scope, &segment, "members_removed", &ids, changed)
        })
    })
    .await?;
    Ok(web::Json(change))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"filter": {"field": "tags", "op": "contains", "value": "wholesale"}}))]
pub struct FromFilter {
    #[schema(value_type = crate::api::schemas::Filter, example = json!({"field": "stats.rfm_class", "op": "eq", "value": "champions"}))]
    pub filter: serde_json::Value,
}

/// Add every client a filter matches now to a static segment.
///
/// A one-off: clients matching the filter later don't join. The answer counts those that joined and the
/// segment's size afterwards. A dynamic segment is a 409.
#[utoipa::path(
    tag = "segments",
    operation_id = "add_segment_members_from_filter",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    request_body = FromFilter,
    responses(
        (status = 200, description = "Added", body = MembershipChange),
        (status = 409, description = "The segment is dynamic", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/segments/{id}/members/from-filter")]
pub async fn add_segment_members_from_filter(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    body: JsonBody<FromFilter>,
) -> Result<web::Json<MembershipChange>, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let filter = body.0.filter;
    let change = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let condition = compile_filter(conn, principal.workspace_id, CustomEntity::Client, &filter)?;
            let segment = static_for_update(conn, &principal, id)?;
            let changed = Segment::add_matching(conn, scope, id, &condition, principal.user_id)?;
            let count = Segment::count(conn, scope, &members_condition(segment.workspace_id, id))?;
            let changes = ChangeSet::default().field("filter", None, &filter).field("added", None, &changed);
            record_change(conn, &principal, "segment", id.0, "members_added", segment.version, changes)?;
            Ok(MembershipChange { changed, count })
        })
    })
    .await?;
    Ok(web::Json(change))
}

/// Logs a membership change with the ids asked for and how many changed; returns the new count.
pub(super) fn record_membership(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    segment: &Segment,
    action: &str,
    ids: &[ClientId],
    changed: usize,
) -> Result<MembershipChange, ApiError> {
    let count = Segment::count(conn, scope, &members_condition(segment.workspace_id, segment.id))?;
    let changes = ChangeSet::default().field("client_ids", None, &ids).field("changed", None, &changed);
    record_change(conn, principal, "segment", segment.id.0, action, segment.version, changes)?;
    Ok(MembershipChange { changed, count })
}
