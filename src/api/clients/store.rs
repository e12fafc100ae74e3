//! What a client write reads and writes besides the client it builds: the lookups its checks need
//! and the rows it stores. One write path (`write.rs`) runs against either store: the database,
//! read and written one statement at a time, for a single request; or a batch's read-ahead store
//! (`read_ahead.rs`), which fetches what a thousand operations need in a few statements and writes
//! their rows together at the end.

use std::rc::Rc;

use diesel::prelude::*;

use crate::api::assignment::{Assignment, Requested};
use crate::api::record_change;
use crate::api::soft_delete;
use crate::auth::Principal;
use crate::db::models::Client;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::custom_field::CustomField;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::visibility::ClientScope;
use crate::domain::custom_fields::FieldRules;
use crate::domain::enums::CustomEntity;
use crate::domain::external_ref::ExternalRef;
use crate::error::ApiError;
use crate::ids::{ClientId, UserId, WorkspaceId};

pub(super) trait ClientStore {
    /// The connection, for the rare reads no store keeps (the name of a hidden duplicate's owner).
    fn conn(&mut self) -> &mut PgConnection;

    /// The rules of the workspace's custom client fields.
    fn custom_rules(&mut self) -> QueryResult<Rc<[FieldRules]>>;

    /// The owner and team a write stores (see [`Assignment::resolve`]).
    fn assignment(&mut self, caller: UserId, requested: Requested) -> Result<Assignment, ApiError>;

    /// Holds `reference` until the transaction ends (see [`external_ref::lock`]).
    fn lock_ref(&mut self, reference: &ExternalRef) -> QueryResult<()>;

    /// The client that holds `reference`, deleted or not.
    fn record_of(&mut self, reference: &ExternalRef) -> QueryResult<Option<ClientId>>;

    /// The first of `refs` that a client other than `client` holds, with that client.
    fn ref_held_elsewhere(
        &mut self,
        client: ClientId,
        refs: &[ExternalRef],
    ) -> QueryResult<Option<(ExternalRef, ClientId)>>;

    /// The live client `id`, locked for a change by the caller (see [`soft_delete::live_for_update`]).
    fn live_for_update(
        &mut self,
        principal: &Principal,
        scope: &ClientScope,
        id: ClientId,
    ) -> Result<Client, ApiError>;

    /// Whether the scope sees client `id`, deleted or not.
    fn is_seen(&mut self, scope: &ClientScope, id: ClientId) -> QueryResult<bool>;

    /// Live clients other than `client` that share an email, a phone or the tax id with it, by id.
    fn duplicates_of(&mut self, client: &Client) -> QueryResult<Vec<Client>>;

    fn insert(&mut self, client: Client) -> QueryResult<Client>;

    /// Writes every column of `client` back over the stored row.
    fn save(&mut self, client: Client) -> QueryResult<Client>;

    /// Brings the client's name words (the search's index) in line with its names.
    fn sync_name_words(&mut self, client: &Client) -> QueryResult<()>;

    /// Makes the ref index hold exactly the client's refs; `before` is the client as it was.
    fn sync_refs(&mut self, client: &Client, before: Option<&Client>) -> QueryResult<()>;

    /// Records the write in the change log.
    fn record_change(
        &mut self,
        principal: &Principal,
        client: &Client,
        action: &'static str,
        changes: ChangeSet,
    ) -> Result<(), ApiError>;
}

/// The database itself: each read and write is a statement as it comes.
pub(super) struct DatabaseStore<'c> {
    conn: &'c mut PgConnection,
    workspace: WorkspaceId,
}

impl<'c> DatabaseStore<'c> {
    pub(super) fn new(conn: &'c mut PgConnection, workspace: WorkspaceId) -> Self {
        Self { conn, workspace }
    }
}

impl ClientStore for DatabaseStore<'_> {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }

    fn custom_rules(&mut self) -> QueryResult<Rc<[FieldRules]>> {
        Ok(CustomField::rules_for(self.conn, self.workspace, CustomEntity::Client)?.into())
    }

    fn assignment(&mut self, caller: UserId, requested: Requested) -> Result<Assignment, ApiError> {
        Assignment::resolve(self.conn, self.workspace, caller, requested)
    }

    fn lock_ref(&mut self, reference: &ExternalRef) -> QueryResult<()> {
        external_ref::lock(self.conn, self.workspace, RefEntity::Client, std::slice::from_ref(reference))
    }

    fn record_of(&mut self, reference: &ExternalRef) -> QueryResult<Option<ClientId>> {
        Ok(external_ref::record_of(self.conn, self.workspace, RefEntity::Client, reference)?.map(ClientId))
    }

    fn ref_held_elsewhere(
        &mut self,
        client: ClientId,
        refs: &[ExternalRef],
    ) -> QueryResult<Option<(ExternalRef, ClientId)>> {
        let held =
            external_ref::held_elsewhere(self.conn, self.workspace, RefEntity::Client, client.0, refs)?;
        Ok(held.map(|(reference, holder)| (reference, ClientId(holder))))
    }

    fn live_for_update(
        &mut self,
        principal: &Principal,
        scope: &ClientScope,
        id: ClientId,
    ) -> Result<Client, ApiError> {
        soft_delete::live_for_update(self.conn, principal, scope, id)
    }

    fn is_seen(&mut self, scope: &ClientScope, id: ClientId) -> QueryResult<bool> {
        Client::is_seen(self.conn, scope, id)
    }

    fn duplicates_of(&mut self, client: &Client) -> QueryResult<Vec<Client>> {
        Client::find_duplicates(
            self.conn,
            self.workspace,
            &client.email_keys,
            &client.phone_keys,
            client.tax_id.as_deref(),
            Some(client.id),
        )
    }

    fn insert(&mut self, client: Client) -> QueryResult<Client> {
        client.insert(self.conn)
    }

    fn save(&mut self, client: Client) -> QueryResult<Client> {
        client.save(self.conn)
    }

    fn sync_name_words(&mut self, client: &Client) -> QueryResult<()> {
        Client::sync_name_words(self.conn, self.workspace, &[client.id])
    }

    fn sync_refs(&mut self, client: &Client, _before: Option<&Client>) -> QueryResult<()> {
        external_ref::sync(self.conn, self.workspace, RefEntity::Client, client.id.0, &client.external_refs.0)
    }

    fn record_change(
        &mut self,
        principal: &Principal,
        client: &Client,
        action: &'static str,
        changes: ChangeSet,
    ) -> Result<(), ApiError> {
        record_change(self.conn, principal, "client", client.id.0, action, client.version, changes)
    }
}
