//! Spreadsheet imports and the rows they refused (see the `imports` migration).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{import_errors, imports};
use crate::ids::{ImportId, UserId, WorkspaceId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = imports, primary_key(workspace_id, id), check_for_backend(diesel::pg::Pg))]
pub struct Import {
    pub workspace_id: WorkspaceId,
    pub id: ImportId,
    pub entity: String,
    pub status: String,
    pub dry_run: bool,
    pub duplicates: String,
    /// The field each column of the file holds (`null` for a column left out), in column order.
    pub column_fields: serde_json::Value,
    pub file_name: Option<String>,
    pub content: String,
    pub rows_total: i32,
    pub rows_done: i32,
    pub created: i32,
    pub updated: i32,
    pub skipped: i32,
    pub failed: i32,
    pub failure: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What one chunk of rows came to.
#[derive(Debug, Default, Clone, Copy)]
pub struct ChunkCounts {
    pub rows: i32,
    pub created: i32,
    pub updated: i32,
    pub skipped: i32,
    pub failed: i32,
}

impl Import {
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<()> {
        diesel::insert_into(imports::table).values(self).execute(conn).map(drop)
    }

    pub fn find(conn: &mut PgConnection, workspace: WorkspaceId, id: ImportId) -> QueryResult<Import> {
        imports::table.find((workspace, id)).select(Import::as_select()).first(conn)
    }

    /// The workspaces with an import to work on, found without a lock; each is then claimed on
    /// its own ([`Import::claim_next`]), so no statement locks rows across workspaces.
    pub fn workspaces_with_work(conn: &mut PgConnection) -> QueryResult<Vec<WorkspaceId>> {
        imports::table
            .filter(imports::status.eq_any(["queued", "running"]))
            .select(imports::workspace_id)
            .distinct()
            .load(conn)
    }

    /// The workspace's oldest unfinished import that no other worker holds, locked for the rest
    /// of the transaction.
    pub fn claim_next(conn: &mut PgConnection, workspace: WorkspaceId) -> QueryResult<Option<Import>> {
        imports::table
            .filter(imports::workspace_id.eq(workspace))
            .filter(imports::status.eq_any(["queued", "running"]))
            .order(imports::created_at)
            .select(Import::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .optional()
    }

    /// Import `id` locked for the rest of the transaction, unless another worker holds it.
    pub fn claim(
        conn: &mut PgConnection,
        workspace: WorkspaceId,
        id: ImportId,
    ) -> QueryResult<Option<Import>> {
        imports::table
            .find((workspace, id))
            .filter(imports::status.eq_any(["queued", "running"]))
            .select(Import::as_select())
            .for_update()
            .skip_locked()
            .first(conn)
            .optional()
    }

    /// Moves the import past a chunk of rows, with what they came to; done after the last.
    pub fn advance(
        &self,
        conn: &mut PgConnection,
        counts: ChunkCounts,
        at: DateTime<Utc>,
    ) -> QueryResult<()> {
        let rows_done = self.rows_done + counts.rows;
        let status = if rows_done >= self.rows_total { "done" } else { "running" };
        diesel::update(imports::table.find((self.workspace_id, self.id)))
            .set((
                imports::status.eq(status),
                imports::rows_done.eq(rows_done),
                imports::created.eq(imports::created + counts.created),
                imports::updated.eq(imports::updated + counts.updated),
                imports::skipped.eq(imports::skipped + counts.skipped),
                imports::failed.eq(imports::failed + counts.failed),
                imports::started_at.eq(self.started_at.unwrap_or(at)),
                imports::finished_at.eq((status == "done").then_some(at)),
            ))
            .execute(conn)
            .map(drop)
    }

    /// Ends the import as failed: the file can't be read any more as it was when accepted.
    pub fn fail(&self, conn: &mut PgConnection, reason: &str, at: DateTime<Utc>) -> QueryResult<()> {
        diesel::update(imports::table.find((self.workspace_id, self.id)))
            .set((imports::status.eq("failed"), imports::failure.eq(reason), imports::finished_at.eq(at)))
            .execute(conn)
            .map(drop)
    }

    /// Records the rows of a chunk that were refused, each with its problem document.
    pub fn record_errors(
        &self,
        conn: &mut PgConnection,
        refused: &[(i32, serde_json::Value)],
    ) -> QueryResult<()> {
        let rows: Vec<_> = refused
            .iter()
            .map(|(row, problem)| {
                (
                    import_errors::workspace_id.eq(self.workspace_id),
                    import_errors::import_id.eq(self.id.0),
                    import_errors::row_number.eq(*row),
                    import_errors::problem.eq(problem),
                )
            })
            .collect();
        for chunk in rows.chunks(10_000) {
            diesel::insert_into(import_errors::table).values(chunk).execute(conn)?;
        }
        Ok(())
    }

    /// The rows refused so far, in order, with their problem documents.
    pub fn errors(&self, conn: &mut PgConnection) -> QueryResult<Vec<(i32, serde_json::Value)>> {
        import_errors::table
            .filter(import_errors::workspace_id.eq(self.workspace_id))
            .filter(import_errors::import_id.eq(self.id.0))
            .order(import_errors::row_number)
            .select((import_errors::row_number, import_errors::problem))
            .load(conn)
    }
}
