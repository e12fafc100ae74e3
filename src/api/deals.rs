//! Deals: sales opportunities moving through a pipeline, with exact money, line items, stage
//! history and a kanban board.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::assignment::{Assignment, Requested};
use crate::api::custom_values::check_custom;
use crate::api::extract::{
    IfMatch, JsonBody, Page, decode_cursor, not_null, nullable, page_limit, versioned_http,
};
use crate::api::listing::{DeletedQuery, Tombstone, search_query, tombstone_page};
use crate::api::search::{SearchRequest, compile_filter};
use crate::api::soft_delete;
use crate::api::{BOOKKEEPING, Parent, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::deal::{DealFilter, DealItem, DealOrder, DealSortKey, StageChange};
use crate::db::models::{Client, Contact, Deal, Pipeline, Product, Stage, Workspace};
use crate::domain::client::normalise_tags;
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::deal::{self as deal_rules, DealContext, DealDraft, ItemDraft, ProductDefaults};
use crate::domain::enums::{CustomEntity, Source, StageKind};
use crate::domain::money::{self, check_currency};
use crate::domain::text::non_blank;
use crate::domain::text::trimmed;
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::{ClientId, ContactId, DealId, PipelineId, ProductId, StageId, TeamId, UserId, WorkspaceId};
use crate::state::AppState;

/// A decimal string in JSON, exact.
type Money = Decimal;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealItemResponse {
    pub id: uuid::Uuid,
    pub product_id: Option<ProductId>,
    pub name: String,
    pub product_group: Option<String>,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "3")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "4.90")]
    pub unit_price: Money,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "10")]
    pub discount_percent: Decimal,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "20")]
    pub tax_percent: Option<Decimal>,
    /// quantity × unit price, less the discount, plus the tax, rounded half-even to the
    /// currency's minor units.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "15.88")]
    pub total: Money,
}

impl From<&DealItem> for DealItemResponse {
    fn from(item: &DealItem) -> Self {
        Self {
            id: item.id,
            product_id: item.product_id,
            name: item.name.clone(),
            product_group: item.product_group.clone(),
            quantity: item.quantity,
            unit_price: item.unit_price,
            discount_percent: item.discount_percent,
            tax_percent: item.tax_percent,
            total: item.total,
        }
    }
}

/// A deal without its line items, as a card on the board shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DealCard {
    pub id: DealId,
    #[schema(example = "Tea for the Kazan office")]
    pub title: String,
    pub client_id: ClientId,
    pub contact_id: Option<ContactId>,
    pub pipeline_id: PipelineId,
    pub stage_id: StageId,
    /// The kind of the deal's stage.
    pub status: StageKind,
    /// The sum of the items' totals when there are items.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1234.50")]
    pub amount: Money,
    /// ISO 4217.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Units of the workspace currency per unit of `currency`.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "98.5")]
    pub exchange_rate: Option<Decimal>,
    /// The amount in the workspace currency, for reports; null for a foreign-currency deal
    /// without an exchange rate.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub amount_base: Option<Money>,
    /// 0 to 100: the deal's own, or its stage's.
    pub probability: i16,
    /// Whether `probability` is the deal's own rather than the stage's.
    pub probability_is_custom: bool,
    pub expected_close_date: Option<NaiveDate>,
    /// When the deal reached its won or lost stage; null while open.
    pub closed_at: Option<DateTime<Utc>>,
    pub lost_reason: Option<String>,
    /// What is agreed now.
    pub agreement: Option<String>,
    pub next_step: Option<String>,
    pub source: Option<Source>,
    pub owner_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub tags: Vec<String>,
    /// When the deal entered its current stage.
    pub stage_entered_at: DateTime<Utc>,
    /// The workspace's custom fields: `{key: value}` (see `/custom-fields`).
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DealResponse {
    #[serde(flatten)]
    pub deal: DealCard,
    pub items: Vec<DealItemResponse>,
}

fn deal_response(deal: &Deal, items: &[DealItem]) -> DealResponse {
    DealResponse {
        deal: deal_card(deal),
        items: items.iter().filter(|item| item.deal_id == deal.id).map(DealItemResponse::from).collect(),
    }
}

fn deal_card(deal: &Deal) -> DealCard {
    DealCard {
        id: deal.id,
        title: deal.title.clone(),
        client_id: deal.client_id,
        contact_id: deal.contact_id,
        pipeline_id: deal.pipeline_id,
        stage_id: deal.stage_id,
        status: deal.status.parse().unwrap_or(StageKind::Open),
        amount: deal.amount,
        currency: deal.currency.clone(),
        exchange_rate: deal.exchange_rate,
        amount_base: deal.amount_base,
        probability: deal.probability,
        probability_is_custom: deal.probability_override.is_some(),
        expected_close_date: deal.expected_close_date,
        closed_at: deal.closed_at,
        lost_reason: deal.lost_reason.clone(),
        agreement: deal.agreement.clone(),
        next_step: deal.next_step.clone(),
        source: deal.source.as_deref().and_then(|source| source.parse().ok()),
        owner_id: deal.owner_id,
        team_id: deal.team_id,
        tags: deal.tags.clone(),
        stage_entered_at: deal.stage_entered_at,
        custom: deal.custom.clone(),
        version: deal.version,
        created_at: deal.created_at,
        updated_at: deal.updated_at,
        created_by: deal.created_by,
        updated_by: deal.updated_by,
    }
}

