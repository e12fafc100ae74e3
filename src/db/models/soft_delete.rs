//! Records deleted softly: kept with `deleted_at` set, left out of every list and lookup, listed
//! as tombstones, and restorable. Clients, contacts, deals and activities are.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::ids::{UserId, WorkspaceId};

pub trait SoftDelete: Sized {
    type Id: Copy + Into<uuid::Uuid>;
    /// The record's name in the change log.
    const ENTITY: &'static str;

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
}

/// Implements `SoftDelete` for a model whose table has `workspace_id, id` as its key.
macro_rules! soft_delete {
    ($model:ty, $id:ty, $table:ident, $entity:literal, $mark_deleted:expr) => {
        impl SoftDelete for $model {
            type Id = $id;
            const ENTITY: &'static str = $entity;

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
        }
    };
}

// `Model::mark_deleted` below names the model's own method: a path through the type finds an
// inherent method before a trait's.
soft_delete!(super::Client, crate::ids::ClientId, clients, "client", super::Client::mark_deleted);
soft_delete!(super::Contact, crate::ids::ContactId, contacts, "contact", super::Contact::mark_deleted);
soft_delete!(super::Deal, crate::ids::DealId, deals, "deal", |conn, workspace, id, at, by| {
    super::Deal::set_deleted(conn, workspace, id, Some((at, by)), by)
});
soft_delete!(
    super::Activity,
    crate::ids::ActivityId,
    activities,
    "activity",
    |conn, workspace, id, at, by| super::Activity::set_deleted(conn, workspace, id, Some(at), by)
);
