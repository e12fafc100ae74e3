//! Building the contact a create or update stores, its primary flag, and refusing a duplicate.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;

use super::wire::{ContactInput, ContactResponse};
use crate::api::assignment::{ensure_may_hand_over, resolve_owner};
use crate::api::custom_values::check_custom;
use crate::api::duplicate_elsewhere;
use crate::api::extract::versioned_http;
use crate::api::{record_change, to_json};
use crate::auth::Principal;
use crate::db::json::Json;
use crate::db::models::SoftDelete;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Client, Contact, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::Violation;
use crate::domain::client::{Names, person_name, search_text};
use crate::domain::contact_points::{check_messengers, normalise_emails, normalise_phones};
use crate::domain::enums::CustomEntity;
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
    errors.extend(violations.into_iter().map(FieldError::from));
    let custom = check_custom(conn, workspace.id, CustomEntity::Contact, input.custom.clone(), &mut errors)?;
    let (Some((emails, email_keys)), Some((phones, phone_keys)), Some(messengers), true) =
        (emails, phones, messengers, errors.is_empty())
    else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    };
    let keeps_client = existing.is_some_and(|contact| contact.client_id == input.client_id);
    if !Client::exists(conn, &scope.for_links(keeps_client), input.client_id)? {
        return Err(ApiError::invalid_field(
            "client_id",
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
