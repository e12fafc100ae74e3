//! What deals look like on the wire: responses, the input of a create, a partial update and how it
//! merges.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::api::by_ref;
use crate::api::extract::{not_null, nullable};
use crate::db::models::Deal;
use crate::db::models::deal::DealItem;
use crate::domain::custom_fields::{CustomValues, custom_of, merge_custom};
use crate::domain::enums::{Source, StageKind};
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ClientId, ContactId, DealId, PipelineId, ProductId, StageId, TeamId, UserId};

/// A decimal string in JSON, exact.
pub(super) type Money = Decimal;

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
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: serde_json::Value,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: Option<UserId>,
    pub updated_by: Option<UserId>,
}

/// A deal as the API shows it: its card and its line items.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e41", "title": "Tea for the spring season",
    "client_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e11", "contact_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e21",
    "pipeline_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e31", "stage_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e32",
    "status": "open", "amount": "140.00", "currency": "EUR", "exchange_rate": "100.5", "amount_base": "14070.00",
    "probability": 10, "probability_is_custom": false, "expected_close_date": "2027-03-31", "closed_at": null,
    "lost_reason": null, "agreement": null, "next_step": "Send the price list", "source": "website",
    "owner_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "team_id": null, "tags": ["spring"],
    "stage_entered_at": "2026-11-20T15:45:00.000000Z", "custom": {}, "version": 2,
    "created_at": "2026-11-20T15:45:00.000000Z", "updated_at": "2026-11-21T10:02:13.000000Z",
    "created_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01", "updated_by": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e01",
    "items": [
        {"id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e42", "product_id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e61",
         "name": "Green tea, 1 kg", "product_group": "tea", "quantity": "10", "unit_price": "12.50",
         "discount_percent": "0", "tax_percent": null, "total": "125.00"},
        {"id": "01938f4e-5b2a-7c3d-9e1f-2a3b4c5d6e43", "product_id": null, "name": "Delivery",
         "product_group": null, "quantity": "1", "unit_price": "15.00", "discount_percent": "0",
         "tax_percent": null, "total": "15.00"}
    ],
    "external_refs": [{"system": "shop", "id": "ORDER-1001"}]
}))]
pub struct DealResponse {
    #[serde(flatten)]
    pub deal: DealCard,
    pub items: Vec<DealItemResponse>,
    /// The ids other systems know the deal by (an e-shop's order number): find it with
    /// `?external_ref=system:id`, upsert it with `PUT /deals/by-ref/{system}/{id}`.
    pub external_refs: Vec<ExternalRef>,
}

pub(super) fn deal_response(deal: &Deal, items: &[DealItem]) -> DealResponse {
    DealResponse {
        deal: deal_card(deal),
        items: items.iter().filter(|item| item.deal_id == deal.id).map(DealItemResponse::from).collect(),
        external_refs: deal.external_refs.0.clone(),
    }
}

pub(super) fn deal_card(deal: &Deal) -> DealCard {
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
    /// The product another system knows by this ref, in place of `product_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_ref: Option<ExternalRef>,
    /// The product's name when omitted; required without a product.
    #[validate(length(min = 1, max = 500))]
    #[schema(min_length = 1, max_length = 500)]
    pub name: Option<String>,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub product_group: Option<String>,
    /// A decimal string greater than 0.
    #[serde(
        deserialize_with = "required_decimal_text",
        serialize_with = "rust_decimal::serde::str::serialize"
    )]
    #[schema(value_type = String, example = "3", pattern = r"^(?!0+(\.0+)?$)[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub quantity: Decimal,
    /// A decimal string below 10^15; the product's price when omitted (then the product's currency
    /// must be the deal's). The line's total is below 10^15 too.
    #[serde(
        default,
        deserialize_with = "decimal_text",
        serialize_with = "rust_decimal::serde::str_option::serialize"
    )]
    #[schema(value_type = Option<String>, example = "4.90", pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub unit_price: Option<Decimal>,
    /// 0 to 100.
    #[serde(
        default,
        deserialize_with = "decimal_text",
        serialize_with = "rust_decimal::serde::str_option::serialize"
    )]
    #[schema(value_type = Option<String>, example = "10", pattern = r"^(100(\.0{1,6})?|[0-9]{1,2}(\.[0-9]{1,6})?)$")]
    pub discount_percent: Option<Decimal>,
    /// 0 to 100, added on top of the discounted price.
    #[serde(
        default,
        deserialize_with = "decimal_text",
        serialize_with = "rust_decimal::serde::str_option::serialize"
    )]
    #[schema(value_type = Option<String>, example = "20", pattern = r"^(100(\.0{1,6})?|[0-9]{1,2}(\.[0-9]{1,6})?)$")]
    pub tax_percent: Option<Decimal>,
}

impl From<&DealItem> for ItemInput {
    fn from(item: &DealItem) -> Self {
        Self {
            product_id: item.product_id,
            product_ref: None,
            name: Some(item.name.clone()),
            product_group: item.product_group.clone(),
            quantity: item.quantity,
            unit_price: Some(item.unit_price),
            discount_percent: Some(item.discount_percent),
            tax_percent: item.tax_percent,
        }
    }
}

