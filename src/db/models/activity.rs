//! Activities: rows, the agenda query and reminder claims.

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;

use super::activity_cell::mark_activities_stale;
use crate::db::fragment::SqlFragment;
use crate::db::json::Json;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{activities, clients};
use crate::db::visibility::ClientScope;
use crate::domain::contact_points::ContactPoint;
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ActivityId, ClientId, ContactId, DealId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = activities, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(Pg))]
pub struct Activity {
    pub workspace_id: WorkspaceId,
    pub id: ActivityId,
    pub kind: String,
    pub direction: Option<String>,
    pub channel: Option<String>,
    pub reason: Option<String>,
    pub subject: String,
    pub body: Option<String>,
    pub outcome: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub reminder_fired_at: Option<DateTime<Utc>>,
    pub reminder_acked_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    pub status: String,
    pub completed_at: Option<DateTime<Utc>>,
    pub assignee_id: UserId,
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ContactId>,
    pub deal_id: Option<DealId>,
    pub external_ref: Option<String>,
    pub recording_url: Option<String>,
    pub from_address: Option<String>,
    pub to_address: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
    pub custom: serde_json::Value,
    pub external_refs: Json<Vec<ExternalRef>>,
}

#[derive(Debug, Default, Clone)]
pub struct ActivityFilter {
    pub client_id: Option<ClientId>,
    pub deal_id: Option<DealId>,
    pub assignee_id: Option<UserId>,
    pub kind: Option<&'static str>,
    /// `planned`, `done`, `cancelled`, or `overdue` (planned and due before now).
    pub status: Option<&'static str>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    pub updated_since: Option<DateTime<Utc>>,
    /// A compiled filter-language condition (`POST /…/search`, dynamic segments).
    pub condition: Option<crate::db::fragment::SqlFragment>,
    /// The one activity a lookup by another system's id found.
    pub id: Option<ActivityId>,
    /// Oldest change first, rather than newest.
    pub oldest_first: bool,
}

impl Activity {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Activity> {
        let activity = diesel::insert_into(activities::table)
            .values(self)
            .returning(Activity::as_returning())
            .get_result(conn)?;
        mark_activities_stale(conn, self.workspace_id, &[self.id.0])?;
        Ok(activity)
    }

    /// Inserts new activities together (a call list's), and marks the days they count on stale.
    pub fn insert_all(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        activities: &[Activity],
    ) -> QueryResult<()> {
        // A statement takes at most 65,535 parameters: a thousand rows of 33 columns stay below.
        for chunk in activities.chunks(1000) {
            diesel::insert_into(activities::table).values(chunk).execute(conn)?;
        }
        let ids: Vec<uuid::Uuid> = activities.iter().map(|activity| activity.id.0).collect();
        mark_activities_stale(conn, workspace, &ids)
    }

    /// Writes every column back (the caller merged the change into the row it locked).
    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Activity> {
        // The days it counted on, and those it counts on now.
        mark_activities_stale(conn, self.workspace_id, &[self.id.0])?;
        let activity = diesel::update(activities::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(Activity::as_returning())
            .get_result(conn)?;
        mark_activities_stale(conn, self.workspace_id, &[self.id.0])?;
        Ok(activity)
    }

    /// The deleted activities the scope sees, oldest deletion first, deleted at or after `since`,
    /// after position `after`.
    pub fn list_deleted(
        conn: &mut PgConnection,
        scope: &ClientScope,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, ActivityId)>,
        limit: i64,
    ) -> QueryResult<Vec<Activity>> {
        let mut query = seen_in(scope).filter(activities::deleted_at.is_not_null());
        if let Some(since) = since {
            query = query.filter(activities::deleted_at.ge(since));
        }
        if let Some((time, id)) = after {
            query = query.filter(SqlFragment::keyset_after("deleted_at", false, time, id.0));
        }
        query
            .order((activities::deleted_at.asc(), activities::id.asc()))
            .select(Activity::as_select())
            .page_limit(limit)
            .load(conn)
    }

