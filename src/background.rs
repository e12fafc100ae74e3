//! What the background workers (reminders, client stats, imports, sales cells) share: running a
//! job that counts what it did on a pooled connection, off the async workers, and logging the
//! outcome; and running one every few seconds.

use std::time::Duration;

use diesel::PgConnection;

use crate::db::PgPool;

/// Runs `job` on a connection of `pool` off the async workers and logs what came of it: `done`
/// with the count when it did anything, a warning that `what` failed when it failed.
pub async fn run_counting(
    pool: &PgPool,
    what: &'static str,
    done: fn(usize) -> String,
    job: impl FnOnce(&mut PgConnection) -> Result<usize, String> + Send + 'static,
) {
    let pool = pool.clone();
    let outcome = actix_web::web::block(move || -> Result<usize, String> {
        let mut conn = pool.get().map_err(|error| error.to_string())?;
        job(&mut conn)
    })
    .await;
    match outcome {
        Ok(Ok(0)) => {}
        Ok(Ok(count)) => log::info!("{}", done(count)),
        Ok(Err(error)) => log::warn!("{what} failed: {error}"),
        Err(error) => log::warn!("{what} failed: {error}"),
    }
}

/// Runs `job` every `interval` with [`run_counting`], until the actix system stops.
pub fn repeat(
    pool: PgPool,
    interval: Duration,
    what: &'static str,
    done: fn(usize) -> String,
    job: fn(&mut PgConnection) -> Result<usize, String>,
) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(interval);
        loop {
            ticks.tick().await;
            run_counting(&pool, what, done, job).await;
        }
    });
}
