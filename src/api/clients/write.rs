//! Building the client a create or update stores, and refusing a duplicate.

use actix_web::HttpResponse;
use chrono::{SubsecRound, Utc};

use super::store::ClientStore;
use super::wire::{ClientInput, ClientResponse, UpdateClient};
use crate::api::BOOKKEEPING;
use crate::api::assignment::{Requested, ensure_may_hand_over};
use crate::api::by_ref;
use crate::api::custom_values::check_custom_by;
use crate::api::duplicate_elsewhere;
use crate::api::extract::IfMatch;
use crate::api::extract::versioned_http;
use crate::api::to_json;
use crate::auth::Principal;
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Client, Workspace};
use crate::db::models::{client_stats, sales_line};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::Violation;
use crate::domain::client::{Names, check_kind_fields, display_name, normalise_tags, search_text};
use crate::domain::contact_points::{ContactPoint, normalise_emails, normalise_phones};
use crate::domain::enums::{LifecycleStage, Relationship};
use crate::domain::external_ref::{ExternalRef, normalise_refs};
use crate::domain::lifecycle;
use crate::domain::text::trimmed;
use crate::error::ProblemCode;
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::ClientId;
use actix_web::http::StatusCode;

/// Checks `input` and builds the row to store: the only path by which a client is written.
pub(super) fn build_client(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    input: ClientInput,
    existing: Option<&Client>,
) -> Result<Client, ApiError> {
    let fields = check_fields(store, workspace, &input)?;
    let requested =
        Requested { owner_id: input.owner_id, team_id: input.team_id, is_new: existing.is_none() };
    let assignment = store.assignment(principal.user_id, requested)?;
    let before = existing.map_or(Some(principal.user_id), |client| client.owner_id);
    ensure_may_hand_over(principal, scope, before, assignment.owner_id)?;
    let lifecycle = lifecycle_of(store, workspace, &input, existing)?;

    let names = fields.names;
    let display_name_override = trimmed(input.display_name);
    let display_name = display_name(input.kind, names.as_names(), display_name_override.as_deref());
    let search_text = search_text(
        [display_name.as_str(), names.legal_name.as_deref().unwrap_or_default()]
            .into_iter()
            .chain(fields.email_keys.iter().map(String::as_str))
            .chain(fields.phone_keys.iter().map(String::as_str)),
    );
    // In the database's precision, so that a batch's client, written later, answers as stored.
    let now = Utc::now().trunc_subsecs(6);
    Ok(Client {
        workspace_id: workspace.id,
        id: existing.map_or_else(ClientId::generate, |client| client.id),
        kind: input.kind.as_str().to_string(),
        display_name,
        display_name_override,
        last_name: names.last_name,
        first_name: names.first_name,
        middle_name: names.middle_name,
        birth_date: input.birth_date,
        gender: input.gender.map(|gender| gender.as_str().to_string()),
        name: names.name,
        legal_name: names.legal_name,
        registration_number: names.registration_number,
        industry: names.industry,
        tax_id: trimmed(input.tax_id),
        website: trimmed(input.website),
        relationship: input.relationship.unwrap_or(Relationship::Prospect).as_str().to_string(),
        lifecycle_stage: lifecycle.stage.as_str().to_string(),
        source: input.source.map(|source| source.as_str().to_string()),
        owner_id: assignment.owner_id,
        team_id: assignment.team_id,
        emails: Json(fields.emails),
        phones: Json(fields.phones),
        email_keys: fields.email_keys,
        phone_keys: fields.phone_keys,
        address: input.address.map(Json),
        tags: fields.tags,
        notes: trimmed(input.notes),
        consent: input.consent.map(Json),
        search_text,
        version: existing.map_or(1, |client| client.version + 1),
        created_at: existing.map_or(now, |client| client.created_at),
        updated_at: now,
        created_by: existing.map_or(Some(principal.user_id), |client| client.created_by),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom: fields.custom,
        external_refs: Json(fields.external_refs),
        merged_into: None,
        // Consent is recorded through the ledger only (`/clients/{id}/consents`).
        consents: existing.map(|client| client.consents.clone()).unwrap_or_default(),
        lifecycle_set_by_hand: lifecycle.set_by_hand,
    })
}

