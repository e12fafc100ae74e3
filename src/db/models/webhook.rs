//! Webhooks, their outbox of deliveries, and the attempts made to deliver them (see the
//! `webhooks` migration and docs/webhooks.md).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::fragment::Bind;
use crate::db::models::change_event::{FeedEvent, FeedPosition};
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::{webhook_attempts, webhook_deliveries, webhook_dispatch, webhooks};
use crate::db::sql_file::{SqlFile, SqlText};
use crate::ids::{DeliveryId, PipelineId, UserId, WebhookId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
pub struct Webhook {
    pub workspace_id: WorkspaceId,
    pub id: WebhookId,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub pipeline_id: Option<PipelineId>,
    pub owner_id: Option<UserId>,
    pub active: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub version: i32,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook {
    pub workspace_id: WorkspaceId,
    pub id: WebhookId,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub pipeline_id: Option<PipelineId>,
    pub owner_id: Option<UserId>,
    pub active: bool,
    pub secret: String,
    pub created_by: UserId,
}

/// A partial update; `None` leaves a field alone.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub pipeline_id: Option<Option<PipelineId>>,
    pub owner_id: Option<Option<UserId>>,
    pub active: Option<bool>,
    /// Turning a disabled webhook on again clears why it was disabled.
    pub disabled_at: Option<Option<DateTime<Utc>>>,
    pub disabled_reason: Option<Option<String>>,
}

impl NewWebhook {
    /// Stores the webhook, and starts its workspace's dispatch at the current end of the change
    /// log if it had none: the webhook is sent the changes committed from now on.
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Webhook> {
        let webhook = diesel::insert_into(webhooks::table)
            .values(self)
            .returning(Webhook::as_returning())
            .get_result(conn)?;
        let now = FeedEvent::position_now(conn)?;
        static START: SqlText = SqlText::new(
            "INSERT INTO webhook_dispatch (workspace_id, txid, event_id) VALUES ($1, $2::xid8, $3)
             ON CONFLICT (workspace_id) DO NOTHING",
        );
        SqlFile::new(&START)
            .bind(Bind::Uuid(self.workspace_id.0))
            .bind(Bind::Text(now.txid.to_string()))
            .bind(Bind::Uuid(now.id))
            .execute(conn)?;
        Ok(webhook)
    }
}

/// The webhook `id` of `workspace`.
#[diesel::dsl::auto_type]
fn the_webhook(workspace: WorkspaceId, id: WebhookId) -> _ {
    webhooks::table.filter(webhooks::workspace_id.eq(workspace)).filter(webhooks::id.eq(id))
}

impl Webhook {
    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: WebhookId) -> QueryResult<Webhook> {
        the_webhook(workspace, id).select(Webhook::as_select()).first(conn)
    }

    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: WebhookId,
    ) -> QueryResult<Webhook> {
        the_webhook(workspace, id).select(Webhook::as_select()).for_update().first(conn)
    }

    /// One page of the workspace's webhooks, oldest first (ids are UUIDv7).
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        after: Option<WebhookId>,
        limit: i64,
    ) -> QueryResult<Vec<Webhook>> {
        let mut query = webhooks::table.filter(webhooks::workspace_id.eq(workspace)).into_boxed();
        if let Some(after) = after {
            query = query.filter(webhooks::id.gt(after));
        }
        query.order(webhooks::id.asc()).select(Webhook::as_select()).page_limit(limit).load(conn)
    }

    /// The webhooks of a workspace that are sent changes.
    pub fn active_in(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<Vec<Webhook>> {
        webhooks::table
            .filter(webhooks::workspace_id.eq(workspace))
            .filter(webhooks::active.eq(true))
            .order(webhooks::id.asc())
            .select(Webhook::as_select())
            .load(conn)
    }

    pub fn update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: WebhookId,
        changes: &WebhookChanges,
    ) -> QueryResult<Webhook> {
        diesel::update(the_webhook(workspace, id))
            .set((
                changes,
                webhooks::version.eq(webhooks::version + 1),
                webhooks::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Webhook::as_returning())
            .get_result(conn)
    }

    /// Puts a new secret in place; the current one keeps signing beside it until `previous_until`.
    pub fn rotate_secret(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: WebhookId,
        secret: &str,
        previous_until: DateTime<Utc>,
    ) -> QueryResult<Webhook> {
        diesel::update(the_webhook(workspace, id))
            .set((
                webhooks::previous_secret.eq(webhooks::secret.nullable()),
                webhooks::previous_secret_until.eq(previous_until),
                webhooks::secret.eq(secret),
                webhooks::version.eq(webhooks::version + 1),
                webhooks::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Webhook::as_returning())
            .get_result(conn)
    }

    /// Deletes the webhook with its deliveries and their attempts; whether there was one.
    pub fn delete(conn: &mut PgConnection, workspace: WorkspaceId, id: WebhookId) -> QueryResult<bool> {
        let deleted = diesel::delete(the_webhook(workspace, id)).execute(conn)?;
        Ok(deleted > 0)
    }

    /// Turns the webhook off after deliveries failed for too long, saying why.
    pub fn disable(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: WebhookId,
        reason: &str,
    ) -> QueryResult<Option<Webhook>> {
        diesel::update(the_webhook(workspace, id).filter(webhooks::active.eq(true)))
            .set((
                webhooks::active.eq(false),
                webhooks::disabled_at.eq(diesel::dsl::now),
                webhooks::disabled_reason.eq(reason),
                webhooks::version.eq(webhooks::version + 1),
                webhooks::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Webhook::as_returning())
            .get_result(conn)
            .optional()
    }
}

/// A change for a webhook, ready for the outbox.
#[derive(Debug)]
pub struct NewDelivery {
    pub workspace_id: WorkspaceId,
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_type: String,
    pub entity_id: Option<Uuid>,
    /// The change's place in the log; a ping takes its own transaction's.
    pub position: Option<FeedPosition>,
    pub change_id: Uuid,
    pub payload: serde_json::Value,
}

impl NewDelivery {
    /// Puts the deliveries in the outbox, due at once.
    pub fn insert_all(conn: &mut PgConnection, deliveries: &[NewDelivery]) -> QueryResult<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        // Rows as one JSON array: xid8 has no Diesel type, and one statement serves any count.
        let rows: Vec<serde_json::Value> = deliveries
            .iter()
            .map(|delivery| {
                serde_json::json!({
                    "workspace_id": delivery.workspace_id,
                    "id": delivery.id,
                    "webhook_id": delivery.webhook_id,
                    "event_type": delivery.event_type,
                    "entity_id": delivery.entity_id,
                    "txid": delivery.position.map(|position| position.txid.to_string()),
                    "change_id": delivery.change_id,
                    "payload": delivery.payload,
                })
            })
            .collect();
        static INSERT: SqlText = SqlText::new(
            "INSERT INTO webhook_deliveries (workspace_id, id, webhook_id, event_type, entity_id, txid, change_id, payload)
             SELECT workspace_id, id, webhook_id, event_type, entity_id,
                    coalesce(txid::xid8, pg_current_xact_id()), change_id, payload
             FROM jsonb_to_recordset($1) AS row (workspace_id uuid, id uuid, webhook_id uuid, event_type text,
                                                 entity_id uuid, txid text, change_id uuid, payload jsonb)",
        );
        SqlFile::new(&INSERT).bind(Bind::Jsonb(serde_json::Value::Array(rows))).execute(conn)?;
        Ok(())
    }
}

/// A delivery as its webhook's log shows it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_type: String,
    pub entity_id: Option<Uuid>,
    pub payload: serde_json::Value,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One attempt to deliver.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts, check_for_backend(diesel::pg::Pg))]
