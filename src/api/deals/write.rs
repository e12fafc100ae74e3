//! Building the deal a create or update stores: its fields checked, the records it names looked up,
//! the money and closing rules applied.

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::Utc;
use diesel::prelude::*;

use super::wire::{DealInput, ItemInput, UpdateDeal, deal_response};
use crate::api::assignment::{Assignment, Requested, ensure_may_hand_over};
use crate::api::by_ref;
use crate::api::custom_values::check_custom;
use crate::api::extract::{IfMatch, versioned_http};
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::Principal;
use crate::db::json::Json;
use crate::db::models::change_event::ChangeSet;

use crate::db::models::deal::{DealItem, StageChange, recompute_derived};
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::models::{Client, Contact, Deal, Pipeline, Product, Stage, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::client::normalise_tags;
use crate::domain::deal::{self as deal_rules, DealContext, DealDraft, ItemDraft, ProductDefaults};
use crate::domain::enums::{CustomEntity, StageKind};
use crate::domain::external_ref::{ExternalRef, normalise_refs};
use crate::domain::money::check_currency;
use crate::domain::text::non_blank;
use crate::domain::text::trimmed;
use crate::error::{ApiError, FieldError, field_errors};
use crate::ids::{ClientId, DealId, ProductId, StageId};

/// Checks `input` and builds the deal and its items: the only path by which a deal is written.
/// First every rule of the fields themselves, then the records they name, then the money and
/// closing rules (`domain::deal`).
pub(super) fn build_deal(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    mut input: DealInput,
    existing: Option<&Deal>,
) -> Result<(Deal, Vec<DealItem>), ApiError> {
    named_products(conn, workspace, &mut input)?;
    let fields = check_fields(conn, workspace, &input)?;
    let client_id =
        by_ref::named_client(conn, workspace.id, input.client_id, input.client_ref.as_ref(), "deal")?;
    let named = NamedRecords::look_up(conn, principal, scope, &input, client_id, existing)?;
    let now = Utc::now();
    let draft = draft(&input, &fields, &named);
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
        client_id,
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
        external_refs: Json(fields.external_refs),
    };
    Ok((deal, items))
}

/// Puts the product each line names by `product_ref` (another system's id) in its `product_id`.
fn named_products(
    conn: &mut PgConnection,
    workspace: &Workspace,
    input: &mut DealInput,
) -> Result<(), ApiError> {
    for (index, item) in input.items.iter_mut().enumerate() {
        let Some(reference) = item.product_ref.take() else { continue };
        let field = format!("items[{index}].product_ref");
        if item.product_id.is_some() {
            return Err(ApiError::invalid_field(
                &field,
                FieldCode::NotAllowed,
                "give product_id or product_ref, not both",
            ));
        }
        let reference = ExternalRef::parse(&reference.system, &reference.id)
            .map_err(|reason| ApiError::invalid_field(&field, FieldCode::Format, reason))?;
        let found = external_ref::record_of(conn, workspace.id, RefEntity::Product, &reference)?;
        let found = found.ok_or_else(|| {
            ApiError::invalid_field(&field, FieldCode::NotFound, "no product has this external ref")
        })?;
        item.product_id = Some(ProductId(found));
    }
    Ok(())
}

/// The money and closing fields of `input` as the rules read them, with each item's product.
fn draft<'a>(input: &'a DealInput, fields: &'a CheckedFields, named: &'a NamedRecords) -> DealDraft<'a> {
    let item = |item: &'a ItemInput| ItemDraft {
        product: item.product_id.and_then(|id| named.products.get(&id)).map(|product| ProductDefaults {
            name: &product.name,
            product_group: product.product_group.as_deref(),
            price: product.price,
            currency: &product.currency,
        }),
        name: item.name.as_deref(),
        product_group: item.product_group.as_deref(),
        quantity: item.quantity,
        unit_price: item.unit_price,
        discount_percent: item.discount_percent,
        tax_percent: item.tax_percent,
    };
    DealDraft {
        currency: &fields.currency,
        places: fields.places,
        amount: input.amount,
        exchange_rate: input.exchange_rate,
        items: input.items.iter().map(item).collect(),
        closed_at: input.closed_at,
        lost_reason: input.lost_reason.as_deref(),
    }
}

/// A deal's fields that are checked on their own, before any record they name is looked up.
pub(super) struct CheckedFields {
    title: String,
    currency: String,
    places: u32,
    tags: Vec<String>,
    custom: serde_json::Value,
    external_refs: Vec<ExternalRef>,
}

