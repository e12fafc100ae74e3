//! Free text as records store it.

use super::FieldCode;
use super::Violation;

/// The text without the whitespace around it (any Unicode whitespace: tabs, line breaks, U+00A0,
/// U+3000); `None` when nothing is left, so a blank optional field is stored as absent.
pub fn trimmed(value: Option<impl AsRef<str>>) -> Option<String> {
    value.map(|value| value.as_ref().trim().to_string()).filter(|value| !value.is_empty())
}

/// A required name without the whitespace around it, refused as `blank` when nothing is left: a
/// name made of blanks is no name, and the database would refuse it.
pub fn non_blank(field: &str, value: &str) -> Result<String, Violation> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Violation::new(field, FieldCode::Blank, "must not be blank"));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_text_is_no_text() {
        assert_eq!(trimmed(Some(" \u{3000}Tea\t")), Some("Tea".to_string()));
        assert_eq!(trimmed(Some(" \u{a0}\n")), None);
        assert_eq!(trimmed(None::<String>), None);
        assert_eq!(non_blank("title", "\u{a0}").map_err(|violation| violation.code.as_str()), Err("blank"));
        assert_eq!(non_blank("title", " Tea "), Ok("Tea".to_string()));
    }
}
