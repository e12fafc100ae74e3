//! The product catalogue: what deals' line items can refer to.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::api::by_ref::{self, RefLookup, RefPath};
use crate::api::extract::{
    ChangedParams, IfMatch, JsonBody, Page, UpdatedOrder, from_json_value, list_key, not_null, nullable,
    page_limit, versioned_http,
};
use crate::api::listing::search_query;
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::json::Json;
use crate::db::models::Product;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::models::product::ProductFilter;
use crate::domain::FieldCode;
use crate::domain::client::search_text;
use crate::domain::external_ref::{ExternalRef, normalise_refs};
use crate::domain::money::{self, check_currency};
use crate::domain::text::{non_blank, trimmed};
use crate::error::{ApiError, FieldError, ProblemCode, field_errors, taken};
use crate::ids::ProductId;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    pub id: ProductId,
    #[schema(example = "TEA-GRN-100")]
    pub sku: String,
    #[schema(example = "Green tea, 100 g")]
    pub name: String,
    #[schema(example = "Tea")]
    pub product_group: Option<String>,
    #[schema(example = "pack")]
    pub unit: Option<String>,
    /// A decimal string: exact, never a float.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "4.90")]
    pub price: Decimal,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Inactive products stay on old deals but are not offered for new ones.
    pub active: bool,
    /// The ids other systems know the product by: find it with `?external_ref=system:id`, upsert it
    /// with `PUT /products/by-ref/{system}/{id}`, name it on a deal's line with `product_ref`.
    pub external_refs: Vec<ExternalRef>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Product> for ProductResponse {
    fn from(product: &Product) -> Self {
        Self {
            id: product.id,
            sku: product.sku.clone(),
            name: product.name.clone(),
            product_group: product.product_group.clone(),
            unit: product.unit.clone(),
            price: product.price,
            currency: product.currency.clone(),
            active: product.active,
            external_refs: product.external_refs.0.clone(),
            version: product.version,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

/// A product to create; also what an update is merged into before the same checks run.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "TEA-GREEN-100", "name": "Green tea, 100 g", "price": "4.90", "currency": "EUR", "unit": "pack", "product_group": "tea"}))]
pub struct ProductInput {
    /// Unique in the workspace, compared case-insensitively.
    #[validate(length(min = 1, max = 100))]
    #[schema(
        example = "TEA-GRN-100",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\s\u0000\u0085][^\u0000]*$"
    )]
    pub sku: String,
    #[validate(length(min = 1, max = 500))]
    #[schema(
        example = "Green tea, 100 g",
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000]*[^\s\u0000\u0085][^\u0000]*$"
    )]
    pub name: String,
    #[validate(length(max = 200))]
    #[schema(max_length = 200)]
    pub product_group: Option<String>,
    #[validate(length(max = 50))]
    #[schema(max_length = 50)]
    pub unit: Option<String>,
    /// A decimal string, at most 6 decimal places and 15 digits before the point.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "4.90", pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub price: Decimal,
    #[schema(value_type = crate::api::schemas::CurrencyCode)]
    pub currency: String,
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// The ids other systems know the product by; each names one product of the workspace.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub external_refs: Vec<ExternalRef>,
}

fn active_by_default() -> bool {
    true
}

/// A partial update; `null` clears the group or the unit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price": "5.10", "active": true}))]
pub struct UpdateProduct {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000]*[^\s\u0000\u0085][^\u0000]*$"
    )]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000]*[^\s\u0000\u0085][^\u0000]*$"
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub product_group: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    pub unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null_decimal")]
    #[schema(nullable = false, value_type = Option<String>, example = "5.10", pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, value_type = Option<crate::api::schemas::CurrencyCode>)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub active: Option<bool>,
    /// Replaces the product's refs; `null` clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<ExternalRef>>, max_items = 20)]
    pub external_refs: Option<Option<Vec<ExternalRef>>>,
}

