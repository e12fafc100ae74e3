//! What finding and upserting records by another system's id shares across resources: the path of
//! `PUT /{resource}/by-ref/{system}/{id}`, the `?external_ref=system:id` lookup, the link to a
//! record named by its ref (`client_ref`), and the rule that a ref names one record of a kind.

use diesel::PgConnection;
use serde::Deserialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::models::SoftDelete;
use crate::db::models::external_ref::{self, RefEntity};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::external_ref::ExternalRef;
use crate::error::{ApiError, FieldError, ProblemCode};
use crate::ids::{ClientId, WorkspaceId};

/// `{system}` and `{id}` of `PUT /{resource}/by-ref/{system}/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RefPath {
    /// The other system: lower-case letters, digits, `_`, `-`, `.`
    #[param(example = "1c", min_length = 1, max_length = 50, pattern = "^[a-z0-9][a-z0-9_.-]{0,49}$")]
    pub system: String,
    /// The record's id in that system, percent-encoded (`/` as `%2F`)
    #[param(
        example = "000123",
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]([^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f])?$"
    )]
    pub id: String,
}

impl RefPath {
    /// The ref the path names; a malformed one is a 400.
    pub fn parse(&self) -> Result<ExternalRef, ApiError> {
        ExternalRef::parse(&self.system, &self.id).map_err(|reason| {
            ApiError::bad_request(ProblemCode::InvalidPath, format!("the external ref: {reason}"))
        })
    }
}

/// The `external_ref` query parameter of the lists: `system:id`.
pub struct RefLookup;

impl PartialSchema for RefLookup {
    fn schema() -> RefOr<Schema> {
        crate::api::schemas::written(serde_json::json!({
            "type": "string",
            "description": "A record another system knows by this id: `system:id`, such as `1c:000123`.",
            "minLength": 3,
            "maxLength": 251,
            "pattern": "^[a-z0-9][a-z0-9_.-]{0,49}:[^\\s\\u0000-\\u001f\\u007f-\\u009f]([^\\u0000-\\u001f\\u007f-\\u009f]{0,198}[^\\s\\u0000-\\u001f\\u007f-\\u009f])?$",
            "examples": ["1c:000123"],
        }))
    }
}

impl ToSchema for RefLookup {}

/// The ref a list's `?external_ref=` names; a malformed one is a 400.
pub fn parse_lookup(text: Option<&str>) -> Result<Option<ExternalRef>, ApiError> {
    text.map(ExternalRef::parse_lookup)
        .transpose()
        .map_err(|reason| ApiError::bad_request(ProblemCode::InvalidQuery, format!("external_ref {reason}")))
}

/// The record of `entity` a lookup names, or the nil id when none has it: a list filtered on it
/// finds nothing.
pub fn lookup_id(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    reference: &ExternalRef,
) -> diesel::QueryResult<Uuid> {
    Ok(external_ref::record_of(conn, workspace, entity, reference)?.unwrap_or_default())
}

/// Keeps the ref an upsert's path names in the list its body gives, whatever that list is: the
/// record the path names keeps being found by it.
pub fn keep_path_ref(refs: &mut Option<Option<Vec<ExternalRef>>>, reference: &ExternalRef) {
    if let Some(refs) = refs {
        let refs = refs.get_or_insert_with(Vec::new);
        if !refs.contains(reference) {
            refs.push(reference.clone());
        }
    }
}

/// The refs of a record an upsert creates: the body's, and the path's.
pub fn with_path_ref(refs: Option<Option<Vec<ExternalRef>>>, reference: ExternalRef) -> Vec<ExternalRef> {
    let mut refs = refs.flatten().unwrap_or_default();
    if !refs.contains(&reference) {
        refs.push(reference);
    }
    refs
}

/// The record of `entity` that `reference` names, if any, with the ref held for the rest of the
/// transaction: an upsert's first step, so that two upserts of one new ref make one record (the
/// second waits, then finds the first's).
pub fn claim(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    reference: &ExternalRef,
) -> diesel::QueryResult<Option<Uuid>> {
    external_ref::lock(conn, workspace, entity, std::slice::from_ref(reference))?;
    external_ref::record_of(conn, workspace, entity, reference)
}

