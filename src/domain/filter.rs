//! The filter language of searches and dynamic segments: a request's JSON parsed and checked into
//! a typed tree of conditions whose values are read for their field's type. `db/filter.rs`
//! compiles a tree to SQL and can't meet an unchecked one.
//!
//! ```json
//! {"all": [{"field": "kind", "op": "eq", "value": "company"},
//!          {"any": [{"field": "tags", "op": "contains", "value": "vip"},
//!                   {"field": "stats.won_amount", "op": "gte", "value": "100000"}]}]}
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use super::FieldCode;
use super::Violation;
use super::contact_points::to_e164;
use super::enums::CustomFieldType;
use super::money;

/// How deep `all`/`any` groups may nest, and how many conditions one filter may hold.
pub const MAX_DEPTH: usize = 5;
pub const MAX_CONDITIONS: usize = 50;
/// The most values an `in` or `not_in` list may hold.
pub const MAX_LIST: usize = 1000;
/// The most days `before_days_ago` and `within_days` take (100 years).
pub const MAX_DAYS: i64 = 36_500;
/// How a custom field is named in a filter: `custom.<key>`.
pub const CUSTOM_PREFIX: &str = "custom.";
/// How the current state of consent to a purpose is named in a filter: `consent.<purpose>`.
pub const CONSENT_PREFIX: &str = "consent.";

/// What a field holds, which decides its operators and how values are read.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text,
    /// One of a closed set of values.
    Enum(Vec<&'static str>),
    Uuid,
    Integer,
    Decimal,
    Date,
    Timestamp,
    Bool,
    /// A list of text: tags.
    TextList,
    /// A list of lower-cased emails.
    EmailList,
    /// A list of E.164 phones.
    PhoneList,
    /// A custom field of the workspace.
    Custom {
        key: String,
        field_type: CustomFieldType,
        options: Vec<String>,
    },
}

impl FieldKind {
    /// Whether its values are phone numbers, read in the workspace's region when written without
    /// a country code.
    pub fn reads_phones(&self) -> bool {
        matches!(self, FieldKind::PhoneList | FieldKind::Custom { field_type: CustomFieldType::Phone, .. })
    }

    /// The type a value of this field is read as, the options it must be among, and whether the
    /// field holds a list of such values.
    pub fn values(&self) -> Values {
        let plain = |scalar| Values { scalar, options: None, list: false };
        match self {
            FieldKind::Text => plain(ScalarType::Text),
            FieldKind::Enum(options) => Values {
                options: Some(options.iter().map(|option| option.to_string()).collect()),
                ..plain(ScalarType::Text)
            },
            FieldKind::Uuid => plain(ScalarType::Uuid),
            FieldKind::Integer => plain(ScalarType::Integer),
            FieldKind::Decimal => plain(ScalarType::Amount),
            FieldKind::Date => plain(ScalarType::Date),
            FieldKind::Timestamp => plain(ScalarType::Timestamp),
            FieldKind::Bool => plain(ScalarType::Bool),
            FieldKind::TextList => Values { list: true, ..plain(ScalarType::Text) },
            FieldKind::EmailList => Values { list: true, ..plain(ScalarType::Email) },
            FieldKind::PhoneList => Values { list: true, ..plain(ScalarType::Phone) },
            FieldKind::Custom { field_type, options, .. } => {
                let scalar = match field_type {
                    CustomFieldType::Text
                    | CustomFieldType::Url
                    | CustomFieldType::Enum
                    | CustomFieldType::MultiEnum => ScalarType::Text,
                    CustomFieldType::Email => ScalarType::Email,
                    CustomFieldType::Phone => ScalarType::Phone,
                    CustomFieldType::Number | CustomFieldType::Decimal => ScalarType::Decimal,
                    CustomFieldType::Date => ScalarType::Date,
                    CustomFieldType::Datetime => ScalarType::Timestamp,
                    CustomFieldType::Bool => ScalarType::Bool,
                };
                let has_options = matches!(field_type, CustomFieldType::Enum | CustomFieldType::MultiEnum);
                Values {
                    scalar,
                    options: has_options.then(|| options.clone()),
                    list: *field_type == CustomFieldType::MultiEnum,
                }
            }
        }
    }