impl UpdateProduct {
    /// The product `current` is with this change applied, to be checked as a new one would be.
    fn applied_to(self, current: &Product) -> ProductInput {
        ProductInput {
            sku: self.sku.unwrap_or_else(|| current.sku.clone()),
            name: self.name.unwrap_or_else(|| current.name.clone()),
            product_group: self.product_group.unwrap_or_else(|| current.product_group.clone()),
            unit: self.unit.unwrap_or_else(|| current.unit.clone()),
            price: self.price.unwrap_or(current.price),
            currency: self.currency.unwrap_or_else(|| current.currency.clone()),
            active: self.active.unwrap_or(current.active),
            external_refs: self
                .external_refs
                .map_or_else(|| current.external_refs.0.clone(), Option::unwrap_or_default),
        }
    }
}

crate::api::batch::batch_shapes!(
    ProductBatch, ProductOperation, ProductBatchResult, ProductBatchResponse,
    id: ProductId, create: ProductInput, change: UpdateProduct, product: ProductResponse,
    example: {"atomic": false, "operations": [
        {"op": "upsert", "external_ref": {"system": "shop", "id": "SKU-100"},
         "body": {"sku": "TEA-GRN-100", "name": "Green tea, 100 g", "price": "4.90", "currency": "EUR"}},
        {"op": "upsert", "external_ref": {"system": "shop", "id": "SKU-101"},
         "body": {"sku": "TEA-BLK-100", "name": "Black tea, 100 g", "price": "3.90", "currency": "EUR"}}
    ]}
);

/// Create, update and upsert up to 1,000 products in one request: a shop's catalogue.
///
/// Each operation runs as its own endpoint would and is answered in order with that endpoint's status and
/// product or problem document; the request itself answers 200 once the batch ran. Operations run in one
/// transaction, each behind a savepoint, so a failed one leaves nothing behind; with `atomic: true` one failure
/// undoes them all. Products aren't deleted (set `active` to false). Send it with an `Idempotency-Key` to retry
/// it safely.
#[utoipa::path(
    tag = "products",
    operation_id = "batch_products",
    security(("bearer" = [])),
    request_body = ProductBatch,
    responses((status = 200, description = "The batch ran: one result per operation, in order", body = ProductBatchResponse))
)]
#[post("/products/batch")]
pub async fn batch_products(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ProductBatch>,
) -> Result<web::Json<ProductBatchResponse>, ApiError> {
    principal.require_write()?;
    let ProductBatch { atomic, operations } = body.0;
    crate::api::batch::check_size(operations.len())?;
    let (outcomes, applied) = run_as(principal.caller(), &state.pool, move |conn| {
        let run = |conn: &mut PgConnection, operation: &ProductOperation| {
            run_operation(conn, &principal, operation)
        };
        crate::api::batch::run_in_order(conn, &operations, atomic, run)
    })
    .await?;
    let written = |product: Product| (product.id, Some(ProductResponse::from(&product)));
    Ok(web::Json(ProductBatchResponse::of(outcomes, applied, written)))
}

/// Runs `operations` as a batch that isn't atomic, in the caller's transaction, for work other
/// than a request (an import): each one's status and product, or its problem.
pub(crate) fn run_operations(
    conn: &mut PgConnection,
    principal: &Principal,
    operations: &[ProductOperation],
) -> Result<Vec<crate::api::batch::Outcome<Product>>, ApiError> {
    let run =
        |conn: &mut PgConnection, operation: &ProductOperation| run_operation(conn, principal, operation);
    crate::api::batch::run_in_order(conn, operations, false, run).map(|(outcomes, _)| outcomes)
}

fn run_operation(
    conn: &mut PgConnection,
    principal: &Principal,
    operation: &ProductOperation,
) -> crate::api::batch::Outcome<Product> {
    match operation {
        ProductOperation::Create { body, .. } => {
            let input: ProductInput = from_json_value(body.clone())?;
            let product = build_product(principal.workspace_id, input, None)?;
            Ok((StatusCode::CREATED.as_u16(), create_in(conn, principal, product)?))
        }
        ProductOperation::Update { id, body, version } => {
            let change: UpdateProduct = from_json_value(body.clone())?;
            let current = Product::find_for_update(conn, principal.workspace_id, *id)?;
            let if_match = IfMatch::of_version(*version);
            Ok((StatusCode::OK.as_u16(), update_in(conn, principal, current, change, &if_match)?))
        }
        ProductOperation::Upsert { external_ref, body, version, .. } => {
            let reference = crate::api::batch::operation_ref(external_ref)?;
            let change: UpdateProduct = from_json_value(body.clone())?;
            let (status, product) =
                upsert_in(conn, principal, reference, change, &IfMatch::of_version(*version))?;
            Ok((status.as_u16(), product))
        }
    }
}

