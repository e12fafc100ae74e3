//! Building the contact a create or update stores, its primary flag, and refusing a duplicate.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;

use super::wire::{ContactInput, ContactResponse, UpdateContact};
use crate::api::assignment::{ensure_may_hand_over, resolve_owner};
use crate::api::by_ref;
use crate::api::custom_values::check_custom;
use crate::api::duplicate_elsewhere;
use crate::api::extract::{IfMatch, versioned_http};
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::Principal;
use crate::db::json::Json;
use crate::db::models::SoftDelete;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::models::{Client, Contact, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::Violation;
use crate::domain::client::{Names, person_name, search_text};
use crate::domain::contact_points::{check_messengers, normalise_emails, normalise_phones};
use crate::domain::enums::CustomEntity;
use crate::domain::external_ref::{ExternalRef, normalise_refs};
use crate::domain::text::trimmed;
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::ContactId;

/// Checks `input` and builds the row to store: the only path by which a contact is written.
pub(super) fn build_contact(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
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
            FieldCode::Required,
            "a contact needs a last name or a first name",
        ));
    }
    let emails = normalise_emails("emails", input.emails).map_err(|found| violations.extend(found)).ok();
    let phones = normalise_phones("phones", input.phones, &workspace.default_phone_region)
        .map_err(|found| violations.extend(found))
        .ok();
    let messengers =
        check_messengers("messengers", input.messengers).map_err(|found| violations.extend(found)).ok();
    let external_refs = normalise_refs("external_refs", input.external_refs.clone())
        .map_err(|found| violations.extend(found))
        .ok();
    errors.extend(violations.into_iter().map(FieldError::from));
    let custom = check_custom(conn, workspace.id, CustomEntity::Contact, input.custom.clone(), &mut errors)?;
    let (Some((emails, email_keys)), Some((phones, phone_keys)), Some(messengers), Some(external_refs), true) =
        (emails, phones, messengers, external_refs, errors.is_empty())
    else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    };
    let client_id =
        by_ref::named_client(conn, workspace.id, input.client_id, input.client_ref.as_ref(), "contact")?;
    let keeps_client = existing.is_some_and(|contact| contact.client_id == client_id);
    if !Client::exists(conn, &scope.for_links(keeps_client), client_id)? {
        return Err(ApiError::invalid_field(
            // Named by the field the request named it by.
            if input.client_ref.is_some() { "client_ref" } else { "client_id" },
            FieldCode::NotFound,
            "no such client in this workspace",
        ));
    }
    let owner_id = resolve_owner(conn, workspace.id, principal.user_id, input.owner_id, existing.is_none())?;
    let before = existing.map_or(Some(principal.user_id), |contact| contact.owner_id);
    ensure_may_hand_over(principal, scope, before, owner_id)?;
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
        client_id,
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
        external_refs: Json(external_refs),
        merged_into: None,
        // Consent is recorded through the ledger only (`/contacts/{id}/consents`).
        consents: existing.map(|contact| contact.consents.clone()).unwrap_or_default(),
    })
}

/// Gives the primary flag to `contact` alone among its client's contacts, logging each change.
pub(super) fn take_primary(
    conn: &mut PgConnection,
    principal: &Principal,
    contact: &Contact,
) -> Result<(), ApiError> {
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

/// Refuses a new contact whose email or phone a live contact already has: by its id when the caller
/// sees it, by its owner's name alone when they don't.
pub(super) fn ensure_not_duplicate(
    conn: &mut PgConnection,
    scope: &ClientScope,
    contact: &Contact,
) -> Result<(), ApiError> {
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
    if !other.is_seen(conn, scope)? {
        return Err(duplicate_elsewhere(conn, contact.workspace_id, "contact", other.owner_id, what)?);
    }
    Err(ApiError::Duplicate {
        detail: format!(
            "contact {} ({}) has {what} of this one; repeat with ?allow_duplicate=true to create it anyway",
            other.id, other.display_name
        ),
        conflicting_id: other.id.0,
    })
}

pub(super) fn snapshot(contact: &Contact) -> serde_json::Value {
    to_json(&ContactResponse::from(contact))
}

pub(super) fn contact_http(status: StatusCode, contact: &Contact) -> HttpResponse {
    versioned_http(status, contact.version, "contacts", contact.id, &ContactResponse::from(contact))
}

/// Stores a new contact from `input`: the one way a contact comes to be, posted or upserted.
pub(super) fn create_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    input: ContactInput,
    allow_duplicate: bool,
) -> Result<Contact, ApiError> {
    let contact = build_contact(conn, principal, scope, workspace, input, None)?;
    insert_new(conn, principal, scope, contact, allow_duplicate)
}

