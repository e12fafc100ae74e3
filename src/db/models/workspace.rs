use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::workspaces;
use crate::ids::WorkspaceId;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = workspaces, check_for_backend(diesel::pg::Pg))]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub default_currency: String,
    pub timezone: String,
    pub default_phone_region: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Which clients each role but the owner's sees (`domain::visibility`).
    pub admin_visibility: String,
    pub manager_visibility: String,
    pub sales_visibility: String,
    pub viewer_visibility: String,
    /// How many clients anyone but the owner may delete within an hour.
    pub max_deletions_per_hour: i32,
    /// How many distinct clients a user of each role but the owner's may read a day; `None` for no
    /// limit (`db::read_budget`).
    pub admin_read_budget: Option<i32>,
    pub manager_read_budget: Option<i32>,
    pub sales_read_budget: Option<i32>,
    pub viewer_read_budget: Option<i32>,
    /// Whether each role but the owner's sees personal data in full or masked
    /// (`domain::personal_data`).
    pub admin_personal_data: String,
    pub manager_personal_data: String,
    pub sales_personal_data: String,
    pub viewer_personal_data: String,
    /// The consent purposes of the workspace's own, beside the built-in ones (`domain::consent`).
    pub consent_purposes: Vec<String>,
    /// Won deals that make a customer loyal, and days without one that make them churned
    /// (`domain::lifecycle`).
    pub loyal_after_purchases: i32,
    pub churned_after_days: i32,
}

/// The settings an owner or admin may change; `None` leaves one alone.
#[derive(Debug, Default, PartialEq, AsChangeset)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceChanges {
    pub name: Option<String>,
    pub default_currency: Option<String>,
    pub timezone: Option<String>,
    pub default_phone_region: Option<String>,
    pub admin_visibility: Option<&'static str>,
    pub manager_visibility: Option<&'static str>,
    pub sales_visibility: Option<&'static str>,
    pub viewer_visibility: Option<&'static str>,
    pub max_deletions_per_hour: Option<i32>,
    /// `Some(None)` lifts a role's limit.
    pub admin_read_budget: Option<Option<i32>>,
    pub manager_read_budget: Option<Option<i32>>,
    pub sales_read_budget: Option<Option<i32>>,
    pub viewer_read_budget: Option<Option<i32>>,
    pub admin_personal_data: Option<&'static str>,
    pub manager_personal_data: Option<&'static str>,
    pub sales_personal_data: Option<&'static str>,
    pub viewer_personal_data: Option<&'static str>,
    pub consent_purposes: Option<Vec<String>>,
    pub loyal_after_purchases: Option<i32>,
    pub churned_after_days: Option<i32>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = workspaces)]
pub struct NewWorkspace<'a> {
    pub id: WorkspaceId,
    pub name: &'a str,
}

impl Workspace {
    /// When its clients' lifecycle stages move by themselves.
    pub fn lifecycle_rules(&self) -> crate::domain::lifecycle::LifecycleRules {
        crate::domain::lifecycle::LifecycleRules {
            loyal_after_purchases: self.loyal_after_purchases,
            churned_after: chrono::TimeDelta::days(i64::from(self.churned_after_days)),
        }
    }

    pub fn create(conn: &mut PgConnection, new: &NewWorkspace<'_>) -> QueryResult<Workspace> {
        let workspace = diesel::insert_into(workspaces::table)
            .values(new)
            .returning(Workspace::as_returning())
            .get_result(conn)?;
        crate::db::models::report_cells::add_workspace(conn, workspace.id)?;
        Ok(workspace)
    }

    pub fn find(conn: &mut PgConnection, id: WorkspaceId) -> QueryResult<Workspace> {
        workspaces::table.find(id).select(Workspace::as_select()).first(conn)
    }

    pub fn find_for_update(conn: &mut PgConnection, id: WorkspaceId) -> QueryResult<Workspace> {
        workspaces::table.find(id).select(Workspace::as_select()).for_update().first(conn)
    }

    pub fn update(
        conn: &mut PgConnection,
        id: WorkspaceId,
        changes: &WorkspaceChanges,
    ) -> QueryResult<Workspace> {
        diesel::update(workspaces::table.find(id))
            .set((
                changes,
                workspaces::version.eq(workspaces::version + 1),
                workspaces::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Workspace::as_returning())
            .get_result(conn)
    }

    pub fn find_many(conn: &mut PgConnection, ids: &[WorkspaceId]) -> QueryResult<Vec<Workspace>> {
        workspaces::table
            .filter(workspaces::id.eq_any(ids))
            .order(workspaces::name)
            .select(Workspace::as_select())
            .load(conn)
    }

    pub fn any_exists(conn: &mut PgConnection) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(workspaces::table.select(workspaces::id))).get_result(conn)
    }
}