    /// The operators the field takes.
    pub fn operators(&self) -> &'static [Operator] {
        use Operator::*;
        const EQUALITY: &[Operator] = &[Eq, Neq, In, NotIn, IsNull, NotNull];
        const TEXT: &[Operator] = &[Eq, Neq, In, NotIn, Contains, StartsWith, IsNull, NotNull];
        const ORDERED: &[Operator] = &[Eq, Neq, In, NotIn, Lt, Lte, Gt, Gte, Between, IsNull, NotNull];
        const TIME: &[Operator] =
            &[Eq, Neq, Lt, Lte, Gt, Gte, Between, IsNull, NotNull, BeforeDaysAgo, WithinDays];
        const LIST: &[Operator] = &[Contains, In, NotIn, IsNull, NotNull];
        const BOOL: &[Operator] = &[Eq, Neq, IsNull, NotNull];
        match self {
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
}

/// The scalar type values of a field are read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarType {
    Text,
    /// Text compared lower-cased.
    Email,
    /// Text in E.164.
    Phone,
    Uuid,
    Integer,
    /// A custom number or decimal field's value: a decimal string or a JSON number.
    Decimal,
    /// A built-in amount: a decimal string as [`money::DECIMAL_TEXT_PATTERN`] writes it, nothing
    /// else, as the document states.
    Amount,
    Date,
    Timestamp,
    Bool,
}

/// How a field's values are read.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub scalar: ScalarType,
    pub options: Option<Vec<String>>,
    pub list: bool,
}

/// A field the language can name.
pub trait FilterField {
    fn name(&self) -> &str;
    fn kind(&self) -> &FieldKind;
}

/// The operators of the language, as a condition's `op` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Neq,
    In,
    NotIn,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    Contains,
    StartsWith,
    IsNull,
    NotNull,
    BeforeDaysAgo,
    WithinDays,
}

impl Operator {
    pub const ALL: &'static [Operator] = &[
        Operator::Eq,
        Operator::Neq,
        Operator::In,
        Operator::NotIn,
        Operator::Lt,
        Operator::Lte,
        Operator::Gt,
        Operator::Gte,
        Operator::Between,
        Operator::Contains,
        Operator::StartsWith,
        Operator::IsNull,
        Operator::NotNull,
        Operator::BeforeDaysAgo,
        Operator::WithinDays,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Neq => "neq",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Between => "between",
            Operator::Contains => "contains",
            Operator::StartsWith => "starts_with",
            Operator::IsNull => "is_null",
            Operator::NotNull => "not_null",
            Operator::BeforeDaysAgo => "before_days_ago",
            Operator::WithinDays => "within_days",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|operator| operator.as_str() == name)
    }
}

/// "eq, neq, in, …": the operators in a message.
fn listed(operators: &[Operator]) -> String {
    operators.iter().map(|operator| operator.as_str()).collect::<Vec<_>>().join(", ")
}

/// One value, read for its field's type (emails lower-cased, phones in E.164).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Uuid(uuid::Uuid),
    Integer(i64),
    Decimal(Decimal),
    Date(NaiveDate),
    Timestamp(DateTime<Utc>),
    Bool(bool),
}

/// The values of an `in` or `not_in`, all of one type.
#[derive(Debug, Clone, PartialEq)]
pub enum List {
    Text(Vec<String>),
    Uuid(Vec<uuid::Uuid>),
    Integer(Vec<i64>),
    Decimal(Vec<Decimal>),
    Date(Vec<NaiveDate>),
    Timestamp(Vec<DateTime<Utc>>),
}

/// `lt`, `lte`, `gt`, `gte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// What a condition asks of its field, with its values read.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Absent: null, an empty list, or a custom key not set.
    IsNull,
    NotNull,
    Eq(Scalar),
    Neq(Scalar),
    In(List),
    NotIn(List),
    Compare(Comparison, Scalar),
    /// Both ends included.
    Between(Scalar, Scalar),
    /// A list field holds this item.
    Has(String),
    /// Text holding this fragment, case-insensitively.
    Contains(String),
    StartsWith(String),
    /// Earlier than this many days ago.
    BeforeDaysAgo(i64),
    /// Within the last this many days, up to now.
    WithinDays(i64),
}

