//! `ApiError` and its one mapping to RFC 9457 `application/problem+json`, for our own errors and
//! for actix's extractor errors, unknown routes and anything else that would leave the server
//! without a problem body.

use std::borrow::Cow;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;
use utoipa::ToSchema;

mod code;
mod conflicts;

pub use code::ProblemCode;
pub use conflicts::{conflicts_of, taken, unique_key_broken};

use crate::domain::FieldCode;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An RFC 9457 problem document. `code` is the stable machine-readable name of the problem; `type`
/// is the same name as a URI.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:crm:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "1 field is not valid",
    "code": "validation_failed",
    "errors": [{"field": "email", "code": "email", "message": "must be a valid email address"}]
}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:crm:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a human.
    pub detail: String,
    /// The stable machine-readable problem code, e.g. `not_found`, `validation_failed`.
    pub code: ProblemCode,
    /// Every failing field, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// The record's current version, for `version_mismatch` (412).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i32>,
    /// The existing record this one would duplicate, for `duplicate` (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflicting_id: Option<uuid::Uuid>,
    /// How many records stand in the way, for `records_in_the_way` (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_count: Option<i64>,
    /// Who owns the record this one would duplicate, for `duplicate_elsewhere` (409): the caller
    /// doesn't see it, and may ask them. Absent when nobody owns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
    /// The workspaces to choose from, for `workspace_required` at login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<WorkspaceChoice>>,
    /// The client that took the place of this merged one, for a `not_found` client (404).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<uuid::Uuid>,
}

/// One failing field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's path in the request, e.g. `email`, `address.city`, `phones[1].value`.
    pub field: String,
    /// The rule it broke, e.g. `required`, `email`, `length`, `unknown_field`.
    pub code: FieldCode,
    /// What is wrong, for a human.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldCode, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

