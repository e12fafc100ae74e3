//! Hand-written SQL inside Diesel queries: a keyset condition, an ORDER BY over an expression, a
//! compiled filter. Every value is a bind parameter, except in a saved segment's filter, whose
//! values are written in as quoted literals (`with_values_written_in`).
//!
//! Diesel's own `sql()` literal marks the whole statement as never to be cached, so a list page
//! built with it was parsed and planned on every request (about a millisecond with the clients
//! table's indexes). A fragment says instead whether its shape is fixed: the ones our code writes
//! are, and the statement is then cached per connection like any typed query; a compiled filter
//! comes in endless shapes and is not, unless its values are written in.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types;
use diesel::{QueryResult, RunQueryDsl};
use rust_decimal::Decimal;
use serde_json::Value;

/// A value bound to a query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    TextList(Vec<String>),
    Uuid(uuid::Uuid),
    UuidList(Vec<uuid::Uuid>),
    BigInt(i64),
    Float(f32),
    FloatList(Vec<f32>),
    Numeric(Decimal),
    NumericList(Vec<Decimal>),
    Date(NaiveDate),
    DateList(Vec<NaiveDate>),
    Timestamp(DateTime<Utc>),
    TimestampList(Vec<DateTime<Utc>>),
    Bool(bool),
    Jsonb(Value),
    OptionalUuid(Option<uuid::Uuid>),
    OptionalDate(Option<NaiveDate>),
    OptionalTimestamp(Option<DateTime<Utc>>),
}

impl Bind {
    /// Pushes the value as the query's next bind parameter.
    pub(crate) fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        match self {
            Bind::Text(value) => out.push_bind_param::<sql_types::Text, _>(value),
            Bind::TextList(value) => out.push_bind_param::<sql_types::Array<sql_types::Text>, _>(value),
            Bind::Uuid(value) => out.push_bind_param::<sql_types::Uuid, _>(value),
            Bind::UuidList(value) => out.push_bind_param::<sql_types::Array<sql_types::Uuid>, _>(value),
            Bind::BigInt(value) => out.push_bind_param::<sql_types::BigInt, _>(value),
            Bind::Float(value) => out.push_bind_param::<sql_types::Float, _>(value),
            Bind::FloatList(value) => out.push_bind_param::<sql_types::Array<sql_types::Float>, _>(value),
            Bind::Numeric(value) => out.push_bind_param::<sql_types::Numeric, _>(value),
            Bind::NumericList(value) => out.push_bind_param::<sql_types::Array<sql_types::Numeric>, _>(value),
            Bind::Date(value) => out.push_bind_param::<sql_types::Date, _>(value),
            Bind::DateList(value) => out.push_bind_param::<sql_types::Array<sql_types::Date>, _>(value),
            Bind::Timestamp(value) => out.push_bind_param::<sql_types::Timestamptz, _>(value),
            Bind::TimestampList(value) => {
                out.push_bind_param::<sql_types::Array<sql_types::Timestamptz>, _>(value)
            }
            Bind::Bool(value) => out.push_bind_param::<sql_types::Bool, _>(value),
            Bind::Jsonb(value) => out.push_bind_param::<sql_types::Jsonb, _>(value),
            Bind::OptionalUuid(value) => {
                out.push_bind_param::<sql_types::Nullable<sql_types::Uuid>, _>(value)
            }
            Bind::OptionalDate(value) => {
                out.push_bind_param::<sql_types::Nullable<sql_types::Date>, _>(value)
            }
            Bind::OptionalTimestamp(value) => {
                out.push_bind_param::<sql_types::Nullable<sql_types::Timestamptz>, _>(value)
            }
        }
    }

    /// The value as an SQL literal of the type it is bound as, or `None` where the text form
    /// could differ from the bound value: a year PostgreSQL writes differently (before 1 or after
    /// 9999), a time finer than a microsecond or in a leap second, a float that isn't finite, a
    /// text holding NUL.
    fn literal(&self) -> Option<String> {
        fn typed(text: &str, sql_type: &str) -> String {
            format!("{}::{sql_type}", quote_literal(text))
        }
        fn list<T>(items: &[T], sql_type: &str, item: impl Fn(&T) -> Option<String>) -> Option<String> {
            if items.is_empty() {
                return Some(format!("'{{}}'::{sql_type}[]"));
            }
            let items = items.iter().map(item).collect::<Option<Vec<_>>>()?;
            Some(format!("ARRAY[{}]", items.join(", ")))
        }
        fn text(value: &str) -> Option<String> {
            (!value.contains('\0')).then(|| typed(value, "text"))
        }
        fn float(value: &f32) -> Option<String> {
            value.is_finite().then(|| typed(&value.to_string(), "float4"))
        }
        fn numeric(value: &Decimal) -> Option<String> {
            Some(typed(&value.to_string(), "numeric"))
        }
        fn date(value: &NaiveDate) -> Option<String> {
            (1..=9999).contains(&value.year()).then(|| typed(&value.format("%Y-%m-%d").to_string(), "date"))
        }
        fn timestamp(value: &DateTime<Utc>) -> Option<String> {
            let nanosecond = value.nanosecond();
            let exact = (1..=9999).contains(&value.year())
                && nanosecond < 1_000_000_000
                && nanosecond.is_multiple_of(1_000);
            exact.then(|| typed(&value.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string(), "timestamptz"))
        }
        fn uuid(value: &uuid::Uuid) -> Option<String> {
            Some(typed(&value.to_string(), "uuid"))
        }
        match self {
            Bind::Text(value) => text(value),
            Bind::TextList(values) => list(values, "text", |value| text(value)),
            Bind::Uuid(value) => uuid(value),
            Bind::UuidList(values) => list(values, "uuid", uuid),
            Bind::BigInt(value) => Some(typed(&value.to_string(), "int8")),
            Bind::Float(value) => float(value),
            Bind::FloatList(values) => list(values, "float4", float),
            Bind::Numeric(value) => numeric(value),
            Bind::NumericList(values) => list(values, "numeric", numeric),
            Bind::Date(value) => date(value),
            Bind::DateList(values) => list(values, "date", date),
            Bind::Timestamp(value) => timestamp(value),
            Bind::TimestampList(values) => list(values, "timestamptz", timestamp),
            Bind::Bool(value) => Some(typed(&value.to_string(), "bool")),
            Bind::Jsonb(value) => Some(typed(&value.to_string(), "jsonb")),
            Bind::OptionalUuid(value) => value.as_ref().map_or(Some("NULL::uuid".into()), uuid),
            Bind::OptionalDate(value) => value.as_ref().map_or(Some("NULL::date".into()), date),
            Bind::OptionalTimestamp(value) => {
                value.as_ref().map_or(Some("NULL::timestamptz".into()), timestamp)
            }
        }
    }
}

