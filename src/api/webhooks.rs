//! Webhooks: owners and admins subscribe an endpoint to the workspace's changes, and follow,
//! retry and test its deliveries. How changes become deliveries and go out is `crate::webhooks`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::changes::Change;
use crate::api::changes::ensure_sees_everything;
use crate::api::extract::{IfMatch, Page, PageParams, ValidatedJson, etag, not_null, nullable};
use crate::api::record_change;
use crate::auth::{Caller, Principal, run_seeing};
use crate::db::DbPool;
use crate::db::models::User;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::pipeline::Pipeline;
use crate::db::models::webhook::{Attempt, Delivery, NewDelivery, NewWebhook, Webhook, WebhookChanges};
use crate::domain::FieldCode;
use crate::domain::text::non_blank;
use crate::error::ApiError;
use crate::ids::{DeliveryId, PipelineId, UserId, WebhookId, WorkspaceId};
use crate::state::AppState;
use crate::webhooks::address::{is_public, literal_address, refusal};
use crate::webhooks::events::{TEST_EVENT, check_subscription};
use crate::webhooks::signing::generate_secret;

const MANAGE: &str = "manage webhooks";
/// How long a rotated-out secret keeps signing unless the rotation says otherwise.
const DEFAULT_GRACE: Duration = Duration::hours(24);
const LONGEST_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// What a delivery's body holds: the Standard Webhooks envelope around one change.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "client.updated",
    "timestamp": "2026-12-06T10:15:00Z",
    "data": {
        "id": "0193a8f0-6c1e-7b4e-9d8a-2f1e0c9b8a70",
        "entity": "client",
        "record_id": "0193a8ef-1d2c-7a3b-8c4d-5e6f7a8b9c0d",
        "action": "updated",
        "version": 4,
        "changes": {"phones": {"from": [], "to": [{"value": "+74957654321", "label": "work", "primary": true}]}},
        "actor_id": "0193a8e0-0000-7000-8000-000000000001",
        "request_id": "6f1c2d3e",
        "occurred_at": "2026-12-06T10:15:00Z",
        "record": {
            "id": "0193a8ef-1d2c-7a3b-8c4d-5e6f7a8b9c0d", "kind": "company", "name": "Acme",
            "display_name": "Acme", "legal_name": "Acme LLC", "first_name": null, "middle_name": null,
            "last_name": null, "gender": null, "birth_date": null, "tax_id": "7707083893",
            "registration_number": null, "industry": "Wholesale", "website": null, "source": "website",
            "notes": null, "lifecycle_stage": "customer", "lifecycle_auto": true, "relationship": "customer",
            "owner_id": "0193a8e0-0000-7000-8000-000000000001", "team_id": null, "tags": ["vip"],
            "emails": [], "phones": [{"value": "+74957654321", "label": "work", "primary": true}],
            "address": null, "consent": null, "consents": {}, "custom": {}, "external_refs": []
        }
    }
}))]
pub struct WebhookEvent {
    /// `<entity>.<action>` (`client.created`, `activity.reminder_due`), `deal.won` and `deal.lost` for an update
    /// that closed a deal, or `webhook.test` for a ping.
    #[serde(rename = "type")]
    #[schema(example = "client.updated")]
    pub event_type: String,
    /// When the change was made.
    pub timestamp: DateTime<Utc>,
    /// The change, as `GET /changes` shows it; a ping's is empty.
    pub data: Option<Change>,
}

