//! `POST /clients/{id}/merge`: one client takes over duplicates of it. Their contacts, deals and
//! activities (deleted ones too, so that a restore still works), static segment memberships,
//! shares and external refs move to it; its empty fields are filled from theirs and their emails,
//! phones, tags, refs and custom values join its own; the duplicates stay as deleted tombstones
//! that name it (`merged_into`). Every record that moved gets a new version and a change event, so
//! that a sync following `updated_since` sees it.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Integer, Timestamptz, Uuid as SqlUuid};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ensure_deletions_allowed;
use super::store::{ClientStore, DatabaseStore};
use super::wire::{ClientInput, ClientResponse};
use super::write::{build_client, client_http, snapshot};
use crate::api::extract::{IfMatch, JsonBody};
use crate::api::merging::{self, add_contact_points, add_missing, fill};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, record_change};
use crate::auth::{Principal, run_seeing};
use crate::db::json::Json;
use crate::db::models::activity_cell;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::consent_record::{self, ConsentRecord, ConsentSubject};
use crate::db::models::deal::recompute_derived;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::models::{Client, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::error::ApiError;
use crate::ids::{ClientId, WorkspaceId};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": ["01968f5e-3a4b-7c2d-9e1f-0a1b2c3d4e5f"]}))]
pub struct MergeClients {
    /// The 1 to 20 live clients of the same kind to merge into this one; not this one itself. One named twice
    /// is merged once.
    #[schema(min_items = 1, max_items = 20)]
    pub from: Vec<ClientId>,
}

/// Merge duplicates into a client.
///
/// The clients in `from` give this one their contacts, deals and activities (deleted ones too), their static
/// segment memberships, shares and external refs; this client keeps its own values and takes theirs where it
/// has none, and their emails, phones, tags and custom values join its own. They become deleted tombstones: a
/// `GET` answers 404 with `merged_into`, a restore 409 `client_merged`. Each client's history records the merge,
/// and every moved record gets a new version. Merging counts against the hourly deletion limit like deleting;
/// `If-Match` guards this client's version.
#[utoipa::path(
    tag = "clients",
    operation_id = "merge_clients",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The client that stays"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = MergeClients,
    responses((status = 200, description = "The client with the others merged in", body = ClientResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[post("/clients/{id}/merge")]
pub async fn merge_clients(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    if_match: IfMatch,
    body: JsonBody<MergeClients>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let survivor = id.into_inner();
    let from = merging::merged_ids(survivor, body.0.from, "client")?;
    let client = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            merge_in(conn, &principal, scope, &workspace, survivor, &from, &if_match)
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::OK, &client))
}

fn merge_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    survivor_id: ClientId,
    from: &[ClientId],
    if_match: &IfMatch,
) -> Result<Client, ApiError> {
    // All of them locked at once, in id order, so two merges of overlapping clients queue.
    let ids: Vec<ClientId> = from.iter().copied().chain([survivor_id]).collect();
    let mut found = Client::find_all_for_update(conn, workspace.id, &ids)?;
    let mut take =
        |id: ClientId| found.iter().position(|client| client.id == id).map(|at| found.swap_remove(at));
    let survivor = take(survivor_id).ok_or(ApiError::NotFound)?;
    let survivor = soft_delete::live_and_changeable(conn, principal, scope, survivor)?;
    let mut merged = Vec::with_capacity(from.len());
    for id in from {
        let not_found = || {
            ApiError::invalid_field(
                "from",
                FieldCode::NotFound,
                format!("no live client {id} that you may change"),
            )
        };
        let client = take(*id).ok_or_else(not_found)?;
        let client = match soft_delete::live_and_changeable(conn, principal, scope, client) {
            Err(ApiError::NotFound) => return Err(not_found()),
            checked => checked?,
        };
        if client.kind != survivor.kind {
            return Err(ApiError::invalid_field(
                "from",
                FieldCode::Mismatch,
                format!(
                    "client {id} is a {}, this one a {}: only clients of one kind merge",
                    client.kind, survivor.kind
                ),
            ));
        }
        merged.push(client);
    }
    ensure_deletions_allowed(conn, principal, merged.len())?;
    if_match.check(survivor.version)?;

    let now = Utc::now().trunc_subsecs(6);
    let merged_ids: Vec<Uuid> = merged.iter().map(|client| client.id.0).collect();
    let mut input = ClientInput::from(&survivor);
    fill_from(&mut input, &merged);
    let tombstones =
        Client::mark_merged(conn, workspace.id, &merged_ids, survivor.id, now, principal.user_id)?;
    external_ref::repoint(conn, workspace.id, RefEntity::Client, &merged_ids, survivor.id.0)?;
    let moved = move_records(conn, principal, workspace.id, &merged_ids, survivor.id, now)?;

    let store = &mut DatabaseStore::new(conn, workspace.id);
    let mut candidate = build_client(store, principal, scope, workspace, input, Some(&survivor))?;
    // The merged clients' consent records are the survivor's now: its current state follows them.
    let survivor_consents = ConsentSubject::Client(survivor.id);
    candidate.consents = Json(consent_record::latest(store.conn(), workspace.id, survivor_consents)?);
    let changes = ChangeSet::default()
        .diff(Some(&snapshot(&survivor)), &snapshot(&candidate), BOOKKEEPING)
        .field("merged_from", None, &merged_ids)
        .field("moved", None, &moved);
    let client = store.save(candidate)?;
    if client.search_text != survivor.search_text {
        store.sync_name_words(&client)?;
    }
    store.sync_refs(&client, Some(&survivor))?;
    store.record_change(principal, &client, "merged", changes)?;
    for tombstone in &tombstones {
        let changes = ChangeSet::default().field("merged_into", None, &client.id).field(
            "deleted_at",
            None,
            &tombstone.deleted_at,
        );
        record_change(conn, principal, "client", tombstone.id.0, "merged", tombstone.version, changes)?;
    }
    recompute_derived(conn, workspace.id, [Some(client.id)])?;
    Ok(client)
}

