//! The store a batch of client writes runs against: it reads what the batch names in a few
//! statements before the first operation (its refs, locked in order, and the clients they and the
//! updates name, locked by id), keeps each operation's writes in memory, and writes them all at the
//! end in a handful of multi-row statements. An operation sees the writes of those before it, as it
//! would one at a time; a failed one's writes are dropped as a savepoint would.
//!
//! What it can't know ahead (a duplicate's other client, a ref only a body names) it reads when
//! asked, one statement each. The batch falls back to running its operations one at a time when
//! the final writes break a key (only a concurrent writer gets there): see `batch.rs`.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::store::ClientStore;
use crate::api::assignment::{Assignment, Requested};
use crate::api::soft_delete;
use crate::auth::Principal;
use crate::db::models::Client;
use crate::db::models::SoftDelete;
use crate::db::models::change_event::{ChangeSet, NewChangeEvent};
use crate::db::models::custom_field::CustomField;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::visibility::ClientScope;
use crate::domain::contact_points::{ContactPoint, normalise_emails, normalise_phones};
use crate::domain::custom_fields::FieldRules;
use crate::domain::enums::CustomEntity;
use crate::domain::external_ref::ExternalRef;
use crate::domain::text::trimmed;
use crate::error::ApiError;
use crate::ids::{ClientId, TeamId, UserId, WorkspaceId};

pub(super) struct ReadAheadStore<'c> {
    conn: &'c mut PgConnection,
    workspace: WorkspaceId,
    rules: Option<Rc<[FieldRules]>>,
    assignments: HashMap<(Option<UserId>, Option<TeamId>, bool), Assignment>,
    locked: HashSet<ExternalRef>,
    /// Who held each ref looked up so far when the batch began (`None`: nobody).
    stored_holders: HashMap<ExternalRef, Option<ClientId>>,
    /// The clients read so far (locked) as they were when the batch began (`None`: no such client).
    stored_clients: HashMap<ClientId, Option<Client>>,
    /// The stored clients that may be duplicates of the batch's new ones, if read ahead.
    duplicates: Option<ReadDuplicates>,
    /// What the operations that succeeded wrote.
    kept: Writes,
    /// What the operation running now wrote: kept when it succeeds, dropped when it fails.
    running: Writes,
    /// The clients the batch wrote under each duplicate key they had at any point, so that a new
    /// client's duplicates among them are found without comparing it with every one.
    written_keys: HashMap<DuplicateKey, Vec<ClientId>>,
}

/// An email, phone or tax id key that two clients are duplicates by sharing.
#[derive(PartialEq, Eq, Hash)]
enum DuplicateKey {
    Email(String),
    Phone(String),
    TaxId(String),
}

impl DuplicateKey {
    fn all_of(client: &Client) -> impl Iterator<Item = DuplicateKey> + '_ {
        let emails = client.email_keys.iter().cloned().map(DuplicateKey::Email);
        let phones = client.phone_keys.iter().cloned().map(DuplicateKey::Phone);
        emails.chain(phones).chain(client.tax_id.iter().cloned().map(DuplicateKey::TaxId))
    }
}

/// The emails, phones and tax ids that the bodies of a batch's creates and upserts give, normalised
/// as a client stores them: what a new client's duplicates would share.
#[derive(Default)]
pub(super) struct DuplicateKeys {
    emails: HashSet<String>,
    phones: HashSet<String>,
    tax_ids: HashSet<String>,
}

impl DuplicateKeys {
    /// Adds the keys of a create's or upsert's `body`; what doesn't parse adds nothing (the
    /// operation fails its checks, or its client's duplicates are looked up when asked).
    pub(super) fn add(&mut self, body: &Value, phone_region: &str) {
        let points = |field: &str| -> Vec<ContactPoint> {
            body.get(field).and_then(|points| serde_json::from_value(points.clone()).ok()).unwrap_or_default()
        };
        if let Ok((_, keys)) = normalise_emails("emails", points("emails")) {
            self.emails.extend(keys);
        }
        if let Ok((_, keys)) = normalise_phones("phones", points("phones"), phone_region) {
            self.phones.extend(keys);
        }
        self.tax_ids.extend(trimmed(body.get("tax_id").and_then(Value::as_str)));
    }

    /// Whether every key of `client` is among these.
    fn cover(&self, client: &Client) -> bool {
        client.email_keys.iter().all(|key| self.emails.contains(key))
            && client.phone_keys.iter().all(|key| self.phones.contains(key))
            && client.tax_id.as_ref().is_none_or(|tax_id| self.tax_ids.contains(tax_id))
    }
}

