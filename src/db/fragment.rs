//! Hand-written SQL inside Diesel queries: a keyset condition, an ORDER BY over an expression, a
//! compiled filter. Every value is a bind parameter.
//!
//! Diesel's own `sql()` literal marks the whole statement as never to be cached, so a list page
//! built with it was parsed and planned on every request (about a millisecond with the clients
//! table's indexes). A fragment says instead whether its shape is fixed: the ones our code writes
//! are, and the statement is then cached per connection like any typed query; a compiled filter
//! comes in endless shapes and is not.

use chrono::{DateTime, NaiveDate, Utc};
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
}
