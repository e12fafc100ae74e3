//! Whether the database answers, as requests see it. Once a request finds its connection dead or
//! gets none, a probe thread connects on its own, outside the pool: if that fails too, requests are
//! refused at once (503 `database_unavailable`, in [`super::run`]) instead of each waiting out the
//! pool's 5 s connection timeout, and the probe keeps trying until the database answers again.
//! The same for an external database and the embedded one, whose supervisor (`launch.rs`) also
//! restarts it.
//!
//! The probe decides only "down" from its own failed connection, never from a request's error: a
//! session the database ended (`pg_terminate_backend`, a pooler's recycling) costs that one
//! request a 503, but the probe then connects and the flag never drops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use diesel::{Connection, PgConnection};

use super::PgPool;

/// How often the probe tries while the database does not answer.
const PROBE_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(super) struct Reachability {
    reachable: AtomicBool,
    /// Wakes the probe; holds at most one pending suspicion, as one look answers them all.
    suspicions: Sender<()>,
}

impl Reachability {
    /// Starts the probe of the database at `url`. Its thread ends once this is dropped.
    pub(super) fn watch(url: &str, connections: PgPool) -> std::io::Result<Arc<Self>> {
        let (suspicions, raised) = crossbeam_channel::bounded(1);
        let reachability = Arc::new(Self { reachable: AtomicBool::new(true), suspicions });
        let watched = Arc::downgrade(&reachability);
        let url = url.to_string();
        std::thread::Builder::new()
            .name("crm-db-probe".to_string())
            .spawn(move || probe(&url, &connections, &raised, &watched))?;
        Ok(reachability)
    }

    pub(super) fn is_reachable(&self) -> bool {
        self.reachable.load(Ordering::Relaxed)
    }

    /// A request found its connection dead or could get none: the probe looks.
    pub(super) fn suspect(&self) {
        let _ = self.suspicions.try_send(());
    }

    /// Known to be down (the embedded cluster's postmaster is gone): refuse requests until the
    /// probe connects again.
    pub(super) fn mark_down(&self) {
        self.reachable.store(false, Ordering::Relaxed);
        self.suspect();
    }
}

fn probe(url: &str, connections: &PgPool, raised: &Receiver<()>, watched: &Weak<Reachability>) {
    // Ends when the pool, and with it the only sender, is gone.
    while raised.recv().is_ok() {
        loop {
            let answer = PgConnection::establish(url)
                .map_err(|error| error.to_string())
                .and_then(|mut conn| super::ping(&mut conn).map_err(|error| error.to_string()));
            let Some(reachability) = watched.upgrade() else { return };
            match answer {
                Ok(()) => {
                    if !reachability.reachable.swap(true, Ordering::Relaxed) {
                        discard_dead_idle(connections);
                        log::warn!("the database answers again: serving requests");
                    }
                    break;
                }
                Err(error) => {
                    if reachability.reachable.swap(false, Ordering::Relaxed) {
                        log::error!(
                            "the database can't be reached, refusing requests with 503 until it answers: {error}"
                        );
                    }
                }
            }
            drop(reachability);
            if raised.recv_timeout(PROBE_EVERY) == Err(RecvTimeoutError::Disconnected) {
                return;
            }
        }
    }
}

/// Drops the idle pooled connections the outage killed, so that the first requests after it are
/// not the ones to find them (each would be a 503).
fn discard_dead_idle(connections: &PgPool) {
    let idle: Vec<_> =
        std::iter::from_fn(|| connections.try_get()).take(connections.max_size() as usize).collect();
    for mut conn in idle {
        if super::ping(&mut conn).is_err() {
            // Read as the connection goes back to the pool, right below, on this thread.
            super::connection_lost();
        }
        drop(conn);
    }
}
