//! Segments: named groups of clients for campaigns. A dynamic segment is a filter evaluated live; a
//! static one is a list of clients, changed by id or filled once from a filter. Members page like
//! the client list; exports stream CSV and are recorded (who, when, how many rows).

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::clients::{ClientListQuery, ClientResponse, Narrowing, clients_page, clients_page_response};
use crate::api::extract::{
    IfMatch, JsonBody, Page, PageParams, decode_cursor, not_null, nullable, page_limit, versioned_http,
};
use crate::api::search::{compile_filter, segment_condition};
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::{Caller, Principal, run_as};
use crate::db::DbPool;
use crate::db::fragment::SqlFragment;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::segment::{Segment, SegmentExport, members_condition};
use crate::db::models::{Client, Workspace};
use crate::domain::enums::{CustomEntity, SegmentKind};
use crate::domain::text::non_blank;
use crate::error::{ApiError, FieldError};
use crate::ids::{ClientId, SegmentId, UserId, WorkspaceId};
use crate::state::AppState;

/// The most client ids one membership change may carry.
const MAX_MEMBER_IDS: usize = 1000;
/// Clients per database round trip of an export.
const EXPORT_CHUNK: i64 = 2000;

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentResponse {
    pub id: SegmentId,
    #[schema(example = "VIP companies")]
    pub name: String,
    pub description: Option<String>,
    pub kind: SegmentKind,
    /// A dynamic segment's filter; null for a static one.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    /// For the ready-made segments every workspace starts with: `dormant`, `frequent_buyers`,
    /// `occasional_buyers`, `never_bought`, `new_this_month`, `rfm_champions`, `rfm_at_risk`.
    pub builtin: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

impl From<&Segment> for SegmentResponse {
    fn from(segment: &Segment) -> Self {
        Self {
            id: segment.id,
            name: segment.name.clone(),
            description: segment.description.clone(),
            kind: segment.kind.parse().unwrap_or(SegmentKind::Static),
            filter: segment.filter.clone(),
            builtin: segment.builtin.clone(),
            version: segment.version,
            created_at: segment.created_at,
            updated_at: segment.updated_at,
            created_by: segment.created_by,
            updated_by: segment.updated_by,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// Unique in the workspace, compared case-insensitively.
    #[schema(example = "VIP companies", min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub kind: SegmentKind,
    /// Required for a dynamic segment, refused for a static one (fill it with
    /// `POST /segments/{id}/members/from-filter`).
    #[schema(value_type = Option<Object>, example = json!({"all": [
        {"field": "kind", "op": "eq", "value": "company"},
        {"field": "tags", "op": "contains", "value": "vip"}
    ]}))]
    pub filter: Option<serde_json::Value>,
}

/// A partial update; a segment's kind can't change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSegment {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    /// A dynamic segment's new filter.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
}

