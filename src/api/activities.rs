//! Activities (calls, meetings, emails, messages, tasks, notes, visits), completing one with its
//! follow-up in one step, and the caller's agenda: "whom do I call today".

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::custom_values::check_custom;
use crate::api::extract::{
    IfMatch, JsonBody, Page, decode_cursor, not_null, nullable, page_limit, versioned_http,
};
use crate::api::search::{SearchRequest, compile_filter};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, Parent, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::models::activity::ActivityFilter;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::{Activity, Client, Contact, Deal, User, Workspace};
use crate::domain::activity as activity_rules;
use crate::domain::agenda;
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::enums::{ActivityKind, ActivityStatus, Channel, ContactReason, CustomEntity, Direction};
use crate::domain::role::Role;
use crate::domain::text::{non_blank, trimmed};
use crate::error::{ApiError, field_errors};
use crate::ids::{ActivityId, ClientId, ContactId, DealId, UserId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityResponse {
    pub id: ActivityId,
    pub kind: ActivityKind,
    pub direction: Option<Direction>,
    pub channel: Option<Channel>,
    /// Why the contact happened.
    pub reason: Option<ContactReason>,
    #[schema(example = "Call about the March order")]
    pub subject: String,
    pub body: Option<String>,
    /// What was agreed.
    pub outcome: Option<String>,
    /// The deadline, or the planned time of the call or meeting.
    pub due_at: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
    /// When the reminder fired (it then shows in `GET /me/reminders` until acknowledged).
    pub reminder_fired_at: Option<DateTime<Utc>>,
    pub reminder_acked_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i32>,
    /// `overdue` is a planned activity past its due time.
    pub status: ActivityStatus,
    pub completed_at: Option<DateTime<Utc>>,
    pub assignee_id: UserId,
    pub client_id: Option<ClientId>,
    pub contact_id: Option<ContactId>,
    pub deal_id: Option<DealId>,
    /// The id the logging integration (telephony, mail) gives the touch; unique per workspace.
    pub external_ref: Option<String>,
    pub recording_url: Option<String>,
    /// The caller's or sender's number or address.
    pub from: Option<String>,
    pub to: Option<String>,
    /// The workspace's custom fields: `{key: value}` (see `/custom-fields`).
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

/// `overdue` when planned and past due at `now`, the stored status otherwise.
fn derived_status(activity: &Activity, now: DateTime<Utc>) -> ActivityStatus {
    match activity.status.parse().unwrap_or(ActivityStatus::Planned) {
        ActivityStatus::Planned if activity.due_at.is_some_and(|due| due < now) => ActivityStatus::Overdue,
        status => status,
    }
}

impl From<&Activity> for ActivityResponse {
    fn from(activity: &Activity) -> Self {
        Self {
            id: activity.id,
            kind: activity.kind.parse().unwrap_or(ActivityKind::Task),
            direction: parse_text(&activity.direction),
            channel: parse_text(&activity.channel),
            reason: parse_text(&activity.reason),
            subject: activity.subject.clone(),
            body: activity.body.clone(),
            outcome: activity.outcome.clone(),
            due_at: activity.due_at,
            reminder_at: activity.reminder_at,
            reminder_fired_at: activity.reminder_fired_at,
            reminder_acked_at: activity.reminder_acked_at,
            duration_seconds: activity.duration_seconds,
            status: derived_status(activity, Utc::now()),
            completed_at: activity.completed_at,
            assignee_id: activity.assignee_id,
            client_id: activity.client_id,
            contact_id: activity.contact_id,
            deal_id: activity.deal_id,
            external_ref: activity.external_ref.clone(),
            recording_url: activity.recording_url.clone(),
            from: activity.from_address.clone(),
            to: activity.to_address.clone(),
            custom: activity.custom.clone(),
            version: activity.version,
            created_at: activity.created_at,
            updated_at: activity.updated_at,
            created_by: activity.created_by,
            updated_by: activity.updated_by,
        }
    }
}

/// A stored text column back into its enum; the CHECK constraints admit only known values.
fn parse_text<T: std::str::FromStr>(value: &Option<String>) -> Option<T> {
    value.as_deref().and_then(|value| value.parse().ok())
}

/// The status an activity is written with: `overdue` is derived, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StoredStatus {
    Planned,
    Done,
    Cancelled,
}

/// An activity to create; also what an update is merged into before the same checks run.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityInput {
    pub kind: ActivityKind,
    pub direction: Option<Direction>,
    pub channel: Option<Channel>,
    pub reason: Option<ContactReason>,
    #[validate(length(min = 1, max = 500))]
    #[schema(example = "Call about the March order", min_length = 1, max_length = 500)]
    pub subject: String,
    #[validate(length(max = 20000))]
    #[schema(max_length = 20000)]
    pub body: Option<String>,
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub outcome: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
    #[validate(range(min = 0, max = 2_592_000))]
    #[schema(minimum = 0, maximum = 2592000)]
    pub duration_seconds: Option<i32>,
    /// `planned` when omitted; `done` sets `completed_at` (now unless given).
    pub status: Option<StoredStatus>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The creator when omitted.
    pub assignee_id: Option<UserId>,
    /// Taken from the contact or the deal when omitted.
    pub client_id: Option<ClientId>,
    /// A contact of the client.
    pub contact_id: Option<ContactId>,
    /// A deal of the client.
    pub deal_id: Option<DealId>,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub external_ref: Option<String>,
    #[validate(url, length(max = 2000))]
    #[schema(max_length = 2000)]
    pub recording_url: Option<String>,
    #[validate(length(max = 320))]
    #[schema(max_length = 320)]
    pub from: Option<String>,
    #[validate(length(max = 320))]
    #[schema(max_length = 320)]
    pub to: Option<String>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: CustomValues,
}