/// A checked filter over fields of type `F`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter<'f, F> {
    All(Vec<Filter<'f, F>>),
    Any(Vec<Filter<'f, F>>),
    Condition { field: &'f F, op: Op },
}

/// What a filter is read against: the entity's fields (custom ones included), the entity's name
/// for messages, and the workspace's phone region for phones written without a country code.
pub struct Catalogue<'f, F> {
    pub entity: &'static str,
    pub fields: &'f [F],
    pub phone_region: &'f str,
}

/// The field names a filter's conditions mention, in its groups at any depth; whatever isn't a
/// condition or a group is left for `parse` to report.
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

/// Parses and checks a filter; every mistake is a violation naming its path (`filter.all[1].op`).
pub fn parse<'f, F: FilterField>(
    filter: &Value,
    catalogue: &Catalogue<'f, F>,
) -> Result<Filter<'f, F>, Vec<Violation>> {
    let mut parser = Parser { catalogue, conditions: 0, violations: Vec::new() };
    match parser.node(filter, "filter", 1) {
        Some(filter) if parser.violations.is_empty() => Ok(filter),
        _ => Err(parser.violations),
    }
}

struct Parser<'c, 'f, F> {
    catalogue: &'c Catalogue<'f, F>,
    conditions: usize,
    violations: Vec<Violation>,
}

impl<'f, F: FilterField> Parser<'_, 'f, F> {
    /// Records a mistake; the node it was found in is dropped and the walk goes on, so that every
    /// mistake is reported at once.
    fn refuse<T>(&mut self, path: &str, code: FieldCode, message: impl Into<String>) -> Option<T> {
        self.violations.push(Violation::new(path, code, message));
        None
    }

    fn node(&mut self, node: &Value, path: &str, depth: usize) -> Option<Filter<'f, F>> {
        let Value::Object(object) = node else {
            return self.refuse(path, FieldCode::Type, "must be an object: a condition or an all/any group");
        };
        for group in ["all", "any"] {
            if let Some(children) = object.get(group) {
                if object.len() != 1 {
                    return self.refuse(
                        path,
                        FieldCode::UnknownField,
                        format!("a group has only the key \"{group}\""),
                    );
                }
                let children = self.group(children, &format!("{path}.{group}"), depth)?;
                return Some(if group == "all" { Filter::All(children) } else { Filter::Any(children) });
            }
        }
        if let Some(key) = object.keys().find(|key| !["field", "op", "value"].contains(&key.as_str())) {
            return self.refuse(
                &format!("{path}.{key}"),
                FieldCode::UnknownField,
                "a condition has field, op and value; a group has all or any",
            );
        }
        self.conditions += 1;
        if self.conditions == MAX_CONDITIONS + 1 {
            return self.refuse(
                path,
                FieldCode::TooManyConditions,
                format!("a filter holds at most {MAX_CONDITIONS} conditions"),
            );
        }
        self.condition(object, path)
    }

    fn group(&mut self, children: &Value, path: &str, depth: usize) -> Option<Vec<Filter<'f, F>>> {
        if depth > MAX_DEPTH {
            return self.refuse(path, FieldCode::TooDeep, format!("groups nest at most {MAX_DEPTH} deep"));
        }
        let Value::Array(children) = children else {
            return self.refuse(path, FieldCode::Type, "must be a list of conditions");
        };
        if children.is_empty() {
            return self.refuse(path, FieldCode::Length, "must hold at least one condition");
        }
        // Every child is parsed, even after a mistake, to report them all.
        let parsed: Vec<Option<Filter<'f, F>>> = children
            .iter()
            .enumerate()
            .map(|(index, child)| self.node(child, &format!("{path}[{index}]"), depth + 1))
            .collect();
        parsed.into_iter().collect()
    }

    fn condition(&mut self, object: &serde_json::Map<String, Value>, path: &str) -> Option<Filter<'f, F>> {
        let Some(Value::String(name)) = object.get("field") else {
            return self.refuse(&format!("{path}.field"), FieldCode::Required, "must name a field");
        };
        let Some(Value::String(op)) = object.get("op") else {
            return self.refuse(
                &format!("{path}.op"),
                FieldCode::Required,
                format!("must be one of {}", listed(Operator::ALL)),
            );
        };
        let catalogue = self.catalogue;
        let Some(field) = catalogue.fields.iter().find(|field| field.name() == name) else {
            let message = match (name.strip_prefix(CUSTOM_PREFIX), name.strip_prefix(CONSENT_PREFIX)) {
                (Some(key), _) => format!("{} has no custom field {key:?}", catalogue.entity),
                (_, Some(purpose)) => format!("the workspace has no consent purpose {purpose:?}"),
                _ => format!("{} has no field {name:?}", catalogue.entity),
            };
            return self.refuse(&format!("{path}.field"), FieldCode::UnknownField, message);
        };
        let Some(operator) = Operator::parse(op) else {
            return self.refuse(
                &format!("{path}.op"),
                FieldCode::UnknownOperator,
                format!("must be one of {}", listed(Operator::ALL)),
            );
        };
        let allowed = field.kind().operators();
        if !allowed.contains(&operator) {
            return self.refuse(
                &format!("{path}.op"),
                FieldCode::OperatorNotAllowed,
                format!("{name} takes {}", listed(allowed)),
            );
        }
        let value = object.get("value").unwrap_or(&Value::Null);
        match read_op(&field.kind().values(), operator, value, catalogue.phone_region) {
            Ok(op) => Some(Filter::Condition { field, op }),
            Err(message) => self.refuse(&format!("{path}.value"), FieldCode::InvalidValue, message),
        }
    }
}