/// A workspace a login may pick, listed only to someone who gave a valid password for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkspaceChoice {
    pub id: uuid::Uuid,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: ProblemCode, detail: String },
    #[error("{} field(s) are not valid", .0.len())]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(Cow<'static, str>),
    #[error("{0}")]
    Forbidden(Cow<'static, str>),
    /// An API key's request for an operation its scopes don't cover.
    #[error("this API key lacks the `{needed}` scope")]
    InsufficientScope { needed: String },
    #[error("no such resource")]
    NotFound,
    /// A client merged into another: gone, with the one that took its place.
    #[error("this {entity} was merged into {entity} {merged_into}")]
    MergedAway { entity: &'static str, merged_into: uuid::Uuid },
    #[error("this resource answers only {allowed}")]
    MethodNotAllowed { allowed: String },
    #[error("{detail}")]
    Conflict { code: ProblemCode, detail: String, workspaces: Option<Vec<WorkspaceChoice>> },
    #[error("{detail}")]
    Duplicate { detail: String, conflicting_id: uuid::Uuid },
    /// A duplicate of a record the caller doesn't see: named by its owner alone.
    #[error("{detail}")]
    DuplicateElsewhere { detail: String, owner_name: Option<String> },
    /// A change that stored records would break; `count` says how many.
    #[error("{detail}")]
    RecordsInTheWay { detail: String, count: i64 },
    /// A key of a stored answer sent with a different request.
    #[error("this Idempotency-Key was used for a different request within the last 24 hours: use a new key")]
    IdempotencyKeyReused,
    #[error("the record has changed since it was read: its current version is {current_version}")]
    VersionMismatch { current_version: i32 },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many failed logins for the account or from the address: wait `retry_after`.
    #[error("too many failed logins: try again in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: std::time::Duration },
    /// The caller deleted as many clients as an hour allows: wait `retry_after`.
    #[error("you deleted {limit} clients within the hour, the most anyone but the owner may: try again in {} s", retry_after.as_secs().max(1))]
    TooManyDeletions { limit: i32, retry_after: std::time::Duration },
    /// The caller read as many distinct clients today as their budget allows: wait `retry_after`
    /// (the next day in the workspace's time zone).
    #[error("you read {budget} clients today, the most your role may in a day: try again in {} s", retry_after.as_secs().max(1))]
    ReadBudgetExceeded { budget: i32, retry_after: std::time::Duration },
    /// The caller made as many requests as their rate limit allows in its window.
    #[error("you made {limit} requests within a minute, the most your rate limit allows: try again in {} s", retry_after.as_secs().max(1))]
    RateLimited { limit: u32, retry_after: std::time::Duration },
    /// The database can't be reached, or no connection came free in time. The reason is logged,
    /// never sent: it names sockets, hosts and driver states.
    #[error("the database is unavailable: retry in a moment")]
    DatabaseUnavailable(String),
    /// A transient conflict with other transactions, to retry; the message is safe to send.
    #[error("{0}")]
    Unavailable(String),
    /// Logged in full; the client sees a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

/// A wait as `Retry-After` (and `RateLimit-Reset`) state it: whole seconds, rounded up, at least
/// one, so that a client that waits exactly that long is let in.
pub fn seconds_to_wait(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// How long a client should wait before retrying a 503, in seconds: the pool waits 5 s for a
/// connection, and a restarted database answers within a few.
const RETRY_AFTER_SECONDS: &str = "2";

impl ApiError {
    pub fn bad_request(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::BadRequest { code, detail: detail.into() }
    }

    pub fn conflict(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::Conflict { code, detail: detail.into(), workspaces: None }
    }

    pub fn invalid_field(field: &str, code: FieldCode, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    fn code(&self) -> ProblemCode {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => *code,
            Self::Validation(_) => ProblemCode::ValidationFailed,
            Self::Unauthorized(_) => ProblemCode::Unauthorized,
            Self::Forbidden(_) => ProblemCode::Forbidden,
            Self::InsufficientScope { .. } => ProblemCode::InsufficientScope,
            Self::NotFound | Self::MergedAway { .. } => ProblemCode::NotFound,
            Self::MethodNotAllowed { .. } => ProblemCode::MethodNotAllowed,
            Self::VersionMismatch { .. } => ProblemCode::VersionMismatch,
            Self::IdempotencyKeyReused => ProblemCode::IdempotencyKeyReused,
            Self::Duplicate { .. } => ProblemCode::Duplicate,
            Self::DuplicateElsewhere { .. } => ProblemCode::DuplicateElsewhere,
            Self::RecordsInTheWay { .. } => ProblemCode::RecordsInTheWay,
            Self::PayloadTooLarge { .. } => ProblemCode::PayloadTooLarge,
            Self::UnsupportedMediaType(_) => ProblemCode::UnsupportedMediaType,
            Self::TooManyAttempts { .. } => ProblemCode::TooManyAttempts,
            Self::TooManyDeletions { .. } => ProblemCode::TooManyDeletions,
            Self::ReadBudgetExceeded { .. } => ProblemCode::ReadBudgetExceeded,
            Self::RateLimited { .. } => ProblemCode::RateLimited,
            Self::DatabaseUnavailable(_) => ProblemCode::DatabaseUnavailable,
            Self::Unavailable(_) => ProblemCode::ServiceUnavailable,
            Self::Internal(_) => ProblemCode::InternalError,
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status_code();
        let detail = match self {
            Self::Internal(_) => "the server failed to handle this request; it has been logged".to_string(),
            Self::Validation(errors) if errors.len() == 1 => {
                format!("1 field is not valid: {}", errors[0].field)
            }
            Self::Validation(errors) => format!("{} fields are not valid", errors.len()),
            other => other.to_string(),
        };
        let mut problem = Problem::new(status, self.code(), detail);
        match self {
            Self::Validation(errors) => problem.errors = errors.clone(),
            Self::VersionMismatch { current_version } => problem.current_version = Some(*current_version),
            Self::Conflict { workspaces, .. } => problem.workspaces = workspaces.clone(),
            Self::Duplicate { conflicting_id, .. } => problem.conflicting_id = Some(*conflicting_id),
            Self::DuplicateElsewhere { owner_name, .. } => problem.owner_name = owner_name.clone(),
            Self::RecordsInTheWay { count, .. } => problem.record_count = Some(*count),
            Self::MergedAway { merged_into, .. } => problem.merged_into = Some(*merged_into),
            _ => {}
        }
        problem
    }
}

impl Problem {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<String>) -> Self {
        // A bare status from outside our handlers (`for_status`) may be any 4xx or 5xx.
        debug_assert!(
            code.status() == status.as_u16()
                || code == ProblemCode::BadRequest
                || (code == ProblemCode::InternalError && status.is_server_error()),
            "{code} is sent with {status}, the document lists it under {}",
            code.status()
        );
        Self {
            problem_type: format!("urn:crm:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
            current_version: None,
            conflicting_id: None,
            owner_name: None,
            record_count: None,
            workspaces: None,
            merged_into: None,
        }
    }

    /// The problem for a bare status, when something other than our handlers produced it.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::NOT_FOUND => (ProblemCode::NotFound, "no such resource"),
            StatusCode::METHOD_NOT_ALLOWED => {
                (ProblemCode::MethodNotAllowed, "this method is not allowed on this resource")
            }
            StatusCode::PAYLOAD_TOO_LARGE => (ProblemCode::PayloadTooLarge, "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (ProblemCode::UnsupportedMediaType, "send the body as application/json")
            }
            StatusCode::UNAUTHORIZED => (ProblemCode::Unauthorized, "authentication is required"),
            StatusCode::FORBIDDEN => (ProblemCode::Forbidden, "not allowed"),
            status if status.is_server_error() => {
                (ProblemCode::InternalError, "the server failed to handle this request")
            }
            _ => (ProblemCode::BadRequest, "the request could not be understood"),
        };
        Self::new(status, code, detail)
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status).content_type(PROBLEM_CONTENT_TYPE).json(self)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::NotFound | Self::MergedAway { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. }
            | Self::Duplicate { .. }
            | Self::DuplicateElsewhere { .. }
            | Self::RecordsInTheWay { .. } => StatusCode::CONFLICT,
            Self::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyAttempts { .. }
            | Self::TooManyDeletions { .. }
            | Self::ReadBudgetExceeded { .. }
            | Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::DatabaseUnavailable(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(message) => log::error!("{message}"),
            Self::DatabaseUnavailable(message) | Self::Unavailable(message) => log::warn!("{message}"),
            _ => {}
        }
        let mut response = self.to_problem().into_response();
        // For the middleware that checks a conflict's code against the operation's documentation.
        response.extensions_mut().insert(self.code());
        match self {
            Self::Unauthorized(_) => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allowed } => {
                if let Ok(value) = HeaderValue::from_str(allowed) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
            }
            Self::DatabaseUnavailable(_) | Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            }
            Self::TooManyAttempts { retry_after }
            | Self::TooManyDeletions { retry_after, .. }
            | Self::ReadBudgetExceeded { retry_after, .. }
            | Self::RateLimited { retry_after, .. } => {
                let seconds = seconds_to_wait(*retry_after);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                log::debug!("unique violation: {}", info.message());
                conflicts::unique_key_broken(info.constraint_name())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, info) => {
                log::debug!("foreign key violation: {}", info.message());
                Self::bad_request(ProblemCode::InvalidReference, "a referenced record does not exist")
            }
            // The edge refuses NUL characters; this is the net under it.
            DieselError::DatabaseError(_, info) if info.message().contains("invalid byte sequence") => {
                Self::bad_request(
                    ProblemCode::InvalidText,
                    "text may not contain NUL characters or invalid UTF-8",
                )
            }
            // The connection died under the query (the server restarted, or ended the session):
            // the pool drops it (`db::Manager`), and the client may retry at once.
            DieselError::DatabaseError(
                kind @ (DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand),
                info,
            ) => {
                crate::db::connection_lost();
                Self::DatabaseUnavailable(format!(
                    "the database connection is gone ({kind:?}): {}",
                    info.message()
                ))
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                Self::Unavailable("the database could not serialise this request; retry it".to_string())
            }
            other => Self::Internal(format!("database error: {other}")),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::DatabaseUnavailable(format!("no database connection available: {error}"))
    }
}