/// A line item to store; unset fields come from the product.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    pub product_id: Option<ProductId>,
    /// The product's name when omitted; required without a product.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub product_group: Option<String>,
    /// A decimal string greater than 0.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "3")]
    pub quantity: Decimal,
    /// A decimal string; the product's price when omitted (then the product's currency must be
    /// the deal's).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "4.90")]
    pub unit_price: Option<Decimal>,
    /// 0 to 100.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "10")]
    pub discount_percent: Option<Decimal>,
    /// 0 to 100, added on top of the discounted price.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "20")]
    pub tax_percent: Option<Decimal>,
}

impl From<&DealItem> for ItemInput {
    fn from(item: &DealItem) -> Self {
        Self {
            product_id: item.product_id,
            name: Some(item.name.clone()),
            product_group: item.product_group.clone(),
            quantity: item.quantity,
            unit_price: Some(item.unit_price),
            discount_percent: Some(item.discount_percent),
            tax_percent: item.tax_percent,
        }
    }
}

/// A deal to create; also what an update is merged into before the same checks run.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealInput {
    #[validate(length(min = 1, max = 500))]
    #[schema(example = "Tea for the Kazan office", min_length = 1, max_length = 500)]
    pub title: String,
    pub client_id: ClientId,
    /// A contact of that client.
    pub contact_id: Option<ContactId>,
    /// The default pipeline when omitted.
    pub pipeline_id: Option<PipelineId>,
    /// A stage of that pipeline; its first open stage when omitted.
    pub stage_id: Option<StageId>,
    /// A decimal string with at most the currency's minor units; must be omitted (or equal the
    /// sum) when there are items.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "1234.50")]
    pub amount: Option<Decimal>,
    /// ISO 4217; the workspace's currency when omitted.
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Units of the workspace currency per unit of `currency`, for a foreign-currency deal.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "98.5")]
    pub exchange_rate: Option<Decimal>,
    /// The deal's own probability, 0 to 100; the stage's when omitted.
    #[validate(range(max = 100))]
    #[schema(maximum = 100)]
    pub probability: Option<u8>,
    pub expected_close_date: Option<NaiveDate>,
    /// When a won or lost deal closed, for history brought over from another system; by default
    /// the moment the deal reaches a won or lost stage. Not in the future, and not on an open deal.
    pub closed_at: Option<DateTime<Utc>>,
    /// Required when the stage is a lost one.
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub lost_reason: Option<String>,
    #[validate(length(max = 10000))]
    #[schema(max_length = 10000)]
    pub agreement: Option<String>,
    #[validate(length(max = 2000))]
    #[schema(max_length = 2000)]
    pub next_step: Option<String>,
    pub source: Option<Source>,
    /// The creator when omitted.
    pub owner_id: Option<UserId>,
    /// The owner's team when omitted.
    pub team_id: Option<TeamId>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[validate(nested, length(max = 500))]
    pub items: Vec<ItemInput>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"loyalty_tier": "gold"}))]
    pub custom: CustomValues,
}

impl DealInput {
    fn from_deal(deal: &Deal, items: &[DealItem]) -> Self {
        Self {
            title: deal.title.clone(),
            client_id: deal.client_id,
            contact_id: deal.contact_id,
            pipeline_id: Some(deal.pipeline_id),
            stage_id: Some(deal.stage_id),
            amount: if items.is_empty() { Some(deal.amount) } else { None },
            currency: Some(deal.currency.clone()),
            exchange_rate: deal.exchange_rate,
            probability: deal.probability_override.and_then(|probability| u8::try_from(probability).ok()),
            expected_close_date: deal.expected_close_date,
            // Only what a request sets: otherwise the closing time follows the stage.
            closed_at: None,
            lost_reason: deal.lost_reason.clone(),
            agreement: deal.agreement.clone(),
            next_step: deal.next_step.clone(),
            source: deal.source.as_deref().and_then(|source| source.parse().ok()),
            owner_id: deal.owner_id,
            team_id: deal.team_id,
            tags: deal.tags.clone(),
            items: items.iter().map(ItemInput::from).collect(),
            custom: custom_of(&deal.custom),
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field. `items` replaces every item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeal {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 500)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub contact_id: Option<Option<ContactId>>,
    /// Moving to another pipeline needs a `stage_id` of it too (or takes its first open stage).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub stage_id: Option<StageId>,
    #[serde(default, deserialize_with = "nullable_decimal")]
    #[schema(value_type = Option<String>)]
    pub amount: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "nullable_decimal")]
    #[schema(value_type = Option<String>)]
    pub exchange_rate: Option<Option<Decimal>>,
    /// `null` returns to the stage's probability.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u8>, maximum = 100)]
    pub probability: Option<Option<u8>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>)]
    pub expected_close_date: Option<Option<NaiveDate>>,
    /// Corrects when a won or lost deal closed.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub lost_reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 10000)]
    pub agreement: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub next_step: Option<Option<String>>,
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
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ItemInput>>)]
    pub items: Option<Option<Vec<ItemInput>>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<Object>)]
    pub custom: Option<CustomValues>,
}