pub struct Attempt {
    pub delivery_id: DeliveryId,
    pub attempted_at: DateTime<Utc>,
    pub response_status: Option<i32>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// A delivery claimed for sending, with where and how to sign it.
#[derive(Debug, Clone, QueryableByName)]
pub struct ClaimedDelivery {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: DeliveryId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub webhook_id: WebhookId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub event_type: String,
    #[diesel(sql_type = diesel::sql_types::Jsonb)]
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub url: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub secret: String,
    /// The secret before the last rotation, while it still signs too.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub previous_secret: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    previous_secret_until: Option<DateTime<Utc>>,
}

/// What came of an attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub response_status: Option<u16>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

impl AttemptOutcome {
    pub fn succeeded(&self) -> bool {
        self.response_status.is_some_and(|status| (200..300).contains(&status))
    }
}

/// What happens to a delivery after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

impl Delivery {
    /// The workspaces with deliveries due now: found without locks, each then claimed on its own.
    pub fn workspaces_due(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<WorkspaceId>> {
        webhook_deliveries::table
            .filter(webhook_deliveries::status.eq("pending"))
            .filter(webhook_deliveries::next_attempt_at.le(diesel::dsl::now))
            .select(webhook_deliveries::workspace_id)
            .distinct()
            .limit(limit)
            .load(conn)
    }

    /// Claims up to `limit` of `workspace`'s due deliveries, each leased for `lease_seconds`: see
    /// `sql/claim_webhook_deliveries.sql`.
    pub fn claim_due(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        limit: i64,
        lease_seconds: i64,
    ) -> QueryResult<Vec<ClaimedDelivery>> {
        static CLAIM: SqlText = SqlText::new(include_str!("../sql/claim_webhook_deliveries.sql"));
        let claimed: Vec<ClaimedDelivery> = SqlFile::new(&CLAIM)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::BigInt(limit))
            .bind(Bind::BigInt(lease_seconds))
            .load(conn)?;
        let now = Utc::now();
        Ok(claimed
            .into_iter()
            .map(|mut delivery| {
                if delivery.previous_secret_until.is_none_or(|until| until <= now) {
                    delivery.previous_secret = None;
                }
                delivery
            })
            .collect())
    }