/// Checks a segment's fields and, for a dynamic one, compiles its filter (a 422 naming the path).
fn check_segment(conn: &mut PgConnection, segment: &Segment) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let name_length = segment.name.chars().count();
    if !(1..=200).contains(&name_length) {
        errors.push(FieldError::new("name", "length", "must be 1 to 200 characters"));
    }
    if segment.description.as_ref().is_some_and(|text| text.chars().count() > 2000) {
        errors.push(FieldError::new("description", "length", "must be at most 2000 characters"));
    }
    match (segment.kind.as_str(), &segment.filter) {
        ("dynamic", None) => {
            errors.push(FieldError::new("filter", "required", "a dynamic segment needs a filter"))
        }
        ("static", Some(_)) => errors.push(FieldError::new(
            "filter",
            "not_applicable",
            "a static segment has a member list: fill it with POST /segments/{id}/members/from-filter",
        )),
        ("dynamic", Some(filter)) => {
            if let Err(ApiError::Validation(found)) =
                compile_filter(conn, segment.workspace_id, CustomEntity::Client, filter)
            {
                errors.extend(found);
            }
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    if Segment::name_taken(conn, segment.workspace_id, &segment.name, segment.id)? {
        return Err(ApiError::conflict(
            "segment_name_taken",
            "another segment in this workspace has this name",
        ));
    }
    Ok(())
}

fn segment_http(status: StatusCode, segment: &Segment) -> HttpResponse {
    versioned_http(status, segment.version, "segments", segment.id, &SegmentResponse::from(segment))
}

/// Create a segment.
#[utoipa::path(
    tag = "segments",
    operation_id = "create_segment",
    security(("bearer" = [])),
    request_body = SegmentInput,
    responses(
        (status = 201, description = "Created", body = SegmentResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new segment's URL"))),
        (status = 409, description = "The name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/segments")]
pub async fn create_segment(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SegmentInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let input = body.0;
    let now = Utc::now();
    let segment = Segment {
        workspace_id: principal.workspace_id,
        id: SegmentId::generate(),
        name: non_blank("name", &input.name)?,
        description: input.description.map(|text| text.trim().to_string()).filter(|text| !text.is_empty()),
        kind: input.kind.as_str().to_string(),
        filter: input.filter,
        builtin: None,
        version: 1,
        created_at: now,
        updated_at: now,
        created_by: Some(principal.user_id),
        updated_by: Some(principal.user_id),
    };
    let segment = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            check_segment(conn, &segment)?;
            let segment = segment.insert(conn)?;
            let changes =
                ChangeSet::default().diff(None, &to_json(&SegmentResponse::from(&segment)), BOOKKEEPING);
            record_change(conn, &principal, "segment", segment.id.0, "created", segment.version, changes)?;
            Ok(segment)
        })
    })
    .await?;
    Ok(segment_http(StatusCode::CREATED, &segment))
}

/// List segments by name.
#[utoipa::path(
    tag = "segments",
    operation_id = "list_segments",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of segments", body = Page<SegmentResponse>))
)]
#[get("/segments")]
pub async fn list_segments(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<SegmentResponse>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(String, SegmentId)> = decode_cursor(query.cursor.as_deref())?;
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Segment::list(conn, principal.workspace_id, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        limit,
        |segment| (segment.name.clone(), segment.id),
        |segment| SegmentResponse::from(&segment),
    )))
}

/// Get one segment.
#[utoipa::path(
    tag = "segments",
    operation_id = "get_segment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    responses((status = 200, description = "The segment", body = SegmentResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/segments/{id}")]
pub async fn get_segment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let segment = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Segment::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(segment_http(StatusCode::OK, &segment))
}

/// Rename a segment, or change a dynamic segment's filter.
#[utoipa::path(
    tag = "segments",
    operation_id = "update_segment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The segment's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateSegment,
    responses(
        (status = 200, description = "Updated", body = SegmentResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "The name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/segments/{id}")]
pub async fn update_segment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    if_match: IfMatch,
    body: JsonBody<UpdateSegment>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let patch = body.0;
    let segment = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = Segment::find_for_update(conn, principal.workspace_id, id)?;
            let mut candidate = current.clone();
            if let Some(name) = patch.name {
                candidate.name = non_blank("name", &name)?;
            }
            if let Some(description) = patch.description {
                candidate.description =
                    description.map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
            }
            if let Some(filter) = patch.filter {
                candidate.filter = Some(filter);
            }
            check_segment(conn, &candidate)?;
            if_match.check(current.version)?;
            let changes = ChangeSet::default().diff(
                Some(&to_json(&SegmentResponse::from(&current))),
                &to_json(&SegmentResponse::from(&candidate)),
                BOOKKEEPING,
            );
            if changes.is_empty() {
                return Ok(current);
            }
            candidate.version += 1;
            candidate.updated_at = Utc::now();
            candidate.updated_by = Some(principal.user_id);
            let segment = candidate.save(conn)?;
            record_change(conn, &principal, "segment", id.0, "updated", segment.version, changes)?;
            Ok(segment)
        })
    })
    .await?;
    Ok(segment_http(StatusCode::OK, &segment))
}

