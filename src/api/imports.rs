//! `/imports`: a spreadsheet of clients, contacts, deals or products (CSV, with its header row)
//! taken in and written in the background (`import_worker`), with its progress and the rows it
//! refused.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::api::extract::{LargeJsonBody, not_null};
use crate::auth::{Principal, run_as};
use crate::db::models::import::Import;
use crate::domain::FieldCode;
use crate::domain::import::{Sheet, column_for, column_for_header, field_name, workbook_as_csv};
use crate::error::{ApiError, FieldError};
use crate::ids::{ImportId, UserId};
use crate::import_worker::csv_reader;
use crate::state::AppState;

/// What an import does with a row whose email, phone or tax id a live client already has (in a
/// contacts file, whose email or phone a live contact has; in a products file, whose SKU another
/// product has: `create` can't make a second one, and fails the row). Deals have no duplicates: a
/// deal row is matched to a stored deal only by its ref.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatesPolicy {
    /// Leaves the row out, counted as skipped.
    #[default]
    Skip,
    /// Updates that client (contact, product) with the row's values.
    Update,
    /// Creates the client (contact) anyway.
    Create,
}

impl DuplicatesPolicy {
    fn as_str(self) -> &'static str {
        match self {
            DuplicatesPolicy::Skip => "skip",
            DuplicatesPolicy::Update => "update",
            DuplicatesPolicy::Create => "create",
        }
    }
}

/// The kinds of record an import writes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportEntity {
    Clients,
    /// Contact persons, each of a client named by `client_id`, `client_ref:<system>`, the client's tax id
    /// (`client_tax_id`, `ИНН`) or its name (`client_name`, `Контрагент`, `Company`; a name two clients share is
    /// refused as ambiguous).
    Contacts,
    /// Deals (orders), each of a client named as a contact's is; `pipeline` and `stage` by name (the default
    /// pipeline and its first stage when left out).
    Deals,
    /// A catalogue: each row a product, as `POST /products` (or `PUT /products/by-ref/…`) takes it.
    Products,
}

impl ImportEntity {
    fn sheet(self) -> Sheet {
        match self {
            ImportEntity::Clients => Sheet::Clients,
            ImportEntity::Contacts => Sheet::Contacts,
            ImportEntity::Deals => Sheet::Deals,
            ImportEntity::Products => Sheet::Products,
        }
    }

    fn of(sheet: Sheet) -> Self {
        match sheet {
            Sheet::Clients => ImportEntity::Clients,
            Sheet::Contacts => ImportEntity::Contacts,
            Sheet::Deals => ImportEntity::Deals,
            Sheet::Products => ImportEntity::Products,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"entity": "clients", "file_name": "customers.csv", "duplicates": "skip", "dry_run": true,
    "csv": "Наименование;ИНН;E-mail;Телефон\nООО Ромашка;7707083893;info@romashka.example;+7 495 123-45-67\n"}))]
pub struct ImportRequest {
    pub entity: ImportEntity,
    /// The file as CSV text: a header row, then a row per record; comma-, semicolon- or tab-separated (as the
    /// header line shows), fields with separators in double quotes. Send the file as this or as `xlsx`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(min_length = 1, nullable = false)]
    pub csv: Option<String>,
    /// The file as a workbook (XLSX, XLS or ODS), base64-encoded: its first sheet is read, a header row and then a
    /// row per record, as `csv` is. Numbers are read as written (a whole number without `.0`), dates as
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(min_length = 1, nullable = false, content_encoding = "base64")]
    pub xlsx: Option<String>,
    /// The field each header holds, where the header doesn't say (`{"Код 1С": "ref:1c"}`). Without one, a header
    /// names a field by its name (`name`, `tax_id`, `email`, `ref:1c`, …) or a common header for it, in English or
    /// Russian (`Company`, `Наименование`, `ИНН`, `E-mail`, `Телефон`, `ФИО`, …; for contacts also `position`,
    /// `client_tax_id`, `client_name`, `client_ref:1c`, or `Должность`, `Контрагент`, …; for deals `title`, `amount`,
    /// `currency`, `pipeline`, `stage`, `expected_close_date`, …, or `Сделка`, `Сумма`, `Этап`, …; for products
    /// `sku`, `name`, `price`, `currency`, `product_group`, `unit`, `active`, or `Артикул`, `Цена`, `Валюта`,
    /// `Группа`, …). `null` leaves a column out.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, Option<String>>>)]
    pub mapping: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub duplicates: DuplicatesPolicy,
    /// Runs every row's checks and counts what would happen, and writes nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[schema(max_length = 255)]
    pub file_name: Option<String>,
}

