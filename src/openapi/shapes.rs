//! Corrections to the schemas utoipa derives, so that generated clients get the types the server
//! really sends: page items by reference, and every response field that is always there
//! `required` (utoipa leaves an `Option` field optional, and a client then checks for a field's
//! absence that never happens: `next_cursor` was optional and nullable at once).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{NO_NUL, NON_BLANK};
use crate::domain::contact_points::MAX_CONTACT_POINTS;
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
    ("Problem", "owner_name"),
    ("Problem", "merged_into"),
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
///
/// Works on the JSON and returns it: utoipa's types have no room for some of what is added
/// (`anyOf` beside `properties`, `contains` on an array), and reading the result back into them
/// would drop it.
pub(super) fn refine_by_direction(document: OpenApiDocument) -> Value {
    let mut json = match serde_json::to_value(&document) {
        Ok(json) => json,
        Err(error) => panic!("the OpenAPI document doesn't serialise: {error}"),
    };
    // Rules of request bodies first, so that the schemas they add are seen as read below.
    custom_field_options(&mut json["components"]["schemas"]);
    require_non_blank(&mut json["components"]["schemas"]);
    inherit_constraints(&mut json["components"]["schemas"]);
    split_client_kinds(&mut json["components"]["schemas"]);
    custom_field_settings_by_type(&mut json["components"]["schemas"]);
    a_line_names_its_product_or_price(&mut json["components"]["schemas"]);
    bound_contact_point_lists(&mut json["components"]["schemas"]);
    require_stage_kinds(&mut json["components"]["schemas"]);
    one_import_file(&mut json["components"]["schemas"]);
    super::filters::state_per_entity(&mut json);
    segment_filter_follows_kind(&mut json["components"]["schemas"]);
    close_batch_operations(&mut json["components"]["schemas"]);
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
    document_request_id(&mut json);
    super::examples::compose_examples(&mut json["components"]["schemas"]);
    problems_by_status(&mut json);
    link_created_records(&mut json);
    json
}

/// Links from each create to the operations on what it created: `POST /contacts` answers 201 with
/// the contact, whose `id` is the `{id}` of `GET`, `PATCH` and `DELETE /contacts/{id}` and of
/// `POST /contacts/{id}/restore`. Generated clients show them; schemathesis' stateful phase follows
/// them to reach records that exist. A new pipeline's first stage is the `{stage_id}` of its stage
/// operations.
fn link_created_records(json: &mut Value) {
    let Some(paths) = json["paths"].as_object() else { return };
    let mut links: Vec<(String, String, Value)> = Vec::new();
    for (path, item) in paths {
        let created = item["post"]["responses"]["201"].is_object();
        if !created || path.ends_with('}') {
            continue;
        }
        let record = format!("{path}/{{id}}");
        for (target, target_item) in paths {
            if !(target == &record || target.starts_with(&format!("{record}/"))) {
                continue;
            }
            for (method, operation) in target_item.as_object().into_iter().flatten() {
                let Some(operation_id) = operation["operationId"].as_str() else { continue };
                let mut parameters = json!({"path.id": "$response.body#/id"});
                if target.contains("{stage_id}") {
                    if !path.ends_with("/pipelines") {
                        continue;
                    }
                    parameters["path.stage_id"] = json!("$response.body#/stages/0/id");
                }
                let link = json!({
                    "operationId": operation_id,
                    "parameters": parameters,
                    "description": format!("{} {target} on the record created", method.to_uppercase()),
                });
                links.push((path.clone(), operation_id.to_string(), link));
            }
        }
    }
    for (path, name, link) in links {
        json["paths"][&path]["post"]["responses"]["201"]["links"][name] = link;
    }
}

