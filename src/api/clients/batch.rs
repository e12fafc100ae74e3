//! `POST /clients/batch`: up to 1,000 creates, updates, upserts and deletes of clients in one
//! request, for an integration that syncs thousands of records. Each operation runs exactly as its
//! own endpoint would (the same checks, visibility, duplicates rule, deletion limit and change
//! event) and is answered in order with the status, record or problem that endpoint would give.
//! All run in one transaction, each behind a savepoint: a failed one leaves no trace, and with
//! `atomic` one failure undoes them all.

use actix_web::{ResponseError, post, web};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::read_ahead::{DuplicateKeys, ReadAheadStore};
use super::store::{ClientStore, DatabaseStore};
use super::wire::{ClientInput, ClientResponse, UpdateClient};
use super::write::{create_in, update_in, upsert_in};
use super::{delete_in, ensure_deletions_allowed};
use crate::api::extract::{IfMatch, JsonBody, from_json_value};
use crate::api::security::{SecurityEvent, action};
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::{Client, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::external_ref::ExternalRef;
use crate::error::{ApiError, Problem, ProblemCode};
use crate::ids::ClientId;
use crate::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"atomic": false, "operations": [
    {"op": "upsert", "external_ref": {"system": "shop", "id": "10045"},
     "body": {"kind": "person", "first_name": "Anna", "last_name": "Ivanova", "emails": [{"value": "anna@example.com"}]}},
    {"op": "create", "body": {"kind": "company", "name": "Acme Trading", "tax_id": "7707083893"}}
]}))]
pub struct ClientBatch {
    /// All or nothing: when any operation fails, none is kept (`applied: false`), and those that
    /// would have succeeded answer 424 `not_applied`. Otherwise each operation stands alone.
    #[serde(default)]
    pub atomic: bool,
    /// 1 to 1,000 operations, run in order.
    #[schema(min_items = 1, max_items = 1000)]
    pub operations: Vec<ClientOperation>,
}

/// One operation of a batch, named by `op`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientOperation {
    /// Creates a client, as `POST /clients` does.
    Create {
        #[schema(value_type = ClientInput)]
        body: Value,
        /// As `?allow_duplicate=true`.
        #[serde(default)]
        allow_duplicate: bool,
    },
    /// Changes a client, as `PATCH /clients/{id}` does.
    Update {
        id: ClientId,
        #[schema(value_type = UpdateClient)]
        body: Value,
        /// The version last read, as `If-Match` states it: a stale one fails with 412.
        version: Option<i32>,
    },
    /// Creates or updates the client another system knows by `external_ref`, as
    /// `PUT /clients/by-ref/{system}/{id}` does.
    Upsert {
        external_ref: ExternalRef,
        #[schema(value_type = UpdateClient)]
        body: Value,
        #[serde(default)]
        allow_duplicate: bool,
        version: Option<i32>,
    },
    /// Deletes a client (soft), as `DELETE /clients/{id}` does.
    Delete { id: ClientId, version: Option<i32> },
}

/// The answer to a batch: one result per operation, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// Whether the changes were kept: always for a batch that isn't atomic (those of the operations
    /// that succeeded), and for an atomic one only when every operation succeeded.
    pub applied: bool,
    pub results: Vec<BatchResult>,
}

/// What one operation came to: what its own endpoint would have answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// 200 updated (or already as asked), 201 created, 204 deleted; or the failure's status, and
    /// 424 for an operation of a failed atomic batch that would have succeeded.
    pub status: u16,
    /// The client the operation wrote, when it succeeded.
    pub id: Option<ClientId>,
    /// The client as the operation left it; null for a delete and a failure.
    pub client: Option<ClientResponse>,
    /// Why the operation failed, as its own endpoint's problem document; null when it succeeded.
    pub error: Option<Problem>,
}

/// Why a batch's transaction ends without keeping its changes.
enum Undo {
    /// An atomic batch with a failed operation.
    Failed,
    /// A failure of the server or the database: the whole request fails with it.
    Error(ApiError),
    /// The batch's writes, read ahead, broke a key that a concurrent writer took after the reads:
    /// the operations run again one at a time, each meeting that writer's rows as it would alone.
    Contended,
}

impl From<diesel::result::Error> for Undo {
    fn from(error: diesel::result::Error) -> Self {
        Undo::Error(error.into())
    }
}