/// Every stored live client that shares a key with `keys`.
struct ReadDuplicates {
    keys: DuplicateKeys,
    clients: Vec<Client>,
}

/// Writes held in memory until the batch ends.
#[derive(Default)]
struct Writes {
    /// Each written client's latest row, and whether the batch created it.
    clients: HashMap<ClientId, (Client, bool)>,
    /// The order clients were first written in, so the rows go out in the batch's order.
    order: Vec<ClientId>,
    /// Who holds each ref the writes moved (`None`: nobody any more).
    holders: HashMap<ExternalRef, Option<ClientId>>,
    renamed: Vec<ClientId>,
    events: Vec<PendingEvent>,
}

struct PendingEvent {
    id: Uuid,
    client: ClientId,
    action: &'static str,
    version: i32,
    actor: UserId,
    changes: serde_json::Value,
}

impl<'c> ReadAheadStore<'c> {
    /// Locks the refs `upserted` (in lock-key order) and the clients they and `updated` name (in id
    /// order), and keeps what it read.
    pub(super) fn read_ahead(
        conn: &'c mut PgConnection,
        workspace: WorkspaceId,
        upserted: &[ExternalRef],
        updated: &[ClientId],
    ) -> QueryResult<Self> {
        let mut store = Self {
            conn,
            workspace,
            rules: None,
            assignments: HashMap::new(),
            locked: HashSet::new(),
            stored_holders: HashMap::new(),
            stored_clients: HashMap::new(),
            duplicates: None,
            kept: Writes::default(),
            running: Writes::default(),
            written_keys: HashMap::new(),
        };
        if !upserted.is_empty() {
            external_ref::lock(store.conn, workspace, RefEntity::Client, upserted)?;
            let holders = external_ref::records_of(store.conn, workspace, RefEntity::Client, upserted)?;
            for reference in upserted {
                store.locked.insert(reference.clone());
                store.stored_holders.insert(reference.clone(), holders.get(reference).copied().map(ClientId));
            }
        }
        let mut ids: Vec<ClientId> = updated.to_vec();
        ids.extend(store.stored_holders.values().flatten());
        ids.sort();
        ids.dedup();
        if !ids.is_empty() {
            let found = Client::find_all_for_update(store.conn, workspace, &ids)?;
            store.stored_clients.extend(ids.iter().map(|id| (*id, None)));
            store.stored_clients.extend(found.into_iter().map(|client| (client.id, Some(client))));
        }
        Ok(store)
    }

    /// Reads the stored clients that share any of `keys`, so that a new client whose keys are
    /// among them finds its duplicates without a statement of its own.
    pub(super) fn read_duplicates(&mut self, keys: DuplicateKeys) -> QueryResult<()> {
        let list = |keys: &HashSet<String>| keys.iter().cloned().collect::<Vec<_>>();
        let none = keys.emails.is_empty() && keys.phones.is_empty() && keys.tax_ids.is_empty();
        let clients = if none {
            Vec::new()
        } else {
            Client::find_sharing_keys(
                self.conn,
                self.workspace,
                &list(&keys.emails),
                &list(&keys.phones),
                &list(&keys.tax_ids),
            )?
        };
        self.duplicates = Some(ReadDuplicates { keys, clients });
        Ok(())
    }

    /// Ends the operation running now: its writes are kept when it succeeded, else dropped.
    pub(super) fn end_operation(&mut self, succeeded: bool) {
        let running = std::mem::take(&mut self.running);
        if !succeeded {
            return;
        }
        for id in running.order {
            if !self.kept.clients.contains_key(&id) {
                self.kept.order.push(id);
            }
        }
        self.kept.clients.extend(running.clients);
        self.kept.holders.extend(running.holders);
        self.kept.renamed.extend(running.renamed);
        self.kept.events.extend(running.events);
    }

