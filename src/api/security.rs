//! Security events: what the audit trail records beside the changes to records (logins, failed
//! logins, a stolen refresh token, role and scope changes, exports, refused bulk reads and
//! deletions), and the read budget every list of clients charges. Each is a change event of entity
//! `security` about the user concerned, so that the trail stays one append-only log.

use chrono::Utc;
use diesel::PgConnection;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::models::NewChangeEvent;
use crate::db::models::change_event::ChangeSet;
use crate::db::read_budget::ChargeError;
use crate::db::visibility::ClientScope;
use crate::error::ApiError;
use crate::ids::{ClientId, UserId, WorkspaceId};

/// The `entity` of the audit trail's security events.
pub const SECURITY: &str = "security";

/// The security events' actions.
pub mod action {
    pub const LOGIN: &str = "login";
    pub const LOGIN_FAILED: &str = "login_failed";
    pub const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
    pub const ROLE_CHANGED: &str = "role_changed";
    pub const VISIBILITY_CHANGED: &str = "visibility_changed";
    pub const ACCESS_SETTINGS_CHANGED: &str = "access_settings_changed";
    pub const EXPORTED: &str = "exported";
    pub const READ_BUDGET_EXCEEDED: &str = "read_budget_exceeded";
    pub const BULK_DELETE_REFUSED: &str = "bulk_delete_refused";
}

/// The security events an owner is alerted to (`GET /security/alerts`): each means someone may be
/// taking the base out or holds a stolen session.
pub const ALERTS: &[&str] =
    &[action::BULK_DELETE_REFUSED, action::READ_BUDGET_EXCEEDED, action::REFRESH_TOKEN_REUSED];

/// A security event about `subject`, by `actor` (none when no one is authenticated, as for a
/// failed login), recorded in the caller's transaction.
pub struct SecurityEvent<'a> {
    pub workspace: WorkspaceId,
    pub actor: Option<UserId>,
    pub subject: UserId,
    pub action: &'a str,
    pub request_id: Option<&'a str>,
    pub details: ChangeSet,
}

impl SecurityEvent<'_> {
    /// An event of `principal`'s about themselves.
    pub fn by<'a>(principal: &'a Principal, action: &'a str, details: ChangeSet) -> SecurityEvent<'a> {
        SecurityEvent {
            workspace: principal.workspace_id,
            actor: Some(principal.user_id),
            subject: principal.user_id,
            action,
            request_id: principal.request_id.as_deref(),
            details,
        }
    }

    pub fn record(self, conn: &mut PgConnection) -> Result<(), ApiError> {
        NewChangeEvent {
            workspace_id: self.workspace,
            id: Uuid::now_v7(),
            entity: SECURITY,
            entity_id: self.subject.0,
            action: self.action,
            version: None,
            actor_id: self.actor,
            request_id: self.request_id,
            changes: self.details.into_json(),
        }
        .record(conn)?;
        Ok(())
    }
}

/// The operations whose clients count against the caller's read budget (`charge_reads`); the
/// document gives each a 429.
pub const READS_CHARGED: &[&str] = &[
    "list_clients",
    "list_client_duplicates",
    "search_clients",
    "list_segment_members",
    "preview_segment",
    "export_segment",
    "list_contacts",
    "list_client_contacts",
    "search_contacts",
];

/// Counts the clients a response returns against the caller's read budget, if they have one. Past
/// the budget the response is refused (429 `read_budget_exceeded`) and, the first time that day,
/// the refusal is recorded as a security event, which `GET /security/alerts` lists.
pub fn charge_reads(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    clients: &[ClientId],
) -> Result<(), ApiError> {
    let Some(reader) = scope.reader() else { return Ok(()) };
    match reader.charge(conn, clients) {
        Ok(()) => Ok(()),
        Err(ChargeError::Database(error)) => Err(error.into()),
        Err(ChargeError::Refused) => Err(ApiError::internal("a refused read escaped its charge")),
        Err(ChargeError::OverBudget(over)) => {
            if over.first_today {
                let details = ChangeSet::default().field("budget", None, &over.budget).field(
                    "day_ends_at",
                    None,
                    &(Utc::now() + over.retry_after),
                );
                SecurityEvent::by(principal, action::READ_BUDGET_EXCEEDED, details).record(conn)?;
            }
            Err(ApiError::ReadBudgetExceeded { budget: over.budget, retry_after: over.retry_after })
        }
    }
}
