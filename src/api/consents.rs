//! The consent ledger: each client's and contact person's grants and withdrawals of consent, per
//! purpose, as they were given (`domain::consent`); and the signed unsubscribe link a mailing
//! carries, through which the person withdraws without logging in. Every record rewrites the
//! subject's current `consents` as a new version of it, with a `consent_recorded` change event.

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::extract::{ValidatedJson, etag};
use crate::api::soft_delete::live_for_update;
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::consent_record::{self, ConsentFacts, ConsentRecord, ConsentSubject};
use crate::db::models::{Client, Contact, NewChangeEvent, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::consent::{self, ConsentState, CurrentConsents};
use crate::domain::text::non_blank;
use crate::error::ApiError;
use crate::ids::{ClientId, ContactId, UserId, WorkspaceId};
use crate::middleware::RequestId;
use crate::state::AppState;

/// A grant or withdrawal of consent to one purpose, as the person gave it.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "purpose": "marketing_email", "state": "granted", "occurred_at": "2026-03-01T10:00:00Z",
    "channel": "website", "wording_version": "newsletter-2026-01"
}))]
pub struct ConsentInput {
    /// A built-in purpose (`marketing_email`, `marketing_sms`, `calls`, `profiling`) or one of the
    /// workspace's `consent_purposes`.
    #[schema(value_type = crate::api::schemas::PurposeKey)]
    pub purpose: String,
    pub state: ConsentState,
    /// When the person granted or withdrew it (now when left out); not in the future.
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    /// How they did: `website`, `paper_form`, `email`, `phone`, `in_person`, …
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "website", min_length = 1, max_length = 100)]
    pub channel: String,
    /// The version of the wording they agreed to or withdrew from.
    #[serde(default)]
    #[validate(length(min = 1, max = 100))]
    #[schema(example = "newsletter-2026-01", min_length = 1, max_length = 100)]
    pub wording_version: Option<String>,
}

/// One record of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentRecordResponse {
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// Whose consent: the client's own (`contact_id` null), or a contact person's (`client_id` null).
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ContactId>,
    #[schema(example = "marketing_email")]
    pub purpose: String,
    pub state: ConsentState,
    pub occurred_at: DateTime<Utc>,
    #[schema(example = "website")]
    pub channel: String,
    pub wording_version: Option<String>,
    /// The user who recorded it; null when the person withdrew through an unsubscribe link.
    pub recorded_by: Option<UserId>,
    pub recorded_at: DateTime<Utc>,
}

impl From<ConsentRecord> for ConsentRecordResponse {
    fn from(record: ConsentRecord) -> Self {
        Self {
            id: record.id,
            client_id: record.client_id,
            contact_id: record.contact_id,
            purpose: record.purpose,
            state: record.state.parse().unwrap_or(ConsentState::Withdrawn),
            occurred_at: record.occurred_at,
            channel: record.channel,
            wording_version: record.wording_version,
            recorded_by: record.recorded_by,
            recorded_at: record.recorded_at,
        }
    }
}

/// A client's or contact's consent: the current state of each purpose, and every record behind it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentLedger {
    /// The latest record of each purpose, by when it happened; a purpose never recorded is absent.
    pub consents: CurrentConsents,
    /// Every record, in the order they happened.
    pub records: Vec<ConsentRecordResponse>,
}

/// Which purpose an unsubscribe link withdraws.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeLinkQuery {
    /// A built-in purpose or one of the workspace's `consent_purposes`; `marketing_email`, what
    /// mailings need, when omitted.
    #[param(value_type = Option<crate::api::schemas::PurposeKey>)]
    pub purpose: Option<String>,
}

impl UnsubscribeLinkQuery {
    fn purpose(self) -> String {
        self.purpose.unwrap_or_else(|| "marketing_email".to_string())
    }
}

/// A link for a mailing that lets its reader withdraw their consent without logging in.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnsubscribeLink {
    /// The signed token; it doesn't expire, and works as long as the server's `CRM_JWT_SECRET` is the same.
    pub token: String,
    /// Where it is sent: `GET` (a link clicked) or `POST` (RFC 8058 one-click, `List-Unsubscribe-Post`).
    #[schema(
        example = "/api/v1/unsubscribe/eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJ3cyI6Ii4uLiJ9.c2lnbmF0dXJl"
    )]
    pub path: String,
}

/// What an unsubscribe link did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Unsubscribed {
    #[schema(example = "marketing_email")]
    pub purpose: String,
    pub state: ConsentState,
    /// When consent was withdrawn: now, or earlier if it already was.
    pub occurred_at: DateTime<Utc>,
}

