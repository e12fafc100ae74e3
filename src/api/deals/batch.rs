//! `POST /deals/batch`: many deals in one request, each as its own endpoint writes it (see
//! `api::batch`): an e-shop's day of orders.

use actix_web::http::StatusCode;
use actix_web::{post, web};
use diesel::PgConnection;

use super::wire::{DealInput, DealResponse, UpdateDeal, deal_response};
use super::write::{create_in, delete_in, update_in, upsert_in};
use crate::api::batch::{self, Outcome, batch_shapes};
use crate::api::extract::{IfMatch, JsonBody, from_json_value};
use crate::api::soft_delete;
use crate::auth::{Principal, run_seeing};
use crate::db::models::deal::DealItem;
use crate::db::models::{Deal, Workspace};
use crate::db::visibility::ClientScope;
use crate::error::ApiError;
use crate::ids::DealId;
use crate::state::AppState;

batch_shapes!(
    DealBatch, DealOperation, DealBatchResult, DealBatchResponse,
    id: DealId, create: DealInput, change: UpdateDeal, deal: DealResponse,
    example: {"atomic": false, "operations": [
        {"op": "upsert", "external_ref": {"system": "shop", "id": "ORDER-1001"},
         "body": {"title": "Order 1001", "client_ref": {"system": "1c", "id": "000123"}, "currency": "EUR",
                  "items": [{"product_ref": {"system": "shop", "id": "SKU-100"}, "quantity": "2"}]}},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "ORDER-1002"},
         "body": {"title": "Order 1002", "client_ref": {"system": "1c", "id": "000123"}, "amount": "49.00", "currency": "EUR"}}
    ]},
    Delete
);

/// Create, update, upsert and delete up to 1,000 deals in one request.
///
/// Each operation runs as its own endpoint would (line items, stage rules, the client's stats) and is answered
/// in order with that endpoint's status and deal or problem document; the request itself answers 200 once the
/// batch ran. Operations run in one transaction, each behind a savepoint, so a failed one leaves nothing
/// behind; with `atomic: true` one failure undoes them all. Send it with an `Idempotency-Key` to retry it
/// safely.
#[utoipa::path(
    tag = "deals",
    operation_id = "batch_deals",
    security(("bearer" = [])),
    request_body = DealBatch,
    responses((status = 200, description = "The batch ran: one result per operation, in order", body = DealBatchResponse))
)]
#[post("/deals/batch")]
pub async fn batch_deals(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<DealBatch>,
) -> Result<web::Json<DealBatchResponse>, ApiError> {
    principal.require_write()?;
    let DealBatch { atomic, operations } = body.0;
    batch::check_size(operations.len())?;
    let (outcomes, applied) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = Workspace::find(conn, principal.workspace_id)?;
        batch::run_in_order(conn, &operations, atomic, |conn, operation| {
            run(conn, &principal, scope, &workspace, operation)
        })
    })
    .await?;
    let written = |(id, deal): (DealId, Option<(Deal, Vec<DealItem>)>)| {
        (id, deal.map(|(deal, items)| deal_response(&deal, &items)))
    };
    Ok(web::Json(DealBatchResponse::of(outcomes, applied, written)))
}

/// What a deal operation wrote: the deal and its lines (none for a delete).
pub(crate) type Written = (DealId, Option<(Deal, Vec<DealItem>)>);

/// Runs `operations` as a batch that isn't atomic, in the caller's transaction, for work other than
/// a request (an import): each one's outcome, in order; a failure of the server or the database
/// fails them all.
pub(crate) fn run_operations(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operations: &[DealOperation],
) -> Result<Vec<Outcome<Written>>, ApiError> {
    let run = |conn: &mut PgConnection, operation: &DealOperation| {
        run(conn, principal, scope, workspace, operation)
    };
    batch::run_in_order(conn, operations, false, run).map(|(outcomes, _)| outcomes)
}

fn run(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operation: &DealOperation,
) -> Outcome<Written> {
    let written = |status: StatusCode, (deal, items): (Deal, Vec<DealItem>)| {
        (status.as_u16(), (deal.id, Some((deal, items))))
    };
    match operation {
        DealOperation::Create { body, .. } => {
            let input: DealInput = from_json_value(body.clone())?;
            Ok(written(StatusCode::CREATED, create_in(conn, principal, scope, workspace, input)?))
        }
        DealOperation::Update { id, body, version } => {
            let change: UpdateDeal = from_json_value(body.clone())?;
            let current = soft_delete::live_for_update(conn, principal, scope, *id)?;
            let if_match = IfMatch::of_version(*version);
            Ok(written(
                StatusCode::OK,
                update_in(conn, principal, scope, workspace, current, change, &if_match)?,
            ))
        }
        DealOperation::Upsert { external_ref, body, version, .. } => {
            let reference = batch::operation_ref(external_ref)?;
            let change: UpdateDeal = from_json_value(body.clone())?;
            let if_match = IfMatch::of_version(*version);
            let (status, deal) = upsert_in(conn, principal, scope, workspace, reference, change, &if_match)?;
            Ok(written(status, deal))
        }
        DealOperation::Delete { id, version } => {
            delete_in(conn, principal, scope, *id, &IfMatch::of_version(*version))?;
            Ok((StatusCode::NO_CONTENT.as_u16(), (*id, None)))
        }
    }
}
