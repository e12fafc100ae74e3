use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::change_order::{ListOrder, in_change_order};

use crate::db::fragment::Bind;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{login_emails, users};
use crate::db::sql_file::{SqlFile, SqlText};
use crate::domain::personal_data::{self, Disclosure};
use crate::domain::role::Role;
use crate::domain::visibility::{self, Visibility};
use crate::ids::{ClientId, TeamId, UserId, WorkspaceId};

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

    /// Creates a person, and the entry login finds them by (`login_emails`).
    pub fn create(conn: &mut PgConnection, new: &NewUser<'_>) -> QueryResult<User> {
        let user: User =
            diesel::insert_into(users::table).values(new).returning(User::as_returning()).get_result(conn)?;
        diesel::insert_into(login_emails::table)
            .values((
                login_emails::email.eq(user.email.to_lowercase()),
                login_emails::workspace_id.eq(user.workspace_id),
                login_emails::user_id.eq(user.id),
            ))
            .execute(conn)?;
        Ok(user)
    }

    /// A person of the workspace: what the users endpoints and shares name. An API key's principal
    /// is not one (see [`User::find_principal`]).
    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: UserId) -> QueryResult<User> {
        users::table.find((workspace, id)).filter(is_person()).select(User::as_select()).first(conn)
    }

    /// Whoever made a request: a person, or an API key's principal.
    pub fn find_principal(conn: &mut PgConnection, workspace: WorkspaceId, id: UserId) -> QueryResult<User> {
        users::table.find((workspace, id)).select(User::as_select()).first(conn)
    }

    /// What every request is checked against, in one query: whether the account is active, its
    /// role, how much of the client base it sees (its own setting, or its role's in the workspace),
    /// its team, the clients shared with it, how many clients it may read a day and whether it sees
    /// personal data in full.
    pub fn access(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: UserId,
    ) -> QueryResult<Option<Access>> {
        static USER_ACCESS: SqlText = SqlText::new(include_str!("../sql/user_access.sql"));
        let row: Option<AccessRow> = SqlFile::new(&USER_ACCESS)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::Uuid(id.0))
            .get_result(conn)
            .optional()?;
        Ok(row.map(|row| {
            let role = stored_role(&row.role);
            let own = row.visibility.as_deref().map(stored_visibility);
            // The owner reads without limit: the base is theirs.
            let read_budget = if role == Role::Owner { None } else { row.role_read_budget };
            // The column's CHECK allows only the two; anything else shows least.
            let disclosure = row.role_personal_data.parse().unwrap_or(Disclosure::Masked);
            Access {
                active: row.active,
                role,
                visibility: visibility::effective(role, own, stored_visibility(&row.role_visibility)),
                team_id: row.team_id,
                shared_with_user: row.shared_with_user.into_iter().map(ClientId).collect(),
                team_shares: row.team_shares,
                read_budget,
                timezone: row.timezone,
                personal_data: personal_data::effective(role, disclosure),
            }
        }))
    }

    /// Locks the row for a read-modify-write.
    pub fn find_for_update(conn: &mut PgConnection, workspace: WorkspaceId, id: UserId) -> QueryResult<User> {
        users::table
            .find((workspace, id))
            .filter(is_person())
            .select(User::as_select())
            .for_update()
            .first(conn)
    }

    /// Every account with this email, in any workspace: login starts before the workspace is known.
    /// `login_emails` names the workspaces, and each is then asked on its own, so that on Citus the
    /// lookup reads one shared table and one node per account rather than every node.
    pub fn find_by_email_in_all_workspaces(conn: &mut PgConnection, email: &str) -> QueryResult<Vec<User>> {
        let email = email.to_lowercase();
        let places: Vec<(WorkspaceId, UserId)> = login_emails::table
            .filter(login_emails::email.eq(&email))
            .order(login_emails::workspace_id)
            .select((login_emails::workspace_id, login_emails::user_id))
            .load(conn)?;
        let mut accounts = Vec::with_capacity(places.len());
        for (workspace, id) in places {
            let account = users::table
                .find((workspace, id))
                .filter(is_person())
                .filter(diesel::dsl::sql::<diesel::sql_types::Text>("lower(email)").eq(&email))
                .select(User::as_select())
                .first(conn)
                .optional()?;
            accounts.extend(account);
        }
        Ok(accounts)
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
        order: ListOrder<UserId>,
        limit: i64,
    ) -> QueryResult<Vec<User>> {
        let query = users::table.filter(users::workspace_id.eq(workspace)).filter(is_person()).into_boxed();
        let query = match order {
            ListOrder::Own(after) => match after {
                Some(after) => query.filter(users::id.gt(after)).order(users::id),
                None => query.order(users::id),
            },
            ListOrder::Changed(window) => in_change_order!(query, users, &window),
        };
        query.select(User::as_select()).page_limit(limit).load(conn)
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
        let user: User = diesel::update(users::table.find((workspace, id)))
            .set((changes, users::version.eq(users::version + 1), users::updated_at.eq(diesel::dsl::now)))
            .returning(User::as_returning())
            .get_result(conn)?;
        if changes.email.is_some() {
            diesel::update(
                login_emails::table
                    .filter(login_emails::workspace_id.eq(workspace))
                    .filter(login_emails::user_id.eq(id)),
            )
            .set(login_emails::email.eq(user.email.to_lowercase()))
            .execute(conn)?;
        }
        Ok(user)
    }
}

/// People, not API keys' principals: only people log in, own records given to them, or appear
/// among the workspace's users.
fn is_person() -> diesel::dsl::Eq<users::kind, &'static str> {
    users::kind.eq(PERSON)
}

/// The `kind` of a user row that is a person.
const PERSON: &str = "person";

/// The `kind` of a user row that is an API key's principal (`db::models::api_key`).
pub const API_KEY_PRINCIPAL: &str = "api_key";

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
    /// The clients shared with the user directly.
    pub shared_with_user: Vec<ClientId>,
    /// Whether any client of the workspace is shared with a team.
    pub team_shares: bool,
    /// How many distinct clients the user may read a day; `None` for no limit.
    pub read_budget: Option<i32>,
    /// The workspace's time zone, in which a reading day starts.
    pub timezone: String,
    pub personal_data: Disclosure,
}

#[derive(QueryableByName)]
struct AccessRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    active: bool,
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    visibility: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    team_id: Option<TeamId>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    timezone: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    role_visibility: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    role_read_budget: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    role_personal_data: String,
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Uuid>)]
    shared_with_user: Vec<uuid::Uuid>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    team_shares: bool,
}
