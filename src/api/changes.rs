//! `GET /changes`: every change to the workspace's records, oldest first, from the one change log
//! each write adds to in its own transaction. A reader follows `next_cursor` and sees each committed
//! change exactly once, also when transactions commit out of the order they started in: see
//! docs/changes.md and `sql/changes_feed.sql`.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{decode_cursor, encode_cursor, limit_between};
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::{FeedEvent, FeedPosition};
use crate::error::{ApiError, ProblemCode};
use crate::ids::UserId;
use crate::state::AppState;

/// The kinds of record the feed reports, as `entities` names them, and as each change's `entity`
/// does. (API keys and security events stay in the audit trail.)
pub const FEED_ENTITIES: &[(&str, &str)] = &[
    ("clients", "client"),
    ("contacts", "contact"),
    ("deals", "deal"),
    ("activities", "activity"),
    ("products", "product"),
    ("pipelines", "pipeline"),
    ("stages", "stage"),
    ("segments", "segment"),
    ("custom_fields", "custom_field"),
    ("users", "user"),
    ("teams", "team"),
    ("targets", "target"),
];

pub const DEFAULT_CHANGES: u32 = 100;
pub const MOST_CHANGES: u32 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Where to go on from: the `next_cursor` of the previous page, or `GET /changes/cursor`'s. Without one,
    /// the feed starts at the first change the workspace recorded.
    pub cursor: Option<String>,
    /// A comma-separated subset of `clients`, `contacts`, `deals`, `activities`, `products`, `pipelines`,
    /// `stages`, `segments`, `custom_fields`, `users`, `teams` and `targets`; all of them when omitted. Keep the same set
    /// along one cursor.
    #[param(
        example = "clients,deals",
        pattern = r"^(clients|contacts|deals|activities|products|pipelines|stages|segments|custom_fields|users|teams|targets)(,(clients|contacts|deals|activities|products|pipelines|stages|segments|custom_fields|users|teams|targets))*$"
    )]
    pub entities: Option<String>,
    /// How many changes to return: 1 to 1,000, 100 when omitted.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One change to one record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Change {
    /// The change's own id.
    pub id: uuid::Uuid,
    /// What kind of record: `client`, `contact`, `deal`, `activity`, `product`, `pipeline`, `stage`, `segment`,
    /// `custom_field`, `user`, `team` or `target`.
    #[schema(example = "client")]
    pub entity: String,
    /// The record changed.
    pub record_id: uuid::Uuid,
    /// `created`, `updated`, `deleted`, `restored`, `merged`, `completed`, ...; a deleted record's last
    /// change is its `deleted` (or, merged into another, its `merged`).
    #[schema(example = "updated")]
    pub action: String,
    /// The record's version after the change. A record's changes come in the order of their versions, except
    /// when a transaction that had written other records first waited for this one (docs/changes.md): apply a
    /// change only when its version is newer than the one held.
    pub version: Option<i32>,
    /// `{field: {"from": old, "to": new}}` for each field the change touched (a creation's from null).
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    /// Who made it; null for the server itself (a reminder, a recount).
    pub actor_id: Option<UserId>,
    /// The `X-Request-Id` of the request that made it.
    pub request_id: Option<String>,
    /// When it was made.
    pub occurred_at: DateTime<Utc>,
    /// The record as this change left it: the fields its creation recorded, with every change up to this one
    /// laid over them, and its `id`. Null for a deletion (or a client merged into another), and for a record
    /// made before the change log or by `crm seed`, whose creation the log doesn't hold. Figures derived from
    /// other records (a client's stats) are not in it.
    #[schema(value_type = Option<Object>)]
    pub record: Option<serde_json::Value>,
}

impl Change {
    /// The change of `event`, with the record it left behind if `records` has it.
    pub fn with_record(
        event: FeedEvent,
        records: &mut std::collections::HashMap<uuid::Uuid, serde_json::Value>,
    ) -> Self {
        let record = records.remove(&event.id);
        Self { record, ..Self::from(event) }
    }
}

impl From<FeedEvent> for Change {
    fn from(event: FeedEvent) -> Self {
        Self {
            id: event.id,
            entity: event.entity,
            record_id: event.entity_id,
            action: event.action,
            version: event.version,
            changes: event.changes,
            actor_id: event.actor_id,
            request_id: event.request_id,
            occurred_at: event.occurred_at,
            record: None,
        }
    }
}

