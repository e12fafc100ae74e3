//! Contacts: the people acting for a client, with lookups by email and phone and fuzzy search.
//! Lists, cursors, tombstones and the change log work as for clients.

pub mod batch;
pub mod merge;
mod wire;
mod write;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::Parent;
use crate::api::by_ref::{self, RefLookup, RefPath};
use crate::api::extract::{AllowDuplicate, IfMatch, JsonBody, Page, decode_cursor, page_limit};
use crate::api::listing::{
    DeletedQuery, ListCursor, Tombstone, decode_list_cursor, list_order, phone_key, search_query, sort_key,
    tombstone_page,
};
use crate::api::search::{SearchRequest, compile_filter};
use crate::api::security::charge_reads;
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};
use crate::db::models::client::ClientOrder;
use crate::db::models::contact::ContactFilter;
use crate::db::models::external_ref::RefEntity;
use crate::db::models::{Client, Contact, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::enums::CustomEntity;
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ClientId, ContactId, UserId};
use crate::state::AppState;
use wire::{ContactInput, ContactResponse, UpdateContact};
use write::{contact_http, create_in, update_in, upsert_in};

/// Create a contact.
///
/// A contact whose email or phone already belongs to a live contact is refused with 409
/// `duplicate` naming that contact, unless `allow_duplicate=true`.
#[utoipa::path(
    tag = "contacts",
    operation_id = "create_contact",
    security(("bearer" = [])),
    params(AllowDuplicate),
    request_body = ContactInput,
    responses(
        (status = 201, description = "Created", body = ContactResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new contact's URL"))),
        (status = 409, description = "A live contact has the same email or phone (`conflicting_id`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AllowDuplicate>,
    body: JsonBody<ContactInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let allow_duplicate = query.allow_duplicate.unwrap_or(false);
    let contact = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            create_in(conn, &principal, scope, &workspace, body.0, allow_duplicate)
        })
    })
    .await?;
    Ok(contact_http(StatusCode::CREATED, &contact))
}

/// Create or update the contact another system knows by `{system}:{id}`.
///
/// When no contact has this ref, creates one from the body (which then needs `client_id` or `client_ref`, and a
/// last or first name) with the ref among its `external_refs`, 201; when one has, updates it with the fields
/// the body gives, as `PATCH` does, 200, and writes nothing (same version, no change event) when they change
/// nothing. `If-Match` guards the update; on a create it fails (412, `current_version` 0). A new contact whose
/// email or phone a live contact has is a 409 `duplicate` (`allow_duplicate=true` creates anyway); a ref held
/// by a contact the caller doesn't see is a 409 `external_ref_taken`, by a deleted one a 409 `record_deleted`.
/// Two upserts of one new ref at once make one contact.
#[utoipa::path(
    tag = "contacts",
    operation_id = "upsert_contact_by_ref",
    security(("bearer" = [])),
    params(
        RefPath,
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
        AllowDuplicate,
    ),
    request_body = UpdateContact,
    responses(
        (status = 200, description = "Updated, or already as asked", body = ContactResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 201, description = "Created", body = ContactResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new contact's URL"))),
        (status = 409, description = "A live contact has the same email or phone (`duplicate`), or the ref is a hidden or deleted contact's", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/contacts/by-ref/{system}/{id}")]
pub async fn upsert_contact_by_ref(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<RefPath>,
    query: web::Query<AllowDuplicate>,
    if_match: IfMatch,
    body: JsonBody<UpdateContact>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let reference = path.parse()?;
    let allow_duplicate = query.allow_duplicate.unwrap_or(false);
    let (status, contact) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            upsert_in(conn, &principal, scope, &workspace, reference, body.0, &if_match, allow_duplicate)
        })
    })
    .await?;
    Ok(contact_http(status, &contact))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactListQuery {
    /// How many contacts to return: 1 to 200, 50 when omitted.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// `updated_at`, `created_at` or `display_name`, prefixed with `-` for descending; default
    /// `-updated_at`, or best match first with `q`.
    #[param(inline, value_type = Option<crate::api::listing::ClientSort>, example = "display_name")]
    pub sort: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    pub updated_since: Option<DateTime<Utc>>,
    pub created_since: Option<DateTime<Utc>>,
    /// Contacts with this email, compared case-insensitively.
    pub email: Option<String>,
    /// Contacts with this phone, in any format.
    #[param(format = "phone", min_length = 1, max_length = 50, example = "+7 912 345-67-89")]
    pub phone: Option<String>,
    /// The contact another system knows by this id: `system:id`, such as `shop:C-1002`.
    #[param(inline, value_type = Option<RefLookup>)]
    pub external_ref: Option<String>,
    /// Fuzzy search over names, emails and phones.
    pub q: Option<String>,
}

