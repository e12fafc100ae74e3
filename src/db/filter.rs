//! The filter language of searches and dynamic segments, compiled to one parameterised SQL
//! condition. Field names map to a fixed catalogue of column expressions per entity; every value
//! from the request is a bind parameter, so no request text ever becomes SQL unquoted. (A saved
//! segment's values are then written in as quoted literals: `SqlFragment::with_values_written_in`.)
//!
//! ```json
//! {"all": [{"field": "kind", "op": "eq", "value": "company"},
//!          {"any": [{"field": "tags", "op": "contains", "value": "vip"},
//!                   {"field": "stats.won_amount", "op": "gte", "value": "100000"}]}]}
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use crate::db::fragment::{Bind, SqlFragment};
use crate::db::models::client::{escape_like, like_pattern};
use crate::domain::contact_points::to_e164;
use crate::domain::enums::{self, CustomFieldType};
use crate::error::FieldError;

/// How deep `all`/`any` groups may nest, and how many conditions one filter may hold.
pub const MAX_DEPTH: usize = 5;
pub const MAX_CONDITIONS: usize = 50;
/// The most values an `in` or `not_in` list may hold.
pub const MAX_LIST: usize = 1000;
/// The most days `before_days_ago` and `within_days` take (100 years).
const MAX_DAYS: i64 = 36_500;

/// What a field holds, which decides its operators and how values are read.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    /// Text compared case-insensitively to a lower-cased column (emails).
    /// One of a closed set of values.
    Enum(Vec<&'static str>),
    Uuid,
    Integer,
    Decimal,
    Date,
    Timestamp,
    Bool,
    /// A text[] column: tags.
    TextList,
    /// A text[] of lower-cased emails.
    EmailList,
    /// A text[] of E.164 phones.
    PhoneList,
    /// A custom field in the `custom` jsonb column.
    Custom {
        key: String,
        field_type: CustomFieldType,
        options: Vec<String>,
    },
}

/// One filterable field: its name in the language and its SQL expression (a constant).
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub sql: &'static str,
    pub kind: FieldKind,
}

impl Field {
    /// Whether its values are phone numbers, read in the workspace's region when written
    /// without a country code.
    pub fn reads_phones(&self) -> bool {
        matches!(
            self.kind,
            FieldKind::PhoneList | FieldKind::Custom { field_type: CustomFieldType::Phone, .. }
        )
    }
}

fn field(name: &str, sql: &'static str, kind: FieldKind) -> Field {
    Field { name: name.to_string(), sql, kind }
}

fn values<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> FieldKind {
    FieldKind::Enum(all.iter().map(|item| as_str(*item)).collect())
}

/// The RFM classes the stats refresh assigns.
pub const RFM_CLASSES: &[&str] = &[
    "champions",
    "loyal",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
];

