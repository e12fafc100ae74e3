//! Identical expensive reads asked for together, made once: a fresh segment count or a preview at
//! 1M clients reads every client (about 250 ms), and 16 of them at once queued for 3 s.
//!
//! The answer must be as fresh as if each request had made its own: it must count every write
//! committed before the request came. So a request never takes an answer whose reading began
//! before it came. It joins the next one instead: the first request to find none waiting starts
//! one, and every request for the same key that comes before that one's database work begins
//! shares its answer. At most one runs and one waits to run per key; a request waits for at most
//! the one running, and its own.
//!
//! This is within one process. Between processes, a fresh segment count shares counts through the
//! database (`count_segment_members`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::error::ApiError;

/// The answers being made, by key: the latest one started for each.
pub struct Coalescer<K, V> {
    flights: Mutex<HashMap<K, Arc<Flight<V>>>>,
}

/// One answer being made, and the requests waiting for it.
struct Flight<V> {
    /// Whether its database work has begun: from then on, no request may join it.
    begun: Mutex<bool>,
    /// `None` while it is made; then the answer, or `Some(None)` when it failed (each waiting
    /// request then makes its own, and meets the error itself).
    answer: watch::Sender<Option<Option<V>>>,
}

/// Ends a flight however its request ends: the requests waiting for it are told (if it was
/// dropped before answering, that it failed, so each makes its own), and it leaves the map unless
/// a later one took its place.
struct Landing<'a, K: Eq + Hash, V> {
    coalescer: &'a Coalescer<K, V>,
    key: K,
    flight: Arc<Flight<V>>,
}

impl<K: Eq + Hash, V> Drop for Landing<'_, K, V> {
    fn drop(&mut self) {
        self.flight.answer.send_if_modified(|answer| {
            let unanswered = answer.is_none();
            if unanswered {
                *answer = Some(None);
            }
            unanswered
        });
        let mut flights = self.coalescer.flights.lock().unwrap_or_else(PoisonError::into_inner);
        if flights.get(&self.key).is_some_and(|latest| Arc::ptr_eq(latest, &self.flight)) {
            flights.remove(&self.key);
        }
    }
}

/// Handed to the work that makes an answer: it calls [`Begin::now`] before it reads anything.
pub struct Begin<V>(Arc<Flight<V>>);

impl<V> Begin<V> {
    /// Closes the answer to requests that come from now on: its reading begins after them.
    pub fn now(&self) {
        *self.0.begun.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Default for Coalescer<K, V> {
    fn default() -> Self {
        Self { flights: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Coalescer<K, V> {
    /// The answer for `key`: shared with requests for the same key, from work that begins after
    /// this request came; else made by `make`, which must call [`Begin::now`] first thing in its
    /// database work.
    pub async fn answer<F, Fut>(&self, key: K, make: F) -> Result<V, ApiError>
    where
        F: FnOnce(Begin<V>) -> Fut,
        Fut: Future<Output = Result<V, ApiError>>,
    {
        if let Some(mut waiting) = self.join(&key)
            && let Ok(answer) = waiting.wait_for(Option::is_some).await
            && let Some(Some(value)) = answer.clone()
        {
            return Ok(value);
        }
        let flight = Arc::new(Flight { begun: Mutex::new(false), answer: watch::channel(None).0 });
        self.flights().insert(key.clone(), Arc::clone(&flight));
        let landing = Landing { coalescer: self, key, flight: Arc::clone(&flight) };
        let made = make(Begin(flight)).await;
        landing.flight.answer.send_replace(Some(made.as_ref().ok().cloned()));
        made
    }

    /// A wait for the answer for `key` whose work has not begun, if there is one.
    fn join(&self, key: &K) -> Option<watch::Receiver<Option<Option<V>>>> {
        let flights = self.flights();
        let flight = flights.get(key)?;
        let begun = flight.begun.lock().unwrap_or_else(PoisonError::into_inner);
        (!*begun).then(|| flight.answer.subscribe())
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Flight<V>>>> {
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::oneshot;

    use super::*;

    /// A request for `key` whose work, once begun, waits for `go` and answers with how many
    /// answers had been made before it.
    async fn ask(
        coalescer: &Coalescer<&'static str, usize>,
        made: &AtomicUsize,
        begin_at_once: bool,
        go: Option<oneshot::Receiver<()>>,
    ) -> Result<usize, ApiError> {
        coalescer
            .answer("key", |begin| async move {
                if begin_at_once {
                    begin.now();
                }
                if let Some(go) = go {
                    go.await.ok();
                }
                begin.now();
                Ok(made.fetch_add(1, Ordering::SeqCst))
            })
            .await
    }

    #[actix_web::test]
    async fn requests_that_come_before_the_work_begins_share_its_answer() {
        let coalescer = Coalescer::default();
        let made = AtomicUsize::new(0);
        let (go, wait) = oneshot::channel();
        // The first one's work waits before beginning; the other two come meanwhile.
        let first = ask(&coalescer, &made, false, Some(wait));
        let others = async {
            let joined = futures_util::future::join(ask(&coalescer, &made, false, None), async {
                actix_web::rt::task::yield_now().await;
                go.send(()).ok();
            });
            joined.await.0
        };
        let (first, second) = futures_util::future::join(first, others).await;
        assert_eq!((first.ok(), second.ok()), (Some(0), Some(0)));
        assert_eq!(made.load(Ordering::SeqCst), 1, "made once");
    }

    #[actix_web::test]
    async fn a_request_that_comes_after_the_work_began_gets_an_answer_of_its_own() {
        let coalescer = Coalescer::default();
        let made = AtomicUsize::new(0);
        let (go, wait) = oneshot::channel();
        // The first one's work has begun (and waits) when the second comes.
        let first = ask(&coalescer, &made, true, Some(wait));
        let second = async {
            actix_web::rt::task::yield_now().await;
            let answer = ask(&coalescer, &made, true, None).await;
            go.send(()).ok();
            answer
        };
        let both = futures_util::future::join(first, second);
        let (first, second) = actix_web::rt::time::timeout(std::time::Duration::from_secs(10), both)
            .await
            .expect("the second doesn't wait for the first's answer");
        assert_eq!((second.ok(), first.ok()), (Some(0), Some(1)), "the second made its own, first");
        assert_eq!(made.load(Ordering::SeqCst), 2);
    }

    #[actix_web::test]
    async fn when_the_first_request_is_dropped_the_others_make_their_own() {
        let coalescer = Coalescer::default();
        let made = AtomicUsize::new(0);
        let (_go, wait) = oneshot::channel::<()>();
        let mut first = Box::pin(ask(&coalescer, &made, false, Some(wait)));
        // Polled once, so it waits with its work not begun; then dropped, as a request whose
        // client went away.
        assert!(futures_util::FutureExt::now_or_never(first.as_mut()).is_none());
        let second = ask(&coalescer, &made, false, None);
        let (second, ()) = futures_util::future::join(second, async {
            actix_web::rt::task::yield_now().await;
            drop(first);
        })
        .await;
        assert_eq!(second.ok(), Some(0));
        assert_eq!(made.load(Ordering::SeqCst), 1);
    }
}