/// A client's lifecycle stage as a write leaves it, and whether a user set it.
struct Lifecycle {
    stage: LifecycleStage,
    set_by_hand: bool,
}

/// The stage `input` gives, set by hand when it names one (unless `lifecycle_auto` says otherwise);
/// a stage handed back to the purchases (or a new client's, who has none) is what they say now.
fn lifecycle_of(
    store: &mut impl ClientStore,
    workspace: &Workspace,
    input: &ClientInput,
    existing: Option<&Client>,
) -> Result<Lifecycle, ApiError> {
    let set_by_hand = !input.lifecycle_auto.unwrap_or(input.lifecycle_stage.is_none());
    let stage = input.lifecycle_stage.unwrap_or(LifecycleStage::Lead);
    if set_by_hand || existing.is_some_and(|client| !client.lifecycle_set_by_hand) {
        return Ok(Lifecycle { stage, set_by_hand });
    }
    let (won_count, last_purchase_at) = match existing {
        Some(client) => client_stats::purchases(store.conn(), workspace.id, client.id)?,
        None => (0, None),
    };
    let stage =
        lifecycle::derived(stage, won_count, last_purchase_at, Utc::now(), workspace.lifecycle_rules());
    Ok(Lifecycle { stage, set_by_hand })
}

/// Creates a client from `input`: the one way a client comes to be, whether posted or upserted.
pub(super) fn create_in(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    input: ClientInput,
    allow_duplicate: bool,
) -> Result<Client, ApiError> {
    let client = build_client(store, principal, scope, workspace, input, None)?;
    insert_new(store, principal, scope, client, allow_duplicate)
}

/// Stores `client`, built and checked, unless a live client looks like the same one or another
/// client has one of its refs.
fn insert_new(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    client: Client,
    allow_duplicate: bool,
) -> Result<Client, ApiError> {
    if !allow_duplicate {
        ensure_not_duplicate(store, scope, &client)?;
    }
    ensure_refs_free(store, &client, None)?;
    let client = store.insert(client)?;
    store.sync_name_words(&client)?;
    store.sync_refs(&client, None)?;
    let changes = ChangeSet::default().diff(None, &snapshot(&client), BOOKKEEPING);
    store.record_change(principal, &client, "created", changes)?;
    Ok(client)
}

/// Applies `change` to the live client `current` (locked by the caller): the client as it is now,
/// unwritten (same version, no change event) when the change changes nothing.
pub(super) fn update_in(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    current: Client,
    change: UpdateClient,
    if_match: &IfMatch,
) -> Result<Client, ApiError> {
    let mut input = ClientInput::from(&current);
    change.apply_to(&mut input)?;
    let candidate = build_client(store, principal, scope, workspace, input, Some(&current))?;
    // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
    if_match.check(current.version)?;
    let changes = ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&candidate), BOOKKEEPING);
    if changes.is_empty() {
        return Ok(current);
    }
    ensure_refs_free(store, &candidate, Some(&current))?;
    let client = store.save(candidate)?;
    if client.search_text != current.search_text {
        store.sync_name_words(&client)?;
    }
    if client.external_refs != current.external_refs {
        store.sync_refs(&client, Some(&current))?;
    }
    if client.kind != current.kind {
        // Reports split sales by the kind of client.
        sales_line::recompute(store.conn(), client.workspace_id, [Some(client.id)])?;
    }
    store.record_change(principal, &client, "updated", changes)?;
    Ok(client)
}