/// Record a client's consent.
///
/// Adds a grant or withdrawal of consent to one purpose to the client's ledger, and brings the client's `consents` up
/// to date: a new version of the client, with a `client.consent_recorded` change. A record dated before the latest one
/// of its purpose is kept in the history without changing the current state. Needs the right to change the client.
#[utoipa::path(
    tag = "clients",
    operation_id = "record_client_consent",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    request_body = ConsentInput,
    responses((status = 201, description = "Recorded", body = ConsentRecordResponse,
        headers(("ETag" = String, description = "The client's new version"))))
)]
#[post("/clients/{id}/consents")]
pub async fn record_client_consent(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    body: ValidatedJson<ConsentInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    record(state, principal, body.0, move |conn, principal, scope| {
        live_for_update::<Client>(conn, principal, scope, id)?;
        Ok(ConsentSubject::Client(id))
    })
    .await
}

/// Record a contact person's consent.
///
/// As for a client: the contact's `consents` are brought up to date, with a `contact.consent_recorded` change.
#[utoipa::path(
    tag = "contacts",
    operation_id = "record_contact_consent",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The contact's id")),
    request_body = ConsentInput,
    responses((status = 201, description = "Recorded", body = ConsentRecordResponse,
        headers(("ETag" = String, description = "The contact's new version"))))
)]
#[post("/contacts/{id}/consents")]
pub async fn record_contact_consent(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
    body: ValidatedJson<ConsentInput>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    record(state, principal, body.0, move |conn, principal, scope| {
        live_for_update::<Contact>(conn, principal, scope, id)?;
        Ok(ConsentSubject::Contact(id))
    })
    .await
}

/// A client's consent ledger.
///
/// The current state of each purpose and every record behind it, oldest first. Whoever sees the client sees it.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client_consents",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    responses((status = 200, description = "The ledger", body = ConsentLedger))
)]
#[get("/clients/{id}/consents")]
pub async fn get_client_consents(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
) -> Result<web::Json<ConsentLedger>, ApiError> {
    let id = id.into_inner();
    ledger(state, principal, move |conn, scope| {
        let client = Client::find(conn, scope, id).optional()?.ok_or(ApiError::NotFound)?;
        Ok((ConsentSubject::Client(id), client.consents.0))
    })
    .await
}

/// A contact person's consent ledger.
///
/// As for a client: whoever sees the contact sees it.
#[utoipa::path(
    tag = "contacts",
    operation_id = "get_contact_consents",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The contact's id")),
    responses((status = 200, description = "The ledger", body = ConsentLedger))
)]
#[get("/contacts/{id}/consents")]
pub async fn get_contact_consents(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
) -> Result<web::Json<ConsentLedger>, ApiError> {
    let id = id.into_inner();
    ledger(state, principal, move |conn, scope| {
        let contact = Contact::find(conn, scope, id).optional()?.ok_or(ApiError::NotFound)?;
        Ok((ConsentSubject::Contact(id), contact.consents.0))
    })
    .await
}

