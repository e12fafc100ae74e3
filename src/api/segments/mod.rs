//! Segments: named groups of clients for campaigns. A dynamic segment is a filter evaluated live; a
//! static one is a list of clients, changed by id or filled once from a filter. Members page like
//! the client list; exports stream CSV and are recorded (who, when, how many rows).

pub mod call_list;
pub mod export;
pub mod members;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::{
    ChangedParams, IfMatch, JsonBody, Page, PageParams, list_key, not_null, nullable, page_limit,
    versioned_http,
};
use crate::api::search::compile_filter;
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::segment::Segment;
use crate::domain::FieldCode;
use crate::domain::enums::{CustomEntity, SegmentKind};
use crate::domain::text::non_blank;
use crate::error::{ApiError, FieldError, ProblemCode, taken};
use crate::ids::{SegmentId, UserId};
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
    #[schema(value_type = Option<crate::api::schemas::Filter>)]
    pub filter: Option<serde_json::Value>,
    /// For the ready-made segments every workspace starts with: `dormant`, `frequent_buyers`,
    /// `occasional_buyers`, `never_bought`, `new_this_month`, `rfm_champions`, `rfm_at_risk`.
    #[schema(value_type = Option<crate::api::schemas::BuiltinSegment>)]
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
#[schema(example = json!({"name": "VIP companies", "kind": "dynamic", "filter": {"all": [{"field": "kind", "op": "eq", "value": "company"}, {"field": "stats.won_amount", "op": "gte", "value": "100000"}]}}))]
pub struct SegmentInput {
    /// Unique in the workspace, compared case-insensitively.
    #[schema(
        example = "VIP companies",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000]*[^\s\u0000\u0085][^\u0000]*$"
    )]
    pub name: String,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub kind: SegmentKind,
    /// Required for a dynamic segment, refused for a static one (fill it with
    /// `POST /segments/{id}/members/from-filter`).
    #[schema(value_type = Option<crate::api::schemas::Filter>, example = json!({"all": [
        {"field": "kind", "op": "eq", "value": "company"},
        {"field": "tags", "op": "contains", "value": "vip"}
    ]}))]
    pub filter: Option<serde_json::Value>,
}

/// A partial update; a segment's kind can't change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "VIP companies, lapsed", "filter": {"all": [{"field": "kind", "op": "eq", "value": "company"}, {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": 90}]}}))]
pub struct UpdateSegment {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 200)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Option<Option<String>>,
    /// A dynamic segment's new filter.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::Filter>)]
    pub filter: Option<serde_json::Value>,
}

/// Checks a segment's fields and, for a dynamic one, compiles its filter (a 422 naming the path).
fn check_segment(conn: &mut PgConnection, segment: &Segment) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let name_length = segment.name.chars().count();
    if !(1..=200).contains(&name_length) {
        errors.push(FieldError::new("name", FieldCode::Length, "must be 1 to 200 characters"));
    }
    if segment.description.as_ref().is_some_and(|text| text.chars().count() > 2000) {
        errors.push(FieldError::new("description", FieldCode::Length, "must be at most 2000 characters"));
    }
    match (segment.kind.as_str(), &segment.filter) {
        ("dynamic", None) => {
            errors.push(FieldError::new("filter", FieldCode::Required, "a dynamic segment needs a filter"))
        }
        ("static", Some(_)) => errors.push(FieldError::new(
            "filter",
            FieldCode::NotApplicable,
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
        return Err(taken(ProblemCode::SegmentNameTaken));
    }
    Ok(())
}

fn segment_http(status: StatusCode, segment: &Segment) -> HttpResponse {
    versioned_http(status, segment.version, "segments", segment.id, &SegmentResponse::from(segment))
}

/// Create a segment.
///
/// A dynamic segment is a saved filter over clients, re-evaluated whenever it is read; a static one is a
/// member list, filled with `POST /segments/{id}/members` or `…/members/from-filter`.
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
///
/// Every segment by name: the built-in ones every workspace starts with (dormant clients, frequent buyers,
/// RFM classes) and the workspace's own. With `updated_since` or `sort`, in the order of their last change, for a
/// sync that polls.
#[utoipa::path(
    tag = "segments",
    operation_id = "list_segments",
    security(("bearer" = [])),
    params(PageParams, ChangedParams),
    responses((status = 200, description = "One page of segments", body = Page<SegmentResponse>))
)]
#[get("/segments")]
pub async fn list_segments(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PageParams>,
    changed: web::Query<ChangedParams>,
) -> Result<web::Json<Page<SegmentResponse>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let order = changed.order::<(String, SegmentId)>(query.cursor.as_deref())?;
    let keyed = order.clone();
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Segment::list(conn, principal.workspace_id, order, i64::from(limit) + 1)?)
    })
    .await?;
    let key = |segment: &Segment| {
        list_key(&keyed, (segment.name.clone(), segment.id), segment.updated_at, segment.id.0)
    };
    Ok(web::Json(Page::from_rows(rows, limit, key, |segment| SegmentResponse::from(&segment))))
}

/// List deleted segments (tombstones), oldest deletion first: for sync.
///
/// Segments are deleted outright; their deletions are read from the change log, oldest first, from
/// `deleted_since`, so that a sync that polls learns of them (they also come through `GET /changes`).
#[utoipa::path(
    tag = "segments",
    operation_id = "list_deleted_segments",
    security(("bearer" = [])),
    params(crate::api::listing::DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<crate::api::listing::Tombstone>))
)]
#[get("/segments/deleted")]
pub async fn list_deleted_segments(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<crate::api::listing::DeletedQuery>,
) -> Result<web::Json<Page<crate::api::listing::Tombstone>>, ApiError> {
    let page =
        crate::api::listing::logged_tombstones(&state, principal, query.into_inner(), "segment").await?;
    Ok(web::Json(page))
}

/// Get one segment.
///
/// The segment with its kind, filter (for a dynamic one) and the `ETag` header for `If-Match`.
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
///
/// A segment's kind can't change. `If-Match` refuses overwriting a change made meanwhile (412).
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
            let current = segment_for_change(conn, &principal, id)?;
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

/// Delete a segment.
///
/// Its clients stay; its definition stays in the change log.
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
            let current = segment_for_change(conn, &principal, id)?;
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

#[derive(Debug, Serialize, ToSchema)]
pub struct RfmRefresh {
    /// Clients with at least one purchase, scored 1-5 on recency, frequency and monetary value.
    pub scored: i64,
    /// Clients whose stats changed.
    pub updated: i64,
    pub refreshed_at: DateTime<Utc>,
}

/// Recompute the workspace's RFM classes and activity counts now.
///
/// Recency, frequency and monetary scores and classes, and the 30- and 90-day activity counts, are otherwise
/// refreshed hourly. Owners, admins and managers.
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

/// Segment `id`, locked for a change the caller may make: a segment is changed by whoever made it,
/// or by a manager, admin or owner; a rep changes their own only.
pub(super) fn segment_for_change(
    conn: &mut PgConnection,
    principal: &Principal,
    id: SegmentId,
) -> Result<Segment, ApiError> {
    let segment = Segment::find_for_update(conn, principal.workspace_id, id)?;
    if segment.created_by != Some(principal.user_id) && !principal.role.can_change_others_segments() {
        return Err(ApiError::Forbidden(std::borrow::Cow::Borrowed(
            "only its maker, or a manager, admin or owner, may change a segment",
        )));
    }
    Ok(segment)
}
