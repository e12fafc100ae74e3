//! Clients: rows and queries, including the list query behind every filter, sort and search.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz};

use super::client_cell;
use crate::db::fragment::{Bind, FragmentQuery, SqlFragment};
use crate::db::json::Json;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::clients;
use crate::db::sql_file::{SqlFile, SqlText};
use crate::db::visibility::ClientScope;
use crate::domain::client::Address;
use crate::domain::consent::CurrentConsents;
use crate::domain::contact_points::{Consent, ContactPoint};
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ClientId, TeamId, UserId, WorkspaceId};

/// A client's row. As JSON (`Serialize`), its columns by name with their values in forms
/// PostgreSQL reads back into the columns' types: see `save_all`. Inserted, `None` is NULL rather
/// than the column's default (the same for every nullable column here), so rows can be copied in.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable, AsChangeset, serde::Serialize)]
#[diesel(table_name = clients, primary_key(workspace_id, id), treat_none_as_null = true)]
#[diesel(treat_none_as_default_value = false, check_for_backend(Pg))]
pub struct Client {
    pub workspace_id: WorkspaceId,
    pub id: ClientId,
    pub kind: String,
    pub display_name: String,
    pub display_name_override: Option<String>,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<String>,
    pub name: Option<String>,
    pub legal_name: Option<String>,
    pub registration_number: Option<String>,
    pub industry: Option<String>,
    pub tax_id: Option<String>,
    pub website: Option<String>,
    pub relationship: String,
    pub lifecycle_stage: String,
    pub source: Option<String>,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub emails: Json<Vec<ContactPoint>>,
    pub phones: Json<Vec<ContactPoint>>,
    pub email_keys: Vec<String>,
    pub phone_keys: Vec<String>,
    pub address: Option<Json<Address>>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub consent: Option<Json<Consent>>,
    pub search_text: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
    pub custom: serde_json::Value,
    pub external_refs: Json<Vec<ExternalRef>>,
    /// The client this one was merged into; a merged client is deleted.
    pub merged_into: Option<ClientId>,
    /// The current state of each consent purpose: the latest record of the consent ledger.
    pub consents: Json<CurrentConsents>,
    /// Whether a user set `lifecycle_stage`; otherwise purchases move it (`domain::lifecycle`).
    pub lifecycle_set_by_hand: bool,
}

/// How a client list is ordered. Every order ends with the id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOrder {
    UpdatedAt,
    CreatedAt,
    DisplayName,
    /// Best fuzzy-search matches first (only with `q`).
    Relevance,
}

/// Where a page starts: the sort key of the last row of the previous page, and its id.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SortKey {
    #[serde(rename = "t")]
    Time(DateTime<Utc>),
    #[serde(rename = "s")]
    Text(String),
    #[serde(rename = "r")]
    Score(f32),
}

/// Everything a client list can be narrowed by; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct ClientFilter {
    pub kind: Option<&'static str>,
    pub relationship: Option<&'static str>,
    pub lifecycle_stage: Option<&'static str>,
    pub source: Option<&'static str>,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub tag: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    pub created_since: Option<DateTime<Utc>>,
    /// A lower-cased email.
    pub email: Option<String>,
    /// An E.164 phone.
    pub phone: Option<String>,
    pub tax_id: Option<String>,
    /// Lower-cased fuzzy search text.
    pub q: Option<String>,
    /// A compiled filter-language condition (`POST /…/search`, dynamic segments).
    pub condition: Option<crate::db::fragment::SqlFragment>,
    /// One client, found by another system's id.
    pub id: Option<ClientId>,
}

