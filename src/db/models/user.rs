use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{users, workspaces};
use crate::domain::role::Role;
use crate::domain::visibility::{self, Visibility};
use crate::ids::{TeamId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
pub struct User {
    pub workspace_id: WorkspaceId,
    pub id: UserId,
    pub email: String,
    pub full_name: String,
    role: String,
    pub team_id: Option<TeamId>,
    pub password_hash: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    visibility: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub workspace_id: WorkspaceId,
    pub id: UserId,
    pub email: &'a str,
    pub full_name: &'a str,
    pub role: &'static str,
    pub team_id: Option<TeamId>,
    pub password_hash: &'a str,
}

/// A partial update: `None` leaves a column alone; `Some(None)` clears a nullable one.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Option<&'static str>,
    pub team_id: Option<Option<TeamId>>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
    pub visibility: Option<Option<&'static str>>,
}

impl User {
    pub fn role(&self) -> Role {
        stored_role(&self.role)
    }

    /// The user's own visibility setting; `None` when their role's applies.
    pub fn visibility(&self) -> Option<Visibility> {
        self.visibility.as_deref().map(stored_visibility)
    }

    pub fn create(conn: &mut PgConnection, new: &NewUser<'_>) -> QueryResult<User> {
        diesel::insert_into(users::table).values(new).returning(User::as_returning()).get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: UserId) -> QueryResult<User> {
        users::table.find((workspace, id)).select(User::as_select()).first(conn)
    }

    /// Whether the account is active, its role, how much of the client base it sees (its own
    /// setting, or its role's in the workspace), its team, and how many clients it may read a day:
    /// what every request is checked against, in one query.
    pub fn access(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: UserId,
    ) -> QueryResult<Option<Access>> {
        type Row = (
            bool,
            String,
            Option<String>,
            Option<TeamId>,
            String,
            (String, String, String, String),
            (Option<i32>, Option<i32>, Option<i32>, Option<i32>),
        );
        let row: Option<Row> = users::table
            .inner_join(workspaces::table)
            .filter(users::workspace_id.eq(workspace))
            .filter(users::id.eq(id))
            .select((
                users::active,
                users::role,
                users::visibility,
                users::team_id,
                workspaces::timezone,
                (
                    workspaces::admin_visibility,
                    workspaces::manager_visibility,
                    workspaces::sales_visibility,
                    workspaces::viewer_visibility,
                ),
                (
                    workspaces::admin_read_budget,
                    workspaces::manager_read_budget,
                    workspaces::sales_read_budget,
                    workspaces::viewer_read_budget,
                ),
            ))
            .first(conn)
            .optional()?;
        Ok(row.map(|(active, role, own, team_id, timezone, visibilities, budgets)| {
            let role = stored_role(&role);
            let (admin, manager, sales, viewer) = visibilities;
            let role_default = match role {
                Role::Owner | Role::Admin => admin,
                Role::Manager => manager,
                Role::Sales => sales,
                Role::Viewer => viewer,
            };
            let (admin, manager, sales, viewer) = budgets;
            // The owner reads without limit: the base is theirs.
            let read_budget = match role {
                Role::Owner => None,
                Role::Admin => admin,
                Role::Manager => manager,
                Role::Sales => sales,
                Role::Viewer => viewer,
            };
            let own = own.as_deref().map(stored_visibility);
            Access {
                active,
                role,
                visibility: visibility::effective(role, own, stored_visibility(&role_default)),
                team_id,
                read_budget,
                timezone,
            }
        }))
    }

    /// Locks the row for a read-modify-write.
    pub fn find_for_update(conn: &mut PgConnection, workspace: WorkspaceId, id: UserId) -> QueryResult<User> {
        users::table.find((workspace, id)).select(User::as_select()).for_update().first(conn)
    }

    /// Every account with this email, in any workspace: login starts before the workspace is known.
    pub fn find_by_email_in_all_workspaces(conn: &mut PgConnection, email: &str) -> QueryResult<Vec<User>> {
        users::table
            .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(email)").eq(email.to_lowercase()))
            .order(users::workspace_id)
            .select(User::as_select())
            .load(conn)
    }

    pub fn email_taken(conn: &mut PgConnection, workspace: WorkspaceId, email: &str) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            users::table
                .filter(users::workspace_id.eq(workspace))
                .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(email)").eq(email.to_lowercase())),
        ))
        .get_result(conn)
    }

    /// One page of a workspace's users in creation order (ids are UUIDv7), after `after`.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        after: Option<UserId>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let mut query = users::table.filter(users::workspace_id.eq(workspace)).into_boxed();
        if let Some(after) = after {
            query = query.filter(users::id.gt(after));
        }
        query.order(users::id).select(User::as_select()).page_limit(limit).load(conn)
    }

    pub fn count_active_owners(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<i64> {
        users::table
            .filter(users::workspace_id.eq(workspace))
            .filter(users::role.eq(Role::Owner.as_str()))
            .filter(users::active.eq(true))
            .count()
            .get_result(conn)
    }

    /// Applies `changes`, bumping the version.
    pub fn update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: UserId,
        changes: &UserChanges,
    ) -> QueryResult<User> {
        diesel::update(users::table.find((workspace, id)))
            .set((changes, users::version.eq(users::version + 1), users::updated_at.eq(diesel::dsl::now)))
            .returning(User::as_returning())
            .get_result(conn)
    }
}

/// The role column's CHECK constraint admits only known roles; should another appear, it gets the
/// least privilege.
fn stored_role(text: &str) -> Role {
    text.parse().unwrap_or(Role::Viewer)
}

/// The column's CHECK allows only the three; anything else would see least.
fn stored_visibility(text: &str) -> Visibility {
    text.parse().unwrap_or(Visibility::Own)
}

/// What a request's caller is checked against: see [`User::access`].
#[derive(Debug, Clone)]
pub struct Access {
    pub active: bool,
    pub role: Role,
    pub visibility: Visibility,
    pub team_id: Option<TeamId>,
    /// How many distinct clients the user may read a day; `None` for no limit.
    pub read_budget: Option<i32>,
    /// The workspace's time zone, in which a reading day starts.
    pub timezone: String,
}
