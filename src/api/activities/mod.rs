//! Activities (calls, meetings, emails, messages, tasks, notes, visits), completing one with its
//! follow-up in one step, and the caller's agenda: "whom do I call today".

pub mod agenda;
pub mod batch;
pub mod complete;
mod wire;
pub(crate) mod write;

pub use wire::ActivityResponse;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::Parent;
use crate::api::by_ref::{self, RefLookup, RefPath};
use crate::api::extract::{IfMatch, JsonBody, Page, UpdatedOrder, decode_cursor, page_limit};
use crate::api::listing::{DeletedQuery, Tombstone, tombstone_page};
use crate::api::search::{SearchRequest, compile_filter};
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};
use crate::db::models::Activity;
use crate::db::models::activity::ActivityFilter;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::external_ref::RefEntity;
use crate::domain::enums::{ActivityKind, ActivityStatus, CustomEntity};
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ActivityId, ClientId, DealId, UserId};
use crate::state::AppState;
use wire::{ActivityInput, UpdateActivity};
use write::{activity_http, build_activity, delete_in, insert_activity, update_in, upsert_in};

/// Log or plan an activity.
///
/// Logs a touch that happened (`status: done`) or plans one (`planned`, the default) with a due time and an
/// optional reminder. The client is taken from the contact or the deal when only those are given. An
/// `external_ref` from the telephony or mail integration makes a repeated log a 409 instead of a second
/// activity.
#[utoipa::path(
    tag = "activities",
    operation_id = "create_activity",
    security(("bearer" = [])),
    request_body = ActivityInput,
    responses(
        (status = 201, description = "Created", body = ActivityResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new activity's URL"))),
        (status = 409, description = "An activity with this external_ref is already logged", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/activities")]
pub async fn create_activity(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ActivityInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let activity = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let activity = build_activity(conn, &principal, scope, body.0, None)?;
            insert_activity(conn, &principal, &activity)
        })
    })
    .await?;
    Ok(activity_http(StatusCode::CREATED, &activity))
}

/// Create or update the activity another system knows by `{system}:{id}`: a call from the telephony, a mail.
///
/// When no activity has this ref, creates one from the body (which then needs `kind` and `subject`) with the
/// ref among its `external_refs`, 201; when one has, updates it with the fields the body gives, as `PATCH` does,
/// 200, and writes nothing (same version, no change event) when they change nothing: a call logged when it
/// starts and completed when it ends, without the integration keeping our id. `If-Match` guards the update; on
/// a create it fails (412, `current_version` 0). A ref held by an activity the caller doesn't see is a 409
/// `external_ref_taken`, by a deleted one a 409 `record_deleted`. Two upserts of one new ref at once make one
/// activity.
#[utoipa::path(
    tag = "activities",
    operation_id = "upsert_activity_by_ref",
    security(("bearer" = [])),
    params(
        RefPath,
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateActivity,
    responses(
        (status = 200, description = "Updated, or already as asked", body = ActivityResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 201, description = "Created", body = ActivityResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new activity's URL"))),
        (status = 409, description = "The ref is a hidden or deleted activity's, or another activity has the body's `external_ref`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/activities/by-ref/{system}/{id}")]
pub async fn upsert_activity_by_ref(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<RefPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateActivity>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let reference = path.parse()?;
    let (status, activity) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| upsert_in(conn, &principal, scope, reference, body.0, &if_match))
    })
    .await?;
    Ok(activity_http(status, &activity))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters).
    pub cursor: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub deal_id: Option<DealId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<UserId>,
    pub kind: Option<ActivityKind>,
    pub status: Option<ActivityStatus>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    pub updated_since: Option<DateTime<Utc>>,
    /// `-updated_at` (the default): the latest change first; `updated_at`: the oldest first, for a sync that pages
    /// through changes from `updated_since`.
    #[param(inline)]
    pub sort: Option<UpdatedOrder>,
    /// The activity another system knows by this id: `system:id`, such as `pbx:call-88812`.
    #[param(inline, value_type = Option<RefLookup>)]
    pub external_ref: Option<String>,
}

/// List activities, most recently changed first.
///
/// Pages through the workspace's activities, newest change first (`sort=updated_at`: oldest first). Narrow by
/// client, deal, assignee, kind, stored status, a window of due dates and `updated_since`. For a rep's day, `GET /me/agenda` is the one
/// call.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_activities",
    security(("bearer" = [])),
    params(ActivityListQuery),
    responses((status = 200, description = "One page of activities", body = Page<ActivityResponse>))
)]
#[get("/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    activities_page(state, principal, query.into_inner(), None, None).await.map(web::Json)
}

/// List deleted activities (tombstones), oldest deletion first: for sync and undo.
///
/// Tombstones of soft-deleted activities the caller sees, oldest deletion first, from `deleted_since`: for a
/// sync to apply deletions (an activity's deletion also comes through `GET /changes`) and for undo.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_deleted_activities",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/activities/deleted")]
pub async fn list_deleted_activities(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, ActivityId)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        Ok(Activity::list_deleted(conn, scope, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |activity| {
        (
            activity.id,
            activity.deleted_at.unwrap_or(activity.updated_at),
            activity.deleted_by,
            activity.version,
        )
    })))
}

/// A client's activities (any filter of `GET /activities` applies).
///
/// The activities linked to this client, newest change first, with the same filters and paging as `GET
/// /activities`. A client that doesn't exist is a 404.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_client_activities",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), ActivityListQuery),
    responses((status = 200, description = "One page of the client's activities", body = Page<ActivityResponse>))
)]
#[get("/clients/{id}/activities")]
pub async fn list_client_activities(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let client = id.into_inner();
    let mut query = query.into_inner();
    query.client_id = Some(client);
    activities_page(state, principal, query, None, Some(Parent::Client(client))).await.map(web::Json)
}

