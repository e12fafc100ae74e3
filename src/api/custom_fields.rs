//! Custom field definitions: the extra fields a workspace adds to its clients, contacts, deals and
//! activities. Changing a definition never silently breaks stored values: a narrowing change is
//! refused while records violate it, with their count.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{IfMatch, JsonBody, Page, not_null, nullable, versioned_http};
use crate::api::{BOOKKEEPING, record_change, to_json};
use crate::auth::{Principal, run_as};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::custom_field::CustomField;
use crate::domain::custom_fields::{check_definition, check_value};
use crate::domain::enums::{CustomEntity, CustomFieldType};
use crate::error::{ApiError, ProblemCode, taken};
use crate::ids::CustomFieldId;
use crate::state::AppState;

/// How many custom fields one entity may have.
const MAX_FIELDS_PER_ENTITY: usize = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomFieldResponse {
    pub id: CustomFieldId,
    pub entity: CustomEntity,
    /// Where the value lives in a record: `custom.<key>`.
    #[schema(example = "loyalty_tier")]
    pub key: String,
    #[schema(example = "Loyalty tier")]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: CustomFieldType,
    pub required: bool,
    /// The choices of an `enum` or `multi_enum` field.
    pub options: Vec<String>,
    /// The smallest value of a `number` or `decimal` field, as a decimal string.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub min: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>)]
    pub max: Option<Decimal>,
    /// The longest `text`, `email`, `phone` or `url` value, in characters.
    pub max_length: Option<i32>,
    /// A regular expression a `text` value must match (Rust `regex` syntax).
    pub pattern: Option<String>,
    pub description: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&CustomField> for CustomFieldResponse {
    fn from(field: &CustomField) -> Self {
        Self {
            id: field.id,
            entity: field.entity.parse().unwrap_or(CustomEntity::Client),
            key: field.key.clone(),
            label: field.label.clone(),
            field_type: field.field_type(),
            required: field.required,
            options: field.options.clone(),
            min: field.min,
            max: field.max,
            max_length: field.max_length,
            pattern: field.pattern.clone(),
            description: field.description.clone(),
            version: field.version,
            created_at: field.created_at,
            updated_at: field.updated_at,
        }
    }
}

/// A new custom field. `entity`, `key` and `type` are fixed once created.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"entity": "client", "key": "loyalty_tier", "label": "Loyalty tier", "type": "enum", "options": ["gold", "silver", "bronze"]}))]
pub struct CustomFieldInput {
    pub entity: CustomEntity,
    /// snake_case, unique per entity.
    #[schema(example = "loyalty_tier", pattern = r"^[a-z][a-z0-9_]{0,62}$")]
    pub key: String,
    #[schema(example = "Loyalty tier", max_length = 200)]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: CustomFieldType,
    /// A required field must be given on create and can't be cleared. Refused while records of
    /// the entity exist without it.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    #[schema(example = json!(["gold", "silver"]))]
    pub options: Vec<String>,
    /// The least value of a number or decimal field: a decimal string such as `-5` or `0.5`.
    #[serde(default, deserialize_with = "decimal_bound")]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub min: Option<Decimal>,
    /// The greatest value of a number or decimal field, not below `min`.
    #[serde(default, deserialize_with = "decimal_bound")]
    #[schema(value_type = Option<String>, pattern = r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub max: Option<Decimal>,
    #[schema(minimum = 1, maximum = 10000)]
    pub max_length: Option<i32>,
    #[schema(max_length = 500)]
    pub pattern: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
}

/// A partial update. Changes that narrow what is allowed (required, fewer options, a tighter range,
/// length or pattern) are refused with a count while stored values violate them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"label": "Loyalty level", "options": ["gold", "silver", "bronze", "platinum"]}))]
pub struct UpdateCustomField {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 200)]
    pub label: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub required: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub options: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable_decimal")]
    #[schema(value_type = Option<String>)]
    pub min: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable_decimal")]
    #[schema(value_type = Option<String>)]
    pub max: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub max_length: Option<Option<i32>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub pattern: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

fn nullable_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Decimal>>, D::Error> {
    decimal_bound(deserializer).map(Some)
}

/// A `min` or `max` as the document's pattern writes it (`money::SIGNED_DECIMAL_TEXT_PATTERN`), or
/// null: a string `rust_decimal` would read loosely (`1_000`, `+5`) is refused.
fn decimal_bound<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    crate::domain::money::parse_signed_decimal_text(&text).map(Some).ok_or_else(|| {
        serde::de::Error::custom(
            "must be a decimal string of digits and a point, such as \"-5\" or \"99.95\"",
        )
    })
}

