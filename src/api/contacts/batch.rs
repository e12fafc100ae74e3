//! `POST /contacts/batch`: many contacts in one request, each as its own endpoint writes it (see
//! `api::batch`).

use actix_web::http::StatusCode;
use actix_web::{post, web};
use diesel::PgConnection;

use super::wire::{ContactInput, ContactResponse, UpdateContact};
use super::write::{create_in, update_in, upsert_in};
use crate::api::batch::{self, Outcome, batch_shapes};
use crate::api::extract::{IfMatch, JsonBody, from_json_value};
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};
use crate::db::models::{Contact, Workspace};
use crate::db::visibility::ClientScope;
use crate::error::ApiError;
use crate::ids::ContactId;
use crate::state::AppState;

batch_shapes!(
    ContactBatch, ContactOperation, ContactBatchResult, ContactBatchResponse,
    id: ContactId, create: ContactInput, change: UpdateContact, contact: ContactResponse,
    example: {"atomic": false, "operations": [
        {"op": "upsert", "external_ref": {"system": "1c", "id": "P-7"},
         "body": {"client_ref": {"system": "1c", "id": "000123"}, "first_name": "Anna", "last_name": "Smirnova"}},
        {"op": "create", "body": {"client_ref": {"system": "1c", "id": "000123"}, "first_name": "Oleg"}}
    ]},
    Delete
);

/// Create, update, upsert and delete up to 1,000 contacts in one request.
///
/// Each operation runs as its own endpoint would and is answered in order with that endpoint's status and
/// contact or problem document; the request itself answers 200 once the batch ran. Operations run in one
/// transaction, each behind a savepoint, so a failed one leaves nothing behind; with `atomic: true` one failure
/// undoes them all. Send it with an `Idempotency-Key` to retry it safely.
#[utoipa::path(
    tag = "contacts",
    operation_id = "batch_contacts",
    security(("bearer" = [])),
    request_body = ContactBatch,
    responses((status = 200, description = "The batch ran: one result per operation, in order", body = ContactBatchResponse))
)]
#[post("/contacts/batch")]
pub async fn batch_contacts(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ContactBatch>,
) -> Result<web::Json<ContactBatchResponse>, ApiError> {
    principal.require_write()?;
    let ContactBatch { atomic, operations } = body.0;
    batch::check_size(operations.len())?;
    let (outcomes, applied) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = Workspace::find(conn, principal.workspace_id)?;
        batch::run_in_order(conn, &operations, atomic, |conn, operation| {
            run(conn, &principal, scope, &workspace, operation)
        })
    })
    .await?;
    let written =
        |(id, contact): (ContactId, Option<Contact>)| (id, contact.as_ref().map(ContactResponse::from));
    Ok(web::Json(ContactBatchResponse::of(outcomes, applied, written)))
}

/// What a contact operation wrote: the contact (none for a delete).
pub(crate) type Written = (ContactId, Option<Contact>);

/// Runs `operations` as a batch that isn't atomic, in the caller's transaction, for work other than
/// a request (an import): each one's outcome, in order; a failure of the server or the database
/// fails them all.
pub(crate) fn run_operations(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operations: &[ContactOperation],
) -> Result<Vec<Outcome<Written>>, ApiError> {
    let run = |conn: &mut PgConnection, operation: &ContactOperation| {
        run(conn, principal, scope, workspace, operation)
    };
    batch::run_in_order(conn, operations, false, run).map(|(outcomes, _)| outcomes)
}

fn run(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operation: &ContactOperation,
) -> Outcome<Written> {
    let written = |status: StatusCode, contact: Contact| (status.as_u16(), (contact.id, Some(contact)));
    match operation {
        ContactOperation::Create { body, allow_duplicate } => {
            let input: ContactInput = from_json_value(body.clone())?;
            let contact = create_in(conn, principal, scope, workspace, input, *allow_duplicate)?;
            Ok(written(StatusCode::CREATED, contact))
        }
        ContactOperation::Update { id, body, version } => {
            let change: UpdateContact = from_json_value(body.clone())?;
            let current = soft_delete::live_for_update(conn, principal, scope, *id)?;
            let if_match = IfMatch::of_version(*version);
            Ok(written(
                StatusCode::OK,
                update_in(conn, principal, scope, workspace, current, change, &if_match)?,
            ))
        }
        ContactOperation::Upsert { external_ref, body, allow_duplicate, version } => {
            let reference = batch::operation_ref(external_ref)?;
            let change: UpdateContact = from_json_value(body.clone())?;
            let if_match = IfMatch::of_version(*version);
            let (status, contact) =
                upsert_in(conn, principal, scope, workspace, reference, change, &if_match, *allow_duplicate)?;
            Ok(written(status, contact))
        }
        ContactOperation::Delete { id, version } => {
            let if_match = IfMatch::of_version(*version);
            soft_delete::delete(conn, principal, scope, *id, &if_match, |_, _: &Contact, _, changes| {
                Ok(changes)
            })?;
            Ok((StatusCode::NO_CONTENT.as_u16(), (*id, None)))
        }
    }
}
