//! Clients: individuals and companies in one resource, with lookups by email, phone and tax id,
//! fuzzy search, soft delete and restore.

pub mod batch;
pub mod duplicates;
pub mod merge;
mod read_ahead;
pub mod shares;
mod store;
mod wire;
mod write;

pub use wire::ClientResponse;

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::by_ref::{self, RefLookup, RefPath};
use crate::api::extract::{AllowDuplicate, IfMatch, JsonBody, Page, decode_cursor, etag, page_limit};
use crate::api::listing::{
    DeletedQuery, ListCursor, Tombstone, decode_list_cursor, list_order, phone_key, search_query, sort_key,
    tombstone_page,
};
use crate::api::search::{SearchRequest, compile_filter, segment_condition};
use crate::api::security::{SecurityEvent, action, charge_reads};
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::{ChangeEvent, ChangeSet};
use crate::db::models::client::ClientFilter;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::contact::Contact;
use crate::db::models::external_ref::RefEntity;
use crate::db::models::segment::Segment;
use crate::db::models::{Client, Workspace};
use crate::domain::enums::{ClientKind, CustomEntity, LifecycleStage, Relationship, Source};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::error::ProblemCode;
use crate::ids::{ClientId, SegmentId, TeamId, UserId};
use crate::state::AppState;
use store::DatabaseStore;
use wire::{ClientInput, ClientStatsResponse, ClientSummary, UpdateClient};
use write::{client_http, create_in, update_in, upsert_in};

/// Create a client.
///
/// A client whose email, phone or tax id already belongs to a live client is refused with 409
/// `duplicate` naming that client, unless `allow_duplicate=true`.
#[utoipa::path(
    tag = "clients",
    operation_id = "create_client",
    security(("bearer" = [])),
    params(AllowDuplicate),
    request_body = ClientInput,
    responses(
        (status = 201, description = "Created", body = ClientResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new client's URL"))),
        (status = 409, description = "A live client has the same email, phone or tax id (`conflicting_id`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AllowDuplicate>,
    body: JsonBody<ClientInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let allow_duplicate = query.allow_duplicate.unwrap_or(false);
    let client = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            create_in(
                &mut DatabaseStore::new(conn, workspace.id),
                &principal,
                scope,
                &workspace,
                body.0,
                allow_duplicate,
            )
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::CREATED, &client))
}

/// Create or update the client another system knows by `{system}:{id}`.
///
/// For an integration that keeps its own ids: when no client has this ref, creates one from the body (which
/// then needs `kind`) with the ref among its `external_refs`, 201; when one has, updates it with the fields the
/// body gives, as `PATCH` does, 200, and writes nothing (same version, no change event) when they change
/// nothing. `If-Match` guards the update; on a create it fails (412, `current_version` 0). A new client whose
/// email, phone or tax id a live client has is a 409 `duplicate` (`allow_duplicate=true` creates anyway), a ref
/// held by a client the caller doesn't see is a 409 `external_ref_taken`, and by a deleted one a 409
/// `client_deleted`. Two upserts of one new ref at once make one client.
#[utoipa::path(
    tag = "clients",
    operation_id = "upsert_client_by_ref",
    security(("bearer" = [])),
    params(
        RefPath,
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
        AllowDuplicate,
    ),
    request_body = UpdateClient,
    responses(
        (status = 200, description = "Updated, or already as asked", body = ClientResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 201, description = "Created", body = ClientResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new client's URL"))),
        (status = 409, description = "A live client has the same email, phone or tax id (`duplicate`), or the ref is a hidden or deleted client's", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/clients/by-ref/{system}/{id}")]
pub async fn upsert_client_by_ref(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<RefPath>,
    query: web::Query<AllowDuplicate>,
    if_match: IfMatch,
    body: JsonBody<UpdateClient>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let reference = path.parse()?;
    let allow_duplicate = query.allow_duplicate.unwrap_or(false);
    let (status, client) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let store = &mut DatabaseStore::new(conn, workspace.id);
            upsert_in(store, &principal, scope, &workspace, reference, body.0, &if_match, allow_duplicate)
        })
    })
    .await?;
    Ok(client_http(status, &client))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientListQuery {
    /// How many clients to return: 1 to 200, 50 when omitted.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// `updated_at`, `created_at` or `display_name`, prefixed with `-` for descending; the id
    /// breaks ties. Default `-updated_at`, or best match first with `q`. For a sync, use
    /// `updated_at` with `updated_since`: a record changed during the walk moves to the end and
    /// is seen again there, never missed.
    #[param(inline, value_type = Option<crate::api::listing::ClientSort>, example = "-updated_at")]
    pub sort: Option<String>,
    pub kind: Option<ClientKind>,
    pub relationship: Option<Relationship>,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub source: Option<Source>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// Clients with this tag.
    pub tag: Option<String>,
    /// Clients changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Clients created at or after this time.
    pub created_since: Option<DateTime<Utc>>,
    /// Clients with this email, compared case-insensitively.
    pub email: Option<String>,
    /// Clients with this phone, in any format (normalised like stored phones).
    #[param(format = "phone", min_length = 1, max_length = 50, example = "+7 912 345-67-89")]
    pub phone: Option<String>,
    /// Clients with this tax id.
    pub tax_id: Option<String>,
    /// The client another system knows by this id: `system:id`, such as `1c:000123`.
    #[param(inline, value_type = Option<RefLookup>)]
    pub external_ref: Option<String>,
    /// Fuzzy search (Latin or Cyrillic, typos allowed; `%` and `_` match themselves). One word
    /// searches the words of names and legal names; several words, or text with `@` or without
    /// letters, search names, emails and phones together.
    pub q: Option<String>,
}

