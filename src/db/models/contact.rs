//! Contacts: the people acting for a client.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;

use super::client::{ClientOrder, SortKey, fuzzy_match, page_order, word_similarity};
use crate::db::fragment::SqlFragment;
use crate::db::json::Json;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::contacts;
use crate::db::visibility::ClientScope;
use crate::domain::consent::CurrentConsents;
use crate::domain::contact_points::{Consent, ContactPoint, Messenger};
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ClientId, ContactId, UserId, WorkspaceId};
use diesel::dsl::{AsSelect, SqlTypeOf};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = contacts, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(Pg))]
pub struct Contact {
    pub workspace_id: WorkspaceId,
    pub id: ContactId,
    pub client_id: ClientId,
    pub display_name: String,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub position: Option<String>,
    pub emails: Json<Vec<ContactPoint>>,
    pub phones: Json<Vec<ContactPoint>>,
    pub messengers: Json<Vec<Messenger>>,
    pub email_keys: Vec<String>,
    pub phone_keys: Vec<String>,
    pub is_primary: bool,
    pub notes: Option<String>,
    pub owner_id: Option<UserId>,
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
    /// The contact this one was merged into: a deleted tombstone's pointer to its survivor.
    pub merged_into: Option<ContactId>,
    /// The current state of each consent purpose: the latest record of the consent ledger.
    pub consents: Json<CurrentConsents>,
}

#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    pub client_id: Option<ClientId>,
    pub owner_id: Option<UserId>,
    pub updated_since: Option<DateTime<Utc>>,
    pub created_since: Option<DateTime<Utc>>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub q: Option<String>,
    /// A compiled filter-language condition (`POST /…/search`, dynamic segments).
    pub condition: Option<crate::db::fragment::SqlFragment>,
    /// The one contact a lookup by another system's id found.
    pub id: Option<ContactId>,
}