/// The fields of a client (`custom.*` are added from the workspace's definitions).
pub fn client_fields() -> Vec<Field> {
    use FieldKind::*;
    vec![
        field("id", "id", Uuid),
        field("kind", "kind", values(enums::ClientKind::ALL, enums::ClientKind::as_str)),
        field("display_name", "display_name", Text),
        field("last_name", "last_name", Text),
        field("first_name", "first_name", Text),
        field("middle_name", "middle_name", Text),
        field("birth_date", "birth_date", Date),
        field("gender", "gender", values(enums::Gender::ALL, enums::Gender::as_str)),
        field("name", "name", Text),
        field("legal_name", "legal_name", Text),
        field("tax_id", "tax_id", Text),
        field("registration_number", "registration_number", Text),
        field("industry", "industry", Text),
        field("website", "website", Text),
        field("relationship", "relationship", values(enums::Relationship::ALL, enums::Relationship::as_str)),
        field(
            "lifecycle_stage",
            "lifecycle_stage",
            values(enums::LifecycleStage::ALL, enums::LifecycleStage::as_str),
        ),
        field("source", "source", values(enums::Source::ALL, enums::Source::as_str)),
        field("owner_id", "owner_id", Uuid),
        field("team_id", "team_id", Uuid),
        field("emails", "email_keys", EmailList),
        field("phones", "phone_keys", PhoneList),
        field("tags", "tags", TextList),
        field("notes", "notes", Text),
        field("address.country", "(address ->> 'country')", Text),
        field("address.region", "(address ->> 'region')", Text),
        field("address.city", "(address ->> 'city')", Text),
        field("address.postal_code", "(address ->> 'postal_code')", Text),
        field("version", "version", Integer),
        field("created_at", "created_at", Timestamp),
        field("updated_at", "updated_at", Timestamp),
        field("created_by", "created_by", Uuid),
        field("stats.won_count", "stats_won_count", Integer),
        field("stats.won_amount", "stats_won_amount", Decimal),
        field("stats.first_purchase_at", "stats_first_purchase_at", Timestamp),
        field("stats.last_purchase_at", "stats_last_purchase_at", Timestamp),
        field("stats.open_deals_count", "stats_open_deals_count", Integer),
        field("stats.last_activity_at", "stats_last_activity_at", Timestamp),
        field("stats.activities_30d", "stats_activities_30d", Integer),
        field("stats.activities_90d", "stats_activities_90d", Integer),
        field("stats.rfm_recency", "stats_rfm_recency", Integer),
        field("stats.rfm_frequency", "stats_rfm_frequency", Integer),
        field("stats.rfm_monetary", "stats_rfm_monetary", Integer),
        field("stats.rfm_class", "stats_rfm_class", Enum(RFM_CLASSES.to_vec())),
    ]
}

pub fn contact_fields() -> Vec<Field> {
    use FieldKind::*;
    vec![
        field("id", "id", Uuid),
        field("client_id", "client_id", Uuid),
        field("display_name", "display_name", Text),
        field("last_name", "last_name", Text),
        field("first_name", "first_name", Text),
        field("middle_name", "middle_name", Text),
        field("position", "position", Text),
        field("emails", "email_keys", EmailList),
        field("phones", "phone_keys", PhoneList),
        field("is_primary", "is_primary", Bool),
        field("notes", "notes", Text),
        field("owner_id", "owner_id", Uuid),
        field("version", "version", Integer),
        field("created_at", "created_at", Timestamp),
        field("updated_at", "updated_at", Timestamp),
    ]
}

pub fn deal_fields() -> Vec<Field> {
    use FieldKind::*;
    vec![
        field("id", "id", Uuid),
        field("title", "title", Text),
        field("client_id", "client_id", Uuid),
        field("contact_id", "contact_id", Uuid),
        field("pipeline_id", "pipeline_id", Uuid),
        field("stage_id", "stage_id", Uuid),
        field("status", "status", values(enums::StageKind::ALL, enums::StageKind::as_str)),
        field("amount", "amount", Decimal),
        field("currency", "currency", Text),
        field("amount_base", "amount_base", Decimal),
        field("probability", "probability", Integer),
        field("expected_close_date", "expected_close_date", Date),
        field("closed_at", "closed_at", Timestamp),
        field("lost_reason", "lost_reason", Text),
        field("agreement", "agreement", Text),
        field("source", "source", values(enums::Source::ALL, enums::Source::as_str)),
        field("owner_id", "owner_id", Uuid),
        field("team_id", "team_id", Uuid),
        field("tags", "tags", TextList),
        field("stage_entered_at", "stage_entered_at", Timestamp),
        field("version", "version", Integer),
        field("created_at", "created_at", Timestamp),
        field("updated_at", "updated_at", Timestamp),
    ]
}

