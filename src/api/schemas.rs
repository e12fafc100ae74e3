//! Schemas of the JSON some handlers read or send as `serde_json::Value`: the filter language,
//! custom field values and timeline payloads. Written out here so that generated clients get real
//! types; described as a bare object, TypeScript made them `Record<string, never>`, which no
//! filter or custom value fits. The rules themselves live in `domain::filter` and
//! `domain::custom_fields`; these schemas name their shapes.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{PartialSchema, ToSchema};

use crate::domain::filter::{MAX_CONDITIONS, MAX_DEPTH, MAX_LIST, Operator};

/// A schema written as the JSON it serialises to.
pub(crate) fn written(schema: serde_json::Value) -> RefOr<Schema> {
    serde_json::from_value(schema)
        .unwrap_or_else(|error| panic!("a schema in api/schemas.rs is malformed: {error}"))
}

fn reference(name: &str) -> serde_json::Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A filter of the filter language: a condition or a group of filters (see docs/filters.md).
pub struct Filter;

impl PartialSchema for Filter {
    fn schema() -> RefOr<Schema> {
        written(json!({
            "description": format!(
                "A condition `{{field, op, value}}`, or a group: `{{all: [...]}}` (every one holds) or \
                 `{{any: [...]}}` (at least one does). Groups nest at most {MAX_DEPTH} deep; a filter holds at \
                 most {MAX_CONDITIONS} conditions. Fields and the operators each takes: docs/filters.md."
            ),
            "oneOf": [reference("FilterCondition"), reference("FilterAll"), reference("FilterAny")],
            "examples": [{"all": [
                {"field": "kind", "op": "eq", "value": "company"},
                {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": 90}
            ]}]
        }))
    }
}

impl ToSchema for Filter {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Filter")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        let operators: Vec<&str> = Operator::ALL.iter().map(|operator| operator.as_str()).collect();
        let group = |name: &str, meaning: &str| {
            written(json!({
                "type": "object",
                "description": meaning,
                "required": [name],
                "additionalProperties": false,
                "properties": {name: {"type": "array", "items": reference("Filter"), "maxItems": MAX_CONDITIONS}}
            }))
        };
        schemas.extend([
            (
                "FilterCondition".to_string(),
                written(json!({
                    "type": "object",
                    "description": "One test of one field. `value` is left out for `is_null` and `not_null`.",
                    "required": ["field", "op"],
                    "additionalProperties": false,
                    "properties": {
                        "field": {
                            "type": "string",
                            "description": "A field of the entity searched: a column (`kind`, `tags`), a client's \
                                            `stats.<name>`, or `custom.<key>`.",
                            "examples": ["stats.won_amount"]
                        },
                        "op": {"type": "string", "enum": operators},
                        "value": reference("FilterValue")
                    }
                })),
            ),
            (
                "FilterValue".to_string(),
                written(json!({
                    "description": "What the field is compared with: a string (text, enums, ids, dates, times, \
                                    decimals), a number, a boolean, or a list for `in`, `not_in` and `between`.",
                    "oneOf": [
                        {"type": "string"},
                        {"type": "number"},
                        {"type": "boolean"},
                        {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                         "maxItems": MAX_LIST}
                    ]
                })),
            ),
            ("FilterAll".to_string(), group("all", "Every filter in `all` holds.")),
            ("FilterAny".to_string(), group("any", "At least one filter in `any` holds.")),
        ]);
    }
}

/// The values of a record's custom fields, by key.
pub struct CustomValues;

impl PartialSchema for CustomValues {
    fn schema() -> RefOr<Schema> {
        written(json!({
            "type": "object",
            "description": "The workspace's custom fields by key (see `/custom-fields`): text, email, phone, \
                            url, date, datetime, decimal and enum values as strings, numbers as numbers, bools \
                            as booleans, multi_enum values as lists of strings. In an update `null` clears a key.",
            "additionalProperties": reference("CustomValue"),
            "examples": [{"loyalty_tier": "gold", "employees": 120}]
        }))
    }
}

impl ToSchema for CustomValues {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("CustomValues")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            "CustomValue".to_string(),
            written(json!({
                "oneOf": [
                    {"type": "string"},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"}
                ]
            })),
        ));
    }
}

/// What a timeline item carries, which depends on its `type`.
pub struct TimelinePayload;

impl PartialSchema for TimelinePayload {
    fn schema() -> RefOr<Schema> {
        written(json!({
            "description": "For `activity`, the activity as `GET /activities/{id}` returns it; for deal, contact \
                            and client events, what changed (`TimelineChange`).",
            "oneOf": [reference("ActivityResponse"), reference("TimelineChange")]
        }))
    }
}

