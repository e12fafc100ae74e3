//! Background refresh of client stats: about once an hour per workspace, re-ages the counts of
//! activities in the last 30/90 days and recomputes RFM scores and classes. Workspaces are claimed
//! with `FOR UPDATE SKIP LOCKED`, so any number of server processes may run it.

use std::time::Duration;

use crate::background::repeat;
use crate::db::PgPool;
use crate::db::models::client_stats::ClientStats;

/// How often the worker looks for a workspace whose stats are due.
const INTERVAL: Duration = Duration::from_secs(60);

/// Runs until the actix system stops.
pub fn spawn(pool: PgPool) {
    let refresh = |conn: &mut diesel::PgConnection| {
        let mut count = 0;
        while ClientStats::refresh_next_due(conn).map_err(|error| error.to_string())? {
            count += 1;
        }
        Ok(count)
    };
    repeat(
        pool,
        INTERVAL,
        "the stats refresh",
        |count| format!("refreshed client stats of {count} workspace(s)"),
        refresh,
    );
}