pub fn activity_fields() -> Vec<Field> {
    use FieldKind::*;
    vec![
        field("id", "id", Uuid),
        field("kind", "kind", values(enums::ActivityKind::ALL, enums::ActivityKind::as_str)),
        field("direction", "direction", values(enums::Direction::ALL, enums::Direction::as_str)),
        field("channel", "channel", values(enums::Channel::ALL, enums::Channel::as_str)),
        field("reason", "reason", values(enums::ContactReason::ALL, enums::ContactReason::as_str)),
        field("subject", "subject", Text),
        field("outcome", "outcome", Text),
        field("due_at", "due_at", Timestamp),
        field("reminder_at", "reminder_at", Timestamp),
        // The stored status; `overdue` is derived: planned with due_at before now.
        field("status", "status", Enum(vec!["planned", "done", "cancelled"])),
        field("completed_at", "completed_at", Timestamp),
        field("duration_seconds", "duration_seconds", Integer),
        field("assignee_id", "assignee_id", Uuid),
        field("client_id", "client_id", Uuid),
        field("contact_id", "contact_id", Uuid),
        field("deal_id", "deal_id", Uuid),
        field("external_ref", "external_ref", Text),
        field("version", "version", Integer),
        field("created_at", "created_at", Timestamp),
        field("updated_at", "updated_at", Timestamp),
    ]
}

/// How a custom field is named in a filter: `custom.<key>`.
pub const CUSTOM_PREFIX: &str = "custom.";

/// A custom field as a filterable field: `custom.<key>`.
pub fn custom_field(key: &str, field_type: CustomFieldType, options: &[String]) -> Field {
    Field {
        name: format!("{CUSTOM_PREFIX}{key}"),
        sql: "custom",
        kind: FieldKind::Custom { key: key.to_string(), field_type, options: options.to_vec() },
    }
}

/// What the compiler needs besides the filter: the entity's fields (custom ones included) and the
/// workspace's phone region, to read phone numbers written without a country code.
pub struct Catalogue<'a> {
    pub entity: &'static str,
    pub fields: &'a [Field],
    pub phone_region: &'a str,
}

/// The field names a filter's conditions mention, in its groups at any depth; whatever isn't a
/// condition or a group is left for `compile` to report.
pub fn mentioned_fields(filter: &Value) -> Vec<&str> {
    let mut names = Vec::new();
    let mut nodes = vec![filter];
    while let Some(node) = nodes.pop() {
        let Value::Object(object) = node else { continue };
        if let Some(Value::String(name)) = object.get("field") {
            names.push(name.as_str());
        }
        for group in ["all", "any"] {
            if let Some(Value::Array(children)) = object.get(group) {
                nodes.extend(children);
            }
        }
    }
    names
}

/// Compiles a filter; every mistake is a `FieldError` naming its path (`filter.all[1].op`).
pub fn compile(filter: &Value, catalogue: &Catalogue<'_>) -> Result<SqlFragment, Vec<FieldError>> {
    let mut compiler = Compiler { catalogue, conditions: 0, errors: Vec::new() };
    let condition = compiler.node(filter, "filter", 1);
    if compiler.errors.is_empty() { Ok(condition) } else { Err(compiler.errors) }
}

struct Compiler<'a, 'b> {
    catalogue: &'a Catalogue<'b>,
    conditions: usize,
    errors: Vec<FieldError>,
}

/// The operators of the language.
const OPERATORS: &[&str] = &[
    "eq",
    "neq",
    "in",
    "not_in",
    "lt",
    "lte",
    "gt",
    "gte",
    "between",
    "contains",
    "starts_with",
    "is_null",
    "not_null",
    "before_days_ago",
    "within_days",
];

impl Compiler<'_, '_> {
    fn error(&mut self, path: &str, code: &str, message: impl Into<String>) -> SqlFragment {
        self.errors.push(FieldError::new(path, code, message));
        SqlFragment::dynamic()
    }

    fn node(&mut self, node: &Value, path: &str, depth: usize) -> SqlFragment {
        let Value::Object(object) = node else {
            return self.error(path, "type", "must be an object: a condition or an all/any group");
        };
        for group in ["all", "any"] {
            if let Some(children) = object.get(group) {
                if object.len() != 1 {
                    return self.error(
                        path,
                        "unknown_field",
                        format!("a group has only the key \"{group}\""),
                    );
                }
                return self.group(group, children, &format!("{path}.{group}"), depth);
            }
        }
        for key in object.keys() {
            if !["field", "op", "value"].contains(&key.as_str()) {
                return self.error(
                    &format!("{path}.{key}"),
                    "unknown_field",
                    "a condition has field, op and value; a group has all or any",
                );
            }
        }
        self.conditions += 1;
        if self.conditions == MAX_CONDITIONS + 1 {
            return self.error(
                path,
                "too_many_conditions",
                format!("a filter holds at most {MAX_CONDITIONS} conditions"),
            );
        }
        self.condition(object, path)
    }

