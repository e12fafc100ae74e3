//! Authentication: passwords, access and refresh tokens, API keys and their scopes, rate limits,
//! and the principal every request resolves to.

pub mod api_key;
pub mod password;
pub mod principal;
pub mod rate_limit;
pub mod scopes;
pub mod throttle;
pub mod tokens;

pub use principal::{Caller, DisclosureSlot, Principal, authenticate, run_as, run_reading, run_seeing};
