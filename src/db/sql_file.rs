//! Queries from our own SQL files (`src/db/sql/*.sql`), run as prepared statements that each
//! connection keeps. Diesel's `sql_query` never caches a statement, since its text could come from
//! anywhere; these texts are compile-time constants, so the hot ones (the client card, the board,
//! the stats of every deal and activity write) are parsed and planned once per connection.

use std::sync::OnceLock;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Untyped;
use diesel::{QueryResult, RunQueryDsl};

use crate::db::fragment::Bind;

/// The text of one SQL file, split once into SQL and parameters: Diesel walks a query several
/// times per execution (for the statement cache key, the binds, the cacheability check), and
/// scanning a 2 KB file each time was a tenth of the server's CPU on the client card.
#[derive(Debug)]
pub struct SqlText {
    source: &'static str,
    pieces: OnceLock<Vec<Piece>>,
}

#[derive(Debug)]
enum Piece {
    Sql(String),
    /// `$n` of the file: the parameter bound n-th (`n - 1` here).
    Parameter(usize),
}

impl SqlText {
    pub const fn new(source: &'static str) -> Self {
        Self { source, pieces: OnceLock::new() }
    }

    fn pieces(&self) -> &[Piece] {
        self.pieces.get_or_init(|| split(self.source))
    }
}

/// Splits the text at each `$n`; comments go, so that a `$1` in one is not taken for a parameter.
fn split(source: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut sql = String::new();
    for line in source.lines() {
        let mut rest = line.split("--").next().unwrap_or_default();
        while let Some(dollar) = rest.find('$') {
            let digits = rest[dollar + 1..].chars().take_while(char::is_ascii_digit).count();
            match rest[dollar + 1..dollar + 1 + digits].parse::<usize>() {
                Ok(number) if number > 0 => {
                    sql.push_str(&rest[..dollar]);
                    pieces.push(Piece::Sql(std::mem::take(&mut sql)));
                    pieces.push(Piece::Parameter(number - 1));
                    rest = &rest[dollar + 1 + digits..];
                }
                _ => {
                    sql.push_str(&rest[..=dollar]);
                    rest = &rest[dollar + 1..];
                }
            }
        }
        sql.push_str(rest);
        sql.push('\n');
    }
    pieces.push(Piece::Sql(sql));
    pieces
}

/// One of our SQL files with its parameters (`$1`, `$2`, … in the file, each may repeat).
#[derive(Debug, Clone)]
pub struct SqlFile {
    text: &'static SqlText,
    binds: Vec<Bind>,
}

impl SqlFile {
    pub fn new(text: &'static SqlText) -> Self {
        Self { text, binds: Vec::new() }
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
        // becomes a parameter of its own, bound to the n-th value.
        for piece in self.text.pieces() {
            match piece {
                Piece::Sql(sql) => out.push_sql(sql),
                Piece::Parameter(index) => match self.binds.get(*index) {
                    Some(bind) => bind.push(&mut out)?,
                    // A `$n` without its value stays in the text, for PostgreSQL to refuse.
                    None => out.push_sql(&format!("${}", index + 1)),
                },
            }
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
        static TEXT: SqlText = SqlText::new("-- $1: the workspace\nSELECT $1, $2\nWHERE a = $1 -- $3\n");
        let query = SqlFile::new(&TEXT).bind(Bind::BigInt(7)).bind(Bind::Text("x".into()));
        let text = debug_query::<Pg, _>(&query).to_string();
        assert!(text.starts_with("\nSELECT $1, $2\nWHERE a = $3 \n"), "{text}");
    }
}
