//! `/targets`: sales plans. A target sets the revenue (in the workspace currency) or the number of
//! won deals, or both, that the workspace, a team or a user should reach in one month or quarter;
//! the sales and forecast reports set what was won beside it (docs/reports.md).
//!
//! Owners, admins and managers set them, for whom they see: a manager their team and its people,
//! the workspace's only those who see every client. Everyone reads the targets of whom they see,
//! so a sales rep reads their own (and their team's).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::extract::{
    ChangedParams, IfMatch, JsonBody, Page, PageParams, list_key, nullable, versioned_http,
};
use crate::api::listing::{DeletedQuery, Tombstone, logged_tombstones};
use crate::api::record_change;
use crate::auth::{Principal, run_seeing};
use crate::db::models::change_event::ChangeSet;
use crate::db::models::target::{NewTarget, Subject, Target, TargetFilter};
use crate::db::models::{Team, User, Workspace};
use crate::db::visibility::ClientScope;
use crate::domain::plan::{PlanInterval, PlanPeriod};
use crate::domain::{FieldCode, Violation, money};
use crate::error::{ApiError, ProblemCode, taken};
use crate::ids::{TargetId, TeamId, UserId, WorkspaceId};
use crate::state::AppState;

crate::domain::enums::text_enum!(
    /// Whose target: the whole workspace's, a team's or one user's.
    TargetSubject { Workspace => "workspace", Team => "team", User => "user" }
);

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetResponse {
    pub id: TargetId,
    pub subject: TargetSubject,
    /// The user whose target it is; null for a team's or the workspace's.
    pub user_id: Option<UserId>,
    /// The team whose target it is; null for a user's or the workspace's.
    pub team_id: Option<TeamId>,
    pub period: PlanPeriod,
    pub interval: PlanInterval,
    /// The period's first day.
    pub starts_on: NaiveDate,
    /// Its last day, included.
    pub ends_on: NaiveDate,
    /// Revenue to reach, in the workspace currency; null when the target sets only deals.
    #[serde(with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "150000.00")]
    pub revenue: Option<Decimal>,
    /// Deals to win; null when the target sets only revenue.
    #[schema(example = 12)]
    pub deals: Option<i32>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Target> for TargetResponse {
    fn from(target: Target) -> Self {
        let period = target.period();
        Self {
            id: target.id,
            subject: match target.subject() {
                Subject::Workspace => TargetSubject::Workspace,
                Subject::Team(_) => TargetSubject::Team,
                Subject::User(_) => TargetSubject::User,
            },
            user_id: target.user_id,
            team_id: target.team_id,
            interval: period.interval,
            starts_on: period.start,
            ends_on: period.end(),
            period,
            revenue: target.revenue,
            deals: target.deals,
            version: target.version,
            created_at: target.created_at,
            updated_at: target.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"period": "2026-Q1", "revenue": "150000.00", "deals": 12}))]
pub struct CreateTarget {
    /// A user's target. Give `user_id` or `team_id`, or neither for the workspace's.
    pub user_id: Option<UserId>,
    /// A team's target.
    pub team_id: Option<TeamId>,
    pub period: PlanPeriod,
    /// Revenue to reach in the workspace currency, a decimal string with at most its minor units.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "150000.00", pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub revenue: Option<Decimal>,
    /// Deals to win. A target sets `revenue`, `deals` or both.
    #[schema(minimum = 0, maximum = 2147483647, example = 12)]
    pub deals: Option<i32>,
}

/// A partial update of a target's figures; `null` clears one, as long as the other stays. Whose
/// target it is and its period stay: delete it and create another to move it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"revenue": "180000.00"}))]
pub struct UpdateTarget {
    #[serde(default, deserialize_with = "nullable_decimal")]
    #[schema(value_type = Option<String>, example = "180000.00", pattern = r"^[0-9]{1,15}(\.[0-9]{1,6})?$")]
    pub revenue: Option<Option<Decimal>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 2147483647)]
    pub deals: Option<Option<i32>>,
}

