//! Pairs of live clients that look like one: the same normalised email, phone or tax id across the
//! workspace, and for one client also names like its own (trigram word similarity).

use diesel::prelude::*;
use diesel::sql_types::{Array, Float4, Text, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::visibility::ClientScope;
use crate::ids::ClientId;

/// How alike two names must be (pg_trgm's word similarity, 0 to 1) to make a pair of one client's.
pub const SIMILAR_NAMES: f32 = 0.6;

/// Two clients, `first` the smaller id, and what they share.
#[derive(Debug, QueryableByName)]
pub struct DuplicatePair {
    #[diesel(sql_type = SqlUuid)]
    pub first: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub second: Uuid,
    /// Of `email`, `phone` and `tax_id`, alphabetically.
    #[diesel(sql_type = Array<Text>)]
    pub reasons: Vec<String>,
}

/// Up to `limit` pairs of live clients the scope sees that share a normalised email, phone or tax
/// id, in the order of their ids, after the pair `after`. Every page reads every key of the
/// workspace's clients (1.5 s at 100k clients, 5.7 s at 1M on the benchmark machine).
pub fn find_pairs(
    conn: &mut PgConnection,
    scope: &ClientScope,
    after: Option<(Uuid, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<DuplicatePair>> {
    let mut query = SqlFragment::fixed(
        "WITH live AS (SELECT c.id, c.email_keys, c.phone_keys, c.tax_id FROM clients AS c WHERE c.workspace_id = ",
    );
    query.push_bind(Bind::Uuid(scope.workspace().0));
    query.push_sql(" AND c.deleted_at IS NULL");
    if let Some(condition) = scope.client_condition("c") {
        query.push_sql(" AND ");
        query.append(condition);
    }
    // Only keys that more than one client has are paired: a hash of all keys first, rather than a
    // join of all of them with all. Byte order ("C") is all equality needs, and sorts faster.
    query.push_sql(
        "), keys AS (SELECT id, 'email' AS reason, unnest(email_keys) COLLATE \"C\" AS key FROM live \
         UNION ALL SELECT id, 'phone', unnest(phone_keys) COLLATE \"C\" FROM live \
         UNION ALL SELECT id, 'tax_id', tax_id COLLATE \"C\" FROM live WHERE tax_id IS NOT NULL), \
         shared AS (SELECT reason, key FROM keys GROUP BY reason, key HAVING count(*) > 1), \
         hits AS (SELECT k.id, k.reason, k.key FROM keys AS k JOIN shared AS s ON s.reason = k.reason AND s.key = k.key) \
         SELECT a.id AS first, b.id AS second, array_agg(DISTINCT a.reason ORDER BY a.reason) AS reasons \
         FROM hits AS a JOIN hits AS b ON b.reason = a.reason AND b.key = a.key AND b.id > a.id",
    );
    if let Some((first, second)) = after {
        query.push_sql(" WHERE (a.id, b.id) > (");
        query.push_bind(Bind::Uuid(first));
        query.push_sql(", ");
        query.push_bind(Bind::Uuid(second));
        query.push_sql(")");
    }
    query.push_sql(" GROUP BY a.id, b.id ORDER BY a.id, b.id LIMIT ");
    query.push_bind(Bind::BigInt(limit));
    FragmentQuery(query).load(conn)
}

/// A live client the scope sees whose name is like `name`, and how alike (0 to 1).
#[derive(Debug, QueryableByName)]
pub struct SimilarName {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Float4)]
    pub similarity: f32,
    /// The same name, whatever the case and spacing.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub same_name: bool,
}

/// Up to `limit` live clients other than `except` that the scope sees whose display name is like
/// `name` (pg_trgm's word similarity at least [`SIMILAR_NAMES`]), the most alike first; found
/// through the search index, which holds every client's names.
pub fn find_similar_names(
    conn: &mut PgConnection,
    scope: &ClientScope,
    name: &str,
    except: ClientId,
    limit: i64,
) -> QueryResult<Vec<SimilarName>> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let mut query = SqlFragment::fixed("SELECT c.id, word_similarity(");
    query.push_bind(Bind::Text(name.clone()));
    query.push_sql(
        ", lower(c.display_name)) AS similarity, lower(regexp_replace(c.display_name, '\\s+', ' ', 'g')) = ",
    );
    query.push_bind(Bind::Text(name.clone()));
    query.push_sql(" AS same_name FROM clients AS c WHERE c.workspace_id = ");
    query.push_bind(Bind::Uuid(scope.workspace().0));
    query.push_sql(" AND c.deleted_at IS NULL AND c.id <> ");
    query.push_bind(Bind::Uuid(except.0));
    query.push_sql(" AND ");
    query.push_bind(Bind::Text(name.clone()));
    query.push_sql(" <% c.search_text");
    if let Some(condition) = scope.client_condition("c") {
        query.push_sql(" AND ");
        query.append(condition);
    }
    query.push_sql(" AND word_similarity(");
    query.push_bind(Bind::Text(name));
    query.push_sql(", lower(c.display_name)) >= ");
    query.push_bind(Bind::Float(SIMILAR_NAMES));
    query.push_sql(" ORDER BY similarity DESC, c.id LIMIT ");
    query.push_bind(Bind::BigInt(limit));
    FragmentQuery(query).load(conn)
}