impl WebhookEvent {
    pub fn of_change(event_type: &str, change: Change) -> Self {
        Self { event_type: event_type.to_string(), timestamp: change.occurred_at, data: Some(change) }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    pub id: WebhookId,
    #[schema(example = "https://shop.example.com/hooks/crm")]
    pub url: String,
    #[schema(example = "Orders to the e-shop")]
    pub description: String,
    #[schema(example = json!(["client.*", "deal.won"]))]
    pub event_types: Vec<String>,
    /// Only changes of records in this pipeline (deals, their stages and activities).
    pub pipeline_id: Option<PipelineId>,
    /// Only changes of records owned by (activities: assigned to) this user.
    pub owner_id: Option<UserId>,
    /// Whether changes are sent; turned off by hand, or by the server after three days of failures.
    pub active: bool,
    /// When the server turned the webhook off, and why; cleared when it is turned on again.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    /// Until when deliveries are signed with the secret replaced by the last rotation too.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Webhook> for WebhookResponse {
    fn from(webhook: Webhook) -> Self {
        let previous_valid = webhook
            .previous_secret_until
            .filter(|until| *until > Utc::now() && webhook.previous_secret.is_some());
        Self {
            id: webhook.id,
            url: webhook.url,
            description: webhook.description,
            event_types: webhook.event_types,
            pipeline_id: webhook.pipeline_id,
            owner_id: webhook.owner_id,
            active: webhook.active,
            disabled_at: webhook.disabled_at,
            disabled_reason: webhook.disabled_reason,
            previous_secret_valid_until: previous_valid,
            version: webhook.version,
            created_by: webhook.created_by,
            created_at: webhook.created_at,
            updated_at: webhook.updated_at,
        }
    }
}

/// A webhook with its signing secret: shown when it is made and when the secret is rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    pub webhook: WebhookResponse,
    /// Verifies the `webhook-signature` of deliveries (Standard Webhooks: any of its libraries takes it as is).
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://shop.example.com/hooks/crm", "event_types": ["client.*", "deal.won"], "description": "Orders to the e-shop"}))]
pub struct CreateWebhook {
    /// An `https` URL of a public address (`http` and private addresses too when the server allows them).
    #[validate(length(min = 1, max = 2000))]
    #[schema(
        min_length = 1,
        max_length = 2000,
        format = "uri",
        example = "https://shop.example.com/hooks/crm"
    )]
    pub url: String,
    /// `*` for every change, `<entity>.*` for every change of a kind of record, or types such as `client.created`,
    /// `deal.won`, `activity.reminder_due`.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub event_types: Vec<EventTypeName>,
    #[serde(default)]
    #[validate(length(max = 500))]
    #[schema(max_length = 500)]
    pub description: String,
    pub pipeline_id: Option<PipelineId>,
    pub owner_id: Option<UserId>,
    /// True unless given.
    pub active: Option<bool>,
}

/// One entry of a webhook's `event_types`: `*`, `<entity>.*` or `<entity>.<action>`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(
    value_type = String,
    pattern = r"^(\*|(client|contact|deal|activity|product|pipeline|stage|segment|custom_field|user|team|target)\.(\*|[a-z_]{1,40}))$",
    example = "client.created"
)]
pub struct EventTypeName(pub String);

/// A partial update: absent fields are left alone; `null` clears a filter.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"active": true}))]
pub struct UpdateWebhook {
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 2000))]
    #[schema(nullable = false, min_length = 1, max_length = 2000, format = "uri")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(min = 1, max = 50))]
    #[schema(nullable = false, min_items = 1, max_items = 50)]
    pub event_types: Option<Vec<EventTypeName>>,
    #[serde(default, deserialize_with = "not_null")]
    #[validate(length(max = 500))]
    #[schema(nullable = false, max_length = 500)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<Option<PipelineId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<UserId>>,
    /// Turning a webhook on again after the server turned it off clears why.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RotateWebhookSecret {
    /// Seconds the current secret keeps signing beside the new one: 86,400 (a day) unless given; 0 stops it at
    /// once; at most 604,800 (a week).
    #[param(minimum = 0, maximum = 604_800)]
    pub grace_seconds: Option<i64>,
}

/// Where a delivery is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Due at `next_attempt_at`, or being sent.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up after three days of failures.
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this state.
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    /// How many items to return: 1 to 200, 50 when omitted.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptResponse {
    pub attempted_at: DateTime<Utc>,
    /// The endpoint's status code; null when it gave none (see `error`).
    pub response_status: Option<i32>,
    /// From sending to the end of the answer's excerpt.
    pub latency_ms: i32,
    /// The first KiB of the answer's body.
    pub response_excerpt: Option<String>,
    /// Why there was no answer: a refused address, a timeout, a connection error.
    pub error: Option<String>,
}

