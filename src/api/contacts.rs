//! Contacts: the people acting for a client, with lookups by email and phone and fuzzy search.
//! Lists, cursors, tombstones and the change log work as for clients.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::assignment::resolve_owner;
use crate::api::clients::CreateClientQuery;
use crate::api::custom_values::check_custom;
use crate::api::extract::{
    IfMatch, JsonBody, Page, decode_cursor, not_null, nullable, page_limit, versioned_http,
};
use crate::api::listing::{
    DeletedQuery, ListCursor, Tombstone, decode_list_cursor, list_order, phone_key, search_query, sort_key,
    tombstone_page,
};
use crate::api::search::{SearchRequest, compile_filter};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, Parent, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client::ClientOrder;
use crate::db::models::contact::ContactFilter;
use crate::db::models::{Client, Contact, Workspace};
use crate::domain::Violation;
use crate::domain::client::{Names, person_name, search_text};
use crate::domain::contact_points::{
    Consent, ContactPoint, Messenger, check_messengers, normalise_emails, normalise_phones,
};
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::enums::CustomEntity;
use crate::domain::text::trimmed;
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::{ClientId, ContactId, UserId};
use crate::state::AppState;

/// A contact as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactResponse {
    pub id: ContactId,
    pub client_id: ClientId,
    /// "Last First Middle".
    #[schema(example = "Петрова Анна Сергеевна")]
    pub display_name: String,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    #[schema(example = "Chief accountant")]
    pub position: Option<String>,
    pub emails: Vec<ContactPoint>,
    /// Phones in E.164.
    pub phones: Vec<ContactPoint>,
    pub messengers: Vec<Messenger>,
    /// The client's main contact; at most one per client.
    pub is_primary: bool,
    pub notes: Option<String>,
    pub owner_id: Option<UserId>,
    pub consent: Option<Consent>,
    /// The workspace's custom fields: `{key: value}` (see `/custom-fields`).
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

impl From<&Contact> for ContactResponse {
    fn from(contact: &Contact) -> Self {
        Self {
            id: contact.id,
            client_id: contact.client_id,
            display_name: contact.display_name.clone(),
            last_name: contact.last_name.clone(),
            first_name: contact.first_name.clone(),
            middle_name: contact.middle_name.clone(),
            position: contact.position.clone(),
            emails: contact.emails.0.clone(),
            phones: contact.phones.0.clone(),
            messengers: contact.messengers.0.clone(),
            is_primary: contact.is_primary,
            notes: contact.notes.clone(),
            owner_id: contact.owner_id,
            consent: contact.consent.as_ref().map(|consent| consent.0.clone()),
            custom: contact.custom.clone(),
            version: contact.version,
            created_at: contact.created_at,
            updated_at: contact.updated_at,
            created_by: contact.created_by,
            updated_by: contact.updated_by,
        }
    }
}

/// A contact to create; also what an update is merged into before the same checks run.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// The client this person acts for (required).
    pub client_id: ClientId,
    /// A contact needs a last or a first name.
    #[validate(length(max = 200))]
    #[schema(example = "Петрова", max_length = 200)]
    pub last_name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Анна", max_length = 200)]
    pub first_name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Сергеевна", max_length = 200)]
    pub middle_name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Chief accountant", max_length = 200)]
    pub position: Option<String>,
    #[serde(default)]
    pub emails: Vec<ContactPoint>,
    /// Any format; stored in E.164.
    #[serde(default)]
    pub phones: Vec<ContactPoint>,
    #[serde(default)]
    pub messengers: Vec<Messenger>,
    /// Makes this the client's primary contact, taking the flag from the previous one.
    #[serde(default)]
    pub is_primary: bool,
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// The responsible user; the creator when omitted.
    pub owner_id: Option<UserId>,
    #[validate(nested)]
    pub consent: Option<Consent>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: CustomValues,
}

impl From<&Contact> for ContactInput {
    fn from(contact: &Contact) -> Self {
        let response = ContactResponse::from(contact);
        Self {
            client_id: response.client_id,
            last_name: response.last_name,
            first_name: response.first_name,
            middle_name: response.middle_name,
            position: response.position,
            emails: response.emails,
            phones: response.phones,
            messengers: response.messengers,
            is_primary: response.is_primary,
            notes: response.notes,
            owner_id: response.owner_id,
            consent: response.consent,
            custom: custom_of(&contact.custom),
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field (an empty list for lists).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateContact {
    /// Moves the contact to another client.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub middle_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub position: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ContactPoint>>)]
    pub emails: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ContactPoint>>)]
    pub phones: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<Messenger>>)]
    pub messengers: Option<Option<Vec<Messenger>>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub is_primary: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Consent>)]
    pub consent: Option<Option<Consent>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<Object>)]
    pub custom: Option<CustomValues>,
}