/// List clients, with filters, lookups and fuzzy search.
///
/// Pages through clients with equality filters (kind, relationship, stage, source, owner, team, tag), time
/// filters for sync, lookups by email, phone or tax id (phones match in any notation), and `q`, a fuzzy
/// search over names, emails and phones ranked by relevance. `POST /clients/search` takes the full filter
/// language.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_clients",
    security(("bearer" = [])),
    params(ClientListQuery),
    responses((status = 200, description = "One page of clients", body = Page<ClientResponse>))
)]
#[get("/clients")]
pub async fn list_clients(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ClientListQuery>,
) -> Result<HttpResponse, ApiError> {
    clients_page_http(state, principal, query.into_inner(), None).await
}

/// Search clients with the filter language: `{filter, sort, limit, cursor}`.
///
/// Fields: the record's, `custom.<key>`, `tags` and `stats.*`. An unknown field, an operator the
/// field doesn't take or a bad value is a 422 naming its path (`filter.all[1].op`).
#[utoipa::path(
    tag = "clients",
    operation_id = "search_clients",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching clients", body = Page<ClientResponse>))
)]
#[post("/clients/search")]
pub async fn search_clients(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let search = body.0;
    let query = ClientListQuery {
        limit: search.limit,
        cursor: search.cursor,
        sort: search.sort,
        ..Default::default()
    };
    clients_page_http(state, principal, query, search.filter.map(Narrowing::Filter)).await
}

/// What narrows a client list beyond its query parameters.
pub(crate) enum Narrowing {
    /// A filter-language filter (a search or a segment preview).
    Filter(serde_json::Value),
    /// A segment's members, the segment read in the page's own database turn.
    Segment(SegmentId),
}

/// One page of clients for a list query, narrowed by a search filter or a segment, as a JSON
/// response.
pub(crate) async fn clients_page_http(
    state: web::Data<AppState>,
    principal: Principal,
    query: ClientListQuery,
    narrowing: Option<Narrowing>,
) -> Result<HttpResponse, ApiError> {
    let body = clients_page(state, principal, query, narrowing, |page| serde_json::to_vec(&page)).await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body.map_err(ApiError::internal)?))
}