/// `text` as an SQL string literal, as libpq's `PQescapeLiteral` writes it: quotes doubled, and
/// with backslashes present, an `E''` literal with them doubled too, which reads the same whatever
/// `standard_conforming_strings` says (and a space before the `E`, so that it can't join a word
/// before it).
fn quote_literal(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 4);
    if text.contains('\\') {
        quoted.push_str(" E");
    }
    quoted.push('\'');
    for character in text.chars() {
        if character == '\'' || character == '\\' {
            quoted.push(character);
        }
        quoted.push(character);
    }
    quoted.push('\'');
    quoted
}

impl From<String> for Bind {
    fn from(value: String) -> Self {
        Bind::Text(value)
    }
}

impl From<uuid::Uuid> for Bind {
    fn from(value: uuid::Uuid) -> Self {
        Bind::Uuid(value)
    }
}

impl From<f32> for Bind {
    fn from(value: f32) -> Self {
        Bind::Float(value)
    }
}

impl From<Decimal> for Bind {
    fn from(value: Decimal) -> Self {
        Bind::Numeric(value)
    }
}

impl From<DateTime<Utc>> for Bind {
    fn from(value: DateTime<Utc>) -> Self {
        Bind::Timestamp(value)
    }
}

impl From<Option<NaiveDate>> for Bind {
    fn from(value: Option<NaiveDate>) -> Self {
        Bind::OptionalDate(value)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Bind(Bind),
}

/// SQL text with its parameters, usable where Diesel takes a boolean expression:
/// `.filter(fragment)`, and `.order(fragment)` for an ORDER BY list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlFragment {
    parts: Vec<Part>,
    /// Whether the statement holding it may be cached as a prepared statement: only for shapes
    /// our code writes, of which there are few (see the module's comment).
    fixed_shape: bool,
}

impl SqlFragment {
    /// A fragment of a fixed shape: the statement holding it is cached as a prepared statement.
    pub fn fixed(text: &str) -> Self {
        SqlFragment { parts: vec![Part::Sql(text.to_string())], fixed_shape: true }
    }

    /// A fragment whose shape depends on the request (a compiled filter): never cached.
    pub fn dynamic() -> Self {
        SqlFragment::default()
    }