    /// Writes what the kept operations wrote: new clients in one statement (a thousand a
    /// statement), changed ones in another, then the refs they let go and took, their name words and
    /// their change events.
    pub(super) fn write(self, principal: &Principal) -> QueryResult<()> {
        let Self { conn, workspace, stored_clients, kept, .. } = self;
        let mut created = Vec::new();
        let mut changed = Vec::new();
        let mut released = Vec::new();
        let mut taken = Vec::new();
        for id in &kept.order {
            let (client, is_new) = &kept.clients[id];
            let before = stored_clients.get(id).cloned().flatten();
            let held_before =
                before.as_ref().map(|client| client.external_refs.0.as_slice()).unwrap_or_default();
            released
                .extend(held_before.iter().filter(|held| !client.external_refs.0.contains(held)).cloned());
            taken.extend(
                client
                    .external_refs
                    .0
                    .iter()
                    .filter(|reference| !held_before.contains(reference))
                    .map(|reference| (reference.clone(), client.id.0)),
            );
            if *is_new {
                created.push(client.clone());
            } else {
                changed.push(client.clone());
            }
        }
        Client::insert_all(conn, &created)?;
        Client::save_all(conn, workspace, &changed)?;
        external_ref::apply(conn, workspace, RefEntity::Client, &released, &taken)?;
        let mut renamed = kept.renamed;
        renamed.sort();
        renamed.dedup();
        if !renamed.is_empty() {
            Client::sync_name_words(conn, workspace, &renamed)?;
        }
        let events: Vec<NewChangeEvent> = kept
            .events
            .into_iter()
            .map(|event| NewChangeEvent {
                workspace_id: workspace,
                id: event.id,
                entity: "client",
                entity_id: event.client.0,
                action: event.action,
                version: Some(event.version),
                actor_id: Some(event.actor),
                request_id: principal.request_id.as_deref(),
                changes: event.changes,
            })
            .collect();
        NewChangeEvent::copy_all(conn, &events)?;
        Ok(())
    }

    /// The client `id` as the batch has it now: written by it, or as stored.
    fn client(&mut self, id: ClientId) -> QueryResult<Option<Client>> {
        if let Some((client, _)) = self.running.clients.get(&id).or_else(|| self.kept.clients.get(&id)) {
            return Ok(Some(client.clone()));
        }
        if let Some(stored) = self.stored_clients.get(&id) {
            return Ok(stored.clone());
        }
        let found = Client::find_any_for_update(self.conn, self.workspace, id).optional()?;
        self.stored_clients.insert(id, found.clone());
        Ok(found)
    }

    /// Who holds `reference` now: as the batch's writes left it, or as stored.
    fn holder(&mut self, reference: &ExternalRef) -> QueryResult<Option<ClientId>> {
        if let Some(holder) = self.running.holders.get(reference).or_else(|| self.kept.holders.get(reference))
        {
            return Ok(*holder);
        }
        if let Some(stored) = self.stored_holders.get(reference) {
            return Ok(*stored);
        }
        let found =
            external_ref::record_of(self.conn, self.workspace, RefEntity::Client, reference)?.map(ClientId);
        self.stored_holders.insert(reference.clone(), found);
        Ok(found)
    }

    fn written(&mut self, client: Client, is_new: bool) -> Client {
        if !self.running.clients.contains_key(&client.id) {
            self.running.order.push(client.id);
        }
        for key in DuplicateKey::all_of(&client) {
            let holders = self.written_keys.entry(key).or_default();
            if !holders.contains(&client.id) {
                holders.push(client.id);
            }
        }
        self.running.clients.insert(client.id, (client.clone(), is_new));
        client
    }

    fn is_new(&self, id: ClientId) -> bool {
        self.running
            .clients
            .get(&id)
            .or_else(|| self.kept.clients.get(&id))
            .is_some_and(|(_, is_new)| *is_new)
    }
}

/// Whether `other` shares an email, a phone or the tax id with `client`.
fn shares_a_key(client: &Client, other: &Client) -> bool {
    let shares = |mine: &[String], theirs: &[String]| mine.iter().any(|key| theirs.contains(key));
    shares(&client.email_keys, &other.email_keys)
        || shares(&client.phone_keys, &other.phone_keys)
        || client.tax_id.is_some() && client.tax_id == other.tax_id
}