/// Each error response refers to `Problem<status>`: a `Problem` whose `code` is one of those its
/// status carries (`ProblemCode::status`), so that a client switches over a short list. A 409's
/// list is the operation's own (`error::conflicts_of`), and its description names them.
fn problems_by_status(json: &mut Value) {
    let problem = "#/components/schemas/Problem";
    let mut statuses = BTreeSet::new();
    for operation in operations_mut(json) {
        let operation_id = operation["operationId"].as_str().unwrap_or_default().to_string();
        let takes_idempotency_key = operation["parameters"].as_array().is_some_and(|parameters| {
            let key = format!("#/components/parameters/{}", super::IDEMPOTENCY_KEY);
            parameters.iter().any(|parameter| parameter["$ref"] == key.as_str())
        });
        let responses = operation.get_mut("responses").and_then(Value::as_object_mut);
        for (status, response) in responses.into_iter().flatten() {
            let Some(schema) = response.pointer_mut("/content/application~1problem+json/schema") else {
                continue;
            };
            if schema["$ref"] != problem {
                continue;
            }
            if status == "409" {
                let mut codes: Vec<&str> =
                    crate::error::conflicts_of(&operation_id).iter().map(|code| code.as_str()).collect();
                if takes_idempotency_key {
                    codes.push(crate::error::ProblemCode::IdempotencyInProgress.as_str());
                }
                *schema = json!({"allOf": [{"$ref": problem}, {"type": "object", "properties": {"code": {"enum": codes}}}]});
                let listed = codes.iter().map(|code| format!("`{code}`")).collect::<Vec<_>>().join(", ");
                let description = response["description"].as_str().unwrap_or_default().trim_end_matches('.');
                let codes_are = if codes.len() == 1 { "Code" } else { "Codes" };
                response["description"] = json!(format!("{description}. {codes_are}: {listed}."));
            } else {
                *schema = json!({"$ref": format!("{problem}{status}")});
                statuses.insert(status.clone());
            }
        }
    }
    for status in statuses {
        let codes: Vec<&str> = status
            .parse()
            .map(crate::error::ProblemCode::of_status)
            .unwrap_or_default()
            .into_iter()
            .map(|code| code.as_str())
            .collect();
        assert!(!codes.is_empty(), "no problem code answers with {status}");
        json["components"]["schemas"][format!("Problem{status}")] = json!({
            "description": format!("A problem answered with {status}: `code` is one of those this status carries."),
            "allOf": [{"$ref": problem}, {"type": "object", "properties": {"code": {"enum": codes}}}]
        });
    }
}