/// Create, update, upsert and delete up to 1,000 clients in one request.
///
/// Each operation runs as its own endpoint would and is answered in order with that endpoint's status and client
/// or problem document; the request itself answers 200 once the batch ran. Operations run in one transaction,
/// each behind a savepoint, so a failed one leaves nothing behind; with `atomic: true` one failure undoes them
/// all. The batch counts as one request against the rate limit; send it with an `Idempotency-Key` to retry it
/// safely.
#[utoipa::path(
    tag = "clients",
    operation_id = "batch_clients",
    security(("bearer" = [])),
    request_body = ClientBatch,
    responses((status = 200, description = "The batch ran: one result per operation, in order", body = BatchResponse))
)]
#[post("/clients/batch")]
pub async fn batch_clients(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ClientBatch>,
) -> Result<web::Json<BatchResponse>, ApiError> {
    principal.require_write()?;
    let ClientBatch { atomic, operations } = body.0;
    crate::api::batch::check_size(operations.len())?;
    let answer = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = Workspace::find(conn, principal.workspace_id)?;
        let mut outcomes = Vec::new();
        let ran = conn.transaction(|conn| {
            outcomes = run_all(conn, &principal, scope, &workspace, &operations, atomic)?;
            if atomic && outcomes.iter().any(Result::is_err) { Err(Undo::Failed) } else { Ok(()) }
        });
        // A refused deletion's security event went with its savepoint: it is recorded once here.
        if let Some(ApiError::TooManyDeletions { limit, .. }) = outcomes.iter().find_map(|outcome| {
            outcome.as_ref().err().filter(|error| matches!(error, ApiError::TooManyDeletions { .. }))
        }) {
            let details = ChangeSet::default().field("limit", None, limit).field("in_batch", None, &true);
            SecurityEvent::by(&principal, action::BULK_DELETE_REFUSED, details).record(conn)?;
        }
        match ran {
            Ok(()) => Ok(answer(outcomes, true)),
            Err(Undo::Failed) => Ok(answer(outcomes, false)),
            Err(Undo::Error(error)) => Err(error),
            // `run_all` answers this one itself by running the operations one at a time.
            Err(Undo::Contended) => Err(ApiError::Unavailable(
                "another request wrote the same clients at once; retry".to_string(),
            )),
        }
    })
    .await?;
    Ok(web::Json(answer))
}

/// What a successful operation did: the status its endpoint answers, and the client it left.
type Done = (u16, ClientId, Option<Client>);

type Outcome = Result<Done, ApiError>;

/// What one operation of a batch run for other work came to: its status and client, or its problem.
pub(crate) type OperationOutcome = Result<(u16, ClientId), ApiError>;

/// Runs `operations` as a batch that isn't atomic, in the caller's transaction, for work other than
/// a request (an import): each one's status and client id, or its problem; a failure of the
/// server or the database fails them all.
pub(crate) fn run_operations(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operations: &[ClientOperation],
) -> Result<Vec<OperationOutcome>, ApiError> {
    match run_all(conn, principal, scope, workspace, operations, false) {
        Ok(outcomes) => {
            Ok(outcomes.into_iter().map(|outcome| outcome.map(|(status, id, _)| (status, id))).collect())
        }
        Err(Undo::Error(error)) => Err(error),
        Err(Undo::Failed | Undo::Contended) => {
            Err(ApiError::internal("a batch that isn't atomic was undone"))
        }
    }
}

/// Runs the operations in the caller's transaction: read ahead and written together when none
/// deletes (see `read_ahead.rs`), else, or when those writes break a key another writer took
/// meanwhile, one at a time behind a savepoint each. An atomic batch with a failed operation writes
/// nothing.
fn run_all(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operations: &[ClientOperation],
    atomic: bool,
) -> Result<Vec<Outcome>, Undo> {
    if operations.iter().all(|operation| !matches!(operation, ClientOperation::Delete { .. })) {
        match conn.transaction(|conn| run_read_ahead(conn, principal, scope, workspace, operations, atomic)) {
            Err(Undo::Contended) => {
                log::info!(
                    "a batch's writes met a concurrent writer's; running its operations one at a time"
                );
            }
            ran => return ran,
        }
    }
    let mut outcomes = Vec::with_capacity(operations.len());
    for operation in operations {
        let outcome = conn.transaction(|conn| {
            let store = &mut DatabaseStore::new(conn, workspace.id);
            run(store, principal, scope, workspace, operation)
        });
        keep(&mut outcomes, outcome)?;
    }
    Ok(outcomes)
}