impl ClientFilter {
    /// Every narrowing but `q`, as conditions on a row of `clients` (bare column names).
    pub fn conditions(&self) -> Vec<SqlFragment> {
        let mut conditions = Vec::new();
        let mut equal = |column: &str, value: Bind| {
            conditions.push(SqlFragment::fixed(&format!("({column} = ")).bind(value).sql(")"));
        };
        for (column, value) in [
            ("kind", self.kind),
            ("relationship", self.relationship),
            ("lifecycle_stage", self.lifecycle_stage),
            ("source", self.source),
        ] {
            if let Some(value) = value {
                equal(column, Bind::Text(value.to_string()));
            }
        }
        if let Some(owner) = self.owner_id {
            equal("owner_id", Bind::Uuid(owner.0));
        }
        if let Some(team) = self.team_id {
            equal("team_id", Bind::Uuid(team.0));
        }
        if let Some(tax_id) = &self.tax_id {
            equal("tax_id", Bind::Text(tax_id.clone()));
        }
        if let Some(id) = self.id {
            equal("id", Bind::Uuid(id.0));
        }
        if let Some(condition) = &self.condition {
            conditions.push(condition.clone());
        }
        if let Some(tag) = &self.tag {
            conditions.push(SqlFragment::tagged(tag));
        }
        for (column, since) in [("updated_at", self.updated_since), ("created_at", self.created_since)] {
            if let Some(since) = since {
                conditions.push(SqlFragment::fixed(&format!("({column} >= ")).bind(since).sql(")"));
            }
        }
        for (column, key) in [("email_keys", &self.email), ("phone_keys", &self.phone)] {
            if let Some(key) = key {
                conditions.push(
                    SqlFragment::fixed(&format!("({column} @> "))
                        .bind(Bind::TextList(vec![key.clone()]))
                        .sql(")"),
                );
            }
        }
        conditions
    }
}

diesel::define_sql_function! {
    /// pg_trgm's score of the best match of the first argument's trigrams within the second.
    fn word_similarity(needle: Text, haystack: Text) -> Float;
}

/// The ORDER BY of a keyset list: the sort column, then the id. With an exact email or phone
/// lookup the column is wrapped in a no-op expression: the planner under-estimates how selective
/// an array lookup is and would otherwise walk the sort index past every row of the workspace
/// (120 ms at 200k clients) instead of using the key index and sorting the one or two matches.
pub fn order_by(column: &str, descending: bool, exact_lookup: bool) -> String {
    let direction = if descending { "DESC" } else { "ASC" };
    let key = match (exact_lookup, column) {
        (false, _) => column.to_string(),
        (true, "display_name") => "(display_name || '')".to_string(),
        (true, _) => format!("({column} + interval '0 seconds')"),
    };
    format!("{key} {direction}, id {direction}")
}

/// The keyset condition of the page after the cursor `after`, and the ORDER BY, of a client or
/// contact list in `order` on `column`.
pub fn page_order(
    order: ClientOrder,
    column: &str,
    descending: bool,
    q: Option<&str>,
    exact_lookup: bool,
    after: Option<(SortKey, uuid::Uuid)>,
) -> (Option<SqlFragment>, SqlFragment) {
    let after = after.map(|(key, id)| match (order, key, q) {
        (ClientOrder::Relevance, SortKey::Score(score), Some(q)) => relevance_after(q, score, id),
        (_, SortKey::Time(time), _) => SqlFragment::keyset_after(column, descending, time, id),
        (_, SortKey::Text(text), _) => SqlFragment::keyset_after(column, descending, text, id),
        // A cursor of another order: the caller refused it already.
        _ => SqlFragment::fixed("false"),
    });
    let order = match (order, q) {
        (ClientOrder::Relevance, Some(q)) => relevance_order(q),
        _ => SqlFragment::fixed(&order_by(column, descending, exact_lookup)),
    };
    (after, order)
}

/// At most this many name words close to a one-word `q` are searched, the closest first: a
/// page then reads at most this many pages of clients, whatever the size of the workspace.
const MATCHED_WORDS: i64 = 100;

/// Whether `q` is one word with a letter in it, searched through the vocabulary of name words
/// (`client_name_words`); anything else (several words, an e-mail address, digits, `%`) is
/// matched against the whole `search_text`.
pub fn is_name_word(q: &str) -> bool {
    !q.contains(char::is_whitespace) && !q.contains('@') && q.chars().any(char::is_alphabetic)
}

/// The workspace's name words close to `q` (a fuzzy word match, or containing it), with their
/// score, the closest first: `SELECT word, score`.
fn matched_words(workspace: WorkspaceId, q: &str) -> SqlFragment {
    SqlFragment::fixed("SELECT word, word_similarity(")
        .bind(q.to_string())
        .sql(", word) AS score FROM client_name_vocabulary WHERE workspace_id = ")
        .bind(workspace.0)
        .sql(" AND (")
        .bind(q.to_string())
        .sql(" <% word OR word LIKE ")
        .bind(like_pattern(q))
        .sql(") ORDER BY score DESC, word LIMIT ")
        .bind(Bind::BigInt(MATCHED_WORDS))
}

