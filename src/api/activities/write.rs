//! Building the activity a create or update stores, and inserting a new one.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;

use super::wire::{ActivityInput, ActivityResponse, StoredStatus, UpdateActivity};
use crate::api::by_ref;
use crate::api::custom_values::check_custom;
use crate::api::extract::{IfMatch, versioned_http};
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::Principal;
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::models::{Activity, Client, Contact, Deal, User};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::activity as activity_rules;
use crate::domain::enums::CustomEntity;
use crate::domain::external_ref::{ExternalRef, normalise_refs};
use crate::domain::text::{non_blank, trimmed};
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::{ActivityId, ClientId};

/// Checks `input` and builds the row to store: the only path by which an activity is written.
pub(super) fn build_activity(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    input: ActivityInput,
    existing: Option<&Activity>,
) -> Result<Activity, ApiError> {
    let mut errors = field_errors(&input);
    let external_refs = normalise_refs("external_refs", input.external_refs.clone())
        .map_err(|found| errors.extend(found.into_iter().map(FieldError::from)))
        .unwrap_or_default();
    let custom = check_custom(
        conn,
        principal.workspace_id,
        CustomEntity::Activity,
        input.custom.clone(),
        &mut errors,
    )?;
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    }
    let keeps_links = existing.is_some_and(|activity| {
        (activity.client_id, activity.contact_id, activity.deal_id)
            == (input.client_id, input.contact_id, input.deal_id)
    });
    let client_id = linked_client(conn, &scope.for_links(keeps_links), &input)?;
    let assignee_id = input.assignee_id.unwrap_or(principal.user_id);
    // An API key may be assigned what it logs itself (a telephony key its calls).
    if User::find_principal(conn, principal.workspace_id, assignee_id).optional()?.is_none() {
        return Err(ApiError::invalid_field(
            "assignee_id",
            FieldCode::NotFound,
            "no such user in this workspace",
        ));
    }

    let now = Utc::now();
    let status = input.status.unwrap_or(StoredStatus::Planned);
    let completed_at = activity_rules::completed_at(status == StoredStatus::Done, input.completed_at, now);
    let reminder_kept = existing
        .filter(|activity| activity_rules::keeps_reminder_state(activity.reminder_at, input.reminder_at));
    Ok(Activity {
        workspace_id: principal.workspace_id,
        id: existing.map_or_else(ActivityId::generate, |activity| activity.id),
        kind: input.kind.as_str().to_string(),
        direction: input.direction.map(|direction| direction.as_str().to_string()),
        channel: input.channel.map(|channel| channel.as_str().to_string()),
        reason: input.reason.map(|reason| reason.as_str().to_string()),
        subject: non_blank("subject", &input.subject)?,
        body: trimmed(input.body),
        outcome: trimmed(input.outcome),
        due_at: input.due_at,
        reminder_at: input.reminder_at,
        reminder_fired_at: reminder_kept.and_then(|activity| activity.reminder_fired_at),
        reminder_acked_at: reminder_kept.and_then(|activity| activity.reminder_acked_at),
        duration_seconds: input.duration_seconds,
        status: match status {
            StoredStatus::Planned => "planned",
            StoredStatus::Done => "done",
            StoredStatus::Cancelled => "cancelled",
        }
        .to_string(),
        completed_at,
        assignee_id,
        client_id,
        contact_id: input.contact_id,
        deal_id: input.deal_id,
        external_ref: trimmed(input.external_ref),
        recording_url: trimmed(input.recording_url),
        from_address: trimmed(input.from),
        to_address: trimmed(input.to),
        version: existing.map_or(1, |activity| activity.version + 1),
        created_at: existing.map_or(now, |activity| activity.created_at),
        updated_at: now,
        created_by: existing.map_or(Some(principal.user_id), |activity| activity.created_by),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom,
        external_refs: Json(external_refs),
    })
}

/// The client an activity is about, given or implied by its contact or deal; each of them must
/// exist in the workspace and belong to that client.
fn linked_client(
    conn: &mut PgConnection,
    scope: &ClientScope,
    input: &ActivityInput,
) -> Result<Option<ClientId>, ApiError> {
    let contacts_client = match input.contact_id {
        Some(id) => Some(
            Contact::find(conn, scope, id).optional()?.map(|contact| contact.client_id).ok_or_else(|| {
                ApiError::invalid_field(
                    "contact_id",
                    FieldCode::NotFound,
                    "no such contact in this workspace",
                )
            })?,
        ),
        None => None,
    };
    let deals_client = match input.deal_id {
        Some(id) => {
            Some(Deal::find(conn, scope, id).optional()?.map(|deal| deal.client_id).ok_or_else(|| {
                ApiError::invalid_field("deal_id", FieldCode::NotFound, "no such deal in this workspace")
            })?)
        }
        None => None,
    };
    let client_id = activity_rules::client_of(input.client_id, contacts_client, deals_client);
    if let Some(client) = client_id
        && !Client::exists(conn, scope, client)?
    {
        return Err(ApiError::invalid_field(
            "client_id",
            FieldCode::NotFound,
            "no such client in this workspace",
        ));
    }
    activity_rules::check_links(client_id, contacts_client, deals_client)?;
    Ok(client_id)
}

