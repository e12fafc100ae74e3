//! Building the activity a create or update stores, and inserting a new one.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;

use super::wire::{ActivityInput, ActivityResponse, StoredStatus};
use crate::api::custom_values::check_custom;
use crate::api::extract::versioned_http;
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::Principal;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::{Activity, Client, Contact, Deal, User};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::activity as activity_rules;
use crate::domain::enums::CustomEntity;
use crate::domain::text::{non_blank, trimmed};
use crate::error::{ApiError, field_errors};
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

pub(super) fn snapshot(activity: &Activity) -> serde_json::Value {
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

/// Inserts a new activity and logs it.
pub(super) fn insert_activity(
    conn: &mut PgConnection,
    principal: &Principal,
    activity: &Activity,
) -> Result<Activity, ApiError> {
    let activity = activity.insert(conn)?;
    let changes = ChangeSet::default().diff(None, &snapshot(&activity), BOOKKEEPING);
    record_change(conn, principal, "activity", activity.id.0, "created", activity.version, changes)?;
    ClientStats::recompute(conn, activity.workspace_id, [activity.client_id])?;
    Ok(activity)
}