    /// Appends SQL text.
    pub fn sql(mut self, text: &str) -> Self {
        self.push_sql(text);
        self
    }

    /// Appends a bind parameter.
    pub(crate) fn bind(mut self, value: impl Into<Bind>) -> Self {
        self.push_bind(value.into());
        self
    }

    pub(crate) fn push_sql(&mut self, text: &str) -> &mut Self {
        self.parts.push(Part::Sql(text.to_string()));
        self
    }

    pub(crate) fn push_bind(&mut self, value: Bind) -> &mut Self {
        self.parts.push(Part::Bind(value));
        self
    }

    /// Appends ` AND column >= … AND column < …`: the instants of the days `from` to `to` (both
    /// included) in the time zone `timezone`, from the first one's midnight to the midnight after
    /// the last, as PostgreSQL reckons them (a midnight the clocks skip included).
    pub(crate) fn push_within_days(&mut self, column: &str, from: NaiveDate, to: NaiveDate, timezone: &str) {
        let after = to.succ_opt().unwrap_or(NaiveDate::MAX);
        for (operator, day) in [(">=", from), ("<", after)] {
            self.push_sql(&format!(" AND {column} {operator} ("));
            self.push_bind(Bind::Date(day));
            self.push_sql("::timestamp AT TIME ZONE ");
            self.push_bind(Bind::Text(timezone.to_string()));
            self.push_sql(")");
        }
    }

    /// Appends `other`; the result has a fixed shape only if both have.
    pub fn append(&mut self, other: SqlFragment) {
        self.fixed_shape &= other.fixed_shape;
        self.parts.extend(other.parts);
    }

    /// The record is tagged `tag`. Not cached: how many records carry a tag ranges from a handful
    /// to most of the table, and the best plan with it (walk the sort index, or collect the tag's
    /// rows from its index and sort them) depends on which; a cached statement's generic plan
    /// can't tell, and at 10k clients picked the wrong one for a common tag (550 instead of
    /// 1,400 req/s).
    pub fn tagged(tag: &str) -> SqlFragment {
        SqlFragment::dynamic().sql("(tags @> ").bind(Bind::TextList(vec![tag.to_string()])).sql(")")
    }

    /// The client is a member of the static segment `segment`.
    pub fn members_of(workspace: uuid::Uuid, segment: uuid::Uuid) -> SqlFragment {
        SqlFragment::fixed("(id IN (SELECT client_id FROM segment_members WHERE workspace_id = ")
            .bind(workspace)
            .sql(" AND segment_id = ")
            .bind(segment)
            .sql("))")
    }

    /// The record's id is one of `ids`.
    pub fn id_in(ids: Vec<uuid::Uuid>) -> SqlFragment {
        SqlFragment::fixed("(id = ANY(").bind(Bind::UuidList(ids)).sql("))")
    }

    /// The keyset condition of the page after the row whose sort value was `value` and id `id`:
    /// `(column, id) > (value, id)`, `<` when descending. The row comparison is what lets the sort
    /// index start right there.
    pub(crate) fn keyset_after(
        column: &str,
        descending: bool,
        value: impl Into<Bind>,
        id: uuid::Uuid,
    ) -> SqlFragment {
        let comparison = if descending { "<" } else { ">" };
        SqlFragment::fixed(&format!("({column}, id) {comparison} (")).bind(value).sql(", ").bind(id).sql(")")
    }

    /// Both conditions.
    pub fn and(self, other: SqlFragment) -> SqlFragment {
        let mut combined = SqlFragment::fixed("(");
        combined.append(self);
        combined.push_sql(" AND ");
        combined.append(other);
        combined.sql(")")
    }

    /// The fragment with its values written into the SQL as literals, so that the statement
    /// holding it is cached and planned once per connection with the values known, as our
    /// fixed-shape statements are. For a saved segment's filter, which is run again and again
    /// with the same values: compiled with parameters, each of its pages was parsed and planned
    /// anew (0.5–0.7 ms at 1M clients), and a cached statement with parameters would get a
    /// generic plan blind to how rare a value is. Not for a request's own filter: its text would
    /// be cached for one use. A pooled connection lives at most 30 minutes (`build_pool`), so its
    /// cache holds the segments viewed in that time, not every one ever edited. Unchanged if a
    /// value has no exact literal (`Bind::literal`).
    pub fn with_values_written_in(self) -> SqlFragment {
        let parts = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Sql(text) => Some(Part::Sql(text.clone())),
                Part::Bind(bind) => bind.literal().map(Part::Sql),
            })
            .collect::<Option<Vec<_>>>();
        match parts {
            Some(parts) => SqlFragment { parts, fixed_shape: true },
            None => self,
        }
    }

    /// The SQL text with `$n` for the parameters, for plans and tests.
    pub fn debug_sql(&self) -> String {
        let mut index = 0;
        self.parts
            .iter()
            .map(|part| match part {
                Part::Sql(text) => text.clone(),
                Part::Bind(_) => {
                    index += 1;
                    format!("${index}")
                }
            })
            .collect()
    }
}

