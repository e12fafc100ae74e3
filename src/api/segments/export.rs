//! Exporting a segment's members as CSV, and the record of who exported what.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::EXPORT_CHUNK;
use crate::api::extract::Page;
use crate::api::search::segment_condition;
use crate::api::security::{SecurityEvent, action};
use crate::auth::{Caller, Principal, run_as, run_seeing};
use crate::db::DbPool;
use crate::db::filter;
use crate::db::fragment::SqlFragment;
use crate::db::models::change_event::ChangeSet;
use crate::db::models::client_stats::ClientStats;
use crate::db::models::segment::{Segment, SegmentExport};
use crate::db::models::{Client, Workspace};
use crate::db::read_budget::{ChargeError, Reader};
use crate::db::replica::ReadReplica;
use crate::domain::consent;
use crate::domain::personal_data::{self, Disclosure};
use crate::error::ApiError;
use crate::ids::{ClientId, SegmentId, UserId, WorkspaceId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ExportRecord {
    pub id: uuid::Uuid,
    pub segment_id: SegmentId,
    /// The segment's name at the time.
    pub segment_name: String,
    pub exported_by: UserId,
    pub request_id: Option<String>,
    pub started_at: DateTime<Utc>,
    /// Null while streaming, or when the download was cut short.
    pub finished_at: Option<DateTime<Utc>>,
    /// Rows sent.
    pub row_count: i64,
    /// The consent purpose the export was for (`?consent=`): only members who granted it were sent.
    #[schema(example = "marketing_email")]
    pub consent_purpose: Option<String>,
    /// How many members it left out for want of that consent; 0 for an export for no purpose.
    pub excluded_without_consent: i64,
}

impl From<SegmentExport> for ExportRecord {
    fn from(export: SegmentExport) -> Self {
        Self {
            id: export.id,
            segment_id: export.segment_id,
            segment_name: export.segment_name,
            exported_by: export.exported_by,
            request_id: export.request_id,
            started_at: export.started_at,
            finished_at: export.finished_at,
            row_count: export.row_count,
            consent_purpose: export.consent_purpose,
            excluded_without_consent: export.excluded_without_consent,
        }
    }
}

/// Who exported this segment, when, and how many rows: the last 200 exports, newest first.
///
/// The audit of a segment's CSV exports, for owners, admins and managers: who exported it, when, and how many
/// rows went out.
#[utoipa::path(
    tag = "segments",
    operation_id = "list_segment_exports",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id")),
    responses((status = 200, description = "The exports", body = Page<ExportRecord>))
)]
#[get("/segments/{id}/exports")]
pub async fn list_segment_exports(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
) -> Result<web::Json<Page<ExportRecord>>, ApiError> {
    principal.require_manager("see segment exports")?;
    let id = id.into_inner();
    let workspace = principal.workspace_id;
    let exports = run_as(principal.caller(), &state.pool, move |conn| {
        Segment::find(conn, workspace, id)?;
        Ok(SegmentExport::of_segment(conn, workspace, id, 200)?)
    })
    .await?;
    Ok(web::Json(Page { data: exports.into_iter().map(ExportRecord::from).collect(), next_cursor: None }))
}

/// What an export is for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// The consent purpose the export is for (`marketing_email` for a mailing): only the members whose current
    /// consent to it is `granted` are sent, and `Excluded-Without-Consent` says how many were left out. Without it,
    /// every member is sent.
    #[param(value_type = Option<crate::api::schemas::PurposeKey>)]
    pub consent: Option<String>,
}