/// A decimal string that may be absent, null or a value.
fn nullable_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Decimal>>, D::Error> {
    rust_decimal::serde::str_option::deserialize(deserializer).map(Some)
}

impl UpdateDeal {
    fn apply_to(self, input: &mut DealInput) {
        macro_rules! set {
            ($($field:ident),+) => { $(if let Some(value) = self.$field { input.$field = value; })+ };
        }
        set!(
            contact_id,
            amount,
            exchange_rate,
            probability,
            expected_close_date,
            lost_reason,
            agreement,
            next_step,
            source,
            owner_id,
            team_id
        );
        if let Some(title) = self.title {
            input.title = title;
        }
        if let Some(closed_at) = self.closed_at {
            input.closed_at = Some(closed_at);
        }
        if let Some(client) = self.client_id {
            input.client_id = client;
        }
        if let Some(pipeline) = self.pipeline_id {
            if Some(pipeline) != input.pipeline_id && self.stage_id.is_none() {
                input.stage_id = None;
            }
            input.pipeline_id = Some(pipeline);
        }
        if let Some(stage) = self.stage_id {
            input.stage_id = Some(stage);
        }
        if let Some(currency) = self.currency {
            input.currency = Some(currency);
        }
        if let Some(tags) = self.tags {
            input.tags = tags.unwrap_or_default();
        }
        if let Some(items) = self.items {
            input.items = items.unwrap_or_default();
            // With new items the amount is their sum again.
            if !input.items.is_empty() && self.amount.is_none() {
                input.amount = None;
            }
        }
        merge_custom(&mut input.custom, self.custom);
    }
}

/// Checks `input` and builds the deal and its items: the only path by which a deal is written.
/// First every rule of the fields themselves, then the records they name, then the money and
/// closing rules (`domain::deal`).
fn build_deal(
    conn: &mut PgConnection,
    principal: &Principal,
    workspace: &Workspace,
    input: DealInput,
    existing: Option<&Deal>,
) -> Result<(Deal, Vec<DealItem>), ApiError> {
    let fields = check_fields(conn, workspace, &input)?;
    let named = NamedRecords::look_up(conn, principal, workspace.id, &input, existing)?;
    let now = Utc::now();
    let draft = DealDraft {
        currency: &fields.currency,
        places: fields.places,
        amount: input.amount,
        exchange_rate: input.exchange_rate,
        items: input
            .items
            .iter()
            .map(|item| ItemDraft {
                product: item.product_id.and_then(|id| named.products.get(&id)).map(|product| {
                    ProductDefaults {
                        name: &product.name,
                        product_group: product.product_group.as_deref(),
                        price: product.price,
                        currency: &product.currency,
                    }
                }),
                name: item.name.as_deref(),
                product_group: item.product_group.as_deref(),
                quantity: item.quantity,
                unit_price: item.unit_price,
                discount_percent: item.discount_percent,
                tax_percent: item.tax_percent,
            })
            .collect(),
        closed_at: input.closed_at,
        lost_reason: input.lost_reason.as_deref(),
    };
    let context = DealContext {
        workspace_currency: &workspace.default_currency,
        status: named.status,
        previous: existing.map(|deal| (deal.status.parse().unwrap_or(StageKind::Open), deal.closed_at)),
        now,
    };
    let plan = deal_rules::plan(&draft, &context)?;

    let workspace_id = workspace.id;
    let deal_id = existing.map_or_else(DealId::generate, |deal| deal.id);
    let items = plan
        .items
        .into_iter()
        .zip(&input.items)
        .enumerate()
        .map(|(index, (priced, item))| DealItem {
            workspace_id,
            id: uuid::Uuid::now_v7(),
            deal_id,
            position: index as i32 + 1,
            product_id: item.product_id,
            name: priced.name,
            product_group: priced.product_group,
            quantity: priced.line.quantity,
            unit_price: priced.line.unit_price,
            discount_percent: priced.line.discount_percent,
            tax_percent: priced.line.tax_percent,
            total: priced.total,
        })
        .collect();
    let stage_changed = existing.is_none_or(|deal| deal.stage_id != named.stage.id);
    let probability_override = input.probability.map(i16::from);
    let deal = Deal {
        workspace_id,
        id: deal_id,
        search_text: fields.title.to_lowercase(),
        title: fields.title,
        client_id: input.client_id,
        contact_id: input.contact_id,
        pipeline_id: named.stage.pipeline_id,
        stage_id: named.stage.id,
        status: named.status.as_str().to_string(),
        amount: plan.amount,
        currency: fields.currency,
        exchange_rate: plan.exchange_rate,
        amount_base: plan.amount_base,
        probability: probability_override.unwrap_or(named.stage.probability),
        probability_override,
        expected_close_date: input.expected_close_date,
        closed_at: plan.closed_at,
        lost_reason: plan.lost_reason,
        agreement: trimmed(input.agreement),
        next_step: trimmed(input.next_step),
        source: input.source.map(|source| source.as_str().to_string()),
        owner_id: named.assignment.owner_id,
        team_id: named.assignment.team_id,
        tags: fields.tags,
        stage_entered_at: if stage_changed {
            now
        } else {
            existing.map_or(now, |deal| deal.stage_entered_at)
        },
        version: existing.map_or(1, |deal| deal.version + 1),
        created_at: existing.map_or(now, |deal| deal.created_at),
        updated_at: now,
        created_by: existing.map_or(Some(principal.user_id), |deal| deal.created_by),
        updated_by: Some(principal.user_id),
        deleted_at: None,
        deleted_by: None,
        custom: fields.custom,
    };
    Ok((deal, items))
}

