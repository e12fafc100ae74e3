//! Roles and what each may do. Finer visibility rules (a sales rep sees their own clients, a
//! manager their team's) will grow here, in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a user may do in their workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing other owners.
    Owner,
    /// Everything except granting or changing the owner role.
    Admin,
    /// A team lead: reads and writes the team's records.
    Manager,
    /// A sales rep: reads and writes their own records.
    Sales,
    /// Read-only.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Owner, Role::Admin, Role::Manager, Role::Sales, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Viewer => "viewer",
        }
    }

    /// Whether the role may create, change or delete records at all.
    pub fn can_write(self) -> bool {
        self != Role::Viewer
    }

    /// Whether the role may create users and change other users' roles and status.
    pub fn can_manage_users(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether the role may take client data out in bulk (segment exports).
    pub fn can_export(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Manager)
    }

    /// Whether the role may give a client, contact or deal to someone else, and change what others
    /// own or are assigned (a rep works on their own only).
    pub fn can_reassign(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Manager)
    }

    /// Whether the role may change segments someone else made (a rep changes their own only).
    pub fn can_change_others_segments(self) -> bool {
        matches!(self, Role::Owner | Role::Admin | Role::Manager)
    }

    /// Whether a user of this role may give `target` to someone, or change someone who has it.
    pub fn can_administer(self, target: Role) -> bool {
        match self {
            Role::Owner => true,
            Role::Admin => target != Role::Owner,
            _ => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == value)
            .ok_or_else(|| UnknownRole(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".to_string())));
    }

    #[test]
    fn only_viewers_are_read_only() {
        assert!(!Role::Viewer.can_write());
        assert!(Role::Sales.can_write());
    }

    #[test]
    fn admins_cannot_touch_owners() {
        assert!(Role::Admin.can_administer(Role::Sales));
        assert!(!Role::Admin.can_administer(Role::Owner));
        assert!(Role::Owner.can_administer(Role::Owner));
        assert!(!Role::Manager.can_administer(Role::Viewer));
    }
}