/// One column of the file and the field it went to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportColumn {
    pub header: String,
    /// The field, or null for a column left out.
    pub field: Option<String>,
}

/// An import and how far it got.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    pub id: ImportId,
    pub entity: ImportEntity,
    /// `queued`, `running`, `done` or `failed` (`failure` says why).
    pub status: String,
    pub dry_run: bool,
    pub duplicates: String,
    pub file_name: Option<String>,
    pub columns: Vec<ImportColumn>,
    /// The file's rows after the header.
    pub rows_total: i32,
    pub rows_done: i32,
    pub created: i32,
    pub updated: i32,
    /// Duplicates left out under the `skip` policy.
    pub skipped: i32,
    /// Rows refused: `GET /imports/{id}/errors` lists them with their reasons.
    pub failed: i32,
    pub failure: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<&Import> for ImportResponse {
    fn from(import: &Import) -> Self {
        Self {
            id: import.id,
            entity: ImportEntity::of(Sheet::of(&import.entity)),
            status: import.status.clone(),
            dry_run: import.dry_run,
            duplicates: import.duplicates.clone(),
            file_name: import.file_name.clone(),
            columns: serde_json::from_value(import.column_fields.clone()).unwrap_or_default(),
            rows_total: import.rows_total,
            rows_done: import.rows_done,
            created: import.created,
            updated: import.updated,
            skipped: import.skipped,
            failed: import.failed,
            failure: import.failure.clone(),
            created_by: import.created_by,
            created_at: import.created_at,
            started_at: import.started_at,
            finished_at: import.finished_at,
        }
    }
}

/// Where a spreadsheet is uploaded: the one request body allowed past the usual limit, up to
/// `CRM_IMPORT_LIMIT_BYTES` (see `LargeJsonBody`, and the idempotency middleware, which reads a
/// keyed body before the handler does).
pub const UPLOAD_PATH: &str = "/api/v1/imports";

/// Import a spreadsheet of clients, contacts, deals or products.
///
/// Takes the file (as CSV text in the body, up to 64 MiB unless configured otherwise), works out which column holds
/// which field, and answers 202 at once; the rows are written in the background, a thousand at a time, each as
/// `POST /clients` (`/contacts`, `/deals`, `/products`) would write it, or as `PUT /clients/by-ref/{system}/{id}`
/// (and so on) when a column holds another system's id. Follow `GET /imports/{id}`; `GET /imports/{id}/errors` lists refused rows. A file
/// none of whose columns names a field of its records is a 422 naming `csv`.
#[utoipa::path(
    tag = "clients",
    operation_id = "create_import",
    security(("bearer" = [])),
    request_body = ImportRequest,
    responses((status = 202, description = "Accepted: the rows are written in the background", body = ImportResponse,
        headers(("Location" = String, description = "The import's URL"))))
)]
#[post("/imports")]
pub async fn create_import(
    state: web::Data<AppState>,
    principal: Principal,
    body: LargeJsonBody<ImportRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_write()?;
    let request = body.0;
    let import = accept(&principal, request)?;
    let import = run_as(principal.caller(), &state.pool, move |conn| {
        import.insert(conn)?;
        Ok(import)
    })
    .await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/imports/{}", import.id)))
        .json(ImportResponse::from(&import)))
}

/// The file an import request sends, as CSV text: as sent, or read from the workbook.
fn file_as_csv(csv: Option<String>, xlsx: Option<String>) -> Result<String, ApiError> {
    use base64::Engine;
    match (csv, xlsx) {
        (Some(csv), None) => Ok(csv),
        (None, Some(xlsx)) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(xlsx.trim()).map_err(|error| {
                ApiError::invalid_field("xlsx", FieldCode::Format, format!("not base64: {error}"))
            })?;
            workbook_as_csv(&bytes)
                .map_err(|reason| ApiError::invalid_field("xlsx", FieldCode::Format, reason))
        }
        _ => Err(ApiError::invalid_field(
            "csv",
            FieldCode::Required,
            "send the file as `csv` or as `xlsx`, one of them",
        )),
    }
}