    fn group(&mut self, group: &str, children: &Value, path: &str, depth: usize) -> SqlFragment {
        if depth > MAX_DEPTH {
            return self.error(path, "too_deep", format!("groups nest at most {MAX_DEPTH} deep"));
        }
        let Value::Array(children) = children else {
            return self.error(path, "type", "must be a list of conditions");
        };
        if children.is_empty() {
            return self.error(path, "length", "must hold at least one condition");
        }
        let joiner = if group == "all" { " AND " } else { " OR " };
        let mut condition = SqlFragment::dynamic();
        condition.push_sql("(");
        for (index, child) in children.iter().enumerate() {
            if index > 0 {
                condition.push_sql(joiner);
            }
            condition.append(self.node(child, &format!("{path}[{index}]"), depth + 1));
        }
        condition.push_sql(")");
        condition
    }

    fn condition(&mut self, object: &serde_json::Map<String, Value>, path: &str) -> SqlFragment {
        let Some(Value::String(name)) = object.get("field") else {
            return self.error(&format!("{path}.field"), "required", "must name a field");
        };
        let Some(Value::String(op)) = object.get("op") else {
            return self.error(
                &format!("{path}.op"),
                "required",
                format!("must be one of {}", OPERATORS.join(", ")),
            );
        };
        let Some(field) = self.catalogue.fields.iter().find(|field| &field.name == name).cloned() else {
            let message = if name.starts_with("custom.") {
                format!(
                    "{} has no custom field {:?}",
                    self.catalogue.entity,
                    name.trim_start_matches("custom.")
                )
            } else {
                format!("{} has no field {name:?}", self.catalogue.entity)
            };
            return self.error(&format!("{path}.field"), "unknown_field", message);
        };
        if !OPERATORS.contains(&op.as_str()) {
            return self.error(
                &format!("{path}.op"),
                "unknown_operator",
                format!("must be one of {}", OPERATORS.join(", ")),
            );
        }
        if !operators_of(&field.kind).contains(&op.as_str()) {
            return self.error(
                &format!("{path}.op"),
                "operator_not_allowed",
                format!("{name} takes {}", operators_of(&field.kind).join(", ")),
            );
        }
        let value = object.get("value").unwrap_or(&Value::Null);
        let value_path = format!("{path}.value");
        match build(&field, op, value, self.catalogue.phone_region) {
            Ok(condition) => condition,
            Err(message) => self.error(&value_path, "invalid_value", message),
        }
    }
}

fn operators_of(kind: &FieldKind) -> &'static [&'static str] {
    const EQUALITY: &[&str] = &["eq", "neq", "in", "not_in", "is_null", "not_null"];
    const TEXT: &[&str] = &["eq", "neq", "in", "not_in", "contains", "starts_with", "is_null", "not_null"];
    const ORDERED: &[&str] =
        &["eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "between", "is_null", "not_null"];
    const TIME: &[&str] = &[
        "eq",
        "neq",
        "lt",
        "lte",
        "gt",
        "gte",
        "between",
        "is_null",
        "not_null",
        "before_days_ago",
        "within_days",
    ];
    const LIST: &[&str] = &["contains", "in", "not_in", "is_null", "not_null"];
    const BOOL: &[&str] = &["eq", "neq", "is_null", "not_null"];
    match kind {
        FieldKind::Text => TEXT,
        FieldKind::Enum(_) | FieldKind::Uuid => EQUALITY,
        FieldKind::Integer | FieldKind::Decimal => ORDERED,
        FieldKind::Date | FieldKind::Timestamp => TIME,
        FieldKind::Bool => BOOL,
        FieldKind::TextList | FieldKind::EmailList | FieldKind::PhoneList => LIST,
        FieldKind::Custom { field_type, .. } => match field_type {
            CustomFieldType::Text
            | CustomFieldType::Email
            | CustomFieldType::Phone
            | CustomFieldType::Url => TEXT,
            CustomFieldType::Enum => EQUALITY,
            CustomFieldType::Number | CustomFieldType::Decimal => ORDERED,
            CustomFieldType::Date | CustomFieldType::Datetime => TIME,
            CustomFieldType::Bool => BOOL,
            CustomFieldType::MultiEnum => LIST,
        },
    }
}

/// The scalar type values of a field are read as.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    Text,
    Email,
    Phone,
    Uuid,
    Integer,
    Decimal,
    Date,
    Timestamp,
    Bool,
}