/// A deal's fields that are checked on their own, before any record they name is looked up.
struct CheckedFields {
    title: String,
    currency: String,
    places: u32,
    tags: Vec<String>,
    custom: serde_json::Value,
}

/// Every rule of the fields themselves at once: validator's, the currency, tags, custom values
/// and a blank title.
fn check_fields(
    conn: &mut PgConnection,
    workspace: &Workspace,
    input: &DealInput,
) -> Result<CheckedFields, ApiError> {
    let mut errors = field_errors(input);
    let currency = input.currency.clone().unwrap_or_else(|| workspace.default_currency.clone());
    let places =
        check_currency("currency", &currency).map_err(|found| errors.push(found.into())).unwrap_or(2);
    let tags = normalise_tags(input.tags.clone())
        .map_err(|found| errors.extend(found.into_iter().map(FieldError::from)));
    let title = non_blank("title", &input.title).map_err(|found| errors.push(found.into()));
    let custom = check_custom(conn, workspace.id, CustomEntity::Deal, input.custom.clone(), &mut errors)?;
    match (tags, title) {
        (Ok(tags), Ok(title)) if errors.is_empty() => {
            Ok(CheckedFields { title, currency, places, tags, custom })
        }
        _ => {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(ApiError::Validation(errors))
        }
    }
}

/// The records a deal names, looked up in the workspace; the first one missing is a 422.
struct NamedRecords {
    stage: Stage,
    status: StageKind,
    products: HashMap<ProductId, Product>,
    assignment: Assignment,
}

impl NamedRecords {
    fn look_up(
        conn: &mut PgConnection,
        principal: &Principal,
        workspace_id: WorkspaceId,
        input: &DealInput,
        existing: Option<&Deal>,
    ) -> Result<Self, ApiError> {
        let pipeline = match input.pipeline_id {
            Some(id) => Pipeline::find(conn, workspace_id, id).optional()?.ok_or_else(|| {
                ApiError::invalid_field("pipeline_id", "not_found", "no such pipeline in this workspace")
            })?,
            None => Pipeline::find_default(conn, workspace_id)?,
        };
        let stages = Stage::of_pipelines(conn, workspace_id, &[pipeline.id])?;
        let stage = match input.stage_id {
            Some(id) => stages.into_iter().find(|stage| stage.id == id).ok_or_else(|| {
                ApiError::invalid_field("stage_id", "wrong_pipeline", "no such stage in the deal's pipeline")
            })?,
            None => {
                stages.into_iter().find(|stage| stage.kind == StageKind::Open.as_str()).ok_or_else(|| {
                    ApiError::invalid_field("stage_id", "required", "the pipeline has no open stage")
                })?
            }
        };
        let status: StageKind = stage.kind.parse().unwrap_or(StageKind::Open);

        if !Client::exists(conn, workspace_id, input.client_id)? {
            return Err(ApiError::invalid_field(
                "client_id",
                "not_found",
                "no such client in this workspace",
            ));
        }
        if let Some(contact) = input.contact_id {
            let found = Contact::find(conn, workspace_id, contact).optional()?;
            if found.is_none_or(|contact| contact.client_id != input.client_id) {
                return Err(ApiError::invalid_field(
                    "contact_id",
                    "wrong_client",
                    "no such contact of the deal's client",
                ));
            }
        }
        let product_ids: Vec<ProductId> = input.items.iter().filter_map(|item| item.product_id).collect();
        let products: HashMap<ProductId, Product> = Product::find_many(conn, workspace_id, &product_ids)?
            .into_iter()
            .map(|product| (product.id, product))
            .collect();
        if let Some(index) =
            input.items.iter().position(|item| item.product_id.is_some_and(|id| !products.contains_key(&id)))
        {
            return Err(ApiError::invalid_field(
                &format!("items[{index}].product_id"),
                "not_found",
                "no such product in this workspace",
            ));
        }
        let assignment = Assignment::resolve(
            conn,
            workspace_id,
            principal.user_id,
            Requested { owner_id: input.owner_id, team_id: input.team_id, is_new: existing.is_none() },
        )?;
        Ok(Self { stage, status, products, assignment })
    }
}

fn stage_change(principal: &Principal, deal: &Deal, from: Option<StageId>) -> StageChange {
    StageChange {
        workspace_id: deal.workspace_id,
        id: uuid::Uuid::now_v7(),
        deal_id: deal.id,
        from_stage_id: from,
        to_stage_id: deal.stage_id,
        changed_at: deal.stage_entered_at,
        changed_by: Some(principal.user_id),
    }
}

fn deal_http(status: StatusCode, deal: &Deal, items: &[DealItem]) -> HttpResponse {
    versioned_http(status, deal.version, "deals", deal.id, &deal_response(deal, items))
}

fn snapshot(deal: &Deal, items: &[DealItem]) -> serde_json::Value {
    let mut value = to_json(&deal_response(deal, items));
    // Items get fresh ids on every write: compare them by content.
    if let Some(items) = value.get_mut("items").and_then(serde_json::Value::as_array_mut) {
        for item in items {
            if let Some(item) = item.as_object_mut() {
                item.remove("id");
            }
        }
    }
    value
}