/// List contacts, with filters, lookups and fuzzy search.
///
/// Pages through contact persons with filters by client and owner, time filters for sync, lookups by email or
/// phone (any notation), and `q`, a fuzzy search over names, emails and phones. `POST /contacts/search` takes
/// the full filter language.
#[utoipa::path(
    tag = "contacts",
    operation_id = "list_contacts",
    security(("bearer" = [])),
    params(ContactListQuery),
    responses((status = 200, description = "One page of contacts", body = Page<ContactResponse>))
)]
#[get("/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ContactListQuery>,
) -> Result<web::Json<Page<ContactResponse>>, ApiError> {
    contacts_page(state, principal, query.into_inner(), None, None).await.map(web::Json)
}

/// The contacts of one client, primary first...
///
/// as any contact list: `client_id` is fixed.
#[utoipa::path(
    tag = "contacts",
    operation_id = "list_client_contacts",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), ContactListQuery),
    responses((status = 200, description = "One page of the client's contacts", body = Page<ContactResponse>))
)]
#[get("/clients/{id}/contacts")]
pub async fn list_client_contacts(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<ContactListQuery>,
) -> Result<web::Json<Page<ContactResponse>>, ApiError> {
    let client = id.into_inner();
    let mut query = query.into_inner();
    query.client_id = Some(client);
    contacts_page(state, principal, query, None, Some(Parent::Client(client))).await.map(web::Json)
}

/// Search contacts with the filter language: `{filter, sort, limit, cursor}`.
///
/// An unknown field, an operator the field doesn't take or a bad value is a 422 naming its path
/// (`filter.all[1].op`).
#[utoipa::path(
    tag = "contacts",
    operation_id = "search_contacts",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching contacts", body = Page<ContactResponse>))
)]
#[post("/contacts/search")]
pub async fn search_contacts(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<web::Json<Page<ContactResponse>>, ApiError> {
    let search = body.0;
    let query = ContactListQuery {
        limit: search.limit,
        cursor: search.cursor,
        sort: search.sort,
        ..Default::default()
    };
    contacts_page(state, principal, query, search.filter, None).await.map(web::Json)
}

async fn contacts_page(
    state: web::Data<AppState>,
    principal: Principal,
    query: ContactListQuery,
    search: Option<serde_json::Value>,
    parent: Option<Parent>,
) -> Result<Page<ContactResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let q = search_query(query.q.as_deref())?;
    let (sort_name, order, descending) = list_order(query.sort.as_deref(), q.is_some())?;
    let after = decode_list_cursor::<ContactId>(query.cursor.as_deref(), &sort_name, order)?;
    let mut filter = ContactFilter {
        client_id: query.client_id,
        owner_id: query.owner_id,
        updated_since: query.updated_since,
        created_since: query.created_since,
        email: query.email.map(|email| email.trim().to_lowercase()),
        phone: None,
        q,
        condition: None,
        id: None,
    };
    let external = by_ref::parse_lookup(query.external_ref.as_deref())?;
    let phone = query.phone;
    let (rows, last_score) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = principal.workspace_id;
        if let Some(parent) = parent {
            parent.ensure_exists(conn, scope)?;
        }
        if let Some(phone) = phone {
            filter.phone = Some(phone_key(conn, workspace, &phone)?);
        }
        if let Some(reference) = &external {
            filter.id = Some(ContactId(by_ref::lookup_id(conn, workspace, RefEntity::Contact, reference)?));
        }
        filter.condition = search
            .map(|search| compile_filter(conn, workspace, CustomEntity::Contact, &search))
            .transpose()?;
        let rows = Contact::list(conn, scope, &filter, order, descending, after, i64::from(limit) + 1)?;
        // A contact person is a piece of their client: the page reads its contacts' clients.
        let mut clients: Vec<ClientId> =
            rows.iter().take(limit as usize).map(|contact| contact.client_id).collect();
        clients.sort_unstable();
        clients.dedup();
        charge_reads(conn, &principal, scope, &clients)?;
        // When another page follows, a relevance cursor carries the score of this page's last row.
        let last_kept = if rows.len() > limit as usize { rows.get(limit as usize - 1) } else { None };
        let last_score = match (&filter.q, order, last_kept) {
            (Some(q), ClientOrder::Relevance, Some(last)) => {
                Some(Contact::relevance(conn, workspace, last.id, q)?)
            }
            _ => None,
        };
        Ok((rows, last_score))
    })
    .await?;
    let key = |contact: &Contact| ListCursor {
        sort: sort_name.clone(),
        key: sort_key(order, contact.updated_at, contact.created_at, &contact.display_name, last_score),
        id: contact.id,
    };
    Ok(Page::from_rows(rows, limit, key, |contact| ContactResponse::from(&contact)))
}