/// How a field is seen by SQL: the expression, the scalar type of its values, the enum options
/// values must be among, and whether it is a list.
struct Shape {
    expression: String,
    scalar: Scalar,
    options: Option<Vec<String>>,
    list: bool,
    /// A custom field: its key, and whether it lives in jsonb (presence is key presence).
    custom_key: Option<String>,
}

fn shape(field: &Field) -> Shape {
    let plain = |scalar: Scalar| Shape {
        expression: field.sql.to_string(),
        scalar,
        options: None,
        list: false,
        custom_key: None,
    };
    match &field.kind {
        FieldKind::Text => plain(Scalar::Text),
        FieldKind::Enum(options) => Shape {
            options: Some(options.iter().map(|option| option.to_string()).collect()),
            ..plain(Scalar::Text)
        },
        FieldKind::Uuid => plain(Scalar::Uuid),
        FieldKind::Integer => plain(Scalar::Integer),
        FieldKind::Decimal => plain(Scalar::Decimal),
        FieldKind::Date => plain(Scalar::Date),
        FieldKind::Timestamp => plain(Scalar::Timestamp),
        FieldKind::Bool => plain(Scalar::Bool),
        FieldKind::TextList => Shape { list: true, ..plain(Scalar::Text) },
        FieldKind::EmailList => Shape { list: true, ..plain(Scalar::Email) },
        FieldKind::PhoneList => Shape { list: true, ..plain(Scalar::Phone) },
        FieldKind::Custom { key, field_type, options } => {
            // The key is a definition's key (checked snake_case), never request text: the field
            // was found in the catalogue by name.
            let text = format!("(custom ->> '{key}')");
            let (expression, scalar) = match field_type {
                CustomFieldType::Text | CustomFieldType::Url | CustomFieldType::Enum => (text, Scalar::Text),
                CustomFieldType::Email => (text, Scalar::Email),
                CustomFieldType::Phone => (text, Scalar::Phone),
                CustomFieldType::Number | CustomFieldType::Decimal => {
                    (format!("{text}::numeric"), Scalar::Decimal)
                }
                CustomFieldType::Date => (format!("{text}::date"), Scalar::Date),
                CustomFieldType::Datetime => (format!("{text}::timestamptz"), Scalar::Timestamp),
                CustomFieldType::Bool => (format!("{text}::boolean"), Scalar::Bool),
                CustomFieldType::MultiEnum => (format!("(custom -> '{key}')"), Scalar::Text),
            };
            Shape {
                expression,
                scalar,
                options: matches!(field_type, CustomFieldType::Enum | CustomFieldType::MultiEnum)
                    .then(|| options.clone()),
                list: *field_type == CustomFieldType::MultiEnum,
                custom_key: Some(key.clone()),
            }
        }
    }
}