/// Gives `input` (the survivor's) what it lacks from the `merged` clients, in their order: each
/// empty field the first value one of them has; their emails, phones, tags and refs after its own
/// (as secondary ones); their custom values for keys it has none for.
fn fill_from(input: &mut ClientInput, merged: &[Client]) {
    for other in merged {
        let other = ClientInput::from(other);
        fill(&mut input.last_name, other.last_name);
        fill(&mut input.first_name, other.first_name);
        fill(&mut input.middle_name, other.middle_name);
        fill(&mut input.birth_date, other.birth_date);
        fill(&mut input.gender, other.gender);
        fill(&mut input.name, other.name);
        fill(&mut input.legal_name, other.legal_name);
        fill(&mut input.registration_number, other.registration_number);
        fill(&mut input.industry, other.industry);
        fill(&mut input.tax_id, other.tax_id);
        fill(&mut input.website, other.website);
        fill(&mut input.source, other.source);
        fill(&mut input.address, other.address);
        fill(&mut input.notes, other.notes);
        fill(&mut input.consent, other.consent);
        add_contact_points((&mut input.emails, &mut input.phones), (other.emails, other.phones));
        add_missing(&mut input.tags, other.tags);
        add_missing(&mut input.external_refs, other.external_refs);
        for (key, value) in other.custom {
            input.custom.entry(key).or_insert(value);
        }
    }
}

/// How many records of each kind moved to the survivor.
#[derive(Debug, PartialEq, serde::Serialize)]
struct Moved {
    contacts: usize,
    deals: usize,
    activities: usize,
    segment_memberships: usize,
    shares: usize,
    consent_records: usize,
}

#[derive(QueryableByName)]
struct MovedRecord {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = SqlUuid)]
    old_client_id: Uuid,
    #[diesel(sql_type = Bool)]
    was_primary: bool,
}

