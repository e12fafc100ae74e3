//! What activities look like on the wire: the response, the input of a create, a partial update and
//! how it merges.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::extract::{not_null, nullable};
use crate::db::models::Activity;
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::enums::{ActivityKind, ActivityStatus, Channel, ContactReason, Direction};
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ActivityId, ClientId, ContactId, DealId, UserId};

/// An activity as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e51", "kind": "call", "direction": "outbound", "channel": "phone",
    "reason": "follow_up", "subject": "Agree on the spring order", "body": null, "outcome": null,
    "due_at": "2027-03-01T10:00:00Z", "reminder_at": "2027-03-01T09:45:00Z", "reminder_fired_at": null,
    "reminder_acked_at": null, "duration_seconds": null, "status": "planned", "completed_at": null,
    "assignee_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "client_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e11",
    "contact_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e21", "deal_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e41",
    "external_ref": null, "recording_url": null, "from": null, "to": "+79123456790", "custom": {},
    "external_refs": [{"system": "pbx", "id": "call-88812"}], "version": 1,
    "created_at": "2026-11-21T10:05:00.000000Z", "updated_at": "2026-11-21T10:05:00.000000Z",
    "created_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "updated_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01"
}))]
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
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: serde_json::Value,
    /// The ids other systems know the activity by: find it with `?external_ref=system:id`, upsert
    /// it with `PUT /activities/by-ref/{system}/{id}`.
    pub external_refs: Vec<ExternalRef>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

/// `overdue` when planned and past due at `now`, the stored status otherwise.
pub(super) fn derived_status(activity: &Activity, now: DateTime<Utc>) -> ActivityStatus {
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
            external_refs: activity.external_refs.0.clone(),
            version: activity.version,
            created_at: activity.created_at,
            updated_at: activity.updated_at,
            created_by: activity.created_by,
            updated_by: activity.updated_by,
        }
    }
}

/// A stored text column back into its enum; the CHECK constraints admit only known values.
pub(super) fn parse_text<T: std::str::FromStr>(value: &Option<String>) -> Option<T> {
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
#[schema(example = json!({
    "kind": "call",
    "subject": "Agree on the spring order",
    "due_at": "2027-03-01T10:00:00Z",
    "reminder_at": "2027-03-01T09:45:00Z",
    "reason": "follow_up"
}))]
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
    #[schema(format = "uri", max_length = 2000)]
    pub recording_url: Option<String>,
    #[validate(length(max = 320))]
    #[schema(max_length = 320)]
    pub from: Option<String>,
    #[validate(length(max = 320))]
    #[schema(max_length = 320)]
    pub to: Option<String>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: CustomValues,
    /// The ids other systems know the activity by; each names one activity of the workspace.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub external_refs: Vec<ExternalRef>,
}

impl ActivityInput {
    /// An activity of `kind` about `subject` with nothing else set.
    pub(super) fn new(kind: ActivityKind, subject: String) -> Self {
        Self {
            kind,
            direction: None,
            channel: None,
            reason: None,
            subject,
            body: None,
            outcome: None,
            due_at: None,
            reminder_at: None,
            duration_seconds: None,
            status: None,
            completed_at: None,
            assignee_id: None,
            client_id: None,
            contact_id: None,
            deal_id: None,
            external_ref: None,
            recording_url: None,
            from: None,
            to: None,
            custom: CustomValues::default(),
            external_refs: Vec::new(),
        }
    }
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
            external_refs: response.external_refs,
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome": "Agreed on a trial order", "status": "done", "duration_seconds": 300}))]
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
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CustomValues>)]
    pub custom: Option<CustomValues>,
    /// Replaces the activity's refs; `null` clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ExternalRef>>, max_items = 20)]
    pub external_refs: Option<Option<Vec<ExternalRef>>>,
}

impl UpdateActivity {
    pub(super) fn apply_to(self, input: &mut ActivityInput) {
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
        if let Some(refs) = self.external_refs {
            input.external_refs = refs.unwrap_or_default();
        }
        if let Some(assignee) = self.assignee_id {
            input.assignee_id = Some(assignee);
        }
    }
}
