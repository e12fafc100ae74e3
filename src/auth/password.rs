//! Password hashing with argon2id (the crate's defaults). Hashing is slow on purpose: it runs on
//! threads of its own ([`on_hashing_threads`]), never on the async workers.

use std::panic::{self, AssertUnwindSafe};
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

/// A hash or verification waiting for a hashing thread, wrapped to send its outcome back.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads: half the cores (at least one), at the lowest CPU priority. A flood of
/// logins queues here: its memory stays bounded (argon2's default takes 19 MiB per hash, one hash
/// per thread), and it takes CPU only when nothing else wants it. With the semaphore alone (normal
/// priority) 200 attackers doubled the other requests' p99; see docs/benchmarks.md.
static HASHERS: LazyLock<crossbeam_channel::Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
    let threads = std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 2).max(1));
    for n in 0..threads {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new().name(format!("crm-hash-{n}")).spawn(move || {
            if let Err(error) =
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
            {
                log::warn!("password hashing runs at normal priority: {error:?}");
            }
            for job in queue {
                job();
            }
        });
        if let Err(error) = spawned {
            log::error!("can't start a password hashing thread: {error}");
        }
    }
    jobs
});

#[derive(Debug, thiserror::Error)]
#[error("the password hashing work panicked or its threads are gone")]
pub struct HashingFailed;

/// Runs `work` (hashing or verifying passwords) on a hashing thread, in arrival order, and awaits
/// its outcome.
pub async fn on_hashing_threads<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashingFailed> {
    let (reply, outcome) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller went away while it waited (its client disconnected): nothing to hash for.
        if reply.is_closed() {
            return;
        }
        let _ = reply.send(panic::catch_unwind(AssertUnwindSafe(work)));
    });
    HASHERS.send(job).map_err(|_| HashingFailed)?;
    outcome.await.map_err(|_| HashingFailed)?.map_err(|_| HashingFailed)
}

/// Fewer characters than this is refused; more than the maximum would let one request burn CPU.
pub const MIN_LENGTH: u64 = 8;
pub const MAX_LENGTH: u64 = 256;

pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string())
}

pub fn verify(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// Spends the time of one verification, so that an unknown email takes as long to refuse as a
/// wrong password and the response time doesn't tell which accounts exist.
pub fn verify_against_nothing(password: &str) {
    static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash("not a real password").unwrap_or_default());
    verify(password, &DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_only_the_right_password() -> Result<(), argon2::password_hash::Error> {
        let stored = hash("correct horse")?;
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horse ", &stored));
        assert!(!verify("correct horse", "not a hash"));
        Ok(())
    }
}