/// Delete a segment. Its clients stay; its definition stays in the change log.
#[utoipa::path(
    tag = "segments",
    operation_id = "delete_segment",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The segment's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/segments/{id}")]
pub async fn delete_segment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = Segment::find_for_update(conn, principal.workspace_id, id)?;
            if_match.check(current.version)?;
            current.delete(conn)?;
            let changes = ChangeSet::default().field(
                "definition",
                Some(&to_json(&SegmentResponse::from(&current))),
                &serde_json::Value::Null,
            );
            record_change(conn, &principal, "segment", id.0, "deleted", current.version + 1, changes)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// `updated_at`, `created_at` or `display_name`, prefixed with `-` for descending; default
    /// `-updated_at`.
    pub sort: Option<String>,
}

/// The segment's members: live clients, in pages like `GET /clients`. A dynamic segment is
/// evaluated now.
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
    clients_page_response(state, principal, query, Some(Narrowing::Segment(id.into_inner()))).await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentCount {
    /// Live clients in the segment when it was counted.
    pub count: i64,
    /// When: at most a minute ago, unless `fresh=true` asked for now.
    pub counted_at: DateTime<Utc>,
}

/// How long a count is given again without counting anew: a segment list or a dashboard shows
/// sizes over and over, and counting a filter reads every client it could match.
const COUNT_MAX_AGE: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, Deserialize, IntoParams)]
pub struct CountQuery {
    /// Count now rather than give a count up to a minute old.
    pub fresh: Option<bool>,
}

/// How many clients the segment holds: a count up to a minute old (`counted_at` says when), or
/// one made now with `fresh=true`.
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
    let workspace = principal.workspace_id;
    let fresh = query.fresh.unwrap_or(false);
    let count = run_as(principal.caller(), &state.pool, move |conn| {
        let segment = Segment::find(conn, workspace, id)?;
        let kept = |conn: &mut PgConnection| -> Result<Option<SegmentCount>, ApiError> {
            let kept = if fresh { None } else { Segment::kept_count(conn, &segment)? };
            Ok(kept.map(|(count, counted_at)| SegmentCount { count, counted_at }))
        };
        let recent = |count: &SegmentCount| count.counted_at >= Utc::now() - COUNT_MAX_AGE;
        let expired = match kept(conn)? {
            Some(count) if recent(&count) => return Ok(count),
            expired => expired,
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
            if let Some(count) = kept(conn)?.filter(recent) {
                return Ok(count);
            }
            // To the microsecond, as PostgreSQL keeps it: the kept count reads back the same.
            let counted_at = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
            let condition = segment_condition(conn, &segment)?;
            let count = Segment::count(conn, workspace, &condition)?;
            Segment::keep_count(conn, &segment, count, counted_at)?;
            Ok(SegmentCount { count, counted_at })
        })
    })
    .await?;
    Ok(web::Json(count))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(value_type = Object, example = json!({"field": "stats.won_count", "op": "gte", "value": 5}))]
    pub filter: serde_json::Value,
    /// The first page's size: 1 to 200, 50 when omitted.
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// As in `GET /clients`; default `-updated_at`.
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
    let count = run_as(principal.caller(), &state.pool, move |conn| {
        let condition = compile_filter(conn, workspace, CustomEntity::Client, &filter)?;
        Ok(Segment::count(conn, workspace, &condition)?)
    })
    .await?;
    let query = ClientListQuery { limit: request.limit, sort: request.sort, ..Default::default() };
    let members =
        clients_page(state, principal, query, Some(Narrowing::Filter(request.filter)), |page| page).await?;
    Ok(web::Json(SegmentPreview { count, members }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIds {
    /// 1 to 1000 client ids.
    #[schema(value_type = Vec<String>)]
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
fn static_for_update(
    conn: &mut PgConnection,
    principal: &Principal,
    id: SegmentId,
) -> Result<Segment, ApiError> {
    let segment = Segment::find_for_update(conn, principal.workspace_id, id)?;
    if segment.kind != SegmentKind::Static.as_str() {
        return Err(ApiError::conflict(
            "dynamic_segment",
            "a dynamic segment's members are whoever matches its filter: change the filter instead",
        ));
    }
    Ok(segment)
}

fn check_member_ids(ids: &[ClientId]) -> Result<(), ApiError> {
    if ids.is_empty() || ids.len() > MAX_MEMBER_IDS {
        return Err(ApiError::invalid_field("client_ids", "length", "must hold 1 to 1000 ids"));
    }
    Ok(())
}

/// Add clients to a static segment.
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
    let change = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let segment = static_for_update(conn, &principal, id)?;
            let live = Client::find_many(conn, principal.workspace_id, &ids)?;
            let unknown: Vec<FieldError> = ids
                .iter()
                .enumerate()
                .filter(|(_, id)| !live.iter().any(|client| client.id == **id))
                .map(|(index, _)| {
                    FieldError::new(
                        format!("client_ids[{index}]"),
                        "not_found",
                        "no such client in this workspace",
                    )
                })
                .collect();
            if !unknown.is_empty() {
                return Err(ApiError::Validation(unknown));
            }
            let changed = Segment::add_members(conn, principal.workspace_id, id, &ids, principal.user_id)?;
            record_membership(conn, &principal, &segment, "members_added", &ids, changed)
        })
    })
    .await?;
    Ok(web::Json(change))
}