/// Create a deal.
#[utoipa::path(
    tag = "deals",
    operation_id = "create_deal",
    security(("bearer" = [])),
    request_body = DealInput,
    responses((status = 201, description = "Created", body = DealResponse,
        headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new deal's URL"))))
)]
#[post("/deals")]
pub async fn create_deal(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<DealInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let (deal, items) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let (deal, items) = build_deal(conn, &principal, &workspace, body.0, None)?;
            let deal = deal.insert(conn)?;
            Deal::replace_items(conn, deal.workspace_id, deal.id, &items)?;
            Deal::record_stage_change(conn, &stage_change(&principal, &deal, None))?;
            let changes = ChangeSet::default().diff(None, &snapshot(&deal, &items), BOOKKEEPING);
            record_change(conn, &principal, "deal", deal.id.0, "created", deal.version, changes)?;
            ClientStats::recompute(conn, deal.workspace_id, [Some(deal.client_id)])?;
            Ok((deal, items))
        })
    })
    .await?;
    Ok(deal_http(StatusCode::CREATED, &deal, &items))
}

/// How deal lists may be sorted.
const SORTS: &[(&str, DealOrder)] = &[
    ("updated_at", DealOrder::UpdatedAt),
    ("created_at", DealOrder::CreatedAt),
    ("amount", DealOrder::Amount),
    ("expected_close_date", DealOrder::ExpectedCloseDate),
];

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page (with the same filters and sort).
    pub cursor: Option<String>,
    /// `updated_at`, `created_at`, `amount` or `expected_close_date` (deals without one last),
    /// prefixed with `-` for descending; default `-updated_at`.
    #[param(example = "-amount")]
    pub sort: Option<String>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub pipeline_id: Option<PipelineId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub stage_id: Option<StageId>,
    pub status: Option<StageKind>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    #[param(value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    pub closed_from: Option<DateTime<Utc>>,
    pub closed_to: Option<DateTime<Utc>>,
    /// A decimal string.
    #[param(value_type = Option<String>)]
    pub amount_min: Option<String>,
    /// A decimal string.
    #[param(value_type = Option<String>)]
    pub amount_max: Option<String>,
    pub tag: Option<String>,
    pub updated_since: Option<DateTime<Utc>>,
    /// Fuzzy search over the title and the client's names.
    pub q: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct DealCursor {
    sort: String,
    key: DealSortKey,
    id: DealId,
}

fn parse_decimal(name: &str, value: Option<&str>) -> Result<Option<Decimal>, ApiError> {
    value
        .map(|value| {
            value.trim().parse::<Decimal>().map_err(|_| {
                ApiError::bad_request("invalid_query", format!("{name} must be a decimal number"))
            })
        })
        .transpose()
}

/// List deals, with filters and fuzzy search.
#[utoipa::path(
    tag = "deals",
    operation_id = "list_deals",
    security(("bearer" = [])),
    params(DealListQuery),
    responses((status = 200, description = "One page of deals", body = Page<DealResponse>))
)]
#[get("/deals")]
pub async fn list_deals(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DealListQuery>,
) -> Result<web::Json<Page<DealResponse>>, ApiError> {
    deals_page(state, principal, query.into_inner(), None, None).await.map(web::Json)
}

/// The deals of one client (any filter of `GET /deals` applies).
#[utoipa::path(
    tag = "deals",
    operation_id = "list_client_deals",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), DealListQuery),
    responses((status = 200, description = "One page of the client's deals", body = Page<DealResponse>))
)]
#[get("/clients/{id}/deals")]
pub async fn list_client_deals(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    query: web::Query<DealListQuery>,
) -> Result<web::Json<Page<DealResponse>>, ApiError> {
    let client = id.into_inner();
    let mut query = query.into_inner();
    query.client_id = Some(client);
    deals_page(state, principal, query, None, Some(Parent::Client(client))).await.map(web::Json)
}

/// Search deals with the filter language: `{filter, sort, limit, cursor}`. An unknown field, an
/// operator the field doesn't take or a bad value is a 422 naming its path (`filter.all[1].op`).
#[utoipa::path(
    tag = "deals",
    operation_id = "search_deals",
    security(("bearer" = [])),
    request_body = SearchRequest,
    responses((status = 200, description = "One page of matching deals", body = Page<DealResponse>))
)]
#[post("/deals/search")]
pub async fn search_deals(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<SearchRequest>,
) -> Result<web::Json<Page<DealResponse>>, ApiError> {
    let search = body.0;
    let query =
        DealListQuery { limit: search.limit, cursor: search.cursor, sort: search.sort, ..Default::default() };
    deals_page(state, principal, query, search.filter, None).await.map(web::Json)
}