/// Adds an operation's outcome to the batch's; a failure of the server fails the whole batch.
fn keep(outcomes: &mut Vec<Outcome>, outcome: Outcome) -> Result<(), Undo> {
    match outcome {
        Err(error) if error.status_code().is_server_error() => Err(Undo::Error(error)),
        outcome => {
            outcomes.push(outcome);
            Ok(())
        }
    }
}

fn run_read_ahead(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operations: &[ClientOperation],
    atomic: bool,
) -> Result<Vec<Outcome>, Undo> {
    let mut upserted = Vec::new();
    let mut updated = Vec::new();
    let mut new_keys = DuplicateKeys::default();
    for operation in operations {
        match operation {
            ClientOperation::Create { body, allow_duplicate: false } => {
                new_keys.add(body, &workspace.default_phone_region);
            }
            ClientOperation::Upsert { external_ref, body, allow_duplicate, .. } => {
                upserted.extend(ExternalRef::parse(&external_ref.system, &external_ref.id).ok());
                if !allow_duplicate {
                    new_keys.add(body, &workspace.default_phone_region);
                }
            }
            ClientOperation::Update { id, .. } => updated.push(*id),
            ClientOperation::Create { .. } | ClientOperation::Delete { .. } => {}
        }
    }
    let mut store = ReadAheadStore::read_ahead(conn, workspace.id, &upserted, &updated)?;
    store.read_duplicates(new_keys)?;
    let mut outcomes = Vec::with_capacity(operations.len());
    for operation in operations {
        let outcome = run(&mut store, principal, scope, workspace, operation);
        store.end_operation(outcome.is_ok());
        keep(&mut outcomes, outcome)?;
    }
    if !(atomic && outcomes.iter().any(Result::is_err)) {
        store.write(principal).map_err(|error| match error {
            DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ForeignKeyViolation,
                _,
            ) => Undo::Contended,
            other => Undo::from(other),
        })?;
    }
    Ok(outcomes)
}

fn run(
    store: &mut impl ClientStore,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    operation: &ClientOperation,
) -> Outcome {
    let done =
        |status: actix_web::http::StatusCode, client: Client| (status.as_u16(), client.id, Some(client));
    match operation {
        ClientOperation::Create { body, allow_duplicate } => {
            let input: ClientInput = from_json_value(body.clone())?;
            let client = create_in(store, principal, scope, workspace, input, *allow_duplicate)?;
            Ok(done(actix_web::http::StatusCode::CREATED, client))
        }
        ClientOperation::Update { id, body, version } => {
            let change: UpdateClient = from_json_value(body.clone())?;
            let current = store.live_for_update(principal, scope, *id)?;
            let if_match = IfMatch::of_version(*version);
            let client = update_in(store, principal, scope, workspace, current, change, &if_match)?;
            Ok(done(actix_web::http::StatusCode::OK, client))
        }
        ClientOperation::Upsert { external_ref, body, allow_duplicate, version } => {
            let reference = ExternalRef::parse(&external_ref.system, &external_ref.id)
                .map_err(|reason| ApiError::invalid_field("external_ref", FieldCode::Format, reason))?;
            let change: UpdateClient = from_json_value(body.clone())?;
            let if_match = IfMatch::of_version(*version);
            let (status, client) = upsert_in(
                store,
                principal,
                scope,
                workspace,
                reference,
                change,
                &if_match,
                *allow_duplicate,
            )?;
            Ok(done(status, client))
        }
        ClientOperation::Delete { id, version } => {
            let conn = store.conn();
            ensure_deletions_allowed(conn, principal, 1)?;
            delete_in(conn, principal, scope, *id, &IfMatch::of_version(*version))?;
            Ok((204, *id, None))
        }
    }
}

/// The batch's answer from its operations' outcomes; `kept` says whether their changes were.
fn answer(outcomes: Vec<Result<Done, ApiError>>, kept: bool) -> BatchResponse {
    let results = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Ok((status, id, client)) if kept => {
                BatchResult { status, id: Some(id), client: client.map(ClientResponse::from), error: None }
            }
            Ok(_) => {
                let problem = Problem::new(
                    actix_web::http::StatusCode::FAILED_DEPENDENCY,
                    ProblemCode::NotApplied,
                    "another operation of this atomic batch failed, so none was kept",
                );
                BatchResult { status: 424, id: None, client: None, error: Some(problem) }
            }
            Err(error) => {
                let problem = error.to_problem();
                BatchResult { status: problem.status, id: None, client: None, error: Some(problem) }
            }
        })
        .collect();
    BatchResponse { applied: kept, results }
}