impl From<&Activity> for ActivityInput {
    fn from(activity: &Activity) -> Self {
        let response = ActivityResponse::from(activity);
        Self {
            kind: response.kind,
            direction: response.direction,
            channel: response.channel,
            reason: response.reason,
            subject: response.subject,
            body: response.body,
            outcome: response.outcome,
            due_at: response.due_at,
            reminder_at: response.reminder_at,
            duration_seconds: response.duration_seconds,
            status: Some(match activity.status.as_str() {
                "done" => StoredStatus::Done,
                "cancelled" => StoredStatus::Cancelled,
                _ => StoredStatus::Planned,
            }),
            completed_at: response.completed_at,
            assignee_id: Some(response.assignee_id),
            client_id: response.client_id,
            contact_id: response.contact_id,
            deal_id: response.deal_id,
            external_ref: response.external_ref,
            recording_url: response.recording_url,
            from: response.from,
            to: response.to,
            custom: custom_of(&activity.custom),
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateActivity {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub kind: Option<ActivityKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Direction>)]
    pub direction: Option<Option<Direction>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Channel>)]
    pub channel: Option<Option<Channel>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ContactReason>)]
    pub reason: Option<Option<ContactReason>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 500)]
    pub subject: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub body: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub outcome: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub reminder_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub duration_seconds: Option<Option<i32>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub status: Option<StoredStatus>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub completed_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<UserId>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<Option<ClientId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact_id: Option<Option<ContactId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub deal_id: Option<Option<DealId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub external_ref: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub recording_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub from: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub to: Option<Option<String>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<Object>)]
    pub custom: Option<CustomValues>,
}

impl UpdateActivity {
    fn apply_to(self, input: &mut ActivityInput) {
        macro_rules! set {
            ($($field:ident),+) => { $(if let Some(value) = self.$field { input.$field = value; })+ };
        }
        set!(
            direction,
            channel,
            reason,
            body,
            outcome,
            due_at,
            reminder_at,
            duration_seconds,
            completed_at,
            client_id,
            contact_id,
            deal_id,
            external_ref,
            recording_url,
            from,
            to
        );
        if let Some(kind) = self.kind {
            input.kind = kind;
        }
        if let Some(subject) = self.subject {
            input.subject = subject;
        }
        if let Some(status) = self.status {
            input.status = Some(status);
        }
        merge_custom(&mut input.custom, self.custom);
        if let Some(assignee) = self.assignee_id {
            input.assignee_id = Some(assignee);
        }
    }
}