/// The client has a name word close to the one-word `q`, for lists in another order than
/// relevance. Not cached: a word matches a few clients or thousands, as with `fuzzy_match`.
fn has_name_like(workspace: WorkspaceId, q: &str) -> SqlFragment {
    let mut condition =
        SqlFragment::dynamic().sql("(id IN (SELECT client_id FROM client_name_words WHERE workspace_id = ");
    condition.push_bind(Bind::Uuid(workspace.0));
    condition.push_sql(" AND word IN (SELECT word FROM (");
    condition.append(matched_words(workspace, q));
    condition.push_sql(") AS matched)))");
    condition
}

/// A substring of `search_text` (with % and _ taken literally) or a fuzzy word match: both use
/// the trigram index. For contacts and products, and clients searched by more than one word.
pub fn fuzzy_match(q: &str) -> SqlFragment {
    // Not cached, for the reason `SqlFragment::tagged` gives: a fragment matches a few rows or
    // thousands.
    SqlFragment::dynamic()
        .sql("(search_text ILIKE ")
        .bind(like_pattern(q))
        .sql(" OR ")
        .bind(q.to_string())
        .sql(" <% search_text)")
}

/// Best match first, then by id.
fn relevance_order(q: &str) -> SqlFragment {
    SqlFragment::fixed("word_similarity(").bind(q.to_string()).sql(", search_text) DESC, id ASC")
}

/// The page after a row of relevance `score`: a lower score, or the same score and a later id.
fn relevance_after(q: &str, score: f32, id: uuid::Uuid) -> SqlFragment {
    SqlFragment::fixed("(word_similarity(")
        .bind(q.to_string())
        .sql(", search_text) < ")
        .bind(score)
        .sql(" OR (word_similarity(")
        .bind(q.to_string())
        .sql(", search_text) = ")
        .bind(score)
        .sql(" AND id > ")
        .bind(id)
        .sql("))")
}

/// `%`, `_` and `\` match themselves in a LIKE pattern built from user text.
pub fn like_pattern(text: &str) -> String {
    format!("%{}%", escape_like(text))
}

/// `text` with `%`, `_` and `\` escaped for a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

impl Client {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Client> {
        let client: Client = diesel::insert_into(clients::table)
            .values(self)
            .returning(Client::as_returning())
            .get_result(conn)?;
        client_cell::mark_clients_stale(conn, client.workspace_id, &[client.id.0])?;
        Ok(client)
    }

    /// Inserts many clients (of one workspace) at once.
    pub fn insert_all(conn: &mut PgConnection, clients: &[Client]) -> QueryResult<()> {
        // `COPY`, not a multi-row `INSERT`: forty parameters a row take long to send and parse.
        let Some(first) = clients.first() else { return Ok(()) };
        diesel::copy_from(clients::table).from_insertable(clients).execute(conn)?;
        let ids: Vec<uuid::Uuid> = clients.iter().map(|client| client.id.0).collect();
        client_cell::mark_clients_stale(conn, first.workspace_id, &ids)
    }

    /// The id, tax id and name of each live client the scope sees whose tax id is among `tax_ids` or
    /// whose name (as the CRM shows it) is among `names`: how an import finds the clients a file
    /// names without their ids.
    pub fn named_by(
        conn: &mut PgConnection,
        scope: &ClientScope,
        tax_ids: &[String],
        names: &[String],
    ) -> QueryResult<Vec<(ClientId, Option<String>, String)>> {
        live_in(scope)
            .filter(clients::tax_id.eq_any(tax_ids).assume_not_null().or(clients::display_name.eq_any(names)))
            .select((clients::id, clients::tax_id, clients::display_name))
            .load(conn)
    }

