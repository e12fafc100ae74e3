//! What every list of the API shares: the cursor of a sorted page, the `sort=` and `q=`
//! parameters, `?phone=` lookups, and the tombstone lists of deleted records for sync.

use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{Page, decode_cursor, page_limit};
use crate::auth::{Principal, run_as};
use crate::db::models::Workspace;
use crate::db::models::change_event::ChangeEvent;
use crate::db::models::client::{ClientOrder, SortKey};
use crate::domain::contact_points::{has_country_code, to_e164};
use crate::error::{ApiError, ProblemCode};
use crate::ids::{UserId, WorkspaceId};
use crate::state::AppState;

/// How a list may be sorted.
const SORTS: &[(&str, ClientOrder)] = &[
    ("updated_at", ClientOrder::UpdatedAt),
    ("created_at", ClientOrder::CreatedAt),
    ("display_name", ClientOrder::DisplayName),
];

/// `sort` of the client and contact lists and of a segment's members.
pub struct ClientSort;

impl utoipa::PartialSchema for ClientSort {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schemas::sort_order(SORTS.iter().map(|(name, _)| *name))
    }
}

impl utoipa::ToSchema for ClientSort {}

/// The position a page of a sorted list ends at, as the cursor carries it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ListCursor<Id> {
    pub sort: String,
    pub key: SortKey,
    pub id: Id,
}

/// `q=` trimmed and lower-cased; none when empty.
pub(crate) fn search_query(q: Option<&str>) -> Result<Option<String>, ApiError> {
    let q = q.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidQuery,
            "q must be at most 200 characters long",
        ));
    }
    Ok(q)
}

/// `sort=` as (its canonical name, the order, descending): `-updated_at` by default, best match
/// first when searching.
pub(crate) fn list_order(
    sort: Option<&str>,
    searching: bool,
) -> Result<(String, ClientOrder, bool), ApiError> {
    // Exactly a documented value: `sort=` or ` updated_at` is refused, not read as the default.
    match sort {
        None if searching => Ok(("relevance".to_string(), ClientOrder::Relevance, false)),
        None => Ok(("-updated_at".to_string(), ClientOrder::UpdatedAt, true)),
        Some(sort) => {
            let (descending, field) = sort.strip_prefix('-').map_or((false, sort), |field| (true, field));
            let order =
                SORTS.iter().find(|(name, _)| *name == field).map(|(_, order)| *order).ok_or_else(|| {
                    ApiError::bad_request(
                        ProblemCode::InvalidQuery,
                        "sort must be updated_at, created_at or display_name, optionally prefixed with -",
                    )
                })?;
            Ok((sort.to_string(), order, descending))
        }
    }
}

/// The cursor of a sorted list, refused when it was made for another sort.
pub(crate) fn decode_list_cursor<Id: serde::de::DeserializeOwned>(
    cursor: Option<&str>,
    sort_name: &str,
    order: ClientOrder,
) -> Result<Option<(SortKey, Id)>, ApiError> {
    let Some(cursor) = decode_cursor::<ListCursor<Id>>(cursor)? else { return Ok(None) };
    let key_fits = match order {
        ClientOrder::UpdatedAt | ClientOrder::CreatedAt => matches!(cursor.key, SortKey::Time(_)),
        ClientOrder::DisplayName => matches!(cursor.key, SortKey::Text(_)),
        ClientOrder::Relevance => matches!(cursor.key, SortKey::Score(_)),
    };
    if cursor.sort != sort_name || !key_fits {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidCursor,
            "the cursor belongs to a list with another sort",
        ));
    }
    Ok(Some((cursor.key, cursor.id)))
}

/// The sort key of a row in `order`.
pub(crate) fn sort_key(
    order: ClientOrder,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    display_name: &str,
    score: Option<f32>,
) -> SortKey {
    match order {
        ClientOrder::UpdatedAt => SortKey::Time(updated_at),
        ClientOrder::CreatedAt => SortKey::Time(created_at),
        ClientOrder::DisplayName => SortKey::Text(display_name.to_string()),
        ClientOrder::Relevance => SortKey::Score(score.unwrap_or_default()),
    }
}

/// A `?phone=` lookup's number as stored phones are keyed: in E.164. Only a number written without
/// its country code needs the workspace's region, so only then is the workspace read.
pub(crate) fn phone_key(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    phone: &str,
) -> Result<String, ApiError> {
    let region = match has_country_code(phone) {
        true => String::new(),
        false => Workspace::find(conn, workspace)?.default_phone_region,
    };
    to_e164(phone, &region)
        .map_err(|(_, message)| ApiError::bad_request(ProblemCode::InvalidQuery, format!("phone: {message}")))
}

/// A deleted record, as sync and undo need it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tombstone {
    pub id: uuid::Uuid,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: Option<UserId>,
    /// The version the deletion wrote.
    pub version: i32,
}

/// One page of tombstones from deleted rows, by (deleted_at, id): `fields` gives each row's id,
/// deletion time, deleter and version.
pub(crate) fn tombstone_page<R, Id: Serialize + Copy + Into<uuid::Uuid>>(
    rows: Vec<R>,
    limit: u32,
    fields: impl Fn(&R) -> (Id, DateTime<Utc>, Option<UserId>, i32),
) -> Page<Tombstone> {
    Page::from_rows(
        rows,
        limit,
        |row| {
            let (id, deleted_at, _, _) = fields(row);
            (deleted_at, id)
        },
        |row| {
            let (id, deleted_at, deleted_by, version) = fields(&row);
            Tombstone { id: id.into(), deleted_at, deleted_by, version }
        },
    )
}

/// Tombstones of `entity`, a kind of record deleted outright, read from the change log: no row
/// stays behind to list. For anyone who may read that kind of record: a tombstone holds only ids.
pub(crate) async fn logged_tombstones(
    state: &AppState,
    principal: Principal,
    query: DeletedQuery,
    entity: &'static str,
) -> Result<Page<Tombstone>, ApiError> {
    let limit = page_limit(query.limit)?;
    let after: Option<(DateTime<Utc>, uuid::Uuid)> = decode_cursor(query.cursor.as_deref())?;
    let since = query.deleted_since;
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(ChangeEvent::deletions_of(
            conn,
            principal.workspace_id,
            entity,
            since,
            after,
            i64::from(limit) + 1,
        )?)
    })
    .await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |row| (row.deleted_at, row.event_id),
        |row| Tombstone {
            id: row.record_id,
            deleted_at: row.deleted_at,
            deleted_by: row.deleted_by,
            version: row.version.unwrap_or_default(),
        },
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeletedQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// Records deleted at or after this time.
    pub deleted_since: Option<DateTime<Utc>>,
}