/// A condition's operator with its value read for the field's type.
fn read_op(values: &Values, operator: Operator, value: &Value, phone_region: &str) -> Result<Op, String> {
    let scalar = |value: &Value| read_scalar(values, value, phone_region);
    let list = |value: &Value| read_list(values, value, phone_region);
    let text = |value: &Value| match scalar(value)? {
        Scalar::Text(text) => Ok(text),
        _ => Err("must be a string".to_string()),
    };
    if matches!(operator, Operator::IsNull | Operator::NotNull)
        && !(value.is_null() || value == &Value::Bool(true))
    {
        return Err(format!("{} takes no value", operator.as_str()));
    }
    let op = match operator {
        Operator::IsNull => Op::IsNull,
        Operator::NotNull => Op::NotNull,
        Operator::Contains if values.list => Op::Has(text(value)?),
        Operator::Eq => Op::Eq(scalar(value)?),
        Operator::Neq => Op::Neq(scalar(value)?),
        Operator::In => Op::In(list(value)?),
        Operator::NotIn => Op::NotIn(list(value)?),
        Operator::Lt => Op::Compare(Comparison::Less, scalar(value)?),
        Operator::Lte => Op::Compare(Comparison::LessOrEqual, scalar(value)?),
        Operator::Gt => Op::Compare(Comparison::Greater, scalar(value)?),
        Operator::Gte => Op::Compare(Comparison::GreaterOrEqual, scalar(value)?),
        Operator::Between => {
            let Some([low, high]) =
                value.as_array().and_then(|items| <&[Value; 2]>::try_from(items.as_slice()).ok())
            else {
                return Err("must be a list of two values: [from, to], both included".into());
            };
            Op::Between(scalar(low)?, scalar(high)?)
        }
        Operator::Contains | Operator::StartsWith => {
            let fragment = text(value)?;
            if fragment.is_empty() {
                return Err("must not be empty".into());
            }
            if operator == Operator::Contains { Op::Contains(fragment) } else { Op::StartsWith(fragment) }
        }
        Operator::BeforeDaysAgo => Op::BeforeDaysAgo(days(value)?),
        Operator::WithinDays => Op::WithinDays(days(value)?),
    };
    Ok(op)
}