/// Reads one value of a field.
fn scalar(shape: &Shape, value: &Value, phone_region: &str) -> Result<Bind, String> {
    let text = || value.as_str().map(str::trim).ok_or_else(|| "must be a string".to_string());
    let bind = match shape.scalar {
        Scalar::Text => {
            let text = text()?;
            if let Some(options) = &shape.options
                && !options.iter().any(|option| option == text)
            {
                return Err(format!("must be one of {}", options.join(", ")));
            }
            Bind::Text(text.to_string())
        }
        Scalar::Email => Bind::Text(text()?.to_lowercase()),
        Scalar::Phone => Bind::Text(to_e164(text()?, phone_region).map_err(|(_, message)| message)?),
        Scalar::Uuid => Bind::Uuid(text()?.parse().map_err(|_| "must be a UUID".to_string())?),
        Scalar::Integer => Bind::BigInt(value.as_i64().ok_or_else(|| "must be an integer".to_string())?),
        Scalar::Decimal => Bind::Numeric(
            match value {
                Value::String(text) => Decimal::from_str_exact(text.trim()),
                Value::Number(number) => Decimal::from_str_exact(&number.to_string()),
                _ => return Err("must be a decimal string, like \"100000\"".into()),
            }
            .map_err(|_| "must be a decimal string, like \"100000\"".to_string())?,
        ),
        Scalar::Date => Bind::Date(
            NaiveDate::parse_from_str(text()?, "%Y-%m-%d")
                .map_err(|_| "must be a date, YYYY-MM-DD".to_string())?,
        ),
        Scalar::Timestamp => Bind::Timestamp(
            DateTime::parse_from_rfc3339(text()?)
                .map_err(|_| "must be an RFC 3339 time, like 2026-11-23T10:00:00Z".to_string())?
                .with_timezone(&Utc),
        ),
        Scalar::Bool => Bind::Bool(value.as_bool().ok_or_else(|| "must be true or false".to_string())?),
    };
    Ok(bind)
}

/// Reads a list of values (`in`, `not_in`) as one array parameter.
fn list(shape: &Shape, value: &Value, phone_region: &str) -> Result<Bind, String> {
    let Value::Array(items) = value else { return Err("must be a list of values".into()) };
    if items.is_empty() || items.len() > MAX_LIST {
        return Err(format!("must hold 1 to {MAX_LIST} values"));
    }
    let binds = items.iter().map(|item| scalar(shape, item, phone_region)).collect::<Result<Vec<_>, _>>()?;
    macro_rules! collect {
        ($variant:ident, $list:ident) => {
            Bind::$list(
                binds
                    .into_iter()
                    .filter_map(|bind| match bind {
                        Bind::$variant(v) => Some(v),
                        _ => None,
                    })
                    .collect(),
            )
        };
    }
    Ok(match shape.scalar {
        Scalar::Text | Scalar::Email | Scalar::Phone => collect!(Text, TextList),
        Scalar::Uuid => collect!(Uuid, UuidList),
        Scalar::Integer => Bind::NumericList(
            binds
                .into_iter()
                .filter_map(|bind| match bind {
                    Bind::BigInt(v) => Some(Decimal::from(v)),
                    _ => None,
                })
                .collect(),
        ),
        Scalar::Decimal => collect!(Numeric, NumericList),
        Scalar::Date => collect!(Date, DateList),
        Scalar::Timestamp => collect!(Timestamp, TimestampList),
        Scalar::Bool => return Err("a true/false field takes eq or neq".into()),
    })
}

fn days(value: &Value) -> Result<i64, String> {
    value
        .as_i64()
        .filter(|days| (0..=MAX_DAYS).contains(days))
        .ok_or_else(|| format!("must be a whole number of days, 0 to {MAX_DAYS}"))
}