fn nullable_decimal<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Decimal>>, D::Error> {
    rust_decimal::serde::str_option::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetsQuery {
    /// Only this user's targets.
    #[param(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
    /// Only this team's targets.
    #[param(value_type = Option<String>, format = Uuid)]
    pub team_id: Option<TeamId>,
    /// Only periods starting on or after this day.
    pub from: Option<NaiveDate>,
    /// Only periods starting on or before this day.
    pub to: Option<NaiveDate>,
}

/// List the targets of whom the caller sees.
///
/// The workspace's targets (for those who see every client), their team's and the teams under it, and their
/// people's, oldest first; filtered by user, team and the days their periods start. With `updated_since` or
/// `sort`, in the order of their last change, for a sync that polls.
#[utoipa::path(
    tag = "targets",
    operation_id = "list_targets",
    security(("bearer" = [])),
    params(TargetsQuery, PageParams, ChangedParams),
    responses((status = 200, description = "One page of targets", body = Page<TargetResponse>))
)]
#[get("/targets")]
pub async fn list_targets(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<TargetsQuery>,
    page: web::Query<PageParams>,
    changed: web::Query<ChangedParams>,
) -> Result<web::Json<Page<TargetResponse>>, ApiError> {
    let limit = page.limit()?;
    let order = changed.order::<TargetId>(page.cursor.as_deref())?;
    let keyed = order.clone();
    let query = query.into_inner();
    let filter =
        TargetFilter { user_id: query.user_id, team_id: query.team_id, from: query.from, to: query.to };
    let rows = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        Ok(Target::list(conn, scope, &filter, order, i64::from(limit) + 1)?)
    })
    .await?;
    let key = |target: &Target| list_key(&keyed, target.id, target.updated_at, target.id.0);
    Ok(web::Json(Page::from_rows(rows, limit, key, TargetResponse::from)))
}

/// List deleted targets (tombstones).
///
/// Targets are deleted outright; their deletions are read from the change log, oldest first, from
/// `deleted_since`, so that a sync that polls learns of them (they also come through `GET /changes`).
#[utoipa::path(
    tag = "targets",
    operation_id = "list_deleted_targets",
    security(("bearer" = [])),
    params(DeletedQuery),
    responses((status = 200, description = "One page of tombstones", body = Page<Tombstone>))
)]
#[get("/targets/deleted")]
pub async fn list_deleted_targets(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<DeletedQuery>,
) -> Result<web::Json<Page<Tombstone>>, ApiError> {
    Ok(web::Json(logged_tombstones(&state, principal, query.into_inner(), "target").await?))
}

/// Set a target (owners, admins and managers).
///
/// A revenue or deal-count target, or both, for a user, a team or (with neither) the workspace, for one month
/// (`2026-03`) or quarter (`2026-Q1`). One per whom and period: a second is a 409. A manager sets targets for their
/// team, the teams under it and their people; the workspace's needs a role that sees every client.
#[utoipa::path(
    tag = "targets",
    operation_id = "create_target",
    security(("bearer" = [])),
    request_body = CreateTarget,
    responses(
        (status = 201, description = "Created", body = TargetResponse,
            headers(("ETag" = String, description = "The record's version"), ("Location" = String, description = "The new target's URL"))),
        (status = 409, description = "Whom it is for already has a target for the period", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (named in `errors`): both `user_id` and `team_id`, neither figure, an amount with too many decimals, an unknown user or team",
            body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/targets")]
pub async fn create_target(
    state: web::Data<AppState>,
    principal: Principal,
    body: JsonBody<CreateTarget>,
) -> Result<HttpResponse, ApiError> {
    principal.require_manager("set sales targets")?;
    let body = body.0;
    let target = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, scope.workspace())?;
            if body.user_id.is_some() && body.team_id.is_some() {
                return Err(ApiError::invalid_field(
                    "team_id",
                    FieldCode::Invalid,
                    "a target is a user's or a team's, not both: give one of user_id and team_id",
                ));
            }
            let subject = Subject::of(body.user_id, body.team_id);
            ensure_subject(conn, workspace.id, subject, scope)?;
            let (revenue, deals) = checked_goal(&workspace, body.revenue, body.deals)?;
            if Target::taken(conn, workspace.id, subject, body.period)? {
                return Err(taken(ProblemCode::TargetTaken));
            }
            let target =
                Target::create(conn, &NewTarget::new(workspace.id, subject, body.period, revenue, deals))?;
            let changes = ChangeSet::default()
                .field("user_id", None, &target.user_id)
                .field("team_id", None, &target.team_id)
                .field("period", None, &body.period)
                .field("revenue", None, &target.revenue)
                .field("deals", None, &target.deals);
            record_change(conn, &principal, "target", target.id.0, "created", target.version, changes)?;
            Ok(target)
        })
    })
    .await?;
    Ok(target_http(StatusCode::CREATED, target))
}

/// Get one target.
///
/// The target with the `ETag` header for `If-Match`; a target of someone the caller doesn't see is a 404.
#[utoipa::path(
    tag = "targets",
    operation_id = "get_target",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The target's id")),
    responses((status = 200, description = "The target", body = TargetResponse,
        headers(("ETag" = String, description = "The record's version"))))
)]
#[get("/targets/{id}")]
pub async fn get_target(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<TargetId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let target = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let target = Target::find(conn, scope.workspace(), id)?;
        seen(target, scope)
    })
    .await?;
    Ok(target_http(StatusCode::OK, target))
}