/// Download the segment's members as CSV (UTF-8, a header row, one client per row, by id).
///
/// Owners, admins and managers only; every export is recorded with who, when, how many rows, and the consent purpose
/// it was for with how many members it left out.
#[utoipa::path(
    tag = "segments",
    operation_id = "export_segment",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The segment's id"), ExportQuery),
    responses(
        (status = 200, description = "The members as CSV", content_type = "text/csv", body = String,
        headers(("Excluded-Without-Consent" = i64, description = "With `consent`: the members the caller sees who were \
            left out because their consent to the purpose is not granted"))),
        (status = 422, description = "`consent` is not one of the workspace's purposes (`purpose` in `errors`)",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/segments/{id}/export")]
pub async fn export_segment(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<SegmentId>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require_manager("export client data")?;
    let id = id.into_inner();
    let purpose = query.into_inner().consent;
    let workspace = principal.workspace_id;
    let caller = principal.caller();
    let (segment, condition, export_id, places, reader, excluded) =
        run_seeing(caller.clone(), &state.pool, move |conn, scope| {
            let settings = Workspace::find(conn, workspace)?;
            if let Some(purpose) = &purpose {
                consent::check_purpose(purpose, &settings.consent_purposes)?;
            }
            let segment = Segment::find(conn, workspace, id)?;
            let mut members = segment_condition(conn, &segment)?;
            // Those without the consent the export is for are counted, then left out.
            let mut excluded = 0;
            if let Some(purpose) = &purpose {
                let all = Segment::count(conn, scope, &members)?;
                members = members.and(filter::consent_granted(purpose));
                excluded = all - Segment::count(conn, scope, &members)?;
            }
            // An export the exporter's read budget can't hold is refused before its first row, rather
            // than cut off half-way.
            if let Some(reader) = scope.reader() {
                let unread = Segment::count(conn, scope, &members.clone().and(reader.unread_condition()))?;
                if unread > reader.remaining(conn)? {
                    let over = reader.refuse(conn)?;
                    if over.first_today {
                        let details = ChangeSet::default().field("budget", None, &over.budget);
                        SecurityEvent::by(&principal, action::READ_BUDGET_EXCEEDED, details).record(conn)?;
                    }
                    return Err(ApiError::ReadBudgetExceeded {
                        budget: over.budget,
                        retry_after: over.retry_after,
                    });
                }
            }
            // The members the exporter sees, as of the export's start.
            let condition = scope.narrow(members);
            let places = crate::domain::money::places(&settings.default_currency);
            let export = SegmentExport {
                workspace_id: workspace,
                id: uuid::Uuid::now_v7(),
                segment_id: id,
                segment_name: segment.name.clone(),
                exported_by: principal.user_id,
                request_id: principal.request_id.clone(),
                started_at: Utc::now(),
                finished_at: None,
                row_count: 0,
                consent_purpose: purpose,
                excluded_without_consent: excluded,
            };
            export.insert(conn)?;
            let details = ChangeSet::default()
                .field("segment_id", None, &segment.id)
                .field("segment_name", None, &segment.name)
                .field("export_id", None, &export.id)
                .field("consent_purpose", None, &export.consent_purpose)
                .field("excluded_without_consent", None, &excluded);
            SecurityEvent::by(&principal, action::EXPORTED, details).record(conn)?;
            Ok((segment, condition, export.id, places, scope.reader().cloned(), excluded))
        })
        .await?;
    let export = Export {
        pool: state.pool.clone(),
        replica: state.read_replica.clone(),
        caller,
        workspace,
        condition,
        export_id,
        places,
        reader,
        after: None,
        header_sent: false,
        finished: false,
    };
    let stream = futures_util::stream::unfold(export, Export::next_chunk);
    let file_name = format!("segment-{}.csv", segment.id);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")))
        .insert_header(("Excluded-Without-Consent", excluded.to_string()))
        .streaming(stream))
}

/// An export in progress: where it is, and the record counting what it sent.
pub(super) struct Export {
    pool: DbPool,
    /// Where the rows are read while it keeps up (`db::replica`).
    replica: Option<ReadReplica>,
    /// Every chunk checks the caller again: deactivating someone stops their export mid-way.
    caller: Caller,
    workspace: WorkspaceId,
    condition: SqlFragment,
    export_id: uuid::Uuid,
    places: u32,
    /// The exporter's read budget, which each chunk's clients are counted against.
    reader: Option<Reader>,
    after: Option<ClientId>,
    header_sent: bool,
    finished: bool,
}

pub(super) const EXPORT_COLUMNS: &[&str] = &[
    "id",
    "kind",
    "display_name",
    "email",
    "phone",
    "relationship",
    "lifecycle_stage",
    "owner_id",
    "tags",
    "won_count",
    "won_amount",
    "first_purchase_at",
    "last_purchase_at",
    "last_activity_at",
    "rfm_class",
    "created_at",
];

impl Export {
    /// The next piece of the CSV: the header, then a chunk of rows; `None` once done.
    async fn next_chunk(mut self) -> Option<(Result<Bytes, actix_web::Error>, Export)> {
        if self.finished {
            return None;
        }
        if !self.header_sent {
            self.header_sent = true;
            return Some((
                csv_rows(std::iter::once(EXPORT_COLUMNS.iter().map(|name| name.to_string()).collect())),
                self,
            ));
        }
        let (workspace, condition, after) = (self.workspace, self.condition.clone(), self.after);
        // The rows where reads that may lag go (the read replica while it keeps up); what they
        // cost the exporter's budget, and the export's record, on the primary.
        let rows = crate::db::replica::run_lagging(&self.pool, self.replica.as_ref(), move |conn| {
            Ok(Segment::export_chunk(conn, workspace, &condition, after, EXPORT_CHUNK)?)
        });
        let (pool, export_id, reader) = (self.pool.clone(), self.export_id, self.reader.clone());
        let caller = self.caller.clone();
        let chunk = async move {
            let rows = rows.await?;
            run_as(caller, &pool, move |conn| {
                if let Some(reader) = reader {
                    let clients: Vec<ClientId> = rows.iter().map(|(client, _)| client.id).collect();
                    // The budget was checked at the start; only reads elsewhere meanwhile can exhaust it.
                    reader.charge(conn, &clients).map_err(|error| match error {
                        ChargeError::Database(error) => ApiError::from(error),
                        _ => ApiError::internal("the read budget ran out mid-export"),
                    })?;
                }
                let finished = (rows.len() as i64) < EXPORT_CHUNK;
                SegmentExport::add_rows(conn, workspace, export_id, rows.len() as i64, finished)?;
                Ok((rows, finished))
            })
            .await
        }
        .await;
        match chunk {
            Ok((rows, finished)) => {
                self.finished = finished;
                self.after = rows.last().map(|(client, _)| client.id);
                let places = self.places;
                let masked = self.caller.disclosure() == Some(Disclosure::Masked);
                let lines =
                    csv_rows(rows.iter().map(|(client, stats)| export_row(client, stats, places, masked)));
                Some((lines, self))
            }
            Err(error) => {
                log::error!("segment export {} failed: {error}", self.export_id);
                self.finished = true;
                Some((Err(actix_web::error::ErrorInternalServerError("the export failed")), self))
            }
        }
    }
}

/// The CSV row of `client`; with `masked`, its personal data masked as a JSON answer would have
/// them (a person's name, the email, the phone).
pub(super) fn export_row(client: &Client, stats: &ClientStats, places: u32, masked: bool) -> Vec<String> {
    let personal =
        |value: String| if masked && !value.is_empty() { personal_data::masked(&value) } else { value };
    let first_value = |points: &[crate::domain::contact_points::ContactPoint]| {
        points
            .iter()
            .find(|point| point.primary)
            .or(points.first())
            .map(|point| point.value.clone())
            .unwrap_or_default()
    };
    let time = |at: Option<DateTime<Utc>>| at.map(|at| at.to_rfc3339()).unwrap_or_default();
    vec![
        client.id.to_string(),
        client.kind.clone(),
        if client.kind == "company" {
            client.display_name.clone()
        } else {
            personal(client.display_name.clone())
        },
        personal(first_value(&client.emails.0)),
        personal(first_value(&client.phones.0)),
        client.relationship.clone(),
        client.lifecycle_stage.clone(),
        client.owner_id.map(|owner| owner.to_string()).unwrap_or_default(),
        client.tags.join(";"),
        stats.won_count.to_string(),
        crate::domain::money::round(stats.won_amount, places).to_string(),
        time(stats.first_purchase_at),
        time(stats.last_purchase_at),
        time(stats.last_activity_at),
        stats.rfm_class.clone().unwrap_or_default(),
        client.created_at.to_rfc3339(),
    ]
}

/// Rows as CSV. A text cell that a spreadsheet would run as a formula (`=`, `@`, `+`, `-` not
/// starting a number) gets a leading `'`.
pub(crate) fn csv_rows(rows: impl Iterator<Item = Vec<String>>) -> Result<Bytes, actix_web::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        let row: Vec<String> = row.into_iter().map(defuse_formula).collect();
        writer.write_record(&row).map_err(actix_web::error::ErrorInternalServerError)?;
    }
    let bytes =
        writer.into_inner().map_err(|error| actix_web::error::ErrorInternalServerError(error.to_string()))?;
    Ok(Bytes::from(bytes))
}

pub(super) fn defuse_formula(cell: String) -> String {
    let mut chars = cell.chars();
    let risky = match chars.next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !chars.next().is_some_and(|next| next.is_ascii_digit()),
        _ => false,
    };
    if risky { format!("'{cell}") } else { cell }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_but_phones_and_numbers_are_not() {
        assert_eq!(defuse_formula("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse_formula("@cmd".into()), "'@cmd");
        assert_eq!(defuse_formula("+79123456789".into()), "+79123456789");
        assert_eq!(defuse_formula("-12.50".into()), "-12.50");
        assert_eq!(defuse_formula("-cmd".into()), "'-cmd");
        assert_eq!(defuse_formula("Acme".into()), "Acme");
    }
}