/// One condition's SQL.
fn build(field: &Field, op: &str, value: &Value, phone_region: &str) -> Result<SqlFragment, String> {
    let shape = shape(field);
    let column = shape.expression.as_str();
    let mut sql = SqlFragment::dynamic();
    let needs_no_value = matches!(op, "is_null" | "not_null");
    if needs_no_value && !(value.is_null() || value == &Value::Bool(true)) {
        return Err(format!("{op} takes no value"));
    }
    // A custom value is present when its key is; a list is "null" when empty.
    let present = match (&shape.custom_key, shape.list) {
        (Some(key), _) => format!("(custom ? '{key}')"),
        (None, true) => format!("(cardinality({column}) > 0)"),
        (None, false) => format!("({column} IS NOT NULL)"),
    };
    match op {
        "is_null" => {
            sql.push_sql("NOT ").push_sql(&present);
        }
        "not_null" => {
            sql.push_sql(&present);
        }
        _ if shape.list => {
            let json_list = shape.custom_key.is_some();
            match (op, json_list) {
                ("contains", false) => {
                    let Bind::Text(item) = scalar(&shape, value, phone_region)? else { unreachable_bind()? };
                    sql.push_sql(&format!("({column} @> "))
                        .push_bind(Bind::TextList(vec![item]))
                        .push_sql(")");
                }
                ("contains", true) => {
                    sql.push_sql(&format!("({column} ? "))
                        .push_bind(scalar(&shape, value, phone_region)?)
                        .push_sql(")");
                }
                ("in", false) => {
                    sql.push_sql(&format!("({column} && "))
                        .push_bind(list(&shape, value, phone_region)?)
                        .push_sql(")");
                }
                ("in", true) => {
                    sql.push_sql(&format!("({column} ?| "))
                        .push_bind(list(&shape, value, phone_region)?)
                        .push_sql(")");
                }
                ("not_in", false) => {
                    sql.push_sql(&format!("NOT ({column} && "))
                        .push_bind(list(&shape, value, phone_region)?)
                        .push_sql(")");
                }
                _ => {
                    sql.push_sql(&format!("NOT COALESCE({column} ?| "))
                        .push_bind(list(&shape, value, phone_region)?)
                        .push_sql(", false)");
                }
            }
        }
        "eq" => {
            let bind = scalar(&shape, value, phone_region)?;
            match (&shape.custom_key, &bind) {
                // Containment uses the GIN index on `custom`.
                (Some(key), Bind::Text(text))
                    if shape.scalar == Scalar::Text || shape.scalar == Scalar::Email =>
                {
                    let mut object = serde_json::Map::new();
                    object.insert(key.clone(), Value::String(text.clone()));
                    sql.push_sql("(custom @> ").push_bind(Bind::Jsonb(Value::Object(object))).push_sql(")");
                }
                _ => {
                    sql.push_sql(&format!("({column} = ")).push_bind(bind).push_sql(")");
                }
            }
        }
        "neq" => {
            sql.push_sql(&format!("({column} IS DISTINCT FROM "))
                .push_bind(scalar(&shape, value, phone_region)?)
                .push_sql(")");
        }
        "in" => {
            sql.push_sql(&format!("({column} = ANY("))
                .push_bind(list(&shape, value, phone_region)?)
                .push_sql("))");
        }
        "not_in" => {
            sql.push_sql(&format!("({column} IS NULL OR NOT {column} = ANY("))
                .push_bind(list(&shape, value, phone_region)?)
                .push_sql("))");
        }
        "lt" | "lte" | "gt" | "gte" => {
            let comparison = match op {
                "lt" => "<",
                "lte" => "<=",
                "gt" => ">",
                _ => ">=",
            };
            sql.push_sql(&format!("({column} {comparison} "))
                .push_bind(scalar(&shape, value, phone_region)?)
                .push_sql(")");
        }
        "between" => {
            let Some([low, high]) =
                value.as_array().and_then(|items| <&[Value; 2]>::try_from(items.as_slice()).ok())
            else {
                return Err("must be a list of two values: [from, to], both included".into());
            };
            sql.push_sql(&format!("({column} BETWEEN "))
                .push_bind(scalar(&shape, low, phone_region)?)
                .push_sql(" AND ")
                .push_bind(scalar(&shape, high, phone_region)?)
                .push_sql(")");
        }
        "contains" | "starts_with" => {
            let Bind::Text(text) = scalar(&shape, value, phone_region)? else { unreachable_bind()? };
            if text.is_empty() {
                return Err("must not be empty".into());
            }
            let pattern =
                if op == "contains" { like_pattern(&text) } else { format!("{}%", escape_like(&text)) };
            sql.push_sql(&format!("({column} ILIKE ")).push_bind(Bind::Text(pattern)).push_sql(")");
        }
        "before_days_ago" | "within_days" => {
            let days = days(value)?;
            let now = if shape.scalar == Scalar::Date { "current_date" } else { "now()" };
            let comparison = if op == "before_days_ago" { "<" } else { ">=" };
            sql.push_sql(&format!("({column} {comparison} {now} - make_interval(days => "))
                .push_bind(Bind::BigInt(days))
                .push_sql("::integer))");
            if op == "within_days" {
                // Within the last N days: up to now, not in the future.
                sql.push_sql(&format!(" AND ({column} <= {now})"));
            }
        }
        _ => return Err(format!("{op} is not supported here")),
    }
    Ok(sql)
}