async fn deals_page(
    state: web::Data<AppState>,
    principal: Principal,
    query: DealListQuery,
    search: Option<serde_json::Value>,
    parent: Option<Parent>,
) -> Result<Page<DealResponse>, ApiError> {
    let limit = page_limit(query.limit)?;
    let sort_name = query
        .sort
        .as_deref()
        .map(str::trim)
        .filter(|sort| !sort.is_empty())
        .unwrap_or("-updated_at")
        .to_string();
    let (descending, field) =
        sort_name.strip_prefix('-').map_or((false, sort_name.as_str()), |field| (true, field));
    let order = SORTS.iter().find(|(name, _)| *name == field).map(|(_, order)| *order).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            "sort must be updated_at, created_at, amount or expected_close_date, optionally prefixed with -",
        )
    })?;
    let after = decode_cursor::<DealCursor>(query.cursor.as_deref())?;
    let fits = |key: &DealSortKey| match order {
        DealOrder::UpdatedAt | DealOrder::CreatedAt => matches!(key, DealSortKey::Time(_)),
        DealOrder::Amount => matches!(key, DealSortKey::Amount(_)),
        DealOrder::ExpectedCloseDate => matches!(key, DealSortKey::Date(_)),
    };
    if after.as_ref().is_some_and(|cursor| cursor.sort != sort_name || !fits(&cursor.key)) {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "the cursor belongs to a list with another sort",
        ));
    }
    let mut filter = DealFilter {
        pipeline_id: query.pipeline_id,
        stage_id: query.stage_id,
        status: query.status.map(StageKind::as_str),
        owner_id: query.owner_id,
        team_id: query.team_id,
        client_id: query.client_id,
        expected_close_from: query.expected_close_from,
        expected_close_to: query.expected_close_to,
        closed_from: query.closed_from,
        closed_to: query.closed_to,
        amount_min: parse_decimal("amount_min", query.amount_min.as_deref())?,
        amount_max: parse_decimal("amount_max", query.amount_max.as_deref())?,
        tag: query.tag.map(|tag| tag.trim().to_string()),
        updated_since: query.updated_since,
        q: search_query(query.q.as_deref())?,
        condition: None,
    };
    let after = after.map(|cursor| (cursor.key, cursor.id));
    let (rows, items) = run_as(principal.caller(), &state.pool, move |conn| {
        if let Some(parent) = parent {
            parent.ensure_exists(conn, principal.workspace_id)?;
        }
        filter.condition = search
            .map(|search| compile_filter(conn, principal.workspace_id, CustomEntity::Deal, &search))
            .transpose()?;
        let rows = Deal::list(
            conn,
            principal.workspace_id,
            &filter,
            order,
            descending,
            after,
            i64::from(limit) + 1,
        )?;
        let ids: Vec<DealId> = rows.iter().map(|deal| deal.id).collect();
        let items = Deal::items_of(conn, principal.workspace_id, &ids)?;
        Ok((rows, items))
    })
    .await?;
    let key = |deal: &Deal| DealCursor {
        sort: sort_name.clone(),
        key: match order {
            DealOrder::UpdatedAt => DealSortKey::Time(deal.updated_at),
            DealOrder::CreatedAt => DealSortKey::Time(deal.created_at),
            DealOrder::Amount => DealSortKey::Amount(deal.amount),
            DealOrder::ExpectedCloseDate => DealSortKey::Date(deal.expected_close_date),
        },
        id: deal.id,
    };
    Ok(Page::from_rows(rows, limit, key, |deal| deal_response(&deal, &items)))
}

/// List deleted deals (tombstones), oldest deletion first.
#[utoipa::path(
    tag = "deals",
    operation_id = "list_deleted_deals",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/deals/deleted")]
pub async fn list_deleted_deals(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, DealId)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Deal::list_deleted(conn, principal.workspace_id, since, after, i64::from(limit) + 1)?)
    })
    .await?;
    Ok(web::Json(tombstone_page(rows, limit, |deal| {
        (deal.id, deal.deleted_at.unwrap_or(deal.updated_at), deal.deleted_by, deal.version)
    })))
}

/// Get one deal with its items.
#[utoipa::path(
    tag = "deals",
    operation_id = "get_deal",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id")),
    responses((status = 200, description = "The deal", body = DealResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/deals/{id}")]
pub async fn get_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (deal, items) = run_as(principal.caller(), &state.pool, move |conn| {
        let deal = Deal::find(conn, principal.workspace_id, id)?;
        let items = Deal::items_of(conn, principal.workspace_id, &[id])?;
        Ok((deal, items))
    })
    .await?;
    Ok(deal_http(StatusCode::OK, &deal, &items))
}

/// Update a deal: a partial update, checked like a new deal. Moving it to a won or lost stage
/// sets `closed_at` (a lost one needs `lost_reason`); moving it back to an open stage clears both.
#[utoipa::path(
    tag = "deals",
    operation_id = "update_deal",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateDeal,
    responses(
        (status = 200, description = "Updated", body = DealResponse, headers(("ETag" = String, description = "The record's version"))),
    )
)]
#[patch("/deals/{id}")]
pub async fn update_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
    if_match: IfMatch,
    body: JsonBody<UpdateDeal>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let (deal, items) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, principal.workspace_id)?;
            let current: Deal = soft_delete::live_for_update(conn, principal.workspace_id, id)?;
            let current_items = Deal::items_of(conn, principal.workspace_id, &[id])?;
            let mut input = DealInput::from_deal(&current, &current_items);
            body.0.apply_to(&mut input);
            let (candidate, items) = build_deal(conn, &principal, &workspace, input, Some(&current))?;
            // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
            if_match.check(current.version)?;
            let changes = ChangeSet::default().diff(
                Some(&snapshot(&current, &current_items)),
                &snapshot(&candidate, &items),
                &[
                    "id",
                    "version",
                    "created_at",
                    "updated_at",
                    "created_by",
                    "updated_by",
                    "stage_entered_at",
                ],
            );
            if changes.is_empty() {
                return Ok((current, current_items));
            }
            let deal = candidate.save(conn)?;
            let unchanged_items = current_items.len() == items.len()
                && current_items
                    .iter()
                    .zip(&items)
                    .all(|(old, new)| DealItem { id: new.id, ..old.clone() } == *new);
            let items = if unchanged_items {
                current_items
            } else {
                Deal::replace_items(conn, deal.workspace_id, deal.id, &items)?;
                items
            };
            if deal.stage_id != current.stage_id {
                Deal::record_stage_change(conn, &stage_change(&principal, &deal, Some(current.stage_id)))?;
            }
            record_change(conn, &principal, "deal", id.0, "updated", deal.version, changes)?;
            ClientStats::recompute(conn, deal.workspace_id, [Some(current.client_id), Some(deal.client_id)])?;
            Ok((deal, items))
        })
    })
    .await?;
    Ok(deal_http(StatusCode::OK, &deal, &items))
}

