//! A record's history: every change made to it through the API, newest first, as the audit trail
//! has it. Whoever sees the record reads its history, deleted or not.

use actix_web::{get, web};
use diesel::{OptionalExtension, PgConnection};

use crate::api::audit::{AuditEvent, events_page};
use crate::api::extract::{Page, PageParams};
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::AuditFilter;
use crate::db::models::{Activity, Client, Contact, Product, SoftDelete};
use crate::db::visibility::ClientScope;
use crate::error::ApiError;
use crate::ids::{ActivityId, ClientId, ContactId, ProductId};
use crate::state::AppState;

/// The page of `entity` `id`'s changes that `page` asks for, once `seen` says the caller sees it.
async fn history(
    state: web::Data<AppState>,
    principal: Principal,
    entity: &'static str,
    id: uuid::Uuid,
    page: PageParams,
    seen: impl FnOnce(&mut PgConnection, &ClientScope) -> Result<bool, ApiError> + Send + 'static,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let limit = page.limit()?;
    let before: Option<uuid::Uuid> = page.after()?;
    let page = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        if !seen(conn, scope)? {
            return Err(ApiError::NotFound);
        }
        let filter =
            AuditFilter { entity: Some(entity.to_string()), entity_id: Some(id), ..AuditFilter::default() };
        events_page(conn, principal.workspace_id, &filter, before, limit)
    })
    .await?;
    Ok(web::Json(page))
}

/// Whether the scope sees record `id` of `R`, deleted or not.
fn seen_record<R: SoftDelete>(
    id: R::Id,
) -> impl FnOnce(&mut PgConnection, &ClientScope) -> Result<bool, ApiError> {
    move |conn, scope| match R::find_any(conn, scope.workspace(), id).optional()? {
        Some(record) => Ok(record.is_seen(conn, scope)?),
        None => Ok(false),
    }
}

/// A client's history.
///
/// Every change to the client, newest first: who made it, when, through which request and what changed, as the
/// audit trail has it. Its contacts', deals' and activities' changes are in their own histories.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_client_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The client's id"), PageParams),
    responses((status = 200, description = "One page of changes", body = Page<AuditEvent>))
)]
#[get("/clients/{id}/history")]
pub async fn get_client_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ClientId>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let id = id.into_inner();
    history(state, principal, Client::ENTITY, id.0, page.into_inner(), seen_record::<Client>(id)).await
}

/// A contact's history.
///
/// Every change to the contact, newest first: who made it, when, through which request and what changed.
#[utoipa::path(
    tag = "contacts",
    operation_id = "get_contact_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The contact's id"), PageParams),
    responses((status = 200, description = "One page of changes", body = Page<AuditEvent>))
)]
#[get("/contacts/{id}/history")]
pub async fn get_contact_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ContactId>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let id = id.into_inner();
    history(state, principal, Contact::ENTITY, id.0, page.into_inner(), seen_record::<Contact>(id)).await
}

/// An activity's history.
///
/// Every change to the activity, newest first: who made it, when, through which request and what changed.
#[utoipa::path(
    tag = "activities",
    operation_id = "get_activity_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id"), PageParams),
    responses((status = 200, description = "One page of changes", body = Page<AuditEvent>))
)]
#[get("/activities/{id}/history")]
pub async fn get_activity_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let id = id.into_inner();
    history(state, principal, Activity::ENTITY, id.0, page.into_inner(), seen_record::<Activity>(id)).await
}

/// A product's history.
///
/// Every change to the product, newest first: prices, names and whether it is sold, with who changed them and
/// when.
#[utoipa::path(
    tag = "products",
    operation_id = "get_product_history",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The product's id"), PageParams),
    responses((status = 200, description = "One page of changes", body = Page<AuditEvent>))
)]
#[get("/products/{id}/history")]
pub async fn get_product_history(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ProductId>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    let id = id.into_inner();
    // The catalogue is everyone's to read.
    let exists = move |conn: &mut PgConnection, scope: &ClientScope| {
        Ok(Product::find(conn, scope.workspace(), id).optional()?.is_some())
    };
    history(state, principal, "product", id.0, page.into_inner(), exists).await
}
