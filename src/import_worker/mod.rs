//! Runs spreadsheet imports in the background, a chunk of rows at a time. Each chunk is one
//! transaction that locks its import (`FOR UPDATE SKIP LOCKED`, within one workspace: another
//! worker moves on to other work), writes the rows through the batch path of their records (the
//! same checks, duplicates rule, refs and change events as `POST /clients/batch` and the like: see
//! `rows.rs`), records the refused rows and moves `rows_done` past the chunk. A restart resumes after the last committed chunk; no row is
//! written twice.

mod resolve;
mod rows;

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::auth::principal::for_job;
use crate::background::repeat;
use crate::db::PgPool;
use crate::db::models::Workspace;
use crate::db::models::import::{ChunkCounts, Import};
use crate::domain::import::{Column, Sheet, column_for, row_body};
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ImportId, WorkspaceId};

/// Rows a chunk takes: one batch's worth.
pub const CHUNK_ROWS: usize = 1_000;

const INTERVAL: Duration = Duration::from_secs(1);

pub fn spawn(pool: PgPool) {
    let work = |conn: &mut PgConnection| run_pending(conn).map_err(|error| error.to_string());
    repeat(pool, INTERVAL, "an import", |chunks| format!("imported {chunks} chunk(s) of rows"), work);
}

/// Works through every workspace's unfinished imports until none is left that no other worker
/// holds; how many chunks it ran.
pub fn run_pending(conn: &mut PgConnection) -> Result<usize, ApiError> {
    let mut chunks = 0;
    for workspace in Import::workspaces_with_work(conn)? {
        while run_chunk(conn, workspace, None)? {
            chunks += 1;
        }
    }
    Ok(chunks)
}

/// Runs the next chunk of rows of the workspace's oldest unfinished import (or of import `only`)
/// that no other worker holds; false when there is none.
pub fn run_chunk(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    only: Option<ImportId>,
) -> Result<bool, ApiError> {
    conn.transaction(|conn| {
        let claimed = match only {
            Some(id) => Import::claim(conn, workspace, id)?,
            None => Import::claim_next(conn, workspace)?,
        };
        let Some(import) = claimed else { return Ok(false) };
        let now = Utc::now();
        let (principal, scope) =
            match for_job(conn, workspace, import.created_by, format!("import-{}", import.id)) {
                Ok(found) => found,
                Err(ApiError::Unauthorized(reason)) => {
                    import.fail(conn, &reason, now)?;
                    return Ok(true);
                }
                Err(error) => return Err(error),
            };
        let workspace_row = Workspace::find(conn, workspace)?;
        let sheet = Sheet::of(&import.entity);
        let columns = columns_of(&import, sheet);
        let rows = chunk_of(&import);
        let mut refused: Vec<(i32, Value)> = Vec::new();
        let mut bodies = Vec::new();
        let mut numbers = Vec::new();
        for (number, row) in &rows {
            match row {
                Ok(cells) => {
                    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
                    bodies.push(row_body(sheet, &columns, &cells));
                    numbers.push(*number);
                }
                Err(reason) => refused.push((
                    *number,
                    problem_of(&ApiError::bad_request(ProblemCode::MalformedBody, reason.clone())),
                )),
            }
        }
        let mut counts =
            ChunkCounts { rows: i32::try_from(rows.len()).unwrap_or(i32::MAX), ..ChunkCounts::default() };
        let write =
            |conn: &mut PgConnection| rows::write(conn, &principal, &scope, &workspace_row, &import, bodies);
        let outcomes = if import.dry_run {
            // Everything runs, and nothing stays: the counts and refusals are what a real run would give.
            let mut written = None;
            let undone = conn.transaction::<(), ApiError, _>(|conn| {
                written = Some(write(conn)?);
                Err(ApiError::NotFound)
            });
            match (written, undone) {
                (Some(outcomes), _) => outcomes,
                (None, Err(error)) => return Err(error),
                (None, Ok(())) => Vec::new(),
            }
        } else {
            write(conn)?
        };
        for (number, outcome) in numbers.into_iter().zip(outcomes) {
            match outcome {
                Ok(201) => counts.created += 1,
                Ok(_) => counts.updated += 1,
                Err(error) if rows::is_duplicate(&error) && import.duplicates == "skip" => {
                    counts.skipped += 1
                }
                Err(error) => refused.push((number, problem_of(&error))),
            }
        }
        counts.failed = i32::try_from(refused.len()).unwrap_or(i32::MAX);
        import.record_errors(conn, &refused)?;
        import.advance(conn, counts, now)?;
        Ok(true)
    })
}

/// The field each column of the file holds, as the import was accepted with.
fn columns_of(import: &Import, sheet: Sheet) -> Vec<Option<Column>> {
    import
        .column_fields
        .as_array()
        .into_iter()
        .flatten()
        .map(|column| column["field"].as_str().and_then(|field| column_for(sheet, field)))
        .collect()
}

