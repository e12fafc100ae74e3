//! `POST /contacts/{id}/merge`: one contact takes over duplicates of it under the same client.
//! Their deals and activities (deleted ones too, so that a restore still works) and external refs
//! move to it; its empty fields are filled from theirs and their emails, phones, messengers, refs
//! and custom values join its own; the duplicates stay as deleted tombstones that name it
//! (`merged_into`). Every record that moved gets a new version and a change event.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Integer, Timestamptz, Uuid as SqlUuid};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::wire::ContactInput;
use super::write::{build_contact, contact_http, snapshot, take_primary};
use crate::api::extract::{IfMatch, JsonBody};
use crate::api::merging::{self, add_contact_points, add_missing, fill};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, record_change};
use crate::auth::{Principal, run_seeing};
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::consent_record::{self, ConsentRecord, ConsentSubject};
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::models::{Contact, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::error::ApiError;
use crate::ids::{ContactId, WorkspaceId};
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": ["01968f5e-3a4b-7c2d-9e1f-0a1b2c3d4e6a"]}))]
pub struct MergeContacts {
    /// The 1 to 20 live contacts of the same client to merge into this one; not this one itself. One named
    /// twice is merged once.
    #[schema(min_items = 1, max_items = 20)]
    pub from: Vec<ContactId>,
}

/// Merge duplicate contacts into one.
///
/// The contacts in `from`, of this contact's client, give it their deals and activities (deleted ones too) and
/// their external refs; this contact keeps its own values and takes theirs where it has none, and their emails,
/// phones, messengers and custom values join its own; it becomes the client's primary contact if one of them
/// was. They become deleted tombstones: a `GET` answers 404 with `merged_into`, a restore 409 `contact_merged`.
/// Each contact's history records the merge, and every moved record gets a new version. `If-Match` guards this
/// contact's version.
#[utoipa::path(
    tag = "contacts",
    operation_id = "merge_contacts",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The contact that stays"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = MergeContacts,
    responses((status = 200, description = "The contact with the others merged in", body = super::wire::ContactResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[post("/contacts/{id}/merge")]
pub async fn merge_contacts(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
    if_match: IfMatch,
    body: JsonBody<MergeContacts>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let survivor = id.into_inner();
    let from = merging::merged_ids(survivor, body.0.from, "contact")?;
    let contact = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            merge_in(conn, &principal, scope, &workspace, survivor, &from, &if_match)
        })
    })
    .await?;
    Ok(contact_http(actix_web::http::StatusCode::OK, &contact))
}

fn merge_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    survivor_id: ContactId,
    from: &[ContactId],
    if_match: &IfMatch,
) -> Result<Contact, ApiError> {
    // All of them locked in id order, so two merges of overlapping contacts queue.
    let mut ids: Vec<ContactId> = from.iter().copied().chain([survivor_id]).collect();
    ids.sort_unstable();
    let mut found = Contact::find_all_for_update(conn, workspace.id, &ids)?;
    let mut take =
        |id: ContactId| found.iter().position(|contact| contact.id == id).map(|at| found.swap_remove(at));
    let survivor = take(survivor_id).ok_or(ApiError::NotFound)?;
    let survivor = soft_delete::live_and_changeable(conn, principal, scope, survivor)?;
    let mut merged = Vec::with_capacity(from.len());
    for id in from {
        let not_found = || {
            ApiError::invalid_field(
                "from",
                FieldCode::NotFound,
                format!("no live contact {id} that you may change"),
            )
        };
        let contact = take(*id).ok_or_else(not_found)?;
        let contact = match soft_delete::live_and_changeable(conn, principal, scope, contact) {
            Err(ApiError::NotFound) => return Err(not_found()),
            checked => checked?,
        };
        if contact.client_id != survivor.client_id {
            return Err(ApiError::invalid_field(
                "from",
                FieldCode::WrongClient,
                format!(
                    "contact {id} acts for another client: move it to this one's first (PATCH client_id)"
                ),
            ));
        }
        merged.push(contact);
    }
    if_match.check(survivor.version)?;

    let now = Utc::now().trunc_subsecs(6);
    let merged_ids: Vec<Uuid> = merged.iter().map(|contact| contact.id.0).collect();
    let mut input = ContactInput::from(&survivor);
    fill_from(&mut input, &merged);
    let tombstones =
        Contact::mark_merged(conn, workspace.id, &merged_ids, survivor.id, now, principal.user_id)?;
    external_ref::repoint(conn, workspace.id, RefEntity::Contact, &merged_ids, survivor.id.0)?;
    let moved = move_records(conn, principal, workspace.id, &merged_ids, survivor.id, now)?;

    let mut candidate = build_contact(conn, principal, scope, workspace, input, Some(&survivor))?;
    // The merged contacts' consent records are the survivor's now: its current state follows them.
    candidate.consents =
        Json(consent_record::latest(conn, workspace.id, ConsentSubject::Contact(survivor.id))?);
    let changes = ChangeSet::default()
        .diff(Some(&snapshot(&survivor)), &snapshot(&candidate), BOOKKEEPING)
        .field("merged_from", None, &merged_ids)
        .field("moved", None, &moved);
    take_primary(conn, principal, &candidate)?;
    let contact = candidate.save(conn)?;
    external_ref::sync(conn, workspace.id, RefEntity::Contact, contact.id.0, &contact.external_refs.0)?;
    record_change(conn, principal, "contact", contact.id.0, "merged", contact.version, changes)?;
    for tombstone in &tombstones {
        let changes = ChangeSet::default().field("merged_into", None, &contact.id).field(
            "deleted_at",
            None,
            &tombstone.deleted_at,
        );
        record_change(conn, principal, "contact", tombstone.id.0, "merged", tombstone.version, changes)?;
    }
    Ok(contact)
}

