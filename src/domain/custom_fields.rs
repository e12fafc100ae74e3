//! Custom fields: what a definition allows, and the checking and normalising of the values records
//! carry in `custom: {key: value}`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use validator::{ValidateEmail, ValidateUrl};

use super::FieldCode;
use crate::domain::Violation;
use crate::domain::contact_points::to_e164;
use crate::domain::enums::CustomFieldType;

/// The rules of one custom field, as the value checks need them.
#[derive(Debug, Clone)]
pub struct FieldRules {
    pub key: String,
    pub field_type: CustomFieldType,
    pub required: bool,
    pub options: Vec<String>,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub max_length: Option<i32>,
    pub pattern: Option<regex::Regex>,
}

/// The longest text value when a definition sets no `max_length`.
pub const DEFAULT_MAX_LENGTH: usize = 10_000;

/// The most options an enum field may have.
pub const MAX_OPTIONS: usize = 500;

/// A record's custom values as the API takes them: `{key: value}`.
pub type CustomValues = Map<String, Value>;

/// A stored `custom` column as a map, for merging a partial update into it.
pub fn custom_of(stored: &Value) -> CustomValues {
    stored.as_object().cloned().unwrap_or_default()
}

/// Merges an update's `custom` into the record's values; a `null` stays until the check removes it.
pub fn merge_custom(values: &mut CustomValues, update: Option<CustomValues>) {
    values.extend(update.unwrap_or_default());
}

/// A custom field's definition, as its own consistency is checked.
#[derive(Debug, Clone, Copy)]
pub struct Definition<'a> {
    pub key: &'a str,
    pub label: &'a str,
    pub description: Option<&'a str>,
    pub field_type: CustomFieldType,
    pub options: &'a [String],
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub max_length: Option<i32>,
    pub pattern: Option<&'a str>,
}

/// Checks a definition's own consistency; every broken rule at once.
pub fn check_definition(definition: &Definition<'_>) -> Result<(), Vec<Violation>> {
    let field_type = definition.field_type;
    let mut violations = Vec::new();
    let mut refuse =
        |name: &str, code: FieldCode, message: &str| violations.push(Violation::new(name, code, message));
    let key = definition.key;
    let key_ok = key.len() <= 63
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !key_ok {
        refuse(
            "key",
            FieldCode::Format,
            "must be snake_case: a lower-case letter, then letters, digits or _ (at most 63)",
        );
    }
    if definition.label.is_empty() || definition.label.chars().count() > 200 {
        refuse("label", FieldCode::Length, "must be 1 to 200 characters");
    }
    if definition.description.is_some_and(|text| text.chars().count() > 2000) {
        refuse("description", FieldCode::Length, "must be at most 2000 characters");
    }
    let options = definition.options;
    if matches!(field_type, CustomFieldType::Enum | CustomFieldType::MultiEnum) {
        let mut seen = std::collections::HashSet::new();
        if options.is_empty() || options.len() > MAX_OPTIONS {
            refuse("options", FieldCode::Length, "an enum needs 1 to 500 options");
        } else if options.iter().any(|option| option.trim().is_empty() || option.chars().count() > 200) {
            refuse("options", FieldCode::Length, "each option must be 1 to 200 characters");
        } else if !options.iter().all(|option| seen.insert(option)) {
            refuse("options", FieldCode::Duplicate, "options must be distinct");
        }
    } else if !options.is_empty() {
        refuse("options", FieldCode::NotApplicable, "only enum and multi_enum fields have options");
    }
    let is_numeric = matches!(field_type, CustomFieldType::Number | CustomFieldType::Decimal);
    if !is_numeric && (definition.min.is_some() || definition.max.is_some()) {
        refuse("min", FieldCode::NotApplicable, "only number and decimal fields have min and max");
    }
    if let (Some(min), Some(max)) = (definition.min, definition.max)
        && min > max
    {
        refuse("max", FieldCode::Range, "must not be less than min");
    }
    let is_text = matches!(
        field_type,
        CustomFieldType::Text | CustomFieldType::Email | CustomFieldType::Phone | CustomFieldType::Url
    );
    match definition.max_length {
        Some(_) if !is_text => {
            refuse("max_length", FieldCode::NotApplicable, "only text-like fields have a max_length")
        }
        Some(length) if !(1..=DEFAULT_MAX_LENGTH as i32).contains(&length) => {
            refuse("max_length", FieldCode::Range, "must be 1 to 10000")
        }
        _ => {}
    }
    if let Some(pattern) = definition.pattern {
        if field_type != CustomFieldType::Text {
            refuse("pattern", FieldCode::NotApplicable, "only text fields have a pattern");
        } else if pattern.len() > 500
            || regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().is_err()
        {
            refuse(
                "pattern",
                FieldCode::Regex,
                "must be a valid regular expression of at most 500 characters",
            );
        }
    }
    if violations.is_empty() { Ok(()) } else { Err(violations) }
}

