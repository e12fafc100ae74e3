//! Corrections to the schemas utoipa derives, so that generated clients get the types the server
//! really sends: page items by reference, and every response field that is always there
//! `required` (utoipa leaves an `Option` field optional, and a client then checks for a field's
//! absence that never happens: `next_cursor` was optional and nullable at once).

use std::collections::BTreeSet;

use serde_json::Value;
use utoipa::openapi::schema::{ArrayItems, Schema};
use utoipa::openapi::{OpenApi as OpenApiDocument, Ref, RefOr};

/// Response fields the server leaves out rather than send as null (`skip_serializing_if`): every
/// other field of a response is always present. A test below checks that this list and the
/// source agree.
const SOMETIMES_ABSENT: &[(&str, &str)] = &[
    ("ClientResponse", "summary"),
    ("ClientResponse", "stats"),
    ("Problem", "errors"),
    ("Problem", "current_version"),
    ("Problem", "conflicting_id"),
    ("Problem", "record_count"),
    ("Problem", "workspaces"),
];

/// `Page_ClientResponse.data` as an array of `$ref: ClientResponse`, not a copy of it: utoipa
/// inlines a generic's type argument, and generated clients then got a class per copy (18
/// duplicates in the Python client, whose `list_clients` returned a `PageClientResponseDataItem`).
pub(super) fn reference_page_items(document: &mut OpenApiDocument) {
    let Some(components) = document.components.as_mut() else { return };
    let named: Vec<String> = components.schemas.keys().cloned().collect();
    for (name, schema) in &mut components.schemas {
        let Some(item) = name.strip_prefix("Page_").filter(|item| named.iter().any(|known| known == item))
        else {
            continue;
        };
        if let RefOr::T(Schema::Object(page)) = schema
            && let Some(RefOr::T(Schema::Array(data))) = page.properties.get_mut("data")
        {
            data.items = ArrayItems::RefOrSchema(Box::new(RefOr::Ref(Ref::from_schema_name(item))));
        }
    }
}

/// Marks every property of the schemas only responses use as `required`, except the
/// [`SOMETIMES_ABSENT`] ones. Schemas that requests use too (an address, a contact point) keep
/// their optional fields: a request may leave them out. And states, on what requests send, that
/// text may not hold a NUL character.
pub(super) fn refine_by_direction(document: OpenApiDocument) -> OpenApiDocument {
    let Ok(mut json) = serde_json::to_value(&document) else { return document };
    let schemas = json["components"]["schemas"].clone();
    let (mut read, mut written) = (BTreeSet::new(), BTreeSet::new());
    for item in json["paths"].as_object().into_iter().flat_map(|paths| paths.values()) {
        for operation in item.as_object().into_iter().flat_map(|item| item.values()) {
            collect_references(&operation["requestBody"], &schemas, &mut read);
            collect_references(&operation["parameters"], &schemas, &mut read);
            collect_references(&operation["responses"], &schemas, &mut written);
        }
    }
    for name in written.difference(&read) {
        let absent: Vec<&str> =
            SOMETIMES_ABSENT.iter().filter(|(schema, _)| schema == name).map(|(_, field)| *field).collect();
        require_properties(&mut json["components"]["schemas"][name], &absent);
    }
    for name in &read {
        forbid_nul(&mut json["components"]["schemas"][name]);
    }
    for item in json["paths"].as_object_mut().into_iter().flat_map(|paths| paths.values_mut()) {
        for operation in item.as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
            // `get_mut`, not indexing: indexing a missing key adds it (as null).
            let parameters = operation.get_mut("parameters").and_then(Value::as_array_mut);
            for schema in parameters.into_iter().flatten().filter_map(|parameter| parameter.get_mut("schema"))
            {
                forbid_nul(schema);
            }
            let bodies = operation.pointer_mut("/requestBody/content").and_then(Value::as_object_mut);
            for schema in bodies
                .into_iter()
                .flat_map(|bodies| bodies.values_mut())
                .filter_map(|body| body.get_mut("schema"))
            {
                forbid_nul(schema);
            }
        }
    }
    match serde_json::from_value(json) {
        Ok(refined) => refined,
        Err(error) => panic!("the refined OpenAPI document no longer reads: {error}"),
    }
}