/// Delete a deal (soft): restorable with `POST /deals/{id}/restore`.
#[utoipa::path(
    tag = "deals",
    operation_id = "delete_deal",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The deal's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses(
        (status = 204, description = "Deleted"),
    )
)]
#[delete("/deals/{id}")]
pub async fn delete_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let deleted: Deal =
                soft_delete::delete(conn, &principal, id, &if_match, |_, _, _, changes| Ok(changes))?;
            Ok(ClientStats::recompute(conn, deleted.workspace_id, [Some(deleted.client_id)])?)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restore a deleted deal; its client must be live. Restoring a live deal changes nothing.
#[utoipa::path(
    tag = "deals",
    operation_id = "restore_deal",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id")),
    responses(
        (status = 200, description = "The restored deal", body = DealResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Its client is deleted: restore the client first", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/deals/{id}/restore")]
pub async fn restore_deal(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let (deal, items) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let workspace = principal.workspace_id;
            let deal = soft_delete::restore(conn, &principal, id, |conn, deleted: &Deal, _, changes| {
                if !Client::exists(conn, workspace, deleted.client_id)? {
                    return Err(ApiError::conflict(
                        "client_deleted",
                        "the deal's client is deleted: restore the client first",
                    ));
                }
                let restored = Deal::set_deleted(conn, workspace, id, None, principal.user_id)?;
                ClientStats::recompute(conn, workspace, [Some(restored.client_id)])?;
                Ok((restored, changes))
            })?;
            let items = Deal::items_of(conn, workspace, &[id])?;
            Ok((deal, items))
        })
    })
    .await?;
    Ok(deal_http(StatusCode::OK, &deal, &items))
}

/// A stay of a deal in a stage.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageVisit {
    pub stage_id: StageId,
    /// The stage's current name; null when the stage was deleted since.
    pub stage_name: Option<String>,
    /// Where the deal came from; null for the stage it was created in.
    pub from_stage_id: Option<StageId>,
    pub entered_at: DateTime<Utc>,
    /// Null while the deal is still there.
    pub left_at: Option<DateTime<Utc>>,
    /// Time spent in the stage so far, in seconds.
    pub duration_seconds: i64,
    pub changed_by: Option<UserId>,
}

/// The deal's path through its stages, oldest first, with the time spent in each.
#[utoipa::path(
    tag = "deals",
    operation_id = "get_deal_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The deal's id")),
    responses((status = 200, description = "Every stage the deal has been in", body = Vec<StageVisit>))
)]
#[get("/deals/{id}/history")]
pub async fn get_deal_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<DealId>,
) -> Result<web::Json<Vec<StageVisit>>, ApiError> {
    let id = id.into_inner();
    let (changes, stages) = run_as(principal.caller(), &state.pool, move |conn| {
        let deal = Deal::find(conn, principal.workspace_id, id)?;
        let changes = Deal::stage_changes(conn, principal.workspace_id, id)?;
        let stages = Stage::of_pipelines(conn, principal.workspace_id, &[deal.pipeline_id])?;
        Ok((changes, stages))
    })
    .await?;
    let now = Utc::now();
    let visits = changes
        .iter()
        .enumerate()
        .map(|(index, change)| {
            let left_at = changes.get(index + 1).map(|next| next.changed_at);
            StageVisit {
                stage_id: change.to_stage_id,
                stage_name: stages
                    .iter()
                    .find(|stage| stage.id == change.to_stage_id)
                    .map(|stage| stage.name.clone()),
                from_stage_id: change.from_stage_id,
                entered_at: change.changed_at,
                left_at,
                duration_seconds: (left_at.unwrap_or(now) - change.changed_at).num_seconds().max(0),
                changed_by: change.changed_by,
            }
        })
        .collect();
    Ok(web::Json(visits))
}

/// A sum of money in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyAmount {
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "1234.50")]
    pub amount: Money,
}