/// A decimal string that may be absent but not null.
fn not_null_decimal<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    rust_decimal::serde::str::deserialize(deserializer).map(Some)
}

fn build_product(
    workspace: crate::ids::WorkspaceId,
    input: ProductInput,
    existing: Option<&Product>,
) -> Result<Product, ApiError> {
    let mut errors = field_errors(&input);
    let minor_units = check_currency("currency", &input.currency)
        .map_err(|violation| errors.push(FieldError::from(violation)))
        .unwrap_or(2);
    if input.price < Decimal::ZERO {
        errors.push(FieldError::new("price", FieldCode::Range, "must not be negative"));
    }
    if let Err(too_large) = money::check_bounds("price", input.price, "is too large") {
        errors.push(too_large.into());
    }
    if input.price.normalize().scale() > 6 {
        errors.push(FieldError::new("price", FieldCode::Scale, "has more than 6 decimal places"));
    }
    let external_refs = normalise_refs("external_refs", input.external_refs)
        .map_err(|violations| errors.extend(violations.into_iter().map(FieldError::from)))
        .unwrap_or_default();
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(ApiError::Validation(errors));
    }
    let (sku, name) = (non_blank("sku", &input.sku)?, non_blank("name", &input.name)?);
    let product_group = trimmed(input.product_group);
    let now = Utc::now();
    Ok(Product {
        workspace_id: workspace,
        id: existing.map_or_else(ProductId::generate, |product| product.id),
        search_text: search_text([sku.as_str(), name.as_str(), product_group.as_deref().unwrap_or_default()]),
        sku,
        name,
        product_group,
        unit: trimmed(input.unit),
        price: {
            // Shown with at least the currency's minor units: 5.1 EUR is "5.10".
            let mut price = input.price.normalize();
            price.rescale(price.scale().max(minor_units));
            price
        },
        currency: input.currency,
        active: input.active,
        external_refs: Json(external_refs),
        version: existing.map_or(1, |product| product.version + 1),
        created_at: existing.map_or(now, |product| product.created_at),
        updated_at: now,
    })
}

fn product_http(status: StatusCode, product: &Product) -> HttpResponse {
    versioned_http(status, product.version, "products", product.id, &ProductResponse::from(product))
}

/// Add a product to the catalogue.
///
/// A catalogue item deals' line items can refer to, with its unique SKU, price and currency and a product
/// group for reports. Prices are exact decimal strings.
#[utoipa::path(
    tag = "products",
    operation_id = "create_product",
    security(("bearer" = [])),
    request_body = ProductInput,
    responses(
        (status = 201, description = "Created", body = ProductResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new product's URL"))),
        (status = 409, description = "The SKU is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/products")]
pub async fn create_product(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<ProductInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let product = build_product(principal.workspace_id, body.0, None)?;
    let product = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| create_in(conn, &principal, product))
    })
    .await?;
    Ok(product_http(StatusCode::CREATED, &product))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductListQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub product_group: Option<String>,
    pub active: Option<bool>,
    /// Fuzzy search over SKU, name and group.
    pub q: Option<String>,
    /// The product another system knows by this id: `system:id`, such as `shop:SKU-100`.
    #[param(inline, value_type = Option<RefLookup>)]
    pub external_ref: Option<String>,
    /// Only products changed at or after this time; the list is then in the order of change, oldest first.
    pub updated_since: Option<DateTime<Utc>>,
    /// `updated_at`: the oldest change first, for a sync that pages through changes from `updated_since`;
    /// `-updated_at`: the latest first. Without either parameter, by name.
    #[param(inline)]
    pub sort: Option<UpdatedOrder>,
}

