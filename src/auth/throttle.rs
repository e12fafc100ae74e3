//! Login throttling: wrong passwords for one account, or from one client address, lock further
//! attempts for a time that doubles with each failure beyond a free allowance. A locked attempt
//! is refused before its password is hashed, so a flood costs the server almost nothing.
//!
//! Hand-written rather than a rate limiter (such as `governor`): the policy is a lock that grows
//! with failures and is lifted by a success, not a steady rate. The counts live in the process,
//! so each API node throttles on its own; the audit trail will record the locks once it exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an account may have before each further one locks it.
const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failures one address may have: higher, as an office or a mobile network shares one address.
const ADDRESS_FREE_FAILURES: u32 = 20;
/// The longest lock: a quarter of an hour, which still leaves about 100 guesses a day.
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten this long after the last one.
const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// The most accounts and addresses tracked at once; beyond it, those forgotten make room first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Instant,
}

/// The failed logins of the last hour, by account and by client address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<Key, Failures>>,
}

/// How long to lock after `count` failures with `free` of them allowed: 1 s at the first beyond,
/// doubling up to [`MAX_LOCK`].
fn lock_for(count: u32, free: u32) -> Duration {
    match count.checked_sub(free) {
        None => Duration::ZERO,
        Some(beyond) => Duration::from_secs(1u64 << beyond.min(20)).min(MAX_LOCK),
    }
}

impl LoginThrottle {
    fn keys(account: &str, address: Option<IpAddr>) -> impl Iterator<Item = (Key, u32)> {
        let account = (Key::Account(account.trim().to_lowercase()), ACCOUNT_FREE_FAILURES);
        let address = address.map(|address| (Key::Address(address), ADDRESS_FREE_FAILURES));
        std::iter::once(account).chain(address)
    }

    /// `Err(wait)` while the account or the address is locked.
    pub fn check(&self, account: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let wait = Self::keys(account, address)
            .filter_map(|(key, _)| failures.get(&key))
            .map(|failures| failures.locked_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a wrong password against the account and the address.
    pub fn failed(&self, account: &str, address: Option<IpAddr>, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, failures| now.saturating_duration_since(failures.last) < FORGET_AFTER);
        }
        for (key, free) in Self::keys(account, address) {
            if failures.len() >= MAX_TRACKED && !failures.contains_key(&key) {
                continue;
            }
            let entry = failures.entry(key).or_insert(Failures { count: 0, last: now, locked_until: now });
            if now.saturating_duration_since(entry.last) >= FORGET_AFTER {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            entry.locked_until = now + lock_for(entry.count, free);
        }
    }

    /// A right password clears the account's failures (not the address's: one valid login must not
    /// let an address go on guessing others).
    pub fn succeeded(&self, account: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(&Key::Account(account.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

    #[test]
    fn an_account_is_locked_for_longer_with_each_failure_beyond_five() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for _ in 0..4 {
            throttle.failed("Anna@Example.com", HOME, start);
        }
        assert_eq!(throttle.check("anna@example.com", HOME, start), Ok(()));
        throttle.failed("anna@example.com ", HOME, start);
        assert_eq!(throttle.check("ANNA@example.com", None, start), Err(Duration::from_secs(1)));
        assert_eq!(throttle.check("anna@example.com", None, start + Duration::from_secs(1)), Ok(()));
        throttle.failed("anna@example.com", HOME, start + Duration::from_secs(1));
        assert_eq!(
            throttle.check("anna@example.com", None, start + Duration::from_secs(1)),
            Err(Duration::from_secs(2))
        );
        assert_eq!(lock_for(40, ACCOUNT_FREE_FAILURES), MAX_LOCK);

        throttle.succeeded("anna@example.com");
        assert_eq!(throttle.check("anna@example.com", None, start + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn an_address_guessing_many_accounts_is_locked_and_failures_are_forgotten() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for n in 0..ADDRESS_FREE_FAILURES {
            throttle.failed(&format!("user{n}@example.com"), HOME, start);
        }
        assert_eq!(throttle.check("someone.new@example.com", HOME, start), Err(Duration::from_secs(1)));
        assert_eq!(throttle.check("someone.new@example.com", None, start), Ok(()));
        let much_later = start + FORGET_AFTER;
        throttle.failed("user0@example.com", HOME, much_later);
        assert_eq!(throttle.check("user0@example.com", HOME, much_later), Ok(()), "the count began again");
    }
}