impl From<crate::db::RunError> for ApiError {
    fn from(error: crate::db::RunError) -> Self {
        match error {
            crate::db::RunError::NoConnection(error) => error.into(),
            crate::db::RunError::Down => Self::DatabaseUnavailable(error.to_string()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(error: actix_web::error::BlockingError) -> Self {
        Self::Internal(format!("blocking task failed: {error}"))
    }
}

/// A broken domain rule as the field it names.
impl From<crate::domain::Violation> for FieldError {
    fn from(violation: crate::domain::Violation) -> Self {
        FieldError::new(violation.field, violation.code, violation.message)
    }
}

impl From<crate::domain::Violation> for ApiError {
    fn from(violation: crate::domain::Violation) -> Self {
        Self::Validation(vec![violation.into()])
    }
}

impl From<Vec<crate::domain::Violation>> for ApiError {
    fn from(violations: Vec<crate::domain::Violation>) -> Self {
        Self::Validation(violations.into_iter().map(FieldError::from).collect())
    }
}

/// `validator`'s findings for `value`, as fields; empty when it is valid.
pub fn field_errors(value: &impl validator::Validate) -> Vec<FieldError> {
    let mut fields = Vec::new();
    if let Err(errors) = value.validate() {
        flatten_validation_errors(&errors, "", &mut fields);
    }
    fields
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut fields = Vec::new();
        flatten_validation_errors(&errors, "", &mut fields);
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        Self::Validation(fields)
    }
}

fn flatten_validation_errors(errors: &validator::ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            ValidationErrorsKind::Field(field_errors) => {
                out.extend(field_errors.iter().map(|error| {
                    let message = error
                        .message
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| describe_rule(&error.code, &error.params));
                    FieldError::new(path.clone(), error.code.parse().unwrap_or(FieldCode::Invalid), message)
                }));
            }
            ValidationErrorsKind::Struct(nested) => flatten_validation_errors(nested, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, nested) in items {
                    flatten_validation_errors(nested, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

fn describe_rule(
    code: &str,
    params: &std::collections::HashMap<Cow<'static, str>, serde_json::Value>,
) -> String {
    let bound = |name: &str| params.get(name).map(ToString::to_string);
    match code {
        "email" => "must be a valid email address".to_string(),
        "length" => match (bound("min"), bound("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            (None, None) => "has the wrong length".to_string(),
        },
        "range" => match (bound("min"), bound("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (None, None) => "is out of range".to_string(),
        },
        other => format!("is not valid ({other})"),
    }
}

/// Turns any error response that is not yet problem+json (actix's 404 for an unknown route, 405,
/// errors raised by middleware) into one, keeping its status.
pub fn problem_for_any_error<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(PROBLEM_CONTENT_TYPE));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(response.map_into_left_body()));
    }
    let status = response.status();
    // What the new body does not change: the methods a 405 names, and the CORS headers that let
    // browser code on another origin read the problem.
    let kept: Vec<_> = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            *name == header::ALLOW || *name == header::VARY || name.as_str().starts_with("access-control-")
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let (request, _) = response.into_parts();
    let mut problem_response = Problem::for_status(status).into_response();
    for (name, value) in kept {
        problem_response.headers_mut().append(name, value);
    }
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(request, problem_response).map_into_right_body()))
}