/// List products by name.
///
/// Pages through the catalogue by name, narrowed by product group, active state and `q`, a fuzzy search over
/// SKUs, names and groups. With `updated_since` or `sort`, in the order of their last change, for a sync that
/// polls (a product taken off sale stays listed, `active: false`).
#[utoipa::path(
    tag = "products",
    operation_id = "list_products",
    security(("bearer" = [])),
    params(ProductListQuery),
    responses((status = 200, description = "One page of products", body = Page<ProductResponse>))
)]
#[get("/products")]
pub async fn list_products(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ProductListQuery>,
) -> Result<web::Json<Page<ProductResponse>>, ApiError> {
    let query = query.into_inner();
    let limit = page_limit(query.limit)?;
    let changed = ChangedParams { updated_since: query.updated_since, sort: query.sort };
    let order = changed.order::<(String, ProductId)>(query.cursor.as_deref())?;
    let keyed = order.clone();
    let external = by_ref::parse_lookup(query.external_ref.as_deref())?;
    let mut filter = ProductFilter {
        id: None,
        product_group: query.product_group.map(|group| group.trim().to_string()),
        active: query.active,
        q: search_query(query.q.as_deref())?,
    };
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        if let Some(reference) = &external {
            let found = by_ref::lookup_id(conn, principal.workspace_id, RefEntity::Product, reference)?;
            filter.id = Some(ProductId(found));
        }
        Ok(Product::list(conn, principal.workspace_id, &filter, order, i64::from(limit) + 1)?)
    })
    .await?;
    let key = |product: &Product| {
        list_key(&keyed, (product.name.clone(), product.id), product.updated_at, product.id.0)
    };
    Ok(web::Json(Page::from_rows(rows, limit, key, |product| ProductResponse::from(&product))))
}

/// Get one product.
///
/// The product with its price, currency, group and whether it is still offered.
#[utoipa::path(
    tag = "products",
    operation_id = "get_product",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The product's id")),
    responses((status = 200, description = "The product", body = ProductResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/products/{id}")]
pub async fn get_product(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ProductId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let product = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Product::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(product_http(StatusCode::OK, &product))
}

/// Update a product.
///
/// Deals keep the prices their line items were agreed at.
#[utoipa::path(
    tag = "products",
    operation_id = "update_product",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The product's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "Updated", body = ProductResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "The SKU is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/products/{id}")]
pub async fn update_product(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ProductId>,
    if_match: IfMatch,
    body: JsonBody<UpdateProduct>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let id = id.into_inner();
    let patch = body.0;
    let product = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = Product::find_for_update(conn, principal.workspace_id, id)?;
            update_in(conn, &principal, current, patch, &if_match)
        })
    })
    .await?;
    Ok(product_http(StatusCode::OK, &product))
}

/// Stores the new `product`: the one way a product comes to be, whether posted or upserted.
fn create_in(conn: &mut PgConnection, principal: &Principal, product: Product) -> Result<Product, ApiError> {
    ensure_free(conn, &product, None)?;
    let product = product.insert(conn)?;
    index_refs(conn, &product)?;
    let changes = ChangeSet::default().diff(None, &to_json(&ProductResponse::from(&product)), BOOKKEEPING);
    record_change(conn, principal, "product", product.id.0, "created", product.version, changes)?;
    Ok(product)
}

/// Applies `patch` to `current` (locked by the caller): the product as it is now, unwritten (same
/// version, no change event) when the patch changes nothing.
fn update_in(
    conn: &mut PgConnection,
    principal: &Principal,
    current: Product,
    patch: UpdateProduct,
    if_match: &IfMatch,
) -> Result<Product, ApiError> {
    let candidate = build_product(principal.workspace_id, patch.applied_to(&current), Some(&current))?;
    // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
    if_match.check(current.version)?;
    let before = to_json(&ProductResponse::from(&current));
    let changes =
        ChangeSet::default().diff(Some(&before), &to_json(&ProductResponse::from(&candidate)), BOOKKEEPING);
    if changes.is_empty() {
        return Ok(current);
    }
    ensure_free(conn, &candidate, Some(&current))?;
    let product = candidate.save(conn)?;
    if product.external_refs != current.external_refs {
        index_refs(conn, &product)?;
    }
    record_change(conn, principal, "product", product.id.0, "updated", product.version, changes)?;
    Ok(product)
}