    /// Writes every column of each row back in one statement (the callers merged their changes
    /// into them): the rows go as one JSON array that PostgreSQL reads into the table's row type,
    /// so a thousand rows cost one statement rather than a thousand.
    pub fn save_all(conn: &mut PgConnection, workspace: WorkspaceId, clients: &[Client]) -> QueryResult<()> {
        let rows = serde_json::to_value(clients)
            .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
        // The row's fields are the table's columns, as the derives above require.
        let Some(serde_json::Value::Object(first)) = rows.get(0) else {
            return Ok(());
        };
        let columns: Vec<&str> = first
            .keys()
            .map(String::as_str)
            .filter(|column| !["workspace_id", "id"].contains(column))
            .collect();
        let sql = format!(
            "UPDATE clients AS c SET ({}) = ({}) \
             FROM jsonb_populate_recordset(NULL::clients, $2) AS r \
             WHERE c.workspace_id = $1 AND r.workspace_id = $1 AND c.id = r.id",
            columns.join(", "),
            columns.iter().map(|column| format!("r.{column}")).collect::<Vec<_>>().join(", "),
        );
        diesel::sql_query(sql)
            .bind::<diesel::sql_types::Uuid, _>(workspace.0)
            .bind::<diesel::sql_types::Jsonb, _>(&rows)
            .execute(conn)?;
        Ok(())
    }

