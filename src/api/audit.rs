//! The audit trail: every change the API made, who made it and through which request, newest
//! first. It reads the change log every write appends to in its own transaction; nothing in the
//! API changes or removes an event.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{Page, decode_cursor, page_limit};
use crate::api::security::{ALERTS, SECURITY};
use crate::auth::{Principal, run_as, run_seeing};
use crate::db::models::change_event::{AuditFilter, ChangeEvent};
use crate::domain::role::Role;
use crate::error::{ApiError, ProblemCode};
use crate::ids::{UserId, WorkspaceId};
use crate::state::AppState;

/// One recorded change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: uuid::Uuid,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Who made it; null for the server itself (a reminder, a recount).
    pub actor_id: Option<UserId>,
    /// What kind of record: `client`, `contact`, `deal`, `activity`, `user`, `team`, `workspace`, ...
    #[schema(example = "client")]
    pub entity: String,
    pub entity_id: uuid::Uuid,
    /// `created`, `updated`, `deleted`, `restored`, `members_added`, ...
    #[schema(example = "updated")]
    pub action: String,
    /// The record's version after the change.
    pub version: Option<i32>,
    /// The `X-Request-Id` of the request that made it.
    pub request_id: Option<String>,
    /// `{field: {"from": old, "to": new}}` for each field the change touched; secrets as changed
    /// without their values.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl From<ChangeEvent> for AuditEvent {
    fn from(event: ChangeEvent) -> Self {
        Self {
            id: event.id,
            at: event.occurred_at,
            actor_id: event.actor_id,
            entity: event.entity,
            entity_id: event.entity_id,
            action: event.action,
            version: event.version,
            request_id: event.request_id,
            changes: event.changes,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Only this user's changes.
    #[param(value_type = Option<String>, format = Uuid)]
    pub actor_id: Option<UserId>,
    /// Only changes to this kind of record (`client`, `deal`, ...).
    #[param(min_length = 1, max_length = 50, pattern = "^[a-z_]+$")]
    pub entity: Option<String>,
    /// Only changes to this record.
    pub entity_id: Option<uuid::Uuid>,
    /// Only this kind of change (`created`, `updated`, `deleted`, ...).
    #[param(min_length = 1, max_length = 50, pattern = "^[a-z_]+$")]
    pub action: Option<String>,
    /// Changes made at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Changes made before this time.
    pub until: Option<DateTime<Utc>>,
}

/// The audit trail (owners, admins and managers).
///
/// Every change made through the API, newest first, with who made it, when, through which request and what
/// changed. Owners and admins read the whole workspace's; a manager reads the changes of the users within
/// their visibility (their team's). Nothing in the API edits or removes an event.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_events",
    security(("bearer" = [])),
    params(AuditQuery),
    responses((status = 200, description = "One page of events", body = Page<AuditEvent>))
)]
#[get("/audit")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    principal.require_manager("read the audit trail")?;
    let query = query.into_inner();
    for (name, value) in [("entity", &query.entity), ("action", &query.action)] {
        if value.as_deref().is_some_and(|value| !is_name(value)) {
            return Err(ApiError::bad_request(
                ProblemCode::InvalidQuery,
                format!("{name} must be 1 to 50 lower-case letters and underscores"),
            ));
        }
    }
    let limit = page_limit(query.limit)?;
    let before: Option<uuid::Uuid> = decode_cursor(query.cursor.as_deref())?;
    let page = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        // Owners and admins read everyone's changes; a manager, those of the users they see.
        let actors = match principal.role {
            Role::Owner | Role::Admin => None,
            _ => scope.owners(),
        };
        let filter = AuditFilter {
            actor_id: query.actor_id,
            actors,
            entity: query.entity,
            entity_id: query.entity_id,
            action: query.action,
            actions: None,
            since: query.since,
            until: query.until,
        };
        events_page(conn, principal.workspace_id, &filter, before, limit)
    })
    .await?;
    Ok(web::Json(page))
}

/// One page of the workspace's events that `filter` lets through, newest first, before event
/// `before`: the audit trail, its alerts and each record's history.
pub(crate) fn events_page(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    filter: &AuditFilter,
    before: Option<uuid::Uuid>,
    limit: u32,
) -> Result<Page<AuditEvent>, ApiError> {
    let rows = ChangeEvent::list(conn, workspace, filter, before, i64::from(limit) + 1)?;
    Ok(Page::from_rows(rows, limit, |event| event.id, AuditEvent::from))
}

/// A record kind or an action as the change log names them: `client`, `members_added`.
fn is_name(text: &str) -> bool {
    (1..=50).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_')
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Alerts raised at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// Security alerts (owners and admins).
///
/// The security events that call for an owner's attention, newest first: a refused bulk deletion
/// (`bulk_delete_refused`: someone other than the owner deleting more clients within an hour than the workspace
/// allows), a read budget exhausted (`read_budget_exceeded`, once a user a day), and a refresh token presented
/// again after use (`refresh_token_reused`: a stolen session, revoked). `entity_id` is the user concerned. The
/// other security events (logins, failed logins, role and scope changes, exports) are in `GET /audit` under
/// `entity=security`.
#[utoipa::path(
    tag = "audit",
    operation_id = "list_security_alerts",
    security(("bearer" = [])),
    params(AlertsQuery),
    responses((status = 200, description = "One page of alerts", body = Page<AuditEvent>))
)]
#[get("/security/alerts")]
pub async fn list_security_alerts(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AlertsQuery>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    principal.require_admin("read security alerts")?;
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let before: Option<uuid::Uuid> = decode_cursor(query.cursor.as_deref())?;
    let page = run_as(principal.caller(), &state.pool, move |conn| {
        let filter = AuditFilter {
            entity: Some(SECURITY.to_string()),
            actions: Some(ALERTS),
            since: query.since,
            ..AuditFilter::default()
        };
        events_page(conn, principal.workspace_id, &filter, before, limit)
    })
    .await?;
    Ok(web::Json(page))
}
