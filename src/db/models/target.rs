use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use crate::db::change_order::{ListOrder, in_change_order};
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::targets;
use crate::db::visibility::ClientScope;
use crate::domain::plan::{Goal, PlanInterval, PlanPeriod};
use crate::ids::{TargetId, TeamId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = targets, check_for_backend(diesel::pg::Pg))]
pub struct Target {
    pub workspace_id: WorkspaceId,
    pub id: TargetId,
    pub user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub period_interval: String,
    pub period_start: NaiveDate,
    pub revenue: Option<Decimal>,
    pub deals: Option<i32>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whose target it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    Workspace,
    Team(TeamId),
    User(UserId),
}

impl Subject {
    pub fn of(user_id: Option<UserId>, team_id: Option<TeamId>) -> Self {
        match (user_id, team_id) {
            (Some(user), _) => Subject::User(user),
            (None, Some(team)) => Subject::Team(team),
            (None, None) => Subject::Workspace,
        }
    }

    /// Whether `scope` holds this subject's plans: the workspace's for those who see every client,
    /// a team's for those who see it, a user's for those who see the user's clients.
    pub fn seen_by(self, scope: &ClientScope) -> bool {
        match self {
            Subject::Workspace => scope.sees_everything(),
            Subject::Team(team) => scope.admits_team(team),
            Subject::User(user) => scope.admits(Some(user)),
        }
    }

    fn columns(self) -> (Option<UserId>, Option<TeamId>) {
        match self {
            Subject::Workspace => (None, None),
            Subject::Team(team) => (None, Some(team)),
            Subject::User(user) => (Some(user), None),
        }
    }
}

impl Target {
    pub fn subject(&self) -> Subject {
        Subject::of(self.user_id, self.team_id)
    }

    pub fn period(&self) -> PlanPeriod {
        let interval = self.period_interval.parse().unwrap_or(PlanInterval::Month);
        PlanPeriod { interval, start: self.period_start }
    }

    pub fn goal(&self) -> Goal {
        Goal { revenue: self.revenue, deals: self.deals.map(i64::from) }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = targets)]
pub struct NewTarget {
    pub workspace_id: WorkspaceId,
    pub id: TargetId,
    pub user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub period_interval: &'static str,
    pub period_start: NaiveDate,
    pub revenue: Option<Decimal>,
    pub deals: Option<i32>,
}

impl NewTarget {
    pub fn new(
        workspace_id: WorkspaceId,
        subject: Subject,
        period: PlanPeriod,
        revenue: Option<Decimal>,
        deals: Option<i32>,
    ) -> Self {
        let (user_id, team_id) = subject.columns();
        Self {
            workspace_id,
            id: TargetId::generate(),
            user_id,
            team_id,
            period_interval: period.interval.as_str(),
            period_start: period.start,
            revenue,
            deals,
        }
    }
}

/// Which targets a list holds.
#[derive(Debug, Default)]
pub struct TargetFilter {
    pub user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// Periods starting on or after this day.
    pub from: Option<NaiveDate>,
    /// Periods starting on or before this day.
    pub to: Option<NaiveDate>,
}

impl Target {
    pub fn create(conn: &mut PgConnection, new: &NewTarget) -> QueryResult<Target> {
        diesel::insert_into(targets::table).values(new).returning(Target::as_returning()).get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: TargetId) -> QueryResult<Target> {
        targets::table.find((workspace, id)).select(Target::as_select()).first(conn)
    }

    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: TargetId,
    ) -> QueryResult<Target> {
        targets::table.find((workspace, id)).select(Target::as_select()).for_update().first(conn)
    }

    /// Whether `subject` already has a target for `period`.
    pub fn taken(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        subject: Subject,
        period: PlanPeriod,
    ) -> QueryResult<bool> {
        let (user_id, team_id) = subject.columns();
        let query = targets::table
            .filter(targets::workspace_id.eq(workspace))
            .filter(targets::period_start.eq(period.start))
            .filter(targets::period_interval.eq(period.interval.as_str()))
            .filter(targets::user_id.is_not_distinct_from(user_id))
            .filter(targets::team_id.is_not_distinct_from(team_id));
        diesel::select(diesel::dsl::exists(query)).get_result(conn)
    }

    /// One page of the targets `scope` holds, in creation order (ids are UUIDv7) or in the order of
    /// their last change.
    pub fn list(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &TargetFilter,
        order: ListOrder<TargetId>,
        limit: i64,
    ) -> QueryResult<Vec<Target>> {
        let mut query = targets::table.filter(targets::workspace_id.eq(scope.workspace())).into_boxed();
        if let (Some(owners), Some(teams)) = (scope.owners(), scope.teams()) {
            query = query.filter(targets::user_id.eq_any(owners).or(targets::team_id.eq_any(teams.to_vec())));
        }
        if let Some(user) = filter.user_id {
            query = query.filter(targets::user_id.eq(user));
        }
        if let Some(team) = filter.team_id {
            query = query.filter(targets::team_id.eq(team));
        }
        if let Some(from) = filter.from {
            query = query.filter(targets::period_start.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(targets::period_start.le(to));
        }
        let query = match order {
            ListOrder::Own(after) => match after {
                Some(after) => query.filter(targets::id.gt(after)).order(targets::id),
                None => query.order(targets::id),
            },
            ListOrder::Changed(window) => in_change_order!(query, targets, &window),
        };
        query.select(Target::as_select()).page_limit(limit).load(conn)
    }

    /// The targets of `subjects` for periods starting from `from` to `to`: what a report sets its
    /// figures beside.
    pub fn of_subjects(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        subjects: &[Subject],
        from: NaiveDate,
        to: NaiveDate,
    ) -> QueryResult<Vec<Target>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let users: Vec<UserId> = subjects
            .iter()
            .filter_map(|subject| if let Subject::User(user) = subject { Some(*user) } else { None })
            .collect();
        let teams: Vec<TeamId> = subjects
            .iter()
            .filter_map(|subject| if let Subject::Team(team) = subject { Some(*team) } else { None })
            .collect();
        let mut query = targets::table
            .filter(targets::workspace_id.eq(workspace))
            .filter(targets::period_start.between(from, to))
            .into_boxed();
        let workspace_too = subjects.contains(&Subject::Workspace);
        query = match workspace_too {
            true => query.filter(
                targets::user_id
                    .eq_any(users)
                    .or(targets::team_id.eq_any(teams))
                    .or(targets::user_id.is_null().and(targets::team_id.is_null())),
            ),
            false => query.filter(targets::user_id.eq_any(users).or(targets::team_id.eq_any(teams))),
        };
        query.select(Target::as_select()).load(conn)
    }

    /// Sets the target's figures, a version on.
    pub fn set_goal(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: TargetId,
        revenue: Option<Decimal>,
        deals: Option<i32>,
    ) -> QueryResult<Target> {
        diesel::update(targets::table.find((workspace, id)))
            .set((
                targets::revenue.eq(revenue),
                targets::deals.eq(deals),
                targets::version.eq(targets::version + 1),
                targets::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Target::as_returning())
            .get_result(conn)
    }

    pub fn delete(conn: &mut PgConnection, workspace: WorkspaceId, id: TargetId) -> QueryResult<usize> {
        diesel::delete(targets::table.find((workspace, id))).execute(conn)
    }
}
