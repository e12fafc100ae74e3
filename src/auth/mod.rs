//! Authentication: passwords, access and refresh tokens, and the principal every request
//! resolves to.

pub mod password;
pub mod principal;
pub mod throttle;
pub mod tokens;

pub use principal::{Caller, DisclosureSlot, Principal, run_as, run_seeing, verified_caller};