/// An unsubscribe link for a client.
///
/// A signed link that withdraws the client's consent to `purpose` when opened, without logging in: for a mailing to
/// carry (in its footer and its `List-Unsubscribe` header). Whoever sees the client may ask for one.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client_unsubscribe_link",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), UnsubscribeLinkQuery),
    responses(
        (status = 200, description = "The link", body = UnsubscribeLink),
        (status = 422, description = "`purpose` is not one of the workspace's (`purpose` in `errors`)",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/clients/{id}/consents/unsubscribe-link")]
pub async fn get_client_unsubscribe_link(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<UnsubscribeLinkQuery>,
) -> Result<web::Json<UnsubscribeLink>, ApiError> {
    let id = id.into_inner();
    unsubscribe_link(state, principal, query.into_inner().purpose(), move |conn, scope| {
        Client::find(conn, scope, id).optional()?.ok_or(ApiError::NotFound)?;
        Ok(ConsentSubject::Client(id))
    })
    .await
}

/// An unsubscribe link for a contact person.
///
/// As for a client: a signed link that withdraws the contact's consent to `purpose` when opened, without logging in.
#[utoipa::path(
    tag = "contacts",
    operation_id = "get_contact_unsubscribe_link",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The contact's id"), UnsubscribeLinkQuery),
    responses(
        (status = 200, description = "The link", body = UnsubscribeLink),
        (status = 422, description = "`purpose` is not one of the workspace's (`purpose` in `errors`)",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/contacts/{id}/consents/unsubscribe-link")]
pub async fn get_contact_unsubscribe_link(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
    query: web::Query<UnsubscribeLinkQuery>,
) -> Result<web::Json<UnsubscribeLink>, ApiError> {
    let id = id.into_inner();
    unsubscribe_link(state, principal, query.into_inner().purpose(), move |conn, scope| {
        Contact::find(conn, scope, id).optional()?.ok_or(ApiError::NotFound)?;
        Ok(ConsentSubject::Contact(id))
    })
    .await
}

/// Withdraw consent through an unsubscribe link.
///
/// Needs no login: the token, signed by the server, names whose consent to which purpose. Withdraws it (channel
/// `unsubscribe_link`, recorded by no user) unless it is withdrawn already, and answers the state either way, so
/// opening the link twice changes nothing more. A client merged into another withdraws on the one it was merged into.
#[utoipa::path(
    tag = "consent",
    operation_id = "unsubscribe",
    params(("token" = String, Path, description = "The token of the link")),
    responses(
        (status = 200, description = "Withdrawn", body = Unsubscribed),
        (status = 404, description = "No such link: the token is not one this server signed", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/unsubscribe/{token}")]
pub async fn unsubscribe(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
) -> Result<web::Json<Unsubscribed>, ApiError> {
    withdraw_through_link(state, request, token.into_inner()).await
}

/// Withdraw consent through an unsubscribe link, in one click.
///
/// The same as `GET`, for mail clients' one-click unsubscribe (RFC 8058: `List-Unsubscribe-Post:
/// List-Unsubscribe=One-Click`), which posts to the link; a body, if any, is ignored.
#[utoipa::path(
    tag = "consent",
    operation_id = "unsubscribe_one_click",
    params(("token" = String, Path, description = "The token of the link")),
    responses(
        (status = 200, description = "Withdrawn", body = Unsubscribed),
        (status = 404, description = "No such link: the token is not one this server signed", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/unsubscribe/{token}")]
pub async fn unsubscribe_one_click(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
) -> Result<web::Json<Unsubscribed>, ApiError> {
    withdraw_through_link(state, request, token.into_inner()).await
}

/// Records `input` for the subject `subject_of` finds and locks for the caller.
async fn record(
    state: web::Data<AppState>,
    principal: Principal,
    input: ConsentInput,
    subject_of: impl FnOnce(&mut PgConnection, &Principal, &ClientScope) -> Result<ConsentSubject, ApiError>
    + Send
    + 'static,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    // In the database's precision, so that the answer is what is stored.
    let now = Utc::now().trunc_subsecs(6);
    let occurred_at = input.occurred_at.map_or(now, |at| at.trunc_subsecs(6));
    consent::check_occurred_at(occurred_at, now)?;
    let channel = non_blank("channel", &input.channel)?;
    let wording_version =
        input.wording_version.map(|version| non_blank("wording_version", &version)).transpose()?;
    let (record, version) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            consent::check_purpose(&input.purpose, &workspace.consent_purposes)?;
            let subject = subject_of(conn, &principal, scope)?;
            let facts = ConsentFacts {
                purpose: input.purpose,
                state: input.state.as_str(),
                occurred_at,
                channel,
                wording_version,
            };
            let record = ConsentRecord::new(workspace.id, subject, facts, Some(principal.user_id), now);
            let version = write(conn, &record, subject, principal.request_id.as_deref())?;
            Ok((record, version))
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, etag(version)))
        .json(ConsentRecordResponse::from(record)))
}

/// Adds `record` to the ledger and brings the subject's current consents up to date, with its
/// change event by the record's `recorded_by` (None: the person themselves): the subject's new
/// version.
fn write(
    conn: &mut PgConnection,
    record: &ConsentRecord,
    subject: ConsentSubject,
    request_id: Option<&str>,
) -> Result<i32, ApiError> {
    let workspace = record.workspace_id;
    let before = current(conn, workspace, subject)?;
    record.insert(conn)?;
    let (version, after) = consent_record::refresh_current(conn, workspace, subject, record.recorded_by)?;
    let changes = ChangeSet::default()
        .field("consent_record_id", None, &record.id)
        .field("purpose", None, &record.purpose)
        .field("state", None, &record.state)
        .field("occurred_at", None, &record.occurred_at)
        .field("channel", None, &record.channel)
        .field("consents", Some(&before), &after);
    NewChangeEvent {
        workspace_id: workspace,
        id: uuid::Uuid::now_v7(),
        entity: subject.entity(),
        entity_id: subject.id(),
        action: "consent_recorded",
        version: Some(version),
        actor_id: record.recorded_by,
        request_id,
        changes: changes.into_json(),
    }
    .record(conn)?;
    Ok(version)
}

/// The subject's current consents, deleted or not, with the subject locked until the transaction
/// ends: a client or contact written meanwhile would write back the consents it read.
fn current(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    subject: ConsentSubject,
) -> QueryResult<CurrentConsents> {
    use crate::db::schema::{clients, contacts};
    let consents: crate::db::json::Json<CurrentConsents> = match subject {
        ConsentSubject::Client(id) => {
            clients::table.find((workspace, id)).select(clients::consents).for_update().first(conn)?
        }
        ConsentSubject::Contact(id) => {
            contacts::table.find((workspace, id)).select(contacts::consents).for_update().first(conn)?
        }
    };
    Ok(consents.0)
}

async fn ledger(
    state: web::Data<AppState>,
    principal: Principal,
    find: impl FnOnce(&mut PgConnection, &ClientScope) -> Result<(ConsentSubject, CurrentConsents), ApiError>
    + Send
    + 'static,
) -> Result<web::Json<ConsentLedger>, ApiError> {
    let ledger = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let (subject, consents) = find(conn, scope)?;
            let records = ConsentRecord::of_subject(conn, scope.workspace(), subject)?;
            Ok(ConsentLedger {
                consents,
                records: records.into_iter().map(ConsentRecordResponse::from).collect(),
            })
        })
    })
    .await?;
    Ok(web::Json(ledger))
}

async fn unsubscribe_link(
    state: web::Data<AppState>,
    principal: Principal,
    purpose: String,
    find: impl FnOnce(&mut PgConnection, &ClientScope) -> Result<ConsentSubject, ApiError> + Send + 'static,
) -> Result<web::Json<UnsubscribeLink>, ApiError> {
    let workspace = principal.workspace_id;
    let (subject, purpose) = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let own = Workspace::find(conn, workspace)?.consent_purposes;
        consent::check_purpose(&purpose, &own)?;
        Ok((find(conn, scope)?, purpose))
    })
    .await?;
    let token = state
        .jwt
        .issue_unsubscribe(workspace, subject, &purpose, Utc::now())
        .map_err(|error| ApiError::Internal(format!("signing an unsubscribe link: {error}")))?;
    Ok(web::Json(UnsubscribeLink { path: format!("/api/v1/unsubscribe/{token}"), token }))
}

