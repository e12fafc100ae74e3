//! Records deleted softly: kept with `deleted_at` set, left out of every list and lookup, listed
//! as tombstones, and restorable. Clients, contacts, deals and activities are.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::visibility::ClientScope;
use crate::ids::{UserId, WorkspaceId};

pub trait SoftDelete: Sized {
    type Id: Copy + Into<uuid::Uuid>;
    /// The record's name in the change log.
    const ENTITY: &'static str;

    /// The record, deleted or not.
    fn find_any(conn: &mut PgConnection, workspace: WorkspaceId, id: Self::Id) -> QueryResult<Self>;

    /// The record, deleted or not, locked for the rest of the transaction.
    fn find_any_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: Self::Id,
    ) -> QueryResult<Self>;

    /// Marks the record deleted at `at` by `by`, bumping its version.
    fn mark_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: Self::Id,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Self>;

    fn deleted_at(&self) -> Option<DateTime<Utc>>;

    fn version(&self) -> i32;

    /// Whether `scope` sees the record: a client by its owner; a contact, deal or activity when its
    /// client is seen, or by its own owner or assignee.
    fn is_seen(&self, conn: &mut PgConnection, scope: &ClientScope) -> QueryResult<bool>;

    /// Who the record is in the hands of: its owner, or an activity's assignee.
    fn holder(&self) -> Option<UserId>;
}

/// Whether the scope sees a record that belongs to `client` and is owned by (or assigned to)
/// `owner`.
fn seen_through_client(
    conn: &mut PgConnection,
    scope: &ClientScope,
    client: Option<crate::ids::ClientId>,
    owner: Option<UserId>,
) -> QueryResult<bool> {
    if scope.admits(owner) {
        return Ok(true);
    }
    match client {
        Some(client) => super::Client::is_seen(conn, scope, client),
        None => Ok(false),
    }
}

/// Implements `SoftDelete` for a model whose table has `workspace_id, id` as its key.
macro_rules! soft_delete {
    ($model:ty, $id:ty, $table:ident, $entity:literal, $mark_deleted:expr, $is_seen:expr, $holder:ident) => {
        impl SoftDelete for $model {
            type Id = $id;
            const ENTITY: &'static str = $entity;

            fn find_any(conn: &mut PgConnection, workspace: WorkspaceId, id: $id) -> QueryResult<Self> {
                use crate::db::schema::$table;
                $table::table.find((workspace, id)).select(<$model>::as_select()).first(conn)
            }

            fn find_any_for_update(
                conn: &mut PgConnection,
                workspace: WorkspaceId,
                id: $id,
            ) -> QueryResult<Self> {
                use crate::db::schema::$table;
                $table::table.find((workspace, id)).select(<$model>::as_select()).for_update().first(conn)
            }

            fn mark_deleted(
                conn: &mut PgConnection,
                workspace: WorkspaceId,
                id: $id,
                at: DateTime<Utc>,
                by: UserId,
            ) -> QueryResult<Self> {
                $mark_deleted(conn, workspace, id, at, by)
            }

            fn deleted_at(&self) -> Option<DateTime<Utc>> {
                self.deleted_at
            }

            fn version(&self) -> i32 {
                self.version
            }

            fn is_seen(&self, conn: &mut PgConnection, scope: &ClientScope) -> QueryResult<bool> {
                $is_seen(self, conn, scope)
            }

            fn holder(&self) -> Option<UserId> {
                self.$holder.into()
            }
        }
    };
}

// `Model::mark_deleted` below names the model's own method: a path through the type finds an
// inherent method before a trait's.
soft_delete!(
    super::Client,
    crate::ids::ClientId,
    clients,
    "client",
    super::Client::mark_deleted,
    |client: &super::Client, _: &mut PgConnection, scope: &ClientScope| Ok(
        scope.admits_client(client.id, client.owner_id)
    ),
    owner_id
);
soft_delete!(
    super::Contact,
    crate::ids::ContactId,
    contacts,
    "contact",
    super::Contact::mark_deleted,
    |contact: &super::Contact, conn, scope| seen_through_client(
        conn,
        scope,
        Some(contact.client_id),
        contact.owner_id
    ),
    owner_id
);
soft_delete!(
    super::Deal,
    crate::ids::DealId,
    deals,
    "deal",
    |conn, workspace, id, at, by| super::Deal::set_deleted(conn, workspace, id, Some((at, by)), by),
    |deal: &super::Deal, conn, scope| seen_through_client(conn, scope, Some(deal.client_id), deal.owner_id),
    owner_id
);
soft_delete!(
    super::Activity,
    crate::ids::ActivityId,
    activities,
    "activity",
    |conn, workspace, id, at, by| super::Activity::set_deleted(conn, workspace, id, Some(at), by),
    |activity: &super::Activity, conn, scope| {
        seen_through_client(conn, scope, activity.client_id, Some(activity.assignee_id))
    },
    assignee_id
);
