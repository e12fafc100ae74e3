//! The clients a caller may see, as every query of client data applies it. Handlers get a
//! [`ClientScope`] from `auth::run_seeing` and the client queries take it in place of a bare
//! workspace id, so that no path can read, count or change a client without it; background work
//! that acts for the whole workspace says so with [`ClientScope::whole_workspace`].
//!
//! A scope is its owners (the caller, their team's members, or anyone) plus the clients shared
//! with the caller or with a team they are in; and, for a caller with a read budget, the reader
//! whose reads the lists charge (`db::read_budget`).

use std::borrow::Cow;

use diesel::prelude::*;

use crate::db::fragment::{Bind, SqlFragment};
use crate::db::models::user::Access;
use crate::db::read_budget::Reader;
use crate::db::schema::{client_shares, teams, users};
use crate::domain::visibility::Visibility;
use crate::ids::{ClientId, TeamId, UserId, WorkspaceId};

/// A workspace's clients as one caller sees them.
#[derive(Debug, Clone)]
pub struct ClientScope {
    workspace: WorkspaceId,
    owners: Owners,
    /// Clients shared with the caller, or with their team or a team above it.
    shared: Vec<ClientId>,
    /// The teams whose plans the scope holds (`None`: every team's): for `team`, the caller's team
    /// and those under it; for `own`, the caller's team.
    teams: Option<Vec<TeamId>>,
    /// Whose reads of clients count against a daily budget; `None` when no one's do.
    reader: Option<Reader>,
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
        Self { workspace, owners: Owners::Anyone, shared: Vec::new(), teams: None, reader: None }
    }

    /// What `user`, with `access`, sees: for `team`, the owners are the members of their team and
    /// of the teams under it, and the user; for `own` and `team`, also the clients shared with
    /// them. `own` costs no query unless the workspace shares clients with teams; `team` costs two
    /// (the teams, their members).
    pub fn of(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        user: UserId,
        access: &Access,
        reader: Option<Reader>,
    ) -> QueryResult<Self> {
        if access.visibility == Visibility::All {
            return Ok(Self { workspace, owners: Owners::Anyone, shared: Vec::new(), teams: None, reader });
        }
        let team_shares_reach = access.team_shares && access.team_id.is_some();
        let tree = match access.team_id {
            Some(_) if access.visibility == Visibility::Team || team_shares_reach => {
                TeamTree::load(conn, workspace)?
            }
            _ => TeamTree::default(),
        };
        let teams = match (access.visibility, access.team_id) {
            (Visibility::Team, Some(team)) => tree.under(team),
            (_, team) => team.into_iter().collect(),
        };
        let owners = match (access.visibility, access.team_id) {
            (Visibility::Team, Some(team)) => {
                let mut members: Vec<UserId> = users::table
                    .filter(users::workspace_id.eq(workspace))
                    .filter(users::team_id.eq_any(tree.under(team)))
                    .select(users::id)
                    .load(conn)?;
                if !members.contains(&user) {
                    members.push(user);
                }
                match members.as_slice() {
                    [only] => Owners::Only(*only),
                    _ => Owners::AnyOf(members),
                }
            }
            _ => Owners::Only(user),
        };
        let mut shared = access.shared_with_user.clone();
        if let (true, Some(team)) = (team_shares_reach, access.team_id) {
            let with_teams: Vec<ClientId> = client_shares::table
                .filter(client_shares::workspace_id.eq(workspace))
                .filter(client_shares::team_id.eq_any(tree.above(team)))
                .select(client_shares::client_id)
                .load(conn)?;
            shared
                .extend(with_teams.into_iter().filter(|client| !shared.contains(client)).collect::<Vec<_>>());
        }
        Ok(Self { workspace, owners, shared, teams: Some(teams), reader })
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

    /// The teams whose plans the scope holds; `None` when it holds every team's.
    pub fn teams(&self) -> Option<&[TeamId]> {
        self.teams.as_deref()
    }

    /// Whether the scope holds team `team`'s plans.
    pub fn admits_team(&self, team: TeamId) -> bool {
        self.teams.as_ref().is_none_or(|teams| teams.contains(&team))
    }

    /// The rows of `table` the scope sees, as a `FROM` item named `alias`, for a report's scan:
    /// the same rows [`Self::record_condition`] keeps, in two halves that each walk an index
    /// (those whose owner, in `owner_column`, is in scope; then those of a seen client, in
    /// `client_column`, owned by anyone else). The condition's `OR` can use no index, so a scan
    /// with it reads the whole table: a sales rep's three years of sales took 1.1 s at 1M clients
    /// for their 7,000 lines of 3.4M. Just `table AS alias` when the scope holds every client.
    pub fn seen_rows(
        &self,
        table: &str,
        alias: &str,
        owner_column: &str,
        client_column: &str,
    ) -> SqlFragment {
        let (Some(owned), Some(not_owned), Some(clients_seen)) = (
            self.owner_condition(&format!("owned.{owner_column}")),
            self.owner_condition(&format!("other.{owner_column}")),
            self.client_condition("seen"),
        ) else {
            return SqlFragment::fixed(&format!("{table} AS {alias}"));
        };
        let workspace = Bind::Uuid(self.workspace.0);
        // Never a cached statement: PostgreSQL's generic plan for it, made without knowing the
        // owners and chosen after five runs, took a rep's funnel from 0.12 s to 5 s at 1M clients.
        // Planned at each run, it follows the owners' few rows.
        let mut rows = SqlFragment::dynamic()
            .sql(&format!("(SELECT owned.* FROM {table} AS owned WHERE owned.workspace_id = "));
        rows.push_bind(workspace.clone());
        rows.push_sql(" AND ");
        rows.append(owned);
        rows.push_sql(&format!(
            " UNION ALL SELECT other.* FROM {table} AS other WHERE other.workspace_id = "
        ));
        rows.push_bind(workspace.clone());
        // A null owner is nobody's in the scope: `COALESCE` keeps such rows in this half.
        rows.push_sql(" AND NOT COALESCE(");
        rows.append(not_owned);
        rows.push_sql(&format!(
            ", false) AND other.{client_column} IN (SELECT seen.id FROM clients AS seen WHERE seen.workspace_id = "
        ));
        rows.push_bind(workspace);
        rows.push_sql(" AND ");
        rows.append(clients_seen);
        rows.push_sql(&format!(")) AS {alias}"));
        rows
    }

    /// Call before a report's scan of [`Self::seen_rows`]: when the scope holds part of the base,
    /// the rest of the transaction plans without parallel workers. A part is a few thousand rows,
    /// where workers add only their start, and on cores the API shares with PostgreSQL they take
    /// what other requests wait for: at 1M clients a rep's sales report served 28 req/s at 16
    /// connections with them and 72 without, their funnel 7 and 20.
    pub fn scan_serially_when_partial(&self, conn: &mut PgConnection) -> QueryResult<()> {
        if self.sees_everything() {
            return Ok(());
        }
        diesel::sql_query("SET LOCAL max_parallel_workers_per_gather = 0").execute(conn).map(drop)
    }

    /// Whether a record owned by (or assigned to) `owner` is within the scope by its owner alone.
    pub fn admits(&self, owner: Option<UserId>) -> bool {
        match (&self.owners, owner) {
            (Owners::Anyone, _) => true,
            (Owners::Only(only), Some(owner)) => *only == owner,
            (Owners::AnyOf(owners), Some(owner)) => owners.contains(&owner),
            (_, None) => false,
        }
    }

    /// Whether the scope sees client `id`, owned by `owner`: by its owner, or shared.
    pub fn admits_client(&self, id: ClientId, owner: Option<UserId>) -> bool {
        self.admits(owner) || self.shared.contains(&id)
    }

    /// The reader whose reads of clients count against a budget, if any.
    pub fn reader(&self) -> Option<&Reader> {
        self.reader.as_ref()
    }

    /// The condition the scope puts on an owner column `column`; none when it holds everyone's.
    /// One owner is an equality, so that a sales rep's list walks the owner index in order.
    fn owner_condition(&self, column: &str) -> Option<SqlFragment> {
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

    /// The condition the scope puts on a row of `clients` that the query calls `table`: owned
    /// within the scope, or shared. None when it holds every client.
    pub fn client_condition(&self, table: &str) -> Option<SqlFragment> {
        let owned = self.owner_condition(&format!("{table}.owner_id"))?;
        if self.shared.is_empty() {
            return Some(owned);
        }
        let mut condition = SqlFragment::fixed("(");
        condition.append(owned);
        condition.push_sql(&format!(" OR {table}.id = ANY("));
        condition.push_bind(Bind::UuidList(self.shared.iter().map(|id| id.0).collect()));
        Some(condition.sql("))"))
    }

    /// The condition the scope puts on a row of contacts, deals or activities: its client (in
    /// `client_column`) is seen, or its owner or assignee (in `owner_column`) is in scope. None
    /// when it holds every client.
    pub fn record_condition(&self, owner_column: &str, client_column: &str) -> Option<SqlFragment> {
        let (Some(own), Some(clients_seen)) =
            (self.owner_condition(owner_column), self.client_condition("seen"))
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
        condition.append(clients_seen);
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
        match self.client_condition("clients") {
            Some(visible) => condition.and(visible),
            None => condition,
        }
    }
}

/// A workspace's teams, each with its parent: a few dozen rows, read whole so that the teams under
/// and above one are found without a query per level.
#[derive(Debug, Default)]
struct TeamTree(Vec<(TeamId, Option<TeamId>)>);

impl TeamTree {
    fn load(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<Self> {
        teams::table
            .filter(teams::workspace_id.eq(workspace))
            .select((teams::id, teams::parent_id))
            .load(conn)
            .map(Self)
    }

    /// `team` and every team under it.
    fn under(&self, team: TeamId) -> Vec<TeamId> {
        let mut found = vec![team];
        let mut next = 0;
        while next < found.len() {
            let parent = found[next];
            for (child, _) in self.0.iter().filter(|(_, of)| *of == Some(parent)) {
                if !found.contains(child) {
                    found.push(*child);
                }
            }
            next += 1;
        }
        found
    }

    /// `team` and every team above it.
    fn above(&self, team: TeamId) -> Vec<TeamId> {
        let mut found = vec![team];
        let mut current = team;
        while let Some(parent) = self.parent_of(current)
            && !found.contains(&parent)
        {
            found.push(parent);
            current = parent;
        }
        found
    }

    fn parent_of(&self, team: TeamId) -> Option<TeamId> {
        self.0.iter().find(|(id, _)| *id == team).and_then(|(_, parent)| *parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(n: u128) -> TeamId {
        TeamId(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn a_branch_holds_its_departments_and_a_department_sits_under_its_branch() {
        // 1 is a branch with departments 2 and 3; 4 sits under 3; 5 stands apart.
        let tree = TeamTree(vec![
            (team(1), None),
            (team(2), Some(team(1))),
            (team(3), Some(team(1))),
            (team(4), Some(team(3))),
            (team(5), None),
        ]);
        assert_eq!(tree.under(team(1)), vec![team(1), team(2), team(3), team(4)]);
        assert_eq!(tree.under(team(4)), vec![team(4)]);
        assert_eq!(tree.above(team(4)), vec![team(4), team(3), team(1)]);
        assert_eq!(tree.above(team(5)), vec![team(5)]);
    }
}
