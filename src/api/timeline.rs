//! A client's timeline: one newest-first feed of its activities, its deals' events and the
//! changes to its own record, all read from the same sources the rest of the API writes.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::activities::ActivityResponse;
use crate::api::extract::{Page, decode_cursor, page_limit};
use crate::auth::{Principal, run_seeing};
use crate::db::models::activity::{TimelineSources, client_timeline};
use crate::db::models::{Activity, Client};
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ActivityId, ClientId};
use crate::state::AppState;

/// What a timeline item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineType {
    Activity,
    DealCreated,
    DealStageChanged,
    DealWon,
    DealLost,
    DealAmountChanged,
    DealUpdated,
    DealDeleted,
    DealRestored,
    ContactCreated,
    ContactUpdated,
    ContactDeleted,
    ContactRestored,
    ClientCreated,
    ClientUpdated,
    ClientDeleted,
    ClientRestored,
}

/// One event of a client's history: an activity, or a change to a deal, a contact or the client.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "deal_stage_changed", "at": "2026-11-21T10:02:13.000000Z",
    "actor": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01",
    "payload": {
        "deal_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e41", "contact_id": null, "action": "updated",
        "changes": {"stage_id": {"from": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e32", "to": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e33"},
                    "probability": {"from": 10, "to": 40}}
    }
}))]
pub struct TimelineItem {
    #[serde(rename = "type")]
    pub item_type: TimelineType,
    pub at: DateTime<Utc>,
    /// The user who did it; null for the system (a reminder, an import).
    pub actor: Option<uuid::Uuid>,
    /// The activity for `activity`; for deal, contact and client events `{"deal_id", "contact_id",
    /// "action", "changes": {field: {"from", "to"}}}` (`deal_id` set for a deal's, `contact_id`
    /// for a contact's).
    #[schema(value_type = crate::api::schemas::TimelinePayload)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// A comma-separated subset of `activity`, `deal`, `contact` and `client`; all when omitted.
    #[param(
        example = "activity,deal",
        pattern = r"^(activity|deal|contact|client)(,(activity|deal|contact|client))*$"
    )]
    pub types: Option<String>,
}

fn deal_event_type(action: &str, changes: &serde_json::Value) -> TimelineType {
    match action {
        "created" => TimelineType::DealCreated,
        "deleted" => TimelineType::DealDeleted,
        "restored" => TimelineType::DealRestored,
        _ if changes["status"]["to"] == "won" => TimelineType::DealWon,
        _ if changes["status"]["to"] == "lost" => TimelineType::DealLost,
        _ if changes.get("stage_id").is_some() => TimelineType::DealStageChanged,
        _ if changes.get("amount").is_some() => TimelineType::DealAmountChanged,
        _ => TimelineType::DealUpdated,
    }
}

fn contact_event_type(action: &str) -> TimelineType {
    match action {
        "created" => TimelineType::ContactCreated,
        "deleted" => TimelineType::ContactDeleted,
        "restored" => TimelineType::ContactRestored,
        _ => TimelineType::ContactUpdated,
    }
}

fn client_event_type(action: &str) -> TimelineType {
    match action {
        "created" => TimelineType::ClientCreated,
        "deleted" => TimelineType::ClientDeleted,
        "restored" => TimelineType::ClientRestored,
        _ => TimelineType::ClientUpdated,
    }
}

/// The client's history, newest first.
///
/// One stream of what happened: activities, deal events (created, stage changed, won, lost, amount changed),
/// changes to its contact persons and to the client record (which fields, by whom). `types` narrows it to some of these; each item's
/// `payload` is the activity or the change.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client_timeline",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), TimelineQuery),
    responses((status = 200, description = "One page of the timeline", body = Page<TimelineItem>))
)]
#[get("/clients/{id}/timeline")]
pub async fn get_client_timeline(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<TimelineQuery>,
) -> Result<web::Json<Page<TimelineItem>>, ApiError> {
    let client = id.into_inner();
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, uuid::Uuid)> = decode_cursor(query.cursor.as_deref())?;
    // Exactly as documented: `types=` or `types=deal, client` is refused, not read loosely.
    let sources = match query.types.as_deref() {
        None => TimelineSources { activities: true, deals: true, client: true, contacts: true },
        Some(types) => {
            let mut sources =
                TimelineSources { activities: false, deals: false, client: false, contacts: false };
            for name in types.split(',') {
                match name {
                    "activity" => sources.activities = true,
                    "deal" => sources.deals = true,
                    "client" => sources.client = true,
                    "contact" => sources.contacts = true,
                    other => {
                        return Err(ApiError::bad_request(
                            ProblemCode::InvalidQuery,
                            format!("types: {other:?} is not one of activity, deal, contact, client"),
                        ));
                    }
                }
            }
            sources
        }
    };
    let (rows, activities) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = principal.workspace_id;
        if !Client::exists(conn, scope, client)? {
            return Err(ApiError::NotFound);
        }
        let rows = client_timeline(conn, workspace, client, sources, after, i64::from(limit) + 1)?;
        let activity_ids: Vec<ActivityId> =
            rows.iter().filter(|row| row.source == "activity").map(|row| ActivityId(row.id)).collect();
        let activities = Activity::find_many(conn, workspace, &activity_ids)?;
        Ok((rows, activities))
    })
    .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |row| (row.at, row.id),
        |row| {
            let action = row.action.clone().unwrap_or_default();
            let changes = row.changes.clone().unwrap_or(serde_json::Value::Null);
            let (item_type, payload) = match row.source.as_str() {
                "activity" => (
                    TimelineType::Activity,
                    activities
                        .iter()
                        .find(|activity| activity.id.0 == row.id)
                        .map(|activity| {
                            serde_json::to_value(ActivityResponse::from(activity)).unwrap_or_default()
                        })
                        .unwrap_or_default(),
                ),
                "deal" => (
                    deal_event_type(&action, &changes),
                    serde_json::json!({"deal_id": row.deal_id, "contact_id": null, "action": action, "changes": changes}),
                ),
                "contact" => (
                    contact_event_type(&action),
                    serde_json::json!({"deal_id": null, "contact_id": row.contact_id, "action": action, "changes": changes}),
                ),
                _ => (
                    client_event_type(&action),
                    serde_json::json!({"deal_id": null, "contact_id": null, "action": action, "changes": changes}),
                ),
            };
            TimelineItem { item_type, at: row.at, actor: row.actor_id, payload }
        },
    );
    Ok(web::Json(page))
}
