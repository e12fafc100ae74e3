//! Writing a chunk of an import's rows, each as the batch of its records writes an operation
//! (`POST /clients/batch` and the like): a row with a ref upserts by it, any other creates. The
//! duplicates policy decides what a row like a stored record does: `skip` leaves it out, `create`
//! makes it anyway (where the records allow a second one), and `update` writes the row's values into
//! the record it duplicates, which keeps its refs and adds the row's.

use diesel::PgConnection;
use serde_json::{Value, json};

use super::resolve::{Resolved, resolve_clients, resolve_stages};
use crate::api::batch::Outcome;
use crate::api::clients::batch::ClientOperation;
use crate::api::contacts::batch::ContactOperation;
use crate::api::deals::batch::DealOperation;
use crate::api::products::ProductOperation;
use crate::auth::Principal;
use crate::db::models::import::Import;
use crate::db::models::{Client, Contact, Product, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::external_ref::ExternalRef;
use crate::domain::import::Sheet;
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ClientId, ContactId, DealId, ProductId};

/// What became of one row: the status its write answered, or its problem.
pub(super) type RowOutcome = Result<u16, ApiError>;

/// A row as the file gives it: the body of its record, and the ref to upsert by if it has one.
pub(super) type Row = (Value, Option<ExternalRef>);

/// Whether a row was refused as a duplicate: a client or contact like one the workspace has, or
/// a product with another's SKU.
pub(super) fn is_duplicate(error: &ApiError) -> bool {
    matches!(error, ApiError::Duplicate { .. } | ApiError::Conflict { code: ProblemCode::SkuTaken, .. })
}

/// Writes the rows of a chunk of `import`'s file; each one's outcome, in order.
pub(super) fn write(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    import: &Import,
    rows: Vec<Row>,
) -> Result<Vec<RowOutcome>, ApiError> {
    // A duplicate client or contact is the one its 409 names.
    let named_by_conflict = |error: &ApiError| match error {
        ApiError::Duplicate { conflicting_id, .. } => Some(*conflicting_id),
        _ => None,
    };
    match Sheet::of(&import.entity) {
        Sheet::Clients => {
            let run = |conn: &mut PgConnection, operations: &[ClientOperation]| {
                crate::api::clients::batch::run_operations(conn, principal, scope, workspace, operations)
            };
            let duplicate_of = |conn: &mut PgConnection, error: &ApiError, _: &Value| {
                let Some(id) = named_by_conflict(error).map(ClientId) else { return Ok(None) };
                let held =
                    Client::find(conn, scope, id).map(|client| client.external_refs.0).unwrap_or_default();
                Ok(Some((id, held)))
            };
            // The stored client keeps its kind: a row of the other kind is refused as a change of it.
            write_rows(conn, import, rows, &["kind"], run, duplicate_of)
        }
        Sheet::Contacts => {
            let rows = resolve_clients(conn, scope, rows)?;
            rows.write(|rows| {
                let run = |conn: &mut PgConnection, operations: &[ContactOperation]| {
                    crate::api::contacts::batch::run_operations(conn, principal, scope, workspace, operations)
                };
                let duplicate_of = |conn: &mut PgConnection, error: &ApiError, _: &Value| {
                    let Some(id) = named_by_conflict(error).map(ContactId) else { return Ok(None) };
                    let held = Contact::find(conn, scope, id)
                        .map(|contact| contact.external_refs.0)
                        .unwrap_or_default();
                    Ok(Some((id, held)))
                };
                // The stored contact stays with its client: a duplicate found at another client is
                // not moved by a row that may name its client loosely (by name).
                write_rows(conn, import, rows, &["client_id", "client_ref"], run, duplicate_of)
            })
        }
        Sheet::Deals => {
            let rows = resolve_clients(conn, scope, rows)?;
            let rows = resolve_stages(conn, workspace, rows)?;
            rows.write(|rows| {
                let run = |conn: &mut PgConnection, operations: &[DealOperation]| {
                    crate::api::deals::batch::run_operations(conn, principal, scope, workspace, operations)
                };
                // Deals have no duplicates: a row is matched to a stored deal only by its ref.
                write_rows(conn, import, rows, &[], run, |_, _, _| Ok(None))
            })
        }
        Sheet::Products => {
            let run = |conn: &mut PgConnection, operations: &[ProductOperation]| {
                crate::api::products::run_operations(conn, principal, operations)
            };
            // A product's duplicate is the one with its SKU.
            let duplicate_of = |conn: &mut PgConnection, error: &ApiError, body: &Value| {
                if !is_duplicate(error) {
                    return Ok(None);
                }
                let sku = body.get("sku").and_then(Value::as_str).unwrap_or_default();
                let holder = Product::find_by_sku(conn, principal.workspace_id, sku)?;
                Ok(holder.map(|product| (product.id, product.external_refs.0)))
            };
            write_rows(conn, import, rows, &[], run, duplicate_of)
        }
    }
}

