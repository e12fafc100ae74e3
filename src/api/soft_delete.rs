//! One path for deleting and restoring a record softly (clients, contacts, deals, activities):
//! the lock, the `If-Match` check, the mark and the change event. What a resource does besides
//! (a client's contacts go with it, a deal's client must be live to restore it) is the closure
//! each handler passes.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use diesel::PgConnection;

use crate::api::extract::IfMatch;
use crate::api::record_change;
use crate::auth::Principal;
use crate::db::models::SoftDelete;
use crate::db::models::change_event::ChangeSet;
use crate::db::visibility::ClientScope;
use crate::error::ApiError;

/// The live record `id`, locked for a change by the caller: a deleted one, or one the scope doesn't
/// see, is a 404; one a sales rep neither owns nor is assigned is a 403.
pub fn live_for_update<R: SoftDelete>(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: R::Id,
) -> Result<R, ApiError> {
    let record = R::find_any_for_update(conn, scope.workspace(), id)?;
    live_and_changeable(conn, principal, scope, record)
}

/// `record`, found and locked by the caller, when it is live and the caller may change it: as
/// [`live_for_update`] answers.
pub fn live_and_changeable<R: SoftDelete>(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    record: R,
) -> Result<R, ApiError> {
    let record = changeable(conn, principal, scope, record)?;
    if record.deleted_at().is_some() {
        return Err(ApiError::NotFound);
    }
    Ok(record)
}

/// `record`, deleted or not, when the caller may change it; one the scope doesn't see is a 404, as
/// if it didn't exist, and one in someone else's hands is a 403 to a sales rep, who works on their
/// own records only.
fn changeable<R: SoftDelete>(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    record: R,
) -> Result<R, ApiError> {
    if !record.is_seen(conn, scope)? {
        return Err(ApiError::NotFound);
    }
    if !principal.role.can_reassign() && record.holder() != Some(principal.user_id) {
        return Err(ApiError::Forbidden(Cow::Borrowed(
            "a sales rep changes only the records they own or are assigned",
        )));
    }
    Ok(record)
}

/// Deletes the live record `id` when `if_match` names its version, and records the change with
/// what `along` deleted with it (given the deleted record, its deletion time and the change set
/// to add to).
pub fn delete<R: SoftDelete>(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: R::Id,
    if_match: &IfMatch,
    along: impl FnOnce(&mut PgConnection, &R, DateTime<Utc>, ChangeSet) -> Result<ChangeSet, ApiError>,
) -> Result<R, ApiError> {
    let current: R = live_for_update(conn, principal, scope, id)?;
    if_match.check(current.version())?;
    let now = Utc::now();
    let deleted = R::mark_deleted(conn, principal.workspace_id, id, now, principal.user_id)?;
    let changes = ChangeSet::default().field("deleted_at", None, &deleted.deleted_at());
    let changes = along(conn, &deleted, now, changes)?;
    record_change(conn, principal, R::ENTITY, id.into(), "deleted", deleted.version(), changes)?;
    Ok(deleted)
}

/// Restores record `id`: `bring_back` checks what must be live first and marks it live (with
/// whatever else comes back), given the deleted record, its deletion time and the change set to
/// add to. A live record is returned unchanged.
pub fn restore<R: SoftDelete>(
    conn: &mut PgConnection,
    principal: &Principal,
    scope: &ClientScope,
    id: R::Id,
    bring_back: impl FnOnce(&mut PgConnection, &R, DateTime<Utc>, ChangeSet) -> Result<(R, ChangeSet), ApiError>,
) -> Result<R, ApiError> {
    let found = R::find_any_for_update(conn, scope.workspace(), id)?;
    let current = changeable(conn, principal, scope, found)?;
    let Some(deleted_at) = current.deleted_at() else { return Ok(current) };
    let changes = ChangeSet::default().field("deleted_at", Some(&Some(deleted_at)), &None::<DateTime<Utc>>);
    let (restored, changes) = bring_back(conn, &current, deleted_at, changes)?;
    record_change(conn, principal, R::ENTITY, id.into(), "restored", restored.version(), changes)?;
    Ok(restored)
}
