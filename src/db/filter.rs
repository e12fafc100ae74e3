//! The filter language compiled to one parameterised SQL condition. `domain::filter` parses and
//! checks a request's filter into a tree; here each field name maps to a fixed column expression
//! per entity, and every value becomes a bind parameter, so no request text ever becomes SQL
//! unquoted. (A saved segment's values are then written in as quoted literals:
//! `SqlFragment::with_values_written_in`.)

use std::borrow::Cow;

use rust_decimal::Decimal;

use crate::db::fragment::{Bind, SqlFragment};
use crate::db::models::client::{escape_like, like_pattern};
use crate::domain::consent::{self, ConsentState};
use crate::domain::enums::{self, CustomFieldType};
use crate::domain::filter::{
    CONSENT_PREFIX, CUSTOM_PREFIX, Comparison, FieldKind, Filter, FilterField, List, Op, Scalar, ScalarType,
};

/// One filterable field: its name in the language, its SQL expression (a constant, or built from a
/// checked key: never request text) and its kind.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub sql: Cow<'static, str>,
    pub kind: FieldKind,
}

impl FilterField for Field {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &FieldKind {
        &self.kind
    }
}

fn field(name: &str, sql: &'static str, kind: FieldKind) -> Field {
    Field { name: name.to_string(), sql: Cow::Borrowed(sql), kind }
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
    .into_iter()
    .chain(built_in_consent_fields())
    .collect()
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
    .into_iter()
    .chain(built_in_consent_fields())
    .collect()
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

/// The current state of consent to a purpose, as a filterable field of clients and contacts:
/// `consent.<purpose>`, `granted` or `withdrawn`, null when never recorded. `purpose` is a checked
/// key (`domain::consent::is_purpose_key`): a built-in purpose or one of the workspace's own.
pub fn consent_field(purpose: &str) -> Field {
    debug_assert!(consent::is_purpose_key(purpose), "{purpose:?} is no purpose key");
    Field {
        name: format!("{CONSENT_PREFIX}{purpose}"),
        sql: Cow::Owned(format!("(consents -> '{purpose}' ->> 'state')")),
        kind: values(ConsentState::ALL, ConsentState::as_str),
    }
}

/// The condition "has granted consent to `purpose`" (a checked key), for the clients table.
pub fn consent_granted(purpose: &str) -> SqlFragment {
    // One statement per purpose: the text holds no value but the checked key.
    SqlFragment::fixed(&format!("({} = '{}')", consent_field(purpose).sql, ConsentState::Granted.as_str()))
}

/// The consent fields of the built-in purposes.
fn built_in_consent_fields() -> impl Iterator<Item = Field> {
    consent::BUILT_IN_PURPOSES.iter().map(|purpose| consent_field(purpose))
}

/// A custom field as a filterable field: `custom.<key>`.
pub fn custom_field(key: &str, field_type: CustomFieldType, options: &[String]) -> Field {
    Field {
        name: format!("{CUSTOM_PREFIX}{key}"),
        sql: Cow::Borrowed("custom"),
        kind: FieldKind::Custom { key: key.to_string(), field_type, options: options.to_vec() },
    }
}

/// Compiles a checked filter to one condition.
pub fn compile(filter: &Filter<'_, Field>) -> SqlFragment {
    match filter {
        Filter::All(children) => group(children, " AND "),
        Filter::Any(children) => group(children, " OR "),
        Filter::Condition { field, op } => condition(field, op),
    }
}

fn group(children: &[Filter<'_, Field>], joiner: &str) -> SqlFragment {
    let mut sql = SqlFragment::dynamic();
    sql.push_sql("(");
    for (index, child) in children.iter().enumerate() {
        if index > 0 {
            sql.push_sql(joiner);
        }
        sql.append(compile(child));
    }
    sql.push_sql(")");
    sql
}

/// The SQL expression of a field, and the key of a custom field (whose values live in jsonb, so
/// that presence is the key's presence).
fn expression(field: &Field) -> (String, Option<&str>) {
    let FieldKind::Custom { key, field_type, .. } = &field.kind else { return (field.sql.to_string(), None) };
    // The key is a definition's key (checked snake_case), never request text: the field was found
    // in the catalogue by name.
    let text = format!("(custom ->> '{key}')");
    let expression = match field_type {
        CustomFieldType::Text
        | CustomFieldType::Url
        | CustomFieldType::Enum
        | CustomFieldType::Email
        | CustomFieldType::Phone => text,
        CustomFieldType::Number | CustomFieldType::Decimal => format!("{text}::numeric"),
        CustomFieldType::Date => format!("{text}::date"),
        CustomFieldType::Datetime => format!("{text}::timestamptz"),
        CustomFieldType::Bool => format!("{text}::boolean"),
        CustomFieldType::MultiEnum => format!("(custom -> '{key}')"),
    };
    (expression, Some(key))
}

fn bind(scalar: &Scalar) -> Bind {
    match scalar.clone() {
        Scalar::Text(text) => Bind::Text(text),
        Scalar::Uuid(id) => Bind::Uuid(id),
        Scalar::Integer(number) => Bind::BigInt(number),
        Scalar::Decimal(number) => Bind::Numeric(number),
        Scalar::Date(date) => Bind::Date(date),
        Scalar::Timestamp(time) => Bind::Timestamp(time),
        Scalar::Bool(value) => Bind::Bool(value),
    }
}

fn bind_list(list: &List) -> Bind {
    match list.clone() {
        List::Text(items) => Bind::TextList(items),
        List::Uuid(items) => Bind::UuidList(items),
        List::Integer(items) => Bind::NumericList(items.into_iter().map(Decimal::from).collect()),
        List::Decimal(items) => Bind::NumericList(items),
        List::Date(items) => Bind::DateList(items),
        List::Timestamp(items) => Bind::TimestampList(items),
    }
}

/// One condition's SQL.
fn condition(field: &Field, op: &Op) -> SqlFragment {
    let (column, custom_key) = expression(field);
    let values = field.kind.values();
    let mut sql = SqlFragment::dynamic();
    // Equality of a custom text value is containment, which uses the GIN index on `custom`.
    let containment_key =
        custom_key.filter(|_| matches!(values.scalar, ScalarType::Text | ScalarType::Email));
    match (op, containment_key) {
        (Op::IsNull | Op::NotNull, _) => {
            // A custom value is present when its key is; a list is "null" when empty.
            let present = match (custom_key, values.list) {
                (Some(key), _) => format!("(custom ? '{key}')"),
                (None, true) => format!("(cardinality({column}) > 0)"),
                (None, false) => format!("({column} IS NOT NULL)"),
            };
            if matches!(op, Op::IsNull) {
                sql.push_sql("NOT ");
            }
            sql.push_sql(&present);
        }
        (Op::Has(_) | Op::In(_) | Op::NotIn(_), _) if values.list => {
            // A multi_enum custom field is a jsonb array; the other lists are text[] columns.
            return list_condition(&column, custom_key.is_some(), op);
        }
        (Op::Eq(Scalar::Text(text)), Some(key)) => {
            let mut object = serde_json::Map::new();
            object.insert(key.to_string(), serde_json::Value::String(text.clone()));
            sql.push_sql("(custom @> ")
                .push_bind(Bind::Jsonb(serde_json::Value::Object(object)))
                .push_sql(")");
        }
        (Op::BeforeDaysAgo(days) | Op::WithinDays(days), _) => {
            let now = if values.scalar == ScalarType::Date { "current_date" } else { "now()" };
            let within = matches!(op, Op::WithinDays(_));
            let comparison = if within { ">=" } else { "<" };
            sql.push_sql(&format!("({column} {comparison} {now} - make_interval(days => "))
                .push_bind(Bind::BigInt(*days))
                .push_sql("::integer))");
            if within {
                // Within the last N days: up to now, not in the future.
                sql.push_sql(&format!(" AND ({column} <= {now})"));
            }
        }
        _ => return value_condition(&column, op),
    }
    sql
}

/// A condition on a list field: one item held, any of several held, none of them held.
fn list_condition(column: &str, json: bool, op: &Op) -> SqlFragment {
    let mut sql = SqlFragment::dynamic();
    match (op, json) {
        (Op::Has(item), true) => sql.push_sql(&format!("({column} ? ")).push_bind(Bind::Text(item.clone())),
        (Op::Has(item), false) => {
            sql.push_sql(&format!("({column} @> ")).push_bind(Bind::TextList(vec![item.clone()]))
        }
        (Op::In(list), true) => sql.push_sql(&format!("({column} ?| ")).push_bind(bind_list(list)),
        (Op::In(list), false) => sql.push_sql(&format!("({column} && ")).push_bind(bind_list(list)),
        (Op::NotIn(list), true) => {
            sql.push_sql(&format!("NOT COALESCE({column} ?| ")).push_bind(bind_list(list)).push_sql(", false")
        }
        (Op::NotIn(list), false) => sql.push_sql(&format!("NOT ({column} && ")).push_bind(bind_list(list)),
        _ => unreachable!("only has, in and not_in are list conditions"),
    };
    sql.push_sql(")");
    sql
}

/// A condition comparing a field's value with the values given.
fn value_condition(column: &str, op: &Op) -> SqlFragment {
    let mut sql = SqlFragment::dynamic();
    match op {
        Op::Eq(value) => sql.push_sql(&format!("({column} = ")).push_bind(bind(value)),
        Op::Neq(value) => sql.push_sql(&format!("({column} IS DISTINCT FROM ")).push_bind(bind(value)),
        Op::In(list) => sql.push_sql(&format!("({column} = ANY(")).push_bind(bind_list(list)).push_sql(")"),
        Op::NotIn(list) => sql
            .push_sql(&format!("({column} IS NULL OR NOT {column} = ANY("))
            .push_bind(bind_list(list))
            .push_sql(")"),
        Op::Compare(comparison, value) => {
            let comparison = match comparison {
                Comparison::Less => "<",
                Comparison::LessOrEqual => "<=",
                Comparison::Greater => ">",
                Comparison::GreaterOrEqual => ">=",
            };
            sql.push_sql(&format!("({column} {comparison} ")).push_bind(bind(value))
        }
        Op::Between(low, high) => sql
            .push_sql(&format!("({column} BETWEEN "))
            .push_bind(bind(low))
            .push_sql(" AND ")
            .push_bind(bind(high)),
        Op::Contains(fragment) => {
            sql.push_sql(&format!("({column} ILIKE ")).push_bind(Bind::Text(like_pattern(fragment)))
        }
        Op::StartsWith(prefix) => sql
            .push_sql(&format!("({column} ILIKE "))
            .push_bind(Bind::Text(format!("{}%", escape_like(prefix)))),
        _ => unreachable!("presence, list and day conditions are built by `condition`"),
    };
    sql.push_sql(")");
    sql
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::filter::{Catalogue, parse};

    fn compile_clients(filter: Value) -> Option<String> {
        let mut fields = client_fields();
        fields.push(custom_field("tier", CustomFieldType::Enum, &["gold".into(), "silver".into()]));
        fields.push(custom_field("sizes", CustomFieldType::MultiEnum, &["s".into(), "m".into()]));
        let catalogue = Catalogue { entity: "client", fields: &fields, phone_region: "RU" };
        parse(&filter, &catalogue).ok().map(|filter| compile(&filter).debug_sql())
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
            Some(
                "((kind = $1) AND ((tags @> $2) OR (stats_won_amount >= $3)) AND \
                (stats_last_purchase_at < now() - make_interval(days => $4::integer)) AND (custom @> $5))"
            )
        );
    }

    #[test]
    fn lists_and_absence_compile_for_columns_and_custom_keys() {
        let sql = compile_clients(json!({"any": [
            {"field": "tags", "op": "not_in", "value": ["a", "b"]},
            {"field": "custom.sizes", "op": "in", "value": ["s"]},
            {"field": "custom.sizes", "op": "not_in", "value": ["m"]},
            {"field": "custom.tier", "op": "is_null"},
            {"field": "birth_date", "op": "within_days", "value": 7},
            {"field": "display_name", "op": "starts_with", "value": "50%"}
        ]}));
        assert_eq!(
            sql.as_deref(),
            Some(
                "(NOT (tags && $1) OR ((custom -> 'sizes') ?| $2) OR NOT COALESCE((custom -> 'sizes') ?| $3, false) \
                OR NOT (custom ? 'tier') OR (birth_date >= current_date - make_interval(days => $4::integer)) \
                AND (birth_date <= current_date) OR (display_name ILIKE $5))"
            )
        );
    }
}
