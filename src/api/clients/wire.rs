//! What clients look like on the wire: the response with its stats and summary, the input of a
//! create, a partial update and how it merges.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::extract::{not_null, nullable};
use crate::db::models::Client;
use crate::db::models::client_stats::ClientStats;
use crate::domain::FieldCode;
use crate::domain::client::Address;
use crate::domain::consent::CurrentConsents;
use crate::domain::contact_points::{Consent, ContactPoint, EmailEntry, PhoneEntry};
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::enums::{ClientKind, Gender, LifecycleStage, Relationship, Source};
use crate::domain::external_ref::ExternalRef;
use crate::error::ApiError;
use crate::ids::{ClientId, TeamId, UserId};

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e11", "kind": "company", "display_name": "Acme Trading",
    "last_name": null, "first_name": null, "middle_name": null, "birth_date": null, "gender": null,
    "name": "Acme Trading", "legal_name": "ООО «Акме Трейдинг»", "tax_id": "7707083893",
    "registration_number": null, "industry": "Wholesale", "website": "https://acme.example",
    "relationship": "customer", "lifecycle_stage": "customer", "lifecycle_auto": true, "source": "website",
    "owner_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "team_id": null,
    "emails": [{"value": "office@acme.example", "label": "work", "primary": true}],
    "phones": [{"value": "+79123456789", "label": "reception", "primary": true}],
    "address": null, "tags": ["wholesale"], "notes": null, "consent": null, "custom": {},
    "consents": {"marketing_email": {"state": "granted", "occurred_at": "2026-03-01T10:00:00Z", "channel": "website"}},
    "external_refs": [{"system": "1c", "id": "000123"}], "version": 3,
    "created_at": "2026-11-02T09:14:05.123456Z", "updated_at": "2026-11-20T15:41:37.654321Z",
    "created_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "updated_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01"
}))]
pub struct ClientResponse {
    pub id: ClientId,
    pub kind: ClientKind,
    /// For a person "Last First Middle" unless set explicitly; for a company its name.
    #[schema(example = "Иванов Иван Иванович")]
    pub display_name: String,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    /// The patronymic, where there is one.
    pub middle_name: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    /// A company's name.
    pub name: Option<String>,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub registration_number: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub relationship: Relationship,
    pub lifecycle_stage: LifecycleStage,
    /// Whether purchases move `lifecycle_stage` (customer at the first won deal, loyal and churned by
    /// the workspace's `lifecycle` thresholds), each move in the client's history; false once a user
    /// sets the stage.
    pub lifecycle_auto: bool,
    pub source: Option<Source>,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    #[schema(value_type = Vec<EmailEntry>)]
    pub emails: Vec<ContactPoint>,
    /// Phones in E.164.
    #[schema(value_type = Vec<PhoneEntry>)]
    pub phones: Vec<ContactPoint>,
    pub address: Option<Address>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// A free-form note about consent, kept as written. What exports, call lists and campaigns obey
    /// is `consents`, recorded through `/clients/{id}/consents`.
    pub consent: Option<Consent>,
    /// The current state of each consent purpose (`marketing_email`, `calls`, …): its latest record
    /// in the consent ledger (`/clients/{id}/consents`). A purpose never recorded is absent, and
    /// counts as not granted. Filter on it as `consent.<purpose>`.
    pub consents: CurrentConsents,
    /// The workspace's custom fields: `{key: value}` (see `/custom-fields`).
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: serde_json::Value,
    /// The ids other systems know the client by: find it with `?external_ref=system:id`, upsert it
    /// with `PUT /clients/by-ref/{system}/{id}`.
    pub external_refs: Vec<ExternalRef>,
    /// How many times the record was written; send it back in `If-Match` to update safely.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
    /// The card's summary: only in `GET /clients/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<ClientSummary>,
    /// The client's buying and contact behaviour: only in `GET /clients/{id}`. Filter on it as
    /// `stats.<name>` in searches and segments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<ClientStatsResponse>,
}

