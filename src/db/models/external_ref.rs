//! The index of records by the ids other systems know them by (see the `external_refs` migration).

use std::collections::HashMap;

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::external_refs;
use crate::domain::external_ref::ExternalRef;
use crate::ids::WorkspaceId;

/// The kinds of record that carry refs, as `external_refs.entity` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefEntity {
    Client,
    Contact,
    Deal,
    Product,
    Activity,
}

impl RefEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            RefEntity::Client => "client",
            RefEntity::Contact => "contact",
            RefEntity::Deal => "deal",
            RefEntity::Product => "product",
            RefEntity::Activity => "activity",
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
    if refs.is_empty() {
        return Ok(None);
    }
    // One query for all of them; the first in the record's order is reported.
    let holders = records_of(conn, workspace, entity, refs)?;
    Ok(refs.iter().find_map(|reference| {
        holders.get(reference).filter(|holder| **holder != record).map(|holder| (reference.clone(), *holder))
    }))
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

/// Holds `refs` for the rest of the transaction, so that two upserts of one new ref don't both
/// create a record: the second waits, then finds the first's. Several are taken in the order of
/// their lock keys, so two batches naming the same refs in different orders queue rather than
/// deadlock.
pub fn lock(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    refs: &[ExternalRef],
) -> QueryResult<()> {
    let names: Vec<String> = refs
        .iter()
        .map(|reference| {
            format!("external_ref:{workspace}:{}:{}:{}", entity.as_str(), reference.system, reference.id)
        })
        .collect();
    // The sorted keys come from a subquery that can't be flattened (OFFSET 0), so the locks are
    // taken in its order.
    diesel::sql_query(
        "SELECT pg_advisory_xact_lock(key) FROM \
         (SELECT DISTINCT hashtextextended(name, 0) AS key FROM unnest($1::text[]) AS name ORDER BY 1 OFFSET 0) AS keys",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(names)
    .execute(conn)?;
    Ok(())
}

/// The records of `entity` that `refs` name in `workspace`, deleted or not; refs nobody holds are
/// absent.
pub fn records_of(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    refs: &[ExternalRef],
) -> QueryResult<HashMap<ExternalRef, Uuid>> {
    let systems: Vec<&str> = refs.iter().map(|reference| reference.system.as_str()).collect();
    let ids: Vec<&str> = refs.iter().map(|reference| reference.id.as_str()).collect();
    let found: Vec<RefHolder> = diesel::sql_query(
        "SELECT r.system, r.external_id, r.record_id FROM unnest($3::text[], $4::text[]) AS wanted (system, external_id) \
         JOIN external_refs AS r ON r.workspace_id = $1 AND r.entity = $2 \
         AND r.system = wanted.system AND r.external_id = wanted.external_id",
    )
    .bind::<diesel::sql_types::Uuid, _>(workspace.0)
    .bind::<diesel::sql_types::Text, _>(entity.as_str())
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(systems)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
    .load(conn)?;
    Ok(found
        .into_iter()
        .map(|holder| (ExternalRef { system: holder.system, id: holder.external_id }, holder.record_id))
        .collect())
}

#[derive(QueryableByName)]
struct RefHolder {
    #[diesel(sql_type = diesel::sql_types::Text)]
    system: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    external_id: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    record_id: Uuid,
}

/// Writes the refs a batch changed in two statements: `released` leave the index, then `taken`
/// (ref, record) enter it; so a ref one record gives up and another takes in the same batch moves.
pub fn apply(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    released: &[ExternalRef],
    taken: &[(ExternalRef, Uuid)],
) -> QueryResult<()> {
    if !released.is_empty() {
        let systems: Vec<&str> = released.iter().map(|reference| reference.system.as_str()).collect();
        let ids: Vec<&str> = released.iter().map(|reference| reference.id.as_str()).collect();
        diesel::sql_query(
            "DELETE FROM external_refs AS r USING unnest($3::text[], $4::text[]) AS gone (system, external_id) \
             WHERE r.workspace_id = $1 AND r.entity = $2 AND r.system = gone.system AND r.external_id = gone.external_id",
        )
        .bind::<diesel::sql_types::Uuid, _>(workspace.0)
        .bind::<diesel::sql_types::Text, _>(entity.as_str())
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(systems)
        .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
        .execute(conn)?;
    }
    // Five parameters a row, within PostgreSQL's 65,535 a statement.
    for chunk in taken.chunks(10_000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(reference, record)| {
                (
                    external_refs::workspace_id.eq(workspace),
                    external_refs::entity.eq(entity.as_str()),
                    external_refs::system.eq(&reference.system),
                    external_refs::external_id.eq(&reference.id),
                    external_refs::record_id.eq(*record),
                )
            })
            .collect();
        diesel::insert_into(external_refs::table).values(rows).execute(conn)?;
    }
    Ok(())
}

/// Gives every ref of the `merged` records of `entity` to `survivor`.
pub fn repoint(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    entity: RefEntity,
    merged: &[Uuid],
    survivor: Uuid,
) -> QueryResult<()> {
    diesel::update(
        external_refs::table
            .filter(external_refs::workspace_id.eq(workspace))
            .filter(external_refs::entity.eq(entity.as_str()))
            .filter(external_refs::record_id.eq_any(merged)),
    )
    .set(external_refs::record_id.eq(survivor))
    .execute(conn)?;
    Ok(())
}