/// One column of the board.
#[derive(Debug, Serialize, ToSchema)]
pub struct BoardColumn {
    pub stage: crate::api::pipelines::StageResponse,
    /// Every live deal in the stage (with the board's filters; for a won or lost stage, those
    /// closed since `closed_since`), not only those listed.
    pub deal_count: i64,
    /// Totals per currency.
    pub amounts: Vec<CurrencyAmount>,
    /// Totals weighted by each deal's probability, per currency, rounded to minor units.
    pub weighted_amounts: Vec<CurrencyAmount>,
    /// The stage's most recently updated deals, without their line items (a card doesn't show
    /// them; `GET /deals/{id}` has them).
    pub deals: Vec<DealCard>,
    /// Continue with `GET /deals?pipeline_id=…&stage_id=…&sort=-updated_at&cursor=…` (plus
    /// `owner_id` if the board was filtered by it, and `closed_from` for a won or lost stage);
    /// null when every deal is listed.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Board {
    pub pipeline_id: PipelineId,
    pub columns: Vec<BoardColumn>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardQuery {
    /// Only this user's deals.
    #[param(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<UserId>,
    /// How many deals to list per stage: 1 to 100, 20 when omitted.
    #[param(minimum = 1, maximum = 100)]
    pub limit_per_stage: Option<u32>,
    /// Won and lost columns show the deals closed since this time: midnight (UTC) 30 days ago
    /// when omitted. Open stages show every open deal.
    pub closed_since: Option<DateTime<Utc>>,
}

/// How far back the board's won and lost columns reach by default.
const BOARD_CLOSED_DAYS: i64 = 30;

/// A pipeline as a kanban board, in one round trip: per stage, its deal count, totals per
/// currency, weighted totals and first deals.
#[utoipa::path(
    tag = "deals",
    operation_id = "get_pipeline_board",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The pipeline's id"), BoardQuery),
    responses((status = 200, description = "The board", body = Board))
)]
#[get("/pipelines/{id}/board")]
pub async fn get_pipeline_board(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<PipelineId>,
    query: web::Query<BoardQuery>,
) -> Result<web::Json<Board>, ApiError> {
    let pipeline_id = id.into_inner();
    let per_stage = query.limit_per_stage.unwrap_or(20);
    if !(1..=100).contains(&per_stage) {
        return Err(ApiError::bad_request("invalid_query", "limit_per_stage must be between 1 and 100"));
    }
    let owner = query.owner_id;
    // By default from a midnight: the running totals then answer for whole days, and no deal is
    // read for the part of a day (at 1M clients ~600 deals close a day).
    let closed_since = query.closed_since.unwrap_or_else(|| {
        let since = Utc::now() - chrono::Duration::days(BOARD_CLOSED_DAYS);
        chrono::DurationRound::duration_trunc(since, chrono::Duration::days(1)).unwrap_or(since)
    });
    let (stages, totals, columns) = run_as(principal.caller(), &state.pool, move |conn| {
        let workspace = principal.workspace_id;
        // A pipeline always has stages (one won, at least one open and one lost), so none means
        // there is no such pipeline in the workspace: one statement less than reading it first.
        let stages = Stage::of_pipelines(conn, workspace, &[pipeline_id])?;
        if stages.is_empty() {
            return Err(ApiError::NotFound);
        }
        let totals = Deal::board_totals(conn, workspace, pipeline_id, owner, closed_since)?;
        // Each stage, and for a won or lost one the time its deals must have closed since.
        let wanted: Vec<_> = stages
            .iter()
            .map(|stage| (stage.id, (stage.kind != StageKind::Open.as_str()).then_some(closed_since)))
            .collect();
        let filter = DealFilter { pipeline_id: Some(pipeline_id), owner_id: owner, ..DealFilter::default() };
        let rows = Deal::board_columns(conn, workspace, &filter, &wanted, i64::from(per_stage) + 1)?;
        // The rows come column after column, in the stages' order.
        let mut rows = rows.into_iter().peekable();
        let columns: Vec<Vec<Deal>> = stages
            .iter()
            .map(|stage| std::iter::from_fn(|| rows.next_if(|deal| deal.stage_id == stage.id)).collect())
            .collect();
        Ok((stages, totals, columns))
    })
    .await?;
    let columns = stages
        .iter()
        .zip(columns)
        .map(|(stage, rows)| {
            let stage_totals: Vec<_> = totals.iter().filter(|total| total.stage_id == stage.id.0).collect();
            let key = |deal: &Deal| DealCursor {
                sort: "-updated_at".to_string(),
                key: DealSortKey::Time(deal.updated_at),
                id: deal.id,
            };
            let page = Page::from_rows(rows, per_stage, key, |deal| deal_card(&deal));
            BoardColumn {
                stage: crate::api::pipelines::StageResponse::from(stage),
                deal_count: stage_totals.iter().map(|total| total.deals).sum(),
                amounts: stage_totals
                    .iter()
                    .map(|total| CurrencyAmount {
                        currency: total.currency.clone(),
                        amount: money::round(total.amount, money::places(&total.currency)),
                    })
                    .collect(),
                weighted_amounts: stage_totals
                    .iter()
                    .map(|total| CurrencyAmount {
                        currency: total.currency.clone(),
                        amount: money::round(total.weighted_amount, money::places(&total.currency)),
                    })
                    .collect(),
                deals: page.data,
                next_cursor: page.next_cursor,
            }
        })
        .collect();
    Ok(web::Json(Board { pipeline_id, columns }))
}
