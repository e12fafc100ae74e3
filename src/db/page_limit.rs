//! A page's LIMIT, written into the statement's text when it is a common page size.
//!
//! PostgreSQL costs a cached statement's generic plan as if `LIMIT $n` kept a tenth of the rows.
//! For a page of 51 clients out of a million that is a 100,000-row plan, far dearer than the
//! custom plan for 51, so PostgreSQL planned each list page afresh on every request: 0.4-0.5 ms,
//! half of what the database spent on the page at 1M clients. With the number in the text the
//! generic plan is costed for the rows it returns, and PostgreSQL reuses it after the first
//! five executions.
//!
//! Every number written makes another statement for each connection to keep (about 80 KB in
//! PostgreSQL), so only the common page sizes are written, and any other is bound as before:
//! a client cycling through every limit can't fill the connections' memory.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel::{QueryResult, RunQueryDsl};

/// The page sizes written into the text: the API's defaults and the sizes clients commonly
/// ask for, each also plus one, since a list reads one row more than it shows to know whether
/// another page follows.
const WRITTEN: [i64; 16] = [1, 2, 5, 6, 10, 11, 20, 21, 25, 26, 50, 51, 100, 101, 200, 201];

/// `query` followed by `LIMIT limit`.
#[derive(Debug, Clone)]
pub struct PageLimit<Q> {
    query: Q,
    limit: i64,
}

pub trait PageLimitDsl: Sized {
    /// The query with `LIMIT limit` (in place of Diesel's `.limit(limit)`, which always binds
    /// it; see the module's comment). The query itself must have no LIMIT.
    fn page_limit(self, limit: i64) -> PageLimit<Self> {
        PageLimit { query: self, limit }
    }
}

impl<Q: Query> PageLimitDsl for Q {}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for PageLimit<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        if WRITTEN.contains(&self.limit) {
            out.push_sql(&format!(" LIMIT {}", self.limit));
        } else {
            out.push_sql(" LIMIT ");
            out.push_bind_param::<BigInt, _>(&self.limit)?;
        }
        Ok(())
    }
}

impl<Q> QueryId for PageLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PageLimit<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for PageLimit<Q> {}

#[cfg(test)]
mod tests {
    use diesel::debug_query;
    use diesel::prelude::*;

    use super::*;
    use crate::db::schema::teams;

    #[test]
    fn a_common_page_size_is_written_and_any_other_bound() {
        let page = |limit| {
            let query = teams::table.select(teams::id).order(teams::id).into_boxed::<Pg>();
            debug_query::<Pg, _>(&query.page_limit(limit)).to_string()
        };
        assert!(page(51).contains("LIMIT 51 --"), "{}", page(51));
        assert!(page(52).contains("LIMIT $1 --"), "{}", page(52));
    }
}
