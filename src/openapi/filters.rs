//! The filter language as the document states it: for each entity searched, its own family of
//! schemas, written from the field catalogue the parser reads (`db::filter`), so that the fields,
//! the operators each takes and the value each operator needs can't drift from what is accepted.
//!
//! A condition is one of a few flat alternatives, each a set of fields that take the same operators
//! with the same value (`ClientDecimalCompare`: `stats.won_amount` or `amount_base` with `lt`…`gte`
//! and a decimal string). Generated clients get a type per alternative; schemathesis can draw only
//! conditions the server accepts.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::PartialSchema;

use super::{NO_NUL, NON_BLANK};
use crate::db::filter::{Field, activity_fields, client_fields, contact_fields, deal_fields};
use crate::domain::filter::{
    CONSENT_PREFIX, CUSTOM_PREFIX, FieldKind, MAX_CONDITIONS, MAX_DAYS, MAX_DEPTH, MAX_LIST, Operator,
    ScalarType, Values,
};
use crate::domain::money::DECIMAL_TEXT_PATTERN;

/// An entity the filter language searches, with what its search request sorts by.
struct Searched {
    /// The schema names' prefix: `Client` gives `ClientFilter`, `ClientSearchRequest`.
    name: &'static str,
    path: &'static str,
    fields: Vec<Field>,
    /// Whether its records keep consent (`consent.<purpose>`), to the workspace's own purposes too.
    keeps_consent: bool,
    sort: Value,
    example: Value,
}

fn searched() -> Vec<Searched> {
    let schema_of = |schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
        serde_json::to_value(schema)
            .unwrap_or_else(|error| panic!("a sort schema doesn't serialise: {error}"))
    };
    let client_sort = schema_of(crate::api::listing::ClientSort::schema());
    vec![
        Searched {
            name: "Client",
            path: "/api/v1/clients/search",
            fields: client_fields(),
            keeps_consent: true,
            sort: client_sort.clone(),
            example: json!({"all": [
                {"field": "kind", "op": "eq", "value": "company"},
                {"any": [{"field": "tags", "op": "contains", "value": "vip"},
                         {"field": "stats.won_amount", "op": "gte", "value": "100000"}]},
                {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": 90}
            ]}),
        },
        Searched {
            name: "Contact",
            path: "/api/v1/contacts/search",
            fields: contact_fields(),
            keeps_consent: true,
            sort: client_sort,
            example: json!({"all": [
                {"field": "position", "op": "contains", "value": "purchasing"},
                {"field": "emails", "op": "not_null"}
            ]}),
        },
        Searched {
            name: "Deal",
            path: "/api/v1/deals/search",
            fields: deal_fields(),
            keeps_consent: false,
            sort: schema_of(crate::api::deals::DealSort::schema()),
            example: json!({"all": [
                {"field": "status", "op": "eq", "value": "open"},
                {"field": "amount_base", "op": "gte", "value": "10000"}
            ]}),
        },
        Searched {
            name: "Activity",
            path: "/api/v1/activities/search",
            fields: activity_fields(),
            keeps_consent: false,
            // Activities are searched oldest change first, the order a sync reads them in.
            sort: json!({"type": "string", "enum": ["updated_at"]}),
            example: json!({"all": [
                {"field": "kind", "op": "eq", "value": "call"},
                {"field": "due_at", "op": "within_days", "value": 7}
            ]}),
        },
    ]
}

/// Replaces the entity-neutral `Filter` and `SearchRequest` (the shapes the handlers read) with
/// each entity's own: `ClientSearchRequest` for `POST /clients/search`, and so on. Segments hold
/// clients, so their filters are `ClientFilter`s.
pub(super) fn state_per_entity(json: &mut Value) {
    let generic_request = json["components"]["schemas"]["SearchRequest"].clone();
    for entity in searched() {
        let name = entity.name;
        let schemas = &mut json["components"]["schemas"];
        for (schema_name, schema) in filter_schemas(&entity) {
            schemas[schema_name] = schema;
        }
        let mut request = generic_request.clone();
        let filter_description = request["properties"]["filter"]["oneOf"][0]["description"].clone();
        request["properties"]["filter"] = json!({"oneOf": [{"$ref": reference(&format!("{name}Filter")), "description": filter_description}, {"type": "null"}]});
        request["properties"]["sort"] = json!({
            "description": request["properties"]["sort"]["description"],
            "oneOf": [entity.sort, {"type": "null"}]
        });
        request["description"] =
            json!(format!("A search of {}: a filter, a sort, a page size and a cursor.", entity.path));
        schemas[format!("{name}SearchRequest")] = request;
        let body =
            &mut json["paths"][entity.path]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert!(body.is_object(), "no search operation at {}", entity.path);
        *body = json!({"$ref": reference(&format!("{name}SearchRequest"))});
    }
    point_references(json, &reference("Filter"), &reference("ClientFilter"));
    let Some(schemas) = json["components"]["schemas"].as_object_mut() else { return };
    for generic in ["Filter", "FilterAll", "FilterAny", "FilterCondition", "FilterValue", "SearchRequest"] {
        schemas.remove(generic);
    }
}