/// List deleted contacts (tombstones), oldest deletion first: for sync and undo.
///
/// Tombstones of soft-deleted contacts, oldest deletion first, from `deleted_since`: for a sync to apply
/// deletions and for undo.
#[utoipa::path(
    tag = "contacts",
    operation_id = "list_deleted_contacts",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/contacts/deleted")]
pub async fn list_deleted_contacts(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, ContactId)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        Ok(Contact::list_deleted(conn, scope, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |contact| {
        (contact.id, contact.deleted_at.unwrap_or(contact.updated_at), contact.deleted_by, contact.version)
    })))
}

/// Get one contact.
///
/// The contact with its emails, phones, messengers, consent and custom values, and the `ETag` header for
/// `If-Match`.
#[utoipa::path(
    tag = "contacts",
    operation_id = "get_contact",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The contact's id")),
    responses((status = 200, description = "The contact", body = ContactResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/contacts/{id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let contact = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        match Contact::find(conn, scope, id).optional()? {
            Some(contact) => Ok(contact),
            None => Err(merged_or_not_found(conn, scope, id)?),
        }
    })
    .await?;
    Ok(contact_http(StatusCode::OK, &contact))
}

/// Why contact `id` isn't there: merged into another (no secret to a caller who sees the
/// tombstone), or simply not found.
fn merged_or_not_found(conn: &mut PgConnection, scope: &ClientScope, id: ContactId) -> QueryResult<ApiError> {
    use crate::db::models::SoftDelete;
    let Some(tombstone) = Contact::find_any(conn, scope.workspace(), id).optional()? else {
        return Ok(ApiError::NotFound);
    };
    Ok(match tombstone.merged_into {
        Some(survivor) if tombstone.is_seen(conn, scope)? => {
            ApiError::MergedAway { entity: "contact", merged_into: survivor.0 }
        }
        _ => ApiError::NotFound,
    })
}

/// Update a contact.
///
/// A partial update: fields left out stay as they are, `null` clears an optional one; the result is checked
/// as a new contact is. `If-Match` refuses overwriting a change made meanwhile (412).
#[utoipa::path(
    tag = "contacts",
    operation_id = "update_contact",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The contact's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateContact,
    responses(
        (status = 200, description = "Updated", body = ContactResponse, headers(("ETag" = String, description = "The record's version"))),
    )
)]
#[patch("/contacts/{id}")]
pub async fn update_contact(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
    if_match: IfMatch,
    body: JsonBody<UpdateContact>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let contact = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let current: Contact = soft_delete::live_for_update(conn, &principal, scope, id)?;
            update_in(conn, &principal, scope, &workspace, current, body.0, &if_match)
        })
    })
    .await?;
    Ok(contact_http(StatusCode::OK, &contact))
}

/// Delete a contact (soft).
///
/// The contact leaves lists and lookups, shows up in `GET /contacts/deleted`, and can be brought back with
/// `POST /contacts/{id}/restore`. `If-Match` refuses the delete if it changed meanwhile (412).
#[utoipa::path(
    tag = "contacts",
    operation_id = "delete_contact",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The contact's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/contacts/{id}")]
pub async fn delete_contact(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            soft_delete::delete(conn, &principal, scope, id, &if_match, |_, _: &Contact, _, changes| {
                Ok(changes)
            })
            .map(drop)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted contact.
///
/// Its client must be live; restoring a live contact changes nothing.
#[utoipa::path(
    tag = "contacts",
    operation_id = "restore_contact",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The contact's id")),
    responses(
        (status = 200, description = "The restored contact", body = ContactResponse,
            headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Its client is deleted: restore the client first", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/contacts/{id}/restore")]
pub async fn restore_contact(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let contact = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            soft_delete::restore(conn, &principal, scope, id, |conn, deleted: &Contact, _, changes| {
                let workspace = principal.workspace_id;
                if let Some(survivor) = deleted.merged_into {
                    return Err(ApiError::conflict(
                        ProblemCode::ContactMerged,
                        format!("this contact was merged into contact {survivor}, which has its records now"),
                    ));
                }
                // Whether the client is live, seen or not: the contact is seen, by its own owner.
                if !Client::exists(conn, &ClientScope::whole_workspace(workspace), deleted.client_id)? {
                    return Err(ApiError::conflict(
                        ProblemCode::ClientDeleted,
                        "the contact's client is deleted: restore the client first",
                    ));
                }
                // Another contact may have become primary meanwhile: it keeps the flag.
                let primary =
                    deleted.is_primary && !Contact::has_live_primary(conn, workspace, deleted.client_id)?;
                let restored =
                    Contact::mark_restored(conn, workspace, id, primary, Utc::now(), principal.user_id)?;
                Ok((restored, changes))
            })
        })
    })
    .await?;
    Ok(contact_http(StatusCode::OK, &contact))
}