/// A page of the feed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesPage {
    pub data: Vec<Change>,
    /// Where the next read goes on from: always present, since the feed goes on. With no changes on this
    /// page, the cursor sent (or where the feed stands now).
    pub next_cursor: String,
    /// Whether more changes are ready now; when false, read again later with `next_cursor`.
    pub has_more: bool,
}

/// Where the feed stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangesCursor {
    /// Pass as `cursor` to `GET /changes` to get every change committed after this answer (and perhaps a
    /// few committed just before it).
    pub cursor: String,
}

/// `what` (the feed, a webhook) covers every record of the workspace: it is for those who see all
/// of them.
pub fn ensure_sees_everything(
    scope: &crate::db::visibility::ClientScope,
    what: &str,
) -> Result<(), ApiError> {
    if scope.sees_everything() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            format!("{what} covers every record of the workspace: it needs a role or API key that sees all clients")
                .into(),
        ))
    }
}

fn cursor_of(position: FeedPosition) -> String {
    encode_cursor(&(position.txid, position.id))
}

/// The changes feed: every change to the workspace's records, oldest first.
///
/// Each create, update, delete, restore and merge of clients, contacts, deals (with their lines), activities,
/// products, pipelines and stages, segments, custom fields, users, teams and targets, exactly as committed. Follow
/// `next_cursor`: every committed change comes once, also when transactions commit in another order than they
/// started (a change appears once every transaction that started before it has ended, usually within
/// milliseconds), and a record's changes in the order of their versions but for one case that `version` settles
/// (docs/changes.md). To sync from scratch, take
/// `GET /changes/cursor` first, walk the lists, then read the feed from that cursor. For owners and admins, and
/// API keys that see every client (with the `export` scope).
#[utoipa::path(
    tag = "changes",
    operation_id = "list_changes",
    security(("bearer" = [])),
    params(ChangesQuery),
    responses((status = 200, description = "One page of changes", body = ChangesPage))
)]
#[get("/changes")]
pub async fn list_changes(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ChangesQuery>,
) -> Result<web::Json<ChangesPage>, ApiError> {
    let query = query.into_inner();
    let limit = limit_between(query.limit, DEFAULT_CHANGES, MOST_CHANGES)?;
    let entities = entities_of(query.entities.as_deref())?;
    // Unsigned: a cursor with a negative transaction id was made up, and fails to decode like any other.
    let after: Option<(u64, uuid::Uuid)> = decode_cursor(query.cursor.as_deref())?;
    let after = after.map(|(txid, id)| FeedPosition { txid, id }).unwrap_or_default();
    let page = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        ensure_sees_everything(scope, "the changes feed")?;
        let mut events =
            FeedEvent::page(conn, principal.workspace_id, after, &entities, i64::from(limit) + 1)?;
        let has_more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next = events.last().map_or(after, FeedEvent::position);
        let mut records = FeedEvent::records_after(conn, principal.workspace_id, &events)?;
        Ok(ChangesPage {
            data: events.into_iter().map(|event| Change::with_record(event, &mut records)).collect(),
            next_cursor: cursor_of(next),
            has_more,
        })
    })
    .await?;
    Ok(web::Json(page))
}

/// The record kinds `entities` names, as the log stores them: all when it is omitted.
fn entities_of(entities: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let Some(entities) = entities else {
        return Ok(FEED_ENTITIES.iter().map(|(_, entity)| *entity).collect());
    };
    entities
        .split(',')
        .map(|name| {
            FEED_ENTITIES.iter().find(|(plural, _)| *plural == name).map(|(_, entity)| *entity).ok_or_else(
                || {
                    let known: Vec<&str> = FEED_ENTITIES.iter().map(|(plural, _)| *plural).collect();
                    ApiError::bad_request(
                        ProblemCode::InvalidQuery,
                        format!("entities: {name:?} is not one of {}", known.join(", ")),
                    )
                },
            )
        })
        .collect()
}

/// Where the changes feed stands now.
///
/// A cursor from which `GET /changes` returns every change committed after this answer: take it before walking
/// the lists of a first sync, then follow the feed from it, and nothing is missed (a change committed during the
/// walk may come both ways; apply it again).
#[utoipa::path(
    tag = "changes",
    operation_id = "get_changes_cursor",
    security(("bearer" = [])),
    responses((status = 200, description = "The cursor of now", body = ChangesCursor))
)]
#[get("/changes/cursor")]
pub async fn get_changes_cursor(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<ChangesCursor>, ApiError> {
    let position = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        ensure_sees_everything(scope, "the changes feed")?;
        Ok(FeedEvent::position_now(conn)?)
    })
    .await?;
    Ok(web::Json(ChangesCursor { cursor: cursor_of(position) }))
}