impl ToSchema for TimelinePayload {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimelinePayload")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            "TimelineChange".to_string(),
            written(json!({
                "type": "object",
                "description": "A change to a deal, a contact or the client: the write's action and each changed \
                                field's values before and after.",
                "required": ["action", "changes"],
                "properties": {
                    "deal_id": {"type": ["string", "null"], "format": "uuid", "description": "The deal, for a deal's events; null otherwise."},
                    "contact_id": {"type": ["string", "null"], "format": "uuid", "description": "The contact person, for a contact's events; null otherwise."},
                    "action": {"type": "string", "examples": ["created", "updated", "deleted", "restored"]},
                    "changes": {
                        "type": ["object", "null"],
                        "additionalProperties": {
                            "type": "object",
                            "description": "`{\"from\": …, \"to\": …}`: the field's values, as the record shows them.",
                            "additionalProperties": true
                        }
                    }
                }
            })),
        ));
    }
}

/// The values of a list's `sort`: each field ascending, and with `-` descending.
pub fn sort_order<'a>(fields: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    let values: Vec<String> =
        fields.into_iter().flat_map(|field| [field.to_string(), format!("-{field}")]).collect();
    written(json!({"type": "string", "enum": values}))
}

/// The key of a consent purpose, as `domain::consent::is_purpose_key` accepts them.
pub struct PurposeKey;

impl PartialSchema for PurposeKey {
    fn schema() -> RefOr<Schema> {
        written(json!({
            "type": "string",
            "pattern": "^[a-z][a-z0-9_]{0,49}$",
            "description": "A consent purpose: snake_case, a lower-case letter first, up to 50 characters.",
            "examples": ["marketing_email"],
        }))
    }
}

impl ToSchema for PurposeKey {}

/// An ISO 4217 currency code, as `domain::money` accepts them.
pub struct CurrencyCode;

impl PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        use iso_currency::IntoEnumIterator;
        let codes: Vec<&str> = iso_currency::Currency::iter().map(|currency| currency.code()).collect();
        written(
            json!({"type": "string", "description": "ISO 4217, upper case.", "enum": codes, "examples": ["EUR"]}),
        )
    }
}

impl ToSchema for CurrencyCode {}

/// An IANA time zone name, as `chrono-tz` knows them (links such as `UTC` included). A format,
/// not an enum: generators turn the 597 names into identifiers, and `Etc/GMT+1` and `Etc/GMT-1`
/// become the same one.
pub struct TimeZoneName;

impl PartialSchema for TimeZoneName {
    fn schema() -> RefOr<Schema> {
        written(json!({
            "type": "string",
            "format": "time-zone",
            "description": "An IANA time zone name (the tz database's, case-sensitive), such as `Europe/Moscow`.",
            "examples": ["Europe/Moscow"],
        }))
    }
}

impl ToSchema for TimeZoneName {}

/// An ISO 3166-1 alpha-2 region that has a phone numbering plan, as `phonenumber` knows them.
pub struct PhoneRegion;

impl PartialSchema for PhoneRegion {
    fn schema() -> RefOr<Schema> {
        let letters = || b'A'..=b'Z';
        let regions: Vec<String> = letters()
            .flat_map(|first| {
                letters().map(move |second| String::from_utf8_lossy(&[first, second]).into_owned())
            })
            .filter(|code| crate::domain::contact_points::is_phone_region(code))
            .collect();
        written(json!({
            "type": "string",
            "description": "An ISO 3166-1 alpha-2 region whose numbering plan reads phones written without `+`.",
            "enum": regions,
            "examples": ["RU"],
        }))
    }
}

impl ToSchema for PhoneRegion {}

/// A tag on a client or a deal, as `domain::client::normalise_tags` takes it: 1 to 50 characters,
/// not blank (a list keeps at most 50, compared case-insensitively).
pub struct Tag;

impl PartialSchema for Tag {
    fn schema() -> RefOr<Schema> {
        written(json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 50,
            "pattern": crate::openapi::NON_BLANK,
            "examples": ["wholesale"],
        }))
    }
}

impl ToSchema for Tag {}

/// The class the RFM refresh gives a client who bought.
pub struct RfmClass;

impl PartialSchema for RfmClass {
    fn schema() -> RefOr<Schema> {
        written(json!({"type": "string", "enum": crate::db::filter::RFM_CLASSES}))
    }
}

impl ToSchema for RfmClass {}

/// The key of a ready-made segment every workspace starts with.
pub struct BuiltinSegment;

impl PartialSchema for BuiltinSegment {
    fn schema() -> RefOr<Schema> {
        let keys: Vec<&str> = crate::domain::segments::builtins().iter().map(|builtin| builtin.key).collect();
        written(json!({"type": "string", "enum": keys}))
    }
}

impl ToSchema for BuiltinSegment {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_schemas_are_well_formed() {
        for schema in [Filter::schema(), CustomValues::schema(), TimelinePayload::schema()] {
            assert!(matches!(schema, RefOr::T(_)));
        }
        let mut dependencies = Vec::new();
        Filter::schemas(&mut dependencies);
        CustomValues::schemas(&mut dependencies);
        let names: Vec<&str> = dependencies.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["FilterCondition", "FilterValue", "FilterAll", "FilterAny", "CustomValue"]);
    }
}