/// Refuses a definition that stored records of its entity would violate, naming how many.
fn ensure_records_fit(
    conn: &mut PgConnection,
    field: &CustomField,
    entity: CustomEntity,
) -> Result<(), ApiError> {
    let what = crate::db::models::custom_field::entity_table(entity);
    if field.required {
        let missing = field.count_missing(conn, entity)?;
        if missing > 0 {
            return Err(ApiError::RecordsInTheWay {
                detail: format!("{missing} {what} have no value for {}: fill them in first", field.key),
                count: missing,
            });
        }
    }
    let rules = field.rules();
    let broken = field
        .stored_values(conn, entity)?
        .iter()
        // Stored phones are in E.164, which needs no default region.
        .filter(|value| check_value(&rules, value, "ZZ").is_err())
        .count() as i64;
    if broken > 0 {
        return Err(ApiError::RecordsInTheWay {
            detail: format!("{broken} {what} hold values of {} this definition would not allow", field.key),
            count: broken,
        });
    }
    Ok(())
}

fn field_http(status: StatusCode, field: &CustomField) -> HttpResponse {
    versioned_http(status, field.version, "custom-fields", field.id, &CustomFieldResponse::from(field))
}

/// Define a custom field (owners and admins).
///
/// Adds a field of a type (text, number, decimal, date, datetime, bool, enum, multi_enum, email, phone, url)
/// to clients, contacts, deals or activities; values then go in each record's `custom` object under its key.
/// Options belong to enum types, `min`/`max` to numbers, `max_length` to text-like types and `pattern` to
/// text.
#[utoipa::path(
    tag = "custom-fields",
    operation_id = "create_custom_field",
    security(("bearer" = [])),
    request_body = CustomFieldInput,
    responses(
        (status = 201, description = "Created", body = CustomFieldResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new field's URL"))),
        (status = 409, description = "The key is taken, or a required field would leave existing records without a value",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/custom-fields")]
pub async fn create_custom_field(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<CustomFieldInput>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("define custom fields")?;
    let input = body.0;
    let now = Utc::now();
    let field = CustomField {
        workspace_id: principal.workspace_id,
        id: CustomFieldId::generate(),
        entity: input.entity.as_str().to_string(),
        key: input.key.trim().to_string(),
        label: input.label.trim().to_string(),
        field_type: input.field_type.as_str().to_string(),
        required: input.required,
        options: input.options.into_iter().map(|option| option.trim().to_string()).collect(),
        min: input.min,
        max: input.max,
        max_length: input.max_length,
        pattern: input.pattern,
        description: input.description.map(|text| text.trim().to_string()).filter(|text| !text.is_empty()),
        version: 1,
        created_at: now,
        updated_at: now,
        created_by: Some(principal.user_id),
        updated_by: Some(principal.user_id),
    };
    check_definition(&field.definition())?;
    let field = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let entity = input.entity;
            if CustomField::key_taken(conn, field.workspace_id, entity, &field.key)? {
                return Err(taken(ProblemCode::KeyTaken));
            }
            if CustomField::list(conn, field.workspace_id, Some(entity))?.len() >= MAX_FIELDS_PER_ENTITY {
                return Err(ApiError::conflict(
                    ProblemCode::TooManyFields,
                    "an entity may have at most 100 custom fields",
                ));
            }
            ensure_records_fit(conn, &field, entity)?;
            let field = field.insert(conn)?;
            let changes =
                ChangeSet::default().diff(None, &to_json(&CustomFieldResponse::from(&field)), BOOKKEEPING);
            record_change(conn, &principal, "custom_field", field.id.0, "created", field.version, changes)?;
            Ok(field)
        })
    })
    .await?;
    Ok(field_http(StatusCode::CREATED, &field))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CustomFieldListQuery {
    pub entity: Option<CustomEntity>,
}

/// List deleted custom fields (tombstones), oldest deletion first: for sync.
///
/// Custom fields are deleted outright; their deletions are read from the change log, oldest first, from
/// `deleted_since`, so that a sync that polls learns of them (they also come through `GET /changes`).
#[utoipa::path(
    tag = "custom-fields",
    operation_id = "list_deleted_custom_fields",
    security(("bearer" = [])),
    params(crate::api::listing::DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<crate::api::listing::Tombstone>))
)]
#[get("/custom-fields/deleted")]
pub async fn list_deleted_custom_fields(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<crate::api::listing::DeletedQuery>,
) -> Result<web::Json<Page<crate::api::listing::Tombstone>>, ApiError> {
    let page =
        crate::api::listing::logged_tombstones(&state, principal, query.into_inner(), "custom_field").await?;
    Ok(web::Json(page))
}