/// Checks `input` and builds the row to store: the only path by which an activity is written.
fn build_activity(
    conn: &mut PgConnection,
    principal: &Principal,
    input: ActivityInput,
    existing: Option<&Activity>,
) -> Result<Activity, ApiError> {
    let mut errors = field_errors(&input);
    let custom = check_custom(
        conn,
        principal.workspace_id,
        CustomEntity::Activity,
        input.custom.clone(),
        &mut errors,
    )?;
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    }
    let workspace = principal.workspace_id;
    let contact = match input.contact_id {
        Some(id) => Some(Contact::find(conn, workspace, id).optional()?.ok_or_else(|| {
            ApiError::invalid_field("contact_id", "not_found", "no such contact in this workspace")
        })?),
        None => None,
    };
    let deal = match input.deal_id {
        Some(id) => Some(Deal::find(conn, workspace, id).optional()?.ok_or_else(|| {
            ApiError::invalid_field("deal_id", "not_found", "no such deal in this workspace")
        })?),
        None => None,
    };
    let (contacts_client, deals_client) =
        (contact.map(|contact| contact.client_id), deal.map(|deal| deal.client_id));
    let client_id = activity_rules::client_of(input.client_id, contacts_client, deals_client);
    if let Some(client) = client_id
        && !Client::exists(conn, workspace, client)?
    {
        return Err(ApiError::invalid_field("client_id", "not_found", "no such client in this workspace"));
    }
    activity_rules::check_links(client_id, contacts_client, deals_client)?;
    let assignee_id = input.assignee_id.unwrap_or(principal.user_id);
    if User::find(conn, workspace, assignee_id).optional()?.is_none() {
        return Err(ApiError::invalid_field("assignee_id", "not_found", "no such user in this workspace"));
    }

    let now = Utc::now();
    let status = input.status.unwrap_or(StoredStatus::Planned);
    let completed_at = activity_rules::completed_at(status == StoredStatus::Done, input.completed_at, now);
    let reminder_kept = existing
        .filter(|activity| activity_rules::keeps_reminder_state(activity.reminder_at, input.reminder_at));
    Ok(Activity {
        workspace_id: workspace,
        id: existing.map_or_else(ActivityId::generate, |activity| activity.id),
        kind: input.kind.as_str().to_string(),
        direction: input.direction.map(|direction| direction.as_str().to_string()),
        channel: input.channel.map(|channel| channel.as_str().to_string()),
        reason: input.reason.map(|reason| reason.as_str().to_string()),
        subject: non_blank("subject", &input.subject)?,
        body: trimmed(input.body),
        outcome: trimmed(input.outcome),
        due_at: input.due_at,
        reminder_at: input.reminder_at,
        reminder_fired_at: reminder_kept.and_then(|activity| activity.reminder_fired_at),
        reminder_acked_at: reminder_kept.and_then(|activity| activity.reminder_acked_at),
        duration_seconds: input.duration_seconds,
        status: match status {
            StoredStatus::Planned => "planned",
            StoredStatus::Done => "done",
            StoredStatus::Cancelled => "cancelled",
        }
        .to_string(),
        completed_at,
        assignee_id,
        client_id,
        contact_id: input.contact_id,
        deal_id: input.deal_id,
        external_ref: trimmed(input.external_ref),
        recording_url: trimmed(input.recording_url),
        from_address: trimmed(input.from),
        to_address: trimmed(input.to),
        version: existing.map_or(1, |activity| activity.version + 1),
        created_at: existing.map_or(now, |activity| activity.created_at),
        updated_at: now,
        created_by: existing.map_or(Some(principal.user_id), |activity| activity.created_by),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom,
    })
}

fn snapshot(activity: &Activity) -> serde_json::Value {
    let mut value = to_json(&ActivityResponse::from(activity));
    // Overdue is a matter of the clock, not of the record.
    if value["status"] == "overdue" {
        value["status"] = serde_json::json!("planned");
    }
    value
}

fn activity_http(status: StatusCode, activity: &Activity) -> HttpResponse {
    versioned_http(status, activity.version, "activities", activity.id, &ActivityResponse::from(activity))
}

/// The only unique key an activity write can break is its external reference.
fn external_ref_taken(error: diesel::result::Error) -> ApiError {
    match error {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            ApiError::conflict("external_ref_taken", "an activity with this external_ref is already logged")
        }
        other => other.into(),
    }
}