/// Gives `input` (the survivor's) what it lacks from the `merged` contacts, in their order: each
/// empty field the first value one of them has; their emails, phones, messengers and refs after
/// its own (as secondary ones); their custom values for keys it has none for; the primary flag if
/// one of them had it.
fn fill_from(input: &mut ContactInput, merged: &[Contact]) {
    for other in merged {
        let other = ContactInput::from(other);
        fill(&mut input.last_name, other.last_name);
        fill(&mut input.first_name, other.first_name);
        fill(&mut input.middle_name, other.middle_name);
        fill(&mut input.position, other.position);
        fill(&mut input.notes, other.notes);
        fill(&mut input.consent, other.consent);
        input.is_primary |= other.is_primary;
        add_contact_points((&mut input.emails, &mut input.phones), (other.emails, other.phones));
        add_missing(&mut input.messengers, other.messengers);
        add_missing(&mut input.external_refs, other.external_refs);
        for (key, value) in other.custom {
            input.custom.entry(key).or_insert(value);
        }
    }
}

/// How many records of each kind moved to the survivor.
#[derive(Debug, PartialEq, serde::Serialize)]
struct Moved {
    deals: usize,
    activities: usize,
    consent_records: usize,
}

#[derive(QueryableByName)]
struct MovedRecord {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = SqlUuid)]
    old_contact_id: Uuid,
}

/// Points the merged contacts' deals and activities at the survivor, each with a new version and a
/// change event, and hands it their consent records.
fn move_records(
    conn: &mut PgConnection,
    principal: &Principal,
    workspace: WorkspaceId,
    merged: &[Uuid],
    survivor: ContactId,
    now: DateTime<Utc>,
) -> Result<Moved, ApiError> {
    let mut counts = [0; 2];
    for (at, (table, entity)) in [("deals", "deal"), ("activities", "activity")].into_iter().enumerate() {
        let moved: Vec<MovedRecord> = diesel::sql_query(format!(
            "UPDATE {table} AS t SET contact_id = $3, version = t.version + 1, updated_at = $4, updated_by = $5 \
             FROM (SELECT id, contact_id FROM {table} WHERE workspace_id = $1 AND contact_id = ANY($2) FOR UPDATE) AS old \
             WHERE t.workspace_id = $1 AND t.id = old.id \
             RETURNING t.id, t.version, old.contact_id AS old_contact_id"
        ))
        .bind::<SqlUuid, _>(workspace.0)
        .bind::<Array<SqlUuid>, _>(merged)
        .bind::<SqlUuid, _>(survivor.0)
        .bind::<Timestamptz, _>(now)
        .bind::<SqlUuid, _>(principal.user_id.0)
        .load(conn)?;
        for record in &moved {
            let changes = ChangeSet::default().field("contact_id", Some(&record.old_contact_id), &survivor.0);
            record_change(conn, principal, entity, record.id, "updated", record.version, changes)?;
        }
        counts[at] = moved.len();
    }
    let [deals, activities] = counts;
    let consent_records = ConsentRecord::move_to(conn, workspace, merged, ConsentSubject::Contact(survivor))?;
    Ok(Moved { deals, activities, consent_records })
}
