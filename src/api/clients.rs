//! Clients: individuals and companies in one resource, with lookups by email, phone and tax id,
//! fuzzy search, soft delete and restore.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::assignment::{Assignment, Requested};
use crate::api::custom_values::check_custom;
use crate::api::extract::{
    IfMatch, JsonBody, Page, decode_cursor, etag, not_null, nullable, page_limit, versioned_http,
};
use crate::api::listing::{
    DeletedQuery, ListCursor, Tombstone, decode_list_cursor, list_order, phone_key, search_query, sort_key,
    tombstone_page,
};
use crate::api::search::{SearchRequest, compile_filter, segment_condition};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client::ClientFilter;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::contact::Contact;
use crate::db::models::segment::Segment;
use crate::db::models::{Client, Workspace};
use crate::domain::Violation;
use crate::domain::client::{Address, Names, check_kind_fields, display_name, normalise_tags, search_text};
use crate::domain::contact_points::{Consent, ContactPoint, normalise_emails, normalise_phones};
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::enums::{ClientKind, CustomEntity, Gender, LifecycleStage, Relationship, Source};
use crate::domain::text::trimmed;
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::{ClientId, SegmentId, TeamId, UserId};
use crate::state::AppState;

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
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
    pub source: Option<Source>,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub emails: Vec<ContactPoint>,
    /// Phones in E.164.
    pub phones: Vec<ContactPoint>,
    pub address: Option<Address>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub consent: Option<Consent>,
    /// The workspace's custom fields: `{key: value}` (see `/custom-fields`).
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: serde_json::Value,
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
    #[schema(example = "champions")]
    pub rfm_class: Option<String>,
}

impl ClientStatsResponse {
    fn new(stats: ClientStats, currency_places: u32) -> Self {
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
    fn new(row: crate::db::models::client::SummaryRow, client: &Client, currency_places: u32) -> Self {
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
            source: client.source.as_deref().and_then(|source| source.parse().ok()),
            owner_id: client.owner_id,
            team_id: client.team_id,
            emails: client.emails.0,
            phones: client.phones.0,
            address: client.address.map(|address| address.0),
            tags: client.tags,
            notes: client.notes,
            consent: client.consent.map(|consent| consent.0),
            custom: client.custom,
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
    #[schema(example = "https://acme.example", max_length = 500)]
    pub website: Option<String>,
    /// `prospect` when omitted.
    pub relationship: Option<Relationship>,
    /// `lead` when omitted.
    pub lifecycle_stage: Option<LifecycleStage>,
    pub source: Option<Source>,
    /// The responsible user; the creator when omitted.
    pub owner_id: Option<UserId>,
    /// The owner's team when omitted.
    pub team_id: Option<TeamId>,
    #[serde(default)]
    pub emails: Vec<ContactPoint>,
    /// Any format; stored in E.164, read in the workspace's default region when written without
    /// a country code.
    #[serde(default)]
    pub phones: Vec<ContactPoint>,
    #[validate(nested)]
    pub address: Option<Address>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    #[validate(nested)]
    pub consent: Option<Consent>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: CustomValues,
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
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field (an empty list for lists). `kind`
/// can't change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    #[schema(value_type = Option<String>, max_length = 500)]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub relationship: Option<Relationship>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub lifecycle_stage: Option<LifecycleStage>,
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
    #[schema(value_type = Option<Vec<ContactPoint>>)]
    pub emails: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ContactPoint>>)]
    pub phones: Option<Option<Vec<ContactPoint>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Address>)]
    pub address: Option<Option<Address>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Consent>)]
    pub consent: Option<Option<Consent>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<Object>)]
    pub custom: Option<CustomValues>,
}

