//! Password hashing with argon2id (the crate's defaults). Hashing is slow on purpose: call these
//! only off the async workers (inside `db::run` or `web::block`).

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

/// Password hashes running at once: half the cores (at least one), so that a flood of logins
/// leaves the other half to everyone else, and its memory stays bounded (argon2's default takes
/// 19 MiB per hash). A login waits for a slot before it hashes.
pub static HASHING_SLOTS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    tokio::sync::Semaphore::new((cores / 2).max(1))
});

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