/// Remove clients from a static segment.
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
    let change = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let segment = static_for_update(conn, &principal, id)?;
            let changed = Segment::remove_members(conn, principal.workspace_id, id, &ids)?;
            record_membership(conn, &principal, &segment, "members_removed", &ids, changed)
        })
    })
    .await?;
    Ok(web::Json(change))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromFilter {
    #[schema(value_type = Object, example = json!({"field": "stats.rfm_class", "op": "eq", "value": "champions"}))]
    pub filter: serde_json::Value,
}

/// Add every client matching a filter now to a static segment (once: later matches don't join).
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
    let change = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let condition = compile_filter(conn, principal.workspace_id, CustomEntity::Client, &filter)?;
            let segment = static_for_update(conn, &principal, id)?;
            let changed =
                Segment::add_matching(conn, principal.workspace_id, id, &condition, principal.user_id)?;
            let count =
                Segment::count(conn, principal.workspace_id, &members_condition(segment.workspace_id, id))?;
            let changes = ChangeSet::default().field("filter", None, &filter).field("added", None, &changed);
            record_change(conn, &principal, "segment", id.0, "members_added", segment.version, changes)?;
            Ok(MembershipChange { changed, count })
        })
    })
    .await?;
    Ok(web::Json(change))
}

/// Logs a membership change with the ids asked for and how many changed; returns the new count.
fn record_membership(
    conn: &mut PgConnection,
    principal: &Principal,
    segment: &Segment,
    action: &str,
    ids: &[ClientId],
    changed: usize,
) -> Result<MembershipChange, ApiError> {
    let count =
        Segment::count(conn, segment.workspace_id, &members_condition(segment.workspace_id, segment.id))?;
    let changes = ChangeSet::default().field("client_ids", None, &ids).field("changed", None, &changed);
    record_change(conn, principal, "segment", segment.id.0, action, segment.version, changes)?;
    Ok(MembershipChange { changed, count })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RfmRefresh {
    /// Clients with at least one purchase, scored 1-5 on recency, frequency and monetary value.
    pub scored: i64,
    /// Clients whose stats changed.
    pub updated: i64,
    pub refreshed_at: DateTime<Utc>,
}

/// Recompute the RFM scores and classes of the workspace's clients now (they are otherwise
/// refreshed hourly), and re-age the 30/90-day activity counts. Owners, admins and managers.
#[utoipa::path(
    tag = "segments",
    operation_id = "refresh_rfm",
    security(("bearer" = [])),
    responses((status = 200, description = "Refreshed", body = RfmRefresh))
)]
#[post("/segments/rfm/refresh")]
pub async fn refresh_rfm(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<RfmRefresh>, ApiError> {
    principal.require_manager("refresh RFM scores")?;
    let workspace = principal.workspace_id;
    let outcome = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(conn.transaction(|conn| ClientStats::refresh_workspace(conn, workspace))?)
    })
    .await?;
    Ok(web::Json(RfmRefresh { scored: outcome.scored, updated: outcome.updated, refreshed_at: Utc::now() }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRecord {
    pub id: uuid::Uuid,
    pub segment_id: SegmentId,
    /// The segment's name at the time.
    pub segment_name: String,
    pub exported_by: UserId,
    pub request_id: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Null while streaming, or when the download was cut short.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows sent.
    pub row_count: i64,
}

impl From<SegmentExport> for ExportRecord {
    fn from(export: SegmentExport) -> Self {
        Self {
            id: export.id,
            segment_id: export.segment_id,
            segment_name: export.segment_name,
            exported_by: export.exported_by,
            request_id: export.request_id,
            started_at: export.started_at,
            finished_at: export.finished_at,
            row_count: export.row_count,
        }
    }
}

/// Who exported this segment, when, and how many rows: the last 200 exports, newest first.
/// Owners, admins and managers.
#[utoipa::path(
    tag = "segments",
    operation_id = "list_segment_exports",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    responses((status = 200, description = "The exports", body = Page<ExportRecord>))
)]
#[get("/segments/{id}/exports")]
pub async fn list_segment_exports(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
) -> Result<web::Json<Page<ExportRecord>>, ApiError> {
    principal.require_manager("see segment exports")?;
    let id = id.into_inner();
    let workspace = principal.workspace_id;
    let exports = run_as(principal.caller(), &state.pool, move |conn| {
        Segment::find(conn, workspace, id)?;
        Ok(SegmentExport::of_segment(conn, workspace, id, 200)?)
    })
    .await?;
    Ok(web::Json(Page { data: exports.into_iter().map(ExportRecord::from).collect(), next_cursor: None }))
}

