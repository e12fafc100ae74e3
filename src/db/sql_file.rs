//! Queries from our own SQL files (`src/db/sql/*.sql`), run as prepared statements that each
//! connection keeps. Diesel's `sql_query` never caches a statement, since its text could come from
//! anywhere; these texts are compile-time constants, so the hot ones (the client card, the board,
//! the stats of every deal and activity write) are parsed and planned once per connection.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Untyped;
use diesel::{QueryResult, RunQueryDsl};

use crate::db::fragment::Bind;

/// One of our SQL files with its parameters (`$1`, `$2`, … in the file, each may repeat).
#[derive(Debug, Clone)]
pub struct SqlFile {
    sql: &'static str,
    binds: Vec<Bind>,
}

impl SqlFile {
    pub fn new(sql: &'static str) -> Self {
        Self { sql, binds: Vec::new() }
    }

    /// The value of the next parameter: `$1` first.
    pub(crate) fn bind(mut self, value: Bind) -> Self {
        self.binds.push(value);
        self
    }
}

impl QueryFragment<Pg> for SqlFile {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Diesel numbers the parameters itself, in order of appearance: each `$n` of the file
        // becomes a parameter of its own, bound to the n-th value. Comments go, so that a `$1` in
        // one is not taken for a parameter.
        for line in self.sql.lines() {
            let code = line.split("--").next().unwrap_or_default();
            let mut rest = code;
            while let Some(dollar) = rest.find('$') {
                let digits = rest[dollar + 1..].chars().take_while(char::is_ascii_digit).count();
                let number: usize = rest[dollar + 1..dollar + 1 + digits].parse().unwrap_or(0);
                let Some(bind) = number.checked_sub(1).and_then(|index| self.binds.get(index)) else {
                    out.push_sql(&rest[..=dollar]);
                    rest = &rest[dollar + 1..];
                    continue;
                };
                out.push_sql(&rest[..dollar]);
                bind.push(&mut out)?;
                rest = &rest[dollar + 1 + digits..];
            }
            out.push_sql(rest);
            out.push_sql("\n");
        }
        Ok(())
    }
}

impl QueryId for SqlFile {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for SqlFile {
    type SqlType = Untyped;
}

impl<Conn> RunQueryDsl<Conn> for SqlFile {}

#[cfg(test)]
mod tests {
    use diesel::debug_query;

    use super::*;

    #[test]
    fn each_placeholder_becomes_a_parameter_and_comments_go() {
        let query = SqlFile::new("-- $1: the workspace\nSELECT $1, $2\nWHERE a = $1 -- $3\n")
            .bind(Bind::BigInt(7))
            .bind(Bind::Text("x".into()));
        let text = debug_query::<Pg, _>(&query).to_string();
        assert!(text.starts_with("\nSELECT $1, $2\nWHERE a = $3 \n"), "{text}");
    }
}
