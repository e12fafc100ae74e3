//! API keys and their principals (see the `api_keys` migration for why a key has a user row).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::db::models::user::API_KEY_PRINCIPAL;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{api_keys, users};
use crate::domain::role::Role;
use crate::ids::{TeamId, UserId, WorkspaceId};

/// How often the use of a key is written down: a key that makes a hundred requests a second
/// should not write its row a hundred times a second.
const USE_NOTED_EVERY: Duration = Duration::minutes(1);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub workspace_id: WorkspaceId,
    pub id: UserId,
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_networks: Vec<String>,
    pub requests_per_minute: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub secret_hash: Vec<u8>,
    pub secret_hint: String,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_from: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key with what its principal's row holds: the team whose clients it sees (none: all), its role
/// and whether it is active.
#[derive(Debug, Clone, Queryable)]
pub struct KeyWithPrincipal {
    pub key: ApiKey,
    pub team_id: Option<TeamId>,
    role: String,
    pub active: bool,
}

impl KeyWithPrincipal {
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }
}

/// A key to issue.
#[derive(Debug)]
pub struct NewApiKey<'a> {
    pub workspace_id: WorkspaceId,
    pub id: UserId,
    pub name: &'a str,
    pub scopes: Vec<String>,
    pub allowed_networks: Vec<String>,
    pub requests_per_minute: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub team_id: Option<TeamId>,
    pub secret_hash: Vec<u8>,
    pub secret_hint: String,
    pub created_by: UserId,
}

impl NewApiKey<'_> {
    /// The role a key acts with: an admin's when it sees the whole workspace, a manager's when it
    /// sees one team's clients. Its scopes then narrow what it may call.
    pub fn role(&self) -> Role {
        if self.team_id.is_some() { Role::Manager } else { Role::Admin }
    }

    /// Stores the key and its principal.
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<KeyWithPrincipal> {
        let role = self.role();
        diesel::insert_into(users::table)
            .values((
                users::workspace_id.eq(self.workspace_id),
                users::id.eq(self.id),
                // No address, so no person can ever be given it or log in with it.
                users::email.eq(format!("api-key:{}", self.id)),
                users::full_name.eq(self.name),
                users::role.eq(role.as_str()),
                users::team_id.eq(self.team_id),
                users::visibility.eq(if self.team_id.is_some() { "team" } else { "all" }),
                // Not a PHC string: no password verifies against it.
                users::password_hash.eq("!api-key"),
                users::kind.eq(API_KEY_PRINCIPAL),
            ))
            .execute(conn)?;
        diesel::insert_into(api_keys::table)
            .values((
                api_keys::workspace_id.eq(self.workspace_id),
                api_keys::id.eq(self.id),
                api_keys::name.eq(self.name),
                api_keys::scopes.eq(&self.scopes),
                api_keys::allowed_networks.eq(&self.allowed_networks),
                api_keys::requests_per_minute.eq(self.requests_per_minute),
                api_keys::expires_at.eq(self.expires_at),
                api_keys::secret_hash.eq(&self.secret_hash),
                api_keys::secret_hint.eq(&self.secret_hint),
                api_keys::created_by.eq(self.created_by),
            ))
            .execute(conn)?;
        ApiKey::find(conn, self.workspace_id, self.id)
    }
}

type WithPrincipal =
    (diesel::helper_types::AsSelect<ApiKey, diesel::pg::Pg>, users::team_id, users::role, users::active);

fn with_principal() -> WithPrincipal {
    (ApiKey::as_select(), users::team_id, users::role, users::active)
}

/// A workspace's keys, each beside its principal's row.
#[diesel::dsl::auto_type]
fn keys_of(workspace: WorkspaceId) -> _ {
    let principal_of_key = users::workspace_id.eq(api_keys::workspace_id).and(users::id.eq(api_keys::id));
    api_keys::table.inner_join(users::table.on(principal_of_key)).filter(api_keys::workspace_id.eq(workspace))
}

impl ApiKey {
    pub fn find(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: UserId,
    ) -> QueryResult<KeyWithPrincipal> {
        keys_of(workspace).filter(api_keys::id.eq(id)).select(with_principal()).first(conn)
    }

    /// One page of the workspace's keys, revoked ones too, oldest first (ids are UUIDv7).
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        after: Option<UserId>,
        limit: i64,
    ) -> QueryResult<Vec<KeyWithPrincipal>> {
        let mut query = keys_of(workspace).into_boxed();
        if let Some(after) = after {
            query = query.filter(api_keys::id.gt(after));
        }
        query.order(api_keys::id).select(with_principal()).page_limit(limit).load(conn)
    }

    /// Gives the key a new secret; the current one keeps working until `previous_until`.
    pub fn rotate(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: UserId,
        secret_hash: &[u8],
        secret_hint: &str,
        previous_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> QueryResult<usize> {
        diesel::update(api_keys::table.find((workspace, id)).filter(api_keys::revoked_at.is_null()))
            .set((
                api_keys::previous_secret_hash.eq(api_keys::secret_hash.nullable()),
                api_keys::previous_secret_until.eq(previous_until),
                api_keys::secret_hash.eq(secret_hash),
                api_keys::secret_hint.eq(secret_hint),
                api_keys::rotated_at.eq(now),
            ))
            .execute(conn)
    }

    /// Stops the key at once: its principal is deactivated, which every request checks.
    pub fn revoke(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: UserId,
        now: DateTime<Utc>,
    ) -> QueryResult<usize> {
        diesel::update(users::table.find((workspace, id)).filter(users::kind.eq(API_KEY_PRINCIPAL)))
            .set((users::active.eq(false), users::version.eq(users::version + 1), users::updated_at.eq(now)))
            .execute(conn)?;
        diesel::update(api_keys::table.find((workspace, id)).filter(api_keys::revoked_at.is_null()))
            .set(api_keys::revoked_at.eq(now))
            .execute(conn)
    }

    /// Writes down when and from where the key was last used, unless that was noted less than
    /// [`USE_NOTED_EVERY`] ago from the same address.
    pub fn note_use(
        &self,
        conn: &mut PgConnection,
        from: Option<&str>,
        now: DateTime<Utc>,
    ) -> QueryResult<()> {
        let fresh = self.last_used_at.is_some_and(|last| now - last < USE_NOTED_EVERY);
        if fresh && self.last_used_from.as_deref() == from {
            return Ok(());
        }
        diesel::update(api_keys::table.find((self.workspace_id, self.id)))
            .set((api_keys::last_used_at.eq(now), api_keys::last_used_from.eq(from)))
            .execute(conn)?;
        Ok(())
    }
}
