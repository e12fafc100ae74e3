//! Creating workspaces with their first owner: on the very first start, and from the command line.

use diesel::prelude::*;
use validator::ValidateEmail;

use crate::auth::password;
use crate::config::{Config, Secret};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::segment::Segment;
use crate::db::models::{NewChangeEvent, NewUser, NewWorkspace, User, Workspace};
use crate::domain::role::Role;
use crate::error::{ApiError, ProblemCode};
use crate::ids::{UserId, WorkspaceId};

/// The owner used on first start when CRM_ADMIN_EMAIL is unset.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@example.com";
const FIRST_WORKSPACE_NAME: &str = "My company";
/// Serialises first starts between processes: "crmboot" in ASCII.
const FIRST_START_LOCK_KEY: i64 = 0x0063_726d_626f_6f74;

#[derive(Debug)]
pub struct NewWorkspaceWithOwner<'a> {
    pub name: &'a str,
    pub owner_email: &'a str,
    pub owner_full_name: &'a str,
    pub owner_password: &'a str,
}

/// Checks what a person typed on the command line or in the environment, with the API's rules.
pub fn check(new: &NewWorkspaceWithOwner<'_>) -> Result<(), String> {
    let name_length = new.name.trim().chars().count();
    if !(1..=200).contains(&name_length) {
        return Err("the workspace name must be 1 to 200 characters long".to_string());
    }
    if !new.owner_email.trim().validate_email() {
        return Err(format!("{:?} is not a valid email address", new.owner_email));
    }
    let password_length = new.owner_password.chars().count() as u64;
    if !(password::MIN_LENGTH..=password::MAX_LENGTH).contains(&password_length) {
        return Err(format!(
            "the owner's password must be {} to {} characters long",
            password::MIN_LENGTH,
            password::MAX_LENGTH
        ));
    }
    Ok(())
}

/// Creates a workspace and its owner in one transaction. Hashes the password: call off the
/// async workers.
pub fn create_workspace(
    conn: &mut PgConnection,
    new: &NewWorkspaceWithOwner<'_>,
) -> Result<(Workspace, User), ApiError> {
    let password_hash = password::hash(new.owner_password).map_err(ApiError::internal)?;
    conn.transaction(|conn| {
        let workspace =
            Workspace::create(conn, &NewWorkspace { id: WorkspaceId::generate(), name: new.name.trim() })?;
        let owner = User::create(
            conn,
            &NewUser {
                workspace_id: workspace.id,
                id: UserId::generate(),
                email: new.owner_email.trim(),
                full_name: new.owner_full_name.trim(),
                role: Role::Owner.as_str(),
                team_id: None,
                password_hash: &password_hash,
            },
        )?;
        let workspace_created = NewChangeEvent {
            workspace_id: workspace.id,
            id: uuid::Uuid::now_v7(),
            entity: "workspace",
            entity_id: workspace.id.0,
            action: "created",
            version: Some(workspace.version),
            actor_id: None,
            request_id: None,
            changes: ChangeSet::default().field("name", None, &workspace.name).into_json(),
        };
        workspace_created.record(conn)?;
        let stages = crate::db::models::pipeline::default_stages();
        crate::db::models::pipeline::create_pipeline(conn, workspace.id, "Sales", true, &stages)?;
        Segment::add_builtins(conn, workspace.id)?;
        NewChangeEvent {
            entity: "user",
            entity_id: owner.id.0,
            id: uuid::Uuid::now_v7(),
            version: Some(owner.version),
            changes: ChangeSet::default()
                .field("email", None, &owner.email)
                .field("role", None, &owner.role())
                .secret("password", true)
                .into_json(),
            ..workspace_created
        }
        .record(conn)?;
        Ok((workspace, owner))
    })
}

/// What the first start created, for the operator to read once.
#[derive(Debug)]
pub struct FirstOwner {
    pub workspace: Workspace,
    pub email: String,
    /// Set when the password was generated, so it can be printed once.
    pub generated_password: Option<Secret>,
}

/// On an empty database, creates the first workspace and its owner from CRM_ADMIN_EMAIL and
/// CRM_ADMIN_PASSWORD, generating a password when none is configured.
pub fn ensure_first_workspace(
    conn: &mut PgConnection,
    config: &Config,
) -> Result<Option<FirstOwner>, ApiError> {
    // Several servers may start on one empty database at once: only one creates the workspace.
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
            .bind::<diesel::sql_types::BigInt, _>(FIRST_START_LOCK_KEY)
            .execute(conn)?;
        if Workspace::any_exists(conn)? {
            return Ok(None);
        }
        let email = config.admin_email.clone().unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_string());
        let (password, generated) = match &config.admin_password {
            Some(password) => (password.clone(), false),
            None => (crate::auth::tokens::generate_secret(), true),
        };
        let new = NewWorkspaceWithOwner {
            name: FIRST_WORKSPACE_NAME,
            owner_email: &email,
            owner_full_name: "Owner",
            owner_password: password.expose(),
        };
        check(&new).map_err(|problem| {
            ApiError::bad_request(ProblemCode::InvalidConfiguration, format!("CRM_ADMIN_*: {problem}"))
        })?;
        let (workspace, _) = create_workspace(conn, &new)?;
        Ok(Some(FirstOwner { workspace, email, generated_password: generated.then_some(password) }))
    })
}