    /// Clients `ids`, deleted or not, locked for the rest of the transaction in the order of their
    /// ids (so two batches locking overlapping clients queue rather than deadlock).
    pub fn find_all_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[ClientId],
    ) -> QueryResult<Vec<Client>> {
        clients::table
            .filter(clients::workspace_id.eq(workspace))
            .filter(clients::id.eq_any(ids))
            .order(clients::id)
            .select(Client::as_select())
            .for_update()
            .load(conn)
    }

    /// Writes every column of the row back (the caller merged the change into it).
    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Client> {
        diesel::update(clients::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(Client::as_returning())
            .get_result(conn)
    }

    /// A live (not deleted) client the scope sees.
    pub fn find(conn: &mut PgConnection, scope: &ClientScope, id: ClientId) -> QueryResult<Client> {
        live_in(scope).filter(clients::id.eq(id)).select(Client::as_select()).first(conn)
    }

    /// The live clients among `ids` that the scope sees.
    pub fn find_many(
        conn: &mut PgConnection,
        scope: &ClientScope,
        ids: &[ClientId],
    ) -> QueryResult<Vec<Client>> {
        live_in(scope).filter(clients::id.eq_any(ids)).select(Client::as_select()).load(conn)
    }

    /// Whether the scope sees a live client `id`.
    pub fn exists(conn: &mut PgConnection, scope: &ClientScope, id: ClientId) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(live_in(scope).filter(clients::id.eq(id)).select(clients::id)))
            .get_result(conn)
    }

    /// Whether the scope sees client `id`, live or deleted: what decides whether its contacts,
    /// deals and activities are seen.
    pub fn is_seen(conn: &mut PgConnection, scope: &ClientScope, id: ClientId) -> QueryResult<bool> {
        if scope.sees_everything() {
            return Ok(true);
        }
        let owner: Option<Option<UserId>> =
            clients::table.find((scope.workspace(), id)).select(clients::owner_id).first(conn).optional()?;
        Ok(owner.is_some_and(|owner| scope.admits_client(id, owner)))
    }

    /// Live clients other than `except` that share an email, a phone or the tax id.
    pub fn find_duplicates(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        email_keys: &[String],
        phone_keys: &[String],
        tax_id: Option<&str>,
        except: Option<ClientId>,
    ) -> QueryResult<Vec<Client>> {
        let mut query = clients::table
            .filter(clients::workspace_id.eq(workspace))
            .filter(clients::deleted_at.is_null())
            .filter(
                clients::email_keys
                    .overlaps_with(email_keys)
                    .or(clients::phone_keys.overlaps_with(phone_keys))
                    .or(clients::tax_id.eq(tax_id).assume_not_null()),
            )
            .into_boxed();
        if let Some(except) = except {
            query = query.filter(clients::id.ne(except));
        }
        // No ORDER BY or LIMIT: with them the planner walks the primary key instead of OR-ing
        // the three key indexes. The matches are few.
        let mut found = query.select(Client::as_select()).load(conn)?;
        found.sort_by_key(|client| client.id);
        Ok(found)
    }

    /// Live clients that have any of `email_keys`, `phone_keys` or `tax_ids`: every possible
    /// duplicate of a batch's new clients, by id.
    pub fn find_sharing_keys(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        email_keys: &[String],
        phone_keys: &[String],
        tax_ids: &[String],
    ) -> QueryResult<Vec<Client>> {
        // A few keys a query: given 50 array elements, the planner expects most rows to overlap and
        // scans the table (half a second at 100k clients) instead of probing the key indexes.
        const KEYS_A_QUERY: usize = 20;
        let chunk = |keys: &[String], n: usize| -> Vec<String> {
            keys.iter().skip(n * KEYS_A_QUERY).take(KEYS_A_QUERY).cloned().collect()
        };
        let queries = [email_keys.len(), phone_keys.len(), tax_ids.len()]
            .into_iter()
            .map(|count| count.div_ceil(KEYS_A_QUERY))
            .max()
            .unwrap_or_default();
        let mut found = std::collections::BTreeMap::new();
        for n in 0..queries {
            let (emails, phones, tax_ids) = (chunk(email_keys, n), chunk(phone_keys, n), chunk(tax_ids, n));
            let sharing: Vec<Client> = clients::table
                .filter(clients::workspace_id.eq(workspace))
                .filter(clients::deleted_at.is_null())
                .filter(
                    clients::email_keys
                        .overlaps_with(emails)
                        .or(clients::phone_keys.overlaps_with(phones))
                        .or(clients::tax_id.eq_any(tax_ids).assume_not_null()),
                )
                .select(Client::as_select())
                .load(conn)?;
            found.extend(sharing.into_iter().map(|client| (client.id, client)));
        }
        Ok(found.into_values().collect())
    }

    /// One page of live clients: `limit` rows after `after` in `order`, and when that is
    /// relevance, each row's score (for the cursor); no scores in other orders.
    pub fn list(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &ClientFilter,
        order: ClientOrder,
        descending: bool,
        after: Option<(SortKey, ClientId)>,
        limit: i64,
    ) -> QueryResult<(Vec<Client>, Vec<f32>)> {
        if let (Some(q), ClientOrder::Relevance) = (&filter.q, order)
            && is_name_word(q)
        {
            let scored = Client::best_name_matches(conn, scope, filter, q, after, limit)?;
            return Ok(scored.into_iter().map(|row| (row.client, row.score)).unzip());
        }
        let workspace = scope.workspace();
        let mut query = live_in(scope);
        for condition in filter.conditions() {
            query = query.filter(condition);
        }
        if let Some(q) = &filter.q {
            query = query.filter(match is_name_word(q) {
                true => has_name_like(workspace, q),
                false => fuzzy_match(q),
            });
        }

        let column = match order {
            ClientOrder::UpdatedAt => "updated_at",
            ClientOrder::CreatedAt => "created_at",
            ClientOrder::DisplayName => "display_name",
            ClientOrder::Relevance => "id",
        };
        let exact_lookup = filter.email.is_some() || filter.phone.is_some();
        // Ordered by relevance, each row comes with its score, for the cursor.
        let scored_by = filter.q.as_deref().filter(|_| order == ClientOrder::Relevance);
        let (after, order) = page_order(
            order,
            column,
            descending,
            filter.q.as_deref(),
            exact_lookup,
            after.map(|(key, id)| (key, id.0)),
        );
        if let Some(after) = after {
            query = query.filter(after);
        }
        query = query.order(order);
        match scored_by {
            Some(q) => Ok(query
                .select((Client::as_select(), word_similarity(q, clients::search_text)))
                .page_limit(limit)
                .load::<(Client, f32)>(conn)?
                .into_iter()
                .unzip()),
            None => Ok((query.select(Client::as_select()).page_limit(limit).load(conn)?, Vec::new())),
        }
    }

    /// The best clients for a one-word `q` (see `is_name_word`), best first: each name word
    /// close to `q` lists its clients in id order from the `client_name_words` btree, at most a
    /// page per word, so a page costs the same at 10k clients as at 1M, however common the name.
    /// A client counts under its best word only. The other filters are checked on each
    /// candidate, before the page is cut.
    ///
    /// The close words are found first, in a query of their own: with none (a typo too far from
    /// any name) the page is empty without the page query, and the page query gets the words as
    /// arrays. PostgreSQL makes its plan anew for each request, as the best one depends on the
    /// words, and this shape takes 0.7-1.0 ms to plan at 1M clients, where the words in a CTE took
    /// 1.6 ms.
    fn best_name_matches(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &ClientFilter,
        q: &str,
        after: Option<(SortKey, ClientId)>,
        limit: i64,
    ) -> QueryResult<Vec<ScoredClient>> {
        let workspace = scope.workspace();
        let matched: Vec<MatchedWord> = FragmentQuery(matched_words(workspace, q)).load(conn)?;
        if matched.is_empty() {
            return Ok(Vec::new());
        }
        let (words, scores): (Vec<String>, Vec<f32>) =
            matched.into_iter().map(|matched| (matched.word, matched.score)).unzip();
        // The words come best first, so a client's better words are the ones before its word:
        // `words[1:rank - 1]`. The name words' subquery exposes only the client's id, so the
        // filters' conditions name the clients' columns unqualified.
        let mut query = SqlFragment::fixed("SELECT hit.*, m.score FROM unnest(");
        query.push_bind(Bind::TextList(words.clone()));
        query.push_sql("::text[], ");
        query.push_bind(Bind::FloatList(scores));
        query.push_sql(
            "::real[]) WITH ORDINALITY AS m(word, score, rank) CROSS JOIN LATERAL (\
             SELECT clients.* FROM (SELECT client_id AS named_client FROM client_name_words \
             WHERE workspace_id = ",
        );
        query.push_bind(Bind::Uuid(workspace.0));
        query.push_sql(" AND word = m.word) AS w JOIN clients ON clients.workspace_id = ");
        query.push_bind(Bind::Uuid(workspace.0));
        query.push_sql(" AND clients.id = w.named_client WHERE clients.deleted_at IS NULL");
        if let Some((SortKey::Score(score), id)) = after {
            // Words scoring above the cursor are done; the cursor's own word goes on after its id.
            query.append(
                SqlFragment::fixed(" AND m.score <= ")
                    .bind(score)
                    .sql(" AND w.named_client > CASE WHEN m.score = ")
                    .bind(score)
                    .sql(" THEN ")
                    .bind(id.0)
                    .sql(" ELSE '00000000-0000-0000-0000-000000000000'::uuid END"),
            );
        }
        query.push_sql(
            " AND NOT EXISTS (SELECT 1 FROM client_name_words AS better WHERE better.workspace_id = ",
        );
        query.push_bind(Bind::Uuid(workspace.0));
        query.push_sql(" AND better.client_id = w.named_client AND better.word = ANY((");
        query.push_bind(Bind::TextList(words));
        query.push_sql("::text[])[1:m.rank - 1]))");
        for condition in filter.conditions().into_iter().chain(scope.client_condition("clients")) {
            query.push_sql(" AND ");
            query.append(condition);
        }
        query.push_sql(" ORDER BY w.named_client LIMIT ");
        query.push_bind(Bind::BigInt(limit));
        query.push_sql(") AS hit ORDER BY m.score DESC, hit.id LIMIT ");
        query.push_bind(Bind::BigInt(limit));
        FragmentQuery(query).load(conn)
    }

    /// Brings the clients' name words (what a one-word `q` searches) up to date with their names.
    pub fn sync_name_words(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[ClientId],
    ) -> QueryResult<()> {
        static SYNC: SqlText = SqlText::new(include_str!("../sql/sync_client_name_words.sql"));
        let ids = ids.iter().map(|id| id.0).collect();
        SqlFile::new(&SYNC).bind(Bind::Uuid(workspace.0)).bind(Bind::UuidList(ids)).execute(conn)?;
        Ok(())
    }

    /// Marks `merged` clients deleted and merged into `survivor`, their refs let go (the survivor
    /// takes them), each with a new version.
    pub fn mark_merged(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        merged: &[uuid::Uuid],
        survivor: ClientId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Vec<Client>> {
        client_cell::mark_clients_stale(conn, workspace, merged)?;
        diesel::update(
            clients::table.filter(clients::workspace_id.eq(workspace)).filter(clients::id.eq_any(merged)),
        )
        .set((
            clients::deleted_at.eq(at),
            clients::deleted_by.eq(by),
            clients::merged_into.eq(survivor),
            clients::external_refs.eq(serde_json::json!([])),
            clients::version.eq(clients::version + 1),
            clients::updated_at.eq(at),
            clients::updated_by.eq(by),
        ))
        .returning(Client::as_returning())
        .get_results(conn)
    }

    /// Soft-deletes a client: it leaves every list and lookup, and shows up as a tombstone.
    pub fn mark_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ClientId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Client> {
        client_cell::mark_clients_stale(conn, workspace, &[id.0])?;
        diesel::update(clients::table.find((workspace, id)))
            .set((
                clients::deleted_at.eq(at),
                clients::deleted_by.eq(by),
                clients::version.eq(clients::version + 1),
                clients::updated_at.eq(at),
                clients::updated_by.eq(by),
            ))
            .returning(Client::as_returning())
            .get_result(conn)
    }

    pub fn mark_restored(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ClientId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Client> {
        client_cell::mark_clients_stale(conn, workspace, &[id.0])?;
        diesel::update(clients::table.find((workspace, id)))
            .set((
                clients::deleted_at.eq(None::<DateTime<Utc>>),
                clients::deleted_by.eq(None::<UserId>),
                clients::version.eq(clients::version + 1),
                clients::updated_at.eq(at),
                clients::updated_by.eq(by),
            ))
            .returning(Client::as_returning())
            .get_result(conn)
    }

    /// One page of the deleted clients the scope sees (tombstones), oldest deletion first.
    pub fn list_deleted(
        conn: &mut PgConnection,
        scope: &ClientScope,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, ClientId)>,
        limit: i64,
    ) -> QueryResult<Vec<Client>> {
        let mut query = clients::table
            .filter(clients::workspace_id.eq(scope.workspace()))
            .filter(clients::deleted_at.is_not_null())
            .into_boxed();
        if let Some(condition) = scope.client_condition("clients") {
            query = query.filter(condition);
        }
        if let Some(since) = since {
            query = query.filter(clients::deleted_at.ge(since));
        }
        if let Some((time, id)) = after {
            query = query.filter(SqlFragment::keyset_after("deleted_at", false, time, id.0));
        }
        query
            .order((clients::deleted_at.asc(), clients::id.asc()))
            .select(Client::as_select())
            .page_limit(limit)
            .load(conn)
    }
}