/// A client's behaviour, kept current by every deal and activity write. `activities_30d` and
/// `activities_90d` are exact when written and re-aged hourly; the RFM scores and class are
/// recomputed hourly and by `POST /segments/rfm/refresh`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientStatsResponse {
    /// Won deals.
    pub won_count: i32,
    /// The won deals' total in the workspace currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "98000.00")]
    pub won_amount: rust_decimal::Decimal,
    /// When the first won deal closed.
    pub first_purchase_at: Option<DateTime<Utc>>,
    /// When the last won deal closed.
    pub last_purchase_at: Option<DateTime<Utc>>,
    pub open_deals_count: i32,
    /// When the last done activity (of any kind) was completed.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Done activities in the last 30 days.
    pub activities_30d: i32,
    /// Done activities in the last 90 days.
    pub activities_90d: i32,
    /// 1-5: how recently the client bought, within the workspace (5 = most recent fifth). Null
    /// for a client who never bought.
    pub rfm_recency: Option<i16>,
    /// 1-5: how often the client bought.
    pub rfm_frequency: Option<i16>,
    /// 1-5: how much the client spent.
    pub rfm_monetary: Option<i16>,
    /// champions, loyal, potential_loyalists, new_customers, promising, need_attention,
    /// about_to_sleep, at_risk, cant_lose or hibernating; null for a client who never bought.
    #[schema(value_type = Option<crate::api::schemas::RfmClass>, example = "champions")]
    pub rfm_class: Option<String>,
}

impl ClientStatsResponse {
    pub(super) fn new(stats: ClientStats, currency_places: u32) -> Self {
        Self {
            won_count: stats.won_count,
            won_amount: crate::domain::money::round(stats.won_amount, currency_places),
            first_purchase_at: stats.first_purchase_at,
            last_purchase_at: stats.last_purchase_at,
            open_deals_count: stats.open_deals_count,
            last_activity_at: stats.last_activity_at,
            activities_30d: stats.activities_30d,
            activities_90d: stats.activities_90d,
            rfm_recency: stats.rfm_recency,
            rfm_frequency: stats.rfm_frequency,
            rfm_monetary: stats.rfm_monetary,
            rfm_class: stats.rfm_class,
        }
    }
}

