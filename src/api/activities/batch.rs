//! `POST /activities/batch`: many activities in one request, each as its own endpoint writes it
//! (see `api::batch`): a day of calls from the telephony.

use actix_web::http::StatusCode;
use actix_web::{post, web};
use diesel::PgConnection;

use super::wire::{ActivityInput, ActivityResponse, UpdateActivity};
use super::write::{build_activity, delete_in, insert_activity, update_in, upsert_in};
use crate::api::batch::{self, Outcome, batch_shapes};
use crate::api::extract::{IfMatch, JsonBody, from_json_value};
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};
use crate::db::models::Activity;
use crate::db::visibility::ClientScope;
use crate::error::ApiError;
use crate::ids::ActivityId;
use crate::state::AppState;

batch_shapes!(
    ActivityBatch, ActivityOperation, ActivityBatchResult, ActivityBatchResponse,
    id: ActivityId, create: ActivityInput, change: UpdateActivity, activity: ActivityResponse,
    example: {"atomic": false, "operations": [
        {"op": "upsert", "external_ref": {"system": "pbx", "id": "call-88812"},
         "body": {"kind": "call", "subject": "Incoming call", "direction": "inbound", "status": "done",
                  "duration_seconds": 312, "from": "+79123456790"}},
        {"op": "create", "body": {"kind": "note", "subject": "Paid by card", "status": "done"}}
    ]},
    Delete
);

/// Create, update, upsert and delete up to 1,000 activities in one request.
///
/// Each operation runs as its own endpoint would and is answered in order with that endpoint's status and
/// activity or problem document; the request itself answers 200 once the batch ran. Operations run in one
/// transaction, each behind a savepoint, so a failed one leaves nothing behind; with `atomic: true` one failure
/// undoes them all. Send it with an `Idempotency-Key` to retry it safely.
#[utoipa::path(
    tag = "activities",
    operation_id = "batch_activities",
    security(("bearer" = [])),
    request_body = ActivityBatch,
    responses((status = 200, description = "The batch ran: one result per operation, in order", body = ActivityBatchResponse))
)]
#[post("/activities/batch")]
pub async fn batch_activities(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ActivityBatch>,
) -> Result<web::Json<ActivityBatchResponse>, ApiError> {
    principal.require_write()?;
    let ActivityBatch { atomic, operations } = body.0;
    batch::check_size(operations.len())?;
    let (outcomes, applied) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        batch::run_in_order(conn, &operations, atomic, |conn, operation| {
            run(conn, &principal, scope, operation)
        })
    })
    .await?;
    let written =
        |(id, activity): (ActivityId, Option<Activity>)| (id, activity.as_ref().map(ActivityResponse::from));
    Ok(web::Json(ActivityBatchResponse::of(outcomes, applied, written)))
}

fn run(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    operation: &ActivityOperation,
) -> Outcome<(ActivityId, Option<Activity>)> {
    let written = |status: StatusCode, activity: Activity| (status.as_u16(), (activity.id, Some(activity)));
    match operation {
        ActivityOperation::Create { body, .. } => {
            let input: ActivityInput = from_json_value(body.clone())?;
            let activity = build_activity(conn, principal, scope, input, None)?;
            Ok(written(StatusCode::CREATED, insert_activity(conn, principal, &activity)?))
        }
        ActivityOperation::Update { id, body, version } => {
            let change: UpdateActivity = from_json_value(body.clone())?;
            let current = soft_delete::live_for_update(conn, principal, scope, *id)?;
            let if_match = IfMatch::of_version(*version);
            Ok(written(StatusCode::OK, update_in(conn, principal, scope, current, change, &if_match)?))
        }
        ActivityOperation::Upsert { external_ref, body, version, .. } => {
            let reference = batch::operation_ref(external_ref)?;
            let change: UpdateActivity = from_json_value(body.clone())?;
            let if_match = IfMatch::of_version(*version);
            let (status, activity) = upsert_in(conn, principal, scope, reference, change, &if_match)?;
            Ok(written(status, activity))
        }
        ActivityOperation::Delete { id, version } => {
            delete_in(conn, principal, scope, *id, &IfMatch::of_version(*version))?;
            Ok((StatusCode::NO_CONTENT.as_u16(), (*id, None)))
        }
    }
}