/// One page of clients for a list query, narrowed by a search filter or a segment, handed to
/// `finish` in the blocking task that loaded it: serialising the page there means the rows'
/// strings and JSON are allocated and freed on one thread; freed on the web worker instead, each
/// went back to the loading thread's heap, which cost about a tenth of a list page's CPU.
pub(crate) async fn clients_page<R: Send + 'static>(
    state: web::Data<AppState>,
    principal: Principal,
    query: ClientListQuery,
    narrowing: Option<Narrowing>,
    finish: impl FnOnce(Page<ClientResponse>) -> R + Send + 'static,
) -> Result<R, ApiError> {
    let limit = page_limit(query.limit)?;
    let q = search_query(query.q.as_deref())?;
    let (sort_name, order, descending) = list_order(query.sort.as_deref(), q.is_some())?;
    let after = decode_list_cursor::<ClientId>(query.cursor.as_deref(), &sort_name, order)?;
    let mut filter = ClientFilter {
        kind: query.kind.map(ClientKind::as_str),
        relationship: query.relationship.map(Relationship::as_str),
        lifecycle_stage: query.lifecycle_stage.map(LifecycleStage::as_str),
        source: query.source.map(Source::as_str),
        owner_id: query.owner_id,
        team_id: query.team_id,
        tag: query.tag.map(|tag| tag.trim().to_string()),
        updated_since: query.updated_since,
        created_since: query.created_since,
        email: query.email.map(|email| email.trim().to_lowercase()),
        phone: None,
        tax_id: query.tax_id.map(|tax_id| tax_id.trim().to_string()),
        q: q.clone(),
        condition: None,
        id: None,
    };
    let external = by_ref::parse_lookup(query.external_ref.as_deref())?;
    let phone = query.phone;
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = principal.workspace_id;
        if let Some(phone) = phone {
            filter.phone = Some(phone_key(conn, workspace, &phone)?);
        }
        if let Some(reference) = &external {
            filter.id = Some(ClientId(by_ref::lookup_id(conn, workspace, RefEntity::Client, reference)?));
        }
        filter.condition = match narrowing {
            Some(Narrowing::Filter(search)) => {
                Some(compile_filter(conn, workspace, CustomEntity::Client, &search)?)
            }
            Some(Narrowing::Segment(id)) => {
                let segment = Segment::find(conn, workspace, id)?;
                Some(segment_condition(conn, &segment)?)
            }
            None => None,
        };
        let (rows, scores) =
            Client::list(conn, scope, &filter, order, descending, after, i64::from(limit) + 1)?;
        let read: Vec<ClientId> = rows.iter().take(limit as usize).map(|client| client.id).collect();
        charge_reads(conn, &principal, scope, &read)?;
        // A relevance cursor carries the score of the page's last row.
        let last_score = scores.get(limit as usize).and(scores.get(limit as usize - 1)).copied();
        let key = |client: &Client| ListCursor {
            sort: sort_name.clone(),
            key: sort_key(order, client.updated_at, client.created_at, &client.display_name, last_score),
            id: client.id,
        };
        Ok(finish(Page::from_rows(rows, limit, key, ClientResponse::from)))
    })
    .await
}

/// List deleted clients (tombstones), oldest deletion first: for sync and undo.
///
/// Tombstones of soft-deleted clients, oldest deletion first, from `deleted_since`: a sync applies them as
/// deletions, and an undo restores with `POST /clients/{id}/restore`.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_deleted_clients",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/clients/deleted")]
pub async fn list_deleted_clients(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, ClientId)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        Ok(Client::list_deleted(conn, scope, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |client| {
        (client.id, client.deleted_at.unwrap_or(client.updated_at), client.deleted_by, client.version)
    })))
}

/// Get one client.
///
/// The client card: names, contact points, address, consent, custom values and purchase statistics (`stats`),
/// with the `ETag` header for `If-Match`.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    responses((status = 200, description = "The client", body = ClientResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/clients/{id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (client, summary, stats) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let (client, stats) = match ClientStats::find_with_client(conn, scope, id) {
            Err(diesel::result::Error::NotFound) => return Err(merged_or_not_found(conn, scope, id)),
            found => found?,
        };
        let summary = Client::summary(conn, principal.workspace_id, id)?;
        let places = crate::domain::money::places(&summary.currency);
        let summary = ClientSummary::new(summary, &client, places);
        let stats = ClientStatsResponse::new(stats, places);
        Ok((client, summary, stats))
    })
    .await?;
    let version = client.version;
    let mut response = ClientResponse::from(client);
    response.summary = Some(summary);
    response.stats = Some(stats);
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(version))).json(response))
}

/// Why client `id` isn't there: merged into another (that the caller sees it was is no secret
/// when they saw it), or simply not found.
fn merged_or_not_found(
    conn: &mut PgConnection,
    scope: &crate::db::visibility::ClientScope,
    id: ClientId,
) -> ApiError {
    use crate::db::models::SoftDelete;
    match Client::find_any(conn, scope.workspace(), id) {
        Ok(Client { merged_into: Some(survivor), owner_id, .. }) if scope.admits_client(id, owner_id) => {
            ApiError::MergedAway { entity: "client", merged_into: survivor.0 }
        }
        _ => ApiError::NotFound,
    }
}

/// Update a client.
///
/// A partial update: fields left out stay as they are, `null` clears an optional one; the result is checked
/// as a new client of its kind is (a client's kind can't change). Send `If-Match` with the ETag last read to
/// refuse overwriting a change made meanwhile (412).
#[utoipa::path(
    tag = "clients",
    operation_id = "update_client",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The client's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateClient,
    responses(
        (status = 200, description = "Updated", body = ClientResponse, headers(("ETag" = String, description = "The record's version"))),
    )
)]
#[patch("/clients/{id}")]
pub async fn update_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    if_match: IfMatch,
    body: JsonBody<UpdateClient>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let client = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let current: Client = soft_delete::live_for_update(conn, &principal, scope, id)?;
            update_in(
                &mut DatabaseStore::new(conn, workspace.id),
                &principal,
                scope,
                &workspace,
                current,
                body.0,
                &if_match,
            )
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::OK, &client))
}

