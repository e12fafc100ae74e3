//! The one record of change: every write stores an event here in its own transaction.

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::change_events;
use crate::ids::{UserId, WorkspaceId};

// `None` is NULL, not the column's default (the same here, as none of these columns has one), so
// that events can be copied in: see `copy_all`.
#[derive(Debug, Insertable)]
#[diesel(table_name = change_events, treat_none_as_default_value = false)]
pub struct NewChangeEvent<'a> {
    pub workspace_id: WorkspaceId,
    pub id: Uuid,
    pub entity: &'a str,
    pub entity_id: Uuid,
    pub action: &'a str,
    pub version: Option<i32>,
    pub actor_id: Option<UserId>,
    pub request_id: Option<&'a str>,
    /// `{field: {"from": old, "to": new}}` for the fields the write changed.
    pub changes: serde_json::Value,
}

/// A recorded event, as the audit trail reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = change_events, check_for_backend(diesel::pg::Pg))]
pub struct ChangeEvent {
    pub id: Uuid,
    pub entity: String,
    pub entity_id: Uuid,
    pub action: String,
    pub version: Option<i32>,
    pub actor_id: Option<UserId>,
    pub request_id: Option<String>,
    pub changes: serde_json::Value,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

/// Where a reader of the changes feed is: after event `id` of transaction `txid` (the order of the
/// feed is the transaction's id, then the event's). Transaction ids are never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FeedPosition {
    pub txid: u64,
    pub id: Uuid,
}

/// An event as the changes feed reads it, with its position.
#[derive(Debug, Clone, QueryableByName)]
pub struct FeedEvent {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub txid: i64,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub entity: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub entity_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub action: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
    pub version: Option<i32>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub actor_id: Option<UserId>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub request_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub changes: serde_json::Value,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}

impl FeedEvent {
    pub fn position(&self) -> FeedPosition {
        // A transaction id read back as bigint is never negative.
        FeedPosition { txid: self.txid.unsigned_abs(), id: self.id }
    }

    /// Up to `limit` events of `entities` after `after`, oldest first, of transactions that have
    /// all ended (see `sql/changes_feed.sql`). The horizon is read by a statement of its own first,
    /// so the page's snapshot is newer than it: the connection must read committed (the default).
    pub fn page(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        after: FeedPosition,
        entities: &[&str],
        limit: i64,
    ) -> QueryResult<Vec<FeedEvent>> {
        use crate::db::fragment::Bind;
        use crate::db::sql_file::{SqlFile, SqlText};
        static CHANGES_FEED: SqlText = SqlText::new(include_str!("../sql/changes_feed.sql"));
        let horizon = Self::horizon(conn)?;
        SqlFile::new(&CHANGES_FEED)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::Text(after.txid.to_string()))
            .bind(Bind::Uuid(after.id))
            .bind(Bind::TextList(entities.iter().map(|entity| entity.to_string()).collect()))
            .bind(Bind::BigInt(limit))
            .bind(Bind::Text(horizon.to_string()))
            .load(conn)
    }

    /// The id of the oldest transaction still running in this database, or the next to start:
    /// see `sql/changes_horizon.sql`.
    fn horizon(conn: &mut PgConnection) -> QueryResult<i64> {
        use crate::db::sql_file::{SqlFile, SqlText};
        #[derive(QueryableByName)]
        struct Horizon {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            horizon: i64,
        }
        static CHANGES_HORIZON: SqlText = SqlText::new(include_str!("../sql/changes_horizon.sql"));
        let found: Horizon = SqlFile::new(&CHANGES_HORIZON).get_result(conn)?;
        Ok(found.horizon)
    }

    /// The position before every event that a transaction still running, or yet to start, will
    /// write: where a reader starts to miss nothing committed from now on.
    pub fn position_now(conn: &mut PgConnection) -> QueryResult<FeedPosition> {
        // The smallest position of the horizon's transaction: strictly after it comes its first event.
        Ok(FeedPosition { txid: Self::horizon(conn)?.unsigned_abs(), id: Uuid::nil() })
    }
}

/// A change as the fold of a record's history reads it.
#[derive(Debug, Clone, QueryableByName)]
struct HistoryEvent {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    entity: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    entity_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    action: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    changes: serde_json::Value,
}

