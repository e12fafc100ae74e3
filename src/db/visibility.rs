//! The clients a caller may see, as every query of client data applies it. Handlers get a
//! [`ClientScope`] from `auth::run_seeing` and the client queries take it in place of a bare
//! workspace id, so that no path can read, count or change a client without it; background work
//! that acts for the whole workspace says so with [`ClientScope::whole_workspace`].

use std::borrow::Cow;

use diesel::prelude::*;

use crate::db::fragment::{Bind, SqlFragment};
use crate::db::schema::{teams, users};
use crate::domain::visibility::Visibility;
use crate::ids::{TeamId, UserId, WorkspaceId};

/// A workspace's clients as one caller sees them.
#[derive(Debug, Clone)]
pub struct ClientScope {
    workspace: WorkspaceId,
    owners: Owners,
}

#[derive(Debug, Clone, PartialEq)]
enum Owners {
    Anyone,
    Only(UserId),
    AnyOf(Vec<UserId>),
}

impl ClientScope {
    /// Every client of the workspace: for owners (and whoever the settings give `all`), and for
    /// work the server does for the workspace itself.
    pub fn whole_workspace(workspace: WorkspaceId) -> Self {
        Self { workspace, owners: Owners::Anyone }
    }

    /// What `user` sees with `visibility`: for `team`, the owners are the members of their team and
    /// of the teams under it, and the user.
    pub fn of(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        user: UserId,
        visibility: Visibility,
    ) -> QueryResult<Self> {
        let owners = match visibility {
            Visibility::All => Owners::Anyone,
            Visibility::Own => Owners::Only(user),
            Visibility::Team => {
                let mut members = team_members_under(conn, workspace, user)?;
                if !members.contains(&user) {
                    members.push(user);
                }
                match members.as_slice() {
                    [only] => Owners::Only(*only),
                    _ => Owners::AnyOf(members),
                }
            }
        };
        Ok(Self { workspace, owners })
    }

    pub fn workspace(&self) -> WorkspaceId {
        self.workspace
    }

    /// Whether the scope holds every client of the workspace.
    pub fn sees_everything(&self) -> bool {
        self.owners == Owners::Anyone
    }

    /// The owners whose clients the scope holds; `None` when it holds everyone's.
    pub fn owners(&self) -> Option<Vec<UserId>> {
        match &self.owners {
            Owners::Anyone => None,
            Owners::Only(owner) => Some(vec![*owner]),
            Owners::AnyOf(owners) => Some(owners.clone()),
        }
    }

    /// Whether a record owned by (or assigned to) `owner` is within the scope.
    pub fn admits(&self, owner: Option<UserId>) -> bool {
        match (&self.owners, owner) {
            (Owners::Anyone, _) => true,
            (Owners::Only(only), Some(owner)) => *only == owner,
            (Owners::AnyOf(owners), Some(owner)) => owners.contains(&owner),
            (_, None) => false,
        }
    }

    /// The condition the scope puts on a row of `clients`, on its column `owner_id` as `column`
    /// names it; none when it holds every client. One owner is an equality, so that a sales rep's
    /// list walks the owner index in order.
    pub fn owner_condition(&self, column: &str) -> Option<SqlFragment> {
        match &self.owners {
            Owners::Anyone => None,
            Owners::Only(owner) => {
                Some(SqlFragment::fixed(&format!("({column} = ")).bind(Bind::Uuid(owner.0)).sql(")"))
            }
            Owners::AnyOf(owners) => Some(
                SqlFragment::fixed(&format!("({column} = ANY("))
                    .bind(Bind::UuidList(owners.iter().map(|owner| owner.0).collect()))
                    .sql("))"),
            ),
        }
    }

    /// The condition the scope puts on a row of contacts, deals or activities: its client (in
    /// `client_column`) is seen, or its owner or assignee (in `owner_column`) is in scope. None
    /// when it holds every client.
    pub fn record_condition(&self, owner_column: &str, client_column: &str) -> Option<SqlFragment> {
        let (Some(own), Some(clients_owned)) =
            (self.owner_condition(owner_column), self.owner_condition("seen.owner_id"))
        else {
            return None;
        };
        let mut condition = SqlFragment::fixed("(");
        condition.append(own);
        condition.push_sql(&format!(
            " OR {client_column} IN (SELECT seen.id FROM clients AS seen WHERE seen.workspace_id = "
        ));
        condition.push_bind(Bind::Uuid(self.workspace.0));
        condition.push_sql(" AND ");
        condition.append(clients_owned);
        Some(condition.sql("))"))
    }

    /// The scope a write checks its links (a client, a contact, a deal) against: a record's own
    /// links needn't be seen by whoever works on it (a deal handed to a rep whose client they don't
    /// see), so when `kept` (the write keeps them as they are) they need only exist; links it is
    /// given must be seen.
    pub fn for_links(&self, kept: bool) -> Cow<'_, ClientScope> {
        if kept { Cow::Owned(Self::whole_workspace(self.workspace)) } else { Cow::Borrowed(self) }
    }

    /// `condition` on a row of `clients`, narrowed to the clients the scope sees.
    pub fn narrow(&self, condition: SqlFragment) -> SqlFragment {
        match self.owner_condition("owner_id") {
            Some(visible) => condition.and(visible),
            None => condition,
        }
    }
}

/// The users in `user`'s team and in every team under it.
fn team_members_under(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    user: UserId,
) -> QueryResult<Vec<UserId>> {
    let Some(team) =
        users::table.find((workspace, user)).select(users::team_id).first::<Option<TeamId>>(conn)?
    else {
        return Ok(Vec::new());
    };
    // Teams nest a few levels deep at most; walking them level by level keeps to plain queries.
    let mut teams_under = vec![team];
    let mut level = vec![team];
    while !level.is_empty() {
        level = teams::table
            .filter(teams::workspace_id.eq(workspace))
            .filter(teams::parent_id.eq_any(&level))
            .select(teams::id)
            .load::<TeamId>(conn)?
            .into_iter()
            .filter(|team| !teams_under.contains(team))
            .collect();
        teams_under.extend(&level);
    }
    users::table
        .filter(users::workspace_id.eq(workspace))
        .filter(users::team_id.eq_any(&teams_under))
        .select(users::id)
        .load(conn)
}
