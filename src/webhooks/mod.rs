//! Webhooks: the changes of a workspace, pushed to the endpoints its admins subscribe, signed as
//! the Standard Webhooks specification says, at least once, retried for three days. Two jobs every
//! server process runs: `dispatch` turns new changes into deliveries in the outbox, and
//! `deliver_due` sends the deliveries that are due. docs/webhooks.md tells the whole story.

pub mod address;
pub mod dispatch;
pub mod events;
pub mod sender;
pub mod signing;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use diesel::{Connection, PgConnection, QueryResult};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rand::Rng;

use crate::background::run_counting;
use crate::db::PgPool;
use crate::db::models::NewChangeEvent;
use crate::db::models::webhook::{
    AfterFailure, AttemptOutcome, ClaimedDelivery, Delivery, DispatchPosition, Webhook,
};
use crate::ids::{WebhookId, WorkspaceId};
use crate::webhooks::sender::{Sender, TIMEOUT};

/// How often the worker looks for new changes and due deliveries: well within the second a
/// change may take to reach its receiver.
const INTERVAL: Duration = Duration::from_millis(200);
/// Deliveries of one workspace sent at once.
const IN_FLIGHT: usize = 50;
/// How often a workspace's sender, with room in flight, records what was answered and claims more.
const REFILL_EVERY: Duration = Duration::from_millis(50);
/// How long a claimed delivery is left to its sender before another may send it again: the
/// attempt's deadline and a margin. A sender killed mid-attempt delays its deliveries this long.
pub const LEASE: TimeDelta = TimeDelta::seconds(TIMEOUT.as_secs() as i64 + 5);
/// How long a delivery is retried before it is given up and its webhook turned off.
pub const RETRY_FOR: TimeDelta = TimeDelta::days(3);
/// How long the log of a finished delivery (delivered or given up) is kept.
pub const KEEP_LOG_FOR: TimeDelta = TimeDelta::days(30);
/// How long the worker waits after a round failed (the database gone, say) before the next.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Rounds between two purges of that log: an hour.
const PURGE_EVERY: u32 = 3600 * 5;

/// Runs the dispatcher and the sender until the actix system stops, each in a loop of its own: a
/// slow endpoint keeps neither the next changes from the outbox nor other workspaces' deliveries
/// waiting.
pub fn spawn(pool: PgPool, allow_private: bool) {
    let dispatcher_pool = pool.clone();
    // The dispatcher wakes the sender when it queued something, rather than leave it to the
    // sender's next round.
    let queued = std::sync::Arc::new(tokio::sync::Notify::new());
    let wake_sender = queued.clone();
    actix_web::rt::spawn(async move {
        let pool = dispatcher_pool;
        let mut interval = actix_web::rt::time::interval(INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rounds: u32 = 0;
        loop {
            interval.tick().await;
            rounds = rounds.wrapping_add(1);
            if rounds % PURGE_EVERY == 1 {
                let done = |count| format!("purged {count} finished webhook deliveries");
                run_counting(&pool, "purging webhook deliveries", done, |conn| {
                    purge_finished(conn).map_err(|error| error.to_string())
                })
                .await;
            }
            // Not logged when it works: at five rounds a second, that would be most of the log.
            match on_connection(&pool, dispatch::dispatch_all).await {
                Ok(0) => {}
                Ok(_) => wake_sender.notify_one(),
                Err(error) => pause_after(&format!("the webhook dispatcher failed: {error}")).await,
            }
        }
    });
    actix_web::rt::spawn(async move {
        let sender = Sender::new(allow_private);
        let mut interval = actix_web::rt::time::interval(INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            futures_util::future::select(Box::pin(interval.tick()), Box::pin(queued.notified())).await;
            if let Err(error) = deliver_due(&pool, &sender).await {
                pause_after(&format!("the webhook sender failed: {error}")).await;
            }
        }
    });
}

/// Logs a failed round once and waits before the next, so that a database outage is one line
/// every few seconds, not five a second.
async fn pause_after(failure: &str) {
    log::warn!("{failure}; trying again in {} s", PAUSE_AFTER_FAILURE.as_secs());
    actix_web::rt::time::sleep(PAUSE_AFTER_FAILURE).await;
}

/// Claims and sends the due deliveries of every workspace with some, the workspaces side by side,
/// until none is due; how many attempts were made.
pub async fn deliver_due(pool: &PgPool, sender: &Sender) -> Result<usize, String> {
    let workspaces = on_connection(pool, |conn| Delivery::workspaces_due(conn, 100)).await?;
    let delivered = futures_util::future::join_all(
        workspaces.into_iter().map(|workspace| deliver_workspace(pool, sender, workspace)),
    )
    .await;
    delivered.into_iter().sum()
}

/// Sends a workspace's due deliveries, up to [`IN_FLIGHT`] at once: whenever half of them have
/// answered, their outcomes are recorded and more are claimed, so a slow endpoint holds up only
/// its own slots, not the workspace's other deliveries. Ends when nothing is in flight and nothing
/// more is due (a delivery just made may have been what a record's next change waited for).
async fn deliver_workspace(pool: &PgPool, sender: &Sender, workspace: WorkspaceId) -> Result<usize, String> {
    let mut in_flight = FuturesUnordered::new();
    let mut answered: Vec<(ClaimedDelivery, AttemptOutcome)> = Vec::new();
    let mut attempts = 0;
    let mut last_claim: Option<Instant> = None;
    loop {
        let refill_due = last_claim.is_none_or(|at| at.elapsed() >= REFILL_EVERY);
        if in_flight.is_empty() || (in_flight.len() <= IN_FLIGHT / 2 && refill_due) {
            if !answered.is_empty() {
                let results = std::mem::take(&mut answered);
                on_connection(pool, move |conn| record_all(conn, workspace, &results)).await?;
            }
            let room = (IN_FLIGHT - in_flight.len()) as i64;
            let claimed = on_connection(pool, move |conn| {
                Delivery::claim_due(conn, workspace, room, LEASE.num_seconds())
            })
            .await?;
            last_claim = Some(Instant::now());
            if claimed.is_empty() && in_flight.is_empty() {
                return Ok(attempts);
            }
            attempts += claimed.len();
            let now = Utc::now();
            for delivery in claimed {
                in_flight.push(async move {
                    let outcome = sender.send(&delivery, now).await;
                    (delivery, outcome)
                });
            }
        }
        // The next answer; while there is room, no longer than until the next refill, so that
        // deliveries that came due meanwhile don't wait for a slow endpoint's answer.
        let next = if in_flight.len() <= IN_FLIGHT / 2 {
            let left = REFILL_EVERY.saturating_sub(last_claim.map_or(Duration::ZERO, |at| at.elapsed()));
            actix_web::rt::time::timeout(left, in_flight.next()).await.ok().flatten()
        } else {
            in_flight.next().await
        };
        answered.extend(next);
    }
}

/// Deletes the finished deliveries older than [`KEEP_LOG_FOR`], a workspace at a time; how many.
pub fn purge_finished(conn: &mut PgConnection) -> QueryResult<usize> {
    let before = Utc::now() - KEEP_LOG_FOR;
    let mut purged = 0;
    for workspace in DispatchPosition::workspaces(conn)? {
        purged += Delivery::purge_finished(conn, workspace, before)?;
    }
    Ok(purged)
}

/// Records a claim's attempts in one transaction; a delivery given up turns its webhook off.
fn record_all(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    results: &[(ClaimedDelivery, AttemptOutcome)],
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let now = Utc::now();
        for (delivery, outcome) in results {
            let after_failure = after_failure(delivery.created_at, delivery.attempts, now);
            if !outcome.succeeded() {
                log::info!(
                    "webhook delivery {} failed (attempt {}): {}",
                    delivery.id,
                    delivery.attempts,
                    outcome.error.as_deref().unwrap_or("an answer other than 2xx")
                );
            }
            Delivery::record_attempt(conn, workspace, delivery.id, outcome, after_failure)?;
            if after_failure == AfterFailure::GiveUp && !outcome.succeeded() {
                turn_off(conn, workspace, delivery.webhook_id)?;
            }
        }
        Ok(())
    })
}