/// Reads one value of a field.
fn read_scalar(values: &Values, value: &Value, phone_region: &str) -> Result<Scalar, String> {
    let text = || value.as_str().map(str::trim).ok_or_else(|| "must be a string".to_string());
    let scalar = match values.scalar {
        ScalarType::Text => {
            let text = text()?;
            if let Some(options) = &values.options
                && !options.iter().any(|option| option == text)
            {
                return Err(format!("must be one of {}", options.join(", ")));
            }
            Scalar::Text(text.to_string())
        }
        ScalarType::Email => Scalar::Text(text()?.to_lowercase()),
        ScalarType::Phone => Scalar::Text(to_e164(text()?, phone_region).map_err(|(_, message)| message)?),
        ScalarType::Uuid => Scalar::Uuid(text()?.parse().map_err(|_| "must be a UUID".to_string())?),
        ScalarType::Integer => {
            Scalar::Integer(value.as_i64().ok_or_else(|| "must be an integer".to_string())?)
        }
        ScalarType::Decimal => Scalar::Decimal(
            match value {
                Value::String(text) => Decimal::from_str_exact(text.trim()),
                Value::Number(number) => Decimal::from_str_exact(&number.to_string()),
                _ => return Err("must be a decimal string, like \"100000\"".into()),
            }
            .map_err(|_| "must be a decimal string, like \"100000\"".to_string())?,
        ),
        ScalarType::Amount => {
            Scalar::Decimal(value.as_str().and_then(money::parse_decimal_text).ok_or_else(|| {
                "must be a decimal string of digits and a point, like \"100000\" or \"99.95\"".to_string()
            })?)
        }
        ScalarType::Date => Scalar::Date(
            NaiveDate::parse_from_str(text()?, "%Y-%m-%d")
                .map_err(|_| "must be a date, YYYY-MM-DD".to_string())?,
        ),
        ScalarType::Timestamp => Scalar::Timestamp(
            DateTime::parse_from_rfc3339(text()?)
                .map_err(|_| "must be an RFC 3339 time, like 2026-11-23T10:00:00Z".to_string())?
                .with_timezone(&Utc),
        ),
        ScalarType::Bool => Scalar::Bool(value.as_bool().ok_or_else(|| "must be true or false".to_string())?),
    };
    Ok(scalar)
}

/// Reads the values of an `in` or `not_in`.
fn read_list(values: &Values, value: &Value, phone_region: &str) -> Result<List, String> {
    let Value::Array(items) = value else { return Err("must be a list of values".into()) };
    if items.is_empty() || items.len() > MAX_LIST {
        return Err(format!("must hold 1 to {MAX_LIST} values"));
    }
    let scalars =
        items.iter().map(|item| read_scalar(values, item, phone_region)).collect::<Result<Vec<_>, _>>()?;
    macro_rules! all_of {
        ($variant:ident) => {
            List::$variant(
                scalars
                    .into_iter()
                    .filter_map(|scalar| match scalar {
                        Scalar::$variant(value) => Some(value),
                        _ => None,
                    })
                    .collect(),
            )
        };
    }
    Ok(match values.scalar {
        ScalarType::Text | ScalarType::Email | ScalarType::Phone => all_of!(Text),
        ScalarType::Uuid => all_of!(Uuid),
        ScalarType::Integer => all_of!(Integer),
        ScalarType::Decimal | ScalarType::Amount => all_of!(Decimal),
        ScalarType::Date => all_of!(Date),
        ScalarType::Timestamp => all_of!(Timestamp),
        ScalarType::Bool => return Err("a true/false field takes eq or neq".into()),
    })
}

