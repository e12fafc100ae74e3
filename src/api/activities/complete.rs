//! Completing an activity and planning the next one in one step.

use actix_web::{post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::wire::{ActivityInput, ActivityResponse, StoredStatus};
use super::write::{build_activity, insert_activity, snapshot};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, record_change};
use crate::auth::{Principal, run_seeing};
use crate::db::models::Activity;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::domain::custom_fields::CustomValues;
use crate::domain::enums::{ActivityKind, ContactReason};
use crate::error::{ApiError, ProblemCode};
use crate::ids::ActivityId;
use crate::state::AppState;

/// The follow-up to plan when completing an activity.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NextActivity {
    pub kind: ActivityKind,
    pub due_at: DateTime<Utc>,
    #[validate(length(min = 1, max = 500))]
    #[schema(example = "Call again about the offer", min_length = 1, max_length = 500)]
    pub subject: String,
    pub reminder_at: Option<DateTime<Utc>>,
    pub reason: Option<ContactReason>,
    /// The follow-up's custom field values.
    #[serde(default)]
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: CustomValues,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "Sent the price list", "duration_seconds": 240, "next": {"kind": "call", "subject": "Ask about the order", "due_at": "2027-03-05T10:00:00Z", "reason": "follow_up"}}))]
pub struct CompleteActivity {
    /// What was agreed.
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub outcome: Option<String>,
    /// Now when omitted.
    pub completed_at: Option<DateTime<Utc>>,
    #[validate(range(min = 0, max = 2_592_000))]
    #[schema(minimum = 0, maximum = 2592000)]
    pub duration_seconds: Option<i32>,
    /// A follow-up for the same client, contact, deal and assignee, created in the same
    /// transaction: both happen or neither does.
    #[validate(nested)]
    pub next: Option<NextActivity>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletedActivity {
    pub activity: ActivityResponse,
    pub next: Option<ActivityResponse>,
}

/// Complete an activity and plan the next one in one step.
///
/// "Call done, call again on Friday": marks a planned activity done with its outcome and duration and, when
/// `next` is given, plans the follow-up for the same client in the same transaction. An activity already done
/// or cancelled is a 409.
#[utoipa::path(
    tag = "activities",
    operation_id = "complete_activity",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    request_body = CompleteActivity,
    responses(
        (status = 200, description = "Completed, with the follow-up if one was asked for", body = CompletedActivity),
        (status = 409, description = "The activity is already done or cancelled", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/activities/{id}/complete")]
pub async fn complete_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
    body: crate::api::extract::ValidatedJson<CompleteActivity>,
) -> Result<web::Json<CompletedActivity>, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let body = body.0;
    let (activity, next) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let current: Activity = soft_delete::live_for_update(conn, &principal, scope, id)?;
            if current.status != "planned" {
                return Err(ApiError::conflict(
                    ProblemCode::NotPlanned,
                    format!("the activity is already {}", current.status),
                ));
            }
            let mut input = ActivityInput::from(&current);
            input.status = Some(StoredStatus::Done);
            input.completed_at = body.completed_at;
            if body.outcome.is_some() {
                input.outcome = body.outcome;
            }
            if body.duration_seconds.is_some() {
                input.duration_seconds = body.duration_seconds;
            }
            let done = build_activity(conn, &principal, scope, input, Some(&current))?;
            let changes = ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&done), BOOKKEEPING);
            let done = done.save(conn)?;
            record_change(conn, &principal, "activity", id.0, "completed", done.version, changes)?;
            ClientStats::recompute(conn, done.workspace_id, [done.client_id])?;
            let next = match body.next {
                Some(next) => {
                    let input = ActivityInput {
                        reason: next.reason.or(Some(ContactReason::FollowUp)),
                        due_at: Some(next.due_at),
                        reminder_at: next.reminder_at,
                        status: Some(StoredStatus::Planned),
                        assignee_id: Some(done.assignee_id),
                        client_id: done.client_id,
                        contact_id: done.contact_id,
                        deal_id: done.deal_id,
                        custom: next.custom,
                        ..ActivityInput::new(next.kind, next.subject)
                    };
                    // Errors here are the follow-up's: name its fields as such.
                    let planned = build_activity(conn, &principal, scope, input, None)
                        .map_err(prefix_fields("next"))?;
                    Some(insert_activity(conn, &principal, &planned)?)
                }
                None => None,
            };
            Ok((done, next))
        })
    })
    .await?;
    Ok(web::Json(CompletedActivity {
        activity: ActivityResponse::from(&activity),
        next: next.as_ref().map(ActivityResponse::from),
    }))
}

pub(super) fn prefix_fields(prefix: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |error| match error {
        ApiError::Validation(fields) => ApiError::Validation(
            fields
                .into_iter()
                .map(|mut field| {
                    field.field = format!("{prefix}.{}", field.field);
                    field
                })
                .collect(),
        ),
        other => other,
    }
}