/// When and why the client was last contacted, what was agreed, what is planned next, and how
/// their deals stand: the minimal data set every client carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSummary {
    pub last_contact: Option<LastContact>,
    pub next_activity: Option<NextPlanned>,
    /// The workspace currency (ISO 4217) that the amounts here and in `stats` are in.
    #[schema(example = "RUB")]
    pub currency: String,
    pub open_deals: i64,
    /// In the workspace currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1500.00")]
    pub open_amount: rust_decimal::Decimal,
    pub won_deals: i64,
    /// In the workspace currency.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "98000.00")]
    pub won_amount: rust_decimal::Decimal,
    /// When the last won deal closed.
    pub last_purchase_at: Option<DateTime<Utc>>,
    /// How many times the record was written (its `version`), and when last.
    pub updates: i32,
    pub last_updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastContact {
    pub at: DateTime<Utc>,
    pub kind: crate::domain::enums::ActivityKind,
    pub reason: Option<crate::domain::enums::ContactReason>,
    /// What was agreed.
    pub outcome: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextPlanned {
    pub activity_id: uuid::Uuid,
    pub at: Option<DateTime<Utc>>,
    pub kind: crate::domain::enums::ActivityKind,
    pub assignee_id: Option<uuid::Uuid>,
}

impl ClientSummary {
    pub(super) fn new(
        row: crate::db::models::client::SummaryRow,
        client: &Client,
        currency_places: u32,
    ) -> Self {
        let money = |amount: rust_decimal::Decimal| crate::domain::money::round(amount, currency_places);
        let last_kind = row.last_contact_kind.as_deref().and_then(|kind| kind.parse().ok());
        let next_kind = row.next_activity_kind.as_deref().and_then(|kind| kind.parse().ok());
        Self {
            last_contact: row.last_contact_at.zip(last_kind).map(|(at, kind)| LastContact {
                at,
                kind,
                reason: row.last_contact_reason.as_deref().and_then(|reason| reason.parse().ok()),
                outcome: row.last_contact_outcome.clone(),
            }),
            next_activity: row.next_activity_id.zip(next_kind).map(|(activity_id, kind)| NextPlanned {
                activity_id,
                at: row.next_activity_at,
                kind,
                assignee_id: row.next_activity_assignee_id,
            }),
            currency: row.currency,
            open_deals: row.open_deals,
            open_amount: money(row.open_amount),
            won_deals: row.won_deals,
            won_amount: money(row.won_amount),
            last_purchase_at: row.last_purchase_at,
            updates: client.version,
            last_updated_at: client.updated_at,
        }
    }
}

impl From<&Client> for ClientResponse {
    fn from(client: &Client) -> Self {
        Self::from(client.clone())
    }
}

/// By value, for lists: the strings and JSON move into the response instead of being copied.
impl From<Client> for ClientResponse {
    fn from(client: Client) -> Self {
        Self {
            id: client.id,
            kind: client.kind.parse().unwrap_or(ClientKind::Person),
            display_name: client.display_name,
            last_name: client.last_name,
            first_name: client.first_name,
            middle_name: client.middle_name,
            birth_date: client.birth_date,
            gender: client.gender.as_deref().and_then(|gender| gender.parse().ok()),
            name: client.name,
            legal_name: client.legal_name,
            tax_id: client.tax_id,
            registration_number: client.registration_number,
            industry: client.industry,
            website: client.website,
            relationship: client.relationship.parse().unwrap_or(Relationship::Other),
            lifecycle_stage: client.lifecycle_stage.parse().unwrap_or(LifecycleStage::Lead),
            lifecycle_auto: !client.lifecycle_set_by_hand,
            source: client.source.as_deref().and_then(|source| source.parse().ok()),
            owner_id: client.owner_id,
            team_id: client.team_id,
            emails: client.emails.0,
            phones: client.phones.0,
            address: client.address.map(|address| address.0),
            tags: client.tags,
            notes: client.notes,
            consent: client.consent.map(|consent| consent.0),
            consents: client.consents.0,
            custom: client.custom,
            external_refs: client.external_refs.0,
            version: client.version,
            created_at: client.created_at,
            updated_at: client.updated_at,
            created_by: client.created_by,
            updated_by: client.updated_by,
            summary: None,
            stats: None,
        }
    }
}

/// A client to create; also what an update is merged into before the same checks run.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "company",
    "name": "Acme Trading",
    "tax_id": "7707083893",
    "emails": [{"value": "office@acme.example", "label": "work"}],
    "phones": [{"value": "+7 912 345-67-89", "label": "reception"}],
    "relationship": "customer",
    "source": "website",
    "tags": ["wholesale"]
}))]
pub struct ClientInput {
    pub kind: ClientKind,
    /// Overrides the derived display name.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub display_name: Option<String>,
    /// Person only; a person needs a last or a first name.
    #[validate(length(max = 200))]
    #[schema(example = "Иванов", max_length = 200)]
    pub last_name: Option<String>,
    /// Person only.
    #[validate(length(max = 200))]
    #[schema(example = "Иван", max_length = 200)]
    pub first_name: Option<String>,
    /// Person only: the patronymic.
    #[validate(length(max = 200))]
    #[schema(example = "Иванович", max_length = 200)]
    pub middle_name: Option<String>,
    /// Person only.
    pub birth_date: Option<NaiveDate>,
    /// Person only.
    pub gender: Option<Gender>,
    /// Company only, and required for one.
    #[validate(length(max = 500))]
    #[schema(example = "Acme", max_length = 500)]
    pub name: Option<String>,
    /// Company only.
    #[validate(length(max = 500))]
    #[schema(example = "ООО «Акме»", max_length = 500)]
    pub legal_name: Option<String>,
    /// Company only: OGRN or the local equivalent.
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub registration_number: Option<String>,
    /// Company only.
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub industry: Option<String>,
    /// INN, VAT number or the local equivalent; an individual entrepreneur has one too.
    #[validate(length(min = 1, max = 50))]
    #[schema(example = "7707083893", min_length = 1, max_length = 50)]
    pub tax_id: Option<String>,
    #[validate(url, length(max = 500))]
    #[schema(format = "uri", example = "https://acme.example", max_length = 500)]
    pub website: Option<String>,
    /// `prospect` when omitted.
    pub relationship: Option<Relationship>,
    /// `lead` when omitted.
    pub lifecycle_stage: Option<LifecycleStage>,
    /// Whether purchases move the stage from now on: true when `lifecycle_stage` is left out, false
    /// when it is given (the user set it), unless said.
    pub lifecycle_auto: Option<bool>,
    pub source: Option<Source>,
    /// The responsible user; the creator when omitted.
    pub owner_id: Option<UserId>,
    /// The owner's team when omitted.
    pub team_id: Option<TeamId>,
    #[serde(default)]
    #[schema(value_type = Vec<EmailEntry>)]
    pub emails: Vec<ContactPoint>,
    /// Any format; stored in E.164, read in the workspace's default region when written without
    /// a country code.
    #[serde(default)]
    #[schema(value_type = Vec<PhoneEntry>)]
    pub phones: Vec<ContactPoint>,
    #[validate(nested)]
    pub address: Option<Address>,
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::schemas::Tag>, max_items = 50)]
    pub tags: Vec<String>,
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    #[validate(nested)]
    pub consent: Option<Consent>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: CustomValues,
    /// The ids other systems know the client by; each names one client of the workspace.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub external_refs: Vec<ExternalRef>,
}

