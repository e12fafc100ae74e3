//! What the batches of contacts, deals, products and activities share (`POST /{resource}/batch`):
//! up to 1,000 creates, updates, upserts and deletes, each run exactly as its own endpoint would
//! (the same checks, visibility, rules, change event and stats) behind a savepoint of one
//! transaction, and answered in order with that endpoint's status and record or problem. With
//! `atomic`, one failure undoes them all. Client batches have their own runner, which reads ahead
//! and writes together (`api::clients::batch`); their wire shapes are these.

use actix_web::ResponseError;
use actix_web::http::StatusCode;
use diesel::{Connection, PgConnection};

use crate::domain::FieldCode;
use crate::error::{ApiError, Problem, ProblemCode};

/// The most operations a batch takes.
pub const MOST_OPERATIONS: usize = 1_000;

/// Refuses a batch without operations or with more than [`MOST_OPERATIONS`].
pub fn check_size(count: usize) -> Result<(), ApiError> {
    if count == 0 || count > MOST_OPERATIONS {
        return Err(ApiError::invalid_field(
            "operations",
            FieldCode::Length,
            format!("a batch has 1 to {MOST_OPERATIONS} operations"),
        ));
    }
    Ok(())
}

/// What one operation came to: the status its endpoint answers with and what it wrote, or its
/// problem.
pub type Outcome<Done> = Result<(u16, Done), ApiError>;

/// Runs `operations` in one transaction, each behind a savepoint with `run`: their outcomes in
/// order, and whether their changes were kept (not when an `atomic` batch had a failure). A
/// failure of the server or the database fails the whole batch.
pub fn run_in_order<Operation, Done>(
    conn: &mut PgConnection,
    operations: &[Operation],
    atomic: bool,
    mut run: impl FnMut(&mut PgConnection, &Operation) -> Outcome<Done>,
) -> Result<(Vec<Outcome<Done>>, bool), ApiError> {
    let mut outcomes = Vec::with_capacity(operations.len());
    let ran = conn.transaction(|conn| {
        for operation in operations {
            match conn.transaction(|conn| run(conn, operation)) {
                Err(error) if error.status_code().is_server_error() => return Err(Undo::Error(error)),
                outcome => outcomes.push(outcome),
            }
        }
        if atomic && outcomes.iter().any(Result::is_err) { Err(Undo::Failed) } else { Ok(()) }
    });
    match ran {
        Ok(()) => Ok((outcomes, true)),
        Err(Undo::Failed) => Ok((outcomes, false)),
        Err(Undo::Error(error)) => Err(error),
    }
}

/// Why a batch's transaction ends without keeping its changes.
enum Undo {
    /// An atomic batch with a failed operation.
    Failed,
    /// A failure of the server or the database: the whole request fails with it.
    Error(ApiError),
}

impl From<diesel::result::Error> for Undo {
    fn from(error: diesel::result::Error) -> Self {
        Undo::Error(error.into())
    }
}

/// One operation's answer from its outcome, `kept` or not: `succeeded` with its status and what
/// it wrote, else `failed` with its problem (424 `not_applied` for one that succeeded in an atomic
/// batch that didn't).
pub fn answer<Done, Answer>(
    outcome: Outcome<Done>,
    kept: bool,
    succeeded: impl FnOnce(u16, Done) -> Answer,
    failed: impl FnOnce(Problem) -> Answer,
) -> Answer {
    match outcome {
        Ok((status, done)) if kept => succeeded(status, done),
        Ok(_) => failed(Problem::new(
            StatusCode::FAILED_DEPENDENCY,
            ProblemCode::NotApplied,
            "another operation of this atomic batch failed, so none was kept",
        )),
        Err(error) => failed(error.to_problem()),
    }
}