/// Creates or updates the client `reference` names (see `upsert_client_by_ref`): 201 with the new
/// client, or 200 with the updated (or unchanged) one.
#[allow(clippy::too_many_arguments)]
pub(super) fn upsert_in(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    reference: ExternalRef,
    mut change: UpdateClient,
    if_match: &IfMatch,
    allow_duplicate: bool,
) -> Result<(StatusCode, Client), ApiError> {
    store.lock_ref(&reference)?;
    match store.record_of(&reference)? {
        Some(id) => {
            let current = held_for_upsert(store, principal, scope, id)?;
            by_ref::keep_path_ref(&mut change.external_refs, &reference);
            Ok((StatusCode::OK, update_in(store, principal, scope, workspace, current, change, if_match)?))
        }
        None => {
            let kind = change.kind.ok_or_else(|| {
                ApiError::invalid_field(
                    "kind",
                    FieldCode::Required,
                    "no client has this ref yet: a new one needs its kind",
                )
            })?;
            let mut input = ClientInput::blank(kind)?;
            change.apply_to(&mut input)?;
            if !input.external_refs.contains(&reference) {
                input.external_refs.push(reference);
            }
            let client = build_client(store, principal, scope, workspace, input, None)?;
            // After the checks of the body and before those against stored records, as on an
            // update (RFC 9110, 13.2.1): an If-Match names a version no new client has.
            if_match.check_absent()?;
            Ok((StatusCode::CREATED, insert_new(store, principal, scope, client, allow_duplicate)?))
        }
    }
}

/// The live client `id` that holds the ref being upserted, locked: one the caller doesn't see, or a
/// deleted one, can't take the upsert, and creating another would break the ref's uniqueness.
fn held_for_upsert(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    id: ClientId,
) -> Result<Client, ApiError> {
    if !store.is_seen(scope, id)? {
        return Err(ApiError::conflict(
            ProblemCode::ExternalRefTaken,
            "a client you don't see has this external ref",
        ));
    }
    match store.live_for_update(principal, scope, id) {
        Err(ApiError::NotFound) => Err(ApiError::conflict(
            ProblemCode::ClientDeleted,
            format!(
                "client {id}, which has this external ref, is deleted: restore it with POST /clients/{id}/restore"
            ),
        )),
        found => found,
    }
}

/// Refuses refs of `client` that another client holds.
fn ensure_refs_free(
    store: &mut impl ClientStore,
    client: &Client,
    before: Option<&Client>,
) -> Result<(), ApiError> {
    let refs = &client.external_refs.0;
    if before.is_some_and(|before| &before.external_refs.0 == refs) {
        return Ok(());
    }
    if let Some((taken, _)) = store.ref_held_elsewhere(client.id, refs)? {
        return Err(ApiError::conflict(
            ProblemCode::ExternalRefTaken,
            format!("another client has the external ref {}:{}", taken.system, taken.id),
        ));
    }
    Ok(())
}

/// A client's name fields without the whitespace around them; blank ones absent.
struct TrimmedNames {
    last_name: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    name: Option<String>,
    legal_name: Option<String>,
    registration_number: Option<String>,
    industry: Option<String>,
}

impl TrimmedNames {
    fn of(input: &ClientInput) -> Self {
        Self {
            last_name: trimmed(input.last_name.as_ref()),
            first_name: trimmed(input.first_name.as_ref()),
            middle_name: trimmed(input.middle_name.as_ref()),
            name: trimmed(input.name.as_ref()),
            legal_name: trimmed(input.legal_name.as_ref()),
            registration_number: trimmed(input.registration_number.as_ref()),
            industry: trimmed(input.industry.as_ref()),
        }
    }

    fn as_names(&self) -> Names<'_> {
        Names {
            last_name: self.last_name.as_deref(),
            first_name: self.first_name.as_deref(),
            middle_name: self.middle_name.as_deref(),
            name: self.name.as_deref(),
        }
    }
}

