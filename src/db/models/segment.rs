//! Segments of clients, the member lists of static ones, and the record of every export.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;

use crate::db::change_order::{ListOrder, in_change_order};
use diesel::sql_types::{Bool, Nullable, Text, Uuid as SqlUuid};

use crate::db::fragment::SqlFragment;
use crate::db::models::Client;
use crate::db::models::client_stats::ClientStats;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{clients, segment_counts, segment_exports, segment_members, segments, workspaces};
use crate::db::visibility::ClientScope;
use crate::domain::enums::SegmentKind;
use crate::ids::{ClientId, SegmentId, UserId, WorkspaceId};

/// The advisory lock a segment is counted under, keyed by its id (`$1`).
const COUNT_LOCK: &str = "hashtextextended('segment count ' || $1::text, 0)";

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = segments, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(diesel::pg::Pg))]
pub struct Segment {
    pub workspace_id: WorkspaceId,
    pub id: SegmentId,
    pub name: String,
    pub description: Option<String>,
    pub kind: String,
    pub filter: Option<serde_json::Value>,
    pub builtin: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = segment_exports, primary_key(workspace_id, id), check_for_backend(diesel::pg::Pg))]
pub struct SegmentExport {
    pub workspace_id: WorkspaceId,
    pub id: uuid::Uuid,
    pub segment_id: SegmentId,
    pub segment_name: String,
    pub exported_by: UserId,
    pub request_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub row_count: i64,
    /// The consent purpose the export was for: only members who granted it were sent.
    pub consent_purpose: Option<String>,
    /// The members the export left out for want of that consent.
    pub excluded_without_consent: i64,
}

/// The condition "is a member of this static segment", for the clients table.
pub fn members_condition(workspace: WorkspaceId, segment: SegmentId) -> SqlFragment {
    SqlFragment::members_of(workspace.0, segment.0)
}

impl Segment {
    /// Gives a workspace the ready-made segments (dormant clients, frequent buyers, RFM
    /// champions, …).
    pub fn add_builtins(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<()> {
        let now = Utc::now();
        for builtin in crate::domain::segments::builtins() {
            Segment {
                workspace_id: workspace,
                id: SegmentId::generate(),
                name: builtin.name.to_string(),
                description: Some(builtin.description.to_string()),
                kind: SegmentKind::Dynamic.as_str().to_string(),
                filter: Some(builtin.filter),
                builtin: Some(builtin.key.to_string()),
                version: 1,
                created_at: now,
                updated_at: now,
                created_by: None,
                updated_by: None,
            }
            .insert(conn)?;
        }
        Ok(())
    }

    /// Gives every existing workspace the ready-made segments: run once, by the migration that
    /// introduced segments.
    pub fn add_builtins_everywhere(conn: &mut PgConnection) -> QueryResult<()> {
        for workspace in workspaces::table.select(workspaces::id).load::<WorkspaceId>(conn)? {
            Self::add_builtins(conn, workspace)?;
        }
        Ok(())
    }

    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Segment> {
        diesel::insert_into(segments::table).values(self).returning(Segment::as_returning()).get_result(conn)
    }

    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Segment> {
        diesel::update(segments::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(Segment::as_returning())
            .get_result(conn)
    }

    pub fn delete(&self, conn: &mut PgConnection) -> QueryResult<usize> {
        diesel::delete(segments::table.find((self.workspace_id, self.id))).execute(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: SegmentId) -> QueryResult<Segment> {
        segments::table.find((workspace, id)).select(Segment::as_select()).first(conn)
    }

    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: SegmentId,
    ) -> QueryResult<Segment> {
        segments::table.find((workspace, id)).select(Segment::as_select()).for_update().first(conn)
    }

    pub fn name_taken(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        name: &str,
        except: SegmentId,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            segments::table
                .filter(segments::workspace_id.eq(workspace))
                .filter(segments::id.ne(except))
                .filter(sql::<Bool>("lower(name) = lower(").bind::<Text, _>(name.to_string()).sql(")")),
        ))
        .get_result(conn)
    }

