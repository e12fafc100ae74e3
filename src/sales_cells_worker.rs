//! Background writing of the sales cells (`db::models::sales_cell`): every few seconds, the cells of
//! the days whose sales lines changed since. Reports add up stale days from their lines meanwhile,
//! so the pace sets how much of a report is read from lines, never whether it is up to date.
//! Workspaces are claimed one at a time with `FOR UPDATE SKIP LOCKED`, so any number of server
//! processes may run it.

use std::time::Duration;

use crate::background::repeat;
use crate::db::PgPool;
use crate::db::models::sales_cell;

/// How often the worker looks for stale days.
const INTERVAL: Duration = Duration::from_secs(5);

/// Runs until the actix system stops.
pub fn spawn(pool: PgPool) {
    let refresh =
        |conn: &mut diesel::PgConnection| sales_cell::refresh_due(conn).map_err(|error| error.to_string());
    repeat(
        pool,
        INTERVAL,
        "the sales cells refresh",
        |count| format!("wrote the sales cells of {count} day(s)"),
        refresh,
    );
}