/// List the workspace's custom fields.
///
/// Every definition, ordered by entity and key, or those of one `entity`. One page holds them all, since a
/// workspace has at most 100 per entity.
#[utoipa::path(
    tag = "custom-fields",
    operation_id = "list_custom_fields",
    security(("bearer" = [])),
    params(CustomFieldListQuery),
    responses((status = 200, description = "The definitions", body = Page<CustomFieldResponse>))
)]
#[get("/custom-fields")]
pub async fn list_custom_fields(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<CustomFieldListQuery>,
) -> Result<web::Json<Page<CustomFieldResponse>>, ApiError> {
    let entity = query.entity;
    let fields = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(CustomField::list(conn, principal.workspace_id, entity)?)
    })
    .await?;
    Ok(web::Json(Page { data: fields.iter().map(CustomFieldResponse::from).collect(), next_cursor: None }))
}

/// Get one custom field definition.
///
/// The definition with its type, rules and options.
#[utoipa::path(
    tag = "custom-fields",
    operation_id = "get_custom_field",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The field's id")),
    responses((status = 200, description = "The definition", body = CustomFieldResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/custom-fields/{id}")]
pub async fn get_custom_field(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<CustomFieldId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let field = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(CustomField::find(conn, principal.workspace_id, id)?)
    })
    .await?;
    Ok(field_http(StatusCode::OK, &field))
}

/// Change a custom field's label, rules or options (owners and admins).
///
/// The key, entity and type are fixed. A change that narrows what is allowed (required, fewer options, a
/// tighter range, length or pattern) is refused with a 409 whose `record_count` says how many stored values
/// would break.
#[utoipa::path(
    tag = "custom-fields",
    operation_id = "update_custom_field",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The field's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateCustomField,
    responses(
        (status = 200, description = "Updated", body = CustomFieldResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 409, description = "Stored values would break: `record_count` says how many records",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/custom-fields/{id}")]
pub async fn update_custom_field(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<CustomFieldId>,
    if_match: IfMatch,
    body: JsonBody<UpdateCustomField>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("define custom fields")?;
    let id = id.into_inner();
    let patch = body.0;
    let field = run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = CustomField::find_for_update(conn, principal.workspace_id, id)?;
            let mut candidate = current.clone();
            if let Some(label) = patch.label {
                candidate.label = label.trim().to_string();
            }
            if let Some(required) = patch.required {
                candidate.required = required;
            }
            if let Some(options) = patch.options {
                candidate.options = options.into_iter().map(|option| option.trim().to_string()).collect();
            }
            candidate.min = patch.min.unwrap_or(candidate.min);
            candidate.max = patch.max.unwrap_or(candidate.max);
            candidate.max_length = patch.max_length.unwrap_or(candidate.max_length);
            candidate.pattern = patch.pattern.unwrap_or(candidate.pattern);
            if let Some(description) = patch.description {
                candidate.description =
                    description.map(|text| text.trim().to_string()).filter(|text| !text.is_empty());
            }
            check_definition(&candidate.definition())?;
            if_match.check(current.version)?;
            let before = to_json(&CustomFieldResponse::from(&current));
            let changes = ChangeSet::default().diff(
                Some(&before),
                &to_json(&CustomFieldResponse::from(&candidate)),
                BOOKKEEPING,
            );
            if changes.is_empty() {
                return Ok(current);
            }
            let entity = current.entity.parse().unwrap_or(CustomEntity::Client);
            ensure_records_fit(conn, &candidate, entity)?;
            candidate.version += 1;
            candidate.updated_at = Utc::now();
            candidate.updated_by = Some(principal.user_id);
            let field = candidate.save(conn)?;
            record_change(conn, &principal, "custom_field", id.0, "updated", field.version, changes)?;
            Ok(field)
        })
    })
    .await?;
    Ok(field_http(StatusCode::OK, &field))
}

/// Delete a custom field and its values in every record (owners and admins).
///
/// The deletion is recorded with how many records lost a value.
#[utoipa::path(
    tag = "custom-fields",
    operation_id = "delete_custom_field",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The field's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/custom-fields/{id}")]
pub async fn delete_custom_field(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<CustomFieldId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin("define custom fields")?;
    let id = id.into_inner();
    run_as(principal.caller(), &state.pool, move |conn| {
        conn.transaction(|conn| {
            let current = CustomField::find_for_update(conn, principal.workspace_id, id)?;
            if_match.check(current.version)?;
            let entity = current.entity.parse().unwrap_or(CustomEntity::Client);
            let stripped = current.strip_values(conn, entity)?;
            current.delete(conn)?;
            let changes = ChangeSet::default()
                .field(
                    "definition",
                    Some(&to_json(&CustomFieldResponse::from(&current))),
                    &serde_json::Value::Null,
                )
                .field("records_cleared", None, &(stripped as i64));
            record_change(conn, &principal, "custom_field", id.0, "deleted", current.version + 1, changes)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
