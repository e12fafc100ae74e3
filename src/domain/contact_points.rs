//! Emails, phones and messengers as a client or contact carries them, and their normalisation:
//! emails are checked and compared case-insensitively, phones become E.164 in the workspace's
//! default region. The normalised keys are what lookups and duplicate checks match on.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::ValidateEmail;

use super::FieldCode;
use super::Violation;
use super::enums::MessengerKind;

/// An email address or phone number with an optional label; one of a list may be primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPoint {
    /// The address or number. Phones are stored in E.164 (`+79123456789`), whatever format was sent.
    #[schema(example = "+79123456789", min_length = 1, max_length = 320)]
    pub value: String,
    /// Free text such as `work`, `home`, `mobile`.
    #[serde(default)]
    #[schema(example = "work", max_length = 50)]
    pub label: Option<String>,
    /// At most one per list; when none is marked, the first one is primary.
    #[serde(default)]
    pub primary: bool,
}

// EmailEntry and PhoneEntry are only schemas: the document's names for a `ContactPoint` in a
// list of emails and in a list of phones, so that each states the format of its value. The server
// reads both lists as `ContactPoint`.

/// An email address with an optional label; one of a list may be primary.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EmailEntry {
    /// Checked as an email address and compared case-insensitively.
    #[schema(format = Email, example = "ivan@example.com", max_length = 320)]
    value: String,
    /// Free text such as `work`, `home`.
    #[schema(example = "work", max_length = 50)]
    label: Option<String>,
    /// At most one per list; when none is marked, the first one is primary.
    #[serde(default)]
    primary: bool,
}

/// A phone number with an optional label; one of a list may be primary.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PhoneEntry {
    /// A number valid in its country's numbering plan (the format `phone`), in any notation:
    /// read in the workspace's `default_phone_region` when written without a country code, and
    /// stored and shown in E.164.
    #[schema(format = "phone", example = "+7 912 345-67-89", min_length = 1, max_length = 50)]
    value: String,
    /// Free text such as `work`, `mobile`.
    #[schema(example = "mobile", max_length = 50)]
    label: Option<String>,
    /// At most one per list; when none is marked, the first one is primary.
    #[serde(default)]
    primary: bool,
}

/// An account in a messaging service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Messenger {
    pub kind: MessengerKind,
    /// The user name, number or id in that service.
    #[schema(example = "@ivanov", min_length = 1, max_length = 200)]
    pub handle: String,
}

/// The most emails, phones or messengers one client or contact has.
pub const MAX_CONTACT_POINTS: usize = 20;
const MAX_ITEMS: usize = MAX_CONTACT_POINTS;
const MAX_LABEL: usize = 50;

/// Checks and normalises emails; returns them with their lower-cased lookup keys.
pub fn normalise_emails(
    field: &str,
    emails: Vec<ContactPoint>,
) -> Result<(Vec<ContactPoint>, Vec<String>), Vec<Violation>> {
    normalise(field, emails, |value| {
        let trimmed = value.trim();
        if trimmed.len() <= 320 && trimmed.validate_email() {
            Ok((trimmed.to_string(), trimmed.to_lowercase()))
        } else {
            Err((FieldCode::Email, "must be a valid email address".to_string()))
        }
    })
}

/// Checks and normalises phones to E.164, reading numbers without a country code as numbers of
/// `default_region` (ISO 3166 alpha-2).
pub fn normalise_phones(
    field: &str,
    phones: Vec<ContactPoint>,
    default_region: &str,
) -> Result<(Vec<ContactPoint>, Vec<String>), Vec<Violation>> {
    normalise(field, phones, |value| {
        let e164 = to_e164(value, default_region)?;
        Ok((e164.clone(), e164))
    })
}

/// Whether `code` is a region (ISO 3166-1 alpha-2, upper case) with a phone numbering plan.
pub fn is_phone_region(code: &str) -> bool {
    code.len() == 2 && code.parse::<phonenumber::country::Id>().is_ok()
}

/// Whether a phone is written with its country code (`+7 912…`): then [`to_e164`] needs no region.
pub fn has_country_code(value: &str) -> bool {
    value.trim_start().starts_with('+')
}