/// Checks a record's custom values against the workspace's definitions and returns them
/// normalised (emails lower-cased, phones in E.164, datetimes in UTC). `previous` is what the record
/// holds now (empty on create); `changes` is what the request sent, `null` clearing a key.
pub fn merge_and_check(
    rules: &[FieldRules],
    previous: &Map<String, Value>,
    changes: Map<String, Value>,
    phone_region: &str,
) -> Result<Map<String, Value>, Vec<Violation>> {
    let mut violations = Vec::new();
    let mut merged = previous.clone();
    for (key, value) in changes {
        let field = format!("custom.{key}");
        let Some(rule) = rules.iter().find(|rule| rule.key == key) else {
            violations.push(Violation::new(field, FieldCode::UnknownField, "no custom field with this key"));
            continue;
        };
        if value.is_null() {
            merged.remove(&key);
            continue;
        }
        match check_value(rule, &value, phone_region) {
            Ok(normalised) => {
                merged.insert(key, normalised);
            }
            Err((code, message)) => violations.push(Violation::new(field, code, message)),
        }
    }
    for rule in rules.iter().filter(|rule| rule.required) {
        if !merged.contains_key(&rule.key)
            && !violations.iter().any(|v| v.field == format!("custom.{}", rule.key))
        {
            violations.push(Violation::new(
                format!("custom.{}", rule.key),
                FieldCode::Required,
                "is required",
            ));
        }
    }
    if violations.is_empty() { Ok(merged) } else { Err(violations) }
}

/// One value checked against its field's rules, normalised; or the rule it broke. One arm per
/// field type, kept side by side rather than split into a function each.
pub fn check_value(
    rule: &FieldRules,
    value: &Value,
    phone_region: &str,
) -> Result<Value, (FieldCode, String)> {
    let wrong_type = |expected: &str| (FieldCode::Type, format!("must be {expected}"));
    match rule.field_type {
        CustomFieldType::Text | CustomFieldType::Email | CustomFieldType::Url | CustomFieldType::Phone => {
            let Value::String(text) = value else { return Err(wrong_type("a string")) };
            let text = text.trim();
            let limit = rule.max_length.map_or(DEFAULT_MAX_LENGTH, |max| max as usize);
            if text.is_empty() {
                return Err((FieldCode::Length, "must not be empty (send null to clear it)".into()));
            }
            if text.chars().count() > limit {
                return Err((FieldCode::Length, format!("must be at most {limit} characters")));
            }
            match rule.field_type {
                CustomFieldType::Email if !text.validate_email() => {
                    Err((FieldCode::Email, "must be a valid email address".into()))
                }
                CustomFieldType::Email => Ok(Value::String(text.to_lowercase())),
                CustomFieldType::Url
                    if !(text.validate_url()
                        && (text.starts_with("http://") || text.starts_with("https://"))) =>
                {
                    Err((FieldCode::Url, "must be an http or https URL".into()))
                }
                CustomFieldType::Phone => to_e164(text, phone_region).map(Value::String),
                _ => match &rule.pattern {
                    Some(pattern) if !pattern.is_match(text) => {
                        Err((FieldCode::Pattern, format!("must match the pattern {}", pattern.as_str())))
                    }
                    _ => Ok(Value::String(text.to_string())),
                },
            }
        }
        CustomFieldType::Number => {
            let Value::Number(number) = value else { return Err(wrong_type("a number")) };
            let decimal = Decimal::from_str_exact(&number.to_string())
                .or_else(|_| Decimal::from_scientific(&number.to_string()))
                .map_err(|_| (FieldCode::Range, "is out of the supported range".to_string()))?;
            check_range(rule, decimal)?;
            Ok(value.clone())
        }
        CustomFieldType::Decimal => {
            let Value::String(text) = value else {
                return Err(wrong_type("a decimal string, like \"12.50\""));
            };
            let decimal = Decimal::from_str_exact(text.trim())
                .map_err(|_| (FieldCode::Decimal, "must be a decimal string, like \"12.50\"".to_string()))?;
            check_range(rule, decimal)?;
            Ok(Value::String(decimal.to_string()))
        }
        CustomFieldType::Date => {
            let Value::String(text) = value else { return Err(wrong_type("a date string, YYYY-MM-DD")) };
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| (FieldCode::Date, "must be a date, YYYY-MM-DD".to_string()))?;
            Ok(Value::String(date.format("%Y-%m-%d").to_string()))
        }
        CustomFieldType::Datetime => {
            let Value::String(text) = value else { return Err(wrong_type("an RFC 3339 time string")) };
            let time = DateTime::parse_from_rfc3339(text).map_err(|_| {
                (FieldCode::Datetime, "must be an RFC 3339 time, like 2026-11-23T10:00:00Z".to_string())
            })?;
            Ok(Value::String(time.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        }
        CustomFieldType::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(wrong_type("true or false")),
        },
        CustomFieldType::Enum => {
            let Value::String(text) = value else { return Err(wrong_type("a string")) };
            check_option(rule, text)?;
            Ok(value.clone())
        }
        CustomFieldType::MultiEnum => {
            let Value::Array(items) = value else { return Err(wrong_type("a list of strings")) };
            let mut chosen: Vec<&str> = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(text) = item else { return Err(wrong_type("a list of strings")) };
                check_option(rule, text)?;
                if !chosen.contains(&text.as_str()) {
                    chosen.push(text);
                }
            }
            Ok(Value::Array(chosen.into_iter().map(|text| Value::String(text.to_string())).collect()))
        }
    }
}