/// A client's fields that are checked on their own, normalised.
struct CheckedFields {
    names: TrimmedNames,
    emails: Vec<ContactPoint>,
    email_keys: Vec<String>,
    phones: Vec<ContactPoint>,
    phone_keys: Vec<String>,
    tags: Vec<String>,
    custom: serde_json::Value,
    external_refs: Vec<ExternalRef>,
}

/// Every broken rule at once: validator's, then the domain's (which fields a person or a company
/// has, emails, phones, tags), then the custom values'.
fn check_fields(
    store: &mut impl ClientStore,
    workspace: &Workspace,
    input: &ClientInput,
) -> Result<CheckedFields, ApiError> {
    let mut errors = field_errors(input);
    let names = TrimmedNames::of(input);
    let mut violations: Vec<Violation> = check_kind_fields(
        input.kind,
        names.as_names(),
        // Sent at all, blank or not: the document says the other kind's fields are null or absent.
        &[
            ("name", input.name.is_some()),
            ("legal_name", input.legal_name.is_some()),
            ("registration_number", input.registration_number.is_some()),
            ("industry", input.industry.is_some()),
        ],
        &[
            ("last_name", input.last_name.is_some()),
            ("first_name", input.first_name.is_some()),
            ("middle_name", input.middle_name.is_some()),
            ("birth_date", input.birth_date.is_some()),
            ("gender", input.gender.is_some()),
        ],
    );
    let emails =
        normalise_emails("emails", input.emails.clone()).map_err(|found| violations.extend(found)).ok();
    let phones = normalise_phones("phones", input.phones.clone(), &workspace.default_phone_region)
        .map_err(|found| violations.extend(found))
        .ok();
    let tags = normalise_tags(input.tags.clone()).map_err(|found| violations.extend(found)).ok();
    let external_refs = normalise_refs("external_refs", input.external_refs.clone())
        .map_err(|found| violations.extend(found))
        .ok();
    errors.extend(violations.into_iter().map(FieldError::from));
    let rules = store.custom_rules()?;
    let custom = check_custom_by(&rules, &workspace.default_phone_region, input.custom.clone(), &mut errors);
    let (Some((emails, email_keys)), Some((phones, phone_keys)), Some(tags), Some(external_refs), true) =
        (emails, phones, tags, external_refs, errors.is_empty())
    else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    };
    Ok(CheckedFields { names, emails, email_keys, phones, phone_keys, tags, custom, external_refs })
}

/// Refuses a new client whose email, phone or tax id a live client already has: by its id when the
/// caller sees it, by its owner's name alone when they don't.
fn ensure_not_duplicate(
    store: &mut impl ClientStore,
    scope: &ClientScope,
    client: &Client,
) -> Result<(), ApiError> {
    let found = store.duplicates_of(client)?;
    let Some(other) = found.first() else { return Ok(()) };
    let shares = |mine: &[String], theirs: &[String]| mine.iter().any(|key| theirs.contains(key));
    let what = if shares(&client.email_keys, &other.email_keys) {
        "an email"
    } else if shares(&client.phone_keys, &other.phone_keys) {
        "a phone"
    } else {
        "the tax id"
    };
    if !scope.admits_client(other.id, other.owner_id) {
        return Err(duplicate_elsewhere(store.conn(), client.workspace_id, "client", other.owner_id, what)?);
    }
    Err(ApiError::Duplicate {
        detail: format!(
            "client {} ({}) has {what} of this one; repeat with ?allow_duplicate=true to create it anyway",
            other.id, other.display_name
        ),
        conflicting_id: other.id.0,
    })
}

pub(super) fn snapshot(client: &Client) -> serde_json::Value {
    to_json(&ClientResponse::from(client))
}

pub(super) fn client_http(status: actix_web::http::StatusCode, client: &Client) -> HttpResponse {
    versioned_http(status, client.version, "clients", client.id, &ClientResponse::from(client))
}