/// A deal to create; also what an update is merged into before the same checks run. The default,
/// with nothing set, is what an upsert that creates a deal fills from its body.
#[derive(Debug, Clone, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "title": "Tea for the spring season",
    "client_id": "0193a5a0-7c1e-7b4a-9f3e-2d6c8b1a4e50",
    "currency": "EUR",
    "expected_close_date": "2027-03-31",
    "items": [
        {"name": "Green tea, 1 kg", "quantity": "10", "unit_price": "12.50", "product_group": "tea"},
        {"name": "Delivery", "quantity": "1", "unit_price": "15.00"}
    ]
}))]
pub struct DealInput {
    #[validate(length(min = 1, max = 500))]
    #[schema(example = "Tea for the Kazan office", min_length = 1, max_length = 500)]
    pub title: String,
    /// The client; or name it by `client_ref`.
    pub client_id: Option<ClientId>,
    /// The client by another system's id, in place of `client_id`: an e-shop's order for a
    /// customer it knows by its own number (see `PUT /clients/by-ref/{system}/{id}`).
    #[serde(default)]
    pub client_ref: Option<ExternalRef>,
    /// A contact of that client.
    pub contact_id: Option<ContactId>,
    /// The default pipeline when omitted.
    pub pipeline_id: Option<PipelineId>,
    /// A stage of that pipeline; its first open stage when omitted.
    pub stage_id: Option<StageId>,
    /// A decimal string with at most the currency's minor units and 15 digits before the point;
    /// must be omitted (or equal the sum) when there are items.
    #[serde(default, deserialize_with = "decimal_text")]
    #[schema(value_type = Option<String>, example = "1234.50", pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub amount: Option<Decimal>,
    /// ISO 4217; the workspace's currency when omitted.
    #[schema(value_type = Option<crate::api::schemas::CurrencyCode>)]
    pub currency: Option<String>,
    /// Units of the workspace currency per unit of `currency`, for a foreign-currency deal.
    #[serde(default, deserialize_with = "rate_text")]
    #[schema(value_type = Option<String>, example = "98.5", pattern = r"^(?!0+(\.0+)?$)[0-9]{1,15}(\.[0-9]{1,10})?$")]
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
    #[schema(value_type = Vec<crate::api::schemas::Tag>, max_items = 50)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[validate(nested, length(max = 500, message = "must hold at most 500 items"))]
    #[schema(max_items = 500)]
    pub items: Vec<ItemInput>,
    /// Values of the workspace's custom fields for this entity: `{key: value}`.
    #[serde(default)]
    #[schema(value_type = crate::api::schemas::CustomValues)]
    pub custom: CustomValues,
    /// The ids other systems know the deal by; each names one deal of the workspace.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub external_refs: Vec<ExternalRef>,
}

impl DealInput {
    pub(super) fn from_deal(deal: &Deal, items: &[DealItem]) -> Self {
        Self {
            title: deal.title.clone(),
            client_id: Some(deal.client_id),
            client_ref: None,
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
            external_refs: deal.external_refs.0.clone(),
        }
    }
}

/// A partial update: absent fields stay; `null` clears a field. `items` replaces every item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "Spring order, 40 units", "expected_close_date": "2027-04-30", "probability": 60}))]
pub struct UpdateDeal {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 500)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<String>, format = Uuid)]
    pub client_id: Option<ClientId>,
    /// Moves the deal to the client another system knows by this id.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub client_ref: Option<ExternalRef>,
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
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CurrencyCode>)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "nullable_rate")]
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
    #[schema(value_type = Option<Vec<crate::api::schemas::Tag>>, max_items = 50)]
    pub tags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ItemInput>>)]
    pub items: Option<Option<Vec<ItemInput>>>,
    /// Sets the keys given; `null` clears a key. Keys not sent stay.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CustomValues>)]
    pub custom: Option<CustomValues>,
    /// Replaces the deal's refs; `null` clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ExternalRef>>, max_items = 20)]
    pub external_refs: Option<Option<Vec<ExternalRef>>>,
}

/// A decimal string that may be absent, null or a value.
pub(super) fn nullable_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Decimal>>, D::Error> {
    decimal_text(deserializer).map(Some)
}

pub(super) fn nullable_rate<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Decimal>>, D::Error> {
    rate_text(deserializer).map(Some)
}

/// An amount, price, quantity or percent as the document's patterns write it: digits, a point and
/// up to 6 more (more than 15 digits before the point are refused further on, as `too_large`).
/// `rust_decimal` would also read `1_000`, `+5` or ` 5`; those are refused.
fn decimal_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    decimal_places(deserializer, 6)
}

/// An exchange rate: up to 15 digits, a point and up to 10 more. (Nothing else bounds a rate: a
/// deal of amount 0 converts to 0 at any rate.)
fn rate_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    crate::domain::money::parse_decimal_digits(&text, 10).map(Some).ok_or_else(|| {
        serde::de::Error::custom(
            "must be a decimal string of up to 15 digits, a point and 10 more, like \"98.5\"",
        )
    })
}

fn decimal_places<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    places: usize,
) -> Result<Option<Decimal>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    crate::domain::money::parse_plain_decimal(&text, places).map(Some).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "must be a decimal string of digits and a point (at most {places} decimals), like \"12.50\""
        ))
    })
}

fn required_decimal_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    decimal_text(deserializer)?.ok_or_else(|| serde::de::Error::custom("must be a decimal string, not null"))
}

impl UpdateDeal {
    pub(super) fn apply_to(self, input: &mut DealInput) {
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
        by_ref::change_client((&mut input.client_id, &mut input.client_ref), self.client_id, self.client_ref);
        if let Some(refs) = self.external_refs {
            input.external_refs = refs.unwrap_or_default();
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