/// Inserts a new activity and logs it.
fn insert_activity(
    conn: &mut PgConnection,
    principal: &Principal,
    activity: &Activity,
) -> Result<Activity, ApiError> {
    let activity = activity.insert(conn).map_err(external_ref_taken)?;
    let changes = ChangeSet::default().diff(None, &snapshot(&activity), BOOKKEEPING);
    record_change(conn, principal, "activity", activity.id.0, "created", activity.version, changes)?;
    ClientStats::recompute(conn, activity.workspace_id, [activity.client_id])?;
    Ok(activity)
}

/// Log or plan an activity.
#[utoipa::path(
    tag = "activities",
    operation_id = "create_activity",
    security(("bearer" = [])),
    request_body = ActivityInput,
    responses(
        (status = 201, description = "Created", body = ActivityResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new activity's URL"))),
        (status = 409, description = "An activity with this external_ref is already logged", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/activities")]
pub async fn create_activity(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ActivityInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let activity = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let activity = build_activity(conn, &principal, body.0, None)?;
            insert_activity(conn, &principal, &activity)
        })
    })
    .await?;
    Ok(activity_http(StatusCode::CREATED, &activity))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters).
    pub cursor: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub deal_id: Option<DealId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub assignee_id: Option<UserId>,
    pub kind: Option<ActivityKind>,
    pub status: Option<ActivityStatus>,
    pub due_from: Option<DateTime<Utc>>,
    pub due_to: Option<DateTime<Utc>>,
    pub updated_since: Option<DateTime<Utc>>,
}

/// List activities, most recently changed first.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_activities",
    security(("bearer" = [])),
    params(ActivityListQuery),
    responses((status = 200, description = "One page of activities", body = Page<ActivityResponse>))
)]
#[get("/activities")]
pub async fn list_activities(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    activities_page(state, principal, query.into_inner(), None, None).await.map(web::Json)
}

/// A client's activities (any filter of `GET /activities` applies).
#[utoipa::path(
    tag = "activities",
    operation_id = "list_client_activities",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), ActivityListQuery),
    responses((status = 200, description = "One page of the client's activities", body = Page<ActivityResponse>))
)]
#[get("/clients/{id}/activities")]
pub async fn list_client_activities(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let client = id.into_inner();
    let mut query = query.into_inner();
    query.client_id = Some(client);
    activities_page(state, principal, query, None, Some(Parent::Client(client))).await.map(web::Json)
}

/// A deal's activities (any filter of `GET /activities` applies).
#[utoipa::path(
    tag = "activities",
    operation_id = "list_deal_activities",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id"), ActivityListQuery),
    responses((status = 200, description = "One page of the deal's activities", body = Page<ActivityResponse>))
)]
#[get("/deals/{id}/activities")]
pub async fn list_deal_activities(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
    query: web::Query<ActivityListQuery>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let deal = id.into_inner();
    let mut query = query.into_inner();
    query.deal_id = Some(deal);
    activities_page(state, principal, query, None, Some(Parent::Deal(deal))).await.map(web::Json)
}

/// Search activities with the filter language: `{filter, sort, limit, cursor}`. An unknown field, an
/// operator the field doesn't take or a bad value is a 422 naming its path (`filter.all[1].op`).
#[utoipa::path(
    tag = "activities",
    operation_id = "search_activities",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching activities", body = Page<ActivityResponse>))
)]
#[post("/activities/search")]
pub async fn search_activities(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let search = body.0;
    if search.sort.as_deref().is_some_and(|sort| sort != "updated_at") {
        return Err(ApiError::bad_request(
            "invalid_query",
            "activities are searched in updated_at order only",
        ));
    }
    let query = ActivityListQuery { limit: search.limit, cursor: search.cursor, ..Default::default() };
    activities_page(state, principal, query, search.filter, None).await.map(web::Json)
}

async fn activities_page(
    state: web::Data<AppState>,
    principal: Principal,
    query: ActivityListQuery,
    search: Option<serde_json::Value>,
    parent: Option<Parent>,
) -> Result<Page<ActivityResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, ActivityId)> = decode_cursor(query.cursor.as_deref())?;
    let mut filter = ActivityFilter {
        client_id: query.client_id,
        deal_id: query.deal_id,
        assignee_id: query.assignee_id,
        kind: query.kind.map(ActivityKind::as_str),
        status: query.status.map(ActivityStatus::as_str),
        due_from: query.due_from,
        due_to: query.due_to,
        updated_since: query.updated_since,
        condition: None,
    };
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        if let Some(parent) = parent {
            parent.ensure_exists(conn, principal.workspace_id)?;
        }
        filter.condition = search
            .map(|search| compile_filter(conn, principal.workspace_id, CustomEntity::Activity, &search))
            .transpose()?;
        Ok(Activity::list(conn, principal.workspace_id, &filter, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |activity| (activity.updated_at, activity.id),
        |activity| ActivityResponse::from(&activity),
    ))
}

