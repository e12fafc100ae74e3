//! Which clients a user sees: a scope per role in the workspace's settings, which a user's own
//! setting overrides. The owner always sees every client: the base is theirs.

use crate::domain::enums::text_enum;
use crate::domain::role::Role;

text_enum!(
    /// How much of the client base a user sees (and so may change).
    Visibility {
        /// The clients the user owns.
        Own => "own",
        /// The clients owned by anyone in the user's team or the teams under it (a branch sees its
        /// departments); the user's own when they are in no team.
        Team => "team",
        /// Every client of the workspace.
        All => "all",
    }
);

/// What a user of `role` sees: the owner everything; anyone else their own setting if they have
/// one, otherwise their role's in the workspace.
pub fn effective(role: Role, own_setting: Option<Visibility>, role_default: Visibility) -> Visibility {
    match role {
        Role::Owner => Visibility::All,
        _ => own_setting.unwrap_or(role_default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_sees_everything_whatever_the_settings_say() {
        assert_eq!(effective(Role::Owner, Some(Visibility::Own), Visibility::Own), Visibility::All);
        assert_eq!(effective(Role::Sales, None, Visibility::Own), Visibility::Own);
        assert_eq!(effective(Role::Sales, Some(Visibility::Team), Visibility::Own), Visibility::Team);
    }
}