impl FeedEvent {
    /// The record each of `events` left behind, by event id: its creation's fields with every
    /// later change's new values laid over them, up to and with that event. None for a deletion
    /// (or a client merged into another), and for a record whose creation the log doesn't hold (made before the log, or by `crm
    /// seed`): a fold without its start would pass for a whole record. Fields the log doesn't
    /// carry (derived figures, such as a client's stats) are not in it.
    pub fn records_after(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        events: &[FeedEvent],
    ) -> QueryResult<std::collections::HashMap<Uuid, serde_json::Value>> {
        use crate::db::fragment::Bind;
        use crate::db::sql_file::{SqlFile, SqlText};
        static HISTORY: SqlText = SqlText::new(include_str!("../sql/changes_history.sql"));
        let mut records = std::collections::HashMap::new();
        let Some(first) = events.first().map(FeedEvent::position) else { return Ok(records) };
        // What came before the page is read, for the records whose first change on the page is
        // not their creation (a creation starts the fold afresh); the page itself is at hand.
        let mut seen = std::collections::HashSet::new();
        let mut keys: Vec<(String, Uuid)> = events
            .iter()
            .filter(|event| {
                seen.insert((event.entity.as_str(), event.entity_id)) && event.action != "created"
            })
            .map(|event| (event.entity.clone(), event.entity_id))
            .collect();
        keys.sort_unstable();
        let (kinds, ids): (Vec<String>, Vec<Uuid>) = keys.into_iter().unzip();
        let before: Vec<HistoryEvent> = if ids.is_empty() {
            Vec::new()
        } else {
            SqlFile::new(&HISTORY)
                .bind(Bind::Uuid(workspace.0))
                .bind(Bind::TextList(kinds))
                .bind(Bind::UuidList(ids))
                .bind(Bind::Text(first.txid.to_string()))
                .bind(Bind::Uuid(first.id))
                .load(conn)?
        };
        let history = before
            .iter()
            .map(|event| (event.id, &event.entity, event.entity_id, &event.action, &event.changes, false))
            .chain(events.iter().map(|event| {
                (event.id, &event.entity, event.entity_id, &event.action, &event.changes, true)
            }));
        let mut folded: std::collections::HashMap<(&str, Uuid), serde_json::Map<String, serde_json::Value>> =
            std::collections::HashMap::new();
        for (id, entity, entity_id, action, changes, on_page) in history {
            let key = (entity.as_str(), entity_id);
            let changed = changes.as_object();
            if action == "created" {
                let fields = changed
                    .into_iter()
                    .flatten()
                    .filter_map(|(field, change)| Some((field.clone(), change.get("to")?.clone())))
                    .collect();
                folded.insert(key, fields);
            } else if let Some(record) = folded.get_mut(&key) {
                // Only the fields the creation had: a merge's `moved`, a segment's `members_added`
                // and a reminder's note are about the change, not fields of the record.
                for (field, change) in changed.into_iter().flatten() {
                    if let (Some(value), Some(to)) = (record.get_mut(field), change.get("to")) {
                        *value = to.clone();
                    }
                }
            }
            let gone = action == "deleted" || (action == "merged" && changes.get("merged_into").is_some());
            if on_page
                && !gone
                && let Some(record) = folded.get(&key)
            {
                let mut record = record.clone();
                record.insert("id".to_string(), serde_json::json!(entity_id));
                records.insert(id, serde_json::Value::Object(record));
            }
        }
        Ok(records)
    }
}

/// What an audit page is narrowed to; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_id: Option<UserId>,
    /// Only events of these actors (a manager's team); `None` for anyone's.
    pub actors: Option<Vec<UserId>>,
    pub entity: Option<String>,
    pub entity_id: Option<Uuid>,
    pub action: Option<String>,
    /// Only these actions.
    pub actions: Option<&'static [&'static str]>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// A record deleted outright, as its deletion in the log shows it.
#[derive(Debug, Clone, Queryable)]
pub struct LoggedDeletion {
    pub event_id: Uuid,
    pub record_id: Uuid,
    pub deleted_at: chrono::DateTime<chrono::Utc>,
    pub deleted_by: Option<UserId>,
    pub version: Option<i32>,
}

impl ChangeEvent {
    /// The deletions of records of `entity` that leave no row behind (segments, pipelines, custom
    /// fields), from `since`, oldest first, after (deleted_at, event id) `after`.
    pub fn deletions_of(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        entity: &str,
        since: Option<chrono::DateTime<chrono::Utc>>,
        after: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
        limit: i64,
    ) -> QueryResult<Vec<LoggedDeletion>> {
        let mut query = change_events::table
            .filter(change_events::workspace_id.eq(workspace))
            .filter(change_events::entity.eq(entity.to_string()))
            .filter(change_events::action.eq("deleted"))
            .into_boxed();
        if let Some(since) = since {
            query = query.filter(change_events::occurred_at.ge(since));
        }
        if let Some((time, id)) = after {
            query =
                query.filter(crate::db::fragment::SqlFragment::keyset_after("occurred_at", false, time, id));
        }
        query
            .order((change_events::occurred_at.asc(), change_events::id.asc()))
            .select((
                change_events::id,
                change_events::entity_id,
                change_events::occurred_at,
                change_events::actor_id,
                change_events::version,
            ))
            .page_limit(limit)
            .load(conn)
    }

