//! Consent to be contacted or profiled, per purpose: the rules of the ledger (`/clients/{id}/consents`)
//! that exports, call lists and campaigns obey. A person grants or withdraws consent to one purpose
//! at a time; the latest record of a purpose, by when it happened, is its current state. Never
//! recorded is neither: a purpose that needs consent treats it as not granted.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::enums::text_enum;
use super::{FieldCode, Violation};

text_enum!(
    /// Whether consent to a purpose is given.
    ConsentState { Granted => "granted", Withdrawn => "withdrawn" }
);

/// The purposes every workspace has: email and SMS marketing, calls, and profiling (segmenting a
/// person by their behaviour). A workspace adds its own (`consent_purposes` in its settings).
pub const BUILT_IN_PURPOSES: &[&str] = &["marketing_email", "marketing_sms", "calls", "profiling"];

/// The most purposes a workspace defines of its own.
pub const MAX_OWN_PURPOSES: usize = 50;

/// How far ahead of the server's clock a record's `occurred_at` may be: a device's clock a little
/// fast is not a consent given in the future.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// A purpose's current state on a client or contact: its latest record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CurrentConsent {
    pub state: ConsentState,
    /// When it was granted or withdrawn.
    pub occurred_at: DateTime<Utc>,
    /// Through which channel.
    #[schema(example = "website")]
    pub channel: String,
}

/// A client's or contact's current consents: `{purpose: its latest record}`. A purpose never
/// recorded is absent, and counts as not granted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct CurrentConsents(pub BTreeMap<String, CurrentConsent>);

impl CurrentConsents {
    pub fn get(&self, purpose: &str) -> Option<&CurrentConsent> {
        self.0.get(purpose)
    }
}

/// Whether `key` may name a purpose: snake_case, a letter first, up to 50 characters.
pub fn is_purpose_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && key.len() <= 50
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every purpose a workspace knows: the built-in ones, then its own.
pub fn known_purposes(own: &[String]) -> Vec<String> {
    BUILT_IN_PURPOSES.iter().map(|purpose| purpose.to_string()).chain(own.iter().cloned()).collect()
}

/// Checks a workspace's own purposes as they are to be saved.
pub fn check_own_purposes(field: &str, purposes: &[String]) -> Result<(), Violation> {
    if purposes.len() > MAX_OWN_PURPOSES {
        return Err(Violation::new(
            field,
            FieldCode::TooMany,
            format!("at most {MAX_OWN_PURPOSES} purposes of the workspace's own"),
        ));
    }
    for (index, purpose) in purposes.iter().enumerate() {
        let at = format!("{field}[{index}]");
        if !is_purpose_key(purpose) {
            return Err(Violation::new(
                at,
                FieldCode::Format,
                "a purpose is snake_case: a lower-case letter, then letters, digits and _, up to 50",
            ));
        }
        if BUILT_IN_PURPOSES.contains(&purpose.as_str()) {
            return Err(Violation::new(at, FieldCode::Duplicate, format!("{purpose} is a built-in purpose")));
        }
        if purposes[..index].contains(purpose) {
            return Err(Violation::new(at, FieldCode::Duplicate, format!("{purpose} is listed twice")));
        }
    }
    Ok(())
}

/// Checks the purpose a record names against the workspace's.
pub fn check_purpose(purpose: &str, own: &[String]) -> Result<(), Violation> {
    if BUILT_IN_PURPOSES.contains(&purpose) || own.iter().any(|known| known == purpose) {
        return Ok(());
    }
    Err(Violation::new(
        "purpose",
        FieldCode::Option,
        format!("must be one of {}", known_purposes(own).join(", ")),
    ))
}

/// Checks when a record says consent was granted or withdrawn: not in the future.
pub fn check_occurred_at(occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), Violation> {
    if occurred_at > now + CLOCK_SKEW {
        return Err(Violation::new(
            "occurred_at",
            FieldCode::InFuture,
            "consent can't be recorded ahead of time",
        ));
    }
    Ok(())
}

/// Whether `consents` grant `purpose`.
pub fn grants(consents: &CurrentConsents, purpose: &str) -> bool {
    consents.get(purpose).is_some_and(|consent| consent.state == ConsentState::Granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_keys_are_snake_case_and_short() {
        assert!(is_purpose_key("marketing_email"));
        assert!(is_purpose_key("loyalty2"));
        assert!(!is_purpose_key("Marketing"));
        assert!(!is_purpose_key("2fa"));
        assert!(!is_purpose_key(""));
        assert!(!is_purpose_key("with space"));
        assert!(!is_purpose_key(&"a".repeat(51)));
    }

    #[test]
    fn own_purposes_add_to_the_built_in_ones_once_each() {
        let own = |names: &[&str]| names.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        assert!(check_own_purposes("consent_purposes", &own(&["loyalty_club", "surveys"])).is_ok());
        let refused = |purposes: &[&str]| {
            check_own_purposes("consent_purposes", &own(purposes))
                .err()
                .map(|violation| (violation.field, violation.code))
        };
        assert_eq!(refused(&["calls"]), Some(("consent_purposes[0]".into(), FieldCode::Duplicate)));
        assert_eq!(
            refused(&["surveys", "surveys"]),
            Some(("consent_purposes[1]".into(), FieldCode::Duplicate))
        );
        assert!(check_purpose("surveys", &own(&["surveys"])).is_ok());
        let unknown = check_purpose("survey", &own(&["surveys"])).err().map(|violation| violation.code);
        assert_eq!(unknown, Some(FieldCode::Option));
    }

    #[test]
    fn only_a_granted_latest_state_grants() {
        let now = Utc::now();
        let state = |state| CurrentConsent { state, occurred_at: now, channel: "website".into() };
        let consents = CurrentConsents(BTreeMap::from([
            ("calls".to_string(), state(ConsentState::Granted)),
            ("marketing_email".to_string(), state(ConsentState::Withdrawn)),
        ]));
        assert!(grants(&consents, "calls"));
        assert!(!grants(&consents, "marketing_email"));
        assert!(!grants(&consents, "marketing_sms"), "never recorded is not granted");
        assert!(check_occurred_at(now + TimeDelta::minutes(1), now).is_ok());
        assert!(check_occurred_at(now + TimeDelta::hours(1), now).is_err());
    }
}