/// The live record `id` that has the ref being upserted, locked, when the caller may change it.
/// One the caller doesn't see, or a deleted one, can't take the upsert, and creating another
/// would break the ref's uniqueness: both are 409s that say so.
pub fn held_for_upsert<R: SoftDelete>(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: R::Id,
    collection: &str,
) -> Result<R, ApiError> {
    let record = R::find_any_for_update(conn, scope.workspace(), id)?;
    if !record.is_seen(conn, scope)? {
        return Err(ApiError::conflict(
            ProblemCode::ExternalRefTaken,
            format!("a {} you don't see has this external ref", R::ENTITY),
        ));
    }
    if record.deleted_at().is_some() {
        let id: Uuid = id.into();
        return Err(ApiError::conflict(
            ProblemCode::RecordDeleted,
            format!(
                "{} {id}, which has this external ref, is deleted: restore it with POST /{collection}/{id}/restore",
                R::ENTITY
            ),
        ));
    }
    crate::api::soft_delete::live_and_changeable(conn, principal, scope, record)
}

/// Refuses `refs` of the record `id` of `entity` when another record of its kind has one;
/// `before`, the refs it had, are its own already.
pub fn ensure_refs_free(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    id: Uuid,
    refs: &[ExternalRef],
    before: Option<&[ExternalRef]>,
) -> Result<(), ApiError> {
    if before.is_some_and(|before| before == refs) {
        return Ok(());
    }
    if let Some((taken, _)) = external_ref::held_elsewhere(conn, workspace, entity, id, refs)? {
        return Err(ApiError::conflict(
            ProblemCode::ExternalRefTaken,
            format!("another {} has the external ref {}:{}", entity.as_str(), taken.system, taken.id),
        ));
    }
    Ok(())
}

/// The client a contact or deal belongs to, named by `client_id` or by another system's id in
/// `client_ref`: exactly one of them, the ref held by a client of the workspace. Whether the
/// caller sees the client is for the caller to check.
pub fn named_client(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    client_id: Option<ClientId>,
    client_ref: Option<&ExternalRef>,
    noun: &str,
) -> Result<ClientId, ApiError> {
    match (client_id, client_ref) {
        (Some(id), None) => Ok(id),
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "client_ref",
            FieldCode::NotAllowed,
            "give client_id or client_ref, not both",
        )),
        (None, Some(reference)) => {
            let reference = ExternalRef::parse(&reference.system, &reference.id)
                .map_err(|reason| ApiError::invalid_field("client_ref", FieldCode::Format, reason))?;
            let found = external_ref::record_of(conn, workspace, RefEntity::Client, &reference)?;
            found.map(ClientId).ok_or_else(|| {
                ApiError::invalid_field("client_ref", FieldCode::NotFound, "no client has this external ref")
            })
        }
        (None, None) => Err(ApiError::invalid_field(
            "client_id",
            FieldCode::Required,
            format!("a {noun} needs its client: client_id, or client_ref"),
        )),
    }
}

/// Applies a change's `client_id` and `client_ref` to a record's: a client named by ref stands in
/// for the one the record has, and naming both is left for [`named_client`] to refuse.
pub fn change_client(
    (id, reference): (&mut Option<ClientId>, &mut Option<ExternalRef>),
    new_id: Option<ClientId>,
    new_ref: Option<ExternalRef>,
) {
    if new_ref.is_some() {
        *id = None;
        *reference = new_ref;
    }
    if new_id.is_some() {
        *id = new_id;
    }
}

/// The 422 of an upsert that creates a record without the fields a create requires.
pub fn require_for_create(fields: &[(&str, bool)], noun: &str) -> Result<(), ApiError> {
    let missing: Vec<FieldError> = fields
        .iter()
        .filter(|(_, present)| !present)
        .map(|(field, _)| {
            FieldError::new(
                *field,
                FieldCode::Required,
                format!("no {noun} has this ref yet: a new one needs it"),
            )
        })
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(ApiError::Validation(missing)) }
}