/// A deal's activities (any filter of `GET /activities` applies).
///
/// The activities linked to this deal, newest change first, with the same filters and paging as `GET
/// /activities`. A deal that doesn't exist is a 404.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_deal_activities",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id"), ActivityListQuery),
    responses((status = 200, description = "One page of the deal's activities", body = Page<ActivityResponse>))
)]
#[get("/deals/{id}/activities")]
pub async fn list_deal_activities(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let deal = id.into_inner();
    let mut query = query.into_inner();
    query.deal_id = Some(deal);
    activities_page(state, principal, query, None, Some(Parent::Deal(deal))).await.map(web::Json)
}

/// Search activities with the filter language: `{filter, sort, limit, cursor}`.
///
/// An unknown field, an operator the field doesn't take or a bad value is a 422 naming its path
/// (`filter.all[1].op`).
#[utoipa::path(
    tag = "activities",
    operation_id = "search_activities",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching activities", body = Page<ActivityResponse>))
)]
#[post("/activities/search")]
pub async fn search_activities(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let search = body.0;
    if search.sort.as_deref().is_some_and(|sort| sort != "updated_at") {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidQuery,
            "activities are searched in updated_at order only",
        ));
    }
    let query = ActivityListQuery { limit: search.limit, cursor: search.cursor, ..Default::default() };
    activities_page(state, principal, query, search.filter, None).await.map(web::Json)
}

async fn activities_page(
    state: web::Data<AppState>,
    principal: Principal,
    query: ActivityListQuery,
    search: Option<serde_json::Value>,
    parent: Option<Parent>,
) -> Result<Page<ActivityResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, ActivityId)> = decode_cursor(query.cursor.as_deref())?;
    let mut filter = ActivityFilter {
        client_id: query.client_id,
        deal_id: query.deal_id,
        assignee_id: query.assignee_id,
        kind: query.kind.map(ActivityKind::as_str),
        status: query.status.map(ActivityStatus::as_str),
        due_from: query.due_from,
        due_to: query.due_to,
        updated_since: query.updated_since,
        condition: None,
        id: None,
        oldest_first: query.sort == Some(UpdatedOrder::UpdatedAt),
    };
    let external = by_ref::parse_lookup(query.external_ref.as_deref())?;
    let rows = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        if let Some(parent) = parent {
            parent.ensure_exists(conn, scope)?;
        }
        if let Some(reference) = &external {
            let found = by_ref::lookup_id(conn, principal.workspace_id, RefEntity::Activity, reference)?;
            filter.id = Some(ActivityId(found));
        }
        filter.condition = search
            .map(|search| compile_filter(conn, principal.workspace_id, CustomEntity::Activity, &search))
            .transpose()?;
        Ok(Activity::list(conn, scope, &filter, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |activity| (activity.updated_at, activity.id),
        |activity| ActivityResponse::from(&activity),
    ))
}

/// Get one activity.
///
/// The activity with its links, reminder state and custom values; the `ETag` header carries its version for
/// `If-Match`.
#[utoipa::path(
    tag = "activities",
    operation_id = "get_activity",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    responses((status = 200, description = "The activity", body = ActivityResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/activities/{id}")]
pub async fn get_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let activity =
        run_seeing(principal.caller(), &state.pool, move |conn, scope| Ok(Activity::find(conn, scope, id)?))
            .await?;
    Ok(activity_http(StatusCode::OK, &activity))
}

/// Update an activity.
///
/// A partial update: fields left out stay as they are, `null` clears an optional one. The result is checked
/// as a new activity is, and `If-Match` guards against overwriting a change made meanwhile (412).
#[utoipa::path(
    tag = "activities",
    operation_id = "update_activity",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateActivity,
    responses(
        (status = 200, description = "Updated", body = ActivityResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Another activity has this external_ref", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/activities/{id}")]
pub async fn update_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
    if_match: IfMatch,
    body: JsonBody<UpdateActivity>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let activity = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let current: Activity = soft_delete::live_for_update(conn, &principal, scope, id)?;
            update_in(conn, &principal, scope, current, body.0, &if_match)
        })
    })
    .await?;
    Ok(activity_http(StatusCode::OK, &activity))
}

/// Delete an activity (soft).
///
/// The activity leaves lists, the agenda and the timeline. Send `If-Match` with the ETag last read to refuse
/// the delete if it changed meanwhile (412).
#[utoipa::path(
    tag = "activities",
    operation_id = "delete_activity",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/activities/{id}")]
pub async fn delete_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
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

/// Restore a deleted activity.
///
/// Brings a soft-deleted activity back into lists, the agenda and the timeline, as it was. Restoring a live
/// one changes nothing.
#[utoipa::path(
    tag = "activities",
    operation_id = "restore_activity",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    responses((status = 200, description = "The restored activity", body = ActivityResponse))
)]
#[post("/activities/{id}/restore")]
pub async fn restore_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let activity = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            soft_delete::restore(conn, &principal, scope, id, |conn, _: &Activity, _, changes| {
                let restored =
                    Activity::set_deleted(conn, principal.workspace_id, id, None, principal.user_id)?;
                ClientStats::recompute(conn, restored.workspace_id, [restored.client_id])?;
                Ok((restored, changes))
            })
        })
    })
    .await?;
    Ok(activity_http(StatusCode::OK, &activity))
}