/// Get one activity.
#[utoipa::path(
    tag = "activities",
    operation_id = "get_activity",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    responses((status = 200, description = "The activity", body = ActivityResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/activities/{id}")]
pub async fn get_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let activity = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Activity::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(activity_http(StatusCode::OK, &activity))
}

/// Update an activity: a partial update, checked like a new one.
#[utoipa::path(
    tag = "activities",
    operation_id = "update_activity",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateActivity,
    responses(
        (status = 200, description = "Updated", body = ActivityResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Another activity has this external_ref", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/activities/{id}")]
pub async fn update_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
    if_match: IfMatch,
    body: JsonBody<UpdateActivity>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let activity = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current: Activity = soft_delete::live_for_update(conn, principal.workspace_id, id)?;
            let mut input = ActivityInput::from(&current);
            body.0.apply_to(&mut input);
            let candidate = build_activity(conn, &principal, input, Some(&current))?;
            // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
            if_match.check(current.version)?;
            let changes =
                ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&candidate), BOOKKEEPING);
            if changes.is_empty() {
                return Ok(current);
            }
            let activity = candidate.save(conn).map_err(external_ref_taken)?;
            record_change(conn, &principal, "activity", id.0, "updated", activity.version, changes)?;
            ClientStats::recompute(conn, activity.workspace_id, [current.client_id, activity.client_id])?;
            Ok(activity)
        })
    })
    .await?;
    Ok(activity_http(StatusCode::OK, &activity))
}

/// Delete an activity (soft).
#[utoipa::path(
    tag = "activities",
    operation_id = "delete_activity",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The activity's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/activities/{id}")]
pub async fn delete_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let deleted: Activity =
                soft_delete::delete(conn, &principal, id, &if_match, |_, _, _, changes| Ok(changes))?;
            Ok(ClientStats::recompute(conn, deleted.workspace_id, [deleted.client_id])?)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted activity. Restoring a live one changes nothing.
#[utoipa::path(
    tag = "activities",
    operation_id = "restore_activity",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    responses((status = 200, description = "The restored activity", body = ActivityResponse))
)]
#[post("/activities/{id}/restore")]
pub async fn restore_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let activity = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            soft_delete::restore(conn, &principal, id, |conn, _: &Activity, _, changes| {
                let restored =
                    Activity::set_deleted(conn, principal.workspace_id, id, None, principal.user_id)?;
                ClientStats::recompute(conn, restored.workspace_id, [restored.client_id])?;
                Ok((restored, changes))
            })
        })
    })
    .await?;
    Ok(activity_http(StatusCode::OK, &activity))
}

/// The follow-up to plan when completing an activity.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NextActivity {
    pub kind: ActivityKind,
    pub due_at: DateTime<Utc>,
    #[validate(length(min = 1, max = 500))]
    #[schema(example = "Call again about the offer", min_length = 1, max_length = 500)]
    pub subject: String,
    pub reminder_at: Option<DateTime<Utc>>,
    pub reason: Option<ContactReason>,
    /// The follow-up's custom field values.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomValues,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteActivity {
    /// What was agreed.
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub outcome: Option<String>,
    /// Now when omitted.
    pub completed_at: Option<DateTime<Utc>>,
    #[validate(range(min = 0, max = 2_592_000))]
    pub duration_seconds: Option<i32>,
    /// A follow-up for the same client, contact, deal and assignee, created in the same
    /// transaction: both happen or neither does.
    #[validate(nested)]
    pub next: Option<NextActivity>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletedActivity {
    pub activity: ActivityResponse,
    pub next: Option<ActivityResponse>,
}