fn check_range(rule: &FieldRules, value: Decimal) -> Result<(), (FieldCode, String)> {
    if let Some(min) = rule.min
        && value < min
    {
        return Err((FieldCode::Range, format!("must be at least {min}")));
    }
    if let Some(max) = rule.max
        && value > max
    {
        return Err((FieldCode::Range, format!("must be at most {max}")));
    }
    Ok(())
}

fn check_option(rule: &FieldRules, text: &str) -> Result<(), (FieldCode, String)> {
    if rule.options.iter().any(|option| option == text) {
        Ok(())
    } else {
        Err((FieldCode::Option, format!("must be one of {}", rule.options.join(", "))))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(key: &str, field_type: CustomFieldType) -> FieldRules {
        FieldRules {
            key: key.into(),
            field_type,
            required: false,
            options: vec!["gold".into(), "silver".into()],
            min: None,
            max: None,
            max_length: None,
            pattern: None,
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn values_are_normalised_and_null_clears_a_key() {
        let rules = [
            rule("email", CustomFieldType::Email),
            rule("seen", CustomFieldType::Datetime),
            rule("tiers", CustomFieldType::MultiEnum),
            rule("price", CustomFieldType::Decimal),
            rule("old", CustomFieldType::Text),
        ];
        let merged = merge_and_check(
            &rules,
            &object(json!({"old": "x"})),
            object(json!({
                "email": " Ann@Example.COM ", "seen": "2026-01-01T03:00:00+03:00",
                "tiers": ["gold", "gold", "silver"], "price": "12.50", "old": null
            })),
            "RU",
        );
        assert_eq!(
            merged.map(Value::Object),
            Ok(json!({"email": "ann@example.com", "seen": "2026-01-01T00:00:00Z",
                      "tiers": ["gold", "silver"], "price": "12.50"}))
        );
    }

    #[test]
    fn every_broken_rule_names_its_key() {
        let mut level = rule("level", CustomFieldType::Number);
        level.min = Some(Decimal::ONE);
        level.max = Some(Decimal::TEN);
        let mut code = rule("code", CustomFieldType::Text);
        code.pattern = regex::Regex::new("^[A-Z]{3}$").ok();
        let mut vip = rule("vip", CustomFieldType::Bool);
        vip.required = true;
        let rules = [level, code, vip, rule("tier", CustomFieldType::Enum)];
        let errors = merge_and_check(
            &rules,
            &Map::new(),
            object(json!({"level": 11, "code": "abc", "tier": "bronze", "nope": 1})),
            "RU",
        )
        .err()
        .unwrap_or_default();
        let found: Vec<(&str, &str)> = errors.iter().map(|v| (v.field.as_str(), v.code.as_str())).collect();
        assert_eq!(
            found,
            [
                ("custom.code", "pattern"),
                ("custom.level", "range"),
                ("custom.nope", "unknown_field"),
                ("custom.tier", "option"),
                ("custom.vip", "required")
            ]
        );
    }

    #[test]
    fn a_definition_names_every_inconsistency() {
        let options = vec!["gold".to_string(), "gold".to_string()];
        let broken = Definition {
            key: "Loyalty Tier",
            label: "",
            description: None,
            field_type: CustomFieldType::Enum,
            options: &options,
            min: Some(Decimal::ONE),
            max: None,
            max_length: Some(20),
            pattern: Some("("),
        };
        let found: Vec<(String, &str)> = check_definition(&broken)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|violation| (violation.field, violation.code.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("key".into(), "format"),
                ("label".into(), "length"),
                ("options".into(), "duplicate"),
                ("min".into(), "not_applicable"),
                ("max_length".into(), "not_applicable"),
                ("pattern".into(), "not_applicable"),
            ]
        );
        let tier = Definition {
            key: "loyalty_tier",
            label: "Loyalty tier",
            min: None,
            max_length: None,
            pattern: None,
            options: &options[..1],
            ..broken
        };
        assert_eq!(check_definition(&tier), Ok(()));
    }
}