impl UpdateContact {
    fn apply_to(self, input: &mut ContactInput) {
        macro_rules! set {
            ($($field:ident),+) => { $(if let Some(value) = self.$field { input.$field = value; })+ };
        }
        set!(last_name, first_name, middle_name, position, notes, owner_id, consent, client_id, is_primary);
        if let Some(emails) = self.emails {
            input.emails = emails.unwrap_or_default();
        }
        if let Some(phones) = self.phones {
            input.phones = phones.unwrap_or_default();
        }
        if let Some(messengers) = self.messengers {
            input.messengers = messengers.unwrap_or_default();
        }
        merge_custom(&mut input.custom, self.custom);
    }
}

/// Checks `input` and builds the row to store: the only path by which a contact is written.
fn build_contact(
    conn: &mut PgConnection,
    principal: &Principal,
    workspace: &Workspace,
    input: ContactInput,
    existing: Option<&Contact>,
) -> Result<Contact, ApiError> {
    // Every broken rule is reported at once: validator's, then the domain's.
    let mut errors = field_errors(&input);
    let (last_name, first_name, middle_name) =
        (trimmed(input.last_name), trimmed(input.first_name), trimmed(input.middle_name));
    let mut violations: Vec<Violation> = Vec::new();
    if last_name.is_none() && first_name.is_none() {
        violations.push(Violation::new(
            "last_name",
            "required",
            "a contact needs a last name or a first name",
        ));
    }
    let emails = normalise_emails("emails", input.emails).map_err(|found| violations.extend(found)).ok();
    let phones = normalise_phones("phones", input.phones, &workspace.default_phone_region)
        .map_err(|found| violations.extend(found))
        .ok();
    let messengers =
        check_messengers("messengers", input.messengers).map_err(|found| violations.extend(found)).ok();
    errors.extend(violations.into_iter().map(FieldError::from));
    let custom = check_custom(conn, workspace.id, CustomEntity::Contact, input.custom.clone(), &mut errors)?;
    let (Some((emails, email_keys)), Some((phones, phone_keys)), Some(messengers), true) =
        (emails, phones, messengers, errors.is_empty())
    else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    };
    if !Client::exists(conn, workspace.id, input.client_id)? {
        return Err(ApiError::invalid_field("client_id", "not_found", "no such client in this workspace"));
    }
    let owner_id = resolve_owner(conn, workspace.id, principal.user_id, input.owner_id, existing.is_none())?;
    let display_name = person_name(Names {
        last_name: last_name.as_deref(),
        first_name: first_name.as_deref(),
        middle_name: middle_name.as_deref(),
        name: None,
    });
    let search_text = search_text(
        [display_name.as_str()]
            .into_iter()
            .chain(email_keys.iter().map(String::as_str))
            .chain(phone_keys.iter().map(String::as_str)),
    );
    let now = Utc::now();
    Ok(Contact {
        workspace_id: workspace.id,
        id: existing.map_or_else(ContactId::generate, |contact| contact.id),
        client_id: input.client_id,
        display_name,
        last_name,
        first_name,
        middle_name,
        position: trimmed(input.position),
        emails: Json(emails),
        phones: Json(phones),
        messengers: Json(messengers),
        email_keys,
        phone_keys,
        is_primary: input.is_primary,
        notes: trimmed(input.notes),
        owner_id,
        consent: input.consent.map(Json),
        search_text,
        version: existing.map_or(1, |contact| contact.version + 1),
        created_at: existing.map_or(now, |contact| contact.created_at),
        updated_at: now,
        created_by: existing.map_or(Some(principal.user_id), |contact| contact.created_by),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom,
    })
}

/// Gives the primary flag to `contact` alone among its client's contacts, logging each change.
fn take_primary(conn: &mut PgConnection, principal: &Principal, contact: &Contact) -> Result<(), ApiError> {
    if !contact.is_primary {
        return Ok(());
    }
    for previous in
        Contact::clear_primary(conn, contact.workspace_id, contact.client_id, contact.id, principal.user_id)?
    {
        let changes = ChangeSet::default().field("is_primary", Some(&true), &false);
        record_change(conn, principal, "contact", previous.id.0, "updated", previous.version, changes)?;
    }
    Ok(())
}