/// Download the segment's members as CSV (UTF-8, a header row, one client per row, by id).
/// Owners, admins and managers only; every export is recorded with who, when and how many rows.
#[utoipa::path(
    tag = "segments",
    operation_id = "export_segment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    responses((status = 200, description = "The members as CSV", content_type = "text/csv", body = String))
)]
#[get("/segments/{id}/export")]
pub async fn export_segment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_manager("export client data")?;
    let id = id.into_inner();
    let workspace = principal.workspace_id;
    let caller = principal.caller();
    let (segment, condition, export_id, places) = run_as(caller, &state.pool, move |conn| {
        let segment = Segment::find(conn, workspace, id)?;
        let condition = segment_condition(conn, &segment)?;
        let places = crate::domain::money::places(&Workspace::find(conn, workspace)?.default_currency);
        let export = SegmentExport {
            workspace_id: workspace,
            id: uuid::Uuid::now_v7(),
            segment_id: id,
            segment_name: segment.name.clone(),
            exported_by: principal.user_id,
            request_id: principal.request_id.clone(),
            started_at: Utc::now(),
            finished_at: None,
            row_count: 0,
        };
        export.insert(conn)?;
        Ok((segment, condition, export.id, places))
    })
    .await?;
    let export = Export {
        pool: state.pool.clone(),
        caller,
        workspace,
        condition,
        export_id,
        places,
        after: None,
        header_sent: false,
        finished: false,
    };
    let stream = futures_util::stream::unfold(export, Export::next_chunk);
    let file_name = format!("segment-{}.csv", segment.id);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")))
        .streaming(stream))
}

/// An export in progress: where it is, and the record counting what it sent.
struct Export {
    pool: DbPool,
    /// Every chunk checks the caller again: deactivating someone stops their export mid-way.
    caller: Caller,
    workspace: WorkspaceId,
    condition: SqlFragment,
    export_id: uuid::Uuid,
    places: u32,
    after: Option<ClientId>,
    header_sent: bool,
    finished: bool,
}

const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "display_name",
    "email",
    "phone",
    "relationship",
    "lifecycle_stage",
    "owner_id",
    "tags",
    "won_count",
    "won_amount",
    "first_purchase_at",
    "last_purchase_at",
    "last_activity_at",
    "rfm_class",
    "created_at",
];