fn reference(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

/// Every `$ref` to `from` in `node` now refers to `to`.
fn point_references(node: &mut Value, from: &str, to: &str) {
    match node {
        Value::Object(fields) => {
            if fields.get("$ref").and_then(Value::as_str) == Some(from) {
                fields.insert("$ref".into(), json!(to));
            }
            fields.values_mut().for_each(|value| point_references(value, from, to));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| point_references(item, from, to)),
        _ => {}
    }
}

/// One entity's filter, its groups, its condition and the condition's alternatives, by name.
fn filter_schemas(entity: &Searched) -> Vec<(String, Value)> {
    let name = entity.name;
    let mut alternatives: BTreeMap<String, Alternative> = BTreeMap::new();
    let mut present = Vec::new();
    for field in &entity.fields {
        present.push(field.name.clone());
        let values = field.kind.values();
        let mut by_value: Vec<(Value, Vec<Operator>)> = Vec::new();
        for &operator in field.kind.operators() {
            if matches!(operator, Operator::IsNull | Operator::NotNull) {
                continue;
            }
            let value = value_schema(&values, operator);
            match by_value.iter_mut().find(|(known, _)| *known == value) {
                Some((_, operators)) => operators.push(operator),
                None => by_value.push((value, vec![operator])),
            }
        }
        for (value, operators) in by_value {
            let title = format!("{name}{}{}", kind_title(field), operators_title(&operators));
            let alternative = alternatives.entry(title.clone()).or_insert_with(|| Alternative {
                fields: Vec::new(),
                operators: operators.clone(),
                value: value.clone(),
            });
            assert!(
                alternative.operators == operators && alternative.value == value,
                "{title} would join fields that take different operators or values"
            );
            alternative.fields.push(field.name.clone());
        }
    }
    let mut schemas: Vec<(String, Value)> = Vec::new();
    let mut condition_refs = Vec::new();
    for (title, alternative) in alternatives {
        let operators: Vec<&str> = alternative.operators.iter().map(|operator| operator.as_str()).collect();
        schemas.push((
            title.clone(),
            json!({
                "type": "object",
                "required": ["field", "op", "value"],
                "additionalProperties": false,
                "properties": {
                    "field": {"type": "string", "enum": alternative.fields},
                    "op": {"type": "string", "enum": operators},
                    "value": alternative.value
                }
            }),
        ));
        condition_refs.push(json!({"$ref": reference(&title)}));
    }
    let presence = format!("{name}Presence");
    schemas.push((
        presence.clone(),
        json!({
            "type": "object",
            "description": "Whether a field is set: `is_null` holds for null, an empty list or a custom key not set.",
            "required": ["field", "op"],
            "additionalProperties": false,
            "properties": {
                "field": {"type": "string", "enum": present},
                "op": {"type": "string", "enum": ["is_null", "not_null"]},
                "value": {
                    "description": "Left out, null or true.",
                    "oneOf": [{"type": "null"}, {"type": "boolean", "const": true}]
                }
            }
        }),
    ));
    condition_refs.push(json!({"$ref": reference(&presence)}));
    let custom = format!("{name}CustomCondition");
    let operators: Vec<&str> = Operator::ALL.iter().map(|operator| operator.as_str()).collect();
    schemas.push((
        custom.clone(),
        json!({
            "type": "object",
            "description": "A condition on one of the workspace's custom fields: the operators and the value it \
                            takes follow the field's type, as for the built-in fields (see `/custom-fields`).",
            "required": ["field", "op"],
            "additionalProperties": false,
            "properties": {
                "field": {"type": "string", "pattern": format!("^{}[a-z][a-z0-9_]{{0,62}}$", CUSTOM_PREFIX.replace('.', "\\."))},
                "op": {"type": "string", "enum": operators},
                "value": {}
            }
        }),
    ));
    condition_refs.push(json!({"$ref": reference(&custom)}));
    if entity.keeps_consent {
        let own_consent = format!("{name}OwnConsentCondition");
        let operators =
            [Operator::Eq, Operator::Neq, Operator::In, Operator::NotIn, Operator::IsNull, Operator::NotNull];
        schemas.push((
            own_consent.clone(),
            json!({
                "type": "object",
                "description": "A condition on consent to one of the workspace's own purposes (`consent_purposes` of \
                                `/workspace`): `granted` or `withdrawn`, and null when never recorded, as for the \
                                built-in purposes.",
                "required": ["field", "op"],
                "additionalProperties": false,
                "properties": {
                    "field": {"type": "string", "pattern": format!("^{}[a-z][a-z0-9_]{{0,49}}$", CONSENT_PREFIX.replace('.', "\\."))},
                    "op": {"type": "string", "enum": operators.map(Operator::as_str)},
                    "value": {}
                }
            }),
        ));
        condition_refs.push(json!({"$ref": reference(&own_consent)}));
    }
    schemas.push((
        format!("{name}Condition"),
        // `anyOf`, though the alternatives exclude each other: a linter can't tell that a custom
        // field's name pattern never matches a built-in field's name, and takes them to overlap.
        json!({"description": "One test of one field.", "anyOf": condition_refs}),
    ));
    let group = |key: &str, meaning: &str| {
        json!({
            "type": "object",
            "description": meaning,
            "required": [key],
            "additionalProperties": false,
            "properties": {key: {
                "type": "array",
                "items": {"$ref": reference(&format!("{name}Filter"))},
                "minItems": 1,
                "maxItems": MAX_CONDITIONS
            }}
        })
    };
    schemas.push((format!("{name}FilterAll"), group("all", "Every filter in `all` holds.")));
    schemas.push((format!("{name}FilterAny"), group("any", "At least one filter in `any` holds.")));
    schemas.push((
        format!("{name}Filter"),
        json!({
            "description": format!(
                "A condition `{{field, op, value}}`, or a group: `{{all: [...]}}` (every one holds) or `{{any: [...]}}` \
                 (at least one does). Groups nest at most {MAX_DEPTH} deep; a filter holds at most {MAX_CONDITIONS} \
                 conditions. See docs/filters.md."
            ),
            "oneOf": [
                {"$ref": reference(&format!("{name}Condition"))},
                {"$ref": reference(&format!("{name}FilterAll"))},
                {"$ref": reference(&format!("{name}FilterAny"))}
            ],
            "examples": [entity.example]
        }),
    ));
    schemas
}

/// Fields of an entity that take the same operators with the same value.
struct Alternative {
    fields: Vec<String>,
    operators: Vec<Operator>,
    value: Value,
}

/// What a value of `values` is written as.
fn scalar_schema(values: &Values) -> Value {
    if let Some(options) = &values.options {
        return json!({"type": "string", "enum": options});
    }
    match values.scalar {
        ScalarType::Text | ScalarType::Email => json!({"type": "string", "pattern": NO_NUL}),
        ScalarType::Phone => json!({"type": "string", "format": "phone", "examples": ["+7 912 345-67-89"]}),
        ScalarType::Uuid => json!({"type": "string", "format": "uuid"}),
        ScalarType::Integer => json!({"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX}),
        ScalarType::Decimal | ScalarType::Amount => {
            json!({"type": "string", "pattern": DECIMAL_TEXT_PATTERN})
        }
        ScalarType::Date => json!({"type": "string", "format": "date"}),
        ScalarType::Timestamp => json!({"type": "string", "format": "date-time"}),
        ScalarType::Bool => json!({"type": "boolean"}),
    }
}

/// The value `operator` takes on a field read as `values` (`domain::filter::read_op`).
fn value_schema(values: &Values, operator: Operator) -> Value {
    let scalar = scalar_schema(values);
    match operator {
        Operator::In | Operator::NotIn => {
            json!({"type": "array", "items": scalar, "minItems": 1, "maxItems": MAX_LIST})
        }
        Operator::Between => json!({"type": "array", "items": scalar, "minItems": 2, "maxItems": 2}),
        Operator::Contains if values.list => scalar,
        Operator::Contains | Operator::StartsWith => {
            json!({"type": "string", "pattern": NON_BLANK})
        }
        Operator::BeforeDaysAgo | Operator::WithinDays => {
            json!({"type": "integer", "minimum": 0, "maximum": MAX_DAYS})
        }
        _ => scalar,
    }
}

/// `Text`, `Decimal`, or an enum field's own name (`Relationship`): the middle of an alternative's name.
fn kind_title(field: &Field) -> String {
    match &field.kind {
        // Every purpose's consent takes the same values: one alternative holds them all.
        FieldKind::Enum(_) if field.name.starts_with(CONSENT_PREFIX) => "Consent".into(),
        FieldKind::Enum(_) => field.name.split(['.', '_']).map(capitalised).collect(),
        FieldKind::Text => "Text".into(),
        FieldKind::Uuid => "Id".into(),
        FieldKind::Integer => "Integer".into(),
        FieldKind::Decimal => "Decimal".into(),
        FieldKind::Date => "Date".into(),
        FieldKind::Timestamp => "Time".into(),
        FieldKind::Bool => "Flag".into(),
        FieldKind::TextList => "Tags".into(),
        FieldKind::EmailList => "Emails".into(),
        FieldKind::PhoneList => "Phones".into(),
        FieldKind::Custom { .. } => unreachable!("custom fields are not in the built-in catalogue"),
    }
}

/// `Equals`, `Compare`, `In`…: the end of an alternative's name, from the operators it takes.
fn operators_title(operators: &[Operator]) -> &'static str {
    use Operator::*;
    match operators {
        [Eq, Neq] => "Equals",
        [Eq, Neq, Lt, Lte, Gt, Gte] => "Compare",
        [In, NotIn] => "In",
        [Between] => "Between",
        [Contains, StartsWith] => "Match",
        [Contains] => "Has",
        [BeforeDaysAgo, WithinDays] => "Days",
        other => panic!("no name for the operators {other:?}"),
    }
}

fn capitalised(word: &str) -> String {
    let mut letters = word.chars();
    letters.next().map(|first| first.to_uppercase().chain(letters).collect()).unwrap_or_default()
}