/// Turns off a webhook whose delivery was given up, and says so in the audit trail.
fn turn_off(conn: &mut PgConnection, workspace: WorkspaceId, webhook: WebhookId) -> QueryResult<()> {
    let reason = format!("deliveries failed for {} days", RETRY_FOR.num_days());
    let Some(disabled) = Webhook::disable(conn, workspace, webhook, &reason)? else {
        // Turned off already, by hand or by another delivery given up.
        return Ok(());
    };
    log::warn!("webhook {webhook} of workspace {workspace} turned off: {reason}");
    let changes = serde_json::json!({
        "active": {"from": true, "to": false},
        "disabled_reason": {"from": null, "to": reason},
    });
    NewChangeEvent {
        workspace_id: workspace,
        id: uuid::Uuid::now_v7(),
        entity: "webhook",
        entity_id: webhook.0,
        action: "disabled",
        version: Some(disabled.version),
        actor_id: None,
        request_id: None,
        changes,
    }
    .record(conn)
}

/// When a delivery first made at `created_at` is tried again after failing its `attempts`-th
/// attempt: after 10 s, then three times as long each time up to 6 h, each wait shortened or
/// lengthened at random by up to a fifth (so that an endpoint coming back is not hit by every
/// retry at once), until three days have passed.
pub fn after_failure(created_at: DateTime<Utc>, attempts: i32, now: DateTime<Utc>) -> AfterFailure {
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(10);
    let wait = (10 * 3i64.pow(exponent)).min(6 * 3600) as f64;
    let jittered = wait * rand::thread_rng().gen_range(0.8..1.2);
    let at = now + TimeDelta::milliseconds((jittered * 1000.0) as i64);
    if at > created_at + RETRY_FOR { AfterFailure::GiveUp } else { AfterFailure::RetryAt(at) }
}

async fn on_connection<T: Send + 'static>(
    pool: &PgPool,
    job: impl FnOnce(&mut diesel::PgConnection) -> diesel::QueryResult<T> + Send + 'static,
) -> Result<T, String> {
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|error| error.to_string())?;
        job(&mut conn).map_err(|error| error.to_string())
    })
    .await
    .map_err(|error| error.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_sooner_first_and_gives_up_after_three_days() {
        let created = Utc::now();
        let AfterFailure::RetryAt(first) = after_failure(created, 1, created) else {
            panic!("gave up at once")
        };
        let waited = (first - created).num_milliseconds();
        assert!((8_000..=12_000).contains(&waited), "{waited} ms");
        let AfterFailure::RetryAt(later) = after_failure(created, 8, created) else { panic!("gave up") };
        let waited = (later - created).num_seconds();
        assert!((17_280..=25_920).contains(&waited), "{waited} s: 6 h within a fifth");
        let late = created + TimeDelta::days(3) - TimeDelta::minutes(1);
        assert_eq!(after_failure(created, 20, late), AfterFailure::GiveUp);
    }
}
