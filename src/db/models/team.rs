use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::change_order::{ListOrder, in_change_order};

use crate::db::page_limit::PageLimitDsl;
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

#[derive(Debug, Insertable)]
#[diesel(table_name = teams)]
pub struct NewTeam<'a> {
    pub workspace_id: WorkspaceId,
    pub id: TeamId,
    pub name: &'a str,
    pub parent_id: Option<TeamId>,
}

/// A partial update: `None` leaves a column alone; `Some(None)` clears the parent.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = teams)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub parent_id: Option<Option<TeamId>>,
}

impl Team {
    pub fn create(conn: &mut PgConnection, new: &NewTeam<'_>) -> QueryResult<Team> {
        diesel::insert_into(teams::table).values(new).returning(Team::as_returning()).get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: TeamId) -> QueryResult<Team> {
        teams::table.find((workspace, id)).select(Team::as_select()).first(conn)
    }

    pub fn find_for_update(conn: &mut PgConnection, workspace: WorkspaceId, id: TeamId) -> QueryResult<Team> {
        teams::table.find((workspace, id)).select(Team::as_select()).for_update().first(conn)
    }

    pub fn exists(conn: &mut PgConnection, workspace: WorkspaceId, id: TeamId) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(teams::table.find((workspace, id)))).get_result(conn)
    }

    /// Whether another team of the workspace has this name, compared case-insensitively.
    pub fn name_taken(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        name: &str,
        except: Option<TeamId>,
    ) -> QueryResult<bool> {
        let mut query = teams::table
            .filter(teams::workspace_id.eq(workspace))
            .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(name)").eq(name.to_lowercase()))
            .into_boxed();
        if let Some(except) = except {
            query = query.filter(teams::id.ne(except));
        }
        diesel::select(diesel::dsl::exists(query.select(teams::id))).get_result(conn)
    }

    /// The chain of ancestors of `id`, nearest first, in one recursive query. Stops at a cycle
    /// rather than looping, though writes never create one.
    pub fn ancestors(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: TeamId,
    ) -> QueryResult<Vec<TeamId>> {
        #[derive(QueryableByName)]
        struct Ancestor {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: uuid::Uuid,
        }
        let rows: Vec<Ancestor> = diesel::sql_query(include_str!("../sql/team_ancestors.sql"))
            .bind::<diesel::sql_types::Uuid, _>(workspace.0)
            .bind::<diesel::sql_types::Uuid, _>(id.0)
            .load(conn)?;
        Ok(rows.into_iter().map(|row| TeamId(row.id)).collect())
    }

    /// One page of a workspace's teams in creation order (ids are UUIDv7), after `after`.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        order: ListOrder<TeamId>,
        limit: i64,
    ) -> QueryResult<Vec<Team>> {
        let query = teams::table.filter(teams::workspace_id.eq(workspace)).into_boxed();
        let query = match order {
            ListOrder::Own(after) => match after {
                Some(after) => query.filter(teams::id.gt(after)).order(teams::id),
                None => query.order(teams::id),
            },
            ListOrder::Changed(window) => in_change_order!(query, teams, &window),
        };
        query.select(Team::as_select()).page_limit(limit).load(conn)
    }

    pub fn update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: TeamId,
        changes: &TeamChanges,
    ) -> QueryResult<Team> {
        diesel::update(teams::table.find((workspace, id)))
            .set((changes, teams::version.eq(teams::version + 1), teams::updated_at.eq(diesel::dsl::now)))
            .returning(Team::as_returning())
            .get_result(conn)
    }
}