/// Every response carries `X-Request-Id` (`middleware::RequestId`): one header component, referred
/// to from each response.
fn document_request_id(json: &mut Value) {
    json["components"]["headers"]["X-Request-Id"] = json!({
        "description": "The request's id: the one sent in `X-Request-Id` when it is sane (letters, digits and \
            `-_.:`, up to 128 characters), otherwise a generated UUID. The access log and the change log of \
            every write the request made quote it.",
        "required": true,
        "schema": {"type": "string", "minLength": 1, "maxLength": 128}
    });
    for (_, response) in responses_mut(json) {
        response["headers"]["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
    }
}

/// Every operation of every path.
fn operations_mut(json: &mut Value) -> impl Iterator<Item = &mut Value> {
    json["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .flat_map(|item| item.as_object_mut().into_iter().flat_map(|item| item.values_mut()))
}

/// Every response of every operation, with its status.
fn responses_mut(json: &mut Value) -> impl Iterator<Item = (&String, &mut Value)> {
    operations_mut(json)
        .filter_map(|operation| operation.get_mut("responses").and_then(Value::as_object_mut))
        .flatten()
}

/// Each partial update beside the create body whose rules it applies: the server merges a patch
/// into the record and checks the result as it checks a new one.
const PATCH_OF: &[(&str, &str)] = &[
    ("UpdateActivity", "ActivityInput"),
    ("UpdateClient", "ClientInput"),
    ("UpdateContact", "ContactInput"),
    ("UpdateCustomField", "CustomFieldInput"),
    ("UpdateDeal", "DealInput"),
    ("UpdatePipeline", "CreatePipeline"),
    ("UpdateProduct", "ProductInput"),
    ("UpdateSegment", "SegmentInput"),
    ("UpdateStage", "CreateStage"),
    ("UpdateTeam", "CreateTeam"),
    ("UpdateUser", "CreateUser"),
];

/// The keywords that bound a value, as opposed to those that say what it is.
const CONSTRAINTS: &[&str] = &[
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
];

/// Gives each patch field the bounds of the same field of its create body where the patch's own
/// derive left them out (utoipa can't see through `Option<Option<T>>`): a patch field takes what
/// the create field takes, and the document now says so.
fn inherit_constraints(schemas: &mut Value) {
    for (patch, create) in PATCH_OF {
        let Some(source) = schemas[create]["properties"].as_object().cloned() else {
            panic!("{create}, the create body of {patch}, has no properties");
        };
        let target = schemas[patch]["properties"].as_object_mut();
        for (name, field) in target.into_iter().flatten() {
            let (Some(field), Some(original)) = (field.as_object_mut(), source.get(name)) else { continue };
            if field.contains_key("$ref") || field.contains_key("enum") || field.contains_key("oneOf") {
                continue;
            }
            for key in CONSTRAINTS {
                match (original.get(*key), field.get_mut(*key)) {
                    (Some(bound), None) => {
                        field.insert(key.to_string(), bound.clone());
                    }
                    // A list's items: the create body's bounds on each item, where the patch's
                    // items say only their type.
                    (Some(Value::Object(bounds)), Some(Value::Object(items))) if *key == "items" => {
                        for (name, bound) in bounds {
                            items.entry(name.clone()).or_insert_with(|| bound.clone());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `ClientInput` as the two kinds of client it is, keyed on `kind`: a person has names and no
/// company fields, a company a name and no person fields (the rules `check_kind_fields` applies).
/// Generated clients then offer the fields a kind has, and the document states which it needs.
fn split_client_kinds(schemas: &mut Value) {
    use crate::domain::client::{COMPANY_ONLY, PERSON_ONLY};
    let both = schemas["ClientInput"].clone();
    let example = both.get("example").cloned();
    let kind_of = |kind: &str, others: &[&str], description: &str| {
        let mut schema = both.clone();
        let Some(fields) = schema.as_object_mut() else { panic!("ClientInput is not an object schema") };
        fields.remove("example");
        fields.insert("description".into(), json!(description));
        for field in others {
            fields["properties"][*field] =
                json!({"type": "null", "description": format!("Not a field of a {kind}.")});
        }
        fields["properties"]["kind"] = json!({"type": "string", "enum": [kind]});
        schema
    };
    let mut person = kind_of("person", COMPANY_ONLY, "A person: a last name or a first name, or both.");
    needs_last_or_first_name(&mut person);
    let mut company = kind_of("company", PERSON_ONLY, "A company: its name is required.");
    company["required"].as_array_mut().into_iter().for_each(|required| required.push(json!("name")));
    company["properties"]["name"]["type"] = json!("string");
    company["properties"]["name"]["pattern"] = json!(NON_BLANK);
    person["example"] = json!({
        "kind": "person",
        "last_name": "Иванов",
        "first_name": "Иван",
        "phones": [{"value": "+7 912 345-67-91", "label": "mobile"}],
        "relationship": "customer"
    });
    if let Some(example) = &example {
        company["example"] = example.clone();
    }
    schemas["ClientPersonInput"] = person;
    needs_last_or_first_name(&mut schemas["ContactInput"]);
    schemas["ClientCompanyInput"] = company;
    schemas["ClientInput"] = json!({
        "description": both["description"],
        "example": example,
        "oneOf": [
            {"$ref": "#/components/schemas/ClientPersonInput"},
            {"$ref": "#/components/schemas/ClientCompanyInput"}
        ],
        "discriminator": {
            "propertyName": "kind",
            "mapping": {
                "person": "#/components/schemas/ClientPersonInput",
                "company": "#/components/schemas/ClientCompanyInput"
            }
        }
    });
}

/// The names and titles `domain::text::non_blank` reads: refused as `blank` when only white space
/// is left. (Patches of these schemas get the rule from their create body, see [`PATCH_OF`].)
const NON_BLANK_FIELDS: &[(&str, &str)] = &[
    ("ActivityInput", "subject"),
    ("NextActivity", "subject"),
    ("CreatePipeline", "name"),
    ("StageInput", "name"),
    ("CreateStage", "name"),
    ("CreateTeam", "name"),
    ("CreateUser", "full_name"),
    ("CustomFieldInput", "label"),
    ("DealInput", "title"),
    ("ProductInput", "sku"),
    ("ProductInput", "name"),
    ("SegmentInput", "name"),
    ("UpdateWorkspace", "name"),
    ("Messenger", "handle"),
    ("ConsentInput", "channel"),
    ("ConsentInput", "wording_version"),
];

/// States [`NON_BLANK`] on the [`NON_BLANK_FIELDS`].
fn require_non_blank(schemas: &mut Value) {
    for (schema, field) in NON_BLANK_FIELDS {
        let Some(property) = schemas[schema]["properties"].get_mut(*field).and_then(Value::as_object_mut)
        else {
            panic!("{schema} has no field {field}, which NON_BLANK_FIELDS names");
        };
        property.insert("pattern".into(), json!(NON_BLANK));
    }
}

/// Every list of emails or phones holds at most 20 entries, of which at most one is primary (the
/// rules of `domain::contact_points`).
fn bound_contact_point_lists(schemas: &mut Value) {
    let entries = ["#/components/schemas/EmailEntry", "#/components/schemas/PhoneEntry"];
    let primary =
        json!({"type": "object", "required": ["primary"], "properties": {"primary": {"const": true}}});
    let mut lists = Vec::new();
    collect_arrays_of(schemas, &entries, &mut lists);
    for list in lists {
        let Some(list) = schemas.pointer_mut(&list).and_then(Value::as_object_mut) else { continue };
        list.insert("maxItems".into(), json!(MAX_CONTACT_POINTS));
        list.insert("contains".into(), primary.clone());
        list.insert("minContains".into(), json!(0));
        list.insert("maxContains".into(), json!(1));
    }
}

/// The JSON pointers, relative to `node`, of the arrays whose items refer to one of `items`.
fn collect_arrays_of(node: &Value, items: &[&str], found: &mut Vec<String>) {
    fn walk(node: &Value, at: String, items: &[&str], found: &mut Vec<String>) {
        match node {
            Value::Object(fields) => {
                if fields
                    .get("items")
                    .and_then(|item| item.get("$ref"))
                    .and_then(Value::as_str)
                    .is_some_and(|reference| items.contains(&reference))
                {
                    found.push(at.clone());
                }
                for (key, value) in fields {
                    walk(value, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), items, found);
                }
            }
            Value::Array(values) => {
                for (index, value) in values.iter().enumerate() {
                    walk(value, format!("{at}/{index}"), items, found);
                }
            }
            _ => {}
        }
    }
    walk(node, String::new(), items, found);
}

/// A new pipeline's stages: at least one open, exactly one won and at least one lost
/// (`domain::pipeline::check_stage_kinds`).
fn require_stage_kinds(schemas: &mut Value) {
    let Some(stages) =
        schemas["CreatePipeline"]["properties"].get_mut("stages").and_then(Value::as_object_mut)
    else {
        panic!("CreatePipeline has no stages");
    };
    let of_kind = |kind: &str, least: u32, most: Option<u32>| {
        let mut rule = json!({"contains": {"type": "object", "required": ["kind"], "properties": {"kind": {"const": kind}}}, "minContains": least});
        if let Some(most) = most {
            rule["maxContains"] = json!(most);
        }
        rule
    };
    stages.insert(
        "allOf".into(),
        json!([of_kind("open", 1, None), of_kind("won", 1, Some(1)), of_kind("lost", 1, None)]),
    );
}

/// An import's file comes as CSV text or as a workbook, one of them (`api::imports::accept`).
/// Inside `allOf`: a `oneOf` beside the properties made openapi-python-client give up on the body's
/// type (`Any`); wrapped, the rule stands and the generated class keeps its fields.
fn one_import_file(schemas: &mut Value) {
    let Some(request) = schemas.get_mut("ImportRequest").and_then(Value::as_object_mut) else {
        panic!("the document has no ImportRequest");
    };
    request.insert("allOf".into(), json!([{"oneOf": [{"required": ["csv"]}, {"required": ["xlsx"]}]}]));
}

/// A custom field's options (`domain::custom_fields::check_definition`): distinct and not blank.
/// A patch's options take the same, see [`PATCH_OF`].
fn custom_field_options(schemas: &mut Value) {
    use crate::domain::custom_fields::MAX_OPTIONS;
    let options = &mut schemas["CustomFieldInput"]["properties"]["options"];
    options["items"] = json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": NON_BLANK});
    options["uniqueItems"] = json!(true);
    options["maxItems"] = json!(MAX_OPTIONS);
}

/// Which settings each type of custom field takes (`domain::custom_fields::check_definition`):
/// options for the enums, `min` and `max` for numbers, `max_length` for text-like types, `pattern`
/// for text. (That `min` is not above `max`, and that `pattern` is a regular expression of Rust's
/// dialect, no schema can say.) A patch's settings follow the stored type, which it can't name.
fn custom_field_settings_by_type(schemas: &mut Value) {
    let takes = |types: &[&str], settings: &[&str], with_options: bool| {
        let mut properties = json!({"type": {"enum": types}});
        for setting in ["min", "max", "max_length", "pattern"] {
            if !settings.contains(&setting) {
                properties[setting] = json!({"type": "null"});
            }
        }
        if with_options {
            properties["options"] = json!({"minItems": 1});
            json!({"type": "object", "required": ["options"], "properties": properties})
        } else {
            properties["options"] = json!({"maxItems": 0});
            json!({"type": "object", "properties": properties})
        }
    };
    let by_type = json!([
        takes(&["enum", "multi_enum"], &[], true),
        takes(&["number", "decimal"], &["min", "max"], false),
        takes(&["text"], &["max_length", "pattern"], false),
        takes(&["email", "phone", "url"], &["max_length"], false),
        takes(&["date", "datetime", "bool"], &[], false),
    ]);
    require_one_of_these(&mut schemas["CustomFieldInput"], by_type);
}

/// A deal's line names a product, or its own price and name (`domain::deal::price_item`).
/// A batch operation (`ClientOperation`, …) takes only its own fields, as its serde enum does
/// (`deny_unknown_fields`); utoipa leaves the variants of a tagged enum open.
fn close_batch_operations(schemas: &mut Value) {
    let Some(schemas) = schemas.as_object_mut() else { return };
    for (_, schema) in schemas.iter_mut().filter(|(name, _)| name.ends_with("Operation")) {
        for variant in schema.get_mut("oneOf").and_then(Value::as_array_mut).into_iter().flatten() {
            variant["additionalProperties"] = json!(false);
        }
    }
}

/// A deal's line names its product, by id or by another system's ref, or gives its own name and
/// price.
fn a_line_names_its_product_or_price(schemas: &mut Value) {
    let product = json!({"type": "object", "required": ["product_id"], "properties": {"product_id": {"type": "string"}}});
    let product_by_ref = json!({"type": "object", "required": ["product_ref"], "properties": {"product_ref": {"type": "object"}}});
    let priced = json!({
        "type": "object",
        "required": ["unit_price", "name"],
        "properties": {"unit_price": {"type": "string"}, "name": {"type": "string"}}
    });
    require_one_of_these(&mut schemas["ItemInput"], json!([product, product_by_ref, priced]));
}

/// A person, as a client or a contact, is named: a last name or a first name that isn't blank.
fn needs_last_or_first_name(schema: &mut Value) {
    let named = |field: &str| json!({"type": "object", "required": [field], "properties": {field: {"type": "string", "pattern": NON_BLANK}}});
    require_one_of_these(schema, json!([named("last_name"), named("first_name")]));
}

/// A dynamic segment has a filter; a static one has none (`api::segments::check_segment`).
fn segment_filter_follows_kind(schemas: &mut Value) {
    let dynamic = json!({
        "type": "object",
        "required": ["kind", "filter"],
        "properties": {"kind": {"const": "dynamic"}, "filter": {"not": {"type": "null"}}}
    });
    let fixed =
        json!({"type": "object", "properties": {"kind": {"const": "static"}, "filter": {"type": "null"}}});
    require_one_of_these(&mut schemas["SegmentInput"], json!([dynamic, fixed]));
}

/// Adds a rule across an object's fields: at least one of `branches` holds. Stated as
/// `allOf: [the object, anyOf: branches]`, which code generators read as the object with an extra
/// check (an object schema of utoipa's had no `anyOf` of its own to keep it in).
fn require_one_of_these(schema: &mut Value, branches: Value) {
    let Some(fields) = schema.as_object_mut() else { return };
    let mut shown = serde_json::Map::new();
    for key in ["description", "example"] {
        if let Some(value) = fields.remove(key) {
            shown.insert(key.to_string(), value);
        }
    }
    let object = Value::Object(std::mem::take(fields));
    *fields = shown;
    fields.insert("allOf".into(), json!([object, {"anyOf": branches}]));
}

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
    // A map's keys are text too (a header of an import's mapping, a custom field's key).
    if fields.get("additionalProperties").is_some_and(Value::is_object) {
        let names = fields.entry("propertyNames").or_insert_with(|| json!({}));
        if let Some(names) = names.as_object_mut() {
            names.entry("pattern").or_insert_with(|| json!(NO_NUL));
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