/// Change a target's figures (owners, admins and managers).
///
/// `revenue` and `deals` as given; `null` clears one while the other stays. `If-Match` refuses overwriting a change
/// made meanwhile (412).
#[utoipa::path(
    tag = "targets",
    operation_id = "update_target",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The target's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    request_body = UpdateTarget,
    responses(
        (status = 200, description = "Updated", body = TargetResponse, headers(("ETag" = String, description = "The record's version"))),
        (status = 422, description = "A figure is invalid, or both would be cleared", body = crate::error::Problem,
            content_type = "application/problem+json"),
    )
)]
#[patch("/targets/{id}")]
pub async fn update_target(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<TargetId>,
    if_match: IfMatch,
    body: JsonBody<UpdateTarget>,
) -> Result<HttpResponse, ApiError> {
    principal.require_manager("set sales targets")?;
    let id = id.into_inner();
    let body = body.0;
    let target = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let workspace = Workspace::find(conn, scope.workspace())?;
            let current = seen(Target::find_for_update(conn, workspace.id, id)?, scope)?;
            if_match.check(current.version)?;
            let revenue = body.revenue.unwrap_or(current.revenue);
            let deals = body.deals.unwrap_or(current.deals);
            let (revenue, deals) = checked_goal(&workspace, revenue, deals)?;
            let changes = ChangeSet::default().field("revenue", Some(&current.revenue), &revenue).field(
                "deals",
                Some(&current.deals),
                &deals,
            );
            if changes.is_empty() {
                return Ok(current);
            }
            let updated = Target::set_goal(conn, workspace.id, id, revenue, deals)?;
            record_change(conn, &principal, "target", id.0, "updated", updated.version, changes)?;
            Ok(updated)
        })
    })
    .await?;
    Ok(target_http(StatusCode::OK, target))
}

/// Delete a target (owners, admins and managers).
///
/// Deleted outright: the reports show no plan for its period any more. The deletion is in `GET /targets/deleted`
/// and the changes feed.
#[utoipa::path(
    tag = "targets",
    operation_id = "delete_target",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, format = Uuid, description = "The target's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; a stale one gives 412"),
    ),
    responses((status = 204, description = "Deleted"))
)]
#[delete("/targets/{id}")]
pub async fn delete_target(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<TargetId>,
    if_match: IfMatch,
) -> Result<HttpResponse, ApiError> {
    principal.require_manager("set sales targets")?;
    let id = id.into_inner();
    run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        conn.transaction(|conn| {
            let current = seen(Target::find_for_update(conn, scope.workspace(), id)?, scope)?;
            if_match.check(current.version)?;
            Target::delete(conn, scope.workspace(), id)?;
            let changes = ChangeSet::default()
                .field("revenue", Some(&current.revenue), &None::<Decimal>)
                .field("deals", Some(&current.deals), &None::<i32>);
            record_change(conn, &principal, "target", id.0, "deleted", current.version + 1, changes)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn target_http(status: StatusCode, target: Target) -> HttpResponse {
    versioned_http(status, target.version, "targets", target.id, &TargetResponse::from(target))
}

/// `target` if the scope holds whom it is for; a 404 as if it didn't exist otherwise.
fn seen(target: Target, scope: &ClientScope) -> Result<Target, ApiError> {
    if target.subject().seen_by(scope) { Ok(target) } else { Err(ApiError::NotFound) }
}

/// A 422 unless `subject` exists and the caller sees it: the field named is the one that says who.
fn ensure_subject(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    subject: Subject,
    scope: &ClientScope,
) -> Result<(), ApiError> {
    let (field, exists, what) = match subject {
        Subject::Workspace => {
            if scope.sees_everything() {
                return Ok(());
            }
            return Err(ApiError::Forbidden(
                "the workspace's target is for those who see every client: give user_id or team_id".into(),
            ));
        }
        Subject::Team(team) => ("team_id", Team::exists(conn, workspace, team)?, "team"),
        Subject::User(user) => ("user_id", User::find(conn, workspace, user).optional()?.is_some(), "user"),
    };
    if exists && subject.seen_by(scope) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            FieldCode::NotFound,
            format!("no such {what} among those you see"),
        ))
    }
}

/// A target's figures as stored: revenue in the workspace currency's minor units, both at least
/// zero, and at least one of them.
fn checked_goal(
    workspace: &Workspace,
    revenue: Option<Decimal>,
    deals: Option<i32>,
) -> Result<(Option<Decimal>, Option<i32>), ApiError> {
    let mut violations = Vec::new();
    let places = money::places(&workspace.default_currency);
    let revenue = match revenue.map(|revenue| money::exact_amount("revenue", revenue, places)).transpose() {
        Ok(revenue) => revenue,
        Err(violation) => {
            violations.push(violation);
            None
        }
    };
    if deals.is_some_and(|deals| deals < 0) {
        violations.push(Violation::new("deals", FieldCode::Range, "must not be negative"));
    }
    if violations.is_empty() && revenue.is_none() && deals.is_none() {
        violations.push(Violation::new(
            "revenue",
            FieldCode::Required,
            "a target sets revenue, deals or both",
        ));
    }
    if violations.is_empty() { Ok((revenue, deals)) } else { Err(violations.into()) }
}