/// The rows of the import's next chunk, numbered as a spreadsheet shows them (the header is row
/// 1), each its cells or why it can't be read.
fn chunk_of(import: &Import) -> Vec<(i32, Result<Vec<String>, String>)> {
    let mut reader = csv_reader(&import.content);
    let done = usize::try_from(import.rows_done).unwrap_or_default();
    reader
        .records()
        .enumerate()
        .skip(done)
        .take(CHUNK_ROWS)
        .map(|(index, record)| {
            let number = i32::try_from(index + 2).unwrap_or(i32::MAX);
            let cells = record
                .map(|record| record.iter().map(str::to_string).collect())
                .map_err(|error| format!("the row can't be read: {error}"));
            (number, cells)
        })
        .collect()
}

/// A reader of the file's rows after its header: comma-, semicolon- or tab-separated, as its
/// header line shows.
pub fn csv_reader(content: &str) -> csv::Reader<&[u8]> {
    let header = content.lines().next().unwrap_or_default();
    let delimiter = [b';', b'\t', b',']
        .into_iter()
        .max_by_key(|delimiter| header.bytes().filter(|byte| byte == delimiter).count());
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .delimiter(delimiter.unwrap_or(b','))
        .from_reader(content.as_bytes())
}

fn problem_of(error: &ApiError) -> Value {
    json!(error.to_problem())
}

/// `crm import`: accepts the file (CSV, or a workbook by its extension) as `POST /imports` would, then runs its chunks here, showing
/// progress, and writes the refused rows next to the file (`<file>.errors.csv`).
pub fn import_file(conn: &mut PgConnection, options: &crate::cli::ImportOptions) -> crate::cli::CliResult {
    use std::io::Write;

    use crate::api::imports::{ImportRequest, accept, errors_file};
    use crate::db::models::User;

    let file = options.file.display();
    let is_workbook =
        options.file.extension().and_then(|extension| extension.to_str()).is_some_and(|extension| {
            ["xlsx", "xlsm", "xls", "ods"].contains(&extension.to_lowercase().as_str())
        });
    let csv = if is_workbook {
        let bytes = std::fs::read(&options.file).map_err(|error| format!("{file}: {error}"))?;
        crate::domain::import::workbook_as_csv(&bytes).map_err(|reason| format!("{file}: {reason}"))?
    } else {
        std::fs::read_to_string(&options.file)
            .map_err(|error| format!("{file}: {error} (the file must be UTF-8 text, or a workbook)"))?
    };
    let workspace = WorkspaceId(options.workspace);
    let user = User::find_by_email_in_all_workspaces(conn, &options.as_user)?
        .into_iter()
        .find(|user| user.workspace_id == workspace)
        .ok_or_else(|| format!("no user {} in workspace {workspace}", options.as_user))?;
    let (principal, _) = for_job(conn, workspace, user.id, "import-cli".to_string())?;
    let mut mapping = std::collections::BTreeMap::new();
    for pair in &options.mapping {
        let (header, field) =
            pair.split_once('=').ok_or_else(|| format!("--map {pair}: write HEADER=FIELD"))?;
        mapping.insert(header.trim().to_string(), Some(field.trim().to_string()));
    }
    let duplicates = serde_json::from_value(json!(options.duplicates))?;
    let request = ImportRequest {
        entity: serde_json::from_value(json!(options.entity))?,
        csv: Some(csv),
        xlsx: None,
        mapping,
        duplicates,
        dry_run: options.dry_run,
        file_name: options.file.file_name().map(|name| name.to_string_lossy().to_string()),
    };
    let import = accept(&principal, request).map_err(|error| json!(error.to_problem()).to_string())?;
    import.insert(conn)?;
    let started = std::time::Instant::now();
    let mut stderr = std::io::stderr();
    loop {
        // Another process (a running server's worker) may hold the next chunk: wait for it.
        if !run_chunk(conn, workspace, Some(import.id))? {
            std::thread::sleep(Duration::from_millis(200));
        }
        let now = Import::find(conn, workspace, import.id)?;
        let width = 30;
        let filled = usize::try_from(now.rows_done * width / now.rows_total.max(1)).unwrap_or_default();
        write!(
            stderr,
            "\r[{}{}] {}/{} rows, {} created, {} updated, {} skipped, {} failed",
            "#".repeat(filled),
            ".".repeat(usize::try_from(width).unwrap_or_default().saturating_sub(filled)),
            now.rows_done,
            now.rows_total,
            now.created,
            now.updated,
            now.skipped,
            now.failed
        )?;
        if matches!(now.status.as_str(), "done" | "failed") {
            break;
        }
    }
    let done = Import::find(conn, workspace, import.id)?;
    writeln!(
        stderr,
        "\n{} in {:.1} s{}",
        done.status,
        started.elapsed().as_secs_f64(),
        if done.dry_run { " (dry run: nothing written)" } else { "" }
    )?;
    if done.failed > 0 {
        let path = options.file.with_extension("errors.csv");
        std::fs::write(&path, errors_file(&done, &done.errors(conn)?)?)?;
        writeln!(stderr, "{} refused rows, with their reasons: {}", done.failed, path.display())?;
    }
    println!("{}", done.id);
    Ok(())
}
