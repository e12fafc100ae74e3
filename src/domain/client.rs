//! Rules of the client record that don't need a database: its display name, which fields belong
//! to which kind, and the text fuzzy search reads.

use super::FieldCode;
use super::Violation;
use super::enums::ClientKind;

/// The name fields of a client or contact, as stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct Names<'a> {
    pub last_name: Option<&'a str>,
    pub first_name: Option<&'a str>,
    pub middle_name: Option<&'a str>,
    /// A company's name.
    pub name: Option<&'a str>,
}

/// "Last First Middle" for a person (the order used on Russian documents and in most CRMs of
/// the region), the name for a company; an explicit display name wins.
pub fn display_name(kind: ClientKind, names: Names<'_>, explicit: Option<&str>) -> String {
    if let Some(explicit) = explicit.map(str::trim).filter(|name| !name.is_empty()) {
        return explicit.to_string();
    }
    match kind {
        ClientKind::Person => person_name(names),
        ClientKind::Company => names.name.unwrap_or_default().trim().to_string(),
    }
}

/// "Last First Middle" of whichever parts are present.
pub fn person_name(names: Names<'_>) -> String {
    [names.last_name, names.first_name, names.middle_name]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The fields only a person has, and those only a company has: `check_kind_fields` refuses them on
/// the other kind (`api/clients/write.rs` passes them in), and the document's two kinds of
/// `ClientInput` leave them out.
pub const PERSON_ONLY: &[&str] = &["last_name", "first_name", "middle_name", "birth_date", "gender"];
pub const COMPANY_ONLY: &[&str] = &["name", "legal_name", "registration_number", "industry"];

/// The fields a client of `kind` must have, and those it must not.
pub fn check_kind_fields(
    kind: ClientKind,
    names: Names<'_>,
    company_only: &[(&str, bool)],
    person_only: &[(&str, bool)],
) -> Vec<Violation> {
    let present = |value: Option<&str>| value.is_some_and(|value| !value.trim().is_empty());
    let mut violations = Vec::new();
    let (wrong_fields, kind_name) = match kind {
        ClientKind::Person => {
            if !present(names.last_name) && !present(names.first_name) {
                violations.push(Violation::new(
                    "last_name",
                    FieldCode::Required,
                    "a person needs a last name or a first name",
                ));
            }
            (company_only, "a person")
        }
        ClientKind::Company => {
            if !present(names.name) {
                violations.push(Violation::new("name", FieldCode::Required, "a company needs a name"));
            }
            (person_only, "a company")
        }
    };
    for (field, is_set) in wrong_fields {
        if *is_set {
            violations.push(Violation::new(
                *field,
                FieldCode::NotAllowed,
                format!("is not a field of {kind_name}"),
            ));
        }
    }
    violations
}

/// What `q=` searches: names, emails and phones, lower-cased, in one string for one trigram index.
pub fn search_text<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    parts
        .into_iter()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_named_last_first_middle() {
        let names = Names {
            last_name: Some("Иванов"),
            first_name: Some("Иван"),
            middle_name: Some("Иванович"),
            name: None,
        };
        assert_eq!(display_name(ClientKind::Person, names, None), "Иванов Иван Иванович");
        let first_only = Names { first_name: Some(" Anna "), ..Names::default() };
        assert_eq!(display_name(ClientKind::Person, first_only, None), "Anna");
        assert_eq!(display_name(ClientKind::Person, first_only, Some("Ms Anna")), "Ms Anna");
    }

    #[test]
    fn each_kind_has_its_required_and_forbidden_fields() {
        let nobody = check_kind_fields(ClientKind::Person, Names::default(), &[("legal_name", true)], &[]);
        let fields: Vec<&str> = nobody.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["last_name", "legal_name"]);
        let company = Names { name: Some("Acme"), ..Names::default() };
        assert!(check_kind_fields(ClientKind::Company, company, &[], &[("birth_date", false)]).is_empty());
        assert_eq!(
            check_kind_fields(ClientKind::Company, company, &[], &[("birth_date", true)])[0].code.as_str(),
            "not_allowed"
        );
    }

    #[test]
    fn search_text_is_lower_cased_and_joined() {
        assert_eq!(search_text(["Иванов Иван", "", "IVAN@example.com"]), "иванов иван ivan@example.com");
    }
}

/// A postal address, each part optional.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    validator::Validate,
)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[validate(length(max = 100))]
    #[schema(example = "RU", max_length = 100)]
    pub country: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Tatarstan", max_length = 200)]
    pub region: Option<String>,
    #[validate(length(max = 200))]
    #[schema(example = "Kazan", max_length = 200)]
    pub city: Option<String>,
    #[validate(length(max = 500))]
    #[schema(example = "ul. Baumana, 1", max_length = 500)]
    pub street: Option<String>,
    #[validate(length(max = 20))]
    #[schema(example = "420111", max_length = 20)]
    pub postal_code: Option<String>,
}

/// Tags trimmed, without empty or repeated (case-insensitively) ones: at most 50 of up to 50
/// characters each.
pub fn normalise_tags(tags: Vec<String>) -> Result<Vec<String>, Vec<Violation>> {
    let mut kept: Vec<String> = Vec::new();
    let mut violations = Vec::new();
    for (index, tag) in tags.into_iter().enumerate() {
        let tag = tag.trim().to_string();
        if tag.is_empty() || tag.chars().count() > 50 {
            violations.push(Violation::new(
                format!("tags[{index}]"),
                FieldCode::Length,
                "must be between 1 and 50 characters long",
            ));
        } else if !kept.iter().any(|existing| existing.to_lowercase() == tag.to_lowercase()) {
            kept.push(tag);
        }
    }
    if kept.len() > 50 {
        violations.push(Violation::new("tags", FieldCode::TooMany, "at most 50 tags"));
    }
    if violations.is_empty() { Ok(kept) } else { Err(violations) }
}
