//! Background refresh of client stats: about once an hour per workspace, re-ages the counts of
//! activities in the last 30/90 days and recomputes RFM scores and classes. Workspaces are claimed
//! with `FOR UPDATE SKIP LOCKED`, so any number of server processes may run it.

use std::time::Duration;

use crate::db::PgPool;
use crate::db::models::client_stats::ClientStats;

/// How often the worker looks for a workspace whose stats are due.
const INTERVAL: Duration = Duration::from_secs(60);

/// Runs until the actix system stops.
pub fn spawn(pool: PgPool) {
    actix_web::rt::spawn(async move {
        let mut interval = actix_web::rt::time::interval(INTERVAL);
        loop {
            interval.tick().await;
            let pool = pool.clone();
            let refreshed = actix_web::web::block(move || -> Result<usize, String> {
                let mut conn = pool.get().map_err(|error| error.to_string())?;
                let mut count = 0;
                while ClientStats::refresh_next_due(&mut conn).map_err(|error| error.to_string())? {
                    count += 1;
                }
                Ok(count)
            })
            .await;
            match refreshed {
                Ok(Ok(0)) => {}
                Ok(Ok(count)) => log::info!("refreshed client stats of {count} workspace(s)"),
                Ok(Err(error)) => log::warn!("the stats refresh failed: {error}"),
                Err(error) => log::warn!("the stats refresh failed: {error}"),
            }
        }
    });
}
