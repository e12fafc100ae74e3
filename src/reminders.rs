//! Background work every server process runs: every few seconds it fires the reminders that have
//! come due (the claim skips rows another process holds, so any number of processes may run it),
//! and about hourly it purges stale refresh tokens.

use std::time::Duration;

use crate::background::run_counting;
use crate::db::PgPool;
use crate::db::models::{Activity, RefreshToken};

/// How often the worker looks for due reminders, and how many it fires at a time.
const INTERVAL: Duration = Duration::from_secs(5);
const BATCH: i64 = 500;
/// Purge stale refresh tokens every this many ticks (an hour).
const PURGE_EVERY: u32 = 720;

/// Runs until the actix system stops.
pub fn spawn(pool: PgPool) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(INTERVAL);
        let mut ticks: u32 = 0;
        loop {
            interval.tick().await;
            ticks = ticks.wrapping_add(1);
            if ticks % PURGE_EVERY == 1 {
                let purge = |conn: &mut diesel::PgConnection| {
                    RefreshToken::purge_stale(conn).map_err(|error| error.to_string())
                };
                let done = |count| format!("purged {count} stale refresh token(s)");
                run_counting(&pool, "purging refresh tokens", done, purge).await;
            }
            let fire = |conn: &mut diesel::PgConnection| {
                let mut total = 0;
                // Drain a backlog in batches, without holding one transaction for all of it.
                loop {
                    let fired =
                        Activity::fire_due_reminders(conn, BATCH).map_err(|error| error.to_string())?;
                    total += fired.len();
                    if (fired.len() as i64) < BATCH {
                        return Ok(total);
                    }
                }
            };
            run_counting(&pool, "the reminder worker", |count| format!("fired {count} reminder(s)"), fire)
                .await;
        }
    });
}