impl UpdateClient {
    /// Merges the change into the current state; the result is checked as a new client would be.
    fn apply_to(self, input: &mut ClientInput) -> Result<(), ApiError> {
        if self.kind.is_some_and(|kind| kind != input.kind) {
            return Err(ApiError::invalid_field("kind", "immutable", "a client's kind can't be changed"));
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
        merge_custom(&mut input.custom, self.custom);
        Ok(())
    }
}

/// Checks `input` and builds the row to store: the only path by which a client is written.
fn build_client(
    conn: &mut PgConnection,
    principal: &Principal,
    workspace: &Workspace,
    input: ClientInput,
    existing: Option<&Client>,
) -> Result<Client, ApiError> {
    // Every broken rule is reported at once: validator's, then the domain's.
    let mut errors = field_errors(&input);
    let (last_name, first_name, middle_name) =
        (trimmed(input.last_name), trimmed(input.first_name), trimmed(input.middle_name));
    let (name, legal_name) = (trimmed(input.name), trimmed(input.legal_name));
    let (registration_number, industry) = (trimmed(input.registration_number), trimmed(input.industry));
    let names = Names {
        last_name: last_name.as_deref(),
        first_name: first_name.as_deref(),
        middle_name: middle_name.as_deref(),
        name: name.as_deref(),
    };

    let mut violations: Vec<Violation> = check_kind_fields(
        input.kind,
        names,
        &[
            ("name", name.is_some()),
            ("legal_name", legal_name.is_some()),
            ("registration_number", registration_number.is_some()),
            ("industry", industry.is_some()),
        ],
        &[
            ("last_name", last_name.is_some()),
            ("first_name", first_name.is_some()),
            ("middle_name", middle_name.is_some()),
            ("birth_date", input.birth_date.is_some()),
            ("gender", input.gender.is_some()),
        ],
    );
    let emails = normalise_emails("emails", input.emails).map_err(|found| violations.extend(found)).ok();
    let phones = normalise_phones("phones", input.phones, &workspace.default_phone_region)
        .map_err(|found| violations.extend(found))
        .ok();
    let tags = normalise_tags(input.tags).map_err(|found| violations.extend(found)).ok();
    errors.extend(violations.into_iter().map(FieldError::from));
    let custom = check_custom(conn, workspace.id, CustomEntity::Client, input.custom, &mut errors)?;
    let (Some((emails, email_keys)), Some((phones, phone_keys)), Some(tags), true) =
        (emails, phones, tags, errors.is_empty())
    else {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    };

    let requested =
        Requested { owner_id: input.owner_id, team_id: input.team_id, is_new: existing.is_none() };
    let assignment = Assignment::resolve(conn, workspace.id, principal.user_id, requested)?;

    let display_name_override = trimmed(input.display_name);
    let display_name = display_name(input.kind, names, display_name_override.as_deref());
    let search_text = search_text(
        [display_name.as_str(), legal_name.as_deref().unwrap_or_default()]
            .into_iter()
            .chain(email_keys.iter().map(String::as_str))
            .chain(phone_keys.iter().map(String::as_str)),
    );
    let now = Utc::now();
    Ok(Client {
        workspace_id: workspace.id,
        id: existing.map_or_else(ClientId::generate, |client| client.id),
        kind: input.kind.as_str().to_string(),
        display_name,
        display_name_override,
        last_name,
        first_name,
        middle_name,
        birth_date: input.birth_date,
        gender: input.gender.map(|gender| gender.as_str().to_string()),
        name,
        legal_name,
        registration_number,
        industry,
        tax_id: trimmed(input.tax_id),
        website: trimmed(input.website),
        relationship: input.relationship.unwrap_or(Relationship::Prospect).as_str().to_string(),
        lifecycle_stage: input.lifecycle_stage.unwrap_or(LifecycleStage::Lead).as_str().to_string(),
        source: input.source.map(|source| source.as_str().to_string()),
        owner_id: assignment.owner_id,
        team_id: assignment.team_id,
        emails: Json(emails),
        phones: Json(phones),
        email_keys,
        phone_keys,
        address: input.address.map(Json),
        tags,
        notes: trimmed(input.notes),
        consent: input.consent.map(Json),
        search_text,
        version: existing.map_or(1, |client| client.version + 1),
        created_at: existing.map_or(now, |client| client.created_at),
        updated_at: now,
        created_by: existing.map_or(Some(principal.user_id), |client| client.created_by),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom,
    })
}

/// Refuses a new client whose email, phone or tax id a live client already has.
fn ensure_not_duplicate(conn: &mut PgConnection, client: &Client) -> Result<(), ApiError> {
    let found = Client::find_duplicates(
        conn,
        client.workspace_id,
        &client.email_keys,
        &client.phone_keys,
        client.tax_id.as_deref(),
        Some(client.id),
    )?;
    let Some(other) = found.first() else { return Ok(()) };
    let shares = |mine: &[String], theirs: &[String]| mine.iter().any(|key| theirs.contains(key));
    let what = if shares(&client.email_keys, &other.email_keys) {
        "an email"
    } else if shares(&client.phone_keys, &other.phone_keys) {
        "a phone"
    } else {
        "the tax id"
    };
    Err(ApiError::Duplicate {
        detail: format!(
            "client {} ({}) has {what} of this one; repeat with ?allow_duplicate=true to create it anyway",
            other.id, other.display_name
        ),
        conflicting_id: other.id.0,
    })
}

fn snapshot(client: &Client) -> serde_json::Value {
    to_json(&ClientResponse::from(client))
}

fn client_http(status: actix_web::http::StatusCode, client: &Client) -> HttpResponse {
    versioned_http(status, client.version, "clients", client.id, &ClientResponse::from(client))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateClientQuery {
    /// Create the client even if a live one has the same email, phone or tax id.
    pub allow_duplicate: Option<bool>,
}

/// Create a client.
///
/// A client whose email, phone or tax id already belongs to a live client is refused with 409
/// `duplicate` naming that client, unless `allow_duplicate=true`.
#[utoipa::path(
    tag = "clients",
    operation_id = "create_client",
    security(("bearer" = [])),
    params(CreateClientQuery),
    request_body = ClientInput,
    responses(
        (status = 201, description = "Created", body = ClientResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new client's URL"))),
        (status = 409, description = "A live client has the same email, phone or tax id (`conflicting_id`)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<CreateClientQuery>,
    body: JsonBody<ClientInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let allow_duplicate = query.allow_duplicate.unwrap_or(false);
    let client = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let client = build_client(conn, &principal, &workspace, body.0, None)?;
            if !allow_duplicate {
                ensure_not_duplicate(conn, &client)?;
            }
            let client = client.insert(conn)?;
            Client::sync_name_words(conn, client.workspace_id, client.id)?;
            let changes = ChangeSet::default().diff(None, &snapshot(&client), BOOKKEEPING);
            record_change(conn, &principal, "client", client.id.0, "created", client.version, changes)?;
            Ok(client)
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::CREATED, &client))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientListQuery {
    /// How many clients to return: 1 to 200, 50 when omitted.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// `updated_at`, `created_at` or `display_name`, prefixed with `-` for descending; the id
    /// breaks ties. Default `-updated_at`, or best match first with `q`. For a sync, use
    /// `updated_at` with `updated_since`: a record changed during the walk moves to the end and
    /// is seen again there, never missed.
    #[param(example = "-updated_at")]
    pub sort: Option<String>,
    pub kind: Option<ClientKind>,
    pub relationship: Option<Relationship>,
    pub lifecycle_stage: Option<LifecycleStage>,
    pub source: Option<Source>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// Clients with this tag.
    pub tag: Option<String>,
    /// Clients changed at or after this time.
    pub updated_since: Option<DateTime<Utc>>,
    /// Clients created at or after this time.
    pub created_since: Option<DateTime<Utc>>,
    /// Clients with this email, compared case-insensitively.
    pub email: Option<String>,
    /// Clients with this phone, in any format (normalised like stored phones).
    pub phone: Option<String>,
    /// Clients with this tax id.
    pub tax_id: Option<String>,
    /// Fuzzy search (Latin or Cyrillic, typos allowed; `%` and `_` match themselves). One word
    /// searches the words of names and legal names; several words, or text with `@` or without
    /// letters, search names, emails and phones together.
    pub q: Option<String>,
}

/// List clients, with filters, lookups and fuzzy search.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_clients",
    security(("bearer" = [])),
    params(ClientListQuery),
    responses((status = 200, description = "One page of clients", body = Page<ClientResponse>))
)]
#[get("/clients")]
pub async fn list_clients(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ClientListQuery>,
) -> Result<HttpResponse, ApiError> {
    clients_page_response(state, principal, query.into_inner(), None).await
}

/// Search clients with the filter language: `{filter, sort, limit, cursor}`. Fields: the record's,
/// `custom.<key>`, `tags` and `stats.*`. An unknown field, an operator the field doesn't take or a
/// bad value is a 422 naming its path (`filter.all[1].op`).
#[utoipa::path(
    tag = "clients",
    operation_id = "search_clients",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching clients", body = Page<ClientResponse>))
)]
#[post("/clients/search")]
pub async fn search_clients(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<HttpResponse, ApiError> {
    let search = body.0;
    let query = ClientListQuery {
        limit: search.limit,
        cursor: search.cursor,
        sort: search.sort,
        ..Default::default()
    };
    clients_page_response(state, principal, query, search.filter.map(Narrowing::Filter)).await
}

/// What narrows a client list beyond its query parameters.
pub(crate) enum Narrowing {
    /// A filter-language filter (a search or a segment preview).
    Filter(serde_json::Value),
    /// A segment's members, the segment read in the page's own database turn.
    Segment(SegmentId),
}

/// One page of clients for a list query, narrowed by a search filter or a segment, as a JSON
/// response.
pub(crate) async fn clients_page_response(
    state: web::Data<AppState>,
    principal: Principal,
    query: ClientListQuery,
    narrowing: Option<Narrowing>,
) -> Result<HttpResponse, ApiError> {
    let body = clients_page(state, principal, query, narrowing, |page| serde_json::to_vec(&page)).await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body.map_err(ApiError::internal)?))
}

