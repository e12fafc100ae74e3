//! Clients: rows and queries, including the list query behind every filter, sort and search.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamptz};

use crate::db::fragment::{Bind, SqlFragment};
use crate::db::schema::clients;
use crate::db::sql_file::{SqlFile, SqlText};
use crate::ids::{ClientId, TeamId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(Pg))]
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
    pub emails: serde_json::Value,
    pub phones: serde_json::Value,
    pub email_keys: Vec<String>,
    pub phone_keys: Vec<String>,
    pub address: Option<serde_json::Value>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub consent: Option<serde_json::Value>,
    pub search_text: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub deleted_by: Option<UserId>,
    pub custom: serde_json::Value,
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

/// A substring of `search_text` (with % and _ taken literally) or a fuzzy word match: both use
/// the trigram index. For clients, contacts and products.
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
        diesel::insert_into(clients::table).values(self).returning(Client::as_returning()).get_result(conn)
    }

    /// Writes every column of the row back (the caller merged the change into it).
    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Client> {
        diesel::update(clients::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(Client::as_returning())
            .get_result(conn)
    }

    /// A live (not deleted) client.
    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: ClientId) -> QueryResult<Client> {
        clients::table
            .find((workspace, id))
            .filter(clients::deleted_at.is_null())
            .select(Client::as_select())
            .first(conn)
    }

    /// A client, live or deleted, locked for a read-modify-write.
    pub fn find_any_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ClientId,
    ) -> QueryResult<Client> {
        clients::table.find((workspace, id)).select(Client::as_select()).for_update().first(conn)
    }

    /// Live clients among `ids`.
    pub fn find_many(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[ClientId],
    ) -> QueryResult<Vec<Client>> {
        clients::table
            .filter(clients::workspace_id.eq(workspace))
            .filter(clients::id.eq_any(ids))
            .filter(clients::deleted_at.is_null())
            .select(Client::as_select())
            .load(conn)
    }

    pub fn exists(conn: &mut PgConnection, workspace: WorkspaceId, id: ClientId) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            clients::table.find((workspace, id)).filter(clients::deleted_at.is_null()),
        ))
        .get_result(conn)
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

    /// One page of live clients: `limit` rows after `after` in `order`.
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        filter: &ClientFilter,
        order: ClientOrder,
        descending: bool,
        after: Option<(SortKey, ClientId)>,
        limit: i64,
    ) -> QueryResult<Vec<Client>> {
        let mut query = clients::table
            .filter(clients::workspace_id.eq(workspace))
            .filter(clients::deleted_at.is_null())
            .into_boxed();
        if let Some(condition) = &filter.condition {
            query = query.filter(condition.clone());
        }
        if let Some(kind) = filter.kind {
            query = query.filter(clients::kind.eq(kind));
        }
        if let Some(relationship) = filter.relationship {
            query = query.filter(clients::relationship.eq(relationship));
        }
        if let Some(stage) = filter.lifecycle_stage {
            query = query.filter(clients::lifecycle_stage.eq(stage));
        }
        if let Some(source) = filter.source {
            query = query.filter(clients::source.eq(source));
        }
        if let Some(owner) = filter.owner_id {
            query = query.filter(clients::owner_id.eq(owner));
        }
        if let Some(team) = filter.team_id {
            query = query.filter(clients::team_id.eq(team));
        }
        if let Some(tag) = &filter.tag {
            query = query.filter(SqlFragment::tagged(tag));
        }
        if let Some(since) = filter.updated_since {
            query = query.filter(clients::updated_at.ge(since));
        }
        if let Some(since) = filter.created_since {
            query = query.filter(clients::created_at.ge(since));
        }
        if let Some(email) = &filter.email {
            query = query.filter(clients::email_keys.contains(vec![email.clone()]));
        }
        if let Some(phone) = &filter.phone {
            query = query.filter(clients::phone_keys.contains(vec![phone.clone()]));
        }
        if let Some(tax_id) = &filter.tax_id {
            query = query.filter(clients::tax_id.eq(tax_id.clone()));
        }
        if let Some(q) = &filter.q {
            // A substring (with % and _ taken literally) or a fuzzy word match; both use the
            // trigram index.
            query = query.filter(fuzzy_match(q));
        }

        let column = match order {
            ClientOrder::UpdatedAt => "updated_at",
            ClientOrder::CreatedAt => "created_at",
            ClientOrder::DisplayName => "display_name",
            ClientOrder::Relevance => "id",
        };
        let exact_lookup = filter.email.is_some() || filter.phone.is_some();
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
        query.limit(limit).select(Client::as_select()).load(conn)
    }

    /// The fuzzy-search score of each client for `q`, for the cursor of a relevance-ordered page.
    pub fn relevance(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ClientId,
        q: &str,
    ) -> QueryResult<f32> {
        clients::table.find((workspace, id)).select(word_similarity(q, clients::search_text)).first(conn)
    }

    /// Soft-deletes a client: it leaves every list and lookup, and shows up as a tombstone.
    pub fn mark_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ClientId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Client> {
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

    /// One page of deleted clients (tombstones), oldest deletion first.
    pub fn list_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, ClientId)>,
        limit: i64,
    ) -> QueryResult<Vec<Client>> {
        let mut query = clients::table
            .filter(clients::workspace_id.eq(workspace))
            .filter(clients::deleted_at.is_not_null())
            .into_boxed();
        if let Some(since) = since {
            query = query.filter(clients::deleted_at.ge(since));
        }
        if let Some((time, id)) = after {
            query = query.filter(SqlFragment::keyset_after("deleted_at", false, time, id.0));
        }
        query
            .order((clients::deleted_at.asc(), clients::id.asc()))
            .limit(limit)
            .select(Client::as_select())
            .load(conn)
    }
}

/// A client card's summary, as `client_summary.sql` computes it.
#[derive(Debug, Clone, QueryableByName)]
pub struct SummaryRow {
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
