//! Background writing of the report cells (`db::models::report_cells`): every few seconds, the
//! sales, activity, client and funnel cells of the days whose records changed since. Reports add up
//! stale days from their records meanwhile, so the pace sets how much of a report is read from
//! records, never whether it is up to date. Workspaces are claimed one at a time with `FOR UPDATE
//! SKIP LOCKED`, so any number of server processes may run it.

use std::time::Duration;

use crate::background::repeat;
use crate::db::PgPool;
use crate::db::models::report_cells;

/// How often the worker looks for stale days.
const INTERVAL: Duration = Duration::from_secs(5);

/// Runs until the actix system stops.
pub fn spawn(pool: PgPool) {
    let refresh =
        |conn: &mut diesel::PgConnection| report_cells::refresh_due(conn).map_err(|error| error.to_string());
    repeat(
        pool,
        INTERVAL,
        "the report cells refresh",
        |count| format!("wrote the report cells of {count} day(s)"),
        refresh,
    );
}