/// Text PostgreSQL can't store: a NUL character anywhere is a 422 `nul_character` (a 400 in the URL).
const NO_NUL: &str = "^[^\\u0000]*$";

/// States [`NO_NUL`] on every free-text string of a request schema (one without a format, an enum
/// or a pattern of its own), and of the schemas inside it.
fn forbid_nul(schema: &mut Value) {
    let Some(fields) = schema.as_object_mut() else { return };
    let is_text = match fields.get("type") {
        Some(Value::String(kind)) => kind == "string",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
        _ => false,
    };
    if is_text && !["format", "enum", "pattern", "$ref"].iter().any(|key| fields.contains_key(*key)) {
        fields.insert("pattern".to_string(), Value::String(NO_NUL.to_string()));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = fields.get_mut(key) {
            forbid_nul(inner);
        }
    }
    let properties = fields.get_mut("properties").and_then(Value::as_object_mut);
    for inner in properties.into_iter().flat_map(|map| map.values_mut()) {
        forbid_nul(inner);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for inner in fields.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
            forbid_nul(inner);
        }
    }
}

/// The component names `node` refers to, directly or through other components.
fn collect_references(node: &Value, schemas: &Value, found: &mut BTreeSet<String>) {
    match node {
        Value::Object(fields) => {
            if let Some(name) = fields
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                && found.insert(name.to_string())
            {
                collect_references(&schemas[name], schemas, found);
            }
            fields.values().for_each(|value| collect_references(value, schemas, found));
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, schemas, found)),
        _ => {}
    }
}

/// Requires every property of `schema` and of the objects inlined in it, except `absent` at the top.
fn require_properties(schema: &mut Value, absent: &[&str]) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let required: Vec<Value> = properties
            .keys()
            .filter(|name| !absent.contains(&name.as_str()))
            .map(|name| Value::String(name.clone()))
            .collect();
        if let Some(object) = schema.as_object_mut() {
            object.insert("required".to_string(), Value::Array(required));
        }
    }
    let nested: Vec<&mut Value> = match schema {
        Value::Object(fields) => {
            fields.iter_mut().filter(|(key, _)| *key != "required").map(|(_, v)| v).collect()
        }
        Value::Array(items) => items.iter_mut().collect(),
        _ => Vec::new(),
    };
    for value in nested {
        require_properties(value, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `skip_serializing_if` in the source is a field some responses leave out: it must be in
    /// SOMETIMES_ABSENT, or the document would promise a field that isn't sent.
    #[test]
    fn every_field_the_server_may_leave_out_is_listed() {
        fn count_in(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() {
                        count_in(&path)
                    } else {
                        std::fs::read_to_string(&path)
                            .unwrap_or_default()
                            .lines()
                            .filter(|line| line.trim_start().starts_with("#[serde(skip_serializing_if"))
                            .count()
                    }
                })
                .sum()
        }
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        assert_eq!(count_in(&source), SOMETIMES_ABSENT.len());
    }

    #[test]
    fn always_present_response_fields_are_required_and_request_fields_are_not() {
        let document = serde_json::to_value(crate::openapi::document()).unwrap_or_default();
        let schemas = &document["components"]["schemas"];
        let required = |schema: &str| -> Vec<String> {
            serde_json::from_value(schemas[schema]["required"].clone()).unwrap_or_default()
        };
        assert!(required("Page_ClientResponse").contains(&"next_cursor".to_string()));
        assert!(required("ClientResponse").contains(&"created_by".to_string()));
        assert!(!required("ClientResponse").contains(&"stats".to_string()));
        assert!(!required("Problem").contains(&"current_version".to_string()));
        assert!(!required("Address").contains(&"city".to_string()), "requests send addresses too");
    }
}