/// Complete an activity and plan the next one in one step: "call done, call again on Friday".
#[utoipa::path(
    tag = "activities",
    operation_id = "complete_activity",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    request_body = CompleteActivity,
    responses(
        (status = 200, description = "Completed, with the follow-up if one was asked for", body = CompletedActivity),
        (status = 409, description = "The activity is already done or cancelled", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/activities/{id}/complete")]
pub async fn complete_activity(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
    body: crate::api::extract::ValidatedJson<CompleteActivity>,
) -> Result<web::Json<CompletedActivity>, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let body = body.0;
    let (activity, next) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current: Activity = soft_delete::live_for_update(conn, principal.workspace_id, id)?;
            if current.status != "planned" {
                return Err(ApiError::conflict(
                    "not_planned",
                    format!("the activity is already {}", current.status),
                ));
            }
            let mut input = ActivityInput::from(&current);
            input.status = Some(StoredStatus::Done);
            input.completed_at = body.completed_at;
            if body.outcome.is_some() {
                input.outcome = body.outcome;
            }
            if body.duration_seconds.is_some() {
                input.duration_seconds = body.duration_seconds;
            }
            let done = build_activity(conn, &principal, input, Some(&current))?;
            let changes = ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&done), BOOKKEEPING);
            let done = done.save(conn)?;
            record_change(conn, &principal, "activity", id.0, "completed", done.version, changes)?;
            ClientStats::recompute(conn, done.workspace_id, [done.client_id])?;
            let next = match body.next {
                Some(next) => {
                    let input = ActivityInput {
                        kind: next.kind,
                        direction: None,
                        channel: None,
                        reason: next.reason.or(Some(ContactReason::FollowUp)),
                        subject: next.subject,
                        body: None,
                        outcome: None,
                        due_at: Some(next.due_at),
                        reminder_at: next.reminder_at,
                        duration_seconds: None,
                        status: Some(StoredStatus::Planned),
                        completed_at: None,
                        assignee_id: Some(done.assignee_id),
                        client_id: done.client_id,
                        contact_id: done.contact_id,
                        deal_id: done.deal_id,
                        external_ref: None,
                        recording_url: None,
                        from: None,
                        to: None,
                        custom: next.custom,
                    };
                    // Errors here are the follow-up's: name its fields as such.
                    let planned =
                        build_activity(conn, &principal, input, None).map_err(prefix_fields("next"))?;
                    Some(insert_activity(conn, &principal, &planned)?)
                }
                None => None,
            };
            Ok((done, next))
        })
    })
    .await?;
    Ok(web::Json(CompletedActivity {
        activity: ActivityResponse::from(&activity),
        next: next.as_ref().map(ActivityResponse::from),
    }))
}