    /// Records an attempt and what follows from it: delivered, due again at a later time, or given
    /// up. Call it in a transaction: the attempt and the delivery's state go together.
    pub fn record_attempt(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: DeliveryId,
        outcome: &AttemptOutcome,
        after_failure: AfterFailure,
    ) -> QueryResult<()> {
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::workspace_id.eq(workspace),
                webhook_attempts::id.eq(Uuid::now_v7()),
                webhook_attempts::delivery_id.eq(id),
                webhook_attempts::response_status.eq(outcome.response_status.map(i32::from)),
                webhook_attempts::latency_ms.eq(outcome.latency_ms),
                webhook_attempts::response_excerpt.eq(&outcome.response_excerpt),
                webhook_attempts::error.eq(&outcome.error),
            ))
            .execute(conn)?;
        let this = webhook_deliveries::table
            .filter(webhook_deliveries::workspace_id.eq(workspace))
            .filter(webhook_deliveries::id.eq(id));
        if outcome.succeeded() {
            diesel::update(this)
                .set((
                    webhook_deliveries::status.eq("delivered"),
                    webhook_deliveries::delivered_at.eq(diesel::dsl::now),
                ))
                .execute(conn)?;
        } else {
            match after_failure {
                AfterFailure::RetryAt(at) => {
                    diesel::update(this).set(webhook_deliveries::next_attempt_at.eq(at)).execute(conn)?
                }
                AfterFailure::GiveUp => {
                    diesel::update(this).set(webhook_deliveries::status.eq("failed")).execute(conn)?
                }
            };
        }
        Ok(())
    }

    /// Deletes the workspace's deliveries (with their attempts) that were delivered or given up
    /// and made before `before`; how many.
    pub fn purge_finished(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        before: DateTime<Utc>,
    ) -> QueryResult<usize> {
        diesel::delete(
            webhook_deliveries::table
                .filter(webhook_deliveries::workspace_id.eq(workspace))
                .filter(webhook_deliveries::status.ne("pending"))
                .filter(webhook_deliveries::created_at.lt(before)),
        )
        .execute(conn)
    }

    pub fn find(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        webhook: WebhookId,
        id: DeliveryId,
    ) -> QueryResult<Delivery> {
        webhook_deliveries::table
            .filter(webhook_deliveries::workspace_id.eq(workspace))
            .filter(webhook_deliveries::webhook_id.eq(webhook))
            .filter(webhook_deliveries::id.eq(id))
            .select(Delivery::as_select())
            .first(conn)
    }

    /// One page of a webhook's deliveries, newest first, before `before`.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        webhook: WebhookId,
        status: Option<&str>,
        before: Option<DeliveryId>,
        limit: i64,
    ) -> QueryResult<Vec<Delivery>> {
        let mut query = webhook_deliveries::table
            .filter(webhook_deliveries::workspace_id.eq(workspace))
            .filter(webhook_deliveries::webhook_id.eq(webhook))
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(webhook_deliveries::status.eq(status.to_string()));
        }
        if let Some(before) = before {
            query = query.filter(webhook_deliveries::id.lt(before));
        }
        query.order(webhook_deliveries::id.desc()).select(Delivery::as_select()).page_limit(limit).load(conn)
    }

    /// The attempts made at `deliveries`, oldest first.
    pub fn attempts(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        deliveries: &[DeliveryId],
    ) -> QueryResult<Vec<Attempt>> {
        webhook_attempts::table
            .filter(webhook_attempts::workspace_id.eq(workspace))
            .filter(webhook_attempts::delivery_id.eq_any(deliveries))
            .order(webhook_attempts::id.asc())
            .select(Attempt::as_select())
            .load(conn)
    }

    /// Makes a delivery due again now, whatever became of it, its attempts kept.
    pub fn retry_now(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        webhook: WebhookId,
        id: DeliveryId,
    ) -> QueryResult<Delivery> {
        diesel::update(
            webhook_deliveries::table
                .filter(webhook_deliveries::workspace_id.eq(workspace))
                .filter(webhook_deliveries::webhook_id.eq(webhook))
                .filter(webhook_deliveries::id.eq(id)),
        )
        .set((
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::next_attempt_at.eq(diesel::dsl::now),
            webhook_deliveries::delivered_at.eq(None::<DateTime<Utc>>),
        ))
        .returning(Delivery::as_returning())
        .get_result(conn)
    }
}