pub(crate) fn snapshot(activity: &Activity) -> serde_json::Value {
    let mut value = to_json(&ActivityResponse::from(activity));
    // Overdue is a matter of the clock, not of the record.
    if value["status"] == "overdue" {
        value["status"] = serde_json::json!("planned");
    }
    value
}

pub(super) fn activity_http(status: StatusCode, activity: &Activity) -> HttpResponse {
    versioned_http(status, activity.version, "activities", activity.id, &ActivityResponse::from(activity))
}

/// Inserts a new activity and logs it: the one way an activity comes to be.
pub(super) fn insert_activity(
    conn: &mut PgConnection,
    principal: &Principal,
    activity: &Activity,
) -> Result<Activity, ApiError> {
    ensure_refs_free(conn, activity, None)?;
    let activity = activity.insert(conn)?;
    index_refs(conn, &activity)?;
    let changes = ChangeSet::default().diff(None, &snapshot(&activity), BOOKKEEPING);
    record_change(conn, principal, "activity", activity.id.0, "created", activity.version, changes)?;
    ClientStats::recompute(conn, activity.workspace_id, [activity.client_id])?;
    Ok(activity)
}

/// Applies `change` to `current` (live and locked by the caller): the activity as it is now,
/// unwritten (same version, no change event) when the change changes nothing.
pub(super) fn update_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    current: Activity,
    change: UpdateActivity,
    if_match: &IfMatch,
) -> Result<Activity, ApiError> {
    let mut input = ActivityInput::from(&current);
    change.apply_to(&mut input);
    let candidate = build_activity(conn, principal, scope, input, Some(&current))?;
    // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
    if_match.check(current.version)?;
    let changes = ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&candidate), BOOKKEEPING);
    if changes.is_empty() {
        return Ok(current);
    }
    ensure_refs_free(conn, &candidate, Some(&current))?;
    let activity = candidate.save(conn)?;
    if activity.external_refs != current.external_refs {
        index_refs(conn, &activity)?;
    }
    record_change(conn, principal, "activity", activity.id.0, "updated", activity.version, changes)?;
    ClientStats::recompute(conn, activity.workspace_id, [current.client_id, activity.client_id])?;
    Ok(activity)
}

/// Creates or updates the activity `reference` names (see `upsert_activity_by_ref`).
pub(super) fn upsert_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    reference: ExternalRef,
    mut change: UpdateActivity,
    if_match: &IfMatch,
) -> Result<(StatusCode, Activity), ApiError> {
    match by_ref::claim(conn, principal.workspace_id, RefEntity::Activity, &reference)? {
        Some(id) => {
            let current = by_ref::held_for_upsert(conn, principal, scope, ActivityId(id), "activities")?;
            by_ref::keep_path_ref(&mut change.external_refs, &reference);
            Ok((StatusCode::OK, update_in(conn, principal, scope, current, change, if_match)?))
        }
        None => {
            by_ref::require_for_create(
                &[("kind", change.kind.is_some()), ("subject", change.subject.is_some())],
                "activity",
            )?;
            let (Some(kind), Some(subject)) = (change.kind.take(), change.subject.take()) else {
                unreachable!("required above")
            };
            let refs = change.external_refs.take();
            let mut input = ActivityInput::new(kind, subject);
            change.apply_to(&mut input);
            input.external_refs = by_ref::with_path_ref(refs, reference);
            let activity = build_activity(conn, principal, scope, input, None)?;
            // After the checks, as on an update (RFC 9110, 13.2.1): an If-Match names a version no new
            // record has.
            if_match.check_absent()?;
            Ok((StatusCode::CREATED, insert_activity(conn, principal, &activity)?))
        }
    }
}

/// Deletes the live activity `id` (soft) and recounts its client's stats.
pub(super) fn delete_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: ActivityId,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    let deleted: Activity =
        crate::api::soft_delete::delete(conn, principal, scope, id, if_match, |_, _, _, changes| {
            Ok(changes)
        })?;
    Ok(ClientStats::recompute(conn, deleted.workspace_id, [deleted.client_id])?)
}

/// Makes the ref index hold exactly the activity's refs.
fn index_refs(conn: &mut PgConnection, activity: &Activity) -> QueryResult<()> {
    external_ref::sync(
        conn,
        activity.workspace_id,
        RefEntity::Activity,
        activity.id.0,
        &activity.external_refs.0,
    )
}

fn ensure_refs_free(
    conn: &mut PgConnection,
    activity: &Activity,
    before: Option<&Activity>,
) -> Result<(), ApiError> {
    by_ref::ensure_refs_free(
        conn,
        activity.workspace_id,
        RefEntity::Activity,
        activity.id.0,
        &activity.external_refs.0,
        before.map(|before| before.external_refs.0.as_slice()),
    )
}