impl Export {
    /// The next piece of the CSV: the header, then a chunk of rows; `None` once done.
    async fn next_chunk(mut self) -> Option<(Result<Bytes, actix_web::Error>, Export)> {
        if self.finished {
            return None;
        }
        if !self.header_sent {
            self.header_sent = true;
            return Some((
                csv_rows(std::iter::once(EXPORT_COLUMNS.iter().map(|name| name.to_string()).collect())),
                self,
            ));
        }
        let (pool, workspace, condition, after, export_id) =
            (self.pool.clone(), self.workspace, self.condition.clone(), self.after, self.export_id);
        let chunk = run_as(self.caller, &pool, move |conn| {
            let rows = Segment::export_chunk(conn, workspace, &condition, after, EXPORT_CHUNK)?;
            let finished = (rows.len() as i64) < EXPORT_CHUNK;
            SegmentExport::add_rows(conn, workspace, export_id, rows.len() as i64, finished)?;
            Ok((rows, finished))
        })
        .await;
        match chunk {
            Ok((rows, finished)) => {
                self.finished = finished;
                self.after = rows.last().map(|(client, _)| client.id);
                let places = self.places;
                let lines = csv_rows(rows.iter().map(|(client, stats)| export_row(client, stats, places)));
                Some((lines, self))
            }
            Err(error) => {
                log::error!("segment export {} failed: {error}", self.export_id);
                self.finished = true;
                Some((Err(actix_web::error::ErrorInternalServerError("the export failed")), self))
            }
        }
    }
}

fn export_row(client: &Client, stats: &ClientStats, places: u32) -> Vec<String> {
    let first_value = |points: &[crate::domain::contact_points::ContactPoint]| {
        points
            .iter()
            .find(|point| point.primary)
            .or(points.first())
            .map(|point| point.value.clone())
            .unwrap_or_default()
    };
    let time = |at: Option<DateTime<Utc>>| at.map(|at| at.to_rfc3339()).unwrap_or_default();
    vec![
        client.id.to_string(),
        client.kind.clone(),
        client.display_name.clone(),
        first_value(&client.emails.0),
        first_value(&client.phones.0),
        client.relationship.clone(),
        client.lifecycle_stage.clone(),
        client.owner_id.map(|owner| owner.to_string()).unwrap_or_default(),
        client.tags.join(";"),
        stats.won_count.to_string(),
        crate::domain::money::round(stats.won_amount, places).to_string(),
        time(stats.first_purchase_at),
        time(stats.last_purchase_at),
        time(stats.last_activity_at),
        stats.rfm_class.clone().unwrap_or_default(),
        client.created_at.to_rfc3339(),
    ]
}

/// Rows as CSV. A text cell that a spreadsheet would run as a formula (`=`, `@`, `+`, `-` not
/// starting a number) gets a leading `'`.
fn csv_rows(rows: impl Iterator<Item = Vec<String>>) -> Result<Bytes, actix_web::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        let row: Vec<String> = row.into_iter().map(defuse_formula).collect();
        writer.write_record(&row).map_err(actix_web::error::ErrorInternalServerError)?;
    }
    let bytes =
        writer.into_inner().map_err(|error| actix_web::error::ErrorInternalServerError(error.to_string()))?;
    Ok(Bytes::from(bytes))
}

fn defuse_formula(cell: String) -> String {
    let mut chars = cell.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.next().is_some_and(|next| next.is_ascii_digit()),
        _ => false,
    };
    if risky { format!("'{cell}") } else { cell }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_but_phones_and_numbers_are_not() {
        assert_eq!(defuse_formula("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse_formula("@cmd".into()), "'@cmd");
        assert_eq!(defuse_formula("+79123456789".into()), "+79123456789");
        assert_eq!(defuse_formula("-12.50".into()), "-12.50");
        assert_eq!(defuse_formula("-cmd".into()), "'-cmd");
        assert_eq!(defuse_formula("Acme".into()), "Acme");
    }
}