/// Stores `contact`, built and checked, unless a live contact has its email or phone or another
/// contact one of its refs.
fn insert_new(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    contact: Contact,
    allow_duplicate: bool,
) -> Result<Contact, ApiError> {
    if !allow_duplicate {
        ensure_not_duplicate(conn, scope, &contact)?;
    }
    ensure_refs_free(conn, &contact, None)?;
    take_primary(conn, principal, &contact)?;
    let contact = contact.insert(conn)?;
    index_refs(conn, &contact)?;
    let changes = ChangeSet::default().diff(None, &snapshot(&contact), BOOKKEEPING);
    record_change(conn, principal, "contact", contact.id.0, "created", contact.version, changes)?;
    Ok(contact)
}

/// Applies `change` to `current` (live and locked by the caller): the contact as it is now,
/// unwritten (same version, no change event) when the change changes nothing.
pub(super) fn update_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    current: Contact,
    change: UpdateContact,
    if_match: &IfMatch,
) -> Result<Contact, ApiError> {
    let mut input = ContactInput::from(&current);
    change.apply_to(&mut input);
    let candidate = build_contact(conn, principal, scope, workspace, input, Some(&current))?;
    // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
    if_match.check(current.version)?;
    let changes = ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&candidate), BOOKKEEPING);
    if changes.is_empty() {
        return Ok(current);
    }
    ensure_refs_free(conn, &candidate, Some(&current))?;
    take_primary(conn, principal, &candidate)?;
    let contact = candidate.save(conn)?;
    if contact.external_refs != current.external_refs {
        index_refs(conn, &contact)?;
    }
    record_change(conn, principal, "contact", contact.id.0, "updated", contact.version, changes)?;
    Ok(contact)
}

/// Creates or updates the contact `reference` names (see `upsert_contact_by_ref`).
#[allow(clippy::too_many_arguments)]
pub(super) fn upsert_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    reference: ExternalRef,
    mut change: UpdateContact,
    if_match: &IfMatch,
    allow_duplicate: bool,
) -> Result<(StatusCode, Contact), ApiError> {
    match by_ref::claim(conn, workspace.id, RefEntity::Contact, &reference)? {
        Some(id) => {
            let current = by_ref::held_for_upsert(conn, principal, scope, ContactId(id), "contacts")?;
            by_ref::keep_path_ref(&mut change.external_refs, &reference);
            Ok((StatusCode::OK, update_in(conn, principal, scope, workspace, current, change, if_match)?))
        }
        None => {
            by_ref::require_for_create(
                &[("client_id", change.client_id.is_some() || change.client_ref.is_some())],
                "contact",
            )?;
            let refs = change.external_refs.take();
            let mut input = ContactInput::default();
            change.apply_to(&mut input);
            input.external_refs = by_ref::with_path_ref(refs, reference);
            let contact = build_contact(conn, principal, scope, workspace, input, None)?;
            // After the checks of the body and before those against stored records, as on an
            // update (RFC 9110, 13.2.1): an If-Match names a version no new contact has.
            if_match.check_absent()?;
            let contact = insert_new(conn, principal, scope, contact, allow_duplicate)?;
            Ok((StatusCode::CREATED, contact))
        }
    }
}

/// Makes the ref index hold exactly the contact's refs.
fn index_refs(conn: &mut PgConnection, contact: &Contact) -> QueryResult<()> {
    external_ref::sync(conn, contact.workspace_id, RefEntity::Contact, contact.id.0, &contact.external_refs.0)
}

fn ensure_refs_free(
    conn: &mut PgConnection,
    contact: &Contact,
    before: Option<&Contact>,
) -> Result<(), ApiError> {
    by_ref::ensure_refs_free(
        conn,
        contact.workspace_id,
        RefEntity::Contact,
        contact.id.0,
        &contact.external_refs.0,
        before.map(|before| before.external_refs.0.as_slice()),
    )
}