/// The wire shapes of one resource's batch: the request (`$batch` of `$operation`s) and the
/// answer (`$response` of `$result`s, each with the record under `$field`). A resource whose
/// records are deleted names its `Delete` operation.
macro_rules! batch_shapes {
    (
        $batch:ident, $operation:ident, $result:ident, $response:ident,
        id: $id:ty, create: $input:ty, change: $change:ty, $field:ident: $record:ty,
        example: $example:tt
        $(, $delete:ident)?
    ) => {
        #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        #[schema(example = json!($example))]
        pub struct $batch {
            /// All or nothing: when any operation fails, none is kept (`applied: false`), and those
            /// that would have succeeded answer 424 `not_applied`. Otherwise each operation stands
            /// alone.
            #[serde(default)]
            pub atomic: bool,
            /// 1 to 1,000 operations, run in order.
            #[schema(min_items = 1, max_items = 1000)]
            pub operations: Vec<$operation>,
        }

        /// One operation of a batch, named by `op`: what the resource's own endpoint does.
        #[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
        #[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
        pub enum $operation {
            /// Creates a record, as the resource's `POST` does.
            Create {
                #[schema(value_type = $input)]
                body: serde_json::Value,
                /// As `?allow_duplicate=true`, for records with a duplicates rule (contacts).
                #[serde(default)]
                allow_duplicate: bool,
            },
            /// Changes a record, as the resource's `PATCH /{id}` does.
            Update {
                id: $id,
                #[schema(value_type = $change)]
                body: serde_json::Value,
                /// The version last read, as `If-Match` states it: a stale one fails with 412.
                version: Option<i32>,
            },
            /// Creates or updates the record another system knows by `external_ref`, as the
            /// resource's `PUT /by-ref/{system}/{id}` does.
            Upsert {
                external_ref: $crate::domain::external_ref::ExternalRef,
                #[schema(value_type = $change)]
                body: serde_json::Value,
                #[serde(default)]
                allow_duplicate: bool,
                version: Option<i32>,
            },
            $(
                /// Deletes a record (soft), as the resource's `DELETE /{id}` does.
                $delete { id: $id, version: Option<i32> },
            )?
        }

        /// The answer to a batch: one result per operation, in order.
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $response {
            /// Whether the changes were kept: always for a batch that isn't atomic (those of the
            /// operations that succeeded), and for an atomic one only when every operation
            /// succeeded.
            pub applied: bool,
            pub results: Vec<$result>,
        }

        /// What one operation came to: what its own endpoint would have answered.
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $result {
            /// 200 updated (or already as asked), 201 created, 204 deleted; or the failure's
            /// status, and 424 for an operation of a failed atomic batch that would have succeeded.
            pub status: u16,
            /// The record the operation wrote, when it succeeded.
            pub id: Option<$id>,
            /// The record as the operation left it; null for a delete and a failure.
            pub $field: Option<$record>,
            /// Why the operation failed, as its own endpoint's problem document; null when it
            /// succeeded.
            pub error: Option<$crate::error::Problem>,
        }

        impl $response {
            fn of<Done>(
                outcomes: Vec<$crate::api::batch::Outcome<Done>>,
                applied: bool,
                written: impl Fn(Done) -> ($id, Option<$record>),
            ) -> Self {
                let results = outcomes
                    .into_iter()
                    .map(|outcome| {
                        $crate::api::batch::answer(
                            outcome,
                            applied,
                            |status, done| {
                                let (id, $field) = written(done);
                                $result { status, id: Some(id), $field, error: None }
                            },
                            |problem| $result {
                                status: problem.status,
                                id: None,
                                $field: None,
                                error: Some(problem),
                            },
                        )
                    })
                    .collect();
                Self { applied, results }
            }
        }
    };
}

pub(crate) use batch_shapes;

/// The ref an upsert operation names; a malformed one is the operation's 422.
pub fn operation_ref(
    reference: &crate::domain::external_ref::ExternalRef,
) -> Result<crate::domain::external_ref::ExternalRef, ApiError> {
    crate::domain::external_ref::ExternalRef::parse(&reference.system, &reference.id)
        .map_err(|reason| ApiError::invalid_field("external_ref", FieldCode::Format, reason))
}
