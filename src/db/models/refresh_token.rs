use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::refresh_tokens;
use crate::ids::{UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::pg::Pg))]
pub struct RefreshToken {
    pub workspace_id: WorkspaceId,
    pub id: Uuid,
    pub user_id: UserId,
    pub family_id: Uuid,
    pub secret_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl RefreshToken {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(refresh_tokens::table).values(self).execute(conn).map(drop)
    }

    /// Locks the token so that two concurrent refreshes can't both rotate it.
    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: Uuid,
    ) -> QueryResult<RefreshToken> {
        refresh_tokens::table.find((workspace, id)).select(RefreshToken::as_select()).for_update().first(conn)
    }

    pub fn mark_used(conn: &mut PgConnection, workspace: WorkspaceId, id: Uuid) -> QueryResult<()> {
        diesel::update(refresh_tokens::table.find((workspace, id)))
            .set(refresh_tokens::used_at.eq(diesel::dsl::now))
            .execute(conn)
            .map(drop)
    }

    pub fn revoke_family(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        family: Uuid,
    ) -> QueryResult<usize> {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::workspace_id.eq(workspace))
                .filter(refresh_tokens::family_id.eq(family))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
    }

    pub fn revoke_all_of_user(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        user: UserId,
    ) -> QueryResult<usize> {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::workspace_id.eq(workspace))
                .filter(refresh_tokens::user_id.eq(user))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(diesel::dsl::now))
        .execute(conn)
    }

    /// Deletes tokens that expired or were revoked more than a day ago, in every workspace; a
    /// day of grace keeps reuse detection working for a token stolen just before it expired.
    pub fn purge_stale(conn: &mut PgConnection) -> QueryResult<usize> {
        let cutoff = chrono::Utc::now() - chrono::Duration::days(1);
        diesel::delete(
            refresh_tokens::table
                .filter(refresh_tokens::expires_at.lt(cutoff).or(refresh_tokens::revoked_at.lt(cutoff))),
        )
        .execute(conn)
    }
}
