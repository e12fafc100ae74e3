//! What a contacts or deals file names by words rather than ids, made ids before its rows are
//! written: the client (by its tax id or its name, among the clients the importer sees), and a
//! deal's pipeline and stage (by name). A row whose names find nothing, or more than one client, is
//! refused with a 422 naming the column's field.

use std::collections::HashMap;

use diesel::PgConnection;
use serde_json::{Map, Value, json};

use super::rows::Row;
use crate::db::models::pipeline::{Pipeline, Stage};
use crate::db::models::{Client, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::FieldCode;
use crate::domain::import::{CLIENT_NAME, CLIENT_TAX_ID};
use crate::error::ApiError;
use crate::ids::ClientId;

/// A chunk's rows after resolving: each ready to write, or refused with its problem.
pub(super) struct Resolved(pub(super) Vec<Result<Row, ApiError>>);

/// Puts `client_id` in place of the client's tax id or name in each row that names its client so
/// and by no id or ref. The names are looked up for the whole chunk in one query.
pub(super) fn resolve_clients(
    conn: &mut PgConnection,
    scope: &ClientScope,
    rows: Vec<Row>,
) -> Result<Resolved, ApiError> {
    let named = |field: &str| -> Vec<String> {
        rows.iter()
            .filter_map(|(body, _)| body.get(field).and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let (tax_ids, names) = (named(CLIENT_TAX_ID), named(CLIENT_NAME));
    let mut by_tax_id: HashMap<String, Vec<ClientId>> = HashMap::new();
    let mut by_name: HashMap<String, Vec<ClientId>> = HashMap::new();
    if !tax_ids.is_empty() || !names.is_empty() {
        for (id, tax_id, name) in Client::named_by(conn, scope, &tax_ids, &names)? {
            if let Some(tax_id) = tax_id {
                by_tax_id.entry(tax_id).or_default().push(id);
            }
            by_name.entry(name).or_default().push(id);
        }
    }
    let resolved = rows
        .into_iter()
        .map(|(mut body, reference)| {
            let Some(fields) = body.as_object_mut() else { return Ok((body, reference)) };
            let tax_id = fields.remove(CLIENT_TAX_ID);
            let name = fields.remove(CLIENT_NAME);
            if fields.contains_key("client_id") || fields.contains_key("client_ref") {
                return Ok((body, reference));
            }
            let found = match (&tax_id, &name) {
                (Some(Value::String(tax_id)), _) => one_client(CLIENT_TAX_ID, "tax id", tax_id, &by_tax_id)?,
                (None, Some(Value::String(name))) => one_client(CLIENT_NAME, "name", name, &by_name)?,
                _ => return Ok((body, reference)),
            };
            fields.insert("client_id".to_string(), json!(found));
            Ok((body, reference))
        })
        .collect();
    Ok(Resolved(resolved))
}

/// The one client that `value` of `field` names, among those found.
fn one_client(
    field: &str,
    what: &str,
    value: &str,
    found: &HashMap<String, Vec<ClientId>>,
) -> Result<ClientId, ApiError> {
    match found.get(value).map(Vec::as_slice) {
        Some([id]) => Ok(*id),
        Some(several) if several.len() > 1 => Err(ApiError::invalid_field(
            field,
            FieldCode::Invalid,
            format!(
                "{} clients have the {what} {value:?}: name the client by client_ref or client_id",
                several.len()
            ),
        )),
        _ => Err(ApiError::invalid_field(
            field,
            FieldCode::NotFound,
            format!("no client you can see has the {what} {value:?}"),
        )),
    }
}

/// Puts `pipeline_id` and `stage_id` in place of the names of a deal's pipeline and stage (matched
/// without regard to case): a stage is looked for in the row's pipeline, or the default one.
pub(super) fn resolve_stages(
    conn: &mut PgConnection,
    workspace: &Workspace,
    rows: Resolved,
) -> Result<Resolved, ApiError> {
    let names_a_stage = |row: &Result<Row, ApiError>| {
        row.as_ref().is_ok_and(|(body, _)| body.get("pipeline").is_some() || body.get("stage").is_some())
    };
    if !rows.0.iter().any(names_a_stage) {
        return Ok(rows);
    }
    let pipelines = Pipeline::list(conn, workspace.id)?;
    let ids: Vec<_> = pipelines.iter().map(|pipeline| pipeline.id).collect();
    let stages = Stage::of_pipelines(conn, workspace.id, &ids)?;
    let resolved = rows
        .0
        .into_iter()
        .map(|row| {
            let (mut body, reference) = row?;
            if let Some(fields) = body.as_object_mut() {
                place_stage(fields, &pipelines, &stages)?;
            }
            Ok((body, reference))
        })
        .collect();
    Ok(Resolved(resolved))
}

fn place_stage(
    fields: &mut Map<String, Value>,
    pipelines: &[Pipeline],
    stages: &[Stage],
) -> Result<(), ApiError> {
    let same = |a: &str, b: &str| a.trim().to_lowercase() == b.trim().to_lowercase();
    let pipeline_name = fields.remove("pipeline");
    let stage_name = fields.remove("stage");
    let pipeline = match &pipeline_name {
        Some(Value::String(name)) => {
            let found = pipelines.iter().find(|pipeline| same(&pipeline.name, name)).ok_or_else(|| {
                ApiError::invalid_field(
                    "pipeline",
                    FieldCode::NotFound,
                    format!("no pipeline is named {name:?}"),
                )
            })?;
            fields.insert("pipeline_id".to_string(), json!(found.id));
            Some(found)
        }
        _ => None,
    };
    if let Some(Value::String(name)) = &stage_name {
        let Some(pipeline) = pipeline.or_else(|| pipelines.iter().find(|pipeline| pipeline.is_default))
        else {
            return Err(ApiError::invalid_field(
                "stage",
                FieldCode::NotFound,
                "the workspace has no pipeline",
            ));
        };
        let stage = stages
            .iter()
            .find(|stage| stage.pipeline_id == pipeline.id && same(&stage.name, name))
            .ok_or_else(|| {
            ApiError::invalid_field(
                "stage",
                FieldCode::NotFound,
                format!("the pipeline {:?} has no stage named {name:?}", pipeline.name),
            )
        })?;
        fields.insert("pipeline_id".to_string(), json!(pipeline.id));
        fields.insert("stage_id".to_string(), json!(stage.id));
    }
    Ok(())
}