impl ClientInput {
    /// A new client of `kind` with nothing else set: what an upsert that creates fills in.
    pub(super) fn blank(kind: ClientKind) -> Result<Self, ApiError> {
        serde_json::from_value(serde_json::json!({ "kind": kind })).map_err(ApiError::internal)
    }
}

impl From<&Client> for ClientInput {
    fn from(client: &Client) -> Self {
        let response = ClientResponse::from(client);
        Self {
            kind: response.kind,
            display_name: client.display_name_override.clone(),
            last_name: response.last_name,
            first_name: response.first_name,
            middle_name: response.middle_name,
            birth_date: response.birth_date,
            gender: response.gender,
            name: response.name,
            legal_name: response.legal_name,
            registration_number: response.registration_number,
            industry: response.industry,
            tax_id: response.tax_id,
            website: response.website,
            relationship: Some(response.relationship),
            lifecycle_stage: Some(response.lifecycle_stage),
            lifecycle_auto: Some(response.lifecycle_auto),
            source: response.source,
            owner_id: response.owner_id,
            team_id: response.team_id,
            emails: response.emails,
            phones: response.phones,
            address: response.address,
            tags: response.tags,
            notes: response.notes,
            consent: response.consent,
            custom: custom_of(&client.custom),
            external_refs: response.external_refs,
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field (an empty list for lists). `kind`
/// can't change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"lifecycle_stage": "customer", "tags": ["wholesale", "priority"]}))]
pub struct UpdateClient {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub kind: Option<ClientKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub last_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub first_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub middle_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub birth_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Gender>)]
    pub gender: Option<Option<Gender>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub registration_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub tax_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri", max_length = 500)]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub relationship: Option<Relationship>,
    /// Sets the stage by hand: purchases no longer move it, unless `lifecycle_auto` is true too.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub lifecycle_stage: Option<LifecycleStage>,
    /// true hands the stage back to the purchases (it moves to what they say at once); false keeps
    /// it where it is.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub lifecycle_auto: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Source>)]
    pub source: Option<Option<Source>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Option<UserId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<Option<TeamId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<EmailEntry>>)]
    pub emails: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<PhoneEntry>>)]
    pub phones: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<crate::api::schemas::Tag>>, max_items = 50)]
    pub tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Consent>)]
    pub consent: Option<Option<Consent>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CustomValues>)]
    pub custom: Option<CustomValues>,
    /// Replaces the client's refs; `null` clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ExternalRef>>, max_items = 20)]
    pub external_refs: Option<Option<Vec<ExternalRef>>>,
}

impl UpdateClient {
    /// Merges the change into the current state; the result is checked as a new client would be.
    pub(super) fn apply_to(self, input: &mut ClientInput) -> Result<(), ApiError> {
        if self.kind.is_some_and(|kind| kind != input.kind) {
            return Err(ApiError::invalid_field(
                "kind",
                FieldCode::Immutable,
                "a client's kind can't be changed",
            ));
        }
        macro_rules! set {
            ($($field:ident),+) => { $(if let Some(value) = self.$field { input.$field = value; })+ };
        }
        set!(
            display_name,
            last_name,
            first_name,
            middle_name,
            birth_date,
            gender,
            name,
            legal_name,
            registration_number,
            industry,
            tax_id,
            website,
            source,
            owner_id,
            team_id,
            address,
            notes,
            consent
        );
        if let Some(relationship) = self.relationship {
            input.relationship = Some(relationship);
        }
        if let Some(stage) = self.lifecycle_stage {
            input.lifecycle_stage = Some(stage);
            input.lifecycle_auto = Some(false);
        }
        if let Some(auto) = self.lifecycle_auto {
            input.lifecycle_auto = Some(auto);
        }
        if let Some(emails) = self.emails {
            input.emails = emails.unwrap_or_default();
        }
        if let Some(phones) = self.phones {
            input.phones = phones.unwrap_or_default();
        }
        if let Some(tags) = self.tags {
            input.tags = tags.unwrap_or_default();
        }
        if let Some(refs) = self.external_refs {
            input.external_refs = refs.unwrap_or_default();
        }
        merge_custom(&mut input.custom, self.custom);
        Ok(())
    }
}
