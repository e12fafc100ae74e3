//! The ids other systems know a record by: `{system: "1c", id: "000123"}`. An integrator finds and
//! upserts records by them instead of keeping a map of our ids. Within a workspace, one system's id
//! names at most one record of a kind; a record may carry several (one per system, or several of
//! one system after the other system merged duplicates).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{FieldCode, Violation};

/// The most refs a record carries.
pub const MOST_REFS: usize = 20;

/// One other system's id for a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalRef {
    /// The other system, in lower case: letters, digits, `_`, `-` and `.`, 1 to 50 characters,
    /// starting with a letter or digit.
    #[schema(example = "1c", min_length = 1, max_length = 50, pattern = "^[a-z0-9][a-z0-9_.-]{0,49}$")]
    pub system: String,
    /// The record's id in that system: 1 to 200 characters, no control characters (spaces around it
    /// are trimmed).
    #[schema(
        example = "000123",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub id: String,
}

impl ExternalRef {
    /// The ref named by a path or a lookup, exactly as given: checked as a record's would be; `Err`
    /// says why not.
    pub fn parse(system: &str, id: &str) -> Result<Self, String> {
        let checked = Self { system: system.to_string(), id: id.to_string() };
        match checked.problem() {
            Some((_, message)) => Err(message.to_string()),
            None => Ok(checked),
        }
    }

    /// A lookup's `system:id`, split at the first colon (a system has none).
    pub fn parse_lookup(text: &str) -> Result<Self, String> {
        let (system, id) =
            text.split_once(':').ok_or_else(|| "must be `system:id`, such as `1c:000123`".to_string())?;
        Self::parse(system, id)
    }

    fn problem(&self) -> Option<(&'static str, &'static str)> {
        let system_ok = (1..=50).contains(&self.system.len())
            && self.system.starts_with(|first: char| first.is_ascii_lowercase() || first.is_ascii_digit())
            && self.system.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
        if !system_ok {
            return Some((
                "system",
                "a system is 1 to 50 lower-case letters, digits, `_`, `-` or `.`, starting with a letter or digit",
            ));
        }
        let id_ok = !self.id.is_empty()
            && self.id.chars().count() <= 200
            && !self.id.chars().any(char::is_control)
            && self.id.trim() == self.id;
        if !id_ok {
            return Some((
                "id",
                "an id is 1 to 200 characters, without control characters or spaces around it",
            ));
        }
        None
    }
}

/// A record's refs as stored: ids trimmed, each checked, repeats dropped, at most [`MOST_REFS`].
pub fn normalise_refs(field: &str, refs: Vec<ExternalRef>) -> Result<Vec<ExternalRef>, Vec<Violation>> {
    let mut kept: Vec<ExternalRef> = Vec::new();
    let mut violations = Vec::new();
    for (index, given) in refs.into_iter().enumerate() {
        // An id may come with spaces around it from a spreadsheet; a system is a name, checked as is.
        let trimmed = ExternalRef { system: given.system, id: given.id.trim().to_string() };
        if let Some((part, message)) = trimmed.problem() {
            violations.push(Violation::new(format!("{field}[{index}].{part}"), FieldCode::Format, message));
        } else if !kept.contains(&trimmed) {
            kept.push(trimmed);
        }
    }
    if kept.len() > MOST_REFS {
        violations.push(Violation::new(
            field,
            FieldCode::TooMany,
            format!("at most {MOST_REFS} external refs"),
        ));
    }
    if violations.is_empty() { Ok(kept) } else { Err(violations) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(system: &str, id: &str) -> ExternalRef {
        ExternalRef { system: system.to_string(), id: id.to_string() }
    }

    #[test]
    fn refs_are_trimmed_checked_and_kept_once() {
        let refs = vec![at("1c", " 000123 "), at("1c", "000123"), at("shop.eu-1", "A/77")];
        assert_eq!(
            normalise_refs("external_refs", refs),
            Ok(vec![at("1c", "000123"), at("shop.eu-1", "A/77")])
        );
        let bad = normalise_refs(
            "external_refs",
            vec![at("1C", "1"), at("1c", ""), at("_x", "1"), at("x", "a\nb")],
        );
        let fields: Vec<String> = bad.err().unwrap_or_default().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "external_refs[0].system",
                "external_refs[1].id",
                "external_refs[2].system",
                "external_refs[3].id"
            ]
        );
    }

    #[test]
    fn a_lookup_is_system_colon_id() {
        assert_eq!(ExternalRef::parse_lookup("1c:000:123"), Ok(at("1c", "000:123")));
        assert!(ExternalRef::parse_lookup("000123").is_err());
        assert!(ExternalRef::parse_lookup("1c:").is_err());
        assert!(ExternalRef::parse_lookup("1c: 000123").is_err());
    }
}