/// One page of clients for a list query, narrowed by a search filter or a segment, handed to
/// `finish` in the blocking task that loaded it: serialising the page there means the rows'
/// strings and JSON are allocated and freed on one thread; freed on the web worker instead, each
/// went back to the loading thread's heap, which cost about a tenth of a list page's CPU.
pub(crate) async fn clients_page<R: Send + 'static>(
    state: web::Data<AppState>,
    principal: Principal,
    query: ClientListQuery,
    narrowing: Option<Narrowing>,
    finish: impl FnOnce(Page<ClientResponse>) -> R + Send + 'static,
) -> Result<R, ApiError> {
    let limit = page_limit(query.limit)?;
    let q = search_query(query.q.as_deref())?;
    let (sort_name, order, descending) = list_order(query.sort.as_deref(), q.is_some())?;
    let after = decode_list_cursor::<ClientId>(query.cursor.as_deref(), &sort_name, order)?;
    let mut filter = ClientFilter {
        kind: query.kind.map(ClientKind::as_str),
        relationship: query.relationship.map(Relationship::as_str),
        lifecycle_stage: query.lifecycle_stage.map(LifecycleStage::as_str),
        source: query.source.map(Source::as_str),
        owner_id: query.owner_id,
        team_id: query.team_id,
        tag: query.tag.map(|tag| tag.trim().to_string()),
        updated_since: query.updated_since,
        created_since: query.created_since,
        email: query.email.map(|email| email.trim().to_lowercase()),
        phone: None,
        tax_id: query.tax_id.map(|tax_id| tax_id.trim().to_string()),
        q: q.clone(),
        condition: None,
    };
    let phone = query.phone;
    run_as(principal.caller(), &state.pool, move |conn| {
        let workspace = principal.workspace_id;
        if let Some(phone) = phone {
            filter.phone = Some(phone_key(conn, workspace, &phone)?);
        }
        filter.condition = match narrowing {
            Some(Narrowing::Filter(search)) => {
                Some(compile_filter(conn, workspace, CustomEntity::Client, &search)?)
            }
            Some(Narrowing::Segment(id)) => {
                let segment = Segment::find(conn, workspace, id)?;
                Some(segment_condition(conn, &segment)?)
            }
            None => None,
        };
        let (rows, scores) =
            Client::list(conn, workspace, &filter, order, descending, after, i64::from(limit) + 1)?;
        // A relevance cursor carries the score of the page's last row.
        let last_score = scores.get(limit as usize).and(scores.get(limit as usize - 1)).copied();
        let key = |client: &Client| ListCursor {
            sort: sort_name.clone(),
            key: sort_key(order, client.updated_at, client.created_at, &client.display_name, last_score),
            id: client.id,
        };
        Ok(finish(Page::from_rows(rows, limit, key, ClientResponse::from)))
    })
    .await
}

