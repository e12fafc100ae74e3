//! The HTTP API: one file per resource, each with its request and response types and handlers.

pub mod activities;
pub mod api_keys;
pub mod assignment;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod by_ref;
pub mod changes;
pub mod clients;
pub mod coalesce;
pub mod consents;
pub mod contacts;
pub mod custom_fields;
pub mod custom_values;
pub mod deals;
pub mod extract;
pub mod health;
pub mod history;
pub mod imports;
pub mod listing;
pub mod merging;
pub mod pipelines;
pub mod products;
pub mod reports;
pub mod schemas;
pub mod search;
pub mod security;
pub mod segments;
pub mod soft_delete;
pub mod strict_json;
pub mod targets;
pub mod teams;
pub mod timeline;
pub mod users;
pub mod webhooks;
pub mod workspace;

use diesel::{OptionalExtension, PgConnection};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::models::NewChangeEvent;
use crate::db::models::User;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client::Client;
use crate::db::models::deal::Deal;
use crate::db::visibility::ClientScope;
use crate::error::ApiError;
use crate::ids::{ClientId, DealId, UserId, WorkspaceId};

/// The live record a nested list belongs to (`/clients/{id}/deals`, `/deals/{id}/activities`):
/// the page's own database turn checks it exists, and a missing one is a 404, not an empty page.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Parent {
    Client(ClientId),
    Deal(DealId),
}

impl Parent {
    pub(crate) fn ensure_exists(self, conn: &mut PgConnection, scope: &ClientScope) -> Result<(), ApiError> {
        let exists = match self {
            Parent::Client(id) => Client::exists(conn, scope, id)?,
            Parent::Deal(id) => Deal::exists(conn, scope, id)?,
        };
        if exists { Ok(()) } else { Err(ApiError::NotFound) }
    }
}

/// The refusal of a record that duplicates one the caller doesn't see (`what` it shares, such as
/// "an email"): it names the other record's owner, so that the caller can ask them, and nothing
/// else of it.
pub(crate) fn duplicate_elsewhere(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    record: &str,
    owner: Option<UserId>,
    what: &str,
) -> Result<ApiError, ApiError> {
    let owner_name = match owner {
        Some(owner) => User::find(conn, workspace, owner).optional()?.map(|user| user.full_name),
        None => None,
    };
    let whose = owner_name.as_deref().map_or_else(|| "nobody".to_string(), str::to_string);
    Ok(ApiError::DuplicateElsewhere {
        detail: format!(
            "a {record} you don't see, owned by {whose}, has {what} of this one; ask its owner, or repeat with \
             ?allow_duplicate=true to create it anyway"
        ),
        owner_name,
    })
}

/// A value of ours as JSON for a jsonb column; our types always serialise.
pub(crate) fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// The fields a change log entry leaves out: they change with every write.
pub(crate) const BOOKKEEPING: &[&str] =
    &["id", "version", "created_at", "updated_at", "created_by", "updated_by"];

/// Records a write in the change log, in the caller's transaction.
pub fn record_change(
    conn: &mut PgConnection,
    principal: &Principal,
    entity: &str,
    entity_id: Uuid,
    action: &str,
    version: i32,
    changes: ChangeSet,
) -> Result<(), ApiError> {
    NewChangeEvent {
        workspace_id: principal.workspace_id,
        id: Uuid::now_v7(),
        entity,
        entity_id,
        action,
        version: Some(version),
        actor_id: Some(principal.user_id),
        request_id: principal.request_id.as_deref(),
        changes: changes.into_json(),
    }
    .record(conn)?;
    Ok(())
}