fn unreachable_bind<T>() -> Result<T, String> {
    Err("must be a string".into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn compile_clients(filter: Value) -> Result<String, Vec<(String, String)>> {
        let mut fields = client_fields();
        fields.push(custom_field("tier", CustomFieldType::Enum, &["gold".into(), "silver".into()]));
        let catalogue = Catalogue { entity: "client", fields: &fields, phone_region: "RU" };
        compile(&filter, &catalogue)
            .map(|condition| condition.debug_sql())
            .map_err(|errors| errors.into_iter().map(|error| (error.field, error.code)).collect())
    }

    #[test]
    fn groups_and_conditions_compile_to_parameters_only() {
        let sql = compile_clients(json!({"all": [
            {"field": "kind", "op": "eq", "value": "company"},
            {"any": [{"field": "tags", "op": "contains", "value": "vip'; DROP TABLE clients; --"},
                     {"field": "stats.won_amount", "op": "gte", "value": "100000"}]},
            {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": 90},
            {"field": "custom.tier", "op": "eq", "value": "gold"}
        ]}));
        assert_eq!(
            sql.as_deref(),
            Ok("((kind = $1) AND ((tags @> $2) OR (stats_won_amount >= $3)) AND \
                (stats_last_purchase_at < now() - make_interval(days => $4::integer)) AND (custom @> $5))")
        );
    }

    #[test]
    fn the_fields_a_filter_mentions_are_found_in_nested_groups() {
        let filter = json!({"all": [
            {"field": "kind", "op": "eq", "value": "company"},
            {"any": [{"field": "phones", "op": "contains", "value": "8 912 345 67 89"},
                     {"all": [{"field": "custom.tier", "op": "eq", "value": "gold"}]}]},
            {"op": "eq", "value": "no field"},
            "not a condition"
        ]});
        let mut mentioned = mentioned_fields(&filter);
        mentioned.sort();
        assert_eq!(mentioned, ["custom.tier", "kind", "phones"]);
    }

    #[test]
    fn mistakes_name_their_path() {
        let errors = compile_clients(json!({"all": [
            {"field": "nope", "op": "eq", "value": 1},
            {"field": "kind", "op": "gte", "value": "company"},
            {"field": "kind", "op": "eq", "value": "robot"},
            {"field": "custom.missing", "op": "eq", "value": "x"},
            {"field": "kind", "op": "like", "value": "x"},
            {"any": []}
        ]}))
        .err()
        .unwrap_or_default();
        let found: Vec<(&str, &str)> =
            errors.iter().map(|(field, code)| (field.as_str(), code.as_str())).collect();
        assert_eq!(
            found,
            [
                ("filter.all[0].field", "unknown_field"),
                ("filter.all[1].op", "operator_not_allowed"),
                ("filter.all[2].value", "invalid_value"),
                ("filter.all[3].field", "unknown_field"),
                ("filter.all[4].op", "unknown_operator"),
                ("filter.all[5].any", "length"),
            ]
        );
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut deep = json!({"field": "kind", "op": "eq", "value": "person"});
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!({"all": [deep]});
        }
        assert_eq!(
            compile_clients(deep).err().map(|errors| errors[0].1.clone()),
            Some("too_deep".to_string())
        );
        let many: Vec<Value> =
            (0..=MAX_CONDITIONS).map(|_| json!({"field": "kind", "op": "eq", "value": "person"})).collect();
        assert_eq!(
            compile_clients(json!({"any": many})).err().map(|errors| errors[0].1.clone()),
            Some("too_many_conditions".to_string())
        );
    }
}