/// List deleted clients (tombstones), oldest deletion first: for sync and undo.
#[utoipa::path(
    tag = "clients",
    operation_id = "list_deleted_clients",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/clients/deleted")]
pub async fn list_deleted_clients(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, ClientId)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Client::list_deleted(conn, principal.workspace_id, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |client| {
        (client.id, client.deleted_at.unwrap_or(client.updated_at), client.deleted_by, client.version)
    })))
}

/// Get one client.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    responses((status = 200, description = "The client", body = ClientResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/clients/{id}")]
pub async fn get_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (client, summary, stats) = run_as(principal.caller(), &state.pool, move |conn| {
        let (client, stats) = ClientStats::find_with_client(conn, principal.workspace_id, id)?;
        let summary = Client::summary(conn, principal.workspace_id, id)?;
        let places = crate::domain::money::places(&summary.currency);
        let summary = ClientSummary::new(summary, &client, places);
        let stats = ClientStatsResponse::new(stats, places);
        Ok((client, summary, stats))
    })
    .await?;
    let version = client.version;
    let mut response = ClientResponse::from(client);
    response.summary = Some(summary);
    response.stats = Some(stats);
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag(version))).json(response))
}

/// Update a client: a partial update, checked like a new client.
#[utoipa::path(
    tag = "clients",
    operation_id = "update_client",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The client's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateClient,
    responses(
        (status = 200, description = "Updated", body = ClientResponse, headers(("ETag" = String, description = "The record's version"))),
    )
)]
#[patch("/clients/{id}")]
pub async fn update_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    if_match: IfMatch,
    body: JsonBody<UpdateClient>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let client = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let current: Client = soft_delete::live_for_update(conn, principal.workspace_id, id)?;
            let mut input = ClientInput::from(&current);
            body.0.apply_to(&mut input)?;
            let candidate = build_client(conn, &principal, &workspace, input, Some(&current))?;
            // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
            if_match.check(current.version)?;
            let changes =
                ChangeSet::default().diff(Some(&snapshot(&current)), &snapshot(&candidate), BOOKKEEPING);
            if changes.is_empty() {
                return Ok(current);
            }
            let client = candidate.save(conn)?;
            if client.search_text != current.search_text {
                Client::sync_name_words(conn, client.workspace_id, client.id)?;
            }
            record_change(conn, &principal, "client", id.0, "updated", client.version, changes)?;
            Ok(client)
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::OK, &client))
}

