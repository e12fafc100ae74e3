//! The reminder worker: every few seconds it fires the reminders that have come due. Any number
//! of server processes may run it; the claim skips rows another process holds.

use std::time::Duration;

use crate::db::PgPool;
use crate::db::models::Activity;

/// How often the worker looks for due reminders, and how many it fires at a time.
const INTERVAL: Duration = Duration::from_secs(5);
const BATCH: i64 = 500;

/// Runs until the actix system stops.
pub fn spawn(pool: PgPool) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(INTERVAL);
        loop {
            interval.tick().await;
            let pool = pool.clone();
            let fired = actix_web::web::block(move || -> Result<usize, String> {
                let mut conn = pool.get().map_err(|error| error.to_string())?;
                let mut total = 0;
                // Drain a backlog in batches, without holding one transaction for all of it.
                loop {
                    let fired =
                        Activity::fire_due_reminders(&mut conn, BATCH).map_err(|error| error.to_string())?;
                    total += fired.len();
                    if (fired.len() as i64) < BATCH {
                        return Ok(total);
                    }
                }
            })
            .await;
            match fired {
                Ok(Ok(0)) => {}
                Ok(Ok(count)) => log::info!("fired {count} reminder(s)"),
                Ok(Err(error)) => log::warn!("the reminder worker failed: {error}"),
                Err(error) => log::warn!("the reminder worker failed: {error}"),
            }
        }
    });
}