impl ClientStore for ReadAheadStore<'_> {
    fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }

    fn custom_rules(&mut self) -> QueryResult<Rc<[FieldRules]>> {
        if let Some(rules) = &self.rules {
            return Ok(rules.clone());
        }
        let rules: Rc<[FieldRules]> =
            CustomField::rules_for(self.conn, self.workspace, CustomEntity::Client)?.into();
        self.rules = Some(rules.clone());
        Ok(rules)
    }

    fn assignment(&mut self, caller: UserId, requested: Requested) -> Result<Assignment, ApiError> {
        // The batch has one caller, so what it asks for decides the answer.
        let key = (requested.owner_id, requested.team_id, requested.is_new);
        if let Some(assignment) = self.assignments.get(&key) {
            return Ok(*assignment);
        }
        let assignment = Assignment::resolve(self.conn, self.workspace, caller, requested)?;
        self.assignments.insert(key, assignment);
        Ok(assignment)
    }

    fn lock_ref(&mut self, reference: &ExternalRef) -> QueryResult<()> {
        if self.locked.insert(reference.clone()) {
            external_ref::lock(
                self.conn,
                self.workspace,
                RefEntity::Client,
                std::slice::from_ref(reference),
            )?;
        }
        Ok(())
    }

    fn record_of(&mut self, reference: &ExternalRef) -> QueryResult<Option<ClientId>> {
        self.holder(reference)
    }

    fn ref_held_elsewhere(
        &mut self,
        client: ClientId,
        refs: &[ExternalRef],
    ) -> QueryResult<Option<(ExternalRef, ClientId)>> {
        for reference in refs {
            if let Some(holder) = self.holder(reference)?.filter(|holder| *holder != client) {
                return Ok(Some((reference.clone(), holder)));
            }
        }
        Ok(None)
    }

    fn live_for_update(
        &mut self,
        principal: &Principal,
        scope: &ClientScope,
        id: ClientId,
    ) -> Result<Client, ApiError> {
        let client = self.client(id)?.ok_or(ApiError::NotFound)?;
        soft_delete::live_and_changeable(self.conn, principal, scope, client)
    }

    fn is_seen(&mut self, scope: &ClientScope, id: ClientId) -> QueryResult<bool> {
        if scope.sees_everything() {
            return Ok(true);
        }
        Ok(self.client(id)?.is_some_and(|client| scope.admits_client(id, client.owner_id)))
    }

    fn duplicates_of(&mut self, client: &Client) -> QueryResult<Vec<Client>> {
        let stored = match &self.duplicates {
            Some(read) if read.keys.cover(client) => read
                .clients
                .iter()
                .filter(|other| other.id != client.id && shares_a_key(client, other))
                .cloned()
                .collect(),
            _ => Client::find_duplicates(
                self.conn,
                self.workspace,
                &client.email_keys,
                &client.phone_keys,
                client.tax_id.as_deref(),
                Some(client.id),
            )?,
        };
        // The batch's own clients as it left them, in place of their stored rows: those it wrote
        // that share a key with `client` now, and none it wrote that no longer do.
        let mut found: HashMap<ClientId, Client> =
            stored.into_iter().map(|other| (other.id, other)).collect();
        let mut written: Vec<ClientId> = found.keys().copied().collect();
        for key in DuplicateKey::all_of(client) {
            written.extend(self.written_keys.get(&key).into_iter().flatten());
        }
        for id in written {
            let Some((other, _)) = self.running.clients.get(&id).or_else(|| self.kept.clients.get(&id))
            else {
                continue;
            };
            found.remove(&id);
            if other.id != client.id && other.deleted_at.is_none() && shares_a_key(client, other) {
                found.insert(other.id, other.clone());
            }
        }
        let mut found: Vec<Client> = found.into_values().collect();
        found.sort_by_key(|other| other.id);
        Ok(found)
    }

    fn insert(&mut self, client: Client) -> QueryResult<Client> {
        Ok(self.written(client, true))
    }

    fn save(&mut self, client: Client) -> QueryResult<Client> {
        let is_new = self.is_new(client.id);
        Ok(self.written(client, is_new))
    }

    fn sync_name_words(&mut self, client: &Client) -> QueryResult<()> {
        self.running.renamed.push(client.id);
        Ok(())
    }

    fn sync_refs(&mut self, client: &Client, before: Option<&Client>) -> QueryResult<()> {
        for held in before.map(|before| before.external_refs.0.as_slice()).unwrap_or_default() {
            if !client.external_refs.0.contains(held) {
                self.running.holders.insert(held.clone(), None);
            }
        }
        for reference in &client.external_refs.0 {
            self.running.holders.insert(reference.clone(), Some(client.id));
        }
        Ok(())
    }

    fn record_change(
        &mut self,
        principal: &Principal,
        client: &Client,
        action: &'static str,
        changes: ChangeSet,
    ) -> Result<(), ApiError> {
        self.running.events.push(PendingEvent {
            id: Uuid::now_v7(),
            client: client.id,
            action,
            version: client.version,
            actor: principal.user_id,
            changes: changes.into_json(),
        });
        Ok(())
    }
}
