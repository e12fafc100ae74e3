//! The product catalogue.

use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;

use crate::db::change_order::{ListOrder, in_change_order};
use diesel::sql_types::{Bool, Text};
use rust_decimal::Decimal;

use super::client::fuzzy_match;
use crate::db::fragment::SqlFragment;
use crate::db::json::Json;
use crate::db::page_limit::PageLimitDsl;
use crate::db::schema::products;
use crate::domain::external_ref::ExternalRef;
use crate::ids::{ProductId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = products, primary_key(workspace_id, id), treat_none_as_null = true, check_for_backend(diesel::pg::Pg))]
pub struct Product {
    pub workspace_id: WorkspaceId,
    pub id: ProductId,
    pub sku: String,
    pub name: String,
    pub product_group: Option<String>,
    pub unit: Option<String>,
    pub price: Decimal,
    pub currency: String,
    pub active: bool,
    pub search_text: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub external_refs: Json<Vec<ExternalRef>>,
}

#[derive(Debug, Default, Clone)]
pub struct ProductFilter {
    /// The product another system's ref names (found in the ref index first).
    pub id: Option<ProductId>,
    pub product_group: Option<String>,
    pub active: Option<bool>,
    pub q: Option<String>,
}

impl Product {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<Product> {
        diesel::insert_into(products::table).values(self).returning(Product::as_returning()).get_result(conn)
    }

    pub fn save(&self, conn: &mut PgConnection) -> QueryResult<Product> {
        diesel::update(products::table.find((self.workspace_id, self.id)))
            .set(self)
            .returning(Product::as_returning())
            .get_result(conn)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: ProductId) -> QueryResult<Product> {
        products::table.find((workspace, id)).select(Product::as_select()).first(conn)
    }

    pub fn find_for_update(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ProductId,
    ) -> QueryResult<Product> {
        products::table.find((workspace, id)).select(Product::as_select()).for_update().first(conn)
    }

    pub fn find_many(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        ids: &[ProductId],
    ) -> QueryResult<Vec<Product>> {
        products::table
            .filter(products::workspace_id.eq(workspace))
            .filter(products::id.eq_any(ids))
            .select(Product::as_select())
            .load(conn)
    }

    /// The product with this SKU (compared case-insensitively), if any.
    pub fn find_by_sku(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        sku: &str,
    ) -> QueryResult<Option<Product>> {
        products::table
            .filter(products::workspace_id.eq(workspace))
            .filter(sql::<Bool>("lower(sku) = lower(").bind::<Text, _>(sku.to_string()).sql(")"))
            .select(Product::as_select())
            .first(conn)
            .optional()
    }

    pub fn sku_taken(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        sku: &str,
        except: ProductId,
    ) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            products::table
                .filter(products::workspace_id.eq(workspace))
                .filter(products::id.ne(except))
                .filter(sql::<Text>("lower(sku)").eq(sku.to_lowercase())),
        ))
        .get_result(conn)
    }

    /// One page of products by name, after (name, id).
    pub fn list(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        filter: &ProductFilter,
        order: ListOrder<(String, ProductId)>,
        limit: i64,
    ) -> QueryResult<Vec<Product>> {
        let mut query = products::table.filter(products::workspace_id.eq(workspace)).into_boxed();
        if let Some(id) = filter.id {
            query = query.filter(products::id.eq(id));
        }
        if let Some(group) = &filter.product_group {
            query = query.filter(products::product_group.eq(group.clone()));
        }
        if let Some(active) = filter.active {
            query = query.filter(products::active.eq(active));
        }
        if let Some(q) = &filter.q {
            query = query.filter(fuzzy_match(q));
        }
        let query = match order {
            ListOrder::Own(after) => {
                if let Some((name, id)) = after {
                    query = query.filter(SqlFragment::keyset_after("name", false, name, id.0));
                }
                query.order((products::name.asc(), products::id.asc()))
            }
            ListOrder::Changed(window) => in_change_order!(query, products, &window),
        };
        query.select(Product::as_select()).page_limit(limit).load(conn)
    }
}