    /// A live activity the scope sees.
    pub fn find(conn: &mut PgConnection, scope: &ClientScope, id: ActivityId) -> QueryResult<Activity> {
        live_in(scope).filter(activities::id.eq(id)).select(Activity::as_select()).first(conn)
    }

    pub fn set_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ActivityId,
        deleted: Option<DateTime<Utc>>,
        by: UserId,
    ) -> QueryResult<Activity> {
        mark_activities_stale(conn, workspace, &[id.0])?;
        diesel::update(activities::table.find((workspace, id)))
            .set((
                activities::deleted_at.eq(deleted),
                activities::deleted_by.eq(deleted.map(|_| by)),
                activities::version.eq(activities::version + 1),
                activities::updated_at.eq(diesel::dsl::now),
                activities::updated_by.eq(by),
            ))
            .returning(Activity::as_returning())
            .get_result(conn)
    }

    /// One page of live activities, newest change first (or oldest, as the filter says), after
    /// (updated_at, id).
    pub fn list(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &ActivityFilter,
        after: Option<(DateTime<Utc>, ActivityId)>,
        limit: i64,
    ) -> QueryResult<Vec<Activity>> {
        let mut query = live_in(scope);
        if let Some(condition) = &filter.condition {
            query = query.filter(condition.clone());
        }
        if let Some(id) = filter.id {
            query = query.filter(activities::id.eq(id));
        }
        if let Some(client) = filter.client_id {
            query = query.filter(activities::client_id.eq(client));
        }
        if let Some(deal) = filter.deal_id {
            query = query.filter(activities::deal_id.eq(deal));
        }
        if let Some(assignee) = filter.assignee_id {
            query = query.filter(activities::assignee_id.eq(assignee));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(activities::kind.eq(kind));
        }
        match filter.status {
            Some("overdue") => {
                query = query.filter(status_is("planned")).filter(activities::due_at.lt(diesel::dsl::now));
            }
            Some(status) => query = query.filter(status_is(status)),
            None => {}
        }
        if let Some(from) = filter.due_from {
            query = query.filter(activities::due_at.ge(from));
        }
        if let Some(to) = filter.due_to {
            query = query.filter(activities::due_at.lt(to));
        }
        if let Some(since) = filter.updated_since {
            query = query.filter(activities::updated_at.ge(since));
        }
        if let Some((time, id)) = after {
            query = query.filter(SqlFragment::keyset_after("updated_at", !filter.oldest_first, time, id.0));
        }
        query = match filter.oldest_first {
            true => query.order((activities::updated_at.asc(), activities::id.asc())),
            false => query.order((activities::updated_at.desc(), activities::id.desc())),
        };
        query.select(Activity::as_select()).page_limit(limit).load(conn)
    }

    /// Fires up to `batch` due reminders, workspace by workspace; returns the activities whose
    /// reminder this call fired.
    ///
    /// The workspaces with due reminders are found without a lock, and each one's reminders are
    /// then claimed within it: a row lock taken across workspaces is a distributed one, which
    /// Citus refuses (docs/scaling.md).
    pub fn fire_due_reminders(
        conn: &mut PgConnection,
        batch: i64,
    ) -> QueryResult<Vec<(WorkspaceId, ActivityId)>> {
        #[derive(QueryableByName)]
        struct Fired {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            workspace_id: uuid::Uuid,
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: uuid::Uuid,
        }
        #[derive(QueryableByName)]
        struct DueIn {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            workspace_id: uuid::Uuid,
        }
        // The conditions of the due reminders' partial index, written out so that it serves.
        let due_in: Vec<DueIn> = diesel::sql_query(
            "SELECT DISTINCT workspace_id FROM activities \
             WHERE reminder_fired_at IS NULL AND status = 'planned' AND deleted_at IS NULL \
             AND reminder_at IS NOT NULL AND reminder_at <= now() LIMIT $1",
        )
        .bind::<diesel::sql_types::BigInt, _>(batch)
        .load(conn)?;
        let mut fired = Vec::new();
        for workspace in due_in.into_iter().map(|row| WorkspaceId(row.workspace_id)) {
            let left = batch - fired.len() as i64;
            if left <= 0 {
                break;
            }
            let rows: Vec<Fired> = diesel::sql_query(include_str!("../sql/claim_reminders.sql"))
                .bind::<diesel::sql_types::BigInt, _>(left)
                .bind::<diesel::sql_types::Uuid, _>(workspace.0)
                .load(conn)?;
            fired.extend(rows.into_iter().map(|row| (WorkspaceId(row.workspace_id), ActivityId(row.id))));
        }
        Ok(fired)
    }

    /// A user's fired reminders not yet acknowledged, latest first.
    pub fn pending_reminders(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        assignee: UserId,
    ) -> QueryResult<Vec<Activity>> {
        activities::table
            .filter(activities::workspace_id.eq(workspace))
            .filter(activities::assignee_id.eq(assignee))
            .filter(activities::reminder_fired_at.is_not_null())
            .filter(activities::reminder_acked_at.is_null())
            .filter(activities::deleted_at.is_null())
            .order((activities::reminder_fired_at.desc(), activities::id.desc()))
            .limit(200)
            .select(Activity::as_select())
            .load(conn)
    }

    /// Acknowledges a fired reminder of `assignee`'s; `None` when there is no such reminder.
    pub fn ack_reminder(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        assignee: UserId,
        id: ActivityId,
    ) -> QueryResult<Option<Activity>> {
        diesel::update(
            activities::table
                .find((workspace, id))
                .filter(activities::assignee_id.eq(assignee))
                .filter(activities::reminder_fired_at.is_not_null())
                .filter(activities::deleted_at.is_null()),
        )
        .set(activities::reminder_acked_at.eq(diesel::dsl::now))
        .returning(Activity::as_returning())
        .get_result(conn)
        .optional()
    }

    /// Live activities among `ids`.
    pub fn find_many(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[ActivityId],
    ) -> QueryResult<Vec<Activity>> {
        activities::table
            .filter(activities::workspace_id.eq(workspace))
            .filter(activities::id.eq_any(ids))
            .select(Activity::as_select())
            .load(conn)
    }

    /// The `limit` most recent of `assignee`'s planned activities due before `now`, oldest first.
    pub fn agenda_overdue(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        assignee: UserId,
        now: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<AgendaLine>> {
        let mut latest: Vec<AgendaLine> = planned_with_client(workspace, assignee)
            .filter(activities::due_at.lt(now))
            .order((activities::due_at.desc(), activities::id.desc()))
            .select(AgendaLine::as_select())
            .page_limit(limit)
            .load(conn)?;
        latest.reverse();
        Ok(latest)
    }

    /// How many of `assignee`'s planned activities are due before `now`.
    pub fn count_overdue(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        assignee: UserId,
        now: DateTime<Utc>,
    ) -> QueryResult<i64> {
        planned(workspace, assignee).filter(activities::due_at.lt(now)).count().get_result(conn)
    }

    /// Up to `limit` of `assignee`'s planned activities due in `[from, to)`, in time order.
    pub fn agenda_window(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        assignee: UserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<AgendaLine>> {
        planned_with_client(workspace, assignee)
            .filter(activities::due_at.ge(from))
            .filter(activities::due_at.lt(to))
            .order((activities::due_at.asc(), activities::id.asc()))
            .select(AgendaLine::as_select())
            .page_limit(limit)
            .load(conn)
    }
}

/// The activity has `status`, written into the SQL rather than bound.
///
/// With a bound status PostgreSQL can't prove a cached statement's generic plan stays inside
/// `activities_agenda_idx` (partial: planned and live), so that plan scanned the whole table, and
/// it re-planned the agenda's statements on every request instead (0.3-0.7 ms each at 1M
/// clients). With the literal, the generic plan walks the index and is reused. The statuses are
/// a handful of constants (`ActivityStatus`), so each makes one cached statement per shape.
fn status_is(status: &'static str) -> SqlFragment {
    debug_assert!(status.bytes().all(|byte| byte.is_ascii_lowercase()), "not a status: {status}");
    SqlFragment::fixed(&format!("(activities.status = '{status}')"))
}

/// A user's planned, live activities: what `activities_agenda_idx` holds.
#[dsl::auto_type]
fn planned(workspace: WorkspaceId, assignee: UserId) -> _ {
    let is_planned: SqlFragment = status_is("planned");
    activities::table
        .filter(activities::workspace_id.eq(workspace))
        .filter(activities::assignee_id.eq(assignee))
        .filter(is_planned)
        .filter(activities::deleted_at.is_null())
}

/// `planned`, each with its client when it has a live one.
#[dsl::auto_type(no_type_alias)]
fn planned_with_client(workspace: WorkspaceId, assignee: UserId) -> _ {
    let client_of_activity = clients::workspace_id
        .eq(activities::workspace_id)
        .and(clients::id.nullable().eq(activities::client_id))
        .and(clients::deleted_at.is_null());
    let activities: planned = planned(workspace, assignee);
    activities.left_join(clients::table.on(client_of_activity))
}

/// One line of an agenda: the activity, and its client's name and phones when it has a live
/// client, read in the same query.
#[derive(Debug, Queryable, Selectable)]
#[diesel(check_for_backend(Pg))]
pub struct AgendaLine {
    #[diesel(embed)]
    pub activity: Activity,
    #[diesel(select_expression = clients::display_name.nullable())]
    pub client_name: Option<String>,
    #[diesel(select_expression = clients::phones.nullable())]
    pub client_phones: Option<Json<Vec<ContactPoint>>>,
}

/// One row of a client's timeline, as `client_timeline.sql` returns it.
#[derive(Debug, Clone, QueryableByName)]
pub struct TimelineRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub source: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: uuid::Uuid,
    #[diesel(sql_type = Timestamptz)]
    pub at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub actor_id: Option<uuid::Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub action: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Jsonb>)]
    pub changes: Option<serde_json::Value>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub deal_id: Option<uuid::Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub contact_id: Option<uuid::Uuid>,
}