    /// When `actor` deleted records of `entity` since `since`, oldest first.
    pub fn deletions_since(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        actor: UserId,
        entity: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> QueryResult<Vec<chrono::DateTime<chrono::Utc>>> {
        change_events::table
            .filter(change_events::workspace_id.eq(workspace))
            .filter(change_events::actor_id.eq(actor))
            .filter(change_events::occurred_at.ge(since))
            .filter(change_events::entity.eq(entity))
            // A client merged into another is gone as a deleted one is.
            .filter(
                change_events::action.eq("deleted").or(change_events::action
                    .eq("merged")
                    .and(change_events::changes.has_key("merged_into"))),
            )
            .order(change_events::occurred_at.asc())
            .select(change_events::occurred_at)
            .load(conn)
    }

    /// One page of the workspace's events, newest first, before event `before`.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        filter: &AuditFilter,
        before: Option<Uuid>,
        limit: i64,
    ) -> QueryResult<Vec<ChangeEvent>> {
        let mut query = change_events::table.filter(change_events::workspace_id.eq(workspace)).into_boxed();
        if let Some(actor) = filter.actor_id {
            query = query.filter(change_events::actor_id.eq(actor));
        }
        if let Some(actors) = &filter.actors {
            query = query.filter(change_events::actor_id.eq_any(actors.clone()));
        }
        if let Some(entity) = &filter.entity {
            query = query.filter(change_events::entity.eq(entity.clone()));
        }
        if let Some(entity_id) = filter.entity_id {
            query = query.filter(change_events::entity_id.eq(entity_id));
        }
        if let Some(action) = &filter.action {
            query = query.filter(change_events::action.eq(action.clone()));
        }
        if let Some(actions) = filter.actions {
            query = query.filter(change_events::action.eq_any(actions));
        }
        if let Some(since) = filter.since {
            query = query.filter(change_events::occurred_at.ge(since));
        }
        if let Some(until) = filter.until {
            query = query.filter(change_events::occurred_at.lt(until));
        }
        if let Some(before) = before {
            query = query.filter(change_events::id.lt(before));
        }
        query.order(change_events::id.desc()).select(ChangeEvent::as_select()).page_limit(limit).load(conn)
    }
}

impl NewChangeEvent<'_> {
    pub fn record(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(change_events::table).values(self).execute(conn).map(drop)
    }

    /// Records many events at once with `COPY`: a batch's thousand events in a third of the time
    /// a multi-row `INSERT` of nine thousand parameters takes to send, parse and plan.
    pub fn copy_all(conn: &mut PgConnection, events: &[NewChangeEvent<'_>]) -> QueryResult<()> {
        if !events.is_empty() {
            diesel::copy_from(change_events::table).from_insertable(events).execute(conn)?;
        }
        Ok(())
    }
}

/// Builds the `changes` document of an event from (field, before, after) triples, keeping only
/// the fields whose value changed. Secrets are recorded as changed without their values.
#[derive(Debug, Default)]
pub struct ChangeSet(serde_json::Map<String, serde_json::Value>);

impl ChangeSet {
    pub fn field<T: serde::Serialize + PartialEq>(
        mut self,
        name: &str,
        before: Option<&T>,
        after: &T,
    ) -> Self {
        if before != Some(after) {
            let to_json = |value: &T| serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
            self.0.insert(
                name.to_string(),
                serde_json::json!({"from": before.map(to_json), "to": to_json(after)}),
            );
        }
        self
    }

    /// The fields of `after` that differ from `before` (all of them for a new record), leaving
    /// out bookkeeping fields such as `version` and `updated_at`.
    pub fn diff(
        mut self,
        before: Option<&serde_json::Value>,
        after: &serde_json::Value,
        skip: &[&str],
    ) -> Self {
        let Some(after) = after.as_object() else { return self };
        for (name, value) in after {
            if skip.contains(&name.as_str()) {
                continue;
            }
            let old = before.and_then(|before| before.get(name));
            if old != Some(value) {
                self.0.insert(name.clone(), serde_json::json!({"from": old, "to": value}));
            }
        }
        self
    }

    pub fn secret(mut self, name: &str, changed: bool) -> Self {
        if changed {
            self.0.insert(name.to_string(), serde_json::json!({"changed": true}));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_json(self) -> serde_json::Value {
        serde_json::Value::Object(self.0)
    }
}