/// Delete a client (soft): it and its contacts leave every list and lookup, restorable with
/// `POST /clients/{id}/restore`, and show up in `GET /clients/deleted`.
#[utoipa::path(
    tag = "clients",
    operation_id = "delete_client",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The client's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/clients/{id}")]
pub async fn delete_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            // Its contacts go with it, at its deletion time, so that restoring it restores exactly them.
            let along = |conn: &mut PgConnection, deleted: &Client, at, changes: ChangeSet| {
                let contacts =
                    Contact::mark_deleted_with_client(conn, deleted.workspace_id, id, at, principal.user_id)?;
                Ok(changes.field("contacts_deleted", None, &contacts))
            };
            soft_delete::delete(conn, &principal, id, &if_match, along).map(drop)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted client, with the contacts deleted along with it.
///
/// Restoring a live client changes nothing and returns it.
#[utoipa::path(
    tag = "clients",
    operation_id = "restore_client",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id")),
    responses((status = 200, description = "The restored client", body = ClientResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[post("/clients/{id}/restore")]
pub async fn restore_client(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let client = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            soft_delete::restore(conn, &principal, id, |conn, _: &Client, deleted_at, changes| {
                let (workspace, by) = (principal.workspace_id, principal.user_id);
                let restored = Client::mark_restored(conn, workspace, id, Utc::now(), by)?;
                let contacts = Contact::mark_restored_with_client(conn, workspace, id, deleted_at, by)?;
                Ok((restored, changes.field("contacts_restored", None, &contacts)))
            })
        })
    })
    .await?;
    Ok(client_http(actix_web::http::StatusCode::OK, &client))
}