/// Which sources a timeline page draws from.
#[derive(Debug, Clone, Copy)]
pub struct TimelineSources {
    pub activities: bool,
    pub deals: bool,
    pub client: bool,
    pub contacts: bool,
}

pub fn client_timeline(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    client: ClientId,
    sources: TimelineSources,
    after: Option<(DateTime<Utc>, uuid::Uuid)>,
    limit: i64,
) -> QueryResult<Vec<TimelineRow>> {
    use crate::db::fragment::Bind;
    static CLIENT_TIMELINE: crate::db::sql_file::SqlText =
        crate::db::sql_file::SqlText::new(include_str!("../sql/client_timeline.sql"));
    crate::db::sql_file::SqlFile::new(&CLIENT_TIMELINE)
        .bind(Bind::Uuid(workspace.0))
        .bind(Bind::Uuid(client.0))
        .bind(Bind::Bool(sources.activities))
        .bind(Bind::Bool(sources.deals))
        .bind(Bind::Bool(sources.client))
        .bind(Bind::OptionalTimestamp(after.map(|(at, _)| at)))
        .bind(Bind::OptionalUuid(after.map(|(_, id)| id)))
        .bind(Bind::BigInt(limit))
        .bind(Bind::Bool(sources.contacts))
        .load(conn)
}

/// The live activities `scope` sees: those of a client it sees, and those assigned to someone in
/// it (a task with no client included).
fn live_in<'a>(scope: &ClientScope) -> activities::BoxedQuery<'a, Pg> {
    seen_in(scope).filter(activities::deleted_at.is_null())
}

/// The activities `scope` sees, deleted or not.
fn seen_in<'a>(scope: &ClientScope) -> activities::BoxedQuery<'a, Pg> {
    let mut query = activities::table.filter(activities::workspace_id.eq(scope.workspace())).into_boxed();
    if let Some(condition) = scope.record_condition("assignee_id", "client_id") {
        query = query.filter(condition);
    }
    query
}