/// Makes the ref index hold exactly the product's refs.
fn index_refs(conn: &mut PgConnection, product: &Product) -> QueryResult<()> {
    external_ref::sync(conn, product.workspace_id, RefEntity::Product, product.id.0, &product.external_refs.0)
}

/// Refuses a SKU or a ref that another product has.
fn ensure_free(conn: &mut PgConnection, product: &Product, before: Option<&Product>) -> Result<(), ApiError> {
    if before.is_none_or(|before| before.sku.to_lowercase() != product.sku.to_lowercase())
        && Product::sku_taken(conn, product.workspace_id, &product.sku, product.id)?
    {
        return Err(taken(ProblemCode::SkuTaken));
    }
    by_ref::ensure_refs_free(
        conn,
        product.workspace_id,
        RefEntity::Product,
        product.id.0,
        &product.external_refs.0,
        before.map(|before| before.external_refs.0.as_slice()),
    )
}

/// Create or update the product another system knows by `{system}:{id}`.
///
/// When no product has this ref, creates one from the body (which then needs `sku`, `name`, `price` and
/// `currency`) with the ref among its `external_refs`, 201; when one has, updates it with the fields the body
/// gives, as `PATCH` does, 200, and writes nothing (same version, no change event) when they change nothing.
/// `If-Match` guards the update; on a create it fails (412, `current_version` 0). Two upserts of one new ref at
/// once make one product.
#[utoipa::path(
    tag = "products",
    operation_id = "upsert_product_by_ref",
    security(("bearer" = [])),
    params(
        RefPath,
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateProduct,
    responses(
        (status = 200, description = "Updated, or already as asked", body = ProductResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 201, description = "Created", body = ProductResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new product's URL"))),
        (status = 409, description = "The SKU is another product's", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[put("/products/by-ref/{system}/{id}")]
pub async fn upsert_product_by_ref(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<RefPath>,
    if_match: IfMatch,
    body: JsonBody<UpdateProduct>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let reference = path.parse()?;
    let (status, product) = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| upsert_in(conn, &principal, reference, body.0, &if_match))
    })
    .await?;
    Ok(product_http(status, &product))
}

/// Creates or updates the product `reference` names (see `upsert_product_by_ref`).
fn upsert_in(
    conn: &mut PgConnection,
    principal: &Principal,
    reference: ExternalRef,
    mut patch: UpdateProduct,
    if_match: &IfMatch,
) -> Result<(StatusCode, Product), ApiError> {
    let workspace = principal.workspace_id;
    match by_ref::claim(conn, workspace, RefEntity::Product, &reference)? {
        Some(id) => {
            let current = Product::find_for_update(conn, workspace, ProductId(id))?;
            by_ref::keep_path_ref(&mut patch.external_refs, &reference);
            Ok((StatusCode::OK, update_in(conn, principal, current, patch, if_match)?))
        }
        None => {
            let input = new_product(patch, reference)?;
            let product = build_product(workspace, input, None)?;
            // After the checks, as on an update (RFC 9110, 13.2.1): an If-Match names a version no
            // new product has.
            if_match.check_absent()?;
            Ok((StatusCode::CREATED, create_in(conn, principal, product)?))
        }
    }
}

/// A new product from an upsert's body: it must give what a `POST` requires.
fn new_product(patch: UpdateProduct, reference: ExternalRef) -> Result<ProductInput, ApiError> {
    by_ref::require_for_create(
        &[
            ("currency", patch.currency.is_some()),
            ("name", patch.name.is_some()),
            ("price", patch.price.is_some()),
            ("sku", patch.sku.is_some()),
        ],
        "product",
    )?;
    let (Some(sku), Some(name), Some(price), Some(currency)) =
        (patch.sku, patch.name, patch.price, patch.currency)
    else {
        unreachable!("required above")
    };
    Ok(ProductInput {
        sku,
        name,
        product_group: patch.product_group.flatten(),
        unit: patch.unit.flatten(),
        price,
        currency,
        active: patch.active.unwrap_or(true),
        external_refs: by_ref::with_path_ref(patch.external_refs, reference),
    })
}
