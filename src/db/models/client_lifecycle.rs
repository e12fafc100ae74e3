//! Moving clients' lifecycle stages as their purchases say (`domain::lifecycle`): after every deal
//! write, for the clients it touched; and in the hourly stats refresh, for those whose last
//! purchase has grown old. Each move is a new version of the client with an `updated` change
//! event made by no user, so it is in the client's history, the changes feed and webhooks.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Text, Uuid as SqlUuid};

use crate::db::models::NewChangeEvent;
use crate::db::schema::clients;
use crate::domain::enums::LifecycleStage;
use crate::domain::lifecycle::{LifecycleRules, derived};
use crate::ids::{ClientId, WorkspaceId};

/// A client whose stage moves by itself, as its stats have it.
type Candidate = (ClientId, String, i32, Option<DateTime<Utc>>);

/// Moves the stages of `clients` (those no user set) to what their purchases say; how many moved.
pub fn advance(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    clients: impl IntoIterator<Item = Option<ClientId>>,
) -> QueryResult<usize> {
    let ids: Vec<ClientId> = clients.into_iter().flatten().collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let candidates: Vec<Candidate> =
        moving(workspace).filter(clients::id.eq_any(&ids)).select(CANDIDATE_COLUMNS).load(conn)?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let rules = rules(conn, workspace)?;
    apply(conn, workspace, rules, candidates)
}

/// Churns the workspace's customers whose last purchase is older than its rules allow; how many.
pub fn churn_dormant(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<usize> {
    let rules = rules(conn, workspace)?;
    let candidates: Vec<Candidate> = moving(workspace)
        .filter(clients::stats_won_count.gt(0))
        .filter(clients::lifecycle_stage.ne(LifecycleStage::Churned.as_str()))
        .filter(clients::stats_last_purchase_at.lt(Utc::now() - rules.churned_after))
        .select(CANDIDATE_COLUMNS)
        .load(conn)?;
    apply(conn, workspace, rules, candidates)
}

const CANDIDATE_COLUMNS: (
    clients::id,
    clients::lifecycle_stage,
    clients::stats_won_count,
    clients::stats_last_purchase_at,
) = (clients::id, clients::lifecycle_stage, clients::stats_won_count, clients::stats_last_purchase_at);

/// The workspace's live clients whose stage no user set.
fn moving(workspace: WorkspaceId) -> clients::BoxedQuery<'static, diesel::pg::Pg> {
    clients::table
        .filter(clients::workspace_id.eq(workspace))
        .filter(clients::deleted_at.is_null())
        .filter(clients::lifecycle_set_by_hand.eq(false))
        .into_boxed()
}

fn rules(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<LifecycleRules> {
    Ok(crate::db::models::Workspace::find(conn, workspace)?.lifecycle_rules())
}

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = SqlUuid)]
    id: uuid::Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
}

fn apply(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    rules: LifecycleRules,
    candidates: Vec<Candidate>,
) -> QueryResult<usize> {
    let now = Utc::now();
    let moves: Vec<(ClientId, String, LifecycleStage)> = candidates
        .into_iter()
        .filter_map(|(id, stage, won_count, last_purchase_at)| {
            let current = stage.parse().unwrap_or(LifecycleStage::Lead);
            let next = derived(current, won_count, last_purchase_at, now, rules);
            (next != current).then_some((id, stage, next))
        })
        .collect();
    if moves.is_empty() {
        return Ok(0);
    }
    let ids: Vec<uuid::Uuid> = moves.iter().map(|(id, _, _)| id.0).collect();
    let before: Vec<&str> = moves.iter().map(|(_, before, _)| before.as_str()).collect();
    let after: Vec<&str> = moves.iter().map(|(_, _, next)| next.as_str()).collect();
    // Read without a lock: a client a user changed meanwhile (their stage set by hand, or another
    // move) is left as they left it, the condition checked again on the row the update locks.
    let moved: Vec<Moved> = diesel::sql_query(
        "UPDATE clients AS c SET lifecycle_stage = m.after, version = c.version + 1, updated_at = now(), \
         updated_by = NULL FROM unnest($2::uuid[], $3::text[], $4::text[]) AS m (id, before, after) \
         WHERE c.workspace_id = $1 AND c.id = m.id AND c.lifecycle_stage = m.before \
         AND NOT c.lifecycle_set_by_hand AND c.deleted_at IS NULL RETURNING c.id, c.version",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&before)
    .bind::<Array<Text>, _>(&after)
    .load(conn)?;
    let by_id: HashMap<uuid::Uuid, (&str, &str)> =
        moves.iter().map(|(id, before, after)| (id.0, (before.as_str(), after.as_str()))).collect();
    let events: Vec<NewChangeEvent> = moved
        .iter()
        .filter_map(|row| {
            let (before, after) = by_id.get(&row.id)?;
            Some(NewChangeEvent {
                workspace_id: workspace,
                id: uuid::Uuid::now_v7(),
                entity: "client",
                entity_id: row.id,
                action: "updated",
                version: Some(row.version),
                actor_id: None,
                request_id: None,
                changes: serde_json::json!({"lifecycle_stage": {"from": before, "to": after}}),
            })
        })
        .collect();
    NewChangeEvent::copy_all(conn, &events)?;
    Ok(moved.len())
}