/// One phone number in E.164, for lookups by a number written any way.
pub fn to_e164(value: &str, default_region: &str) -> Result<String, (FieldCode, String)> {
    let region = default_region.parse::<phonenumber::country::Id>().ok();
    let invalid = || {
        (
            FieldCode::Phone,
            format!(
                "{value:?} is not a valid phone number (write it with its country code, like +7 912 345-67-89)"
            ),
        )
    };
    if value.trim().is_empty() || value.len() > 50 {
        return Err(invalid());
    }
    let number = phonenumber::parse(region, value.trim()).map_err(|_| invalid())?;
    if !phonenumber::is_valid(&number) {
        return Err(invalid());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

fn normalise(
    field: &str,
    items: Vec<ContactPoint>,
    normalise_value: impl Fn(&str) -> Result<(String, String), (FieldCode, String)>,
) -> Result<(Vec<ContactPoint>, Vec<String>), Vec<Violation>> {
    let mut violations = Vec::new();
    if items.len() > MAX_ITEMS {
        violations.push(Violation::new(field, FieldCode::TooMany, format!("at most {MAX_ITEMS} entries")));
    }
    if items.iter().filter(|item| item.primary).count() > 1 {
        violations.push(Violation::new(field, FieldCode::SeveralPrimary, "at most one entry may be primary"));
    }
    let mut normalised = Vec::with_capacity(items.len());
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let label = item.label.map(|label| label.trim().to_string()).filter(|label| !label.is_empty());
        if label.as_ref().is_some_and(|label| label.chars().count() > MAX_LABEL) {
            violations.push(Violation::new(
                format!("{field}[{index}].label"),
                FieldCode::Length,
                format!("must be at most {MAX_LABEL} characters long"),
            ));
        }
        match normalise_value(&item.value) {
            Ok((value, key)) => {
                if keys.contains(&key) {
                    violations.push(Violation::new(
                        format!("{field}[{index}].value"),
                        FieldCode::Duplicate,
                        "is listed twice",
                    ));
                }
                keys.push(key);
                normalised.push(ContactPoint { value, label, primary: item.primary });
            }
            Err((code, message)) => {
                violations.push(Violation::new(format!("{field}[{index}].value"), code, message))
            }
        }
    }
    if !violations.is_empty() {
        return Err(violations);
    }
    if !normalised.iter().any(|item| item.primary)
        && let Some(first) = normalised.first_mut()
    {
        first.primary = true;
    }
    Ok((normalised, keys))
}

/// Checks messengers: a handle of 1 to 200 characters, at most 20 of them.
pub fn check_messengers(field: &str, messengers: Vec<Messenger>) -> Result<Vec<Messenger>, Vec<Violation>> {
    let mut violations = Vec::new();
    if messengers.len() > MAX_ITEMS {
        violations.push(Violation::new(field, FieldCode::TooMany, format!("at most {MAX_ITEMS} entries")));
    }
    let messengers: Vec<Messenger> = messengers
        .into_iter()
        .enumerate()
        .map(|(index, messenger)| {
            let handle = messenger.handle.trim().to_string();
            if !(1..=200).contains(&handle.chars().count()) {
                violations.push(Violation::new(
                    format!("{field}[{index}].handle"),
                    FieldCode::Length,
                    "must be between 1 and 200 characters long",
                ));
            }
            Messenger { kind: messenger.kind, handle }
        })
        .collect();
    if violations.is_empty() { Ok(messengers) } else { Err(violations) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: &str) -> ContactPoint {
        ContactPoint { value: value.to_string(), label: None, primary: false }
    }

    #[test]
    fn phones_become_e164_in_the_default_region() {
        let (phones, keys) =
            normalise_phones("phones", vec![point("8 (912) 345-67-89"), point("+1 650 253 0000")], "RU")
                .unwrap_or_default();
        assert_eq!(keys, ["+79123456789", "+16502530000"]);
        assert_eq!(phones[0].value, "+79123456789");
        assert!(phones[0].primary, "the first becomes primary when none is");
        assert_eq!(to_e164("(650) 253-0000", "US").ok().as_deref(), Some("+16502530000"));
    }

    #[test]
    fn a_number_with_its_country_code_reads_the_same_without_a_region() {
        assert!(has_country_code(" +7 912 345-67-89"));
        assert!(!has_country_code("8 912 345-67-89"));
        for region in ["", "RU", "US"] {
            assert_eq!(
                to_e164(" +7 912 345-67-89", region).ok().as_deref(),
                Some("+79123456789"),
                "{region}"
            );
        }
    }

    #[test]
    fn an_unparseable_phone_is_named() {
        let violations =
            normalise_phones("phones", vec![point("+79123456789"), point("call me")], "RU").err();
        let violations = violations.unwrap_or_default();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "phones[1].value");
    }

    #[test]
    fn emails_are_checked_and_keyed_case_insensitively() {
        let (emails, keys) =
            normalise_emails("emails", vec![point(" Anna@Example.COM ")]).unwrap_or_default();
        assert_eq!(emails[0].value, "Anna@Example.COM");
        assert_eq!(keys, ["anna@example.com"]);
        let duplicate =
            normalise_emails("emails", vec![point("a@example.com"), point("A@example.com")]).err();
        assert_eq!(duplicate.unwrap_or_default()[0].code.as_str(), "duplicate");
        assert!(normalise_emails("emails", vec![point("not an email")]).is_err());
    }

    #[test]
    fn only_one_entry_may_be_primary() {
        let both = vec![
            ContactPoint { primary: true, ..point("a@example.com") },
            ContactPoint { primary: true, ..point("b@example.com") },
        ];
        assert_eq!(
            normalise_emails("emails", both).err().unwrap_or_default()[0].code.as_str(),
            "several_primary"
        );
    }
}

/// Consent to process personal data: when and how it was given, for what, and when revoked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub given_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How it was given: `paper_form`, `website`, `email`, …
    #[validate(length(max = 100))]
    #[schema(example = "paper_form", max_length = 100)]
    pub channel: Option<String>,
    #[validate(length(max = 500))]
    #[schema(example = "marketing newsletters", max_length = 500)]
    pub purpose: Option<String>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}