/// Moves the merged clients' contacts, deals and activities (each with a new version and a change
/// event), static segment memberships, shares and consent records to the survivor.
fn move_records(
    conn: &mut PgConnection,
    principal: &Principal,
    workspace: WorkspaceId,
    merged: &[Uuid],
    survivor: ClientId,
    now: DateTime<Utc>,
) -> Result<Moved, ApiError> {
    let mut counts = [0; 3];
    for (at, (table, entity)) in
        [("contacts", "contact"), ("deals", "deal"), ("activities", "activity")].into_iter().enumerate()
    {
        // A moved contact is never the survivor's primary one: it has its own, or chooses later.
        let primary = if table == "contacts" { ", is_primary = false" } else { "" };
        let was_primary = if table == "contacts" { "old.is_primary" } else { "false" };
        let moved: Vec<MovedRecord> = diesel::sql_query(format!(
            "UPDATE {table} AS t SET client_id = $3, version = t.version + 1, updated_at = $4, updated_by = $5{primary} \
             FROM (SELECT id, client_id, {was_primary} AS was_primary FROM {table} AS old \
                   WHERE workspace_id = $1 AND client_id = ANY($2) FOR UPDATE) AS old \
             WHERE t.workspace_id = $1 AND t.id = old.id \
             RETURNING t.id, t.version, old.client_id AS old_client_id, old.was_primary"
        ))
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<Array<SqlUuid>, _>(merged)
        .bind::<SqlUuid, _>(survivor.0)
        .bind::<Timestamptz, _>(now)
        .bind::<SqlUuid, _>(principal.user_id.0)
        .load(conn)?;
        for record in &moved {
            let mut changes =
                ChangeSet::default().field("client_id", Some(&record.old_client_id), &survivor.0);
            if record.was_primary {
                changes = changes.field("is_primary", Some(&true), &false);
            }
            record_change(conn, principal, entity, record.id, "updated", record.version, changes)?;
        }
        counts[at] = moved.len();
        if table == "activities" {
            // The clients they touched on their days changed.
            let ids: Vec<Uuid> = moved.iter().map(|record| record.id).collect();
            activity_cell::mark_activities_stale(conn, workspace, &ids)?;
        }
    }
    let segment_memberships = move_memberships(conn, workspace, merged, survivor)?;
    let shares = move_shares(conn, workspace, merged, survivor)?;
    let consent_records = ConsentRecord::move_to(conn, workspace, merged, ConsentSubject::Client(survivor))?;
    let [contacts, deals, activities] = counts;
    Ok(Moved { contacts, deals, activities, segment_memberships, shares, consent_records })
}

/// The merged clients' static segment memberships become the survivor's (once per segment); the
/// segments' kept counts are dropped, as any member change drops them.
fn move_memberships(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    merged: &[Uuid],
    survivor: ClientId,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM segment_counts WHERE workspace_id = $1 AND segment_id IN \
         (SELECT segment_id FROM segment_members WHERE workspace_id = $1 AND client_id = ANY($2))",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(merged)
    .execute(conn)?;
    let added = diesel::sql_query(
        "INSERT INTO segment_members (workspace_id, segment_id, client_id, added_at, added_by) \
         SELECT DISTINCT ON (segment_id) workspace_id, segment_id, $3, added_at, added_by FROM segment_members \
         WHERE workspace_id = $1 AND client_id = ANY($2) ORDER BY segment_id, added_at \
         ON CONFLICT DO NOTHING",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(merged)
    .bind::<SqlUuid, _>(survivor.0)
    .execute(conn)?;
    diesel::sql_query("DELETE FROM segment_members WHERE workspace_id = $1 AND client_id = ANY($2)")
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<Array<SqlUuid>, _>(merged)
        .execute(conn)?;
    Ok(added)
}

/// The merged clients' shares (with a user or a team the survivor isn't shared with yet, once
/// each) become the survivor's; the rest go.
fn move_shares(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    merged: &[Uuid],
    survivor: ClientId,
) -> QueryResult<usize> {
    let moved = diesel::sql_query(
        "UPDATE client_shares SET client_id = $3 WHERE workspace_id = $1 AND id IN ( \
           SELECT DISTINCT ON (s.user_id, s.team_id) s.id FROM client_shares AS s \
           WHERE s.workspace_id = $1 AND s.client_id = ANY($2) AND NOT EXISTS ( \
             SELECT FROM client_shares AS kept WHERE kept.workspace_id = $1 AND kept.client_id = $3 \
             AND (kept.user_id = s.user_id OR kept.team_id = s.team_id)) \
           ORDER BY s.user_id, s.team_id, s.created_at)",
    )
    .bind::<SqlUuid, _>(workspace.0)
    .bind::<Array<SqlUuid>, _>(merged)
    .bind::<SqlUuid, _>(survivor.0)
    .execute(conn)?;
    diesel::sql_query("DELETE FROM client_shares WHERE workspace_id = $1 AND client_id = ANY($2)")
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<Array<SqlUuid>, _>(merged)
        .execute(conn)?;
    Ok(moved)
}