/// The import `request` makes, checked: its columns mapped and its rows counted.
pub fn accept(principal: &Principal, request: ImportRequest) -> Result<Import, ApiError> {
    let sheet = request.entity.sheet();
    let csv = file_as_csv(request.csv, request.xlsx)?;
    let mut reader = csv_reader(&csv);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|error| {
            ApiError::invalid_field(
                "csv",
                FieldCode::Format,
                format!("the header row can't be read: {error}"),
            )
        })?
        .iter()
        .map(|header| header.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut errors = Vec::new();
    let mut columns = Vec::new();
    for header in &headers {
        let field = match request.mapping.get(header) {
            Some(Some(field)) if column_for(sheet, field).is_none() => {
                errors.push(FieldError::new(
                    format!("mapping.{header}"),
                    FieldCode::Invalid,
                    format!("no such {} field", sheet.noun()),
                ));
                None
            }
            Some(field) => field.clone(),
            None => column_for_header(sheet, header).as_ref().map(field_name),
        };
        columns.push(ImportColumn { header: header.clone(), field });
    }
    for header in request.mapping.keys().filter(|header| !headers.contains(header)) {
        errors.push(FieldError::new(
            format!("mapping.{header}"),
            FieldCode::NotFound,
            "the file has no such column",
        ));
    }
    if errors.is_empty() && columns.iter().all(|column| column.field.is_none()) {
        errors.push(FieldError::new(
            "csv",
            FieldCode::Invalid,
            format!("no column of the header row names a {} field", sheet.noun()),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows_total = i32::try_from(reader.records().count()).unwrap_or(i32::MAX);
    Ok(Import {
        workspace_id: principal.workspace_id,
        id: ImportId::generate(),
        entity: sheet.as_str().to_string(),
        status: "queued".to_string(),
        dry_run: request.dry_run,
        duplicates: request.duplicates.as_str().to_string(),
        column_fields: json!(columns),
        file_name: request.file_name,
        content: csv,
        rows_total,
        rows_done: 0,
        created: 0,
        updated: 0,
        skipped: 0,
        failed: 0,
        failure: None,
        created_by: principal.user_id,
        created_at: Utc::now(),
        started_at: None,
        finished_at: None,
    })
}

/// The import `id`, to the one who started it or an owner or admin.
fn readable(conn: &mut PgConnection, principal: &Principal, id: ImportId) -> Result<Import, ApiError> {
    let import = Import::find(conn, principal.workspace_id, id)?;
    if import.created_by != principal.user_id && !principal.role.can_manage_users() {
        return Err(ApiError::NotFound);
    }
    Ok(import)
}

/// An import's progress.
///
/// To the user who started it, and to owners and admins.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_import",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The import's id")),
    responses((status = 200, description = "The import", body = ImportResponse))
)]
#[get("/imports/{id}")]
pub async fn get_import(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ImportId>,
) -> Result<web::Json<ImportResponse>, ApiError> {
    let id = id.into_inner();
    let import = run_as(principal.caller(), &state.pool, move |conn| readable(conn, &principal, id)).await?;
    Ok(web::Json(ImportResponse::from(&import)))
}

/// The rows an import refused, as CSV.
///
/// The file's header and each refused row as it was sent, after two columns: its row number in the file (the header
/// is row 1) and why it was refused (the problem's code and detail, and each field's). To the user who started
/// the import, and to owners and admins.
#[utoipa::path(
    tag = "clients",
    operation_id = "get_import_errors",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The import's id")),
    responses((status = 200, description = "The refused rows", content_type = "text/csv", body = String))
)]
#[get("/imports/{id}/errors")]
pub async fn get_import_errors(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ImportId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let file = run_as(principal.caller(), &state.pool, move |conn| {
        let import = readable(conn, &principal, id)?;
        let errors = import.errors(conn)?;
        errors_file(&import, &errors).map_err(ApiError::internal)
    })
    .await?;
    Ok(HttpResponse::build(StatusCode::OK).content_type("text/csv; charset=utf-8").body(file))
}

/// The errors file: `row`, `error`, then the file's own columns, for each refused row.
pub fn errors_file(import: &Import, errors: &[(i32, serde_json::Value)]) -> Result<Vec<u8>, csv::Error> {
    let mut reader = csv_reader(&import.content);
    let headers = reader.headers()?.clone();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["row", "error"].into_iter().chain(headers.iter()))?;
    let mut rows = reader.records().enumerate();
    for (number, problem) in errors {
        let wanted = usize::try_from(*number).unwrap_or_default().saturating_sub(2);
        let cells = rows
            .by_ref()
            .find(|(index, _)| *index == wanted)
            .and_then(|(_, row)| row.ok())
            .unwrap_or_default();
        let mut reason = format!(
            "{}: {}",
            problem["code"].as_str().unwrap_or_default(),
            problem["detail"].as_str().unwrap_or_default()
        );
        for field in problem["errors"].as_array().into_iter().flatten() {
            reason.push_str(&format!(
                "; {} {}",
                field["field"].as_str().unwrap_or_default(),
                field["message"].as_str().unwrap_or_default()
            ));
        }
        let number = number.to_string();
        writer.write_record([number.as_str(), reason.as_str()].into_iter().chain(cells.iter()))?;
    }
    writer.into_inner().map_err(|error| csv::Error::from(error.into_error()))
}
