//! Whom a record belongs to. Records are written whole (an update is merged into the stored record
//! first), so an absent owner or team on an update means the request cleared it.

use crate::ids::{TeamId, UserId};

/// The owner to store: the one given; on a new record without one, its creator.
pub fn owner(given: Option<UserId>, is_new: bool, creator: UserId) -> Option<UserId> {
    given.or(if is_new { Some(creator) } else { None })
}

/// The team to store: the one given; on a new record without one, its owner's team.
pub fn team(given: Option<TeamId>, is_new: bool, owners_team: Option<TeamId>) -> Option<TeamId> {
    given.or(if is_new { owners_team } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_record_belongs_to_its_creator_and_their_team_unless_told_otherwise() {
        let (creator, colleague) = (UserId::generate(), UserId::generate());
        let (creators_team, other_team) = (TeamId::generate(), TeamId::generate());
        assert_eq!(owner(None, true, creator), Some(creator));
        assert_eq!(owner(Some(colleague), true, creator), Some(colleague));
        assert_eq!(team(None, true, Some(creators_team)), Some(creators_team));
        assert_eq!(team(Some(other_team), true, Some(creators_team)), Some(other_team));
    }

    #[test]
    fn an_update_without_an_owner_or_team_clears_them() {
        let creator = UserId::generate();
        assert_eq!(owner(None, false, creator), None);
        assert_eq!(team(None, false, Some(TeamId::generate())), None);
    }
}