    /// One page of segments by name.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        order: ListOrder<(String, SegmentId)>,
        limit: i64,
    ) -> QueryResult<Vec<Segment>> {
        let mut query = segments::table.filter(segments::workspace_id.eq(workspace)).into_boxed();
        let query = match order {
            ListOrder::Own(after) => {
                if let Some((name, id)) = after {
                    query = query.filter(SqlFragment::keyset_after("name", false, name, id.0));
                }
                query.order((segments::name.asc(), segments::id.asc()))
            }
            ListOrder::Changed(window) => in_change_order!(query, segments, &window),
        };
        query.select(Segment::as_select()).page_limit(limit).load(conn)
    }

    /// How many live clients the scope sees match `condition`.
    pub fn count(conn: &mut PgConnection, scope: &ClientScope, condition: &SqlFragment) -> QueryResult<i64> {
        clients::table
            .filter(clients::workspace_id.eq(scope.workspace()))
            .filter(clients::deleted_at.is_null())
            .filter(scope.narrow(condition.clone()))
            .count()
            .get_result(conn)
    }

    /// The kept member count of this version of the segment, and when it was made.
    pub fn kept_count(
        conn: &mut PgConnection,
        segment: &Segment,
    ) -> QueryResult<Option<(i64, DateTime<Utc>)>> {
        segment_counts::table
            .find((segment.workspace_id, segment.id))
            .filter(segment_counts::segment_version.eq(segment.version))
            .select((segment_counts::member_count, segment_counts::counted_at))
            .first(conn)
            .optional()
    }

    /// Waits until no other transaction counts this segment, and keeps others waiting until this
    /// one ends (a transaction-level advisory lock on the segment's id).
    pub fn lock_for_counting(conn: &mut PgConnection, segment: &Segment) -> QueryResult<()> {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({COUNT_LOCK})"))
            .bind::<SqlUuid, _>(segment.id.0)
            .execute(conn)?;
        Ok(())
    }

    /// [`Segment::lock_for_counting`] without the wait: false when another transaction counts it.
    pub fn try_lock_for_counting(conn: &mut PgConnection, segment: &Segment) -> QueryResult<bool> {
        #[derive(QueryableByName)]
        struct Attempt {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            locked: bool,
        }
        let attempt: Attempt =
            diesel::sql_query(format!("SELECT pg_try_advisory_xact_lock({COUNT_LOCK}) AS locked"))
                .bind::<SqlUuid, _>(segment.id.0)
                .get_result(conn)?;
        Ok(attempt.locked)
    }

    /// Keeps a count of the segment's members, made at `counted_at`.
    pub fn keep_count(
        conn: &mut PgConnection,
        segment: &Segment,
        count: i64,
        counted_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(segment_counts::table)
            .values((
                segment_counts::workspace_id.eq(segment.workspace_id),
                segment_counts::segment_id.eq(segment.id),
                segment_counts::segment_version.eq(segment.version),
                segment_counts::member_count.eq(count),
                segment_counts::counted_at.eq(counted_at),
            ))
            .on_conflict((segment_counts::workspace_id, segment_counts::segment_id))
            .do_update()
            .set((
                segment_counts::segment_version.eq(segment.version),
                segment_counts::member_count.eq(count),
                segment_counts::counted_at.eq(counted_at),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Forgets the kept count of a static segment whose members changed.
    fn forget_count(conn: &mut PgConnection, workspace: WorkspaceId, segment: SegmentId) -> QueryResult<()> {
        diesel::delete(segment_counts::table.find((workspace, segment))).execute(conn)?;
        Ok(())
    }

    /// Adds the live clients among `ids` that the scope sees to a static segment; returns how many
    /// were new.
    pub fn add_members(
        conn: &mut PgConnection,
        scope: &ClientScope,
        segment: SegmentId,
        ids: &[ClientId],
        by: UserId,
    ) -> QueryResult<usize> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        Self::add_matching(conn, scope, segment, &SqlFragment::id_in(ids), by)
    }

    /// Adds every live client matching `condition` to a static segment, in one statement; returns
    /// how many were new.
    pub fn add_matching(
        conn: &mut PgConnection,
        scope: &ClientScope,
        segment: SegmentId,
        condition: &SqlFragment,
        by: UserId,
    ) -> QueryResult<usize> {
        let matching = clients::table
            .filter(clients::workspace_id.eq(scope.workspace()))
            .filter(clients::deleted_at.is_null())
            .filter(scope.narrow(condition.clone()))
            .select((
                clients::workspace_id,
                segment.0.into_sql::<SqlUuid>(),
                clients::id,
                Some(by.0).into_sql::<Nullable<SqlUuid>>(),
            ));
        diesel::insert_into(segment_members::table)
            .values(matching)
            .into_columns((
                segment_members::workspace_id,
                segment_members::segment_id,
                segment_members::client_id,
                segment_members::added_by,
            ))
            .on_conflict_do_nothing()
            .execute(conn)
            .and_then(|added| Self::forget_count(conn, scope.workspace(), segment).map(|()| added))
    }

    pub fn remove_members(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        segment: SegmentId,
        ids: &[ClientId],
    ) -> QueryResult<usize> {
        diesel::delete(
            segment_members::table
                .filter(segment_members::workspace_id.eq(workspace))
                .filter(segment_members::segment_id.eq(segment))
                .filter(segment_members::client_id.eq_any(ids)),
        )
        .execute(conn)
        .and_then(|removed| Self::forget_count(conn, workspace, segment).map(|()| removed))
    }

    /// Up to `limit` live clients matching `condition` after `after`, by id, with their stats:
    /// one chunk of an export.
    pub fn export_chunk(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        condition: &SqlFragment,
        after: Option<ClientId>,
        limit: i64,
    ) -> QueryResult<Vec<(Client, ClientStats)>> {
        let mut query = clients::table
            .filter(clients::workspace_id.eq(workspace))
            .filter(clients::deleted_at.is_null())
            .filter(condition.clone())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(clients::id.gt(after));
        }
        query
            .order(clients::id.asc())
            .select((Client::as_select(), ClientStats::as_select()))
            .page_limit(limit)
            .load(conn)
    }
}

impl SegmentExport {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(segment_exports::table).values(self).execute(conn).map(drop)
    }

    /// Counts rows as they are sent, so that an export cut short still says how much left.
    pub fn add_rows(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: uuid::Uuid,
        rows: i64,
        finished: bool,
    ) -> QueryResult<()> {
        let finished_at = finished.then(Utc::now);
        diesel::update(segment_exports::table.find((workspace, id)))
            .set((
                segment_exports::row_count.eq(segment_exports::row_count + rows),
                segment_exports::finished_at.eq(finished_at),
            ))
            .execute(conn)
            .map(drop)
    }

    /// The exports of a segment, newest first.
    pub fn of_segment(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        segment: SegmentId,
        limit: i64,
    ) -> QueryResult<Vec<SegmentExport>> {
        segment_exports::table
            .filter(segment_exports::workspace_id.eq(workspace))
            .filter(segment_exports::segment_id.eq(segment))
            .order((segment_exports::started_at.desc(), segment_exports::id.desc()))
            .select(SegmentExport::as_select())
            .page_limit(limit)
            .load(conn)
    }
}