impl From<Attempt> for AttemptResponse {
    fn from(attempt: Attempt) -> Self {
        Self {
            attempted_at: attempt.attempted_at,
            response_status: attempt.response_status,
            latency_ms: attempt.latency_ms,
            response_excerpt: attempt.response_excerpt,
            error: attempt.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// Also the `webhook-id` header of every attempt.
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    #[schema(example = "client.updated")]
    pub event_type: String,
    /// The record changed; null for a ping.
    pub record_id: Option<uuid::Uuid>,
    #[schema(inline)]
    pub status: DeliveryStatus,
    /// When it is due (while pending).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The body sent.
    #[schema(value_type = WebhookEvent)]
    pub payload: serde_json::Value,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptResponse>,
}

impl DeliveryResponse {
    fn new(delivery: Delivery, attempts: Vec<AttemptResponse>) -> Self {
        let status = DeliveryStatus::parse(&delivery.status);
        Self {
            id: delivery.id,
            webhook_id: delivery.webhook_id,
            event_type: delivery.event_type,
            record_id: delivery.entity_id,
            status,
            next_attempt_at: (status == DeliveryStatus::Pending).then_some(delivery.next_attempt_at),
            delivered_at: delivery.delivered_at,
            created_at: delivery.created_at,
            payload: delivery.payload,
            attempts,
        }
    }
}

/// Deliveries with their attempts.
fn with_attempts(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    deliveries: Vec<Delivery>,
) -> QueryResult<Vec<DeliveryResponse>> {
    let ids: Vec<DeliveryId> = deliveries.iter().map(|delivery| delivery.id).collect();
    let mut attempts = Delivery::attempts(conn, workspace, &ids)?;
    Ok(deliveries
        .into_iter()
        .map(|delivery| {
            let (own, rest) = attempts.drain(..).partition(|attempt| attempt.delivery_id == delivery.id);
            attempts = rest;
            DeliveryResponse::new(delivery, own.into_iter().map(AttemptResponse::from).collect::<Vec<_>>())
        })
        .collect())
}

/// Runs `work` for a caller who sees every client: a webhook is sent every record of the workspace,
/// and its log shows them, so an admin who sees one team's clients may not manage one.
async fn run_managing<T: Send + 'static>(
    caller: Caller,
    pool: &DbPool,
    work: impl FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    run_seeing(caller, pool, move |conn, scope| {
        ensure_sees_everything(scope, "a webhook")?;
        work(conn)
    })
    .await
}

/// A webhook as a 200 with its `ETag`.
fn with_etag(webhook: Webhook) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(webhook.version)))
        .json(WebhookResponse::from(webhook))
}

/// Checks a webhook's URL: absolute, `https` (or `http` where private addresses are allowed), with a host that
/// is not a private address unless allowed. Names are checked again on every delivery, on the addresses they
/// resolve to then.
fn checked_url(url: &str, allow_private: bool) -> Result<String, ApiError> {
    let invalid = |message: String| ApiError::invalid_field("url", FieldCode::Format, message);
    let uri: awc::http::Uri = url.trim().parse().map_err(|_| invalid("not a URL".into()))?;
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") if allow_private => {}
        Some("http") => return Err(invalid("must be https".into())),
        _ => return Err(invalid("must be an https URL".into())),
    }
    let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(|| invalid("has no host".into()))?;
    if uri.authority().is_some_and(|authority| authority.as_str().contains('@')) {
        return Err(invalid(
            "must not carry a user name or password: use the signature to authenticate".into(),
        ));
    }
    if let Some(ip) = literal_address(host)
        && !allow_private
        && !is_public(ip)
    {
        return Err(ApiError::invalid_field("url", FieldCode::NotAllowed, refusal(ip)));
    }
    // As typed: the parsed form can be longer (a `/` added to an empty path) than the stored limit.
    Ok(url.trim().to_string())
}

fn checked_event_types(event_types: &[EventTypeName]) -> Result<Vec<String>, ApiError> {
    let mut checked = Vec::with_capacity(event_types.len());
    for (index, EventTypeName(subscription)) in event_types.iter().enumerate() {
        check_subscription(subscription).map_err(|message| {
            ApiError::invalid_field(&format!("event_types[{index}]"), FieldCode::InvalidValue, message)
        })?;
        if !checked.contains(subscription) {
            checked.push(subscription.clone());
        }
    }
    Ok(checked)
}