/// Every rule of the fields themselves at once: validator's, the currency, tags, custom values
/// and a blank title.
pub(super) fn check_fields(
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
    let external_refs = normalise_refs("external_refs", input.external_refs.clone())
        .map_err(|found| errors.extend(found.into_iter().map(FieldError::from)));
    let custom = check_custom(conn, workspace.id, CustomEntity::Deal, input.custom.clone(), &mut errors)?;
    match (tags, title, external_refs) {
        (Ok(tags), Ok(title), Ok(external_refs)) if errors.is_empty() => {
            Ok(CheckedFields { title, currency, places, tags, custom, external_refs })
        }
        _ => {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(ApiError::Validation(errors))
        }
    }
}

/// The records a deal names, looked up in the workspace; the first one missing is a 422.
pub(super) struct NamedRecords {
    stage: Stage,
    status: StageKind,
    products: HashMap<ProductId, Product>,
    assignment: Assignment,
}

impl NamedRecords {
    fn look_up(
        conn: &mut PgConnection,
        principal: &Principal,
        scope: &ClientScope,
        input: &DealInput,
        client_id: ClientId,
        existing: Option<&Deal>,
    ) -> Result<Self, ApiError> {
        let workspace_id = scope.workspace();
        let pipeline = match input.pipeline_id {
            Some(id) => Pipeline::find(conn, workspace_id, id).optional()?.ok_or_else(|| {
                ApiError::invalid_field(
                    "pipeline_id",
                    FieldCode::NotFound,
                    "no such pipeline in this workspace",
                )
            })?,
            None => Pipeline::find_default(conn, workspace_id)?,
        };
        let stages = Stage::of_pipelines(conn, workspace_id, &[pipeline.id])?;
        let stage = match input.stage_id {
            Some(id) => stages.into_iter().find(|stage| stage.id == id).ok_or_else(|| {
                ApiError::invalid_field(
                    "stage_id",
                    FieldCode::WrongPipeline,
                    "no such stage in the deal's pipeline",
                )
            })?,
            None => {
                stages.into_iter().find(|stage| stage.kind == StageKind::Open.as_str()).ok_or_else(|| {
                    ApiError::invalid_field("stage_id", FieldCode::Required, "the pipeline has no open stage")
                })?
            }
        };
        let status: StageKind = stage.kind.parse().unwrap_or(StageKind::Open);

        let keeps_links =
            existing.is_some_and(|deal| (deal.client_id, deal.contact_id) == (client_id, input.contact_id));
        let linkable = scope.for_links(keeps_links);
        if !Client::exists(conn, &linkable, client_id)? {
            // Named by the field the request named it by.
            return Err(ApiError::invalid_field(
                if input.client_ref.is_some() { "client_ref" } else { "client_id" },
                FieldCode::NotFound,
                "no such client in this workspace",
            ));
        }
        if let Some(contact) = input.contact_id {
            let found = Contact::find(conn, &linkable, contact).optional()?;
            if found.is_none_or(|contact| contact.client_id != client_id) {
                return Err(ApiError::invalid_field(
                    "contact_id",
                    FieldCode::WrongClient,
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
                FieldCode::NotFound,
                "no such product in this workspace",
            ));
        }
        let assignment = Assignment::resolve(
            conn,
            workspace_id,
            principal.user_id,
            Requested { owner_id: input.owner_id, team_id: input.team_id, is_new: existing.is_none() },
        )?;
        let before = existing.map_or(Some(principal.user_id), |deal| deal.owner_id);
        ensure_may_hand_over(principal, scope, before, assignment.owner_id)?;
        Ok(Self { stage, status, products, assignment })
    }
}

pub(super) fn stage_change(principal: &Principal, deal: &Deal, from: Option<StageId>) -> StageChange {
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

pub(super) fn deal_http(status: StatusCode, deal: &Deal, items: &[DealItem]) -> HttpResponse {
    versioned_http(status, deal.version, "deals", deal.id, &deal_response(deal, items))
}

pub(super) fn snapshot(deal: &Deal, items: &[DealItem]) -> serde_json::Value {
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

/// Stores a new deal from `input` with its items, its first stage entry and its client's stats:
/// the one way a deal comes to be, posted or upserted.
pub(super) fn create_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    input: DealInput,
) -> Result<(Deal, Vec<DealItem>), ApiError> {
    let (deal, items) = build_deal(conn, principal, scope, workspace, input, None)?;
    insert_new(conn, principal, deal, items)
}

/// Stores `deal` with its `items`, built and checked, unless another deal has one of its refs.
fn insert_new(
    conn: &mut PgConnection,
    principal: &Principal,
    deal: Deal,
    items: Vec<DealItem>,
) -> Result<(Deal, Vec<DealItem>), ApiError> {
    ensure_refs_free(conn, &deal, None)?;
    let deal = deal.insert(conn)?;
    index_refs(conn, &deal)?;
    Deal::replace_items(conn, deal.workspace_id, deal.id, &items)?;
    Deal::record_stage_change(conn, &stage_change(principal, &deal, None))?;
    let changes = ChangeSet::default().diff(None, &snapshot(&deal, &items), BOOKKEEPING);
    record_change(conn, principal, "deal", deal.id.0, "created", deal.version, changes)?;
    recompute_derived(conn, deal.workspace_id, [Some(deal.client_id)])?;
    Ok((deal, items))
}

/// Applies `change` to `current` (live and locked by the caller): the deal as it is now,
/// unwritten (same version, no change event) when the change changes nothing.
pub(super) fn update_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    current: Deal,
    change: UpdateDeal,
    if_match: &IfMatch,
) -> Result<(Deal, Vec<DealItem>), ApiError> {
    let current_items = Deal::items_of(conn, current.workspace_id, &[current.id])?;
    let mut input = DealInput::from_deal(&current, &current_items);
    change.apply_to(&mut input);
    let (candidate, items) = build_deal(conn, principal, scope, workspace, input, Some(&current))?;
    // After the checks: a request that fails them fails whatever its precondition (RFC 9110, 13.2.1).
    if_match.check(current.version)?;
    let changes = ChangeSet::default().diff(
        Some(&snapshot(&current, &current_items)),
        &snapshot(&candidate, &items),
        &["id", "version", "created_at", "updated_at", "created_by", "updated_by", "stage_entered_at"],
    );
    if changes.is_empty() {
        return Ok((current, current_items));
    }
    ensure_refs_free(conn, &candidate, Some(&current))?;
    let deal = candidate.save(conn)?;
    if deal.external_refs != current.external_refs {
        index_refs(conn, &deal)?;
    }
    let unchanged_items = current_items.len() == items.len()
        && current_items.iter().zip(&items).all(|(old, new)| DealItem { id: new.id, ..old.clone() } == *new);
    let items = if unchanged_items {
        current_items
    } else {
        Deal::replace_items(conn, deal.workspace_id, deal.id, &items)?;
        items
    };
    if deal.stage_id != current.stage_id {
        Deal::record_stage_change(conn, &stage_change(principal, &deal, Some(current.stage_id)))?;
    }
    record_change(conn, principal, "deal", deal.id.0, "updated", deal.version, changes)?;
    recompute_derived(conn, deal.workspace_id, [Some(current.client_id), Some(deal.client_id)])?;
    Ok((deal, items))
}

/// Creates or updates the deal `reference` names (see `upsert_deal_by_ref`).
pub(super) fn upsert_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    workspace: &Workspace,
    reference: ExternalRef,
    mut change: UpdateDeal,
    if_match: &IfMatch,
) -> Result<(StatusCode, (Deal, Vec<DealItem>)), ApiError> {
    match by_ref::claim(conn, workspace.id, RefEntity::Deal, &reference)? {
        Some(id) => {
            let current = by_ref::held_for_upsert(conn, principal, scope, DealId(id), "deals")?;
            by_ref::keep_path_ref(&mut change.external_refs, &reference);
            Ok((StatusCode::OK, update_in(conn, principal, scope, workspace, current, change, if_match)?))
        }
        None => {
            by_ref::require_for_create(
                &[
                    ("client_id", change.client_id.is_some() || change.client_ref.is_some()),
                    ("title", change.title.is_some()),
                ],
                "deal",
            )?;
            let refs = change.external_refs.take();
            let mut input = DealInput::default();
            change.apply_to(&mut input);
            input.external_refs = by_ref::with_path_ref(refs, reference);
            let (deal, items) = build_deal(conn, principal, scope, workspace, input, None)?;
            // After the checks of the body and before those against stored records, as on an
            // update (RFC 9110, 13.2.1): an If-Match names a version no new deal has.
            if_match.check_absent()?;
            let created = insert_new(conn, principal, deal, items)?;
            Ok((StatusCode::CREATED, created))
        }
    }
}

/// Deletes the live deal `id` (soft) and recounts its client's stats.
pub(super) fn delete_in(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: DealId,
    if_match: &IfMatch,
) -> Result<(), ApiError> {
    let deleted: Deal =
        crate::api::soft_delete::delete(conn, principal, scope, id, if_match, |_, _, _, changes| {
            Ok(changes)
        })?;
    Ok(recompute_derived(conn, deleted.workspace_id, [Some(deleted.client_id)])?)
}

/// Makes the ref index hold exactly the deal's refs.
fn index_refs(conn: &mut PgConnection, deal: &Deal) -> QueryResult<()> {
    external_ref::sync(conn, deal.workspace_id, RefEntity::Deal, deal.id.0, &deal.external_refs.0)
}

fn ensure_refs_free(conn: &mut PgConnection, deal: &Deal, before: Option<&Deal>) -> Result<(), ApiError> {
    by_ref::ensure_refs_free(
        conn,
        deal.workspace_id,
        RefEntity::Deal,
        deal.id.0,
        &deal.external_refs.0,
        before.map(|before| before.external_refs.0.as_slice()),
    )
}
