//! The index of records by the ids other systems know them by (see the `external_refs` migration).

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::external_refs;
use crate::domain::external_ref::ExternalRef;
use crate::ids::WorkspaceId;

/// The kinds of record that carry refs, as `external_refs.entity` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefEntity {
    Client,
}

impl RefEntity {
    fn as_str(self) -> &'static str {
        match self {
            RefEntity::Client => "client",
        }
    }
}

/// The record of `entity` that `reference` names in `workspace`, deleted or not.
pub fn record_of(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    reference: &ExternalRef,
) -> QueryResult<Option<Uuid>> {
    external_refs::table
        .find((workspace, entity.as_str(), &reference.system, &reference.id))
        .select(external_refs::record_id)
        .first(conn)
        .optional()
}

/// The first of `refs` that another record of `entity` holds, with that record.
pub fn held_elsewhere(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    record: Uuid,
    refs: &[ExternalRef],
) -> QueryResult<Option<(ExternalRef, Uuid)>> {
    for reference in refs {
        if let Some(holder) =
            record_of(conn, workspace, entity, reference)?.filter(|holder| *holder != record)
        {
            return Ok(Some((reference.clone(), holder)));
        }
    }
    Ok(None)
}

/// Makes the index hold exactly `refs` for `record`. A ref another record holds breaks the key
/// (`external_refs_pkey`): the caller checked with [`held_elsewhere`], so only a concurrent write
/// gets there, and its error names the conflict.
pub fn sync(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    record: Uuid,
    refs: &[ExternalRef],
) -> QueryResult<()> {
    let held: Vec<(String, String)> = external_refs::table
        .filter(external_refs::workspace_id.eq(workspace))
        .filter(external_refs::entity.eq(entity.as_str()))
        .filter(external_refs::record_id.eq(record))
        .select((external_refs::system, external_refs::external_id))
        .load(conn)?;
    for (system, id) in &held {
        if !refs.iter().any(|kept| &kept.system == system && &kept.id == id) {
            diesel::delete(external_refs::table.find((workspace, entity.as_str(), system, id)))
                .execute(conn)?;
        }
    }
    let added: Vec<_> = refs
        .iter()
        .filter(|reference| {
            !held.iter().any(|(system, id)| system == &reference.system && id == &reference.id)
        })
        .map(|reference| {
            (
                external_refs::workspace_id.eq(workspace),
                external_refs::entity.eq(entity.as_str()),
                external_refs::system.eq(&reference.system),
                external_refs::external_id.eq(&reference.id),
                external_refs::record_id.eq(record),
            )
        })
        .collect();
    if !added.is_empty() {
        diesel::insert_into(external_refs::table).values(added).execute(conn)?;
    }
    Ok(())
}

/// Holds the ref for the rest of the transaction, so that two upserts of one new ref don't both
/// create a record: the second waits, then finds the first's.
pub fn lock(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    reference: &ExternalRef,
) -> QueryResult<()> {
    let name = format!("external_ref:{workspace}:{}:{}:{}", entity.as_str(), reference.system, reference.id);
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind::<diesel::sql_types::Text, _>(name)
        .execute(conn)?;
    Ok(())
}