fn ensure_filters_exist(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    pipeline: Option<PipelineId>,
    owner: Option<UserId>,
) -> Result<(), ApiError> {
    if let Some(pipeline) = pipeline
        && Pipeline::find(conn, workspace, pipeline).optional()?.is_none()
    {
        return Err(ApiError::invalid_field(
            "pipeline_id",
            FieldCode::NotFound,
            "no such pipeline in this workspace",
        ));
    }
    if let Some(owner) = owner
        && User::find(conn, workspace, owner).optional()?.is_none()
    {
        return Err(ApiError::invalid_field(
            "owner_id",
            FieldCode::NotFound,
            "no such user in this workspace",
        ));
    }
    Ok(())
}

fn webhook_changes(before: Option<&Webhook>, after: &Webhook) -> ChangeSet {
    ChangeSet::default()
        .field("url", before.map(|webhook| &webhook.url), &after.url)
        .field("description", before.map(|webhook| &webhook.description), &after.description)
        .field("event_types", before.map(|webhook| &webhook.event_types), &after.event_types)
        .field("pipeline_id", before.map(|webhook| &webhook.pipeline_id), &after.pipeline_id)
        .field("owner_id", before.map(|webhook| &webhook.owner_id), &after.owner_id)
        .field("active", before.map(|webhook| &webhook.active), &after.active)
}

/// List the workspace's webhooks (owners and admins).
///
/// Oldest first, each with its URL, event types, filters and whether it is on (or why the server turned it
/// off); never their secrets.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of webhooks", body = Page<WebhookResponse>))
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<WebhookResponse>>, ApiError> {
    principal.require_admin(MANAGE)?;
    let limit = page.limit()?;
    let after: Option<WebhookId> = page.after()?;
    let rows = run_managing(principal.caller(), &state.pool, move |conn| {
        Ok(Webhook::list(conn, principal.workspace_id, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(rows, limit, |webhook| webhook.id, WebhookResponse::from)))
}

/// Subscribe an endpoint to changes (owners and admins).
///
/// From now on, every change of the types given (and, if set, of the pipeline or owner given) is POSTed to the
/// URL as a `WebhookEvent`, signed as the Standard Webhooks specification says with the secret in the answer
/// (shown here and on rotation only): at least once, a record's changes in the order they were made, retried
/// with growing waits for three days before the webhook is turned off. See docs/webhooks.md.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    security(("bearer" = [])),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Subscribed; the secret is in the answer", body = WebhookWithSecret,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new webhook's URL"))),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    body: ValidatedJson<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(MANAGE)?;
    let body = body.0;
    let url = checked_url(non_blank("url", &body.url)?.as_str(), state.webhooks_allow_private)?;
    let event_types = checked_event_types(&body.event_types)?;
    let secret = generate_secret();
    let new = NewWebhook {
        workspace_id: principal.workspace_id,
        id: WebhookId::generate(),
        url,
        description: body.description.trim().to_string(),
        event_types,
        pipeline_id: body.pipeline_id,
        owner_id: body.owner_id,
        active: body.active.unwrap_or(true),
        secret: secret.clone(),
        created_by: principal.user_id,
    };
    let webhook = run_managing(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            ensure_filters_exist(conn, new.workspace_id, new.pipeline_id, new.owner_id)?;
            let webhook = new.insert(conn)?;
            let changes = webhook_changes(None, &webhook).secret("secret", true);
            record_change(conn, &principal, "webhook", webhook.id.0, "created", webhook.version, changes)?;
            Ok(webhook)
        })
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/webhooks/{}", webhook.id)))
        .insert_header((header::ETAG, etag(webhook.version)))
        .json(WebhookWithSecret { webhook: webhook.into(), secret }))
}

