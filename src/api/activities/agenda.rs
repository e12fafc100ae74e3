//! The caller's agenda ("whom do I call today") and their reminders.

use std::borrow::Cow;

use actix_web::{get, post, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::wire::ActivityResponse;
use crate::api::extract::Page;
use crate::auth::{Principal, run_as, run_seeing};
use crate::db::models::{Activity, User, Workspace};
use crate::domain::agenda;
use crate::domain::role::Role;
use crate::error::{ApiError, ProblemCode};
use crate::ids::{ActivityId, UserId};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgendaQuery {
    /// The first day, `YYYY-MM-DD`, in the workspace's time zone; today when omitted.
    pub date: Option<NaiveDate>,
    /// How many days from `date`: 1 to 31, 1 when omitted.
    #[param(minimum = 1, maximum = 31)]
    pub days: Option<u32>,
    /// Another user's agenda (managers, admins and owners).
    #[param(value_type = Option<String>, format = Uuid)]
    pub user_id: Option<UserId>,
}

/// One line of the agenda: the activity with what a phone screen shows beside it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgendaItem {
    #[serde(flatten)]
    pub activity: ActivityResponse,
    pub client_name: Option<String>,
    /// The client's primary phone, E.164.
    pub client_phone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agenda {
    pub user_id: UserId,
    /// The workspace's time zone, in which the window's days are reckoned.
    #[schema(example = "Europe/Moscow")]
    pub timezone: String,
    /// The window's first day.
    pub date: NaiveDate,
    pub days: u32,
    /// The window as instants: `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// How many planned activities are overdue, from any day.
    pub overdue_count: i64,
    /// Whether the window holds more than the 1,000 activities listed (`GET /activities` pages
    /// through them all).
    pub truncated: bool,
    /// The 100 most recent overdue planned activities (oldest first), then those due in the
    /// window and not yet overdue, in time order (at most 1,000).
    pub items: Vec<AgendaItem>,
}

/// How many overdue activities the agenda lists: the most recent ones. A user with thousands of
/// forgotten tasks still sees today's.
pub(super) const AGENDA_OVERDUE_SHOWN: i64 = 100;
/// The most activities of the window the agenda lists.
pub(super) const AGENDA_UPCOMING_SHOWN: i64 = 1000;

/// The caller's agenda: "whom do I call today".
///
/// The planned activities due from `date` for `days` days in the workspace's time zone, after the most recent
/// overdue ones, each with its client's name and primary phone. Managers, admins and owners may read another
/// user's agenda with `user_id`.
#[utoipa::path(
    tag = "activities",
    operation_id = "get_agenda",
    security(("bearer" = [])),
    params(AgendaQuery),
    responses(
        (status = 200, description = "The agenda", body = Agenda),
        (status = 403, description = "Only managers, admins and owners see another user's agenda", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in the workspace", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/me/agenda")]
pub async fn get_agenda(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AgendaQuery>,
) -> Result<web::Json<Agenda>, ApiError> {
    let days = query.days.unwrap_or(1);
    if !(1..=agenda::MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(
            ProblemCode::InvalidQuery,
            format!("days must be between 1 and {}", agenda::MAX_DAYS),
        ));
    }
    let user = query.user_id.unwrap_or(principal.user_id);
    if user != principal.user_id && !matches!(principal.role, Role::Owner | Role::Admin | Role::Manager) {
        return Err(ApiError::Forbidden(Cow::Borrowed(
            "only managers, admins and owners see others' agendas",
        )));
    }
    let date = query.date;
    let agenda = run_seeing(principal.caller(), &state.pool, move |conn, scope| {
        let workspace = Workspace::find(conn, principal.workspace_id)?;
        // Another user's agenda is a manager's to see when the user is in their scope (their team,
        // for a manager who sees their team's clients): anyone else is a 404, as a stranger is.
        if !scope.admits(Some(user)) {
            return Err(ApiError::NotFound);
        }
        User::find(conn, workspace.id, user)?;
        let timezone: chrono_tz::Tz = workspace.timezone.parse().unwrap_or(chrono_tz::UTC);
        let now = Utc::now();
        let date = date.unwrap_or_else(|| agenda::local_date(now, timezone));
        let (from, to) = agenda::day_window(date, days, timezone).ok_or_else(|| {
            ApiError::bad_request(
                ProblemCode::InvalidQuery,
                "date has no midnight in the workspace's time zone",
            )
        })?;
        let overdue_count = Activity::count_overdue(conn, workspace.id, user, now)?;
        let mut planned = Activity::agenda_overdue(conn, workspace.id, user, now, AGENDA_OVERDUE_SHOWN)?;
        // What is due in the window and not yet overdue; one more than shown tells of a cut.
        let mut upcoming =
            Activity::agenda_window(conn, workspace.id, user, from.max(now), to, AGENDA_UPCOMING_SHOWN + 1)?;
        let truncated = upcoming.len() as i64 > AGENDA_UPCOMING_SHOWN;
        upcoming.truncate(AGENDA_UPCOMING_SHOWN as usize);
        planned.extend(upcoming);
        let items = planned
            .into_iter()
            .map(|line| {
                let phones = line.client_phones.map(|phones| phones.0).unwrap_or_default();
                AgendaItem {
                    activity: ActivityResponse::from(&line.activity),
                    client_name: line.client_name,
                    client_phone: phones
                        .iter()
                        .find(|phone| phone.primary)
                        .or(phones.first())
                        .map(|phone| phone.value.clone()),
                }
            })
            .collect();
        Ok(Agenda {
            user_id: user,
            timezone: workspace.timezone,
            date,
            days,
            from,
            to,
            overdue_count,
            truncated,
            items,
        })
    })
    .await?;
    Ok(web::Json(agenda))
}

/// The caller's fired reminders that they have not acknowledged yet, latest first.
///
/// Reminders of the caller's planned activities that have fired and are still waiting: what a notification
/// badge shows. Acknowledge each with `POST /me/reminders/{id}/ack`.
#[utoipa::path(
    tag = "activities",
    operation_id = "list_reminders",
    security(("bearer" = [])),
    responses((status = 200, description = "Pending reminders (at most 200)", body = Page<ActivityResponse>))
)]
#[get("/me/reminders")]
pub async fn list_reminders(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<Page<ActivityResponse>>, ApiError> {
    let rows = run_as(principal.caller(), &state.pool, move |conn| {
        Ok(Activity::pending_reminders(conn, principal.workspace_id, principal.user_id)?)
    })
    .await?;
    Ok(web::Json(Page { data: rows.iter().map(ActivityResponse::from).collect(), next_cursor: None }))
}

/// Acknowledge one of the caller's fired reminders.
///
/// The reminder stops showing in `GET /me/reminders`. A reminder that hasn't fired, or of another user's
/// activity, is a 404.
#[utoipa::path(
    tag = "activities",
    operation_id = "ack_reminder",
    security(("bearer" = [])),
    params(("id" = String, Path, format = Uuid, description = "The activity's id")),
    responses(
        (status = 200, description = "The activity, its reminder acknowledged", body = ActivityResponse),
        (status = 404, description = "No fired reminder of the caller's with this id", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/me/reminders/{id}/ack")]
pub async fn ack_reminder(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ActivityId>,
) -> Result<web::Json<ActivityResponse>, ApiError> {
    let id = id.into_inner();
    let activity = run_as(principal.caller(), &state.pool, move |conn| {
        Activity::ack_reminder(conn, principal.workspace_id, principal.user_id, id)?.ok_or(ApiError::NotFound)
    })
    .await?;
    Ok(web::Json(ActivityResponse::from(&activity)))
}