async fn withdraw_through_link(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: String,
) -> Result<web::Json<Unsubscribed>, ApiError> {
    let claims = state.jwt.verify_unsubscribe(&token).map_err(|_| ApiError::NotFound)?;
    let request_id = request.extensions().get::<RequestId>().map(|id| id.0.clone());
    let unsubscribed = crate::db::run(&state.pool, move |conn| -> Result<_, ApiError> {
        conn.transaction(|conn| {
            let workspace = claims.ws;
            let subject = survivor(conn, workspace, claims.subject)?.ok_or(ApiError::NotFound)?;
            let consents = current(conn, workspace, subject)?;
            if let Some(current) = consents.get(&claims.purpose)
                && current.state == ConsentState::Withdrawn
            {
                return Ok(Unsubscribed {
                    purpose: claims.purpose,
                    state: current.state,
                    occurred_at: current.occurred_at,
                });
            }
            let now = Utc::now().trunc_subsecs(6);
            let facts = ConsentFacts {
                purpose: claims.purpose.clone(),
                state: ConsentState::Withdrawn.as_str(),
                occurred_at: now,
                channel: "unsubscribe_link".to_string(),
                wording_version: None,
            };
            let record = ConsentRecord::new(workspace, subject, facts, None, now);
            write(conn, &record, subject, request_id.as_deref())?;
            Ok(Unsubscribed { purpose: claims.purpose, state: ConsentState::Withdrawn, occurred_at: now })
        })
    })
    .await?;
    Ok(web::Json(unsubscribed))
}

/// The client or contact a link's subject is now: itself, or the record it was merged into (and
/// that one's, should it have been merged too); None when there is no such record.
fn survivor(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    subject: ConsentSubject,
) -> QueryResult<Option<ConsentSubject>> {
    use crate::db::schema::{clients, contacts};
    let mut subject = subject;
    // Merges chain rarely and never in a cycle; the bound only guards against a hand-edited row.
    for _ in 0..16 {
        let merged_into = match subject {
            ConsentSubject::Client(id) => clients::table
                .find((workspace, id))
                .select(clients::merged_into)
                .first::<Option<uuid::Uuid>>(conn)
                .optional()?
                .map(|next| next.map(|next| ConsentSubject::Client(ClientId(next)))),
            ConsentSubject::Contact(id) => contacts::table
                .find((workspace, id))
                .select(contacts::merged_into)
                .first::<Option<uuid::Uuid>>(conn)
                .optional()?
                .map(|next| next.map(|next| ConsentSubject::Contact(ContactId(next)))),
        };
        match merged_into {
            None => return Ok(None),
            Some(None) => return Ok(Some(subject)),
            Some(Some(next)) => subject = next,
        }
    }
    Ok(Some(subject))
}