impl Contact {
    /// Contacts `ids`, deleted or not, locked for the rest of the transaction in the order of their
    /// ids (so two merges of overlapping contacts queue rather than deadlock).
    pub fn find_all_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[ContactId],
    ) -> QueryResult<Vec<Contact>> {
        contacts::table
            .filter(contacts::workspace_id.eq(workspace))
            .filter(contacts::id.eq_any(ids))
            .order(contacts::id)
            .select(Contact::as_select())
            .for_update()
            .load(conn)
    }

    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Contact> {
        diesel::insert_into(contacts::table).values(self).returning(Contact::as_returning()).get_result(conn)
    }

    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Contact> {
        diesel::update(contacts::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(Contact::as_returning())
            .get_result(conn)
    }

    /// A live contact the scope sees.
    pub fn find(conn: &mut PgConnection, scope: &ClientScope, id: ContactId) -> QueryResult<Contact> {
        seen_in(scope).filter(contacts::id.eq(id)).filter(contacts::deleted_at.is_null()).first(conn)
    }

    /// Marks `merged` contacts deleted and merged into `survivor`, their refs let go (the survivor
    /// takes them) and their primary flag with them, each with a new version.
    pub fn mark_merged(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        merged: &[uuid::Uuid],
        survivor: ContactId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Vec<Contact>> {
        diesel::update(
            contacts::table.filter(contacts::workspace_id.eq(workspace)).filter(contacts::id.eq_any(merged)),
        )
        .set((
            contacts::deleted_at.eq(at),
            contacts::deleted_by.eq(by),
            contacts::merged_into.eq(survivor),
            contacts::external_refs.eq(serde_json::json!([])),
            contacts::is_primary.eq(false),
            contacts::version.eq(contacts::version + 1),
            contacts::updated_at.eq(at),
            contacts::updated_by.eq(by),
        ))
        .returning(Contact::as_returning())
        .get_results(conn)
    }

    /// Takes the primary flag from the client's other live contacts; returns those changed.
    pub fn clear_primary(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
        except: ContactId,
        by: UserId,
    ) -> QueryResult<Vec<Contact>> {
        diesel::update(
            contacts::table
                .filter(contacts::workspace_id.eq(workspace))
                .filter(contacts::client_id.eq(client))
                .filter(contacts::id.ne(except))
                .filter(contacts::is_primary.eq(true))
                .filter(contacts::deleted_at.is_null()),
        )
        .set((
            contacts::is_primary.eq(false),
            contacts::version.eq(contacts::version + 1),
            contacts::updated_at.eq(diesel::dsl::now),
            contacts::updated_by.eq(by),
        ))
        .returning(Contact::as_returning())
        .get_results(conn)
    }

    /// Live contacts other than `except` that share an email or a phone.
    pub fn find_duplicates(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        email_keys: &[String],
        phone_keys: &[String],
        except: ContactId,
    ) -> QueryResult<Vec<Contact>> {
        contacts::table
            .filter(contacts::workspace_id.eq(workspace))
            .filter(contacts::deleted_at.is_null())
            .filter(contacts::id.ne(except))
            .filter(
                contacts::email_keys
                    .overlaps_with(email_keys)
                    .or(contacts::phone_keys.overlaps_with(phone_keys)),
            )
            .order(contacts::id)
            .limit(5)
            .select(Contact::as_select())
            .load(conn)
    }

    pub fn mark_deleted(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ContactId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Contact> {
        diesel::update(contacts::table.find((workspace, id)))
            .set((
                contacts::deleted_at.eq(at),
                contacts::deleted_by.eq(by),
                contacts::version.eq(contacts::version + 1),
                contacts::updated_at.eq(at),
                contacts::updated_by.eq(by),
            ))
            .returning(Contact::as_returning())
            .get_result(conn)
    }

    pub fn has_live_primary(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            contacts::table
                .filter(contacts::workspace_id.eq(workspace))
                .filter(contacts::client_id.eq(client))
                .filter(contacts::is_primary.eq(true))
                .filter(contacts::deleted_at.is_null()),
        ))
        .get_result(conn)
    }

    pub fn mark_restored(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ContactId,
        is_primary: bool,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<Contact> {
        diesel::update(contacts::table.find((workspace, id)))
            .set((
                contacts::is_primary.eq(is_primary),
                contacts::deleted_at.eq(None::<DateTime<Utc>>),
                contacts::deleted_by.eq(None::<UserId>),
                contacts::version.eq(contacts::version + 1),
                contacts::updated_at.eq(at),
                contacts::updated_by.eq(by),
            ))
            .returning(Contact::as_returning())
            .get_result(conn)
    }

    /// Soft-deletes a client's live contacts at the client's deletion time, so that restoring
    /// the client restores exactly these. Returns how many.
    pub fn mark_deleted_with_client(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
        at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<usize> {
        diesel::update(
            contacts::table
                .filter(contacts::workspace_id.eq(workspace))
                .filter(contacts::client_id.eq(client))
                .filter(contacts::deleted_at.is_null()),
        )
        .set((
            contacts::deleted_at.eq(at),
            contacts::deleted_by.eq(by),
            contacts::version.eq(contacts::version + 1),
            contacts::updated_at.eq(at),
            contacts::updated_by.eq(by),
        ))
        .execute(conn)
    }

    /// Restores the contacts deleted together with their client (same deletion time).
    pub fn mark_restored_with_client(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        client: ClientId,
        client_deleted_at: DateTime<Utc>,
        by: UserId,
    ) -> QueryResult<usize> {
        diesel::update(
            contacts::table
                .filter(contacts::workspace_id.eq(workspace))
                .filter(contacts::client_id.eq(client))
                .filter(contacts::deleted_at.eq(client_deleted_at)),
        )
        .set((
            contacts::deleted_at.eq(None::<DateTime<Utc>>),
            contacts::deleted_by.eq(None::<UserId>),
            contacts::version.eq(contacts::version + 1),
            contacts::updated_at.eq(diesel::dsl::now),
            contacts::updated_by.eq(by),
        ))
        .execute(conn)
    }

    /// One page of live contacts: `limit` rows after `after` in `order`.
    pub fn list(
        conn: &mut PgConnection,
        scope: &ClientScope,
        filter: &ContactFilter,
        order: ClientOrder,
        descending: bool,
        after: Option<(SortKey, ContactId)>,
        limit: i64,
    ) -> QueryResult<Vec<Contact>> {
        let mut query = seen_in(scope).filter(contacts::deleted_at.is_null());
        if let Some(condition) = &filter.condition {
            query = query.filter(condition.clone());
        }
        if let Some(id) = filter.id {
            query = query.filter(contacts::id.eq(id));
        }
        if let Some(client) = filter.client_id {
            query = query.filter(contacts::client_id.eq(client));
        }
        if let Some(owner) = filter.owner_id {
            query = query.filter(contacts::owner_id.eq(owner));
        }
        if let Some(since) = filter.updated_since {
            query = query.filter(contacts::updated_at.ge(since));
        }
        if let Some(since) = filter.created_since {
            query = query.filter(contacts::created_at.ge(since));
        }
        if let Some(email) = &filter.email {
            query = query.filter(contacts::email_keys.contains(vec![email.clone()]));
        }
        if let Some(phone) = &filter.phone {
            query = query.filter(contacts::phone_keys.contains(vec![phone.clone()]));
        }
        if let Some(q) = &filter.q {
            query = query.filter(fuzzy_match(q));
        }
        let column = match order {
            ClientOrder::UpdatedAt => "updated_at",
            ClientOrder::CreatedAt => "created_at",
            ClientOrder::DisplayName | ClientOrder::Relevance => "display_name",
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
        query.page_limit(limit).load(conn)
    }

    pub fn relevance(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ContactId,
        q: &str,
    ) -> QueryResult<f32> {
        contacts::table.find((workspace, id)).select(word_similarity(q, contacts::search_text)).first(conn)
    }

    pub fn list_deleted(
        conn: &mut PgConnection,
        scope: &ClientScope,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, ContactId)>,
        limit: i64,
    ) -> QueryResult<Vec<Contact>> {
        let mut query = seen_in(scope).filter(contacts::deleted_at.is_not_null());
        if let Some(since) = since {
            query = query.filter(contacts::deleted_at.ge(since));
        }
        if let Some((time, id)) = after {
            query = query.filter(SqlFragment::keyset_after("deleted_at", false, time, id.0));
        }
        query.order((contacts::deleted_at.asc(), contacts::id.asc())).page_limit(limit).load(conn)
    }
}

/// The contacts `scope` sees, deleted or not: where every query of contacts by the API starts.
fn seen_in(scope: &ClientScope) -> contacts::BoxedQuery<'static, Pg, SqlTypeOf<AsSelect<Contact, Pg>>> {
    let mut query = contacts::table
        .filter(contacts::workspace_id.eq(scope.workspace()))
        .select(Contact::as_select())
        .into_boxed();
    if let Some(condition) = scope.record_condition("owner_id", "client_id") {
        query = query.filter(condition);
    }
    query
}