/// actix's own JSON, query string and path errors as problems naming what was wrong.
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request(ProblemCode::InvalidQuery, format!("the query string is not valid: {error}")).into()
}

pub fn path_error(error: actix_web::error::PathError, request: &actix_web::HttpRequest) -> actix_web::Error {
    // `PATCH /clients/deleted` reaches `PATCH /clients/{id}` and fails on the id; the truth is
    // that /clients/deleted has no PATCH.
    if let Some(routes) =
        request.app_data::<actix_web::web::Data<crate::documented_routes::DocumentedRoutes>>()
        && let Some(methods) = routes.allowed_methods(request.path())
        && !methods.split(", ").any(|method| method == request.method().as_str())
    {
        return ApiError::MethodNotAllowed { allowed: methods.to_string() }.into();
    }
    let detail = match error {
        actix_web::error::PathError::Deserialize(error) => format!("the path is not valid: {error}"),
        other => format!("the path is not valid: {other}"),
    };
    ApiError::bad_request(ProblemCode::InvalidPath, detail).into()
}

pub fn json_error(error: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge { limit }.into()
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("send the body as application/json".to_string()).into()
        }
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::invalid_field("body", FieldCode::Invalid, error.to_string()).into()
        }
        JsonPayloadError::Deserialize(error) => {
            ApiError::bad_request(ProblemCode::MalformedJson, format!("the body is not valid JSON: {error}"))
                .into()
        }
        other => ApiError::bad_request(ProblemCode::MalformedBody, other.to_string()).into(),
    }
}