/// Writes `rows` as operations with `run`. Under the `update` policy, a row refused as a duplicate
/// then updates the record `duplicate_of` finds for it (with the refs that record holds), without
/// the fields named in `kept`.
fn write_rows<Operation: RowOperation, Done>(
    conn: &mut PgConnection,
    import: &Import,
    rows: Vec<Row>,
    kept: &[&str],
    mut run: impl FnMut(&mut PgConnection, &[Operation]) -> Result<Vec<Outcome<Done>>, ApiError>,
    mut duplicate_of: impl FnMut(
        &mut PgConnection,
        &ApiError,
        &Value,
    ) -> Result<Option<(Operation::Id, Vec<ExternalRef>)>, ApiError>,
) -> Result<Vec<RowOutcome>, ApiError> {
    let allow_duplicate = import.duplicates == "create";
    let operations: Vec<Operation> =
        rows.into_iter().map(|row| Operation::of_row(row, allow_duplicate)).collect();
    let mut outcomes = run(conn, &operations)?;
    if import.duplicates == "update" {
        let (mut updates, mut at) = (Vec::new(), Vec::new());
        for (index, (outcome, operation)) in outcomes.iter().zip(&operations).enumerate() {
            let (Err(error), Some(body)) = (outcome, operation.row_body()) else { continue };
            let Some((id, held)) = duplicate_of(conn, error, body)? else { continue };
            updates.push(Operation::update(id, update_of_duplicate(body, &held, kept)));
            at.push(index);
        }
        for (index, outcome) in at.into_iter().zip(run(conn, &updates)?) {
            outcomes[index] = outcome;
        }
    }
    Ok(outcomes.into_iter().map(|outcome| outcome.map(|(status, _)| status)).collect())
}

/// A row's body as an update of the stored record it duplicates, which holds `held` refs: without
/// the fields named in `kept` (which the stored record keeps), and with its refs added to `held`.
fn update_of_duplicate(body: &Value, held: &[ExternalRef], kept: &[&str]) -> Value {
    let mut body = body.clone();
    if let Some(fields) = body.as_object_mut() {
        for field in kept {
            fields.remove(*field);
        }
        if let Some(Value::Array(refs)) = fields.remove("external_refs") {
            let mut all: Vec<Value> = held.iter().map(|reference| json!(reference)).collect();
            all.extend(refs.into_iter().filter(|reference| !all.contains(reference)).collect::<Vec<_>>());
            fields.insert("external_refs".to_string(), Value::Array(all));
        }
    }
    body
}

/// A batch operation an import's row becomes.
trait RowOperation: Sized {
    type Id;
    /// An upsert by the row's ref, or a create without one.
    fn of_row(row: Row, allow_duplicate: bool) -> Self;
    /// An update of record `id` with `body`.
    fn update(id: Self::Id, body: Value) -> Self;
    /// The body of a create or upsert.
    fn row_body(&self) -> Option<&Value>;
}

macro_rules! row_operation {
    ($($operation:ident: $id:ident),*) => {$(
        impl RowOperation for $operation {
            type Id = $id;

            fn of_row((body, reference): Row, allow_duplicate: bool) -> Self {
                match reference {
                    Some(external_ref) => $operation::Upsert { external_ref, body, allow_duplicate, version: None },
                    None => $operation::Create { body, allow_duplicate },
                }
            }

            fn update(id: $id, body: Value) -> Self {
                $operation::Update { id, body, version: None }
            }

            fn row_body(&self) -> Option<&Value> {
                match self {
                    $operation::Create { body, .. } | $operation::Upsert { body, .. } => Some(body),
                    _ => None,
                }
            }
        }
    )*};
}

row_operation!(ClientOperation: ClientId, ContactOperation: ContactId, DealOperation: DealId, ProductOperation: ProductId);

impl Resolved {
    /// Writes the rows that resolved with `write_rows`, and answers each refused one with its
    /// problem, in the file's order.
    fn write(
        self,
        write_rows: impl FnOnce(Vec<Row>) -> Result<Vec<RowOutcome>, ApiError>,
    ) -> Result<Vec<RowOutcome>, ApiError> {
        let mut refused = Vec::new();
        let mut rows = Vec::new();
        for row in self.0 {
            match row {
                Ok(row) => {
                    refused.push(None);
                    rows.push(row);
                }
                Err(error) => refused.push(Some(error)),
            }
        }
        let mut written = write_rows(rows)?.into_iter();
        Ok(refused
            .into_iter()
            .map(|refusal| match refusal {
                Some(error) => Err(error),
                None => written.next().unwrap_or_else(|| Err(ApiError::internal("a row went unanswered"))),
            })
            .collect())
    }
}
