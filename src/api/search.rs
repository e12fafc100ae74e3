//! What every `POST /…/search` shares: the request body and the compiling of its filter against
//! the entity's fields and the workspace's custom fields.

use diesel::PgConnection;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::db::filter;
use crate::db::fragment::SqlFragment;
use crate::db::models::Workspace;
use crate::db::models::custom_field::CustomField;
use crate::db::models::segment::{Segment, members_condition};
use crate::domain::enums::CustomEntity;
use crate::domain::filter::{CONSENT_PREFIX, CUSTOM_PREFIX, Catalogue, mentioned_fields, parse};
use crate::error::ApiError;
use crate::ids::WorkspaceId;

/// A search: a filter in the filter language, with the list's sort, page size and cursor.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "filter": {"all": [
        {"field": "updated_at", "op": "within_days", "value": 30},
        {"field": "created_at", "op": "gte", "value": "2026-01-01T00:00:00Z"}
    ]},
    "limit": 20
}))]
pub struct SearchRequest {
    /// A condition `{"field", "op", "value"}` or a group `{"all": [...]}` / `{"any": [...]}`;
    /// every record when omitted. Groups nest at most 5 deep and a filter holds at most 50
    /// conditions. See docs/filters.md for the fields and operators.
    #[schema(value_type = Option<crate::api::schemas::Filter>, example = json!({"all": [
        {"field": "kind", "op": "eq", "value": "company"},
        {"any": [{"field": "tags", "op": "contains", "value": "vip"},
                 {"field": "stats.won_amount", "op": "gte", "value": "100000"}]},
        {"field": "stats.last_purchase_at", "op": "before_days_ago", "value": 90}
    ]}))]
    pub filter: Option<serde_json::Value>,
    /// As in the entity's list: a sort field, prefixed with `-` for descending.
    #[schema(example = "-updated_at")]
    pub sort: Option<String>,
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page of the same search.
    pub cursor: Option<String>,
}

/// Compiles `filter` for `entity` in the caller's workspace; a mistake is a 422 naming its path.
pub fn compile_filter(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: CustomEntity,
    filter: &serde_json::Value,
) -> Result<SqlFragment, ApiError> {
    let mut fields = match entity {
        CustomEntity::Client => filter::client_fields(),
        CustomEntity::Contact => filter::contact_fields(),
        CustomEntity::Deal => filter::deal_fields(),
        CustomEntity::Activity => filter::activity_fields(),
    };
    // The workspace's custom fields and phone region are read only when the filter needs them: a
    // dynamic segment's page and count compile its filter on every request.
    let mentioned = mentioned_fields(filter);
    if mentioned.iter().any(|name| name.starts_with(CUSTOM_PREFIX)) {
        fields.extend(CustomField::list(conn, workspace, Some(entity))?.iter().map(|definition| {
            filter::custom_field(&definition.key, definition.field_type(), &definition.options)
        }));
    }
    // So are the workspace's own consent purposes, for the clients' and contacts' filters that name
    // a purpose that isn't built in.
    let names_own_purpose =
        |name: &&str| name.starts_with(CONSENT_PREFIX) && !fields.iter().any(|field| field.name == **name);
    let consents_of = matches!(entity, CustomEntity::Client | CustomEntity::Contact);
    let mut settings = None;
    if consents_of && mentioned.iter().any(names_own_purpose) {
        let found = settings.insert(Workspace::find(conn, workspace)?);
        fields.extend(found.consent_purposes.iter().map(|purpose| filter::consent_field(purpose)));
    }
    let reads_phones =
        fields.iter().any(|field| field.kind.reads_phones() && mentioned.contains(&field.name.as_str()));
    let phone_region = match (reads_phones, settings) {
        (false, _) => String::new(),
        (true, Some(found)) => found.default_phone_region,
        (true, None) => Workspace::find(conn, workspace)?.default_phone_region,
    };
    let catalogue = Catalogue { entity: entity.as_str(), fields: &fields, phone_region: &phone_region };
    Ok(filter::compile(&parse(filter, &catalogue)?))
}

/// The condition selecting a segment's members among the clients. A dynamic segment's filter has
/// its values written in: its pages and counts are asked for again and again with the same values,
/// so their statements are cached per connection and planned knowing them.
pub(crate) fn segment_condition(conn: &mut PgConnection, segment: &Segment) -> Result<SqlFragment, ApiError> {
    match &segment.filter {
        Some(filter) => compile_filter(conn, segment.workspace_id, CustomEntity::Client, filter)
            .map(SqlFragment::with_values_written_in),
        None => Ok(members_condition(segment.workspace_id, segment.id)),
    }
}