impl QueryFragment<Pg> for SqlFragment {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if !self.fixed_shape {
            out.unsafe_to_cache_prepared();
        }
        for part in &self.parts {
            match part {
                Part::Sql(text) => out.push_sql(text),
                Part::Bind(bind) => bind.push(&mut out)?,
            }
        }
        Ok(())
    }
}

impl QueryId for SqlFragment {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// A whole statement written as a fragment, for queries Diesel's DSL can't say (a `LATERAL`
/// join over a list of words); rows load by column name (`QueryableByName`).
#[derive(Debug, Clone)]
pub struct FragmentQuery(pub SqlFragment);

impl QueryFragment<Pg> for FragmentQuery {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

impl QueryId for FragmentQuery {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for FragmentQuery {
    type SqlType = sql_types::Untyped;
}

impl<Conn> RunQueryDsl<Conn> for FragmentQuery {}

impl Expression for SqlFragment {
    type SqlType = sql_types::Bool;
}

impl<QS> AppearsOnTable<QS> for SqlFragment {}
impl<QS> SelectableExpression<QS> for SqlFragment {}

impl ValidGrouping<()> for SqlFragment {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_fragment_joined_with_a_dynamic_one_is_no_longer_fixed() {
        let mut fixed = SqlFragment::fixed("(a = ").bind(1.0f32).sql(")");
        assert!(fixed.fixed_shape);
        fixed.append(SqlFragment::dynamic().sql("b"));
        assert!(!fixed.fixed_shape);
        assert_eq!(fixed.debug_sql(), "(a = $1)b");
        assert!(!SqlFragment::fixed("x").and(SqlFragment::dynamic()).fixed_shape);
        assert!(SqlFragment::members_of(uuid::Uuid::nil(), uuid::Uuid::nil()).fixed_shape);
    }

    #[test]
    fn values_written_in_are_quoted_typed_and_make_the_fragment_fixed() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default();
        let moment = day.and_hms_micro_opt(9, 5, 7, 42).unwrap_or_default().and_utc();
        let fragment = SqlFragment::dynamic()
            .sql("(a = ")
            .bind(r"O'Brien \ Sons".to_string())
            .sql(") AND (b @> ")
            .bind(Bind::TextList(vec!["it's".into(), "plain".into()]))
            .sql(") AND (c >= ")
            .bind(moment)
            .sql(") AND (d = ANY(")
            .bind(Bind::NumericList(vec![]))
            .sql(")) AND (e = ")
            .bind(Some(day))
            .sql(")")
            .with_values_written_in();
        assert!(fragment.fixed_shape);
        assert_eq!(
            fragment.debug_sql(),
            concat!(
                r"(a =  E'O''Brien \\ Sons'::text) AND (b @> ARRAY['it''s'::text, 'plain'::text])",
                r" AND (c >= '2026-12-02 09:05:07.000042+00'::timestamptz) AND (d = ANY('{}'::numeric[]))",
                r" AND (e = '2026-12-02'::date)",
            )
        );
    }

    #[test]
    fn a_value_without_an_exact_literal_keeps_the_fragment_bound() {
        let nanos = NaiveDate::from_ymd_opt(2026, 12, 2)
            .and_then(|day| day.and_hms_nano_opt(0, 0, 0, 1))
            .unwrap_or_default()
            .and_utc();
        let leap_second = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|day| day.and_hms_nano_opt(23, 59, 59, 1_000_000_000))
            .unwrap_or_default()
            .and_utc();
        for value in [
            Bind::Text("a\0b".into()),
            Bind::Float(f32::NAN),
            Bind::Timestamp(nanos),
            Bind::Timestamp(leap_second),
        ] {
            let fragment = SqlFragment::dynamic().sql("(a = ").bind(value).sql(")").with_values_written_in();
            assert!(!fragment.fixed_shape);
            assert_eq!(fragment.debug_sql(), "(a = $1)");
        }
    }
}
