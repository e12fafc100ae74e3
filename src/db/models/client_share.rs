//! A client shared with a user or a team beside its owner: see `db::visibility`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::client_shares;
use crate::ids::{ClientId, TeamId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_shares, check_for_backend(diesel::pg::Pg))]
pub struct ClientShare {
    pub workspace_id: WorkspaceId,
    pub id: Uuid,
    pub client_id: ClientId,
    pub user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
}

/// Whom a client is shared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShareTarget {
    User(UserId),
    Team(TeamId),
}

impl ClientShare {
    pub fn target(&self) -> Option<ShareTarget> {
        match (self.user_id, self.team_id) {
            (Some(user), _) => Some(ShareTarget::User(user)),
            (None, Some(team)) => Some(ShareTarget::Team(team)),
            (None, None) => None,
        }
    }

    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(client_shares::table).values(self).execute(conn).map(drop)
    }

    /// The client's shares, oldest first.
    pub fn of_client(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
    ) -> QueryResult<Vec<ClientShare>> {
        client_shares::table
            .filter(client_shares::workspace_id.eq(workspace))
            .filter(client_shares::client_id.eq(client))
            .order(client_shares::id.asc())
            .select(ClientShare::as_select())
            .load(conn)
    }

    /// The client's share with `target`, if it has one.
    pub fn find_for(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
        target: ShareTarget,
    ) -> QueryResult<Option<ClientShare>> {
        let query = client_shares::table
            .filter(client_shares::workspace_id.eq(workspace))
            .filter(client_shares::client_id.eq(client))
            .into_boxed();
        let query = match target {
            ShareTarget::User(user) => query.filter(client_shares::user_id.eq(user)),
            ShareTarget::Team(team) => query.filter(client_shares::team_id.eq(team)),
        };
        query.select(ClientShare::as_select()).first(conn).optional()
    }

    /// Removes share `id` of `client`; whether there was one.
    pub fn delete(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
        id: Uuid,
    ) -> QueryResult<bool> {
        diesel::delete(
            client_shares::table
                .filter(client_shares::workspace_id.eq(workspace))
                .filter(client_shares::client_id.eq(client))
                .filter(client_shares::id.eq(id)),
        )
        .execute(conn)
        .map(|deleted| deleted > 0)
    }
}