/// A webhook (owners and admins).
///
/// Its URL, event types, filters, whether it is on, and until when a rotated-out secret still signs; never the
/// secret itself.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "get_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The webhook's id")),
    responses((status = 200, description = "The webhook", body = WebhookResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(MANAGE)?;
    let id = id.into_inner();
    let webhook = run_managing(principal.caller(), &state.pool, move |conn| {
        Ok(Webhook::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(with_etag(webhook))
}

/// Change a webhook, or turn it off or on (owners and admins).
///
/// Changes committed while a webhook is off are not sent to it. `If-Match` refuses overwriting a change made
/// meanwhile (412).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "update_webhook",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The webhook's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateWebhook,
    responses((status = 200, description = "Updated", body = WebhookResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
    if_match: IfMatch,
    body: ValidatedJson<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(MANAGE)?;
    let id = id.into_inner();
    let body = body.0;
    let url = body
        .url
        .as_deref()
        .map(|url| checked_url(non_blank("url", url)?.as_str(), state.webhooks_allow_private))
        .transpose()?;
    let event_types = body.event_types.as_deref().map(checked_event_types).transpose()?;
    let webhook = run_managing(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let current = Webhook::find_for_update(conn, workspace, id)?;
            if_match.check(current.version)?;
            ensure_filters_exist(conn, workspace, body.pipeline_id.flatten(), body.owner_id.flatten())?;
            let turned_on = body.active == Some(true) && !current.active;
            let changes = WebhookChanges {
                url,
                description: body.description.map(|description| description.trim().to_string()),
                event_types,
                pipeline_id: body.pipeline_id,
                owner_id: body.owner_id,
                active: body.active,
                disabled_at: turned_on.then_some(None),
                disabled_reason: turned_on.then_some(None),
            };
            let mut proposed = current.clone();
            proposed.url = changes.url.clone().unwrap_or(proposed.url);
            proposed.description = changes.description.clone().unwrap_or(proposed.description);
            proposed.event_types = changes.event_types.clone().unwrap_or(proposed.event_types);
            proposed.pipeline_id = changes.pipeline_id.unwrap_or(proposed.pipeline_id);
            proposed.owner_id = changes.owner_id.unwrap_or(proposed.owner_id);
            proposed.active = changes.active.unwrap_or(proposed.active);
            let change_set = webhook_changes(Some(&current), &proposed);
            if change_set.is_empty() {
                return Ok(current);
            }
            let updated = Webhook::update(conn, workspace, id, &changes)?;
            record_change(conn, &principal, "webhook", id.0, "updated", updated.version, change_set)?;
            Ok(updated)
        })
    })
    .await?;
    Ok(with_etag(webhook))
}

/// Delete a webhook with its delivery log (owners and admins).
///
/// Nothing more is sent to its URL: deliveries not yet made are dropped with the log of those made.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The webhook's id")),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(MANAGE)?;
    let id = id.into_inner();
    run_managing(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = Webhook::find_for_update(conn, principal.workspace_id, id)?;
            Webhook::delete(conn, principal.workspace_id, id)?;
            let changes =
                webhook_changes(Some(&current), &current).field("url", Some(&current.url), &String::new());
            record_change(conn, &principal, "webhook", id.0, "deleted", current.version + 1, changes)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a webhook's signing secret (owners and admins).
///
/// The answer holds the new secret. Until `grace_seconds` have passed, deliveries carry a signature with the
/// previous secret too, so that the receiver can switch without losing one.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The webhook's id"), RotateWebhookSecret),
    responses((status = 200, description = "Rotated; the new secret is in the answer", body = WebhookWithSecret))
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
    query: web::Query<RotateWebhookSecret>,
) -> Result<web::Json<WebhookWithSecret>, ApiError> {
    principal.require_admin(MANAGE)?;
    let id = id.into_inner();
    let grace = match query.grace_seconds {
        None => DEFAULT_GRACE,
        Some(seconds) if (0..=LONGEST_GRACE_SECONDS).contains(&seconds) => Duration::seconds(seconds),
        Some(_) => {
            return Err(ApiError::bad_request(
                crate::error::ProblemCode::InvalidQuery,
                format!("grace_seconds must be between 0 and {LONGEST_GRACE_SECONDS}"),
            ));
        }
    };
    let secret = generate_secret();
    let new_secret = secret.clone();
    let webhook = run_managing(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            Webhook::find_for_update(conn, principal.workspace_id, id)?;
            let rotated =
                Webhook::rotate_secret(conn, principal.workspace_id, id, &new_secret, Utc::now() + grace)?;
            let changes = ChangeSet::default().secret("secret", true);
            record_change(conn, &principal, "webhook", id.0, "rotated", rotated.version, changes)?;
            Ok(rotated)
        })
    })
    .await?;
    Ok(web::Json(WebhookWithSecret { webhook: webhook.into(), secret }))
}

