use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::teams;
use crate::ids::{TeamId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams, check_for_backend(diesel::pg::Pg))]
pub struct Team {
    pub workspace_id: WorkspaceId,
    pub id: TeamId,
    pub name: String,
    pub parent_id: Option<TeamId>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Team {
    pub fn exists(conn: &mut PgConnection, workspace: WorkspaceId, id: TeamId) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(teams::table.find((workspace, id)))).get_result(conn)
    }
}