/// The live clients `scope` sees: where every query of clients by the API starts.
pub(crate) fn live_in(scope: &ClientScope) -> clients::BoxedQuery<'static, Pg> {
    let mut query = clients::table
        .filter(clients::workspace_id.eq(scope.workspace()))
        .filter(clients::deleted_at.is_null())
        .into_boxed();
    if let Some(condition) = scope.client_condition("clients") {
        query = query.filter(condition);
    }
    query
}

/// A name word close to a one-word search, with its `word_similarity` to it.
#[derive(Debug, QueryableByName)]
struct MatchedWord {
    #[diesel(sql_type = Text)]
    word: String,
    #[diesel(sql_type = diesel::sql_types::Float)]
    score: f32,
}

/// A client found by a one-word search, with the score of its closest name word.
#[derive(Debug, QueryableByName)]
pub struct ScoredClient {
    #[diesel(embed)]
    pub client: Client,
    #[diesel(sql_type = diesel::sql_types::Float)]
    pub score: f32,
}

/// A client card's summary, as `client_summary.sql` computes it.
#[derive(Debug, Clone, QueryableByName)]
pub struct SummaryRow {
    /// The workspace's currency, which the amounts are in.
    #[diesel(sql_type = Text)]
    pub currency: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    pub last_contact_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub last_contact_kind: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub last_contact_reason: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub last_contact_outcome: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub next_activity_id: Option<uuid::Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    pub next_activity_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub next_activity_kind: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub next_activity_assignee_id: Option<uuid::Uuid>,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub open_deals: i64,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub open_amount: rust_decimal::Decimal,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub won_deals: i64,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub won_amount: rust_decimal::Decimal,
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamptz>)]
    pub last_purchase_at: Option<DateTime<Utc>>,
}

impl Client {
    pub fn summary(conn: &mut PgConnection, workspace: WorkspaceId, id: ClientId) -> QueryResult<SummaryRow> {
        static CLIENT_SUMMARY: SqlText = SqlText::new(include_str!("../sql/client_summary.sql"));
        SqlFile::new(&CLIENT_SUMMARY).bind(Bind::Uuid(workspace.0)).bind(Bind::Uuid(id.0)).get_result(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::is_name_word;

    #[test]
    fn one_word_with_a_letter_is_a_name_word() {
        for q in ["ivanov", "иванв", "o'brien", "ромашка2"] {
            assert!(is_name_word(q), "{q}");
        }
        for q in ["acme tradng", "ivan@", "+7912", "100%", "_"] {
            assert!(!is_name_word(q), "{q}");
        }
    }
}