/// The owner and pipeline of a record, for webhooks filtered by them.
#[derive(Debug, Clone, QueryableByName)]
pub struct RecordFacets {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub owner_id: Option<UserId>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub pipeline_id: Option<PipelineId>,
}

impl RecordFacets {
    pub fn of(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: Vec<Uuid>,
    ) -> QueryResult<Vec<RecordFacets>> {
        static FACETS: SqlText = SqlText::new(include_str!("../sql/webhook_record_facets.sql"));
        SqlFile::new(&FACETS).bind(Bind::Uuid(workspace.0)).bind(Bind::UuidList(ids)).load(conn)
    }
}

/// Where the dispatcher of a workspace's webhooks is in its change log.
pub struct DispatchPosition;

impl DispatchPosition {
    /// The workspaces whose webhooks have been dispatched: every one that ever had a webhook.
    pub fn workspaces(conn: &mut PgConnection) -> QueryResult<Vec<WorkspaceId>> {
        webhook_dispatch::table.select(webhook_dispatch::workspace_id).load(conn)
    }

    /// Those of them whose change log has gone on past their position: found without locks, an
    /// index probe each, so that a round costs nothing for the workspaces where nothing happened.
    pub fn workspaces_behind(conn: &mut PgConnection) -> QueryResult<Vec<WorkspaceId>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            workspace_id: WorkspaceId,
        }
        static BEHIND: SqlText = SqlText::new(
            "SELECT d.workspace_id FROM webhook_dispatch AS d
             WHERE EXISTS (SELECT 1 FROM change_events AS e
                           WHERE e.workspace_id = d.workspace_id AND (e.txid, e.id) > (d.txid, d.event_id))",
        );
        let rows: Vec<Row> = SqlFile::new(&BEHIND).load(conn)?;
        Ok(rows.into_iter().map(|row| row.workspace_id).collect())
    }

    /// Takes the workspace's position for this transaction; `None` when another process has it.
    pub fn claim(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<Option<FeedPosition>> {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            txid: i64,
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            event_id: Uuid,
        }
        static CLAIM: SqlText = SqlText::new(include_str!("../sql/webhook_dispatch_claim.sql"));
        let row: Option<Row> =
            SqlFile::new(&CLAIM).bind(Bind::Uuid(workspace.0)).get_result(conn).optional()?;
        Ok(row.map(|row| FeedPosition { txid: row.txid.unsigned_abs(), id: row.event_id }))
    }

    pub fn advance(conn: &mut PgConnection, workspace: WorkspaceId, to: FeedPosition) -> QueryResult<()> {
        static ADVANCE: SqlText = SqlText::new(
            "UPDATE webhook_dispatch SET txid = $2::xid8, event_id = $3, dispatched_at = now() WHERE workspace_id = $1",
        );
        SqlFile::new(&ADVANCE)
            .bind(Bind::Uuid(workspace.0))
            .bind(Bind::Text(to.txid.to_string()))
            .bind(Bind::Uuid(to.id))
            .execute(conn)?;
        Ok(())
    }
}