fn days(value: &Value) -> Result<i64, String> {
    value
        .as_i64()
        .filter(|days| (0..=MAX_DAYS).contains(days))
        .ok_or_else(|| format!("must be a whole number of days, 0 to {MAX_DAYS}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Field(&'static str, FieldKind);

    impl FilterField for Field {
        fn name(&self) -> &str {
            self.0
        }
        fn kind(&self) -> &FieldKind {
            &self.1
        }
    }

    fn fields() -> Vec<Field> {
        vec![
            Field("kind", FieldKind::Enum(vec!["person", "company"])),
            Field("tags", FieldKind::TextList),
            Field("phones", FieldKind::PhoneList),
            Field("emails", FieldKind::EmailList),
            Field("stats.won_amount", FieldKind::Decimal),
            Field("birth_date", FieldKind::Date),
            Field(
                "custom.tier",
                FieldKind::Custom {
                    key: "tier".into(),
                    field_type: CustomFieldType::Enum,
                    options: vec!["gold".into(), "silver".into()],
                },
            ),
        ]
    }

    fn parse_clients(filter: Value) -> Result<Vec<Op>, Vec<(String, &'static str)>> {
        let fields = fields();
        let catalogue = Catalogue { entity: "client", fields: &fields, phone_region: "RU" };
        let mut ops = Vec::new();
        let mut nodes = vec![parse(&filter, &catalogue).map_err(|found| {
            found.into_iter().map(|violation| (violation.field, violation.code.as_str())).collect::<Vec<_>>()
        })?];
        while let Some(node) = nodes.pop() {
            match node {
                Filter::All(children) | Filter::Any(children) => nodes.extend(children.into_iter().rev()),
                Filter::Condition { op, .. } => ops.push(op),
            }
        }
        Ok(ops)
    }

    #[test]
    fn values_are_read_for_their_field() {
        let ops = parse_clients(json!({"all": [
            {"field": "phones", "op": "contains", "value": "8 912 345-67-89"},
            {"field": "emails", "op": "in", "value": ["Ann@Example.COM"]},
            {"field": "stats.won_amount", "op": "between", "value": ["100", "200.5"]},
            {"field": "birth_date", "op": "is_null"},
            {"field": "kind", "op": "neq", "value": " company "}
        ]}));
        assert_eq!(
            ops,
            Ok(vec![
                Op::Has("+79123456789".into()),
                Op::In(List::Text(vec!["ann@example.com".into()])),
                Op::Between(Scalar::Decimal(Decimal::ONE_HUNDRED), Scalar::Decimal(Decimal::new(2005, 1))),
                Op::IsNull,
                Op::Neq(Scalar::Text("company".into())),
            ])
        );
        // Money is an exact decimal string, as the document's pattern says: a JSON number (a float
        // to most clients) or an exponent is refused rather than rounded.
        for amount in [json!(200.5), json!("2e2"), json!(" 200"), json!("-1")] {
            let refused = parse_clients(json!({"field": "stats.won_amount", "op": "gte", "value": amount}));
            assert_eq!(refused, Err(vec![("filter.value".to_string(), "invalid_value")]), "{amount}");
        }
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
        let errors = parse_clients(json!({"all": [
            {"field": "nope", "op": "eq", "value": 1},
            {"field": "kind", "op": "gte", "value": "company"},
            {"field": "kind", "op": "eq", "value": "robot"},
            {"field": "custom.missing", "op": "eq", "value": "x"},
            {"field": "kind", "op": "like", "value": "x"},
            {"any": []},
            {"field": "birth_date", "op": "not_null", "value": "2020-01-01"},
            {"field": "birth_date", "op": "within_days", "value": 36_501}
        ]}))
        .err()
        .unwrap_or_default();
        let found: Vec<(&str, &str)> = errors.iter().map(|(field, code)| (field.as_str(), *code)).collect();
        assert_eq!(
            found,
            [
                ("filter.all[0].field", "unknown_field"),
                ("filter.all[1].op", "operator_not_allowed"),
                ("filter.all[2].value", "invalid_value"),
                ("filter.all[3].field", "unknown_field"),
                ("filter.all[4].op", "unknown_operator"),
                ("filter.all[5].any", "length"),
                ("filter.all[6].value", "invalid_value"),
                ("filter.all[7].value", "invalid_value"),
            ]
        );
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut deep = json!({"field": "kind", "op": "eq", "value": "person"});
        for _ in 0..MAX_DEPTH + 1 {
            deep = json!({"all": [deep]});
        }
        assert_eq!(parse_clients(deep).err().map(|errors| errors[0].1), Some("too_deep"));
        let many: Vec<Value> =
            (0..=MAX_CONDITIONS).map(|_| json!({"field": "kind", "op": "eq", "value": "person"})).collect();
        assert_eq!(
            parse_clients(json!({"any": many})).err().map(|errors| errors[0].1),
            Some("too_many_conditions")
        );
    }
}
