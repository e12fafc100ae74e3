//! Requests a minute per principal: each person has the server's limit
//! (`CRM_USER_REQUESTS_PER_MINUTE`), each API key its own. A principal's minute starts with its
//! first request; past the limit, requests are refused with 429 `rate_limited` until the minute is
//! over. Every answer to an authenticated request says where the caller stands, in the
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers of the IETF httpapi
//! draft, and `RateLimit-Policy` names the window.
//!
//! Counted in this process, like the login throttle: with several API processes behind a balancer,
//! a principal's effective limit is the limit times the processes its requests reach.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use crate::ids::UserId;

pub const WINDOW: Duration = Duration::from_secs(60);

/// A person's requests a minute unless `CRM_USER_REQUESTS_PER_MINUTE` says otherwise: 20 a second
/// on average, far above what an app's screens ask for, well below a script walking the base.
pub const DEFAULT_USER_REQUESTS_PER_MINUTE: u32 = 1_200;

/// An API key's requests a minute unless it is given its own.
pub const DEFAULT_KEY_REQUESTS_PER_MINUTE: u32 = 600;

/// Above this many principals, those whose minute is over are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Where a principal stands in its current minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub limit: u32,
    pub remaining: u32,
    /// Until the minute is over.
    pub reset: Duration,
}

#[derive(Debug, Default)]
pub struct RequestLimiter {
    minutes: Mutex<HashMap<UserId, Minute>>,
}

#[derive(Debug, Clone, Copy)]
struct Minute {
    started: Instant,
    requests: u32,
}

impl RequestLimiter {
    /// Counts a request of `who`, allowed `limit` a minute: its standing after it, as `Ok` when the
    /// request may go on and `Err` when it is over the limit (and not counted).
    pub fn count(&self, who: UserId, limit: u32, now: Instant) -> Result<Standing, Standing> {
        let mut minutes = self.minutes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if minutes.len() > PRUNE_ABOVE {
            minutes.retain(|_, minute| now.duration_since(minute.started) < WINDOW);
        }
        let minute = minutes.entry(who).or_insert(Minute { started: now, requests: 0 });
        if now.duration_since(minute.started) >= WINDOW {
            *minute = Minute { started: now, requests: 0 };
        }
        let reset = WINDOW.saturating_sub(now.duration_since(minute.started));
        if minute.requests >= limit {
            return Err(Standing { limit, remaining: 0, reset });
        }
        minute.requests += 1;
        Ok(Standing { limit, remaining: limit - minute.requests, reset })
    }
}

/// Adds the caller's standing, when the request counted against a limit, to its answer.
pub async fn add_rate_limit_headers(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = next.call(request).await?;
    let standing = response.request().extensions().get::<Standing>().copied();
    if let Some(standing) = standing {
        let headers = response.headers_mut();
        // As `Retry-After` says it: a client that waits that long finds a new minute.
        let reset = crate::error::seconds_to_wait(standing.reset);
        let policy = format!("{};w={}", standing.limit, WINDOW.as_secs());
        for (name, value) in [
            ("ratelimit-limit", standing.limit.to_string()),
            ("ratelimit-remaining", standing.remaining.to_string()),
            ("ratelimit-reset", reset.to_string()),
            ("ratelimit-policy", policy),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_gets_its_limit_a_minute_and_then_waits_for_the_next() {
        let limiter = RequestLimiter::default();
        let (anna, boris) = (UserId::generate(), UserId::generate());
        let start = Instant::now();
        for used in 1..=3 {
            let standing = limiter.count(anna, 3, start);
            assert_eq!(standing.map(|standing| standing.remaining), Ok(3 - used));
        }
        let refused = limiter.count(anna, 3, start + Duration::from_secs(20));
        assert_eq!(refused, Err(Standing { limit: 3, remaining: 0, reset: Duration::from_secs(40) }));
        // Another principal has its own minute.
        assert!(limiter.count(boris, 3, start).is_ok());
        // A new minute starts afresh.
        let next = limiter.count(anna, 3, start + WINDOW);
        assert_eq!(next, Ok(Standing { limit: 3, remaining: 2, reset: WINDOW }));
    }
}