/// Delete a client (soft).
///
/// The client and its contacts leave every list and lookup, show up in `GET /clients/deleted`, and can be
/// brought back with `POST /clients/{id}/restore`. Send `If-Match` to refuse the delete if the client changed
/// meanwhile (412).
#[utoipa::path(
    tag = "clients",
    operation_id = "delete_client",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The client's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 429, description = "The caller deleted as many clients within the hour as anyone but the owner may; `Retry-After` says when the next is allowed",
            body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until another client may be deleted"))),
    )
)]
#[delete("/clients/{id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        ensure_deletions_allowed(conn, &principal, 1)?;
        conn.transaction(|conn| delete_in(conn, &principal, scope, id, &if_match))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Soft-deletes the live client `id` with its contacts, in the caller's transaction.
pub(super) fn delete_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &crate::db::visibility::ClientScope,
    id: ClientId,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    // Its contacts go with it, at its deletion time, so that restoring it restores exactly them.
    let along = |conn: &mut PgConnection, deleted: &Client, at, changes: ChangeSet| {
        let contacts =
            Contact::mark_deleted_with_client(conn, deleted.workspace_id, id, at, principal.user_id)?;
        Ok(changes.field("contacts_deleted", None, &contacts))
    };
    soft_delete::delete(conn, principal, scope, id, if_match, along).map(drop)
}

/// Restore a deleted client, with the contacts deleted along with it.
///
/// Restoring a live client changes nothing and returns it; a client merged into another can't be restored
/// (409 `client_merged`).
#[utoipa::path(
    tag = "clients",
    operation_id = "restore_client",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    responses((status = 200, description = "The restored client", body = ClientResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[post("/clients/{id}/restore")]
pub async fn restore_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let client = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            soft_delete::restore(
                conn,
                &principal,
                scope,
                id,
                |conn, deleted: &Client, deleted_at, changes| {
                    if let Some(survivor) = deleted.merged_into {
                        return Err(ApiError::conflict(
                            ProblemCode::ClientMerged,
                            format!(
                                "this client was merged into client {survivor}, which has its records now"
                            ),
                        ));
                    }
                    let (workspace, by) = (principal.workspace_id, principal.user_id);
                    let restored = Client::mark_restored(conn, workspace, id, Utc::now(), by)?;
                    let contacts = Contact::mark_restored_with_client(conn, workspace, id, deleted_at, by)?;
                    Ok((restored, changes.field("contacts_restored", None, &contacts)))
                },
            )
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::OK, &client))
}

/// Refuses another deletion to a caller other than an owner who deleted as many clients within the
/// last hour as the workspace allows (`max_deletions_per_hour`, 50 unless changed): past it,
/// someone is emptying the base, and soft-deleted clients stay restorable, but a thousand restores
/// is no way to find out. The refusal is recorded in the audit trail as a security event
/// (`bulk_delete_refused`), committed whatever the request's fate.
pub(super) fn ensure_deletions_allowed(
    conn: &mut PgConnection,
    principal: &Principal,
    count: usize,
) -> Result<(), ApiError> {
    if principal.role == Role::Owner {
        return Ok(());
    }
    let limit = Workspace::find(conn, principal.workspace_id)?.max_deletions_per_hour;
    let hour = chrono::Duration::hours(1);
    let now = Utc::now();
    let recent =
        ChangeEvent::deletions_since(conn, principal.workspace_id, principal.user_id, "client", now - hour)?;
    let allowed = usize::try_from(limit).unwrap_or(usize::MAX);
    if recent.len() + count <= allowed {
        return Ok(());
    }
    // The next `count` deletions are allowed once enough of the hour's have aged out; more than
    // the limit at once never are, and wait the hour.
    let retry_after = match (recent.len() + count).checked_sub(allowed + 1).and_then(|at| recent.get(at)) {
        Some(oldest) if count <= allowed => (*oldest + hour - now).to_std().unwrap_or_default(),
        _ => hour.to_std().unwrap_or_default(),
    };
    let details = ChangeSet::default()
        .field("deleted_within_the_hour", None, &recent.len())
        .field("limit", None, &limit);
    SecurityEvent::by(principal, action::BULK_DELETE_REFUSED, details).record(conn)?;
    Err(ApiError::TooManyDeletions { limit, retry_after })
}