/// Send a webhook a ping (owners and admins).
///
/// Queues a `webhook.test` delivery, signed and retried like any other; follow it in the deliveries list.
/// A ping to a webhook that is off waits until it is turned on.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "test_webhook",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The webhook's id")),
    responses((status = 202, description = "Queued", body = DeliveryResponse))
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(MANAGE)?;
    let id = id.into_inner();
    let delivery = run_managing(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            Webhook::find(conn, workspace, id)?;
            let delivery_id = DeliveryId::generate();
            let ping = WebhookEvent { event_type: TEST_EVENT.to_string(), timestamp: Utc::now(), data: None };
            NewDelivery::insert_all(
                conn,
                &[NewDelivery {
                    workspace_id: workspace,
                    id: delivery_id,
                    webhook_id: id,
                    event_type: TEST_EVENT.to_string(),
                    entity_id: None,
                    position: None,
                    change_id: uuid::Uuid::now_v7(),
                    payload: serde_json::to_value(ping).unwrap_or_default(),
                }],
            )?;
            let delivery = Delivery::find(conn, workspace, id, delivery_id)?;
            Ok(DeliveryResponse::new(delivery, Vec::new()))
        })
    })
    .await?;
    Ok(HttpResponse::Accepted().json(delivery))
}

/// A webhook's deliveries, newest first, with every attempt (owners and admins).
///
/// Each with its state, the body sent, and each attempt's status code, latency and the start of the answer.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The webhook's id"), DeliveriesQuery),
    responses((status = 200, description = "One page of deliveries", body = Page<DeliveryResponse>))
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
    query: web::Query<DeliveriesQuery>,
) -> Result<web::Json<Page<DeliveryResponse>>, ApiError> {
    principal.require_admin(MANAGE)?;
    let id = id.into_inner();
    let query = query.into_inner();
    let paging = PageParams { limit: query.limit, cursor: query.cursor };
    let limit = paging.limit()?;
    let before: Option<DeliveryId> = paging.after()?;
    let status = query.status.map(DeliveryStatus::as_str);
    let rows = run_managing(principal.caller(), &state.pool, move |conn| {
        let workspace = principal.workspace_id;
        Webhook::find(conn, workspace, id)?;
        let deliveries = Delivery::list(conn, workspace, id, status, before, i64::from(limit) + 1)?;
        Ok(with_attempts(conn, workspace, deliveries)?)
    })
    .await?;
    Ok(web::Json(Page::from_rows(rows, limit, |delivery| delivery.id, |delivery| delivery)))
}

/// Deliver again (owners and admins).
///
/// Makes the delivery due now, whether it was delivered, given up or waiting for its next attempt; its
/// `webhook-id` stays the same, so a receiver that keeps ids drops it if it had it.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "retry_webhook_delivery",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The webhook's id"),
        ("delivery_id" = String, Path, format = Uuid, description = "The delivery's id"),
    ),
    responses((status = 202, description = "Due now", body = DeliveryResponse))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/retry")]
pub async fn retry_webhook_delivery(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(WebhookId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(MANAGE)?;
    let (id, delivery_id) = path.into_inner();
    let delivery = run_managing(principal.caller(), &state.pool, move |conn| {
        let workspace = principal.workspace_id;
        let delivery = Delivery::retry_now(conn, workspace, id, delivery_id)?;
        Ok(with_attempts(conn, workspace, vec![delivery])?.remove(0))
    })
    .await?;
    Ok(HttpResponse::Accepted().json(delivery))
}

#[cfg(test)]
mod tests {
    use crate::api::changes::FEED_ENTITIES;

    /// The document's pattern for `event_types` names the kinds of record the change log reports.
    #[test]
    fn the_event_type_pattern_names_every_kind_of_record_of_the_feed() {
        let document = crate::openapi::document();
        let pattern =
            document["components"]["schemas"]["EventTypeName"]["pattern"].as_str().unwrap_or_default();
        let entities: Vec<&str> = FEED_ENTITIES.iter().map(|(_, entity)| *entity).collect();
        assert!(pattern.contains(&format!("({})", entities.join("|"))), "{pattern}");
    }
}