fn ensure_not_duplicate(conn: &mut PgConnection, contact: &Contact) -> Result<(), ApiError> {
    let found = Contact::find_duplicates(
        conn,
        contact.workspace_id,
        &contact.email_keys,
        &contact.phone_keys,
        contact.id,
    )?;
    let Some(other) = found.first() else { return Ok(()) };
    let what = if contact.email_keys.iter().any(|key| other.email_keys.contains(key)) {
        "an email"
    } else {
        "a phone"
    };
    Err(ApiError::Duplicate {
        detail: format!(
            "contact {} ({}) has {what} of this one; repeat with ?allow_duplicate=true to create it anyway",
            other.id, other.display_name
        ),
        conflicting_id: other.id.0,
    })
}

fn snapshot(contact: &Contact) -> serde_json::Value {
    to_json(&ContactResponse::from(contact))
}

fn contact_http(status: StatusCode, contact: &Contact) -> HttpResponse {
    versioned_http(status, contact.version, "contacts", contact.id, &ContactResponse::from(contact))
}

/// Create a contact.
///
/// A contact whose email or phone already belongs to a live contact is refused with 409
/// `duplicate` naming that contact, unless `allow_duplicate=true`.
#[utoipa::path(
    tag = "contacts",
    operation_id = "create_contact",
    security(("bearer" = [])),
    params(CreateClientQuery),
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
    query: web::Query<CreateClientQuery>,
    body: JsonBody<ContactInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let allow_duplicate = query.allow_duplicate.unwrap_or(false);
    let contact = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let contact = build_contact(conn, &principal, &workspace, body.0, None)?;
            if !allow_duplicate {
                ensure_not_duplicate(conn, &contact)?;
            }
            take_primary(conn, &principal, &contact)?;
            let contact = contact.insert(conn)?;
            let changes = ChangeSet::default().diff(None, &snapshot(&contact), BOOKKEEPING);
            record_change(conn, &principal, "contact", contact.id.0, "created", contact.version, changes)?;
            Ok(contact)
        })
    })
    .await?;
    Ok(contact_http(StatusCode::CREATED, &contact))
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
    #[param(example = "display_name")]
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
    pub phone: Option<String>,
    /// Fuzzy search over names, emails and phones.
    pub q: Option<String>,
}

/// List contacts, with filters, lookups and fuzzy search.
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

/// The contacts of one client, primary first... as any contact list: `client_id` is fixed.
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

/// Search contacts with the filter language: `{filter, sort, limit, cursor}`. An unknown field, an
/// operator the field doesn't take or a bad value is a 422 naming its path (`filter.all[1].op`).
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
    };
    let phone = query.phone;
    let (rows, last_score) = run_as(principal.caller(), &state.pool, move |conn| {
        let workspace = principal.workspace_id;
        if let Some(parent) = parent {
            parent.ensure_exists(conn, workspace)?;
        }
        if let Some(phone) = phone {
            filter.phone = Some(phone_key(conn, workspace, &phone)?);
        }
        filter.condition = search
            .map(|search| compile_filter(conn, workspace, CustomEntity::Contact, &search))
            .transpose()?;
        let rows = Contact::list(conn, workspace, &filter, order, descending, after, i64::from(limit) + 1)?;
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
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Contact::list_deleted(conn, principal.workspace_id, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |contact| {
        (contact.id, contact.deleted_at.unwrap_or(contact.updated_at), contact.deleted_by, contact.version)
    })))
}

/// Get one contact.
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
    let contact = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Contact::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(contact_http(StatusCode::OK, &contact))
}

/// Update a contact: a partial update, checked like a new contact.
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
    let contact = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let current: Contact = soft_delete::live_for_update(conn, principal.workspace_id, id)?;
            let mut input = ContactInput::from(&current);
            body.0.apply_to(&mut input);
            let candidate = build_contact(conn, &principal, &workspace, input, Some(&current))?;
            // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
            if_match.check(current.version)?;
            let changes =
                ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&candidate), BOOKKEEPING);
            if changes.is_empty() {
                return Ok(current);
            }
            take_primary(conn, &principal, &candidate)?;
            let contact = candidate.save(conn)?;
            record_change(conn, &principal, "contact", id.0, "updated", contact.version, changes)?;
            Ok(contact)
        })
    })
    .await?;
    Ok(contact_http(StatusCode::OK, &contact))
}

/// Delete a contact (soft): restorable with `POST /contacts/{id}/restore`.
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
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            soft_delete::delete(conn, &principal, id, &if_match, |_, _: &Contact, _, changes| Ok(changes))
                .map(drop)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted contact. Its client must be live; restoring a live contact changes nothing.
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
    let contact = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            soft_delete::restore(conn, &principal, id, |conn, deleted: &Contact, _, changes| {
                let workspace = principal.workspace_id;
                if !Client::exists(conn, workspace, deleted.client_id)? {
                    return Err(ApiError::conflict(
                        "client_deleted",
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
