//! Who a record is assigned to: its owner and team, defaulted by `domain::ownership` and looked up
//! in the workspace. Clients, contacts and deals resolve them here, so whatever later decides who
//! may assign to whom is added in one place.

use diesel::prelude::*;

use std::borrow::Cow;

use crate::auth::Principal;
use crate::db::models::{Team, User};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::ownership;
use crate::error::ApiError;
use crate::ids::{TeamId, UserId, WorkspaceId};

/// The owner and team a write asks for, on a new record or an existing one.
#[derive(Debug, Clone, Copy)]
pub struct Requested {
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub is_new: bool,
}

/// The owner and team to store, both found in the workspace.
#[derive(Debug, Clone, Copy)]
pub struct Assignment {
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
}

impl Assignment {
    /// Defaults the owner to the creator and the team to the owner's on a new record; an unknown
    /// owner or team is a 422 naming the field.
    pub fn resolve(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        caller: UserId,
        requested: Requested,
    ) -> Result<Self, ApiError> {
        let owner =
            find_owner(conn, workspace, ownership::owner(requested.owner_id, requested.is_new, caller))?;
        let team_id = ownership::team(
            requested.team_id,
            requested.is_new,
            owner.as_ref().and_then(|owner| owner.team_id),
        );
        if let Some(team) = team_id
            && !Team::exists(conn, workspace, team)?
        {
            return Err(ApiError::invalid_field(
                "team_id",
                FieldCode::NotFound,
                "no such team in this workspace",
            ));
        }
        Ok(Self { owner_id: owner.map(|owner| owner.id), team_id })
    }
}

/// Refuses to give a record from `before` (its owner, or for a new one its creator) to `after`
/// unless the caller is a manager, admin or owner and `after` is within their visibility: a rep
/// keeps what they make, and nobody hands work to someone they don't see.
pub fn ensure_may_hand_over(
    principal: &Principal,
    scope: &ClientScope,
    before: Option<UserId>,
    after: Option<UserId>,
) -> Result<(), ApiError> {
    if before == after {
        return Ok(());
    }
    if !principal.role.can_reassign() {
        return Err(ApiError::Forbidden(Cow::Borrowed(
            "only managers, admins and owners give a record to someone else",
        )));
    }
    if after.is_some() && !scope.admits(after) {
        return Err(ApiError::Forbidden(Cow::Borrowed(
            "a record can be given only to someone within your visibility",
        )));
    }
    Ok(())
}

/// The owner alone, for records without a team (contacts).
pub fn resolve_owner(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    caller: UserId,
    owner_id: Option<UserId>,
    is_new: bool,
) -> Result<Option<UserId>, ApiError> {
    let owner = find_owner(conn, workspace, ownership::owner(owner_id, is_new, caller))?;
    Ok(owner.map(|owner| owner.id))
}

fn find_owner(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    owner: Option<UserId>,
) -> Result<Option<User>, ApiError> {
    let Some(owner) = owner else { return Ok(None) };
    // An API key may own what it creates, and keep owning it through others' updates.
    let found = User::find_principal(conn, workspace, owner).optional()?;
    found.map(Some).ok_or_else(|| {
        ApiError::invalid_field("owner_id", FieldCode::NotFound, "no such user in this workspace")
    })
}