fn prefix_fields(prefix: &'static str) -> impl Fn(ApiError) -> ApiError {
    move |error| match error {
        ApiError::Validation(fields) => ApiError::Validation(
            fields
                .into_iter()
                .map(|mut field| {
                    field.field = format!("{prefix}.{}", field.field);
                    field
                })
                .collect(),
        ),
        other => other,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgendaQuery {
    /// The first day, `YYYY-MM-DD`, in the workspace's time zone; today when omitted.
    pub date: Option<NaiveDate>,
    /// How many days from `date`: 1 to 31, 1 when omitted.
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u32>,
    /// Another user's agenda (managers, admins and owners).
    #[param(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
}

/// One line of the agenda: the activity with what a phone screen shows beside it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaItem {
    #[serde(flatten)]
    pub activity: ActivityResponse,
    pub client_name: Option<String>,
    /// The client's primary phone, E.164.
    pub client_phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agenda {
    pub user_id: UserId,
    /// The workspace's time zone, in which the window's days are reckoned.
    #[schema(example = "Europe/Moscow")]
    pub timezone: String,
    /// The window's first day.
    pub date: NaiveDate,
    pub days: u32,
    /// The window as instants: `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// How many planned activities are overdue, from any day.
    pub overdue_count: i64,
    /// Whether the window holds more than the 1,000 activities listed (`GET /activities` pages
    /// through them all).
    pub truncated: bool,
    /// The 100 most recent overdue planned activities (oldest first), then those due in the
    /// window and not yet overdue, in time order (at most 1,000).
    pub items: Vec<AgendaItem>,
}

/// How many overdue activities the agenda lists: the most recent ones. A user with thousands of
/// forgotten tasks still sees today's.
const AGENDA_OVERDUE_SHOWN: i64 = 100;
/// The most activities of the window the agenda lists.
const AGENDA_UPCOMING_SHOWN: i64 = 1000;

/// The caller's agenda: "whom do I call today".
#[utoipa::path(
    tag = "activities",
    operation_id = "get_agenda",
    security(("bearer" = [])),
    params(AgendaQuery),
    responses(
        (status = 200, description = "The agenda", body = Agenda),
        (status = 403, description = "Only managers, admins and owners see another user's agenda", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in the workspace", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me/agenda")]
pub async fn get_agenda(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AgendaQuery>,
) -> Result<web::Json<Agenda>, ApiError> {
    let days = query.days.unwrap_or(1);
    if !(1..=agenda::MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("days must be between 1 and {}", agenda::MAX_DAYS),
        ));
    }
    let user = query.user_id.unwrap_or(principal.user_id);
    if user != principal.user_id && !matches!(principal.role, Role::Owner | Role::Admin | Role::Manager) {
        return Err(ApiError::Forbidden(Cow::Borrowed(
            "only managers, admins and owners see others' agendas",
        )));
    }
    let date = query.date;
    let agenda = run_as(principal.caller(), &state.pool, move |conn| {
        let workspace = Workspace::find(conn, principal.workspace_id)?;
        User::find(conn, workspace.id, user)?;
        let timezone: chrono_tz::Tz = workspace.timezone.parse().unwrap_or(chrono_tz::UTC);
        let now = Utc::now();
        let date = date.unwrap_or_else(|| agenda::local_date(now, timezone));
        let (from, to) = agenda::day_window(date, days, timezone).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "date has no midnight in the workspace's time zone")
        })?;
        let overdue_count = Activity::count_overdue(conn, workspace.id, user, now)?;
        let mut planned = Activity::agenda_overdue(conn, workspace.id, user, now, AGENDA_OVERDUE_SHOWN)?;
        // What is due in the window and not yet overdue; one more than shown tells of a cut.
        let mut upcoming =
            Activity::agenda_window(conn, workspace.id, user, from.max(now), to, AGENDA_UPCOMING_SHOWN + 1)?;
        let truncated = upcoming.len() as i64 > AGENDA_UPCOMING_SHOWN;
        upcoming.truncate(AGENDA_UPCOMING_SHOWN as usize);
        planned.extend(upcoming);
        let items = planned
            .into_iter()
            .map(|line| {
                let phones = line.client_phones.map(|phones| phones.0).unwrap_or_default();
                AgendaItem {
                    activity: ActivityResponse::from(&line.activity),
                    client_name: line.client_name,
                    client_phone: phones
                        .iter()
                        .find(|phone| phone.primary)
                        .or(phones.first())
                        .map(|phone| phone.value.clone()),
                }
            })
            .collect();
        Ok(Agenda {
            user_id: user,
            timezone: workspace.timezone,
            date,
            days,
            from,
            to,
            overdue_count,
            truncated,
            items,
        })
    })
    .await?;
    Ok(web::Json(agenda))
}

/// The caller's fired reminders that they have not acknowledged yet, latest first.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_reminders",
    security(("bearer" = [])),
    responses((status = 200, description = "Pending reminders (at most 200)", body = Page<ActivityResponse>))
)]
#[get("/me/reminders")]
pub async fn list_reminders(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Activity::pending_reminders(conn, principal.workspace_id, principal.user_id)?)
    })
    .await?;
    Ok(web::Json(Page { data: rows.iter().map(ActivityResponse::from).collect(), next_cursor: None }))
}

/// Acknowledge one of the caller's fired reminders.
#[utoipa::path(
    tag = "activities",
    operation_id = "ack_reminder",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    responses(
        (status = 200, description = "The activity, its reminder acknowledged", body = ActivityResponse),
        (status = 404, description = "No fired reminder of the caller's with this id", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/me/reminders/{id}/ack")]
pub async fn ack_reminder(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
) -> Result<web::Json<ActivityResponse>, ApiError> {
    let id = id.into_inner();
    let activity = run_as(principal.caller(), &state.pool, move |conn| {
        Activity::ack_reminder(conn, principal.workspace_id, principal.user_id, id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(web::Json(ActivityResponse::from(&activity)))
}
